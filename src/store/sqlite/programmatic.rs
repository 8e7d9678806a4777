//! Access keys, roles and temporary credentials on SQLite: every check that
//! guards a write (two keys at most, a key still active, a role's policies
//! there) runs on the one writer in the write's own transaction.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::users::{USER_COLUMNS, user_from_row_at};
use super::{
    AccessKeyRecord, LiveTemporaryCredential, ProgrammaticStore, SqliteStore, StoreError,
    StoreResult, TemporaryCredentialRecord, TemporaryRefusal, TokenHash, UserId, UserRecord,
};
use crate::model::Timestamp;
use crate::model::access::{
    AccessChange, AccessLimit, MAX_POLICIES_PER_TARGET, MAX_ROLE_TRUST, MAX_ROLES, RoleRow,
};

const KEY_COLUMNS: &str = "id, user_id, secret_hash, active, created_at, last_used_at";
const KEY_COLUMN_COUNT: usize = 6;

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<AccessKeyRecord> {
    Ok(AccessKeyRecord {
        id: row.get(0)?,
        user_id: row.get(1)?,
        secret_hash: row.get(2)?,
        active: row.get(3)?,
        created_at: row.get(4)?,
        last_used_at: row.get(5)?,
    })
}

fn prefixed(columns: &str, prefix: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{prefix}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn id_of(conn: &Connection, sql: &str, name: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(sql, [name], |row| row.get(0)).optional()
}

/// Every role with its trust and policies, sorted (inside the caller's read).
pub(super) fn read_roles(conn: &Connection) -> rusqlite::Result<Vec<RoleRow>> {
    let mut roles: Vec<RoleRow> = conn
        .prepare("SELECT name, max_duration_secs, updated_at FROM access_roles ORDER BY name")?
        .query_map([], |row| {
            Ok(RoleRow {
                name: row.get(0)?,
                trusted_groups: Vec::new(),
                trusted_users: Vec::new(),
                policies: Vec::new(),
                max_duration_secs: row.get(1)?,
                updated_at: row.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let find = |roles: &mut Vec<RoleRow>, name: &str| roles.iter_mut().position(|r| r.name == name);
    let policies: Vec<(String, String)> = conn
        .prepare(
            "SELECT r.name, p.name FROM access_role_policies rp
               JOIN access_roles r ON r.id = rp.role_id
               JOIN access_policies p ON p.id = rp.policy_id",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (role, policy) in policies {
        if let Some(at) = find(&mut roles, &role) {
            roles[at].policies.push(policy);
        }
    }
    let trust: Vec<(String, Option<String>, Option<String>)> = conn
        .prepare(
            "SELECT r.name, g.name, u.username FROM access_role_trust t
               JOIN access_roles r ON r.id = t.role_id
               LEFT JOIN access_groups g ON g.id = t.group_id
               LEFT JOIN users u ON u.id = t.user_id",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (role, group, user) in trust {
        if let Some(at) = find(&mut roles, &role) {
            match (group, user) {
                (Some(group), _) => roles[at].trusted_groups.push(group),
                (None, Some(user)) => roles[at].trusted_users.push(user),
                (None, None) => {}
            }
        }
    }
    for role in &mut roles {
        role.policies.sort();
        role.trusted_groups.sort();
        role.trusted_users.sort();
    }
    Ok(roles)
}

/// Writes a role in the caller's transaction: `Err` names what is missing.
fn write_role(conn: &Connection, role: &RoleRow) -> rusqlite::Result<Result<bool, Refused>> {
    let mut policies = Vec::with_capacity(role.policies.len());
    for name in &role.policies {
        match id_of(conn, "SELECT id FROM access_policies WHERE name = ?1", name)? {
            Some(id) => policies.push(id),
            None => return Ok(Err(Refused::Missing(AccessChange::NoSuchPolicy))),
        }
    }
    let mut groups = Vec::with_capacity(role.trusted_groups.len());
    for name in &role.trusted_groups {
        match id_of(conn, "SELECT id FROM access_groups WHERE name = ?1", name)? {
            Some(id) => groups.push(id),
            None => return Ok(Err(Refused::Missing(AccessChange::NoSuchGroup))),
        }
    }
    let mut users = Vec::with_capacity(role.trusted_users.len());
    for name in &role.trusted_users {
        match id_of(conn, "SELECT id FROM users WHERE username = ?1", name)? {
            Some(id) => users.push(id),
            None => return Ok(Err(Refused::Missing(AccessChange::NoSuchUser))),
        }
    }
    if policies.len() > MAX_POLICIES_PER_TARGET {
        return Ok(Err(Refused::Limit(AccessLimit::PoliciesPerTarget)));
    }
    if groups.len() + users.len() > MAX_ROLE_TRUST {
        return Ok(Err(Refused::Limit(AccessLimit::RoleTrust)));
    }
    let existing = id_of(
        conn,
        "SELECT id FROM access_roles WHERE name = ?1",
        &role.name,
    )?;
    let id = match existing {
        Some(id) => {
            conn.execute(
                "UPDATE access_roles SET max_duration_secs = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, role.max_duration_secs, role.updated_at],
            )?;
            conn.execute("DELETE FROM access_role_policies WHERE role_id = ?1", [id])?;
            conn.execute("DELETE FROM access_role_trust WHERE role_id = ?1", [id])?;
            id
        }
        None => {
            let roles: i64 =
                conn.query_row("SELECT count(*) FROM access_roles", [], |row| row.get(0))?;
            if roles as usize >= MAX_ROLES {
                return Ok(Err(Refused::Limit(AccessLimit::Roles)));
            }
            conn.execute(
                "INSERT INTO access_roles (name, max_duration_secs, updated_at) VALUES (?1, ?2, ?3)",
                params![role.name, role.max_duration_secs, role.updated_at],
            )?;
            conn.last_insert_rowid()
        }
    };
    for policy in policies {
        conn.execute(
            "INSERT OR IGNORE INTO access_role_policies (role_id, policy_id) VALUES (?1, ?2)",
            params![id, policy],
        )?;
    }
    for group in groups {
        conn.execute(
            "INSERT INTO access_role_trust (role_id, group_id) VALUES (?1, ?2)",
            params![id, group],
        )?;
    }
    for user in users {
        conn.execute(
            "INSERT INTO access_role_trust (role_id, user_id) VALUES (?1, ?2)",
            params![id, user],
        )?;
    }
    conn.execute(
        "UPDATE access_version SET version = version + 1 WHERE id = 1",
        [],
    )?;
    Ok(Ok(existing.is_none()))
}

enum Refused {
    Missing(AccessChange),
    Limit(AccessLimit),
}

#[async_trait]
impl ProgrammaticStore for SqliteStore {
    async fn insert_access_key(&self, key: AccessKeyRecord, at_most: u32) -> StoreResult<bool> {
        self.write(move |conn| {
            let held: i64 = conn.query_row(
                "SELECT count(*) FROM access_keys WHERE user_id = ?1",
                [key.user_id],
                |row| row.get(0),
            )?;
            if held >= i64::from(at_most) {
                return Ok(false);
            }
            conn.execute(
                "INSERT INTO access_keys (id, user_id, secret_hash, active, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    key.id,
                    key.user_id,
                    key.secret_hash,
                    key.active,
                    key.created_at
                ],
            )?;
            Ok(true)
        })
        .await
    }

    async fn access_keys_of(&self, user: UserId) -> StoreResult<Vec<AccessKeyRecord>> {
        self.call(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM access_keys WHERE user_id = ?1
                  ORDER BY created_at, rowid"
            ))?
            .query_map([user], key_from_row)?
            .collect()
        })
        .await
    }

    async fn all_access_keys(&self) -> StoreResult<Vec<AccessKeyRecord>> {
        self.call(move |conn| {
            conn.prepare(&format!(
                "SELECT {KEY_COLUMNS} FROM access_keys ORDER BY user_id, created_at, rowid"
            ))?
            .query_map([], key_from_row)?
            .collect()
        })
        .await
    }

    async fn access_key_with_user(
        &self,
        id: &str,
    ) -> StoreResult<Option<(AccessKeyRecord, UserRecord)>> {
        let id = id.to_owned();
        self.read_in_place(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {}, {} FROM access_keys k JOIN users u ON u.id = k.user_id
                  WHERE k.id = ?1",
                prefixed(KEY_COLUMNS, "k"),
                prefixed(USER_COLUMNS, "u"),
            ))?
            .query_row([id], |row| {
                Ok((key_from_row(row)?, user_from_row_at(row, KEY_COLUMN_COUNT)?))
            })
            .optional()
        })
        .await
    }

    async fn set_access_key_active(
        &self,
        user: UserId,
        id: &str,
        active: bool,
    ) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |conn| {
            let changed = conn.execute(
                "UPDATE access_keys SET active = ?3 WHERE user_id = ?1 AND id = ?2",
                params![user, id, active],
            )?;
            // Voided for good: activating the key again revives none.
            if changed == 1 && !active {
                conn.execute(
                    "DELETE FROM temporary_credentials WHERE access_key_id = ?1",
                    [&id],
                )?;
            }
            Ok(changed == 1)
        })
        .await
    }

    async fn delete_access_key(&self, user: UserId, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM access_keys WHERE user_id = ?1 AND id = ?2",
                params![user, id],
            )
            .map(|n| n == 1)
        })
        .await
    }

    async fn touch_access_key(&self, id: &str, at: Timestamp) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |conn| {
            conn.execute(
                "UPDATE access_keys SET last_used_at = max(coalesce(last_used_at, 0), ?2)
                  WHERE id = ?1",
                params![id, at],
            )
            .map(drop)
        })
        .await
    }

    async fn insert_temporary_credential(
        &self,
        credential: TemporaryCredentialRecord,
        keep_at_most: u32,
    ) -> StoreResult<Result<(), TemporaryRefusal>> {
        self.write(move |conn| {
            let enabled: Option<bool> = conn
                .query_row(
                    "SELECT NOT disabled FROM users WHERE id = ?1",
                    [credential.user_id],
                    |row| row.get(0),
                )
                .optional()?;
            if enabled != Some(true) {
                return Ok(Err(TemporaryRefusal::CredentialGone));
            }
            if let Some(key) = &credential.access_key_id {
                let active: Option<bool> = conn
                    .query_row(
                        "SELECT active FROM access_keys WHERE id = ?1 AND user_id = ?2",
                        params![key, credential.user_id],
                        |row| row.get(0),
                    )
                    .optional()?;
                if active != Some(true) {
                    return Ok(Err(TemporaryRefusal::CredentialGone));
                }
            }
            let role = match &credential.role {
                Some(name) => {
                    match id_of(conn, "SELECT id FROM access_roles WHERE name = ?1", name)? {
                        Some(id) => Some(id),
                        None => return Ok(Err(TemporaryRefusal::NoSuchRole)),
                    }
                }
                None => None,
            };
            conn.execute(
                "DELETE FROM temporary_credentials WHERE user_id = ?1 AND expires_at <= ?2",
                params![credential.user_id, credential.created_at],
            )?;
            conn.execute(
                "INSERT INTO temporary_credentials (token_hash, id, user_id, access_key_id, role_id,
                     mfa_method, mfa_at, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    credential.token_hash,
                    credential.id,
                    credential.user_id,
                    credential.access_key_id,
                    role,
                    credential.mfa_method,
                    credential.mfa_at,
                    credential.created_at,
                    credential.expires_at
                ],
            )?;
            super::sessions::keep_newest(
                conn,
                "temporary_credentials",
                credential.user_id,
                keep_at_most,
            )?;
            Ok(Ok(()))
        })
        .await
    }

    async fn temporary_credential(
        &self,
        token_hash: TokenHash,
    ) -> StoreResult<Option<LiveTemporaryCredential>> {
        // The hot path of `/api/v1/verify` with a Bearer token: one indexed read.
        self.read_in_place(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT t.token_hash, t.id, t.user_id, t.access_key_id, r.name, t.mfa_method,
                        t.mfa_at, t.created_at, t.expires_at, coalesce(k.active, 1), {}
                   FROM temporary_credentials t
                   JOIN users u ON u.id = t.user_id
                   LEFT JOIN access_keys k ON k.id = t.access_key_id
                   LEFT JOIN access_roles r ON r.id = t.role_id
                  WHERE t.token_hash = ?1",
                prefixed(USER_COLUMNS, "u"),
            ))?
            .query_row([token_hash], |row| {
                Ok(LiveTemporaryCredential {
                    credential: TemporaryCredentialRecord {
                        token_hash: row.get(0)?,
                        id: row.get(1)?,
                        user_id: row.get(2)?,
                        access_key_id: row.get(3)?,
                        role: row.get(4)?,
                        mfa_method: row.get(5)?,
                        mfa_at: row.get(6)?,
                        created_at: row.get(7)?,
                        expires_at: row.get(8)?,
                    },
                    key_active: row.get(9)?,
                    user: user_from_row_at(row, 10)?,
                })
            })
            .optional()
        })
        .await
    }

    async fn delete_expired_temporary_credentials(&self, now: Timestamp) -> StoreResult<u64> {
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM temporary_credentials WHERE expires_at <= ?1",
                [now],
            )
            .map(|n| n as u64)
        })
        .await
    }

    async fn put_role(&self, role: RoleRow) -> StoreResult<Result<bool, AccessChange>> {
        match self.write(move |conn| write_role(conn, &role)).await? {
            Ok(created) => Ok(Ok(created)),
            Err(Refused::Missing(missing)) => Ok(Err(missing)),
            Err(Refused::Limit(limit)) => Err(StoreError::from(limit)),
        }
    }

    async fn delete_role(&self, name: &str) -> StoreResult<bool> {
        let name = name.to_owned();
        self.write(move |conn| {
            let deleted = conn.execute("DELETE FROM access_roles WHERE name = ?1", [&name])?;
            if deleted > 0 {
                conn.execute(
                    "UPDATE access_version SET version = version + 1 WHERE id = 1",
                    [],
                )?;
            }
            Ok(deleted > 0)
        })
        .await
    }
}
