//! Admin routes (docs/api.md 3.2): dashboards, user management, lawyer verification. Every route
//! is `auth:admin`; the reads are cached per role and invalidated by the `ADM` tag.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, patch};

use super::docs::AdminOnly;
use super::extract::{Admin, Body, Params, parse_id};
use super::respond::{Envelope, serve_data};
use crate::cache::{Cached, Lookup, policy};
use crate::error::AppResult;
use crate::service::accounts::views::{CleanUser, LawyerReply, UserReply};
use crate::service::admin::{self, Decision, StatusChange};
use crate::service::chats::view_json;
use crate::state::AppState;
use crate::store::users::VerificationStatus;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard/analytics", get(analytics))
        .route("/system/stats", get(system_stats))
        .route("/users", get(users))
        .route("/users/{userId}/toggle-status", patch(toggle_status))
        .route("/lawyers/pending-verifications", get(pending_verifications))
        .route("/lawyers/{lawyerId}/verification", patch(verification))
}

#[utoipa::path(get, path = "/api/admin/dashboard/analytics", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "`data: {counts, recentActivities, monthlyStats, revenue}`"),
        AdminOnly,
    ))]
pub async fn analytics(State(state): State<AppState>, Admin(user): Admin, params: Params) -> AppResult<Cached> {
    serve_data(&state, &policy::ADMIN_ANALYTICS, Lookup::of(&user, &params), || admin::analytics(&state)).await
}

#[utoipa::path(get, path = "/api/admin/system/stats", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "`data: {userStats, queryStats, disputeStats, topLawyers, resolutionStats}`"),
        AdminOnly,
    ))]
pub async fn system_stats(State(state): State<AppState>, Admin(user): Admin, params: Params) -> AppResult<Cached> {
    serve_data(&state, &policy::ADMIN_STATS, Lookup::of(&user, &params), || admin::system_stats(&state)).await
}

#[utoipa::path(get, path = "/api/admin/users", tag = "admin", security(("bearer" = [])),
    params(
        ("page" = Option<i64>, Query, description = "Page, from 1 to 1000000 (400 beyond)"),
        ("limit" = Option<i64>, Query, description = "Items per page, 1..100 (default 10)"),
        ("role" = Option<String>, Query, description = "A role, or all"),
        ("status" = Option<String>, Query, description = "active, inactive or all"),
        ("verificationStatus" = Option<String>, Query, description = "verified, pending, rejected or all"),
        ("search" = Option<String>, Query, description = "Case-insensitive text in name or email"),
    ),
    responses(
        (status = 200, description = "`data: {docs, totalDocs, limit, page, totalPages, hasNextPage, hasPrevPage, \
            nextPage, prevPage}`"),
        AdminOnly,
    ))]
pub async fn users(State(state): State<AppState>, Admin(user): Admin, params: Params) -> AppResult<Cached> {
    serve_data(&state, &policy::ADMIN_USERS, Lookup::of(&user, &params), || admin::list_users(&state, &params)).await
}

#[utoipa::path(patch, path = "/api/admin/users/{userId}/toggle-status", tag = "admin", security(("bearer" = [])),
    params(("userId" = String, Path, description = "24-hex user id")),
    request_body = StatusChange,
    responses(
        (status = 200, description = "`data: {user}`"),
        (status = 400, description = "Malformed id, or the admin's own account"),
        (status = 404, description = "User not found"),
        AdminOnly,
    ))]
pub async fn toggle_status(
    State(state): State<AppState>,
    Admin(me): Admin,
    Path(raw): Path<String>,
    Body(change): Body<StatusChange>,
) -> AppResult<Envelope> {
    let id = parse_id(&raw, "user")?;
    let user = admin::toggle_status(&state, &me, &id, change.is_active).await?;
    let word = if user.is_active { "activated" } else { "deactivated" };
    let data = view_json(UserReply { user: CleanUser::of(&user) });
    Ok(Envelope::data(data).with_message(format!("User account {word} successfully")))
}

#[utoipa::path(get, path = "/api/admin/lawyers/pending-verifications", tag = "admin", security(("bearer" = [])),
    params(
        ("page" = Option<i64>, Query, description = "Page, from 1 to 1000000 (400 beyond)"),
        ("limit" = Option<i64>, Query, description = "Items per page, 1..100 (default 10)"),
    ),
    responses(
        (status = 200, description = "`data: {lawyers, pagination: {current, pages, total}, total}`"),
        AdminOnly,
    ))]
pub async fn pending_verifications(
    State(state): State<AppState>,
    Admin(user): Admin,
    params: Params,
) -> AppResult<Cached> {
    serve_data(&state, &policy::ADMIN_PENDING, Lookup::of(&user, &params), || {
        admin::pending_verifications(&state, &params)
    })
    .await
}

#[utoipa::path(patch, path = "/api/admin/lawyers/{lawyerId}/verification", tag = "admin", security(("bearer" = [])),
    params(("lawyerId" = String, Path, description = "24-hex lawyer id")),
    request_body = Decision,
    responses(
        (status = 200, description = "`data: {lawyer}`"),
        (status = 400, description = "Malformed id, invalid status or notes"),
        (status = 404, description = "Lawyer not found"),
        AdminOnly,
    ))]
pub async fn verification(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    Path(raw): Path<String>,
    body: AppResult<Body<Decision>>,
) -> AppResult<Envelope> {
    // The id is checked before the body, as in the original.
    let id = parse_id(&raw, "lawyer")?;
    let Body(decision) = body?;
    let lawyer = admin::decide_verification(&state, &id, &decision).await?;
    let word = if decision.status == VerificationStatus::Verified { "verified" } else { "rejected" };
    let data = view_json(LawyerReply { lawyer: CleanUser::of(&lawyer) });
    Ok(Envelope::data(data).with_message(format!("Lawyer {word} successfully")))
}
