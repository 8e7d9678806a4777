//! Authorization as the service applies it: forward-auth's decision for a
//! request (with the step-up it may ask for and the `access_denied` audit
//! event), the `twofold:*` permission every admin endpoint checks, and the
//! simulator. The decisions themselves are `access`'s, over a cached snapshot.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use super::audit::AuditEvent;
use super::clock::Timestamp;
use super::{Auth, AuthError, AuthResult, Client, Principal};
use crate::access::{
    Access, AdminAction, Asker, Context, SecondFactor, Simulation, Snapshot, StatementRef,
};

/// Denials remembered to audit each (user, URL) at most once a minute.
const DENIALS_REMEMBERED: usize = 10_000;
const DENIAL_AUDIT_WINDOW_SECS: i64 = 60;

/// A request forward-auth judges: `http:<method>` on the original URL
/// (already normalised; empty when the proxy sent none).
#[derive(Debug, Clone, Copy)]
pub struct ForwardRequest<'a> {
    pub method: &'a str,
    pub url: &'a str,
}

/// Forward-auth's answer, with the groups to pass on in `Remote-Groups`.
#[derive(Debug, Clone)]
pub struct ForwardDecision {
    pub access: Access,
    /// Comma-separated, sorted.
    pub groups: String,
}

/// When each (user, URL) denial was last audited, bounded in size.
#[derive(Debug, Default)]
pub(crate) struct DenialLog {
    hasher: RandomState,
    last: Mutex<HashMap<u64, Timestamp>>,
}

impl DenialLog {
    /// Whether this denial should be audited now (and remembers that it was).
    fn should_audit(&self, username: &str, url: &str, now: Timestamp) -> bool {
        let key = self.hasher.hash_one((username, url));
        let mut last = self.last.lock().expect("not poisoned");
        if last
            .get(&key)
            .is_some_and(|&at| now - at < DENIAL_AUDIT_WINDOW_SECS)
        {
            return false;
        }
        if last.len() >= DENIALS_REMEMBERED {
            last.retain(|_, at| now - *at < DENIAL_AUDIT_WINDOW_SECS);
            // Still full within a minute: forget, auditing too much rather than too little.
            if last.len() >= DENIALS_REMEMBERED {
                last.clear();
            }
        }
        last.insert(key, now);
        true
    }
}

/// Who is asking, for the condition keys.
fn asker<'a>(principal: &'a Principal, client: &'a Client, now: Timestamp) -> Asker<'a> {
    Asker {
        username: &principal.user().username,
        admin: principal.is_admin(),
        second_factor: principal.second_factor().map(|(method, at)| SecondFactor {
            method,
            age_secs: now - at,
        }),
        source_ip: client.ip.as_deref(),
        credential_type: principal.kind().as_str(),
        role: principal.role(),
    }
}

impl Auth {
    /// The policies as of at most a second ago (the store's access version
    /// is read at most once a second, the rows only when it moved).
    pub async fn access_snapshot(&self) -> AuthResult<Arc<Snapshot>> {
        Ok(self.access.snapshot(self.store.as_ref()).await?)
    }

    /// A group or policy changed here: the next decision reads them again.
    pub(crate) fn access_changed(&self) {
        self.access.changed();
    }

    /// The user's groups, sorted.
    pub async fn groups_of(&self, username: &str) -> AuthResult<Vec<String>> {
        Ok(self.access_snapshot().await?.groups_of(username).to_vec())
    }

    /// May this signed-in person reach `request`? A refusal is audited as
    /// `access_denied` (naming the deciding statement), at most once a
    /// minute per user and URL.
    pub async fn forward_auth(
        &self,
        principal: &Principal,
        request: ForwardRequest<'_>,
        client: &Client,
    ) -> AuthResult<ForwardDecision> {
        let snapshot = self.access_snapshot().await?;
        let now = self.clock.now();
        let access = snapshot.forward_auth(
            &asker(principal, client, now),
            request.method,
            request.url,
            self.settings.access.default_decision,
        );
        if let Access::Forbidden(deciding) = &access {
            self.audit_denial(principal, request, deciding.as_ref(), client, now)
                .await;
        }
        Ok(ForwardDecision {
            access,
            groups: snapshot
                .groups_joined(&principal.user().username)
                .to_owned(),
        })
    }

