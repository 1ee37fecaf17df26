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
//!   voter's `GET /raft/clock` (cluster secret; not the load balancer's `/healthz`) for its
//!   scheduler clock, corrected by half the round trip.
//!   The clock is trusted unless more answering peers disagree (off by more than
//!   [`MAX_SKEW_MS`]) than agree; with no peer answering, the last verdict stands.
//!
//! While the clock is not trusted the leader plans nothing (deliveries of decided fires go on),
//! logs why once, and `/healthz` shows each master's clock for the operator. If a
//! majority of the voters agree on a time this leader does not share, it hands leadership to
//! one of them after [`HANDOVER_AFTER`] checks, so ticks go on being fired; otherwise ticks due
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
use crate::raft_net::client::peer_clock;

/// A step of the wall clock larger than this (against the monotonic clock) is a jump.
pub const MAX_JUMP_MS: i64 = 500;
/// Two masters whose clocks differ by more than this disagree.
pub const MAX_SKEW_MS: i64 = 2_000;
/// How often the peers are asked.
pub const RECHECK: Duration = Duration::from_secs(2);
/// Checks in a row outvoted on time before a leader hands over (about this many × [`RECHECK`]).
pub const HANDOVER_AFTER: u32 = 2;
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

    /// The checking task of one term: asks the peers every [`RECHECK`] or when woken. After
    /// [`HANDOVER_AFTER`] checks in a row where a majority of voters agree on a time this
    /// leader disagrees with, it hands leadership to one of them: they can fire meanwhile.
    pub async fn run(self: Arc<Self>, node: Arc<MasterNode>, clock: Arc<dyn Clock>, token: CancellationToken) {
        let mut outvoted = 0;
        loop {
            let started = Instant::now();
            if let Some(check) = check_peers(&node, clock.as_ref()).await {
                if let Ok(mut v) = self.verdict.lock() {
                    *v = Some(Verdict { trusted: check.trusted, started });
                }
                outvoted = if check.handover_to.is_some() { outvoted + 1 } else { 0 };
                if let (Some(to), true) = (check.handover_to, outvoted >= HANDOVER_AFTER) {
                    tracing::error!(
                        to,
                        "this leader's clock disagrees with a majority of the masters: handing leadership over"
                    );
                    if let Err(e) = node.raft.trigger().transfer_leader(to).await {
                        tracing::warn!(cause = %e, "could not hand leadership over");
                    }
                    outvoted = 0;
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

/// What one check of the peers' clocks found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PeerCheck {
    /// This master's clock may be used (no more answering peers disagree than agree).
    trusted: bool,
    /// A peer whose clock a majority of the voters share and this master's does not.
    handover_to: Option<u64>,
}

/// The check from the peers' offsets (id, theirs minus ours, ms) among `voters` voters.
fn judge(offsets: &[(u64, i64)], voters: usize) -> PeerCheck {
    let disagree = offsets.iter().filter(|(_, o)| o.abs() > MAX_SKEW_MS).count();
    let agree = offsets.len() - disagree;
    let majority = voters / 2 + 1;
    // A peer that disagrees with us, and with which a majority of the voters agree.
    let handover_to = offsets
        .iter()
        .filter(|(_, o)| o.abs() > MAX_SKEW_MS)
        .filter(|(_, o)| offsets.iter().filter(|(_, p)| (p - o).abs() <= MAX_SKEW_MS).count() >= majority)
        .map(|(id, _)| *id)
        .min();
    PeerCheck { trusted: disagree <= agree, handover_to }
}

/// The peers' verdict, `None` if no peer answered.
async fn check_peers(node: &MasterNode, clock: &dyn Clock) -> Option<PeerCheck> {
    let metrics = node.raft.metrics().borrow_watched().clone();
    let membership = metrics.membership_config.membership();
    let voters = membership.voter_ids().count();
    let peers: Vec<(u64, String)> = membership
        .voter_ids()
        .filter(|id| *id != node.id)
        .filter_map(|id| membership.get_node(&id).map(|n| (id, n.addr.trim_end_matches('/').to_string())))
        .collect();
    if peers.is_empty() {
        return Some(PeerCheck { trusted: true, handover_to: None });
    }
    let secret = &node.config.cluster_secret;
    let asks = peers.iter().map(|(id, addr)| async move {
        let sent = clock.now_ms();
        let theirs = peer_clock(&node.http, addr, secret, PEER_TIMEOUT).await.ok()?;
        let received = clock.now_ms();
        Some((*id, theirs.clock_ms - (sent + received) / 2))
    });
    let offsets: Vec<(u64, i64)> = futures::future::join_all(asks).await.into_iter().flatten().collect();
    if offsets.is_empty() {
        return None;
    }
    if offsets.iter().any(|(_, o)| o.abs() > MAX_SKEW_MS) {
        tracing::warn!(?offsets, "peers' clocks differ from this master's (ms, theirs minus ours)");
    }
    Some(judge(&offsets, voters))
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

    #[test]
    fn a_leader_outvoted_on_time_hands_over_to_the_majority() {
        let far = MAX_SKEW_MS * 10;
        // Both peers agree with each other and not with us: not trusted, hand over (lowest id).
        assert_eq!(judge(&[(2, far), (3, far + 300)], 3), PeerCheck { trusted: false, handover_to: Some(2) });
        // One skewed follower: we stay trusted and keep leading.
        assert_eq!(judge(&[(2, far), (3, 10)], 3), PeerCheck { trusted: true, handover_to: None });
        // Both peers off, but in opposite directions: nobody has a majority to hand over to.
        assert_eq!(judge(&[(2, far), (3, -far)], 3), PeerCheck { trusted: false, handover_to: None });
        // Only one peer answered: it alone is no majority of three.
        assert_eq!(judge(&[(2, far)], 3), PeerCheck { trusted: false, handover_to: None });
        // Five voters: three peers agreeing among themselves are a majority.
        assert_eq!(
            judge(&[(2, far), (3, far), (4, far), (5, 0)], 5),
            PeerCheck { trusted: false, handover_to: Some(2) }
        );
    }
}
