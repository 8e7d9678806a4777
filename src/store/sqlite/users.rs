//! Users: names, password hashes, flags, and the credential report's counts.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use super::{
    CredentialSummary, NewUser, SqliteStore, StoreError, StoreResult, UserId, UserRecord, UserStore,
};

pub(super) const USER_COLUMNS: &str = "id, username, password_hash, admin, disabled, created_at, \
                            password_changed_at, password_last_used_at";

/// A user's confirmed TOTP devices, then security keys: two columns after
/// `USER_COLUMNS` in a query over `users`.
pub(super) const SECOND_FACTOR_COUNTS: &str = "\
    (SELECT count(*) FROM devices d
      WHERE d.user_id = users.id AND d.confirmed AND d.kind = 'totp'),
    (SELECT count(*) FROM devices d
      WHERE d.user_id = users.id AND d.confirmed AND d.kind = 'security_key'),
    (SELECT count(*) FROM devices d
      WHERE d.user_id = users.id AND d.confirmed AND d.kind = 'passkey')";

pub(super) fn user_from_row(row: &Row<'_>) -> rusqlite::Result<UserRecord> {
    user_from_row_at(row, 0)
}

/// Reads the user columns (in `USER_COLUMNS` order) starting at column `first`.
pub(super) fn user_from_row_at(row: &Row<'_>, first: usize) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: row.get(first)?,
        username: row.get(first + 1)?,
        password_hash: row.get(first + 2)?,
        admin: row.get(first + 3)?,
        disabled: row.get(first + 4)?,
        created_at: row.get(first + 5)?,
        password_changed_at: row.get(first + 6)?,
        password_last_used_at: row.get(first + 7)?,
    })
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(&self, user: NewUser) -> StoreResult<UserRecord> {
        let inserted = self
            .write(move |conn| {
                let inserted = conn.execute(
                    "INSERT INTO users (username, password_hash, admin, created_at, password_changed_at)
                     VALUES (?1, ?2, ?3, ?4, ?4)
                     ON CONFLICT (username) DO NOTHING",
                    params![user.username, user.password_hash, user.admin, user.created_at],
                )?;
                if inserted == 0 {
                    return Ok(None);
                }
                let id = conn.last_insert_rowid();
                conn.query_row(
                    &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                    [id],
                    user_from_row,
                )
                .map(Some)
            })
            .await?;
        inserted.ok_or(StoreError::UsernameTaken)
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let username = username.to_owned();
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"),
                [username],
                user_from_row,
            )
            .optional()
        })
        .await
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                [id],
                user_from_row,
            )
            .optional()
        })
        .await
    }

    async fn replace_password_hash(&self, id: UserId, password_hash: String) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                params![id, password_hash],
            )
            .map(drop)
        })
        .await
    }

    async fn credential_summaries(&self) -> StoreResult<Vec<CredentialSummary>> {
        self.call(|conn| {
            let mut statement = conn.prepare(&format!(
                "SELECT {USER_COLUMNS}, {SECOND_FACTOR_COUNTS},
                    (SELECT count(*) FROM recovery_codes r
                      WHERE r.user_id = users.id AND r.used_at IS NULL)
                 FROM users ORDER BY username"
            ))?;
            let rows = statement.query_map([], |row| {
                Ok(CredentialSummary {
                    user: user_from_row(row)?,
                    totp_devices: row.get(8)?,
                    security_keys: row.get(9)?,
                    passkeys: row.get(10)?,
                    recovery_codes_left: row.get(11)?,
                })
            })?;
            rows.collect()
        })
        .await
    }
}
