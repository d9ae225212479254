//! Connecting to the database and running migrations.

use keyplane_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, DbBackend, DbErr};
use std::time::Duration;

/// A shared, pooled connection.
pub type Database = DatabaseConnection;

/// Opens a pool on `url` (`sqlite://path?mode=rwc` or `postgres://…`).
///
/// SQLite runs in WAL mode with `synchronous = NORMAL`: a commit is durable once the WAL
/// is synced at checkpoint, so a power loss (not a crash of Keyplane) may lose the last
/// moments of writes but never corrupts the database. Foreign keys are enforced and a
/// writer waits up to five seconds for the lock.
///
/// # Errors
/// The driver's error when the database cannot be reached.
pub async fn connect(url: &str, max_connections: u32) -> Result<Database, DbErr> {
    // Each SQLite connection is a thread of its own and writers take turns anyway: a few
    // connections serve readers; more only cost memory.
    let max_connections = if url.starts_with("sqlite:") { max_connections.min(8) } else { max_connections };
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
        });
    let mut db = sea_orm::Database::connect(options).await?;
    db.set_metric_callback(|info| {
        let outcome = if info.failed { "error" } else { "ok" };
        metrics::histogram!("keyplane_db_query_duration_seconds", "outcome" => outcome)
            .record(info.elapsed.as_secs_f64());
    });
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared("PRAGMA journal_mode = WAL").await?;
    }
    Ok(db)
}

/// The pool's open connections and how many of them are idle (for metrics).
pub fn pool_connections(db: &Database) -> (u32, u32) {
    let (size, idle) = match db.get_database_backend() {
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => (0, 0),
    };
    (size, u32::try_from(idle).unwrap_or(u32::MAX).min(size))
}

/// How many migrations this build knows that `db` has not applied (read only: creates
/// nothing, not even the migrations table).
///
/// # Errors
/// Backend failures.
pub async fn pending_migrations(db: &Database) -> Result<usize, DbErr> {
    Ok(Migrator::get_pending_migrations_read_only(db).await?.len())
}

/// Applies every pending migration.
///
/// # Errors
/// The migration's error.
pub async fn migrate(db: &Database) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}
