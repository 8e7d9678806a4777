//! The login state machine:
//! `Anonymous → PasswordPassed{user, expires} → Authenticated{session}`, plus
//! `PasswordPassed{enrolment_only}` for a user with no second factor yet, who
//! may enrol one and is then signed in. Only the last state is a session.

use secrecy::SecretString;

use super::clock::Timestamp;
use super::password::{MAX_PASSWORD_BYTES, Verified};
use super::second_factor::{Intent, Proof};
use super::session::{MAX_SESSIONS_PER_USER, Token};
use super::users::MAX_USERNAME_CHARS;
use super::{Auth, AuthError, AuthResult, Client, audit::AuditEvent};
use crate::store::{DeviceKind, DeviceRecord, PendingRecord, SessionRecord, UserId, UserRecord};

/// Wrong second factors allowed per pending login before it is voided and the
/// password must be given again.
pub const MAX_SECOND_FACTOR_FAILURES: u32 = 5;

/// The audit detail of the wrong second factor that voided its pending login.
pub(crate) fn voided_detail(detail: &str) -> String {
    format!("{detail}; too many failures, password needed again")
}

/// Where a client stands, derived from the cookies it holds.
#[derive(Debug)]
pub enum LoginState {
    Anonymous,
    PasswordPassed(PendingRecord),
    Authenticated(SessionRecord),
}

/// A second factor the user can use at login, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Totp,
    SecurityKey,
    RecoveryCode,
    /// A passkey: both factors in one gesture, with or without a password
    /// before it.
    Passkey,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Totp => "totp",
            Method::SecurityKey => "security_key",
            Method::RecoveryCode => "recovery_code",
            Method::Passkey => "passkey",
        }
    }
}

/// What the password step tells the client.
#[derive(Debug, PartialEq, Eq)]
pub enum PasswordOutcome {
    SecondFactorRequired(Vec<Method>),
    EnrolmentRequired,
}

/// A pending login that passed its password: the token goes into a cookie.
#[derive(Debug)]
pub struct PasswordPassed {
    pub token: Token,
    pub outcome: PasswordOutcome,
}

/// Where a right password leads: to a second factor (or enrolment), or
/// straight to a session when the browser was remembered for this user.
#[derive(Debug)]
pub enum FirstStep {
    Pending(PasswordPassed),
    SignedIn(SignedIn),
}

/// A new session: the token goes into the session cookie.
#[derive(Debug)]
pub struct SignedIn {
    pub token: Token,
    pub username: String,
    /// A new known-client token for the browser, when it held none.
    pub known_client: Option<Token>,
    /// A new remembered-browser token, when the person asked for one (and
    /// its lifetime in seconds, for the cookie).
    pub remembered_browser: Option<Token>,
}

/// The second factor that completed a sign-in, and whether the person asked
/// for this browser to be remembered.
#[derive(Debug, Clone, Copy)]
pub struct GivenFactor {
    pub method: Method,
    pub remember_browser: bool,
}

impl GivenFactor {
    /// A factor given without asking to be remembered.
    pub fn once(method: Method) -> Self {
        Self {
            method,
            remember_browser: false,
        }
    }
}

impl LoginState {
    /// Resolves the stored records behind a client's cookies at `now`: an
    /// expired record counts as absent.
    pub fn resolve(
        session: Option<SessionRecord>,
        pending: Option<PendingRecord>,
        now: Timestamp,
        session_is_live: impl Fn(&SessionRecord) -> bool,
    ) -> Self {
        match (session, pending) {
            (Some(session), _) if session_is_live(&session) => LoginState::Authenticated(session),
            (_, Some(pending)) if now < pending.expires_at => LoginState::PasswordPassed(pending),
            _ => LoginState::Anonymous,
        }
    }
}

