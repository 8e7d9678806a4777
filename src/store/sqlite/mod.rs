//! The embedded SQLite backend: one database file (mode 0600, in a 0700
//! folder) in WAL mode with `synchronous=FULL` (an acknowledged write survives
//! a crash), foreign keys on, versioned migrations; reads run on pooled
//! connections on blocking threads, writes on the one writer (`writer.rs`).

use std::path::Path;

use anyhow::Context;
use async_trait::async_trait;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

mod access;
mod admin;
mod audit;
mod devices;
mod oidc;
mod programmatic;
mod recovery;
mod remembered_browsers;
mod second_factor;
mod security;
mod security_keys;
mod sessions;
mod throttle;
mod transfer;
mod users;
mod writer;

// The table-group files below name the store's traits and records as `super::…`.
#[allow(unused_imports)]
use super::*;

/// Applied in order; the file's `user_version` remembers how far it got.
const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("../../../migrations/sqlite/0001_core.sql")),
    M::up(include_str!(
        "../../../migrations/sqlite/0002_security_keys.sql"
    )),
    M::up(include_str!(
        "../../../migrations/sqlite/0003_protection.sql"
    )),
    M::up(include_str!("../../../migrations/sqlite/0004_admin.sql")),
    M::up(include_str!(
        "../../../migrations/sqlite/0005_bounded_audit.sql"
    )),
    M::up(include_str!(
        "../../../migrations/sqlite/0006_sealed_recovery_key.sql"
    )),
    M::up(include_str!("../../../migrations/sqlite/0007_sessions.sql")),
    M::up(include_str!("../../../migrations/sqlite/0008_access.sql")),
    M::up(include_str!("../../../migrations/sqlite/0009_passkeys.sql")),
    M::up(include_str!(
        "../../../migrations/sqlite/0010_programmatic_access.sql"
    )),
    M::up(include_str!("../../../migrations/sqlite/0011_oidc.sql")),
];

#[derive(Clone)]
pub struct SqliteStore {
    /// Read-only connections.
    pool: r2d2::Pool<SqliteConnectionManager>,
    writer: writer::Writer,
}

fn configure(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// A pooled connection only reads: a write through one would bypass the
/// writer (and wait on its lock).
fn configure_reader(conn: &mut Connection) -> rusqlite::Result<()> {
    configure(conn)?;
    conn.pragma_update(None, "query_only", "ON")
}

impl SqliteStore {
    /// Opens (or creates) the database file and brings its schema up to date.
    pub fn open(file: &Path, pool_size: usize) -> anyhow::Result<Self> {
        if let Some(dir) = file.parent() {
            create_private_dir(dir)?;
        }
        create_private_file(file)?;
        let mut conn = Connection::open(file)
            .with_context(|| format!("opening the database {}", file.display()))?;
        configure(&mut conn)?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        Migrations::from_slice(MIGRATIONS)
            .to_latest(&mut conn)
            .context("migrating the database schema")?;
        let writer = writer::Writer::start(conn)?;

        let manager = SqliteConnectionManager::file(file).with_init(configure_reader);
        let pool = r2d2::Pool::builder()
            .max_size(pool_size.try_into().unwrap_or(u32::MAX))
            .build(manager)
            .context("opening the database connection pool")?;
        Ok(Self { pool, writer })
    }

    /// Runs `work` in a write transaction on the writer; answers once it is
    /// committed.
    pub(super) async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.writer
            .write(move |conn| work(conn).map_err(|e| StoreError::Unexpected(e.into())))
            .await
    }

    /// Like `write`, for work that answers with the store's own errors.
    pub(super) async fn write_checked<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.writer.write(work).await
    }

    /// Runs a short indexed read on the calling thread when a pooled
    /// connection is free at once, else as `call` does. In WAL mode a read
    /// never waits on the writer, so a point lookup (tens of microseconds)
    /// costs less in place than the hop to a blocking thread and back.
    pub(super) async fn read_in_place<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        match self.pool.try_get() {
            Some(mut conn) => work(&mut conn).map_err(|e| StoreError::Unexpected(e.into())),
            None => self.call(work).await,
        }
    }

    /// Runs a read with a pooled connection on a blocking thread.
    pub(super) async fn call<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().context("taking a database connection")?;
            work(&mut conn).map_err(|e| StoreError::Unexpected(e.into()))
        })
        .await
        .map_err(|e| StoreError::Unexpected(e.into()))?
    }

    /// Runs `work` on the calling thread with a connection of its own that
    /// may write: tests only, never in a handler.
    #[cfg(test)]
    pub(super) fn call_now<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let file = self
            .pool
            .get()
            .context("taking a database connection")?
            .path()
            .map(ToOwned::to_owned);
        let mut conn = Connection::open(file.context("the database has a file")?)
            .map_err(|e| StoreError::Unexpected(e.into()))?;
        configure(&mut conn).map_err(|e| StoreError::Unexpected(e.into()))?;
        work(&mut conn).map_err(|e| StoreError::Unexpected(e.into()))
    }
}

