//! Step-up: a signed-in user passes a second factor again (an authenticator
//! code, a recovery code or a security key), so that removing a device, making
//! recovery codes or changing the password (which need one within
//! `session.reauth_window_secs`) are allowed; the session then gets a new
//! token. The check itself is `verify_second_factor`'s.

use super::login::Method;
use super::second_factor::{Intent, Passed};
use super::session::Token;
use super::{Account, Auth, AuthError, AuthResult, Client};

/// A second factor given again by a signed-in user (the web layer's name).
pub use super::second_factor::Proof as SecondFactorProof;

impl Auth {
    /// Passes a second factor again within a session: on success the
    /// session's `second_factor_at` is now and it moves to a new token (the
    /// one returned; the old one no longer works), as after every change of
    /// privilege. Wrong answers are throttled per user (and, for codes, per
    /// device) like the login's.
    pub async fn reauthenticate(
        &self,
        account: &Account,
        proof: SecondFactorProof<'_>,
        client: &Client,
    ) -> AuthResult<Token> {
        match self
            .verify_second_factor(Intent::StepUp(account), proof, client)
            .await?
        {
            Passed::SteppedUp(token) => Ok(token),
            _ => Err(AuthError::Unexpected(anyhow::anyhow!(
                "a step-up renewed no session"
            ))),
        }
    }

    /// The second factors a signed-in user can step up with (for the page).
    pub async fn step_up_methods(&self, account: &Account) -> AuthResult<Vec<Method>> {
        self.second_factor_methods(account.user.id).await
    }

    /// Whether the session passed a second factor recently enough for a
    /// sensitive change (the account page shows it).
    pub fn has_recent_second_factor(&self, account: &Account) -> bool {
        self.require_recent_second_factor(account).is_ok()
    }
}
