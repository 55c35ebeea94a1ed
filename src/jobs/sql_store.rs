//! Jobs in a SQL table (`nyaya_jobs`): SQLite (its own file) or PostgreSQL. A running job's
//! `run_at` holds its lease end, so "due" covers both waiting jobs and abandoned leases.

use async_trait::async_trait;
use sqlx::any::AnyRow;

use super::{Claimed, JobRecord, JobState, NewJob, Queue, QueueCounts, Store, iso_ms};
use crate::db::{Backend as DbBackend, Db, QueryMetrics, RowExt, Sql};

/// The job store's statements, kept apart from the application's database load.
const JOB_STORE_QUERIES: QueryMetrics =
    QueryMetrics { all: "nyaya_job_store_queries_total", writes: "nyaya_job_store_writes_total" };

pub struct SqlStore {
    db: Db,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS nyaya_jobs (
    id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    run_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL
)";

const INDEX: &str = "CREATE INDEX IF NOT EXISTS nyaya_jobs_due ON nyaya_jobs (queue, state, run_at)";

/// Rows per INSERT when pushing many jobs (bound parameters stay far below both engines' limits).
const PUSH_CHUNK: usize = 500;

impl SqlStore {
    pub async fn connect(url: &str) -> anyhow::Result<SqlStore> {
        let db = Db::connect_counted_as(url, 8, JOB_STORE_QUERIES).await?;
        db.raw(SCHEMA).await?;
        db.raw(INDEX).await?;
        Ok(SqlStore { db })
    }

    /// A running job, if still at the claimed attempt, to `state` (ready: back in line at
    /// `at`; failed: into the failed set, `at` being the failure time).
    async fn settle(&self, job: &Claimed, state: JobState, error: &str, at: i64) -> anyhow::Result<()> {
        let sql = Sql::new(
            "UPDATE nyaya_jobs SET state = $1, run_at = $2, last_error = $3 \
             WHERE id = $4 AND attempts = $5 AND state = 'running'",
        )
        .arg(state.as_str())
        .arg(at)
        .arg(error)
        .arg(job.id.as_str())
        .arg(job.attempt as i64);
        self.db.exec(&sql).await?;
        Ok(())
    }

    fn claim_sql(&self, queue: Queue, limit: usize, now: i64, lease_until: i64) -> Sql {
        // PostgreSQL: concurrent claimers skip each other's rows instead of waiting for them.
        let lock = match self.db.backend() {
            DbBackend::Postgres => " FOR UPDATE SKIP LOCKED",
            DbBackend::Sqlite => "",
        };
        Sql::new(format!(
            "UPDATE nyaya_jobs SET state = 'running', attempts = attempts + 1, run_at = $1 \
             WHERE id IN (SELECT id FROM nyaya_jobs WHERE queue = $2 AND state IN ('ready', 'running') AND run_at <= $3 \
             ORDER BY run_at LIMIT {limit}{lock}) \
             RETURNING id, payload, attempts, max_attempts"
        ))
        .arg(lease_until)
        .arg(queue.as_str())
        .arg(now)
    }
}

fn record(row: &AnyRow) -> sqlx::Result<JobRecord> {
    let payload = row.text("payload")?;
    Ok(JobRecord {
        id: row.text("id")?,
        queue: row.text("queue")?,
        state: JobState::parse(&row.text("state")?),
        attempts: row.int("attempts")? as u32,
        max_attempts: row.int("max_attempts")? as u32,
        last_error: row.text_opt("last_error")?,
        run_at: iso_ms(row.int("run_at")?),
        created_at: iso_ms(row.int("created_at")?),
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload)),
    })
}

const RECORD_COLUMNS: &str = "id, queue, payload, state, attempts, max_attempts, run_at, last_error, created_at";

