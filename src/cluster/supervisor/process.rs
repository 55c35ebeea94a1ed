//! One worker process: spawning it with its inherited descriptors, what it reports over its
//! control socket, signalling it, and describing how it exited.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use socket2::Socket;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;

use super::lock;
use crate::cluster::status::{self, ProcSample};
use crate::cluster::worker::{CONTROL_FD, LISTEN_FD, Report};

/// What the supervisor knows of one worker process.
#[derive(Debug)]
pub(super) struct WorkerInfo {
    pub(super) pid: u32,
    pub(super) started: Instant,
    pub(super) ready: bool,
    pub(super) draining: bool,
    pub(super) ops: Option<SocketAddr>,
    pub(super) requests: u64,
    pub(super) connections: i64,
    pub(super) sample: ProcSample,
    pub(super) sampled_at: Option<Instant>,
    pub(super) cpu_percent: f64,
}

impl WorkerInfo {
    pub(super) fn resample(&mut self) {
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
pub(super) struct Worker {
    pub(super) pid: u32,
    pub(super) info: Arc<Mutex<WorkerInfo>>,
    ready: watch::Receiver<bool>,
    exit: watch::Receiver<Option<ExitStatus>>,
}

impl Worker {
    /// Starts a worker process for `slot`, accepting on `socket`.
    pub(super) fn spawn(exe: &Path, slot: usize, socket: &Socket, shutdown_timeout: Duration) -> anyhow::Result<Self> {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.arg("cluster-worker")
            .arg("--slot")
            .arg(slot.to_string())
            .arg("--shutdown-timeout")
            .arg(format!("{}ms", shutdown_timeout.as_millis()))
            .env("ADMIN_ADDR", "127.0.0.1:0")
            .stdin(Stdio::null());
        let (listen_fd, control_fd) = (socket.as_raw_fd(), theirs.as_raw_fd());
        // SAFETY: the closure only calls async-signal-safe functions (setpgid, fcntl, dup2).
        unsafe {
            cmd.pre_exec(move || place_descriptors(listen_fd, control_fd));
        }
        let mut child = cmd.spawn().with_context(|| format!("starting {}", exe.display()))?;
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

    pub(super) fn signal(&self, signal: libc::c_int) {
        // Never signal a reaped pid: it may belong to another process by now.
        if self.exit.borrow().is_none() {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(self.pid as libc::pid_t, signal) };
        }
    }

    pub(super) async fn exited(&mut self) -> ExitStatus {
        match self.exit.wait_for(Option::is_some).await {
            Ok(status) => status.expect("checked"),
            Err(_) => ExitStatus::from_raw(0),
        }
    }

    /// True once ready; false if it exited (or `timeout` passed) first.
    pub(super) async fn become_ready(&mut self, timeout: Duration) -> Result<(), String> {
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

pub(super) fn describe(status: Option<ExitStatus>) -> String {
    match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (_, Some(sig)) => format!("killed by signal {sig}"),
            _ => s.to_string(),
        },
        None => "still running".into(),
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
