//! Settings for running twofold in production: who may read `/metrics`
//! (`[metrics]`), and the load-time checks of those and of `server.tls_*`.

use serde::{Deserialize, Serialize};

use super::{Settings, parse_proxy};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Addresses (IPs or CIDR ranges) that may read `/metrics`; judged on the
    /// client address as `server.trusted_proxies` resolves it.
    pub allowed_ips: Vec<String>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            allowed_ips: vec!["127.0.0.1".into(), "::1".into()],
        }
    }
}

impl Settings {
    pub(super) fn validate_operations(&self) -> anyhow::Result<()> {
        for allowed in &self.metrics.allowed_ips {
            if parse_proxy(allowed).is_none() {
                anyhow::bail!(
                    "metrics.allowed_ips: {allowed:?} is neither an IP address nor a CIDR range"
                );
            }
        }
        let server = &self.server;
        match (&server.tls_cert, &server.tls_key) {
            (Some(_), None) => anyhow::bail!("server.tls_cert is set but server.tls_key is not"),
            (None, Some(_)) => anyhow::bail!("server.tls_key is set but server.tls_cert is not"),
            (Some(_), Some(_)) if !server.origin.starts_with("https://") => anyhow::bail!(
                "server.origin must start with https:// when twofold serves HTTPS \
                 (server.tls_cert is set), got {:?}",
                server.origin
            ),
            _ => Ok(()),
        }
    }

    /// Whether twofold terminates TLS itself.
    pub fn serves_https(&self) -> bool {
        self.server.tls_cert.is_some() && self.server.tls_key.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_needs_both_files_and_an_https_origin() {
        let mut settings = Settings::default();
        settings.server.tls_cert = Some("cert.pem".into());
        assert!(settings.validate_operations().is_err());
        settings.server.tls_key = Some("key.pem".into());
        assert!(settings.validate_operations().is_err(), "http origin");
        settings.server.origin = "https://auth.example.com".into();
        settings.validate_operations().unwrap();
    }

    #[test]
    fn metrics_readers_are_addresses_or_ranges() {
        let mut settings = Settings::default();
        settings.metrics.allowed_ips = vec!["10.0.0.0/8".into(), "::1".into()];
        settings.validate_operations().unwrap();
        settings.metrics.allowed_ips = vec!["localhost".into()];
        assert!(settings.validate_operations().is_err());
    }
}
