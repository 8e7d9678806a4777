//! Pending logins (password passed) and sessions (both factors passed).

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::AuditRecord;
use super::users::user_from_row_at;
use super::{
    PendingRecord, SessionRecord, SessionStore, SqliteStore, StoreResult, TokenHash, UserId,
    UserRecord,
};
use crate::model::Timestamp;

fn pending_from_row(row: &Row<'_>) -> rusqlite::Result<PendingRecord> {
    Ok(PendingRecord {
        token_hash: row.get(0)?,
        user_id: row.get(1)?,
        enrolment_only: row.get(2)?,
        created_at: row.get(3)?,
        expires_at: row.get(4)?,
        failures: row.get(5)?,
    })
}

/// The columns `session_from_row` reads, in order.
const SESSION_COLUMNS: &str = "token_hash, user_id, created_at, last_seen_at, expires_at,
    second_factor_at, id, method, ip, user_agent";
const SESSION_COLUMN_COUNT: usize = 10;

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        token_hash: row.get(0)?,
        user_id: row.get(1)?,
        created_at: row.get(2)?,
        last_seen_at: row.get(3)?,
        expires_at: row.get(4)?,
        second_factor_at: row.get(5)?,
        id: row.get(6)?,
        method: row.get(7)?,
        ip: row.get(8)?,
        user_agent: row.get(9)?,
    })
}

/// Ends every session, pending login and remembered browser of a user
/// (inside the caller's transaction).
pub(super) fn end_sessions_of(conn: &Connection, user: UserId) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM sessions WHERE user_id = ?1", [user])?;
    conn.execute("DELETE FROM pending_logins WHERE user_id = ?1", [user])?;
    conn.execute("DELETE FROM remembered_browsers WHERE user_id = ?1", [user])?;
    Ok(())
}

/// Deletes the user's row named `id` from `table` (sessions or remembered
/// browsers, both keyed by a handle); whether there was one.
pub(super) fn delete_by_handle(
    conn: &Connection,
    table: &'static str,
    user: UserId,
    id: &str,
) -> rusqlite::Result<bool> {
    conn.execute(
        &format!("DELETE FROM {table} WHERE user_id = ?1 AND id = ?2"),
        params![user, id],
    )
    .map(|removed| removed == 1)
}

/// Deletes every row of the user in `table` but the one whose token hash is
/// `keep`; how many went.
pub(super) fn delete_all_but(
    conn: &Connection,
    table: &'static str,
    user: UserId,
    keep: Option<TokenHash>,
) -> rusqlite::Result<u64> {
    conn.execute(
        &format!("DELETE FROM {table} WHERE user_id = ?1 AND token_hash IS NOT ?2"),
        params![user, keep],
    )
    .map(|removed| removed as u64)
}

/// Keeps the user's newest `keep_at_most` rows of `table` (by creation),
/// inside the caller's transaction.
pub(super) fn keep_newest(
    conn: &Connection,
    table: &'static str,
    user: UserId,
    keep_at_most: u32,
) -> rusqlite::Result<()> {
    conn.execute(
        &format!(
            "DELETE FROM {table} WHERE user_id = ?1 AND rowid NOT IN
                (SELECT rowid FROM {table} WHERE user_id = ?1
                  ORDER BY created_at DESC, rowid DESC LIMIT ?2)"
        ),
        params![user, keep_at_most],
    )
    .map(drop)
}

/// Inserts a session and ends the user's oldest ones beyond `keep_at_most`,
/// inside the caller's transaction.
pub(super) fn insert_session(
    conn: &Connection,
    session: &SessionRecord,
    keep_at_most: u32,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO sessions
            (token_hash, user_id, created_at, last_seen_at, expires_at, second_factor_at,
             id, method, ip, user_agent)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            session.token_hash,
            session.user_id,
            session.created_at,
            session.last_seen_at,
            session.expires_at,
            session.second_factor_at,
            session.id,
            session.method,
            session.ip,
            session.user_agent
        ],
    )?;
    keep_newest(conn, "sessions", session.user_id, keep_at_most)
}

fn insert_pending(conn: &Connection, pending: &PendingRecord) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO pending_logins
            (token_hash, user_id, enrolment_only, created_at, expires_at, failures)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            pending.token_hash,
            pending.user_id,
            pending.enrolment_only,
            pending.created_at,
            pending.expires_at,
            pending.failures
        ],
    )
    .map(drop)
}

/// Counts one wrong second factor on a pending login (inside the caller's
/// transaction); the failures so far (`u32::MAX` when it is gone).
pub(super) fn count_pending_failure(
    conn: &Connection,
    token_hash: TokenHash,
) -> rusqlite::Result<u32> {
    conn.prepare_cached(
        "UPDATE pending_logins SET failures = failures + 1 WHERE token_hash = ?1
         RETURNING failures",
    )?
    .query_row([token_hash], |row| row.get(0))
    .optional()
    .map(|failures| failures.unwrap_or(u32::MAX))
}

