//! Typed configuration, read the way Scrapyd reads `scrapyd.conf`.
//!
//! Sources, later ones win: `/etc/scrapyd/scrapyd.conf`, `/etc/scrapyd/conf.d/*` (sorted),
//! `./scrapyd.conf`, `~/.scrapyd.conf`, the closest `scrapy.cfg`, an explicit `--config` file,
//! then `SCRAPYD_*` environment variables, then CLI flags (applied by `main`). This module only
//! parses and validates; nothing else in the crate reads files or env vars for configuration.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Every Scrapyd web service, in the order of Scrapyd's default `[services]` section.
pub const SERVICES: [&str; 12] = [
    "schedule.json",
    "cancel.json",
    "addversion.json",
    "listprojects.json",
    "listversions.json",
    "listspiders.json",
    "delproject.json",
    "delversion.json",
    "listjobs.json",
    "daemonstatus.json",
    "status.json",
    "metrics.json",
];

/// The slave's whole configuration, validated once at startup and passed down.
#[derive(Debug, Clone)]
pub struct Config {
    /// TCP address; empty turns TCP off (only meaningful with `unix_socket_path`).
    pub bind_address: String,
    /// TCP port (0 lets the OS choose, useful in tests).
    pub http_port: u16,
    /// Optional Unix socket served in addition to TCP.
    pub unix_socket_path: Option<PathBuf>,
    /// Basic auth user; auth is on only when both user and password are non-empty.
    pub username: String,
    /// Basic auth password. Never logged: its `Debug` is redacted.
    pub password: Secret,
    /// `node_name` in every JSON answer.
    pub node_name: String,
    /// Process slots; 0 means `max_proc_per_cpu` × CPUs.
    pub max_proc: usize,
    pub max_proc_per_cpu: usize,
    /// At most this many running jobs per project; 0 means no limit (Scrapyd #140).
    pub max_proc_per_project: usize,
    /// Seconds between safety re-checks of the queue (jobs start on notification, not on this tick).
    pub poll_interval: f64,
    /// Where job logs go; `None` turns log files and `/logs` off.
    pub logs_dir: Option<PathBuf>,
    /// Local path or URL for items feeds; empty turns FEEDS off.
    pub items_dir: String,
    /// Scrapy JOBDIR root per job; `None` turns it off.
    pub jobs_dir: Option<PathBuf>,
    /// Log/item files kept per spider directory; 0 keeps all.
    pub jobs_to_keep: usize,
    /// Finished jobs kept in history.
    pub finished_to_keep: usize,
    /// Where the journal (queue, running, history, idempotency keys) lives.
    pub dbs_dir: PathBuf,
    pub eggs_dir: PathBuf,
    /// Header whose value prefixes links in the HTML UI.
    pub prefix_header: String,
    /// Python interpreter that runs spiders (a venv's `bin/python` works).
    pub python: PathBuf,
    /// Largest accepted egg upload, in bytes.
    pub max_egg_size: u64,
    /// Largest total uncompressed size of an egg's members, in bytes (ZIP-bomb guard).
    pub max_egg_unpacked: u64,
    /// Web services turned on (`[services]` entries set to empty turn one off).
    pub services: HashMap<String, bool>,
    /// `[settings]`: projects that run from a settings module without an egg.
    pub settings: Vec<(String, String)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind_address: "127.0.0.1".into(),
            http_port: 6800,
            unix_socket_path: None,
            username: String::new(),
            password: Secret::default(),
            node_name: hostname(),
            max_proc: 0,
            max_proc_per_cpu: 4,
            max_proc_per_project: 0,
            poll_interval: 5.0,
            logs_dir: Some(PathBuf::from("logs")),
            items_dir: String::new(),
            jobs_dir: None,
            jobs_to_keep: 5,
            finished_to_keep: 100,
            dbs_dir: PathBuf::from("dbs"),
            eggs_dir: PathBuf::from("eggs"),
            prefix_header: "x-forwarded-prefix".into(),
            python: PathBuf::from("python3"),
            max_egg_size: 100 * 1024 * 1024,
            max_egg_unpacked: 1024 * 1024 * 1024,
            services: SERVICES.iter().map(|s| (s.to_string(), true)).collect(),
            settings: Vec::new(),
        }
    }
}

/// A secret string whose `Debug` never shows the value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that must compare it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// A parsed INI file: section → ordered (key, value) pairs, keys lower-cased like configparser.
pub type Ini = Vec<(String, Vec<(String, String)>)>;

