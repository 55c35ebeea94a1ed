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

use crate::app::{Activity, AppState};

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
