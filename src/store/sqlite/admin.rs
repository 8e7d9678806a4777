//! What administrators change and see: the disabled flag (ending sessions at
//! once), the lost-device reset, each user's last sign-in, and the user table.

use async_trait::async_trait;
use rusqlite::params;

use super::users::{SECOND_FACTOR_COUNTS, USER_COLUMNS, user_from_row};
use super::{AdminStore, SecondFactorsRemoved, SqliteStore, StoreResult, UserId, UserOverview};
use crate::model::Timestamp;

/// Records a completed sign-in (inside the caller's transaction).
pub(super) fn record_sign_in(
    conn: &rusqlite::Connection,
    user: UserId,
    at: Timestamp,
) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE users SET last_sign_in_at = ?2 WHERE id = ?1")?
        .execute(params![user, at])
        .map(drop)
}

#[async_trait]
impl AdminStore for SqliteStore {
    async fn user_overviews(&self) -> StoreResult<Vec<UserOverview>> {
        self.call(|conn| {
            let mut statement = conn.prepare(&format!(
                "SELECT {USER_COLUMNS}, {SECOND_FACTOR_COUNTS}, last_sign_in_at
                 FROM users ORDER BY username"
            ))?;
            let rows = statement.query_map([], |row| {
                Ok(UserOverview {
                    user: user_from_row(row)?,
                    totp_devices: row.get(8)?,
                    security_keys: row.get(9)?,
                    passkeys: row.get(10)?,
                    last_sign_in_at: row.get(11)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn set_disabled(&self, user: UserId, disabled: bool) -> StoreResult<bool> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE users SET disabled = ?2 WHERE id = ?1 AND disabled != ?2",
                params![user, disabled],
            )?;
            if disabled {
                super::sessions::end_sessions_of(tx, user)?;
                tx.execute(
                    "DELETE FROM temporary_credentials WHERE user_id = ?1",
                    [user],
                )?;
            }
            Ok(changed == 1)
        })
        .await
    }

    async fn remove_second_factors(&self, user: UserId) -> StoreResult<SecondFactorsRemoved> {
        self.write(move |tx| {
            let devices = tx.execute(
                "DELETE FROM devices WHERE user_id = ?1 AND confirmed",
                [user],
            )?;
            tx.execute("DELETE FROM devices WHERE user_id = ?1", [user])?;
            let recovery_codes = tx.execute(
                "DELETE FROM recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
                [user],
            )?;
            tx.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [user])?;
            super::sessions::end_sessions_of(tx, user)?;
            Ok(SecondFactorsRemoved {
                devices: devices as u32,
                recovery_codes: recovery_codes as u32,
            })
        })
        .await
    }

    async fn record_sign_in(&self, user: UserId, at: Timestamp) -> StoreResult<()> {
        self.write(move |conn| record_sign_in(conn, user, at)).await
    }
}
