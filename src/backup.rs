//! Backups of a deployment's data and their restore: `nyaya backup DIR`, `nyaya backup
//! --verify DIR`, `nyaya restore DIR` (docs/operations.md).
//!
//! A backup is a folder:
//!
//! | Path | What |
//! |---|---|
//! | `nyaya.db` | SQLite: the database, copied with `VACUUM INTO` (one read transaction, so one consistent moment, while the server keeps writing) |
//! | `database.pgdump` | PostgreSQL: `pg_dump --format=custom` (one snapshot too) |
//! | `jobs.db` | the SQLite job store (`JOBS_BACKEND=sqlite`), copied the same way |
//! | `uploads/` | the uploads folder, without its `tmp/` |
//! | `secrets/` | development secrets the server generated into the data folder |
//! | `manifest.json` | time, versions, engine, and the size and SHA-256 of every other file |
//!
//! The database is copied first and the uploads after it: stored files are content-addressed,
//! written before the row that names them and never rewritten or removed, so every file the
//! snapshot refers to is there. The folder is written under a hidden name beside DIR and
//! renamed at the end: a folder named DIR is always a whole backup.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteLockingMode};

use crate::config::Locations;
use crate::jobs::Backend as JobStore;

pub const MANIFEST: &str = "manifest.json";
/// Version of the folder layout; a restore refuses a newer one.
const FORMAT: u32 = 1;
const SQLITE_DB: &str = "nyaya.db";
const PG_DUMP: &str = "database.pgdump";
const JOBS_DB: &str = "jobs.db";
const UPLOADS: &str = "uploads";
const SECRETS: &str = "secrets";
/// The part of the uploads folder that holds files being received (never backed up).
const UPLOADS_TMP: &str = "tmp";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    fn of(locations: &Locations) -> Engine {
        if locations.is_sqlite() { Engine::Sqlite } else { Engine::Postgres }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: u32,
    /// Version of the nyaya that took the backup.
    pub nyaya: String,
    pub engine: Engine,
    /// When the snapshot began: every write acknowledged before this moment is in the backup.
    pub started_at: String,
    pub finished_at: String,
    /// The newest database migration applied in the snapshot.
    pub schema_version: Option<i64>,
    /// The SQLite library's version, or `pg_dump --version`.
    pub database_tool: Option<String>,
    /// Whether the database is in the backup (not with `--without-database`).
    pub database_included: bool,
    /// Where the job store was: `sqlite` (in `jobs.db`), `postgres` (in the database dump) or
    /// `redis` (not in the backup: see docs/operations.md).
    pub job_store: String,
    pub uploads: Totals,
    /// Names of the generated secrets in `secrets/` (none when they come from the environment).
    pub secrets: Vec<String>,
    /// Every file of the backup but the manifest.
    pub files: Vec<FileEntry>,
}