#[async_trait]
impl Store for SqlStore {
    async fn push(&self, jobs: &[NewJob]) -> anyhow::Result<()> {
        let created = super::now_ms();
        for chunk in jobs.chunks(PUSH_CHUNK) {
            let mut sql = Sql::new(
                "INSERT INTO nyaya_jobs (id, queue, payload, state, attempts, max_attempts, run_at, created_at) VALUES ",
            );
            for (i, job) in chunk.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" });
                sql.push_bind(job.id.as_str()).push(", ");
                sql.push_bind(job.queue.as_str()).push(", ");
                sql.push_bind(job.payload.as_str()).push(", 'ready', 0, ");
                sql.push_bind(job.max_attempts as i64).push(", ");
                sql.push_bind(job.run_at).push(", ");
                sql.push_bind(created).push(")");
            }
            self.db.exec(&sql).await?;
        }
        Ok(())
    }

    async fn claim(&self, queue: Queue, limit: usize, now: i64, lease_until: i64) -> anyhow::Result<Vec<Claimed>> {
        let rows = self.db.all(&self.claim_sql(queue, limit, now, lease_until)).await?;
        rows.iter()
            .map(|row| {
                Ok(Claimed {
                    id: row.text("id")?,
                    queue,
                    payload: row.text("payload")?,
                    attempt: row.int("attempts")? as u32,
                    max_attempts: row.int("max_attempts")? as u32,
                })
            })
            .collect()
    }

    async fn complete(&self, _queue: Queue, done: &[(String, u32)]) -> anyhow::Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        let mut sql = Sql::new("DELETE FROM nyaya_jobs WHERE state = 'running' AND (");
        for (i, (id, attempt)) in done.iter().enumerate() {
            sql.push(if i == 0 { "(id = " } else { " OR (id = " });
            sql.push_bind(id.as_str()).push(" AND attempts = ");
            sql.push_bind(*attempt as i64).push(")");
        }
        sql.push(")");
        self.db.exec(&sql).await?;
        Ok(())
    }

    async fn retry_later(&self, job: &Claimed, error: &str, run_at: i64) -> anyhow::Result<()> {
        self.settle(job, JobState::Ready, error, run_at).await
    }

    async fn bury(&self, job: &Claimed, error: &str, now: i64) -> anyhow::Result<()> {
        self.settle(job, JobState::Failed, error, now).await
    }

    async fn list(
        &self,
        queue: Option<Queue>,
        state: JobState,
        limit: u32,
        offset: u32,
    ) -> anyhow::Result<(Vec<JobRecord>, u64)> {
        let mut filter = Sql::new(" WHERE state = $1").arg(state.as_str());
        if let Some(q) = queue {
            filter.push(" AND queue = ").push_bind(q.as_str());
        }
        // Failed jobs newest first; waiting ones in the order they will run.
        let order = if state == JobState::Failed { "run_at DESC" } else { "run_at ASC" };
        let total = self.db.count(&Sql::new("SELECT COUNT(*) FROM nyaya_jobs").append(filter.clone())).await?;
        let mut page = Sql::new(format!("SELECT {RECORD_COLUMNS} FROM nyaya_jobs")).append(filter);
        page.push(&format!(" ORDER BY {order}, id")).push_page(limit as i64, offset as i64);
        let rows = self.db.all(&page).await?;
        let records = rows.iter().map(record).collect::<sqlx::Result<Vec<_>>>()?;
        Ok((records, total as u64))
    }

    async fn get(&self, id: &str) -> anyhow::Result<Option<JobRecord>> {
        let row =
            self.db.opt(&Sql::new(format!("SELECT {RECORD_COLUMNS} FROM nyaya_jobs WHERE id = $1")).arg(id)).await?;
        Ok(row.as_ref().map(record).transpose()?)
    }

    async fn revive(&self, id: &str, now: i64) -> anyhow::Result<bool> {
        let changed = self
            .db
            .exec(
                &Sql::new("UPDATE nyaya_jobs SET state = 'ready', attempts = 0, run_at = $1 WHERE id = $2 AND state = 'failed'")
                    .arg(now)
                    .arg(id),
            )
            .await?;
        Ok(changed > 0)
    }

    async fn discard(&self, id: &str) -> anyhow::Result<bool> {
        let changed =
            self.db.exec(&Sql::new("DELETE FROM nyaya_jobs WHERE id = $1 AND state = 'failed'").arg(id)).await?;
        Ok(changed > 0)
    }

    async fn counts(&self, now: i64) -> anyhow::Result<Vec<QueueCounts>> {
        let rows = self
            .db
            .all(
                &Sql::new(
                    "SELECT queue, \
                     SUM(CASE WHEN state = 'ready' AND run_at <= $1 THEN 1 ELSE 0 END) AS ready, \
                     SUM(CASE WHEN state = 'ready' AND run_at > $1 THEN 1 ELSE 0 END) AS scheduled, \
                     SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END) AS running, \
                     SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) AS failed \
                     FROM nyaya_jobs GROUP BY queue",
                )
                .arg(now),
            )
            .await?;
        let mut counts: Vec<QueueCounts> =
            Queue::ALL.iter().map(|q| QueueCounts { queue: q.as_str().to_string(), ..Default::default() }).collect();
        for row in rows {
            let queue = row.text("queue")?;
            if let Some(c) = counts.iter_mut().find(|c| c.queue == queue) {
                c.ready = row.int("ready")? as u64;
                c.scheduled = row.int("scheduled")? as u64;
                c.running = row.int("running")? as u64;
                c.failed = row.int("failed")? as u64;
            }
        }
        Ok(counts)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        Ok(self.db.ping().await?)
    }
}
