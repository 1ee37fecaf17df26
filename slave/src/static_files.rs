//! `/logs/…` and `/items/…`: any file under the tree, with single-range `Range` support (206),
//! directory listings, and `/logs` → `/logs/` redirects. Paths never leave the tree: `..`
//! components are refused with a 404.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use scrapyd_wire::params::percent_decode;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::app::App;
use crate::html::{dirlisting, html, no_such_resource};

/// Routes for the enabled trees.
pub fn router(app: &Arc<App>) -> Router<Arc<App>> {
    let mut r = Router::new();
    if app.config.logs_dir.is_some() {
        r = r
            .route("/logs", get(|| async { redirect("/logs/") }))
            .route("/logs/", get(serve_logs))
            .route("/logs/{*rest}", get(serve_logs));
    }
    if app.config.local_items_dir().is_some() {
        r = r
            .route("/items", get(|| async { redirect("/items/") }))
            .route("/items/", get(serve_items))
            .route("/items/{*rest}", get(serve_items));
    }
    r
}

fn file_not_found() -> Response<Body> {
    no_such_resource("File not found.")
}

fn redirect(to: &'static str) -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::FOUND;
    resp.headers_mut().insert(header::LOCATION, HeaderValue::from_static(to));
    resp
}

async fn serve_logs(State(app): State<Arc<App>>, req: Request) -> Response<Body> {
    match app.config.logs_dir.clone() {
        Some(root) => serve(&root, "/logs/", req).await,
        None => file_not_found(),
    }
}

async fn serve_items(State(app): State<Arc<App>>, req: Request) -> Response<Body> {
    match app.config.local_items_dir() {
        Some(root) => serve(&root, "/items/", req).await,
        None => file_not_found(),
    }
}

/// Maps the URL path under `prefix` to a path under `root`, refusing anything that escapes it.
fn resolve(root: &Path, prefix: &str, url_path: &str) -> Option<PathBuf> {
    let rest = url_path.strip_prefix(prefix).unwrap_or("");
    let decoded = String::from_utf8(percent_decode(rest.replace('+', "%2B").as_bytes())).ok()?;
    let mut out = root.to_path_buf();
    for comp in Path::new(&decoded).components() {
        match comp {
            Component::Normal(c) => out.push(c),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

/// Parses a single `bytes=` range against `len`: `Some(Ok((start, end_inclusive)))`,
/// `Some(Err(()))` when unsatisfiable, `None` when absent or unparseable (serve the whole file).
fn parse_range(value: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 || len == 0 {
            return Some(Err(()));
        }
        return Some(Ok((len.saturating_sub(n), len - 1)));
    }
    let start: u64 = a.parse().ok()?;
    let end: u64 = if b.is_empty() { len.saturating_sub(1) } else { b.parse::<u64>().ok()?.min(len.saturating_sub(1)) };
    if start >= len || end < start {
        return Some(Err(()));
    }
    Some(Ok((start, end)))
}

async fn serve(root: &Path, prefix: &str, req: Request) -> Response<Body> {
    let url_path = req.uri().path().to_string();
    let Some(path) = resolve(root, prefix, &url_path) else { return file_not_found() };
    let Ok(meta) = tokio::fs::metadata(&path).await else { return file_not_found() };
    if meta.is_dir() {
        if !url_path.ends_with('/') {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::FOUND;
            if let Ok(v) = HeaderValue::from_str(&format!("{url_path}/")) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            return resp;
        }
        let decoded = String::from_utf8_lossy(&percent_decode(url_path.as_bytes())).into_owned();
        return match dirlisting::render(&path, &decoded) {
            Ok(page) => html(StatusCode::OK, page),
            Err(_) => file_not_found(),
        };
    }
    let len = meta.len();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (ctype, encoding) = dirlisting::type_and_encoding(&name);
    let range = req.headers().get(header::RANGE).and_then(|v| v.to_str().ok()).and_then(|v| parse_range(v, len));
    let mut resp = Response::new(Body::empty());
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(enc) = encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
    }
    let (start, count) = match range {
        Some(Err(())) => {
            *resp.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return resp;
        }
        Some(Ok((s, e))) => {
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {s}-{e}/{len}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            (s, e - s + 1)
        }
        None => (0, len),
    };
    if let Ok(v) = HeaderValue::from_str(&count.to_string()) {
        resp.headers_mut().insert(header::CONTENT_LENGTH, v);
    }
    if req.method() == Method::HEAD {
        return resp;
    }
    let Ok(mut file) = tokio::fs::File::open(&path).await else { return file_not_found() };
    if start > 0 && file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
        return file_not_found();
    }
    *resp.body_mut() = Body::from_stream(tokio_util::io::ReaderStream::new(file.take(count)));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=-1000", 5000), Some(Ok((4000, 4999))));
        assert_eq!(parse_range("bytes=-1000", 10), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=2-", 10), Some(Ok((2, 9))));
        assert_eq!(parse_range("bytes=2-3", 10), Some(Ok((2, 3))));
        assert_eq!(parse_range("bytes=20-", 10), Some(Err(())));
        assert_eq!(parse_range("items=1-2", 10), None);
    }

    #[test]
    fn traversal_refused() {
        let root = Path::new("/r");
        assert_eq!(resolve(root, "/logs/", "/logs/p/s/j.log"), Some(PathBuf::from("/r/p/s/j.log")));
        assert_eq!(resolve(root, "/logs/", "/logs/../etc/passwd"), None);
        assert_eq!(resolve(root, "/logs/", "/logs/%2e%2e/x"), None);
    }
}
