//! Security keys' storage: WebAuthn ceremonies in progress (single-use,
//! short-lived, kept on the server) and writing back a key's credential only
//! when its signature counter grew. A key is added by
//! `DeviceStore::confirm_factor`, once across all accounts.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{
    CeremonyPurpose, CeremonyRecord, DeviceKind, DeviceRecord, SecurityKeyStore, SqliteStore,
    StoreResult, TokenHash,
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
impl SecurityKeyStore for SqliteStore {
    async fn put_ceremony(&self, ceremony: CeremonyRecord, now: Timestamp) -> StoreResult<()> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
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
            tx.commit()
        })
        .await
    }

    async fn take_ceremony(
        &self,
        owner_hash: TokenHash,
        purpose: CeremonyPurpose,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>> {
        self.call(move |conn| {
            let taken = conn
                .query_row(
                    "DELETE FROM webauthn_ceremonies WHERE owner_hash = ?1 AND purpose = ?2
                     RETURNING owner_hash, purpose, user_id, device_name, state, expires_at",
                    params![owner_hash, purpose.as_str()],
                    |row| {
                        Ok(CeremonyRecord {
                            owner_hash: row.get(0)?,
                            purpose: purpose_from(&row.get::<_, String>(1)?),
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
        self.call(move |conn| {
            let changed = conn.execute(
                "UPDATE devices SET credential = ?2, sign_count = ?3, last_used_at = ?4
                  WHERE id = ?1 AND kind = 'security_key'
                    AND (sign_count < ?3 OR (sign_count = 0 AND ?3 = 0))",
                params![device_id, credential, sign_count, at],
            )?;
            Ok(changed == 1)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{
        DeviceKind, DeviceRecord, DeviceStore, FactorConfirmation, FactorGate, NewFactor, NewUser,
        UserId, UserStore,
    };

    /// Adds a key the only way there is: a guarded confirmation.
    async fn add_key(store: &SqliteStore, key: DeviceRecord) -> bool {
        let user = key.user_id;
        let gate = FactorGate::SignedIn { max_factors: 8 };
        let outcome = store
            .confirm_factor(user, NewFactor::SecurityKey(key), gate)
            .await
            .unwrap();
        outcome == FactorConfirmation::Confirmed
    }

    async fn store_with_user() -> (tempfile::TempDir, SqliteStore, UserId) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("twofold.db"), 4).unwrap();
        let user = store
            .insert_user(NewUser {
                username: "alice".into(),
                password_hash: "x".into(),
                admin: false,
                created_at: 0,
            })
            .await
            .unwrap();
        (dir, store, user.id)
    }

    fn key(id: &str, user_id: UserId, credential_id: &[u8]) -> DeviceRecord {
        DeviceRecord {
            id: id.into(),
            user_id,
            kind: DeviceKind::SecurityKey,
            name: "key".into(),
            confirmed: true,
            created_at: 10,
            last_used_at: None,
            totp_secret: None,
            totp_last_step: None,
            totp_offset_steps: 0,
            hardware: false,
            credential: Some("{}".into()),
            credential_id: Some(credential_id.to_vec()),
        }
    }

    fn ceremony(owner: u8, user_id: UserId, expires_at: Timestamp) -> CeremonyRecord {
        CeremonyRecord {
            owner_hash: [owner; 32],
            purpose: CeremonyPurpose::Authentication,
            user_id,
            device_name: None,
            state: "{\"challenge\":1}".into(),
            expires_at,
        }
    }

    #[tokio::test]
    async fn a_ceremony_is_taken_once() {
        let (_dir, store, user) = store_with_user().await;
        store
            .put_ceremony(ceremony(1, user, 400), 100)
            .await
            .unwrap();
        let owner = [1; 32];
        let purpose = CeremonyPurpose::Authentication;
        let taken = store.take_ceremony(owner, purpose, 101).await.unwrap();
        assert_eq!(taken.unwrap().state, "{\"challenge\":1}");
        assert!(
            store
                .take_ceremony(owner, purpose, 102)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn the_housekeeping_sweep_removes_expired_ceremonies_only() {
        use crate::store::SessionStore;
        let (_dir, store, user) = store_with_user().await;
        store
            .put_ceremony(ceremony(1, user, 400), 100)
            .await
            .unwrap();
        store
            .put_ceremony(ceremony(2, user, 900), 100)
            .await
            .unwrap();
        assert_eq!(store.delete_expired(500, 1800).await.unwrap(), 1);
        let purpose = CeremonyPurpose::Authentication;
        assert!(
            store
                .take_ceremony([2; 32], purpose, 501)
                .await
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test]
    async fn an_expired_ceremony_is_not_returned_and_a_new_one_replaces_the_old() {
        let (_dir, store, user) = store_with_user().await;
        let (owner, purpose) = ([1; 32], CeremonyPurpose::Authentication);
        store
            .put_ceremony(ceremony(1, user, 400), 100)
            .await
            .unwrap();
        assert!(
            store
                .take_ceremony(owner, purpose, 400)
                .await
                .unwrap()
                .is_none()
        );

        store
            .put_ceremony(ceremony(1, user, 400), 100)
            .await
            .unwrap();
        let mut newer = ceremony(1, user, 500);
        newer.state = "{\"challenge\":2}".into();
        store.put_ceremony(newer, 200).await.unwrap();
        let taken = store.take_ceremony(owner, purpose, 201).await.unwrap();
        assert_eq!(taken.unwrap().state, "{\"challenge\":2}");
    }

    #[tokio::test]
    async fn a_credential_id_is_registered_once_across_accounts() {
        let (_dir, store, alice) = store_with_user().await;
        let bob = store
            .insert_user(NewUser {
                username: "bob".into(),
                password_hash: "x".into(),
                admin: false,
                created_at: 0,
            })
            .await
            .unwrap()
            .id;
        assert!(add_key(&store, key("a", alice, b"cred")).await);
        assert!(!add_key(&store, key("b", alice, b"cred")).await);
        assert!(!add_key(&store, key("c", bob, b"cred")).await);
        assert!(add_key(&store, key("d", bob, b"other")).await);
        assert_eq!(store.devices_of(bob).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_key_use_is_recorded_only_when_its_counter_grows() {
        let (_dir, store, user) = store_with_user().await;
        add_key(&store, key("k", user, b"cred")).await;
        assert!(
            store
                .record_security_key_use("k", "{\"n\":5}".into(), 5, 20)
                .await
                .unwrap()
        );
        assert!(
            !store
                .record_security_key_use("k", "{\"n\":5}".into(), 5, 21)
                .await
                .unwrap()
        );
        assert!(
            !store
                .record_security_key_use("k", "{\"n\":4}".into(), 4, 22)
                .await
                .unwrap()
        );
        assert!(
            !store
                .record_security_key_use("k", "{\"n\":0}".into(), 0, 23)
                .await
                .unwrap()
        );
        let device = store.devices_of(user).await.unwrap().remove(0);
        assert_eq!(device.credential.as_deref(), Some("{\"n\":5}"));
        assert_eq!(device.last_used_at, Some(20));
    }

    #[tokio::test]
    async fn a_key_without_a_counter_stays_usable() {
        let (_dir, store, user) = store_with_user().await;
        add_key(&store, key("k", user, b"cred")).await;
        assert!(
            store
                .record_security_key_use("k", "{}".into(), 0, 20)
                .await
                .unwrap()
        );
        assert!(
            store
                .record_security_key_use("k", "{}".into(), 0, 21)
                .await
                .unwrap()
        );
    }
}
