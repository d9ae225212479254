//! `Application::build` connects and migrates the database, bootstraps the platform
//! admin, binds the listener (port 0 allowed) and assembles the actix-web server.

use crate::app::AppParts;
use crate::connection::ConnectionLimits;
use crate::extract::{BodyLimit, BodyTimeout};
use crate::maintenance::{AuditPurge, SessionPurge};
use crate::metrics::Metrics;
use crate::openapi;
use crate::ratelimit::RateLimits;
use crate::settings::{Settings, ShutdownSettings};
use crate::surfaces::operations::health::Readiness;
use crate::surfaces::{self, Guards};
use crate::transport::TransportPolicy;
use crate::wiring::{bootstrap, core, Core};
use actix_web::dev::Server;
use actix_web::http::KeepAlive;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use keyplane_adapters::AuditWriter;
use keyplane_domain::clock::{SharedClock, SystemClock};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    readiness: Readiness,
    metrics: Arc<Metrics>,
    metrics_server: Option<Server>,
    shutdown: ShutdownSettings,
    db: keyplane_persistence::Database,
    session_purge: Option<SessionPurge>,
    rate_limit_upkeep: Option<(Arc<RateLimits>, Duration)>,
    audit_purge: Option<AuditPurge>,
    audit_writer: AuditWriter,
}

