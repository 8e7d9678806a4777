//! The audit trail: who did what and when, as events with fixed names (the
//! API's), appended to the store and emitted as structured `tracing` events.
//! Callers pass details that never contain a secret. What a client adds
//! without an account is bounded: names cut, repeats counted on one row, a
//! budget per address and minute.

use super::throttle::ip_bucket;
use super::users::MAX_USERNAME_CHARS;
use super::{Auth, AuthResult, Client};
use crate::model::Timestamp;
use crate::store::{Appended, AuditRecord, AuditStore, EventBudget, StoreResult};

const SECONDS_PER_DAY: i64 = 24 * 60 * 60;

/// The window of the per-address budget of events without an account.
const ANONYMOUS_BUDGET_WINDOW_SECS: i64 = 60;

/// A name as the trail keeps it: no longer one can exist, so whatever a
/// client typed is cut to that.
fn stored_name(username: &str) -> String {
    username.chars().take(MAX_USERNAME_CHARS).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditEvent {
    LoginPasswordOk,
    LoginPasswordFailed,
    LoginSecondFactorOk,
    LoginSecondFactorFailed,
    LoginThrottled,
    DeviceEnrolled,
    DeviceRemoved,
    RecoveryCodesCreated,
    RecoveryCodeUsed,
    PasswordChanged,
    Logout,
    UserCreated,
    UserDisabled,
    UserEnabled,
    MfaReset,
    DeviceResynced,
    DeviceRenamed,
    SessionRevoked,
    BrowserRemembered,
    RememberedBrowserRevoked,
    GroupCreated,
    GroupDeleted,
    GroupMemberAdded,
    GroupMemberRemoved,
    PolicyPut,
    PolicyDeleted,
    PolicyAttached,
    PolicyDetached,
    /// Forward-auth refused a signed-in person (at most once a minute per user and URL).
    AccessDenied,
    AccessKeyCreated,
    AccessKeyDeactivated,
    AccessKeyActivated,
    AccessKeyDeleted,
    SessionTokenIssued,
    RoleAssumed,
    RolePut,
    RoleDeleted,
    /// The events of one address beyond its budget for a minute.
    AnonymousEventsCounted,
    /// The host's operator sealed every secret under a new key.
    SecretsRotated,
    /// The host's operator wrote the whole store to an export file.
    StoreExported,
    /// The host's operator loaded an export file into an empty store.
    StoreImported,
    /// OpenID Connect: a person signed in to a client (a code was issued).
    OidcSignIn,
    /// A person allowed, or refused, a client what it asked for.
    OidcConsentGiven,
    OidcConsentRefused,
    /// Tokens issued at the token endpoint (`grant=` says which grant).
    OidcTokenIssued,
    /// A token revoked by its client (a refresh token takes its family along).
    OidcTokenRevoked,
    /// A code or refresh token used a second time: its family is revoked.
    OidcCodeReplayed,
    OidcRefreshTokenReplayed,
    /// The host's operator made new signing keys.
    OidcSigningKeyRotated,
}

impl AuditEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::LoginPasswordOk => "login_password_ok",
            AuditEvent::LoginPasswordFailed => "login_password_failed",
            AuditEvent::LoginSecondFactorOk => "login_second_factor_ok",
            AuditEvent::LoginSecondFactorFailed => "login_second_factor_failed",
            AuditEvent::LoginThrottled => "login_throttled",
            AuditEvent::DeviceEnrolled => "device_enrolled",
            AuditEvent::DeviceRemoved => "device_removed",
            AuditEvent::RecoveryCodesCreated => "recovery_codes_created",
            AuditEvent::RecoveryCodeUsed => "recovery_code_used",
            AuditEvent::PasswordChanged => "password_changed",
            AuditEvent::Logout => "logout",
            AuditEvent::UserCreated => "user_created",
            AuditEvent::UserDisabled => "user_disabled",
            AuditEvent::UserEnabled => "user_enabled",
            AuditEvent::MfaReset => "mfa_reset",
            AuditEvent::DeviceResynced => "device_resynced",
            AuditEvent::DeviceRenamed => "device_renamed",
            AuditEvent::SessionRevoked => "session_revoked",
            AuditEvent::BrowserRemembered => "browser_remembered",
            AuditEvent::RememberedBrowserRevoked => "remembered_browser_revoked",
            AuditEvent::GroupCreated => "group_created",
            AuditEvent::GroupDeleted => "group_deleted",
            AuditEvent::GroupMemberAdded => "group_member_added",
            AuditEvent::GroupMemberRemoved => "group_member_removed",
            AuditEvent::PolicyPut => "policy_put",
            AuditEvent::PolicyDeleted => "policy_deleted",
            AuditEvent::PolicyAttached => "policy_attached",
            AuditEvent::PolicyDetached => "policy_detached",
            AuditEvent::AccessDenied => "access_denied",
            AuditEvent::AccessKeyCreated => "access_key_created",
            AuditEvent::AccessKeyDeactivated => "access_key_deactivated",
            AuditEvent::AccessKeyActivated => "access_key_activated",
            AuditEvent::AccessKeyDeleted => "access_key_deleted",
            AuditEvent::SessionTokenIssued => "session_token_issued",
            AuditEvent::RoleAssumed => "role_assumed",
            AuditEvent::RolePut => "role_put",
            AuditEvent::RoleDeleted => "role_deleted",
            AuditEvent::AnonymousEventsCounted => "anonymous_events_counted",
            AuditEvent::SecretsRotated => "secrets_rotated",
            AuditEvent::StoreExported => "store_exported",
            AuditEvent::StoreImported => "store_imported",
            AuditEvent::OidcSignIn => "oidc_sign_in",
            AuditEvent::OidcConsentGiven => "oidc_consent_given",
            AuditEvent::OidcConsentRefused => "oidc_consent_refused",
            AuditEvent::OidcTokenIssued => "oidc_token_issued",
            AuditEvent::OidcTokenRevoked => "oidc_token_revoked",
            AuditEvent::OidcCodeReplayed => "oidc_code_replayed",
            AuditEvent::OidcRefreshTokenReplayed => "oidc_refresh_token_replayed",
            AuditEvent::OidcSigningKeyRotated => "oidc_signing_key_rotated",
        }
    }
}

