//! Starts queued jobs as soon as a slot is free, watches their processes, and re-adopts
//! processes that outlived a previous slave.
//!
//! The dispatcher sleeps on [`App::wake`] (a `Notify`, so a wake-up is never lost) and starts
//! jobs until the slots are full; `poll_interval` is only a safety re-check. A job is visible as
//! running from the moment it is taken (no invisible in-between, Scrapyd #327). On shutdown the
//! crawl processes are left running and stay recorded as running, so the next start re-adopts
//! them (pid + process start time guard against pid reuse) or records them as `lost`.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use crate::app::App;
use crate::jobs::RunningJob;
use crate::outcome::{Ending, Outcome};
use crate::procinfo;

/// Runs until shutdown: re-adopts survivors, then starts jobs whenever woken.
pub async fn run(app: Arc<App>) {
    readopt(&app);
    let tick = Duration::from_secs_f64(app.config.poll_interval);
    loop {
        start_ready(&app);
        tokio::select! {
            _ = app.wake.notified() => {}
            _ = tokio::time::sleep(tick) => {}
            _ = app.shutdown.cancelled() => break,
        }
    }
}

fn finish(app: &App, job: &RunningJob, mut outcome: Outcome) {
    let log = app.log_path(&job.spec);
    outcome.read_log(log.as_deref());
    if let Err(e) = app.book().finish(job.seq, outcome) {
        tracing::error!(cause = %e, job = %job.spec.id, "cannot record finished job");
    }
    app.wake.notify_one();
}

fn readopt(app: &Arc<App>) {
    let running: Vec<RunningJob> = app.book().running().to_vec();
    for job in running {
        match job.pid {
            Some(pid) if procinfo::is_alive(pid, job.proc_start) => {
                tracing::info!(job = %job.spec.id, pid, "re-adopting a crawl that outlived the previous slave");
                tokio::spawn(watch_pid(app.clone(), job));
            }
            _ => {
                tracing::warn!(job = %job.spec.id, pid = ?job.pid, "crawl process is gone: recording it as lost");
                finish(app, &job, Outcome::bare(Ending::Lost));
            }
        }
    }
}

fn start_ready(app: &Arc<App>) {
    let slots = app.config.slots();
    loop {
        let Some(job) = app.book().take_next(slots, app.config.max_proc_per_project) else { return };
        start(app, job);
    }
}

fn start(app: &Arc<App>, job: RunningJob) {
    let plan = match app.runner.crawl(&app.config, &job.spec) {
        Ok(p) => p,
        Err(e) => return spawn_failed(app, &job, e.to_string()),
    };
    let mut cmd = plan.command;
    cmd.stdin(Stdio::null());
    // Output (e.g. a traceback at import) goes to the job's log, appended like Scrapy's own lines.
    let (out, err) =
        match plan.log_file.as_ref().map(|p| {
            std::fs::OpenOptions::new().create(true).append(true).open(p).and_then(|f| Ok((f.try_clone()?, f)))
        }) {
            Some(Ok((a, b))) => (Stdio::from(a), Stdio::from(b)),
            Some(Err(e)) => return spawn_failed(app, &job, format!("cannot open log file: {e}")),
            None => (Stdio::null(), Stdio::null()),
        };
    cmd.stdout(out).stderr(err);
    // Own process group: a Ctrl-C aimed at the slave does not hit the crawls.
    cmd.process_group(0);
    match cmd.spawn() {
        Ok(child) => {
            let pid = child.id();
            let proc_start = pid.and_then(procinfo::start_ticks);
            match app.book().started(job.seq, pid, proc_start) {
                Ok(Some(sig)) => {
                    // A cancel arrived between taking the job and spawning it.
                    if let Some(p) = pid {
                        if let Err(e) = procinfo::send_signal(p, sig) {
                            tracing::warn!(job = %job.spec.id, cause = %e, "cannot deliver an early cancel");
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::error!(cause = %e, job = %job.spec.id, "cannot record started job"),
            }
            tracing::info!(job = %job.spec.id, project = %job.spec.project, spider = %job.spec.spider, pid = ?pid, "crawl started");
            tokio::spawn(watch_child(app.clone(), job, child));
        }
        Err(e) => spawn_failed(app, &job, format!("cannot start {}: {e}", app.config.python.display())),
    }
}

fn spawn_failed(app: &App, job: &RunningJob, error: String) {
    tracing::error!(job = %job.spec.id, cause = %error, "crawl could not start");
    if let Err(e) = app.book().started(job.seq, None, None) {
        tracing::error!(cause = %e, "cannot record start");
    }
    let mut o = Outcome::bare(Ending::SpawnFailed);
    o.error = Some(error);
    finish(app, job, o);
}

async fn watch_child(app: Arc<App>, job: RunningJob, mut child: tokio::process::Child) {
    let status = tokio::select! {
        s = child.wait() => s,
        _ = app.shutdown.cancelled() => return,
    };
    let outcome = match status {
        Ok(st) => {
            use std::os::unix::process::ExitStatusExt;
            let mut o = match (st.code(), st.signal()) {
                (Some(0), _) => Outcome::bare(Ending::Success),
                (Some(_), _) => Outcome::bare(Ending::Failure),
                (None, _) => Outcome::bare(Ending::Signalled),
            };
            o.exit_code = st.code();
            o.signal = st.signal();
            o
        }
        Err(e) => {
            let mut o = Outcome::bare(Ending::Lost);
            o.error = Some(format!("wait failed: {e}"));
            o
        }
    };
    tracing::info!(job = %job.spec.id, outcome = outcome.ending.as_str(), "crawl finished");
    finish(&app, &job, outcome);
}

/// Watches a process we did not spawn (no exit status available), polling its liveness.
async fn watch_pid(app: Arc<App>, job: RunningJob) {
    let Some(pid) = job.pid else { return };
    loop {
        if !procinfo::is_alive(pid, job.proc_start) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = app.shutdown.cancelled() => return,
        }
    }
    finish(&app, &job, Outcome::bare(Ending::Exited));
}