impl Manifest {
    fn file(&self, path: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.path == path)
    }

    /// What the backup holds, a line each.
    pub fn describe(&self) -> Vec<String> {
        let sized = |f: &FileEntry| format!("{} {}", f.path, human_bytes(f.size));
        let schema = self.schema_version.map(|v| format!(", schema {v}")).unwrap_or_default();
        let tool = self.database_tool.as_deref().unwrap_or("");
        let database = match (self.file(SQLITE_DB), self.file(PG_DUMP)) {
            (Some(f), _) | (None, Some(f)) => format!("{} ({tool}{schema})", sized(f)),
            (None, None) => "not included (taken with --without-database)".into(),
        };
        let jobs = match (self.job_store.as_str(), self.file(JOBS_DB)) {
            (_, Some(f)) => sized(f),
            ("sqlite", None) => "empty (no jobs.db yet)".into(),
            ("postgres", None) => "in the database".into(),
            _ => "in Redis, not in the backup".into(),
        };
        let secrets = if self.secrets.is_empty() {
            "none in the data folder (they come from the environment)".to_string()
        } else {
            self.secrets.join(", ")
        };
        vec![
            format!("engine: {}, nyaya {}", self.engine.as_str(), self.nyaya),
            format!("snapshot began {}, finished {}", self.started_at, self.finished_at),
            format!("database: {database}"),
            format!("job store: {jobs}"),
            format!("uploads: {} files, {}", self.uploads.files, human_bytes(self.uploads.bytes)),
            format!("secrets: {secrets}"),
        ]
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Totals {
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the backup folder, `/`-separated.
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// What `nyaya backup` may leave out.
#[derive(Debug, Clone, Copy, Default)]
pub struct BackupOptions {
    /// PostgreSQL only: skip `pg_dump` (the database is backed up another way).
    pub without_database: bool,
}

/// Takes a backup of the deployment at `locations` into `dir`, which must not exist or be
/// empty. Safe while servers run and write.
pub async fn backup(locations: &Locations, dir: &Path, options: BackupOptions) -> anyhow::Result<Manifest> {
    let engine = Engine::of(locations);
    if options.without_database && engine == Engine::Sqlite {
        bail!("--without-database is for PostgreSQL: on SQLite the database file is the backup's core");
    }
    if dir.exists() && !is_empty_dir(dir)? {
        bail!("{} exists and is not empty: a backup never writes into another one", dir.display());
    }
    let staging = sibling(dir, "partial")?;
    create_private_dir(&staging)?;
    let result = take(locations, engine, &staging, options).await;
    let manifest = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if dir.exists() {
        fs::remove_dir(dir).with_context(|| format!("replacing the empty {}", dir.display()))?;
    }
    fs::rename(&staging, dir).with_context(|| format!("moving the finished backup to {}", dir.display()))?;
    sync_dir(dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")));
    Ok(manifest)
}

async fn take(
    locations: &Locations,
    engine: Engine,
    staging: &Path,
    options: BackupOptions,
) -> anyhow::Result<Manifest> {
    let started_at = crate::time::now_iso();
    let mut files = Vec::new();
    let (schema_version, database_tool) = match engine {
        Engine::Sqlite => {
            let source = sqlite_path(&locations.database_url)?;
            if !source.exists() {
                bail!("no database at {}: nothing to back up (is DATA_DIR or DATABASE_URL right?)", source.display());
            }
            let info = sqlite_snapshot(&source, &staging.join(SQLITE_DB)).await.context("copying the database")?;
            files.push(entry_of(staging, SQLITE_DB)?);
            (info.schema_version, Some(format!("SQLite {}", info.sqlite_version)))
        }
        Engine::Postgres if options.without_database => (None, None),
        Engine::Postgres => {
            let version = pg_dump(&locations.database_url, &staging.join(PG_DUMP)).await?;
            files.push(entry_of(staging, PG_DUMP)?);
            (postgres_schema_version(&locations.database_url).await.ok().flatten(), Some(version))
        }
    };
    let job_store = match locations.jobs_backend {
        JobStore::Sqlite => {
            let source = locations.jobs_db();
            if source.exists() {
                sqlite_snapshot(&source, &staging.join(JOBS_DB)).await.context("copying the job store")?;
                files.push(entry_of(staging, JOBS_DB)?);
            }
            "sqlite"
        }
        JobStore::Postgres => "postgres",
        JobStore::Redis => "redis",
    };

    // Files after the database (see the module's note on consistency).
    let (upload_dir, secrets_dir, dest) =
        (locations.upload_dir.clone(), locations.secrets_dir(), staging.to_path_buf());
    let (uploads, secrets, copied) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let mut copied = Vec::new();
        let uploads = copy_tree_hashed(&upload_dir, &dest.join(UPLOADS), UPLOADS, &[UPLOADS_TMP], &mut copied)
            .with_context(|| format!("copying the uploads folder {}", upload_dir.display()))?;
        let before = copied.len();
        copy_tree_hashed(&secrets_dir, &dest.join(SECRETS), SECRETS, &[], &mut copied)
            .with_context(|| format!("copying the secrets folder {}", secrets_dir.display()))?;
        let secrets: Vec<String> =
            copied[before..].iter().map(|f: &FileEntry| f.path.trim_start_matches("secrets/").to_string()).collect();
        if dest.join(SECRETS).exists() {
            restrict(&dest.join(SECRETS), 0o700);
        }
        for name in &secrets {
            restrict(&dest.join(SECRETS).join(name), 0o600);
        }
        Ok((uploads, secrets, copied))
    })
    .await??;
    files.extend(copied);

    let manifest = Manifest {
        format: FORMAT,
        nyaya: env!("CARGO_PKG_VERSION").to_string(),
        engine,
        started_at,
        finished_at: crate::time::now_iso(),
        schema_version,
        database_tool,
        database_included: !options.without_database,
        job_store: job_store.to_string(),
        uploads,
        secrets,
        files,
    };
    let path = staging.join(MANIFEST);
    let mut file = fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(&serde_json::to_vec_pretty(&manifest)?)?;
    file.sync_all()?;
    sync_dir(staging);
    Ok(manifest)
}

/// What `nyaya backup --verify` found.
#[derive(Debug)]
pub struct Verified {
    pub manifest: Manifest,
    /// Checks passed beyond the checksums (e.g. `nyaya.db: integrity ok`).
    pub checks: Vec<String>,
}

impl Verified {
    pub fn total_bytes(&self) -> u64 {
        self.manifest.files.iter().map(|f| f.size).sum()
    }
}

/// Checks a backup: every file of the manifest present with its size and SHA-256, nothing
/// outside the known layout, SQLite files pass `PRAGMA integrity_check`, a PostgreSQL dump
/// is readable by `pg_restore --list` (when installed). Errors name every bad file.
pub async fn verify(dir: &Path) -> anyhow::Result<Verified> {
    let manifest = read_manifest(dir)?;
    let problems = {
        let (dir, manifest) = (dir.to_path_buf(), manifest.clone());
        tokio::task::spawn_blocking(move || check_files(&dir, &manifest)).await?
    };
    if !problems.is_empty() {
        bail!("backup {} is damaged:\n  {}", dir.display(), problems.join("\n  "));
    }
    let mut checks = Vec::new();
    for name in [SQLITE_DB, JOBS_DB] {
        if manifest.files.iter().any(|f| f.path == name) {
            let answer = integrity_check(&dir.join(name)).await.with_context(|| format!("checking {name}"))?;
            if answer != "ok" {
                bail!("backup {} is damaged: {name} fails its integrity check: {answer}", dir.display());
            }
            checks.push(format!("{name}: integrity ok"));
        }
    }
    if manifest.files.iter().any(|f| f.path == PG_DUMP) {
        match run_tool("pg_restore", &["--list".as_ref(), dir.join(PG_DUMP).as_os_str()], None).await {
            Ok(_) => checks.push(format!("{PG_DUMP}: readable by pg_restore")),
            Err(ToolError::Missing) => checks.push(format!("{PG_DUMP}: not opened (pg_restore is not installed)")),
            Err(ToolError::Failed(e)) => {
                bail!("backup {} is damaged: pg_restore cannot read {PG_DUMP}: {e}", dir.display())
            }
        }
    }
    Ok(Verified { manifest, checks })
}

/// What `nyaya restore` did.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    pub notes: Vec<String>,
}

