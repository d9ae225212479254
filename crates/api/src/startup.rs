//! `Application::build` connects and migrates the database, bootstraps the platform
//! admin, binds the listener (port 0 allowed) and assembles the actix-web server.

use crate::connection::{self, ConnectionLimits};
use crate::error::{ApiError, ErrorCode, ERROR_CODES_HEADER};
use crate::extract::{BodyLimit, BodyTimeout};
use crate::maintenance::{AuditPurge, SessionPurge};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimits;
use crate::request_log::{self, RequestSpans};
use crate::routes::health::Readiness;
use crate::settings::{Settings, ShutdownSettings};
use crate::state::AppState;
use crate::transport::{self, TransportPolicy};
use crate::{openapi, routes};
use actix_web::dev::Service;
use actix_web::dev::{Server, ServiceResponse};
use actix_web::http::{header, ConnectionType, KeepAlive, Method, StatusCode};
use actix_web::middleware::{DefaultHeaders, ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, App, HttpResponse, HttpServer, ResponseError};
use anyhow::Context;
use futures_util::future::{ready, Either};
use futures_util::TryFutureExt;
use keyplane_adapters::Argon2Hasher;
use keyplane_adapters::{AuditWriter, BufferedAuditLog};
use keyplane_adapters::{JwtCodec, MasterKey};
use keyplane_domain::api_key::ApiKeyRepository;
use keyplane_domain::audit::AuditLog;
use keyplane_domain::authc::{ClusterRegistry, NativeCluster};
use keyplane_domain::clock::{SharedClock, SystemClock};
use keyplane_domain::lockout::LockoutRepository;
use keyplane_domain::password::PasswordHasher;
use keyplane_domain::platform::{PlatformKeyRepository, PlatformUserRepository, BOOTSTRAP_ADMIN};
use keyplane_domain::policy::ClusterKind;
use keyplane_domain::services::api_keys::ApiKeyService;
use keyplane_domain::services::audit::{AuditService, SessionAdmin};
use keyplane_domain::services::bootstrap::{ensure_platform_admin, BootstrapOutcome};
use keyplane_domain::services::operators::OperatorService;
use keyplane_domain::services::signing::{SigningError, SigningKeys};
use keyplane_domain::services::tenants::TenantService;
use keyplane_domain::services::tokens::{TokenPorts, TokenService};
use keyplane_domain::services::users::UserService;
use keyplane_domain::session::SessionRepository;
use keyplane_domain::tenant::TenantRepository;
use keyplane_domain::user::UserRepository;
use keyplane_persistence::cache::{
    CachedApiKeys, CachedLockout, CachedPlatformUsers, CachedSessions, CachedTenants, CachedUsers,
};
use keyplane_persistence::{
    SqlApiKeys, SqlAuditLog, SqlLockout, SqlPlatformKeys, SqlPlatformUsers, SqlSessions, SqlSigningKeys, SqlTenants,
    SqlUsers,
};
use secrecy::ExposeSecret;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use tracing_actix_web::TracingLogger;
use utoipa_swagger_ui::SwaggerUi;

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

        let Core { state, argon, hasher, platform_users, sessions, lockout, audit_store, audit_writer } =
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
        let body_limit = web::Data::new(BodyLimit(settings.max_body_bytes));
        let body_timeout = web::Data::new(BodyTimeout(Duration::from_millis(settings.http.body_timeout_ms)));
        let document = openapi::document();

        let transport =
            TransportPolicy { mode: settings.ssl_required, trusted_proxies: settings.trusted_proxies.clone() };
        let rate_limits = RateLimits::new(&settings.rate_limit, transport.clone()).map_err(anyhow::Error::msg)?;
        let rate_limit_upkeep = rate_limits
            .clone()
            .map(|limits| (limits, Duration::from_millis(settings.rate_limit.cleanup_interval_ms.max(1000))));
        let hsts = tls.is_some();
        let server = HttpServer::new(move || {
            let transport = transport.clone();
            let rate_limits = rate_limits.clone();
            // For the audit trail's client address (`audit::Origin`).
            let policy = transport.clone();
            // Whose `X-Request-Id` is believed.
            let ids = transport.clone();
            App::new()
                // HEAD is GET without the body (RFC 9110 §9.3.2): routed as GET; the
                // connection still knows the request was HEAD and sends no body.
                .wrap_fn(|mut req, srv| {
                    if req.method() == Method::HEAD {
                        req.head_mut().method = Method::GET;
                    }
                    srv.call(req)
                })
                .wrap(ErrorHandlers::new().default_handler(envelope_fallback))
                .wrap_fn(move |req, srv| match rate_limits.as_ref().map(|limits| limits.check(&req)) {
                    Some(Err(wait)) => {
                        let refusal = RateLimits::refusal(req.path(), wait);
                        Either::Right(ready(Ok(req.into_response(refusal).map_into_right_body())))
                    }
                    _ => Either::Left(srv.call(req).map_ok(ServiceResponse::map_into_left_body)),
                })
                .wrap_fn(move |req, srv| {
                    // Probes stay reachable over plain HTTP; `/metrics` does not: from outside
                    // it takes a credential, which the transport rule protects like any other.
                    let exempt = matches!(req.path(), "/healthz" | "/readyz");
                    if exempt || transport.allows(&req) {
                        Either::Left(srv.call(req).map_ok(ServiceResponse::map_into_left_body))
                    } else {
                        let refusal = transport::refusal(req.path());
                        Either::Right(ready(Ok(req.into_response(refusal).map_into_right_body())))
                    }
                })
                // Once stopping, every answer closes its connection, so that a load
                // balancer's kept-alive connections move to the other replicas.
                .wrap_fn({
                    let readiness = readiness_data.clone();
                    move |req, srv| {
                        let readiness = readiness.clone();
                        srv.call(req).map_ok(move |mut res| {
                            if !readiness.is_ready() {
                                res.response_mut().head_mut().set_connection_type(ConnectionType::Close);
                            }
                            res
                        })
                    }
                })
                // Outside every early answer, so that a refused request's unread body
                // closes its connection too.
                .wrap_fn(|mut req, srv| {
                    let finished = connection::watch_body(&mut req);
                    srv.call(req).map_ok(move |res| connection::close_if_unread(res, finished))
                })
                .wrap(TracingLogger::<RequestSpans>::new())
                // Before the span opens: the request's id (see `request_log`).
                .wrap_fn(move |req, srv| {
                    let id = request_log::assign(&req, &ids);
                    request_log::scoped(id, srv.call(req))
                })
                // Outermost, so that responses rewritten by `ErrorHandlers` and transport
                // refusals carry it too.
                .wrap(if hsts {
                    DefaultHeaders::new()
                        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                        .add((header::STRICT_TRANSPORT_SECURITY, crate::tls::HSTS))
                } else {
                    DefaultHeaders::new().add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                })
                .app_data(state.clone())
                .app_data(body_limit.clone())
                .app_data(body_timeout.clone())
                .app_data(policy)
                .app_data(readiness_data.clone())
                .app_data(metrics.clone())
                .configure(routes::configure)
                .service(SwaggerUi::new("/swagger-ui/{_:.*}").url("/api-docs/openapi.json", document.clone()))
                // Where a person typing the address lands: the Swagger UI.
                .service(web::resource(["/", "/swagger-ui"]).get(to_swagger_ui).default_service(web::to(|| async {
                    let mut response = ApiError::from(crate::failure::Failure::MethodNotAllowed).error_response();
                    response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET"));
                    response
                })))
                .default_service(web::to(routes::not_found))
        });
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

