//! Security keys' storage: WebAuthn ceremonies in progress (single-use,
//! short-lived, kept in the database so any instance can finish what another
//! began), registering a key once across all accounts, and writing back a
//! key's credential only when its signature counter grew.

use async_trait::async_trait;

use super::{
    CeremonyPurpose, CeremonyRecord, DeviceKind, DeviceRecord, PostgresStore, SecurityKeyStore,
    StoreResult, TokenHash, hash32,
};
use crate::model::Timestamp;

fn purpose_from(text: &str) -> CeremonyPurpose {
    if text == "registration" {
        CeremonyPurpose::Registration
    } else {
        CeremonyPurpose::Authentication
    }
}

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
            purpose: purpose_from(row.get(1)),
            user_id: row.get(2),
            device_name: row.get(3),
            state: row.get(4),
            expires_at: row.get(5),
        };
        Ok(Some(ceremony).filter(|c| now < c.expires_at))
    }

    async fn insert_security_key(&self, device: DeviceRecord) -> StoreResult<bool> {
        let client = self.client().await?;
        let inserted = client
            .execute(
                "INSERT INTO devices
                    (id, user_id, kind, name, confirmed, created_at, last_used_at,
                     credential, credential_id, sign_count)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0)
                 ON CONFLICT DO NOTHING",
                &[
                    &device.id,
                    &device.user_id,
                    &DeviceKind::SecurityKey.as_str(),
                    &device.name,
                    &device.confirmed,
                    &device.created_at,
                    &device.last_used_at,
                    &device.credential,
                    &device.credential_id,
                ],
            )
            .await?;
        Ok(inserted == 1)
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
                  WHERE id = $1 AND kind = 'security_key'
                    AND (sign_count < $3 OR (sign_count = 0 AND $3 = 0))",
                &[&device_id, &credential, &i64::from(sign_count), &at],
            )
            .await?;
        Ok(changed == 1)
    }
}