/// Brings a backup back into the deployment at `locations`. The backup is verified first.
/// Refuses a target that holds data unless `force`, and a target a running server uses.
pub async fn restore(locations: &Locations, dir: &Path, force: bool) -> anyhow::Result<Restored> {
    let verified = verify(dir).await?;
    let manifest = verified.manifest;
    let engine = Engine::of(locations);
    if manifest.engine != engine {
        bail!(
            "the backup is of a {} deployment but DATABASE_URL here is {}: restore it into the same engine",
            manifest.engine.as_str(),
            engine.as_str()
        );
    }
    let has = |path: &str| manifest.files.iter().any(|f| f.path == path);
    let sqlite_target = match engine {
        Engine::Sqlite => Some(sqlite_path(&locations.database_url)?),
        Engine::Postgres => None,
    };
    let restore_jobs = has(JOBS_DB) && locations.jobs_backend == JobStore::Sqlite;
    let mut notes = Vec::new();
    if has(JOBS_DB) && !restore_jobs {
        notes.push(format!(
            "the backup's job store (jobs.db) was not restored: JOBS_BACKEND here is {}",
            locations.jobs_backend.as_str()
        ));
    }

    // Is there anything to overwrite?
    let mut occupied = Vec::new();
    if let Some(db) = &sqlite_target {
        for file in sqlite_files(db) {
            if fs::metadata(&file).is_ok_and(|m| m.len() > 0) {
                occupied.push(file.display().to_string());
            }
        }
    }
    if restore_jobs {
        for file in sqlite_files(&locations.jobs_db()) {
            if fs::metadata(&file).is_ok_and(|m| m.len() > 0) {
                occupied.push(file.display().to_string());
            }
        }
    }
    for folder in [&locations.upload_dir, &locations.secrets_dir()] {
        if folder.exists() && !is_empty_dir(folder)? {
            occupied.push(folder.display().to_string());
        }
    }
    let pg_restore_database = engine == Engine::Postgres && manifest.database_included;
    if pg_restore_database {
        let tables = postgres_tables(&locations.database_url).await?;
        if tables > 0 {
            occupied.push(format!("the database ({tables} tables)"));
        }
    }
    if !occupied.is_empty() && !force {
        bail!(
            "the target is not empty: {}. Restore into an empty data folder and database, or pass --force to replace them",
            occupied.join(", ")
        );
    }

    // Is a server using it?
    let mut in_use = Vec::new();
    if let Some(db) = &sqlite_target
        && sqlite_in_use(db).await?
    {
        in_use.push(db.display().to_string());
    }
    if restore_jobs && sqlite_in_use(&locations.jobs_db()).await? {
        in_use.push(locations.jobs_db().display().to_string());
    }
    if crate::cluster::status::request(&locations.data_dir, "status", Duration::from_secs(2)).await.is_ok() {
        in_use.push(format!("{} (a supervisor answers on its control socket)", locations.data_dir.display()));
    }
    if pg_restore_database {
        let others = postgres_other_connections(&locations.database_url).await?;
        if others > 0 {
            in_use.push(format!("the database ({others} other connections)"));
        }
    }
    if !in_use.is_empty() {
        bail!("the target is in use by a running server: {}. Stop every nyaya process on it first", in_use.join(", "));
    }

    // The database first (the step most likely to fail), then the files.
    if pg_restore_database {
        pg_restore(&locations.database_url, &dir.join(PG_DUMP), !occupied.is_empty()).await?;
    } else if engine == Engine::Postgres {
        notes
            .push("the backup holds no database (taken with --without-database): restore it from your own dump".into());
    }
    let (dir, locations, sqlite_target) = (dir.to_path_buf(), locations.clone(), sqlite_target.clone());
    tokio::task::spawn_blocking(move || place_files(&dir, &locations, sqlite_target.as_deref(), restore_jobs))
        .await??;
    Ok(Restored { manifest, notes })
}

