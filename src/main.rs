use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use nyaya::cluster::{self, Balance};
use nyaya::config::Config;
use nyaya::jobs::{Jobs, Queue, When};

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
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Create demo data (admin, verified and pending lawyers, citizens, cases) and print the
    /// logins it created. Idempotent: accounts that already exist (by email) are left alone.
    Seed {
        /// Password for every account the seed creates.
        #[arg(long, env = "NYAYA_SEED_PASSWORD", default_value = nyaya::seed::DEFAULT_PASSWORD)]
        password: String,
    },
    /// Accounts for load tests (bench/scale.sh): citizens connected to lawyers by active chats,
    /// pending lawyers, admins; writes one JSON line per simulated user with an access token.
    SeedBench(SeedBenchArgs),
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
    /// Import the original platform's MongoDB data: a `mongodump` folder (BSON, gzipped or
    /// not) or `mongoexport` Extended JSON files of its seven collections. Ids, dates, password
    /// hashes, chats with their messages, cases, documents and consultations are carried over.
    ///
    /// Idempotent and resumable: documents already imported are left alone, so running it
    /// again changes nothing, and a run stopped halfway completes when run again. Prints a
    /// progress line per collection and a final table; every repair and skip is listed in
    /// the report file.
    ImportMongo(ImportMongoArgs),
    /// Write a MongoDB dump of the original's shape with generated data (benchmarks of
    /// import-mongo: bench/import_mongo.sh).
    #[command(hide = true)]
    MongoDumpSynthetic {
        /// Output folder.
        out: std::path::PathBuf,
        #[arg(long, default_value_t = 100_000)]
        users: usize,
        #[arg(long, default_value_t = 1_000_000)]
        messages: usize,
        #[arg(long, default_value_t = 50)]
        per_chat: usize,
        /// Gzip the files, as `mongodump --gzip` does.
        #[arg(long)]
        gzip: bool,
    },
    /// Show the workers of the running `nyaya serve --workers N` (same DATA_DIR), like `pm2 list`.
    Status {
        /// Print the supervisor's JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Replace the workers of the running supervisor one at a time (new one ready, then the old
    /// one drains), waiting until done. Same as sending it SIGHUP.
    Reload,
    /// Run background job workers only, no HTTP: scale them apart from the web processes.
    /// Concurrency per queue: JOBS_EMAIL_CONCURRENCY, JOBS_FILES_CONCURRENCY, JOBS_NOOP_CONCURRENCY.
    Worker {
        /// Queues to work on, comma-separated (email, files, noop); all by default.
        #[arg(long, value_delimiter = ',')]
        queues: Vec<Queue>,
        /// Serve /metrics and the job dashboard on this address (e.g. 127.0.0.1:9091).
        #[arg(long)]
        ops_addr: Option<std::net::SocketAddr>,
        /// Bound on a graceful stop: jobs in flight get this long to finish.
        #[arg(long, value_parser = parse_duration, default_value = "30s")]
        shutdown_timeout: Duration,
    },
    /// Inspect the job queues (counts per queue and state, as JSON).
    JobsStats,
    /// Enqueue COUNT jobs on the `noop` queue: measures queue throughput end to end
    /// (bench/jobs.sh) or checks that a deployment's workers run.
    JobsPushNoop {
        #[arg(long, default_value_t = 1)]
        count: usize,
    },
    /// Take a consistent backup into DIR while the server runs: the database (SQLite: an online
    /// copy; PostgreSQL: pg_dump), the SQLite job store, the uploads and the generated secrets,
    /// with a manifest of sizes and checksums. `--verify DIR` checks an existing backup.
    Backup(BackupArgs),
    /// Bring a backup back into this deployment (DATA_DIR, DATABASE_URL, UPLOAD_DIR), after
    /// verifying it. Refuses a target holding data without --force, and one a server runs on.
    Restore(RestoreArgs),
    /// Exit 0 when the ops listener's /ready answers 200 (the container image's health check).
    Healthcheck(HealthcheckArgs),
    /// A worker process; started by the supervisor, not by hand.
    #[command(hide = true)]
    ClusterWorker {
        #[arg(long)]
        slot: usize,
        #[arg(long, value_parser = parse_duration)]
        shutdown_timeout: Duration,
    },
}

