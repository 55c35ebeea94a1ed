//! Jobs in Redis. Per queue three sorted sets of job ids: `due` (scored by the time the job
//! may run), `running` (scored by lease end) and `failed` (scored by failure time); each job's
//! fields in a hash. Every state change is one Lua script, so it is atomic and one round trip
//! per batch: claiming 256 jobs or completing 256 jobs costs the same network time as one.

use async_trait::async_trait;
use redis::Script;
use redis::aio::ConnectionManager;

use super::{Claimed, JobRecord, JobState, NewJob, Queue, QueueCounts, Store, iso_ms};

pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    claim: Script,
    complete: Script,
    move_running: Script,
    revive: Script,
    discard: Script,
}

/// KEYS: due, running, queue index. ARGV: now, lease end, limit, job key prefix.
/// Abandoned leases (`running` entries past their end) are claimed like due jobs.
const CLAIM: &str = r#"
local out = {}
local function take(set, id)
  redis.call('ZREM', set, id)
  local key = ARGV[4] .. id
  if redis.call('EXISTS', key) == 0 then return end
  redis.call('ZADD', KEYS[2], ARGV[2], id)
  redis.call('HSET', key, 'state', 'running', 'run_at', ARGV[2])
  local attempt = redis.call('HINCRBY', key, 'attempts', 1)
  local f = redis.call('HMGET', key, 'payload', 'max_attempts')
  out[#out + 1] = id
  out[#out + 1] = attempt
  out[#out + 1] = f[1]
  out[#out + 1] = f[2]
end
local limit = tonumber(ARGV[3])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, limit)) do take(KEYS[2], id) end
local left = limit - #out / 4
if left > 0 then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, left)) do take(KEYS[1], id) end
end
return out
"#;

/// KEYS: running. ARGV: job key prefix, then pairs of id, attempt.
const COMPLETE: &str = r#"
for i = 2, #ARGV, 2 do
  local key = ARGV[1] .. ARGV[i]
  if redis.call('HGET', key, 'attempts') == ARGV[i + 1] and redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    redis.call('DEL', key)
  end
end
return 0
"#;

