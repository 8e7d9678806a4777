//! Builds the running server from settings: opens the store, binds the
//! listener (port 0 in tests), and serves until stopped.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer};
use anyhow::Context;

use crate::auth::Auth;
use crate::auth::admin::Actor;
use crate::auth::clock::{Clock, SystemClock};
use crate::auth::secrets::SecretsKey;
use crate::config::{Settings, StorageBackend};
use crate::store::{PostgresStore, SqliteStore, Store};
use crate::web;
use crate::web::connections::{PerAddressLimit, connection_budget, raise_descriptor_limit};
use crate::web::tls::CertificateStore;

/// How often expired sessions and pending logins are swept from the store (and
/// audit events past their retention pruned).
const SWEEP_INTERVAL: Duration = Duration::from_secs(300);

struct WorkerBudget {
    workers: usize,
    per_worker: usize,
}

pub struct Application {
    address: SocketAddr,
    origin: String,
    auth: actix_web::web::Data<Auth>,
    server: Server,
}

/// The store the settings name, its schema brought up to date.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let pool_size = settings.storage.pool_size;
    Ok(match settings.storage.backend {
        StorageBackend::Sqlite => {
            let file = settings.database_file();
            let store =
                tokio::task::spawn_blocking(move || SqliteStore::open(&file, pool_size)).await??;
            Arc::new(store)
        }
        StorageBackend::Postgres => {
            Arc::new(PostgresStore::open(&settings.storage.url.0, pool_size).await?)
        }
    })
}