/// The methods offered after the password, from the user's confirmed devices.
pub fn methods_for(devices: &[DeviceRecord], recovery_codes_left: u32) -> Vec<Method> {
    let has = |kind| devices.iter().any(|d| d.confirmed && d.kind == kind);
    let mut methods = Vec::new();
    if has(DeviceKind::Totp) {
        methods.push(Method::Totp);
    }
    if has(DeviceKind::SecurityKey) {
        methods.push(Method::SecurityKey);
    }
    if has(DeviceKind::Passkey) {
        methods.push(Method::Passkey);
    }
    if !methods.is_empty() && recovery_codes_left > 0 {
        methods.push(Method::RecoveryCode);
    }
    methods
}

impl Auth {
    /// The first step: checks the password and opens a pending login, or a
    /// session when the browser is remembered for this user.
    #[tracing::instrument(skip_all, fields(ip = client.ip_str()))]
    pub async fn login_password(
        &self,
        username: &str,
        password: &SecretString,
        client: &Client,
    ) -> AuthResult<FirstStep> {
        // A name longer than any username can be is refused as a wrong
        // password would be, but before any lookup or hash: it costs a
        // throttle charge and a bounded audit row, nothing more.
        let impossible = username.len() > MAX_USERNAME_CHARS;
        let user = if impossible {
            None
        } else {
            self.store.user_by_name(username).await?
        };
        let ticket = self
            .charge_password_attempt(username, user.as_ref(), client)
            .await?;
        if impossible {
            self.audit_anonymous(
                AuditEvent::LoginPasswordFailed,
                Some(username),
                client,
                "unknown user",
                None,
            )
            .await;
            return Err(AuthError::InvalidCredentials);
        }
        let too_long = secrecy::ExposeSecret::expose_secret(password).len() > MAX_PASSWORD_BYTES;
        let stored = user
            .as_ref()
            .filter(|_| !too_long)
            .map(|u| u.password_hash.as_str());
        let verified = self.hasher.verify(password, stored).await?;
        let user = match (user, verified) {
            (Some(user), Verified::Match { needs_rehash }) if !user.disabled => {
                self.password_was_right(ticket).await;
                if needs_rehash {
                    self.rehash(&user, password).await?;
                }
                user
            }
            (user, _) => {
                let detail = match &user {
                    None => "unknown user",
                    Some(u) if u.disabled => "user disabled",
                    Some(_) => "wrong password",
                };
                let name = user.as_ref().map_or(username, |u| u.username.as_str());
                self.audit_anonymous(
                    AuditEvent::LoginPasswordFailed,
                    Some(name),
                    client,
                    detail,
                    None,
                )
                .await;
                return Err(AuthError::InvalidCredentials);
            }
        };

        let now = self.clock.now();
        let devices = self.store.devices_of(user.id).await?;
        let methods = methods_for(&devices, self.recovery_codes_left(user.id).await?);
        if !methods.is_empty()
            && let Some(signed_in) = self.sign_in_remembered(&user, client).await?
        {
            return Ok(FirstStep::SignedIn(signed_in));
        }
        let token = Token::generate();
        // The password's last use, the pending login and its audit event are
        // written in one transaction: one disk sync per sign-in step.
        let pending = PendingRecord {
            token_hash: token.hash(),
            user_id: user.id,
            enrolment_only: methods.is_empty(),
            created_at: now,
            expires_at: now + self.settings.session.pending_timeout_secs,
            failures: 0,
        };
        let event = self.audit_record(
            AuditEvent::LoginPasswordOk,
            Some(&user.username),
            client,
            "",
        );
        self.store.open_pending_login(pending, event).await?;
        let outcome = if methods.is_empty() {
            PasswordOutcome::EnrolmentRequired
        } else {
            PasswordOutcome::SecondFactorRequired(methods)
        };
        Ok(FirstStep::Pending(PasswordPassed { token, outcome }))
    }

    async fn rehash(&self, user: &UserRecord, password: &SecretString) -> AuthResult<()> {
        let hash = self.hasher.hash(password).await?;
        self.store.replace_password_hash(user.id, hash).await?;
        tracing::info!(username = %user.username, "password re-hashed with current parameters");
        Ok(())
    }

