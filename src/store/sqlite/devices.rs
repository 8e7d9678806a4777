//! Second-factor devices: authenticator apps, hardware TOTP tokens, security
//! keys; and confirming one, the only way a device starts to count, under the
//! rules a user's factors obey (checked and written in one transaction).

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    DeviceKind, DeviceRecord, DeviceRemoval, DeviceStore, FactorConfirmation, FactorGate,
    NewFactor, SqliteStore, StoreResult, UserId,
};
use crate::model::Timestamp;

const DEVICE_COLUMNS: &str = "id, user_id, kind, name, confirmed, created_at, last_used_at, \
     totp_secret, totp_last_step, totp_offset_steps, hardware, credential, credential_id";

fn confirmed_count(conn: &Connection, user: UserId) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT count(*) FROM devices WHERE user_id = ?1 AND confirmed",
        params![user],
        |row| row.get(0),
    )
}

fn device_from_row(row: &Row<'_>) -> rusqlite::Result<DeviceRecord> {
    let kind: String = row.get(2)?;
    Ok(DeviceRecord {
        id: row.get(0)?,
        user_id: row.get(1)?,
        kind: DeviceKind::parse(&kind),
        name: row.get(3)?,
        confirmed: row.get(4)?,
        created_at: row.get(5)?,
        last_used_at: row.get(6)?,
        totp_secret: row.get(7)?,
        totp_last_step: row.get(8)?,
        totp_offset_steps: row.get(9)?,
        hardware: row.get(10)?,
        credential: row.get(11)?,
        credential_id: row.get(12)?,
    })
}

/// Records a TOTP step of a confirmed device as used if it is newer than the
/// last one accepted (inside the caller's transaction); whether it was.
pub(super) fn accept_totp_step(
    conn: &Connection,
    device_id: &str,
    step: i64,
    at: Timestamp,
    offset_steps: Option<i64>,
) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "UPDATE devices
            SET totp_last_step = ?2, last_used_at = ?3,
                totp_offset_steps = coalesce(?4, totp_offset_steps)
          WHERE id = ?1 AND confirmed
            AND (totp_last_step IS NULL OR totp_last_step < ?2)",
    )?
    .execute(params![device_id, step, at, offset_steps])
    .map(|changed| changed == 1)
}

#[async_trait]
impl DeviceStore for SqliteStore {
    async fn insert_device(&self, device: DeviceRecord) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute(
                &format!("INSERT INTO devices ({DEVICE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
                params![
                    device.id,
                    device.user_id,
                    device.kind.as_str(),
                    device.name,
                    false,
                    device.created_at,
                    device.last_used_at,
                    device.totp_secret,
                    device.totp_last_step,
                    device.totp_offset_steps,
                    device.hardware,
                    device.credential,
                    device.credential_id,
                ],
            )
            .map(drop)
        })
        .await
    }

    async fn devices_of(&self, user: UserId) -> StoreResult<Vec<DeviceRecord>> {
        self.call(move |conn| {
            let mut statement = conn.prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = ?1 ORDER BY created_at, rowid"
            ))?;
            let rows = statement.query_map([user], device_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn device_by_credential_id(
        &self,
        credential_id: Vec<u8>,
    ) -> StoreResult<Option<DeviceRecord>> {
        self.call(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices WHERE credential_id = ?1"
            ))?
            .query_row([credential_id], device_from_row)
            .optional()
        })
        .await
    }

    async fn confirm_factor(
        &self,
        user: UserId,
        factor: NewFactor,
        gate: FactorGate,
    ) -> StoreResult<FactorConfirmation> {
        // On the writer, whose transaction holds the write lock before the
        // first read, so the counts below cannot change before it commits.
        self.write(move |tx| {
            tx.execute_batch("SAVEPOINT confirm_factor")?;
            let outcome = confirm_factor_in(tx, user, &factor, &gate);
            // Anything but `Confirmed` writes nothing.
            let end = if matches!(outcome, Ok(FactorConfirmation::Confirmed)) {
                "RELEASE confirm_factor"
            } else {
                "ROLLBACK TO confirm_factor; RELEASE confirm_factor"
            };
            tx.execute_batch(end)?;
            outcome
        })
        .await
    }

    async fn accept_totp_step(
        &self,
        device_id: &str,
        step: i64,
        at: Timestamp,
        offset_steps: Option<i64>,
    ) -> StoreResult<bool> {
        let device_id = device_id.to_owned();
        self.write(move |conn| accept_totp_step(conn, &device_id, step, at, offset_steps))
            .await
    }

    async fn delete_device(&self, user: UserId, device_id: &str) -> StoreResult<DeviceRemoval> {
        let device_id = device_id.to_owned();
        // On the writer, whose transaction holds the write lock before the
        // count: two removals of a user's last two factors run one after
        // the other.
        self.write(move |tx| {
            let confirmed: Option<bool> = tx
                .query_row(
                    "SELECT confirmed FROM devices WHERE id = ?1 AND user_id = ?2",
                    params![device_id, user],
                    |row| row.get(0),
                )
                .optional()?;
            Ok(match confirmed {
                None => DeviceRemoval::NotFound,
                Some(true) if confirmed_count(tx, user)? <= 1 => DeviceRemoval::LastFactor,
                Some(_) => {
                    tx.execute(
                        "DELETE FROM devices WHERE id = ?1 AND user_id = ?2",
                        params![device_id, user],
                    )?;
                    DeviceRemoval::Removed
                }
            })
        })
        .await
    }

    async fn delete_unconfirmed_before(&self, user: UserId, before: Timestamp) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM devices WHERE user_id = ?1 AND NOT confirmed AND created_at < ?2",
                params![user, before],
            )
            .map(drop)
        })
        .await
    }

    async fn rename_device(&self, user: UserId, device_id: &str, name: &str) -> StoreResult<bool> {
        let (device_id, name) = (device_id.to_owned(), name.to_owned());
        self.write(move |conn| {
            conn.execute(
                "UPDATE devices SET name = ?3 WHERE id = ?1 AND user_id = ?2 AND confirmed",
                params![device_id, user, name],
            )
            .map(|n| n == 1)
        })
        .await
    }
}

