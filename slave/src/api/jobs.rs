//! Job services: schedule, cancel, status, listjobs, daemonstatus.

use std::sync::Arc;

use axum::http::HeaderMap;
use chrono::{DateTime, FixedOffset};
use scrapyd_wire::params::{bytes_repr, Params};
use scrapyd_wire::pyjson::{obj, Json};

use crate::app::{App, FileIndex};
use crate::error::{Error, Result};
use crate::jobs::{FinishedJob, JobSpec, JobState};
use crate::procinfo;

type Payload = Result<Vec<(String, Json)>>;

/// Header a master sends to make schedule.json idempotent.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// Parameters schedule.json consumes itself; every other one is a spider argument.
const SCHEDULE_PARAMS: [&str; 6] = ["project", "spider", "_version", "jobid", "priority", "setting"];

fn pair(k: &str, v: impl Into<Json>) -> (String, Json) {
    (k.to_string(), v.into())
}

/// Python `str(datetime)` in naive local time, always with microseconds. Times are stored with
/// the local offset they were taken in, so their own wall-clock reading is the local time.
pub fn fmt_time(t: &DateTime<FixedOffset>) -> String {
    use chrono::{Datelike, Timelike};
    let n = t.naive_local();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        n.year(),
        n.month(),
        n.day(),
        n.hour(),
        n.minute(),
        n.second(),
        n.nanosecond() % 1_000_000_000 / 1000
    )
}

fn kv(pairs: &[(String, String)]) -> Json {
    obj(pairs.iter().map(|(k, v)| (k.clone(), Json::from(v.as_str()))))
}

pub fn daemonstatus(app: &Arc<App>) -> Payload {
    let (pending, running, finished) = app.book().counts();
    Ok(vec![pair("pending", pending), pair("running", running), pair("finished", finished)])
}

fn parse_priority(p: &Params) -> Result<f64> {
    let Some(raw) = p.raw("priority") else { return Ok(0.0) };
    let invalid = || Error::InvalidParam {
        name: "priority".into(),
        reason: format!("could not convert string to float: {}", bytes_repr(raw)),
    };
    let text = std::str::from_utf8(raw).map_err(|_| invalid())?.trim().replace('_', "");
    let lower = text.to_ascii_lowercase();
    let ok_word = ["inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan", "+nan", "-nan"];
    if text.is_empty()
        || (lower.chars().any(|c| c.is_ascii_alphabetic() && c != 'e') && !ok_word.contains(&lower.as_str()))
    {
        return Err(invalid());
    }
    text.parse::<f64>().map_err(|_| invalid())
}

