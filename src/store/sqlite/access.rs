//! Groups, policies, members and attachments on SQLite: each change runs on
//! the one writer, checks its bounds and bumps the access version in the
//! same transaction; `access_rows` reads everything in one snapshot.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::{AccessStore, SqliteStore, StoreError, StoreResult};
use crate::model::Timestamp;
use crate::model::access::{
    AccessChange, AccessLimit, AccessRows, Attachment, MAX_GROUPS, MAX_POLICIES,
    MAX_POLICIES_PER_TARGET, PolicyRow,
};

/// Every access write: runs `sql` and, when it changed a row, bumps the
/// access version in the same transaction (so a snapshot read with a version
/// always matches it). Returns how many rows changed.
fn change(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    let changed = conn.execute(sql, params)?;
    if changed > 0 {
        conn.execute(
            "UPDATE access_version SET version = version + 1 WHERE id = 1",
            [],
        )?;
    }
    Ok(changed)
}

fn group_id(conn: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT id FROM access_groups WHERE name = ?1",
        [name],
        |row| row.get(0),
    )
    .optional()
}

fn policy_id(conn: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT id FROM access_policies WHERE name = ?1",
        [name],
        |row| row.get(0),
    )
    .optional()
}

/// Usernames are unique regardless of case (the column's collation).
fn user_id(conn: &Connection, username: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT id FROM users WHERE username = ?1",
        [username],
        |row| row.get(0),
    )
    .optional()
}

fn count(conn: &Connection, sql: &str, id: i64) -> rusqlite::Result<usize> {
    conn.query_row(sql, [id], |row| row.get::<_, i64>(0))
        .map(|n| n as usize)
}

/// The attachment's target as (group id, user id), or the missing arm.
fn target(conn: &Connection, to: &Attachment) -> rusqlite::Result<Result<Target, AccessChange>> {
    Ok(match to {
        Attachment::Group(name) => group_id(conn, name)?
            .map(Target::Group)
            .ok_or(AccessChange::NoSuchGroup),
        Attachment::User(name) => user_id(conn, name)?
            .map(Target::User)
            .ok_or(AccessChange::NoSuchUser),
    })
}

enum Target {
    Group(i64),
    User(i64),
}

impl Target {
    fn ids(&self) -> (Option<i64>, Option<i64>) {
        match self {
            Target::Group(id) => (Some(*id), None),
            Target::User(id) => (None, Some(*id)),
        }
    }
}

impl SqliteStore {
    /// Deletes the row `sql` names by `?1`; whether there was one.
    async fn delete_named(&self, sql: &'static str, name: &str) -> StoreResult<bool> {
        let name = name.to_owned();
        self.write(move |conn| Ok(change(conn, sql, [&name])? > 0))
            .await
    }

    /// Adds or removes a member: `sql` takes the group's id and the user's.
    async fn change_member(
        &self,
        sql: &'static str,
        group: &str,
        username: &str,
    ) -> StoreResult<AccessChange> {
        let (group, username) = (group.to_owned(), username.to_owned());
        self.write(move |conn| {
            let Some(group) = group_id(conn, &group)? else {
                return Ok(AccessChange::NoSuchGroup);
            };
            let Some(user) = user_id(conn, &username)? else {
                return Ok(AccessChange::NoSuchUser);
            };
            change(conn, sql, params![group, user])?;
            Ok(AccessChange::Done)
        })
        .await
    }
}

#[async_trait]
impl AccessStore for SqliteStore {
    async fn put_group(&self, name: &str) -> StoreResult<bool> {
        let name = name.to_owned();
        self.write(move |conn| {
            if group_id(conn, &name)?.is_some() {
                return Ok(Ok(false));
            }
            let groups: i64 =
                conn.query_row("SELECT count(*) FROM access_groups", [], |row| row.get(0))?;
            if groups as usize >= MAX_GROUPS {
                return Ok(Err(AccessLimit::Groups));
            }
            change(
                conn,
                "INSERT INTO access_groups (name) VALUES (?1)",
                [&name],
            )?;
            Ok(Ok(true))
        })
        .await?
        .map_err(StoreError::from)
    }

    async fn delete_group(&self, name: &str) -> StoreResult<bool> {
        self.delete_named("DELETE FROM access_groups WHERE name = ?1", name)
            .await
    }

    async fn add_member(&self, group: &str, username: &str) -> StoreResult<AccessChange> {
        self.change_member(
            "INSERT INTO access_group_members (group_id, user_id) VALUES (?1, ?2)
             ON CONFLICT DO NOTHING",
            group,
            username,
        )
        .await
    }

    async fn remove_member(&self, group: &str, username: &str) -> StoreResult<AccessChange> {
        self.change_member(
            "DELETE FROM access_group_members WHERE group_id = ?1 AND user_id = ?2",
            group,
            username,
        )
        .await
    }

