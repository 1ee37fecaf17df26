//! The alerter, a leader service: turns what the replicated state says (failovers, finished
//! jobs, nodes, deployments, dispatches, passed-over ticks) into alert events, steps the alert
//! engine through Raft, and delivers what the engine put in flight.
//!
//! Exactly-once, as far as SMTP and webhooks allow:
//!
//! 1. **Decided once.** Events are inputs of `Command::AlertStep`; `apply` runs the pure
//!    engine (`alerts::group::AlertState::step`) at the entry's time, so every replica makes
//!    the same decision, and an alert id already seen is dropped — a new leader re-deriving
//!    the same events decides nothing new.
//! 2. **Sent after commit.** A delivery the step starts is `in_flight` in the applied state;
//!    only then does this service send it (while `TermCtx::may_send` holds).
//! 3. **Outcome committed after.** Each attempt's outcome is the input of a later step.
//! 4. **Failover.** A new leader's first step carries its [`LeaderMark`]: attempts left in
//!    flight are queued again *uncertain* and resent with the same `Message-ID` /
//!    `webhook-id` (derived from the notification id), so a receiver can drop the copy. The
//!    window: a leader that dies after the server took a message and before the outcome
//!    committed causes one resend — at most two copies, same ids, shown uncertain until settled.

pub mod events;
pub mod failover;
pub mod jobs;
pub mod metrics;
pub mod send;

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use alerts::delivery::DeliveryId;
use alerts::delivery::DeliveryState;
use alerts::event::AlertEvent;
use alerts::group::Input;
use alerts::group::Notification;
use raft_store::state::alerts::LeaderMark;
use raft_store::Command;
use tokio::sync::mpsc;
use tokio::sync::Semaphore;

use crate::clock::WallClock;
use crate::leader::term::TermCtx;
use crate::leader::LeaderContext;

/// Sends in flight at once.
const SENDS_IN_FLIGHT: usize = 8;
/// Finished jobs judged at once (each fetches a log from a slave).
const JUDGES_IN_FLIGHT: usize = 8;
/// Deadline of one log fetch.
const LOG_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Test hook (`MasterNode::alerter_stall`): stop, as if the process died, right after the
/// delivery's attempt was committed (before sending), or right after sending (before its
/// outcome is committed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Stall {
    Never = 0,
    AfterCommit = 1,
    AfterSend = 2,
}

impl Stall {
    fn of(node: &crate::node::MasterNode) -> Stall {
        match node.alerter_stall.load(Ordering::Relaxed) {
            1 => Stall::AfterCommit,
            2 => Stall::AfterSend,
            _ => Stall::Never,
        }
    }
}

/// One delivery to attempt.
struct ToSend {
    id: DeliveryId,
    attempt: u32,
    channel: alerts::config::ChannelConfig,
    notification: Notification,
}

