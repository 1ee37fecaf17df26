//! Scrapyd's JSON envelope and response headers.
//!
//! Success: payload keys, then `"status": "ok"`, then `"node_name"`; errors: `status`, `message`,
//! `node_name`. Always HTTP 200, Python `json` formatting, a trailing newline, and the CORS
//! headers Scrapyd sends on every web-service answer. The method rules of an endpoint (which
//! methods it takes, how Twisted lists them when refusing one) are [`Verb`].
//!
//! This module never logs: the caller decides which errors are worth a log line.

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Response, StatusCode};

use crate::pyjson::Json;

/// The method family of a Scrapyd endpoint: `GET` services also take `HEAD`; `POST` services
/// take only `POST`. Both answer `OPTIONS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
}

impl Verb {
    /// The `Access-Control-Allow-Methods` / `Allow` value.
    pub fn allow(self) -> &'static str {
        match self {
            Verb::Get => "OPTIONS, HEAD, GET",
            Verb::Post => "OPTIONS, HEAD, POST",
        }
    }

    /// Whether `method` is served (OPTIONS is answered separately, by [`options`]).
    pub fn permits(self, method: &Method) -> bool {
        match self {
            Verb::Get => method == Method::GET || method == Method::HEAD,
            Verb::Post => method == Method::POST,
        }
    }

    /// How Twisted lists the allowed methods in its `UnsupportedMethod` message.
    pub fn twisted_list(self) -> &'static str {
        match self {
            Verb::Get => "[b'HEAD', b'OPTIONS', b'GET']",
            Verb::Post => "[b'HEAD', b'OPTIONS', b'POST']",
        }
    }
}

fn with_cors(mut resp: Response<Body>, verb: Verb) -> Response<Body> {
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(verb.allow()));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("X-Requested-With"));
    resp
}

/// The bytes of an answer: Python `json.dumps` of `value` and a newline.
pub fn body_text(value: &Json) -> String {
    let mut text = value.dumps();
    text.push('\n');
    text
}

fn json_response(value: Json, verb: Verb) -> Response<Body> {
    let mut resp = Response::new(Body::from(body_text(&value)));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    with_cors(resp, verb)
}

/// The success object: `payload`'s keys in order, then `status`, then `node_name`.
pub fn ok_value(node_name: &str, mut payload: Vec<(String, Json)>) -> Json {
    payload.push(("status".into(), Json::from("ok")));
    payload.push(("node_name".into(), Json::from(node_name)));
    Json::Obj(payload)
}

/// The error object: `status`, `message`, `node_name`.
pub fn error_value(node_name: &str, message: &str) -> Json {
    Json::Obj(vec![
        ("status".into(), Json::from("error")),
        ("message".into(), Json::from(message)),
        ("node_name".into(), Json::from(node_name)),
    ])
}

/// A success answer.
pub fn ok(node_name: &str, payload: Vec<(String, Json)>, verb: Verb) -> Response<Body> {
    json_response(ok_value(node_name, payload), verb)
}

/// An error answer (HTTP 200, as Scrapyd).
pub fn error(node_name: &str, message: &str, verb: Verb) -> Response<Body> {
    json_response(error_value(node_name, message), verb)
}

/// The answer to OPTIONS: 204, `Allow`, CORS, empty body.
pub fn options(verb: Verb) -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static(verb.allow()));
    with_cors(resp, verb)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn text(resp: Response<Body>) -> String {
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn ok_puts_status_and_node_name_last() {
        let resp = ok("n1", vec![("projects".into(), Json::from(vec!["a"]))], Verb::Get);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(resp.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(resp.headers()[header::ACCESS_CONTROL_ALLOW_METHODS], "OPTIONS, HEAD, GET");
        assert_eq!(resp.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS], "X-Requested-With");
        assert_eq!(text(resp).await, "{\"projects\": [\"a\"], \"status\": \"ok\", \"node_name\": \"n1\"}\n");
    }

    #[tokio::test]
    async fn errors_are_http_200() {
        let resp = error("n1", "project 'x' not found", Verb::Post);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::ACCESS_CONTROL_ALLOW_METHODS], "OPTIONS, HEAD, POST");
        assert_eq!(
            text(resp).await,
            "{\"status\": \"error\", \"message\": \"project 'x' not found\", \"node_name\": \"n1\"}\n"
        );
    }

    #[tokio::test]
    async fn options_is_204_with_allow() {
        let resp = options(Verb::Post);
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        assert_eq!(resp.headers()[header::ALLOW], "OPTIONS, HEAD, POST");
        assert_eq!(text(resp).await, "");
    }

    #[test]
    fn verbs() {
        assert!(Verb::Get.permits(&Method::HEAD) && Verb::Get.permits(&Method::GET));
        assert!(!Verb::Get.permits(&Method::POST) && !Verb::Post.permits(&Method::GET));
        assert!(Verb::Post.permits(&Method::POST) && !Verb::Post.permits(&Method::HEAD));
        assert_eq!(Verb::Post.twisted_list(), "[b'HEAD', b'OPTIONS', b'POST']");
    }
}
