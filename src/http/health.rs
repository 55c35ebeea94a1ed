//! Health (docs/api.md 3.10): public, no envelope, 503 when the database does not answer.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/health", get(health)).route("/health/ping", get(ping))
}

struct DbCheck {
    healthy: bool,
    millis: u128,
    error: Option<String>,
}

async fn check_db(state: &AppState) -> DbCheck {
    let start = Instant::now();
    let result = tokio::time::timeout(std::time::Duration::from_secs(3), state.db.ping()).await;
    let millis = start.elapsed().as_millis();
    match result {
        Ok(Ok(())) => DbCheck { healthy: true, millis, error: None },
        Ok(Err(e)) => DbCheck { healthy: false, millis, error: Some(e.to_string()) },
        Err(_) => DbCheck { healthy: false, millis, error: Some("database ping timed out".into()) },
    }
}

fn status_word(healthy: bool) -> &'static str {
    if healthy { "healthy" } else { "unhealthy" }
}

fn code(healthy: bool) -> StatusCode {
    if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }
}

fn hours(state: &AppState) -> String {
    format!("{:.2} hours", state.started_at.elapsed().as_secs_f64() / 3600.0)
}

#[utoipa::path(get, path = "/api/health", tag = "health", responses((status = 200, description = "Service and database are healthy"), (status = 503, description = "Database unavailable")))]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let start = Instant::now();
    let db = check_db(&state).await;
    let backend = match state.db.backend() {
        crate::db::Backend::Sqlite => "sqlite",
        crate::db::Backend::Postgres => "postgresql",
    };
    let database = if db.healthy {
        json!({"status": "healthy", "state": "connected", "responseTime": format!("{}ms", db.millis), "database": backend})
    } else {
        json!({"status": "unhealthy", "error": db.error, "state": "error"})
    };
    let body = json!({
        "status": status_word(db.healthy),
        "timestamp": crate::time::now_iso(),
        "responseTime": format!("{}ms", start.elapsed().as_millis()),
        "services": {
            "database": database,
            "redis": {"status": "healthy", "note": if state.config.redis_url.is_some() { "configured" } else { "not configured: in-process cache" }, "connected": state.config.redis_url.is_some(), "monitored": false},
        },
        "system": {
            "cpu": {"cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), "platform": std::env::consts::OS, "arch": std::env::consts::ARCH},
        },
        "application": {
            "version": env!("CARGO_PKG_VERSION"),
            "environment": state.config.env.as_str(),
            "uptime": hours(&state),
        },
        "note": null,
    });
    (code(db.healthy), Json(body))
}

#[utoipa::path(get, path = "/api/health/ping", tag = "health", responses((status = 200, description = "Alive"), (status = 503, description = "Database unavailable")))]
pub async fn ping(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let start = Instant::now();
    let db = check_db(&state).await;
    let body = json!({
        "status": status_word(db.healthy),
        "timestamp": crate::time::now_iso(),
        "responseTime": format!("{}ms", start.elapsed().as_millis()),
        "database": status_word(db.healthy),
        "uptime": hours(&state),
    });
    (code(db.healthy), Json(body))
}