/// Parses configparser-style text: `[section]`, `key = value` or `key: value`, `#`/`;` comments,
/// indented continuation lines appended with a newline.
pub fn parse_ini(text: &str) -> Ini {
    let mut out: Ini = Vec::new();
    for raw in text.lines() {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if raw.starts_with(char::is_whitespace) {
            if let Some((_, entries)) = out.last_mut() {
                if let Some((_, v)) = entries.last_mut() {
                    v.push('\n');
                    v.push_str(trimmed);
                }
            }
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            out.push((name.trim().to_string(), Vec::new()));
            continue;
        }
        let split = trimmed.find(['=', ':']);
        let (k, v) = match split {
            Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
            None => (trimmed, ""),
        };
        if let Some((_, entries)) = out.last_mut() {
            entries.push((k.trim().to_lowercase(), v.trim().to_string()));
        }
    }
    out
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The configuration files Scrapyd reads, in order, that exist on this machine.
pub fn default_sources() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("/etc/scrapyd/scrapyd.conf")];
    if let Ok(rd) = std::fs::read_dir("/etc/scrapyd/conf.d") {
        let mut extra: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        extra.sort();
        files.extend(extra);
    }
    files.push(PathBuf::from("scrapyd.conf"));
    if let Some(home) = std::env::var_os("HOME") {
        files.push(Path::new(&home).join(".scrapyd.conf"));
    }
    if let Ok(mut dir) = std::env::current_dir() {
        loop {
            let candidate = dir.join("scrapy.cfg");
            if candidate.is_file() {
                files.push(candidate);
                break;
            }
            if !dir.pop() {
                break;
            }
        }
    }
    files.into_iter().filter(|p| p.is_file()).collect()
}

