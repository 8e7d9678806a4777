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

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        token_hash: row.get(0)?,
        user_id: row.get(1)?,
        created_at: row.get(2)?,
        last_seen_at: row.get(3)?,
        expires_at: row.get(4)?,
        second_factor_at: row.get(5)?,
    })
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

pub(super) fn insert_session(conn: &Connection, session: &SessionRecord) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO sessions
            (token_hash, user_id, created_at, last_seen_at, expires_at, second_factor_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            session.token_hash,
            session.user_id,
            session.created_at,
            session.last_seen_at,
            session.expires_at,
            session.second_factor_at
        ],
    )
    .map(drop)
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
        self.write(move |conn| {
            conn.query_row(
                "UPDATE pending_logins SET failures = failures + 1 WHERE token_hash = ?1
                 RETURNING failures",
                [token_hash],
                |row| row.get(0),
            )
            .optional()
            .map(|failures| failures.unwrap_or(u32::MAX))
        })
        .await
    }

    async fn delete_pending(&self, token_hash: TokenHash) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM pending_logins WHERE token_hash = ?1",
                [token_hash],
            )
            .map(drop)
        })
        .await
    }

    async fn promote_pending(
        &self,
        pending: TokenHash,
        session: SessionRecord,
    ) -> StoreResult<bool> {
        self.write(move |tx| {
            let removed = tx.execute(
                "DELETE FROM pending_logins WHERE token_hash = ?1",
                [pending],
            )?;
            if removed != 1 {
                return Ok(false);
            }
            insert_session(tx, &session)?;
            Ok(true)
        })
        .await
    }

    async fn session(&self, token_hash: TokenHash) -> StoreResult<Option<SessionRecord>> {
        self.call(move |conn| {
            conn.prepare_cached(
                "SELECT token_hash, user_id, created_at, last_seen_at, expires_at, second_factor_at
                   FROM sessions WHERE token_hash = ?1",
            )?
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
                        s.second_factor_at,
                        u.id, u.username, u.password_hash, u.admin, u.disabled, u.created_at,
                        u.password_changed_at, u.password_last_used_at
                   FROM sessions s JOIN users u ON u.id = s.user_id
                  WHERE s.token_hash = ?1",
            )?
            .query_row([token_hash], |row| {
                Ok((session_from_row(row)?, user_from_row_at(row, 6)?))
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
        self.write(move |tx| {
            tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user])?;
            tx.execute("DELETE FROM pending_logins WHERE user_id = ?1", [user])?;
            Ok(())
        })
        .await
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
            Ok((sessions + pending + ceremonies) as u64)
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
