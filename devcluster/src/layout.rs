//! The data directory of `up`: its free loopback ports, secrets and per-master TOML configs,
//! kept in `<dir>/up.json` so that a restart reuses them (the cluster rejoins from disk); the
//! command lines of the masters, the slaves and the SMTP sink (`mail_sink.py`, embedded).

use std::collections::BTreeMap;
use std::path::Path;
use std::path::PathBuf;

use anyhow::Context;
use serde::Deserialize;
use serde::Serialize;

use master::config::ClusterSecret;
use master::config::MasterConfig;

/// Number of masters and slaves `up` starts.
pub const MASTERS: u64 = 3;
pub const SLAVES: usize = 2;
const STATE_FILE: &str = "up.json";
/// The SMTP sink (aiosmtpd) the demo alert mail goes to; the same file the tests' sink runs.
const MAIL_SINK_PY: &str = include_str!("mail_sink.py");

/// What must stay the same across restarts of `up` on one directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Layout {
    pub cluster_secret: String,
    pub admin_token: String,
    /// Master id → HTTP port (API and Raft).
    pub master_ports: BTreeMap<u64, u16>,
    /// Slave name → HTTP port (Scrapyd API).
    pub slave_ports: BTreeMap<String, u16>,
    pub demo_site_port: u16,
    /// The SMTP sink's port; 0 in an `up.json` written before the sink existed (one is then
    /// chosen and stored).
    #[serde(default)]
    pub smtp_port: u16,
    /// Filled at run time, not stored.
    #[serde(skip)]
    pub dir: PathBuf,
}

/// A random token of `bytes` bytes, hex-encoded.
pub fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(hex::encode(buf))
}

/// Distinct free loopback ports (held open together so the kernel does not repeat one).
fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind(("127.0.0.1", 0)))
        .collect::<Result<Vec<_>, _>>()
        .context("cannot bind a loopback port")?;
    listeners.iter().map(|l| l.local_addr().map(|a| a.port()).context("no local address")).collect()
}

/// A free loopback port that is none of `taken` (ports of a cluster that is not running now).
fn free_port_besides(taken: &[u16]) -> anyhow::Result<u16> {
    for _ in 0..100 {
        let port = free_ports(1)?[0];
        if !taken.contains(&port) {
            return Ok(port);
        }
    }
    anyhow::bail!("no free loopback port besides {taken:?}")
}

/// Makes the directory absolute without requiring it to exist.
fn absolute(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.is_absolute() {
        return Ok(dir.to_path_buf());
    }
    Ok(std::env::current_dir().context("no current directory")?.join(dir))
}

/// Wipes `dir` for `--fresh`, refusing a non-empty directory that `up` did not create.
fn wipe(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let empty = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?.next().is_none();
    if !empty && !dir.join(STATE_FILE).is_file() {
        anyhow::bail!("--fresh: {} is not empty and has no {STATE_FILE}; refusing to delete it", dir.display());
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("cannot delete {}", dir.display()))
}

impl Layout {
    /// Loads `<dir>/up.json`, or creates a new layout there (after wiping it with `fresh`).
    pub fn load_or_create(dir: &Path, fresh: bool) -> anyhow::Result<Layout> {
        let dir = absolute(dir)?;
        if fresh {
            wipe(&dir)?;
        }
        std::fs::create_dir_all(dir.join("logs")).with_context(|| format!("cannot create {}", dir.display()))?;
        let state = dir.join(STATE_FILE);
        if state.is_file() {
            let text = std::fs::read_to_string(&state).with_context(|| format!("cannot read {}", state.display()))?;
            let mut l: Layout = serde_json::from_str(&text)
                .with_context(|| format!("{} is damaged; run with --fresh to start over", state.display()))?;
            if l.master_ports.len() != MASTERS as usize || l.slave_ports.len() != SLAVES {
                anyhow::bail!("{} describes another cluster shape; run with --fresh", state.display());
            }
            l.dir = dir;
            if l.smtp_port == 0 {
                l.smtp_port = free_port_besides(&l.ports())?;
                write_private(&state, &serde_json::to_string_pretty(&l)?)?;
            }
            return Ok(l);
        }
        let ports = free_ports(MASTERS as usize + SLAVES + 2)?;
        let l = Layout {
            cluster_secret: format!("dev-{}", random_hex(16)?),
            admin_token: format!("spt_dev_{}", random_hex(16)?),
            master_ports: (1..=MASTERS).zip(ports.iter().copied()).collect(),
            slave_ports: (1..=SLAVES)
                .map(|i| format!("slave-{i}"))
                .zip(ports[MASTERS as usize..].iter().copied())
                .collect(),
            demo_site_port: ports[MASTERS as usize + SLAVES],
            smtp_port: ports[MASTERS as usize + SLAVES + 1],
            dir,
        };
        let text = serde_json::to_string_pretty(&l)?;
        write_private(&state, &text)?;
        Ok(l)
    }

