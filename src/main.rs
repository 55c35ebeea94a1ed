use clap::{Parser, Subcommand};

use nyaya::config::Config;

/// nyaya: the legal-aid platform's backend.
#[derive(Parser)]
#[command(name = "nyaya", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Create demo data (admin, verified and pending lawyers, citizens, cases) and print the
    /// logins it created. Idempotent: accounts that already exist (by email) are left alone.
    Seed {
        /// Password for every account the seed creates.
        #[arg(long, env = "NYAYA_SEED_PASSWORD", default_value = nyaya::seed::DEFAULT_PASSWORD)]
        password: String,
    },
    /// Create an admin account, or make an existing account an active admin with this password.
    ///
    /// Idempotent: a second run with the same arguments changes nothing. The email is
    /// normalized like registration's; the password must meet the registration rules.
    CreateAdmin {
        /// Email address of the admin account.
        #[arg(long)]
        email: String,
        /// Password (at least 6 characters with a lowercase letter, an uppercase letter and a
        /// digit). Prefer the environment variable to keep it out of the process list.
        #[arg(long, env = "NYAYA_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        /// Display name, used when the account is created.
        #[arg(long, default_value = "System Administrator")]
        name: String,
    },
}

#[tokio::main]
async fn main() {
    nyaya::telemetry::init_logging();
    let cli = Cli::parse();
    if let Err(err) = run(cli).await {
        eprintln!("nyaya: {err:#}");
        std::process::exit(1);
    }
}

/// An API error as command-line text, with each validation failure on its own line.
fn describe(err: nyaya::error::AppError) -> anyhow::Error {
    // `duplicate` carries the underlying cause of an internal error in its message.
    let err = err.duplicate();
    let details: Vec<String> = err.errors.iter().flatten().map(|e| format!("  {}: {}", e.path, e.msg)).collect();
    if details.is_empty() {
        anyhow::anyhow!("{}", err.message)
    } else {
        anyhow::anyhow!("{}\n{}", err.message, details.join("\n"))
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => nyaya::app::serve(config).await,
        Command::Migrate => {
            let db = nyaya::db::Db::connect(&config.database_url, 2).await?;
            let applied = db.migrate().await?;
            println!("migrations applied: {applied}");
            Ok(())
        }
        Command::Seed { password } => {
            let db = nyaya::db::Db::connect(&config.database_url, 2).await?;
            db.migrate().await?;
            let report = nyaya::seed::run(&db, &password).await?;
            print!("{}", report.logins_table());
            Ok(())
        }
        Command::CreateAdmin { email, password, name } => {
            use nyaya::service::accounts::{AdminOutcome, ensure_admin};
            let db = nyaya::db::Db::connect(&config.database_url, 2).await?;
            db.migrate().await?;
            let (user, outcome) = ensure_admin(&db, &name, &email, &password).await.map_err(describe)?;
            let what = match outcome {
                AdminOutcome::Created => "created admin",
                AdminOutcome::Promoted => "promoted to admin",
                AdminOutcome::Updated => "updated admin (active, password set)",
                AdminOutcome::Unchanged => "admin already exists; nothing changed",
            };
            println!("{what}: {} <{}> id {}", user.name, user.email, user.id);
            db.close().await;
            Ok(())
        }
    }
}
