//! Who is asking, whatever credential they showed: the one answer handlers
//! and the access rules read. A session cookie, a temporary credential
//! (`Authorization: Bearer`) or, at forward-auth only, an access key
//! (`Authorization: Basic`) each become a `Principal`.

use secrecy::{ExposeSecret, SecretString};

use super::clock::Timestamp;
use super::session::Token;
use super::{Account, Auth, AuthError, AuthResult, Client};
use crate::store::{AccessKeyRecord, SessionRecord, TemporaryCredentialRecord, UserRecord};

/// A credential as a client presented it, not yet checked.
#[derive(Debug, Clone)]
pub enum PresentedCredential {
    /// The session cookie set after both factors.
    Session(Token),
    /// `Authorization: Bearer`: a temporary credential.
    Bearer(Token),
    /// `Authorization: Basic` with an access key id and its secret.
    AccessKey { id: String, secret: SecretString },
    /// An `Authorization` header that can't be read, with why.
    Malformed(&'static str),
}

/// How the principal proved who they are (`twofold:CredentialType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    Session,
    AccessKey,
    Temporary,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Session => "session",
            CredentialKind::AccessKey => "access_key",
            CredentialKind::Temporary => "temporary",
        }
    }
}

/// The checked credential behind a principal.
#[derive(Debug, Clone)]
pub enum Credential {
    Session(SessionRecord),
    Temporary(TemporaryCredentialRecord),
    AccessKey(AccessKeyRecord),
}

/// A user whose credential checked out, and that credential.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: UserRecord,
    pub credential: Credential,
}

impl Principal {
    pub fn user(&self) -> &UserRecord {
        &self.user
    }

    pub fn kind(&self) -> CredentialKind {
        match self.credential {
            Credential::Session(_) => CredentialKind::Session,
            Credential::Temporary(_) => CredentialKind::Temporary,
            Credential::AccessKey(_) => CredentialKind::AccessKey,
        }
    }

    pub fn session(&self) -> Option<&SessionRecord> {
        match &self.credential {
            Credential::Session(session) => Some(session),
            _ => None,
        }
    }

    /// The role a temporary credential was made for.
    pub fn role(&self) -> Option<&str> {
        match &self.credential {
            Credential::Temporary(t) => t.role.as_deref(),
            _ => None,
        }
    }

    /// `admin: true` counts for the user's own credentials; a role's token
    /// has the role's permissions alone.
    pub fn is_admin(&self) -> bool {
        self.user.admin && self.role().is_none()
    }

    /// The second factor behind the credential: its method (when recorded)
    /// and when it was passed; `None` for an access key or a token made
    /// without a code.
    pub fn second_factor(&self) -> Option<(Option<&str>, Timestamp)> {
        match &self.credential {
            Credential::Session(s) => Some((
                Some(s.method.as_str()).filter(|m| !m.is_empty()),
                s.second_factor_at,
            )),
            Credential::Temporary(t) => t.mfa_at.map(|at| (t.mfa_method.as_deref(), at)),
            Credential::AccessKey(_) => None,
        }
    }

    /// The session behind a browser's principal; a temporary credential or
    /// an access key is refused (403): they can't change credentials.
    pub fn into_account(self) -> AuthResult<Account> {
        match self.credential {
            Credential::Session(session) => Ok(Account {
                user: self.user,
                session,
            }),
            _ => Err(AuthError::NotWithTemporaryCredential),
        }
    }
}

impl From<Account> for Principal {
    fn from(account: Account) -> Self {
        Self {
            user: account.user,
            credential: Credential::Session(account.session),
        }
    }
}

impl Auth {
    /// The principal behind a presented session cookie or temporary
    /// credential, or `Unauthenticated`. A session's idle timeout is
    /// extended as `signed_in` does. An access key is taken by forward-auth
    /// alone (`verify_principal`).
    pub async fn principal(
        &self,
        presented: Option<&PresentedCredential>,
    ) -> AuthResult<Principal> {
        match presented {
            Some(PresentedCredential::Session(token)) => {
                Ok(self.signed_in(Some(token)).await?.into())
            }
            Some(PresentedCredential::Bearer(token)) => self.temporary_principal(token).await,
            Some(PresentedCredential::AccessKey { .. }) => Err(AuthError::UnauthenticatedBecause(
                "an access key is taken by /api/v1/verify alone: exchange it for a token at \
                 /api/v1/sts/session-token",
            )),
            Some(PresentedCredential::Malformed(why)) => {
                Err(AuthError::UnauthenticatedBecause(why))
            }
            None => Err(AuthError::Unauthenticated),
        }
    }

    /// Forward-auth's principal: as `principal`, and an access key too
    /// (checked, and a wrong secret counted, as at `sts/session-token`).
    pub async fn verify_principal(
        &self,
        presented: Option<&PresentedCredential>,
        client: &Client,
    ) -> AuthResult<Principal> {
        match presented {
            Some(PresentedCredential::AccessKey { id, secret }) => {
                let (key, user) = self
                    .authenticate_access_key(id, secret.expose_secret(), client)
                    .await?;
                Ok(Principal {
                    user,
                    credential: Credential::AccessKey(key),
                })
            }
            other => self.principal(other).await,
        }
    }
}
