//! Configuration from the environment (and `.env`), with embedded defaults.
//!
//! With nothing set, everything runs in-process: SQLite under `./data/`, mail to
//! `./data/outbox/`, secrets generated once and kept in the data dir. Production
//! (`NYAYA_ENV=production`) refuses to start without explicit secrets, and with one secret
//! for both kinds of token.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
    Test,
}

impl Environment {
    pub fn is_production(self) -> bool {
        self == Environment::Production
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Production => "production",
            Environment::Test => "test",
        }
    }
}

#[derive(Clone)]
pub struct Config {
    pub env: Environment,
    pub port: u16,
    pub host: String,
    pub admin_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub redis_url: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub jwt_secret: String,
    pub jwt_refresh_secret: String,
    pub jwt_expire: Duration,
    pub jwt_refresh_expire: Duration,
    pub frontend_url: String,
    pub max_file_size: u64,
    pub max_files_per_upload: usize,
    pub upload_dir: PathBuf,
    pub rate_limit_window: Duration,
    pub rate_limit_max: u64,
    pub db_max_connections: u32,
    pub cache_enabled: bool,
    pub cache_max_bytes: u64,
    /// Bound on every Redis call of the cache (`CACHE_REDIS_TIMEOUT`, e.g. `100ms`).
    pub cache_redis_timeout: Duration,
    pub redis_prefix: String,
    /// reCAPTCHA (docs/api.md 1.6): checked in production only.
    pub recaptcha_secret: Option<String>,
    pub recaptcha_min_score: f64,
    pub recaptcha_verify_url: String,
    /// Background job queues (`JOBS_*`).
    pub jobs: crate::jobs::Settings,
    /// `EMAIL_MODE`: through the email queue (default) or sent inside the request.
    pub email_mode: EmailMode,
    /// `SOCKET_RECOVERY_WINDOW`: how long a disconnected Socket.IO session and the events it
    /// missed are kept for its client to resume (docs/realtime.md); zero turns recovery off.
    pub socket_recovery_window: Duration,
}

/// How the platform's emails leave a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailMode {
    /// Enqueued; the request answers at once and a worker sends it.
    Queue,
    /// Sent before the request answers, as the original did (for comparison).
    Inline,
}

impl std::fmt::Debug for Config {
    // Secrets never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("env", &self.env)
            .field("port", &self.port)
            .field("admin_addr", &self.admin_addr)
            .field("data_dir", &self.data_dir)
            .field("database", &crate::db::redact_url(&self.database_url))
            .field("redis", &self.redis_url.as_deref().map(crate::db::redact_url))
            .field("smtp", &self.smtp_url.as_deref().map(crate::db::redact_url))
            .field("cache_enabled", &self.cache_enabled)
            .finish_non_exhaustive()
    }
}

/// Where settings come from: the process environment, or a map in tests.
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

struct Vars<'a>(Lookup<'a>);

impl Vars<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    fn parse<T: std::str::FromStr>(&self, name: &str, default: T) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|e| anyhow::anyhow!("{name}={raw:?} is invalid: {e}")),
        }
    }

    fn duration(&self, name: &str, default: &str) -> anyhow::Result<Duration> {
        let raw = self.get(name).unwrap_or_else(|| default.to_string());
        parse_duration(&raw).with_context(|| format!("{name}={raw:?} is not a duration like 15m, 1d or 3600"))
    }
}

