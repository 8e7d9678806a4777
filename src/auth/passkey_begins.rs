//! A bound on passwordless sign-ins begun: each begin stores a ceremony row
//! (alive five minutes) before anyone is known, so the rows one address, and
//! all addresses together, can make in a minute are capped here, in memory.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

use std::collections::hash_map::RandomState;

use crate::model::Timestamp;

/// Begins one address (an IPv6 /64 counts as one) may make in a minute:
/// far above a person reloading the sign-in page.
const PER_ADDRESS_PER_MINUTE: u32 = 30;
/// Begins every address together may make in a minute (bounds the rows of
/// an attacker with many addresses: at most five minutes of these live).
const ALL_PER_MINUTE: u32 = 6_000;

#[derive(Debug, Default)]
pub(crate) struct PasskeyBegins {
    hasher: RandomState,
    minute: Mutex<Minute>,
}

#[derive(Debug, Default)]
struct Minute {
    started: Timestamp,
    total: u32,
    by_address: HashMap<u64, u32>,
}

impl PasskeyBegins {
    /// Counts a begin from `address` (an `ip_bucket`, or none when the
    /// address is unknown); `Err(seconds to wait)` when a budget is spent.
    pub(crate) fn admit(&self, address: Option<&str>, now: Timestamp) -> Result<(), i64> {
        let key = self.hasher.hash_one(address.unwrap_or(""));
        let mut minute = self.minute.lock().expect("not poisoned");
        if minute.total == 0 || now - minute.started >= 60 || now < minute.started {
            *minute = Minute {
                started: now,
                ..Minute::default()
            };
        }
        let wait = (minute.started + 60 - now).max(1);
        if minute.total >= ALL_PER_MINUTE {
            return Err(wait);
        }
        let count = minute.by_address.entry(key).or_insert(0);
        if *count >= PER_ADDRESS_PER_MINUTE {
            return Err(wait);
        }
        *count += 1;
        minute.total += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_is_capped_per_minute_and_others_go_on() {
        let begins = PasskeyBegins::default();
        for _ in 0..PER_ADDRESS_PER_MINUTE {
            assert_eq!(begins.admit(Some("192.0.2.1"), 1000), Ok(()));
        }
        assert_eq!(begins.admit(Some("192.0.2.1"), 1010), Err(50));
        assert_eq!(begins.admit(Some("192.0.2.2"), 1010), Ok(()));
        // A new minute, a new budget.
        assert_eq!(begins.admit(Some("192.0.2.1"), 1060), Ok(()));
    }

    #[test]
    fn all_addresses_together_are_capped_per_minute() {
        let begins = PasskeyBegins::default();
        for i in 0..ALL_PER_MINUTE {
            let address = format!("10.{}.{}.1", i / 256 % 256, i % 256);
            assert_eq!(begins.admit(Some(&address), 5), Ok(()), "{address}");
        }
        assert_eq!(begins.admit(Some("192.0.2.9"), 6), Err(59));
    }
}
