//! Access keys, roles and temporary credentials on PostgreSQL: a key is
//! counted under its user's row lock, a temporary credential written under a
//! share lock on its key and user (so a deactivation waits for it, and then
//! ends it), a role changed under the access version's lock.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::access::{begin_change, group_id, id_of, policy_id, user_id};
use super::users::{USERS_USER_COLUMNS, user_from_row_at};
use super::{
    AccessKeyRecord, LiveTemporaryCredential, PostgresStore, ProgrammaticStore, StoreError,
    StoreResult, TemporaryCredentialRecord, TemporaryRefusal, TokenHash, UserId, UserRecord,
    hash32,
};
use crate::model::Timestamp;
use crate::model::access::{
    AccessChange, AccessLimit, MAX_POLICIES_PER_TARGET, MAX_ROLE_TRUST, MAX_ROLES, RoleRow,
};

const KEY_COLUMNS: &str = "k.id, k.user_id, k.secret_hash, k.active, k.created_at, k.last_used_at";
const KEY_COLUMN_COUNT: usize = 6;

fn key_from_row(row: &Row) -> StoreResult<AccessKeyRecord> {
    Ok(AccessKeyRecord {
        id: row.get(0),
        user_id: row.get(1),
        secret_hash: hash32(row.get(2))?,
        active: row.get(3),
        created_at: row.get(4),
        last_used_at: row.get(5),
    })
}

