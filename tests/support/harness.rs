//! The one test harness of every integration test binary:
//!
//! - [`free_port`], [`temp_dir`], [`redis_url`]: a loopback port, a scratch folder, the Redis
//!   of the tests;
//! - [`fresh_database`]: a database of the test's own, a SQLite file in its folder or, with
//!   `NYAYA_TEST_DATABASE_URL`, a new PostgreSQL database on that server (left-overs of earlier
//!   runs older than an hour are dropped first);
//! - [`spawn`], [`spawn_with`], [`spawn_pair`]: the real app in this process on random ports
//!   ([`TestApp`]);
//! - [`nyaya_command`] and [`Process`]: the `nyaya` binary as a child process with exactly the
//!   environment given, stopped when dropped (cluster, worker and operations tests);
//! - [`eventually`]: waits for an observable condition, bounded, instead of a fixed sleep;
//! - [`alone`] and [`metric`]: the metrics registry is process-wide, so a test that reads it
//!   runs in a process of its own, where every figure belongs to its own app instances.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nyaya::config::Config;
use nyaya::startup::Running;
use nyaya::state::AppState;
use tokio::net::TcpListener;

// ---- ports, folders, Redis ----

/// A free loopback port: bound, read and released (the caller binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A new empty folder `nyaya-<tag>-<random>` under the system's temporary directory.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nyaya-{tag}-{}", nyaya::ids::random_hex(6)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The Redis of the tests: `NYAYA_TEST_REDIS_URL`, by default `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    std::env::var("NYAYA_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into())
}

// ---- databases ----

/// The PostgreSQL server of the tests (`NYAYA_TEST_DATABASE_URL`: a database there whose user
/// may create others), when one is configured.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("NYAYA_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())
}

/// A SQLite database file in `dir`, created on first use (processes may share it: WAL mode).
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("nyaya.db").display())
}

/// A database of the test's own: a new PostgreSQL database when `NYAYA_TEST_DATABASE_URL` is
/// set, else a SQLite file in `dir`.
pub async fn fresh_database(dir: &Path) -> String {
    match fresh_postgres().await {
        Some(url) => url,
        None => sqlite_url(dir),
    }
}

/// A new PostgreSQL database on the tests' server (`nyaya_t_<unix time>_<random>`), or `None`
/// when no server is configured.
pub async fn fresh_postgres() -> Option<String> {
    let admin_url = postgres_admin_url()?;
    let now = chrono::Utc::now().timestamp();
    let name = format!("nyaya_t_{now}_{}", nyaya::ids::random_hex(4));
    let admin = nyaya::db::Db::connect(&admin_url, 1).await.expect("connect to NYAYA_TEST_DATABASE_URL");
    static SWEPT: AtomicBool = AtomicBool::new(false);
    if !SWEPT.swap(true, Ordering::SeqCst) {
        drop_stale_databases(&admin, now).await;
    }
    admin.raw(&format!("CREATE DATABASE {name}")).await.expect("create test database");
    admin.close().await;
    let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin_url);
    Some(format!("{base}/{name}"))
}

/// Test databases older than an hour are left-overs of earlier runs (once per test process).
async fn drop_stale_databases(admin: &nyaya::db::Db, now: i64) {
    use nyaya::db::{RowExt, Sql};
    let Ok(rows) = admin.all(&Sql::new("SELECT datname FROM pg_database WHERE datname LIKE 'nyaya_t_%'")).await else {
        return;
    };
    for row in rows {
        let Ok(name) = row.text("datname") else { continue };
        let created: i64 = name.split('_').nth(2).and_then(|s| s.parse().ok()).unwrap_or(now);
        if now - created > 3600 {
            let _ = admin.raw(&format!("DROP DATABASE IF EXISTS {name}")).await;
        }
    }
}

// ---- the app in this process ----

/// One server of the app, in this process, on random loopback ports, with its own data folder
/// (removed when dropped) and database.
pub struct TestApp {
    pub base: String,
    pub ops: String,
    /// Keeps cookies, as a browser does.
    pub client: reqwest::Client,
    pub running: Option<Running>,
    pub data_dir: PathBuf,
}

