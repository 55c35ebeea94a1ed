//! OpenAPI description of every route, with an offline Swagger UI at `/api/docs`.

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::app::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "nyaya API", description = "Legal-aid platform backend (ChainVerdict-compatible)"),
    paths(
        super::health::health,
        super::health::ping,
        super::admin::analytics,
        super::admin::system_stats,
        super::admin::users,
        super::admin::toggle_status,
        super::admin::pending_verifications,
        super::admin::verification,
        super::lawyers::verified,
        super::lawyers::profile,
        super::lawyers::available_lawyers,
        super::auth::register,
        super::auth::login,
        super::auth::refresh_token,
        super::auth::forgot_password,
        super::auth::reset_password,
        super::auth::logout,
        super::auth::me,
        super::auth::update_profile,
        super::auth::update_password
    )
)]
pub struct ApiDoc;

pub fn routes() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").url("/docs/openapi.json", ApiDoc::openapi()))
}