/// The body of `confirm_factor`, inside its transaction: the gate first, then
/// the device. The caller commits only on `Confirmed`.
fn confirm_factor_in(
    conn: &Connection,
    user: UserId,
    factor: &NewFactor,
    gate: &FactorGate,
) -> rusqlite::Result<FactorConfirmation> {
    let confirmed = confirmed_count(conn, user)?;
    match gate {
        FactorGate::SignedIn { max_factors } => {
            if confirmed >= i64::from(*max_factors) {
                return Ok(FactorConfirmation::TooManyFactors);
            }
        }
        FactorGate::FirstLogin { pending, session } => {
            let ended = conn.execute(
                "DELETE FROM pending_logins
                  WHERE token_hash = ?1 AND user_id = ?2 AND enrolment_only
                    AND ?3 < expires_at",
                params![pending, user, session.created_at],
            )?;
            if ended != 1 || confirmed > 0 || session.user_id != user {
                return Ok(FactorConfirmation::NotFirstFactor);
            }
            // A user confirming a first factor holds no other session.
            super::sessions::insert_session(conn, session, u32::MAX)?;
        }
    }
    let written = match factor {
        NewFactor::Totp {
            device_id,
            step,
            offset_steps,
            at,
        } => {
            let changed = conn.execute(
                "UPDATE devices
                    SET confirmed = 1, totp_last_step = ?3, last_used_at = ?4,
                        totp_offset_steps = ?5
                  WHERE id = ?1 AND user_id = ?2 AND kind = 'totp' AND NOT confirmed
                    AND (totp_last_step IS NULL OR totp_last_step < ?3)",
                params![device_id, user, step, at, offset_steps],
            )?;
            changed == 1
        }
        NewFactor::SecurityKey(device) => {
            let inserted = conn.execute(
                "INSERT INTO devices
                    (id, user_id, kind, name, confirmed, created_at, last_used_at,
                     credential, credential_id, sign_count)
                 VALUES (?1, ?2, ?8, ?3, 1, ?4, ?5, ?6, ?7, 0)
                 ON CONFLICT DO NOTHING",
                params![
                    device.id,
                    user,
                    device.name,
                    device.created_at,
                    device.last_used_at,
                    device.credential,
                    device.credential_id,
                    device.kind.as_str(),
                ],
            )?;
            inserted == 1
        }
    };
    Ok(match (written, factor) {
        (true, _) => FactorConfirmation::Confirmed,
        (false, NewFactor::Totp { .. }) => FactorConfirmation::StepRefused,
        (false, NewFactor::SecurityKey(_)) => FactorConfirmation::KeyAlreadyRegistered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewUser, PendingRecord, SessionRecord, SessionStore, TokenHash, UserStore};

    const MAX: u32 = 8;

    async fn store_with_user(name: &str) -> (tempfile::TempDir, SqliteStore, UserId) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("twofold.db"), 8).unwrap();
        let user = add_user(&store, name).await;
        (dir, store, user)
    }

    async fn add_user(store: &SqliteStore, name: &str) -> UserId {
        let user = NewUser {
            username: name.into(),
            password_hash: "x".into(),
            admin: false,
            created_at: 0,
        };
        store.insert_user(user).await.unwrap().id
    }

    fn device(id: &str, user_id: UserId, kind: DeviceKind) -> DeviceRecord {
        DeviceRecord {
            id: id.into(),
            user_id,
            kind,
            name: id.into(),
            confirmed: false,
            created_at: 10,
            last_used_at: None,
            totp_secret: Some(vec![1; 20]),
            totp_last_step: None,
            totp_offset_steps: 0,
            hardware: false,
            credential: Some("{}".into()),
            credential_id: Some(id.as_bytes().to_vec()),
        }
    }

    /// Starts a TOTP enrolment; the factor that confirms it at step `step`.
    async fn enrol_totp(store: &SqliteStore, user: UserId, id: &str, step: i64) -> NewFactor {
        store
            .insert_device(device(id, user, DeviceKind::Totp))
            .await
            .unwrap();
        NewFactor::Totp {
            device_id: id.into(),
            step,
            offset_steps: 0,
            at: 100,
        }
    }

    async fn open_first_login(store: &SqliteStore, user: UserId) -> TokenHash {
        let token_hash = [user as u8; 32];
        store
            .insert_pending(PendingRecord {
                token_hash,
                user_id: user,
                enrolment_only: true,
                created_at: 90,
                expires_at: 400,
                failures: 0,
            })
            .await
            .unwrap();
        token_hash
    }

    fn first_login(pending: TokenHash, user: UserId, n: u8) -> FactorGate {
        let session = SessionRecord {
            id: format!("session-{n}"),
            token_hash: [200 + n; 32],
            user_id: user,
            created_at: 100,
            last_seen_at: 100,
            expires_at: 1000,
            second_factor_at: 100,
            method: "totp".into(),
            ip: None,
            user_agent: None,
        };
        FactorGate::FirstLogin { pending, session }
    }

    async fn confirmed_devices(store: &SqliteStore, user: UserId) -> usize {
        let devices = store.devices_of(user).await.unwrap();
        devices.iter().filter(|d| d.confirmed).count()
    }

    /// Runs every confirmation at once; their outcomes, in no order.
    async fn race(
        store: &SqliteStore,
        user: UserId,
        attempts: Vec<(NewFactor, FactorGate)>,
    ) -> Vec<FactorConfirmation> {
        let mut running = tokio::task::JoinSet::new();
        for (factor, gate) in attempts {
            let store = store.clone();
            running.spawn(async move { store.confirm_factor(user, factor, gate).await });
        }
        let mut outcomes = Vec::new();
        while let Some(outcome) = running.join_next().await {
            outcomes.push(outcome.unwrap().unwrap());
        }
        outcomes
    }

    fn count(outcomes: &[FactorConfirmation], wanted: FactorConfirmation) -> usize {
        outcomes.iter().filter(|o| **o == wanted).count()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_first_login_confirms_exactly_one_of_many_parallel_factors() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("twofold.db"), 8).unwrap();
        for round in 0..6 {
            let user = add_user(&store, &format!("user{round}")).await;
            let pending = open_first_login(&store, user).await;
            let mut attempts = Vec::new();
            for n in 0..7u8 {
                let factor = enrol_totp(&store, user, &format!("app{round}-{n}"), 5).await;
                attempts.push((factor, first_login(pending, user, n)));
            }
            let key = NewFactor::SecurityKey(device(
                &format!("key{round}"),
                user,
                DeviceKind::SecurityKey,
            ));
            attempts.push((key, first_login(pending, user, 7)));

            let outcomes = race(&store, user, attempts).await;
            assert_eq!(
                count(&outcomes, FactorConfirmation::Confirmed),
                1,
                "{outcomes:?}"
            );
            assert_eq!(count(&outcomes, FactorConfirmation::NotFirstFactor), 7);
            assert_eq!(confirmed_devices(&store, user).await, 1);
            assert!(store.pending(pending).await.unwrap().is_none());
            let mut sessions = 0;
            for n in 0..8 {
                sessions += usize::from(store.session([200 + n; 32]).await.unwrap().is_some());
            }
            assert_eq!(sessions, 1, "one session, of the confirmation that won");
            store.delete_sessions_of(user).await.unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_signed_in_user_never_ends_with_more_than_the_most_factors() {
        let (_dir, store, user) = store_with_user("alice").await;
        let signed_in = FactorGate::SignedIn { max_factors: MAX };
        for n in 0..7 {
            let factor = enrol_totp(&store, user, &format!("held{n}"), 5).await;
            let outcome = store.confirm_factor(user, factor, signed_in.clone());
            assert_eq!(outcome.await.unwrap(), FactorConfirmation::Confirmed);
        }
        for round in 0..5 {
            if round > 0 {
                // Back to 7: one more may be added again.
                let devices = store.devices_of(user).await.unwrap();
                let held = devices.iter().find(|d| d.confirmed).unwrap();
                assert_eq!(
                    store.delete_device(user, &held.id).await.unwrap(),
                    DeviceRemoval::Removed
                );
            }
            let mut attempts = Vec::new();
            for n in 0..5 {
                let factor = enrol_totp(&store, user, &format!("new{round}-{n}"), 5).await;
                attempts.push((factor, signed_in.clone()));
            }
            let outcomes = race(&store, user, attempts).await;
            assert_eq!(
                count(&outcomes, FactorConfirmation::Confirmed),
                1,
                "{outcomes:?}"
            );
            assert_eq!(count(&outcomes, FactorConfirmation::TooManyFactors), 4);
            assert_eq!(confirmed_devices(&store, user).await, MAX as usize);
        }
    }

    #[tokio::test]
    async fn a_refused_confirmation_writes_nothing() {
        let (_dir, store, user) = store_with_user("alice").await;
        let pending = open_first_login(&store, user).await;

        // Another user's enrolment, and a step no newer than the last one.
        let bob = add_user(&store, "bob").await;
        let bobs = enrol_totp(&store, bob, "bobs", 5).await;
        let outcome = store.confirm_factor(user, bobs, first_login(pending, user, 0));
        assert_eq!(outcome.await.unwrap(), FactorConfirmation::StepRefused);
        assert!(store.pending(pending).await.unwrap().is_some(), "kept");
        assert!(store.session([200; 32]).await.unwrap().is_none());
        assert_eq!(confirmed_devices(&store, bob).await, 0);

        // A first login can't confirm once the user holds a factor.
        let signed_in = FactorGate::SignedIn { max_factors: MAX };
        let first = enrol_totp(&store, user, "first", 5).await;
        let outcome = store.confirm_factor(user, first, signed_in.clone());
        assert_eq!(outcome.await.unwrap(), FactorConfirmation::Confirmed);
        let second = enrol_totp(&store, user, "second", 5).await;
        let outcome = store.confirm_factor(user, second, first_login(pending, user, 1));
        assert_eq!(outcome.await.unwrap(), FactorConfirmation::NotFirstFactor);
        let devices = store.devices_of(user).await.unwrap();
        let second = devices.iter().find(|d| d.id == "second").unwrap();
        assert!(!second.confirmed);
        assert_eq!(second.totp_last_step, None, "the step is not used up");
        assert!(store.pending(pending).await.unwrap().is_some(), "kept");
        assert!(store.session([201; 32]).await.unwrap().is_none());

        // The same step twice: the second is refused.
        let again = NewFactor::Totp {
            device_id: "first".into(),
            step: 5,
            offset_steps: 0,
            at: 100,
        };
        let outcome = store.confirm_factor(user, again, signed_in);
        assert_eq!(outcome.await.unwrap(), FactorConfirmation::StepRefused);
    }

    #[tokio::test]
    async fn an_expired_first_login_confirms_nothing() {
        let (_dir, store, user) = store_with_user("alice").await;
        let pending = open_first_login(&store, user).await;
        let factor = enrol_totp(&store, user, "app", 5).await;
        let FactorGate::FirstLogin { mut session, .. } = first_login(pending, user, 0) else {
            unreachable!()
        };
        session.created_at = 400;
        let gate = FactorGate::FirstLogin { pending, session };
        let outcome = store.confirm_factor(user, factor, gate);
        assert_eq!(outcome.await.unwrap(), FactorConfirmation::NotFirstFactor);
        assert_eq!(confirmed_devices(&store, user).await, 0);
    }

    #[tokio::test]
    async fn an_enrolment_is_inserted_unconfirmed() {
        let (_dir, store, user) = store_with_user("alice").await;
        let mut app = device("app", user, DeviceKind::Totp);
        app.confirmed = true;
        store.insert_device(app).await.unwrap();
        assert_eq!(confirmed_devices(&store, user).await, 0);
    }
}
