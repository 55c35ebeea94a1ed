//! Citizen-lawyer connections and legacy client links (API.md 3.3 #7-16, 3.4 #3, #4, #6, #15-19).

use axum::Router;

use crate::app::AppState;

pub fn lawyer_routes() -> Router<AppState> {
    Router::new()
}

pub fn citizen_routes() -> Router<AppState> {
    Router::new()
}

