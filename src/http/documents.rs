//! Documents (API.md 3.8) and chat file uploads (3.7 #7, #8).

use axum::Router;

use crate::app::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}

pub fn chat_file_routes() -> Router<AppState> {
    Router::new()
}

