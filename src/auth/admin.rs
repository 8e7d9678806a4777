//! Administration in the spirit of AWS IAM: who may administer (a signed-in
//! admin, or the host's operator at the command line), and what they may do —
//! list, create, disable and enable users, the lost-device reset, reading the
//! audit trail. Every change is audited naming who did it, and needs a
//! recent second factor from a signed-in admin.

use secrecy::SecretString;

use super::audit::AuditEvent;
use super::clock::Timestamp;
use super::principal::Credential;
use super::{Auth, AuthError, AuthResult, Client, Principal};
use crate::store::{
    AuditRecord, SecondFactorsRemoved, TokenHash, UserId, UserOverview, UserRecord,
};

/// Audit events returned when the caller names no limit.
pub const DEFAULT_AUDIT_LIMIT: u32 = 100;
/// Most audit events returned at once.
pub const MAX_AUDIT_LIMIT: u32 = 1000;

/// Who performs an administrative action, as the audit trail names them. Only
/// obtained from `Auth::administrator` (a signed-in admin, both factors
/// passed) or `Actor::host_operator` (the command line on the server's host,
/// which can already read the database: the break-glass path).
#[derive(Debug, Clone)]
pub struct Actor {
    kind: ActorKind,
}

#[derive(Debug, Clone)]
enum ActorKind {
    Admin {
        user_id: UserId,
        username: String,
        session: TokenHash,
        /// When this admin's session last passed a second factor.
        second_factor_at: Timestamp,
        /// Not `admin: true`: acting through a policy that allowed this one
        /// endpoint's action (delegated administration).
        delegated: bool,
    },
    HostOperator,
}

impl Actor {
    /// The operator running `twofold` on the host.
    pub fn host_operator() -> Self {
        Self {
            kind: ActorKind::HostOperator,
        }
    }

    /// The admin's username, or `cli` for the host's operator.
    pub fn name(&self) -> &str {
        match &self.kind {
            ActorKind::Admin { username, .. } => username,
            ActorKind::HostOperator => "cli",
        }
    }

    fn is_user(&self, user: &UserRecord) -> bool {
        matches!(&self.kind, ActorKind::Admin { user_id, .. } if *user_id == user.id)
    }

    /// A signed-in user acting through a policy, not as `admin: true`.
    pub fn is_delegated(&self) -> bool {
        matches!(
            &self.kind,
            ActorKind::Admin {
                delegated: true,
                ..
            }
        )
    }

    /// A signed-in user acting on an admin endpoint whose `twofold:*` action
    /// a policy allowed them (the caller checked it: `Auth::permit`).
    pub(crate) fn delegated(principal: &Principal) -> Self {
        let user = principal.user();
        // A role's token is named with its role: the trail names both.
        let username = match principal.role() {
            Some(role) => format!("{} (role {role})", user.username),
            None => user.username.clone(),
        };
        let session = match &principal.credential {
            Credential::Session(session) => session.token_hash,
            Credential::Temporary(token) => token.token_hash,
            Credential::AccessKey(key) => key.secret_hash,
        };
        Self {
            kind: ActorKind::Admin {
                user_id: user.id,
                username,
                session,
                // Without a second factor behind the credential, nothing
                // that needs a recent one is allowed.
                second_factor_at: principal
                    .second_factor()
                    .map_or(Timestamp::MIN / 2, |(_, at)| at),
                delegated: !principal.is_admin(),
            },
        }
    }

    /// Delegated administration stops at administrators: only `admin: true`
    /// makes, disables, enables or resets an administrator, so a policy
    /// granting a helpdesk `ResetMfa` can't be used to take over an admin.
    fn may_act_on(&self, user: &UserRecord) -> AuthResult<()> {
        if user.admin && self.is_delegated() {
            return Err(AuthError::Forbidden);
        }
        Ok(())
    }

    /// The admin's own session, when acting through one.
    pub(crate) fn session(&self) -> Option<TokenHash> {
        match &self.kind {
            ActorKind::Admin { session, .. } => Some(*session),
            ActorKind::HostOperator => None,
        }
    }
}

/// One user as administrators see them.
#[derive(Debug, Clone)]
pub struct UserSummary {
    pub username: String,
    pub admin: bool,
    pub disabled: bool,
    pub mfa_active: bool,
    pub totp_devices: u32,
    pub security_keys: u32,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
}

impl From<UserOverview> for UserSummary {
    fn from(row: UserOverview) -> Self {
        Self {
            mfa_active: row.totp_devices + row.security_keys + row.passkeys > 0,
            username: row.user.username,
            admin: row.user.admin,
            disabled: row.user.disabled,
            totp_devices: row.totp_devices,
            security_keys: row.security_keys,
            created_at: row.user.created_at,
            last_sign_in_at: row.last_sign_in_at,
        }
    }
}

/// Reads an audit limit as a client sent it: absent means the default.
pub fn audit_limit(limit: Option<&str>) -> AuthResult<u32> {
    let Some(text) = limit.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(DEFAULT_AUDIT_LIMIT);
    };
    match text.parse::<u32>() {
        Ok(n) if (1..=MAX_AUDIT_LIMIT).contains(&n) => Ok(n),
        _ => Err(AuthError::InvalidRequest(format!(
            "limit must be a whole number from 1 to {MAX_AUDIT_LIMIT}"
        ))),
    }
}

