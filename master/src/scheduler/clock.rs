//! The scheduler's only source of wall-clock time.
//!
//! Cron ticks are nominal wall-clock times, so the scheduler needs "now" as Unix ms; it reads it
//! through [`Clock`] and nothing else. In production that is the node's
//! [`OffsetClock`](crate::clock::OffsetClock): the master's wall clock plus a debug offset (a
//! fault-injection aid, settable only when `[scheduler] debug_clock = true` by the front door's
//! debug endpoint; otherwise it stays 0 and setting it is refused). Tests use [`ManualClock`].

use std::sync::atomic::AtomicI64;
use std::sync::atomic::Ordering;

use crate::clock::OffsetClock;

/// Wall-clock time for the scheduler.
pub trait Clock: Send + Sync {
    /// Unix milliseconds.
    fn now_ms(&self) -> i64;

    /// How long until Unix ms `at_ms` (zero if it has come). Finer than `now_ms` where the clock
    /// can be: a wake-up computed from truncated milliseconds starts a tick's round up to a
    /// millisecond late.
    fn until(&self, at_ms: i64) -> std::time::Duration {
        std::time::Duration::from_millis(u64::try_from(at_ms.saturating_sub(self.now_ms())).unwrap_or(0))
    }
}

impl Clock for OffsetClock {
    fn now_ms(&self) -> i64 {
        self.now_us() / 1000
    }

    fn until(&self, at_ms: i64) -> std::time::Duration {
        let now_us = self.now_us();
        std::time::Duration::from_micros(u64::try_from(at_ms.saturating_mul(1000).saturating_sub(now_us)).unwrap_or(0))
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug, Default)]
pub struct ManualClock(pub AtomicI64);

impl ManualClock {
    pub fn new(now_ms: i64) -> Self {
        Self(AtomicI64::new(now_ms))
    }

    pub fn set(&self, now_ms: i64) {
        self.0.store(now_ms, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_shifts_the_schedulers_now() {
        let c = OffsetClock::new(true);
        let before = c.now_ms();
        c.set_offset_ms(3_600_000).expect("adjustable");
        let after = c.now_ms();
        assert!(after - before >= 3_600_000 && after - before < 3_660_000, "{before} {after}");
        c.set_offset_ms(0).expect("adjustable");
        assert!(c.now_ms() - before < 60_000);
    }

    #[test]
    fn until_counts_down_to_an_instant_and_stops_at_zero() {
        let c = OffsetClock::new(true);
        let now = c.now_ms();
        let d = c.until(now + 5_000);
        assert!(d > std::time::Duration::from_millis(3_000) && d <= std::time::Duration::from_millis(5_000), "{d:?}");
        assert_eq!(c.until(now - 1), std::time::Duration::ZERO);
        // The offset moves "now", so it moves what is still ahead.
        c.set_offset_ms(10_000).expect("adjustable");
        assert_eq!(c.until(now + 5_000), std::time::Duration::ZERO);
        let m = ManualClock::new(1_000);
        assert_eq!(m.until(1_250), std::time::Duration::from_millis(250));
        assert_eq!(m.until(900), std::time::Duration::ZERO);
    }

    #[test]
    fn a_manual_clock_moves_only_when_set() {
        let c = ManualClock::new(5);
        assert_eq!(c.now_ms(), 5);
        c.set(9);
        assert_eq!(c.now_ms(), 9);
    }
}
