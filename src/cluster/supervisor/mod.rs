//! The supervisor (`nyaya serve --workers N`): owns the public port ([`PortGroup`]), starts one
//! worker process per slot, replaces crashed workers with exponential backoff within a restart
//! budget, replaces workers over `--max-memory`, reloads them one at a time on SIGHUP or
//! `nyaya reload`, and stops them in order on SIGTERM. Its own ops listener (`ADMIN_ADDR`)
//! serves the cluster's `/metrics` (every worker's, labelled `worker="<id>"`), `/ready` and
//! `/cluster/status`; `DATA_DIR/nyaya.sock` answers `nyaya status` and `nyaya reload`.
//!
//! This file holds the options, the state the slots share and the orchestration (start, reload,
//! stop); `process` is one worker process, `slot` one slot's lifecycle, `control` the control
//! socket and `ops` the ops router.

mod control;
mod ops;
mod process;
mod slot;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use self::control::{claim_control_socket, serve_control};
use self::ops::ops_router;
use self::process::WorkerInfo;
use self::slot::{Slot, SlotCmd};
use super::listener::{Balance, PortGroup};
use super::status::{self, ClusterStatus, WorkerStatus};
use crate::config::Config;

pub use self::ops::merge_metrics;
pub use self::slot::backoff;

/// How the cluster runs (the flags of `nyaya serve`).
#[derive(Debug, Clone)]
pub struct Options {
    pub workers: usize,
    pub max_memory: Option<u64>,
    pub balance: Balance,
    /// Crashes of one slot allowed within `restart_window` before it is given up.
    pub max_restarts: u32,
    pub restart_window: Duration,
    pub shutdown_timeout: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The status of one slot, shared with the status readers.
#[derive(Default)]
struct SlotView {
    current: Option<Arc<Mutex<WorkerInfo>>>,
    retiring: Vec<Arc<Mutex<WorkerInfo>>>,
    restarts: u32,
    restart_pending: bool,
    errored: bool,
}

/// What the slots, the control socket and the ops router share.
struct Shared {
    opts: Options,
    exe: PathBuf,
    started: Instant,
    group: Mutex<PortGroup>,
    views: Vec<Mutex<SlotView>>,
    reloading: AtomicBool,
    stopping: AtomicBool,
}

impl Shared {
    fn view(&self, slot: usize) -> MutexGuard<'_, SlotView> {
        lock(&self.views[slot])
    }

    fn status(&self) -> ClusterStatus {
        let row = |id: usize, view: &SlotView, info: Option<&WorkerInfo>, retiring: bool| {
            let status = match info {
                _ if view.errored && !retiring => "errored",
                _ if view.restart_pending && !retiring => "restarting",
                Some(i) if i.draining || retiring => "draining",
                Some(i) if i.ready => "online",
                Some(_) => "starting",
                None => "stopped",
            };
            WorkerStatus {
                id,
                pid: info.map(|i| i.pid),
                status: status.into(),
                uptime_secs: info.map_or(0.0, |i| i.started.elapsed().as_secs_f64()),
                restarts: view.restarts,
                // A worker younger than the first sample is measured now.
                memory_bytes: info.map_or(0, |i| match i.sampled_at {
                    Some(_) => i.sample.rss_bytes,
                    None => status::sample_process(i.pid).map_or(0, |s| s.rss_bytes),
                }),
                cpu_percent: info.map_or(0.0, |i| i.cpu_percent),
                requests: info.map_or(0, |i| i.requests),
                sockets: info.map_or(0, |i| i.connections),
            }
        };
        let mut workers = Vec::new();
        for id in 0..self.views.len() {
            let view = self.view(id);
            let current = view.current.as_ref().map(|i| lock(i));
            workers.push(row(id, &view, current.as_deref(), false));
            for old in &view.retiring {
                workers.push(row(id, &view, Some(&lock(old)), true));
            }
        }
        ClusterStatus {
            pid: std::process::id(),
            listen: lock(&self.group).local_addr().to_string(),
            uptime_secs: self.started.elapsed().as_secs_f64(),
            balance: self.opts.balance.to_string(),
            max_memory: self.opts.max_memory,
            reloading: self.reloading.load(Ordering::Relaxed),
            workers,
        }
    }
}

/// The running cluster: shared state and each slot's command channel.
struct Cluster {
    shared: Arc<Shared>,
    slots: Vec<mpsc::Sender<SlotCmd>>,
}

