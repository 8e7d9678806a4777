//! Second-factor devices: authenticator apps, hardware TOTP tokens, security
//! keys; and confirming one, the only way a device starts to count, under the
//! rules a user's factors obey (checked and written in one transaction that
//! holds the user's row lock, so confirmations on any instance take turns).

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;

use super::{
    DeviceKind, DeviceRecord, DeviceRemoval, DeviceStore, FactorConfirmation, FactorGate,
    NewFactor, PostgresStore, StoreResult, UserId,
};
use crate::model::Timestamp;

pub(super) const DEVICE_COLUMNS: &str = "id, user_id, kind, name, confirmed, created_at, \
     last_used_at, totp_secret, totp_last_step, totp_offset_steps, hardware, credential, \
     credential_id";

fn device_from_row(row: &Row) -> DeviceRecord {
    let kind: &str = row.get(2);
    DeviceRecord {
        id: row.get(0),
        user_id: row.get(1),
        kind: DeviceKind::parse(kind),
        name: row.get(3),
        confirmed: row.get(4),
        created_at: row.get(5),
        last_used_at: row.get(6),
        totp_secret: row.get(7),
        totp_last_step: row.get(8),
        totp_offset_steps: row.get(9),
        hardware: row.get(10),
        credential: row.get(11),
        credential_id: row.get(12),
    }
}

/// Records a TOTP step of a confirmed device as used if it is newer than the
/// last one accepted; whether it was. One statement: a concurrent update of
/// the row waits for this one and then re-checks the step, so a step is
/// accepted once.
pub(super) async fn accept_totp_step(
    client: &impl GenericClient,
    device_id: &str,
    step: i64,
    at: Timestamp,
    offset_steps: Option<i64>,
) -> Result<bool, tokio_postgres::Error> {
    client
        .execute(
            "UPDATE devices
                SET totp_last_step = $2, last_used_at = $3,
                    totp_offset_steps = coalesce($4, totp_offset_steps)
              WHERE id = $1 AND confirmed
                AND (totp_last_step IS NULL OR totp_last_step < $2)",
            &[&device_id, &step, &at, &offset_steps],
        )
        .await
        .map(|changed| changed == 1)
}

#[async_trait]
impl DeviceStore for PostgresStore {
    async fn insert_device(&self, device: DeviceRecord) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                &format!(
                    "INSERT INTO devices ({DEVICE_COLUMNS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                ),
                &[
                    &device.id,
                    &device.user_id,
                    &device.kind.as_str(),
                    &device.name,
                    &false,
                    &device.created_at,
                    &device.last_used_at,
                    &device.totp_secret,
                    &device.totp_last_step,
                    &device.totp_offset_steps,
                    &device.hardware,
                    &device.credential,
                    &device.credential_id,
                ],
            )
            .await?;
        Ok(())
    }

    async fn devices_of(&self, user: UserId) -> StoreResult<Vec<DeviceRecord>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = $1 ORDER BY created_at, seq"
            ))
            .await?;
        let rows = client.query(&statement, &[&user]).await?;
        Ok(rows.iter().map(device_from_row).collect())
    }

    async fn device_by_credential_id(
        &self,
        credential_id: Vec<u8>,
    ) -> StoreResult<Option<DeviceRecord>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE credential_id = $1"),
                &[&credential_id],
            )
            .await?;
        Ok(row.as_ref().map(device_from_row))
    }

    async fn accept_totp_step(
        &self,
        device_id: &str,
        step: i64,
        at: Timestamp,
        offset_steps: Option<i64>,
    ) -> StoreResult<bool> {
        let client = self.client().await?;
        Ok(accept_totp_step(&client, device_id, step, at, offset_steps).await?)
    }

    async fn confirm_factor(
        &self,
        user: UserId,
        factor: NewFactor,
        gate: FactorGate,
    ) -> StoreResult<FactorConfirmation> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The user's row lock serialises every confirmation of this user,
        // whichever instance runs it: the counts below can't change until
        // this transaction ends.
        let exists = tx
            .query_opt("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", &[&user])
            .await?;
        let outcome = match exists {
            Some(_) => confirm_factor_in(&tx, user, &factor, &gate).await?,
            None => match factor {
                NewFactor::Totp { .. } => FactorConfirmation::StepRefused,
                NewFactor::SecurityKey(_) => FactorConfirmation::KeyAlreadyRegistered,
            },
        };
        if outcome == FactorConfirmation::Confirmed {
            tx.commit().await?;
        }
        // Dropping an uncommitted transaction rolls it back.
        Ok(outcome)
    }

    async fn delete_device(&self, user: UserId, device_id: &str) -> StoreResult<DeviceRemoval> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The user's row is locked first, as confirm_factor does: two
        // removals of a user's last two factors run one after the other.
        tx.query_opt("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", &[&user])
            .await?;
        let confirmed: Option<bool> = tx
            .query_opt(
                "SELECT confirmed FROM devices WHERE id = $1 AND user_id = $2",
                &[&device_id, &user],
            )
            .await?
            .map(|row| row.get(0));
        let outcome = match confirmed {
            None => DeviceRemoval::NotFound,
            Some(true) => {
                let others: i64 = tx
                    .query_one(
                        "SELECT count(*) FROM devices WHERE user_id = $1 AND confirmed",
                        &[&user],
                    )
                    .await?
                    .get(0);
                if others <= 1 {
                    DeviceRemoval::LastFactor
                } else {
                    DeviceRemoval::Removed
                }
            }
            Some(false) => DeviceRemoval::Removed,
        };
        if outcome == DeviceRemoval::Removed {
            tx.execute(
                "DELETE FROM devices WHERE id = $1 AND user_id = $2",
                &[&device_id, &user],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    async fn delete_unconfirmed_before(&self, user: UserId, before: Timestamp) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM devices WHERE user_id = $1 AND NOT confirmed AND created_at < $2",
                &[&user, &before],
            )
            .await?;
        Ok(())
    }

    async fn rename_device(&self, user: UserId, device_id: &str, name: &str) -> StoreResult<bool> {
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE devices SET name = $3 WHERE id = $1 AND user_id = $2 AND confirmed",
                &[&device_id, &user, &name],
            )
            .await?;
        Ok(changed == 1)
    }
}