/// The services over an open database, as the server and the admin commands use them.
pub(crate) struct Core {
    pub(crate) state: AppState,
    pub(crate) argon: Arc<Argon2Hasher>,
    pub(crate) hasher: Arc<dyn PasswordHasher>,
    pub(crate) platform_users: Arc<dyn PlatformUserRepository>,
    pub(crate) sessions: Arc<dyn SessionRepository>,
    pub(crate) lockout: Arc<dyn LockoutRepository>,
    pub(crate) audit_store: Arc<dyn AuditLog>,
    pub(crate) audit_writer: AuditWriter,
}

/// Assembles the services over `db`: repositories (cached per `settings`), the hashing
/// pool, the audit log (sign-in events buffered), signing keys under the master key
/// (checked to open the stored ones), and the domain services.
pub(crate) async fn core(
    settings: &Settings,
    db: keyplane_persistence::Database,
    clock: SharedClock,
    base_url: &str,
    create_master_key: bool,
) -> anyhow::Result<Core> {
    let hasher = Argon2Hasher::new(&settings.hashing).map_err(anyhow::Error::msg)?;
    tracing::info!(
        hash_ms = hasher.hash_time().as_secs_f64() * 1000.0,
        threads = hasher.threads(),
        queue = hasher.queue(),
        "password hashing pool ready"
    );
    let argon = Arc::new(hasher);
    let hasher: Arc<dyn PasswordHasher> = argon.clone();
    let repos = Repositories::new(&db, Duration::from_millis(settings.cache_ttl_ms));
    let (tenants, users, keys, platform_users, sessions) =
        (repos.tenants, repos.users, repos.keys, repos.platform_users, repos.sessions);
    let platform_keys: Arc<dyn PlatformKeyRepository> = Arc::new(SqlPlatformKeys::new(db.clone()));

    // Sign-in events go through the buffered log (`audit_sink`), off the request path;
    // administrative changes write their events in their own transactions instead.
    let audit_store: Arc<dyn AuditLog> = Arc::new(SqlAuditLog::new(db.clone()));
    let (buffered, audit_writer) =
        BufferedAuditLog::new(audit_store.clone(), settings.audit.queue_capacity, settings.audit.write_batch_size);
    let audit_sink: Arc<dyn AuditLog> = Arc::new(buffered);

    let codec = Arc::new(JwtCodec::new(&master_key(settings, create_master_key)?));
    let signing = Arc::new(SigningKeys::new(Arc::new(SqlSigningKeys::new(db.clone())), codec, clock.clone()));
    signing.check_master_key().await.map_err(|e| match e {
        SigningError::Crypto(_) => anyhow::anyhow!(
            "the master key does not open the signing keys stored in this database: set KEYPLANE_MASTER_KEY \
             (or {}) to the key the database was first used with",
            settings.data_dir.join("master.key").display()
        ),
        SigningError::Storage(e) => anyhow::Error::new(e).context("reading the signing keys"),
    })?;
    let clusters = ClusterRegistry::default()
        .with(ClusterKind::Native, Arc::new(NativeCluster::new(users.clone(), hasher.clone())));
    let tokens = TokenService::new(
        TokenPorts {
            tenants: tenants.clone(),
            users: users.clone(),
            platform_users: platform_users.clone(),
            platform_keys: platform_keys.clone(),
            keys: keys.clone(),
            sessions: sessions.clone(),
            signing: signing.clone(),
            clusters,
            hasher: hasher.clone(),
            lockout: repos.lockout.clone(),
            audit: audit_sink.clone(),
            clock: clock.clone(),
        },
        base_url,
    );
    let state = AppState {
        tenants: TenantService::new(tenants.clone(), signing, clock.clone()),
        users: UserService::new(users.clone(), keys.clone(), sessions.clone(), hasher.clone(), clock.clone()),
        keys: ApiKeyService::new(keys.clone(), sessions.clone(), clock.clone()),
        operators: OperatorService::new(
            platform_users.clone(),
            platform_keys.clone(),
            sessions.clone(),
            hasher.clone(),
            clock.clone(),
        ),
        tokens,
        audit: AuditService::new(
            audit_sink,
            users.clone(),
            platform_users.clone(),
            keys.clone(),
            platform_keys.clone(),
        ),
        sessions: SessionAdmin::new(sessions.clone(), clock.clone()),
        db: db.clone(),
    };
    Ok(Core { state, argon, hasher, platform_users, sessions, lockout: repos.lockout, audit_store, audit_writer })
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
            .default_service(web::to(routes::not_found))
    })
    .listen(listener)?
    .disable_signals()
    .workers(1)
    .run();
    tracing::info!(address, port, "metrics listening");
    Ok(server)
}

