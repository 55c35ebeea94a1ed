//! The supervisor (`nyaya serve --workers N`): owns the public port ([`PortGroup`]), starts one
//! worker process per slot, replaces crashed workers with exponential backoff within a restart
//! budget, replaces workers over `--max-memory`, reloads them one at a time on SIGHUP or
//! `nyaya reload`, and stops them in order on SIGTERM. Its own ops listener (`ADMIN_ADDR`)
//! serves the cluster's `/metrics` (every worker's, labelled `worker="<id>"`), `/ready` and
//! `/cluster/status`; `DATA_DIR/nyaya.sock` answers `nyaya status` and `nyaya reload`.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use super::listener::{Balance, PortGroup};
use super::status::{self, ClusterStatus, ProcSample, WorkerStatus};
use super::worker::{CONTROL_FD, LISTEN_FD, Report};
use crate::config::Config;

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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the supervisor knows of one worker process.
#[derive(Debug)]
struct WorkerInfo {
    pid: u32,
    started: Instant,
    ready: bool,
    draining: bool,
    ops: Option<SocketAddr>,
    requests: u64,
    connections: i64,
    sample: ProcSample,
    sampled_at: Option<Instant>,
    cpu_percent: f64,
}

impl WorkerInfo {
    fn resample(&mut self) {
        let Some(sample) = status::sample_process(self.pid) else { return };
        let now = Instant::now();
        if let Some(at) = self.sampled_at {
            let wall = now.duration_since(at).as_secs_f64();
            let used = sample.cpu.saturating_sub(self.sample.cpu).as_secs_f64();
            self.cpu_percent = if wall > 0.0 { 100.0 * used / wall } else { 0.0 };
        }
        self.sample = sample;
        self.sampled_at = Some(now);
    }
}

/// A worker process: its pid, what it reports, and its exit once reaped.
struct Worker {
    pid: u32,
    info: Arc<Mutex<WorkerInfo>>,
    ready: watch::Receiver<bool>,
    exit: watch::Receiver<Option<ExitStatus>>,
}

impl Worker {
    fn signal(&self, signal: libc::c_int) {
        // Never signal a reaped pid: it may belong to another process by now.
        if self.exit.borrow().is_none() {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(self.pid as libc::pid_t, signal) };
        }
    }

    async fn exited(&mut self) -> ExitStatus {
        match self.exit.wait_for(Option::is_some).await {
            Ok(status) => status.expect("checked"),
            Err(_) => ExitStatus::from_raw(0),
        }
    }

    /// True once ready; false if it exited (or `timeout` passed) first.
    async fn become_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let mut exit = self.exit.clone();
        tokio::select! {
            ready = self.ready.wait_for(|r| *r) => ready.map(|_| ()).map_err(|_| "worker gone before ready".into()),
            status = exit.wait_for(Option::is_some) => {
                let status = describe(status.ok().and_then(|s| *s));
                Err(format!("worker exited before it was ready ({status})"))
            }
            _ = tokio::time::sleep(timeout) => Err(format!("worker not ready after {timeout:?}")),
        }
    }
}

