//! Throttle counters and known clients. Charging an attempt reads and writes
//! every counter it touches in one immediate transaction, so concurrent
//! requests (or instances sharing the database) can't overrun a limit.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{
    MAX_KNOWN_CLIENTS_PER_USER, SqliteStore, StoreResult, ThrottleStore, TokenHash, UserId,
};
use crate::model::Timestamp;
use crate::model::throttle::{Charge, Charged, Counter, plan_charges};

pub(super) fn counter(conn: &rusqlite::Connection, key: &str) -> rusqlite::Result<Option<Counter>> {
    conn.prepare_cached(
        "SELECT failures, window_start, locked_until FROM throttle_counters WHERE key = ?1",
    )?
    .query_row([key], |row| {
        Ok(Counter {
            failures: row.get(0)?,
            window_start: row.get(1)?,
            locked_until: row.get(2)?,
        })
    })
    .optional()
}

pub(super) fn save(
    conn: &rusqlite::Connection,
    key: &str,
    counter: &Counter,
    forget_at: Timestamp,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO throttle_counters (key, failures, window_start, locked_until, forget_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (key) DO UPDATE SET failures = ?2, window_start = ?3,
             locked_until = ?4, forget_at = ?5",
    )?
    .execute(params![
        key,
        counter.failures,
        counter.window_start,
        counter.locked_until,
        forget_at
    ])
    .map(drop)
}

/// Stores a known client and forgets the user's oldest beyond the bound
/// (inside the caller's transaction).
pub(super) fn insert_known_client(
    tx: &rusqlite::Connection,
    token_hash: TokenHash,
    user: UserId,
    now: Timestamp,
    expires_at: Timestamp,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO known_clients (token_hash, user_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![token_hash, user, now, expires_at],
    )?;
    // A script without a cookie jar signs in as a new client each
    // time: keep only the user's most recent ones.
    tx.execute(
        "DELETE FROM known_clients WHERE user_id = ?1 AND token_hash NOT IN
           (SELECT token_hash FROM known_clients WHERE user_id = ?1
             ORDER BY created_at DESC, rowid DESC LIMIT ?2)",
        params![user, MAX_KNOWN_CLIENTS_PER_USER],
    )?;
    Ok(())
}

/// Extends a live known client of `user`; false when there is none.
pub(super) fn extend_known_client(
    conn: &rusqlite::Connection,
    token_hash: TokenHash,
    user: UserId,
    now: Timestamp,
    expires_at: Timestamp,
) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "UPDATE known_clients SET expires_at = ?4
          WHERE token_hash = ?1 AND user_id = ?2 AND expires_at > ?3",
    )?
    .execute(params![token_hash, user, now, expires_at])
    .map(|n| n == 1)
}

#[async_trait]
impl ThrottleStore for SqliteStore {
    async fn charge_attempt(&self, charges: Vec<Charge>, now: Timestamp) -> StoreResult<Charged> {
        self.write(move |tx| {
            let stored = charges
                .iter()
                .map(|charge| counter(tx, &charge.key))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let planned = match plan_charges(charges, &stored, now) {
                Ok(planned) => planned,
                Err(locked) => return Ok(locked),
            };
            let mut charged = Vec::with_capacity(planned.len());
            for (charge, next) in planned {
                save(tx, &charge.key, &next, charge.rule.forget_at(&next))?;
                charged.push(charge);
            }
            Ok(Charged::Charged(charged))
        })
        .await
    }

    async fn refund_attempt(
        &self,
        charges: Vec<Charge>,
        charged_at: Timestamp,
        reset: Option<String>,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            for charge in &charges {
                if reset.as_deref() == Some(charge.key.as_str()) {
                    tx.execute(
                        "DELETE FROM throttle_counters WHERE key = ?1",
                        [&charge.key],
                    )?;
                    continue;
                }
                if let Some(stored) = counter(tx, &charge.key)? {
                    let next = charge.rule.refund(stored, charged_at, charge.set_lock);
                    save(tx, &charge.key, &next, charge.rule.forget_at(&next))?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn insert_known_client(
        &self,
        token_hash: TokenHash,
        user: UserId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        self.write(move |tx| insert_known_client(tx, token_hash, user, now, expires_at))
            .await
    }

    async fn is_known_client(
        &self,
        token_hash: TokenHash,
        user: UserId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.call(move |conn| {
            conn.query_row(
                "SELECT 1 FROM known_clients
                  WHERE token_hash = ?1 AND user_id = ?2 AND expires_at > ?3",
                params![token_hash, user, now],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
        })
        .await
    }

    async fn extend_known_client(
        &self,
        token_hash: TokenHash,
        user: UserId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<bool> {
        self.write(move |conn| extend_known_client(conn, token_hash, user, now, expires_at))
            .await
    }

    async fn delete_stale_throttle_state(&self, now: Timestamp) -> StoreResult<u64> {
        self.write(move |tx| {
            let counters =
                tx.execute("DELETE FROM throttle_counters WHERE forget_at <= ?1", [now])?;
            let clients = tx.execute("DELETE FROM known_clients WHERE expires_at <= ?1", [now])?;
            Ok((counters + clients) as u64)
        })
        .await
    }
}
