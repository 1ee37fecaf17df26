//! The master's wall clock: [`WallClock`], the one place that reads the system time.
//!
//! What it stamps: the leader's `LogEntry.proposed_at_ms` (the only time `apply` sees), the
//! API's "now" (a run-now tick, next fire times), the deployer's and the collector's record
//! times, the metrics poller's sample times.
//!
//! The scheduler does not read it directly: it reads "now" through its own
//! `scheduler::clock::Clock`, implemented in production by [`OffsetClock`] — this clock plus a
//! debug offset, so the fault suite can skew one master's scheduling without touching the
//! system clock. The offset is settable only with `[scheduler] debug_clock = true` (through the
//! API's debug endpoint); peers read this master's [`OffsetClock`] through `GET /raft/clock`.

use std::sync::atomic::AtomicI64;
use std::sync::atomic::Ordering;

/// The system's wall clock, read as Unix time. Zero-sized: name it where it is used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WallClock;

impl WallClock {
    /// Unix microseconds (0 before 1970, which no real clock reports).
    pub fn now_us() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }

    /// Unix milliseconds.
    pub fn now_ms() -> u64 {
        u64::try_from(Self::now_us() / 1000).unwrap_or(0)
    }

    /// Unix milliseconds as the signed type tick arithmetic uses.
    pub fn now_ms_i64() -> i64 {
        Self::now_us() / 1000
    }
}

/// The wall clock shifted by a debug offset (0 unless `[scheduler] debug_clock` allows
/// setting one): this master's scheduler "now".
#[derive(Debug, Default)]
pub struct OffsetClock {
    adjustable: bool,
    offset_ms: AtomicI64,
}

/// Refusal to shift a clock that was not configured as adjustable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the debug clock is disabled ([scheduler] debug_clock = false)")]
pub struct ClockLocked;

impl OffsetClock {
    /// The wall clock; `adjustable` allows [`OffsetClock::set_offset_ms`] (debug only).
    pub fn new(adjustable: bool) -> Self {
        Self { adjustable, offset_ms: AtomicI64::new(0) }
    }

    pub fn adjustable(&self) -> bool {
        self.adjustable
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Shifts the clock by `offset_ms` from the wall clock (replaces any earlier offset).
    pub fn set_offset_ms(&self, offset_ms: i64) -> Result<(), ClockLocked> {
        if !self.adjustable {
            return Err(ClockLocked);
        }
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
        Ok(())
    }

    /// Unix microseconds of the shifted clock (one reading of the wall clock).
    pub fn now_us(&self) -> i64 {
        WallClock::now_us().saturating_add(self.offset_ms().saturating_mul(1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_readings_agree() {
        let us = WallClock::now_us();
        let ms = WallClock::now_ms();
        let ms_i = WallClock::now_ms_i64();
        assert!(us > 1_600_000_000_000_000, "{us}");
        assert!(ms as i64 >= us / 1000 && ms as i64 - us / 1000 < 1_000, "{ms} {us}");
        assert!(ms_i >= ms as i64 && ms_i - (ms as i64) < 1_000);
    }

    #[test]
    fn the_offset_shifts_only_an_adjustable_clock() {
        let locked = OffsetClock::new(false);
        assert_eq!(locked.set_offset_ms(60_000), Err(ClockLocked));
        assert_eq!(locked.offset_ms(), 0);

        let c = OffsetClock::new(true);
        let before = c.now_us();
        c.set_offset_ms(3_600_000).expect("adjustable");
        let after = c.now_us();
        assert!(after - before >= 3_600_000_000 && after - before < 3_660_000_000, "{before} {after}");
        c.set_offset_ms(0).expect("adjustable");
        assert!(c.now_us() - before < 60_000_000);
    }
}
