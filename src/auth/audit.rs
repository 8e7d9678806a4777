//! The audit trail: who did what and when, as events with fixed names (the
//! API's), appended to the store and emitted as structured `tracing` events.
//! Callers pass details that never contain a secret.

use super::{Auth, AuthResult, Client};
use crate::store::AuditRecord;

const SECONDS_PER_DAY: i64 = 24 * 60 * 60;

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
        }
    }
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
        tracing::info!(
            target: "twofold::audit",
            event = event.as_str(),
            username = username.unwrap_or(""),
            ip = client.ip_str(),
            user_agent = client.user_agent.as_deref().unwrap_or(""),
            detail,
            "audit"
        );
        AuditRecord {
            at: self.clock.now(),
            username: username.map(str::to_owned),
            event: event.as_str().to_owned(),
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            detail: detail.to_owned(),
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
