//! Account security writes: a password change (which ends the user's other
//! sessions in the same transaction), a step-up that refreshes a session's
//! second-factor time under a new token, and the startup bootstrap of sealed
//! secrets.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{
    Reseal, SealSeed, SealedItem, SealingBootstrap, SecurityStore, SqliteStore, StoreError,
    StoreResult, TokenHash, UserId,
};
use crate::model::Timestamp;
use crate::store::CountedEvent;

#[async_trait]
impl SecurityStore for SqliteStore {
    async fn change_password(
        &self,
        user: UserId,
        password_hash: String,
        at: Timestamp,
        keep: TokenHash,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE users SET password_hash = ?2, password_changed_at = ?3 WHERE id = ?1",
                params![user, password_hash, at],
            )?;
            tx.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND token_hash <> ?2",
                params![user, keep],
            )?;
            tx.execute("DELETE FROM pending_logins WHERE user_id = ?1", [user])?;
            tx.execute("DELETE FROM remembered_browsers WHERE user_id = ?1", [user])?;
            Ok(())
        })
        .await
    }

    async fn rotate_session(
        &self,
        session: TokenHash,
        new_token: TokenHash,
        at: Timestamp,
        method: &str,
    ) -> StoreResult<bool> {
        let method = method.to_owned();
        self.write(move |tx| {
            let moved = tx.execute(
                "UPDATE sessions SET token_hash = ?2,
                        method = CASE WHEN ?3 >= second_factor_at THEN ?4 ELSE method END,
                        second_factor_at = max(second_factor_at, ?3),
                        last_seen_at = max(last_seen_at, ?3)
                  WHERE token_hash = ?1",
                params![session, new_token, at, method],
            )?;
            tx.execute(
                "DELETE FROM webauthn_ceremonies WHERE owner_hash = ?1",
                [session],
            )?;
            Ok(moved == 1)
        })
        .await
    }
}

#[async_trait]
impl SealingBootstrap for SqliteStore {
    async fn sealed_canary(&self) -> StoreResult<Option<Vec<u8>>> {
        self.call(|conn| {
            conn.query_row("SELECT sealed FROM sealed_canary WHERE id = 1", [], |row| {
                row.get(0)
            })
            .optional()
        })
        .await
    }

    async fn holds_seeds(&self) -> StoreResult<bool> {
        self.call(|conn| {
            conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM devices WHERE totp_secret IS NOT NULL)",
                [],
                |row| row.get(0),
            )
        })
        .await
    }

    async fn adopt_key(&self, canary: Vec<u8>, seal: SealSeed) -> StoreResult<bool> {
        self.write_checked(move |tx| adopt_key_now(tx, canary, &seal))
            .await
    }

    async fn sealed_recovery_key(&self) -> StoreResult<Option<Vec<u8>>> {
        self.call(|conn| {
            conn.query_row(
                "SELECT sealed FROM sealed_recovery_key WHERE id = 1",
                [],
                |row| row.get(0),
            )
            .optional()
        })
        .await
    }

    async fn reseal_all(&self, reseal: Reseal, event: Option<CountedEvent>) -> StoreResult<u64> {
        self.write_checked(move |tx| {
            let resealed = reseal_all_now(tx, &reseal)?;
            if let Some(event) = event {
                super::audit::append(tx, &event(resealed)).map_err(unexpected)?;
            }
            Ok(resealed)
        })
        .await
    }
}

fn reseal_all_now(tx: &rusqlite::Connection, reseal: &Reseal) -> StoreResult<u64> {
    let canary: Vec<u8> = tx
        .query_row("SELECT sealed FROM sealed_canary WHERE id = 1", [], |row| {
            row.get(0)
        })
        .map_err(unexpected)?;
    let canary = reseal(SealedItem::Canary, Some(&canary))?;
    tx.execute(
        "UPDATE sealed_canary SET sealed = ?1 WHERE id = 1",
        [canary],
    )
    .map_err(unexpected)?;
    let seeds: Vec<(String, Vec<u8>)> = tx
        .prepare("SELECT id, totp_secret FROM devices WHERE totp_secret IS NOT NULL")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .map_err(unexpected)?;
    let keys: Vec<(String, Vec<u8>)> = tx
        .prepare("SELECT kid, sealed FROM oidc_signing_keys")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .map_err(unexpected)?;
    let resealed = 2 + seeds.len() as u64 + keys.len() as u64;
    for (kid, key) in keys {
        let sealed = reseal(SealedItem::SigningKey { kid: &kid }, Some(&key))?;
        tx.execute(
            "UPDATE oidc_signing_keys SET sealed = ?2 WHERE kid = ?1",
            params![kid, sealed],
        )
        .map_err(unexpected)?;
    }
    for (id, seed) in seeds {
        let sealed = reseal(SealedItem::Seed { device_id: &id }, Some(&seed))?;
        tx.execute(
            "UPDATE devices SET totp_secret = ?2 WHERE id = ?1",
            params![id, sealed],
        )
        .map_err(unexpected)?;
    }
    let recovery: Option<Vec<u8>> = tx
        .query_row(
            "SELECT sealed FROM sealed_recovery_key WHERE id = 1",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(unexpected)?;
    let recovery = reseal(SealedItem::RecoveryKey, recovery.as_deref())?;
    tx.execute(
        "INSERT INTO sealed_recovery_key (id, sealed) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed",
        [recovery],
    )
    .map_err(unexpected)?;
    Ok(resealed)
}

fn adopt_key_now(tx: &rusqlite::Connection, canary: Vec<u8>, seal: &SealSeed) -> StoreResult<bool> {
    let adopted: bool = tx
        .query_row("SELECT EXISTS (SELECT 1 FROM sealed_canary)", [], |row| {
            row.get(0)
        })
        .map_err(unexpected)?;
    if adopted {
        return Ok(false);
    }
    let plain: Vec<(String, Vec<u8>)> = tx
        .prepare("SELECT id, totp_secret FROM devices WHERE totp_secret IS NOT NULL")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .map_err(unexpected)?;
    for (id, seed) in plain {
        let sealed = seal(&id, &seed)?;
        tx.execute(
            "UPDATE devices SET totp_secret = ?2 WHERE id = ?1",
            params![id, sealed],
        )
        .map_err(unexpected)?;
    }
    tx.execute(
        "INSERT INTO sealed_canary (id, sealed) VALUES (1, ?1)",
        [canary],
    )
    .map_err(unexpected)?;
    Ok(true)
}

fn unexpected(error: rusqlite::Error) -> StoreError {
    StoreError::Unexpected(error.into())
}
