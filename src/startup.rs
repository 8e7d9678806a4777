//! Builds the running server from settings: opens the store, binds the
//! listener (port 0 in tests), and serves until stopped.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer};
use anyhow::Context;

use crate::auth::Auth;
use crate::auth::clock::{Clock, SystemClock};
use crate::auth::secrets::SecretsKey;
use crate::config::Settings;
use crate::store::SqliteStore;
use crate::web;
use crate::web::tls::CertificateStore;

/// How often expired sessions and pending logins are swept from the store (and
/// audit events past their retention pruned).
const SWEEP_INTERVAL: Duration = Duration::from_secs(300);

pub struct Application {
    port: u16,
    origin: String,
    server: Server,
}

/// The domain service over the configured store (used by `serve` and the CLI).
pub fn build_auth(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Auth> {
    let store = SqliteStore::open(&settings.database_file())?;
    let secrets = SecretsKey::load(&settings, &store)?;
    Auth::new(Arc::new(store), clock, settings, secrets)
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// As `build`, with a clock a test can move.
    pub async fn build_with_clock(
        mut settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.server.listen)
            .with_context(|| format!("binding {}", settings.server.listen))?;
        let port = listener.local_addr()?.port();
        if let Some(base) = settings.server.origin.strip_suffix(":0") {
            settings.server.origin = format!("{base}:{port}");
        }
        let origin = settings.server.origin.clone();
        let workers = settings.server.workers;
        let certificates = match (&settings.server.tls_cert, &settings.server.tls_key) {
            (Some(cert), Some(key)) => Some(CertificateStore::load(cert, key)?),
            _ => None,
        };
        let auth = actix_web::web::Data::new(build_auth(settings, clock)?);

        let sweeper = auth.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(SWEEP_INTERVAL);
            loop {
                interval.tick().await;
                if let Err(e) = sweeper.delete_expired().await {
                    tracing::warn!(error = %e, "sweeping expired sessions failed");
                }
                if let Err(e) = sweeper.prune_audit_trail().await {
                    tracing::warn!(error = %e, "pruning the audit trail failed");
                }
            }
        });

        let server = HttpServer::new(move || {
            App::new()
                .app_data(auth.clone())
                .wrap(actix_web::middleware::from_fn(
                    web::hardening::cross_origin_guard,
                ))
                .wrap(web::hardening::security_headers(auth.settings()))
                .wrap(
                    actix_web::middleware::Logger::new("%a \"%r\" %s %b %Dms").exclude("/healthz"),
                )
                .configure(web::routes)
        });
        let mut server = match &certificates {
            Some(certificates) => {
                reload_on_hangup(certificates.clone())?;
                server.listen_rustls_0_23(listener, certificates.server_config()?)?
            }
            None => server.listen(listener)?,
        };
        if workers > 0 {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            origin,
            server: server.run(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// `SIGHUP` reads the certificate files again; new connections get the new
/// certificate, open ones keep theirs. A bad file leaves the old one in use.
fn reload_on_hangup(certificates: Arc<CertificateStore>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match certificates.reload() {
                Ok(()) => tracing::info!("reloaded the TLS certificate"),
                Err(e) => {
                    tracing::warn!(error = %e, "kept the previous TLS certificate")
                }
            }
        }
    });
    Ok(())
}
