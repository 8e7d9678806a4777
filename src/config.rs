//! Typed settings for every command: built-in defaults, then the TOML file given
//! with `--config`, then `TWOFOLD_<SECTION>_<KEY>` environment variables.
//! `config/twofold.example.toml` documents every key.

use std::path::{Path, PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

mod oidc;
mod operations;
mod protection;
mod webauthn;
pub use oidc::{ConsentMode, OidcClientSettings, OidcSettings, SCOPES as OIDC_SCOPES};
pub use operations::MetricsSettings;
pub use protection::{KeyText, SecretsSettings, ThrottleSettings, parse_proxy};
pub use webauthn::WebauthnSettings;

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
    pub access: AccessSettings,
    pub webauthn: WebauthnSettings,
    pub oidc: OidcSettings,
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
    /// Seconds a request body may take to arrive, from its headers on.
    pub body_timeout_secs: u64,
    /// Client connections open at once; lowered to what the descriptor limit
    /// allows with a reserve.
    pub max_connections: usize,
    /// Connections open at once from one client address (IPv6 by /64);
    /// trusted proxies are not counted.
    pub max_connections_per_ip: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// `sqlite` (embedded, one instance) or `postgres` (any number of
    /// instances on one database).
    pub backend: StorageBackend,
    /// Folder holding the SQLite database (created if missing), and the key
    /// file by default.
    pub path: PathBuf,
    /// `postgres://user:password@host:port/database` for the `postgres`
    /// backend. Its `Debug` hides it: it may hold a password.
    pub url: KeyText,
    /// Connections per instance.
    pub pool_size: usize,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    #[default]
    Sqlite,
    Postgres,
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
    /// Events one client address can add per minute without an account (wrong
    /// passwords, unknown names); beyond it they are counted on one row.
    pub max_anonymous_events_per_minute: u32,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            retention_days: 90,
            max_anonymous_events_per_minute: 60,
        }
    }
}

/// Authorization (`[access]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AccessSettings {
    /// What forward-auth answers a signed-in user when no statement matches.
    pub default_decision: DefaultDecision,
}

