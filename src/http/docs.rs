//! OpenAPI description of every route, with an offline Swagger UI at `/api/docs`.
//!
//! Each handler carries its own `#[utoipa::path]`; this module lists them, defines the bearer
//! scheme they refer to, and the query parameters many lists share.

use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::state::AppState;

// What the OpenAPI `params` and `responses` of the routes name: the very types the handlers
// parse with, so the spec cannot drift from them.

/// `protect` + `authorize("admin")`.
pub use super::extract::Admin as AdminOnly;
/// `protect` + `authorize("citizen")`.
pub use super::extract::Citizen as CitizenOnly;
/// `protect`: any logged-in user.
pub use super::extract::CurrentUser as LoggedIn;
/// `protect` + `requireVerifiedLawyer`.
pub use super::extract::VerifiedLawyer as VerifiedLawyerOnly;
/// `page` and `limit` of the paginated lists (parsed by `Params::page`).
pub use crate::domain::page::Page as Paging;

/// The access token as `Authorization: Bearer <token>` (the `accessToken` cookie also works).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "nyaya API", description = "Legal-aid platform backend (ChainVerdict-compatible)"),
    modifiers(&BearerAuth),
    paths(
        super::health::health,
        super::health::ping,
        super::auth::register,
        super::auth::login,
        super::auth::refresh_token,
        super::auth::forgot_password,
        super::auth::reset_password,
        super::auth::confirm_email,
        super::auth::logout,
        super::auth::me,
        super::auth::update_profile,
        super::auth::update_password,
        super::admin::analytics,
        super::admin::system_stats,
        super::admin::users,
        super::admin::toggle_status,
        super::admin::pending_verifications,
        super::admin::verification,
        super::jobs::stats,
        super::jobs::list,
        super::jobs::details,
        super::jobs::retry,
        super::jobs::discard,
        // Lawyers: the public directory, then the private routes of each resource.
        super::lawyers::verified,
        super::lawyers::profile,
        super::cases::lawyer_dashboard,
        super::cases::available_cases,
        super::cases::lawyer_my_cases,
        super::cases::offer_help,
        super::connections::my_clients,
        super::connections::my_direct_clients,
        super::connections::accept_client,
        super::connections::pending_direct_requests,
        super::connections::accept_direct_request,
        super::connections::my_direct_chats,
        super::connections::lawyer_pending_connections,
        super::connections::accept_connection,
        super::connections::reject_connection,
        super::connections::connected_citizens,
        super::cases::lawyer_sent_requests,
        super::cases::lawyer_received_requests,
        super::cases::accept_case_request,
        super::cases::reject_case_request,
        // Citizens.
        super::cases::citizen_dashboard,
        super::cases::recent_activity,
        super::connections::my_lawyers,
        super::lawyers::available_lawyers,
        super::cases::citizen_my_cases,
        super::connections::message_request,
        super::cases::request_lawyer_for_query,
        super::cases::request_lawyer_for_dispute,
        super::cases::citizen_pending_requests,
        super::cases::citizen_received_offers,
        super::cases::citizen_sent_requests,
        super::cases::citizen_case_offers,
        super::cases::accept_case_offer,
        super::cases::reject_case_offer,
        super::connections::request_connection,
        super::connections::revoke_connection,
        super::connections::connected_lawyers,
        super::connections::citizen_pending_connections,
        super::connections::direct_chats,
        super::cases::revoke_case_request,
        // Queries and disputes.
        super::cases::queries::create,
        super::cases::queries::list,
        super::cases::queries::get_one,
        super::cases::queries::send_request,
        super::cases::queries::respond,
        super::cases::queries::legacy_request,
        super::cases::queries::legacy_offer_help,
        super::cases::queries::update_status,
        super::cases::disputes::create,
        super::cases::disputes::list,
        super::cases::disputes::get_one,
        super::cases::disputes::send_request,
        super::cases::disputes::respond,
        super::cases::disputes::legacy_request,
        super::cases::disputes::legacy_offer_help,
        super::cases::disputes::update_status,
        // Chats.
        super::chats::my_chats,
        super::chats::direct_chat,
        super::chats::case_chat,
        super::chats::case_chat_messages,
        super::chats::chat_by_id,
        super::chats::chat_messages,
        super::documents::chat_upload,
        super::documents::file_proxy,
        // Documents.
        super::documents::upload_one,
        super::documents::upload_many,
        super::documents::my_documents,
        super::documents::stats,
        super::documents::details,
        super::documents::search,
        super::documents::remove,
        super::documents::download,
        super::documents::thumbnail,
        super::documents::of_entity,
        // Consultations.
        super::consultations::request,
        super::consultations::list,
        super::consultations::get_one,
        super::consultations::update_status,
        super::consultations::cancel,
    )
)]
pub struct ApiDoc;

/// `/api/docs` (the UI) and `/api/docs/openapi.json`, with absolute paths: merged at the
/// root, not nested under `/api`, because the UI's redirect and its initializer use these
/// paths as they are given here.
pub fn routes() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/api/docs").url("/api/docs/openapi.json", ApiDoc::openapi()))
}