/// Settings every test server gets; `overrides` win.
fn settings(data_dir: &Path, database_url: String, overrides: &[(&str, &str)]) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = [
        ("NYAYA_ENV", "development"),
        ("JWT_SECRET", "test-access-secret"),
        ("JWT_REFRESH_SECRET", "test-refresh-secret"),
        ("RATE_LIMIT_MAX_REQUESTS", "100000"),
        ("DB_MAX_CONNECTIONS", "8"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    vars.insert("DATA_DIR".into(), data_dir.display().to_string());
    vars.insert("DATABASE_URL".into(), database_url);
    for (k, v) in overrides {
        vars.insert(k.to_string(), v.to_string());
    }
    vars
}

pub async fn spawn() -> TestApp {
    spawn_with(&[]).await
}

/// A server with the test settings and `overrides` (a `DATABASE_URL` among them replaces the
/// fresh database: servers of one test can share one).
pub async fn spawn_with(overrides: &[(&str, &str)]) -> TestApp {
    let data_dir = std::env::temp_dir().join(format!("nyaya-test-{}", nyaya::ids::random_hex(8)));
    std::fs::create_dir_all(&data_dir).unwrap();
    let database_url = match overrides.iter().find(|(k, _)| *k == "DATABASE_URL") {
        Some((_, url)) => url.to_string(),
        None => fresh_database(&data_dir).await,
    };
    let vars = settings(&data_dir, database_url, overrides);
    let config = Config::from_lookup(&|name| vars.get(name).cloned()).expect("test config");
    let app = nyaya::startup::build(config).await.expect("build app");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = nyaya::startup::start(app, listener, admin).await.expect("start server");
    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
    TestApp {
        base: format!("http://{}", running.addr),
        ops: format!("http://{}", running.admin_addr),
        client,
        running: Some(running),
        data_dir,
    }
}

/// Two servers sharing one database and one Redis (under a key prefix of their own).
pub async fn spawn_pair() -> (TestApp, TestApp) {
    let redis = redis_url();
    let prefix = format!("nyaya-test-{}:", nyaya::ids::Id::new());
    let first = spawn_with(&[("REDIS_URL", &redis), ("REDIS_PREFIX", &prefix)]).await;
    let database = first.state().config.database_url.clone();
    let second = spawn_with(&[("REDIS_URL", &redis), ("REDIS_PREFIX", &prefix), ("DATABASE_URL", &database)]).await;
    (first, second)
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

impl TestApp {
    pub fn state(&self) -> &AppState {
        &self.running.as_ref().expect("running").state
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Text of the ops listener's `/metrics` (the process's registry: see [`alone`]).
    pub async fn metrics(&self) -> String {
        self.client.get(format!("{}/metrics", self.ops)).send().await.unwrap().text().await.unwrap()
    }

    /// One series of `/metrics` (see [`metric`]).
    pub async fn metric(&self, series: &str) -> f64 {
        metric(&self.metrics().await, series)
    }
}

// ---- the binary as a child process ----

pub const NYAYA: &str = env!("CARGO_BIN_EXE_nyaya");

/// `nyaya <args>` with exactly `env` and `PATH` (nothing else of the test's environment leaks
/// in), stdin closed.
pub fn nyaya_command<I, K, V>(args: &[&str], env: I) -> Command
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    let mut command = Command::new(NYAYA);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .stdin(Stdio::null());
    command
}

/// A child process that is stopped when dropped (SIGTERM, then SIGKILL after 20 s); its log is
/// printed when the test fails.
pub struct Process {
    pub child: Child,
    log: Option<PathBuf>,
}

impl Process {
    /// Starts `command` with stdout and stderr written to `log` (or discarded).
    pub fn start(mut command: Command, log: Option<&Path>) -> Process {
        match log {
            Some(path) => {
                let file = std::fs::File::create(path).unwrap();
                command.stdout(file.try_clone().unwrap()).stderr(file);
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("start {:?}: {e}", command.get_program()));
        Process { child, log: log.map(Path::to_path_buf) }
    }

    /// Takes charge of a process started otherwise.
    pub fn adopt(child: Child, log: Option<&Path>) -> Process {
        Process { child, log: log.map(Path::to_path_buf) }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` unless the process has exited.
    pub fn signal(&mut self, signal: libc::c_int) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill has no memory-safety preconditions; the child is not reaped yet.
            unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        }
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, and reaped.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then SIGKILL if it has not exited within 20 s; reaped.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        self.signal(libc::SIGTERM);
        if self.wait_exit(Duration::from_secs(20)).is_none() {
            self.kill();
        }
    }

    pub fn log(&self) -> String {
        self.log.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking()
            && let Some(path) = &self.log
            && let Ok(log) = std::fs::read_to_string(path)
        {
            eprintln!("--- {} ---\n{log}", path.display());
        }
    }
}

// ---- waiting ----

/// Polls `check` (every 25 ms) until it holds; panics naming `what` after `within`, a bound
/// against hanging, not a timing assertion.
pub async fn eventually(what: &str, within: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

// ---- metrics ----

/// Names the process a test runs alone in.
const ALONE: &str = "NYAYA_TEST_ALONE";

/// Runs the calling test again, alone, in a new process of this test binary, and returns
/// whether the caller is that process. The metrics registry is process-wide (every server of a
/// process renders the same one), so a test that measures it must not share its process with
/// tests that move the same series: alone, every figure it reads belongs to its own servers and
/// differences around an action are exact. Use at the top of the test:
/// `if !alone(module_path!(), "the_test_name") { return; }`; in the calling process this
/// returns false once the test passed there (it panics with the test's output otherwise).
pub fn alone(module: &str, test: &str) -> bool {
    // libtest names tests by their path below the crate root.
    let name = module.split_once("::").map_or(test.to_string(), |(_, path)| format!("{path}::{test}"));
    if std::env::var(ALONE).is_ok_and(|v| v == name) {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let output = Command::new(exe)
        .args([name.as_str(), "--exact", "--include-ignored", "--test-threads=1", "--nocapture"])
        .env(ALONE, &name)
        .stdin(Stdio::null())
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{name}, run alone, failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    false
}

/// The value of one series in a Prometheus text, the series written as rendered (name, then
/// labels in order, e.g. `http_requests_total{method="GET",route="/x",status="200"}`); 0 when
/// absent, as for a counter nothing has incremented yet.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.rsplit_once(' ').filter(|(name, _)| *name == series))
        .map_or(0.0, |(_, value)| value.trim().parse().unwrap_or_else(|_| panic!("not a number: {value}")))
}
