//! Citizen-lawyer connections and legacy client links (docs/api.md 3.3 #7-16, 3.4 #3, #6, #15-19).
//!
//! Bodies are taken as a `Result` and checked after the path id (and the request limiter), in
//! the order the original answered.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use serde_json::Value;

use crate::cache::{Cached, Lookup, Policy, policy};
use crate::config::Environment;
use crate::error::{AppError, AppResult};
use crate::service::connections::{
    ConnectionAnswer, ConnectionRequest, ConnectionRequestSent, MessageRequest, MessageRequestSent,
};
use crate::service::{chats, connections};
use crate::state::AppState;
use crate::store::users::User;

use super::docs::{CitizenOnly, Paging, VerifiedLawyerOnly};
use super::extract::{Body, Citizen, Page, Params, VerifiedLawyer, parse_id};
use super::rate_limit::RateLimiter;
use super::respond::{Envelope, serve_data, wrapped, wrapper_page};

/// Legacy lists default to 10 per page.
const LEGACY_LIMIT: i64 = 10;

pub fn lawyer_routes() -> Router<AppState> {
    Router::new()
        .route("/my-clients", get(my_clients))
        .route("/my-direct-clients", get(my_direct_clients))
        .route("/accept-client/{citizenId}", post(accept_client))
        .route("/pending-requests", get(pending_direct_requests))
        .route("/accept-request/{chatId}", post(accept_direct_request))
        .route("/my-chats", get(my_direct_chats))
        .route("/pending-connection-requests", get(lawyer_pending_connections))
        .route("/accept-connection-request/{connectionId}", post(accept_connection))
        .route("/reject-connection-request/{connectionId}", post(reject_connection))
        .route("/connected-citizens", get(connected_citizens))
}

pub fn citizen_routes() -> Router<AppState> {
    Router::new()
        .route("/my-lawyers", get(my_lawyers))
        .route("/message-request/{lawyerId}", post(message_request))
        .route(
            "/direct-connection-request/{lawyerId}",
            post(request_connection).layer(Extension(ConnectionRequestLimiter::default())),
        )
        .route("/revoke-connection-request/{connectionId}", delete(revoke_connection))
        .route("/connected-lawyers", get(connected_lawyers))
        .route("/pending-connection-requests", get(citizen_pending_connections))
        .route("/direct-chats", get(direct_chats))
}

/// Serves a per-user cached legacy list (10 per page unless `limit` says otherwise): `load`
/// is the service function, returning the `data` of the success envelope for one page.
async fn legacy_list(
    state: &AppState,
    policy: &Policy,
    user: &User,
    params: &Params,
    load: impl AsyncFnOnce(&AppState, &User, Page) -> AppResult<Value>,
) -> AppResult<Cached> {
    let page = params.page(LEGACY_LIMIT)?;
    serve_data(state, policy, Lookup::of(user, params), || load(state, user, page)).await
}

// ---- lawyers (auth:lawyer+v) ----

/// Citizens linked to the lawyer by the legacy accept-client route.
#[utoipa::path(get, path = "/api/lawyers/my-clients", tag = "lawyers", security(("bearer" = [])),
    params(Paging),
    responses(
        (status = 200, description = "Wrapper pagination of `{_id, name, email, phone, createdAt, connectedAt}`"),
        VerifiedLawyerOnly,
    ))]
async fn my_clients(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    params: Params,
) -> AppResult<Cached> {
    let page = wrapper_page(&params)?;
    state
        .cache
        .serve(&policy::LAWYER_MY_CLIENTS, Lookup::of(&user, &params), || async {
            let (items, total) = connections::my_clients(&state, &user, page).await?;
            Ok(wrapped(chats::view_json(items), total, page).into_json())
        })
        .await
}

/// One entry per citizen of the lawyer's active direct chats, newest chat first.
#[utoipa::path(get, path = "/api/lawyers/my-direct-clients", tag = "lawyers", security(("bearer" = [])),
    params(Paging),
    responses(
        (status = 200, description = "`data: {clients: [{_id, name, email, phone, role, connectedAt, lastChatUpdate, \
            chatId}], pagination}`"),
        VerifiedLawyerOnly,
    ))]
