//! Background jobs: durable queues for slow work (email, file processing), so a request
//! enqueues and answers at once.
//!
//! One store per deployment, chosen by configuration ([`Backend`]): a SQLite file beside the
//! database by default (jobs survive a restart), Redis, or PostgreSQL. Delivery is
//! at-least-once: a claimed job carries a lease; a worker killed mid-job leaves it leased, and
//! once the lease runs out any worker claims it again. Handlers are therefore idempotent
//! (email keeps a delivery record per job id). Failures are retried with exponential backoff
//! and jitter up to a maximum of attempts, then the job moves to the failed set, where an
//! admin can retry or discard it.
//!
//! Workers ([`runner`]) run inside `nyaya serve` unless `JOBS_WORKERS=off`, and alone with
//! `nyaya worker`.

pub mod dashboard;
mod redis_store;
pub mod runner;
mod sql_store;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::Notify;

use crate::ids::Id;

/// The queues of the platform. `Noop` does nothing: it measures a deployment's queue
/// throughput (`bench/jobs.sh`) and checks that its workers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Queue {
    Email,
    Files,
    Noop,
}

impl Queue {
    pub const ALL: [Queue; 3] = [Queue::Email, Queue::Files, Queue::Noop];

    pub fn as_str(self) -> &'static str {
        match self {
            Queue::Email => "email",
            Queue::Files => "files",
            Queue::Noop => "noop",
        }
    }
}

impl fmt::Display for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Queue {
    type Err = String;
    fn from_str(s: &str) -> Result<Queue, String> {
        Queue::ALL
            .into_iter()
            .find(|q| q.as_str() == s)
            .ok_or_else(|| format!("unknown queue {s:?} (queues: email, files, noop)"))
    }
}

/// Where jobs are kept (`JOBS_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `<DATA_DIR>/jobs.db`: its own file, so job churn never waits on the app's write lock.
    Sqlite,
    /// `REDIS_URL`.
    Redis,
    /// `DATABASE_URL` (a `nyaya_jobs` table).
    Postgres,
}

impl FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Backend, String> {
        match s {
            "sqlite" => Ok(Backend::Sqlite),
            "redis" => Ok(Backend::Redis),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(format!("{s:?} is not one of sqlite, redis, postgres")),
        }
    }
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Redis => "redis",
            Backend::Postgres => "postgres",
        }
    }
}

/// Queue settings, from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub backend: Backend,
    /// Run workers inside `nyaya serve` (`JOBS_WORKERS`, default on).
    pub workers_in_serve: bool,
    /// Jobs handled at once per queue by one process.
    pub concurrency: HashMap<Queue, usize>,
    pub max_attempts: u32,
    /// First retry delay; each further attempt doubles it, up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How long a claimed job is reserved for its worker before others may take it.
    pub lease: Duration,
    /// How often an idle worker looks for due jobs enqueued by other processes.
    pub poll_interval: Duration,
}

impl Settings {
    pub fn concurrency(&self, queue: Queue) -> usize {
        self.concurrency.get(&queue).copied().unwrap_or(1).max(1)
    }

    /// Exponential backoff with jitter: the nominal delay for this attempt, scaled by a random
    /// factor in [0.5, 1.0) so retries of a burst of failures spread out.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let nominal = self.retry_base.saturating_mul(1u32 << exp).min(self.retry_max);
        nominal.mul_f64(0.5 + rand::random::<f64>() / 2.0)
    }
}

/// A job to store.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: Id,
    pub queue: Queue,
    /// JSON of the handler's arguments.
    pub payload: String,
    pub max_attempts: u32,
    /// Milliseconds since the epoch before which the job must not run.
    pub run_at: i64,
}

/// A job a worker claimed. `attempt` counts from 1 and fences the job's later updates: a
/// worker whose lease ran out cannot complete or fail the newer attempt of another worker.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub queue: Queue,
    pub payload: String,
    pub attempt: u32,
    pub max_attempts: u32,
}