/// The `tracing` twin of a stored event.
pub(crate) fn log_event(record: &AuditRecord) {
    tracing::info!(
        target: "twofold::audit",
        event = record.event,
        username = record.username.as_deref().unwrap_or(""),
        ip = record.ip.as_deref().unwrap_or(""),
        user_agent = record.user_agent.as_deref().unwrap_or(""),
        detail = record.detail,
        "audit"
    );
}

/// The row of an event about the whole store that the host's operator
/// caused from the command line (a rotation, an export, an import): about
/// no user, from the host, `by=cli`. The commands run without the domain
/// service and write it themselves, in the operation's transaction where
/// the operation writes.
pub fn host_operation_record(at: Timestamp, event: AuditEvent, detail: &str) -> AuditRecord {
    let client = Client::cli();
    AuditRecord {
        at,
        username: None,
        event: event.as_str().to_owned(),
        ip: client.ip,
        user_agent: client.user_agent,
        detail: format!(
            "by={}; {detail}",
            super::admin::Actor::host_operator().name()
        ),
    }
}

/// Appends a host operation's event on its own (after an operation that
/// writes nothing else). Unlike a request's event, a failure to write it is
/// the command's failure: a command that reports success has its event
/// committed.
pub async fn record_host_operation(
    store: &dyn AuditStore,
    at: Timestamp,
    event: AuditEvent,
    detail: &str,
) -> StoreResult<()> {
    store
        .append_event(host_operation_record(at, event, detail))
        .await
}

impl Auth {
    /// Appends an event. A failure to write it is logged, not raised: the
    /// action it describes has already happened.
    pub(crate) async fn audit(
        &self,
        event: AuditEvent,
        username: Option<&str>,
        client: &Client,
        detail: &str,
    ) {
        let record = self.audit_record(event, username, client, detail);
        if let Err(e) = self.store.append_event(record).await {
            tracing::error!(error = %e, event = event.as_str(), "could not write an audit event");
        }
    }

    /// Emits the event as a `tracing` event and returns the row to append,
    /// for callers that write it in the same transaction as what it records.
    pub(crate) fn audit_record(
        &self,
        event: AuditEvent,
        username: Option<&str>,
        client: &Client,
        detail: &str,
    ) -> AuditRecord {
        let record = self.unlogged_record(event, username, client, detail);
        log_event(&record);
        record
    }

    /// The row of an event, not yet logged: for a transaction that decides
    /// which of several events it writes (the written one is logged after).
    pub(crate) fn unlogged_record(
        &self,
        event: AuditEvent,
        username: Option<&str>,
        client: &Client,
        detail: &str,
    ) -> AuditRecord {
        AuditRecord {
            at: self.clock.now(),
            username: username.map(stored_name),
            event: event.as_str().to_owned(),
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            detail: detail.to_owned(),
        }
    }

    /// Appends an event a client caused without proving an account (a wrong
    /// password, a throttled attempt). A repeat of the row `merge_key` names
    /// is counted on it; beyond `audit.max_anonymous_events_per_minute` from
    /// the client's address, events are counted on one row per minute
    /// instead of stored (and logged at debug level only).
    pub(crate) async fn audit_anonymous(
        &self,
        event: AuditEvent,
        username: Option<&str>,
        client: &Client,
        detail: &str,
        merge_key: Option<String>,
    ) {
        let record = self.unlogged_record(event, username, client, detail);
        let per_window = self.settings.audit.max_anonymous_events_per_minute;
        let budget = EventBudget {
            key: format!("audit:ip:{}", ip_bucket(client.ip_str())),
            per_window,
            window_secs: ANONYMOUS_BUDGET_WINDOW_SECS,
        };
        let summary = self.unlogged_record(
            AuditEvent::AnonymousEventsCounted,
            None,
            client,
            &format!(
                "events without an account beyond {per_window} a minute from this \
                 address, counted not stored:"
            ),
        );
        match self
            .store
            .append_bounded_event(record.clone(), merge_key, budget, summary.clone())
            .await
        {
            Ok(Appended::Stored) => log_event(&record),
            Ok(Appended::Summarised { first: true }) => log_event(&summary),
            Ok(Appended::Merged | Appended::Summarised { first: false }) => tracing::debug!(
                target: "twofold::audit",
                event = record.event,
                ip = client.ip_str(),
                "audit event counted on an existing row"
            ),
            Err(e) => {
                tracing::error!(error = %e, event = event.as_str(), "could not write an audit event")
            }
        }
    }

    /// Retention: removes events older than `audit.retention_days` (0 keeps
    /// them forever). Run periodically by the server; returns how many went.
    pub async fn prune_audit_trail(&self) -> AuthResult<u64> {
        let days = i64::from(self.settings.audit.retention_days);
        if days == 0 {
            return Ok(0);
        }
        let before = self.clock.now() - days * SECONDS_PER_DAY;
        let pruned = self.store.delete_events_before(before).await?;
        if pruned > 0 {
            tracing::info!(pruned, retention_days = days, "pruned old audit events");
        }
        Ok(pruned)
    }
}