pub async fn run(ctx: LeaderContext) {
    let (term, _committer) = TermCtx::start(&ctx);
    let node = ctx.node.clone();
    let cfg = node.config.alerts.clone();
    let on_time_ms = node.config.scheduler.on_time_ms;
    let elected_ms = WallClock::now_ms();
    let contact = node.last_leader_contact();
    let (previous, history) =
        node.state.read(|s| s.alert_engine().map(|e| (e.leader.clone(), e.leaders.clone())).unwrap_or_default());
    let mark = LeaderMark { term: ctx.term, node_id: node.id, since_ms: elected_ms };
    if term.commit(Command::AlertStep { leader: Some(mark), inputs: vec![] }).await.is_err() {
        return;
    }
    tracing::info!(term = ctx.term, previous = ?previous, "alerter running");
    let mut failover_due = previous.as_ref().filter(|p| p.term < ctx.term).map(|_| elected_ms + cfg.failover_settle_ms);
    let mut judged: BTreeMap<String, u64> = BTreeMap::new();
    let mut jobs_since = elected_ms.saturating_sub(cfg.lookback_ms);
    let mut jobs_generation: Option<u64> = None;
    let mut fires_generation: Option<u64> = None;
    let mut started: BTreeSet<(DeliveryId, u32)> = BTreeSet::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<Input>();
    let sends = Arc::new(Semaphore::new(SENDS_IN_FLIGHT));
    let mut last_empty_step = 0u64;
    // Failovers whose leader died before deciding their alert: decided now.
    let mut outcomes: Vec<Input> = node
        .state
        .read(|s| failover::missed(s, &history, ctx.term).into_iter().map(|event| Input::Event { event }).collect());
    loop {
        let now = WallClock::now_ms();
        let mut inputs: Vec<Input> = std::mem::take(&mut outcomes);
        while let Ok(i) = rx.try_recv() {
            inputs.push(i);
        }
        if failover_due.is_some_and(|due| now >= due) {
            failover_due = None;
            let ev = node
                .state
                .read(|s| failover::event(s, previous.as_ref(), contact, node.id, ctx.term, elected_ms, on_time_ms));
            inputs.extend(ev.map(|event| Input::Event { event }));
        }
        // This master's polled metrics of every node, for the thresholds.
        let series: Vec<(String, Vec<crate::slaves::metrics::Sample>)> = if cfg.metrics.is_empty() {
            vec![]
        } else {
            let ids = node.state.read(|s| s.nodes.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>());
            ids.into_iter()
                .map(|id| (id.clone(), node.slave_metrics.series(&id).samples.into_iter().collect()))
                .collect()
        };
        // Events off the state (cheap: nodes and projects are small; jobs and fires only when
        // their tables changed, fires through the ledger's journal).
        let (found, candidates, firing) = node.state.read(|s| {
            let firing = events::firing_conditions(s);
            let mut found = events::node_events(s, &firing, node.config.slaves.down_after_failures);
            found.extend(events::deploy_events(s));
            for (id, samples) in &series {
                for t in &cfg.metrics {
                    found.extend(metrics::events(s, id, samples, t));
                }
            }
            let fires_now = s.fires.generation();
            if fires_generation != Some(fires_now) {
                let changed: Option<Vec<_>> = fires_generation
                    .and_then(|g| s.fires.changed_since(g))
                    .map(|keys| keys.filter_map(|k| s.fires.get(k)).collect());
                found.extend(match changed {
                    Some(rows) => events::fire_events(s, rows.into_iter()),
                    None => events::fire_events(
                        s,
                        s.fires.values().filter(|r| u64::try_from(r.tick_ms).is_ok_and(|t| t >= jobs_since)),
                    ),
                });
                fires_generation = Some(fires_now);
            }
            let jobs_now = s.jobs.generation();
            let mut candidates = Vec::new();
            if jobs_generation != Some(jobs_now) {
                let done: BTreeSet<String> = judged.keys().cloned().collect();
                candidates = jobs::candidates(s, jobs_since, &done);
                jobs_generation = Some(jobs_now);
            }
            (found, candidates, firing)
        });
        inputs.extend(found.into_iter().map(|event| Input::Event { event }));
        if !candidates.is_empty() {
            let judges = Arc::new(Semaphore::new(JUDGES_IN_FLIGHT));
            let verdicts = futures::future::join_all(candidates.iter().map(|c| {
                let judges = judges.clone();
                let http = node.http.clone();
                async move {
                    let _permit = judges.acquire().await;
                    jobs::judge(&http, c, cfg.log_lines, LOG_FETCH_TIMEOUT).await
                }
            }));
            let verdicts = tokio::select! {
                _ = ctx.token.cancelled() => return,
                v = verdicts => v,
            };
            for (c, ev) in candidates.iter().zip(verdicts) {
                judged.insert(c.job.job_id.clone(), now);
                let feed = match &ev {
                    AlertEvent::SpiderRecovered(_) => ev.condition_key().is_some_and(|k| firing.contains(&k)),
                    _ => true,
                };
                if feed {
                    inputs.push(Input::Event { event: ev });
                }
            }
        }
        // Forget judgements older than the look-back window (their jobs are past it too).
        jobs_since = jobs_since.max(now.saturating_sub(cfg.lookback_ms));
        judged.retain(|_, at| *at >= jobs_since);

        let engine_due =
            node.state.read(|s| s.alert_engine().and_then(|e| e.state.next_wakeup_ms())).is_some_and(|t| t <= now);
        let timer_step = inputs.is_empty() && engine_due && now.saturating_sub(last_empty_step) >= 100;
        if !inputs.is_empty() || timer_step {
            if timer_step {
                last_empty_step = now;
            }
            if term.commit(Command::AlertStep { leader: None, inputs }).await.is_err() {
                return;
            }
        }

        // Deliver what the applied state has in flight and this term has not started.
        let to_send = node.state.read(|s| in_flight(s, &started));
        for d in to_send {
            if !term.may_send() {
                break;
            }
            started.insert((d.id.clone(), d.attempt));
            if Stall::of(&node) == Stall::AfterCommit {
                tracing::warn!(delivery = %d.id, "test hook: alerter stalls before sending");
                ctx.token.cancelled().await;
                return;
            }
            let (tx, sends, term, public_url) = (tx.clone(), sends.clone(), term.clone(), cfg.public_url.clone());
            let http = node.http.clone();
            tokio::spawn(async move {
                let Ok(_permit) = sends.acquire().await else { return };
                if !term.may_send() {
                    return;
                }
                let a = send::attempt(&http, &d.channel, &d.notification, &public_url, WallClock::now_ms()).await;
                tracing::info!(delivery = %d.id, attempt = d.attempt, ok = a.ok, detail = %a.detail, "alert delivery");
                if Stall::of(&term.node) == Stall::AfterSend {
                    tracing::warn!(delivery = %d.id, "test hook: alerter stalls before committing the outcome");
                    return;
                }
                let _ = tx.send(Input::DeliveryOutcome { delivery_id: d.id, outcome: a.outcome() });
            });
        }
        // Sleep until the scan interval, the engine's next timer, the failover alert's time or
        // an outcome, whichever comes first.
        let next = node.state.read(|s| s.alert_engine().and_then(|e| e.state.next_wakeup_ms()));
        let mut wake = now + cfg.scan_interval_ms;
        if let Some(t) = next {
            wake = wake.min(t.max(now + 20));
        }
        if let Some(t) = failover_due {
            wake = wake.min(t);
        }
        let sleep = Duration::from_millis(wake.saturating_sub(WallClock::now_ms()));
        tokio::select! {
            _ = ctx.token.cancelled() => return,
            _ = tokio::time::sleep(sleep) => {}
            Some(i) = rx.recv() => outcomes.push(i),
        }
    }
}

/// Deliveries the applied state has in flight that this term has not started yet.
fn in_flight(s: &raft_store::state::State, started: &BTreeSet<(DeliveryId, u32)>) -> Vec<ToSend> {
    let Some(engine) = s.alert_engine() else { return vec![] };
    engine
        .state
        .deliveries
        .items
        .values()
        .filter(|d| matches!(d.state, DeliveryState::InFlight { .. }))
        .filter(|d| !started.contains(&(d.id.clone(), d.attempts)))
        .filter_map(|d| {
            let channel = s.alert_channels.get(&d.channel)?.0.clone();
            Some(ToSend { id: d.id.clone(), attempt: d.attempts, channel, notification: d.notification.clone() })
        })
        .collect()
}