#[derive(Args)]
struct SeedBenchArgs {
    #[arg(long, default_value_t = 900)]
    citizens: usize,
    #[arg(long, default_value_t = 100)]
    lawyers: usize,
    /// Lawyers awaiting verification (not simulated; admins verify them).
    #[arg(long, default_value_t = 20)]
    pending: usize,
    #[arg(long, default_value_t = 2)]
    admins: usize,
    /// Lawyers each citizen is connected to (with an active direct chat).
    #[arg(long, default_value_t = 2)]
    links: usize,
    #[arg(long, env = "NYAYA_SEED_PASSWORD", default_value = nyaya::seed::DEFAULT_PASSWORD)]
    password: String,
    /// The accounts file (JSON lines).
    #[arg(long)]
    out: std::path::PathBuf,
}

#[derive(Args)]
struct ImportMongoArgs {
    /// The dump: a `mongodump --out` folder, one database's folder in it, or a folder of
    /// `mongoexport` files (`users.json`, ...).
    dump_dir: std::path::PathBuf,
    /// The database to import when the dump holds several.
    #[arg(long = "db")]
    database: Option<String>,
    /// Read and check everything and print what would be written; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// A folder with the documents' files named by their IPFS hash: they are copied into
    /// the uploads folder and served by nyaya. Without it the files stay at their IPFS urls.
    #[arg(long)]
    files: Option<std::path::PathBuf>,
    /// Where every repair and skip is written, one JSON line each
    /// (default: DATA_DIR/import-mongo-report.jsonl).
    #[arg(long)]
    report: Option<std::path::PathBuf>,
    /// Documents per transaction.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Stop after this many committed batches, as a killed run would (to test resumption).
    #[arg(long, hide = true)]
    stop_after_batches: Option<u64>,
}

#[derive(Args, Default)]
struct ServeArgs {
    /// Worker processes sharing the port under a supervisor: a number, or `max` for one per
    /// core. Without it, one process (which already uses every core). Above 1 needs REDIS_URL.
    #[arg(long, env = "NYAYA_WORKERS", value_parser = cluster::parse_workers)]
    workers: Option<usize>,
    /// Replace a worker whose resident memory exceeds this (e.g. 512MB); implies supervision.
    #[arg(long, env = "NYAYA_MAX_MEMORY", value_parser = parse_size)]
    max_memory: Option<u64>,
    /// How connections are spread over workers: `ip` (sticky by client address, needed for
    /// Socket.IO long-polling) or `connection`.
    #[arg(long, env = "NYAYA_BALANCE", default_value = "ip")]
    balance: Option<Balance>,
    /// Bound on a graceful stop: requests in flight get this long to finish.
    #[arg(long, env = "NYAYA_SHUTDOWN_TIMEOUT", value_parser = parse_duration, default_value = "10s")]
    shutdown_timeout: Option<Duration>,
    /// Crashes of one worker tolerated within --restart-window before it is given up.
    #[arg(long, default_value_t = 10)]
    max_restarts: u32,
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    restart_window: Option<Duration>,
}

#[derive(Args)]
struct BackupArgs {
    /// The backup folder to create (it must not exist, or be empty); with --verify, the
    /// backup to check.
    dir: std::path::PathBuf,
    /// Check an existing backup instead: every file against the manifest's checksums, the
    /// SQLite files' integrity, the PostgreSQL dump's readability.
    #[arg(long)]
    verify: bool,
    /// PostgreSQL: leave the database out (uploads and secrets only), when it is backed up
    /// another way (managed snapshots, your own pg_dump).
    #[arg(long, conflicts_with = "verify")]
    without_database: bool,
}

