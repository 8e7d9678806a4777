//! Users: names (unique case-insensitively), password hashes, flags, and the
//! credential report's counts.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::{
    CredentialSummary, NewUser, PostgresStore, StoreError, StoreResult, UserId, UserRecord,
    UserStore, count,
};

pub(super) const USER_COLUMNS: &str = "id, username, password_hash, admin, disabled, created_at, \
     password_changed_at, password_last_used_at";

/// `USER_COLUMNS` named through the `users` table, for joins.
pub(super) const USERS_USER_COLUMNS: &str = "users.id, users.username, users.password_hash, \
     users.admin, users.disabled, users.created_at, users.password_changed_at, \
     users.password_last_used_at";

/// A user's confirmed TOTP devices, then security keys: two columns after
/// `USER_COLUMNS` in a query over `users`.
pub(super) const SECOND_FACTOR_COUNTS: &str = "\
    (SELECT count(*) FROM devices d
      WHERE d.user_id = users.id AND d.confirmed AND d.kind = 'totp'),
    (SELECT count(*) FROM devices d
      WHERE d.user_id = users.id AND d.confirmed AND d.kind = 'security_key'),
    (SELECT count(*) FROM devices d
      WHERE d.user_id = users.id AND d.confirmed AND d.kind = 'passkey')";

/// Reads the user columns (in `USER_COLUMNS` order) starting at column `first`.
pub(super) fn user_from_row_at(row: &Row, first: usize) -> UserRecord {
    UserRecord {
        id: row.get(first),
        username: row.get(first + 1),
        password_hash: row.get(first + 2),
        admin: row.get(first + 3),
        disabled: row.get(first + 4),
        created_at: row.get(first + 5),
        password_changed_at: row.get(first + 6),
        password_last_used_at: row.get(first + 7),
    }
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn insert_user(&self, user: NewUser) -> StoreResult<UserRecord> {
        let client = self.client().await?;
        // Any unique violation (the lower(username) index) means "taken".
        let row = client
            .query_opt(
                &format!(
                    "INSERT INTO users (username, password_hash, admin, created_at,
                                        password_changed_at)
                     VALUES ($1, $2, $3, $4, $4)
                     ON CONFLICT DO NOTHING
                     RETURNING {USER_COLUMNS}"
                ),
                &[
                    &user.username,
                    &user.password_hash,
                    &user.admin,
                    &user.created_at,
                ],
            )
            .await?;
        row.map(|row| user_from_row_at(&row, 0))
            .ok_or(StoreError::UsernameTaken)
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE lower(username) = lower($1)"
            ))
            .await?;
        let row = client.query_opt(&statement, &[&username]).await?;
        Ok(row.map(|row| user_from_row_at(&row, 0)))
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .await?;
        let row = client.query_opt(&statement, &[&id]).await?;
        Ok(row.map(|row| user_from_row_at(&row, 0)))
    }

    async fn replace_password_hash(&self, id: UserId, password_hash: String) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE users SET password_hash = $2 WHERE id = $1",
                &[&id, &password_hash],
            )
            .await?;
        Ok(())
    }

    async fn credential_summaries(&self) -> StoreResult<Vec<CredentialSummary>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {USER_COLUMNS}, {SECOND_FACTOR_COUNTS},
                        (SELECT count(*) FROM recovery_codes r
                          WHERE r.user_id = users.id AND r.used_at IS NULL)
                     FROM users ORDER BY lower(username), id"
                ),
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| CredentialSummary {
                user: user_from_row_at(row, 0),
                totp_devices: count(row.get(8)),
                security_keys: count(row.get(9)),
                passkeys: count(row.get(10)),
                recovery_codes_left: count(row.get(11)),
            })
            .collect())
    }
}
