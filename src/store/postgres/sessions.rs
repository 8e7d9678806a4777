//! Pending logins (password passed) and sessions (both factors passed).

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::users::{USERS_USER_COLUMNS, user_from_row_at};
use super::{
    AuditRecord, PendingRecord, PostgresStore, SessionRecord, SessionStore, StoreResult, TokenHash,
    UserId, UserRecord, count, hash32,
};
use crate::model::Timestamp;

const PENDING_COLUMNS: &str =
    "token_hash, user_id, enrolment_only, created_at, expires_at, failures";
const SESSION_COLUMNS: &str = "token_hash, user_id, created_at, last_seen_at, expires_at,
    second_factor_at, id, method, ip, user_agent";
const SESSION_COLUMN_COUNT: usize = 10;

fn pending_from_row(row: &Row) -> StoreResult<PendingRecord> {
    Ok(PendingRecord {
        token_hash: hash32(row.get(0))?,
        user_id: row.get(1),
        enrolment_only: row.get(2),
        created_at: row.get(3),
        expires_at: row.get(4),
        failures: count(row.get(5)),
    })
}

pub(super) fn session_from_row(row: &Row) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        token_hash: hash32(row.get(0))?,
        user_id: row.get(1),
        created_at: row.get(2),
        last_seen_at: row.get(3),
        expires_at: row.get(4),
        second_factor_at: row.get(5),
        id: row.get(6),
        method: row.get(7),
        ip: row.get(8),
        user_agent: row.get(9),
    })
}

/// Inserts a session and ends the user's oldest ones beyond `keep_at_most`
/// (inside the caller's transaction).
pub(super) async fn insert_session(
    client: &impl GenericClient,
    session: &SessionRecord,
    keep_at_most: u32,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            &format!(
                "INSERT INTO sessions ({SESSION_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            &[
                &&session.token_hash[..],
                &session.user_id,
                &session.created_at,
                &session.last_seen_at,
                &session.expires_at,
                &session.second_factor_at,
                &session.id,
                &session.method,
                &session.ip,
                &session.user_agent,
            ],
        )
        .await?;
    keep_newest(client, "sessions", session.user_id, keep_at_most).await
}

/// Keeps the user's newest `keep_at_most` rows of `table` (by creation, then
/// insertion order).
pub(super) async fn keep_newest(
    client: &impl GenericClient,
    table: &'static str,
    user: UserId,
    keep_at_most: u32,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            &format!(
                "DELETE FROM {table} WHERE user_id = $1 AND seq NOT IN
                    (SELECT seq FROM {table} WHERE user_id = $1
                      ORDER BY created_at DESC, seq DESC LIMIT $2)"
            ),
            &[&user, &i64::from(keep_at_most)],
        )
        .await
        .map(drop)
}

/// Deletes the user's row named `id` from `table`; whether there was one.
pub(super) async fn delete_by_handle(
    client: &impl GenericClient,
    table: &'static str,
    user: UserId,
    id: &str,
) -> Result<bool, tokio_postgres::Error> {
    client
        .execute(
            &format!("DELETE FROM {table} WHERE user_id = $1 AND id = $2"),
            &[&user, &id],
        )
        .await
        .map(|removed| removed == 1)
}

/// Deletes every row of the user in `table` but the one whose token hash is
/// `keep`; how many went.
pub(super) async fn delete_all_but(
    client: &impl GenericClient,
    table: &'static str,
    user: UserId,
    keep: Option<TokenHash>,
) -> Result<u64, tokio_postgres::Error> {
    let keep = keep.map(|hash| hash.to_vec());
    client
        .execute(
            &format!("DELETE FROM {table} WHERE user_id = $1 AND token_hash IS DISTINCT FROM $2"),
            &[&user, &keep],
        )
        .await
}

async fn insert_pending(
    client: &impl GenericClient,
    pending: &PendingRecord,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            &format!(
                "INSERT INTO pending_logins ({PENDING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
            ),
            &[
                &&pending.token_hash[..],
                &pending.user_id,
                &pending.enrolment_only,
                &pending.created_at,
                &pending.expires_at,
                &i64::from(pending.failures),
            ],
        )
        .await
        .map(drop)
}

/// Counts one wrong second factor on a pending login; the failures so far
/// (`u32::MAX` when it is gone).
pub(super) async fn count_pending_failure(
    client: &impl GenericClient,
    token_hash: TokenHash,
) -> Result<u32, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "UPDATE pending_logins SET failures = failures + 1 WHERE token_hash = $1
             RETURNING failures",
            &[&&token_hash[..]],
        )
        .await?;
    Ok(row.map_or(u32::MAX, |row| count(row.get(0))))
}

