//! Time as the domain sees it: whole Unix seconds from a `Clock` that is passed
//! in, so that expiry rules can be tested by moving a clock instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};

pub use crate::model::Timestamp;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as Timestamp)
            .unwrap_or(0)
    }
}

/// A clock that runs with the real one, shifted by an offset a test can move
/// forward (e.g. past a session's idle timeout).
#[derive(Debug, Default)]
pub struct ShiftedClock {
    offset: AtomicI64,
}

impl ShiftedClock {
    pub fn advance(&self, seconds: i64) {
        self.offset.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> Timestamp {
        SystemClock.now() + self.offset.load(Ordering::SeqCst)
    }
}

/// ISO 8601 UTC with second precision, e.g. `2026-12-01T10:00:00Z`.
pub fn iso8601(at: Timestamp) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "N/A".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_seconds_as_iso8601() {
        assert_eq!(iso8601(1_795_946_400), "2026-11-29T10:00:00Z");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn shifted_clock_moves_forward() {
        let clock = ShiftedClock::default();
        let before = clock.now();
        clock.advance(3600);
        assert!(clock.now() >= before + 3600);
    }
}