#[derive(Args)]
struct RestoreArgs {
    /// The backup folder, as written by `nyaya backup`.
    dir: std::path::PathBuf,
    /// Replace the data of a deployment that has some (never of one a server is running on).
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct HealthcheckArgs {
    /// The ops listener (0.0.0.0 is reached over loopback).
    #[arg(long, env = "ADMIN_ADDR", default_value = "127.0.0.1:9090")]
    addr: std::net::SocketAddr,
    #[arg(long, default_value = "/ready")]
    path: String,
    #[arg(long, value_parser = parse_duration, default_value = "3s")]
    timeout: Duration,
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    nyaya::config::parse_duration(raw).ok_or_else(|| format!("{raw:?} is not a duration like 10s, 500ms or 1m"))
}

fn parse_size(raw: &str) -> Result<u64, String> {
    nyaya::config::parse_size(raw).filter(|n| *n > 0).ok_or_else(|| format!("{raw:?} is not a size like 512MB or 1G"))
}

// glibc's allocator held 650-910 MB where mimalloc holds 530 MB for the same 5,000 users
// (many threads, argon2's 19 MiB blocks), for the same CPU: BENCHMARKS.md, "allocator".
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if matches!(cli.command, Some(Command::ImportMongo(_))) && std::env::var_os("RUST_LOG").is_none() {
        // An import's statements are long by design (hundreds of rows each): sqlx's
        // slow-statement warning would print them whole.
        let filter = tracing_subscriber::EnvFilter::new("info,sqlx=error");
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
    }
    nyaya::telemetry::init_logging();
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
    let command = match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        // These read where the data lives, or nothing: they neither need the production
        // secrets nor generate development ones into the folder they work on.
        Command::Backup(args) => return backup(args).await,
        Command::Restore(args) => return restore(args).await,
        Command::Healthcheck(args) => return nyaya::startup::ops::probe(args.addr, &args.path, args.timeout),
        command => command,
    };
    let config = Config::from_env()?;
    match command {
        Command::Serve(args) => serve(config, args).await,
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
        Command::SeedBench(args) => {
            use nyaya::seed::bench;
            let started = std::time::Instant::now();
            let db = nyaya::db::Db::connect(&config.database_url, 2).await?;
            db.migrate().await?;
            let plan = bench::Plan {
                citizens: args.citizens,
                lawyers: args.lawyers,
                pending: args.pending,
                admins: args.admins,
                links: args.links,
            };
            let report = bench::run(&db, &plan, &args.password).await?;
            bench::write_accounts(&args.out, &report.accounts, &nyaya::security::Tokens::new(&config))?;
            println!(
                "{} accounts written to {} ({} users and {} connections created) in {:.1}s",
                report.accounts.len(),
                args.out.display(),
                report.users_created,
                report.connections_created,
                started.elapsed().as_secs_f64()
            );
            db.close().await;
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
        Command::ImportMongo(args) => {
            let db = nyaya::db::Db::connect(&config.database_url, 4).await?;
            if !args.dry_run {
                db.migrate().await?;
            }
            let mut options = nyaya::import::Options::new(&args.dump_dir, &config.upload_dir);
            options.database = args.database;
            options.dry_run = args.dry_run;
            options.files = args.files;
            options.report = Some(args.report.unwrap_or_else(|| config.data_dir.join("import-mongo-report.jsonl")));
            options.batch = args.batch;
            options.stop_after_batches = args.stop_after_batches;
            options.progress = true;
            eprintln!(
                "importing {} into {} ({}){}",
                args.dump_dir.display(),
                nyaya::db::redact_url(&config.database_url),
                nyaya::import::engine(&db),
                if args.dry_run { ", dry run: nothing is written" } else { "" }
            );
            let summary = nyaya::import::run(&db, &options).await;
            db.close().await;
            print!("{}", summary?.render());
            Ok(())
        }
        Command::MongoDumpSynthetic { out, users, messages, per_chat, gzip } => {
            let started = std::time::Instant::now();
            let plan = nyaya::import::synthetic::Plan { users, messages, per_chat, gzip };
            let written = tokio::task::spawn_blocking(move || nyaya::import::synthetic::write(&out, &plan)).await??;
            println!(
                "{} users, {} connections, {} chats with {} messages, {} cases, {} documents, {} consultations: {:.1} MB in {:.1}s",
                written.users,
                written.connections,
                written.chats,
                written.messages,
                written.cases,
                written.documents,
                written.consultations,
                written.bytes as f64 / 1e6,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Status { json } => {
            let answer = cluster::status::request(&config.data_dir, "status", Duration::from_secs(5)).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                let status: cluster::status::ClusterStatus = serde_json::from_value(answer)?;
                print!("{}", status.table());
            }
            Ok(())
        }
        Command::Reload => {
            // Each worker may take up to a minute to become ready, plus its drain.
            let answer = cluster::status::request(&config.data_dir, "reload", Duration::from_secs(3600)).await?;
            match answer["ok"].as_bool() {
                Some(true) => {
                    println!("{}", answer["message"].as_str().unwrap_or("reloaded"));
                    Ok(())
                }
                _ => anyhow::bail!("reload failed: {}", answer["error"].as_str().unwrap_or("unknown error")),
            }
        }
        Command::Worker { queues, ops_addr, shutdown_timeout } => {
            let queues = if queues.is_empty() { Queue::ALL.to_vec() } else { queues };
            nyaya::startup::run_job_worker(config, &queues, ops_addr, shutdown_timeout).await
        }
        Command::JobsStats => {
            let jobs = Jobs::connect(config.jobs.clone(), &config.job_store()).await?;
            let counts = jobs.counts().await?;
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"backend": jobs.backend().as_str(), "queues": counts})
                )?
            );
            Ok(())
        }
        Command::JobsPushNoop { count } => {
            let jobs = Jobs::connect(config.jobs.clone(), &config.job_store()).await?;
            let batch: Vec<_> =
                (0..count).map(|_| jobs.new_job(Queue::Noop, &(), When::Now)).collect::<anyhow::Result<_>>()?;
            for chunk in batch.chunks(10_000) {
                jobs.push_all(chunk.to_vec()).await?;
            }
            println!("enqueued {count} noop jobs ({})", jobs.backend().as_str());
            Ok(())
        }
        Command::ClusterWorker { slot, shutdown_timeout } => cluster::worker::run(config, slot, shutdown_timeout).await,
        Command::Backup(_) | Command::Restore(_) | Command::Healthcheck(_) => {
            unreachable!("run before the configuration is read")
        }
    }
}

