//! Deliveries: one notification on one channel, with its attempts, rate limit and retry schedule.
//!
//! This module owns [`Deliveries`], the replicated delivery log (Crawlab-style, one record per
//! notification × channel, each attempt counted) and the pure rules that move a [`Delivery`] through
//! `Queued → InFlight → Delivered | Queued (retry) | GaveUp`. Time is passed in. It sends nothing: the
//! runtime performs each `Decision::Send` and reports back a [`DeliveryOutcome`].

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::config::AlertConfig;
use crate::group::Decision;
use crate::group::Notification;
use serde::Serialize;

/// Finished deliveries are kept this long for the UI, then pruned.
pub const DELIVERY_RETENTION_MS: u64 = 7 * 24 * 3_600_000;

/// `<notification id>@<channel>`: stable across resends and leaders.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeliveryId(pub String);

impl DeliveryId {
    pub fn new(notification_id: &str, channel: &str) -> Self {
        DeliveryId(format!("{notification_id}@{channel}"))
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one attempt achieved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DeliveryOutcome {
    Delivered,
    /// `error` is the server's answer verbatim; `retryable` comes from the sender
    /// (`SmtpError::is_retryable`, `WebhookError::is_retryable`).
    Failed {
        error: String,
        retryable: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeliveryState {
    Queued { due_ms: u64 },
    InFlight { since_ms: u64 },
    Delivered { at_ms: u64 },
    GaveUp { at_ms: u64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: DeliveryId,
    pub channel: String,
    pub notification: Notification,
    /// Attempts started so far.
    pub attempts: u32,
    pub state: DeliveryState,
    pub last_error: Option<String>,
    /// An attempt was in flight when its leader went away: the receiver may already have it.
    pub uncertain: bool,
    /// FIFO order among deliveries due at the same time.
    pub seq: u64,
}

/// The delivery log and per-channel send times (for the rate limit).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Deliveries {
    pub items: BTreeMap<DeliveryId, Delivery>,
    /// channel → start times of recent attempts, oldest first.
    pub recent_sends: BTreeMap<String, Vec<u64>>,
    pub next_seq: u64,
}

impl Deliveries {
    /// Queue `n` on `channel`, due now. A delivery id that already exists is left alone.
    pub fn enqueue(&mut self, n: &Notification, channel: &str, now_ms: u64) {
        let id = DeliveryId::new(&n.id, channel);
        if self.items.contains_key(&id) {
            return;
        }
        self.next_seq += 1;
        self.items.insert(
            id.clone(),
            Delivery {
                id,
                channel: channel.to_string(),
                notification: n.clone(),
                attempts: 0,
                state: DeliveryState::Queued { due_ms: now_ms },
                last_error: None,
                uncertain: false,
                seq: self.next_seq,
            },
        );
    }

    pub fn next_due_ms(&self) -> Option<u64> {
        self.items
            .values()
            .filter_map(|d| match d.state {
                DeliveryState::Queued { due_ms } => Some(due_ms),
                _ => None,
            })
            .min()
    }

    /// Start every due delivery the channel's rate limit allows, oldest first; the rest wait for the
    /// window to free (their `due_ms` moves to that time).
    pub fn dispatch_due(&mut self, now_ms: u64, cfg: &AlertConfig) -> Vec<Decision> {
        let mut due: Vec<(u64, u64, DeliveryId)> = self
            .items
            .values()
            .filter_map(|d| match d.state {
                DeliveryState::Queued { due_ms } if due_ms <= now_ms => Some((due_ms, d.seq, d.id.clone())),
                _ => None,
            })
            .collect();
        due.sort();
        let mut out = Vec::new();
        for (_, _, id) in due {
            let Some(d) = self.items.get_mut(&id) else { continue };
            let Some(ch) = cfg.channels.get(&d.channel) else {
                d.state = DeliveryState::GaveUp { at_ms: now_ms };
                let error = format!("channel {:?} is no longer configured", d.channel);
                d.last_error = Some(error.clone());
                out.push(Decision::GaveUp { delivery_id: id, attempts: d.attempts, error });
                continue;
            };
            let sends = self.recent_sends.entry(d.channel.clone()).or_default();
            if let Some(limit) = ch.rate_limit {
                sends.retain(|t| now_ms.saturating_sub(*t) < limit.per_ms);
                if sends.len() >= limit.max_notifications as usize {
                    let oldest = sends.first().copied().unwrap_or(now_ms);
                    d.state = DeliveryState::Queued { due_ms: oldest.saturating_add(limit.per_ms) };
                    continue;
                }
                sends.push(now_ms);
            } else {
                sends.clear();
            }
            d.attempts += 1;
            d.state = DeliveryState::InFlight { since_ms: now_ms };
            out.push(Decision::Send {
                delivery_id: id,
                channel: d.channel.clone(),
                attempt: d.attempts,
                uncertain: d.uncertain,
                notification: d.notification.clone(),
            });
        }
        out
    }

    /// Record an attempt's outcome. Outcomes for unknown or already settled deliveries are ignored (a
    /// late answer from a previous leader's attempt), except that `Delivered` settles a re-queued one.
    pub fn on_outcome(
        &mut self,
        id: &DeliveryId,
        outcome: DeliveryOutcome,
        now_ms: u64,
        cfg: &AlertConfig,
    ) -> Option<Decision> {
        let d = self.items.get_mut(id)?;
        let in_flight = matches!(d.state, DeliveryState::InFlight { .. });
        match outcome {
            DeliveryOutcome::Delivered => {
                if matches!(d.state, DeliveryState::Delivered { .. } | DeliveryState::GaveUp { .. }) {
                    return None;
                }
                d.state = DeliveryState::Delivered { at_ms: now_ms };
                d.uncertain = false;
                Some(Decision::Delivered { delivery_id: id.clone() })
            }
            DeliveryOutcome::Failed { .. } if !in_flight => None,
            DeliveryOutcome::Failed { error, retryable } => {
                d.last_error = Some(error.clone());
                d.uncertain = false;
                let backoff = cfg.channels.get(&d.channel).map(|c| c.retry.backoff_ms.clone()).unwrap_or_default();
                let delay =
                    usize::try_from(d.attempts).ok().and_then(|a| a.checked_sub(1)).and_then(|i| backoff.get(i));
                match delay {
                    Some(delay) if retryable => {
                        let due_ms = now_ms.saturating_add(*delay);
                        d.state = DeliveryState::Queued { due_ms };
                        Some(Decision::RetryScheduled {
                            delivery_id: id.clone(),
                            attempt: d.attempts + 1,
                            due_ms,
                            error,
                        })
                    }
                    _ => {
                        d.state = DeliveryState::GaveUp { at_ms: now_ms };
                        Some(Decision::GaveUp { delivery_id: id.clone(), attempts: d.attempts, error })
                    }
                }
            }
        }
    }

    /// See `AlertState::resume_after_failover`.
    pub fn requeue_in_flight(&mut self, now_ms: u64) {
        for d in self.items.values_mut() {
            if matches!(d.state, DeliveryState::InFlight { .. }) {
                d.state = DeliveryState::Queued { due_ms: now_ms };
                d.uncertain = true;
            }
        }
    }

    /// Deliveries that are neither delivered nor given up, for the UI's "pending" view.
    pub fn pending(&self) -> impl Iterator<Item = &Delivery> {
        self.items.values().filter(|d| matches!(d.state, DeliveryState::Queued { .. } | DeliveryState::InFlight { .. }))
    }

    pub(crate) fn prune(&mut self, now_ms: u64) {
        self.items.retain(|_, d| match d.state {
            DeliveryState::Delivered { at_ms } | DeliveryState::GaveUp { at_ms } => {
                now_ms.saturating_sub(at_ms) < DELIVERY_RETENTION_MS
            }
            _ => true,
        });
    }
}