/// Parses durations written like the original's `JWT_EXPIRE`: `1d`, `7d`, `15m`, `3600` (seconds).
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (num, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: u64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        "w" => n * 7 * 86_400,
        "ms" => return Some(Duration::from_millis(n)),
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// Parses sizes like `512MB`, `10MiB`, `1G` or plain bytes.
pub fn parse_size(raw: &str) -> Option<u64> {
    let raw = raw.trim().to_ascii_lowercase();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (num, unit) = raw.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    Some(n * mult)
}

impl Config {
    /// Reads `.env` (if present) and the environment.
    pub fn from_env() -> anyhow::Result<Config> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any source of variables (tests pass a map).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        let vars = Vars(lookup);
        let var = |name: &str| vars.get(name);
        let env = match var("NYAYA_ENV").or_else(|| var("NODE_ENV")).as_deref() {
            Some("production") => Environment::Production,
            Some("test") => Environment::Test,
            _ => Environment::Development,
        };
        let Locations { data_dir, database_url, upload_dir, .. } = Locations::read(&vars)?;
        let secrets = Secrets { env, data_dir: &data_dir, vars: &vars };
        let jwt_secret = secrets.get("JWT_SECRET")?;
        let jwt_refresh_secret = secrets.get("JWT_REFRESH_SECRET")?;
        if jwt_secret == jwt_refresh_secret {
            if env.is_production() {
                bail!("JWT_SECRET and JWT_REFRESH_SECRET must differ when NYAYA_ENV=production");
            }
            tracing::warn!(
                "JWT_SECRET equals JWT_REFRESH_SECRET; tokens issued before they named their kind are refused"
            );
        }
        let rate_limit_default = if env.is_production() { 100 } else { 1000 };
        let cache_max_bytes = match var("CACHE_MAX_BYTES") {
            Some(raw) => parse_size(&raw).with_context(|| format!("CACHE_MAX_BYTES={raw:?} is not a size"))?,
            None => 256 << 20,
        };
        Ok(Config {
            env,
            port: vars.parse("PORT", 5000)?,
            host: var("HOST").unwrap_or_else(|| "0.0.0.0".into()),
            admin_addr: vars.parse("ADMIN_ADDR", SocketAddr::from(([127, 0, 0, 1], 9090)))?,
            database_url,
            redis_url: var("REDIS_URL"),
            smtp_url: var("SMTP_URL"),
            mail_from: var("EMAIL_FROM").unwrap_or_else(|| "ChainVerdict Platform <no-reply@nyaya.local>".into()),
            jwt_secret,
            jwt_refresh_secret,
            jwt_expire: vars.duration("JWT_EXPIRE", "1d")?,
            jwt_refresh_expire: vars.duration("JWT_REFRESH_EXPIRE", "7d")?,
            frontend_url: var("FRONTEND_URL").unwrap_or_else(|| "http://localhost:5174".into()),
            max_file_size: vars.parse("MAX_FILE_SIZE", 10 * 1024 * 1024)?,
            max_files_per_upload: vars.parse("MAX_FILES_PER_UPLOAD", 5)?,
            upload_dir,
            rate_limit_window: Duration::from_millis(vars.parse("RATE_LIMIT_WINDOW_MS", 15 * 60 * 1000)?),
            rate_limit_max: vars.parse("RATE_LIMIT_MAX_REQUESTS", rate_limit_default)?,
            db_max_connections: vars.parse("DB_MAX_CONNECTIONS", 16)?,
            cache_enabled: !matches!(var("CACHE").as_deref(), Some("off" | "false" | "0")),
            cache_max_bytes,
            cache_redis_timeout: vars.duration("CACHE_REDIS_TIMEOUT", "100ms")?,
            redis_prefix: var("REDIS_PREFIX").unwrap_or_else(|| "nyaya:".into()),
            recaptcha_secret: var("RECAPTCHA_SECRET_KEY"),
            recaptcha_min_score: vars.parse("RECAPTCHA_MIN_SCORE", 0.5)?,
            recaptcha_verify_url: var("RECAPTCHA_VERIFY_URL")
                .unwrap_or_else(|| "https://www.google.com/recaptcha/api/siteverify".into()),
            jobs: jobs_settings(&vars)?,
            socket_recovery_window: vars.duration("SOCKET_RECOVERY_WINDOW", "2m")?,
            email_mode: match var("EMAIL_MODE").as_deref() {
                None | Some("queue") => EmailMode::Queue,
                Some("inline") => EmailMode::Inline,
                Some(other) => anyhow::bail!("EMAIL_MODE={other:?} is not queue or inline"),
            },
            data_dir,
        })
    }

    /// Where the job stores live, for [`crate::jobs::Jobs::connect`].
    pub fn job_store(&self) -> crate::jobs::StoreAt<'_> {
        crate::jobs::StoreAt {
            data_dir: &self.data_dir,
            database_url: &self.database_url,
            redis_url: self.redis_url.as_deref(),
            redis_prefix: &self.redis_prefix,
        }
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }
}

/// Where a deployment keeps its data, read without the secrets: `nyaya backup` and
/// `nyaya restore` must not generate development secrets into the folder they work on.
#[derive(Debug, Clone)]
pub struct Locations {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub upload_dir: PathBuf,
    pub jobs_backend: crate::jobs::Backend,
}

impl Locations {
    /// Reads `.env` (if present) and the environment, like [`Config::from_env`].
    pub fn from_env() -> anyhow::Result<Locations> {
        let _ = dotenvy::dotenv();
        Self::read(&Vars(&|name| std::env::var(name).ok()))
    }

