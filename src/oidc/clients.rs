//! Client authentication at the token, revocation and introspection
//! endpoints: `client_secret_basic`, `client_secret_post`, or `none` for a
//! public client (which proves itself with PKCE instead).

use secrecy::SecretString;

use super::{OidcError, OidcResult, Provider};
use crate::auth::password::Verified;
use crate::auth::throttle::ip_bucket;
use crate::auth::{AuthError, Client};
use crate::config::OidcClientSettings;
use crate::model::throttle::Charge;

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
        who: &Client,
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
                // Guessing a client's secret is throttled as guessing a
                // password is: per client and address, and per address.
                let ticket = self
                    .auth
                    .charge_attempt(
                        self.secret_charges(&client.id, who),
                        &format!("client {}", client.id),
                        who,
                    )
                    .await
                    .map_err(|error| match error {
                        AuthError::TooManyAttempts { retry_after_secs } => {
                            OidcError::TooManyAttempts { retry_after_secs }
                        }
                        other => other.into(),
                    })?;
                match self
                    .auth
                    .hasher
                    .verify(secret, Some(&client.secret_hash))
                    .await?
                {
                    Verified::Match { .. } => {
                        let pair = ticket.charges.first().map(|c| c.key.clone());
                        self.auth.refund_attempt(ticket, pair.as_deref()).await;
                        Ok(client)
                    }
                    Verified::Mismatch => Err(refused),
                }
            }
            _ => Err(refused),
        }
    }

    fn secret_charges(&self, client_id: &str, who: &Client) -> Vec<Charge> {
        let rules = self.auth.throttle_rules();
        let ip = who.ip.as_deref().map(ip_bucket).unwrap_or_default();
        let charge = |key: String, rule| Charge {
            key,
            rule,
            set_lock: 0,
        };
        vec![
            charge(
                format!("oidc_client:client_ip:{client_id}|{ip}"),
                rules.account_ip,
            ),
            charge(format!("oidc_client:ip:{ip}"), rules.ip),
        ]
    }
}