impl Config {
    /// Reads the usual files, then `extra` (if any), then the environment.
    pub fn load(extra: Option<&Path>) -> Result<Config> {
        let mut config = Config::default();
        let mut files = default_sources();
        if let Some(p) = extra {
            if !p.is_file() {
                return Err(Error::Config(format!("config file {} not found", p.display())));
            }
            files.push(p.to_path_buf());
        }
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| Error::Config(format!("{}: {e}", file.display())))?;
            config.apply_ini(&parse_ini(&text))?;
        }
        let env: Vec<(String, String)> = std::env::vars().collect();
        config.apply_env(&env)?;
        Ok(config)
    }

    /// Applies one parsed file on top of this configuration.
    pub fn apply_ini(&mut self, ini: &Ini) -> Result<()> {
        for (section, entries) in ini {
            match section.as_str() {
                "scrapyd" => {
                    for (k, v) in entries {
                        self.set(k, v)?;
                    }
                }
                "services" => {
                    for (k, v) in entries {
                        self.services.insert(k.clone(), !v.is_empty());
                    }
                }
                "settings" => {
                    for (k, v) in entries {
                        if k == "default" {
                            continue;
                        }
                        self.settings.retain(|(p, _)| p != k);
                        self.settings.push((k.clone(), v.clone()));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Applies `SCRAPYD_<OPTION>` environment variables.
    pub fn apply_env(&mut self, vars: &[(String, String)]) -> Result<()> {
        for (k, v) in vars {
            if let Some(opt) = k.strip_prefix("SCRAPYD_") {
                let opt = opt.to_lowercase();
                if KNOWN.contains(&opt.as_str()) {
                    self.set(&opt, v)?;
                }
            }
        }
        Ok(())
    }

    /// Sets one `[scrapyd]` option from its text form. Unknown options are ignored, as Scrapyd does.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let bad = |what: &str| Error::Config(format!("option {key} = {value:?}: {what}"));
        let opt_path = |v: &str| if v.is_empty() { None } else { Some(PathBuf::from(v)) };
        match key {
            "bind_address" => self.bind_address = value.to_string(),
            "http_port" => self.http_port = value.parse().map_err(|_| bad("not a port"))?,
            "unix_socket_path" => self.unix_socket_path = opt_path(value),
            "username" => self.username = value.to_string(),
            "password" => self.password = Secret::from(value),
            "node_name" => self.node_name = value.to_string(),
            "max_proc" => self.max_proc = value.parse().map_err(|_| bad("not an integer"))?,
            "max_proc_per_cpu" => self.max_proc_per_cpu = value.parse().map_err(|_| bad("not an integer"))?,
            "max_proc_per_project" => self.max_proc_per_project = value.parse().map_err(|_| bad("not an integer"))?,
            "poll_interval" => self.poll_interval = value.parse().map_err(|_| bad("not a number"))?,
            "logs_dir" => self.logs_dir = opt_path(value),
            "items_dir" => self.items_dir = value.to_string(),
            "jobs_dir" => self.jobs_dir = opt_path(value),
            "jobs_to_keep" => self.jobs_to_keep = value.parse().map_err(|_| bad("not an integer"))?,
            "finished_to_keep" => self.finished_to_keep = value.parse().map_err(|_| bad("not an integer"))?,
            "dbs_dir" => self.dbs_dir = PathBuf::from(value),
            "eggs_dir" => self.eggs_dir = PathBuf::from(value),
            "prefix_header" => self.prefix_header = value.to_lowercase(),
            "python" => self.python = PathBuf::from(value),
            "max_egg_size" => self.max_egg_size = value.parse().map_err(|_| bad("not an integer"))?,
            "max_egg_unpacked" => self.max_egg_unpacked = value.parse().map_err(|_| bad("not an integer"))?,
            _ => {}
        }
        Ok(())
    }

    /// Checks cross-option rules once at startup.
    pub fn validate(&self) -> Result<()> {
        if self.auth_enabled() && self.username.contains(':') {
            return Err(Error::Config("The `username` option contains illegal character ':'".into()));
        }
        if self.poll_interval <= 0.0 || !self.poll_interval.is_finite() {
            return Err(Error::Config("poll_interval must be positive".into()));
        }
        Ok(())
    }

    /// Basic auth is on only when both user name and password are non-empty.
    pub fn auth_enabled(&self) -> bool {
        !self.username.is_empty() && !self.password.expose().is_empty()
    }

    /// Number of process slots.
    pub fn slots(&self) -> usize {
        if self.max_proc > 0 {
            self.max_proc
        } else {
            let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            (self.max_proc_per_cpu * cpus).max(1)
        }
    }

    /// Whether a web service is turned on.
    pub fn service_enabled(&self, name: &str) -> bool {
        self.services.get(name).copied().unwrap_or(false)
    }

    /// `items_dir` as a local directory, when it is one (not an `s3://`-style URL).
    pub fn local_items_dir(&self) -> Option<PathBuf> {
        let v = self.items_dir.as_str();
        if v.is_empty() {
            return None;
        }
        if let Some(rest) = v.strip_prefix("file://") {
            return Some(PathBuf::from(rest));
        }
        match v.find("://") {
            Some(_) => None,
            None => Some(PathBuf::from(v)),
        }
    }

    /// The settings module of a `[settings]` project.
    pub fn settings_module(&self, project: &str) -> Option<&str> {
        self.settings.iter().find(|(p, _)| p == project).map(|(_, m)| m.as_str())
    }
}

const KNOWN: [&str; 23] = [
    "max_proc_per_project",
    "bind_address",
    "http_port",
    "unix_socket_path",
    "username",
    "password",
    "node_name",
    "max_proc",
    "max_proc_per_cpu",
    "poll_interval",
    "logs_dir",
    "items_dir",
    "jobs_dir",
    "jobs_to_keep",
    "finished_to_keep",
    "dbs_dir",
    "eggs_dir",
    "prefix_header",
    "python",
    "max_egg_size",
    "max_egg_unpacked",
    "debug",
    "runner",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_sections_env_and_services() {
        let ini = parse_ini(
            "# c\n[scrapyd]\nhttp_port = 7000\nMax_Proc: 3\nlogs_dir =\n[services]\ncancel.json =\n[settings]\nproj = proj.settings\n",
        );
        let mut c = Config::default();
        c.apply_ini(&ini).unwrap();
        assert_eq!(c.http_port, 7000);
        assert_eq!(c.max_proc, 3);
        assert_eq!(c.logs_dir, None);
        assert!(!c.service_enabled("cancel.json"));
        assert!(c.service_enabled("schedule.json"));
        assert_eq!(c.settings_module("proj"), Some("proj.settings"));
        c.apply_env(&[("SCRAPYD_HTTP_PORT".into(), "7001".into())]).unwrap();
        assert_eq!(c.http_port, 7001);
        assert!(c.set("http_port", "x").is_err());
    }

    #[test]
    fn password_never_in_debug_output() {
        let mut c = Config::default();
        c.set("password", "hunter2").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.password.expose(), "hunter2");
    }

    #[test]
    fn items_dir_locality() {
        let mut c = Config::default();
        assert_eq!(c.local_items_dir(), None);
        c.items_dir = "s3://bucket/x".into();
        assert_eq!(c.local_items_dir(), None);
        c.items_dir = "items".into();
        assert_eq!(c.local_items_dir(), Some(PathBuf::from("items")));
    }
}
