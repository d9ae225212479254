//! Prometheus metrics (`metrics` facade, `metrics-exporter-prometheus` recorder).
//!
//! The code that knows an event records it through the facade: HTTP requests in
//! [`crate::request_log`], sign-ins, lockouts, refresh rotations and reuse in the
//! domain's token service, hashing in [`crate::hashing`], cache look-ups and query
//! latency in the persistence crate. Gauges that describe a state (the hashing queue,
//! the database pool) are sampled when `/metrics` is read. Every metric is listed, with
//! its labels, in README's "Metrics" section.

use crate::authentication::{Authenticated, PlatformReader};
use crate::error::ApiError;
use crate::transport::TransportPolicy;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use keyplane_adapters::Argon2Hasher;
use keyplane_persistence::Database;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Histogram buckets, in seconds: from a cached token check to a slow hash.
const BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The process's recorder, installed on first use (one per process: the tests' servers
/// share it).
fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder =
            PrometheusBuilder::new().set_buckets(BUCKETS).expect("the buckets are not empty").build_recorder();
        let handle = recorder.handle();
        // Another recorder may be installed already (a test harness); then this one only
        // renders what it sees, which is nothing: say so instead of failing to start.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was installed already; /metrics reports nothing");
        }
        describe();
        metrics::gauge!("keyplane_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!("keyplane_http_requests_total", "HTTP requests answered, by method, route template and status.");
    describe_histogram!(
        "keyplane_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by method and route template."
    );
    describe_counter!(
        "keyplane_sign_ins_total",
        "Credential checks (sign-ins, and credentials on other requests), by entry point, credential and outcome."
    );
    describe_counter!("keyplane_lockouts_total", "Names locked after repeated failed sign-ins, by scope.");
    describe_counter!(
        "keyplane_refresh_rotations_total",
        "Refresh-token rotations (rotated, or a retry within the grace)."
    );
    describe_counter!(
        "keyplane_refresh_reuse_detected_total",
        "Refresh tokens reused after rotation (the session ends)."
    );
    describe_gauge!("keyplane_hashing_queue_depth", "Password hashes waiting for a hashing thread.");
    describe_gauge!("keyplane_hashing_threads", "Hashing threads.");
    describe_histogram!("keyplane_hashing_wait_seconds", Unit::Seconds, "Time a password hash waited for a thread.");
    describe_histogram!("keyplane_hashing_duration_seconds", Unit::Seconds, "Time one Argon2id hash took.");
    describe_counter!(
        "keyplane_hashing_rejected_total",
        "Password hashes refused because the tenant's queue was full (429)."
    );
    describe_gauge!("keyplane_db_connections", "Database pool connections, by state (in_use, idle).");
    describe_histogram!(
        "keyplane_db_query_duration_seconds",
        Unit::Seconds,
        "Time a database statement took, by outcome."
    );
    describe_counter!("keyplane_cache_requests_total", "Read-through cache look-ups, by cache and result (hit, miss).");
    describe_gauge!("keyplane_build_info", "Always 1; the version is a label.");
}

/// What `/metrics` reads: the recorder and the states it samples.
pub struct Metrics {
    handle: PrometheusHandle,
    hasher: Arc<Argon2Hasher>,
    db: Database,
}

impl Metrics {
    /// Installs the recorder (once per process) and keeps what is sampled at scrape time.
    pub fn new(hasher: Arc<Argon2Hasher>, db: Database) -> Self {
        Self { handle: handle().clone(), hasher, db }
    }

    /// Keeps the recorder's memory bounded between scrapes; runs until aborted.
    pub async fn run_upkeep(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            self.handle.run_upkeep();
        }
    }

    /// The Prometheus text exposition of every metric, gauges sampled now.
    pub fn render(&self) -> String {
        metrics::gauge!("keyplane_hashing_queue_depth").set(self.hasher.queued() as f64);
        metrics::gauge!("keyplane_hashing_threads").set(self.hasher.threads() as f64);
        let (size, idle) = keyplane_persistence::pool_connections(&self.db);
        metrics::gauge!("keyplane_db_connections", "state" => "in_use").set(f64::from(size - idle));
        metrics::gauge!("keyplane_db_connections", "state" => "idle").set(f64::from(idle));
        self.handle.render()
    }
}

/// Whether the client of `req` (the peer, or whom a trusted proxy forwarded) is this
/// host or a trusted-proxy address itself, which may read `/metrics` without a
/// credential. A request a trusted proxy forwards from elsewhere needs one: the proxy's
/// own address grants nothing to its clients.
fn from_inside(req: &HttpRequest) -> bool {
    let Some(peer) = req.peer_addr().map(|a| a.ip().to_canonical()) else { return false };
    match req.app_data::<TransportPolicy>() {
        Some(policy) => {
            let client = policy.client_address_of(peer, req.headers()).to_canonical();
            client.is_loopback() || policy.trusts(client)
        }
        None => peer.is_loopback(),
    }
}

/// Prometheus metrics.
///
/// Open to loopback and trusted-proxy addresses; from anywhere else a `platform_viewer`
/// (or `platform_admin`) credential is needed.
#[utoipa::path(get, path = "/metrics", operation_id = "get_metrics", tag = "operations",
    security((), ("basic" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Every metric in the Prometheus text exposition format (listed in README).",
            content_type = "text/plain", body = String),
    ))]
pub async fn metrics(req: HttpRequest, metrics: web::Data<Metrics>) -> Result<HttpResponse, ApiError> {
    if !from_inside(&req) {
        Authenticated::<PlatformReader>::extract(&req).await?;
    }
    Ok(open(&metrics))
}

/// The answer on the dedicated metrics listener (`KEYPLANE_METRICS__LISTEN`), whose
/// address the operator exposes only to the scraper.
pub async fn metrics_listener(metrics: web::Data<Metrics>) -> HttpResponse {
    open(&metrics)
}

fn open(metrics: &Metrics) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(metrics.render())
}