/// The repositories, behind read-through caches unless the TTL is zero.
struct Repositories {
    tenants: Arc<dyn TenantRepository>,
    users: Arc<dyn UserRepository>,
    keys: Arc<dyn ApiKeyRepository>,
    platform_users: Arc<dyn PlatformUserRepository>,
    sessions: Arc<dyn SessionRepository>,
    lockout: Arc<dyn LockoutRepository>,
}

impl Repositories {
    fn new(db: &keyplane_persistence::Database, ttl: Duration) -> Self {
        let tenants: Arc<dyn TenantRepository> = Arc::new(SqlTenants::new(db.clone()));
        let users: Arc<dyn UserRepository> = Arc::new(SqlUsers::new(db.clone()));
        let keys: Arc<dyn ApiKeyRepository> = Arc::new(SqlApiKeys::new(db.clone()));
        let platform_users: Arc<dyn PlatformUserRepository> = Arc::new(SqlPlatformUsers::new(db.clone()));
        let sessions: Arc<dyn SessionRepository> = Arc::new(SqlSessions::new(db.clone()));
        let lockout: Arc<dyn LockoutRepository> = Arc::new(SqlLockout::new(db.clone()));
        if ttl.is_zero() {
            return Self { tenants, users, keys, platform_users, sessions, lockout };
        }
        Self {
            tenants: Arc::new(CachedTenants::new(tenants, ttl)),
            users: Arc::new(CachedUsers::new(users, ttl)),
            keys: Arc::new(CachedApiKeys::new(keys, ttl)),
            platform_users: Arc::new(CachedPlatformUsers::new(platform_users, ttl)),
            sessions: Arc::new(CachedSessions::new(sessions, ttl)),
            lockout: Arc::new(CachedLockout::new(lockout, ttl)),
        }
    }
}

