//! Consultations (API.md 3.9). The two GET routes are cached per user (3.12); their access
//! checks run before the cache is consulted, on every request.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, patch, post};

use crate::app::AppState;
use crate::cache::{Cached, Lookup, policy};
use crate::error::AppResult;
use crate::http::extract::{Citizen, CurrentUser, JsonBody, Lawyer, Params, parse_id};
use crate::http::respond::Envelope;
use crate::service::consultations as service;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/request", post(request))
        .route("/", get(list))
        .route("/{consultationId}", get(get_one))
        .route("/{consultationId}/status", patch(update_status))
        .route("/{consultationId}/cancel", patch(cancel))
}

/// 3.9 #1.
async fn request(State(state): State<AppState>, Citizen(user): Citizen, JsonBody(body): JsonBody) -> AppResult<Envelope> {
    let data = service::request(&state, &user, &body).await?;
    Ok(Envelope::data(data).with_message("Consultation request created successfully").created())
}

/// 3.9 #2.
async fn list(State(state): State<AppState>, CurrentUser(user): CurrentUser, params: Params) -> AppResult<Cached> {
    let side = service::list_side(&user)?;
    let page = params.page(20);
    let status = params.filter("status").map(str::to_string);
    let lookup = Lookup { caller: Some(&user), params: &params, subject: None };
    state
        .cache
        .serve(&policy::CONSULTATIONS, lookup, || service::list(&state, &user, side, status.as_deref(), page))
        .await
}

/// 3.9 #3.
async fn get_one(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> AppResult<Cached> {
    let id = parse_id(&id, "consultation")?;
    service::check_party(&state, &user, &id).await?;
    let lookup = Lookup { caller: Some(&user), params: &params, subject: Some(&id) };
    state.cache.serve(&policy::CONSULTATION, lookup, || service::get(&state, &id)).await
}

/// 3.9 #4.
async fn update_status(
    State(state): State<AppState>,
    Lawyer(user): Lawyer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> AppResult<Envelope> {
    let id = parse_id(&id, "consultation")?;
    let data = service::update_status(&state, &user, &id, &body).await?;
    Ok(Envelope::data(data).with_message("Consultation status updated successfully"))
}

/// 3.9 #5.
async fn cancel(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> AppResult<Envelope> {
    let id = parse_id(&id, "consultation")?;
    let data = service::cancel(&state, &user, &id, &body).await?;
    Ok(Envelope::data(data).with_message("Consultation cancelled successfully"))
}