pub async fn schedule(app: &Arc<App>, p: &Params, headers: &HeaderMap) -> Payload {
    let project = p.req("project")?;
    let spider = p.req("spider")?;
    let version = p.opt("_version")?;
    let jobid = p.opt("jobid")?;
    let priority = parse_priority(p)?;
    let mut settings = Vec::new();
    for (i, s) in p.all("setting")?.into_iter().enumerate() {
        let (k, v) = s.split_once('=').ok_or(Error::SettingWithoutEquals(i))?;
        settings.push((k.to_string(), v.to_string()));
    }
    // The job id names the log, items and JOBDIR files: it must be one safe path component.
    if let Some(id) = &jobid {
        scrapyd_wire::versions::check_component(id)?;
    }
    let key = headers.get(IDEMPOTENCY_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
    if !app.project_exists(&project) {
        return Err(Error::ProjectNotFound(project));
    }
    let version = version.filter(|v| !v.is_empty());
    if let Some(v) = &version {
        if app.eggs.get(&project, Some(v))?.is_none() {
            return Err(Error::VersionNotFound(v.clone()));
        }
    }
    let spiders = app.runner.spiders(&project, version.as_deref()).await?;
    if !spiders.contains(&spider) {
        return Err(Error::SpiderNotFound(spider));
    }
    let mut args = Vec::new();
    for name in p.names() {
        if !SCHEDULE_PARAMS.contains(&name) {
            args.push((name.to_string(), p.opt(name)?.unwrap_or_default()));
        }
    }
    let spec = JobSpec {
        id: jobid.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
        project,
        spider,
        version,
        settings,
        args,
        priority,
    };
    let (id, fresh) = app.book().enqueue(spec, key.as_deref())?;
    if fresh {
        tracing::debug!(job = %id, "job scheduled");
        app.wake.notify_one();
    }
    Ok(vec![pair("jobid", id)])
}

pub fn cancel(app: &Arc<App>, p: &Params) -> Payload {
    let project = p.req("project")?;
    let job = p.req("job")?;
    let signal = p.opt("signal")?.unwrap_or_else(|| "INT".into());
    if !app.project_exists(&project) {
        return Err(Error::ProjectNotFound(project));
    }
    let sig = procinfo::parse_signal(&signal)?;
    let mut book = app.book();
    let mut prevstate = Json::Null;
    if book.cancel_pending(&project, &job)? {
        prevstate = Json::from("pending");
    }
    for r in book.running_to_signal(&project, &job, sig) {
        if let Some(pid) = r.pid {
            if let Err(e) = procinfo::send_signal(pid, sig) {
                tracing::warn!(job = %job, pid, cause = %e, "cannot signal crawl");
            }
        }
        prevstate = Json::from("running");
    }
    Ok(vec![pair("prevstate", prevstate)])
}

pub fn status(app: &Arc<App>, p: &Params) -> Payload {
    let job = p.req("job")?;
    let project = p.opt("project")?;
    if let Some(pr) = &project {
        if !app.project_exists(pr) {
            return Err(Error::ProjectNotFound(pr.clone()));
        }
    }
    let book = app.book();
    let state = book.state_of(&job, project.as_deref());
    let word = match state {
        Some(JobState::Pending) => Json::from("pending"),
        Some(JobState::Running) => Json::from("running"),
        Some(JobState::Finished) => Json::from("finished"),
        None => Json::Null,
    };
    let mut out = vec![pair("currstate", word)];
    if state == Some(JobState::Finished) {
        if let Some(f) = book.finished_record(&job, project.as_deref()) {
            out.extend(f.outcome.fields());
        }
    }
    Ok(out)
}

pub fn listjobs(app: &Arc<App>, p: &Params) -> Payload {
    let project = p.opt("project")?;
    if let Some(pr) = &project {
        if !app.project_exists(pr) {
            return Err(Error::ProjectNotFound(pr.clone()));
        }
    }
    let keep = |s: &JobSpec| project.as_deref().is_none_or(|pr| s.project == pr);
    let mut files = FileIndex::default();
    let book = app.book();
    let pending: Vec<Json> = book
        .pending()
        .filter(|j| keep(&j.spec))
        .map(|j| {
            let s = &j.spec;
            obj([
                ("id", Json::from(s.id.as_str())),
                ("project", Json::from(s.project.as_str())),
                ("spider", Json::from(s.spider.as_str())),
                ("version", Json::from(s.version.clone())),
                ("settings", kv(&s.settings)),
                ("args", kv(&s.args)),
                ("priority", Json::from(s.priority)),
            ])
        })
        .collect();
    let running: Vec<Json> = book
        .running()
        .iter()
        .filter(|j| keep(&j.spec))
        .map(|j| {
            let s = &j.spec;
            obj([
                ("id", Json::from(s.id.as_str())),
                ("project", Json::from(s.project.as_str())),
                ("spider", Json::from(s.spider.as_str())),
                ("pid", Json::from(j.pid)),
                ("start_time", Json::from(fmt_time(&j.start_time))),
                ("log_url", Json::from(app.log_url(s, &mut files))),
                ("items_url", Json::from(app.items_url(s, &mut files))),
                ("version", Json::from(s.version.clone())),
                ("settings", kv(&s.settings)),
                ("args", kv(&s.args)),
            ])
        })
        .collect();
    let finished: Vec<Json> = book
        .finished_newest_first()
        .filter(|j| keep(&j.spec))
        .map(|j| {
            let (head, tail) = j.rendered.get_or_init(|| render_finished(j));
            let log = Json::from(app.log_url(&j.spec, &mut files)).dumps();
            let items = Json::from(app.items_url(&j.spec, &mut files)).dumps();
            Json::Raw(format!("{{{head}, \"log_url\": {log}, \"items_url\": {items}, {tail}}}"))
        })
        .collect();
    Ok(vec![pair("pending", pending), pair("running", running), pair("finished", finished)])
}

/// The fixed parts of a finished listjobs item: the fields before `log_url`, and those after
/// `items_url` (without braces).
fn render_finished(j: &FinishedJob) -> (String, String) {
    let s = &j.spec;
    let inner = |pairs: Vec<(String, Json)>| {
        let text = Json::Obj(pairs).dumps();
        text[1..text.len() - 1].to_string()
    };
    let head = inner(vec![
        pair("id", s.id.as_str()),
        pair("project", s.project.as_str()),
        pair("spider", s.spider.as_str()),
        pair("start_time", fmt_time(&j.start_time)),
        pair("end_time", fmt_time(&j.end_time)),
    ]);
    let mut tail =
        vec![pair("version", s.version.clone()), ("settings".into(), kv(&s.settings)), ("args".into(), kv(&s.args))];
    tail.extend(j.outcome.fields());
    (head, inner(tail))
}
