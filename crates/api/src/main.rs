//! The `keyplane` binary: parses the command line and configuration, then hands over to
//! the library.

use clap::{Parser, Subcommand};
use keyplane_api::{openapi, Application, Settings};
use tracing_subscriber::EnvFilter;

/// Keyplane: multi-tenant managed authentication.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        print!("{}", openapi::document_json());
        return Ok(());
    }
    let settings = Settings::load()?;
    init_logging(&settings.log_format);
    match cli.command {
        Some(Command::Migrate) => {
            let db = keyplane_persistence::connect(&settings.effective_database_url(), 1).await?;
            keyplane_persistence::migrate(&db).await?;
            tracing::info!("migrations applied");
        }
        _ => Application::build(settings).await?.run_until_stopped().await?,
    }
    Ok(())
}

fn init_logging(format: &str) {
    let filter = EnvFilter::try_from_env("KEYPLANE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