/// KEYS: running, destination set. ARGV: job key, id, attempt, error, score, new state.
const MOVE_RUNNING: &str = r#"
if redis.call('HGET', ARGV[1], 'attempts') ~= ARGV[3] then return 0 end
if redis.call('ZREM', KEYS[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[2])
redis.call('HSET', ARGV[1], 'last_error', ARGV[4], 'state', ARGV[6], 'run_at', ARGV[5])
return 1
"#;

/// KEYS: failed, due. ARGV: job key, id, now.
const REVIVE: &str = r#"
if redis.call('ZREM', KEYS[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', ARGV[1], 'attempts', 0, 'state', 'ready', 'run_at', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return 1
"#;

/// KEYS: failed. ARGV: job key, id.
const DISCARD: &str = r#"
if redis.call('ZREM', KEYS[1], ARGV[2]) == 0 then return 0 end
redis.call('DEL', ARGV[1])
return 1
"#;

impl RedisStore {
    pub fn connect(url: &str, prefix: &str) -> anyhow::Result<RedisStore> {
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("REDIS_URL is invalid: {e}"))?;
        // Lazy and bounded: an unreachable Redis delays email (enqueue falls back to sending from
        // the process, workers retry) instead of stopping the server from starting.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(std::time::Duration::from_secs(2)))
            .set_response_timeout(Some(std::time::Duration::from_secs(5)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| anyhow::anyhow!("Redis client for jobs: {e}"))?;
        Ok(RedisStore {
            conn,
            prefix: format!("{prefix}jobs:"),
            claim: Script::new(CLAIM),
            complete: Script::new(COMPLETE),
            move_running: Script::new(MOVE_RUNNING),
            revive: Script::new(REVIVE),
            discard: Script::new(DISCARD),
        })
    }

    fn set(&self, queue: &str, which: &str) -> String {
        format!("{}{queue}:{which}", self.prefix)
    }

    fn job_prefix(&self) -> String {
        format!("{}job:", self.prefix)
    }

    fn job_key(&self, id: &str) -> String {
        format!("{}job:{id}", self.prefix)
    }

    async fn queue_of(&self, id: &str) -> anyhow::Result<Option<String>> {
        Ok(redis::cmd("HGET").arg(self.job_key(id)).arg("queue").query_async(&mut self.conn.clone()).await?)
    }

    /// A running job to the due set (a retry) or the failed set, if still at `job.attempt`.
    async fn move_running(&self, job: &Claimed, error: &str, score: i64, to: JobState) -> anyhow::Result<()> {
        let queue = job.queue.as_str();
        let dest = match to {
            JobState::Failed => "failed",
            _ => "due",
        };
        let _: i64 = self
            .move_running
            .key(self.set(queue, "running"))
            .key(self.set(queue, dest))
            .arg(self.job_key(&job.id))
            .arg(&job.id)
            .arg(job.attempt)
            .arg(error)
            .arg(score)
            .arg(to.as_str())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    async fn records(&self, ids: &[String]) -> anyhow::Result<Vec<JobRecord>> {
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HGETALL").arg(self.job_key(id));
        }
        let maps: Vec<std::collections::HashMap<String, String>> = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(ids.iter().zip(maps).filter(|(_, m)| !m.is_empty()).map(|(id, m)| to_record(id, &m)).collect())
    }
}

fn to_record(id: &str, m: &std::collections::HashMap<String, String>) -> JobRecord {
    let int = |k: &str| m.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let payload = m.get("payload").cloned().unwrap_or_default();
    JobRecord {
        id: id.to_string(),
        queue: m.get("queue").cloned().unwrap_or_default(),
        state: JobState::parse(m.get("state").map(String::as_str).unwrap_or("ready")),
        attempts: int("attempts") as u32,
        max_attempts: int("max_attempts") as u32,
        last_error: m.get("last_error").cloned(),
        run_at: iso_ms(int("run_at")),
        created_at: iso_ms(int("created_at")),
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload)),
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn push(&self, jobs: &[NewJob]) -> anyhow::Result<()> {
        let created = super::now_ms();
        let mut pipe = redis::pipe();
        pipe.atomic();
        for job in jobs {
            pipe.cmd("HSET")
                .arg(self.job_key(job.id.as_str()))
                .arg("queue")
                .arg(job.queue.as_str())
                .arg("payload")
                .arg(&job.payload)
                .arg("state")
                .arg("ready")
                .arg("attempts")
                .arg(0)
                .arg("max_attempts")
                .arg(job.max_attempts)
                .arg("run_at")
                .arg(job.run_at)
                .arg("created_at")
                .arg(created)
                .ignore();
            pipe.cmd("ZADD").arg(self.set(job.queue.as_str(), "due")).arg(job.run_at).arg(job.id.as_str()).ignore();
        }
        let () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    async fn claim(&self, queue: Queue, limit: usize, now: i64, lease_until: i64) -> anyhow::Result<Vec<Claimed>> {
        let flat: Vec<redis::Value> = self
            .claim
            .key(self.set(queue.as_str(), "due"))
            .key(self.set(queue.as_str(), "running"))
            .arg(now)
            .arg(lease_until)
            .arg(limit)
            .arg(self.job_prefix())
            .invoke_async(&mut self.conn.clone())
            .await?;
        let mut out = Vec::with_capacity(flat.len() / 4);
        for chunk in flat.chunks_exact(4) {
            let id: String = redis::from_redis_value_ref(&chunk[0])?;
            let attempt: u32 = redis::from_redis_value_ref(&chunk[1])?;
            let payload: String = redis::from_redis_value_ref(&chunk[2])?;
            let max_attempts: u32 = redis::from_redis_value_ref(&chunk[3])?;
            out.push(Claimed { id, queue, payload, attempt, max_attempts });
        }
        Ok(out)
    }

    async fn complete(&self, queue: Queue, done: &[(String, u32)]) -> anyhow::Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        let mut invocation = self.complete.key(self.set(queue.as_str(), "running"));
        invocation.arg(self.job_prefix());
        for (id, attempt) in done {
            invocation.arg(id).arg(attempt);
        }
        let _: i64 = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    async fn retry_later(&self, job: &Claimed, error: &str, run_at: i64) -> anyhow::Result<()> {
        self.move_running(job, error, run_at, JobState::Ready).await
    }

    async fn bury(&self, job: &Claimed, error: &str, now: i64) -> anyhow::Result<()> {
        self.move_running(job, error, now, JobState::Failed).await
    }

    async fn list(
        &self,
        queue: Option<Queue>,
        state: JobState,
        limit: u32,
        offset: u32,
    ) -> anyhow::Result<(Vec<JobRecord>, u64)> {
        let which = match state {
            JobState::Ready => "due",
            JobState::Running => "running",
            JobState::Failed => "failed",
        };
        let queues: Vec<Queue> = queue.map(|q| vec![q]).unwrap_or_else(|| Queue::ALL.to_vec());
        // Few queues and admin-sized pages: gather each queue's first offset+limit, then cut.
        let mut entries: Vec<(String, f64)> = Vec::new();
        let mut total = 0u64;
        for q in queues {
            let key = self.set(q.as_str(), which);
            let mut conn = self.conn.clone();
            total += redis::cmd("ZCARD").arg(&key).query_async::<u64>(&mut conn).await?;
            let end = (offset + limit) as i64 - 1;
            let cmd = if state == JobState::Failed { "ZREVRANGE" } else { "ZRANGE" };
            let part: Vec<(String, f64)> =
                redis::cmd(cmd).arg(&key).arg(0).arg(end).arg("WITHSCORES").query_async(&mut conn).await?;
            entries.extend(part);
        }
        if state == JobState::Failed {
            entries.sort_by(|a, b| b.1.total_cmp(&a.1));
        } else {
            entries.sort_by(|a, b| a.1.total_cmp(&b.1));
        }
        let ids: Vec<String> =
            entries.into_iter().skip(offset as usize).take(limit as usize).map(|(id, _)| id).collect();
        Ok((self.records(&ids).await?, total))
    }

    async fn get(&self, id: &str) -> anyhow::Result<Option<JobRecord>> {
        Ok(self.records(&[id.to_string()]).await?.into_iter().next())
    }

    async fn revive(&self, id: &str, now: i64) -> anyhow::Result<bool> {
        let Some(queue) = self.queue_of(id).await? else { return Ok(false) };
        let revived: i64 = self
            .revive
            .key(self.set(&queue, "failed"))
            .key(self.set(&queue, "due"))
            .arg(self.job_key(id))
            .arg(id)
            .arg(now)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(revived == 1)
    }

    async fn discard(&self, id: &str) -> anyhow::Result<bool> {
        let Some(queue) = self.queue_of(id).await? else { return Ok(false) };
        let removed: i64 = self
            .discard
            .key(self.set(&queue, "failed"))
            .arg(self.job_key(id))
            .arg(id)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(removed == 1)
    }

    async fn counts(&self, now: i64) -> anyhow::Result<Vec<QueueCounts>> {
        let mut pipe = redis::pipe();
        for q in Queue::ALL {
            pipe.cmd("ZCOUNT").arg(self.set(q.as_str(), "due")).arg("-inf").arg(now);
            pipe.cmd("ZCOUNT").arg(self.set(q.as_str(), "due")).arg(format!("({now}")).arg("+inf");
            pipe.cmd("ZCARD").arg(self.set(q.as_str(), "running"));
            pipe.cmd("ZCARD").arg(self.set(q.as_str(), "failed"));
        }
        let n: Vec<u64> = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(Queue::ALL
            .iter()
            .zip(n.chunks_exact(4))
            .map(|(q, c)| QueueCounts {
                queue: q.as_str().to_string(),
                ready: c[0],
                scheduled: c[1],
                running: c[2],
                failed: c[3],
            })
            .collect())
    }

    async fn ping(&self) -> anyhow::Result<()> {
        let _: String = redis::cmd("PING").query_async(&mut self.conn.clone()).await?;
        Ok(())
    }
}
