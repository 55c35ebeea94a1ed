//! One slot's lifecycle: its current worker, restarts after a crash (with backoff, within the
//! restart budget), replacement on reload or over `--max-memory`, and its stop.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::{mpsc, oneshot};

use super::process::{Worker, describe};
use super::{Shared, lock};
use crate::cluster::status;

/// How long a new worker may take to report ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// A worker over `--max-memory` is gone this long after its replacement is ready, at most.
const MEMORY_DRAIN: Duration = Duration::from_secs(3);
/// Memory, CPU and the `--max-memory` check.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Delay before restarting a slot that crashed `crashes` times within the window: at once for
/// the first, then 100 ms doubling up to 10 s.
pub fn backoff(crashes: usize) -> Duration {
    match crashes {
        0 | 1 => Duration::ZERO,
        n => Duration::from_millis(100u64 << (n - 2).min(7)).min(Duration::from_secs(10)),
    }
}

/// The exit of the slot's worker; never, while it has none.
async fn exit_of(current: &mut Option<Worker>) -> ExitStatus {
    match current.as_mut() {
        Some(worker) => worker.exited().await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `at`; never, without one.
async fn until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

pub(super) enum SlotCmd {
    /// Start a new worker, wait until it is ready, then drain the old one (or start the slot
    /// again if it had given up).
    Replace {
        done: oneshot::Sender<Result<(), String>>,
    },
    Stop {
        done: oneshot::Sender<()>,
    },
}

enum Event {
    Command(Option<SlotCmd>),
    Exited(ExitStatus),
    RestartDue,
    Sample,
}

/// Runs one slot: its current worker, restarts, memory checks and replacements.
pub(super) struct Slot {
    shared: Arc<Shared>,
    id: usize,
    current: Option<Worker>,
    crashes: VecDeque<Instant>,
    restart_at: Option<tokio::time::Instant>,
}

impl Slot {
    pub(super) fn new(shared: Arc<Shared>, id: usize) -> Self {
        Slot { shared, id, current: None, crashes: VecDeque::new(), restart_at: None }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<SlotCmd>) {
        self.start_worker();
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let restart_at = self.restart_at;
            let event = tokio::select! {
                cmd = commands.recv() => Event::Command(cmd),
                status = exit_of(&mut self.current) => Event::Exited(status),
                _ = until(restart_at) => Event::RestartDue,
                _ = tick.tick() => Event::Sample,
            };
            match event {
                Event::Command(None) => return,
                Event::Command(Some(SlotCmd::Stop { done })) => {
                    self.stop().await;
                    let _ = done.send(());
                    return;
                }
                Event::Command(Some(SlotCmd::Replace { done })) => {
                    let result = self.replace(self.shared.opts.shutdown_timeout).await;
                    let _ = done.send(result);
                }
                Event::Exited(status) => self.crashed(status),
                Event::RestartDue => {
                    self.restart_at = None;
                    self.shared.view(self.id).restart_pending = false;
                    self.start_worker();
                }
                Event::Sample => self.sample().await,
            }
        }
    }

    /// Starts a worker process on the slot's socket.
    fn spawn_worker(&self) -> anyhow::Result<Worker> {
        let socket = lock(&self.shared.group).socket(self.id).context("the slot has no socket")?;
        Worker::spawn(&self.shared.exe, self.id, &socket, self.shared.opts.shutdown_timeout)
    }

    /// Starts the slot's worker without waiting for it; a failure to start counts as a crash.
    fn start_worker(&mut self) {
        match self.spawn_worker() {
            Ok(worker) => {
                self.shared.view(self.id).current = Some(worker.info.clone());
                self.current = Some(worker);
            }
            Err(e) => {
                tracing::error!(worker = self.id, error = %format!("{e:#}"), "could not start worker");
                self.crashed(ExitStatus::from_raw(1 << 8));
            }
        }
    }

    fn crashed(&mut self, status: ExitStatus) {
        let pid = self.current.take().map(|w| w.pid);
        let opts = &self.shared.opts;
        let now = Instant::now();
        self.crashes.push_back(now);
        while self.crashes.front().is_some_and(|t| now.duration_since(*t) > opts.restart_window) {
            self.crashes.pop_front();
        }
        let mut view = self.shared.view(self.id);
        view.current = None;
        if self.crashes.len() > opts.max_restarts as usize {
            view.errored = true;
            drop(view);
            tracing::error!(
                worker = self.id,
                crashes = self.crashes.len(),
                window = ?opts.restart_window,
                "worker {} crashed {} times within {:?}: giving up on it; the other workers keep serving (`nyaya reload` starts it again)",
                self.id,
                self.crashes.len(),
                opts.restart_window
            );
            if let Err(e) = lock(&self.shared.group).remove(self.id) {
                tracing::error!(worker = self.id, error = %e, "could not take the slot out of the port");
            }
            return;
        }
        view.restarts += 1;
        view.restart_pending = true;
        drop(view);
        let delay = backoff(self.crashes.len());
        tracing::error!(
            worker = self.id,
            ?pid,
            exit = %describe(Some(status)),
            restart_in = ?delay,
            "worker exited unexpectedly; restarting it"
        );
        self.restart_at = Some(tokio::time::Instant::now() + delay);
    }

    /// A new worker on the same socket, ready before the old one drains: the socket keeps
    /// accepting throughout, so no connection is refused or reset.
    async fn replace(&mut self, drain_timeout: Duration) -> Result<(), String> {
        let revive = self.shared.view(self.id).errored;
        if revive {
            lock(&self.shared.group).add(self.id).map_err(|e| format!("could not reopen the slot's socket: {e}"))?;
        }
        let started = match self.spawn_worker() {
            Ok(mut new) => match new.become_ready(READY_TIMEOUT).await {
                Ok(()) => Ok(new),
                Err(e) => {
                    new.signal(libc::SIGKILL);
                    Err(e)
                }
            },
            Err(e) => Err(format!("{e:#}")),
        };
        let new = match started {
            Ok(new) => new,
            Err(e) => {
                if revive {
                    // Still given up: its clients stay with the other workers.
                    let _ = lock(&self.shared.group).remove(self.id);
                }
                return Err(e);
            }
        };
        self.restart_at = None;
        if revive {
            self.crashes.clear();
        }
        let old = self.current.replace(new);
        {
            let mut view = self.shared.view(self.id);
            view.current = self.current.as_ref().map(|w| w.info.clone());
            view.errored = false;
            view.restart_pending = false;
        }
        if let Some(old) = old {
            self.retire(old, drain_timeout).await;
        }
        Ok(())
    }

    /// SIGTERM (the worker drains), then SIGKILL if it is still there after `timeout`.
    async fn retire(&self, mut worker: Worker, timeout: Duration) {
        lock(&worker.info).draining = true;
        self.shared.view(self.id).retiring.push(worker.info.clone());
        worker.signal(libc::SIGTERM);
        if tokio::time::timeout(timeout + Duration::from_secs(1), worker.exited()).await.is_err() {
            tracing::warn!(
                worker = self.id,
                pid = worker.pid,
                "worker still running after the drain timeout: killing it"
            );
            worker.signal(libc::SIGKILL);
            worker.exited().await;
        }
        self.shared.view(self.id).retiring.retain(|i| !Arc::ptr_eq(i, &worker.info));
    }

    async fn stop(&mut self) {
        self.restart_at = None;
        self.shared.view(self.id).restart_pending = false;
        // Out of `current` before it joins `retiring`: a worker listed in both would be locked
        // twice by `status()` (a deadlock of `/metrics` or `nyaya status` during the drain).
        self.shared.view(self.id).current = None;
        if let Some(worker) = self.current.take() {
            self.retire(worker, self.shared.opts.shutdown_timeout).await;
        }
    }

    /// Memory and CPU of this slot's processes; a worker over `--max-memory` is replaced.
    async fn sample(&mut self) {
        let over = {
            let view = self.shared.view(self.id);
            for info in view.current.iter().chain(&view.retiring) {
                lock(info).resample();
            }
            let rss = view.current.as_ref().map_or(0, |i| lock(i).sample.rss_bytes);
            self.shared.opts.max_memory.filter(|max| rss > *max && !view.errored).map(|max| (rss, max))
        };
        let Some((rss, max)) = over else { return };
        tracing::warn!(
            worker = self.id,
            pid = self.current.as_ref().map(|w| w.pid),
            rss = %status::human_bytes(rss),
            max = %status::human_bytes(max),
            "worker over --max-memory: replacing it"
        );
        match self.replace(MEMORY_DRAIN).await {
            Ok(()) => self.shared.view(self.id).restarts += 1,
            Err(e) => tracing::error!(worker = self.id, error = %e, "could not replace the worker over --max-memory"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_zero_up_to_ten_seconds() {
        let delays: Vec<u64> = (1..=10).map(|n| backoff(n).as_millis() as u64).collect();
        assert_eq!(delays, [0, 100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
    }
}