/// Every role with its trust and policies, sorted (inside the caller's read).
pub(super) async fn read_roles(tx: &Transaction<'_>) -> StoreResult<Vec<RoleRow>> {
    let mut roles: Vec<RoleRow> = tx
        .query(
            "SELECT name, max_duration_secs, updated_at FROM access_roles ORDER BY name",
            &[],
        )
        .await?
        .iter()
        .map(|row| RoleRow {
            name: row.get(0),
            trusted_groups: Vec::new(),
            trusted_users: Vec::new(),
            policies: Vec::new(),
            max_duration_secs: row.get(1),
            updated_at: row.get(2),
        })
        .collect();
    let position = |roles: &[RoleRow], name: &str| roles.iter().position(|r| r.name == name);
    for row in tx
        .query(
            "SELECT r.name, p.name FROM access_role_policies rp
               JOIN access_roles r ON r.id = rp.role_id
               JOIN access_policies p ON p.id = rp.policy_id",
            &[],
        )
        .await?
    {
        if let Some(at) = position(&roles, row.get(0)) {
            roles[at].policies.push(row.get(1));
        }
    }
    for row in tx
        .query(
            "SELECT r.name, g.name, u.username FROM access_role_trust t
               JOIN access_roles r ON r.id = t.role_id
               LEFT JOIN access_groups g ON g.id = t.group_id
               LEFT JOIN users u ON u.id = t.user_id",
            &[],
        )
        .await?
    {
        if let Some(at) = position(&roles, row.get(0)) {
            match (
                row.get::<_, Option<String>>(1),
                row.get::<_, Option<String>>(2),
            ) {
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

#[async_trait]
impl ProgrammaticStore for PostgresStore {
    async fn insert_access_key(&self, key: AccessKeyRecord, at_most: u32) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The user's row lock: parallel creations for one user take turns.
        if tx
            .query_opt(
                "SELECT id FROM users WHERE id = $1 FOR UPDATE",
                &[&key.user_id],
            )
            .await?
            .is_none()
        {
            return Ok(false);
        }
        let held: i64 = tx
            .query_one(
                "SELECT count(*) FROM access_keys WHERE user_id = $1",
                &[&key.user_id],
            )
            .await?
            .get(0);
        if held >= i64::from(at_most) {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO access_keys (id, user_id, secret_hash, active, created_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &key.id,
                &key.user_id,
                &&key.secret_hash[..],
                &key.active,
                &key.created_at,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn access_keys_of(&self, user: UserId) -> StoreResult<Vec<AccessKeyRecord>> {
        let client = self.client().await?;
        client
            .query(
                &format!(
                    "SELECT {KEY_COLUMNS} FROM access_keys k WHERE k.user_id = $1
                      ORDER BY k.created_at, k.id"
                ),
                &[&user],
            )
            .await?
            .iter()
            .map(key_from_row)
            .collect()
    }

    async fn all_access_keys(&self) -> StoreResult<Vec<AccessKeyRecord>> {
        let client = self.client().await?;
        client
            .query(
                &format!(
                    "SELECT {KEY_COLUMNS} FROM access_keys k ORDER BY k.user_id, k.created_at, k.id"
                ),
                &[],
            )
            .await?
            .iter()
            .map(key_from_row)
            .collect()
    }

    async fn access_key_with_user(
        &self,
        id: &str,
    ) -> StoreResult<Option<(AccessKeyRecord, UserRecord)>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {KEY_COLUMNS}, {USERS_USER_COLUMNS}
                   FROM access_keys k JOIN users ON users.id = k.user_id WHERE k.id = $1"
            ))
            .await?;
        match client.query_opt(&statement, &[&id]).await? {
            Some(row) => Ok(Some((
                key_from_row(&row)?,
                user_from_row_at(&row, KEY_COLUMN_COUNT),
            ))),
            None => Ok(None),
        }
    }

    async fn set_access_key_active(
        &self,
        user: UserId,
        id: &str,
        active: bool,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let changed = tx
            .execute(
                "UPDATE access_keys SET active = $3 WHERE user_id = $1 AND id = $2",
                &[&user, &id, &active],
            )
            .await?;
        // Voided for good: activating the key again revives none.
        if changed == 1 && !active {
            tx.execute(
                "DELETE FROM temporary_credentials WHERE access_key_id = $1",
                &[&id],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(changed == 1)
    }

    async fn delete_access_key(&self, user: UserId, id: &str) -> StoreResult<bool> {
        let client = self.client().await?;
        let deleted = client
            .execute(
                "DELETE FROM access_keys WHERE user_id = $1 AND id = $2",
                &[&user, &id],
            )
            .await?;
        Ok(deleted == 1)
    }

    async fn touch_access_key(&self, id: &str, at: Timestamp) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE access_keys SET last_used_at = greatest(coalesce(last_used_at, 0), $2)
                  WHERE id = $1",
                &[&id, &at],
            )
            .await?;
        Ok(())
    }

    async fn insert_temporary_credential(
        &self,
        credential: TemporaryCredentialRecord,
        keep_at_most: u32,
    ) -> StoreResult<Result<(), TemporaryRefusal>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let enabled: Option<bool> = tx
            .query_opt(
                "SELECT NOT disabled FROM users WHERE id = $1 FOR SHARE",
                &[&credential.user_id],
            )
            .await?
            .map(|row| row.get(0));
        if enabled != Some(true) {
            return Ok(Err(TemporaryRefusal::CredentialGone));
        }
        if let Some(key) = &credential.access_key_id {
            let active: Option<bool> = tx
                .query_opt(
                    "SELECT active FROM access_keys WHERE id = $1 AND user_id = $2 FOR SHARE",
                    &[key, &credential.user_id],
                )
                .await?
                .map(|row| row.get(0));
            if active != Some(true) {
                return Ok(Err(TemporaryRefusal::CredentialGone));
            }
        }
        let role = match &credential.role {
            Some(name) => match tx
                .query_opt(
                    "SELECT id FROM access_roles WHERE name = $1 FOR SHARE",
                    &[name],
                )
                .await?
            {
                Some(row) => Some(row.get::<_, i64>(0)),
                None => return Ok(Err(TemporaryRefusal::NoSuchRole)),
            },
            None => None,
        };
        tx.execute(
            "DELETE FROM temporary_credentials WHERE user_id = $1 AND expires_at <= $2",
            &[&credential.user_id, &credential.created_at],
        )
        .await?;
        tx.execute(
            "INSERT INTO temporary_credentials (token_hash, id, user_id, access_key_id, role_id,
                 mfa_method, mfa_at, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &&credential.token_hash[..],
                &credential.id,
                &credential.user_id,
                &credential.access_key_id,
                &role,
                &credential.mfa_method,
                &credential.mfa_at,
                &credential.created_at,
                &credential.expires_at,
            ],
        )
        .await?;
        tx.execute(
            "DELETE FROM temporary_credentials WHERE user_id = $1 AND id NOT IN
                (SELECT id FROM temporary_credentials WHERE user_id = $1
                  ORDER BY created_at DESC, id DESC LIMIT $2)",
            &[&credential.user_id, &i64::from(keep_at_most)],
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    async fn temporary_credential(
        &self,
        token_hash: TokenHash,
    ) -> StoreResult<Option<LiveTemporaryCredential>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT t.token_hash, t.id, t.user_id, t.access_key_id, r.name, t.mfa_method,
                        t.mfa_at, t.created_at, t.expires_at, coalesce(k.active, TRUE),
                        {USERS_USER_COLUMNS}
                   FROM temporary_credentials t
                   JOIN users ON users.id = t.user_id
                   LEFT JOIN access_keys k ON k.id = t.access_key_id
                   LEFT JOIN access_roles r ON r.id = t.role_id
                  WHERE t.token_hash = $1"
            ))
            .await?;
        let Some(row) = client.query_opt(&statement, &[&&token_hash[..]]).await? else {
            return Ok(None);
        };
        Ok(Some(LiveTemporaryCredential {
            credential: TemporaryCredentialRecord {
                token_hash: hash32(row.get(0))?,
                id: row.get(1),
                user_id: row.get(2),
                access_key_id: row.get(3),
                role: row.get(4),
                mfa_method: row.get(5),
                mfa_at: row.get(6),
                created_at: row.get(7),
                expires_at: row.get(8),
            },
            key_active: row.get(9),
            user: user_from_row_at(&row, 10),
        }))
    }

    async fn delete_expired_temporary_credentials(&self, now: Timestamp) -> StoreResult<u64> {
        let client = self.client().await?;
        Ok(client
            .execute(
                "DELETE FROM temporary_credentials WHERE expires_at <= $1",
                &[&now],
            )
            .await?)
    }

    async fn put_role(&self, role: RoleRow) -> StoreResult<Result<bool, AccessChange>> {
        let mut client = self.client().await?;
        let tx = begin_change(&mut client).await?;
        let mut policies = Vec::new();
        for name in &role.policies {
            match policy_id(&tx, name).await? {
                Some(id) => policies.push(id),
                None => return Ok(Err(AccessChange::NoSuchPolicy)),
            }
        }
        let mut groups = Vec::new();
        for name in &role.trusted_groups {
            match group_id(&tx, name).await? {
                Some(id) => groups.push(id),
                None => return Ok(Err(AccessChange::NoSuchGroup)),
            }
        }
        let mut users = Vec::new();
        for name in &role.trusted_users {
            match user_id(&tx, name).await? {
                Some(id) => users.push(id),
                None => return Ok(Err(AccessChange::NoSuchUser)),
            }
        }
        if policies.len() > MAX_POLICIES_PER_TARGET {
            return Err(StoreError::AccessLimit(AccessLimit::PoliciesPerTarget));
        }
        if groups.len() + users.len() > MAX_ROLE_TRUST {
            return Err(StoreError::AccessLimit(AccessLimit::RoleTrust));
        }
        let existing = id_of(
            &tx,
            "SELECT id FROM access_roles WHERE name = $1",
            &role.name,
        )
        .await?;
        let id: i64 = match existing {
            Some(id) => {
                tx.execute(
                    "UPDATE access_roles SET max_duration_secs = $2, updated_at = $3 WHERE id = $1",
                    &[&id, &role.max_duration_secs, &role.updated_at],
                )
                .await?;
                tx.execute(
                    "DELETE FROM access_role_policies WHERE role_id = $1",
                    &[&id],
                )
                .await?;
                tx.execute("DELETE FROM access_role_trust WHERE role_id = $1", &[&id])
                    .await?;
                id
            }
            None => {
                let roles: i64 = tx
                    .query_one("SELECT count(*) FROM access_roles", &[])
                    .await?
                    .get(0);
                if roles as usize >= MAX_ROLES {
                    return Err(StoreError::AccessLimit(AccessLimit::Roles));
                }
                tx.query_one(
                    "INSERT INTO access_roles (name, max_duration_secs, updated_at)
                     VALUES ($1, $2, $3) RETURNING id",
                    &[&role.name, &role.max_duration_secs, &role.updated_at],
                )
                .await?
                .get(0)
            }
        };
        for policy in policies {
            tx.execute(
                "INSERT INTO access_role_policies (role_id, policy_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
                &[&id, &policy],
            )
            .await?;
        }
        for group in groups {
            tx.execute(
                "INSERT INTO access_role_trust (role_id, group_id) VALUES ($1, $2)",
                &[&id, &group],
            )
            .await?;
        }
        for user in users {
            tx.execute(
                "INSERT INTO access_role_trust (role_id, user_id) VALUES ($1, $2)",
                &[&id, &user],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Ok(existing.is_none()))
    }

    async fn delete_role(&self, name: &str) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = begin_change(&mut client).await?;
        let deleted = tx
            .execute("DELETE FROM access_roles WHERE name = $1", &[&name])
            .await?;
        if deleted > 0 {
            tx.commit().await?;
        }
        Ok(deleted > 0)
    }
}
