//! Webhook delivery to a real axum server on loopback that records requests and checks the Standard
//! Webhooks signature independently (its own HMAC code, not the crate's).

use std::sync::Arc;

use alerts::render::RenderConfig;
use std::sync::Mutex;

use alerts::render::Renderer;
use alerts::sample::sample_events;
use alerts::sample::sample_notifications;
use alerts::sample::single;
use alerts::secret::Secret;
use alerts::webhook::send;
use alerts::webhook::WebhookConfig;
use alerts::webhook::WebhookError;
use alerts::webhook::WebhookFormat;
use axum::extract::RawQuery;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use hmac::Hmac;
use hmac::Mac;
use sha2::Sha256;

const KEY_B64: &str = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

type Log = Arc<Mutex<Vec<Recorded>>>;

async fn start_receiver() -> (String, Log) {
    let log: Log = Arc::default();
    let record = |path: &'static str, status: StatusCode, answer: &'static str| {
        post(
            move |State(log): State<Log>, RawQuery(query): RawQuery, headers: HeaderMap, body: axum::body::Bytes| async move {
                if let Ok(mut l) = log.lock() {
                    l.push(Recorded { path: path.into(), query, headers, body: body.to_vec() });
                }
                (status, answer)
            },
        )
    };
    let app = Router::new()
        .route("/hook", record("/hook", StatusCode::OK, "ok"))
        .route("/fail", record("/fail", StatusCode::INTERNAL_SERVER_ERROR, "boom: database is locked"))
        .route("/ding", record("/ding", StatusCode::OK, r#"{"errcode":310000,"errmsg":"sign not match"}"#))
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), log)
}

fn verify_standard_webhook(r: &Recorded) -> Result<(), String> {
    let h = |k: &str| r.headers.get(k).and_then(|v| v.to_str().ok()).map(str::to_string).ok_or(format!("missing {k}"));
    let (id, ts, sig) = (h("webhook-id")?, h("webhook-timestamp")?, h("webhook-signature")?);
    let key = base64::engine::general_purpose::STANDARD.decode(KEY_B64).map_err(|e| e.to_string())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&r.body);
    let expected = format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
    if sig.split(' ').any(|s| s == expected) {
        Ok(())
    } else {
        Err(format!("signature {sig} != {expected}"))
    }
}

fn renderer() -> Renderer {
    Renderer::new(RenderConfig { public_base_url: "https://spiders.example.org".into(), ..Default::default() })
        .unwrap_or_else(|e| panic!("{e}"))
}

fn cfg(url: String, format: WebhookFormat, secret: Option<&str>) -> WebhookConfig {
    WebhookConfig { url, format, secret: secret.map(Secret::new), timeout_ms: 5_000 }
}

#[tokio::test]
async fn generic_webhook_is_signed_the_standard_webhooks_way() {
    let (base, log) = start_receiver().await;
    let client = reqwest::Client::new();
    let c = cfg(format!("{base}/hook"), WebhookFormat::Generic, Some(&format!("whsec_{KEY_B64}")));
    c.validate().unwrap_or_else(|e| panic!("{e}"));
    let n = single(sample_events(1_700_000_000_000).remove(0), 1_700_000_000_000);
    let msg = renderer().render(&n).unwrap_or_else(|e| panic!("{e}"));
    let now_ms = 1_700_000_123_456;
    assert_eq!(send(&client, &c, &n, &msg, "https://spiders.example.org", now_ms).await.ok(), Some(200));
    send(&client, &c, &n, &msg, "https://spiders.example.org", now_ms + 60_000).await.unwrap_or_else(|e| panic!("{e}"));

    let reqs = log.lock().map(|l| l.clone()).unwrap_or_default();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        verify_standard_webhook(r).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.headers.get("webhook-id").and_then(|v| v.to_str().ok()), Some("msg_failover=3Aterm-7"));
        assert_eq!(r.headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"));
    }
    assert_eq!(reqs[0].headers.get("webhook-timestamp").and_then(|v| v.to_str().ok()), Some("1700000123"));
    let body: serde_json::Value = serde_json::from_slice(&reqs[0].body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body["type"], "alert.firing");
    assert_eq!(body["data"]["notification_id"], "failover:term-7");
    assert_eq!(body["data"]["alerts"][0]["event"]["new_leader"], "master-2");
    assert_eq!(body["data"]["alerts"][0]["event"]["leaderless_ms"], 1850);

    // A tampered body fails the receiver's check.
    let mut tampered = reqs[0].clone();
    tampered.body.push(b' ');
    assert!(verify_standard_webhook(&tampered).is_err());
}

