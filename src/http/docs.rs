//! OpenAPI description of every route, with an offline Swagger UI at `/api/docs`.

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::app::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "nyaya API", description = "Legal-aid platform backend (ChainVerdict-compatible)"),
    paths(super::health::health, super::health::ping)
)]
pub struct ApiDoc;

pub fn routes() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").url("/docs/openapi.json", ApiDoc::openapi()))
}
