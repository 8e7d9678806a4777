//! Sessions people see and end: a user's own (one, or all but the current
//! one) and, for administrators, anyone's. Ending is a row deleted, so the
//! next request anywhere (every instance reads the same store) is refused.

use super::admin::Actor;
use super::audit::AuditEvent;
use super::{Account, Auth, AuthError, AuthResult, Client};
use crate::store::{RememberedBrowserRecord, SessionRecord, TokenHash, UserRecord};

/// One user's sessions and remembered browsers, as an admin sees them.
#[derive(Debug)]
pub struct UserSessions {
    pub user: UserRecord,
    pub sessions: Vec<SessionRecord>,
    pub remembered_browsers: Vec<RememberedBrowserRecord>,
    /// The admin's own session, when listing their own account.
    pub current: Option<TokenHash>,
}

impl Auth {
    /// The user's live sessions, newest first (the current one among them).
    pub async fn sessions(&self, account: &Account) -> AuthResult<Vec<SessionRecord>> {
        self.live_sessions(account.user.id).await
    }

    async fn live_sessions(&self, user: crate::store::UserId) -> AuthResult<Vec<SessionRecord>> {
        let now = self.clock.now();
        let lifetime = self.lifetime();
        let mut sessions = self.store.sessions_of(user).await?;
        sessions.retain(|s| lifetime.is_live(s, now));
        Ok(sessions)
    }

    /// Ends one of the user's sessions (the current one too, if named).
    pub async fn end_session(
        &self,
        account: &Account,
        id: &str,
        client: &Client,
    ) -> AuthResult<()> {
        if !self.store.delete_session_by_id(account.user.id, id).await? {
            return Err(AuthError::NotFound("session"));
        }
        self.audit(
            AuditEvent::SessionRevoked,
            Some(&account.user.username),
            client,
            &format!("by={} session={id}", account.user.username),
        )
        .await;
        Ok(())
    }

    /// "Sign out everywhere else": every session but the current one ends,
    /// and every remembered browser but this one is forgotten (so whoever
    /// else held the account must pass a second factor again).
    pub async fn end_other_sessions(&self, account: &Account, client: &Client) -> AuthResult<()> {
        let user = &account.user;
        let this_browser = client.remembered_browser.as_ref().map(|t| t.hash());
        self.end_sessions_of(
            user,
            Some(account.session.token_hash),
            this_browser,
            &user.username,
            client,
        )
        .await
    }

    /// An admin's view of a user's sessions and remembered browsers.
    pub async fn user_sessions(&self, by: &Actor, username: &str) -> AuthResult<UserSessions> {
        let user = self.existing_user(username).await?;
        Ok(UserSessions {
            sessions: self.live_sessions(user.id).await?,
            remembered_browsers: self.live_remembered_browsers(user.id).await?,
            current: by.session(),
            user,
        })
    }

    /// An admin ends every session of a user and forgets their remembered
    /// browsers (an admin ending their own keeps the session they act from).
    pub async fn end_user_sessions(
        &self,
        by: &Actor,
        username: &str,
        client: &Client,
    ) -> AuthResult<()> {
        self.require_recent_second_factor_of(by)?;
        let user = self.existing_user(username).await?;
        self.end_sessions_of(&user, by.session(), None, by.name(), client)
            .await
    }

    /// An admin ends one session of a user.
    pub async fn end_user_session(
        &self,
        by: &Actor,
        username: &str,
        id: &str,
        client: &Client,
    ) -> AuthResult<()> {
        self.require_recent_second_factor_of(by)?;
        let user = self.existing_user(username).await?;
        if !self.store.delete_session_by_id(user.id, id).await? {
            return Err(AuthError::NotFound("session"));
        }
        self.audit(
            AuditEvent::SessionRevoked,
            Some(&user.username),
            client,
            &format!("by={} session={id}", by.name()),
        )
        .await;
        Ok(())
    }

    async fn end_sessions_of(
        &self,
        user: &UserRecord,
        keep_session: Option<TokenHash>,
        keep_browser: Option<TokenHash>,
        by: &str,
        client: &Client,
    ) -> AuthResult<()> {
        let sessions = self
            .store
            .delete_sessions_except(user.id, keep_session)
            .await?;
        let browsers = self
            .store
            .delete_remembered_browsers_except(user.id, keep_browser)
            .await?;
        self.audit(
            AuditEvent::SessionRevoked,
            Some(&user.username),
            client,
            &format!("by={by} sessions={sessions}"),
        )
        .await;
        if browsers > 0 {
            self.audit(
                AuditEvent::RememberedBrowserRevoked,
                Some(&user.username),
                client,
                &format!("by={by} remembered_browsers={browsers}"),
            )
            .await;
        }
        Ok(())
    }
}
