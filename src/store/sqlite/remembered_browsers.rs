//! Remembered browsers: a browser a person let skip the second factor for a
//! while. Only the token's SHA-256 is kept, with the factor it stands for.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use super::sessions::{delete_all_but, delete_by_handle, keep_newest};
use super::*;

const TABLE: &str = "remembered_browsers";
const COLUMNS: &str = "id, token_hash, user_id, created_at, expires_at, last_used_at, method,
    second_factor_at, ip, user_agent";

fn from_row(row: &Row<'_>) -> rusqlite::Result<RememberedBrowserRecord> {
    Ok(RememberedBrowserRecord {
        id: row.get(0)?,
        token_hash: row.get(1)?,
        user_id: row.get(2)?,
        created_at: row.get(3)?,
        expires_at: row.get(4)?,
        last_used_at: row.get(5)?,
        method: row.get(6)?,
        second_factor_at: row.get(7)?,
        ip: row.get(8)?,
        user_agent: row.get(9)?,
    })
}

/// Remembers a browser and forgets the user's oldest beyond `keep_at_most`
/// (inside the caller's transaction).
pub(super) fn insert(
    tx: &Connection,
    browser: &RememberedBrowserRecord,
    keep_at_most: u32,
) -> rusqlite::Result<()> {
    tx.execute(
        &format!(
            "INSERT INTO remembered_browsers ({COLUMNS})
                  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ),
        params![
            browser.id,
            browser.token_hash,
            browser.user_id,
            browser.created_at,
            browser.expires_at,
            browser.last_used_at,
            browser.method,
            browser.second_factor_at,
            browser.ip,
            browser.user_agent
        ],
    )?;
    keep_newest(tx, TABLE, browser.user_id, keep_at_most)
}

#[async_trait]
impl RememberedBrowserStore for SqliteStore {
    async fn insert_remembered_browser(
        &self,
        browser: RememberedBrowserRecord,
        keep_at_most: u32,
    ) -> StoreResult<()> {
        self.write(move |tx| insert(tx, &browser, keep_at_most))
            .await
    }

    async fn remembered_browser(
        &self,
        token_hash: TokenHash,
    ) -> StoreResult<Option<RememberedBrowserRecord>> {
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {COLUMNS} FROM remembered_browsers WHERE token_hash = ?1"),
                [token_hash],
                from_row,
            )
            .optional()
        })
        .await
    }

    async fn remembered_browsers_of(
        &self,
        user: UserId,
    ) -> StoreResult<Vec<RememberedBrowserRecord>> {
        self.call(move |conn| {
            conn.prepare(&format!(
                "SELECT {COLUMNS} FROM remembered_browsers WHERE user_id = ?1
                  ORDER BY created_at DESC, rowid DESC"
            ))?
            .query_map([user], from_row)?
            .collect()
        })
        .await
    }

    async fn delete_remembered_browser(&self, user: UserId, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |conn| delete_by_handle(conn, TABLE, user, &id))
            .await
    }

    async fn delete_remembered_browsers_except(
        &self,
        user: UserId,
        keep: Option<TokenHash>,
    ) -> StoreResult<u64> {
        self.write(move |conn| delete_all_but(conn, TABLE, user, keep))
            .await
    }

    async fn open_remembered_session(
        &self,
        browser: TokenHash,
        session: SessionRecord,
        keep_at_most: u32,
        password_event: AuditRecord,
    ) -> StoreResult<bool> {
        self.write(move |tx| {
            let used = tx.execute(
                "UPDATE remembered_browsers SET last_used_at = ?3
                  WHERE token_hash = ?1 AND user_id = ?2",
                params![browser, session.user_id, session.created_at],
            )?;
            if used != 1 {
                return Ok(false);
            }
            tx.execute(
                "UPDATE users SET password_last_used_at = ?2 WHERE id = ?1",
                params![session.user_id, session.created_at],
            )?;
            super::sessions::insert_session(tx, &session, keep_at_most)?;
            super::audit::append(tx, &password_event)?;
            Ok(true)
        })
        .await
    }
}