/// The body of `confirm_factor`, inside its transaction under the user's row
/// lock: the gate first, then the device. The caller commits only on
/// `Confirmed`.
async fn confirm_factor_in(
    tx: &Transaction<'_>,
    user: UserId,
    factor: &NewFactor,
    gate: &FactorGate,
) -> Result<FactorConfirmation, tokio_postgres::Error> {
    let confirmed: i64 = tx
        .query_one(
            "SELECT count(*) FROM devices WHERE user_id = $1 AND confirmed",
            &[&user],
        )
        .await?
        .get(0);
    match gate {
        FactorGate::SignedIn { max_factors } => {
            if confirmed >= i64::from(*max_factors) {
                return Ok(FactorConfirmation::TooManyFactors);
            }
        }
        FactorGate::FirstLogin { pending, session } => {
            let ended = tx
                .execute(
                    "DELETE FROM pending_logins
                      WHERE token_hash = $1 AND user_id = $2 AND enrolment_only
                        AND $3 < expires_at",
                    &[&&pending[..], &user, &session.created_at],
                )
                .await?;
            if ended != 1 || confirmed > 0 || session.user_id != user {
                return Ok(FactorConfirmation::NotFirstFactor);
            }
            // A user confirming a first factor holds no other session.
            super::sessions::insert_session(tx, session, u32::MAX).await?;
        }
    }
    let written = match factor {
        NewFactor::Totp {
            device_id,
            step,
            offset_steps,
            at,
        } => {
            tx.execute(
                "UPDATE devices
                    SET confirmed = TRUE, totp_last_step = $3, last_used_at = $4,
                        totp_offset_steps = $5
                  WHERE id = $1 AND user_id = $2 AND kind = 'totp' AND NOT confirmed
                    AND (totp_last_step IS NULL OR totp_last_step < $3)",
                &[device_id, &user, step, at, offset_steps],
            )
            .await?
                == 1
        }
        NewFactor::SecurityKey(device) => {
            tx.execute(
                "INSERT INTO devices
                    (id, user_id, kind, name, confirmed, created_at, last_used_at,
                     credential, credential_id, sign_count)
                 VALUES ($1, $2, $8, $3, TRUE, $4, $5, $6, $7, 0)
                 ON CONFLICT DO NOTHING",
                &[
                    &device.id,
                    &user,
                    &device.name,
                    &device.created_at,
                    &device.last_used_at,
                    &device.credential,
                    &device.credential_id,
                    &device.kind.as_str(),
                ],
            )
            .await?
                == 1
        }
    };
    Ok(match (written, factor) {
        (true, _) => FactorConfirmation::Confirmed,
        (false, NewFactor::Totp { .. }) => FactorConfirmation::StepRefused,
        (false, NewFactor::SecurityKey(_)) => FactorConfirmation::KeyAlreadyRegistered,
    })
}
