//! Scrapyd's JSON envelope and response headers.
//!
//! Success: payload keys, then `"status": "ok"`, then `"node_name"`; errors: `status`, `message`,
//! `node_name`. Always HTTP 200, Python `json` formatting, a trailing newline, and the CORS
//! headers Scrapyd sends on every web-service answer.

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};

use crate::error::Error;
use crate::pyjson::Json;

/// `Access-Control-Allow-Methods` / `Allow` value for an endpoint.
pub fn methods(post: bool) -> &'static str {
    if post {
        "OPTIONS, HEAD, POST"
    } else {
        "OPTIONS, HEAD, GET"
    }
}

fn with_cors(mut resp: Response<Body>, post: bool) -> Response<Body> {
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(methods(post)));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("X-Requested-With"));
    resp
}

fn json_response(value: Json, post: bool) -> Response<Body> {
    let mut text = value.dumps();
    text.push('\n');
    let mut resp = Response::new(Body::from(text));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    with_cors(resp, post)
}

/// A success answer.
pub fn ok(node_name: &str, mut payload: Vec<(String, Json)>, post: bool) -> Response<Body> {
    payload.push(("status".into(), Json::from("ok")));
    payload.push(("node_name".into(), Json::from(node_name)));
    json_response(Json::Obj(payload), post)
}

/// An error answer (HTTP 200, as Scrapyd).
pub fn error(node_name: &str, err: &Error, post: bool) -> Response<Body> {
    if matches!(err, Error::Io { .. } | Error::Journal { .. }) {
        tracing::error!(cause = %err, "request failed");
    }
    let v = Json::Obj(vec![
        ("status".into(), Json::from("error")),
        ("message".into(), Json::from(err.to_string())),
        ("node_name".into(), Json::from(node_name)),
    ]);
    json_response(v, post)
}

/// The answer to OPTIONS: 204, `Allow`, CORS, empty body.
pub fn options(post: bool) -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static(methods(post)));
    with_cors(resp, post)
}
