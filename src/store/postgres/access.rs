//! Groups, policies, members and attachments on PostgreSQL. Every change
//! starts by bumping the access version: that row's lock serialises access
//! changes across instances, so a bound checked after it holds until commit.
//! A change that turns out to change nothing is rolled back, version and all.

use async_trait::async_trait;
use deadpool_postgres::{Object, Transaction};

use super::{AccessStore, PostgresStore, StoreError, StoreResult};
use crate::model::Timestamp;
use crate::model::access::{
    AccessChange, AccessLimit, AccessRows, Attachment, MAX_GROUPS, MAX_POLICIES,
    MAX_POLICIES_PER_TARGET, PolicyRow,
};

/// Every access write begins here: a transaction that has bumped the
/// version (taking its row lock until the transaction ends).
pub(super) async fn begin_change(client: &mut Object) -> StoreResult<Transaction<'_>> {
    let tx = client.transaction().await?;
    tx.execute(
        "UPDATE access_version SET version = version + 1 WHERE id = 1",
        &[],
    )
    .await?;
    Ok(tx)
}

pub(super) async fn id_of(tx: &Transaction<'_>, sql: &str, name: &str) -> StoreResult<Option<i64>> {
    Ok(tx.query_opt(sql, &[&name]).await?.map(|row| row.get(0)))
}

pub(super) async fn group_id(tx: &Transaction<'_>, name: &str) -> StoreResult<Option<i64>> {
    id_of(tx, "SELECT id FROM access_groups WHERE name = $1", name).await
}

pub(super) async fn policy_id(tx: &Transaction<'_>, name: &str) -> StoreResult<Option<i64>> {
    id_of(tx, "SELECT id FROM access_policies WHERE name = $1", name).await
}

/// Usernames are unique regardless of case.
pub(super) async fn user_id(tx: &Transaction<'_>, username: &str) -> StoreResult<Option<i64>> {
    id_of(
        tx,
        "SELECT id FROM users WHERE lower(username) = lower($1)",
        username,
    )
    .await
}

/// The attachment's target as (group id, user id), or the missing arm.
async fn target(
    tx: &Transaction<'_>,
    to: &Attachment,
) -> StoreResult<Result<(Option<i64>, Option<i64>), AccessChange>> {
    Ok(match to {
        Attachment::Group(name) => group_id(tx, name)
            .await?
            .map(|id| (Some(id), None))
            .ok_or(AccessChange::NoSuchGroup),
        Attachment::User(name) => user_id(tx, name)
            .await?
            .map(|id| (None, Some(id)))
            .ok_or(AccessChange::NoSuchUser),
    })
}

/// Commits when something changed; otherwise the dropped transaction rolls
/// back (the version bump with it).
async fn finish(tx: Transaction<'_>, changed: bool) -> StoreResult<()> {
    if changed {
        tx.commit().await?;
    }
    Ok(())
}

async fn count(tx: &Transaction<'_>, sql: &str, id: i64) -> StoreResult<usize> {
    let n: i64 = tx.query_one(sql, &[&id]).await?.get(0);
    Ok(n as usize)
}

impl PostgresStore {
    /// Deletes the row `sql` names by `$1`; whether there was one.
    async fn delete_named(&self, sql: &str, name: &str) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = begin_change(&mut client).await?;
        let deleted = tx.execute(sql, &[&name]).await?;
        finish(tx, deleted > 0).await?;
        Ok(deleted > 0)
    }

    /// Adds or removes a member: `sql` takes the group's id and the user's.
    async fn change_member(
        &self,
        sql: &str,
        group: &str,
        username: &str,
    ) -> StoreResult<AccessChange> {
        let mut client = self.client().await?;
        let tx = begin_change(&mut client).await?;
        let Some(group) = group_id(&tx, group).await? else {
            return Ok(AccessChange::NoSuchGroup);
        };
        let Some(user) = user_id(&tx, username).await? else {
            return Ok(AccessChange::NoSuchUser);
        };
        let changed = tx.execute(sql, &[&group, &user]).await?;
        finish(tx, changed > 0).await?;
        Ok(AccessChange::Done)
    }
}