/// `allow`: anyone who passed two factors reaches every app unless a policy
/// denies (as before policies); `deny`: least privilege, only what a policy allows.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DefaultDecision {
    #[default]
    Allow,
    Deny,
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
            body_timeout_secs: 10,
            max_connections: 10_000,
            max_connections_per_ip: 128,
        }
    }
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            backend: StorageBackend::Sqlite,
            path: PathBuf::from("./twofold-data"),
            url: KeyText::default(),
            pool_size: 16,
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
        let env = Env::prefixed(ENV_PREFIX).map(|key| key.as_str().replacen('_', ".", 1).into());
        let settings: Settings = figment
            .merge(env)
            .extract()
            .map_err(|error| anyhow::anyhow!(describe_errors(error)))?;
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
        let issuer_chars = self.totp.issuer.chars().count();
        if issuer_chars == 0
            || issuer_chars > crate::auth::totp::MAX_ISSUER_CHARS
            || self.totp.issuer.contains(':')
        {
            anyhow::bail!(
                "totp.issuer must have 1 to {} characters and no ':'",
                crate::auth::totp::MAX_ISSUER_CHARS
            );
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            anyhow::bail!("log.format must be \"text\" or \"json\"");
        }
        check_log_level(&self.log.level)?;
        let server = &self.server;
        if server.body_timeout_secs == 0
            || server.max_connections == 0
            || server.max_connections_per_ip == 0
        {
            anyhow::bail!(
                "server.body_timeout_secs, server.max_connections and \
                 server.max_connections_per_ip must be at least 1"
            );
        }
        if self.audit.max_anonymous_events_per_minute == 0 {
            anyhow::bail!("audit.max_anonymous_events_per_minute must be at least 1");
        }
        self.validate_protection()?;
        self.validate_storage()?;
        self.validate_operations()?;
        self.validate_webauthn()?;
        self.validate_oidc()?;
        Ok(())
    }

    fn validate_storage(&self) -> anyhow::Result<()> {
        if self.storage.pool_size == 0 || self.storage.pool_size > 1000 {
            anyhow::bail!("storage.pool_size must be between 1 and 1000");
        }
        if self.storage.backend == StorageBackend::Postgres {
            let url = self.storage.url.0.trim();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                anyhow::bail!(
                    "storage.url must be postgres://user:password@host:port/database when \
                     storage.backend is postgres"
                );
            }
        }
        Ok(())
    }

    /// The database as messages name it: the SQLite file, or the PostgreSQL
    /// URL without its password.
    pub fn database_description(&self) -> String {
        match self.storage.backend {
            StorageBackend::Sqlite => self.database_file().display().to_string(),
            StorageBackend::Postgres => match url::Url::parse(self.storage.url.0.trim()) {
                Ok(mut url) => {
                    if url.password().is_some() {
                        let _ = url.set_password(Some("***"));
                    }
                    url.to_string()
                }
                Err(_) => "the PostgreSQL database (storage.url)".into(),
            },
        }
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

/// The environment variables that override settings start with this.
pub const ENV_PREFIX: &str = "TWOFOLD_";

/// `tracing`'s level names; `log.level` is one of them, or `module=level` pairs.
const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Refuses a filter that would silence the server by accident: `tracing`
/// reads a lone word such as `verbose` as a module name, so nothing is logged.
fn check_log_level(filter: &str) -> anyhow::Result<()> {
    let refused = || {
        anyhow::anyhow!(
            "log.level must be one of {} or module=level pairs such as \
             twofold=debug,actix_web=info; got {filter:?}",
            LOG_LEVELS.join(", ")
        )
    };
    let directives: Vec<&str> = filter
        .split(',')
        .map(str::trim)
        .filter(|directive| !directive.is_empty())
        .collect();
    if directives.is_empty() {
        return Err(refused());
    }
    for directive in directives {
        let level = directive
            .rsplit_once('=')
            .map_or(directive, |(_, level)| level);
        if !LOG_LEVELS.contains(&level.trim().to_ascii_lowercase().as_str()) {
            return Err(refused());
        }
    }
    tracing_subscriber::EnvFilter::try_new(filter).map_err(|_| refused())?;
    Ok(())
}

/// Figment's errors as one line each, naming each key as the user wrote it:
/// `server.orign in FILE` or the `TWOFOLD_` variable it came from.
fn describe_errors(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|error| describe_error(&error))
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe_error(error: &figment::Error) -> String {
    use figment::error::Kind;
    let mut path = error.path.clone();
    let reason = match &error.kind {
        Kind::UnknownField(field, expected) => {
            if path.last() != Some(field) {
                path.push(field.clone());
            }
            format!("no such setting (known here: {})", expected.join(", "))
        }
        Kind::UnknownVariant(found, expected) => {
            format!("{found:?} is not one of {}", expected.join(", "))
        }
        Kind::InvalidType(found, expected) | Kind::InvalidValue(found, expected) => {
            format!("expected {}, found {found}", plain_type(expected))
        }
        other => other.to_string(),
    };
    // Figment quotes with backticks; the key names are quoted by place instead.
    let reason = reason.replace('`', "");
    let metadata = error.metadata.as_ref();
    let from_environment = metadata.is_some_and(|m| m.name.contains("environment"));
    if from_environment {
        return format!("{}: {reason}", environment_variables(&path));
    }
    let key = path.join(".");
    match metadata.and_then(|m| m.source.as_ref()) {
        Some(figment::Source::File(file)) => format!("{key} in {}: {reason}", file.display()),
        _ => format!("{key}: {reason}"),
    }
}

/// Serde's name of an expected type, in words.
fn plain_type(expected: &str) -> &str {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number of 0 or more",
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "a boolean" | "bool" => "true or false",
        "a sequence" => "a list, e.g. [\"a\", \"b\"]",
        other => other,
    }
}

/// The variables set in the environment that name `path` (for an unknown
/// section every variable under it), e.g. `TWOFOLD_SERVER_ORIGN`.
fn environment_variables(path: &[String]) -> String {
    let name = format!("{ENV_PREFIX}{}", path.join("_").to_ascii_uppercase());
    let set: Vec<String> = std::env::vars_os()
        .filter_map(|(key, _)| key.into_string().ok())
        .filter(|key| {
            key.to_ascii_uppercase()
                .strip_prefix(&name)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('_'))
        })
        .collect();
    if set.is_empty() { name } else { set.join(", ") }
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

    #[test]
    fn a_log_level_is_a_level_or_module_level_pairs() {
        for good in [
            "info",
            "WARN",
            "twofold=debug,actix_web=info",
            "warn,twofold=trace",
        ] {
            check_log_level(good).unwrap();
        }
        for bad in ["verbose", "", "twofold", "twofold=loud", "info,chatty"] {
            let reason = check_log_level(bad).unwrap_err().to_string();
            assert!(reason.starts_with("log.level must be"), "{bad}: {reason}");
        }
    }
}
