//! The alert decision state machine: streaks, firing alerts, groups and their timers.
//!
//! This module owns [`AlertState`] and its one mutator [`AlertState::step`]: given the time (Unix ms, passed
//! in; nothing here reads a clock), the config, the silences and a batch of [`Input`]s, it updates the state
//! and returns the [`Decision`]s, in order. It is deterministic: two replicas fed the same steps end equal,
//! so the master may either commit the decisions or put the step's inputs in the Raft log and run `step` in
//! `apply`. Per event and rule the pipeline is:
//!
//! dedupe (alert id) → consecutive-failure streak / "recovered only after a notified failure" →
//! inhibition → silences → group (Alertmanager's `group_wait` / `group_interval` / `repeat_interval`) →
//! notification → one delivery per channel (`delivery`: rate limit, retries, give-up).
//!
//! Every alert that matched a rule but is not sent produces a [`Decision::Suppressed`] with the reason.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::AlertConfig;
use crate::delivery::Deliveries;
use crate::delivery::DeliveryId;
use crate::delivery::DeliveryOutcome;
use crate::event::header_token;
use crate::event::AlertEvent;
use crate::event::AlertId;
use crate::event::AlertStatus;
use crate::route::Rule;
use crate::silence::default_inhibit_rules;
use crate::silence::Silence;
use serde::Serialize;

/// How long an alert id is remembered per rule to drop a re-fed event (e.g. after a failover).
pub const DEDUPE_WINDOW_MS: u64 = 24 * 3_600_000;

/// Something that happened since the last step.
// Inputs are short-lived and mostly events; boxing the big variant would only complicate the serde shape.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum Input {
    Event {
        event: AlertEvent,
    },
    /// The runtime finished a `Decision::Send` attempt.
    DeliveryOutcome {
        delivery_id: DeliveryId,
        outcome: DeliveryOutcome,
    },
}

/// Why an alert that matched a rule is not (yet) sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Suppression {
    /// This rule already took this alert id.
    Duplicate,
    /// The condition has failed `count` times in a row; the rule waits for `needed`.
    BelowFailureThreshold {
        count: u32,
        needed: u32,
    },
    /// A recovery whose failure was never notified (or the rule does not send recoveries).
    RecoveryNotNotified,
    /// The alert fired and resolved before its group was notified: nobody needs to hear of either.
    ResolvedBeforeNotified,
    Inhibited {
        by: AlertId,
    },
    Silenced {
        silence_id: String,
    },
}

/// One alert as a notification carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifiedAlert {
    pub alert_id: AlertId,
    pub status: AlertStatus,
    pub event: AlertEvent,
    /// For a resolved stateful alert: the event that resolved it (`NodeUp` for a `NodeDown`).
    pub resolved_by: Option<AlertEvent>,
    pub first_seen_ms: u64,
}

/// One message about one group, to be delivered on each of the rule's channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The alert id itself for a first notice of a single alert (so `Message-ID`/`webhook-id` are derived
    /// from it); `<alert id>:repeat-<seq>` for a reminder; `digest:<group key>:<seq>` for several alerts.
    pub id: String,
    pub rule: String,
    pub group_key: String,
    pub group_labels: BTreeMap<String, String>,
    /// Changed alerts first (new or just resolved), then still-firing ones, each in alert-id order.
    pub alerts: Vec<NotifiedAlert>,
    pub created_ms: u64,
    /// Nothing changed: a `repeat_interval` reminder of still-firing alerts.
    pub repeat: bool,
}

impl Notification {
    /// Header-safe form of [`Notification::id`] (see `AlertId::header_token`).
    pub fn id_token(&self) -> String {
        header_token(&self.id)
    }

    pub fn only_resolved(&self) -> bool {
        self.alerts.iter().all(|a| a.status == AlertStatus::Resolved)
    }
}

