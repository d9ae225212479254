//! The `keyplane` binary: parses the command line and configuration, then hands over to
//! the library.

use clap::{Parser, Subcommand};
use keyplane_api::{openapi, Application, Settings};

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
    /// Time single Argon2id hashes at the configured parameters and print the sign-in
    /// ceiling of this machine (cores ÷ hash time), as JSON.
    HashBenchmark {
        /// How many hashes to time.
        #[arg(long, default_value_t = 20)]
        iterations: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        print!("{}", openapi::document_json());
        return Ok(());
    }
    let settings = Settings::load()?;
    keyplane_api::logging::init(&settings.log_format);
    match cli.command {
        Some(Command::HashBenchmark { iterations }) => hash_benchmark(&settings, iterations.max(1))?,
        Some(Command::Migrate) => {
            let db = keyplane_persistence::connect(&settings.effective_database_url(), 1).await?;
            keyplane_persistence::migrate(&db).await?;
            tracing::info!("migrations applied");
        }
        _ => Application::build(settings).await?.run_until_signalled().await?,
    }
    Ok(())
}

fn hash_benchmark(settings: &Settings, iterations: usize) -> anyhow::Result<()> {
    use argon2::password_hash::{PasswordHasher as _, SaltString};
    let h = &settings.hashing;
    let params = argon2::Params::new(h.memory_kib, h.iterations, h.parallelism, None).map_err(anyhow::Error::msg)?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut times: Vec<f64> = (0..iterations)
        .map(|_| {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            let started = std::time::Instant::now();
            let _ = argon.hash_password(b"benchmark password", &salt);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{}",
        serde_json::json!({
            "memory_kib": h.memory_kib, "passes": h.iterations, "parallelism": h.parallelism,
            "hash_ms_median": (median * 100.0).round() / 100.0, "cores": cores,
            "ceiling_per_s": ((cores as f64) * 1000.0 / median).round()
        })
    );
    Ok(())
}
