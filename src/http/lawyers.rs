//! The public lawyer directory (docs/api.md 3.3 #1, #2) and the citizens' list of available
//! lawyers (3.4 #4). The lawyers' private routes live with their resources.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use serde_json::Value;

use super::docs::{CitizenOnly, Paging};
use super::extract::{Citizen, Params, parse_id};
use super::respond::{serve_data, wrapped, wrapper_page};
use crate::cache::{Cached, Lookup, policy};
use crate::error::AppResult;
use crate::service::directory::{self, DirectoryFilters};
use crate::state::AppState;

/// Routes under `/api/lawyers` that need no login.
pub fn routes() -> Router<AppState> {
    Router::new().route("/verified", get(verified)).route("/{lawyerId}/profile", get(profile))
}

/// Routes under `/api/citizens` served by the directory.
pub fn citizen_routes() -> Router<AppState> {
    Router::new().route("/available-lawyers", get(available_lawyers))
}

#[utoipa::path(get, path = "/api/lawyers/verified", tag = "lawyers",
    params(
        Paging,
        ("fields" = Option<String>, Query,
            description = "Comma-separated: name, role, lawyerDetails.specialization, lawyerDetails.experience, createdAt"),
        DirectoryFilters,
    ),
    responses((status = 200, description = "Active verified lawyers, public projection, wrapper pagination (default \
        limit 20); `search` looks in name, specialization and education")))]
pub async fn verified(State(state): State<AppState>, params: Params) -> AppResult<Cached> {
    let page = wrapper_page(&params)?;
    let lookup = Lookup { caller: None, params: &params, subject: None };
    state
        .cache
        .serve(&policy::LAWYERS_VERIFIED, lookup, || async {
            let (items, total) = directory::verified_lawyers(&state, &params, page).await?;
            Ok(wrapped(Value::Array(items), total, page).into_json())
        })
        .await
}

#[utoipa::path(get, path = "/api/lawyers/{lawyerId}/profile", tag = "lawyers",
    params(("lawyerId" = String, Path, description = "24-hex lawyer id")),
    responses(
        (status = 200, description = "`data.lawyer`: public projection plus `stats`"),
        (status = 400, description = "Malformed id"),
        (status = 404, description = "Lawyer not found (or not active and verified)"),
    ))]
pub async fn profile(State(state): State<AppState>, Path(raw): Path<String>, params: Params) -> AppResult<Cached> {
    let id = parse_id(&raw, "lawyer")?;
    let lookup = Lookup { caller: None, params: &params, subject: Some(&id) };
    serve_data(&state, &policy::LAWYER_PROFILE, lookup, || directory::profile(&state, &id)).await
}

#[utoipa::path(get, path = "/api/citizens/available-lawyers", tag = "citizens", security(("bearer" = [])),
    params(
        Paging,
        DirectoryFilters,
    ),
    responses(
        (status = 200, description = "`data: {lawyers, pagination: {current, pages, total}}` (default limit 12); \
            `search` looks in name, email and specialization"),
        CitizenOnly,
    ))]
pub async fn available_lawyers(
    State(state): State<AppState>,
    Citizen(user): Citizen,
    params: Params,
) -> AppResult<Cached> {
    serve_data(&state, &policy::CITIZEN_AVAILABLE_LAWYERS, Lookup::of(&user, &params), || {
        directory::available_for_citizens(&state, &params)
    })
    .await
}
