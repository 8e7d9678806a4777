//! Recovery codes: only keyed hashes are stored; a new set replaces the old
//! one in one transaction, and a code is marked used atomically (once).

use async_trait::async_trait;

use super::{CodeHash, PostgresStore, RecoveryStore, StoreResult, UserId, count};
use crate::model::Timestamp;

#[async_trait]
impl RecoveryStore for PostgresStore {
    async fn replace_recovery_codes(&self, user: UserId, hashes: Vec<CodeHash>) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("DELETE FROM recovery_codes WHERE user_id = $1", &[&user])
            .await?;
        let insert = tx
            .prepare("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .await?;
        for hash in &hashes {
            tx.execute(&insert, &[&user, &&hash[..]]).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        hash: CodeHash,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let client = self.client().await?;
        // One statement: a racing use waits on the row and then finds it used.
        let used = client
            .execute(
                "UPDATE recovery_codes SET used_at = $3
                  WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
                &[&user, &&hash[..], &at],
            )
            .await?;
        Ok(used == 1)
    }

    async fn recovery_codes_left(&self, user: UserId) -> StoreResult<u32> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
                &[&user],
            )
            .await?;
        Ok(count(row.get(0)))
    }
}
