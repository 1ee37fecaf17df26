//! The SMTP sink the masters' alert mail goes to: the repository's one sink script
//! (`devcluster/src/mail_sink.py`, embedded as a file, not a crate), run with a Python that
//! has aiosmtpd ([`crate::python::find`]), listening on the bridge (like the stand-ins) so every
//! master reaches it, storing each message it accepts as `<run>/mail/<unix-ms>-<seq>.eml`.
//!
//! Those files are the evidence the alert checker judges (`checker::alerts`): what an SMTP
//! server accepted, byte for byte, nothing of the masters' own opinion. [`MailSink::deliver_again`]
//! is the honesty path: it sends a stored message to the sink once more over SMTP, the way a
//! leader's resend would arrive.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use anyhow::Context;
use tokio::io::AsyncBufReadExt;
use tokio::io::AsyncWriteExt;
use tokio::io::BufReader;

use crate::net::sh;

/// The sink script, from the one copy in the repository.
pub const SCRIPT: &str = include_str!("../../devcluster/src/mail_sink.py");

/// The module the sink needs.
pub const MODULE: &str = "aiosmtpd";

/// How long the sink may take to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Deadline of one SMTP transaction of [`MailSink::deliver_again`].
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running sink.
pub struct MailSink {
    /// Where it listens (the bridge address).
    pub host: String,
    pub port: u16,
    /// Where it stores messages.
    pub dir: PathBuf,
    child: Child,
}

impl MailSink {
    /// Starts the sink on `ip` (a free port), storing into `out/mail`, its log in
    /// `out/mail-sink.log`; returns once it listens.
    pub async fn start(python: &Path, ip: &str, out: &Path) -> anyhow::Result<Self> {
        let out = out.canonicalize()?;
        let script = out.join("mail_sink.py");
        std::fs::write(&script, SCRIPT)?;
        let dir = out.join("mail");
        let ready = out.join("mail-sink.ready");
        let _ = std::fs::remove_file(&ready);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(out.join("mail-sink.log"))?;
        let mut child = std::process::Command::new(python)
            .arg(&script)
            .args(["--listen", &format!("{ip}:0"), "--dir"])
            .arg(&dir)
            .arg("--ready-file")
            .arg(&ready)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("spawning the SMTP sink with {}", python.display()))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        let addr = loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                break text.trim().to_string();
            }
            if let Some(status) = child.try_wait()? {
                let log = std::fs::read_to_string(out.join("mail-sink.log")).unwrap_or_default();
                anyhow::bail!("the SMTP sink exited ({status}) before listening: {}", log.trim());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!("the SMTP sink did not listen within {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let (host, port) = addr.rsplit_once(':').context("the sink's ready file names no HOST:PORT")?;
        let port = port.parse().with_context(|| format!("the sink's ready file: {addr:?}"))?;
        Ok(MailSink { host: host.to_string(), port, dir, child })
    }

    /// `HOST:PORT`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The stored messages, oldest first (by name: `<unix-ms>-<seq>.eml`).
    pub fn files(&self) -> anyhow::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        Ok(files)
    }

    /// Sends the stored message `file` to the sink again over SMTP, with its envelope (the
    /// sink's `X-Envelope-*` headers, which are taken off the message; the sink adds them anew).
    pub async fn deliver_again(&self, file: &Path) -> anyhow::Result<()> {
        let stored = std::fs::read(file)?;
        let (from, to, message) = split_envelope(&stored).with_context(|| format!("{}", file.display()))?;
        tokio::time::timeout(SMTP_TIMEOUT, smtp_send(&self.addr(), &from, &to, message))
            .await
            .context("the SMTP sink did not answer in time")?
    }
}

impl Drop for MailSink {
    fn drop(&mut self) {
        let _ = sh(&["kill", "-TERM", "--", &format!("-{}", self.child.id())]);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stored message's envelope (`X-Envelope-From`, `X-Envelope-To`, the first two lines the
/// sink wrote) and the message as received after them.
fn split_envelope(stored: &[u8]) -> anyhow::Result<(String, Vec<String>, &[u8])> {
    let mut rest = stored;
    let mut from = None;
    let mut to = None;
    for _ in 0..2 {
        let end = rest.iter().position(|b| *b == b'\n').context("a stored message without its envelope")?;
        let line = String::from_utf8_lossy(&rest[..end]).trim_end_matches('\r').to_string();
        if let Some(v) = line.strip_prefix("X-Envelope-From:") {
            from = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("X-Envelope-To:") {
            to = Some(v.split(',').map(|a| a.trim().to_string()).filter(|a| !a.is_empty()).collect::<Vec<_>>());
        } else {
            anyhow::bail!("a stored message without its envelope (line {line:?})");
        }
        rest = &rest[end + 1..];
    }
    let from = from.context("no X-Envelope-From")?;
    let to = to.filter(|t| !t.is_empty()).context("no X-Envelope-To")?;
    Ok((if from == "<>" { String::new() } else { from }, to, rest))
}

/// One SMTP transaction: EHLO, MAIL, RCPT for each of `to`, DATA (dot-stuffed, CRLF), QUIT.
async fn smtp_send(addr: &str, from: &str, to: &[String], message: &[u8]) -> anyhow::Result<()> {
    let stream = tokio::net::TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    reply(&mut r, 220).await?;
    let mut command = async |line: &[u8], code: u16| -> anyhow::Result<()> {
        w.write_all(line).await?;
        w.write_all(b"\r\n").await?;
        let shown = String::from_utf8_lossy(&line[..line.len().min(40)]).into_owned();
        reply(&mut r, code).await.with_context(|| shown)
    };
    command(b"EHLO jepsen-harness", 250).await?;
    command(format!("MAIL FROM:<{from}>").as_bytes(), 250).await?;
    for rcpt in to {
        command(format!("RCPT TO:<{rcpt}>").as_bytes(), 250).await?;
    }
    command(b"DATA", 354).await?;
    let mut data = Vec::with_capacity(message.len() + 64);
    for line in message.split_inclusive(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first() == Some(&b'.') {
            data.push(b'.');
        }
        data.extend_from_slice(line);
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b".");
    command(&data, 250).await?;
    command(b"QUIT", 221).await
}

/// Reads one (possibly multi-line) SMTP reply and checks its code.
async fn reply<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R, code: u16) -> anyhow::Result<()> {
    loop {
        let mut line = String::new();
        anyhow::ensure!(r.read_line(&mut line).await? > 0, "the SMTP server closed the connection");
        let got: u16 = line.get(..3).and_then(|c| c.parse().ok()).with_context(|| format!("SMTP reply {line:?}"))?;
        anyhow::ensure!(got == code, "SMTP reply {:?}, expected {code}", line.trim_end());
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_comes_off_a_stored_message() {
        let stored =
            b"X-Envelope-From: jt@spider.test\r\nX-Envelope-To: a@x.test, b@x.test\r\nSubject: hi\r\n\r\nbody\r\n";
        let (from, to, rest) = split_envelope(stored).expect("split");
        assert_eq!(from, "jt@spider.test");
        assert_eq!(to, vec!["a@x.test".to_string(), "b@x.test".to_string()]);
        assert_eq!(rest, b"Subject: hi\r\n\r\nbody\r\n");
        assert!(split_envelope(b"Subject: hi\r\n\r\nbody").is_err());
    }

    #[test]
    fn the_script_is_the_repository_sink() {
        assert!(SCRIPT.contains("--ready-file") && SCRIPT.contains("aiosmtpd"));
    }
}
