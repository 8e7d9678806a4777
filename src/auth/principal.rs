//! Who is asking, whatever credential they showed: the one answer handlers
//! and the access rules read. Today the only credential is a session cookie;
//! Bearer tokens and access keys become further `PresentedCredential`s.

use super::clock::Timestamp;
use super::session::Token;
use super::{Account, Auth, AuthError, AuthResult};
use crate::store::UserRecord;

/// A credential as a client presented it, not yet checked.
#[derive(Debug, Clone)]
pub enum PresentedCredential {
    /// The session cookie set after both factors.
    Session(Token),
}

/// How the principal proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    Session,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Session => "session",
        }
    }
}

/// A user whose credential checked out: who they are, the session that
/// carries them (its handle, times and second-factor time), and the kind
/// of credential they showed.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account: Account,
    pub credential: CredentialKind,
}

impl Principal {
    pub fn user(&self) -> &UserRecord {
        &self.account.user
    }

    /// When a second factor was last passed for this credential.
    pub fn second_factor_at(&self) -> Timestamp {
        self.account.session.second_factor_at
    }
}

impl Auth {
    /// The principal behind a presented credential, or `Unauthenticated`.
    /// A session's idle timeout is extended as `signed_in` does.
    pub async fn principal(
        &self,
        presented: Option<&PresentedCredential>,
    ) -> AuthResult<Principal> {
        match presented {
            Some(PresentedCredential::Session(token)) => Ok(Principal {
                account: self.signed_in(Some(token)).await?,
                credential: CredentialKind::Session,
            }),
            None => Err(AuthError::Unauthenticated),
        }
    }
}
