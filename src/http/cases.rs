//! Cases: queries and disputes (API.md 3.5, 3.6), and the case routes of lawyers (3.3) and citizens (3.4).

use axum::Router;

use crate::app::AppState;

pub fn query_routes() -> Router<AppState> {
    Router::new()
}

pub fn dispute_routes() -> Router<AppState> {
    Router::new()
}

pub fn lawyer_routes() -> Router<AppState> {
    Router::new()
}

pub fn citizen_routes() -> Router<AppState> {
    Router::new()
}

