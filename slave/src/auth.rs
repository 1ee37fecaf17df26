//! HTTP basic auth over every path, answered exactly like Scrapyd's Twisted guard.
//!
//! On only when both user name and password are set. A failure is `401`, `WWW-Authenticate:
//! basic realm="Scrapyd"`, `Content-Type: text/html`, body `Unauthorized`. OPTIONS needs
//! credentials too. The password is compared in constant time and never logged.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Response, StatusCode};
use axum::middleware::Next;
use base64::Engine;

use crate::app::App;

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(app: &App, req: &Request) -> bool {
    let Some(value) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut parts = value.splitn(2, ' ');
    let scheme = parts.next().unwrap_or("");
    let Some(encoded) = parts.next() else { return false };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else { return false };
    let Some(colon) = decoded.iter().position(|b| *b == b':') else { return false };
    let (user, pass) = (&decoded[..colon], &decoded[colon + 1..]);
    constant_time_eq(user, app.config.username.as_bytes())
        & constant_time_eq(pass, app.config.password.expose().as_bytes())
}

/// The 401 answer.
pub fn unauthorized() -> Response<Body> {
    let mut resp = Response::new(Body::from("Unauthorized"));
    *resp.status_mut() = StatusCode::UNAUTHORIZED;
    let h = resp.headers_mut();
    h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("basic realm=\"Scrapyd\""));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    resp
}

/// Middleware guarding every route when auth is on.
pub async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response<Body> {
    if !app.config.auth_enabled() || authorized(&app, &req) {
        next.run(req).await
    } else {
        unauthorized()
    }
}
