//! The database layer: one pool (SQLite by default, PostgreSQL by `DATABASE_URL`), portable SQL
//! with `$N` placeholders (both engines accept them), and a counter of every statement sent
//! (`nyaya_db_queries_total`), so cache effectiveness is measured rather than assumed.
//!
//! Portable types only: TEXT (ids, ISO timestamps, JSON documents), BIGINT, DOUBLE PRECISION
//! and BOOLEAN. Repositories in `crate::store` build on [`Sql`] and [`Db`].

mod migrate;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, AssertSqlSafe, Row};

use crate::ids::Id;
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// The counter of statements run through this pool.
    metric: QueryMetrics,
    /// SQLite only: this process's writers queue here, in order, instead of in SQLite's busy
    /// handler, which retries by sleeping (up to 100 ms a time) and so turns a 1 ms wait for
    /// the write lock into tens of milliseconds. Held by a write statement or a transaction.
    write_gate: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// How long a writer waits for the write gate, like `busy_timeout`.
const WRITE_GATE_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether a statement writes (what takes SQLite's write lock).
fn is_write(sql: &str) -> bool {
    let head = sql.trim_start().as_bytes();
    ["INSERT", "UPDATE", "DELETE", "REPLACE"]
        .iter()
        .any(|verb| head.get(..verb.len()).is_some_and(|h| h.eq_ignore_ascii_case(verb.as_bytes())))
}

/// One bound parameter. Only the scalar types that `sqlx::Any` maps on both engines.
#[derive(Debug, Clone)]
pub enum Param {
    Text(Option<String>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
}

/// A Rust type with a SQL counterpart; its NULL keeps the type, which PostgreSQL insists on.
pub trait SqlType: Into<Param> {
    const NULL: Param;
}

macro_rules! param_from {
    ($variant:ident: $($t:ty => $conv:expr),* $(,)?) => {
        $(impl From<$t> for Param {
            fn from(v: $t) -> Param { Param::$variant(Some(($conv)(v))) }
        }
        impl SqlType for $t {
            const NULL: Param = Param::$variant(None);
        })*
    };
}
param_from!(Text: String => |v| v, &str => str::to_string, &String => String::clone, &Id => |v: &Id| v.to_string(), Id => |v: Id| v.to_string());
param_from!(Text: Timestamp => |v: Timestamp| v.iso(), &Timestamp => |v: &Timestamp| v.iso());
param_from!(Int: i64 => |v| v, i32 => i64::from, u32 => i64::from, usize => |v: usize| v as i64, u64 => |v: u64| v as i64);
param_from!(Float: f64 => |v| v);
param_from!(Bool: bool => |v| v);

impl<T: SqlType> From<Option<T>> for Param {
    fn from(v: Option<T>) -> Param {
        match v {
            Some(v) => v.into(),
            None => T::NULL,
        }
    }
}

/// A statement under construction: text plus its parameters in order.
#[derive(Debug, Clone, Default)]
pub struct Sql {
    text: String,
    params: Vec<Param>,
}

impl Sql {
    pub fn new(text: impl Into<String>) -> Sql {
        Sql { text: text.into(), params: Vec::new() }
    }

    /// Adds a parameter for a `$N` already written in the text.
    pub fn arg(mut self, value: impl Into<Param>) -> Sql {
        self.params.push(value.into());
        self
    }

    /// Appends raw SQL text.
    pub fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder (`$N`) bound to `value`.
    pub fn push_bind(&mut self, value: impl Into<Param>) -> &mut Sql {
        self.params.push(value.into());
        self.text.push('$');
        self.text.push_str(&self.params.len().to_string());
        self
    }

    /// Appends ` LIMIT <limit> OFFSET <offset>` with both as integer literals. SQLite plans with
    /// the value of a bound LIMIT or OFFSET, so rebinding one re-prepares the statement on
    /// every execution (a tenth of an uncached directory page's CPU, BENCHMARKS.md, issue 17);
    /// integers written as text carry nothing a client could turn into SQL.
    pub fn push_page(&mut self, limit: i64, offset: i64) -> &mut Sql {
        self.push_limit(limit);
        self.text.push_str(" OFFSET ");
        self.text.push_str(&offset.to_string());
        self
    }

    /// Appends ` LIMIT <limit>` as an integer literal (see [`Sql::push_page`]).
    pub fn push_limit(&mut self, limit: i64) -> &mut Sql {
        self.text.push_str(" LIMIT ");
        self.text.push_str(&limit.to_string());
        self
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Appends another statement fragment, renumbering its `$N` placeholders after ours.
    pub fn append(mut self, other: Sql) -> Sql {
        let offset = self.params.len();
        let renumbered = regex_placeholder().replace_all(&other.text, |c: &regex::Captures| {
            format!("${}", c[1].parse::<usize>().unwrap_or(0) + offset)
        });
        self.text.push_str(&renumbered);
        self.params.extend(other.params);
        self
    }

    fn build(&self) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
        let mut q = sqlx::query(AssertSqlSafe(self.text.clone()));
        for p in &self.params {
            q = match p {
                Param::Text(v) => q.bind(v.clone()),
                Param::Int(v) => q.bind(*v),
                Param::Float(v) => q.bind(*v),
                Param::Bool(v) => q.bind(*v),
            };
        }
        q
    }
}

fn regex_placeholder() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"\$(\d+)").expect("valid regex"))
}