    fn read(vars: &Vars<'_>) -> anyhow::Result<Locations> {
        let data_dir = PathBuf::from(vars.get("DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database_url = vars
            .get("DATABASE_URL")
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("nyaya.db").display()));
        let upload_dir = vars.get("UPLOAD_DIR").map(PathBuf::from).unwrap_or_else(|| data_dir.join("uploads"));
        Ok(Locations { jobs_backend: jobs_backend(vars)?, data_dir, database_url, upload_dir })
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    /// Development secrets the server generated (`<DATA_DIR>/secrets/<NAME>`).
    pub fn secrets_dir(&self) -> PathBuf {
        self.data_dir.join("secrets")
    }

    /// The SQLite job store (`JOBS_BACKEND=sqlite`).
    pub fn jobs_db(&self) -> PathBuf {
        self.data_dir.join("jobs.db")
    }
}

fn jobs_backend(vars: &Vars<'_>) -> anyhow::Result<crate::jobs::Backend> {
    use crate::jobs::Backend;
    Ok(match vars.get("JOBS_BACKEND") {
        Some(raw) => raw.parse::<Backend>().map_err(|e| anyhow::anyhow!("JOBS_BACKEND: {e}"))?,
        None if vars.get("REDIS_URL").is_some() => Backend::Redis,
        None => Backend::Sqlite,
    })
}

fn jobs_settings(vars: &Vars<'_>) -> anyhow::Result<crate::jobs::Settings> {
    use crate::jobs::{Queue, Settings};
    let backend = jobs_backend(vars)?;
    let workers_in_serve = match vars.get("JOBS_WORKERS").as_deref() {
        None | Some("on" | "true" | "1") => true,
        Some("off" | "false" | "0") => false,
        Some(other) => anyhow::bail!("JOBS_WORKERS={other:?} is not on or off"),
    };
    let concurrency = [
        (Queue::Email, vars.parse("JOBS_EMAIL_CONCURRENCY", 16)?),
        (Queue::Files, vars.parse("JOBS_FILES_CONCURRENCY", 2)?),
        (Queue::Noop, vars.parse("JOBS_NOOP_CONCURRENCY", 512)?),
    ]
    .into_iter()
    .collect();
    Ok(Settings {
        backend,
        workers_in_serve,
        concurrency,
        max_attempts: vars.parse("JOBS_MAX_ATTEMPTS", 5)?,
        retry_base: vars.duration("JOBS_RETRY_BASE", "5s")?,
        retry_max: vars.duration("JOBS_RETRY_MAX", "1h")?,
        lease: vars.duration("JOBS_LEASE", "5m")?,
        poll_interval: vars.duration("JOBS_POLL_INTERVAL", "200ms")?,
    })
}

struct Secrets<'a> {
    env: Environment,
    data_dir: &'a Path,
    vars: &'a Vars<'a>,
}

impl Secrets<'_> {
    /// In development a missing secret is generated once and kept in `<data>/secrets/<NAME>`.
    fn get(&self, name: &str) -> anyhow::Result<String> {
        if let Some(v) = self.vars.get(name) {
            return Ok(v);
        }
        if self.env.is_production() {
            bail!("{name} must be set when NYAYA_ENV=production");
        }
        let dir = self.data_dir.join("secrets");
        let path = dir.join(name);
        if let Some(existing) = read_secret(&path) {
            return Ok(existing);
        }
        private_dir(&dir)?;
        // The secret is written to a new file of its own, private from its creation, then
        // linked under its name, which never replaces anything: no one sees it half-written,
        // nothing already at the name (a link elsewhere) is written through, and of two
        // processes generating at once the first link wins and both use its secret.
        let secret = crate::ids::random_hex(32);
        let temp = dir.join(format!(".{name}.{}", crate::ids::random_hex(6)));
        write_private(&temp, &secret).with_context(|| format!("writing {}", temp.display()))?;
        let outcome = publish(&temp, &path, &secret);
        let _ = std::fs::remove_file(&temp);
        let (value, generated) = outcome?;
        if generated {
            tracing::warn!(secret = name, path = %path.display(), "generated a development secret; set it explicitly in production");
        }
        Ok(value)
    }
}

/// Links `temp` (holding `secret`) as `path` unless a secret is already there, and returns the
/// secret in force and whether it is ours. Something at `path` without a secret (an empty
/// file, a link to one) is removed first.
fn publish(temp: &Path, path: &Path, secret: &str) -> anyhow::Result<(String, bool)> {
    for _ in 0..3 {
        match std::fs::hard_link(temp, path) {
            Ok(()) => return Ok((secret.to_string(), true)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if let Some(existing) = read_secret(path) {
                    return Ok((existing, false));
                }
                match std::fs::remove_file(path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(e).with_context(|| format!("removing the empty {}", path.display()));
                    }
                    _ => {}
                }
            }
            Err(e) => return Err(e).with_context(|| format!("linking {}", path.display())),
        }
    }
    bail!("{} keeps appearing empty", path.display())
}

/// A stored secret, if there is a non-empty one.
fn read_secret(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.trim().to_string()).filter(|s| !s.is_empty())
}