/// What `step` decided, in order. The runtime acts on `Send`; the rest is for the ledger and the UI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Suppressed {
        rule: String,
        alert_id: AlertId,
        why: Suppression,
    },
    /// A group was notified; one delivery per channel follows (as `Send`, now or later).
    Notify {
        notification: Notification,
        channels: Vec<String>,
    },
    /// Attempt this delivery now. `uncertain` marks a resend of an attempt whose outcome was never
    /// recorded (a leader died mid-send): the receiver may see it twice, with the same ids.
    Send {
        delivery_id: DeliveryId,
        channel: String,
        attempt: u32,
        uncertain: bool,
        notification: Notification,
    },
    Delivered {
        delivery_id: DeliveryId,
    },
    RetryScheduled {
        delivery_id: DeliveryId,
        attempt: u32,
        due_ms: u64,
        error: String,
    },
    GaveUp {
        delivery_id: DeliveryId,
        attempts: u32,
        error: String,
    },
}

/// Failures of one condition under one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Streak {
    pub consecutive_failures: u32,
    /// The last failure alert this rule admitted for notification, until the condition recovers.
    pub notified: Option<AlertId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupAlert {
    pub event: AlertEvent,
    pub status: AlertStatus,
    pub resolved_by: Option<AlertEvent>,
    /// Whether the current status has been notified.
    pub notified: bool,
    pub first_seen_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub rule: String,
    pub labels: BTreeMap<String, String>,
    pub alerts: BTreeMap<AlertId, GroupAlert>,
    /// When the group is next looked at. Always set while the group exists.
    pub next_flush_ms: u64,
    pub last_notified_ms: Option<u64>,
}

/// All alerting state the master replicates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    /// rule → condition key → streak.
    pub streaks: BTreeMap<String, BTreeMap<String, Streak>>,
    /// Stateful alerts currently firing (node down, metric over threshold), by alert id: inhibition sources.
    pub firing: BTreeMap<AlertId, AlertEvent>,
    /// Groups by key (`rule|label values`).
    pub groups: BTreeMap<String, Group>,
    /// rule → alert id → first seen (ms), pruned after [`DEDUPE_WINDOW_MS`].
    pub seen: BTreeMap<String, BTreeMap<AlertId, u64>>,
    pub deliveries: Deliveries,
    /// Source of digest/repeat sequence numbers: never reused, so ids never collide.
    pub next_seq: u64,
}

impl AlertState {
    /// Advance to `now_ms` with `inputs`. Deterministic; see the module doc.
    pub fn step(&mut self, now_ms: u64, cfg: &AlertConfig, silences: &[Silence], inputs: Vec<Input>) -> Vec<Decision> {
        let mut out = Vec::new();
        for input in inputs {
            match input {
                Input::Event { event } => self.on_event(now_ms, cfg, silences, event, &mut out),
                Input::DeliveryOutcome { delivery_id, outcome } => {
                    out.extend(self.deliveries.on_outcome(&delivery_id, outcome, now_ms, cfg))
                }
            }
        }
        self.flush_groups(now_ms, cfg, &mut out);
        out.extend(self.deliveries.dispatch_due(now_ms, cfg));
        self.prune(now_ms);
        out
    }