async fn serve(config: Config, args: ServeArgs) -> anyhow::Result<()> {
    let shutdown_timeout = args.shutdown_timeout.unwrap_or(nyaya::startup::SHUTDOWN_TIMEOUT);
    if args.workers.is_none() && args.max_memory.is_none() {
        return nyaya::startup::serve(config, shutdown_timeout).await;
    }
    let options = cluster::Options {
        workers: args.workers.unwrap_or(1),
        max_memory: args.max_memory,
        balance: args.balance.unwrap_or(Balance::Ip),
        max_restarts: args.max_restarts,
        restart_window: args.restart_window.unwrap_or(Duration::from_secs(60)),
        shutdown_timeout,
    };
    cluster::supervisor::run(config, options).await
}

async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    use nyaya::backup::{self, BackupOptions};
    let started = std::time::Instant::now();
    if args.verify {
        let verified = backup::verify(&args.dir).await?;
        let files = verified.manifest.files.len();
        println!(
            "backup {} is intact: {files} files, {}, checked in {}",
            args.dir.display(),
            backup::human_bytes(verified.total_bytes()),
            backup::elapsed(started)
        );
        for line in verified.checks.iter().chain(&verified.manifest.describe()) {
            println!("  {line}");
        }
        return Ok(());
    }
    let locations = nyaya::config::Locations::from_env()?;
    let options = BackupOptions { without_database: args.without_database };
    let manifest = backup::backup(&locations, &args.dir, options).await?;
    println!("backup written to {} in {}", args.dir.display(), backup::elapsed(started));
    for line in manifest.describe() {
        println!("  {line}");
    }
    Ok(())
}

async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    use nyaya::backup;
    let started = std::time::Instant::now();
    let locations = nyaya::config::Locations::from_env()?;
    let restored = backup::restore(&locations, &args.dir, args.force).await?;
    println!(
        "restored {} into {} ({}) in {}",
        args.dir.display(),
        locations.data_dir.display(),
        nyaya::db::redact_url(&locations.database_url),
        backup::elapsed(started)
    );
    for line in restored.manifest.describe().iter().chain(&restored.notes) {
        println!("  {line}");
    }
    Ok(())
}
