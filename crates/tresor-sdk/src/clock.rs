//! The time as a server sees it, and the formats Vault prints times in.
//!
//! A core has one [`Clock`] and hands it to every backend it mounts, so that everything that
//! expires (tokens, leases, secret IDs, KV versions, key rotations, lockouts) reads the same
//! time. A test makes an adjustable clock and moves it forward instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The system's time, or (in tests) the system's time moved forward by a settable offset.
#[derive(Clone, Default, Debug)]
pub struct Clock {
    offset_ms: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system's time.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that reads the system's time until its [`ClockHand`] moves it forward. Only
    /// the hand can move it, so no other holder of the clock (no backend) can.
    pub fn adjustable() -> (Clock, ClockHand) {
        let offset = Arc::new(AtomicI64::new(0));
        (
            Clock {
                offset_ms: Some(Arc::clone(&offset)),
            },
            ClockHand(offset),
        )
    }

    /// Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        // Read as a duration since the epoch: cheaper than a calendar date, and read for
        // every request. A system clock before 1970 reads as 1970.
        let system = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        match &self.offset_ms {
            None => system,
            Some(o) => system.saturating_add(o.load(Ordering::Relaxed)),
        }
    }

    /// Unix seconds.
    pub fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    pub fn now(&self) -> OffsetDateTime {
        from_ms(self.now_ms()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// What moves an adjustable clock (and every copy of it) forward.
#[derive(Debug)]
pub struct ClockHand(Arc<AtomicI64>);

impl ClockHand {
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_add(ms))
            })
            .ok();
    }
}

/// The time at Unix milliseconds `ms`, if it can be represented.
pub fn from_ms(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok()
}

/// RFC 3339 as Vault prints times (nanoseconds when there are any).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// RFC 3339 of Unix milliseconds; `None` if out of range.
pub fn rfc3339_ms(ms: i64) -> Option<String> {
    from_ms(ms).map(rfc3339)
}

/// RFC 3339 of Unix seconds; `None` if out of range.
pub fn rfc3339_secs(secs: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(secs).ok().map(rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adjustable_clock_moves_forward_with_its_copies() {
        let (c, hand) = Clock::adjustable();
        let copy = c.clone();
        let before = copy.now_ms();
        hand.advance(std::time::Duration::from_secs(3600));
        let after = copy.now_ms();
        assert!(after - before >= 3_600_000, "{before} {after}");
        assert!(after - before < 3_660_000);
        assert_eq!(rfc3339_ms(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_ms(1500).unwrap(), "1970-01-01T00:00:01.5Z");
        assert_eq!(rfc3339_secs(86400).unwrap(), "1970-01-02T00:00:00Z");
    }
}