async fn my_direct_clients(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    params: Params,
) -> AppResult<Cached> {
    legacy_list(&state, &policy::LAWYER_MY_DIRECT_CLIENTS, &user, &params, connections::my_direct_clients).await
}

/// Legacy: links an active citizen as the lawyer's client; the citizen is notified.
#[utoipa::path(post, path = "/api/lawyers/accept-client/{citizenId}", tag = "lawyers", security(("bearer" = [])),
    params(("citizenId" = String, Path, description = "24-hex citizen id")),
    responses(
        (status = 200, description = "Client connection accepted successfully"),
        (status = 400, description = "Already connected with this client"),
        VerifiedLawyerOnly,
        (status = 404, description = "Citizen not found"),
    ))]
async fn accept_client(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    Path(raw): Path<String>,
) -> AppResult<Envelope> {
    let citizen_id = parse_id(&raw, "citizen")?;
    connections::accept_client(&state, &user, &citizen_id).await?;
    Ok(Envelope::message("Client connection accepted successfully"))
}

/// Legacy: pending direct chats the lawyer takes part in.
#[utoipa::path(get, path = "/api/lawyers/pending-requests", tag = "lawyers", security(("bearer" = [])),
    params(Paging),
    responses(
        (status = 200, description = "`data: {requests: [chat], pagination}`"),
        VerifiedLawyerOnly,
    ))]
async fn pending_direct_requests(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    params: Params,
) -> AppResult<Cached> {
    legacy_list(&state, &policy::LAWYER_PENDING_REQUESTS, &user, &params, connections::pending_direct_requests).await
}

/// Legacy: activates a pending direct chat; the citizen is notified.
#[utoipa::path(post, path = "/api/lawyers/accept-request/{chatId}", tag = "lawyers", security(("bearer" = [])),
    params(("chatId" = String, Path, description = "direct_<id>_<id>")),
    responses(
        (status = 200, description = "`data: {chat}`"),
        (status = 400, description = "Invalid chat ID format"),
        VerifiedLawyerOnly,
        (status = 404, description = "Chat request not found"),
    ))]
async fn accept_direct_request(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    Path(raw): Path<String>,
) -> AppResult<Envelope> {
    let chat_id = chats::parse_chat_id(&raw)?;
    let data = connections::accept_direct_request(&state, &user, &chat_id).await?;
    Ok(Envelope::data(data).with_message("Direct message request accepted successfully"))
}

/// The lawyer's active direct chats, most recently updated first.
#[utoipa::path(get, path = "/api/lawyers/my-chats", tag = "lawyers", security(("bearer" = [])),
    params(Paging),
    responses(
        (status = 200, description = "`data: {chats, pagination}`"),
        VerifiedLawyerOnly,
    ))]
async fn my_direct_chats(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    params: Params,
) -> AppResult<Cached> {
    legacy_list(&state, &policy::LAWYER_MY_CHATS, &user, &params, connections::my_direct_chats).await
}

/// Pending connection requests addressed to the lawyer, newest first.
#[utoipa::path(get, path = "/api/lawyers/pending-connection-requests", tag = "lawyers", security(("bearer" = [])),
    params(Paging),
    responses(
        (status = 200, description = "`data: {requests (citizen populated), pagination}`"),
        VerifiedLawyerOnly,
    ))]
async fn lawyer_pending_connections(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    params: Params,
) -> AppResult<Cached> {
    legacy_list(&state, &policy::LAWYER_PENDING_CONNECTIONS, &user, &params, connections::pending_requests_of_lawyer)
        .await
}

/// Accepts a connection request: the direct chat becomes active; the citizen is notified.
#[utoipa::path(post, path = "/api/lawyers/accept-connection-request/{connectionId}", tag = "lawyers",
    security(("bearer" = [])),
    params(("connectionId" = String, Path, description = "24-hex connection id")),
    request_body = ConnectionAnswer,
    responses(
        (status = 200, description = "`data: {connection, chatId}`"),
        VerifiedLawyerOnly,
        (status = 404, description = "Connection request not found"),
    ))]
async fn accept_connection(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    Path(raw): Path<String>,
    body: AppResult<Body<ConnectionAnswer>>,
) -> AppResult<Envelope> {
    let id = parse_id(&raw, "connection")?;
    let Body(answer) = body?;
    let data = connections::accept_connection(&state, &user, &id, &answer).await?;
    Ok(Envelope::data(data).with_message("Connection request accepted successfully"))
}