/// The data folder is the server user's alone: made 0700 when missing, and
/// an existing one left looser (0755 lets every local user list it and open
/// whatever in it is not private itself) is tightened to 0700, or the start
/// is refused with the reason.
#[cfg(unix)]
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    if !dir.exists() {
        return std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating the data folder {}", dir.display()));
    }
    let mode = std::fs::metadata(dir)
        .with_context(|| format!("reading the data folder {}", dir.display()))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).with_context(|| {
        format!(
            "the data folder {} is open to other users (mode {mode:o}) and can't be made \
             private; run chmod 700 on it",
            dir.display()
        )
    })?;
    tracing::warn!(folder = %dir.display(), was = format!("{mode:o}"), "data folder tightened to mode 700");
    Ok(())
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// A new database file is readable by its owner only (0600); SQLite gives
/// its `-wal` and `-shm` files the database file's mode. An existing file
/// keeps the mode its operator chose.
#[cfg(unix)]
fn create_private_file(file: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating the database file {}", file.display())),
    }
}

#[cfg(not(unix))]
fn create_private_file(_file: &Path) -> anyhow::Result<()> {
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn check_readable(&self) -> StoreResult<()> {
        self.call(|conn| conn.query_row("SELECT count(*) FROM users", [], |_| Ok(())))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        Migrations::from_slice(MIGRATIONS).validate().unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn the_database_and_its_wal_files_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data/twofold.db");
        let store = SqliteStore::open(&file, 4).unwrap();
        store
            .call_now(|conn| conn.execute("CREATE TABLE t (x)", []))
            .unwrap();
        let mode = |name: &str| {
            let path = dir.path().join("data").join(name);
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777
        };
        assert_eq!(mode(""), 0o700, "the folder");
        for name in ["twofold.db", "twofold.db-wal", "twofold.db-shm"] {
            assert_eq!(mode(name), 0o600, "{name}");
        }
    }

    #[tokio::test]
    async fn sessions_from_before_the_session_list_get_a_handle_of_their_own() {
        use crate::store::SessionStore;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("twofold.db");
        // A database as the release before the session list left it.
        let mut conn = Connection::open(&file).unwrap();
        Migrations::from_slice(&MIGRATIONS[..6])
            .to_latest(&mut conn)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO users (id, username, password_hash, admin, disabled, created_at,
                                password_changed_at)
                 VALUES (1, 'old', 'x', 0, 0, 0, 0);
             INSERT INTO sessions VALUES (zeroblob(32), 1, 0, 0, 100, 0),
                                         (randomblob(32), 1, 0, 0, 100, 0);",
        )
        .unwrap();
        drop(conn);
        let store = SqliteStore::open(&file, 4).unwrap();
        let sessions = store.sessions_of(1).await.unwrap();
        assert_eq!(sessions.len(), 2);
        assert_ne!(sessions[0].id, sessions[1].id);
        assert!(sessions.iter().all(|s| s.id.len() == 32), "{sessions:?}");
    }

    #[test]
    fn opening_twice_keeps_the_schema_and_uses_wal() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data/twofold.db");
        SqliteStore::open(&file, 4).unwrap();
        SqliteStore::open(&file, 4).unwrap();
        let conn = Connection::open(&file).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
