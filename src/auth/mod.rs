//! The domain: who may sign in and how. Free of HTTP and SQL: it talks to
//! storage through the `store` traits, takes time from a `Clock`, and reports
//! refusals as `AuthError`s.

pub mod admin;
mod attempts_in_flight;
pub mod audit;
pub mod authorization;
pub mod clock;
pub mod devices;
mod error;
pub mod login;
pub mod password;
pub mod principal;
pub mod resync;
pub mod security_key;
pub mod session;
pub mod totp;
pub mod users;
// Account protection (issue 4).
mod key_files;
pub mod passkey;
mod passkey_begins;
pub mod password_policy;
pub mod recovery;
pub mod second_factor;
pub mod secrets;
pub mod step_up;
pub mod throttle;
// Pages people use (issue 7).
pub mod device_rename;
// Sessions people see and end, remembered browsers.
pub mod active_sessions;
pub mod remembered_browser;
// Programmatic access: access keys, temporary credentials, roles.
pub mod access_keys;
pub mod temporary_credentials;

use std::sync::Arc;

pub use error::{AuthError, AuthResult};
pub use principal::{Credential, CredentialKind, PresentedCredential, Principal};

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::store::{PendingRecord, SessionRecord, Store, UserId, UserRecord};
use clock::Clock;
use login::LoginState;
use password::PasswordHasher;
use secrets::SecretsKey;
use session::{SessionLifetime, Token};

/// Who is asking: kept in the audit trail (and used for throttling).
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The known-client cookie, given to a browser after both factors.
    pub known_client: Option<Token>,
    /// The remembered-browser cookie, given when a person asked to skip the
    /// second factor on this browser for a while.
    pub remembered_browser: Option<Token>,
}

impl Client {
    /// The command line, acting on the host.
    pub fn cli() -> Self {
        Self {
            ip: None,
            user_agent: Some("twofold-cli".into()),
            known_client: None,
            remembered_browser: None,
        }
    }

    pub fn ip_str(&self) -> &str {
        self.ip.as_deref().unwrap_or("")
    }
}

/// A signed-in user: both factors passed.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: UserRecord,
    pub session: SessionRecord,
}

/// Who may enrol a second factor: a signed-in user, or a user whose login said
/// `enrolment_required` (who is signed in once the factor is confirmed).
#[derive(Debug, Clone)]
pub enum Enroller {
    SignedIn(Account),
    FirstFactor {
        user: UserRecord,
        pending: PendingRecord,
    },
}

impl Enroller {
    pub fn user(&self) -> &UserRecord {
        match self {
            Enroller::SignedIn(account) => &account.user,
            Enroller::FirstFactor { user, .. } => user,
        }
    }
}

/// The service the web layer and the command line call.
pub struct Auth {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) hasher: PasswordHasher,
    pub(crate) settings: Settings,
    /// Seals TOTP seeds and keys recovery-code hashes.
    pub(crate) secrets: SecretsKey,
    /// Counters for `/metrics`, this service's own (no global registry).
    pub(crate) metrics: Metrics,
    /// Throttled attempts being judged right now (in this process).
    pub(crate) in_flight: Arc<attempts_in_flight::AttemptsInFlight>,
    /// Compiled policies, refreshed when the store's access version moves.
    pub(crate) access: crate::access::Authorizer,
    /// Forward-auth denials recently audited (one a minute per user and URL).
    pub(crate) denials: authorization::DenialLog,
    /// Passwordless sign-ins begun this minute (each stores a ceremony).
    pub(crate) passkey_begins: passkey_begins::PasskeyBegins,
}