/// Copies the backup's files into the deployment: databases to temporary names first, then
/// the managed folders are replaced, then the databases renamed into place.
fn place_files(
    dir: &Path,
    locations: &Locations,
    sqlite_target: Option<&Path>,
    restore_jobs: bool,
) -> anyhow::Result<()> {
    fs::create_dir_all(&locations.data_dir).with_context(|| format!("creating {}", locations.data_dir.display()))?;
    let mut staged = Vec::new();
    let mut databases = Vec::new();
    if let Some(target) = sqlite_target {
        databases.push((dir.join(SQLITE_DB), target.to_path_buf()));
    }
    if restore_jobs {
        databases.push((dir.join(JOBS_DB), locations.jobs_db()));
    }
    for (from, to) in &databases {
        if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)?;
        }
        let temp = sibling(to, "restore")?;
        copy_file(from, &temp)?;
        staged.push((temp, to.clone()));
    }
    let result = (|| -> anyhow::Result<()> {
        for (folder, name) in [(&locations.upload_dir, UPLOADS), (&locations.secrets_dir(), SECRETS)] {
            clear_dir(folder)?;
            let source = dir.join(name);
            if source.exists() {
                copy_tree_into(&source, folder)?;
            }
        }
        if locations.secrets_dir().exists() {
            restrict(&locations.secrets_dir(), 0o700);
        }
        for name in fs::read_dir(locations.secrets_dir()).into_iter().flatten().flatten() {
            restrict(&name.path(), 0o600);
        }
        for (temp, to) in &staged {
            for file in sqlite_files(to) {
                match fs::remove_file(&file) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        return Err(e).with_context(|| format!("removing {}", file.display()));
                    }
                    _ => {}
                }
            }
            fs::rename(temp, to).with_context(|| format!("moving the restored database to {}", to.display()))?;
        }
        Ok(())
    })();
    for (temp, _) in &staged {
        let _ = fs::remove_file(temp);
    }
    result
}

// ---- SQLite ----

