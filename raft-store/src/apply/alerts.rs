//! Alerting: channels, rules and silences, the engine's step, and the alert ledger.
//!
//! The engine (`alerts::group::AlertState`) is pure: stepping it here, at the entry's time, makes
//! every replica reach the same decisions. Its decisions are mirrored into the ledger (what each
//! rule did with each alert) and the per-channel counters.

use std::collections::BTreeMap;

use alerts::config::AlertConfig;
use alerts::config::ConfigError;
use alerts::event::AlertEvent;
use alerts::event::AlertStatus;
use alerts::group::Decision;
use alerts::group::Input;
use alerts::group::Suppression;
use alerts::route::Rule;
use alerts::silence::Silence;
use alerts::spider_error::SpiderErrorThresholds;

use crate::applied::Applied;
use crate::applied::Rejection;
use crate::state::alerts::AlertEngine;
use crate::state::alerts::AlertRecord;
use crate::state::alerts::ByHand;
use crate::state::alerts::LeaderMark;
use crate::state::alerts::RouteOutcome;
use crate::state::alerts::StoredChannel;
use crate::state::alerts::ALERTS_KEPT;
use crate::state::alerts::ENGINE_KEY;
use crate::state::alerts::LEADERS_KEPT;
use crate::state::State;

fn invalid(e: ConfigError) -> Applied {
    Applied::rejected(Rejection::Invalid { field: e.field, message: e.message })
}

pub(super) fn put_channel(state: &mut State, name: &str, channel: &StoredChannel) -> Applied {
    let probe = AlertConfig {
        channels: BTreeMap::from([(name.to_string(), channel.0.clone())]),
        rules: vec![],
        inhibit_rules: None,
    };
    if let Err(e) = probe.validate() {
        return invalid(e);
    }
    state.alert_channels.insert(name.to_string(), channel.clone());
    Applied::Done
}

pub(super) fn delete_channel(state: &mut State, name: &str) -> Applied {
    if !state.alert_channels.contains(&name.to_string()) {
        return Applied::rejected(Rejection::UnknownChannel);
    }
    let users: Vec<&str> =
        state.alert_rules.values().filter(|r| r.channels.iter().any(|c| c == name)).map(|r| r.name.as_str()).collect();
    if !users.is_empty() {
        return Applied::rejected(Rejection::Conflict {
            detail: format!("channel {name:?} is used by rule(s) {}", users.join(", ")),
        });
    }
    state.alert_channels.remove(&name.to_string());
    Applied::Done
}

pub(super) fn put_rule(state: &mut State, rule: &Rule) -> Applied {
    if let Err(e) = rule.validate() {
        return invalid(e);
    }
    if let Some((i, ch)) = rule.channels.iter().enumerate().find(|(_, c)| !state.alert_channels.contains(c)) {
        let known: Vec<&str> = state.alert_channels.iter().map(|(k, _)| k.as_str()).collect();
        return invalid(ConfigError::new(
            format!("channels[{i}]"),
            format!("unknown channel {ch:?} (known: {})", known.join(", ")),
        ));
    }
    state.alert_rules.insert(rule.name.clone(), rule.clone());
    Applied::Done
}

pub(super) fn delete_rule(state: &mut State, name: &str) -> Applied {
    match state.alert_rules.remove(&name.to_string()) {
        Some(_) => Applied::Done,
        None => Applied::rejected(Rejection::UnknownRule),
    }
}

pub(super) fn create_silence(state: &mut State, log_index: u64, now: u64, silence: &Silence) -> Applied {
    let id = format!("sil-{log_index}");
    let silence = Silence { id: id.clone(), ..silence.clone() };
    if let Err(e) = silence.validate(now) {
        return invalid(e);
    }
    state.silences.insert(id.clone(), silence);
    Applied::SilenceCreated { id }
}

