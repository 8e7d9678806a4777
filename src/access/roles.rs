//! Roles, as IAM's: an admin names who may assume one (users, groups), the
//! policies that are its permissions alone, and how long its tokens may
//! live. Checked here, audited naming the acting admin; assuming one is
//! `auth::temporary_credentials`.

use super::management::{AccessResult, NameOf, check_name, found};
use crate::auth::admin::Actor;
use crate::auth::audit::AuditEvent;
use crate::auth::temporary_credentials::{MAX_DURATION_SECS, MIN_DURATION_SECS};
use crate::auth::{Auth, AuthError, Client};
use crate::model::access::{MAX_POLICIES_PER_TARGET, MAX_ROLE_TRUST, RoleRow};

/// A role as an admin puts it.
#[derive(Debug, Clone, Default)]
pub struct RoleSpec {
    pub trusted_groups: Vec<String>,
    pub trusted_users: Vec<String>,
    pub policies: Vec<String>,
    pub max_duration_secs: Option<i64>,
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names.dedup();
    names
}

impl Auth {
    /// Every role, by name.
    pub async fn roles(&self, _by: &Actor) -> AccessResult<Vec<RoleRow>> {
        Ok(self.store.access_rows().await?.roles)
    }

    /// Creates or replaces a role; `true` when it is new. Every policy,
    /// group and user it names must exist (404 `not_found`).
    pub async fn put_role(
        &self,
        by: &Actor,
        name: &str,
        spec: RoleSpec,
        client: &Client,
    ) -> AccessResult<bool> {
        self.require_recent_second_factor_of(by)?;
        check_name(NameOf::Role, name)?;
        let max_duration_secs = spec.max_duration_secs.unwrap_or(3600);
        if !(MIN_DURATION_SECS..=MAX_DURATION_SECS).contains(&max_duration_secs) {
            return Err(AuthError::InvalidRequest(format!(
                "max_duration_secs must be from {MIN_DURATION_SECS} to {MAX_DURATION_SECS}"
            ))
            .into());
        }
        for group in &spec.trusted_groups {
            check_name(NameOf::Group, group)?;
        }
        for policy in &spec.policies {
            check_name(NameOf::Policy, policy)?;
        }
        if spec.trusted_groups.len() + spec.trusted_users.len() > MAX_ROLE_TRUST {
            return Err(AuthError::InvalidRequest(format!(
                "a role trusts at most {MAX_ROLE_TRUST} users and groups"
            ))
            .into());
        }
        if spec.policies.len() > MAX_POLICIES_PER_TARGET {
            return Err(AuthError::InvalidRequest(format!(
                "a role has at most {MAX_POLICIES_PER_TARGET} policies"
            ))
            .into());
        }
        let role = RoleRow {
            name: name.to_owned(),
            trusted_groups: sorted(spec.trusted_groups),
            trusted_users: sorted(spec.trusted_users),
            policies: sorted(spec.policies),
            max_duration_secs,
            updated_at: self.now(),
        };
        let what = format!(
            "role={name} trusted_groups={} trusted_users={} policies={} max_duration_secs={max_duration_secs}",
            role.trusted_groups.join(","),
            role.trusted_users.join(","),
            role.policies.join(","),
        );
        let created = match self.store.put_role(role).await? {
            Ok(created) => created,
            Err(missing) => {
                found(missing)?;
                return Err(AuthError::NotFound("role").into());
            }
        };
        self.after_change(AuditEvent::RolePut, by, None, &what, client)
            .await;
        Ok(created)
    }

    /// Deletes a role; the tokens made for it end with it.
    pub async fn delete_role(&self, by: &Actor, name: &str, client: &Client) -> AccessResult<()> {
        self.delete_named(NameOf::Role, by, name, client).await
    }
}