/// The counters a pool's statements move: all of them, and those that change data
/// (INSERT/UPDATE/DELETE/REPLACE and transaction control), so reads are `all - writes`.
#[derive(Debug, Clone, Copy)]
pub struct QueryMetrics {
    pub all: &'static str,
    pub writes: &'static str,
}

/// The application's statements; job-store statements have their own counters.
pub const APP_QUERIES: QueryMetrics = QueryMetrics { all: "nyaya_db_queries_total", writes: "nyaya_db_writes_total" };

impl Db {
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Db> {
        Db::connect_counted_as(url, max_connections, APP_QUERIES).await
    }

    /// A pool whose statements count in `metric` (e.g. the job store's, kept apart from the
    /// application's database load).
    pub async fn connect_counted_as(url: &str, max_connections: u32, metric: QueryMetrics) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite: or postgres:");
        };
        if backend == Backend::Sqlite {
            create_sqlite_parent_dir(url)?;
        }
        // No ping before each acquisition: a broken connection fails its statement instead,
        // and under a burst the ping doubles the round trips that hold a connection.
        let mut options = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .test_before_acquire(false);
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    // WAL lets readers run beside the writer; busy_timeout queues writers.
                    // Every commit empties the other connections' page caches, so without a
                    // memory map each read copies its pages in again with pread, more of them
                    // as the database grows; mapped, it reads the file's cached pages in place.
                    sqlx::raw_sql(
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; \
                         PRAGMA foreign_keys=ON; PRAGMA mmap_size=1073741824;",
                    )
                    .execute(conn)
                    .await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await.with_context(|| format!("connecting to {}", redact_url(url)))?;
        let write_gate = (backend == Backend::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(())));
        Ok(Db { pool, backend, metric, write_gate })
    }

    /// Counts a statement, then takes the write gate if it writes (SQLite only).
    async fn start(&self, sql: &str) -> sqlx::Result<Option<tokio::sync::OwnedMutexGuard<()>>> {
        let write = self.count_query(sql);
        match &self.write_gate {
            Some(gate) if write => self.enter(gate).await.map(Some),
            _ => Ok(None),
        }
    }

    async fn enter(&self, gate: &Arc<tokio::sync::Mutex<()>>) -> sqlx::Result<tokio::sync::OwnedMutexGuard<()>> {
        tokio::time::timeout(WRITE_GATE_TIMEOUT, gate.clone().lock_owned()).await.map_err(|_| sqlx::Error::PoolTimedOut)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Counts a statement; true when it writes.
    fn count_query(&self, sql: &str) -> bool {
        count_statement(self.metric, sql)
    }

    pub async fn migrate(&self) -> anyhow::Result<usize> {
        migrate::run(self).await
    }

    pub async fn ping(&self) -> sqlx::Result<()> {
        self.count_query("SELECT 1");
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ())
    }

    pub async fn all(&self, sql: &Sql) -> sqlx::Result<Vec<AnyRow>> {
        let _gate = self.start(&sql.text).await?;
        sql.build().fetch_all(&self.pool).await
    }

    pub async fn one(&self, sql: &Sql) -> sqlx::Result<AnyRow> {
        let _gate = self.start(&sql.text).await?;
        sql.build().fetch_one(&self.pool).await
    }

    pub async fn opt(&self, sql: &Sql) -> sqlx::Result<Option<AnyRow>> {
        let _gate = self.start(&sql.text).await?;
        sql.build().fetch_optional(&self.pool).await
    }

    /// Runs a statement and returns the number of rows it changed.
    pub async fn exec(&self, sql: &Sql) -> sqlx::Result<u64> {
        let _gate = self.start(&sql.text).await?;
        Ok(sql.build().execute(&self.pool).await?.rows_affected())
    }

    /// A single integer result, such as `SELECT COUNT(*)`.
    pub async fn count(&self, sql: &Sql) -> sqlx::Result<i64> {
        let row = self.one(sql).await?;
        row.try_get::<i64, _>(0)
    }

    /// A transaction. SQLite takes the write lock up front (`BEGIN IMMEDIATE`) so two writers
    /// queue on busy_timeout instead of failing on a lock upgrade.
    pub async fn begin(&self) -> sqlx::Result<Tx> {
        self.count_query("BEGIN");
        let gate = match &self.write_gate {
            Some(gate) => Some(self.enter(gate).await?),
            None => None,
        };
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(Tx { tx, metric: self.metric, _gate: gate })
    }

    pub async fn raw(&self, text: &str) -> sqlx::Result<()> {
        self.count_query(text);
        sqlx::raw_sql(AssertSqlSafe(text.to_string())).execute(&self.pool).await.map(|_| ())
    }

    pub async fn close(&self) {
        self.pool.close().await
    }
}

