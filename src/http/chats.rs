//! Chats over HTTP (docs/api.md 3.7 #1-6; the upload and file proxy are in `documents`). Never
//! cached (1.8): read receipts change what a chat shows on every read.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};

use crate::error::AppResult;
use crate::service::chats;
use crate::state::AppState;

use super::docs::{LoggedIn, Paging};
use super::extract::{CurrentUser, Params, parse_id};
use super::respond::Envelope;

/// Messages per page unless `limit` says otherwise.
const MESSAGE_PAGE: i64 = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(my_chats))
        .route("/direct/{userId}", post(direct_chat))
        .route("/case/{caseType}/{caseId}", get(case_chat))
        .route("/case/{caseType}/{caseId}/messages", get(case_chat_messages))
        .route("/{chatId}", get(chat_by_id))
        .route("/{chatId}/messages", get(chat_messages))
}

/// The caller's active chats, most recently updated first, with their messages.
#[utoipa::path(get, path = "/api/chats", tag = "chats", security(("bearer" = [])),
    params(Paging),
    responses(
        (status = 200, description = "`data: {chats}` (participants populated, `unreadCount`); default limit 20"),
        LoggedIn,
    ))]
async fn my_chats(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    params: Params,
) -> AppResult<Envelope> {
    Ok(Envelope::data(chats::my_chats(&state, &user, params.page(20)?).await?))
}

/// The direct chat with another user, created pending when absent.
#[utoipa::path(post, path = "/api/chats/direct/{userId}", tag = "chats", security(("bearer" = [])),
    params(("userId" = String, Path, description = "24-hex id of the other user")),
    responses(
        (status = 200, description = "`data: {chat}`"),
        (status = 400, description = "Malformed id, or a chat with yourself"),
        (status = 404, description = "User not found"),
        LoggedIn,
    ))]
async fn direct_chat(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(raw): Path<String>,
) -> AppResult<Envelope> {
    let other = parse_id(&raw, "user")?;
    Ok(Envelope::data(chats::direct_chat(&state, &user, &other).await?))
}

/// The chat of an assigned case, found or created, for its citizen, its lawyer or an admin.
#[utoipa::path(get, path = "/api/chats/case/{caseType}/{caseId}", tag = "chats", security(("bearer" = [])),
    params(
        ("caseType" = String, Path, description = "query or dispute"),
        ("caseId" = String, Path, description = "24-hex case id"),
    ),
    responses(
        (status = 200, description = "`data: {chat}`"),
        (status = 400, description = "Invalid case type, or no lawyer assigned yet"),
        (status = 403, description = "Access denied"),
        (status = 404, description = "Query not found / Dispute not found"),
        LoggedIn,
    ))]
async fn case_chat(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((case_type, case_id)): Path<(String, String)>,
) -> AppResult<Envelope> {
    let case_type = chats::parse_case_type(&case_type)?;
    let case_id = parse_id(&case_id, "case")?;
    Ok(Envelope::data(chats::case_chat(&state, &user, case_type, &case_id).await?))
}

/// A page of a case chat's messages (newest block, chronological); marks them read.
#[utoipa::path(get, path = "/api/chats/case/{caseType}/{caseId}/messages", tag = "chats", security(("bearer" = [])),
    params(
        ("caseType" = String, Path, description = "query or dispute"),
        ("caseId" = String, Path, description = "24-hex case id"),
        Paging,
    ),
    responses(
        (status = 200, description = "`data: {messages, pagination: {current, hasMore}}`; default limit 50"),
        (status = 404, description = "Chat not found or access denied"),
        LoggedIn,
    ))]
async fn case_chat_messages(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((case_type, case_id)): Path<(String, String)>,
    params: Params,
) -> AppResult<Envelope> {
    let case_type = chats::parse_case_type(&case_type)?;
    let case_id = parse_id(&case_id, "case")?;
    let page = params.page(MESSAGE_PAGE)?;
    Ok(Envelope::data(chats::case_chat_messages(&state, &user, case_type, &case_id, page).await?))
}

/// A chat with the newest page of its messages; marks everything read for the caller.
#[utoipa::path(get, path = "/api/chats/{chatId}", tag = "chats", security(("bearer" = [])),
    params(("chatId" = String, Path, description = "direct_<id>_<id>, query_<id> or dispute_<id>"),
        Paging),
    responses(
        (status = 200, description = "`data: {chat: {..., messages}, pagination: {current, total, \
            hasMore}}`; default limit 50"),
        (status = 400, description = "Invalid chat ID format"),
        (status = 403, description = "Access denied (not a participant)"),
        (status = 404, description = "Chat not found"),
        LoggedIn,
    ))]
async fn chat_by_id(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(raw): Path<String>,
    params: Params,
) -> AppResult<Envelope> {
    let chat_id = chats::parse_chat_id(&raw)?;
    Ok(Envelope::data(chats::chat_by_id(&state, &user, &chat_id, params.page(MESSAGE_PAGE)?).await?))
}

/// Older history of a chat, newest block first, without read marking.
#[utoipa::path(get, path = "/api/chats/{chatId}/messages", tag = "chats", security(("bearer" = [])),
    params(
        ("chatId" = String, Path, description = "direct_<id>_<id>, query_<id> or dispute_<id>"),
        Paging,
        ("before" = Option<String>, Query, description = "Only messages strictly earlier (ISO timestamp, \
            date or epoch ms)"),
    ),
    responses(
        (status = 200, description = "`data: {messages, pagination: {current, hasMore}}`; default limit 50"),
        (status = 400, description = "Invalid chat ID format or `before`"),
        (status = 403, description = "Access denied (not a participant)"),
        (status = 404, description = "Chat not found"),
        LoggedIn,
    ))]
async fn chat_messages(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(raw): Path<String>,
    params: Params,
) -> AppResult<Envelope> {
    let chat_id = chats::parse_chat_id(&raw)?;
    let page = params.page(MESSAGE_PAGE)?;
    Ok(Envelope::data(chats::chat_messages(&state, &user, &chat_id, params.get("before"), page).await?))
}
