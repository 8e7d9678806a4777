//! Client authentication at the token, revocation and introspection
//! endpoints: `client_secret_basic`, `client_secret_post`, or `none` for a
//! public client (which proves itself with PKCE instead).

use secrecy::SecretString;

use super::{OidcError, OidcResult, Provider};
use crate::auth::password::Verified;
use crate::config::OidcClientSettings;

/// How a client presented itself.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub secret: Option<SecretString>,
    /// Through `Authorization: Basic` (a refusal then asks for it again).
    pub basic: bool,
}

impl Provider {
    /// The configured client these credentials prove, or `invalid_client`.
    /// A confidential client must show its secret; a public one none.
    pub async fn authenticate_client(
        &self,
        credentials: &ClientCredentials,
    ) -> OidcResult<&OidcClientSettings> {
        let refused = OidcError::InvalidClient {
            basic: credentials.basic,
        };
        let client = self.client(&credentials.client_id);
        let Some(client) = client else {
            // As long as a wrong secret, so ids can't be told apart by time.
            if let Some(secret) = &credentials.secret {
                let _ = self.auth.hasher.verify(secret, None).await;
            }
            return Err(refused);
        };
        match (&credentials.secret, client.is_public()) {
            (None, true) => Ok(client),
            (Some(secret), false) => {
                match self
                    .auth
                    .hasher
                    .verify(secret, Some(&client.secret_hash))
                    .await?
                {
                    Verified::Match { .. } => Ok(client),
                    Verified::Mismatch => Err(refused),
                }
            }
            _ => Err(refused),
        }
    }
}
