//! The OpenID Connect provider: apps (relying parties) sign people in
//! through twofold's two factors. Clients come from the config, keys, codes,
//! tokens and consents from the store; HTTP stays in `web::oidc`.

pub mod authorize;
pub mod claims;
pub mod clients;
pub mod keys;
pub mod tokens;

use std::sync::Arc;

use crate::auth::Auth;
use crate::config::OidcClientSettings;
use crate::store::StoreError;

pub use authorize::{AuthorizeRequest, AuthorizeStep, RedirectError};
pub use clients::ClientCredentials;
pub use tokens::{Introspection, TokenGrant, TokenResponse, UserInfo};

/// A refusal of the token, revocation, introspection or userinfo endpoint,
/// named by its RFC error code.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("{0}")]
    InvalidRequest(String),
    /// Unknown client, or a wrong or missing secret.
    #[error("client authentication failed")]
    InvalidClient { basic: bool },
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    UnauthorizedClient(String),
    #[error("only the authorization_code and refresh_token grants are offered")]
    UnsupportedGrantType,
    #[error("the access token is unknown, expired or revoked")]
    InvalidToken,
    /// Too many wrong client secrets from this address.
    #[error("too many attempts; try again in {retry_after_secs} seconds")]
    TooManyAttempts { retry_after_secs: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl OidcError {
    /// The RFC 6749 / 6750 error code.
    pub fn code(&self) -> &'static str {
        match self {
            OidcError::InvalidRequest(_) => "invalid_request",
            OidcError::InvalidClient { .. } => "invalid_client",
            OidcError::InvalidGrant(_) => "invalid_grant",
            OidcError::UnauthorizedClient(_) => "unauthorized_client",
            OidcError::UnsupportedGrantType => "unsupported_grant_type",
            OidcError::InvalidToken => "invalid_token",
            OidcError::TooManyAttempts { .. } => "too_many_attempts",
            OidcError::Store(_) | OidcError::Unexpected(_) => "server_error",
        }
    }
}

impl From<crate::auth::AuthError> for OidcError {
    fn from(error: crate::auth::AuthError) -> Self {
        match error {
            crate::auth::AuthError::Unavailable => OidcError::Store(StoreError::Unavailable),
            crate::auth::AuthError::Unexpected(e) => OidcError::Unexpected(e),
            other => OidcError::Unexpected(anyhow::anyhow!(other.to_string())),
        }
    }
}

pub type OidcResult<T> = Result<T, OidcError>;

/// How long a code may wait for its exchange.
pub const CODE_TTL_SECS: i64 = 60;
/// Codes a user may hold at once (the oldest go first).
pub const MAX_CODES_PER_USER: u32 = 20;

/// The provider service: the domain service plus what OpenID Connect adds.
pub struct Provider {
    pub(crate) auth: Arc<Auth>,
}

impl Provider {
    /// Makes the signing keys a new store lacks (every instance may try; the
    /// store keeps the first of each algorithm).
    pub async fn start(auth: Arc<Auth>) -> anyhow::Result<Self> {
        keys::ensure_keys(auth.store.as_ref(), &auth.secrets, auth.clock.now()).await?;
        Ok(Self { auth })
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// `server.origin`: the issuer of every token.
    pub fn issuer(&self) -> &str {
        &self.auth.settings.server.origin
    }

    pub fn client(&self, id: &str) -> Option<&OidcClientSettings> {
        self.auth.settings.oidc.client(id)
    }

    /// The published signing keys.
    pub async fn jwks(&self) -> OidcResult<jsonwebtoken::jwk::JwkSet> {
        Ok(keys::jwks(
            self.auth.store.as_ref(),
            &self.auth.secrets,
            self.auth.clock.now(),
            self.auth.settings.oidc.access_token_ttl_secs,
        )
        .await?)
    }

    /// Housekeeping: spent codes, expired tokens, keys retired long enough.
    pub async fn delete_expired(&self) -> OidcResult<u64> {
        let now = self.auth.clock.now();
        let keep_keys_for = self.auth.settings.oidc.access_token_ttl_secs;
        Ok(self
            .auth
            .store
            .delete_expired_oidc(now, now - keep_keys_for)
            .await?)
    }
}
