//! Security keys' storage: WebAuthn ceremonies in progress (single-use,
//! short-lived, kept on the server) and writing back a key's credential only
//! when its signature counter grew. A key is added by
//! `DeviceStore::confirm_factor`, once across all accounts.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{
    CeremonyPurpose, CeremonyRecord, SecurityKeyStore, SqliteStore, StoreResult, TokenHash,
};
use crate::model::Timestamp;

#[async_trait]
impl SecurityKeyStore for SqliteStore {
    async fn put_ceremony(&self, ceremony: CeremonyRecord, now: Timestamp) -> StoreResult<()> {
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM webauthn_ceremonies WHERE expires_at <= ?1",
                [now],
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO webauthn_ceremonies
                    (owner_hash, purpose, user_id, device_name, state, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    ceremony.owner_hash,
                    ceremony.purpose.as_str(),
                    ceremony.user_id,
                    ceremony.device_name,
                    ceremony.state,
                    ceremony.expires_at,
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn take_ceremony(
        &self,
        owner_hash: TokenHash,
        purpose: CeremonyPurpose,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>> {
        self.write(move |conn| {
            let taken = conn
                .query_row(
                    "DELETE FROM webauthn_ceremonies WHERE owner_hash = ?1 AND purpose = ?2
                     RETURNING owner_hash, purpose, user_id, device_name, state, expires_at",
                    params![owner_hash, purpose.as_str()],
                    |row| {
                        Ok(CeremonyRecord {
                            owner_hash: row.get(0)?,
                            purpose: CeremonyPurpose::parse(&row.get::<_, String>(1)?),
                            user_id: row.get(2)?,
                            device_name: row.get(3)?,
                            state: row.get(4)?,
                            expires_at: row.get(5)?,
                        })
                    },
                )
                .optional()?;
            Ok(taken.filter(|ceremony| now < ceremony.expires_at))
        })
        .await
    }

    async fn record_security_key_use(
        &self,
        device_id: &str,
        credential: String,
        sign_count: u32,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let device_id = device_id.to_owned();
        self.write(move |conn| {
            let changed = conn.execute(
                "UPDATE devices SET credential = ?2, sign_count = ?3, last_used_at = ?4
                  WHERE id = ?1 AND kind IN ('security_key', 'passkey')
                    AND (sign_count < ?3 OR (sign_count = 0 AND ?3 = 0))",
                params![device_id, credential, sign_count, at],
            )?;
            Ok(changed == 1)
        })
        .await
    }
}
