//! Consultations (docs/api.md 3.9). The two GET routes are cached per user (3.12); their access
//! checks run before the cache is consulted, on every request.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, patch, post};

use crate::cache::{Cached, Lookup, policy};
use crate::error::AppResult;
use crate::http::docs::{CitizenOnly, LoggedIn, Paging};
use crate::http::extract::{Body, Citizen, CurrentUser, Lawyer, Params, parse_id};
use crate::http::respond::{Envelope, serve_data};
use crate::service::chats::view_json;
use crate::service::consultations::{self as service, CancelConsultation, NewConsultation, StatusUpdate};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/request", post(request))
        .route("/", get(list))
        .route("/{consultationId}", get(get_one))
        .route("/{consultationId}/status", patch(update_status))
        .route("/{consultationId}/cancel", patch(cancel))
}

/// Books a consultation with a verified lawyer (3.9 #1); the lawyer is notified.
#[utoipa::path(post, path = "/api/consultations/request", tag = "consultations", security(("bearer" = [])),
    request_body = NewConsultation,
    responses(
        (status = 201, description = "`data: {consultation}` (citizen and lawyer populated)"),
        (status = 400, description = "Validation failed, not a (verified) lawyer, or a time in the past"),
        CitizenOnly,
        (status = 404, description = "Target user not found"),
        (status = 409, description = "The lawyer has another consultation scheduled at this time"),
    ))]
async fn request(
    State(state): State<AppState>,
    Citizen(user): Citizen,
    Body(input): Body<NewConsultation>,
) -> AppResult<Envelope> {
    let data = service::request(&state, &user, input).await?;
    Ok(Envelope::data(view_json(data)).with_message("Consultation request created successfully").created())
}

/// The caller's consultations (3.9 #2): citizens as citizen, lawyers as lawyer.
#[utoipa::path(get, path = "/api/consultations", tag = "consultations", security(("bearer" = [])),
    params(Paging, ("status" = Option<String>, Query, description = "A status, or all")),
    responses(
        (status = 200, description = "`data: {consultations, pagination: {page, limit, total, \
            pages}}`; default limit 20; cached per user"),
        (status = 403, description = "Access denied (neither citizen nor lawyer)"),
        LoggedIn,
    ))]
async fn list(State(state): State<AppState>, CurrentUser(user): CurrentUser, params: Params) -> AppResult<Cached> {
    let side = service::list_side(&user)?;
    let page = params.page(20)?;
    let status = params.filter("status").map(str::to_string);
    serve_data(&state, &policy::CONSULTATIONS, Lookup::of(&user, &params), || async {
        service::list(&state, &user, side, status.as_deref(), page).await.map(view_json)
    })
    .await
}

/// One consultation, for its citizen or its lawyer (3.9 #3).
#[utoipa::path(get, path = "/api/consultations/{consultationId}", tag = "consultations", security(("bearer" = [])),
    params(("consultationId" = String, Path, description = "24-hex consultation id")),
    responses(
        (status = 200, description = "`data: {consultation}`; cached, access checked on every request"),
        (status = 403, description = "Access denied"),
        (status = 404, description = "Consultation not found"),
        LoggedIn,
    ))]
async fn get_one(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    params: Params,
) -> AppResult<Cached> {
    let id = parse_id(&id, "consultation")?;
    service::check_party(&state, &user, &id).await?;
    let lookup = Lookup { caller: Some(&user), params: &params, subject: Some(&id) };
    serve_data(&state, &policy::CONSULTATION, lookup, || async { service::get(&state, &id).await.map(view_json) }).await
}

/// The consultation's lawyer sets its status (3.9 #4); the citizen is notified.
#[utoipa::path(patch, path = "/api/consultations/{consultationId}/status", tag = "consultations",
    security(("bearer" = [])),
    params(("consultationId" = String, Path, description = "24-hex consultation id")),
    request_body = StatusUpdate,
    responses(
        (status = 200, description = "`data: {consultation}`"),
        (status = 400, description = "Validation failed"),
        (status = 403, description = "Only the assigned lawyer can update consultation status"),
        (status = 404, description = "Consultation not found"),
        LoggedIn,
    ))]
async fn update_status(
    State(state): State<AppState>,
    Lawyer(user): Lawyer,
    Path(id): Path<String>,
    body: AppResult<Body<StatusUpdate>>,
) -> AppResult<Envelope> {
    let id = parse_id(&id, "consultation")?;
    let Body(input) = body?;
    let data = service::update_status(&state, &user, &id, input).await?;
    Ok(Envelope::data(view_json(data)).with_message("Consultation status updated successfully"))
}

/// Either party cancels while at least two hours remain (3.9 #5); the other party is notified.
#[utoipa::path(patch, path = "/api/consultations/{consultationId}/cancel", tag = "consultations",
    security(("bearer" = [])),
    params(("consultationId" = String, Path, description = "24-hex consultation id")),
    request_body = CancelConsultation,
    responses(
        (status = 200, description = "`data: {consultation}`"),
        (status = 400, description = "Consultation cannot be cancelled (less than 2 hours remaining)"),
        (status = 403, description = "Access denied"),
        (status = 404, description = "Consultation not found"),
        LoggedIn,
    ))]
async fn cancel(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    body: AppResult<Body<CancelConsultation>>,
) -> AppResult<Envelope> {
    let id = parse_id(&id, "consultation")?;
    let Body(input) = body?;
    let data = service::cancel(&state, &user, &id, input).await?;
    Ok(Envelope::data(view_json(data)).with_message("Consultation cancelled successfully"))
}