impl Application {
    /// Builds everything from `settings` and binds the listener.
    ///
    /// # Errors
    /// When the database cannot be opened or migrated, the admin cannot be bootstrapped,
    /// or the address cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// As [`Application::build`], reading time from `clock` (tests move it forward to
    /// exercise expiry without sleeping).
    ///
    /// # Errors
    /// As [`Application::build`].
    pub async fn build_with_clock(settings: Settings, clock: SharedClock) -> anyhow::Result<Self> {
        let url = settings.effective_database_url();
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating {}", settings.data_dir.display()))?;
        let db = keyplane_persistence::connect(&url, settings.database_max_connections)
            .await
            .context("connecting to the database")?;
        keyplane_persistence::migrate(&db).await.context("migrating the database")?;

        let listener = TcpListener::bind((settings.host.as_str(), settings.port))
            .with_context(|| format!("binding {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        let tls = crate::tls::server_config(&settings.tls)?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base_url =
            settings.public_base_url.clone().unwrap_or_else(|| format!("{scheme}://{}:{port}", settings.host));

        let Core { state, argon, hasher, platform_users, sessions, lockout, audit_store, audit_writer, .. } =
            core(&settings, db.clone(), clock.clone(), &base_url, true).await?;
        bootstrap(&settings, &platform_users, &hasher, &clock).await?;
        let session_purge = SessionPurge::new(sessions.clone(), clock.clone(), &settings.session_purge)
            .map(|purge| purge.with_failures(lockout.clone(), clock.clone(), settings.session_purge.batch_size));
        let audit_purge = AuditPurge::new(audit_store, clock.clone(), &settings.audit);
        let state = web::Data::new(state);
        let metrics = web::Data::new(Metrics::new(argon, db.clone()));
        let metrics_server = match &settings.metrics.listen {
            Some(address) => Some(metrics_listener(address, metrics.clone())?),
            None => None,
        };
        let metrics_state = metrics.clone().into_inner();
        let readiness = Readiness::default();
        let readiness_data = web::Data::new(readiness.clone());

        let transport =
            TransportPolicy { mode: settings.ssl_required, trusted_proxies: settings.trusted_proxies.clone() };
        let rate_limits = RateLimits::new(&settings.rate_limit, transport.clone()).map_err(anyhow::Error::msg)?;
        let rate_limit_upkeep = rate_limits
            .clone()
            .map(|limits| (limits, Duration::from_millis(settings.rate_limit.cleanup_interval_ms.max(1000))));
        let parts = AppParts {
            state,
            body_limit: web::Data::new(BodyLimit(settings.max_body_bytes)),
            body_timeout: web::Data::new(BodyTimeout(Duration::from_millis(settings.http.body_timeout_ms))),
            transport: transport.clone(),
            readiness: readiness_data,
            metrics: metrics.clone(),
            guards: web::Data::new(Guards { transport, limits: rate_limits }),
            document: openapi::document(),
            hsts: tls.is_some(),
        };
        let server = HttpServer::new(move || crate::app::app(&parts));
        let mut server = match tls {
            Some(config) => server.listen_rustls_0_23(listener, config)?,
            None => server.listen(listener)?,
        };
        let workers = settings.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let limits = ConnectionLimits::new(&settings.http, workers);
        let keep_alive = if limits.keep_alive.is_zero() { KeepAlive::Disabled } else { limits.keep_alive.into() };
        server = server
            // Keyplane handles SIGTERM and SIGINT itself (see `run_until_signalled`).
            .disable_signals()
            .shutdown_timeout(settings.shutdown.drain_secs)
            .workers(workers)
            .keep_alive(keep_alive)
            .client_request_timeout(limits.head_timeout)
            .client_disconnect_timeout(limits.disconnect_timeout)
            .max_connections(limits.connections_per_worker);
        tracing::info!(port, scheme, %base_url, "listening");
        Ok(Self {
            port,
            server: server.run(),
            metrics: metrics_state,
            metrics_server,
            readiness,
            shutdown: settings.shutdown.clone(),
            db,
            session_purge,
            rate_limit_upkeep,
            audit_purge,
            audit_writer,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully (see
    /// [`ShutdownSettings`]): `/readyz` answers 503, then the listener closes, requests in
    /// flight finish (within the drain time), queued audit events are stored and the
    /// database is closed.
    ///
    /// # Errors
    /// The server's I/O error, or a signal handler that cannot be installed.
    pub async fn run_until_signalled(self) -> std::io::Result<()> {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let stop = async move {
            let name = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            };
            tracing::info!(signal = name, "shutting down: finishing the requests in flight (again to stop at once)");
        };
        // Listens only once the first signal came: a second one cuts the drain short.
        let again = async {
            let Ok(mut terminate) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
                return std::future::pending().await;
            };
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        self.run_until_forced(stop, again).await
    }

    /// Serves until the server stops by itself (the tests' servers run until their
    /// runtime ends). Background upkeep runs meanwhile (see [`Self::run_until`]).
    ///
    /// # Errors
    /// The server's I/O error.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// Serves until `stop` completes, then shuts down gracefully. Ended sessions, stale
    /// failure records and old audit events are purged (see [`SessionPurge`],
    /// [`AuditPurge`]) and idle rate-limiter keys forgotten (see
    /// [`RateLimits::forget_idle`]) in the background meanwhile.
    ///
    /// # Errors
    /// The server's I/O error.
    pub async fn run_until(self, stop: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
        self.run_until_forced(stop, std::future::pending()).await
    }

    /// As [`Self::run_until`]; once stopping, `force` completing ends the drain at once.
    async fn run_until_forced(
        self,
        stop: impl std::future::Future<Output = ()>,
        force: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let started = std::time::Instant::now();
        let writer = self.audit_writer.spawn();
        let mut upkeep = Vec::new();
        if let Some(purge) = self.session_purge {
            upkeep.push(tokio::spawn(purge.run()));
        }
        if let Some(purge) = self.audit_purge {
            upkeep.push(tokio::spawn(purge.run()));
        }
        if let Some((limits, interval)) = self.rate_limit_upkeep {
            upkeep.push(tokio::spawn(limits.run_upkeep(interval)));
        }
        upkeep.push(tokio::spawn(self.metrics.clone().run_upkeep()));
        let metrics_server = self.metrics_server.map(|server| {
            let handle = server.handle();
            tokio::spawn(server);
            handle
        });
        let handle = self.server.handle();
        let mut server = std::pin::pin!(self.server);
        let result = tokio::select! {
            result = &mut server => result,
            () = stop => {
                let stopping = std::time::Instant::now();
                self.readiness.stopping();
                let forced = handle.clone();
                tokio::spawn(async move {
                    force.await;
                    tracing::warn!("stopping at once: requests still in flight are cut off");
                    forced.stop(false).await;
                });
                tokio::time::sleep(Duration::from_millis(self.shutdown.readiness_delay_ms)).await;
                // Stop accepting, let the requests in flight finish (up to the drain time).
                // The command is sent at once; the server future carries it out.
                let stopped = handle.stop(true);
                let result = server.await;
                stopped.await;
                tracing::debug!(drained_ms = stopping.elapsed().as_millis() as u64, "requests drained");
                result
            }
        };
        if let Some(metrics) = metrics_server {
            metrics.stop(true).await;
        }
        for task in upkeep {
            task.abort();
        }
        writer.shutdown().await;
        if let Err(e) = self.db.close().await {
            tracing::warn!(error = %e, "closing the database failed");
        }
        tracing::info!(uptime_secs = started.elapsed().as_secs(), "stopped");
        result
    }
}

/// The dedicated metrics listener (`KEYPLANE_METRICS__LISTEN`): `/metrics` only, without
/// a credential (the operator exposes the address to the scraper alone).
fn metrics_listener(address: &str, metrics: web::Data<Metrics>) -> anyhow::Result<Server> {
    let listener = TcpListener::bind(address).with_context(|| format!("binding the metrics listener {address}"))?;
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(metrics.clone())
            .route("/metrics", web::get().to(crate::metrics::metrics_listener))
            .default_service(web::to(surfaces::not_found))
    })
    .listen(listener)?
    .disable_signals()
    .workers(1)
    .run();
    tracing::info!(address, port, "metrics listening");
    Ok(server)
}