/// Ends a pending login; whether there was one.
pub(super) async fn delete_pending(
    client: &impl GenericClient,
    token_hash: TokenHash,
) -> Result<bool, tokio_postgres::Error> {
    client
        .execute(
            "DELETE FROM pending_logins WHERE token_hash = $1",
            &[&&token_hash[..]],
        )
        .await
        .map(|removed| removed == 1)
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn insert_pending(&self, pending: PendingRecord) -> StoreResult<()> {
        let client = self.client().await?;
        insert_pending(&client, &pending).await?;
        Ok(())
    }

    async fn open_pending_login(
        &self,
        pending: PendingRecord,
        event: AuditRecord,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "UPDATE users SET password_last_used_at = $2 WHERE id = $1",
            &[&pending.user_id, &pending.created_at],
        )
        .await?;
        insert_pending(&tx, &pending).await?;
        super::audit::append(&tx, &event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn pending(&self, token_hash: TokenHash) -> StoreResult<Option<PendingRecord>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {PENDING_COLUMNS} FROM pending_logins WHERE token_hash = $1"
            ))
            .await?;
        let row = client.query_opt(&statement, &[&&token_hash[..]]).await?;
        row.as_ref().map(pending_from_row).transpose()
    }

    async fn count_pending_failure(&self, token_hash: TokenHash) -> StoreResult<u32> {
        let client = self.client().await?;
        Ok(count_pending_failure(&client, token_hash).await?)
    }

    async fn delete_pending(&self, token_hash: TokenHash) -> StoreResult<()> {
        let client = self.client().await?;
        delete_pending(&client, token_hash).await?;
        Ok(())
    }

    async fn promote_pending(
        &self,
        pending: TokenHash,
        session: SessionRecord,
        keep_at_most: u32,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // A concurrent promotion waits on the row lock, then deletes nothing.
        if !delete_pending(&tx, pending).await? {
            return Ok(false);
        }
        insert_session(&tx, &session, keep_at_most).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_session(&self, session: SessionRecord, keep_at_most: u32) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        insert_session(&tx, &session, keep_at_most).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sessions_of(&self, user: UserId) -> StoreResult<Vec<SessionRecord>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1
                      ORDER BY created_at DESC, seq DESC"
                ),
                &[&user],
            )
            .await?;
        rows.iter().map(session_from_row).collect()
    }

    async fn delete_session_by_id(&self, user: UserId, id: &str) -> StoreResult<bool> {
        let client = self.client().await?;
        Ok(delete_by_handle(&client, "sessions", user, id).await?)
    }

    async fn delete_sessions_except(
        &self,
        user: UserId,
        keep: Option<TokenHash>,
    ) -> StoreResult<u64> {
        let client = self.client().await?;
        Ok(delete_all_but(&client, "sessions", user, keep).await?)
    }

    async fn session(&self, token_hash: TokenHash) -> StoreResult<Option<SessionRecord>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = $1"
            ))
            .await?;
        let row = client.query_opt(&statement, &[&&token_hash[..]]).await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn session_with_user(
        &self,
        token_hash: TokenHash,
    ) -> StoreResult<Option<(SessionRecord, UserRecord)>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT s.token_hash, s.user_id, s.created_at, s.last_seen_at, s.expires_at,
                        s.second_factor_at, s.id, s.method, s.ip, s.user_agent,
                        {USERS_USER_COLUMNS}
                   FROM sessions s JOIN users ON users.id = s.user_id
                  WHERE s.token_hash = $1"
            ))
            .await?;
        let row = client.query_opt(&statement, &[&&token_hash[..]]).await?;
        match row {
            Some(row) => Ok(Some((
                session_from_row(&row)?,
                user_from_row_at(&row, SESSION_COLUMN_COUNT),
            ))),
            None => Ok(None),
        }
    }

    async fn touch_session(&self, token_hash: TokenHash, at: Timestamp) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE sessions SET last_seen_at = greatest(last_seen_at, $2)
                  WHERE token_hash = $1",
                &[&&token_hash[..], &at],
            )
            .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: TokenHash) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM sessions WHERE token_hash = $1",
                &[&&token_hash[..]],
            )
            .await?;
        Ok(())
    }

    async fn delete_sessions_of(&self, user: UserId) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        end_sessions_of(&tx, user).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_expired(&self, now: Timestamp, idle_timeout_secs: i64) -> StoreResult<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let sessions = tx
            .execute(
                "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at + $2 <= $1",
                &[&now, &idle_timeout_secs],
            )
            .await?;
        let pending = tx
            .execute("DELETE FROM pending_logins WHERE expires_at <= $1", &[&now])
            .await?;
        let ceremonies = tx
            .execute(
                "DELETE FROM webauthn_ceremonies WHERE expires_at <= $1",
                &[&now],
            )
            .await?;
        let remembered = tx
            .execute(
                "DELETE FROM remembered_browsers WHERE expires_at <= $1",
                &[&now],
            )
            .await?;
        tx.commit().await?;
        Ok(sessions + pending + ceremonies + remembered)
    }

    async fn count_live_sessions(
        &self,
        now: Timestamp,
        idle_timeout_secs: i64,
    ) -> StoreResult<u64> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM sessions WHERE expires_at > $1 AND last_seen_at + $2 > $1",
                &[&now, &idle_timeout_secs],
            )
            .await?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }
}

/// Ends every session, pending login and remembered browser of a user
/// (inside a caller's transaction).
pub(super) async fn end_sessions_of(
    client: &impl GenericClient,
    user: UserId,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute("DELETE FROM sessions WHERE user_id = $1", &[&user])
        .await?;
    client
        .execute("DELETE FROM pending_logins WHERE user_id = $1", &[&user])
        .await?;
    client
        .execute(
            "DELETE FROM remembered_browsers WHERE user_id = $1",
            &[&user],
        )
        .await?;
    Ok(())
}
