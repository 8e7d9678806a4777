//! Settings of account protection: login throttling (`[throttle]`), the key
//! that seals secrets at rest (`[secrets]`), and the checks of those and of
//! the password policy and trusted proxies at load time.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Settings;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleSettings {
    /// Throttling of password and second-factor guessing; on by default.
    pub enabled: bool,
    /// First wait once a limit is reached; it doubles with each further failure.
    pub lockout_secs: i64,
    /// Longest wait for the password rules.
    pub max_lockout_secs: i64,
    /// Password failures for one account from one client IP...
    pub account_ip_max_failures: u32,
    /// ...within this many seconds.
    pub account_ip_window_secs: i64,
    /// Password failures for one account from all clients it does not know...
    pub account_max_failures: u32,
    /// ...within this many seconds.
    pub account_window_secs: i64,
    /// Password failures from one client IP across all accounts...
    pub ip_max_failures: u32,
    /// ...within this many seconds.
    pub ip_window_secs: i64,
    /// Wrong authenticator codes for one device across all logins...
    pub totp_max_failures: u32,
    /// ...within this many seconds.
    pub totp_window_secs: i64,
    /// Longest wait for authenticator codes.
    pub totp_max_lockout_secs: i64,
    /// A browser that passed both factors is known for this many days: the
    /// per-account limit does not apply to it.
    pub known_client_days: i64,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            lockout_secs: 60,
            max_lockout_secs: 15 * 60,
            account_ip_max_failures: 5,
            account_ip_window_secs: 10 * 60,
            account_max_failures: 50,
            account_window_secs: 60 * 60,
            ip_max_failures: 100,
            ip_window_secs: 60 * 60,
            totp_max_failures: 10,
            totp_window_secs: 24 * 60 * 60,
            totp_max_lockout_secs: 60 * 60,
            known_client_days: 90,
        }
    }
}

/// A secret given in the settings (a key as base64 of 32 bytes, a database
/// URL with its password). `Debug` never shows it.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct KeyText(pub String);

impl std::fmt::Debug for KeyText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("KeyText(none)")
        } else {
            f.write_str("KeyText(..)")
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsSettings {
    /// The key sealing TOTP seeds, base64 of 32 random bytes (best given as
    /// `TWOFOLD_SECRETS_KEY`). Empty: the key file is used.
    pub key: KeyText,
    /// File holding the key (base64). Empty: `secret.key` in the storage
    /// folder, created with mode 0600 on first start.
    pub key_file: PathBuf,
}

impl Settings {
    pub(super) fn validate_protection(&self) -> anyhow::Result<()> {
        for proxy in &self.server.trusted_proxies {
            if parse_proxy(proxy).is_none() {
                anyhow::bail!(
                    "server.trusted_proxies: {proxy:?} is neither an IP address nor a CIDR range"
                );
            }
        }
        let password = &self.password;
        if password.min_length == 0 || password.max_length < password.min_length {
            anyhow::bail!("password.min_length must be at least 1 and at most password.max_length");
        }
        if password.max_length > 256 {
            anyhow::bail!("password.max_length may be at most 256");
        }
        if password.min_strength > 4 {
            anyhow::bail!("password.min_strength is a zxcvbn score from 0 to 4");
        }
        let t = &self.throttle;
        let positive = [
            t.lockout_secs,
            t.max_lockout_secs,
            t.account_ip_window_secs,
            t.account_window_secs,
            t.ip_window_secs,
            t.totp_window_secs,
            t.totp_max_lockout_secs,
            t.known_client_days,
        ];
        let counts = [
            t.account_ip_max_failures,
            t.account_max_failures,
            t.ip_max_failures,
            t.totp_max_failures,
        ];
        if positive.iter().any(|v| *v <= 0) || counts.contains(&0) {
            anyhow::bail!("throttle limits, windows and lockouts must be positive");
        }
        if t.max_lockout_secs < t.lockout_secs || t.totp_max_lockout_secs < t.lockout_secs {
            anyhow::bail!("throttle max lockouts must be at least throttle.lockout_secs");
        }
        Ok(())
    }

    /// The file holding the secrets key when no key is given inline.
    pub fn key_file(&self) -> PathBuf {
        if self.secrets.key_file.as_os_str().is_empty() {
            self.storage.path.join("secret.key")
        } else {
            self.secrets.key_file.clone()
        }
    }
}

/// An IP address (a range of one) or a CIDR range.
pub fn parse_proxy(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(Into::into))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_are_addresses_or_ranges() {
        assert!(parse_proxy("10.0.0.1").is_some());
        assert!(parse_proxy("10.0.0.0/8").is_some());
        assert!(parse_proxy("::1").is_some());
        assert!(parse_proxy("fd00::/8").is_some());
        assert!(parse_proxy("proxy.local").is_none());
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let secrets = SecretsSettings {
            key: KeyText("c2VjcmV0".into()),
            key_file: PathBuf::new(),
        };
        assert!(!format!("{secrets:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate_protection().unwrap();
    }

    #[test]
    fn the_example_config_lists_exactly_the_defaults() {
        let example =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/twofold.example.toml");
        assert_eq!(Settings::load(Some(&example)).unwrap(), Settings::default());
    }
}
