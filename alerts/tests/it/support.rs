//! Shared helpers: the venv's Python, free ports, waiting on a condition with a deadline, and an
//! aiosmtpd sink that stores each message as a file.

use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

/// The venv Python (`SPIDER_PYTHON`, default `$HOME/.cache/spider-platform/venv/bin/python`). Fails the
/// test, never skips it, when the venv is missing.
pub fn venv_python() -> PathBuf {
    let p = std::env::var_os("SPIDER_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".cache/spider-platform/venv/bin/python")
    });
    assert!(
        p.exists(),
        "python venv not found at {} (set SPIDER_PYTHON or run `bash -c 'source scripts/setup.sh && ensure_venv'`, i.e. scripts/setup.sh)",
        p.display()
    );
    p
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    l.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("{e}"))
}

/// Poll `f` until it returns `Some`, or panic after `timeout` with what was last seen.
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}; last: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

const SINK_PY: &str = r#"
import os, sys, json, itertools
_counter = itertools.count()

class Store:
    """aiosmtpd handler: each message becomes <dir>/<n>.eml (written then renamed, so readers never see half a file)."""
    def __init__(self, out_dir):
        self.out_dir = out_dir

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        n = next(_counter)
        tmp = os.path.join(self.out_dir, f".{n}.tmp")
        with open(tmp, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(os.path.join(self.out_dir, f"{n}.rcpt.json"), "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
        os.rename(tmp, os.path.join(self.out_dir, f"{n}.eml"))
        return "250 Message accepted for delivery"
"#;

const AUTH_SERVER_PY: &str = r#"
import asyncio, sys
from aiosmtpd.smtp import SMTP, AuthResult
from sink import Store

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"alerts" and auth_data.password == b"right-password"
    return AuthResult(success=ok, handled=False)

async def main():
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(
        lambda: SMTP(Store(sys.argv[2]), authenticator=authenticator, auth_required=True, auth_require_tls=False),
        "127.0.0.1", int(sys.argv[1]))
    async with srv:
        await srv.serve_forever()

asyncio.run(main())
"#;

/// A running aiosmtpd; killed on drop.
pub struct SmtpSink {
    pub port: u16,
    pub mail_dir: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    /// `python -m aiosmtpd -n -l 127.0.0.1:<port> -c sink.Store <dir>`.
    pub fn start() -> Self {
        Self::spawn(false)
    }

    /// An aiosmtpd that requires AUTH (login `alerts`, password `right-password`).
    pub fn start_with_auth() -> Self {
        Self::spawn(true)
    }

    fn spawn(auth: bool) -> Self {
        let python = venv_python();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mail_dir = dir.path().join("mail");
        std::fs::create_dir_all(&mail_dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("sink.py"), SINK_PY).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("auth_server.py"), AUTH_SERVER_PY).unwrap_or_else(|e| panic!("{e}"));
        let port = free_port();
        let mut cmd = Command::new(&python);
        cmd.env("PYTHONPATH", dir.path()).current_dir(dir.path()).stdin(Stdio::null());
        if auth {
            cmd.args(["-W", "ignore"]).arg(dir.path().join("auth_server.py")).arg(port.to_string()).arg(&mail_dir);
        } else {
            cmd.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "sink.Store"]).arg(&mail_dir);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", python.display()));
        eventually(Duration::from_secs(20), "aiosmtpd to listen", || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("aiosmtpd exited early: {status}");
            }
            std::net::TcpStream::connect(("127.0.0.1", port)).map(|_| ()).map_err(|e| e.to_string())
        });
        SmtpSink { port, mail_dir, child, _dir: dir }
    }

    /// Wait until at least `n` messages arrived; returns every message's raw bytes, in arrival order.
    pub fn wait_for_messages(&self, n: usize) -> Vec<Vec<u8>> {
        eventually(Duration::from_secs(20), &format!("{n} messages in {}", self.mail_dir.display()), || {
            let msgs = read_messages(&self.mail_dir);
            if msgs.len() >= n {
                Ok(msgs)
            } else {
                Err(format!("{} messages", msgs.len()))
            }
        })
    }
}

fn read_messages(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let p = e.path();
                    let n = p.file_name()?.to_str()?.strip_suffix(".eml")?.parse().ok()?;
                    Some((n, p))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files.into_iter().filter_map(|(_, p)| std::fs::read(p).ok()).collect()
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