pub(super) fn expire_silence(state: &mut State, now: u64, id: &str) -> Applied {
    let Some(s) = state.silences.get_mut(&id.to_string()) else {
        return Applied::rejected(Rejection::UnknownSilence);
    };
    if s.ends_at_ms <= now {
        return Applied::Unchanged;
    }
    s.ends_at_ms = now.max(s.starts_at_ms);
    Applied::Done
}

pub(super) fn put_thresholds(state: &mut State, scope: &str, t: &Option<SpiderErrorThresholds>) -> Applied {
    let valid_scope = scope
        .split_once(':')
        .is_some_and(|(kind, name)| (kind == "project" || kind == "schedule") && !name.is_empty() && name.len() <= 200);
    if !valid_scope {
        return invalid(ConfigError::new("scope", format!("{scope:?} is not project:<name> or schedule:<id>")));
    }
    let Some(t) = t else {
        return match state.spider_thresholds.remove(&scope.to_string()) {
            Some(_) => Applied::Done,
            None => Applied::Unchanged,
        };
    };
    if t.max_error_lines == Some(0) {
        return invalid(ConfigError::new("max_error_lines", "must be at least 1 (or null to disable the check)"));
    }
    if t.max_runtime_ms == Some(0) {
        return invalid(ConfigError::new("max_runtime_ms", "must be positive (or null)"));
    }
    state.spider_thresholds.insert(scope.to_string(), t.clone());
    Applied::Done
}

pub(super) fn ack(state: &mut State, now: u64, id: &str, by: &str, comment: &str) -> Applied {
    let Some(a) = state.alerts.get_mut(&id.to_string()) else {
        return Applied::rejected(Rejection::UnknownAlert);
    };
    a.acked = Some(ByHand { by: by.to_string(), at_ms: now, comment: comment.to_string() });
    Applied::Done
}

pub(super) fn resolve(state: &mut State, now: u64, id: &str, by: &str, comment: &str) -> Applied {
    let key = id.to_string();
    let Some(a) = state.alerts.get_mut(&key) else {
        return Applied::rejected(Rejection::UnknownAlert);
    };
    if a.status == AlertStatus::Resolved {
        return Applied::Unchanged;
    }
    a.status = AlertStatus::Resolved;
    a.updated_ms = now;
    a.resolved_by_hand = Some(ByHand { by: by.to_string(), at_ms: now, comment: comment.to_string() });
    // A stateful alert resolved by hand no longer mutes others.
    if let Some(engine) = state.alert_engine.get_mut(&ENGINE_KEY.to_string()) {
        engine.state.firing.remove(&alerts::event::AlertId(key));
    }
    Applied::Done
}

/// One engine step at `now` (see `Command::AlertStep`).
pub(super) fn step(
    state: &mut State,
    log_index: u64,
    now: u64,
    leader: &Option<LeaderMark>,
    inputs: &[Input],
) -> Applied {
    let cfg = state.alert_config();
    let silences: Vec<Silence> = state.silences.values().cloned().collect();
    let key = ENGINE_KEY.to_string();
    if !state.alert_engine.contains(&key) {
        state.alert_engine.insert(key.clone(), AlertEngine::default());
    }
    let Some(engine) = state.alert_engine.get_mut(&key) else {
        return Applied::Unchanged;
    };
    if let Some(l) = leader {
        engine.leader = Some(l.clone());
        engine.leaders.push(l.clone());
        let excess = engine.leaders.len().saturating_sub(LEADERS_KEPT);
        engine.leaders.drain(..excess);
        engine.state.resume_after_failover(now);
    }
    for input in inputs {
        if let Input::Event { event } = input {
            let new = record_event(&mut state.alerts, log_index, now, &cfg, event);
            engine.alerts_recorded += u64::from(new);
        }
    }
    let decisions = engine.state.step(now, &cfg, &silences, inputs.to_vec());
    for d in &decisions {
        mirror(&mut state.alerts, engine, now, d);
    }
    prune(state);
    Applied::Done
}

