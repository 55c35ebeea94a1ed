//! Admin routes over the background job queues: counts per queue, the failed set, retry and
//! discard. Never cached: an admin acting on the failed set must see it as it is.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde_json::json;

use super::docs::AdminOnly;
use super::extract::{Admin, Params};
use super::respond::Envelope;
use crate::error::{AppError, AppResult};
use crate::jobs::{JobState, Queue};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(list))
        .route("/stats", get(stats))
        .route("/{jobId}", get(details).delete(discard))
        .route("/{jobId}/retry", post(retry))
}

fn job_id(raw: &str) -> AppResult<&str> {
    crate::ids::Id::is_valid(raw).then_some(raw).ok_or_else(|| AppError::bad_request("Invalid job id"))
}

#[utoipa::path(get, path = "/api/admin/jobs/stats", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "`data: {backend, queues: [{queue, ready, scheduled, running, failed}]}`"),
        AdminOnly,
    ))]
pub async fn stats(State(state): State<AppState>, Admin(_admin): Admin) -> AppResult<Envelope> {
    let queues = state.jobs.counts().await?;
    Ok(Envelope::data(json!({"backend": state.jobs.backend().as_str(), "queues": queues})))
}

#[utoipa::path(get, path = "/api/admin/jobs", tag = "admin", security(("bearer" = [])),
    params(
        ("state" = Option<String>, Query, description = "failed (default), ready or running"),
        ("queue" = Option<String>, Query, description = "email, files or noop; all queues when absent"),
        ("page" = Option<i64>, Query, description = "Page, from 1 to 1000000 (400 beyond)"),
        ("limit" = Option<i64>, Query, description = "Items per page, 1..100 (default 20)"),
    ),
    responses(
        (status = 200, description = "`data: {jobs: [{id, queue, state, attempts, maxAttempts, lastError, runAt, \
            createdAt, payload}], pagination: {current, pages, total}}`"),
        (status = 400, description = "Unknown state or queue"),
        AdminOnly,
    ))]
pub async fn list(State(state): State<AppState>, Admin(_admin): Admin, params: Params) -> AppResult<Envelope> {
    let job_state: JobState = params.get("state").unwrap_or("failed").parse().map_err(AppError::bad_request)?;
    let queue: Option<Queue> = params.filter("queue").map(str::parse).transpose().map_err(AppError::bad_request)?;
    let page = params.page(20)?;
    let (jobs, total) = state.jobs.list(queue, job_state, page.limit as u32, page.offset() as u32).await?;
    Ok(Envelope::data(json!({
        "jobs": jobs,
        "pagination": {"current": page.page, "pages": page.pages(total as i64), "total": total},
    })))
}

#[utoipa::path(get, path = "/api/admin/jobs/{jobId}", tag = "admin", security(("bearer" = [])),
    params(("jobId" = String, Path, description = "24-hex job id")),
    responses((status = 200, description = "`data: {job}`"), (status = 404, description = "Job not found"), AdminOnly))]
pub async fn details(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    Path(raw): Path<String>,
) -> AppResult<Envelope> {
    let job = state.jobs.get(job_id(&raw)?).await?.ok_or_else(|| AppError::not_found("Job not found"))?;
    Ok(Envelope::data(json!({"job": job})))
}

#[utoipa::path(post, path = "/api/admin/jobs/{jobId}/retry", tag = "admin", security(("bearer" = [])),
    params(("jobId" = String, Path, description = "24-hex id of a failed job")),
    responses(
        (status = 200, description = "The job is back in its queue with fresh attempts"),
        (status = 404, description = "No failed job with this id"),
        AdminOnly,
    ))]
pub async fn retry(State(state): State<AppState>, Admin(admin): Admin, Path(raw): Path<String>) -> AppResult<Envelope> {
    if !state.jobs.retry_failed(job_id(&raw)?).await? {
        return Err(AppError::not_found("Failed job not found"));
    }
    tracing::info!(job = %raw, admin = %admin.id, "failed job retried by an admin");
    Ok(Envelope::message("Job queued for retry"))
}

#[utoipa::path(delete, path = "/api/admin/jobs/{jobId}", tag = "admin", security(("bearer" = [])),
    params(("jobId" = String, Path, description = "24-hex id of a failed job")),
    responses(
        (status = 200, description = "The failed job is deleted"),
        (status = 404, description = "No failed job with this id"),
        AdminOnly,
    ))]
pub async fn discard(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(raw): Path<String>,
) -> AppResult<Envelope> {
    if !state.jobs.discard_failed(job_id(&raw)?).await? {
        return Err(AppError::not_found("Failed job not found"));
    }
    tracing::info!(job = %raw, admin = %admin.id, "failed job discarded by an admin");
    Ok(Envelope::message("Job discarded"))
}
