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
use crate::web::connections::{PerAddressLimit, connection_budget, raise_descriptor_limit};

/// How often expired sessions and pending logins are swept from the store (and
/// audit events past their retention pruned).
const SWEEP_INTERVAL: Duration = Duration::from_secs(300);

struct WorkerBudget {
    workers: usize,
    per_worker: usize,
}

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

        let per_address = PerAddressLimit::new(&auth.settings().server);
        let budget = Self::connection_budget(&auth.settings().server, workers);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(auth.clone())
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
        .on_connect(move |io, data| per_address.on_connect(io, data))
        .listen(listener)?;
        Ok(Self {
            port,
            origin,
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
        self.port
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