    /// When `step` next has timer work (a group flush or a delivery due), if ever.
    pub fn next_wakeup_ms(&self) -> Option<u64> {
        let g = self.groups.values().map(|g| g.next_flush_ms).min();
        let d = self.deliveries.next_due_ms();
        match (g, d) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A new leader takes over: attempts in flight under the old one have no recorded outcome, so they
    /// are re-queued now and resent marked uncertain, with the same delivery and notification ids.
    pub fn resume_after_failover(&mut self, now_ms: u64) {
        self.deliveries.requeue_in_flight(now_ms);
    }

    fn on_event(&mut self, now: u64, cfg: &AlertConfig, silences: &[Silence], ev: AlertEvent, out: &mut Vec<Decision>) {
        let id = ev.alert_id();
        // Firing state is a fact about the world, kept whatever the rules say (inhibition needs it).
        self.track_firing(&ev);
        for rule in cfg.rules.iter().filter(|r| r.matches(&ev)) {
            let suppressed = |why| Decision::Suppressed { rule: rule.name.clone(), alert_id: id.clone(), why };
            let seen = self.seen.entry(rule.name.clone()).or_default();
            if seen.contains_key(&id) {
                out.push(suppressed(Suppression::Duplicate));
                continue;
            }
            seen.insert(id.clone(), now);
            match ev.status() {
                AlertStatus::Firing => {
                    if let Some(key) = ev.condition_key() {
                        let streak = self.streaks.entry(rule.name.clone()).or_default().entry(key).or_default();
                        streak.consecutive_failures = streak.consecutive_failures.saturating_add(1);
                        if streak.consecutive_failures < rule.after_consecutive_failures {
                            out.push(suppressed(Suppression::BelowFailureThreshold {
                                count: streak.consecutive_failures,
                                needed: rule.after_consecutive_failures,
                            }));
                            continue;
                        }
                    }
                    if let Some(by) = self.inhibitor_of(cfg, &ev) {
                        out.push(suppressed(Suppression::Inhibited { by }));
                        continue;
                    }
                    if let Some(s) = silences.iter().find(|s| s.silences(&ev, now)) {
                        out.push(suppressed(Suppression::Silenced { silence_id: s.id.clone() }));
                        continue;
                    }
                    if let Some(key) = ev.condition_key() {
                        self.streaks.entry(rule.name.clone()).or_default().entry(key).or_default().notified =
                            Some(id.clone());
                    }
                    self.admit(now, rule, ev.clone(), AlertStatus::Firing);
                }
                AlertStatus::Resolved => {
                    let notified = ev.condition_key().and_then(|key| {
                        let streak = self.streaks.get_mut(&rule.name)?.remove(&key)?;
                        streak.notified
                    });
                    let Some(failed_id) = notified.filter(|_| rule.notify_recovered) else {
                        out.push(suppressed(Suppression::RecoveryNotNotified));
                        continue;
                    };
                    if let Some(why) = self.resolve_in_group(now, rule, &failed_id, &ev) {
                        out.push(suppressed(why));
                    }
                }
            }
        }
    }

    /// Update `firing` for a stateful alert or its resolution (which ends every firing alert of the
    /// same condition).
    fn track_firing(&mut self, ev: &AlertEvent) {
        if ev.is_stateful() {
            self.firing.insert(ev.alert_id(), ev.clone());
        } else if ev.status() == AlertStatus::Resolved {
            if let Some(key) = ev.condition_key() {
                self.firing.retain(|_, f| f.condition_key().as_deref() != Some(&key));
            }
        }
    }

    fn inhibitor_of(&self, cfg: &AlertConfig, ev: &AlertEvent) -> Option<AlertId> {
        let default_rules;
        let rules = match &cfg.inhibit_rules {
            Some(r) => r,
            None => {
                default_rules = default_inhibit_rules();
                &default_rules
            }
        };
        self.firing.iter().find(|(_, src)| rules.iter().any(|r| r.inhibits(src, ev))).map(|(id, _)| id.clone())
    }

    fn admit(&mut self, now: u64, rule: &Rule, ev: AlertEvent, status: AlertStatus) {
        let (key, labels) = rule.group_of(&ev);
        let bypass = ev.kind().bypasses_group_wait();
        let group = self.groups.entry(key).or_insert_with(|| Group {
            rule: rule.name.clone(),
            labels,
            alerts: BTreeMap::new(),
            next_flush_ms: if bypass { now } else { now.saturating_add(rule.timers.group_wait_ms) },
            last_notified_ms: None,
        });
        group.alerts.insert(
            ev.alert_id(),
            GroupAlert { event: ev, status, resolved_by: None, notified: false, first_seen_ms: now },
        );
    }

    /// Mark the notified failure `failed_id` resolved by `ev` in its group, or admit `ev` as a resolved
    /// alert of its own when the failure already left its group (one-off alerts leave once notified).
    fn resolve_in_group(&mut self, now: u64, rule: &Rule, failed_id: &AlertId, ev: &AlertEvent) -> Option<Suppression> {
        let group = self.groups.values_mut().find(|g| g.rule == rule.name && g.alerts.contains_key(failed_id));
        if let Some(group) = group {
            let still_unnotified = group.alerts.get(failed_id).is_some_and(|a| !a.notified);
            if still_unnotified {
                group.alerts.remove(failed_id);
                return Some(Suppression::ResolvedBeforeNotified);
            }
            if let Some(a) = group.alerts.get_mut(failed_id) {
                a.status = AlertStatus::Resolved;
                a.resolved_by = Some(ev.clone());
                a.notified = false;
            }
            return None;
        }
        self.admit(now, rule, ev.clone(), AlertStatus::Resolved);
        None
    }

    fn flush_groups(&mut self, now: u64, cfg: &AlertConfig, out: &mut Vec<Decision>) {
        let due: Vec<String> =
            self.groups.iter().filter(|(_, g)| g.next_flush_ms <= now).map(|(k, _)| k.clone()).collect();
        for key in due {
            let Some(mut group) = self.groups.remove(&key) else { continue };
            let Some(rule) = cfg.rules.iter().find(|r| r.name == group.rule) else {
                continue; // rule deleted: its groups go with it
            };
            let changed: Vec<AlertId> =
                group.alerts.iter().filter(|(_, a)| !a.notified).map(|(id, _)| id.clone()).collect();
            let still_firing: Vec<AlertId> = group
                .alerts
                .iter()
                .filter(|(_, a)| a.notified && a.status == AlertStatus::Firing)
                .map(|(id, _)| id.clone())
                .collect();
            let repeat_due =
                group.last_notified_ms.is_none_or(|t| now >= t.saturating_add(rule.timers.repeat_interval_ms));
            let send = !changed.is_empty() || (!still_firing.is_empty() && repeat_due);
            if send {
                let n = self.notification(now, &key, &group, &changed, &still_firing);
                group.last_notified_ms = Some(now);
                for a in group.alerts.values_mut() {
                    a.notified = true;
                }
                group.alerts.retain(|_, a| a.status == AlertStatus::Firing && a.event.is_stateful());
                let channels: Vec<String> = rule
                    .channels
                    .iter()
                    .filter(|c| !n.only_resolved() || cfg.channels.get(*c).is_none_or(|ch| ch.send_resolved))
                    .cloned()
                    .collect();
                for ch in &channels {
                    self.deliveries.enqueue(&n, ch, now);
                }
                out.push(Decision::Notify { notification: n, channels });
            }
            if !group.alerts.is_empty() {
                group.next_flush_ms = now.saturating_add(rule.timers.group_interval_ms);
                self.groups.insert(key, group);
            }
        }
    }

    fn notification(
        &mut self,
        now: u64,
        key: &str,
        group: &Group,
        changed: &[AlertId],
        firing: &[AlertId],
    ) -> Notification {
        let alerts: Vec<NotifiedAlert> = changed
            .iter()
            .chain(firing)
            .filter_map(|id| {
                let a = group.alerts.get(id)?;
                Some(NotifiedAlert {
                    alert_id: id.clone(),
                    status: a.status,
                    event: a.event.clone(),
                    resolved_by: a.resolved_by.clone(),
                    first_seen_ms: a.first_seen_ms,
                })
            })
            .collect();
        let repeat = changed.is_empty();
        let id = match alerts.as_slice() {
            [one] if !repeat => match &one.resolved_by {
                Some(r) => r.alert_id().0,
                None => one.alert_id.0.clone(),
            },
            [one] => {
                self.next_seq += 1;
                format!("{}:repeat-{}", one.alert_id, self.next_seq)
            }
            _ => {
                self.next_seq += 1;
                format!("digest:{key}:{}", self.next_seq)
            }
        };
        Notification {
            id,
            rule: group.rule.clone(),
            group_key: key.to_string(),
            group_labels: group.labels.clone(),
            alerts,
            created_ms: now,
            repeat,
        }
    }

    fn prune(&mut self, now: u64) {
        for seen in self.seen.values_mut() {
            seen.retain(|_, t| now.saturating_sub(*t) < DEDUPE_WINDOW_MS);
        }
        self.seen.retain(|_, m| !m.is_empty());
        for streaks in self.streaks.values_mut() {
            streaks.retain(|_, s| s.consecutive_failures > 0 || s.notified.is_some());
        }
        self.streaks.retain(|_, m| !m.is_empty());
        self.deliveries.prune(now);
    }
}

#[cfg(test)]
#[path = "group_test.rs"]
mod group_test;