/// The file of a `sqlite:` URL.
fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    use std::str::FromStr;
    let options = SqliteConnectOptions::from_str(url).context("reading DATABASE_URL")?;
    let path = options.get_filename();
    if path.as_os_str().is_empty() || path == Path::new(":memory:") {
        bail!("DATABASE_URL names an in-memory database: there is nothing to back up or restore");
    }
    Ok(path.to_path_buf())
}

/// A database file and its companions (WAL, shared memory, rollback journal).
fn sqlite_files(db: &Path) -> Vec<PathBuf> {
    let name = db.as_os_str();
    let with = |suffix: &str| {
        let mut s = name.to_os_string();
        s.push(suffix);
        PathBuf::from(s)
    };
    vec![db.to_path_buf(), with("-wal"), with("-shm"), with("-journal")]
}

struct SnapshotInfo {
    schema_version: Option<i64>,
    sqlite_version: String,
}

/// A consistent copy of a live database: `VACUUM INTO` reads it in one transaction (WAL lets
/// the server write meanwhile) and writes a compact new file.
async fn sqlite_snapshot(source: &Path, dest: &Path) -> anyhow::Result<SnapshotInfo> {
    let options =
        SqliteConnectOptions::new().filename(source).create_if_missing(false).busy_timeout(Duration::from_secs(30));
    let mut conn =
        SqliteConnection::connect_with(&options).await.with_context(|| format!("opening {}", source.display()))?;
    let target = dest.to_str().context("the backup folder's path is not UTF-8")?;
    sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(&mut conn)
        .await
        .with_context(|| format!("VACUUM INTO {target}"))?;
    let (sqlite_version,): (String,) = sqlx::query_as("SELECT sqlite_version()").fetch_one(&mut conn).await?;
    conn.close().await?;

    let options = SqliteConnectOptions::new().filename(dest).create_if_missing(false);
    let mut copy = SqliteConnection::connect_with(&options).await?;
    let (check,): (String,) = sqlx::query_as("PRAGMA quick_check").fetch_one(&mut copy).await?;
    if check != "ok" {
        bail!("the copy of {} fails its check: {check}", source.display());
    }
    let has_migrations: Option<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'nyaya_migrations'")
            .fetch_optional(&mut copy)
            .await?;
    let schema_version = match has_migrations {
        Some(_) => {
            sqlx::query_as::<_, (Option<i64>,)>("SELECT MAX(version) FROM nyaya_migrations")
                .fetch_one(&mut copy)
                .await?
                .0
        }
        None => None,
    };
    copy.close().await?;
    fs::File::open(dest)?.sync_all()?;
    Ok(SnapshotInfo { schema_version, sqlite_version })
}

async fn integrity_check(file: &Path) -> anyhow::Result<String> {
    // Immutable: no locks, no -shm file, nothing written into the backup folder.
    let options = SqliteConnectOptions::new().filename(file).read_only(true).immutable(true);
    let mut conn = SqliteConnection::connect_with(&options).await?;
    let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check").fetch_all(&mut conn).await?;
    conn.close().await?;
    Ok(rows.into_iter().map(|(r,)| r).collect::<Vec<_>>().join("; "))
}

/// Whether another process has the database open. Every connection to a WAL database holds
/// a shared lock while open (idle pool connections too), so an exclusive lock cannot be had.
async fn sqlite_in_use(db: &Path) -> anyhow::Result<bool> {
    if !db.exists() {
        return Ok(false);
    }
    let options = SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(false)
        .locking_mode(SqliteLockingMode::Exclusive)
        .busy_timeout(Duration::from_millis(500));
    let mut conn = match SqliteConnection::connect_with(&options).await {
        Ok(c) => c,
        Err(e) if is_busy(&e) => return Ok(true),
        Err(e) => return Err(e).with_context(|| format!("opening {}", db.display())),
    };
    let locked = match sqlx::query("BEGIN EXCLUSIVE").execute(&mut conn).await {
        Ok(_) => {
            sqlx::query("ROLLBACK").execute(&mut conn).await?;
            false
        }
        Err(e) if is_busy(&e) => true,
        Err(e) => return Err(e).with_context(|| format!("locking {}", db.display())),
    };
    conn.close().await?;
    Ok(locked)
}

fn is_busy(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            let message = db.message();
            message.contains("locked") || message.contains("busy")
        }
        _ => false,
    }
}