/// The state of a stored job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting (due now or scheduled for later).
    Ready,
    /// Claimed by a worker.
    Running,
    /// Out of attempts or refused; kept for an admin.
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Ready => "ready",
            JobState::Running => "running",
            JobState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> JobState {
        match s {
            "running" => JobState::Running,
            "failed" => JobState::Failed,
            _ => JobState::Ready,
        }
    }
}

impl FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<JobState, String> {
        match s {
            "ready" | "running" | "failed" => Ok(JobState::parse(s)),
            _ => Err(format!("{s:?} is not one of ready, running, failed")),
        }
    }
}

/// A stored job as the admin API and the dashboard show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    pub id: String,
    pub queue: String,
    pub state: JobState,
    pub attempts: u32,
    pub max_attempts: u32,
    pub last_error: Option<String>,
    /// ISO-8601: when it runs next (ready), its lease ends (running) or it failed (failed).
    pub run_at: String,
    pub created_at: String,
    pub payload: serde_json::Value,
}

impl JobRecord {
    /// An email's body can carry a one-time token (password reset, email confirmation): admins
    /// see whom it is for and its subject, never the body.
    fn redacted(mut self) -> JobRecord {
        if self.queue == Queue::Email.as_str() {
            let email = &self.payload["email"];
            self.payload = serde_json::json!({"email": {"to": email["to"], "subject": email["subject"]}});
        }
        self
    }
}

/// Jobs per state of one queue.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueCounts {
    pub queue: String,
    /// Due now.
    pub ready: u64,
    /// Waiting for a later time (delayed jobs and retries in backoff).
    pub scheduled: u64,
    pub running: u64,
    pub failed: u64,
}

/// What a store must do; one implementation per backend.
#[async_trait]
pub trait Store: Send + Sync {
    async fn push(&self, jobs: &[NewJob]) -> anyhow::Result<()>;
    /// Takes up to `limit` due jobs of `queue` (including jobs whose lease ran out) and leases
    /// them until `lease_until` (ms).
    async fn claim(&self, queue: Queue, limit: usize, now: i64, lease_until: i64) -> anyhow::Result<Vec<Claimed>>;
    /// Removes finished jobs of `queue` (id, attempt).
    async fn complete(&self, queue: Queue, done: &[(String, u32)]) -> anyhow::Result<()>;
    /// Puts a failed attempt back to run at `run_at` (ms).
    async fn retry_later(&self, job: &Claimed, error: &str, run_at: i64) -> anyhow::Result<()>;
    /// Moves a job to the failed set.
    async fn bury(&self, job: &Claimed, error: &str, now: i64) -> anyhow::Result<()>;
    async fn list(
        &self,
        queue: Option<Queue>,
        state: JobState,
        limit: u32,
        offset: u32,
    ) -> anyhow::Result<(Vec<JobRecord>, u64)>;
    async fn get(&self, id: &str) -> anyhow::Result<Option<JobRecord>>;
    /// A failed job back to ready with its attempts reset; false when it is not failed.
    async fn revive(&self, id: &str, now: i64) -> anyhow::Result<bool>;
    /// Deletes a failed job; false when it is not failed.
    async fn discard(&self, id: &str) -> anyhow::Result<bool>;
    async fn counts(&self, now: i64) -> anyhow::Result<Vec<QueueCounts>>;
    async fn ping(&self) -> anyhow::Result<()>;
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn iso_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The queue handle of the application: enqueue, inspect, and wake local workers.
#[derive(Clone)]
pub struct Jobs {
    store: Arc<dyn Store>,
    settings: Arc<Settings>,
    /// Wakes this process's idle workers of a queue when a job is enqueued here.
    wake: Arc<HashMap<Queue, Notify>>,
}

impl fmt::Debug for Jobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jobs").field("backend", &self.settings.backend).finish_non_exhaustive()
    }
}

/// How to delay a job.
#[derive(Debug, Clone, Copy, Default)]
pub enum When {
    #[default]
    Now,
    After(Duration),
}

/// Where each job store would live: the configuration's paths and URLs.
#[derive(Debug, Clone, Copy)]
pub struct StoreAt<'a> {
    /// `jobs.db` of the SQLite store goes here.
    pub data_dir: &'a std::path::Path,
    pub database_url: &'a str,
    pub redis_url: Option<&'a str>,
    pub redis_prefix: &'a str,
}

