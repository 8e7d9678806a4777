//! Remembered browsers: a browser a person let skip the second factor for a
//! while. Only the token's SHA-256 is kept, with the factor it stands for.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::sessions::{delete_all_but, delete_by_handle, insert_session, keep_newest};
use super::{
    AuditRecord, PostgresStore, RememberedBrowserRecord, RememberedBrowserStore, SessionRecord,
    StoreResult, TokenHash, UserId, hash32,
};

const TABLE: &str = "remembered_browsers";
const COLUMNS: &str = "id, token_hash, user_id, created_at, expires_at, last_used_at, method,
    second_factor_at, ip, user_agent";

fn from_row(row: &Row) -> StoreResult<RememberedBrowserRecord> {
    Ok(RememberedBrowserRecord {
        id: row.get(0),
        token_hash: hash32(row.get(1))?,
        user_id: row.get(2),
        created_at: row.get(3),
        expires_at: row.get(4),
        last_used_at: row.get(5),
        method: row.get(6),
        second_factor_at: row.get(7),
        ip: row.get(8),
        user_agent: row.get(9),
    })
}

/// Remembers a browser and forgets the user's oldest beyond `keep_at_most`
/// (inside the caller's transaction).
pub(super) async fn insert(
    client: &impl GenericClient,
    browser: &RememberedBrowserRecord,
    keep_at_most: u32,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            &format!(
                "INSERT INTO {TABLE} ({COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            &[
                &browser.id,
                &&browser.token_hash[..],
                &browser.user_id,
                &browser.created_at,
                &browser.expires_at,
                &browser.last_used_at,
                &browser.method,
                &browser.second_factor_at,
                &browser.ip,
                &browser.user_agent,
            ],
        )
        .await?;
    keep_newest(client, TABLE, browser.user_id, keep_at_most).await
}

#[async_trait]
impl RememberedBrowserStore for PostgresStore {
    async fn insert_remembered_browser(
        &self,
        browser: RememberedBrowserRecord,
        keep_at_most: u32,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        insert(&tx, &browser, keep_at_most).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remembered_browser(
        &self,
        token_hash: TokenHash,
    ) -> StoreResult<Option<RememberedBrowserRecord>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {COLUMNS} FROM {TABLE} WHERE token_hash = $1"),
                &[&&token_hash[..]],
            )
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    async fn remembered_browsers_of(
        &self,
        user: UserId,
    ) -> StoreResult<Vec<RememberedBrowserRecord>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM {TABLE} WHERE user_id = $1
                      ORDER BY created_at DESC, seq DESC"
                ),
                &[&user],
            )
            .await?;
        rows.iter().map(from_row).collect()
    }

    async fn delete_remembered_browser(&self, user: UserId, id: &str) -> StoreResult<bool> {
        let client = self.client().await?;
        Ok(delete_by_handle(&client, TABLE, user, id).await?)
    }

    async fn delete_remembered_browsers_except(
        &self,
        user: UserId,
        keep: Option<TokenHash>,
    ) -> StoreResult<u64> {
        let client = self.client().await?;
        Ok(delete_all_but(&client, TABLE, user, keep).await?)
    }

    async fn open_remembered_session(
        &self,
        browser: TokenHash,
        session: SessionRecord,
        keep_at_most: u32,
        password_event: AuditRecord,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let used = tx
            .execute(
                "UPDATE remembered_browsers SET last_used_at = $3
                  WHERE token_hash = $1 AND user_id = $2",
                &[&&browser[..], &session.user_id, &session.created_at],
            )
            .await?;
        if used != 1 {
            return Ok(false);
        }
        tx.execute(
            "UPDATE users SET password_last_used_at = $2 WHERE id = $1",
            &[&session.user_id, &session.created_at],
        )
        .await?;
        insert_session(&tx, &session, keep_at_most).await?;
        super::audit::append(&tx, &password_event).await?;
        tx.commit().await?;
        Ok(true)
    }
}
