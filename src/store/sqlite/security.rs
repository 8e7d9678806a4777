//! Account security writes: a password change (which ends the user's other
//! sessions in the same transaction), a step-up that refreshes a session's
//! second-factor time under a new token, and the startup bootstrap of sealed
//! secrets.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{
    SealSeed, SealingBootstrap, SecurityStore, SqliteStore, StoreError, StoreResult, TokenHash,
    UserId,
};
use crate::model::Timestamp;

#[async_trait]
impl SecurityStore for SqliteStore {
    async fn change_password(
        &self,
        user: UserId,
        password_hash: String,
        at: Timestamp,
        keep: TokenHash,
    ) -> StoreResult<()> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
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
            tx.commit()
        })
        .await
    }

    async fn rotate_session(
        &self,
        session: TokenHash,
        new_token: TokenHash,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let moved = tx.execute(
                "UPDATE sessions SET token_hash = ?2,
                        second_factor_at = max(second_factor_at, ?3),
                        last_seen_at = max(last_seen_at, ?3)
                  WHERE token_hash = ?1",
                params![session, new_token, at],
            )?;
            tx.execute(
                "DELETE FROM webauthn_ceremonies WHERE owner_hash = ?1",
                [session],
            )?;
            tx.commit()?;
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
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(|e| StoreError::Unexpected(e.into()))?;
            adopt_key_now(&mut conn, canary, &seal)
        })
        .await
        .map_err(|e| StoreError::Unexpected(e.into()))?
    }
}

fn adopt_key_now(
    conn: &mut rusqlite::Connection,
    canary: Vec<u8>,
    seal: &SealSeed,
) -> StoreResult<bool> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unexpected)?;
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
    tx.commit().map_err(unexpected)?;
    Ok(true)
}

fn unexpected(error: rusqlite::Error) -> StoreError {
    StoreError::Unexpected(error.into())
}