fn describe(status: Option<ExitStatus>) -> String {
    match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (_, Some(sig)) => format!("killed by signal {sig}"),
            _ => s.to_string(),
        },
        None => "still running".into(),
    }
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

    /// Starts a worker process on `slot`'s socket.
    fn spawn_worker(&self, slot: usize) -> anyhow::Result<Worker> {
        let socket = lock(&self.group).socket(slot).context("the slot has no socket")?;
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        let mut cmd = tokio::process::Command::new(&self.exe);
        cmd.arg("cluster-worker")
            .arg("--slot")
            .arg(slot.to_string())
            .arg("--shutdown-timeout")
            .arg(format!("{}ms", self.opts.shutdown_timeout.as_millis()))
            .env("ADMIN_ADDR", "127.0.0.1:0")
            .stdin(Stdio::null());
        let (listen_fd, control_fd) = (socket.as_raw_fd(), theirs.as_raw_fd());
        // SAFETY: the closure only calls async-signal-safe functions (setpgid, fcntl, dup2).
        unsafe {
            cmd.pre_exec(move || place_descriptors(listen_fd, control_fd));
        }
        let mut child = cmd.spawn().with_context(|| format!("starting {}", self.exe.display()))?;
        drop(theirs);
        let pid = child.id().context("worker pid")?;
        let info = Arc::new(Mutex::new(WorkerInfo {
            pid,
            started: Instant::now(),
            ready: false,
            draining: false,
            ops: None,
            requests: 0,
            connections: 0,
            sample: ProcSample::default(),
            sampled_at: None,
            cpu_percent: 0.0,
        }));
        let (ready_tx, ready) = watch::channel(false);
        let (exit_tx, exit) = watch::channel(None);
        tokio::spawn(async move {
            let status = child.wait().await.unwrap_or_else(|_| ExitStatus::from_raw(1));
            let _ = exit_tx.send(Some(status));
        });
        ours.set_nonblocking(true)?;
        let control = tokio::net::UnixStream::from_std(ours)?;
        tokio::spawn(read_reports(control, info.clone(), ready_tx));
        Ok(Worker { pid, info, ready, exit })
    }
}

/// In the child before exec: its own process group (a terminal's Ctrl-C reaches only the
/// supervisor, which stops the workers in order) and the two inherited descriptors.
fn place_descriptors(listen: RawFd, control: RawFd) -> io::Result<()> {
    let check = |rc: libc::c_int| if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc) };
    // SAFETY: plain system calls on descriptors this process owns.
    unsafe {
        check(libc::setpgid(0, 0))?;
        // Move both out of the way first, in case either already sits at 3 or 4.
        let listen = check(libc::fcntl(listen, libc::F_DUPFD_CLOEXEC, 10))?;
        let control = check(libc::fcntl(control, libc::F_DUPFD_CLOEXEC, 10))?;
        check(libc::dup2(listen, LISTEN_FD))?;
        check(libc::dup2(control, CONTROL_FD))?;
    }
    Ok(())
}

