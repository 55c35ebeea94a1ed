//! A worker process (`nyaya cluster-worker`, started by the supervisor): the whole API server
//! on an inherited listening socket, reporting to the supervisor over an inherited Unix socket.
//!
//! Descriptors: [`LISTEN_FD`] is the slot's public socket (shared with the supervisor and, during
//! a reload, with the worker that replaces this one); [`CONTROL_FD`] is this worker's end of a
//! socket pair. The worker writes one JSON message per line ([`Report`]). It drains and exits on
//! SIGTERM, on Ctrl-C, and when the supervisor's end closes (the supervisor died).

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, RawFd};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::startup;

pub const LISTEN_FD: RawFd = 3;
pub const CONTROL_FD: RawFd = 4;

/// How often a worker reports its counters.
pub const REPORT_EVERY: Duration = Duration::from_millis(250);

/// What a worker tells its supervisor.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Report {
    /// Serving: the state is built and the accept loop runs. `ops` is this worker's own ops
    /// listener (loopback, ephemeral port), where the supervisor reads its metrics.
    Ready {
        ops: SocketAddr,
    },
    Stats {
        requests: u64,
        connections: i64,
    },
    /// A graceful stop began.
    Draining,
}

impl Report {
    pub fn line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("serializable");
        line.push('\n');
        line
    }
}

/// Runs one worker until it is told to stop, then drains within `shutdown_timeout`.
pub async fn run(config: Config, slot: usize, shutdown_timeout: Duration) -> anyhow::Result<()> {
    // SAFETY: the supervisor placed these descriptors (see the module doc) and nothing else in
    // this process owns them.
    let (listener, control) = unsafe {
        (std::net::TcpListener::from_raw_fd(LISTEN_FD), std::os::unix::net::UnixStream::from_raw_fd(CONTROL_FD))
    };
    listener.set_nonblocking(true)?;
    control.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener).context("inherited listening socket")?;
    let control = tokio::net::UnixStream::from_std(control).context("inherited control socket")?;
    let (mut from_supervisor, mut to_supervisor) = control.into_split();

    let app = startup::build(config).await?;
    let ops = TcpListener::bind("127.0.0.1:0").await.context("binding the worker's ops listener")?;
    let running = startup::start(app, listener, ops).await?;
    to_supervisor.write_all(Report::Ready { ops: running.admin_addr }.line().as_bytes()).await?;
    tracing::info!(slot, pid = std::process::id(), "worker ready");

    let activity = running.activity();
    let reporter = tokio::spawn(async move {
        let mut tick = tokio::time::interval(REPORT_EVERY);
        loop {
            tick.tick().await;
            let stats = Report::Stats { requests: activity.requests(), connections: activity.connections() };
            let draining = if activity.is_draining() { Report::Draining.line() } else { Default::default() };
            if to_supervisor.write_all(format!("{draining}{}", stats.line()).as_bytes()).await.is_err() {
                return;
            }
        }
    });

    let supervisor_gone = async {
        let mut buf = [0u8; 64];
        while matches!(from_supervisor.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    tokio::select! {
        _ = startup::shutdown_signal() => tracing::info!(slot, "worker draining"),
        _ = supervisor_gone => tracing::warn!(slot, "supervisor gone: worker draining"),
    }
    let result = running.shutdown(shutdown_timeout).await;
    reporter.abort();
    result
}
