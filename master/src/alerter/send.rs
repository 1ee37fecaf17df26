//! One delivery attempt: render a notification with the channel's templates and hand it to
//! SMTP or the webhook. Used by the alerter for every `in_flight` delivery and by the API's
//! "send test" (the same pipeline, so a test that passes means real alerts get through).

use std::time::Duration;

use alerts::config::ChannelConfig;
use alerts::config::ChannelKind;
use alerts::delivery::DeliveryOutcome;
use alerts::group::Notification;
use alerts::render::RenderConfig;
use alerts::render::Renderer;

/// What an attempt achieved, with the server's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub ok: bool,
    /// The server's reply (`250 OK`, `HTTP 200`) or its error, verbatim.
    pub detail: String,
    /// A failure that may succeed later (4xx SMTP, connection trouble, HTTP 5xx/429).
    pub retryable: bool,
}

impl Attempt {
    pub fn outcome(&self) -> DeliveryOutcome {
        if self.ok {
            DeliveryOutcome::Delivered
        } else {
            DeliveryOutcome::Failed { error: self.detail.clone(), retryable: self.retryable }
        }
    }

    fn failed(detail: String, retryable: bool) -> Self {
        Attempt { ok: false, detail, retryable }
    }
}

/// Renders `n` and sends it on `channel`. `delivery_token` is the stable id of this delivery
/// (the notification id): the mail's `Message-ID` and the webhook's `webhook-id` derive from
/// it, so a resend after a failover can be dropped by the receiver.
pub async fn attempt(
    http: &reqwest::Client,
    channel: &ChannelConfig,
    n: &Notification,
    public_url: &str,
    now_ms: u64,
) -> Attempt {
    let renderer = match Renderer::new(RenderConfig { public_base_url: public_url.to_string(), ..Default::default() }) {
        Ok(r) => r,
        Err(e) => return Attempt::failed(format!("template: {e}"), false),
    };
    let msg = match renderer.render(n) {
        Ok(m) => m,
        Err(e) => return Attempt::failed(format!("template: {e}"), false),
    };
    match &channel.kind {
        ChannelKind::Email(smtp) => match alerts::smtp::send(smtp, &msg, &n.id).await {
            Ok(receipt) => Attempt { ok: true, detail: receipt.reply, retryable: false },
            Err(e) => {
                let retryable = e.is_retryable();
                Attempt::failed(e.to_string(), retryable)
            }
        },
        ChannelKind::Webhook(hook) => {
            let send = alerts::webhook::send(http, hook, n, &msg, public_url, now_ms);
            // The webhook's own timeout bounds the call; this is a backstop.
            match tokio::time::timeout(Duration::from_millis(hook.timeout_ms.saturating_add(1_000)), send).await {
                Ok(Ok(status)) => Attempt { ok: true, detail: format!("HTTP {status}"), retryable: false },
                Ok(Err(e)) => {
                    let retryable = e.is_retryable();
                    Attempt::failed(e.to_string(), retryable)
                }
                Err(_) => Attempt::failed(format!("no answer within {} ms", hook.timeout_ms), true),
            }
        }
    }
}
