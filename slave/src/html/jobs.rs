//! `/jobs`: the table ScrapydWeb parses: `<h1>Jobs</h1>`, a `<thead>`, then Pending, Running and
//! Finished `<tbody>` blocks, one `<td>` per line, times to the second, runtime as `H:MM:SS`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Response, StatusCode};
use chrono::{DateTime, FixedOffset, Local};

use super::{base_path, escape, html};
use crate::app::{App, FileIndex};
use crate::jobs::JobSpec;

fn seconds(t: &DateTime<FixedOffset>) -> String {
    t.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Python `str(timedelta)` without microseconds.
fn runtime(from: &DateTime<FixedOffset>, to: &DateTime<FixedOffset>) -> String {
    let secs = (*to - *from).num_seconds().max(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let hms = format!("{}:{:02}:{:02}", rest / 3600, (rest % 3600) / 60, rest % 60);
    match days {
        0 => hms,
        1 => format!("1 day, {hms}"),
        d => format!("{d} days, {hms}"),
    }
}

struct Columns {
    items: bool,
    cancel: bool,
}

impl Columns {
    fn headers(&self) -> Vec<&'static str> {
        let mut h = vec!["Project", "Spider", "Job", "PID", "Start", "Runtime", "Finish", "Log"];
        if self.items {
            h.push("Items");
        }
        if self.cancel {
            h.push("Cancel");
        }
        h
    }
}

#[derive(Default)]
struct Row {
    pid: String,
    start: String,
    runtime: String,
    finish: String,
    log: String,
    items: String,
    cancel: String,
}

fn row(out: &mut String, cols: &Columns, spec: &JobSpec, r: Row) {
    let mut cells =
        vec![escape(&spec.project), escape(&spec.spider), escape(&spec.id), r.pid, r.start, r.runtime, r.finish, r.log];
    if cols.items {
        cells.push(r.items);
    }
    if cols.cancel {
        cells.push(r.cancel);
    }
    out.push_str("<tr>\n");
    for c in cells {
        out.push_str("    <td>");
        out.push_str(&c);
        out.push_str("</td>\n");
    }
    out.push_str("</tr>\n");
}

fn cancel_form(base: &str, spec: &JobSpec) -> String {
    format!(
        "<form method=\"post\" onsubmit=\"return confirm('Cancel this job?');\" action=\"{base}/cancel.json\"><input type=\"hidden\" name=\"project\" value=\"{}\"><input type=\"hidden\" name=\"job\" value=\"{}\"><input type=\"submit\" value=\"Cancel\"></form>",
        escape(&spec.project),
        escape(&spec.id)
    )
}

fn link(base: &str, url: Option<String>, text: &str) -> String {
    url.map(|u| format!("<a href=\"{base}{}\">{text}</a>", escape(&u))).unwrap_or_default()
}

pub async fn page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response<Body> {
    let base = base_path(&app, &headers);
    let cols =
        Columns { items: app.config.local_items_dir().is_some(), cancel: app.config.service_enabled("cancel.json") };
    let header_cells = cols.headers();
    let n = header_cells.len();
    let mut out = String::with_capacity(4096);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Scrapyd</title>\n<style>\ntable { border-collapse: collapse; }\nth, td { border: 1px solid #999; padding: .4rem; }\n</style>\n</head>\n<body>\n<h1>Jobs</h1>\n<p><a href=\"./\">Go up</a></p>\n<table id=\"jobs\">\n<thead>\n<tr>\n");
    for h in &header_cells {
        out.push_str(&format!("    <th>{h}</th>\n"));
    }
    out.push_str("</tr>\n</thead>\n");
    let now = Local::now().fixed_offset();
    let mut files = FileIndex::default();
    let book = app.book();
    out.push_str(&format!("<tbody>\n<tr>\n    <th colspan=\"{n}\">Pending</th>\n</tr>\n"));
    for j in book.pending() {
        row(&mut out, &cols, &j.spec, Row { cancel: cancel_form(&base, &j.spec), ..Row::default() });
    }
    out.push_str(&format!("</tbody>\n<tbody>\n<tr>\n    <th colspan=\"{n}\">Running</th>\n</tr>\n"));
    for j in book.running() {
        let r = Row {
            pid: j.pid.map(|p| p.to_string()).unwrap_or_default(),
            start: seconds(&j.start_time),
            runtime: runtime(&j.start_time, &now),
            log: link(&base, app.log_url(&j.spec, &mut files), "Log"),
            items: link(&base, app.items_url(&j.spec, &mut files), "Items"),
            cancel: cancel_form(&base, &j.spec),
            ..Row::default()
        };
        row(&mut out, &cols, &j.spec, r);
    }
    out.push_str(&format!("</tbody>\n<tbody>\n<tr>\n    <th colspan=\"{n}\">Finished</th>\n</tr>\n"));
    for j in book.finished_newest_first() {
        let r = Row {
            start: seconds(&j.start_time),
            runtime: runtime(&j.start_time, &j.end_time),
            finish: seconds(&j.end_time),
            log: link(&base, app.log_url(&j.spec, &mut files), "Log"),
            items: link(&base, app.items_url(&j.spec, &mut files), "Items"),
            ..Row::default()
        };
        row(&mut out, &cols, &j.spec, r);
    }
    drop(book);
    out.push_str("</tbody>\n</table>\n</body>\n</html>\n");
    html(StatusCode::OK, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_like_python_timedelta() {
        let a = DateTime::parse_from_rfc3339("2026-01-01T00:00:00+00:00").unwrap();
        let b = DateTime::parse_from_rfc3339("2026-01-02T01:02:03+00:00").unwrap();
        assert_eq!(runtime(&a, &b), "1 day, 1:02:03");
        assert_eq!(runtime(&a, &a), "0:00:00");
    }
}
