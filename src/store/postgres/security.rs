//! Account security writes: a password change (which ends the user's other
//! sessions in the same transaction), a step-up that moves a session to a new
//! token, and the startup bootstrap of sealed secrets.

use async_trait::async_trait;

use super::{
    PostgresStore, Reseal, SealSeed, SealedItem, SealingBootstrap, SecurityStore, StoreResult,
    TokenHash, UserId,
};
use crate::model::Timestamp;
use crate::store::CountedEvent;

/// Held while a first key is adopted, so instances starting together on a
/// new database adopt one key: `'sealing'` as a number.
const ADOPTION_LOCK: i64 = 0x0073_6561_6c69_6e67;

#[async_trait]
impl SecurityStore for PostgresStore {
    async fn change_password(
        &self,
        user: UserId,
        password_hash: String,
        at: Timestamp,
        keep: TokenHash,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE id = $1",
            &[&user, &password_hash, &at],
        )
        .await?;
        tx.execute(
            "DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2",
            &[&user, &&keep[..]],
        )
        .await?;
        tx.execute("DELETE FROM pending_logins WHERE user_id = $1", &[&user])
            .await?;
        tx.execute(
            "DELETE FROM remembered_browsers WHERE user_id = $1",
            &[&user],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn rotate_session(
        &self,
        session: TokenHash,
        new_token: TokenHash,
        at: Timestamp,
        method: &str,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let moved = tx
            .execute(
                "UPDATE sessions SET token_hash = $2,
                        method = CASE WHEN $3 >= second_factor_at THEN $4 ELSE method END,
                        second_factor_at = greatest(second_factor_at, $3),
                        last_seen_at = greatest(last_seen_at, $3)
                  WHERE token_hash = $1",
                &[&&session[..], &&new_token[..], &at, &method],
            )
            .await?;
        tx.execute(
            "DELETE FROM webauthn_ceremonies WHERE owner_hash = $1",
            &[&&session[..]],
        )
        .await?;
        tx.commit().await?;
        Ok(moved == 1)
    }
}

#[async_trait]
impl SealingBootstrap for PostgresStore {
    async fn sealed_canary(&self) -> StoreResult<Option<Vec<u8>>> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT sealed FROM sealed_canary WHERE id = 1", &[])
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn holds_seeds(&self) -> StoreResult<bool> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM devices WHERE totp_secret IS NOT NULL)",
                &[],
            )
            .await?;
        Ok(row.get(0))
    }

    async fn adopt_key(&self, canary: Vec<u8>, seal: SealSeed) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ADOPTION_LOCK])
            .await?;
        let adopted: bool = tx
            .query_one("SELECT EXISTS (SELECT 1 FROM sealed_canary)", &[])
            .await?
            .get(0);
        if adopted {
            return Ok(false);
        }
        let plain = tx
            .query(
                "SELECT id, totp_secret FROM devices WHERE totp_secret IS NOT NULL FOR UPDATE",
                &[],
            )
            .await?;
        for row in plain {
            let (id, seed): (String, Vec<u8>) = (row.get(0), row.get(1));
            let sealed = seal(&id, &seed)?;
            tx.execute(
                "UPDATE devices SET totp_secret = $2 WHERE id = $1",
                &[&id, &sealed],
            )
            .await?;
        }
        tx.execute(
            "INSERT INTO sealed_canary (id, sealed) VALUES (1, $1)",
            &[&canary],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn sealed_recovery_key(&self) -> StoreResult<Option<Vec<u8>>> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT sealed FROM sealed_recovery_key WHERE id = 1", &[])
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn reseal_all(&self, reseal: Reseal, event: Option<CountedEvent>) -> StoreResult<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The canary row locked first: a second rotation (or a start's
        // re-seal) waits for this one and then reads what it wrote.
        let canary: Vec<u8> = tx
            .query_one(
                "SELECT sealed FROM sealed_canary WHERE id = 1 FOR UPDATE",
                &[],
            )
            .await?
            .get(0);
        let canary = reseal(SealedItem::Canary, Some(&canary))?;
        tx.execute(
            "UPDATE sealed_canary SET sealed = $1 WHERE id = 1",
            &[&canary],
        )
        .await?;
        let seeds = tx
            .query(
                "SELECT id, totp_secret FROM devices WHERE totp_secret IS NOT NULL FOR UPDATE",
                &[],
            )
            .await?;
        let keys = tx
            .query("SELECT kid, sealed FROM oidc_signing_keys FOR UPDATE", &[])
            .await?;
        let resealed = 2 + seeds.len() as u64 + keys.len() as u64;
        for row in keys {
            let (kid, key): (String, Vec<u8>) = (row.get(0), row.get(1));
            let sealed = reseal(SealedItem::SigningKey { kid: &kid }, Some(&key))?;
            tx.execute(
                "UPDATE oidc_signing_keys SET sealed = $2 WHERE kid = $1",
                &[&kid, &sealed],
            )
            .await?;
        }
        for row in seeds {
            let (id, seed): (String, Vec<u8>) = (row.get(0), row.get(1));
            let sealed = reseal(SealedItem::Seed { device_id: &id }, Some(&seed))?;
            tx.execute(
                "UPDATE devices SET totp_secret = $2 WHERE id = $1",
                &[&id, &sealed],
            )
            .await?;
        }
        let recovery: Option<Vec<u8>> = tx
            .query_opt(
                "SELECT sealed FROM sealed_recovery_key WHERE id = 1 FOR UPDATE",
                &[],
            )
            .await?
            .map(|row| row.get(0));
        let recovery = reseal(SealedItem::RecoveryKey, recovery.as_deref())?;
        tx.execute(
            "INSERT INTO sealed_recovery_key (id, sealed) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed",
            &[&recovery],
        )
        .await?;
        if let Some(event) = event {
            super::audit::append(&tx, &event(resealed)).await?;
        }
        tx.commit().await?;
        Ok(resealed)
    }
}