    /// The pending login behind a cookie, if it is still live.
    pub async fn pending_login(&self, token: Option<&Token>) -> AuthResult<PendingRecord> {
        let Some(token) = token else {
            return Err(AuthError::Unauthenticated);
        };
        match self.store.pending(token.hash()).await? {
            Some(pending) if self.clock.now() < pending.expires_at => Ok(pending),
            _ => Err(AuthError::Unauthenticated),
        }
    }

    /// The second step with an authenticator-app code.
    pub async fn login_totp(
        &self,
        pending: Option<&Token>,
        code: &str,
        remember_browser: bool,
        client: &Client,
    ) -> AuthResult<SignedIn> {
        let intent = Intent::Login {
            pending,
            remember_browser,
        };
        self.verify_second_factor(intent, Proof::Totp(code), client)
            .await?
            .into_signed_in()
    }

    /// Counts a wrong second factor against the pending login, voiding it
    /// after `MAX_SECOND_FACTOR_FAILURES`.
    pub(crate) async fn second_factor_failed(
        &self,
        pending: &PendingRecord,
        user: &UserRecord,
        client: &Client,
        detail: &str,
    ) {
        let failures = self.store.count_pending_failure(pending.token_hash).await;
        let voided = match failures {
            Ok(failures) if failures < MAX_SECOND_FACTOR_FAILURES => false,
            _ => {
                if let Err(e) = self.store.delete_pending(pending.token_hash).await {
                    tracing::error!(error = %e, "could not void a pending login");
                }
                true
            }
        };
        let detail = if voided {
            voided_detail(detail)
        } else {
            detail.to_owned()
        };
        self.audit(
            AuditEvent::LoginSecondFactorFailed,
            Some(&user.username),
            client,
            &detail,
        )
        .await;
    }

    /// The pending login becomes a session (a passwordless sign-in has
    /// none: the session simply starts): a brand-new token, never the
    /// pending one. The browser is remembered when the person asked and the
    /// operator allows it.
    pub(crate) async fn complete_login(
        &self,
        pending: Option<&PendingRecord>,
        user: &UserRecord,
        client: &Client,
        factor: GivenFactor,
        detail: &str,
    ) -> AuthResult<SignedIn> {
        let (token, session) = self.new_session(user.id, factor.method, client);
        match pending {
            Some(pending) => {
                if !self
                    .store
                    .promote_pending(pending.token_hash, session, MAX_SESSIONS_PER_USER)
                    .await?
                {
                    return Err(AuthError::Unauthenticated);
                }
            }
            None => {
                self.store
                    .insert_session(session, MAX_SESSIONS_PER_USER)
                    .await?
            }
        }
        let remembered_browser = if factor.remember_browser {
            self.remember_browser(user, factor.method, client).await?
        } else {
            None
        };
        let mut signed_in = self.session_started(token, user, client, detail).await?;
        signed_in.remembered_browser = remembered_browser;
        Ok(signed_in)
    }

    /// A session for `user` opened now by `method`, under a brand-new token.
    pub(crate) fn new_session(
        &self,
        user: UserId,
        method: Method,
        client: &Client,
    ) -> (Token, SessionRecord) {
        let token = Token::generate();
        let now = self.clock.now();
        let session = self
            .lifetime()
            .new_session(&token, user, now, method.as_str(), now, client);
        (token, session)
    }

