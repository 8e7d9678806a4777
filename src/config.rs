//! Typed settings for every command: built-in defaults, then the TOML file given
//! with `--config`, then `TWOFOLD_<SECTION>_<KEY>` environment variables.
//! `config/twofold.example.toml` documents every key.

use std::path::{Path, PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

mod operations;
mod protection;
pub use operations::MetricsSettings;
pub use protection::{KeyText, SecretsSettings, ThrottleSettings, parse_proxy};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub storage: StorageSettings,
    pub session: SessionSettings,
    pub totp: TotpSettings,
    pub password: PasswordSettings,
    pub log: LogSettings,
    pub audit: AuditSettings,
    pub throttle: ThrottleSettings,
    pub secrets: SecretsSettings,
    pub metrics: MetricsSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port the HTTP server binds.
    pub listen: String,
    /// The URL people type to reach twofold; WebAuthn's relying party and the
    /// cookies' `Secure` flag derive from it. A port of 0 means "the bound port".
    pub origin: String,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Hosts people may be sent back to after signing in (the `rd` parameter),
    /// besides twofold's own host. `.example.com` allows every subdomain.
    pub allowed_redirect_domains: Vec<String>,
    /// Domain attribute of the cookies (e.g. `example.com`), so that apps on
    /// sibling hosts behind forward-auth receive the session; empty = host only.
    pub cookie_domain: String,
    /// Reverse proxies (IP addresses or CIDR ranges) whose `X-Forwarded-For`
    /// names the client; from anyone else the header is ignored.
    pub trusted_proxies: Vec<String>,
    /// PEM certificate chain; with `tls_key`, twofold serves HTTPS itself and
    /// reads both files again on SIGHUP.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// Folder holding the SQLite database (created if missing).
    pub path: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SessionSettings {
    /// A session unused this long ends.
    pub idle_timeout_secs: i64,
    /// A session ends this long after sign-in, used or not.
    pub absolute_timeout_secs: i64,
    /// Time allowed between the password and the second factor.
    pub pending_timeout_secs: i64,
    /// Removing a device, making recovery codes and changing the password need
    /// a second factor passed this recently.
    pub reauth_window_secs: i64,
    /// Days a browser may skip the second factor once the person asks it to
    /// (0: never offered).
    pub remember_browser_days: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TotpSettings {
    /// Issuer shown by authenticator apps next to the account name.
    pub issuer: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordSettings {
    /// Argon2id memory cost in KiB (OWASP: 19456).
    pub argon2_memory_kib: u32,
    /// Argon2id iterations.
    pub argon2_iterations: u32,
    /// Argon2id lanes.
    pub argon2_parallelism: u32,
    /// Password hashes computed at once; 0 means one per core.
    pub hash_threads: usize,
    /// New passwords need at least this many characters.
    pub min_length: usize,
    /// New passwords may have at most this many characters.
    pub max_length: usize,
    /// Lowest zxcvbn strength score (0-4) a new password may have; 0 turns
    /// the estimator off.
    pub min_strength: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `tracing` filter, e.g. `info` or `twofold=debug,actix_web=info`.
    pub level: String,
    /// `text` for people, `json` for log collectors.
    pub format: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// Audit events older than this many days are pruned; 0 keeps them forever.
    pub retention_days: u32,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self { retention_days: 90 }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            origin: "http://localhost:8080".into(),
            workers: 0,
            allowed_redirect_domains: Vec::new(),
            cookie_domain: String::new(),
            trusted_proxies: Vec::new(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from("./twofold-data"),
        }
    }
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 30 * 60,
            absolute_timeout_secs: 12 * 60 * 60,
            pending_timeout_secs: 5 * 60,
            reauth_window_secs: 10 * 60,
            remember_browser_days: 0,
        }
    }
}

impl Default for TotpSettings {
    fn default() -> Self {
        Self {
            issuer: "twofold".into(),
        }
    }
}

impl Default for PasswordSettings {
    fn default() -> Self {
        Self {
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            hash_threads: 0,
            min_length: 12,
            max_length: 128,
            min_strength: 3,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

impl Settings {
    /// Defaults, then the file (if given), then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.exists() {
                anyhow::bail!("config file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file(file));
        }
        // TWOFOLD_SESSION_IDLE_TIMEOUT_SECS → session.idle_timeout_secs: only the
        // first underscore separates the section from the key.
        let env = Env::prefixed("TWOFOLD_").map(|key| key.as_str().replacen('_', ".", 1).into());
        let settings: Settings = figment.merge(env).extract()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let origin = &self.server.origin;
        if !(origin.starts_with("http://") || origin.starts_with("https://")) {
            anyhow::bail!("server.origin must start with http:// or https://, got {origin:?}");
        }
        // Security keys are bound to the origin's host name (WebAuthn's
        // relying party id), which can't be an IP address.
        let has_domain = url::Url::parse(origin).is_ok_and(|url| url.domain().is_some());
        if !has_domain {
            anyhow::bail!(
                "server.origin must name a host, not an IP address (e.g. http://localhost:8080 \
                 or https://auth.example.com), got {origin:?}"
            );
        }
        let session = &self.session;
        if session.idle_timeout_secs <= 0
            || session.absolute_timeout_secs <= 0
            || session.pending_timeout_secs <= 0
            || session.reauth_window_secs <= 0
        {
            anyhow::bail!("session timeouts must be positive");
        }
        if session.pending_timeout_secs > 5 * 60 {
            anyhow::bail!("session.pending_timeout_secs may be at most 300");
        }
        if !(0..=365).contains(&session.remember_browser_days) {
            anyhow::bail!("session.remember_browser_days must be from 0 (off) to 365");
        }
        if self.totp.issuer.is_empty() || self.totp.issuer.contains(':') {
            anyhow::bail!("totp.issuer must be non-empty and contain no ':'");
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            anyhow::bail!("log.format must be \"text\" or \"json\"");
        }
        self.validate_protection()?;
        self.validate_operations()?;
        Ok(())
    }

    /// The SQLite file inside the storage folder.
    pub fn database_file(&self) -> PathBuf {
        self.storage.path.join("twofold.db")
    }

    /// Cookies get `Secure` (and responses HSTS) whenever people reach us
    /// over https: through a proxy, or served by twofold itself.
    pub fn secure_cookies(&self) -> bool {
        self.server.origin.starts_with("https://") || self.serves_https()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        Settings::default().validate().unwrap();
    }

    #[test]
    fn an_origin_must_name_a_host() {
        for bad in [
            "http://127.0.0.1:8080",
            "https://[::1]/",
            "localhost:8080",
            "ftp://x.example",
        ] {
            let mut settings = Settings::default();
            settings.server.origin = bad.into();
            assert!(settings.validate().is_err(), "{bad}");
        }
        let mut settings = Settings::default();
        settings.server.origin = "https://auth.example.com".into();
        settings.validate().unwrap();
    }
}
