//! The PostgreSQL backend, for any number of instances on one database: a
//! deadpool of tokio-postgres connections, versioned migrations applied at
//! start under an advisory lock, and every rule that must hold across
//! instances (a code used once, a limit never overrun) kept by row locks,
//! advisory locks or single statements inside the database.

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

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

// The table-group files below name the store's traits and records as `super::…`.
#[allow(unused_imports)]
use super::*;

/// Applied in order; `twofold_schema` remembers how far a database got.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../../migrations/postgres/0001_schema.sql"),
    ),
    (
        2,
        include_str!("../../../migrations/postgres/0002_bounded_audit.sql"),
    ),
    (
        3,
        include_str!("../../../migrations/postgres/0003_sealed_recovery_key.sql"),
    ),
    (
        4,
        include_str!("../../../migrations/postgres/0004_sessions.sql"),
    ),
    (
        5,
        include_str!("../../../migrations/postgres/0005_access.sql"),
    ),
    (
        6,
        include_str!("../../../migrations/postgres/0006_passkeys.sql"),
    ),
    (
        7,
        include_str!("../../../migrations/postgres/0007_programmatic_access.sql"),
    ),
    (
        8,
        include_str!("../../../migrations/postgres/0008_oidc.sql"),
    ),
];

/// Held (per transaction) while migrating, so instances starting together
/// on a new database take turns: `'twofold'` as a number.
const MIGRATION_LOCK: i64 = 0x0074_776f_666f_6c64;

/// How long a new connection may take (a database that does not answer by
/// then is `unavailable`).
const CONNECT: Duration = Duration::from_secs(10);
/// How long a request waits for a free pooled connection under load.
const QUEUE: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Connects to the database and brings its schema up to date. Fails with
    /// a one-line reason when the database can't be reached, refuses the
    /// login, or has a schema newer than this binary.
    pub async fn open(url: &str, pool_size: usize) -> anyhow::Result<Self> {
        let mut config: tokio_postgres::Config = url
            .trim()
            .parse()
            .context("storage.url is not a PostgreSQL URL")?;
        config.connect_timeout(CONNECT);
        config.application_name("twofold");
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(QUEUE))
            .create_timeout(Some(CONNECT))
            .recycle_timeout(Some(CONNECT))
            .build()
            .context("building the PostgreSQL connection pool")?;
        let store = Self { pool };
        let mut client = store.pool.get().await.map_err(|e| {
            let reason = anyhow::Error::new(e);
            anyhow::anyhow!(one_line(&format!(
                "can't connect to the PostgreSQL database (storage.url): {reason:#}"
            )))
        })?;
        migrate(&mut client)
            .await
            .map_err(|e| anyhow::anyhow!(one_line(&format!("{e:#}"))))?;
        Ok(store)
    }

    /// A pooled connection; a database that can't be reached is `Unavailable`.
    pub(super) async fn client(&self) -> StoreResult<Object> {
        self.pool.get().await.map_err(|e| {
            tracing::warn!(error = %e, "no PostgreSQL connection");
            StoreError::Unavailable
        })
    }
}

/// PostgreSQL's messages may carry DETAIL and HINT lines: a startup failure
/// is said in one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Applies the migrations this database lacks, in one transaction under the
/// migration lock; refuses a schema newer than this binary.
async fn migrate(client: &mut Object) -> anyhow::Result<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS twofold_schema (
             version    BIGINT PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .await?;
    let current: i64 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM twofold_schema", &[])
        .await?
        .get(0);
    let known = MIGRATIONS.last().map_or(0, |(version, _)| *version);
    if current > known {
        anyhow::bail!(
            "the PostgreSQL database has schema version {current}, newer than this twofold \
             (which knows up to {known}): run a newer twofold"
        );
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql)
            .await
            .with_context(|| format!("applying PostgreSQL migration {version}"))?;
        tx.execute(
            "INSERT INTO twofold_schema (version) VALUES ($1)",
            &[version],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A lost connection, a server shutting down or refusing connections is
/// `Unavailable` (the request may be retried); anything else is unexpected.
impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        let lost = error.is_closed()
            || match error.code() {
                Some(code) => {
                    code.code().starts_with("08")
                        || [
                            SqlState::ADMIN_SHUTDOWN,
                            SqlState::CRASH_SHUTDOWN,
                            SqlState::CANNOT_CONNECT_NOW,
                        ]
                        .contains(code)
                }
                // No SQLSTATE: the socket failed under the query.
                None => std::error::Error::source(&error)
                    .is_some_and(|source| source.is::<std::io::Error>()),
            };
        if lost {
            tracing::warn!(error = %error, "PostgreSQL connection lost");
            StoreError::Unavailable
        } else {
            StoreError::Unexpected(error.into())
        }
    }
}

/// A 32-byte hash column.
fn hash32(bytes: Vec<u8>) -> StoreResult<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Unexpected(anyhow::anyhow!("a stored hash is not 32 bytes")))
}

/// A count or counter column (bigint) as the records' `u32`.
fn count(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

#[async_trait]
impl Store for PostgresStore {
    async fn check_readable(&self) -> StoreResult<()> {
        let client = self.client().await?;
        client.query_one("SELECT count(*) FROM users", &[]).await?;
        Ok(())
    }
}
