//! Attempts charged to a throttle counter but not yet judged. They count
//! toward a limit, so parallel guesses can't overrun it, but they are not
//! failures: an attempt that finds a limit reached while others on the same
//! counter are still being judged waits for them, then asks again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Per process: which counters have attempts being judged right now.
#[derive(Debug, Default)]
pub struct AttemptsInFlight {
    /// Charging and registering happen under this lock, so no attempt is ever
    /// charged in the store without showing here.
    pub(crate) admission: tokio::sync::Mutex<()>,
    counts: Mutex<HashMap<String, u32>>,
    /// Woken whenever an attempt was judged.
    pub(crate) judged: Notify,
}

impl AttemptsInFlight {
    /// Registers one attempt on each of `keys` until the guard is dropped.
    pub fn enter(self: &Arc<Self>, keys: Vec<String>) -> InFlight {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        for key in &keys {
            *counts.entry(key.clone()).or_insert(0) += 1;
        }
        InFlight {
            registry: self.clone(),
            keys,
        }
    }

    /// Whether an attempt on `key` is being judged.
    pub fn holds(&self, key: &str) -> bool {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(key).is_some_and(|n| *n > 0)
    }
}

/// One attempt being judged; dropping it (after its charges were refunded or
/// left as a failure) wakes the attempts waiting on its counters.
#[derive(Debug)]
pub struct InFlight {
    registry: Arc<AttemptsInFlight>,
    keys: Vec<String>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        {
            let mut counts = self
                .registry
                .counts
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for key in &self.keys {
                if let Some(n) = counts.get_mut(key) {
                    *n -= 1;
                    if *n == 0 {
                        counts.remove(key);
                    }
                }
            }
        }
        self.registry.judged.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_shows_on_its_counters_until_judged() {
        let registry = Arc::new(AttemptsInFlight::default());
        let first = registry.enter(vec!["a".into(), "b".into()]);
        let second = registry.enter(vec!["a".into()]);
        assert!(registry.holds("a") && registry.holds("b"));
        drop(first);
        assert!(registry.holds("a") && !registry.holds("b"));
        drop(second);
        assert!(!registry.holds("a"));
    }
}
