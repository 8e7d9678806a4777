//! The audit trail: append, read newest first, and prune past its retention.

use async_trait::async_trait;
use rusqlite::params;

use super::{AuditRecord, AuditStore, SqliteStore, StoreResult};
use crate::model::Timestamp;

/// Appends one event (also used inside other writes' transactions).
pub(super) fn append(conn: &rusqlite::Connection, event: &AuditRecord) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO audit_events (at, username, event, ip, user_agent, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            event.at,
            event.username,
            event.event,
            event.ip,
            event.user_agent,
            event.detail
        ],
    )
    .map(drop)
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_event(&self, event: AuditRecord) -> StoreResult<()> {
        self.call(move |conn| append(conn, &event)).await
    }

    async fn events(&self, username: Option<&str>, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        let username = username.map(str::to_owned);
        self.call(move |conn| {
            let mut statement = conn.prepare(
                "SELECT at, username, event, ip, user_agent, detail FROM audit_events
                  WHERE ?1 IS NULL OR username = ?1 COLLATE NOCASE
                  ORDER BY at DESC, id DESC LIMIT ?2",
            )?;
            let rows = statement.query_map(params![username, limit], |row| {
                Ok(AuditRecord {
                    at: row.get(0)?,
                    username: row.get(1)?,
                    event: row.get(2)?,
                    ip: row.get(3)?,
                    user_agent: row.get(4)?,
                    detail: row.get(5)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn delete_events_before(&self, before: Timestamp) -> StoreResult<u64> {
        self.call(move |conn| {
            conn.execute("DELETE FROM audit_events WHERE at < ?1", [before])
                .map(|n| n as u64)
        })
        .await
    }
}
