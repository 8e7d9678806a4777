//! Remembered browsers: with `session.remember_browser_days` above 0, a person
//! may let a browser skip the second factor for that many days. The browser
//! holds a random token (only its hash is stored, bound to the user); its
//! sessions carry the remembered factor's method and time, so step-up and
//! any rule asking for a recent factor still ask.

use super::audit::{AuditEvent, log_event};
use super::login::{Method, SignedIn};
use super::session::{MAX_SESSIONS_PER_USER, Token, new_handle};
use super::{Account, Auth, AuthError, AuthResult, Client};
use crate::store::{BrowserToRemember, RememberedBrowserRecord, UserRecord};

/// Browsers a user may have remembered at once; the oldest is forgotten first.
pub const MAX_REMEMBERED_BROWSERS_PER_USER: u32 = 20;

const SECONDS_PER_DAY: i64 = 24 * 60 * 60;

impl Auth {
    /// Days a browser may be remembered; `None` when the operator turned it off.
    pub fn remember_browser_days(&self) -> Option<i64> {
        Some(self.settings.session.remember_browser_days).filter(|days| *days > 0)
    }

    /// Remembers the client's browser after `method` was given just now; the
    /// token for its cookie. Nothing when remembering is off, or for a
    /// recovery code (whoever uses one has lost a device).
    pub(crate) async fn remember_browser(
        &self,
        user: &UserRecord,
        method: Method,
        client: &Client,
    ) -> AuthResult<Option<Token>> {
        let Some((token, remember)) = self.browser_to_remember(user, method, client) else {
            return Ok(None);
        };
        self.store
            .insert_remembered_browser(remember.browser, remember.keep_at_most)
            .await?;
        log_event(&remember.event);
        if let Err(e) = self.store.append_event(remember.event).await {
            tracing::error!(error = %e, "could not write an audit event");
        }
        Ok(Some(token))
    }

    /// The browser to remember after `method` was given just now (the token
    /// for its cookie, the row and its unlogged audit event), for a caller
    /// that writes them; as `remember_browser` decides.
    pub(crate) fn browser_to_remember(
        &self,
        user: &UserRecord,
        method: Method,
        client: &Client,
    ) -> Option<(Token, BrowserToRemember)> {
        let days = self.remember_browser_days()?;
        if method == Method::RecoveryCode {
            return None;
        }
        let now = self.clock.now();
        let token = Token::generate();
        let browser = RememberedBrowserRecord {
            id: new_handle(),
            token_hash: token.hash(),
            user_id: user.id,
            created_at: now,
            expires_at: now + days * SECONDS_PER_DAY,
            last_used_at: None,
            method: method.as_str().to_owned(),
            second_factor_at: now,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
        };
        let detail = format!(
            "browser={} method={} days={days}",
            browser.id, browser.method
        );
        let event = self.unlogged_record(
            AuditEvent::BrowserRemembered,
            Some(&user.username),
            client,
            &detail,
        );
        let remember = BrowserToRemember {
            browser,
            keep_at_most: MAX_REMEMBERED_BROWSERS_PER_USER,
            event,
        };
        Some((token, remember))
    }

    /// After a right password: a session straight away when the client's
    /// remembered-browser token is live and was given to this user.
    pub(crate) async fn sign_in_remembered(
        &self,
        user: &UserRecord,
        client: &Client,
    ) -> AuthResult<Option<SignedIn>> {
        if self.remember_browser_days().is_none() {
            return Ok(None);
        }
        let Some(token) = &client.remembered_browser else {
            return Ok(None);
        };
        let now = self.clock.now();
        let browser = match self.store.remembered_browser(token.hash()).await? {
            Some(browser) if browser.user_id == user.id && now < browser.expires_at => browser,
            _ => return Ok(None),
        };
        let session_token = Token::generate();
        let session = self.lifetime().new_session(
            &session_token,
            user.id,
            now,
            &browser.method,
            browser.second_factor_at,
            client,
        );
        let password_event = self.audit_record(
            AuditEvent::LoginPasswordOk,
            Some(&user.username),
            client,
            "",
        );
        if !self
            .store
            .open_remembered_session(
                browser.token_hash,
                session,
                MAX_SESSIONS_PER_USER,
                password_event,
            )
            .await?
        {
            return Ok(None);
        }
        let detail = format!(
            "method={} remembered_browser={}",
            browser.method, browser.id
        );
        Ok(Some(
            self.session_started(session_token, user, client, &detail)
                .await?,
        ))
    }

    /// The user's live remembered browsers, newest first.
    pub async fn remembered_browsers(
        &self,
        account: &Account,
    ) -> AuthResult<Vec<RememberedBrowserRecord>> {
        self.live_remembered_browsers(account.user.id).await
    }

    pub(crate) async fn live_remembered_browsers(
        &self,
        user: crate::store::UserId,
    ) -> AuthResult<Vec<RememberedBrowserRecord>> {
        let now = self.clock.now();
        let mut browsers = self.store.remembered_browsers_of(user).await?;
        browsers.retain(|b| now < b.expires_at);
        Ok(browsers)
    }

    /// Forgets one of the user's remembered browsers: it asks for a second
    /// factor again at its next sign-in.
    pub async fn forget_remembered_browser(
        &self,
        account: &Account,
        id: &str,
        client: &Client,
    ) -> AuthResult<()> {
        if !self
            .store
            .delete_remembered_browser(account.user.id, id)
            .await?
        {
            return Err(AuthError::NotFound("remembered browser"));
        }
        self.audit(
            AuditEvent::RememberedBrowserRevoked,
            Some(&account.user.username),
            client,
            &format!("by={} browser={id}", account.user.username),
        )
        .await;
        Ok(())
    }
}