/// The domain service over the configured store (used by `serve` and the CLI).
pub async fn build_auth(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Auth> {
    let store = open_store(&settings).await?;
    let secrets = SecretsKey::load(&settings, store.as_ref()).await?;
    Auth::new(store, clock, settings, secrets)
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
        let address = listener.local_addr()?;
        let port = address.port();
        if let Some(base) = settings.server.origin.strip_suffix(":0") {
            settings.server.origin = format!("{base}:{port}");
        }
        let origin = settings.server.origin.clone();
        let workers = settings.server.workers;
        let certificates = match (&settings.server.tls_cert, &settings.server.tls_key) {
            (Some(cert), Some(key)) => Some(CertificateStore::load(cert, key)?),
            _ => None,
        };
        let auth = actix_web::web::Data::new(build_auth(settings, clock).await?);

        let provider = actix_web::web::Data::new(
            crate::oidc::Provider::start(auth.clone().into_inner()).await?,
        );
        let sweeping_provider = provider.clone();
        let sweeper = auth.clone();
        let announcing_auth = auth.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(SWEEP_INTERVAL);
            loop {
                interval.tick().await;
                if let Err(e) = sweeper.delete_expired().await {
                    tracing::warn!(error = %e, "sweeping expired sessions failed");
                }
                if let Err(e) = sweeping_provider.delete_expired().await {
                    tracing::warn!(error = %e, "sweeping expired OpenID Connect codes and tokens failed");
                }
                if let Err(e) = sweeper.prune_audit_trail().await {
                    tracing::warn!(error = %e, "pruning the audit trail failed");
                }
            }
        });

        let per_address = PerAddressLimit::new(&auth.settings().server);
        let budget = Self::connection_budget(&auth.settings().server, workers);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(auth.clone())
                .app_data(provider.clone())
                .wrap(actix_web::middleware::from_fn(
                    web::hardening::cross_origin_guard,
                ))
                .wrap(web::hardening::security_headers(auth.settings()))
                .wrap(actix_web::middleware::from_fn(
                    web::body_deadline::read_body_in_time,
                ))
                .wrap(
                    actix_web::middleware::Logger::new("%a \"%r\" %s %b %Dms").exclude("/healthz"),
                )
                .configure(web::routes)
        })
        .workers(budget.workers)
        .max_connections(budget.per_worker)
        .max_connection_rate(budget.per_worker.min(256))
        .on_connect(move |io, data| per_address.on_connect(io, data));
        let server = match &certificates {
            Some(certificates) => {
                reload_on_hangup(certificates.clone())?;
                server.listen_rustls_0_23(listener, certificates.server_config()?)?
            }
            None => server.listen(listener)?,
        };
        Ok(Self {
            address,
            origin,
            auth: announcing_auth,
            server: server.run(),
        })
    }

    /// Workers and the connections each may hold, so that the total stays
    /// within `server.max_connections` and the descriptor limit (raised to
    /// its hard limit first) keeps a reserve.
    fn connection_budget(server: &crate::config::ServerSettings, workers: usize) -> WorkerBudget {
        let workers = match workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let descriptors = raise_descriptor_limit().unwrap_or(1024);
        let total = connection_budget(server.max_connections, descriptors);
        if total < server.max_connections {
            tracing::warn!(
                descriptors,
                connections = total,
                "the open-file limit allows fewer connections than server.max_connections; \
                 raise the limit (e.g. LimitNOFILE=) to serve more at once"
            );
        }
        WorkerBudget {
            workers,
            per_worker: total.div_ceil(workers).max(1),
        }
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The address and port the server is bound to.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Tells the operator at start what they need: a warning when people on
    /// other machines can reach twofold under a name its origin doesn't
    /// match, how to create the first administrator of an empty database,
    /// and, last, the bound address. `config` is `serve`'s `--config` file.
    pub async fn announce(&self, config: Option<&Path>) -> anyhow::Result<()> {
        let address = self.address;
        let origin = self.origin();
        if only_local_origin(address, origin) {
            tracing::warn!(
                "server.listen is {address}, reachable from other machines, but server.origin is \
                 {origin}: sign-in cookies and security keys work only for people who open \
                 {origin}; set server.origin (TWOFOLD_SERVER_ORIGIN) to the URL people use"
            );
        }
        if self.auth.users(&Actor::host_operator()).await?.is_empty() {
            let set_by_environment =
                std::env::vars().any(|(key, _)| key.starts_with(crate::config::ENV_PREFIX));
            let same_environment = if set_by_environment {
                " with the same TWOFOLD_ variables"
            } else {
                ""
            };
            tracing::info!(
                "no users yet: to create the first administrator, run `{}` in another \
                 terminal{same_environment}, then type the password and Enter",
                first_admin_command(config)
            );
        }
        tracing::info!("twofold is listening on {address}; open {origin}");
        Ok(())
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

/// Whether the server is bound beyond loopback while its origin names this
/// machine only (`localhost`): browsers elsewhere reach it by another name,
/// so its cookies and security keys would not work for them.
fn only_local_origin(address: SocketAddr, origin: &str) -> bool {
    let local_name = url::Url::parse(origin)
        .ok()
        .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
        .is_some_and(|host| host == "localhost" || host.ends_with(".localhost"));
    !address.ip().is_loopback() && local_name
}

/// The exact command that creates the first administrator, with the program
/// as it was started and the same `--config` file.
fn first_admin_command(config: Option<&Path>) -> String {
    let program = std::env::args().next().unwrap_or_else(|| "twofold".into());
    let config = config.map_or_else(String::new, |file| {
        format!(" --config {}", shell_word(&file.display().to_string()))
    });
    format!(
        "{}{config} user add root --admin --password-stdin",
        shell_word(&program)
    )
}

/// A word as a POSIX shell reads it back: quoted unless it is plainly safe.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_non_loopback_listener_with_a_localhost_origin_is_warned_about() {
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let lan: SocketAddr = "192.168.1.5:8080".parse().unwrap();
        assert!(only_local_origin(any, "http://localhost:8080"));
        assert!(only_local_origin(lan, "http://LOCALHOST:8080"));
        assert!(!only_local_origin(loopback, "http://localhost:8080"));
        assert!(!only_local_origin(any, "https://auth.example.com"));
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(
            shell_word("target/release/twofold"),
            "target/release/twofold"
        );
        assert_eq!(shell_word("/tmp/my config.toml"), "'/tmp/my config.toml'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
