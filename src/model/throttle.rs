//! The throttle's vocabulary, shared by the domain and every store: a rule,
//! the counter a store keeps per key, and what charging an attempt found. Pure
//! functions of the stored counter and `now`, so each store applies them alike.

use super::Timestamp;

/// One limit: `max_failures` within `window_secs`, then a wait that starts at
/// `lockout_secs` and doubles with each further failure up to `max_lockout_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub max_failures: u32,
    pub window_secs: i64,
    pub lockout_secs: i64,
    pub max_lockout_secs: i64,
}

/// What the store keeps per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub failures: u32,
    pub window_start: Timestamp,
    /// No attempt before this time (0: not locked).
    pub locked_until: Timestamp,
}

impl Rule {
    /// When the counter may be forgotten: a window after it started, or,
    /// once the limit was reached, a window after the lockout ends (so
    /// continuing right after a lockout keeps doubling the wait).
    pub fn forget_at(&self, counter: &Counter) -> Timestamp {
        if counter.failures >= self.max_failures {
            counter.locked_until + self.window_secs
        } else {
            counter.window_start + self.window_secs
        }
    }

    fn live(&self, counter: Option<Counter>, now: Timestamp) -> Option<Counter> {
        counter.filter(|c| now < self.forget_at(c))
    }

    /// Seconds to wait before another attempt, if locked at `now`.
    pub fn wait(&self, counter: Option<Counter>, now: Timestamp) -> Option<i64> {
        self.live(counter, now)
            .filter(|c| c.locked_until > now)
            .map(|c| c.locked_until - now)
    }

    /// The wait after the `failures`-th failure: none below the limit, then
    /// `lockout_secs`, doubling per further failure, capped.
    pub fn lockout_after(&self, failures: u32) -> i64 {
        if failures < self.max_failures {
            return 0;
        }
        let doublings = (failures - self.max_failures).min(32);
        self.lockout_secs
            .saturating_mul(1i64 << doublings)
            .min(self.max_lockout_secs)
    }

    /// The counter after one more failure at `now`.
    pub fn charge(&self, counter: Option<Counter>, now: Timestamp) -> Counter {
        let mut counter = self.live(counter, now).unwrap_or(Counter {
            failures: 0,
            window_start: now,
            locked_until: 0,
        });
        counter.failures = counter.failures.saturating_add(1);
        let lockout = self.lockout_after(counter.failures);
        if lockout > 0 {
            counter.locked_until = now + lockout;
        }
        counter
    }

    /// Takes back a charge that turned out to be a right answer. A lockout
    /// that this charge set (`locked_until == set_lock`) is lifted; one set
    /// by a later failure stays.
    pub fn refund(&self, counter: Counter, charged_at: Timestamp, set_lock: Timestamp) -> Counter {
        let mut counter = counter;
        counter.failures = counter.failures.saturating_sub(1);
        if set_lock != 0 && counter.locked_until == set_lock {
            counter.locked_until = charged_at;
        }
        counter
    }
}

/// A limit applied to one counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub key: String,
    pub rule: Rule,
    /// Set by the store: the lockout this charge started (0: none).
    pub set_lock: Timestamp,
}

/// What charging an attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charged {
    /// Every counter took the failure; the ticket can refund it.
    Charged(Vec<Charge>),
    /// Some limit is reached: nothing was charged. The longest wait and the
    /// key that imposes it.
    Locked { retry_after_secs: i64, key: String },
}

/// Charging an attempt, given the stored counters of `charges` (in order):
/// when some counter is locked at `now`, nothing is charged and the longest
/// wait is named; otherwise each charge with its next counter (and the
/// lockout it starts, in `set_lock`). Every store runs this between reading
/// and writing the counters under its lock.
pub fn plan_charges(
    charges: Vec<Charge>,
    stored: &[Option<Counter>],
    now: Timestamp,
) -> Result<Vec<(Charge, Counter)>, Charged> {
    let mut longest: Option<(i64, String)> = None;
    for (charge, stored) in charges.iter().zip(stored) {
        if let Some(wait) = charge.rule.wait(*stored, now)
            && longest.as_ref().is_none_or(|(w, _)| wait > *w)
        {
            longest = Some((wait, charge.key.clone()));
        }
    }
    if let Some((retry_after_secs, key)) = longest {
        return Err(Charged::Locked {
            retry_after_secs,
            key,
        });
    }
    Ok(charges
        .into_iter()
        .zip(stored)
        .map(|(mut charge, stored)| {
            let next = charge.rule.charge(*stored, now);
            let lock_is_new = next.locked_until > now
                && stored.is_none_or(|s| s.locked_until != next.locked_until);
            charge.set_lock = if lock_is_new { next.locked_until } else { 0 };
            (charge, next)
        })
        .collect())
}
