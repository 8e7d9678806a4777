//! Temporary credentials, as AWS STS's: a session token made from an access
//! key (carrying MFA when a TOTP code of the key's owner was given), and a
//! role's token made by assuming a role. Tokens are 256 random bits kept
//! only as their SHA-256; each lives 15 minutes to 12 hours and ends at
//! once with its key, its role or its user.

use super::audit::AuditEvent;
use super::clock::{Timestamp, iso8601};
use super::principal::Credential;
use super::second_factor::{Intent, Proof};
use super::session::{Token, new_handle};
use super::{Auth, AuthError, AuthResult, Client, Principal};
use crate::access::admin_actions::resource;
use crate::store::{TemporaryCredentialRecord, TemporaryRefusal};

/// Bounds of a token's life, as STS's GetSessionToken.
pub const MIN_DURATION_SECS: i64 = 900;
pub const MAX_DURATION_SECS: i64 = 43_200;
pub const DEFAULT_DURATION_SECS: i64 = 3600;
/// Live temporary credentials a user may hold; making another ends the oldest.
pub const MAX_TEMPORARY_CREDENTIALS_PER_USER: u32 = 100;

/// A token just made, to be handed to the client this once.
#[derive(Debug)]
pub struct IssuedToken {
    pub token: Token,
    pub expires_at: Timestamp,
    pub mfa: bool,
    pub role: Option<String>,
}

/// A requested duration within `MIN_DURATION_SECS..=max`, or 400.
pub fn duration_within(requested: Option<i64>, max: i64) -> AuthResult<i64> {
    let duration = requested.unwrap_or(DEFAULT_DURATION_SECS.min(max));
    if (MIN_DURATION_SECS..=max).contains(&duration) {
        Ok(duration)
    } else {
        Err(AuthError::InvalidRequest(format!(
            "duration_secs must be from {MIN_DURATION_SECS} to {max}"
        )))
    }
}

impl Auth {
    /// `sts/session-token`: an access key (and, for MFA, a TOTP code of its
    /// owner, checked, throttled and replay-protected exactly as at
    /// sign-in) exchanged for a temporary credential.
    pub async fn issue_session_token(
        &self,
        key_id: &str,
        secret: &str,
        code: Option<&str>,
        duration_secs: Option<i64>,
        client: &Client,
    ) -> AuthResult<IssuedToken> {
        let duration = duration_within(duration_secs, MAX_DURATION_SECS)?;
        let (key, user) = self.authenticate_access_key(key_id, secret, client).await?;
        let mfa_at = match code {
            Some(code) => {
                self.verify_second_factor(Intent::Programmatic(&user), Proof::Totp(code), client)
                    .await?;
                Some(self.clock.now())
            }
            None => None,
        };
        let now = self.clock.now();
        let token = Token::generate();
        let record = TemporaryCredentialRecord {
            id: new_handle(),
            token_hash: token.hash(),
            user_id: user.id,
            access_key_id: Some(key.id.clone()),
            role: None,
            mfa_method: mfa_at.map(|_| "totp".to_owned()),
            mfa_at,
            created_at: now,
            expires_at: now + duration,
        };
        self.write_temporary(record.clone()).await?;
        let detail = format!(
            "key={} mfa={} expires={}",
            key.id,
            mfa_at.is_some(),
            iso8601(record.expires_at)
        );
        self.audit(
            AuditEvent::SessionTokenIssued,
            Some(&user.username),
            client,
            &detail,
        )
        .await;
        Ok(IssuedToken {
            token,
            expires_at: record.expires_at,
            mfa: mfa_at.is_some(),
            role: None,
        })
    }

    async fn write_temporary(&self, record: TemporaryCredentialRecord) -> AuthResult<()> {
        match self
            .store
            .insert_temporary_credential(record, MAX_TEMPORARY_CREDENTIALS_PER_USER)
            .await?
        {
            Ok(()) => Ok(()),
            // The key was deactivated or the user disabled meanwhile.
            Err(TemporaryRefusal::CredentialGone) => Err(AuthError::InvalidAccessKey),
            Err(TemporaryRefusal::NoSuchRole) => Err(AuthError::Forbidden),
        }
    }

    /// `sts/assume-role`: a token whose permissions are the role's policies
    /// alone. Needs `sts:AssumeRole` on `twofold:role/<name>` allowed for
    /// the caller, and the role's trust naming the user or one of their
    /// groups; anything else (an unknown role too) is 403. A token made with
    /// a temporary credential keeps its key, its second factor, and ends no
    /// later than it.
    pub async fn assume_role(
        &self,
        principal: &Principal,
        role_name: &str,
        duration_secs: Option<i64>,
        client: &Client,
    ) -> AuthResult<IssuedToken> {
        let snapshot = self.access_snapshot().await?;
        let Some(role) = snapshot.role(role_name) else {
            return Err(AuthError::Forbidden);
        };
        let duration = duration_within(duration_secs, role.max_duration_secs)?;
        let role_name = role.name.clone();
        self.permit_action(
            principal,
            "sts:AssumeRole",
            &resource("role", &role_name),
            client,
        )
        .await?;
        let username = &principal.user().username;
        let trusted = role
            .trusted_users
            .iter()
            .any(|u| u.eq_ignore_ascii_case(username))
            || snapshot
                .groups_of(username)
                .iter()
                .any(|g| role.trusted_groups.contains(g));
        if !trusted {
            return Err(AuthError::Forbidden);
        }
        let now = self.clock.now();
        let (access_key_id, mut expires_at) = match &principal.credential {
            Credential::Temporary(t) => (t.access_key_id.clone(), t.expires_at),
            _ => (None, Timestamp::MAX),
        };
        expires_at = expires_at.min(now + duration);
        let factor = principal.second_factor();
        let token = Token::generate();
        let record = TemporaryCredentialRecord {
            id: new_handle(),
            token_hash: token.hash(),
            user_id: principal.user().id,
            access_key_id,
            role: Some(role_name.clone()),
            mfa_method: factor.and_then(|(method, _)| method.map(str::to_owned)),
            mfa_at: factor.map(|(_, at)| at),
            created_at: now,
            expires_at,
        };
        self.write_temporary(record).await?;
        let detail = format!(
            "role={role_name} user={username} with={} expires={}",
            principal.kind().as_str(),
            iso8601(expires_at)
        );
        self.audit(AuditEvent::RoleAssumed, Some(username), client, &detail)
            .await;
        Ok(IssuedToken {
            token,
            expires_at,
            mfa: factor.is_some(),
            role: Some(role_name),
        })
    }

    /// The principal behind a Bearer token: live, its key still active, its
    /// user enabled (one indexed read).
    pub(crate) async fn temporary_principal(&self, token: &Token) -> AuthResult<Principal> {
        let Some(live) = self.store.temporary_credential(token.hash()).await? else {
            return Err(AuthError::UnauthenticatedBecause(
                "the token is unknown, expired or revoked",
            ));
        };
        if live.credential.expires_at <= self.clock.now() || !live.key_active || live.user.disabled
        {
            return Err(AuthError::UnauthenticatedBecause(
                "the token is unknown, expired or revoked",
            ));
        }
        Ok(Principal {
            user: live.user,
            credential: Credential::Temporary(live.credential),
        })
    }
}