async fn read_reports(control: tokio::net::UnixStream, info: Arc<Mutex<WorkerInfo>>, ready: watch::Sender<bool>) {
    let mut lines = BufReader::new(control).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(report) = serde_json::from_str::<Report>(&line) else { continue };
        let mut info = lock(&info);
        match report {
            Report::Ready { ops } => {
                info.ready = true;
                info.ops = Some(ops);
                let _ = ready.send(true);
            }
            Report::Stats { requests, connections } => {
                info.requests = requests;
                info.connections = connections;
            }
            Report::Draining => info.draining = true,
        }
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

enum SlotCmd {
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
struct Slot {
    shared: Arc<Shared>,
    id: usize,
    current: Option<Worker>,
    crashes: VecDeque<Instant>,
    restart_at: Option<tokio::time::Instant>,
}

impl Slot {
    async fn run(mut self, mut commands: mpsc::Receiver<SlotCmd>) {
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

    /// Starts the slot's worker without waiting for it; a failure to start counts as a crash.
    fn start_worker(&mut self) {
        match self.shared.spawn_worker(self.id) {
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
        let started = match self.shared.spawn_worker(self.id) {
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
            let slot = Slot { shared: shared.clone(), id, current: None, crashes: VecDeque::new(), restart_at: None };
            tokio::spawn(slot.run(rx));
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

/// The control socket, unless another supervisor already answers on it.
async fn claim_control_socket(path: &std::path::Path) -> anyhow::Result<(tokio::net::UnixListener, PathBuf)> {
    if path.exists() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            bail!("a nyaya supervisor is already running with this DATA_DIR (it answers on {})", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing the stale {}", path.display()))?;
    }
    // bind(2) creates the socket with the umask's mode; made inside a directory only we can
    // enter, then moved into place, it is never reachable by others before it is 0600.
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let parent = path.parent().unwrap_or(std::path::Path::new("."));
    let private = parent.join(format!(".nyaya-sock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .with_context(|| format!("creating {}", private.display()))?;
    let staged = private.join("nyaya.sock");
    let claimed = (|| -> anyhow::Result<tokio::net::UnixListener> {
        let listener =
            tokio::net::UnixListener::bind(&staged).with_context(|| format!("binding {}", staged.display()))?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&staged, path).with_context(|| format!("moving the control socket to {}", path.display()))?;
        Ok(listener)
    })();
    let _ = std::fs::remove_dir_all(&private);
    Ok((claimed?, path.to_path_buf()))
}

/// One command line per connection: `status` or `reload`; one JSON line back.
async fn serve_control(listener: tokio::net::UnixListener, cluster: Arc<Cluster>) {
    while let Ok((stream, _)) = listener.accept().await {
        let cluster = cluster.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(read.take(256)).read_line(&mut line).await.is_err() {
                return;
            }
            let answer = match line.trim() {
                "status" => serde_json::to_value(cluster.shared.status()).unwrap_or_default(),
                "reload" => match cluster.reload().await {
                    Ok(message) => serde_json::json!({"ok": true, "message": message}),
                    Err(error) => serde_json::json!({"ok": false, "error": error}),
                },
                other => serde_json::json!({"ok": false, "error": format!("unknown command {other:?}")}),
            };
            let _ = write.write_all(format!("{answer}\n").as_bytes()).await;
        });
    }
}

fn ops_router(cluster: Arc<Cluster>) -> Router {
    Router::new()
        .route("/metrics", get(cluster_metrics))
        .route("/ready", get(cluster_ready))
        .route("/live", get(crate::startup::ops::live))
        .route("/cluster/status", get(cluster_status))
        .with_state(cluster)
}

async fn cluster_status(State(cluster): State<Arc<Cluster>>) -> impl IntoResponse {
    axum::Json(cluster.shared.status())
}

/// Ready while at least one worker serves and the supervisor is not stopping.
async fn cluster_ready(State(cluster): State<Arc<Cluster>>) -> impl IntoResponse {
    let status = cluster.shared.status();
    let online = status.workers.iter().filter(|w| w.status == "online").count();
    if cluster.shared.stopping.load(Ordering::Relaxed) {
        (StatusCode::SERVICE_UNAVAILABLE, "stopping".to_string())
    } else if online == 0 {
        (StatusCode::SERVICE_UNAVAILABLE, "no worker online".to_string())
    } else {
        (StatusCode::OK, format!("ready: {online} of {} workers online", cluster.shared.opts.workers))
    }
}

/// The supervisor's own series, then every online worker's metrics with a `worker` label.
async fn cluster_metrics(State(cluster): State<Arc<Cluster>>) -> impl IntoResponse {
    let status = cluster.shared.status();
    let mut own = String::new();
    own += "# HELP nyaya_cluster_workers Worker processes by status\n# TYPE nyaya_cluster_workers gauge\n";
    for state in ["online", "starting", "draining", "restarting", "errored"] {
        let n = status.workers.iter().filter(|w| w.status == state).count();
        own += &format!("nyaya_cluster_workers{{status=\"{state}\"}} {n}\n");
    }
    let current: Vec<&WorkerStatus> = status.workers.iter().filter(|w| w.status != "draining").collect();
    // (metric name, type, help, value of one worker)
    type Series = (&'static str, &'static str, &'static str, fn(&WorkerStatus) -> f64);
    let series: [Series; 3] = [
        ("nyaya_worker_restarts_total", "counter", "Worker restarts (crashes and --max-memory replacements)", |w| {
            w.restarts as f64
        }),
        ("nyaya_worker_resident_memory_bytes", "gauge", "Resident memory of the worker process", |w| {
            w.memory_bytes as f64
        }),
        ("nyaya_worker_cpu_percent", "gauge", "CPU use of the worker process over the last second", |w| w.cpu_percent),
    ];
    for (name, kind, help, value) in series {
        own += &format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
        for w in &current {
            own += &format!("{name}{{worker=\"{}\"}} {}\n", w.id, value(w));
        }
    }
    let targets: Vec<(usize, SocketAddr)> = (0..cluster.shared.views.len())
        .filter_map(|id| {
            let view = cluster.shared.view(id);
            let info = view.current.as_ref().map(|i| lock(i));
            info.filter(|i| i.ready).and_then(|i| i.ops).map(|ops| (id, ops))
        })
        .collect();
    let fetches =
        targets.iter().map(|(id, ops)| async move { (id.to_string(), fetch_metrics(*ops).await.unwrap_or_default()) });
    let parts = futures::future::join_all(fetches).await;
    let body = own + &merge_metrics(&parts);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// `GET /metrics` from a worker's ops listener (loopback, HTTP/1.1, one request).
async fn fetch_metrics(ops: SocketAddr) -> Option<String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(ops).await.ok()?;
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: worker\r\nConnection: close\r\n\r\n").await.ok()?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.1 200").then(|| body.to_string())
    };
    tokio::time::timeout(Duration::from_secs(2), exchange).await.ok().flatten()
}

/// Merges Prometheus text from several workers into one exposition: each family once (its
/// HELP and TYPE from the first worker that has it), its samples from every worker together,
/// each with a `worker` label.
pub fn merge_metrics(parts: &[(String, String)]) -> String {
    struct Family {
        name: String,
        head: Vec<String>,
        samples: Vec<String>,
    }
    let mut families: Vec<Family> = Vec::new();
    let find = |families: &mut Vec<Family>, name: &str| -> usize {
        match families.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                families.push(Family { name: name.to_string(), head: Vec::new(), samples: Vec::new() });
                families.len() - 1
            }
        }
    };
    for (worker, text) in parts {
        let mut current: Option<usize> = None;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(rest) = line.strip_prefix("# HELP ").or_else(|| line.strip_prefix("# TYPE ")) {
                let name = rest.split_whitespace().next().unwrap_or_default();
                let i = find(&mut families, name);
                if !families[i].head.iter().any(|h| h == line)
                    && families[i].head.len() < 2
                    && families[i].samples.is_empty()
                {
                    families[i].head.push(line.to_string());
                }
                current = Some(i);
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let name = &line[..name_end];
            // Histogram and summary samples (`_bucket`, `_sum`, `_count`) belong to the family
            // declared just before them.
            let i = match current.filter(|i| name.starts_with(&families[*i].name)) {
                Some(i) => i,
                None => find(&mut families, name),
            };
            let labelled = match line[name_end..].strip_prefix('{') {
                Some(rest) if rest.starts_with('}') => format!("{name}{{worker=\"{worker}\"{rest}"),
                Some(rest) => format!("{name}{{worker=\"{worker}\",{rest}"),
                None => format!("{name}{{worker=\"{worker}\"}}{}", &line[name_end..]),
            };
            families[i].samples.push(labelled);
        }
    }
    let mut out = String::new();
    for family in families {
        for line in family.head.iter().chain(&family.samples) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_zero_up_to_ten_seconds() {
        let delays: Vec<u64> = (1..=10).map(|n| backoff(n).as_millis() as u64).collect();
        assert_eq!(delays, [0, 100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
    }

    #[test]
    fn metrics_merge_by_family_with_worker_labels() {
        let worker = |n: u64| {
            format!(
                "# HELP http_requests_total Requests\n# TYPE http_requests_total counter\nhttp_requests_total{{method=\"GET\"}} {n}\n\n\
                 # TYPE lat histogram\nlat_bucket{{le=\"0.1\"}} {n}\nlat_sum {n}\nlat_count {n}\n"
            )
        };
        let merged = merge_metrics(&[("0".into(), worker(1)), ("1".into(), worker(2))]);
        assert_eq!(
            merged,
            "# HELP http_requests_total Requests\n# TYPE http_requests_total counter\n\
             http_requests_total{worker=\"0\",method=\"GET\"} 1\nhttp_requests_total{worker=\"1\",method=\"GET\"} 2\n\
             # TYPE lat histogram\nlat_bucket{worker=\"0\",le=\"0.1\"} 1\nlat_sum{worker=\"0\"} 1\nlat_count{worker=\"0\"} 1\n\
             lat_bucket{worker=\"1\",le=\"0.1\"} 2\nlat_sum{worker=\"1\"} 2\nlat_count{worker=\"1\"} 2\n"
        );
    }
}