impl Jobs {
    /// Opens the job store `settings` name at the places `at` gives.
    pub async fn connect(settings: Settings, at: &StoreAt<'_>) -> anyhow::Result<Jobs> {
        let store: Arc<dyn Store> = match settings.backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}?mode=rwc", at.data_dir.join("jobs.db").display());
                Arc::new(sql_store::SqlStore::connect(&url).await?)
            }
            Backend::Postgres => {
                anyhow::ensure!(
                    at.database_url.starts_with("postgres"),
                    "JOBS_BACKEND=postgres needs DATABASE_URL=postgres://..."
                );
                Arc::new(sql_store::SqlStore::connect(at.database_url).await?)
            }
            Backend::Redis => {
                let url = at.redis_url.context("JOBS_BACKEND=redis needs REDIS_URL")?;
                Arc::new(redis_store::RedisStore::connect(url, at.redis_prefix)?)
            }
        };
        let wake = Queue::ALL.into_iter().map(|q| (q, Notify::new())).collect();
        Ok(Jobs { store, settings: Arc::new(settings), wake: Arc::new(wake) })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn backend(&self) -> Backend {
        self.settings.backend
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub(crate) fn wake_handle(&self, queue: Queue) -> &Notify {
        &self.wake[&queue]
    }

    /// Stores a job; returns its id (also the idempotency key its handler may use).
    pub async fn enqueue(&self, queue: Queue, payload: &impl Serialize, when: When) -> anyhow::Result<Id> {
        let job = self.new_job(queue, payload, when)?;
        let id = job.id.clone();
        self.push_all(vec![job]).await?;
        Ok(id)
    }

    pub fn new_job(&self, queue: Queue, payload: &impl Serialize, when: When) -> anyhow::Result<NewJob> {
        let delay = match when {
            When::Now => 0,
            When::After(d) => d.as_millis() as i64,
        };
        Ok(NewJob {
            id: Id::new(),
            queue,
            payload: serde_json::to_string(payload).context("encoding job payload")?,
            max_attempts: self.settings.max_attempts,
            run_at: now_ms() + delay,
        })
    }

    pub async fn push_all(&self, jobs: Vec<NewJob>) -> anyhow::Result<()> {
        self.store.push(&jobs).await?;
        for queue in Queue::ALL {
            let n = jobs.iter().filter(|j| j.queue == queue).count();
            if n > 0 {
                metrics::counter!("nyaya_jobs_enqueued_total", "queue" => queue.as_str()).increment(n as u64);
                self.wake[&queue].notify_one();
            }
        }
        Ok(())
    }

    /// Jobs as admins see them (email bodies withheld, see [`JobRecord::redacted`]).
    pub async fn list(
        &self,
        queue: Option<Queue>,
        state: JobState,
        limit: u32,
        offset: u32,
    ) -> anyhow::Result<(Vec<JobRecord>, u64)> {
        let (records, total) = self.store.list(queue, state, limit, offset).await?;
        Ok((records.into_iter().map(JobRecord::redacted).collect(), total))
    }

    pub async fn get(&self, id: &str) -> anyhow::Result<Option<JobRecord>> {
        Ok(self.store.get(id).await?.map(JobRecord::redacted))
    }

    /// Puts a failed job back in its queue with fresh attempts.
    pub async fn retry_failed(&self, id: &str) -> anyhow::Result<bool> {
        let revived = self.store.revive(id, now_ms()).await?;
        if revived {
            for notify in self.wake.values() {
                notify.notify_one();
            }
        }
        Ok(revived)
    }

    pub async fn discard_failed(&self, id: &str) -> anyhow::Result<bool> {
        self.store.discard(id).await
    }

    pub async fn counts(&self) -> anyhow::Result<Vec<QueueCounts>> {
        self.store.counts(now_ms()).await
    }

    pub async fn ping(&self) -> anyhow::Result<()> {
        self.store.ping().await
    }
}