    /// What follows the store's start of a session after a second factor:
    /// the sign-in's time, its audit event, the known-client token.
    pub(crate) async fn session_started(
        &self,
        token: Token,
        user: &UserRecord,
        client: &Client,
        detail: &str,
    ) -> AuthResult<SignedIn> {
        // Three independent writes, sent together so that they share one
        // commit (and one wait for it) instead of waiting in turn.
        let (recorded, (), known_client) = tokio::join!(
            self.store.record_sign_in(user.id, self.clock.now()),
            self.audit(
                AuditEvent::LoginSecondFactorOk,
                Some(&user.username),
                client,
                detail,
            ),
            self.remember_client(user.id, client)
        );
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "could not record the time of a sign-in");
        }
        let known_client = known_client?;
        Ok(SignedIn {
            token,
            username: user.username.clone(),
            known_client,
            remembered_browser: None,
        })
    }

    /// The second factors a pending login can use (for the second-factor page).
    pub async fn methods_of(&self, pending: &PendingRecord) -> AuthResult<Vec<Method>> {
        self.second_factor_methods(pending.user_id).await
    }

    /// The second factors a user holds, as the API names them.
    pub(crate) async fn second_factor_methods(&self, user: UserId) -> AuthResult<Vec<Method>> {
        let devices = self.store.devices_of(user).await?;
        let recovery_codes_left = self.recovery_codes_left(user).await?;
        Ok(methods_for(&devices, recovery_codes_left))
    }

    /// Ends the session on the server (and any pending login of the client).
    pub async fn logout(
        &self,
        session: Option<&Token>,
        pending: Option<&Token>,
        client: &Client,
    ) -> AuthResult<()> {
        if let Some(token) = pending {
            self.store.delete_pending(token.hash()).await?;
        }
        let Some(token) = session else {
            return Ok(());
        };
        if let Some(record) = self.store.session(token.hash()).await? {
            self.store.delete_session(token.hash()).await?;
            let user = self.store.user_by_id(record.user_id).await?;
            let name = user.as_ref().map(|u| u.username.as_str());
            self.audit(AuditEvent::Logout, name, client, "").await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(expires_at: Timestamp) -> PendingRecord {
        PendingRecord {
            token_hash: [1; 32],
            user_id: 7,
            enrolment_only: false,
            created_at: 0,
            expires_at,
            failures: 0,
        }
    }

    fn session(expires_at: Timestamp) -> SessionRecord {
        SessionRecord {
            id: "s".into(),
            token_hash: [2; 32],
            user_id: 7,
            created_at: 0,
            last_seen_at: 0,
            expires_at,
            second_factor_at: 0,
            method: "totp".into(),
            ip: None,
            user_agent: None,
        }
    }

    fn device(kind: DeviceKind, confirmed: bool) -> DeviceRecord {
        DeviceRecord {
            id: "d".into(),
            user_id: 7,
            kind,
            name: "n".into(),
            confirmed,
            created_at: 0,
            last_used_at: None,
            totp_secret: None,
            totp_last_step: None,
            totp_offset_steps: 0,
            hardware: false,
            credential: None,
            credential_id: None,
        }
    }

    #[test]
    fn no_cookies_is_anonymous() {
        let state = LoginState::resolve(None, None, 100, |_| true);
        assert!(matches!(state, LoginState::Anonymous));
    }

    #[test]
    fn a_live_pending_login_is_password_passed_and_never_a_session() {
        let state = LoginState::resolve(None, Some(pending(200)), 100, |_| true);
        assert!(matches!(state, LoginState::PasswordPassed(_)));
    }

    #[test]
    fn an_expired_pending_login_is_anonymous() {
        let state = LoginState::resolve(None, Some(pending(100)), 100, |_| true);
        assert!(matches!(state, LoginState::Anonymous));
    }

    #[test]
    fn a_live_session_is_authenticated_and_a_dead_one_falls_back() {
        let live = LoginState::resolve(Some(session(500)), Some(pending(200)), 100, |_| true);
        assert!(matches!(live, LoginState::Authenticated(_)));
        let dead = LoginState::resolve(Some(session(500)), Some(pending(200)), 100, |_| false);
        assert!(matches!(dead, LoginState::PasswordPassed(_)));
    }

    #[test]
    fn only_confirmed_devices_offer_methods() {
        assert_eq!(methods_for(&[device(DeviceKind::Totp, false)], 0), vec![]);
        assert_eq!(
            methods_for(&[device(DeviceKind::Totp, true)], 0),
            vec![Method::Totp]
        );
        assert_eq!(
            methods_for(
                &[
                    device(DeviceKind::SecurityKey, true),
                    device(DeviceKind::Totp, true)
                ],
                3
            ),
            vec![Method::Totp, Method::SecurityKey, Method::RecoveryCode]
        );
    }

    #[test]
    fn recovery_codes_alone_do_not_skip_enrolment() {
        assert_eq!(methods_for(&[], 10), vec![]);
    }
}