/// Rejects a connection request; the citizen is notified.
#[utoipa::path(post, path = "/api/lawyers/reject-connection-request/{connectionId}", tag = "lawyers",
    security(("bearer" = [])),
    params(("connectionId" = String, Path, description = "24-hex connection id")),
    request_body = ConnectionAnswer,
    responses(
        (status = 200, description = "`data: {connection}`"),
        VerifiedLawyerOnly,
        (status = 404, description = "Connection request not found"),
    ))]
async fn reject_connection(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    Path(raw): Path<String>,
    body: AppResult<Body<ConnectionAnswer>>,
) -> AppResult<Envelope> {
    let id = parse_id(&raw, "connection")?;
    let Body(answer) = body?;
    let data = connections::reject_connection(&state, &user, &id, &answer).await?;
    Ok(Envelope::data(data).with_message("Connection request rejected"))
}

/// Accepted connections of the lawyer, each with its `chatInfo`.
#[utoipa::path(get, path = "/api/lawyers/connected-citizens", tag = "lawyers", security(("bearer" = [])),
    params(Paging),
    responses(
        (status = 200, description = "`data: {connections (citizen populated, chatInfo: {chatId, status, lastMessage, \
            unreadCount} or null), pagination}`"),
        VerifiedLawyerOnly,
    ))]
async fn connected_citizens(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    params: Params,
) -> AppResult<Cached> {
    legacy_list(&state, &policy::LAWYER_CONNECTED_CITIZENS, &user, &params, connections::connected_citizens).await
}

// ---- citizens (auth:citizen) ----

/// Lawyers linked to the citizen by the legacy accept-client route.
#[utoipa::path(get, path = "/api/citizens/my-lawyers", tag = "citizens", security(("bearer" = [])),
    params(Paging),
    responses(
        (status = 200, description = "`data: {lawyers: [user + connectedAt], pagination}`"),
        CitizenOnly,
    ))]
async fn my_lawyers(State(state): State<AppState>, Citizen(user): Citizen, params: Params) -> AppResult<Cached> {
    legacy_list(&state, &policy::CITIZEN_MY_LAWYERS, &user, &params, connections::my_lawyers).await
}

/// Legacy message request: opens a pending direct chat with a first message (2 per hour per lawyer).
#[utoipa::path(post, path = "/api/citizens/message-request/{lawyerId}", tag = "citizens", security(("bearer" = [])),
    params(("lawyerId" = String, Path, description = "24-hex lawyer id")),
    request_body = MessageRequest,
    responses(
        (status = 200, description = "`data: {chatId}`"),
        CitizenOnly,
        (status = 404, description = "Lawyer not found or not verified"),
        (status = 429, description = "You can only send 2 message requests per hour to the same lawyer"),
    ))]
async fn message_request(
    State(state): State<AppState>,
    Citizen(user): Citizen,
    Path(raw): Path<String>,
    body: AppResult<Body<MessageRequest>>,
) -> AppResult<Envelope> {
    let lawyer_id = parse_id(&raw, "lawyer")?;
    let Body(request) = body?;
    let chat_id = connections::message_request(&state, &user, &lawyer_id, request).await?;
    let data = chats::view_json(MessageRequestSent { chat_id });
    Ok(Envelope::data(data).with_message("Message request sent successfully"))
}

/// Asks a verified lawyer for a direct connection (30 per minute per IP).
#[utoipa::path(post, path = "/api/citizens/direct-connection-request/{lawyerId}", tag = "citizens",
    security(("bearer" = [])),
    params(("lawyerId" = String, Path, description = "24-hex lawyer id")),
    request_body = ConnectionRequest,
    responses(
        (status = 200, description = "`data: {connectionId}`"),
        (status = 400, description = "Message is required, pending request exists, or already connected"),
        CitizenOnly,
        (status = 404, description = "Lawyer not found or not verified"),
        (status = 429, description = "Too many requests"),
    ))]
