//! `nyaya-load`: simulated platform users against a running nyaya (issue 8, `bench/scale.sh`).
//!
//! The parent process spreads the accounts over child processes of itself (a process holds at
//! most about 20,000 open files here), waits until every child has its sockets connected, starts
//! them together, samples the server meanwhile, then merges what the children measured and
//! writes `results.json` and `results.md`. Exit status 3: the run had errors, stale reads or
//! lost deliveries.

mod clock;
mod report;
mod scenario;
mod server;
mod sio;
mod stats;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{Notify, watch};

use scenario::{Account, Mix, Options, Shared, User};
use stats::Stats;

#[derive(Parser, Clone)]
#[command(name = "nyaya-load", about = "Simulated citizens, lawyers and admins against a running nyaya")]
struct Cli {
    /// The server's public address.
    #[arg(long, default_value = "http://127.0.0.1:5000")]
    url: String,
    /// Accounts from `nyaya seed-bench --out`; every line is one simulated user.
    #[arg(long)]
    accounts: PathBuf,
    /// How long users act (connecting comes before, the drain of deliveries after).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    /// Run this long before `duration`: every user acts as in the run (latencies, errors,
    /// stale reads and losses count), but the server's counters (database queries, cache
    /// hits, CPU) are measured from its end, so they describe a server in steady state.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    warmup: Duration,
    /// Think time between a user's actions: uniform between these.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    think_min: Duration,
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    think_max: Duration,
    /// Action weights overriding the role defaults, e.g. `chat=50,login=0` (directory,
    /// dashboard, list, chat, query, accept, upload, verify, login).
    #[arg(long, default_value = "")]
    mix: String,
    /// Load processes; at least enough for --sockets-per-process.
    #[arg(long)]
    procs: Option<usize>,
    #[arg(long, default_value_t = 15_000)]
    sockets_per_process: usize,
    /// Client addresses 127.0.1.1..N: the server balances its workers by client address.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u8).range(1..=250))]
    source_ips: u8,
    /// New sockets per second, per process.
    #[arg(long, default_value_t = 500)]
    ramp: u32,
    /// Bound on one socket's connect, authentication and chat joins.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    connect_timeout: Duration,
    /// A message or notification not received within this is lost (for a user whose socket
    /// was away, within this of its return).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    loss_timeout: Duration,
    /// Sends SIGHUP to --server-pid (a `nyaya serve --workers N` supervisor: a rolling reload
    /// of every worker) this long into the run.
    #[arg(long, value_parser = parse_duration)]
    reload_at: Option<Duration>,
    /// The share of users (0 to 1, or a percentage like 5%) who drop their connection once,
    /// mid-run, and come back after --drop-for, resuming their session.
    #[arg(long, default_value = "0", value_parser = parse_share)]
    drop: f64,
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    drop_for: Duration,
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    request_timeout: Duration,
    /// The password of the seeded accounts (for the rare password logins).
    #[arg(long, default_value = "Nyaya@2024")]
    password: String,
    /// Where results.json and results.md go.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// The server's process (the supervisor under --workers): CPU and memory of its tree.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The server's ops /metrics URL (database queries, cache hits).
    #[arg(long)]
    metrics: Option<String>,
    /// `key=value` pairs that describe the run (mode, database...), shown in the results.
    #[arg(long = "label")]
    labels: Vec<String>,
    /// An earlier run's results.json to compare against (database queries).
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Internal: this process is child i of n, writing its measurements to --child-out.
    #[arg(long, hide = true)]
    shard: Option<String>,
    #[arg(long, hide = true)]
    child_out: Option<PathBuf>,
}

