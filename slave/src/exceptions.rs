//! `/exceptions.json`: ERROR/CRITICAL blocks (with their tracebacks) from a job's log, read
//! incrementally from a byte offset so a poller only ever reads new text.
//!
//! Parameters: `job` (required), `project` (optional filter), `offset` (default 0). The answer
//! carries `exceptions` (each with `offset`, `level`, `logger`, `time`, `message`) and
//! `next_offset`, the offset to pass next time. Only complete lines are consumed.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Response;
use axum::routing::get;
use axum::Router;
use scrapyd_wire::envelope::{self, Verb};
use scrapyd_wire::params::Params;
use scrapyd_wire::pyjson::{obj, Json};

use crate::app::App;
use crate::error::{Error, Result};
use crate::jobs::JobSpec;

/// Most bytes read per call.
const MAX_CHUNK: u64 = 8 * 1024 * 1024;

pub fn router() -> Router<Arc<App>> {
    Router::new().route("/exceptions.json", get(handler))
}

/// One ERROR/CRITICAL block.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub offset: u64,
    pub level: String,
    pub logger: String,
    pub time: String,
    pub message: String,
}

/// Splits a Scrapy log line `YYYY-MM-DD HH:MM:SS [logger] LEVEL: message`.
fn parse_line(line: &str) -> Option<(&str, &str, &str, &str)> {
    if line.len() < 21 || !line.as_bytes()[..4].iter().all(u8::is_ascii_digit) || line.as_bytes().get(4) != Some(&b'-')
    {
        return None;
    }
    let time = line.get(..19)?;
    let rest = line.get(20..)?.strip_prefix('[')?;
    let (logger, rest) = rest.split_once("] ")?;
    let (level, msg) = rest.split_once(": ")?;
    Some((time, logger, level, msg))
}

/// Finds blocks in `text`, which starts at file offset `base`.
pub fn scan(text: &str, base: u64) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut current: Option<Block> = None;
    let mut pos = base;
    for line in text.split_inclusive('\n') {
        let start = pos;
        pos += line.len() as u64;
        let l = line.trim_end_matches(['\n', '\r']);
        match parse_line(l) {
            Some((time, logger, level, msg)) => {
                if let Some(b) = current.take() {
                    out.push(b);
                }
                if level == "ERROR" || level == "CRITICAL" {
                    current = Some(Block {
                        offset: start,
                        level: level.into(),
                        logger: logger.into(),
                        time: time.into(),
                        message: msg.into(),
                    });
                }
            }
            None => {
                if let Some(b) = current.as_mut() {
                    b.message.push('\n');
                    b.message.push_str(l);
                } else if l.starts_with("Traceback (most recent call last):") {
                    current = Some(Block {
                        offset: start,
                        level: "CRITICAL".into(),
                        logger: "stderr".into(),
                        time: String::new(),
                        message: l.into(),
                    });
                }
            }
        }
    }
    if let Some(b) = current {
        out.push(b);
    }
    out
}

fn find_spec(app: &App, job: &str, project: Option<&str>) -> Option<JobSpec> {
    let book = app.book();
    let hit = |s: &JobSpec| s.id == job && project.is_none_or(|p| s.project == p);
    book.running()
        .iter()
        .map(|r| &r.spec)
        .find(|s| hit(s))
        .or_else(|| book.finished_newest_first().map(|f| &f.spec).find(|s| hit(s)))
        .cloned()
}

fn read(app: &App, p: &Params) -> Result<Vec<(String, Json)>> {
    let job = p.req("job")?;
    let project = p.opt("project")?;
    let offset: u64 = match p.opt("offset")? {
        Some(o) => o.trim().parse().map_err(|_| Error::InvalidParam {
            name: "offset".into(),
            reason: format!("invalid literal for int() with base 10: '{o}'"),
        })?,
        None => 0,
    };
    let spec = find_spec(app, &job, project.as_deref());
    let path = spec.as_ref().and_then(|s| app.log_path(s));
    let (blocks, next) = match path.and_then(|p| std::fs::File::open(p).ok()) {
        None => (Vec::new(), offset),
        Some(mut f) => {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let start = offset.min(len);
            f.seek(SeekFrom::Start(start)).map_err(|e| Error::io("seek log", e))?;
            let mut buf = Vec::new();
            f.take(MAX_CHUNK).read_to_end(&mut buf).map_err(|e| Error::io("read log", e))?;
            let complete = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            buf.truncate(complete);
            let text = String::from_utf8_lossy(&buf);
            (scan(&text, start), start + complete as u64)
        }
    };
    let list: Vec<Json> = blocks
        .into_iter()
        .map(|b| {
            obj([
                ("offset", Json::from(b.offset)),
                ("level", Json::from(b.level)),
                ("logger", Json::from(b.logger)),
                ("time", Json::from(b.time)),
                ("message", Json::from(b.message)),
            ])
        })
        .collect();
    Ok(vec![
        ("job".into(), Json::from(job)),
        ("exceptions".into(), Json::Arr(list)),
        ("next_offset".into(), Json::from(next)),
    ])
}

async fn handler(State(app): State<Arc<App>>, req: Request) -> Response<Body> {
    let res = match Params::from_request(req, 1 << 20).await {
        Ok(p) => read(&app, &p),
        Err(e) => Err(e.into()),
    };
    match res {
        Ok(payload) => envelope::ok(&app.config.node_name, payload, Verb::Get),
        Err(e) => e.envelope(&app.config.node_name, Verb::Get),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_with_tracebacks() {
        let log = "2026-01-01 00:00:00 [scrapy.core.engine] INFO: Spider opened\n\
2026-01-01 00:00:01 [scrapy.core.scraper] ERROR: Spider error processing <GET http://x>\n\
Traceback (most recent call last):\n  File \"a.py\", line 1\nValueError: boom\n\
2026-01-01 00:00:02 [scrapy.core.engine] INFO: Closing spider (finished)\n";
        let b = scan(log, 100);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].level, "ERROR");
        assert_eq!(b[0].offset, 100 + 61);
        assert!(b[0].message.ends_with("ValueError: boom"));
    }
}
