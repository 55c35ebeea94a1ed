//! The public lawyer directory (API.md 3.3 #1, #2) and the citizens' list of available
//! lawyers (3.4 #4). The lawyers' private routes live with their resources.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use serde_json::{Value, json};

use super::extract::{Citizen, Page, Params, parse_id};
use super::respond::{wrapper_page, wrapper_pagination};
use crate::app::AppState;
use crate::cache::{Cached, Lookup, policy};
use crate::error::AppResult;
use crate::service::directory;

/// Routes under `/api/lawyers` that need no login.
pub fn routes() -> Router<AppState> {
    Router::new().route("/verified", get(verified)).route("/{lawyerId}/profile", get(profile))
}

/// Routes under `/api/citizens` served by the directory.
pub fn citizen_routes() -> Router<AppState> {
    Router::new().route("/available-lawyers", get(available_lawyers))
}

/// `{success: true, data}` as a cacheable body.
pub(crate) fn success_body(data: Value) -> Value {
    json!({"success": true, "data": data})
}

/// The wrapper pagination style (1.5) as a cacheable body.
fn wrapped_body(items: Vec<Value>, total: i64, page: Page) -> Value {
    let data = Value::Array(items);
    let response_size = data.to_string().chars().count();
    json!({
        "success": true,
        "data": data,
        "pagination": wrapper_pagination(total, page),
        "meta": {"timestamp": crate::time::now_iso(), "responseSize": response_size},
    })
}

#[utoipa::path(get, path = "/api/lawyers/verified", tag = "lawyers",
    params(
        ("page" = Option<i64>, Query, description = "Page, from 1"),
        ("limit" = Option<i64>, Query, description = "Items per page, 1..100 (default 20)"),
        ("fields" = Option<String>, Query, description = "Comma-separated: name, role, lawyerDetails.specialization, lawyerDetails.experience, createdAt"),
        ("specialization" = Option<String>, Query, description = "Exact specialization"),
        ("experience" = Option<String>, Query, description = "Years, \"min-max\" or \"N+\""),
        ("search" = Option<String>, Query, description = "Case-insensitive text in name, specialization or education"),
        ("sortBy" = Option<String>, Query, description = "createdAt (default), name or experience"),
        ("sortOrder" = Option<String>, Query, description = "desc (default) or asc"),
    ),
    responses((status = 200, description = "Active verified lawyers, public projection, wrapper pagination")))]
pub async fn verified(State(state): State<AppState>, params: Params) -> AppResult<Cached> {
    let page = wrapper_page(&params);
    let lookup = Lookup { caller: None, params: &params, subject: None };
    state
        .cache
        .serve(&policy::LAWYERS_VERIFIED, lookup, || async {
            let (items, total) = directory::verified_lawyers(&state, &params, page).await?;
            Ok(wrapped_body(items, total, page))
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
    state
        .cache
        .serve(&policy::LAWYER_PROFILE, lookup, || async { Ok(success_body(directory::profile(&state, &id).await?)) })
        .await
}

#[utoipa::path(get, path = "/api/citizens/available-lawyers", tag = "citizens", security(("bearer" = [])),
    params(
        ("page" = Option<i64>, Query, description = "Page, from 1"),
        ("limit" = Option<i64>, Query, description = "Items per page, 1..100 (default 12)"),
        ("specialization" = Option<String>, Query, description = "Exact specialization"),
        ("experience" = Option<String>, Query, description = "Years, \"a-b\" or \"N+\""),
        ("search" = Option<String>, Query, description = "Case-insensitive text in name, email or specialization"),
        ("sortBy" = Option<String>, Query, description = "createdAt (default), name or experience"),
        ("sortOrder" = Option<String>, Query, description = "desc (default) or asc"),
    ),
    responses(
        (status = 200, description = "`data: {lawyers, pagination: {current, pages, total}}`"),
        (status = 401, description = "No or bad token"),
        (status = 403, description = "Not a citizen"),
    ))]
pub async fn available_lawyers(
    State(state): State<AppState>,
    Citizen(user): Citizen,
    params: Params,
) -> AppResult<Cached> {
    let lookup = Lookup { caller: Some(&user), params: &params, subject: None };
    state
        .cache
        .serve(&policy::CITIZEN_AVAILABLE_LAWYERS, lookup, || async {
            Ok(success_body(directory::available_for_citizens(&state, &params).await?))
        })
        .await
}
