//! The audit trail: append, read newest first, and prune past its retention;
//! events a client causes without an account are bounded per address (a
//! budget per window, repeats counted on one row).

use async_trait::async_trait;
use rusqlite::params;

use super::throttle::{counter, save};
use super::{Appended, AuditRecord, AuditStore, EventBudget, SqliteStore, StoreResult};
use crate::model::Timestamp;
use crate::model::throttle::Counter;

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

/// The detail of a row that counts repeats.
fn counted_detail(base: &str, repeats: i64) -> String {
    format!("{base} count={repeats}")
}

/// Counts one more repeat on the row `merge_key` names; false when none.
fn merge(conn: &rusqlite::Connection, merge_key: &str, base: &str) -> rusqlite::Result<bool> {
    // The detail is rebuilt as `counted_detail` writes it.
    conn.prepare_cached(
        "UPDATE audit_events SET repeats = repeats + 1,
                detail = ?2 || ' count=' || (repeats + 1)
          WHERE merge_key = ?1",
    )?
    .execute(params![merge_key, base])
    .map(|n| n == 1)
}

/// Appends the first row of a merge key (a count of 1).
fn append_merged(
    conn: &rusqlite::Connection,
    event: &AuditRecord,
    merge_key: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit_events (at, username, event, ip, user_agent, detail, merge_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        event.at,
        event.username,
        event.event,
        event.ip,
        event.user_agent,
        counted_detail(&event.detail, 1),
        merge_key
    ])
    .map(drop)
}

/// Takes one event from the address's budget: whether it was left, and when
/// the current window started.
fn take_from_budget(
    conn: &rusqlite::Connection,
    budget: &EventBudget,
    now: Timestamp,
) -> rusqlite::Result<(bool, Timestamp)> {
    let live = counter(conn, &budget.key)?.filter(|c| now < c.window_start + budget.window_secs);
    let mut used = live.unwrap_or(Counter {
        failures: 0,
        window_start: now,
        locked_until: 0,
    });
    used.failures = used.failures.saturating_add(1);
    save(
        conn,
        &budget.key,
        &used,
        used.window_start + budget.window_secs,
    )?;
    Ok((used.failures <= budget.per_window, used.window_start))
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_event(&self, event: AuditRecord) -> StoreResult<()> {
        self.write(move |conn| append(conn, &event)).await
    }

    async fn append_bounded_event(
        &self,
        event: AuditRecord,
        merge_key: Option<String>,
        budget: EventBudget,
        summary: AuditRecord,
    ) -> StoreResult<Appended> {
        // On the writer, whose transaction holds the write lock before the
        // budget is read: parallel events can't overrun it.
        self.write(move |tx| {
            if let Some(key) = &merge_key
                && merge(tx, key, &event.detail)?
            {
                return Ok(Appended::Merged);
            }
            let (within, window_start) = take_from_budget(tx, &budget, event.at)?;
            let appended = if within {
                match &merge_key {
                    Some(key) => append_merged(tx, &event, key)?,
                    None => append(tx, &event)?,
                }
                Appended::Stored
            } else {
                let summary_key = format!("{}|{window_start}", budget.key);
                if merge(tx, &summary_key, &summary.detail)? {
                    Appended::Summarised { first: false }
                } else {
                    append_merged(tx, &summary, &summary_key)?;
                    Appended::Summarised { first: true }
                }
            };
            Ok(appended)
        })
        .await
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
        self.write(move |conn| {
            conn.execute("DELETE FROM audit_events WHERE at < ?1", [before])
                .map(|n| n as u64)
        })
        .await
    }
}