/// Counts one statement and tells whether it writes; `RUST_LOG=nyaya::sql=trace` also logs
/// its text (parameters never), to find which statements dominate a workload.
fn count_statement(metric: QueryMetrics, sql: &str) -> bool {
    metrics::counter!(metric.all).increment(1);
    let write = is_write(sql);
    if write || matches!(sql, "BEGIN" | "COMMIT") {
        metrics::counter!(metric.writes).increment(1);
    }
    tracing::trace!(target: "nyaya::sql", "{}", sql.split_whitespace().collect::<Vec<_>>().join(" "));
    write
}

pub struct Tx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    metric: QueryMetrics,
    /// Released when the transaction ends (commit, or rollback on drop).
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Tx {
    fn count_query(&self, sql: &str) {
        count_statement(self.metric, sql);
    }
    pub async fn all(&mut self, sql: &Sql) -> sqlx::Result<Vec<AnyRow>> {
        self.count_query(&sql.text);
        sql.build().fetch_all(&mut *self.tx).await
    }
    pub async fn opt(&mut self, sql: &Sql) -> sqlx::Result<Option<AnyRow>> {
        self.count_query(&sql.text);
        sql.build().fetch_optional(&mut *self.tx).await
    }
    pub async fn one(&mut self, sql: &Sql) -> sqlx::Result<AnyRow> {
        self.count_query(&sql.text);
        sql.build().fetch_one(&mut *self.tx).await
    }
    pub async fn exec(&mut self, sql: &Sql) -> sqlx::Result<u64> {
        self.count_query(&sql.text);
        Ok(sql.build().execute(&mut *self.tx).await?.rows_affected())
    }
    pub async fn commit(self) -> sqlx::Result<()> {
        self.count_query("COMMIT");
        self.tx.commit().await
    }
}