/// Ends a pending login; whether there was one.
pub(super) fn delete_pending(conn: &Connection, token_hash: TokenHash) -> rusqlite::Result<bool> {
    conn.prepare_cached("DELETE FROM pending_logins WHERE token_hash = ?1")?
        .execute([token_hash])
        .map(|removed| removed == 1)
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_pending(&self, pending: PendingRecord) -> StoreResult<()> {
        self.write(move |conn| insert_pending(conn, &pending)).await
    }

    async fn open_pending_login(
        &self,
        pending: PendingRecord,
        event: AuditRecord,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE users SET password_last_used_at = ?2 WHERE id = ?1",
                params![pending.user_id, pending.created_at],
            )?;
            insert_pending(tx, &pending)?;
            super::audit::append(tx, &event)?;
            Ok(())
        })
        .await
    }

    async fn pending(&self, token_hash: TokenHash) -> StoreResult<Option<PendingRecord>> {
        self.call(move |conn| {
            conn.query_row(
                "SELECT token_hash, user_id, enrolment_only, created_at, expires_at, failures
                   FROM pending_logins WHERE token_hash = ?1",
                [token_hash],
                pending_from_row,
            )
            .optional()
        })
        .await
    }

    async fn count_pending_failure(&self, token_hash: TokenHash) -> StoreResult<u32> {
        self.write(move |conn| count_pending_failure(conn, token_hash))
            .await
    }

    async fn delete_pending(&self, token_hash: TokenHash) -> StoreResult<()> {
        self.write(move |conn| delete_pending(conn, token_hash).map(drop))
            .await
    }

    async fn promote_pending(
        &self,
        pending: TokenHash,
        session: SessionRecord,
        keep_at_most: u32,
    ) -> StoreResult<bool> {
        self.write(move |tx| {
            if !delete_pending(tx, pending)? {
                return Ok(false);
            }
            insert_session(tx, &session, keep_at_most)?;
            Ok(true)
        })
        .await
    }

    async fn insert_session(&self, session: SessionRecord, keep_at_most: u32) -> StoreResult<()> {
        self.write(move |tx| insert_session(tx, &session, keep_at_most))
            .await
    }

    async fn sessions_of(&self, user: UserId) -> StoreResult<Vec<SessionRecord>> {
        self.call(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = ?1
                  ORDER BY created_at DESC, rowid DESC"
            ))?
            .query_map([user], session_from_row)?
            .collect()
        })
        .await
    }

    async fn delete_session_by_id(&self, user: UserId, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |conn| delete_by_handle(conn, "sessions", user, &id))
            .await
    }

    async fn delete_sessions_except(
        &self,
        user: UserId,
        keep: Option<TokenHash>,
    ) -> StoreResult<u64> {
        self.write(move |conn| delete_all_but(conn, "sessions", user, keep))
            .await
    }

    async fn session(&self, token_hash: TokenHash) -> StoreResult<Option<SessionRecord>> {
        self.call(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = ?1"
            ))?
            .query_row([token_hash], session_from_row)
            .optional()
        })
        .await
    }

    async fn session_with_user(
        &self,
        token_hash: TokenHash,
    ) -> StoreResult<Option<(SessionRecord, UserRecord)>> {
        // The hot path of `/api/v1/verify`: one indexed read, run in place.
        self.read_in_place(move |conn| {
            conn.prepare_cached(
                "SELECT s.token_hash, s.user_id, s.created_at, s.last_seen_at, s.expires_at,
                        s.second_factor_at, s.id, s.method, s.ip, s.user_agent,
                        u.id, u.username, u.password_hash, u.admin, u.disabled, u.created_at,
                        u.password_changed_at, u.password_last_used_at
                   FROM sessions s JOIN users u ON u.id = s.user_id
                  WHERE s.token_hash = ?1",
            )?
            .query_row([token_hash], |row| {
                Ok((
                    session_from_row(row)?,
                    user_from_row_at(row, SESSION_COLUMN_COUNT)?,
                ))
            })
            .optional()
        })
        .await
    }

    async fn touch_session(&self, token_hash: TokenHash, at: Timestamp) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE sessions SET last_seen_at = max(last_seen_at, ?2) WHERE token_hash = ?1",
                params![token_hash, at],
            )
            .map(drop)
        })
        .await
    }

    async fn delete_session(&self, token_hash: TokenHash) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])
                .map(drop)
        })
        .await
    }

    async fn delete_sessions_of(&self, user: UserId) -> StoreResult<()> {
        self.write(move |tx| end_sessions_of(tx, user)).await
    }

    async fn delete_expired(&self, now: Timestamp, idle_timeout_secs: i64) -> StoreResult<u64> {
        self.write(move |tx| {
            let sessions = tx.execute(
                "DELETE FROM sessions WHERE expires_at <= ?1 OR last_seen_at + ?2 <= ?1",
                params![now, idle_timeout_secs],
            )?;
            let pending = tx.execute("DELETE FROM pending_logins WHERE expires_at <= ?1", [now])?;
            let ceremonies = tx.execute(
                "DELETE FROM webauthn_ceremonies WHERE expires_at <= ?1",
                [now],
            )?;
            let remembered = tx.execute(
                "DELETE FROM remembered_browsers WHERE expires_at <= ?1",
                [now],
            )?;
            Ok((sessions + pending + ceremonies + remembered) as u64)
        })
        .await
    }

    async fn count_live_sessions(
        &self,
        now: Timestamp,
        idle_timeout_secs: i64,
    ) -> StoreResult<u64> {
        self.call(move |conn| {
            let live: i64 = conn.query_row(
                "SELECT COUNT(*) FROM sessions WHERE expires_at > ?1 AND last_seen_at + ?2 > ?1",
                params![now, idle_timeout_secs],
                |row| row.get(0),
            )?;
            Ok(live as u64)
        })
        .await
    }
}
