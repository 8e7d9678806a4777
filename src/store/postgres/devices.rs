//! Second-factor devices: authenticator apps, hardware TOTP tokens, security keys.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::{DeviceKind, DeviceRecord, DeviceStore, PostgresStore, StoreResult, UserId};
use crate::model::Timestamp;

pub(super) const DEVICE_COLUMNS: &str = "id, user_id, kind, name, confirmed, created_at, \
     last_used_at, totp_secret, totp_last_step, totp_offset_steps, hardware, credential, \
     credential_id";

fn device_from_row(row: &Row) -> DeviceRecord {
    let kind: &str = row.get(2);
    DeviceRecord {
        id: row.get(0),
        user_id: row.get(1),
        kind: if kind == "totp" {
            DeviceKind::Totp
        } else {
            DeviceKind::SecurityKey
        },
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
                    &device.confirmed,
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

    async fn accept_totp_step(
        &self,
        device_id: &str,
        step: i64,
        at: Timestamp,
        confirm: bool,
        offset_steps: Option<i64>,
    ) -> StoreResult<bool> {
        let client = self.client().await?;
        // One statement: a concurrent update of the row waits for this one
        // and then re-checks the step, so a step is accepted once.
        let changed = client
            .execute(
                "UPDATE devices
                    SET totp_last_step = $2, last_used_at = $3, confirmed = confirmed OR $4,
                        totp_offset_steps = coalesce($5, totp_offset_steps)
                  WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
                &[&device_id, &step, &at, &confirm, &offset_steps],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn delete_device(&self, user: UserId, device_id: &str) -> StoreResult<bool> {
        let client = self.client().await?;
        let removed = client
            .execute(
                "DELETE FROM devices WHERE id = $1 AND user_id = $2",
                &[&device_id, &user],
            )
            .await?;
        Ok(removed == 1)
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
