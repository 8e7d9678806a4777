//! Second-factor devices: authenticator apps, hardware TOTP tokens, security keys.

use async_trait::async_trait;
use rusqlite::{Row, params};

use super::{DeviceKind, DeviceRecord, DeviceStore, SqliteStore, StoreResult, UserId};
use crate::model::Timestamp;

const DEVICE_COLUMNS: &str = "id, user_id, kind, name, confirmed, created_at, last_used_at, \
     totp_secret, totp_last_step, totp_offset_steps, hardware, credential, credential_id";

fn device_from_row(row: &Row<'_>) -> rusqlite::Result<DeviceRecord> {
    let kind: String = row.get(2)?;
    Ok(DeviceRecord {
        id: row.get(0)?,
        user_id: row.get(1)?,
        kind: if kind == "totp" {
            DeviceKind::Totp
        } else {
            DeviceKind::SecurityKey
        },
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

#[async_trait]
impl DeviceStore for SqliteStore {
    async fn insert_device(&self, device: DeviceRecord) -> StoreResult<()> {
        self.call(move |conn| {
            conn.execute(
                &format!("INSERT INTO devices ({DEVICE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
                params![
                    device.id,
                    device.user_id,
                    device.kind.as_str(),
                    device.name,
                    device.confirmed,
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

    async fn accept_totp_step(
        &self,
        device_id: &str,
        step: i64,
        at: Timestamp,
        confirm: bool,
        offset_steps: Option<i64>,
    ) -> StoreResult<bool> {
        let device_id = device_id.to_owned();
        self.call(move |conn| {
            let changed = conn.execute(
                "UPDATE devices
                    SET totp_last_step = ?2, last_used_at = ?3, confirmed = confirmed OR ?4,
                        totp_offset_steps = coalesce(?5, totp_offset_steps)
                  WHERE id = ?1 AND (totp_last_step IS NULL OR totp_last_step < ?2)",
                params![device_id, step, at, confirm, offset_steps],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn delete_device(&self, user: UserId, device_id: &str) -> StoreResult<bool> {
        let device_id = device_id.to_owned();
        self.call(move |conn| {
            conn.execute(
                "DELETE FROM devices WHERE id = ?1 AND user_id = ?2",
                params![device_id, user],
            )
            .map(|n| n == 1)
        })
        .await
    }

    async fn delete_unconfirmed_before(&self, user: UserId, before: Timestamp) -> StoreResult<()> {
        self.call(move |conn| {
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
        self.call(move |conn| {
            conn.execute(
                "UPDATE devices SET name = ?3 WHERE id = ?1 AND user_id = ?2 AND confirmed",
                params![device_id, user, name],
            )
            .map(|n| n == 1)
        })
        .await
    }
}