/// Puts a firing event in the ledger (new: true), or resolves the firing alerts a resolving event ends.
fn record_event(
    ledger: &mut crate::state::Table<String, AlertRecord>,
    log_index: u64,
    now: u64,
    cfg: &AlertConfig,
    event: &AlertEvent,
) -> bool {
    let pending: BTreeMap<String, RouteOutcome> =
        cfg.rules.iter().filter(|r| r.matches(event)).map(|r| (r.name.clone(), RouteOutcome::Pending)).collect();
    if event.status() == AlertStatus::Resolved {
        let cond = event.condition_key();
        let ended: Vec<String> = ledger
            .iter()
            .filter(|(_, a)| a.status == AlertStatus::Firing && cond.is_some() && a.event.condition_key() == cond)
            .map(|(k, _)| k.clone())
            .collect();
        for k in ended {
            if let Some(a) = ledger.get_mut(&k) {
                a.status = AlertStatus::Resolved;
                a.resolved_by = Some(event.clone());
                a.updated_ms = now;
            }
        }
        return false;
    }
    let id = event.alert_id().0;
    if ledger.contains(&id) {
        return false;
    }
    ledger.insert(
        id.clone(),
        AlertRecord {
            id,
            event: event.clone(),
            status: AlertStatus::Firing,
            resolved_by: None,
            first_seen_ms: now,
            updated_ms: now,
            routes: pending,
            acked: None,
            resolved_by_hand: None,
            seq: log_index,
        },
    );
    true
}

/// Mirrors one decision into the ledger and the counters.
fn mirror(ledger: &mut crate::state::Table<String, AlertRecord>, engine: &mut AlertEngine, now: u64, d: &Decision) {
    let channel_of = |engine: &AlertEngine, id: &alerts::delivery::DeliveryId| {
        engine.state.deliveries.items.get(id).map(|d| d.channel.clone())
    };
    match d {
        Decision::Suppressed { rule, alert_id, why } => {
            if *why == Suppression::Duplicate {
                return;
            }
            if let Some(a) = ledger.get_mut(&alert_id.0) {
                a.routes.insert(rule.clone(), RouteOutcome::Suppressed { why: why.clone() });
                a.updated_ms = now;
            }
        }
        Decision::Notify { notification, channels } => {
            for ch in channels {
                engine.channels.entry(ch.clone()).or_default().decided += 1;
            }
            for n in &notification.alerts {
                let Some(a) = ledger.get_mut(&n.alert_id.0) else { continue };
                a.updated_ms = now;
                let route = a.routes.entry(notification.rule.clone()).or_insert(RouteOutcome::Pending);
                match route {
                    RouteOutcome::Notified { notifications, .. } => notifications.push(notification.id.clone()),
                    other => {
                        *other = RouteOutcome::Notified {
                            notifications: vec![notification.id.clone()],
                            channels: channels.clone(),
                        }
                    }
                }
            }
        }
        Decision::Send { channel, .. } => engine.channels.entry(channel.clone()).or_default().attempts += 1,
        Decision::Delivered { delivery_id } => {
            if let Some(ch) = channel_of(engine, delivery_id) {
                engine.channels.entry(ch).or_default().delivered += 1;
            }
        }
        Decision::RetryScheduled { delivery_id, .. } => {
            if let Some(ch) = channel_of(engine, delivery_id) {
                engine.channels.entry(ch).or_default().failed += 1;
            }
        }
        Decision::GaveUp { delivery_id, .. } => {
            if let Some(ch) = channel_of(engine, delivery_id) {
                let c = engine.channels.entry(ch).or_default();
                c.failed += 1;
                c.gave_up += 1;
            }
        }
    }
}

/// Keeps the ledger to [`ALERTS_KEPT`] records, dropping the oldest first.
fn prune(state: &mut State) {
    let excess = state.alerts.len().saturating_sub(ALERTS_KEPT);
    if excess == 0 {
        return;
    }
    let mut by_age: Vec<(u64, String)> = state.alerts.iter().map(|(k, a)| (a.seq, k.clone())).collect();
    by_age.sort();
    for (_, k) in by_age.into_iter().take(excess) {
        state.alerts.remove(&k);
    }
}