    pub fn master_url(&self, id: u64) -> String {
        format!("http://127.0.0.1:{}", self.master_ports.get(&id).copied().unwrap_or(0))
    }

    pub fn slave_url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}", self.slave_ports.get(name).copied().unwrap_or(0))
    }

    pub fn demo_site_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.demo_site_port)
    }

    /// Every port of the layout.
    fn ports(&self) -> Vec<u16> {
        let mut p: Vec<u16> = self.master_ports.values().chain(self.slave_ports.values()).copied().collect();
        p.extend([self.demo_site_port, self.smtp_port]);
        p
    }

    /// The SMTP sink's address, `127.0.0.1:<port>`.
    pub fn smtp_addr(&self) -> String {
        format!("127.0.0.1:{}", self.smtp_port)
    }

    /// Where the SMTP sink stores each message as a `.eml` file.
    pub fn mail_dir(&self) -> PathBuf {
        self.dir.join("mail")
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{name}.log"))
    }

    /// Writes `<dir>/master-<id>.toml` (every start, so a changed layout is picked up) and
    /// returns its path.
    pub fn write_master_config(&self, id: u64) -> anyhow::Result<PathBuf> {
        let port = self.master_ports.get(&id).copied().context("no such master")?;
        let data_dir = self.dir.join(format!("master-{id}"));
        std::fs::create_dir_all(&data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
        let mut cfg = MasterConfig::from_toml(&format!(
            "node_id = {id}\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"\"\ncluster_secret = \"\"\n"
        ))?;
        cfg.data_dir = data_dir;
        cfg.cluster_secret = ClusterSecret(self.cluster_secret.clone());
        cfg.admin_token = Some(ClusterSecret(self.admin_token.clone()));
        cfg.peers = self.master_ports.keys().map(|&i| (i, self.master_url(i))).collect();
        cfg.validate()?;
        let path = self.dir.join(format!("master-{id}.toml"));
        write_private(&path, &toml::to_string(&cfg)?)?;
        Ok(path)
    }

    /// Creates and returns a slave's working directory (its eggs, logs, dbs and items).
    pub fn slave_dir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let d = self.dir.join(name);
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
        Ok(d)
    }

    /// The command line of master `id` (`<exe> run --config <its freshly written TOML>`).
    pub fn master_command(&self, exe: &Path, id: u64) -> anyhow::Result<std::process::Command> {
        let config = self.write_master_config(id)?;
        let mut cmd = child_command(exe);
        cmd.arg("run").arg("--config").arg(config).current_dir(&self.dir);
        Ok(cmd)
    }

    /// The command line of the SMTP sink: `python <dir>/mail_sink.py` (written on every start,
    /// so an upgraded `up` runs its own copy) listening on [`Layout::smtp_addr`], storing into
    /// [`Layout::mail_dir`].
    pub fn mail_sink_command(&self, python: &Path) -> anyhow::Result<std::process::Command> {
        let script = self.dir.join("mail_sink.py");
        std::fs::write(&script, MAIL_SINK_PY).with_context(|| format!("cannot write {}", script.display()))?;
        let mail = self.mail_dir();
        std::fs::create_dir_all(&mail).with_context(|| format!("cannot create {}", mail.display()))?;
        let mut cmd = child_command(python);
        cmd.arg(script).arg("--listen").arg(self.smtp_addr()).arg("--dir").arg(mail).current_dir(&self.dir);
        Ok(cmd)
    }

    /// The command line of slave `name`, run from its own directory with `python`.
    pub fn slave_command(&self, slave_bin: &Path, name: &str, python: &Path) -> anyhow::Result<std::process::Command> {
        let port = self.slave_ports.get(name).copied().context("no such slave")?;
        let mut cmd = child_command(slave_bin);
        cmd.arg("--python").arg(python).args(["--bind-address", "127.0.0.1", "--http-port", &port.to_string()]);
        cmd.args(["--set", &format!("node_name={name}"), "--set", "poll_interval=1", "--set", "items_dir=items"]);
        cmd.current_dir(self.slave_dir(name)?);
        Ok(cmd)
    }
}

