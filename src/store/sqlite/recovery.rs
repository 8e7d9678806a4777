//! Recovery codes: only keyed hashes are stored; a new set replaces the old
//! one in one transaction, and a code is marked used atomically (once).

use async_trait::async_trait;
use rusqlite::params;

use super::{CodeHash, RecoveryStore, SqliteStore, StoreResult, UserId};
use crate::model::Timestamp;

#[async_trait]
impl RecoveryStore for SqliteStore {
    async fn replace_recovery_codes(&self, user: UserId, hashes: Vec<CodeHash>) -> StoreResult<()> {
        self.write(move |tx| {
            tx.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [user])?;
            {
                let mut insert =
                    tx.prepare("INSERT INTO recovery_codes (user_id, code_hash) VALUES (?1, ?2)")?;
                for hash in hashes {
                    insert.execute(params![user, hash])?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        hash: CodeHash,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE recovery_codes SET used_at = ?3
                  WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
                params![user, hash, at],
            )
            .map(|n| n == 1)
        })
        .await
    }

    async fn recovery_codes_left(&self, user: UserId) -> StoreResult<u32> {
        self.call(move |conn| {
            conn.query_row(
                "SELECT count(*) FROM recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
                [user],
                |row| row.get(0),
            )
        })
        .await
    }
}
