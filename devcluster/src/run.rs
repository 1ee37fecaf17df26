//! What `spider-up` does, in order: the layout, the masters, the demo site, the slaves' Python,
//! the SMTP sink (`mail_sink.py`, storing alert mail in `<dir>/mail/`) and the slaves, then the
//! provisioning through the API (demo alerting first, so later steps' alerts are mailed) and the
//! summary; then it waits in the foreground until SIGINT/SIGTERM (reporting children that exit)
//! and stops every child.

use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::signal;
use tokio::signal::unix::Signal;
use tokio::signal::unix::SignalKind;

use crate::bins;
use crate::demo;
use crate::layout::Layout;
use crate::processes;
use crate::processes::Exit;
use crate::processes::Supervisor;
use crate::provision;
use crate::report;
use crate::venv;
use crate::UpArgs;

/// The SMTP sink's process (and log) name.
const MAIL_SINK: &str = "mail-sink";

/// SIGINT and SIGTERM, installed before anything starts so neither kills `up` half-way.
struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}

fn report_exit(e: &Exit) {
    eprintln!(
        "up: {} (pid {}) exited: {}; it is not restarted; log: {}",
        e.name,
        e.pid,
        processes::describe(&e.status),
        e.log.display()
    );
}

/// Runs `up` until SIGINT/SIGTERM; `Ok` after a clean stop, `Err` when start-up failed.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let mut signals = Signals::install()?;
    let (sup, mut exits) = Supervisor::new();
    let grace = Duration::from_secs(args.stop_grace_secs);
    let started = {
        let starting = start(&args, &sup);
        tokio::pin!(starting);
        tokio::select! {
            r = &mut starting => r.map(Some),
            s = signals.next() => {
                eprintln!("up: {s} during start-up");
                Ok(None)
            }
            Some(e) = exits.recv() => {
                report_exit(&e);
                Err(anyhow::anyhow!("{} exited during start-up; see {}", e.name, e.log.display()))
            }
        }
    };
    if matches!(started, Ok(Some(()))) {
        loop {
            tokio::select! {
                s = signals.next() => {
                    eprintln!("up: {s}");
                    break;
                }
                Some(e) = exits.recv() => report_exit(&e),
            }
        }
    }
    eprintln!("up: stopping every process (SIGTERM, SIGKILL after {grace:?})");
    sup.stop_all(grace).await;
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(200), exits.recv()).await {
        eprintln!("up: stopped {} ({})", e.name, processes::describe(&e.status));
    }
    // `main` prints only the top message: put the causes in it.
    started.map(|_| ()).map_err(|e| anyhow::anyhow!("up: {e:#}"))
}

/// Starts everything and provisions the cluster; returns once the summary is printed.
async fn start(args: &UpArgs, sup: &Supervisor) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(args.timeout_secs);
    let layout = Layout::load_or_create(&args.dir, args.fresh)?;
    let dir = layout.dir.clone();
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let master_bin = bins::locate(bins::MASTER, args.master_bin.as_deref(), &exe)?;
    let slave_bin = bins::locate(bins::SLAVE, args.slave_bin.as_deref(), &exe)?;
    eprintln!("up: data dir {}", dir.display());

    for &id in layout.master_ports.keys() {
        let name = format!("master-{id}");
        let cmd = tokio::process::Command::from(layout.master_command(&master_bin, id)?);
        let pid = sup.spawn(&name, cmd, &layout.log_path(&name))?;
        eprintln!("up: started {name} (pid {pid}) on {}", layout.master_url(id));
    }
    demo::serve_site(layout.demo_site_port).await?;
    eprintln!("up: demo site on {}", layout.demo_site_url());

    let python = venv::ensure_python(args.python.as_deref(), &dir).await?;
    let cmd = tokio::process::Command::from(layout.mail_sink_command(&python)?);
    let pid = sup.spawn(MAIL_SINK, cmd, &layout.log_path(MAIL_SINK))?;
    eprintln!("up: started {MAIL_SINK} (pid {pid}) on {}, mail in {}", layout.smtp_addr(), layout.mail_dir().display());
    for name in layout.slave_ports.keys() {
        let cmd = tokio::process::Command::from(layout.slave_command(&slave_bin, name, &python)?);
        let pid = sup.spawn(name, cmd, &layout.log_path(name))?;
        eprintln!("up: started {name} (pid {pid}) on {}", layout.slave_url(name));
    }
    for name in layout.slave_ports.keys() {
        let url = format!("{}/daemonstatus.json", layout.slave_url(name));
        provision::wait_http(&url, &format!("{name} (see {})", layout.log_path(name).display()), timeout).await?;
    }
    let what = format!("{MAIL_SINK} on {} (see {})", layout.smtp_addr(), layout.log_path(MAIL_SINK).display());
    provision::wait_tcp(&layout.smtp_addr(), &what, timeout).await?;

    eprintln!("up: waiting for the masters to elect a leader");
    let masters = layout.master_ports.keys().map(|&id| layout.master_url(id)).collect();
    let mut api = provision::Api::new(masters, layout.admin_token.clone(), timeout)?;
    let leader = api.wait_for_leader().await?;
    let demo_alerting = api.ensure_demo_alerting(layout.smtp_port).await?;
    for name in layout.slave_ports.keys() {
        api.register_slave(name, &layout.slave_url(name)).await?;
    }
    let version = demo::egg_version();
    if api.has_version(demo::PROJECT, &version).await? {
        eprintln!("up: {} {version} already uploaded", demo::PROJECT);
    } else {
        eprintln!("up: building the demo egg");
        let egg = demo::build_egg(&dir, &python, &layout.log_path("demo-egg")).await?;
        let bytes = std::fs::read(&egg).with_context(|| format!("cannot read {}", egg.display()))?;
        api.upload_egg(demo::PROJECT, &version, bytes).await?;
    }
    let slaves: Vec<String> = layout.slave_ports.keys().cloned().collect();
    api.wait_deployed(demo::PROJECT, &version, &slaves).await?;
    let schedule = api.ensure_schedule(&layout.demo_site_url()).await?;
    let mut file = report::ClusterFile::new(&layout, &sup.pids(), leader);
    file.demo_schedule = Some(schedule);
    file.demo_alerting = demo_alerting;
    file.write(&dir)?;
    println!("{}", file.summary(&dir));
    Ok(())
}
