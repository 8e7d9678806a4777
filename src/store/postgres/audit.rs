//! The audit trail: append, read newest first, and prune past its retention.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::{AuditRecord, AuditStore, PostgresStore, StoreResult};
use crate::model::Timestamp;

/// Appends one event (also used inside other writes' transactions).
pub(super) async fn append(
    client: &impl GenericClient,
    event: &AuditRecord,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO audit_events (at, username, event, ip, user_agent, detail)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &event.at,
                &event.username,
                &event.event,
                &event.ip,
                &event.user_agent,
                &event.detail,
            ],
        )
        .await
        .map(drop)
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn append_event(&self, event: AuditRecord) -> StoreResult<()> {
        let client = self.client().await?;
        append(&client, &event).await?;
        Ok(())
    }

    async fn events(&self, username: Option<&str>, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT at, username, event, ip, user_agent, detail FROM audit_events
                  WHERE $1::text IS NULL OR lower(username) = lower($1)
                  ORDER BY at DESC, id DESC LIMIT $2",
                &[&username, &i64::from(limit)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| AuditRecord {
                at: row.get(0),
                username: row.get(1),
                event: row.get(2),
                ip: row.get(3),
                user_agent: row.get(4),
                detail: row.get(5),
            })
            .collect())
    }

    async fn delete_events_before(&self, before: Timestamp) -> StoreResult<u64> {
        let client = self.client().await?;
        Ok(client
            .execute("DELETE FROM audit_events WHERE at < $1", &[&before])
            .await?)
    }
}
