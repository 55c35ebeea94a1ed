//! Workers: per queue, one loop claims due jobs in batches up to the free concurrency,
//! runs each in its own task, and one acknowledger records outcomes in batches, so a store
//! round trip is shared by many jobs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Claimed, Jobs, Queue, now_ms};

/// Jobs claimed in one round trip at most.
const MAX_BATCH: usize = 256;
/// Outcomes recorded in one round trip at most.
const MAX_ACK_BATCH: usize = 512;

/// Why a job did not finish.
#[derive(Debug)]
pub enum JobError {
    /// Worth another attempt (a service was down, a timeout).
    Retry(String),
    /// Will never succeed (a malformed payload): straight to the failed set.
    Fatal(String),
}

impl JobError {
    pub fn retry(err: impl std::fmt::Display) -> JobError {
        JobError::Retry(err.to_string())
    }
    pub fn fatal(err: impl std::fmt::Display) -> JobError {
        JobError::Fatal(err.to_string())
    }
}

/// The work of one queue. Must be idempotent: a job can run again after a crash.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn run(&self, job: &Claimed) -> Result<(), JobError>;
}

/// The workers of this process; stop them with [`Workers::shutdown`].
pub struct Workers {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Workers {
    pub fn start(jobs: &Jobs, handlers: Vec<(Queue, Arc<dyn Handler>)>) -> Workers {
        let stop = CancellationToken::new();
        let tasks = handlers
            .into_iter()
            .map(|(queue, handler)| {
                let concurrency = jobs.settings().concurrency(queue);
                tracing::info!(%queue, concurrency, backend = jobs.backend().as_str(), "job worker started");
                tokio::spawn(work(jobs.clone(), queue, handler, concurrency, stop.clone()))
            })
            .collect();
        Workers { stop, tasks }
    }