/// The secrets folder, readable by its owner only (an existing one is tightened).
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(dir)?.permissions().mode();
                if mode & 0o077 != 0 {
                    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                        .with_context(|| format!("making {} private", dir.display()))?;
                }
            }
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", dir.display())),
    }
}

/// Writes a new file (never an existing one) that only its owner may read, from its creation.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_the_original() {
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("3600"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn production_requires_secrets() {
        let err = Config::from_lookup(&|name| (name == "NYAYA_ENV").then(|| "production".to_string())).unwrap_err();
        assert_eq!(err.to_string(), "JWT_SECRET must be set when NYAYA_ENV=production");
    }

    #[test]
    fn development_generates_secrets_once() {
        let dir = std::env::temp_dir().join(format!("nyaya-config-{}", crate::ids::random_hex(6)));
        let dir_s = dir.display().to_string();
        let lookup = move |name: &str| (name == "DATA_DIR").then(|| dir_s.clone());
        let first = Config::from_lookup(&lookup).unwrap();
        let second = Config::from_lookup(&lookup).unwrap();
        assert_eq!(first.jwt_secret, second.jwt_secret);
        assert_ne!(first.jwt_secret, first.jwt_refresh_secret);
        assert_eq!(first.port, 5000);
        assert!(first.is_sqlite());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn production_refuses_one_secret_for_both_kinds_of_token() {
        let err = Config::from_lookup(&|name| match name {
            "NYAYA_ENV" => Some("production".into()),
            "JWT_SECRET" | "JWT_REFRESH_SECRET" => Some("s3cr3t-value".into()),
            _ => None,
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "JWT_SECRET and JWT_REFRESH_SECRET must differ when NYAYA_ENV=production");
        let dir = std::env::temp_dir().display().to_string();
        let development = Config::from_lookup(&|name| match name {
            "JWT_SECRET" | "JWT_REFRESH_SECRET" => Some("s3cr3t-value".into()),
            "DATA_DIR" => Some(dir.clone()),
            _ => None,
        });
        assert!(development.is_ok(), "development allows it (tokens carry their kind)");
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn generated_secrets_are_private_from_their_creation() {
        let dir = std::env::temp_dir().join(format!("nyaya-config-{}", crate::ids::random_hex(6)));
        let dir_s = dir.display().to_string();
        let config = Config::from_lookup(&move |name: &str| (name == "DATA_DIR").then(|| dir_s.clone())).unwrap();
        let secrets = dir.join("secrets");
        assert_eq!(mode(&secrets), 0o700);
        for name in ["JWT_SECRET", "JWT_REFRESH_SECRET"] {
            assert_eq!(mode(&secrets.join(name)), 0o600, "{name}");
        }
        assert_eq!(std::fs::read_to_string(secrets.join("JWT_SECRET")).unwrap(), config.jwt_secret);
        // Only the two secrets are left: no temporary files.
        assert_eq!(std::fs::read_dir(&secrets).unwrap().count(), 2);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[cfg(unix)]
    #[test]
    fn an_open_secrets_folder_is_closed_and_nothing_is_written_through_a_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("nyaya-config-{}", crate::ids::random_hex(6)));
        let secrets = dir.join("secrets");
        std::fs::create_dir_all(&secrets).unwrap();
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o755)).unwrap();
        // An empty file elsewhere, linked where a secret would go.
        let elsewhere = dir.join("readable-by-all");
        std::fs::write(&elsewhere, "").unwrap();
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, secrets.join("JWT_SECRET")).unwrap();
        let dir_s = dir.display().to_string();
        let config = Config::from_lookup(&move |name: &str| (name == "DATA_DIR").then(|| dir_s.clone())).unwrap();
        assert_eq!(mode(&secrets), 0o700);
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "", "the secret went through the link");
        assert_eq!(mode(&secrets.join("JWT_SECRET")), 0o600, "a private file replaced the link");
        assert_eq!(std::fs::read_to_string(secrets.join("JWT_SECRET")).unwrap(), config.jwt_secret);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn processes_generating_at_once_agree_on_the_secrets() {
        let dir = std::env::temp_dir().join(format!("nyaya-config-{}", crate::ids::random_hex(6)));
        let configs: Vec<(String, String)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let dir_s = dir.display().to_string();
                    s.spawn(move || {
                        let c = Config::from_lookup(&move |name: &str| (name == "DATA_DIR").then(|| dir_s.clone()))
                            .unwrap();
                        (c.jwt_secret, c.jwt_refresh_secret)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(configs.windows(2).all(|w| w[0] == w[1]), "{configs:?}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("512MB"), Some(512 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("lots"), None);
    }
}
