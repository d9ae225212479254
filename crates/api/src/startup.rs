//! `Application::build` connects and migrates the database, bootstraps the platform
//! admin, binds the listener (port 0 allowed) and assembles the actix-web server.

use crate::error::{ApiError, ErrorCode, ERROR_CODES_HEADER};
use crate::extract::BodyLimit;
use crate::hashing::Argon2Hasher;
use crate::settings::Settings;
use crate::state::AppState;
use crate::{openapi, routes};
use actix_web::dev::{Server, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, App, HttpServer, ResponseError};
use anyhow::Context;
use keyplane_domain::clock::{SharedClock, SystemClock};
use keyplane_domain::password::PasswordHasher;
use keyplane_domain::platform::{PlatformUserRepository, BOOTSTRAP_ADMIN};
use keyplane_domain::services::api_keys::ApiKeyService;
use keyplane_domain::services::authn::Authenticator;
use keyplane_domain::services::bootstrap::{ensure_platform_admin, BootstrapOutcome};
use keyplane_domain::services::tenants::TenantService;
use keyplane_domain::services::users::UserService;
use keyplane_persistence::{SqlApiKeys, SqlPlatformUsers, SqlTenants, SqlUsers};
use secrecy::ExposeSecret;
use std::net::TcpListener;
use std::sync::Arc;
use tracing_actix_web::TracingLogger;
use utoipa_swagger_ui::SwaggerUi;

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
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
        if settings.database_url.is_none() {
            std::fs::create_dir_all(&settings.data_dir)
                .with_context(|| format!("creating {}", settings.data_dir.display()))?;
        }
        let db = keyplane_persistence::connect(&url, settings.database_max_connections)
            .await
            .context("connecting to the database")?;
        keyplane_persistence::migrate(&db).await.context("migrating the database")?;

        let hasher: Arc<dyn PasswordHasher> =
            Arc::new(Argon2Hasher::new(&settings.hashing).map_err(anyhow::Error::msg)?);
        let tenants = Arc::new(SqlTenants::new(db.clone()));
        let users = Arc::new(SqlUsers::new(db.clone()));
        let keys = Arc::new(SqlApiKeys::new(db.clone()));
        let platform_users: Arc<dyn PlatformUserRepository> = Arc::new(SqlPlatformUsers::new(db.clone()));

        let configured = settings.bootstrap_admin_password.as_ref().map(|p| p.expose_secret().to_owned());
        match ensure_platform_admin(&platform_users, &hasher, &clock, configured)
            .await
            .context("bootstrapping the platform admin")?
        {
            BootstrapOutcome::AlreadyDone => {}
            BootstrapOutcome::CreatedWithConfiguredPassword => {
                tracing::info!(user = BOOTSTRAP_ADMIN, "created the bootstrap platform admin")
            }
            BootstrapOutcome::CreatedWithGeneratedPassword(password) => {
                tracing::info!(
                    user = BOOTSTRAP_ADMIN,
                    "created the bootstrap platform admin with a generated password"
                );
                eprintln!("\nKeyplane bootstrap: platform admin '{BOOTSTRAP_ADMIN}' created with password: {}\nIt is shown only this once.\n", password.expose());
            }
        }

        let state = web::Data::new(AppState {
            tenants: TenantService::new(tenants.clone(), clock.clone()),
            users: UserService::new(users.clone(), hasher.clone(), clock.clone()),
            keys: ApiKeyService::new(keys.clone(), clock.clone()),
            authn: Authenticator::new(keys, tenants, users, platform_users, hasher, clock),
            db,
        });
        let body_limit = web::Data::new(BodyLimit(settings.max_body_bytes));
        let document = openapi::document();

        let listener = TcpListener::bind((settings.host.as_str(), settings.port))
            .with_context(|| format!("binding {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(ErrorHandlers::new().default_handler(envelope_fallback))
                .wrap(TracingLogger::default())
                .app_data(state.clone())
                .app_data(body_limit.clone())
                .configure(routes::health::configure)
                .configure(routes::tenants::configure)
                .configure(routes::tenant_keys::configure)
                .configure(routes::users::configure)
                .service(SwaggerUi::new("/swagger-ui/{_:.*}").url("/api-docs/openapi.json", document.clone()))
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)?;
        if let Some(workers) = settings.workers {
            server = server.workers(workers);
        }
        tracing::info!(port, "listening");
        Ok(Self { port, server: server.run() })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until a shutdown signal; in-flight requests finish first.
    ///
    /// # Errors
    /// The server's I/O error.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Any error response produced outside our handlers (actix's own 404/405/400, a panic
/// caught as 500, …) is rewritten into the native envelope.
fn envelope_fallback<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    if res.headers().contains_key(ERROR_CODES_HEADER) {
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
