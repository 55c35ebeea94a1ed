//! The ops listener (`ADMIN_ADDR`, loopback by default): Prometheus metrics and readiness,
//! kept off the public port.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::app::AppState;

pub fn router(state: AppState) -> Router {
    crate::telemetry::prometheus();
    Router::new()
        .route("/metrics", get(metrics))
        .route("/ready", get(ready))
        .with_state(state)
}

async fn metrics() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], crate::telemetry::prometheus().render())
}

async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}