fn parse_share(raw: &str) -> Result<f64, String> {
    let raw = raw.trim();
    let share = match raw.strip_suffix('%') {
        Some(pct) => pct.trim().parse::<f64>().map(|p| p / 100.0),
        None => raw.parse::<f64>(),
    }
    .map_err(|_| format!("{raw:?} is not a share like 0.05 or 5%"))?;
    if (0.0..=1.0).contains(&share) { Ok(share) } else { Err(format!("{raw:?} is not between 0 and 100%")) }
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(raw.len()));
    let n: f64 = number.parse().map_err(|_| format!("{raw:?} is not a duration like 30s, 500ms or 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{raw:?}: unknown unit {unit:?}")),
    };
    Ok(Duration::from_secs_f64(secs))
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match &cli.shard {
        Some(shard) => child(&cli, shard).await.map(|_| 0),
        None => parent(&cli).await,
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("nyaya-load: {e:#}");
            std::process::exit(1);
        }
    }
}

fn read_accounts(path: &Path) -> anyhow::Result<Vec<Account>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut accounts: Vec<Account> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).context("an accounts line"))
        .collect::<anyhow::Result<_>>()?;
    for a in &mut accounts {
        for (i, chat) in a.chats.iter_mut().enumerate() {
            chat.index = i as u16;
        }
    }
    Ok(accounts)
}

/// The n-th client address.
fn source_ip(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1 + n as u8))
}

async fn server_addr(url: &str) -> anyhow::Result<SocketAddr> {
    let host = url.trim_start_matches("http://").split('/').next().unwrap_or_default();
    tokio::net::lookup_host(host).await?.find(SocketAddr::is_ipv4).ok_or_else(|| anyhow!("cannot resolve {host}"))
}

// ---- child: simulate a share of the users ----