/// Creates the bootstrap platform admin on first start; a generated password is printed
/// once to stderr.
pub(crate) async fn bootstrap(
    settings: &Settings,
    platform_users: &Arc<dyn PlatformUserRepository>,
    hasher: &Arc<dyn PasswordHasher>,
    clock: &SharedClock,
) -> anyhow::Result<()> {
    let configured = settings.bootstrap_admin_password.as_ref().map(|p| p.expose_secret().to_owned());
    match ensure_platform_admin(platform_users, hasher, clock, configured)
        .await
        .context("bootstrapping the platform admin")?
    {
        BootstrapOutcome::AlreadyDone => {}
        BootstrapOutcome::CreatedWithConfiguredPassword => {
            tracing::info!(user = BOOTSTRAP_ADMIN, "created the bootstrap platform admin")
        }
        BootstrapOutcome::CreatedWithGeneratedPassword(password) => {
            tracing::info!(user = BOOTSTRAP_ADMIN, "created the bootstrap platform admin with a generated password");
            // Straight to standard error, never through the log pipeline (which may ship
            // it elsewhere); in JSON mode as one JSON line, so that a collector can read it.
            if settings.log_format == "json" {
                let line = serde_json::json!({
                    "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    "level": "WARN",
                    "fields": {
                        "message": format!(
                            "Keyplane bootstrap: platform admin '{BOOTSTRAP_ADMIN}' created with password: {}",
                            password.expose()
                        ),
                        "note": "It is shown only this once."
                    },
                    "target": "keyplane::bootstrap"
                });
                eprintln!("{line}");
            } else {
                eprintln!(
                    "\nKeyplane bootstrap: platform admin '{BOOTSTRAP_ADMIN}' created with password: {}\nIt is shown only this once.\n",
                    password.expose()
                );
            }
        }
    }
    Ok(())
}

/// The configured master key, or the key file in the data directory (created on first
/// start, with a warning, when `create`).
fn master_key(settings: &Settings, create: bool) -> anyhow::Result<MasterKey> {
    if let Some(key) = &settings.master_key {
        return MasterKey::from_base64(key.expose_secret()).map_err(anyhow::Error::msg);
    }
    let path = settings.data_dir.join("master.key");
    anyhow::ensure!(
        create || path.exists(),
        "no master key: set KEYPLANE_MASTER_KEY to the server's, or KEYPLANE_DATA_DIR to the directory holding its \
         master.key ({} does not exist)",
        path.display()
    );
    let (key, created) = MasterKey::load_or_create(&path).map_err(anyhow::Error::msg)?;
    if created {
        tracing::warn!(path = %path.display(), "no master key configured: generated one; set KEYPLANE_MASTER_KEY in production and share it between replicas");
    } else {
        tracing::warn!(path = %path.display(), "no master key configured: using the key file; set KEYPLANE_MASTER_KEY in production");
    }
    Ok(key)
}

/// Any error response produced outside our handlers (actix's own 404/405/400, a panic
/// caught as 500, …) is rewritten into the native envelope.
fn envelope_fallback<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // Enveloped already, or a per-tenant endpoint speaking its own dialect's shape.
    if res.headers().contains_key(ERROR_CODES_HEADER) || res.request().path().starts_with("/t/") {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let code = match res.status() {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        StatusCode::SERVICE_UNAVAILABLE => {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        s if s.is_client_error() => ErrorCode::InvalidData,
        _ => ErrorCode::Internal,
    };
    let error = if code == ErrorCode::Internal {
        ApiError::internal(&std::io::Error::other(format!("unhandled {} response", res.status())))
    } else {
        ApiError::new(code, res.status().canonical_reason().unwrap_or("Request failed").to_owned() + ".")
    };
    let (req, _) = res.into_parts();
    let response = ServiceResponse::new(req, error.error_response()).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(response))
}

/// Sends `/` and `/swagger-ui` (no slash) to the Swagger UI's page.
async fn to_swagger_ui() -> HttpResponse {
    HttpResponse::Found().insert_header((header::LOCATION, "/swagger-ui/")).finish()
}
