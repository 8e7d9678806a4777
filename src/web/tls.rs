//! HTTPS served by twofold itself (rustls): the certificate chain and key of
//! `server.tls_cert` / `server.tls_key`, swapped in place on `SIGHUP` so that
//! new connections get the new certificate while open ones carry on.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The certificate every new TLS handshake is given; replaced by `reload`.
#[derive(Debug)]
pub struct CertificateStore {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertificateStore {
    /// Reads both files; a missing file or a key that doesn't belong to the
    /// certificate is a one-line reason naming the setting.
    pub fn load(cert_path: &Path, key_path: &Path) -> anyhow::Result<Arc<Self>> {
        // ring, as the rest of the tree (reqwest) uses: aws-lc-rs would add
        // post-quantum key exchange but needs cmake and a C build. rustls
        // 0.23.48 marks the ring provider deprecated for that reason only.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = read_certified_key(cert_path, key_path, &provider)?;
        Ok(Arc::new(Self {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            provider,
            current: RwLock::new(Arc::new(current)),
        }))
    }

    /// Reads the files again; on any error the certificate in use stays.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = read_certified_key(&self.cert_path, &self.key_path, &self.provider)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(())
    }

    /// A rustls server configuration that asks this store on every handshake.
    pub fn server_config(self: &Arc<Self>) -> anyhow::Result<rustls::ServerConfig> {
        Ok(
            rustls::ServerConfig::builder_with_provider(self.provider.clone())
                .with_safe_default_protocol_versions()
                .context("choosing TLS versions")?
                .with_no_client_auth()
                .with_cert_resolver(self.clone()),
        )
    }
}

impl ResolvesServerCert for CertificateStore {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

fn read_certified_key(
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> anyhow::Result<CertifiedKey> {
    let cert_text = std::fs::read(cert_path).map_err(|e| {
        anyhow::anyhow!("server.tls_cert: cannot read {}: {e}", cert_path.display())
    })?;
    let chain = CertificateDer::pem_slice_iter(&cert_text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            anyhow::anyhow!(
                "server.tls_cert: {} is not a PEM certificate: {e}",
                cert_path.display()
            )
        })?;
    if chain.is_empty() {
        anyhow::bail!(
            "server.tls_cert: {} holds no PEM certificate",
            cert_path.display()
        );
    }
    let key_text = std::fs::read(key_path)
        .map_err(|e| anyhow::anyhow!("server.tls_key: cannot read {}: {e}", key_path.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_text).map_err(|e| {
        anyhow::anyhow!(
            "server.tls_key: {} is not a PEM private key: {e}",
            key_path.display()
        )
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => anyhow::anyhow!(
            "server.tls_key: the key in {} does not match the certificate in {}",
            key_path.display(),
            cert_path.display()
        ),
        other => anyhow::anyhow!(
            "server.tls_key: {} can't be used: {other}",
            key_path.display()
        ),
    })
}
