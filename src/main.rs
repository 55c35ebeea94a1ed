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
    }
}