impl Auth {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: Settings,
        secrets: SecretsKey,
    ) -> anyhow::Result<Self> {
        let hasher = PasswordHasher::new(&settings.password)?;
        Ok(Self {
            store,
            clock,
            hasher,
            settings,
            secrets,
            metrics: Metrics::default(),
            in_flight: Arc::default(),
            access: Default::default(),
            denials: Default::default(),
            passkey_begins: Default::default(),
        })
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The series of `/metrics`, with the gauges read now (one store count).
    pub async fn metrics_text(&self) -> AuthResult<String> {
        let live = self
            .store
            .count_live_sessions(self.clock.now(), self.settings.session.idle_timeout_secs)
            .await?;
        Ok(self.metrics.encode(self.hasher.queue_depth(), live))
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The current time, as the domain sees it (pages show ages with it).
    pub fn now(&self) -> clock::Timestamp {
        self.clock.now()
    }

    pub(crate) fn lifetime(&self) -> SessionLifetime {
        SessionLifetime {
            idle_secs: self.settings.session.idle_timeout_secs,
            absolute_secs: self.settings.session.absolute_timeout_secs,
        }
    }

    /// The login state behind a client's cookies.
    pub async fn login_state(
        &self,
        session: Option<&Token>,
        pending: Option<&Token>,
    ) -> AuthResult<LoginState> {
        let session = match session {
            Some(token) => self.store.session(token.hash()).await?,
            None => None,
        };
        let pending = match pending {
            Some(token) => self.store.pending(token.hash()).await?,
            None => None,
        };
        let now = self.clock.now();
        let lifetime = self.lifetime();
        Ok(LoginState::resolve(session, pending, now, |s| {
            lifetime.is_live(s, now)
        }))
    }

    /// The signed-in user behind a session cookie; extends the idle timeout
    /// (writing at most once a minute). One store read: this is what every
    /// forward-auth request costs.
    pub async fn signed_in(&self, session: Option<&Token>) -> AuthResult<Account> {
        let Some(token) = session else {
            return Err(AuthError::Unauthenticated);
        };
        let Some((session, user)) = self.store.session_with_user(token.hash()).await? else {
            return Err(AuthError::Unauthenticated);
        };
        let now = self.clock.now();
        let lifetime = self.lifetime();
        if !lifetime.is_live(&session, now) || user.disabled {
            return Err(AuthError::Unauthenticated);
        }
        if lifetime.needs_touch(&session, now) {
            self.store.touch_session(session.token_hash, now).await?;
        }
        Ok(Account { user, session })
    }

    /// A signed-in user, or a first-login user allowed to enrol one factor.
    pub async fn enroller(
        &self,
        session: Option<&Token>,
        pending: Option<&Token>,
    ) -> AuthResult<Enroller> {
        match self.login_state(session, pending).await? {
            LoginState::Authenticated(session) => {
                Ok(Enroller::SignedIn(self.account(session).await?))
            }
            LoginState::PasswordPassed(pending) if pending.enrolment_only => {
                let user = self.user(pending.user_id).await?;
                // The user may have enrolled a factor since this password was
                // given (in another browser): from then on a password alone
                // no longer enrols anything.
                if self.has_second_factor(user.id).await? {
                    return Err(AuthError::Unauthenticated);
                }
                Ok(Enroller::FirstFactor { user, pending })
            }
            _ => Err(AuthError::Unauthenticated),
        }
    }

    async fn account(&self, session: SessionRecord) -> AuthResult<Account> {
        let user = self.user(session.user_id).await?;
        let now = self.clock.now();
        if self.lifetime().needs_touch(&session, now) {
            self.store.touch_session(session.token_hash, now).await?;
        }
        Ok(Account { user, session })
    }

    /// Whether the user holds a confirmed second factor.
    async fn has_second_factor(&self, id: UserId) -> AuthResult<bool> {
        let devices = self.store.devices_of(id).await?;
        Ok(devices.iter().any(|d| d.confirmed))
    }

    /// A user who exists and is not disabled; anything else is unauthenticated.
    pub(crate) async fn user(&self, id: UserId) -> AuthResult<UserRecord> {
        match self.store.user_by_id(id).await? {
            Some(user) if !user.disabled => Ok(user),
            _ => Err(AuthError::Unauthenticated),
        }
    }

    /// Sensitive changes need a second factor passed within the re-auth window.
    pub(crate) fn require_recent_second_factor(&self, account: &Account) -> AuthResult<()> {
        let age = self.clock.now() - account.session.second_factor_at;
        if age <= self.settings.session.reauth_window_secs {
            Ok(())
        } else {
            Err(AuthError::ReauthenticationRequired)
        }
    }

    /// Housekeeping run periodically by the server.
    pub async fn delete_expired(&self) -> AuthResult<u64> {
        let now = self.clock.now();
        let sessions = self
            .store
            .delete_expired(now, self.settings.session.idle_timeout_secs)
            .await?;
        let tokens = self.store.delete_expired_temporary_credentials(now).await?;
        Ok(sessions + tokens + self.store.delete_stale_throttle_state(now).await?)
    }

    /// `/healthz`: the store answers a read.
    pub async fn check_store(&self) -> AuthResult<()> {
        Ok(self.store.check_readable().await?)
    }
}
