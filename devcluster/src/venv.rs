//! The Python interpreter the slaves run Scrapy with (and the SMTP sink aiosmtpd with):
//! `--python` / `SPIDER_PYTHON`, else `<dir>/venv`, created with `python3 -m venv` and filled by
//! pip, its progress shown.

use std::path::Path;
use std::path::PathBuf;
use std::process::Stdio;

use anyhow::Context;
use tokio::io::AsyncBufReadExt;

/// What the slaves, the egg build and the SMTP sink need.
const PACKAGES: &[&str] = &["scrapy", "setuptools", "wheel", "aiosmtpd"];
const CHECK: &str = "import scrapy, setuptools, aiosmtpd; print(scrapy.__version__)";

/// Scrapy's version if `python` can import Scrapy, setuptools and aiosmtpd.
async fn scrapy_version(python: &Path) -> Option<String> {
    let out = tokio::process::Command::new(python)
        .args(["-c", CHECK])
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs `cmd`, printing each output line as `  | line` so the user sees progress.
async fn run_streaming(what: &str, mut cmd: tokio::process::Command) -> anyhow::Result<()> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().with_context(|| format!("cannot run {what}"))?;
    let pump = |r: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| async move {
        let Some(r) = r else { return };
        let mut lines = tokio::io::BufReader::new(r).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            if !l.trim().is_empty() {
                eprintln!("  | {l}");
            }
        }
    };
    let out = pump(child.stdout.take().map(|s| Box::new(s) as _));
    let err = pump(child.stderr.take().map(|s| Box::new(s) as _));
    let (status, _, _) = tokio::join!(child.wait(), out, err);
    let status = status.with_context(|| format!("{what} did not finish"))?;
    if !status.success() {
        anyhow::bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Finds or creates the interpreter; `explicit` is `--python` or `SPIDER_PYTHON`.
pub async fn ensure_python(explicit: Option<&Path>, dir: &Path) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        return match scrapy_version(p).await {
            Some(v) => {
                eprintln!("up: using {} (Scrapy {v})", p.display());
                Ok(p.to_path_buf())
            }
            None => anyhow::bail!(
                "{} cannot import scrapy, setuptools and aiosmtpd; install them \
                 (`{} -m pip install scrapy setuptools aiosmtpd`) \
                 or leave --python/SPIDER_PYTHON unset to let `up` create a venv",
                p.display(),
                p.display()
            ),
        };
    }
    let venv = dir.join("venv");
    let python = venv.join("bin").join("python");
    if let Some(v) = scrapy_version(&python).await {
        eprintln!("up: using {} (Scrapy {v})", python.display());
        return Ok(python);
    }
    if !python.exists() {
        eprintln!("up: creating a Python venv at {}", venv.display());
        let mut cmd = tokio::process::Command::new("python3");
        cmd.arg("-m").arg("venv").arg(&venv);
        run_streaming("python3 -m venv (on Debian: apt-get install python3-venv)", cmd).await?;
    }
    eprintln!("up: installing {} into {} (a few minutes the first time)", PACKAGES.join(" "), venv.display());
    let mut cmd = tokio::process::Command::new(&python);
    cmd.args(["-m", "pip", "install", "--progress-bar", "off", "--disable-pip-version-check"]).args(PACKAGES);
    run_streaming("pip install", cmd).await?;
    match scrapy_version(&python).await {
        Some(v) => {
            eprintln!("up: Scrapy {v} ready");
            Ok(python)
        }
        None => anyhow::bail!("{} still cannot import scrapy and aiosmtpd after pip install", python.display()),
    }
}
