//! SQLite's one writer: every write transaction of the process runs on one
//! connection owned by one thread, so writes never wait on each other's lock
//! (the pooled connections only read). Writes queued while a commit is being
//! synced are committed together (group commit), each in its own savepoint so
//! one failing write undoes only itself; a write is acknowledged only after
//! the commit that contains it is durable.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use anyhow::Context;
use rusqlite::Connection;

use super::{StoreError, StoreResult};

/// At most this many writes share one commit, so one commit's latency stays
/// bounded under a flood.
const MAX_WRITES_PER_COMMIT: usize = 64;

/// Sends the write's outcome once its commit is known.
type Acknowledge = Box<dyn FnOnce(Result<(), String>) + Send>;
/// Runs inside the open transaction; returns how to acknowledge it.
type Job = Box<dyn FnOnce(&Connection) -> Acknowledge + Send>;

/// The queue to the writer thread; the thread ends when the last clone is dropped.
#[derive(Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on its own connection.
    pub(super) fn start(conn: Connection) -> anyhow::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, queue))
            .context("starting the database writer thread")?;
        Ok(Self { jobs })
    }

    /// Runs `work` inside a write transaction and returns its result once
    /// that transaction is committed (or the error that undid it).
    pub(super) async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(move |conn| {
            let result = in_savepoint(conn, work);
            Box::new(move |committed| {
                let outcome = match committed {
                    Ok(()) => result,
                    Err(e) => Err(StoreError::Unexpected(anyhow::anyhow!(
                        "committing a write failed: {e}"
                    ))),
                };
                let _ = reply.send(outcome);
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Unexpected(anyhow::anyhow!("the database writer stopped")))?;
        answer.await.map_err(|_| {
            StoreError::Unexpected(anyhow::anyhow!(
                "the database write did not run: no write transaction could begin"
            ))
        })?
    }
}

/// One job in a savepoint: its changes are released into the transaction
/// when it succeeds and rolled back when it fails (or panics).
fn in_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    conn.execute_batch("SAVEPOINT write")
        .map_err(|e| StoreError::Unexpected(e.into()))?;
    let result = catch_unwind(AssertUnwindSafe(|| work(conn))).unwrap_or_else(|_| {
        Err(StoreError::Unexpected(anyhow::anyhow!(
            "a database write panicked"
        )))
    });
    let end = if result.is_ok() {
        "RELEASE write"
    } else {
        "ROLLBACK TO write; RELEASE write"
    };
    conn.execute_batch(end)
        .map_err(|e| StoreError::Unexpected(e.into()))?;
    result
}

fn run(conn: Connection, queue: mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_WRITES_PER_COMMIT {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&conn, batch);
    }
}

fn commit_batch(conn: &Connection, batch: Vec<Job>) {
    // IMMEDIATE: take the write lock up front (another process, such as a
    // CLI command, may hold it: the busy timeout waits for it).
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Never run outside a transaction: dropping the jobs answers each
        // waiting request with an error.
        tracing::error!(error = %e, "could not begin a write transaction");
        drop(batch);
        return;
    }
    let acknowledgements: Vec<Acknowledge> = batch.into_iter().map(|job| job(conn)).collect();
    let committed = conn.execute_batch("COMMIT").map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        e.to_string()
    });
    for acknowledge in acknowledgements {
        acknowledge(committed.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::super::SqliteStore;
    use super::*;

    /// Writes sent at once share commits; a failing one undoes only itself.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_commit_together_and_a_failure_undoes_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("twofold.db"), 4).unwrap();
        store
            .write(|conn| conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)", []))
            .await
            .unwrap();
        let tasks: Vec<_> = (0..200)
            .map(|i: i64| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .write_checked(move |conn| {
                            conn.execute("INSERT INTO t (x) VALUES (?1)", [i])
                                .map_err(|e| StoreError::Unexpected(e.into()))?;
                            if i % 2 == 1 {
                                return Err(StoreError::Unexpected(anyhow::anyhow!("odd")));
                            }
                            Ok(())
                        })
                        .await
                        .is_ok()
                })
            })
            .collect();
        let mut acknowledged = Vec::new();
        for (i, task) in tasks.into_iter().enumerate() {
            if task.await.unwrap() {
                acknowledged.push(i as i64);
            }
        }
        let stored: Vec<i64> = store
            .call(|conn| {
                conn.prepare("SELECT x FROM t ORDER BY x")?
                    .query_map([], |row| row.get(0))?
                    .collect()
            })
            .await
            .unwrap();
        assert_eq!(stored, acknowledged);
        assert_eq!(stored, (0..200).step_by(2).collect::<Vec<i64>>());
    }

    #[tokio::test]
    async fn a_pooled_connection_refuses_to_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("twofold.db"), 4).unwrap();
        let refused = store
            .call(|conn| conn.execute("DELETE FROM users", []))
            .await;
        assert!(refused.is_err());
    }
}
