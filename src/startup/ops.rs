//! The ops listener (`ADMIN_ADDR`, loopback by default): Prometheus metrics, readiness and the
//! job dashboard (`/jobs`),
//! kept off the public port. Under `--workers` each worker has one on an ephemeral loopback
//! port for the supervisor, whose own ops listener serves the cluster view
//! ([`crate::cluster::supervisor`]).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::Activity;
use crate::state::AppState;

#[derive(Clone)]
struct Ops {
    state: AppState,
    activity: Arc<Activity>,
}

pub fn router(state: AppState, activity: Arc<Activity>) -> Router {
    crate::telemetry::prometheus();
    Router::new()
        .route("/metrics", get(metrics))
        .route("/ready", get(ready))
        .route("/live", get(live))
        .merge(crate::jobs::dashboard::routes().with_state(state.jobs.clone()))
        .with_state(Ops { state, activity })
}

/// This process's metrics in the Prometheus text format.
pub fn metrics_text() -> String {
    crate::telemetry::prometheus().render()
}

async fn metrics() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], metrics_text())
}

/// Liveness: the process answers. Independent of the database, so that an outage of a shared
/// service does not make an orchestrator restart every instance.
pub async fn live() -> &'static str {
    "live"
}

/// 200 while the database answers and the server is not draining: a load balancer stops
/// sending new connections as soon as a graceful stop begins.
async fn ready(State(ops): State<Ops>) -> impl IntoResponse {
    if ops.activity.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining");
    }
    match ops.state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

/// `nyaya healthcheck` (the container image's health check): a GET of `path` on the ops
/// listener at `addr`, bounded by `timeout`; Ok when it answers 200. An unspecified address
/// (`0.0.0.0`, `[::]`: the listener bound to every interface) is reached over loopback.
pub fn probe(addr: std::net::SocketAddr, path: &str, timeout: std::time::Duration) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};

    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let target = SocketAddr::new(ip, addr.port());
    let url = format!("http://{target}{path}");
    let exchange = || -> std::io::Result<String> {
        let mut stream = TcpStream::connect_timeout(&target, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {target}\r\nConnection: close\r\n\r\n")?;
        let mut head = Vec::new();
        stream.take(4096).read_to_end(&mut head)?;
        Ok(String::from_utf8_lossy(&head).into_owned())
    };
    let answer = exchange().map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    let status = answer.lines().next().unwrap_or("");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").trim();
    match status.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        Some(code) => anyhow::bail!("{url}: {code} {body}"),
        None => anyhow::bail!("{url}: no HTTP answer"),
    }
}
