//! The leader's clock check: a leader whose clock disagrees with the cluster must not fire.
//!
//! The scheduler decides which ticks are due by its own clock. A leader whose clock runs
//! minutes ahead would fire the next minutes' ticks at once (and pass over the ticks in
//! between); one behind would fire everything late. Found by the fault-injection suite's clock
//! bumps. So before every planning round:
//!
//! - **jumps**: the wall clock is compared with the monotonic clock since the last round; a
//!   difference over [`MAX_JUMP_MS`] (an NTP step, a debug offset) makes the clock suspect
//!   until a peer check *started after the jump* vouches for it;
//! - **peers**: every [`RECHECK`] (and at once after a jump) a background task asks every other
//!   voter's `/healthz` for its scheduler clock (`clock_ms`), corrected by half the round trip.
//!   The clock is trusted unless more answering peers disagree (off by more than
//!   [`MAX_SKEW_MS`]) than agree; with no peer answering, the last verdict stands.
//!
//! While the clock is not trusted the leader plans nothing (deliveries of decided fires go on),
//! logs why once, and `/healthz` of the peers shows their clocks for the operator. Ticks due
//! meanwhile are judged by the misfire policy once the clock is trusted again.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use openraft::type_config::async_runtime::WatchReceiver;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::clock::Clock;
use crate::node::MasterNode;

/// A step of the wall clock larger than this (against the monotonic clock) is a jump.
pub const MAX_JUMP_MS: i64 = 500;
/// Two masters whose clocks differ by more than this disagree.
pub const MAX_SKEW_MS: i64 = 2_000;
/// How often the peers are asked.
pub const RECHECK: Duration = Duration::from_secs(2);
/// Deadline of one peer's answer.
const PEER_TIMEOUT: Duration = Duration::from_millis(500);

/// The latest verdict of the peers' check.
#[derive(Debug, Clone, Copy)]
struct Verdict {
    trusted: bool,
    /// When the check that produced it started.
    started: Instant,
}

/// (monotonic, wall) at the last round; when the jump that made the clock suspect happened.
type Readings = (Option<(Instant, i64)>, Option<Instant>);

/// Shared between the scheduler loop and the checking task of one term.
pub struct ClockGuard {
    verdict: Mutex<Option<Verdict>>,
    wake: Notify,
    last: Mutex<Readings>,
    warned: Mutex<bool>,
}

impl ClockGuard {
    pub fn new() -> Arc<Self> {
        Arc::new(ClockGuard {
            verdict: Mutex::new(None),
            wake: Notify::new(),
            last: Mutex::new((None, None)),
            warned: Mutex::new(false),
        })
    }

    /// Whether the scheduler may plan now (cheap: no I/O).
    pub fn may_plan(&self, clock: &dyn Clock) -> bool {
        let (mono, wall) = (Instant::now(), clock.now_ms());
        let suspect_since = {
            let Ok(mut last) = self.last.lock() else { return false };
            if let Some((m0, w0)) = last.0 {
                let drift = (wall - w0) - mono.duration_since(m0).as_millis() as i64;
                if drift.abs() > MAX_JUMP_MS {
                    tracing::warn!(jump_ms = drift, "the scheduler clock jumped: planning waits for the peers' clocks");
                    last.1 = Some(mono);
                    self.wake.notify_one();
                }
            }
            last.0 = Some((mono, wall));
            last.1
        };
        let verdict = self.verdict.lock().ok().and_then(|v| *v);
        let trusted = match verdict {
            // No check finished yet (a new term): trust the clock unless it jumped.
            None => suspect_since.is_none(),
            Some(v) => v.trusted && suspect_since.is_none_or(|j| v.started > j),
        };
        if let Ok(mut warned) = self.warned.lock() {
            if !trusted && !*warned {
                tracing::error!(
                    "this leader's clock disagrees with the other masters (or jumped): not firing until it agrees"
                );
            }
            *warned = !trusted;
        }
        trusted
    }

    /// The checking task of one term: asks the peers every [`RECHECK`] or when woken.
    pub async fn run(self: Arc<Self>, node: Arc<MasterNode>, clock: Arc<dyn Clock>, token: CancellationToken) {
        loop {
            let started = Instant::now();
            if let Some(trusted) = check_peers(&node, clock.as_ref()).await {
                if let Ok(mut v) = self.verdict.lock() {
                    *v = Some(Verdict { trusted, started });
                }
            }
            tokio::select! {
                _ = token.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(RECHECK) => {}
            }
        }
    }
}

/// `Some(trusted)` from the peers that answered, `None` if none did.
async fn check_peers(node: &MasterNode, clock: &dyn Clock) -> Option<bool> {
    let metrics = node.raft.metrics().borrow_watched().clone();
    let membership = metrics.membership_config.membership();
    let peers: Vec<String> = membership
        .voter_ids()
        .filter(|id| *id != node.id)
        .filter_map(|id| membership.get_node(&id).map(|n| n.addr.trim_end_matches('/').to_string()))
        .collect();
    if peers.is_empty() {
        return Some(true);
    }
    let asks = peers.iter().map(|addr| async move {
        let sent = clock.now_ms();
        let answer = node.http.get(format!("{addr}/healthz")).timeout(PEER_TIMEOUT).send().await.ok()?;
        let v: serde_json::Value = answer.json().await.ok()?;
        let received = clock.now_ms();
        let theirs = v["clock_ms"].as_i64()?;
        Some(theirs - (sent + received) / 2)
    });
    let offsets: Vec<i64> = futures::future::join_all(asks).await.into_iter().flatten().collect();
    if offsets.is_empty() {
        return None;
    }
    let disagree = offsets.iter().filter(|o| o.abs() > MAX_SKEW_MS).count();
    let agree = offsets.len() - disagree;
    if disagree > 0 {
        tracing::warn!(?offsets, "peers' clocks differ from this master's (ms, theirs minus ours)");
    }
    Some(disagree <= agree)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::clock::ManualClock;

    #[test]
    fn a_jump_stops_planning_until_a_later_check_vouches() {
        let guard = ClockGuard::new();
        let clock = ManualClock::new(1_000_000);
        assert!(guard.may_plan(&clock), "a new term trusts its clock");
        clock.set(1_000_000 + 60_000);
        assert!(!guard.may_plan(&clock), "a minute's jump makes it suspect");
        assert!(!guard.may_plan(&clock), "and it stays suspect");
        // A check that started before the jump does not count; one after it does.
        *guard.verdict.lock().expect("lock") = Some(Verdict { trusted: true, started: Instant::now() });
        assert!(guard.may_plan(&clock));
        *guard.verdict.lock().expect("lock") = Some(Verdict { trusted: false, started: Instant::now() });
        assert!(!guard.may_plan(&clock), "peers disagree");
    }
}