/// Environment variables of `spider-master run` / `spider-slave` that must not leak from the
/// user's shell into the children (they would override the generated configs).
const CHILD_ENV: &[&str] = &[
    "SPIDER_MASTER_CONFIG",
    "SPIDER_MASTER_NODE_ID",
    "SPIDER_MASTER_LISTEN",
    "SPIDER_MASTER_DATA_DIR",
    "SPIDER_CLUSTER_SECRET",
    "SPIDER_SLAVE_PYTHON",
];

fn child_command(program: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    for v in CHILD_ENV {
        cmd.env_remove(v);
    }
    cmd
}

/// Writes a file only its owner can read (it holds the token and the cluster secret).
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layout_is_reused_and_fresh_replaces_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let a = Layout::load_or_create(tmp.path(), false).expect("create");
        let b = Layout::load_or_create(tmp.path(), false).expect("reuse");
        assert_eq!(a.master_ports, b.master_ports);
        assert_eq!(a.admin_token, b.admin_token);
        assert_eq!(a.smtp_port, b.smtp_port);
        let mut ports = a.ports();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), MASTERS as usize + SLAVES + 2, "distinct ports: {:?}", a.ports());
        let path = a.write_master_config(2).expect("config");
        let cfg = MasterConfig::from_toml(&std::fs::read_to_string(path).expect("read")).expect("parse");
        assert_eq!(cfg.node_id, 2);
        assert_eq!(cfg.peers.len(), 3);
        let c = Layout::load_or_create(tmp.path(), true).expect("fresh");
        assert_ne!(a.admin_token, c.admin_token);
    }

    #[test]
    fn a_layout_from_before_the_mail_sink_gains_a_kept_smtp_port() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let a = Layout::load_or_create(tmp.path(), false).expect("create");
        let state = tmp.path().join(STATE_FILE);
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&state).expect("read")).expect("json");
        v.as_object_mut().expect("object").remove("smtp_port");
        std::fs::write(&state, v.to_string()).expect("write");
        let b = Layout::load_or_create(tmp.path(), false).expect("old layout");
        assert_eq!(a.master_ports, b.master_ports);
        assert_ne!(b.smtp_port, 0);
        assert!(!a.ports()[..a.ports().len() - 1].contains(&b.smtp_port));
        let c = Layout::load_or_create(tmp.path(), false).expect("reuse");
        assert_eq!(b.smtp_port, c.smtp_port, "the chosen port is stored");
        let cmd = c.mail_sink_command(Path::new("/usr/bin/python3")).expect("command");
        assert!(tmp.path().join("mail_sink.py").is_file() && c.mail_dir().is_dir());
        let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(args[1..3], ["--listen".to_string(), c.smtp_addr()]);
    }

    #[test]
    fn fresh_refuses_a_foreign_directory() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join("precious"), "x").expect("write");
        let e = Layout::load_or_create(tmp.path(), true).expect_err("refused");
        assert!(e.to_string().contains("refusing"));
    }
}