#[async_trait]
impl AccessStore for PostgresStore {
    async fn put_group(&self, name: &str) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = begin_change(&mut client).await?;
        if group_id(&tx, name).await?.is_some() {
            return Ok(false);
        }
        let groups: i64 = tx
            .query_one("SELECT count(*) FROM access_groups", &[])
            .await?
            .get(0);
        if groups as usize >= MAX_GROUPS {
            return Err(StoreError::AccessLimit(AccessLimit::Groups));
        }
        tx.execute("INSERT INTO access_groups (name) VALUES ($1)", &[&name])
            .await?;
        finish(tx, true).await?;
        Ok(true)
    }

    async fn delete_group(&self, name: &str) -> StoreResult<bool> {
        self.delete_named("DELETE FROM access_groups WHERE name = $1", name)
            .await
    }

    async fn add_member(&self, group: &str, username: &str) -> StoreResult<AccessChange> {
        self.change_member(
            "INSERT INTO access_group_members (group_id, user_id) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
            group,
            username,
        )
        .await
    }

    async fn remove_member(&self, group: &str, username: &str) -> StoreResult<AccessChange> {
        self.change_member(
            "DELETE FROM access_group_members WHERE group_id = $1 AND user_id = $2",
            group,
            username,
        )
        .await
    }

    async fn put_policy(&self, name: &str, document: &str, at: Timestamp) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = begin_change(&mut client).await?;
        let replaced = tx
            .execute(
                "UPDATE access_policies SET document = $2, updated_at = $3 WHERE name = $1",
                &[&name, &document, &at],
            )
            .await?;
        if replaced == 0 {
            let policies: i64 = tx
                .query_one("SELECT count(*) FROM access_policies", &[])
                .await?
                .get(0);
            if policies as usize >= MAX_POLICIES {
                return Err(StoreError::AccessLimit(AccessLimit::Policies));
            }
            tx.execute(
                "INSERT INTO access_policies (name, document, updated_at) VALUES ($1, $2, $3)",
                &[&name, &document, &at],
            )
            .await?;
        }
        finish(tx, true).await?;
        Ok(replaced == 0)
    }

    async fn delete_policy(&self, name: &str) -> StoreResult<bool> {
        self.delete_named("DELETE FROM access_policies WHERE name = $1", name)
            .await
    }

    async fn attach_policy(&self, policy: &str, to: &Attachment) -> StoreResult<AccessChange> {
        let mut client = self.client().await?;
        let tx = begin_change(&mut client).await?;
        let Some(policy) = policy_id(&tx, policy).await? else {
            return Ok(AccessChange::NoSuchPolicy);
        };
        let (group, user) = match target(&tx, to).await? {
            Ok(ids) => ids,
            Err(missing) => return Ok(missing),
        };
        let already = tx
            .query_opt(
                "SELECT 1 FROM access_attachments WHERE policy_id = $1
                   AND group_id IS NOT DISTINCT FROM $2 AND user_id IS NOT DISTINCT FROM $3",
                &[&policy, &group, &user],
            )
            .await?;
        if already.is_some() {
            return Ok(AccessChange::Done);
        }
        let attached = match (group, user) {
            (Some(id), _) => {
                count(
                    &tx,
                    "SELECT count(*) FROM access_attachments WHERE group_id = $1",
                    id,
                )
                .await?
            }
            (None, Some(id)) => {
                count(
                    &tx,
                    "SELECT count(*) FROM access_attachments WHERE user_id = $1",
                    id,
                )
                .await?
            }
            (None, None) => 0,
        };
        if attached >= MAX_POLICIES_PER_TARGET {
            return Err(StoreError::AccessLimit(AccessLimit::PoliciesPerTarget));
        }
        tx.execute(
            "INSERT INTO access_attachments (policy_id, group_id, user_id) VALUES ($1, $2, $3)",
            &[&policy, &group, &user],
        )
        .await?;
        finish(tx, true).await?;
        Ok(AccessChange::Done)
    }

    async fn detach_policy(&self, policy: &str, to: &Attachment) -> StoreResult<AccessChange> {
        let mut client = self.client().await?;
        let tx = begin_change(&mut client).await?;
        let Some(policy) = policy_id(&tx, policy).await? else {
            return Ok(AccessChange::NoSuchPolicy);
        };
        let (group, user) = match target(&tx, to).await? {
            Ok(ids) => ids,
            Err(missing) => return Ok(missing),
        };
        let detached = tx
            .execute(
                "DELETE FROM access_attachments WHERE policy_id = $1
                   AND group_id IS NOT DISTINCT FROM $2 AND user_id IS NOT DISTINCT FROM $3",
                &[&policy, &group, &user],
            )
            .await?;
        finish(tx, detached > 0).await?;
        Ok(AccessChange::Done)
    }

    async fn access_rows(&self) -> StoreResult<AccessRows> {
        let mut client = self.client().await?;
        // One snapshot for every read below.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let version: i64 = tx
            .query_one("SELECT version FROM access_version WHERE id = 1", &[])
            .await?
            .get(0);
        let groups = tx
            .query("SELECT name FROM access_groups", &[])
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let members = tx
            .query(
                "SELECT g.name, u.username FROM access_group_members m
                   JOIN access_groups g ON g.id = m.group_id
                   JOIN users u ON u.id = m.user_id",
                &[],
            )
            .await?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let policies = tx
            .query(
                "SELECT name, document, updated_at FROM access_policies",
                &[],
            )
            .await?
            .iter()
            .map(|row| PolicyRow {
                name: row.get(0),
                document: row.get(1),
                attached_to: Vec::new(),
                updated_at: row.get(2),
            })
            .collect();
        let attachments = tx
            .query(
                "SELECT p.name, g.name, u.username FROM access_attachments a
                   JOIN access_policies p ON p.id = a.policy_id
                   LEFT JOIN access_groups g ON g.id = a.group_id
                   LEFT JOIN users u ON u.id = a.user_id",
                &[],
            )
            .await?
            .iter()
            .map(|row| {
                let to = match row.get::<_, Option<String>>(1) {
                    Some(group) => Attachment::Group(group),
                    None => Attachment::User(row.get::<_, Option<String>>(2).unwrap_or_default()),
                };
                (row.get(0), to)
            })
            .collect();
        let roles = super::programmatic::read_roles(&tx).await?;
        tx.commit().await?;
        let mut rows = AccessRows::assemble(version, groups, members, policies, attachments);
        rows.roles = roles;
        Ok(rows)
    }

    async fn access_version(&self) -> StoreResult<i64> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT version FROM access_version WHERE id = 1")
            .await?;
        Ok(client.query_one(&statement, &[]).await?.get(0))
    }
}