impl Cluster {
    /// Replaces the workers one at a time; a worker whose replacement fails keeps serving.
    async fn reload(&self) -> Result<String, String> {
        if self.shared.stopping.load(Ordering::Relaxed) {
            return Err("the supervisor is stopping".into());
        }
        if self.shared.reloading.swap(true, Ordering::SeqCst) {
            return Err("a reload is already in progress".into());
        }
        tracing::info!(workers = self.slots.len(), "rolling reload: replacing the workers one at a time");
        let started = Instant::now();
        let mut failed = Vec::new();
        for (id, slot) in self.slots.iter().enumerate() {
            let (done, answer) = oneshot::channel();
            if slot.send(SlotCmd::Replace { done }).await.is_err() {
                break;
            }
            match answer.await {
                Ok(Ok(())) => tracing::info!(worker = id, "reload: worker replaced"),
                Ok(Err(e)) => {
                    tracing::error!(worker = id, error = %e, "reload: the new worker failed; the old one serves on");
                    failed.push(format!("worker {id}: {e}"));
                }
                Err(_) => break,
            }
        }
        self.shared.reloading.store(false, Ordering::SeqCst);
        if failed.is_empty() {
            let message = format!("reloaded {} workers in {:.1}s", self.slots.len(), started.elapsed().as_secs_f64());
            tracing::info!("{message}");
            Ok(message)
        } else {
            Err(failed.join("; "))
        }
    }

    /// Every worker drains at once; bounded by the shutdown timeout (then SIGKILL).
    async fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let waits = self.slots.iter().map(|slot| async move {
            let (done, finished) = oneshot::channel();
            if slot.send(SlotCmd::Stop { done }).await.is_ok() {
                let _ = finished.await;
            }
        });
        let bound = self.shared.opts.shutdown_timeout + Duration::from_secs(3);
        if tokio::time::timeout(bound, futures::future::join_all(waits)).await.is_err() {
            tracing::warn!("workers still running after the shutdown timeout: killing them");
            for id in 0..self.shared.views.len() {
                let view = self.shared.view(id);
                for info in view.current.iter().chain(&view.retiring) {
                    // SAFETY: kill has no memory-safety preconditions; these children are not
                    // reaped until the supervisor exits.
                    unsafe { libc::kill(lock(info).pid as libc::pid_t, libc::SIGKILL) };
                }
            }
        }
    }

    fn all_errored(&self) -> bool {
        self.shared.views.iter().all(|v| lock(v).errored)
    }
}

/// `nyaya serve --workers N`: until SIGTERM or Ctrl-C.
pub async fn run(config: Config, opts: Options) -> anyhow::Result<()> {
    if opts.workers > 1 && config.redis_url.is_none() {
        bail!(
            "--workers {} needs Redis: set REDIS_URL. The workers share cache invalidations and Socket.IO \
             rooms through it; without it each worker would serve stale entries and miss other workers' \
             events. One process (no --workers) already uses every core.",
            opts.workers
        );
    }
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("creating {}", config.data_dir.display()))?;
    let control = claim_control_socket(&status::control_path(&config.data_dir)).await?;
    // Once, before any worker starts: concurrent migrators would race.
    let db = crate::db::Db::connect(&config.database_url, 2).await?;
    db.migrate().await.context("running migrations")?;
    db.close().await;

    let public: SocketAddr = format!("{}:{}", config.host, config.port).parse().context("HOST/PORT")?;
    let group = PortGroup::bind(public, opts.workers, opts.balance).with_context(|| format!("binding {public}"))?;
    let admin = config.admin_addr;
    let admin_listener = TcpListener::bind(admin).await.with_context(|| format!("binding ops listener {admin}"))?;
    let shared = Arc::new(Shared {
        exe: std::env::current_exe().context("locating the nyaya binary")?,
        started: Instant::now(),
        group: Mutex::new(group),
        views: (0..opts.workers).map(|_| Mutex::new(SlotView::default())).collect(),
        reloading: AtomicBool::new(false),
        stopping: AtomicBool::new(false),
        opts,
    });
    let slots = (0..shared.opts.workers)
        .map(|id| {
            let (tx, rx) = mpsc::channel(4);
            tokio::spawn(Slot::new(shared.clone(), id).run(rx));
            tx
        })
        .collect();
    let cluster = Arc::new(Cluster { shared: shared.clone(), slots });
    let listen = lock(&shared.group).local_addr();
    let (workers, balance) = (shared.opts.workers, shared.opts.balance);
    tracing::info!(%listen, ops = %admin, workers, %balance, "nyaya supervisor started");

    let ops = axum::serve(admin_listener, ops_router(cluster.clone()));
    tokio::spawn(async move { ops.await });
    tokio::spawn(serve_control(control.0, cluster.clone()));

    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut check = tokio::time::interval(Duration::from_secs(1));
    let outcome = loop {
        tokio::select! {
            _ = crate::startup::shutdown_signal() => break Ok(()),
            _ = hangup.recv() => {
                let cluster = cluster.clone();
                tokio::spawn(async move {
                    if let Err(e) = cluster.reload().await {
                        tracing::error!(error = %e, "reload failed");
                    }
                });
            }
            _ = check.tick() => if cluster.all_errored() {
                break Err(anyhow::anyhow!("every worker gave up after repeated crashes; see the log lines above"));
            }
        }
    };
    tracing::info!(timeout = ?shared.opts.shutdown_timeout, "supervisor stopping: draining every worker");
    cluster.shutdown().await;
    let _ = std::fs::remove_file(&control.1);
    tracing::info!("supervisor stopped");
    outcome
}