    async fn audit_denial(
        &self,
        principal: &Principal,
        request: ForwardRequest<'_>,
        deciding: Option<&StatementRef>,
        client: &Client,
        now: Timestamp,
    ) {
        let username = &principal.user().username;
        if !self.denials.should_audit(username, request.url, now) {
            return;
        }
        let statement = deciding.map_or_else(
            || "none (nothing allows it)".to_owned(),
            StatementRef::label,
        );
        let role = principal
            .role()
            .map(|role| format!(" role={role}"))
            .unwrap_or_default();
        let detail = format!(
            "method={} url={} statement={statement}{role}",
            request.method, request.url
        );
        self.audit(AuditEvent::AccessDenied, Some(username), client, &detail)
            .await;
    }

    /// Whether a signed-in person may perform an admin action on a resource:
    /// `admin: true` may do all, anyone else needs a policy allowing it
    /// (else 403 `forbidden`).
    pub async fn permit(
        &self,
        principal: &Principal,
        action: AdminAction,
        resource: &str,
        client: &Client,
    ) -> AuthResult<()> {
        self.permit_action(principal, action.name(), resource, client)
            .await
    }

    /// Whether the principal may perform any action (`twofold:*`,
    /// `sts:AssumeRole`) on a resource, else 403 `forbidden`.
    pub async fn permit_action(
        &self,
        principal: &Principal,
        action: &str,
        resource: &str,
        client: &Client,
    ) -> AuthResult<()> {
        let snapshot = self.access_snapshot().await?;
        let now = self.clock.now();
        let (allowed, _) = snapshot.permits(
            &asker(principal, client, now),
            action,
            resource,
            self.settings.access.default_decision,
        );
        if allowed {
            Ok(())
        } else {
            Err(AuthError::Forbidden)
        }
    }

    /// May this signed-in person sign in to the OpenID Connect client
    /// `client_id` (`oidc:Authorize` on `twofold:client/<id>`, with the
    /// default decision of forward-auth)? A refusal is audited as
    /// `access_denied`.
    pub async fn may_sign_in_to_client(
        &self,
        principal: &Principal,
        client_id: &str,
        client: &Client,
    ) -> AuthResult<bool> {
        let snapshot = self.access_snapshot().await?;
        let now = self.clock.now();
        let resource = format!("twofold:client/{client_id}");
        let (allowed, deciding) = snapshot.permits(
            &asker(principal, client, now),
            crate::access::OIDC_AUTHORIZE,
            &resource,
            self.settings.access.default_decision,
        );
        if !allowed {
            let statement = deciding.as_ref().map_or_else(
                || "none (nothing allows it)".to_owned(),
                StatementRef::label,
            );
            let detail = format!("action=oidc:Authorize resource={resource} statement={statement}");
            let username = &principal.user().username;
            self.audit(AuditEvent::AccessDenied, Some(username), client, &detail)
                .await;
        }
        Ok(allowed)
    }

    /// The simulator: how `action` on `resource` would be decided for
    /// `username` with the condition keys in `context`.
    pub async fn simulate(
        &self,
        username: &str,
        action: &str,
        resource: &str,
        context: &Context,
    ) -> AuthResult<Simulation> {
        let user = self
            .store
            .user_by_name(username)
            .await?
            .ok_or(AuthError::NotFound("user"))?;
        let snapshot = self.access_snapshot().await?;
        Ok(snapshot.simulate(
            &user.username,
            user.admin,
            action,
            resource,
            context,
            self.settings.access.default_decision,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denial_is_audited_once_a_minute_per_user_and_url() {
        let log = DenialLog::default();
        assert!(log.should_audit("alice", "https://a/x", 1000));
        assert!(!log.should_audit("alice", "https://a/x", 1059));
        assert!(log.should_audit("alice", "https://a/y", 1059));
        assert!(log.should_audit("bob", "https://a/x", 1059));
        assert!(log.should_audit("alice", "https://a/x", 1060));
    }

    #[test]
    fn the_denial_log_stays_bounded() {
        let log = DenialLog::default();
        for i in 0..(DENIALS_REMEMBERED * 2) {
            assert!(log.should_audit("alice", &format!("https://a/{i}"), 1000));
        }
        assert!(log.last.lock().unwrap().len() <= DENIALS_REMEMBERED);
    }
}