// ---- PostgreSQL ----

/// A PostgreSQL URL without its password, and the password (for `PGPASSWORD`): a password
/// on a command line is visible to every user of the machine.
fn libpq_target(url: &str) -> (String, Option<String>) {
    let Some(start) = url.find("://").map(|i| i + 3) else { return (url.to_string(), None) };
    let end = url[start..].find(['/', '?']).map(|i| start + i).unwrap_or(url.len());
    let authority = &url[start..end];
    let Some(at) = authority.rfind('@') else { return (url.to_string(), None) };
    let Some(colon) = authority[..at].find(':') else { return (url.to_string(), None) };
    let password = percent_decode(&authority[colon + 1..at]);
    let without = format!("{}{}{}", &url[..start + colon], &authority[at..], &url[end..]);
    (without, Some(password))
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = raw.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

enum ToolError {
    Missing,
    Failed(String),
}

/// Runs a PostgreSQL client tool; `url` goes in as `--dbname` with its password in the
/// environment. Returns its standard output.
async fn run_tool(tool: &str, args: &[&std::ffi::OsStr], url: Option<&str>) -> Result<String, ToolError> {
    let mut cmd = Command::new(tool);
    if let Some(url) = url {
        let (target, password) = libpq_target(url);
        cmd.arg("--no-password").arg("--dbname").arg(target);
        if let Some(p) = password {
            cmd.env("PGPASSWORD", p);
        }
    }
    cmd.args(args);
    let output =
        tokio::task::spawn_blocking(move || cmd.output()).await.map_err(|e| ToolError::Failed(e.to_string()))?;
    match output {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ToolError::Missing),
        Err(e) => Err(ToolError::Failed(e.to_string())),
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Err(ToolError::Failed(format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()))),
    }
}

fn missing_tool(tool: &str, what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{tool} is not installed (PostgreSQL client tools, the server's major version or newer): install it, \
         or {what} (docs/operations.md)"
    )
}

/// `pg_dump --format=custom` of the database; returns pg_dump's version.
async fn pg_dump(url: &str, dest: &Path) -> anyhow::Result<String> {
    let version = match run_tool("pg_dump", &["--version".as_ref()], None).await {
        Ok(v) => v.trim().to_string(),
        Err(ToolError::Missing) => {
            return Err(missing_tool("pg_dump", "pass --without-database and dump the database yourself"));
        }
        Err(ToolError::Failed(e)) => bail!("pg_dump --version: {e}"),
    };
    let args: [&std::ffi::OsStr; 3] = ["--format=custom".as_ref(), "--file".as_ref(), dest.as_os_str()];
    match run_tool("pg_dump", &args, Some(url)).await {
        Ok(_) => {}
        Err(ToolError::Missing) => return Err(missing_tool("pg_dump", "pass --without-database")),
        Err(ToolError::Failed(e)) => bail!("pg_dump failed: {e}"),
    }
    fs::File::open(dest)?.sync_all()?;
    Ok(version)
}

async fn pg_restore(url: &str, dump: &Path, clean: bool) -> anyhow::Result<()> {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "--no-owner".as_ref(),
        "--no-privileges".as_ref(),
        "--exit-on-error".as_ref(),
        "--single-transaction".as_ref(),
    ];
    if clean {
        args.extend::<[&std::ffi::OsStr; 2]>(["--clean".as_ref(), "--if-exists".as_ref()]);
    }
    args.push(dump.as_os_str());
    match run_tool("pg_restore", &args, Some(url)).await {
        Ok(_) => Ok(()),
        Err(ToolError::Missing) => Err(missing_tool("pg_restore", "restore database.pgdump with pg_restore elsewhere")),
        Err(ToolError::Failed(e)) => {
            bail!("pg_restore failed (nothing of the database was changed: one transaction): {e}")
        }
    }
}

async fn postgres_schema_version(url: &str) -> anyhow::Result<Option<i64>> {
    use crate::db::RowExt;
    let db = crate::db::Db::connect(url, 1).await?;
    let version = db.opt(&crate::db::Sql::new("SELECT MAX(version) AS v FROM nyaya_migrations")).await;
    db.close().await;
    Ok(version?.and_then(|row| row.int_opt("v").ok().flatten()))
}

