//! Every way a domain operation can be refused. The web layer maps each variant
//! to one API error code and status in one place (`web::error`).

use crate::model::access::AccessLimit;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong password or unknown user: deliberately indistinguishable.
    #[error("the username or password is wrong")]
    InvalidCredentials,
    /// A wrong code at sign-in.
    #[error("the code is wrong, expired or already used")]
    InvalidCode,
    /// A right code for a time step already used: the same API code as a
    /// wrong one, other words.
    #[error("this code was just used; wait for the next one")]
    CodeJustUsed,
    /// A wrong code while confirming a new device (a request error, not a failed sign-in).
    #[error(
        "the code does not match this device; check the device's clock and try the current code"
    )]
    InvalidEnrolmentCode,
    #[error("the security key's answer was not accepted")]
    InvalidAssertion,
    #[error("the security key's registration was not accepted")]
    InvalidAttestation,
    /// An authenticator of a model `webauthn.allowed_aaguids` does not list.
    #[error("{0}")]
    ModelNotAllowed(String),
    #[error("passkeys are turned off on this server (webauthn.passkeys)")]
    PasskeysOff,
    #[error("sign in with a password and a second factor first")]
    Unauthenticated,
    /// A credential that was presented but can't be used here, with why.
    #[error("{0}")]
    UnauthenticatedBecause(&'static str),
    /// An access key id or secret that is wrong, or a key that is inactive
    /// or whose user is disabled (one answer for all).
    #[error("the access key id or secret is wrong, or the key is not active")]
    InvalidAccessKey,
    #[error("a user holds at most {0} access keys")]
    TooManyAccessKeys(u32),
    /// A temporary credential on an endpoint that changes credentials.
    #[error("a temporary credential can't change credentials: sign in with a browser session")]
    NotWithTemporaryCredential,
    #[error("this needs an administrator")]
    Forbidden,
    #[error("confirm a second factor again to do this")]
    ReauthenticationRequired,
    #[error("a user holds at most {0} second factors")]
    TooManyDevices(usize),
    /// Removing the last second factor would let the password alone enrol a new one.
    #[error("add another second factor first: the last one can't be removed")]
    LastFactor,
    #[error("that username is taken")]
    UsernameTaken,
    #[error("{0}")]
    WeakPassword(String),
    #[error("too many attempts; try again in {retry_after_secs} seconds")]
    TooManyAttempts { retry_after_secs: i64 },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    InvalidRequest(String),
    #[error(
        "administrators can't disable their own account; another administrator or the host's operator can"
    )]
    CannotDisableSelf,
    /// A group, policy or attachment beyond its bound.
    #[error(transparent)]
    AccessLimit(#[from] AccessLimit),
    #[error("the database is unavailable; try again shortly")]
    Unavailable,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<StoreError> for AuthError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::UsernameTaken => AuthError::UsernameTaken,
            StoreError::AccessLimit(limit) => AuthError::AccessLimit(limit),
            StoreError::Unavailable => AuthError::Unavailable,
            StoreError::Unexpected(e) => AuthError::Unexpected(e),
        }
    }
}

pub type AuthResult<T> = Result<T, AuthError>;
