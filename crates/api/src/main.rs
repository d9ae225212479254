//! The `keyplane` binary: parses the command line and configuration, then hands over to
//! the library.

use clap::{Parser, Subcommand};
use keyplane_api::{cli, openapi, Application, Settings};

/// Where every option comes from, for `--help`.
const CONFIGURATION: &str = "Configuration: defaults, then a TOML file (KEYPLANE_CONFIG=<path>, else ./keyplane.toml \
if present; keyplane.example.toml lists every key), then KEYPLANE_* environment variables, which win \
(nested keys with `__`: KEYPLANE_DATABASE_URL, KEYPLANE_DATA_DIR, KEYPLANE_MASTER_KEY, KEYPLANE_TLS__CERT, \
KEYPLANE_HASHING__MEMORY_KIB, ...). Every command works on the database the configuration names \
(KEYPLANE_DATABASE_URL, else SQLite in KEYPLANE_DATA_DIR, ./data). `keyplane config print` shows the \
configuration in force, secrets redacted.";

/// Keyplane: multi-tenant managed authentication.
#[derive(Parser)]
#[command(name = "keyplane", version, about, after_help = CONFIGURATION)]
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
    /// The configuration in force.
    #[command(subcommand, after_help = CONFIGURATION)]
    Config(ConfigCommand),
    /// Break-glass operator commands.
    #[command(subcommand, after_help = CONFIGURATION)]
    Admin(AdminCommand),
    /// Tenants, on the configured database.
    #[command(subcommand, after_help = CONFIGURATION)]
    Tenant(TenantCommand),
    /// Application API keys, on the configured database.
    #[command(subcommand, after_help = CONFIGURATION)]
    Key(KeyCommand),
    /// Users' lockouts, on the configured database.
    #[command(subcommand, after_help = CONFIGURATION)]
    User(UserCommand),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration as JSON, secrets shown as "<redacted>".
    #[command(after_help = CONFIGURATION)]
    Print,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Give a platform operator a new password: generated and printed once, or read from
    /// standard input with --password-stdin. Ends the operator's sessions and clears
    /// their lockout.
    #[command(after_help = CONFIGURATION)]
    ResetPassword {
        /// The operator's name (the first one is `admin`).
        name: String,
        /// Read the new password (8 to 1024 characters) from the first line of standard
        /// input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// List every tenant, one JSON object per line.
    #[command(after_help = CONFIGURATION)]
    List,
    /// Create a tenant (with its first signing key); prints it as JSON.
    #[command(after_help = CONFIGURATION)]
    Create {
        /// DNS label: lowercase letters, digits and '-', 1 to 63 characters.
        #[arg(long)]
        slug: String,
        /// Display name, 1 to 200 characters.
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create an application API key for a tenant; prints it as JSON, the secret `key`
    /// shown only this once.
    #[command(after_help = CONFIGURATION)]
    Create {
        /// The tenant's slug or id.
        #[arg(long)]
        tenant: String,
        /// A role to grant (repeat for several); none by default: such a key signs users
        /// in and administers nothing.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// What the key is for.
        #[arg(long, default_value = "created with the keyplane CLI")]
        description: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Forget a name's failed sign-ins, lifting its lockout: a tenant user's with
    /// --tenant, otherwise a platform operator's.
    #[command(after_help = CONFIGURATION)]
    Unlock {
        /// The user (or operator) name.
        name: String,
        /// The tenant's slug or id.
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One readable sentence with its causes, never a backtrace.
            eprintln!("keyplane: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Openapi) = cli.command {
        print!("{}", openapi::document_json());
        return Ok(());
    }
    let settings = Settings::load()?;
    if let Some(Command::Config(ConfigCommand::Print)) = cli.command {
        println!("{}", cli::print_config(&settings));
        return Ok(());
    }
    let administrative =
        matches!(cli.command, Some(Command::Admin(_) | Command::Tenant(_) | Command::Key(_) | Command::User(_)));
    keyplane_api::logging::init_at(&settings.log_format, if administrative { "warn" } else { "info" });
    match cli.command {
        Some(Command::HashBenchmark { iterations }) => hash_benchmark(&settings, iterations.max(1))?,
        Some(Command::Migrate) => {
            let db = keyplane_persistence::connect(&settings.effective_database_url(), 1).await?;
            keyplane_persistence::migrate(&db).await?;
            tracing::info!("migrations applied");
        }
        Some(command) if command.is_administrative() => admin(&settings, command).await?,
        _ => Application::build(settings).await?.run_until_signalled().await?,
    }
    Ok(())
}

impl Command {
    /// The commands that work on the database directly (see `keyplane_api::cli`).
    fn is_administrative(&self) -> bool {
        matches!(self, Self::Admin(_) | Self::Tenant(_) | Self::Key(_) | Self::User(_))
    }
}

/// Runs one administrative command on the configured database and prints its result.
async fn admin(settings: &Settings, command: Command) -> anyhow::Result<()> {
    let password = match &command {
        Command::Admin(AdminCommand::ResetPassword { password_stdin: true, .. }) => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            let line = line.trim_end_matches(['\r', '\n']).to_owned();
            anyhow::ensure!(!line.is_empty(), "no password on standard input");
            Some(line)
        }
        _ => None,
    };
    let context = cli::AdminContext::open(settings).await?;
    let result = match command {
        Command::Admin(AdminCommand::ResetPassword { name, .. }) => context.reset_password(&name, password).await,
        Command::Tenant(TenantCommand::List) => context.list_tenants().await,
        Command::Tenant(TenantCommand::Create { slug, name }) => context.create_tenant(&slug, &name).await,
        Command::Key(KeyCommand::Create { tenant, roles, description }) => {
            context.create_key(&tenant, &roles, &description).await
        }
        Command::User(UserCommand::Unlock { name, tenant }) => context.unlock(&name, tenant.as_deref()).await,
        Command::Serve | Command::Migrate | Command::Openapi | Command::HashBenchmark { .. } | Command::Config(_) => {
            unreachable!("`run` sends only administrative commands here")
        }
    };
    context.close().await;
    let output = result?;
    if !output.is_empty() {
        println!("{output}");
    }
    Ok(())
}

fn hash_benchmark(settings: &Settings, iterations: usize) -> anyhow::Result<()> {
    let h = &settings.hashing;
    let times = keyplane_adapters::hashing::benchmark(h, iterations).map_err(anyhow::Error::msg)?;
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