async fn request_connection(
    State(state): State<AppState>,
    Citizen(user): Citizen,
    Extension(limiter): Extension<ConnectionRequestLimiter>,
    ClientIp(ip): ClientIp,
    Path(raw): Path<String>,
    body: AppResult<Body<ConnectionRequest>>,
) -> AppResult<Envelope> {
    limiter.check(&state, ip)?;
    let lawyer_id = parse_id(&raw, "lawyer")?;
    let Body(request) = body?;
    let connection_id = connections::request_connection(&state, &user, &lawyer_id, request).await?;
    let data = chats::view_json(ConnectionRequestSent { connection_id });
    Ok(Envelope::data(data).with_message("Connection request sent successfully"))
}

/// Withdraws a pending connection request; the lawyer is notified.
#[utoipa::path(delete, path = "/api/citizens/revoke-connection-request/{connectionId}", tag = "citizens",
    security(("bearer" = [])),
    params(("connectionId" = String, Path, description = "24-hex connection id")),
    responses(
        (status = 200, description = "Connection request revoked successfully"),
        CitizenOnly,
        (status = 404, description = "Connection request not found or already processed"),
    ))]
async fn revoke_connection(
    State(state): State<AppState>,
    Citizen(user): Citizen,
    Path(raw): Path<String>,
) -> AppResult<Envelope> {
    let id = parse_id(&raw, "connection")?;
    connections::revoke_connection(&state, &user, &id).await?;
    Ok(Envelope::message("Connection request revoked successfully"))
}

/// Accepted connections of the citizen, each with its `chatInfo`.
#[utoipa::path(get, path = "/api/citizens/connected-lawyers", tag = "citizens", security(("bearer" = [])),
    params(Paging),
    responses(
        (status = 200, description = "`data: {connections (lawyer populated, chatInfo), pagination}`"),
        CitizenOnly,
    ))]
async fn connected_lawyers(State(state): State<AppState>, Citizen(user): Citizen, params: Params) -> AppResult<Cached> {
    legacy_list(&state, &policy::CITIZEN_CONNECTED_LAWYERS, &user, &params, connections::connected_lawyers).await
}

/// The citizen's pending connection requests, grouped by lawyer.
#[utoipa::path(get, path = "/api/citizens/pending-connection-requests", tag = "citizens", security(("bearer" = [])),
    params(Paging),
    responses(
        (status = 200, description = "`data: {requests (first request per lawyer + requestCount, allRequests), \
            pagination}`"),
        CitizenOnly,
    ))]
async fn citizen_pending_connections(
    State(state): State<AppState>,
    Citizen(user): Citizen,
    params: Params,
) -> AppResult<Cached> {
    legacy_list(&state, &policy::CITIZEN_PENDING_CONNECTIONS, &user, &params, connections::pending_requests_of_citizen)
        .await
}

/// The direct chats of the citizen's accepted connections.
#[utoipa::path(get, path = "/api/citizens/direct-chats", tag = "citizens", security(("bearer" = [])),
    params(Paging),
    responses(
        (status = 200, description = "`data: {chats: [{connectionId, chatId, lawyer, status, lastMessage, \
            unreadCount, connectedAt, participants}], pagination}`"),
        CitizenOnly,
    ))]
async fn direct_chats(State(state): State<AppState>, Citizen(user): Citizen, params: Params) -> AppResult<Cached> {
    legacy_list(&state, &policy::CITIZEN_DIRECT_CHATS, &user, &params, connections::direct_chats_of_citizen).await
}

// ---- the per-route limiter of 3.4 #15 ----

/// `messageLimiter` of the original on the connection request route: 30 per minute per IP
/// (100 in development). One per router, so one per app.
#[derive(Clone, Default)]
struct ConnectionRequestLimiter(Arc<OnceLock<RateLimiter>>);

impl ConnectionRequestLimiter {
    fn check(&self, state: &AppState, ip: IpAddr) -> AppResult<()> {
        let development = state.config.env == Environment::Development;
        let limiter =
            self.0.get_or_init(|| RateLimiter::new(Duration::from_secs(60), if development { 100 } else { 30 }));
        if limiter.check(ip).allowed {
            return Ok(());
        }
        Err(AppError::too_many(if development {
            "Rate limit reached (development mode - 100 messages per minute)"
        } else {
            "Too many messages sent, please slow down."
        }))
    }
}

/// The client's IP (loopback when the server runs without connection info).
struct ClientIp(IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let ip =
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Ok(ClientIp(ip))
    }
}