    /// Stops claiming, lets jobs in flight finish for up to `timeout` and records their
    /// outcomes. Jobs still running after that keep their lease and run again elsewhere.
    pub async fn shutdown(mut self, timeout: Duration) {
        self.stop.cancel();
        let all = futures::future::join_all(std::mem::take(&mut self.tasks));
        if tokio::time::timeout(timeout + Duration::from_secs(2), all).await.is_err() {
            tracing::warn!("job workers did not stop in time");
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

type Outcome = (Claimed, Result<(), JobError>);

async fn work(jobs: Jobs, queue: Queue, handler: Arc<dyn Handler>, concurrency: usize, stop: CancellationToken) {
    let settings = jobs.settings().clone();
    let slots = Arc::new(Semaphore::new(concurrency));
    let (done_tx, done_rx) = mpsc::unbounded_channel::<Outcome>();
    let acks = tokio::spawn(acknowledge(jobs.clone(), queue, done_rx));
    let running = TaskTracker::new();
    let store_down = AtomicBool::new(false);
    loop {
        let first = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("semaphore is never closed"),
            _ = stop.cancelled() => break,
        };
        let free = slots.available_permits() + 1;
        let now = now_ms();
        let lease_until = now + settings.lease.as_millis() as i64;
        let batch = match jobs.store().claim(queue, free.min(MAX_BATCH), now, lease_until).await {
            Ok(batch) => {
                if store_down.swap(false, Ordering::Relaxed) {
                    tracing::info!(%queue, "job store reachable again");
                }
                batch
            }
            Err(e) => {
                if !store_down.swap(true, Ordering::Relaxed) {
                    tracing::error!(%queue, error = %format!("{e:#}"), "job store unavailable; workers retry until it is back");
                }
                drop(first);
                idle(&jobs, queue, settings.poll_interval.max(Duration::from_secs(1)), &stop).await;
                continue;
            }
        };
        if batch.is_empty() {
            drop(first);
            idle(&jobs, queue, settings.poll_interval, &stop).await;
            continue;
        }
        let mut permits = std::iter::once(first)
            .chain(std::iter::from_fn(|| slots.clone().try_acquire_owned().ok()))
            .take(batch.len());
        for job in batch {
            let permit = permits.next().expect("a batch never exceeds the free slots");
            let handler = handler.clone();
            let done = done_tx.clone();
            running.spawn(async move {
                let result = run_one(handler.as_ref(), &job).await;
                let _ = done.send((job, result));
                drop(permit);
            });
        }
    }
    running.close();
    running.wait().await;
    drop(done_tx);
    let _ = acks.await;
}

/// Waits for a local enqueue, the poll interval, or the stop.
async fn idle(jobs: &Jobs, queue: Queue, wait: Duration, stop: &CancellationToken) {
    tokio::select! {
        _ = jobs.wake_handle(queue).notified() => {}
        _ = tokio::time::sleep(wait) => {}
        _ = stop.cancelled() => {}
    }
}

async fn run_one(handler: &dyn Handler, job: &Claimed) -> Result<(), JobError> {
    if job.attempt > job.max_attempts {
        // Its last attempt's worker vanished (lease ran out).
        return Err(JobError::Fatal(format!(
            "abandoned on its last attempt ({} of {})",
            job.max_attempts, job.max_attempts
        )));
    }
    match std::panic::AssertUnwindSafe(handler.run(job)).catch_unwind().await {
        Ok(result) => result,
        Err(_) => Err(JobError::Retry("the handler panicked".into())),
    }
}

/// Records outcomes: successes in batches, failures one by one (rare).
async fn acknowledge(jobs: Jobs, queue: Queue, mut outcomes: mpsc::UnboundedReceiver<Outcome>) {
    let settings = jobs.settings().clone();
    let store = jobs.store().clone();
    while let Some(first) = outcomes.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_ACK_BATCH {
            match outcomes.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let mut done = Vec::with_capacity(batch.len());
        for (job, result) in batch {
            let outcome = match result {
                Ok(()) => {
                    done.push((job.id, job.attempt));
                    continue;
                }
                Err(JobError::Retry(error)) if job.attempt < job.max_attempts => {
                    let delay = settings.backoff(job.attempt);
                    tracing::warn!(%queue, job = %job.id, attempt = job.attempt, max = job.max_attempts, retry_in = ?delay, %error, "job failed; will retry");
                    let at = now_ms() + delay.as_millis() as i64;
                    (store.retry_later(&job, &error, at).await, "retried")
                }
                Err(JobError::Retry(error) | JobError::Fatal(error)) => {
                    tracing::error!(%queue, job = %job.id, attempt = job.attempt, %error, "job failed for good; moved to the failed set");
                    (store.bury(&job, &error, now_ms()).await, "failed")
                }
            };
            record(queue, outcome.1, outcome.0);
        }
        if !done.is_empty() {
            let count = done.len() as u64;
            let result = with_retries(|| store.complete(queue, &done)).await;
            if result.is_ok() {
                metrics::counter!("nyaya_jobs_total", "queue" => queue.as_str(), "outcome" => "completed")
                    .increment(count);
            } else {
                record(queue, "completed", result);
            }
        }
    }
}

fn record(queue: Queue, outcome: &'static str, stored: anyhow::Result<()>) {
    match stored {
        Ok(()) => metrics::counter!("nyaya_jobs_total", "queue" => queue.as_str(), "outcome" => outcome).increment(1),
        // The lease runs out and the job runs again; handlers are idempotent.
        Err(e) => {
            tracing::error!(%queue, outcome, error = %format!("{e:#}"), "could not record a job outcome; the job will run again")
        }
    }
}

/// A store call retried briefly, so a blip does not re-run a batch of finished jobs.
async fn with_retries<F, Fut>(mut call: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut delay = Duration::from_millis(50);
    for _ in 0..5 {
        match call().await {
            Ok(()) => return Ok(()),
            Err(_) => tokio::time::sleep(delay).await,
        }
        delay *= 2;
    }
    call().await
}