async fn child(cli: &Cli, shard: &str) -> anyhow::Result<()> {
    let (index, count) = shard
        .split_once('/')
        .and_then(|(i, n)| Some((i.parse::<usize>().ok()?, n.parse::<usize>().ok()?)))
        .filter(|(i, n)| i < n)
        .ok_or_else(|| anyhow!("--shard must be i/n"))?;
    let out = cli.child_out.clone().context("--child-out is required with --shard")?;
    let mine: Vec<(usize, Account)> =
        read_accounts(&cli.accounts)?.into_iter().enumerate().filter(|(i, _)| i % count == index).collect();
    let clients = (0..cli.source_ips as usize)
        .map(|n| {
            let ip = source_ip(n);
            // Like a browser, it accepts gzip, br, zstd and deflate (reqwest's features), so the
            // server compresses as it does for the frontend.
            let client = reqwest::Client::builder()
                .local_address(ip)
                .timeout(cli.request_timeout)
                .pool_idle_timeout(Duration::from_secs(30))
                .tcp_nodelay(true)
                .build()?;
            Ok((ip, client))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (start_tx, start_rx) = watch::channel(None);
    let options = Options {
        think: (cli.think_min, cli.think_max.max(cli.think_min)),
        duration: cli.duration + cli.warmup,
        loss_timeout: cli.loss_timeout,
        connect_timeout: cli.connect_timeout,
        password: cli.password.clone(),
        mix: Mix::parse(&cli.mix)?,
        drop_share: cli.drop,
        drop_for: cli.drop_for,
    };
    let base = cli.url.trim_end_matches('/').to_string();
    let shared = Arc::new(Shared::new(options, base, server_addr(&cli.url).await?, clients, start_rx, index as u64));
    let users = mine.len();
    let connected = Arc::new((AtomicUsize::new(0), Notify::new()));
    let mut tasks = Vec::with_capacity(users);
    let mut ramp = tokio::time::interval(Duration::from_secs_f64(1.0 / cli.ramp.max(1) as f64));
    for (n, account) in mine {
        ramp.tick().await;
        let (shared, connected) = (shared.clone(), connected.clone());
        tasks.push(tokio::spawn(async move {
            let mut user = User::new(account, shared, n);
            user.connect().await;
            if connected.0.fetch_add(1, Ordering::SeqCst) + 1 == users {
                connected.1.notify_one();
            }
            user.run().await;
        }));
    }
    while connected.0.load(Ordering::SeqCst) < users {
        connected.1.notified().await;
    }
    let sockets = shared.stats.lock().await.sockets.clone();
    println!("ready {} {}", sockets.connected, sockets.failed);

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let go = loop {
        match lines.next_line().await? {
            Some(line) => {
                if let Some(at) = line.strip_prefix("go ") {
                    break at.trim().parse::<u64>()?;
                }
            }
            None => bail!("the parent went away before the start"),
        }
    };
    start_tx.send(Some(go))?;
    // Users finish by themselves at the end of the drain; one stuck in a slow request or a
    // reconnect is stopped a little later and counted as an error, so the report is always
    // written (the parent waits 60 s past the drain for it).
    let drain_end = go + (cli.duration + cli.warmup + cli.loss_timeout).as_micros() as u64 + 1_000_000;
    let deadline = tokio::time::Instant::now()
        + Duration::from_micros(drain_end.saturating_sub(clock::now_us()))
        + Duration::from_secs(30);
    let all_done = async {
        for task in &mut tasks {
            let _ = task.await;
        }
    };
    let mut unfinished = 0u64;
    let mut still = String::new();
    if tokio::time::timeout_at(deadline, all_done).await.is_err() {
        still = format!("{:?}", shared.still_doing());
        for task in tasks.iter().filter(|t| !t.is_finished()) {
            task.abort();
            unfinished += 1;
        }
    }
    let mut stats = std::mem::take(&mut *shared.stats.lock().await);
    if unfinished > 0 {
        let kind = "load:unfinished".to_string();
        *stats.errors.entry(kind.clone()).or_default() += unfinished;
        let sample =
            format!("{unfinished} users were still acting 30 s after the drain and were stopped; doing: {still}");
        stats.error_samples.insert(kind, sample);
    }
    stats.users = users as u64;
    std::fs::write(&out, serde_json::to_vec(&stats)?).with_context(|| format!("writing {}", out.display()))?;
    println!("done");
    Ok(())
}

// ---- parent: start the children, sample the server, merge ----

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: tokio::io::Lines<BufReader<ChildStdout>>,
    out: PathBuf,
}

impl Worker {
    /// The child's next line that starts with `word`.
    async fn expect(&mut self, word: &str) -> anyhow::Result<String> {
        while let Some(line) = self.stdout.next_line().await? {
            if line.starts_with(word) {
                return Ok(line);
            }
        }
        bail!("a load process exited before saying {word:?}")
    }
}

async fn parent(cli: &Cli) -> anyhow::Result<i32> {
    let accounts = read_accounts(&cli.accounts)?;
    let users = accounts.len();
    anyhow::ensure!(users > 0, "no accounts in {}", cli.accounts.display());
    let procs = cli.procs.unwrap_or(1).max(users.div_ceil(cli.sockets_per_process.max(1)));
    std::fs::create_dir_all(&cli.out)?;
    let exe = std::env::current_exe()?;
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let mut workers = Vec::with_capacity(procs);
    for i in 0..procs {
        let out = cli.out.join(format!("shard-{i}.json"));
        let mut child = Command::new(&exe)
            .args(&args)
            .arg("--shard")
            .arg(format!("{i}/{procs}"))
            .arg("--child-out")
            .arg(&out)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting a load process")?;
        let stdin = child.stdin.take().context("child stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("child stdout")?).lines();
        workers.push(Worker { child, stdin, stdout, out });
    }
    // Connecting is bounded by the ramp plus the connect timeout.
    let per_proc = users.div_ceil(procs);
    let connect_limit = Duration::from_secs_f64(per_proc as f64 / cli.ramp.max(1) as f64)
        + cli.connect_timeout
        + Duration::from_secs(30);
    let started = Instant::now();
    let (mut connected, mut failed) = (0u64, 0u64);
    for w in &mut workers {
        let left = connect_limit.saturating_sub(started.elapsed());
        let line =
            tokio::time::timeout(left, w.expect("ready")).await.map_err(|_| anyhow!("connecting took too long"))??;
        let mut parts = line.split_whitespace().skip(1).map(|p| p.parse::<u64>().unwrap_or(0));
        connected += parts.next().unwrap_or(0);
        failed += parts.next().unwrap_or(0);
    }
    eprintln!(
        "nyaya-load: {users} users in {procs} processes, {connected} sockets connected ({failed} failed) in {:.1}s; running {:?} (warm-up {:?})",
        started.elapsed().as_secs_f64(),
        cli.duration,
        cli.warmup
    );

    if cli.reload_at.is_some() && cli.server_pid.is_none() {
        bail!("--reload-at needs --server-pid (the supervisor of `nyaya serve --workers N`)");
    }
    let mut sampler = server::Sampler::new(cli.server_pid, cli.metrics.clone());
    let start_us = clock::now_us() + 1_000_000;
    if let (Some(at), Some(pid)) = (cli.reload_at, cli.server_pid) {
        let due = Duration::from_micros(start_us.saturating_sub(clock::now_us())) + at;
        tokio::spawn(async move {
            tokio::time::sleep(due).await;
            eprintln!("nyaya-load: SIGHUP to {pid} (rolling reload) at {:.1}s", at.as_secs_f64());
            // SAFETY: kill has no memory-safety preconditions.
            if unsafe { libc::kill(pid as libc::pid_t, libc::SIGHUP) } != 0 {
                eprintln!("nyaya-load: could not signal {pid}: {}", std::io::Error::last_os_error());
            }
        });
    }
    let mut samples = vec![sampler.sample(-1.0).await];
    for w in &mut workers {
        w.stdin.write_all(format!("go {start_us}\n").as_bytes()).await?;
        w.stdin.flush().await?;
    }
    let drain = cli.loss_timeout + Duration::from_secs(2);
    let until = cli.duration + cli.warmup + drain;
    let since_start = || (clock::now_us() as f64 - start_us as f64) / 1e6;
    tokio::time::sleep(Duration::from_micros(start_us.saturating_sub(clock::now_us()))).await;
    samples.push(sampler.sample(0.0).await);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    while since_start() < until.as_secs_f64() {
        tick.tick().await;
        let t = since_start().round();
        samples.push(sampler.sample(t).await);
    }

    let mut merged = Stats::default();
    for mut w in workers {
        tokio::time::timeout(drain + Duration::from_secs(60), w.expect("done"))
            .await
            .map_err(|_| anyhow!("a load process did not finish"))??;
        let _ = w.child.wait().await;
        let text = std::fs::read(&w.out).with_context(|| format!("reading {}", w.out.display()))?;
        merged.merge(serde_json::from_slice(&text)?);
        let _ = std::fs::remove_file(&w.out);
    }
    let mut labels: BTreeMap<String, String> =
        cli.labels.iter().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    if let Some(at) = cli.reload_at {
        labels.insert("reload_at".into(), format!("{}s", at.as_secs_f64()));
    }
    if cli.drop > 0.0 {
        labels.insert("drop".into(), format!("{}% for {}s", cli.drop * 100.0, cli.drop_for.as_secs_f64()));
    }
    let baseline = match &cli.baseline {
        Some(path) => {
            Some(serde_json::from_slice(&std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)?)
        }
        None => None,
    };
    let meta = report::Meta {
        labels,
        processes: procs,
        duration: cli.duration + cli.warmup,
        warmup: cli.warmup,
        loss_timeout: cli.loss_timeout,
        start_us,
        baseline,
        server_routes: server::route_latencies(sampler.last_metrics()),
    };
    let report = report::build(merged, &samples, &accounts, meta);
    let markdown = report.markdown();
    std::fs::write(cli.out.join("results.json"), serde_json::to_vec_pretty(&report)?)?;
    std::fs::write(cli.out.join("results.md"), &markdown)?;
    if !sampler.last_metrics().is_empty() {
        std::fs::write(cli.out.join("metrics.txt"), sampler.last_metrics())?;
    }
    print!("{markdown}");
    Ok(if report.failed() { 3 } else { 0 })
}
