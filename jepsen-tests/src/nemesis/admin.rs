//! The few admin calls the nemesis makes on a master: the debug clock and membership. Errors
//! are strings for the nemesis' `detail` (a refused call is an outcome, not a harness failure).

use std::time::Duration;

use serde_json::json;

use crate::cluster::TOKEN;

#[derive(Clone)]
pub(crate) struct Admin {
    http: reqwest::Client,
}

/// What `GET /api/v1/cluster` says about membership.
#[derive(Debug, Clone, Default)]
pub(crate) struct Members {
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
}

async fn json_or_status(r: Result<reqwest::Response, reqwest::Error>) -> Result<serde_json::Value, String> {
    let r = r.map_err(|e| format!("request failed: {e}"))?;
    let status = r.status();
    let text = r.text().await.map_err(|e| format!("{status}, body unreadable: {e}"))?;
    if !status.is_success() {
        let text: String = text.chars().take(300).collect();
        return Err(format!("{status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{status}, body is not JSON: {e}"))
}

impl Admin {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Admin { http }
    }

    /// `POST /api/v1/debug/clock`; the offset the master answers it now uses.
    pub async fn set_clock(&self, base: &str, offset_ms: i64) -> Result<i64, String> {
        let r = self
            .http
            .post(format!("{base}/api/v1/debug/clock"))
            .bearer_auth(TOKEN)
            .json(&json!({ "offset_ms": offset_ms }))
            .send()
            .await;
        let v = json_or_status(r).await?;
        v["offset_ms"].as_i64().ok_or_else(|| format!("answer without offset_ms: {v}"))
    }

    /// `DELETE /api/v1/cluster/members/{id}` (a follower forwards it to the leader).
    pub async fn remove_member(&self, base: &str, id: u8) -> Result<Members, String> {
        let r = self
            .http
            .delete(format!("{base}/api/v1/cluster/members/{id}"))
            .bearer_auth(TOKEN)
            .timeout(Duration::from_secs(20))
            .send()
            .await;
        json_or_status(r).await.map(|v| members(&v))
    }

    /// `POST /api/v1/cluster/members {id, addr}`: joins as a learner, then becomes a voter.
    pub async fn add_member(&self, base: &str, id: u8, addr: &str) -> Result<Members, String> {
        let r = self
            .http
            .post(format!("{base}/api/v1/cluster/members"))
            .bearer_auth(TOKEN)
            .json(&json!({ "id": id, "addr": addr }))
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        json_or_status(r).await.map(|v| members(&v))
    }

    /// `GET /api/v1/cluster`.
    pub async fn members(&self, base: &str) -> Result<Members, String> {
        let r = self.http.get(format!("{base}/api/v1/cluster")).bearer_auth(TOKEN).send().await;
        json_or_status(r).await.map(|v| members(&v))
    }
}

fn members(v: &serde_json::Value) -> Members {
    let mut m = Members::default();
    for e in v["members"].as_array().into_iter().flatten() {
        let Some(id) = e["id"].as_u64() else { continue };
        match e["role"].as_str() {
            Some("voter") => m.voters.push(id),
            _ => m.learners.push(id),
        }
    }
    m
}
