//! Settings of WebAuthn credentials (`[webauthn]`): whether passkeys sign
//! people in without a password, and which authenticator models may be
//! enrolled as security keys or passkeys; checked at load time.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Settings;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebauthnSettings {
    /// Passwordless sign-in with a passkey offered (and passkeys enrolled).
    pub passkeys: bool,
    /// When not empty, only authenticators whose attestation states one of
    /// these models (AAGUIDs, hyphenated UUIDs) may be enrolled.
    pub allowed_aaguids: Vec<String>,
}

impl Default for WebauthnSettings {
    fn default() -> Self {
        Self {
            passkeys: true,
            allowed_aaguids: Vec::new(),
        }
    }
}

impl WebauthnSettings {
    /// The allowed models; `None` when any model may be enrolled.
    pub fn allowed_models(&self) -> Option<Vec<Uuid>> {
        if self.allowed_aaguids.is_empty() {
            return None;
        }
        Some(
            self.allowed_aaguids
                .iter()
                .filter_map(|text| parse_aaguid(text))
                .collect(),
        )
    }
}

/// An AAGUID as the settings write it: a hyphenated UUID.
fn parse_aaguid(text: &str) -> Option<Uuid> {
    (text.len() == 36)
        .then(|| Uuid::try_parse(text).ok())
        .flatten()
}

impl Settings {
    pub(super) fn validate_webauthn(&self) -> anyhow::Result<()> {
        for text in &self.webauthn.allowed_aaguids {
            if parse_aaguid(text).is_none() {
                anyhow::bail!(
                    "webauthn.allowed_aaguids: {text:?} is not an AAGUID (a hyphenated UUID such \
                     as \"2fc0579f-8113-47ea-b116-bb5a8db9202a\")"
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aaguids_are_hyphenated_uuids() {
        assert!(parse_aaguid("2fc0579f-8113-47ea-b116-bb5a8db9202a").is_some());
        assert!(parse_aaguid("2FC0579F-8113-47EA-B116-BB5A8DB9202A").is_some());
        assert!(parse_aaguid("2fc0579f811347eab116bb5a8db9202a").is_none());
        assert!(parse_aaguid("yubikey").is_none());
    }
}
