//! Security keys' storage: WebAuthn ceremonies in progress (single-use,
//! short-lived, kept in the database so any instance can finish what another
//! began) and writing back a key's credential only when its signature counter
//! grew. A key is added by `DeviceStore::confirm_factor`, once across all
//! accounts.

use async_trait::async_trait;

use super::{
    CeremonyPurpose, CeremonyRecord, PostgresStore, SecurityKeyStore, StoreResult, TokenHash,
    hash32,
};
use crate::model::Timestamp;

#[async_trait]
impl SecurityKeyStore for PostgresStore {
    async fn put_ceremony(&self, ceremony: CeremonyRecord, now: Timestamp) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "DELETE FROM webauthn_ceremonies WHERE expires_at <= $1",
            &[&now],
        )
        .await?;
        tx.execute(
            "INSERT INTO webauthn_ceremonies
                (owner_hash, purpose, user_id, device_name, state, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (owner_hash, purpose) DO UPDATE SET user_id = excluded.user_id,
                 device_name = excluded.device_name, state = excluded.state,
                 expires_at = excluded.expires_at",
            &[
                &&ceremony.owner_hash[..],
                &ceremony.purpose.as_str(),
                &ceremony.user_id,
                &ceremony.device_name,
                &ceremony.state,
                &ceremony.expires_at,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn take_ceremony(
        &self,
        owner_hash: TokenHash,
        purpose: CeremonyPurpose,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "DELETE FROM webauthn_ceremonies WHERE owner_hash = $1 AND purpose = $2
                 RETURNING owner_hash, purpose, user_id, device_name, state, expires_at",
                &[&&owner_hash[..], &purpose.as_str()],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let ceremony = CeremonyRecord {
            owner_hash: hash32(row.get(0))?,
            purpose: CeremonyPurpose::parse(row.get(1)),
            user_id: row.get(2),
            device_name: row.get(3),
            state: row.get(4),
            expires_at: row.get(5),
        };
        Ok(Some(ceremony).filter(|c| now < c.expires_at))
    }

    async fn record_security_key_use(
        &self,
        device_id: &str,
        credential: String,
        sign_count: u32,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE devices SET credential = $2, sign_count = $3, last_used_at = $4
                  WHERE id = $1 AND kind IN ('security_key', 'passkey')
                    AND (sign_count < $3 OR (sign_count = 0 AND $3 = 0))",
                &[&device_id, &credential, &i64::from(sign_count), &at],
            )
            .await?;
        Ok(changed == 1)
    }
}
