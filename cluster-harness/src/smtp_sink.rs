//! A real SMTP server for tests: [`SmtpSink`] runs `devcluster/src/mail_sink.py` (aiosmtpd, the
//! same script `spider-up` runs; embedded here) on a free loopback port, and reads back what it
//! stored — one `.eml` file per message — parsed with `mail-parser` into [`Mail`].
//!
//! It can be stopped and started again on the same port (an SMTP server that goes down and comes
//! back), and is killed on drop; the script also exits by itself when this process dies.

use std::net::SocketAddr;
use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use anyhow::Context;
use mail_parser::MessageParser;
use mail_parser::PartType;

use crate::wait::eventually;

/// The sink script, one copy in the repository.
const SCRIPT: &str = include_str!("../../devcluster/src/mail_sink.py");
/// How long the script may take to listen (the Python start-up on a busy 2-core machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// One stored message, parsed.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The `.eml` file: the message as received, after the `X-Envelope-*` headers.
    pub path: PathBuf,
    /// `Message-ID` without the angle brackets.
    pub message_id: Option<String>,
    /// `Subject`, decoded; empty when absent.
    pub subject: String,
    /// The first `From` address (address only; the whole header is in `headers`).
    pub from: String,
    /// The `To` addresses (addresses only).
    pub to: Vec<String>,
    /// The SMTP envelope: `MAIL FROM` and every `RCPT TO` (Cc and Bcc recipients included).
    pub envelope_from: String,
    pub envelope_to: Vec<String>,
    /// The first text part (converted from HTML if the message has only HTML); empty if none.
    pub text_body: String,
    /// The first `text/html` part, if the message has one.
    pub html_body: Option<String>,
    /// Every top-level header in order, name and raw value (trimmed, not decoded).
    pub headers: Vec<(String, String)>,
}

impl Mail {
    /// Parses the message stored at `path`.
    pub fn read(path: &Path) -> anyhow::Result<Mail> {
        let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let msg = MessageParser::default().parse(&raw).with_context(|| format!("{} is not a mail", path.display()))?;
        let addresses = |a: Option<&mail_parser::Address>| -> Vec<String> {
            a.map(|a| a.iter().filter_map(|a| a.address()).map(str::to_string).collect()).unwrap_or_default()
        };
        let raw_header = |name: &str| msg.header_raw(name).map(|v| v.trim().to_string()).unwrap_or_default();
        let envelope_to = raw_header("X-Envelope-To");
        let html_body = msg.html_body.first().and_then(|&id| msg.parts.get(id as usize)).and_then(|p| match &p.body {
            PartType::Html(h) => Some(h.to_string()),
            _ => None,
        });
        Ok(Mail {
            path: path.to_path_buf(),
            message_id: msg.message_id().map(str::to_string),
            subject: msg.subject().unwrap_or_default().to_string(),
            from: addresses(msg.from()).into_iter().next().unwrap_or_default(),
            to: addresses(msg.to()),
            envelope_from: raw_header("X-Envelope-From"),
            envelope_to: envelope_to.split(',').map(str::trim).filter(|a| !a.is_empty()).map(str::to_string).collect(),
            text_body: msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
            html_body,
            headers: msg.headers_raw().map(|(n, v)| (n.to_string(), v.trim().to_string())).collect(),
        })
    }

    /// The raw value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// `(unix ms, seq)` of a stored message's file name `<unix-ms>-<seq>.eml`; `None` for any other
/// file (the sink's hidden temporary files included).
fn arrival(name: &str) -> Option<(u64, u64)> {
    let (ms, seq) = name.strip_suffix(".eml")?.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// Every message stored in `dir` (a sink's mail directory, e.g. `spider-up`'s `<dir>/mail`), in
/// arrival order.
pub fn read_mails(dir: &Path) -> anyhow::Result<Vec<Mail>> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = e.with_context(|| format!("cannot read {}", dir.display()))?.path();
        if let Some(at) = path.file_name().and_then(|n| n.to_str()).and_then(arrival) {
            files.push((at, path));
        }
    }
    files.sort();
    files.iter().map(|(_, p)| Mail::read(p)).collect()
}

/// A running `mail_sink.py` on `127.0.0.1`; killed on drop.
pub struct SmtpSink {
    python: PathBuf,
    /// The script, its log, its ready file and the mail directory.
    work: tempfile::TempDir,
    dir: PathBuf,
    /// 0 until the first start has chosen one; kept across [`SmtpSink::start_again`].
    port: u16,
    child: Option<Child>,
}

impl SmtpSink {
    /// Starts the sink with `python` (one that can import aiosmtpd, e.g.
    /// [`crate::python::venv_python`]) on a free port; returns once it listens.
    pub async fn start(python: &Path) -> anyhow::Result<SmtpSink> {
        let work = tempfile::Builder::new().prefix("smtp-sink-").tempdir().context("cannot create a temp dir")?;
        let script = work.path().join("mail_sink.py");
        std::fs::write(&script, SCRIPT).with_context(|| format!("cannot write {}", script.display()))?;
        let dir = work.path().join("mail");
        let mut sink = SmtpSink { python: python.to_path_buf(), work, dir, port: 0, child: None };
        sink.spawn().await?;
        Ok(sink)
    }

    /// Starts it again after [`SmtpSink::stop`], on the same port; returns once it listens.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        if self.running() {
            anyhow::bail!("the SMTP sink on port {} is already running", self.port);
        }
        self.spawn().await
    }

    /// Kills it (SIGKILL) and reaps it: from now on connections to its port are refused. Mail
    /// already stored stays readable.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory each message is stored in as `<unix-ms>-<seq>.eml`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The script's output (what it received, why it stopped), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.work.path().join("mail-sink.log")).unwrap_or_default()
    }

    /// Every message received so far, in arrival order. Panics if a stored file does not parse.
    pub fn messages(&self) -> Vec<Mail> {
        read_mails(&self.dir).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Waits until at least `n` messages arrived; all of them, in arrival order. Panics after
    /// `timeout` with the subjects seen.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        let what = format!("{n} messages in {}", self.dir.display());
        eventually(&what, timeout, || {
            let got = read_mails(&self.dir);
            async move {
                match got {
                    Ok(m) if m.len() >= n => Ok(m),
                    Ok(m) => {
                        Err(format!("{} messages: {:?}", m.len(), m.iter().map(|m| &m.subject).collect::<Vec<_>>()))
                    }
                    Err(e) => Err(format!("{e:#}")),
                }
            }
        })
        .await
    }

    fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Runs the script on `self.port` (0: any) and waits for its ready file, which names the
    /// bound address once the socket listens.
    async fn spawn(&mut self) -> anyhow::Result<()> {
        let ready = self.work.path().join("ready");
        let _ = std::fs::remove_file(&ready);
        let log_path = self.work.path().join("mail-sink.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        let child = Command::new(&self.python)
            .arg(self.work.path().join("mail_sink.py"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--dir")
            .arg(&self.dir)
            .arg("--ready-file")
            .arg(&ready)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("cannot open the sink's log")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot run {}", self.python.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                anyhow::bail!("the SMTP sink exited at start ({status}); its output:\n{}", self.log());
            }
            if let Some(addr) = std::fs::read_to_string(&ready).ok().and_then(|t| t.trim().parse::<SocketAddr>().ok()) {
                self.port = addr.port();
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop();
                anyhow::bail!("the SMTP sink did not listen within {START_TIMEOUT:?}; its output:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
#[path = "smtp_sink_test.rs"]
mod tests;
