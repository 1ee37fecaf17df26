//! Authenticated calls to a [`TestCluster`]'s API, answering `(status, JSON body)`.

use crate::cluster::TestCluster;
use crate::cluster::ADMIN;

/// An authenticated request: its status and JSON body (a JSON string if the body is not JSON).
pub async fn call(req: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let r = req.bearer_auth(ADMIN).send().await.expect("request");
    let s = r.status().as_u16();
    let t = r.text().await.expect("body");
    (s, serde_json::from_str(&t).unwrap_or(serde_json::Value::String(t)))
}

/// `method /api/v1{path}` on master `id`, with an optional JSON body.
pub async fn api(
    c: &TestCluster,
    id: u64,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut r = c.http.request(method, format!("{}/api/v1{path}", c.url(id)));
    if let Some(b) = body {
        r = r.json(&b);
    }
    call(r).await
}