async fn postgres_tables(url: &str) -> anyhow::Result<i64> {
    let db = crate::db::Db::connect(url, 1).await?;
    let sql = crate::db::Sql::new(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
    );
    let n = db.count(&sql).await;
    db.close().await;
    Ok(n?)
}

async fn postgres_other_connections(url: &str) -> anyhow::Result<i64> {
    let db = crate::db::Db::connect(url, 1).await?;
    let sql = crate::db::Sql::new(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    );
    let n = db.count(&sql).await;
    db.close().await;
    Ok(n?)
}

// ---- Files ----

fn read_manifest(dir: &Path) -> anyhow::Result<Manifest> {
    let path = dir.join(MANIFEST);
    let raw = fs::read(&path)
        .with_context(|| format!("reading {} (is {} a nyaya backup?)", path.display(), dir.display()))?;
    let manifest: Manifest = serde_json::from_slice(&raw).with_context(|| format!("reading {}", path.display()))?;
    if manifest.format > FORMAT {
        bail!(
            "the backup's format {} is newer than this nyaya understands ({FORMAT}): use nyaya {} or newer",
            manifest.format,
            manifest.nyaya
        );
    }
    for file in &manifest.files {
        if !safe_relative(&file.path) {
            bail!("the manifest names a file outside the backup layout: {:?}", file.path);
        }
    }
    Ok(manifest)
}

/// A manifest path is one of the known files, or below `uploads/` or `secrets/`, with no
/// `..`: a restore never writes outside the deployment's folders.
fn safe_relative(path: &str) -> bool {
    let p = Path::new(path);
    let plain = p.components().all(|c| matches!(c, Component::Normal(_)));
    let top = path.split('/').next().unwrap_or("");
    plain
        && ([SQLITE_DB, PG_DUMP, JOBS_DB].contains(&path) || ((top == UPLOADS || top == SECRETS) && path.contains('/')))
}

/// Every file checked against the manifest; the list of problems, each naming its file.
fn check_files(dir: &Path, manifest: &Manifest) -> Vec<String> {
    let mut problems = Vec::new();
    for file in &manifest.files {
        let path = dir.join(&file.path);
        match hash_file(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => problems.push(format!("{}: missing", file.path)),
            Err(e) => problems.push(format!("{}: unreadable: {e}", file.path)),
            Ok((size, _)) if size != file.size => {
                problems.push(format!("{}: {size} bytes, the manifest says {}", file.path, file.size))
            }
            Ok((_, sha)) if sha != file.sha256 => {
                problems.push(format!("{}: content differs from the manifest (SHA-256)", file.path))
            }
            Ok(_) => {}
        }
    }
    let known: std::collections::HashSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    let mut present = Vec::new();
    if let Err(e) = list_files(dir, "", &mut present) {
        problems.push(format!("listing the backup: {e}"));
    }
    for path in present {
        if path != MANIFEST && !known.contains(path.as_str()) {
            problems.push(format!("{path}: not in the manifest"));
        }
    }
    problems
}

fn list_files(dir: &Path, prefix: &str, out: &mut Vec<String>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        if entry.file_type()?.is_dir() {
            list_files(&entry.path(), &rel, out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

fn entry_of(dir: &Path, rel: &str) -> anyhow::Result<FileEntry> {
    let (size, sha256) = hash_file(&dir.join(rel)).with_context(|| format!("reading {rel}"))?;
    Ok(FileEntry { path: rel.to_string(), size, sha256 })
}

const BUFFER: usize = 1 << 20;

fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUFFER];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Copies a file (new, synced) and returns its size and SHA-256, computed on the way.
fn copy_hashed(from: &Path, to: &Path) -> io::Result<(u64, String)> {
    let mut input = fs::File::open(from)?;
    let mut output = fs::OpenOptions::new().write(true).create_new(true).open(to)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUFFER];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        output.write_all(&buf[..n])?;
        size += n as u64;
    }
    output.sync_all()?;
    Ok((size, hex::encode(hasher.finalize())))
}

