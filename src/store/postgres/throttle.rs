//! Throttle counters and known clients. Charging an attempt takes a
//! transaction-scoped advisory lock per counter key (in key order, so two
//! charges never deadlock) before reading and writing the counters, so
//! concurrent requests on any number of instances can't overrun a limit.

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Transaction};

use super::{
    MAX_KNOWN_CLIENTS_PER_USER, PostgresStore, StoreResult, ThrottleStore, TokenHash, UserId, count,
};
use crate::model::Timestamp;
use crate::model::throttle::{Charge, Charged, Counter, plan_charges};

/// Locks the counters of `charges` until the transaction ends.
pub(super) async fn lock_keys(
    tx: &Transaction<'_>,
    charges: &[Charge],
) -> Result<(), tokio_postgres::Error> {
    let mut keys: Vec<&str> = charges.iter().map(|c| c.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
            &[&key],
        )
        .await?;
    }
    Ok(())
}

pub(super) async fn counter(
    client: &impl GenericClient,
    key: &str,
) -> Result<Option<Counter>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT failures, window_start, locked_until FROM throttle_counters WHERE key = $1",
            &[&key],
        )
        .await?;
    Ok(row.map(|row| Counter {
        failures: count(row.get(0)),
        window_start: row.get(1),
        locked_until: row.get(2),
    }))
}

pub(super) async fn save(
    client: &impl GenericClient,
    key: &str,
    counter: &Counter,
    forget_at: Timestamp,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO throttle_counters (key, failures, window_start, locked_until, forget_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,
                 window_start = excluded.window_start, locked_until = excluded.locked_until,
                 forget_at = excluded.forget_at",
            &[
                &key,
                &i64::from(counter.failures),
                &counter.window_start,
                &counter.locked_until,
                &forget_at,
            ],
        )
        .await
        .map(drop)
}

/// Stores a known client and forgets the user's oldest beyond the bound
/// (inside the caller's transaction).
pub(super) async fn insert_known_client(
    client: &impl GenericClient,
    token_hash: TokenHash,
    user: UserId,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO known_clients (token_hash, user_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4)",
            &[&&token_hash[..], &user, &now, &expires_at],
        )
        .await?;
    // A script without a cookie jar signs in as a new client each time:
    // keep only the user's most recent ones.
    client
        .execute(
            "DELETE FROM known_clients WHERE user_id = $1 AND token_hash NOT IN
               (SELECT token_hash FROM known_clients WHERE user_id = $1
                 ORDER BY created_at DESC, seq DESC LIMIT $2)",
            &[&user, &MAX_KNOWN_CLIENTS_PER_USER],
        )
        .await
        .map(drop)
}

/// Extends a live known client of `user`; false when there is none.
pub(super) async fn extend_known_client(
    client: &impl GenericClient,
    token_hash: TokenHash,
    user: UserId,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<bool, tokio_postgres::Error> {
    client
        .execute(
            "UPDATE known_clients SET expires_at = $4
              WHERE token_hash = $1 AND user_id = $2 AND expires_at > $3",
            &[&&token_hash[..], &user, &now, &expires_at],
        )
        .await
        .map(|changed| changed == 1)
}

#[async_trait]
impl ThrottleStore for PostgresStore {
    async fn charge_attempt(&self, charges: Vec<Charge>, now: Timestamp) -> StoreResult<Charged> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_keys(&tx, &charges).await?;
        let mut stored = Vec::with_capacity(charges.len());
        for charge in &charges {
            stored.push(counter(&tx, &charge.key).await?);
        }
        let planned = match plan_charges(charges, &stored, now) {
            Ok(planned) => planned,
            Err(locked) => return Ok(locked),
        };
        let mut charged = Vec::with_capacity(planned.len());
        for (charge, next) in planned {
            save(&tx, &charge.key, &next, charge.rule.forget_at(&next)).await?;
            charged.push(charge);
        }
        tx.commit().await?;
        Ok(Charged::Charged(charged))
    }

    async fn refund_attempt(
        &self,
        charges: Vec<Charge>,
        charged_at: Timestamp,
        reset: Option<String>,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_keys(&tx, &charges).await?;
        for charge in &charges {
            if reset.as_deref() == Some(charge.key.as_str()) {
                tx.execute(
                    "DELETE FROM throttle_counters WHERE key = $1",
                    &[&charge.key],
                )
                .await?;
                continue;
            }
            if let Some(stored) = counter(&tx, &charge.key).await? {
                let next = charge.rule.refund(stored, charged_at, charge.set_lock);
                save(&tx, &charge.key, &next, charge.rule.forget_at(&next)).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn insert_known_client(
        &self,
        token_hash: TokenHash,
        user: UserId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        insert_known_client(&tx, token_hash, user, now, expires_at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn is_known_client(
        &self,
        token_hash: TokenHash,
        user: UserId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT 1 FROM known_clients
                  WHERE token_hash = $1 AND user_id = $2 AND expires_at > $3",
                &[&&token_hash[..], &user, &now],
            )
            .await?;
        Ok(row.is_some())
    }

    async fn extend_known_client(
        &self,
        token_hash: TokenHash,
        user: UserId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<bool> {
        let client = self.client().await?;
        Ok(extend_known_client(&client, token_hash, user, now, expires_at).await?)
    }

    async fn delete_stale_throttle_state(&self, now: Timestamp) -> StoreResult<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let counters = tx
            .execute(
                "DELETE FROM throttle_counters WHERE forget_at <= $1",
                &[&now],
            )
            .await?;
        let clients = tx
            .execute("DELETE FROM known_clients WHERE expires_at <= $1", &[&now])
            .await?;
        tx.commit().await?;
        Ok(counters + clients)
    }
}
