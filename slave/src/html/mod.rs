//! The HTML pages clients scrape: `/` (home), `/jobs`, and the 404 page.
//!
//! Shapes are fixed by clients' parsers (ScrapydWeb's regexes; see SCRAPYD-API.md §5): keep
//! one `<td>` per line and the `<h1>` texts.

pub mod dirlisting;
pub mod home;
pub mod jobs;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use axum::routing::get;
use axum::Router;

use crate::app::App;

/// `/` and `/jobs`.
pub fn router() -> Router<Arc<App>> {
    Router::new().route("/", get(home::page)).route("/jobs", get(jobs::page))
}

/// Minimal HTML escaping (text and attribute values).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// The value of the configured prefix header (e.g. `X-Forwarded-Prefix`), escaped, or "".
pub fn base_path(app: &App, headers: &HeaderMap) -> String {
    headers
        .get(app.config.prefix_header.as_str())
        .and_then(|v| v.to_str().ok())
        .map(|v| escape(v.trim_end_matches('/')))
        .unwrap_or_default()
}

/// An HTML answer.
pub fn html(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    resp
}

/// Twisted's "No Such Resource" page, for any unknown path (same bytes as Scrapyd 1.6).
pub async fn not_found() -> Response<Body> {
    no_such_resource("Sorry. No luck finding that resource.")
}

/// Twisted's 404 page with its detail line (`File not found.` for static trees).
pub fn no_such_resource(detail: &str) -> Response<Body> {
    html(
        StatusCode::NOT_FOUND,
        format!(
            "\n<html>\n  <head><title>404 - No Such Resource</title></head>\n  <body>\n    <h1>No Such Resource</h1>\n    <p>{detail}</p>\n  </body>\n</html>\n"
        ),
    )
}