/// Copies the regular files below `from` into `to` (created), skipping the top-level folders
/// in `skip`; appends an entry per file (paths under `prefix`). A missing `from` copies nothing.
fn copy_tree_hashed(
    from: &Path,
    to: &Path,
    prefix: &str,
    skip: &[&str],
    out: &mut Vec<FileEntry>,
) -> anyhow::Result<Totals> {
    let mut totals = Totals::default();
    if !from.exists() {
        return Ok(totals);
    }
    let mut stack = vec![(from.to_path_buf(), to.to_path_buf(), prefix.to_string(), true)];
    while let Some((src, dst, rel, top)) = stack.pop() {
        fs::create_dir_all(&dst)?;
        let mut entries: Vec<_> = fs::read_dir(&src)?.collect::<io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            let name =
                name.to_str().with_context(|| format!("{} has a name that is not UTF-8", entry.path().display()))?;
            let kind = entry.file_type()?;
            let path = format!("{rel}/{name}");
            if kind.is_dir() {
                if !(top && skip.contains(&name)) {
                    stack.push((entry.path(), dst.join(name), path, false));
                }
            } else if kind.is_file() {
                let (size, sha256) = match copy_hashed(&entry.path(), &dst.join(name)) {
                    // Removed between listing and copying: only files being received go away.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    r => r.with_context(|| format!("copying {}", entry.path().display()))?,
                };
                totals.files += 1;
                totals.bytes += size;
                out.push(FileEntry { path, size, sha256 });
            }
        }
        sync_dir(&dst);
    }
    Ok(totals)
}

/// Copies every file below `from` into `to`, each through a temporary name.
fn copy_tree_into(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree_into(&entry.path(), &dest)?;
        } else {
            let temp = sibling(&dest, "restore")?;
            copy_file(&entry.path(), &temp)?;
            fs::rename(&temp, &dest).with_context(|| format!("placing {}", dest.display()))?;
        }
    }
    sync_dir(to);
    Ok(())
}

fn copy_file(from: &Path, to: &Path) -> anyhow::Result<()> {
    copy_hashed(from, to).map(|_| ()).with_context(|| format!("copying {} to {}", from.display(), to.display()))
}

/// Empties a folder, keeping the folder itself (it may be a mount point).
fn clear_dir(dir: &Path) -> anyhow::Result<()> {
    let Ok(entries) = fs::read_dir(dir) else { return Ok(()) };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) }
            .with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

fn is_empty_dir(dir: &Path) -> anyhow::Result<bool> {
    if !dir.is_dir() {
        return Ok(false);
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        // An empty folder of files being received holds no data.
        if entry.file_name() == UPLOADS_TMP && entry.file_type()?.is_dir() && is_empty_dir(&entry.path())? {
            continue;
        }
        return Ok(false);
    }
    Ok(true)
}

/// A hidden, unused name beside `path`: `.<name>.<what>-<random>`.
fn sibling(path: &Path, what: &str) -> anyhow::Result<PathBuf> {
    let name = path.file_name().with_context(|| format!("{} has no file name", path.display()))?;
    let hidden = format!(".{}.{what}-{}", name.to_string_lossy(), crate::ids::random_hex(4));
    Ok(path.with_file_name(hidden))
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Secrets are for their owner only.
fn restrict(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode));
    }
}

/// Makes a folder's entries (new names, renames) durable.
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// A human size: `1.5 MB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} bytes") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Seconds since `start`, for the commands' summaries.
pub fn elapsed(start: Instant) -> String {
    format!("{:.1}s", start.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url_for_the_environment() {
        let (url, pw) = libpq_target("postgres://nyaya:p%40ss:w@db.internal:5432/nyaya?sslmode=require");
        assert_eq!(url, "postgres://nyaya@db.internal:5432/nyaya?sslmode=require");
        assert_eq!(pw.as_deref(), Some("p@ss:w"));
        let (url, pw) = libpq_target("postgres://postgres@127.0.0.1:5432/test");
        assert_eq!(url, "postgres://postgres@127.0.0.1:5432/test");
        assert_eq!(pw, None);
    }

    #[test]
    fn manifest_paths_stay_inside_the_layout() {
        for ok in ["nyaya.db", "jobs.db", "database.pgdump", "uploads/sha256/ab/abcd", "secrets/JWT_SECRET"] {
            assert!(safe_relative(ok), "{ok}");
        }
        for bad in ["../etc/passwd", "/etc/passwd", "uploads/../../x", "uploads", "other/file", "secrets/./x/../y", ""]
        {
            assert!(!safe_relative(bad), "{bad}");
        }
    }
}
