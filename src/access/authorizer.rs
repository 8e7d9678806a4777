//! The compiled policies kept in memory between requests. The store's access
//! version is read at most once a second per instance (and at once after a
//! change made here); when it moved, every row is read again and compiled,
//! so a change made on another instance applies here within about a second.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::snapshot::Snapshot;
use crate::store::{AccessStore, StoreResult};

/// How long a snapshot is used before the store's version is read again.
pub const RECHECK_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Authorizer {
    current: RwLock<Arc<Snapshot>>,
    checks: Mutex<Checks>,
    /// One refresh at a time: the others use the snapshot they have.
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Checks {
    /// When the version was last read; `None`: read the rows on the next
    /// request (at start, and after a local change).
    at: Option<Instant>,
    /// Counts local changes, so a refresh that began before one does not
    /// pass for a read made after it.
    changes: u64,
    /// A snapshot was read from the store at least once.
    loaded: bool,
}

impl Default for Authorizer {
    fn default() -> Self {
        Self {
            current: RwLock::new(Arc::new(Snapshot::default())),
            checks: Mutex::new(Checks::default()),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }
}

impl Authorizer {
    /// The policies as of at most a second ago. The first call (and one
    /// after `changed`) waits for the store; later ones never wait for
    /// another request's refresh. A store that can't be read keeps the last
    /// snapshot in use (the request's own session read fails anyway) and is
    /// tried again a second later.
    pub async fn snapshot<S>(&self, store: &S) -> StoreResult<Arc<Snapshot>>
    where
        S: AccessStore + ?Sized + Sync,
    {
        let seen = self.checks();
        if seen.at.is_some_and(|at| at.elapsed() < RECHECK_EVERY) {
            return Ok(self.current());
        }
        let _refreshing = match self.refreshing.try_lock() {
            Ok(guard) => guard,
            // Someone is reading the store already: keep using what we have,
            // unless it must be read first (at start, after a change here).
            Err(_) if seen.at.is_some() && seen.loaded => return Ok(self.current()),
            Err(_) => self.refreshing.lock().await,
        };
        // The refresh we waited for may have done the work.
        let before = self.checks();
        if before.at.is_some_and(|at| at.elapsed() < RECHECK_EVERY) {
            return Ok(self.current());
        }
        let started = Instant::now();
        let outcome = self.reload(store, before.at.is_none()).await;
        let mut checks = self.checks.lock().expect("not poisoned");
        let loaded = checks.loaded || outcome.is_ok();
        checks.loaded = loaded;
        if checks.changes == before.changes && loaded {
            checks.at = Some(started);
        }
        drop(checks);
        match outcome {
            Ok(snapshot) => Ok(snapshot),
            Err(error) if loaded => {
                tracing::warn!(%error, "reading the access version failed; using the policies read before");
                Ok(self.current())
            }
            Err(error) => Err(error),
        }
    }

    /// Reads the rows again if the version moved (or `always`).
    async fn reload<S>(&self, store: &S, always: bool) -> StoreResult<Arc<Snapshot>>
    where
        S: AccessStore + ?Sized + Sync,
    {
        let current = self.current();
        if !always && store.access_version().await? == current.version() {
            return Ok(current);
        }
        let rows = store.access_rows().await?;
        let snapshot = Arc::new(Snapshot::build(&rows));
        *self.current.write().expect("not poisoned") = snapshot.clone();
        Ok(snapshot)
    }

    /// A change was written here: the next request reads the store again.
    pub fn changed(&self) {
        let mut checks = self.checks.lock().expect("not poisoned");
        checks.at = None;
        checks.changes += 1;
    }

    fn checks(&self) -> Checks {
        *self.checks.lock().expect("not poisoned")
    }

    fn current(&self) -> Arc<Snapshot> {
        self.current.read().expect("not poisoned").clone()
    }
}