#[tokio::test]
async fn http_500_is_a_retryable_error_with_the_body_verbatim() {
    let (base, log) = start_receiver().await;
    let client = reqwest::Client::new();
    let n = single(sample_events(0).remove(3), 0);
    let msg = renderer().render(&n).unwrap_or_else(|e| panic!("{e}"));
    let err = send(&client, &cfg(format!("{base}/fail"), WebhookFormat::Generic, None), &n, &msg, "", 0).await.err();
    match &err {
        Some(e @ WebhookError::Status { status: 500, body }) => {
            assert_eq!(body, "boom: database is locked");
            assert!(e.is_retryable());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(log.lock().map(|l| l.len()).unwrap_or(0), 1);
}

#[tokio::test]
async fn alertmanager_slack_and_robot_formats() {
    let (base, log) = start_receiver().await;
    let client = reqwest::Client::new();
    let digest = sample_notifications(1_700_000_000_000).pop().unwrap_or_else(|| panic!("no digest"));
    let msg = renderer().render(&digest).unwrap_or_else(|e| panic!("{e}"));
    let ext = "https://spiders.example.org";
    for f in [WebhookFormat::Alertmanager, WebhookFormat::Slack, WebhookFormat::Feishu, WebhookFormat::Wecom] {
        send(&client, &cfg(format!("{base}/hook"), f, None), &digest, &msg, ext, 1_700_000_000_000)
            .await
            .unwrap_or_else(|e| panic!("{f:?}: {e}"));
    }
    // DingTalk: signed in the query; the robot's errcode is an error, not retryable.
    let err = send(
        &client,
        &cfg(format!("{base}/ding"), WebhookFormat::Dingtalk, Some("SEC123")),
        &digest,
        &msg,
        ext,
        1_700_000_000_000,
    )
    .await
    .err();
    assert!(matches!(&err, Some(WebhookError::Refused { body }) if body.contains("sign not match")), "{err:?}");
    assert!(err.is_some_and(|e| !e.is_retryable()));

    let reqs = log.lock().map(|l| l.clone()).unwrap_or_default();
    let json =
        |i: usize| -> serde_json::Value { serde_json::from_slice(&reqs[i].body).unwrap_or_else(|e| panic!("{e}")) };
    let am = json(0);
    assert_eq!(am["version"], "4");
    assert_eq!(am["status"], "firing");
    assert_eq!(am["externalURL"], ext);
    assert_eq!(am["alerts"].as_array().map(Vec::len), Some(digest.alerts.len()));
    assert_eq!(am["alerts"][0]["labels"]["alertname"], "failover");
    assert_eq!(am["alerts"][0]["fingerprint"], "failover=3Aterm-7");
    assert!(reqs[0].headers.contains_key("webhook-id"));
    assert!(json(1)["text"].as_str().unwrap_or_default().starts_with(&msg.subject));
    assert_eq!(json(2)["msg_type"], "text");
    assert_eq!(json(3)["msgtype"], "markdown");
    assert!(json(3)["markdown"]["content"].as_str().map(str::len).unwrap_or(usize::MAX) <= 4096);
    let q = reqs[4].query.clone().unwrap_or_default();
    assert!(q.starts_with("timestamp=1700000000000&sign="), "{q}");
    assert_eq!(reqs[4].path, "/ding");
}