impl Auth {
    /// The principal as an administrator, if they are one: 403 for anyone
    /// else (no principal at all was already a 401).
    pub fn administrator(&self, principal: &Principal) -> AuthResult<Actor> {
        if !principal.is_admin() {
            return Err(AuthError::Forbidden);
        }
        Ok(Actor::delegated(principal))
    }

    /// Changes made by an admin need a second factor passed within
    /// `session.reauth_window_secs`, as a user's own sensitive changes do: a
    /// session left open must not be enough to reset someone's factors. The
    /// host's operator (the command line) can already read the database.
    pub(crate) fn require_recent_second_factor_of(&self, by: &Actor) -> AuthResult<()> {
        match by.kind {
            ActorKind::Admin {
                second_factor_at, ..
            } if self.clock.now() - second_factor_at > self.settings.session.reauth_window_secs => {
                Err(AuthError::ReauthenticationRequired)
            }
            _ => Ok(()),
        }
    }

    /// Every user, by name.
    pub async fn users(&self, _by: &Actor) -> AuthResult<Vec<UserSummary>> {
        Ok(self
            .store
            .user_overviews()
            .await?
            .into_iter()
            .map(UserSummary::from)
            .collect())
    }

    /// Creates a user on an administrator's behalf (the password policy applies).
    pub async fn add_user(
        &self,
        by: &Actor,
        username: &str,
        password: &SecretString,
        admin: bool,
        client: &Client,
    ) -> AuthResult<UserSummary> {
        self.require_recent_second_factor_of(by)?;
        if admin && by.is_delegated() {
            return Err(AuthError::Forbidden);
        }
        let acting = match by.kind {
            ActorKind::Admin { .. } => Some(by.name()),
            ActorKind::HostOperator => None,
        };
        let user = self
            .create_user(username, password, admin, acting, client)
            .await?;
        Ok(UserSummary {
            username: user.username,
            admin: user.admin,
            disabled: user.disabled,
            mfa_active: false,
            totp_devices: 0,
            security_keys: 0,
            created_at: user.created_at,
            last_sign_in_at: None,
        })
    }

    /// Disables a user: they can't sign in, and their sessions end at once.
    /// An administrator can't disable themselves (they would be locked out).
    pub async fn disable_user(
        &self,
        by: &Actor,
        username: &str,
        client: &Client,
    ) -> AuthResult<()> {
        self.require_recent_second_factor_of(by)?;
        let user = self.existing_user(username).await?;
        by.may_act_on(&user)?;
        if by.is_user(&user) {
            return Err(AuthError::CannotDisableSelf);
        }
        if self.store.set_disabled(user.id, true).await? {
            let detail = format!("by={}; sessions ended", by.name());
            self.audit(
                AuditEvent::UserDisabled,
                Some(&user.username),
                client,
                &detail,
            )
            .await;
        }
        Ok(())
    }

    /// Lets a disabled user sign in again.
    pub async fn enable_user(&self, by: &Actor, username: &str, client: &Client) -> AuthResult<()> {
        self.require_recent_second_factor_of(by)?;
        let user = self.existing_user(username).await?;
        by.may_act_on(&user)?;
        if self.store.set_disabled(user.id, false).await? {
            let detail = format!("by={}", by.name());
            self.audit(
                AuditEvent::UserEnabled,
                Some(&user.username),
                client,
                &detail,
            )
            .await;
        }
        Ok(())
    }

    /// The lost-device reset: every second factor and recovery code of the
    /// user is removed and their sessions end, so their next login asks them
    /// to enrol a new factor.
    pub async fn reset_second_factors(
        &self,
        by: &Actor,
        username: &str,
        client: &Client,
    ) -> AuthResult<SecondFactorsRemoved> {
        self.require_recent_second_factor_of(by)?;
        let user = self.existing_user(username).await?;
        by.may_act_on(&user)?;
        let removed = self.store.remove_second_factors(user.id).await?;
        let detail = format!(
            "by={}; removed {} second factors and {} recovery codes; sessions ended",
            by.name(),
            removed.devices,
            removed.recovery_codes
        );
        self.audit(AuditEvent::MfaReset, Some(&user.username), client, &detail)
            .await;
        Ok(removed)
    }

    /// The audit trail, newest first, optionally about one user only.
    pub async fn audit_events(
        &self,
        _by: &Actor,
        username: Option<&str>,
        limit: u32,
    ) -> AuthResult<Vec<AuditRecord>> {
        let username = username.map(str::trim).filter(|name| !name.is_empty());
        let limit = limit.clamp(1, MAX_AUDIT_LIMIT);
        Ok(self.store.events(username, limit).await?)
    }

    /// A user by name, disabled or not (administrators act on both).
    pub(crate) async fn existing_user(&self, username: &str) -> AuthResult<UserRecord> {
        self.store
            .user_by_name(username)
            .await?
            .ok_or(AuthError::NotFound("user"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_limit_defaults_and_is_bounded() {
        assert_eq!(audit_limit(None).unwrap(), DEFAULT_AUDIT_LIMIT);
        assert_eq!(audit_limit(Some("")).unwrap(), DEFAULT_AUDIT_LIMIT);
        assert_eq!(audit_limit(Some("5")).unwrap(), 5);
        assert_eq!(audit_limit(Some("1000")).unwrap(), 1000);
        for bad in ["0", "1001", "-1", "ten", "1.5"] {
            assert!(audit_limit(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_host_operator_is_named_cli() {
        assert_eq!(Actor::host_operator().name(), "cli");
    }
}
