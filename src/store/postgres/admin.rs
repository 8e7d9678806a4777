//! What administrators change and see: the disabled flag (ending sessions at
//! once), the lost-device reset, each user's last sign-in, and the user table.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::sessions::end_sessions_of;
use super::users::{SECOND_FACTOR_COUNTS, USER_COLUMNS, user_from_row_at};
use super::{
    AdminStore, PostgresStore, SecondFactorsRemoved, StoreResult, UserId, UserOverview, count,
};
use crate::model::Timestamp;

/// Records a completed sign-in.
pub(super) async fn record_sign_in(
    client: &impl GenericClient,
    user: UserId,
    at: Timestamp,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "UPDATE users SET last_sign_in_at = $2 WHERE id = $1",
            &[&user, &at],
        )
        .await
        .map(drop)
}

#[async_trait]
impl AdminStore for PostgresStore {
    async fn user_overviews(&self) -> StoreResult<Vec<UserOverview>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {USER_COLUMNS}, {SECOND_FACTOR_COUNTS}, last_sign_in_at
                     FROM users ORDER BY lower(username), id"
                ),
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| UserOverview {
                user: user_from_row_at(row, 0),
                totp_devices: count(row.get(8)),
                security_keys: count(row.get(9)),
                passkeys: count(row.get(10)),
                last_sign_in_at: row.get(11),
            })
            .collect())
    }

    async fn set_disabled(&self, user: UserId, disabled: bool) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let changed = tx
            .execute(
                "UPDATE users SET disabled = $2 WHERE id = $1 AND disabled <> $2",
                &[&user, &disabled],
            )
            .await?;
        if disabled {
            end_sessions_of(&tx, user).await?;
            tx.execute(
                "DELETE FROM temporary_credentials WHERE user_id = $1",
                &[&user],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(changed == 1)
    }

    async fn remove_second_factors(&self, user: UserId) -> StoreResult<SecondFactorsRemoved> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let devices = tx
            .query_one(
                "WITH gone AS (DELETE FROM devices WHERE user_id = $1 RETURNING confirmed)
                 SELECT count(*) FILTER (WHERE confirmed) FROM gone",
                &[&user],
            )
            .await?
            .get::<_, i64>(0);
        let recovery_codes = tx
            .query_one(
                "WITH gone AS (DELETE FROM recovery_codes WHERE user_id = $1 RETURNING used_at)
                 SELECT count(*) FILTER (WHERE used_at IS NULL) FROM gone",
                &[&user],
            )
            .await?
            .get::<_, i64>(0);
        end_sessions_of(&tx, user).await?;
        tx.commit().await?;
        Ok(SecondFactorsRemoved {
            devices: count(devices),
            recovery_codes: count(recovery_codes),
        })
    }

    async fn record_sign_in(&self, user: UserId, at: Timestamp) -> StoreResult<()> {
        let client = self.client().await?;
        record_sign_in(&client, user, at).await?;
        Ok(())
    }
}
