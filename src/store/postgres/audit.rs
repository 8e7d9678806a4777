//! The audit trail: append, read newest first, and prune past its retention;
//! events a client causes without an account are bounded per address (a
//! budget per window, repeats counted on one row).

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::throttle::{counter, save};
use super::{Appended, AuditRecord, AuditStore, EventBudget, PostgresStore, StoreResult};
use crate::model::Timestamp;
use crate::model::throttle::Counter;

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

/// The detail of a row that counts repeats.
fn counted_detail(base: &str, repeats: i64) -> String {
    format!("{base} count={repeats}")
}

/// Counts one more repeat on the row `merge_key` names; false when none.
async fn merge(
    client: &impl GenericClient,
    merge_key: &str,
    base: &str,
) -> Result<bool, tokio_postgres::Error> {
    // The detail is rebuilt as `counted_detail` writes it.
    client
        .execute(
            "UPDATE audit_events SET repeats = repeats + 1,
                    detail = $2 || ' count=' || (repeats + 1)
              WHERE merge_key = $1",
            &[&merge_key, &base],
        )
        .await
        .map(|n| n == 1)
}

/// Appends the first row of a merge key (a count of 1).
async fn append_merged(
    client: &impl GenericClient,
    event: &AuditRecord,
    merge_key: &str,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO audit_events (at, username, event, ip, user_agent, detail, merge_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &event.at,
                &event.username,
                &event.event,
                &event.ip,
                &event.user_agent,
                &counted_detail(&event.detail, 1),
                &merge_key,
            ],
        )
        .await
        .map(drop)
}

/// Takes one event from the address's budget: whether it was left, and when
/// the current window started.
async fn take_from_budget(
    client: &impl GenericClient,
    budget: &EventBudget,
    now: Timestamp,
) -> Result<(bool, Timestamp), tokio_postgres::Error> {
    let live = counter(client, &budget.key)
        .await?
        .filter(|c| now < c.window_start + budget.window_secs);
    let mut used = live.unwrap_or(Counter {
        failures: 0,
        window_start: now,
        locked_until: 0,
    });
    used.failures = used.failures.saturating_add(1);
    save(
        client,
        &budget.key,
        &used,
        used.window_start + budget.window_secs,
    )
    .await?;
    Ok((used.failures <= budget.per_window, used.window_start))
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn append_bounded_event(
        &self,
        event: AuditRecord,
        merge_key: Option<String>,
        budget: EventBudget,
        summary: AuditRecord,
    ) -> StoreResult<Appended> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // One address's events are judged one at a time, on every instance.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
            &[&budget.key],
        )
        .await?;
        if let Some(key) = &merge_key {
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
                &[key],
            )
            .await?;
            if merge(&tx, key, &event.detail).await? {
                tx.commit().await?;
                return Ok(Appended::Merged);
            }
        }
        let (within, window_start) = take_from_budget(&tx, &budget, event.at).await?;
        let appended = if within {
            match &merge_key {
                Some(key) => append_merged(&tx, &event, key).await?,
                None => append(&tx, &event).await?,
            }
            Appended::Stored
        } else {
            let summary_key = format!("{}|{window_start}", budget.key);
            if merge(&tx, &summary_key, &summary.detail).await? {
                Appended::Summarised { first: false }
            } else {
                append_merged(&tx, &summary, &summary_key).await?;
                Appended::Summarised { first: true }
            }
        };
        tx.commit().await?;
        Ok(appended)
    }

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
