//! Chats over HTTP (API.md 3.7 #1-6; the upload and file proxy are in `documents`). Never
//! cached (1.8): read receipts change what a chat shows on every read.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};

use crate::app::AppState;
use crate::error::AppResult;
use crate::service::chats;

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

async fn my_chats(State(state): State<AppState>, CurrentUser(user): CurrentUser, params: Params) -> AppResult<Envelope> {
    Ok(Envelope::data(chats::my_chats(&state, &user, params.page(20)).await?))
}

async fn direct_chat(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(raw): Path<String>) -> AppResult<Envelope> {
    let other = parse_id(&raw, "user")?;
    Ok(Envelope::data(chats::direct_chat(&state, &user, &other).await?))
}

async fn case_chat(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((case_type, case_id)): Path<(String, String)>,
) -> AppResult<Envelope> {
    let case_type = chats::parse_case_type(&case_type)?;
    let case_id = parse_id(&case_id, "case")?;
    Ok(Envelope::data(chats::case_chat(&state, &user, case_type, &case_id).await?))
}

async fn case_chat_messages(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((case_type, case_id)): Path<(String, String)>,
    params: Params,
) -> AppResult<Envelope> {
    let case_type = chats::parse_case_type(&case_type)?;
    let case_id = parse_id(&case_id, "case")?;
    let page = params.page(MESSAGE_PAGE);
    Ok(Envelope::data(chats::case_chat_messages(&state, &user, case_type, &case_id, page).await?))
}

async fn chat_by_id(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(raw): Path<String>, params: Params) -> AppResult<Envelope> {
    let chat_id = chats::parse_chat_id(&raw)?;
    Ok(Envelope::data(chats::chat_by_id(&state, &user, &chat_id, params.page(MESSAGE_PAGE)).await?))
}

async fn chat_messages(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(raw): Path<String>, params: Params) -> AppResult<Envelope> {
    let chat_id = chats::parse_chat_id(&raw)?;
    let page = params.page(MESSAGE_PAGE);
    Ok(Envelope::data(chats::chat_messages(&state, &user, &chat_id, params.get("before"), page).await?))
}
