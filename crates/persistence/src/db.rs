//! Connecting to the database and running migrations.

use keyplane_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, DbBackend, DbErr};
use std::time::Duration;

/// A shared, pooled connection.
pub type Database = DatabaseConnection;

/// Opens a pool on `url` (`sqlite://path?mode=rwc` or `postgres://…`). SQLite runs in
/// WAL mode with foreign keys enforced.
///
/// # Errors
/// The driver's error when the database cannot be reached.
pub async fn connect(url: &str, max_connections: u32) -> Result<Database, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    let db = sea_orm::Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared("PRAGMA journal_mode = WAL").await?;
        db.execute_unprepared("PRAGMA foreign_keys = ON").await?;
    }
    Ok(db)
}

/// Applies every pending migration.
///
/// # Errors
/// The migration's error.
pub async fn migrate(db: &Database) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}