    async fn put_policy(&self, name: &str, document: &str, at: Timestamp) -> StoreResult<bool> {
        let (name, document) = (name.to_owned(), document.to_owned());
        self.write(move |conn| {
            let replaced = change(
                conn,
                "UPDATE access_policies SET document = ?2, updated_at = ?3 WHERE name = ?1",
                params![name, document, at],
            )?;
            if replaced == 0 {
                let policies: i64 =
                    conn.query_row("SELECT count(*) FROM access_policies", [], |row| row.get(0))?;
                if policies as usize >= MAX_POLICIES {
                    return Ok(Err(AccessLimit::Policies));
                }
                change(
                    conn,
                    "INSERT INTO access_policies (name, document, updated_at) VALUES (?1, ?2, ?3)",
                    params![name, document, at],
                )?;
            }
            Ok(Ok(replaced == 0))
        })
        .await?
        .map_err(StoreError::from)
    }

    async fn delete_policy(&self, name: &str) -> StoreResult<bool> {
        self.delete_named("DELETE FROM access_policies WHERE name = ?1", name)
            .await
    }

    async fn attach_policy(&self, policy: &str, to: &Attachment) -> StoreResult<AccessChange> {
        let (policy, to) = (policy.to_owned(), to.clone());
        self.write(move |conn| {
            let Some(policy) = policy_id(conn, &policy)? else {
                return Ok(Ok(AccessChange::NoSuchPolicy));
            };
            let target = match target(conn, &to)? {
                Ok(target) => target,
                Err(missing) => return Ok(Ok(missing)),
            };
            let (group, user) = target.ids();
            let already: Option<i64> = conn
                .query_row(
                    "SELECT 1 FROM access_attachments
                     WHERE policy_id = ?1 AND group_id IS ?2 AND user_id IS ?3",
                    params![policy, group, user],
                    |row| row.get(0),
                )
                .optional()?;
            if already.is_some() {
                return Ok(Ok(AccessChange::Done));
            }
            let attached = match target {
                Target::Group(id) => count(
                    conn,
                    "SELECT count(*) FROM access_attachments WHERE group_id = ?1",
                    id,
                )?,
                Target::User(id) => count(
                    conn,
                    "SELECT count(*) FROM access_attachments WHERE user_id = ?1",
                    id,
                )?,
            };
            if attached >= MAX_POLICIES_PER_TARGET {
                return Ok(Err(AccessLimit::PoliciesPerTarget));
            }
            change(
                conn,
                "INSERT INTO access_attachments (policy_id, group_id, user_id) VALUES (?1, ?2, ?3)",
                params![policy, group, user],
            )?;
            Ok(Ok(AccessChange::Done))
        })
        .await?
        .map_err(StoreError::from)
    }

    async fn detach_policy(&self, policy: &str, to: &Attachment) -> StoreResult<AccessChange> {
        let (policy, to) = (policy.to_owned(), to.clone());
        self.write(move |conn| {
            let Some(policy) = policy_id(conn, &policy)? else {
                return Ok(AccessChange::NoSuchPolicy);
            };
            let target = match target(conn, &to)? {
                Ok(target) => target,
                Err(missing) => return Ok(missing),
            };
            let (group, user) = target.ids();
            change(
                conn,
                "DELETE FROM access_attachments
                 WHERE policy_id = ?1 AND group_id IS ?2 AND user_id IS ?3",
                params![policy, group, user],
            )?;
            Ok(AccessChange::Done)
        })
        .await
    }

    async fn access_rows(&self) -> StoreResult<AccessRows> {
        self.call(|conn| {
            // One deferred transaction: in WAL mode its first read fixes the
            // snapshot every later read sees.
            let tx = conn.transaction()?;
            let rows = read_rows(&tx)?;
            tx.finish()?;
            Ok(rows)
        })
        .await
    }

    async fn access_version(&self) -> StoreResult<i64> {
        self.read_in_place(|conn| {
            conn.query_row(
                "SELECT version FROM access_version WHERE id = 1",
                [],
                |row| row.get(0),
            )
        })
        .await
    }
}

fn read_rows(conn: &Connection) -> rusqlite::Result<AccessRows> {
    let version = conn.query_row(
        "SELECT version FROM access_version WHERE id = 1",
        [],
        |row| row.get(0),
    )?;
    let mut statement = conn.prepare("SELECT name FROM access_groups")?;
    let groups = statement
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut statement = conn.prepare(
        "SELECT g.name, u.username FROM access_group_members m
           JOIN access_groups g ON g.id = m.group_id
           JOIN users u ON u.id = m.user_id",
    )?;
    let members = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut statement = conn.prepare("SELECT name, document, updated_at FROM access_policies")?;
    let policies = statement
        .query_map([], |row| {
            Ok(PolicyRow {
                name: row.get(0)?,
                document: row.get(1)?,
                attached_to: Vec::new(),
                updated_at: row.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut statement = conn.prepare(
        "SELECT p.name, g.name, u.username FROM access_attachments a
           JOIN access_policies p ON p.id = a.policy_id
           LEFT JOIN access_groups g ON g.id = a.group_id
           LEFT JOIN users u ON u.id = a.user_id",
    )?;
    let attachments = statement
        .query_map([], |row| {
            let policy: String = row.get(0)?;
            let to = match (
                row.get::<_, Option<String>>(1)?,
                row.get::<_, Option<String>>(2)?,
            ) {
                (Some(group), _) => Attachment::Group(group),
                (None, user) => Attachment::User(user.unwrap_or_default()),
            };
            Ok((policy, to))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut rows = AccessRows::assemble(version, groups, members, policies, attachments);
    rows.roles = super::programmatic::read_roles(conn)?;
    Ok(rows)
}
