//! Settings of the OpenID Connect provider (`[oidc]`, `[[oidc.clients]]`):
//! the apps that sign people in through twofold, checked at load time so a
//! bad redirect URI or an unknown scope stops the start with its reason.

use serde::{Deserialize, Serialize};

use super::Settings;

/// The scopes a client may ask for.
pub const SCOPES: [&str; 5] = ["openid", "profile", "email", "groups", "offline_access"];
/// Bounds on what the config may hold (each value is echoed in pages and tokens).
const MAX_ID_CHARS: usize = 128;
const MAX_URIS: usize = 32;
const MAX_URI_CHARS: usize = 2048;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OidcSettings {
    /// Lifetime of access tokens and ID tokens.
    pub access_token_ttl_secs: i64,
    /// Lifetime of a refresh token (each exchange makes a new one).
    pub refresh_token_ttl_secs: i64,
    pub clients: Vec<OidcClientSettings>,
}

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 3600,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            clients: Vec::new(),
        }
    }
}

/// When a person is asked to allow a client.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMode {
    /// Asked the first time (and again when the client asks for more).
    #[default]
    Once,
    /// Asked at every sign-in.
    Always,
    /// Never asked: the operator consented for everyone.
    Implicit,
}

/// One relying party.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OidcClientSettings {
    pub id: String,
    /// Shown on the consent page; the id when empty.
    pub name: String,
    /// Argon2id PHC string of the client secret; empty for a public client.
    pub secret_hash: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub require_pkce: bool,
    pub consent: ConsentMode,
    /// `ES256` (default) or `RS256`: how its ID tokens are signed.
    pub id_token_signed_response_alg: String,
}

impl Default for OidcClientSettings {
    fn default() -> Self {
        Self {
            id: String::new(),
            name: String::new(),
            secret_hash: String::new(),
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            scopes: vec![
                "openid".into(),
                "profile".into(),
                "email".into(),
                "groups".into(),
            ],
            require_pkce: true,
            consent: ConsentMode::Once,
            id_token_signed_response_alg: "ES256".into(),
        }
    }
}

impl OidcClientSettings {
    /// The name people see.
    pub fn display_name(&self) -> &str {
        if self.name.trim().is_empty() {
            &self.id
        } else {
            &self.name
        }
    }

    /// A public client (no secret) can only prove itself with PKCE.
    pub fn is_public(&self) -> bool {
        self.secret_hash.trim().is_empty()
    }

    pub fn needs_pkce(&self) -> bool {
        self.require_pkce || self.is_public()
    }
}

impl OidcSettings {
    pub fn client(&self, id: &str) -> Option<&OidcClientSettings> {
        self.clients.iter().find(|client| client.id == id)
    }
}

/// Why a redirect URI can't be registered, if it can't: an absolute http(s)
/// URL without a fragment or userinfo, as RFC 6749 §3.1.2 asks.
fn redirect_uri_problem(uri: &str) -> Option<&'static str> {
    if uri.len() > MAX_URI_CHARS {
        return Some("is longer than 2048 characters");
    }
    let Ok(parsed) = url::Url::parse(uri) else {
        return Some("is not an absolute URL");
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return Some("must use http or https");
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Some("names no host");
    }
    if parsed.fragment().is_some() {
        return Some("must not have a fragment (#...)");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Some("must not carry a user name or password");
    }
    None
}

impl Settings {
    pub(super) fn validate_oidc(&self) -> anyhow::Result<()> {
        let oidc = &self.oidc;
        if oidc.access_token_ttl_secs < 60 || oidc.access_token_ttl_secs > 24 * 3600 {
            anyhow::bail!("oidc.access_token_ttl_secs must be from 60 to 86400");
        }
        if oidc.refresh_token_ttl_secs < 60 || oidc.refresh_token_ttl_secs > 365 * 24 * 3600 {
            anyhow::bail!("oidc.refresh_token_ttl_secs must be from 60 to 31536000");
        }
        for (index, client) in oidc.clients.iter().enumerate() {
            let at = format!("oidc.clients[{index}]");
            let id = &client.id;
            if id.is_empty()
                || id.chars().count() > MAX_ID_CHARS
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                anyhow::bail!(
                    "{at}.id must have 1 to {MAX_ID_CHARS} letters, digits, '-', '_' or '.', \
                     got {id:?}"
                );
            }
            if oidc.clients[..index].iter().any(|other| &other.id == id) {
                anyhow::bail!("{at}.id {id:?} is given to two clients");
            }
            if client.name.chars().count() > MAX_ID_CHARS {
                anyhow::bail!("{at} ({id}): name is longer than {MAX_ID_CHARS} characters");
            }
            let readable = argon2::password_hash::phc::PasswordHash::new(&client.secret_hash)
                .is_ok_and(|hash| hash.algorithm.as_str() == "argon2id");
            if !client.is_public() && !readable {
                anyhow::bail!(
                    "{at} ({id}): secret_hash must be an Argon2id PHC string \
                     (make one with `twofold oidc hash-secret`), or empty for a public client"
                );
            }
            if client.redirect_uris.is_empty() {
                anyhow::bail!("{at} ({id}): redirect_uris must name at least one URI");
            }
            for (field, uris) in [
                ("redirect_uris", &client.redirect_uris),
                (
                    "post_logout_redirect_uris",
                    &client.post_logout_redirect_uris,
                ),
            ] {
                if uris.len() > MAX_URIS {
                    anyhow::bail!("{at} ({id}): {field} may hold at most {MAX_URIS} URIs");
                }
                for uri in uris {
                    if let Some(problem) = redirect_uri_problem(uri) {
                        anyhow::bail!("{at} ({id}): {field}: {uri:?} {problem}");
                    }
                }
            }
            for scope in &client.scopes {
                if !SCOPES.contains(&scope.as_str()) {
                    anyhow::bail!(
                        "{at} ({id}): unknown scope {scope:?} (known: {})",
                        SCOPES.join(", ")
                    );
                }
            }
            if !client.scopes.iter().any(|scope| scope == "openid") {
                anyhow::bail!("{at} ({id}): scopes must include \"openid\"");
            }
            if !matches!(
                client.id_token_signed_response_alg.as_str(),
                "ES256" | "RS256"
            ) {
                anyhow::bail!(
                    "{at} ({id}): id_token_signed_response_alg must be \"ES256\" or \"RS256\""
                );
            }
        }
        Ok(())
    }
}
