//! What tokens say about a person: the ID token's claims (with `amr` and
//! `acr` from the second factor the session actually used) and userinfo.

use serde::Serialize;

use crate::auth::clock::Timestamp;

/// RFC 8176 methods for the factor that opened the session. A recovery
/// code is a one-time code typed after the password, as a TOTP code is.
pub fn amr(method: &str) -> Vec<&'static str> {
    match method {
        "security_key" => vec!["pwd", "hwk"],
        // One ceremony, two factors: the key and its user verification.
        "passkey" => vec!["hwk", "user"],
        _ => vec!["pwd", "otp"],
    }
}

/// `phr` (phishing-resistant) when the factor was WebAuthn, else `mfa`.
pub fn acr(method: &str) -> &'static str {
    match method {
        "security_key" | "passkey" => "phr",
        _ => "mfa",
    }
}

/// Whether a granted scope (space-separated) holds `scope`.
pub fn has_scope(granted: &str, scope: &str) -> bool {
    granted.split(' ').any(|s| s == scope)
}

#[derive(Debug, Serialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub azp: String,
    pub exp: Timestamp,
    pub iat: Timestamp,
    pub auth_time: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub amr: Vec<&'static str>,
    pub acr: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

/// Who the person is, as a client learns it: in the ID token (by scope)
/// and at the userinfo endpoint.
#[derive(Debug, Clone)]
pub struct Person {
    pub subject: String,
    pub username: String,
    pub groups: Vec<String>,
}

impl Person {
    /// The ID token's person claims, as the granted scope allows.
    pub fn into_id_token(self, scope: &str, base: IdTokenBase) -> IdTokenClaims {
        let profile = has_scope(scope, "profile");
        IdTokenClaims {
            iss: base.issuer,
            sub: self.subject,
            aud: base.client_id.clone(),
            azp: base.client_id,
            exp: base.now + base.ttl_secs,
            iat: base.now,
            auth_time: base.auth_time,
            nonce: base.nonce,
            amr: amr(&base.method),
            acr: acr(&base.method),
            name: profile.then(|| self.username.clone()),
            preferred_username: profile.then_some(self.username),
            groups: has_scope(scope, "groups").then_some(self.groups),
        }
    }
}

/// The ID token's claims that do not depend on the person.
#[derive(Debug, Clone)]
pub struct IdTokenBase {
    pub issuer: String,
    pub client_id: String,
    pub now: Timestamp,
    pub ttl_secs: i64,
    pub auth_time: Timestamp,
    pub nonce: Option<String>,
    pub method: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_factor_used_names_amr_and_acr() {
        assert_eq!(amr("totp"), ["pwd", "otp"]);
        assert_eq!(amr("recovery_code"), ["pwd", "otp"]);
        assert_eq!(amr("security_key"), ["pwd", "hwk"]);
        assert_eq!(amr("passkey"), ["hwk", "user"]);
        assert_eq!(acr("totp"), "mfa");
        assert_eq!(acr("recovery_code"), "mfa");
        assert_eq!(acr("security_key"), "phr");
        assert_eq!(acr("passkey"), "phr");
    }

    #[test]
    fn scopes_are_whole_words() {
        assert!(has_scope("openid profile", "profile"));
        assert!(!has_scope("openid profiles", "profile"));
    }
}