/// Typed getters that read the same on both engines.
pub trait RowExt {
    fn text(&self, col: &str) -> sqlx::Result<String>;
    fn text_opt(&self, col: &str) -> sqlx::Result<Option<String>>;
    fn int(&self, col: &str) -> sqlx::Result<i64>;
    fn int_opt(&self, col: &str) -> sqlx::Result<Option<i64>>;
    fn float_opt(&self, col: &str) -> sqlx::Result<Option<f64>>;
    fn flag(&self, col: &str) -> sqlx::Result<bool>;
    fn id(&self, col: &str) -> sqlx::Result<Id>;
    fn id_opt(&self, col: &str) -> sqlx::Result<Option<Id>>;
    /// A JSON document stored as TEXT; NULL reads as `null`.
    fn json(&self, col: &str) -> sqlx::Result<serde_json::Value>;
    /// An ISO-8601 timestamp stored as TEXT.
    fn timestamp(&self, col: &str) -> sqlx::Result<Timestamp>;
    fn timestamp_opt(&self, col: &str) -> sqlx::Result<Option<Timestamp>>;
}

fn decode_err(col: &str, e: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::ColumnDecode { index: col.to_string(), source: Box::new(e) }
}

impl RowExt for AnyRow {
    fn text(&self, col: &str) -> sqlx::Result<String> {
        self.try_get(col)
    }
    fn text_opt(&self, col: &str) -> sqlx::Result<Option<String>> {
        self.try_get(col)
    }
    fn int(&self, col: &str) -> sqlx::Result<i64> {
        self.try_get(col)
    }
    fn int_opt(&self, col: &str) -> sqlx::Result<Option<i64>> {
        self.try_get(col)
    }
    fn float_opt(&self, col: &str) -> sqlx::Result<Option<f64>> {
        // SQLite hands back integers for whole numbers stored in REAL-affinity columns.
        match self.try_get::<Option<f64>, _>(col) {
            Ok(v) => Ok(v),
            Err(_) => Ok(self.try_get::<Option<i64>, _>(col)?.map(|v| v as f64)),
        }
    }
    fn flag(&self, col: &str) -> sqlx::Result<bool> {
        match self.try_get::<bool, _>(col) {
            Ok(v) => Ok(v),
            Err(_) => Ok(self.try_get::<i64, _>(col)? != 0),
        }
    }
    fn id(&self, col: &str) -> sqlx::Result<Id> {
        self.text(col)?.parse().map_err(|e| decode_err(col, e))
    }
    fn id_opt(&self, col: &str) -> sqlx::Result<Option<Id>> {
        self.text_opt(col)?.map(|s| s.parse().map_err(|e| decode_err(col, e))).transpose()
    }
    fn json(&self, col: &str) -> sqlx::Result<serde_json::Value> {
        match self.text_opt(col)? {
            None => Ok(serde_json::Value::Null),
            Some(raw) => serde_json::from_str(&raw).map_err(|e| decode_err(col, e)),
        }
    }
    fn timestamp(&self, col: &str) -> sqlx::Result<Timestamp> {
        self.text(col)?.parse().map_err(|e| decode_err(col, e))
    }
    fn timestamp_opt(&self, col: &str) -> sqlx::Result<Option<Timestamp>> {
        self.text_opt(col)?.map(|s| s.parse().map_err(|e| decode_err(col, e))).transpose()
    }
}

/// Whether an error is a unique-constraint violation (a concurrent duplicate).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|c| c == "23505" || c == "2067" || c == "1555")
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern: user search text is literal.
pub fn like_pattern(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Hides the password of a connection URL for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

fn create_sqlite_parent_dir(url: &str) -> anyhow::Result<()> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path.starts_with(":memory:") {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_a\\"), "%50\\%\\_a\\\\%");
        assert_eq!(like_pattern("Ravi"), "%ravi%");
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }

    #[test]
    fn writes_are_told_from_reads() {
        assert!(is_write("INSERT INTO t VALUES ($1)"));
        assert!(is_write("\n  update t SET a = 1"));
        assert!(is_write("DELETE FROM t"));
        assert!(!is_write("SELECT * FROM t"));
        assert!(!is_write("WITH x AS (SELECT 1) SELECT * FROM x"));
        assert!(!is_write(""));
        assert!(!is_write("INS"));
        assert!(is_write("replace INTO t VALUES (1)"));
    }

    #[test]
    fn push_bind_numbers_placeholders() {
        let mut sql = Sql::new("SELECT * FROM t WHERE a = ");
        sql.push_bind("x").push(" AND b = ").push_bind(3i64);
        assert_eq!(sql.text(), "SELECT * FROM t WHERE a = $1 AND b = $2");
    }
}
