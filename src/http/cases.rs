//! Cases: queries and disputes (docs/api.md 3.5, 3.6), and the case routes of lawyers (3.3 #3-6,
//! #17-20) and citizens (3.4 #1, #2, #5, #7-14, #20). Handlers extract, gate, and call one
//! function of `service::cases`; `/queries` and `/disputes` are one router generic over the
//! case type.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{delete, get, patch, post};
use serde_json::Value;

use crate::cache::{Cached, Lookup, Policy, policy};
use crate::error::{AppError, AppResult};
use crate::http::docs::{CitizenOnly, LoggedIn, Paging, VerifiedLawyerOnly};
use crate::http::extract::{Body, Citizen, CurrentUser, Params, VerifiedLawyer, authorize, parse_id};
use crate::http::respond::{Envelope, serve_data, wrapped};
use crate::ids::Id;
use crate::service::cases::{
    self as service, CaseType, EntryResponse, LawyerRequest, NewCase, NewDispute, NewOffer, NewQuery, OfferRoute,
    QueryStatusUpdate, RequestList, SendRequest, Side, StatusUpdate,
};
use crate::state::AppState;
use crate::store::users::{Role, User};

/// The case type a `/queries` or `/disputes` router serves, with its cache policies.
trait Kind: Send + Sync + 'static {
    const TYPE: CaseType;
    const LIST: &'static Policy;
    const ITEM: &'static Policy;
}

struct Queries;
struct Disputes;

impl Kind for Queries {
    const TYPE: CaseType = CaseType::Query;
    const LIST: &'static Policy = &policy::QUERIES;
    const ITEM: &'static Policy = &policy::QUERY;
}

impl Kind for Disputes {
    const TYPE: CaseType = CaseType::Dispute;
    const LIST: &'static Policy = &policy::DISPUTES;
    const ITEM: &'static Policy = &policy::DISPUTE;
}

/// The `/api/queries` or `/api/disputes` routes (docs/api.md 3.5, 3.6) of one case type: thin
/// handlers over the generic ones below, each with its OpenAPI description (paths, names and
/// messages differ per type; the behaviour is one).
macro_rules! case_type_routes {
    (
        $module:ident, $kind:ty, base = $base:literal, id = $id:literal, tag = $tag:literal, one = $one:literal,
        create_body = $create_body:ty, status_body = $status_body:ty, list_params = ($($list_param:tt)*)
    ) => {
        pub mod $module {
            use super::*;

            pub fn routes() -> Router<AppState> {
                Router::new()
                    .route("/", post(create).get(list))
                    .route(concat!("/{", $id, "}"), get(get_one))
                    .route(concat!("/{", $id, "}/send-request"), post(send_request))
                    .route(concat!("/{", $id, "}/requests/{requestId}/respond"), post(respond))
                    .route(concat!("/{", $id, "}/request"), post(legacy_request))
                    .route(concat!("/{", $id, "}/offer-help"), post(legacy_offer_help))
                    .route(concat!("/{", $id, "}/status"), patch(update_status))
            }

            /// Create (citizens). The citizen's activity feed and dashboard are notified.
            #[utoipa::path(post, path = concat!("/api/", $base), tag = $tag, security(("bearer" = [])),
                request_body = $create_body,
                responses(
                    (status = 201, description = concat!("`data: {", $one, "}` (citizen populated)")),
                    (status = 400, description = "Validation failed"),
                    CitizenOnly,
                ))]
            async fn create(
                State(state): State<AppState>,
                Citizen(user): Citizen,
                Body(input): Body<$create_body>,
            ) -> AppResult<Envelope> {
                super::create::<$kind>(&state, &user, input.into()).await
            }

            /// List, scoped by role: citizens their own, lawyers by `type`, admins everything.
            #[utoipa::path(get, path = concat!("/api/", $base), tag = $tag, security(("bearer" = [])),
                params(
                    Paging,
                    ("fields" = Option<String>, Query,
                        description = "Comma-separated fields to return (allow-list of docs/api.md)"),
                    ("status" = Option<String>, Query, description = "A status, or all"),
                    ("category" = Option<String>, Query, description = "A category, or all"),
                    ("priority" = Option<String>, Query, description = "low, medium, high, urgent, or all"),
                    $($list_param)*
                    ("search" = Option<String>, Query, description = "Case-insensitive text in title or description"),
                    ("type" = Option<String>, Query, description = "Lawyers: available (default), assigned or requests"),
                    ("citizenId" = Option<String>, Query, description = "Admins: one citizen's cases"),
                    ("lawyerId" = Option<String>, Query, description = "Admins: one lawyer's cases"),
                ),
                responses(
                    (status = 200, description = "Wrapper pagination: `data` (array), `pagination`, \
                        `meta`; cached per user (`X-Cache`)"),
                    (status = 403, description = "Law students"),
                    LoggedIn,
                ))]
            async fn list(
                State(state): State<AppState>,
                CurrentUser(user): CurrentUser,
                params: Params,
            ) -> AppResult<Cached> {
                super::list::<$kind>(&state, &user, &params).await
            }

            /// One case, fully populated. Access is checked on every request, cache hits included.
            #[utoipa::path(get, path = concat!("/api/", $base, "/{", $id, "}"), tag = $tag, security(("bearer" = [])),
                params(($id = String, Path, description = concat!("24-hex ", $one, " id"))),
                responses(
                    (status = 200, description = concat!("`data: {", $one, "}`; cached per user (`X-Cache`)")),
                    (status = 400, description = "Malformed id"),
                    (status = 403, description = "Access denied: not its citizen, a lawyer on it, or an admin"),
                    (status = 404, description = "Not found"),
                    LoggedIn,
                ))]
            async fn get_one(
                State(state): State<AppState>,
                CurrentUser(user): CurrentUser,
                Path(raw): Path<String>,
                params: Params,
            ) -> AppResult<Cached> {
                super::get_one::<$kind>(&state, &user, &raw, &params).await
            }

            /// A verified lawyer asks to handle the case, or its citizen invites a lawyer (`targetUserId`).
            #[utoipa::path(post, path = concat!("/api/", $base, "/{", $id, "}/send-request"), tag = $tag,
                security(("bearer" = [])),
                params(($id = String, Path, description = concat!("24-hex ", $one, " id"))),
                request_body = SendRequest,
                responses(
                    (status = 200, description = "Request sent successfully"),
                    (status = 400, description = "Not pending, already requested, own case, or missing target"),
                    (status = 403, description = "Neither a citizen nor a verified lawyer"),
                    (status = 404, description = "Case or lawyer not found"),
                    LoggedIn,
                ))]
            async fn send_request(
                State(state): State<AppState>,
                CurrentUser(user): CurrentUser,
                Path(raw): Path<String>,
                Body(input): Body<SendRequest>,
            ) -> AppResult<Envelope> {
                super::send_request::<$kind>(&state, &user, &raw, input).await
            }

            /// Accept or reject a `lawyerRequests` entry; only the party that did not create it may accept.
            #[utoipa::path(post, path = concat!("/api/", $base, "/{", $id, "}/requests/{requestId}/respond"), tag = $tag,
                security(("bearer" = [])),
                params(
                    ($id = String, Path, description = concat!("24-hex ", $one, " id")),
                    ("requestId" = String, Path, description = "24-hex request entry id"),
                ),
                request_body = EntryResponse,
                responses(
                    (status = 200, description = "Request accepted (the case is assigned and gets its chat) or rejected"),
                    (status = 400, description = "Invalid action, already answered, or the case moved on"),
                    (status = 403, description = "Access denied - you cannot respond to this request"),
                    (status = 404, description = "Case or request not found"),
                    LoggedIn,
                ))]
            async fn respond(
                State(state): State<AppState>,
                CurrentUser(user): CurrentUser,
                Path((raw, raw_request)): Path<(String, String)>,
                body: Result<Body<EntryResponse>, AppError>,
            ) -> AppResult<Envelope> {
                super::respond::<$kind>(&state, &user, &raw, &raw_request, body).await
            }

            /// Legacy alias of send-request for verified lawyers.
            #[utoipa::path(post, path = concat!("/api/", $base, "/{", $id, "}/request"), tag = $tag,
                security(("bearer" = [])),
                params(($id = String, Path, description = concat!("24-hex ", $one, " id"))),
                request_body = SendRequest,
                responses(
                    (status = 200, description = "Request sent successfully"),
                    (status = 400, description = "Not pending, or already requested"),
                    VerifiedLawyerOnly,
                    (status = 404, description = "Not found"),
                ))]
            async fn legacy_request(
                State(state): State<AppState>,
                VerifiedLawyer(user): VerifiedLawyer,
                Path(raw): Path<String>,
                Body(input): Body<SendRequest>,
            ) -> AppResult<Envelope> {
                super::send_request::<$kind>(&state, &user, &raw, input).await
            }

            /// Legacy offer of help by a verified lawyer; the citizen is notified.
            #[utoipa::path(post, path = concat!("/api/", $base, "/{", $id, "}/offer-help"), tag = $tag,
                security(("bearer" = [])),
                params(($id = String, Path, description = concat!("24-hex ", $one, " id"))),
                request_body = NewOffer,
                responses(
                    (status = 200, description = "Offer sent successfully"),
                    (status = 400, description = "Not available for offers, already assigned, or already offered"),
                    VerifiedLawyerOnly,
                    (status = 404, description = "Not found"),
                ))]
            async fn legacy_offer_help(
                State(state): State<AppState>,
                VerifiedLawyer(user): VerifiedLawyer,
                Path(raw): Path<String>,
                Body(input): Body<NewOffer>,
            ) -> AppResult<Envelope> {
                super::legacy_offer_help::<$kind>(&state, &user, &raw, input).await
            }

            /// Status change by the assigned lawyer, the owner or an admin.
            #[utoipa::path(patch, path = concat!("/api/", $base, "/{", $id, "}/status"), tag = $tag,
                security(("bearer" = [])),
                params(($id = String, Path, description = concat!("24-hex ", $one, " id"))),
                request_body = $status_body,
                responses(
                    (status = 200, description = "Status updated successfully"),
                    (status = 400, description = "Validation failed"),
                    (status = 403, description = "Access denied"),
                    (status = 404, description = "Not found"),
                    LoggedIn,
                ))]
            async fn update_status(
                State(state): State<AppState>,
                CurrentUser(user): CurrentUser,
                Path(raw): Path<String>,
                body: Result<Body<$status_body>, AppError>,
            ) -> AppResult<Envelope> {
                super::update_status::<$kind, _>(&state, &user, &raw, body).await
            }
        }
    };
}

case_type_routes!(
    queries,
    Queries,
    base = "queries",
    id = "queryId",
    tag = "queries",
    one = "query",
    create_body = NewQuery,
    status_body = QueryStatusUpdate,
    list_params = ()
);

case_type_routes!(
    disputes, Disputes, base = "disputes", id = "disputeId", tag = "disputes", one = "dispute",
    create_body = NewDispute,
    status_body = StatusUpdate,
    list_params = (("disputeType" = Option<String>, Query, description = "A dispute type, or all"),)
);

fn case_id<K: Kind>(raw: &str) -> AppResult<Id> {
    parse_id(raw, K::TYPE.as_str())
}

fn case_type_of(raw: &str) -> AppResult<CaseType> {
    raw.parse().map_err(|_| AppError::bad_request("Invalid case type. Must be 'query' or 'dispute'"))
}

// 3.5 / 3.6, generic over the case type

async fn create<K: Kind>(state: &AppState, user: &User, new: NewCase) -> AppResult<Envelope> {
    let data = service::create(state, user, new).await?;
    Ok(Envelope::data(data).with_message(format!("{} created successfully", K::TYPE.label())).created())
}

async fn list<K: Kind>(state: &AppState, user: &User, params: &Params) -> AppResult<Cached> {
    authorize(user, &[Role::Citizen, Role::Lawyer, Role::Admin])?;
    state
        .cache
        .serve(K::LIST, Lookup::of(user, params), || async {
            let (items, total, page) = service::list(state, user, K::TYPE, params).await?;
            Ok(wrapped(Value::Array(items), total, page).into_json())
        })
        .await
}

async fn get_one<K: Kind>(state: &AppState, user: &User, raw: &str, params: &Params) -> AppResult<Cached> {
    let id = case_id::<K>(raw)?;
    // Checked on every request, hits included: entries are shared per case only in tags.
    service::check_read_access(state, user, K::TYPE, &id).await?;
    let lookup = Lookup { caller: Some(user), params, subject: Some(&id) };
    serve_data(state, K::ITEM, lookup, || service::get(state, K::TYPE, &id)).await
}

/// send-request and its lawyer-only alias `request`: one rule, two gates.
async fn send_request<K: Kind>(state: &AppState, user: &User, raw: &str, input: SendRequest) -> AppResult<Envelope> {
    let id = case_id::<K>(raw)?;
    service::send_request(state, user, K::TYPE, &id, input).await?;
    Ok(Envelope::message("Request sent successfully"))
}

async fn legacy_offer_help<K: Kind>(state: &AppState, user: &User, raw: &str, offer: NewOffer) -> AppResult<Envelope> {
    let id = case_id::<K>(raw)?;
    service::offer_help(state, user, K::TYPE, &id, offer, OfferRoute::Legacy).await?;
    Ok(Envelope::message("Offer sent successfully"))
}

async fn respond<K: Kind>(
    state: &AppState,
    user: &User,
    raw: &str,
    raw_request: &str,
    body: AppResult<Body<EntryResponse>>,
) -> AppResult<Envelope> {
    let id = case_id::<K>(raw)?;
    let request_id = parse_id(raw_request, "request")?;
    // The body is checked after the path ids, as it always was.
    let Body(response) = body?;
    let message = service::respond(state, user, K::TYPE, &id, &request_id, response).await?;
    Ok(Envelope::message(message))
}

async fn update_status<K: Kind, T: Into<StatusUpdate>>(
    state: &AppState,
    user: &User,
    raw: &str,
    body: AppResult<Body<T>>,
) -> AppResult<Envelope> {
    let id = case_id::<K>(raw)?;
    // The body is checked after the path id, as it always was.
    let Body(update) = body?;
    service::update_status(state, user, K::TYPE, &id, update.into()).await?;
    Ok(Envelope::message(format!("{} status updated successfully", K::TYPE.label())))
}

// 3.3: lawyers (every route `auth:lawyer+v`)

pub fn lawyer_routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard/stats", get(lawyer_dashboard))
        .route("/available-cases", get(available_cases))
        .route("/my-cases", get(lawyer_my_cases))
        .route("/offer-help/{caseType}/{caseId}", post(offer_help))
        .route("/my-case-requests", get(lawyer_sent_requests))
        .route("/received-case-requests", get(lawyer_received_requests))
        .route("/accept-case-request/{requestId}", post(accept_case_request))
        .route("/reject-case-request/{requestId}", post(reject_case_request))
}

/// The lawyer's dashboard counts.
#[utoipa::path(get, path = "/api/lawyers/dashboard/stats", tag = "lawyers", security(("bearer" = [])),
    responses(
        (status = 200, description = "`data: {totalClients, activeQueries, activeDisputes, totalCases, resolvedCases, \
            activeCases}`"),
        VerifiedLawyerOnly,
    ))]
async fn lawyer_dashboard(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    params: Params,
) -> AppResult<Cached> {
    serve_data(&state, &policy::LAWYER_DASHBOARD, Lookup::of(&user, &params), || {
        service::lawyer_dashboard(&state, &user)
    })
    .await
}

/// Open cases of both types (pending and unassigned). `data: {cases, pagination}` (what the
/// frontend reads) plus the wrapper's top-level `pagination` and `meta`.
#[utoipa::path(get, path = "/api/lawyers/available-cases", tag = "lawyers", security(("bearer" = [])),
    params(
        Paging,
        ("fields" = Option<String>, Query, description = "Comma-separated: title, description, category, priority, \
            status, createdAt, caseType, hasLawyerRequested"),
        ("caseType" = Option<String>, Query, description = "all (default), query or dispute"),
        ("category" = Option<String>, Query, description = "A category, or all"),
        ("priority" = Option<String>, Query, description = "A priority, or all"),
        ("search" = Option<String>, Query, description = "Case-insensitive text in title or description"),
        ("sortBy" = Option<String>, Query, description = "createdAt (default), updatedAt, title, status, \
            priority or category"),
        ("sortOrder" = Option<String>, Query, description = "desc (default) or asc"),
    ),
    responses(
        (status = 200, description = "`data: {cases (each with caseType, hasLawyerRequested), pagination: {current, \
            pages, total}}`, `pagination`, `meta`"),
        VerifiedLawyerOnly,
    ))]
async fn available_cases(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    params: Params,
) -> AppResult<Cached> {
    state
        .cache
        .serve(&policy::LAWYER_AVAILABLE_CASES, Lookup::of(&user, &params), || async {
            let (data, total, page) = service::available_cases(&state, &user, &params).await?;
            Ok(wrapped(data, total, page).into_json())
        })
        .await
}

/// Cases assigned to the lawyer, each with `caseType` and its `chatRoom`.
#[utoipa::path(get, path = "/api/lawyers/my-cases", tag = "lawyers", security(("bearer" = [])),
    params(
        Paging,
        ("caseType" = Option<String>, Query, description = "all (default), query or dispute"),
        ("status" = Option<String>, Query, description = "A status, or all"),
        ("search" = Option<String>, Query, description = "Case-insensitive text in title or description"),
    ),
    responses(
        (status = 200, description = "`data: {cases (citizen populated, chatRoom: {chatId, status, lastMessage, \
            unreadCount} or null), pagination: {current, pages, total}}`"),
        VerifiedLawyerOnly,
    ))]
async fn lawyer_my_cases(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    params: Params,
) -> AppResult<Cached> {
    serve_data(&state, &policy::LAWYER_MY_CASES, Lookup::of(&user, &params), || {
        service::lawyer_my_cases(&state, &user, &params)
    })
    .await
}

/// The lawyer offers help on an open case; the citizen is notified (`new_lawyer_offer`).
#[utoipa::path(post, path = "/api/lawyers/offer-help/{caseType}/{caseId}", tag = "lawyers", security(("bearer" = [])),
    params(
        ("caseType" = String, Path, description = "query or dispute"),
        ("caseId" = String, Path, description = "24-hex case id"),
    ),
    request_body = NewOffer,
    responses(
        (status = 200, description = "Offer sent successfully"),
        (status = 400, description = "Invalid case type, not available for offers, already assigned or already offered"),
        VerifiedLawyerOnly,
        (status = 404, description = "Query not found / Dispute not found"),
    ))]
async fn offer_help(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    Path((raw_type, raw_id)): Path<(String, String)>,
    Body(offer): Body<NewOffer>,
) -> AppResult<Envelope> {
    let case_type = case_type_of(&raw_type)?;
    let id = parse_id(&raw_id, "case")?;
    service::offer_help(&state, &user, case_type, &id, offer, OfferRoute::Lawyers).await?;
    Ok(Envelope::message("Offer sent successfully"))
}

/// The lawyer's own offers, one per case.
#[utoipa::path(get, path = "/api/lawyers/my-case-requests", tag = "lawyers", security(("bearer" = [])),
    params(Paging, ("status" = Option<String>, Query, description = "pending, accepted or rejected")),
    responses(
        (status = 200, description = "`data: {requests: [{requestId, caseId, caseType, caseTitle, description, \
            category, priority, disputeValue?, citizen, status, message, requestedAt, respondedAt?}], \
            pagination: {current, pages, total}}`"),
        VerifiedLawyerOnly,
    ))]
async fn lawyer_sent_requests(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    params: Params,
) -> AppResult<Cached> {
    request_list(&state, &user, &params, RequestList::LawyerSent, &policy::LAWYER_MY_CASE_REQUESTS).await
}

/// Citizens' requests addressed to the lawyer, one per case.
#[utoipa::path(get, path = "/api/lawyers/received-case-requests", tag = "lawyers", security(("bearer" = [])),
    params(Paging, ("status" = Option<String>, Query, description = "pending, accepted or rejected")),
    responses(
        (status = 200, description = "`data: {requests (as my-case-requests), pagination: {current, pages, total}}`"),
        VerifiedLawyerOnly,
    ))]
async fn lawyer_received_requests(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    params: Params,
) -> AppResult<Cached> {
    request_list(&state, &user, &params, RequestList::LawyerReceived, &policy::LAWYER_RECEIVED_CASE_REQUESTS).await
}

/// Accepts a citizen's request: the case is assigned to the lawyer and gets its chat.
#[utoipa::path(post, path = "/api/lawyers/accept-case-request/{requestId}", tag = "lawyers", security(("bearer" = [])),
    params(("requestId" = String, Path, description = "24-hex request entry id")),
    responses(
        (status = 200, description = "`data: {request, chat: {chatId, caseType}}`"),
        (status = 400, description = "Already answered, or the case is no longer open"),
        VerifiedLawyerOnly,
        (status = 404, description = "Case request not found"),
    ))]
async fn accept_case_request(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    Path(raw): Path<String>,
) -> AppResult<Envelope> {
    answer(&state, &user, Side::Lawyer, &raw, true).await
}

/// Rejects a citizen's request.
#[utoipa::path(post, path = "/api/lawyers/reject-case-request/{requestId}", tag = "lawyers", security(("bearer" = [])),
    params(("requestId" = String, Path, description = "24-hex request entry id")),
    responses(
        (status = 200, description = "`data: {request}`"),
        (status = 400, description = "Already answered"),
        VerifiedLawyerOnly,
        (status = 404, description = "Case request not found"),
    ))]
async fn reject_case_request(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    Path(raw): Path<String>,
) -> AppResult<Envelope> {
    answer(&state, &user, Side::Lawyer, &raw, false).await
}

async fn request_list(
    state: &AppState,
    user: &User,
    params: &Params,
    list: RequestList,
    policy: &Policy,
) -> AppResult<Cached> {
    serve_data(state, policy, Lookup::of(user, params), || service::request_list(state, user, list, params)).await
}

async fn answer(state: &AppState, user: &User, side: Side, raw: &str, accept: bool) -> AppResult<Envelope> {
    let what = match side {
        Side::Lawyer => "request",
        Side::Citizen => "offer",
    };
    let id = parse_id(raw, what)?;
    let (message, data) = service::answer_entry(state, user, side, &id, accept).await?;
    Ok(Envelope::data(data).with_message(message))
}

// 3.4: citizens (every route `auth:citizen`)

pub fn citizen_routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(citizen_dashboard))
        .route("/recent-activity", get(recent_activity))
        .route("/my-cases", get(citizen_my_cases))
        .route("/request-lawyer-for-query/{queryId}/{lawyerId}", post(request_lawyer_for_query))
        .route("/request-lawyer-for-dispute/{disputeId}/{lawyerId}", post(request_lawyer_for_dispute))
        .route("/pending-requests", get(citizen_pending_requests))
        .route("/received-offers", get(citizen_received_offers))
        .route("/my-case-requests", get(citizen_sent_requests))
        .route("/my-case-offers", get(citizen_case_offers))
        .route("/accept-case-offer/{offerId}", post(accept_case_offer))
        .route("/reject-case-offer/{offerId}", post(reject_case_offer))
        .route("/revoke-case-request/{caseType}/{caseId}/{lawyerId}", delete(revoke_case_request))
}

/// The citizen's dashboard counts.
#[utoipa::path(get, path = "/api/citizens/dashboard", tag = "citizens", security(("bearer" = [])),
    responses(
        (status = 200, description = "`data: {totalQueries, activeQueries, resolvedQueries, totalDisputes, \
            activeDisputes, resolvedDisputes, totalCases, activeCases, resolvedCases, connectedLawyers, \
            pendingRequests, receivedOffers}`"),
        CitizenOnly,
    ))]
async fn citizen_dashboard(State(state): State<AppState>, Citizen(user): Citizen, params: Params) -> AppResult<Cached> {
    serve_data(&state, &policy::CITIZEN_DASHBOARD, Lookup::of(&user, &params), || {
        service::citizen_dashboard(&state, &user)
    })
    .await
}

/// The newest cases and connections of the citizen as activity items (at most 5).
#[utoipa::path(get, path = "/api/citizens/recent-activity", tag = "citizens", security(("bearer" = [])),
    params(("limit" = Option<i64>, Query, description = "Items read per source (default 10)")),
    responses(
        (status = 200, description = "`data: {activities: [{id, type, title, description, status, timestamp, \
            assignedLawyer, category, priority, disputeType?}], total}`"),
        CitizenOnly,
    ))]
async fn recent_activity(State(state): State<AppState>, Citizen(user): Citizen, params: Params) -> AppResult<Cached> {
    serve_data(&state, &policy::CITIZEN_RECENT_ACTIVITY, Lookup::of(&user, &params), || {
        service::recent_activity(&state, &user, &params)
    })
    .await
}

/// The citizen's cases with their requests, offers and (once assigned) chat.
#[utoipa::path(get, path = "/api/citizens/my-cases", tag = "citizens", security(("bearer" = [])),
    params(
        Paging,
        ("type" = Option<String>, Query, description = "all (default), queries or disputes"),
        ("status" = Option<String>, Query, description = "A status, or all"),
        ("search" = Option<String>, Query, description = "Case-insensitive text in title or description"),
    ),
    responses(
        (status = 200, description = "`data: {cases (each with caseType, chatRoom, requestedLawyers, receivedOffers), \
            pagination: {current, pages, total}}`"),
        CitizenOnly,
    ))]
async fn citizen_my_cases(State(state): State<AppState>, Citizen(user): Citizen, params: Params) -> AppResult<Cached> {
    serve_data(&state, &policy::CITIZEN_MY_CASES, Lookup::of(&user, &params), || {
        service::citizen_my_cases(&state, &user, &params)
    })
    .await
}

/// The owner asks a verified lawyer to take an open query; the lawyer is notified.
#[utoipa::path(post, path = "/api/citizens/request-lawyer-for-query/{queryId}/{lawyerId}", tag = "citizens",
    security(("bearer" = [])),
    params(
        ("queryId" = String, Path, description = "24-hex query id"),
        ("lawyerId" = String, Path, description = "24-hex lawyer id"),
    ),
    request_body = LawyerRequest,
    responses(
        (status = 200, description = "`data: {requestId, lawyer: {_id, name, specialization}}`"),
        (status = 400, description = "Not available for lawyer assignment, or already requested"),
        CitizenOnly,
        (status = 404, description = "Query not found or access denied / Lawyer not found or not verified"),
    ))]
async fn request_lawyer_for_query(
    State(state): State<AppState>,
    Citizen(user): Citizen,
    Path((raw_case, raw_lawyer)): Path<(String, String)>,
    Body(request): Body<LawyerRequest>,
) -> AppResult<Envelope> {
    request_lawyer(&state, &user, CaseType::Query, &raw_case, &raw_lawyer, request).await
}

/// The owner asks a verified lawyer to take an open dispute; the lawyer is notified.
#[utoipa::path(post, path = "/api/citizens/request-lawyer-for-dispute/{disputeId}/{lawyerId}", tag = "citizens",
    security(("bearer" = [])),
    params(
        ("disputeId" = String, Path, description = "24-hex dispute id"),
        ("lawyerId" = String, Path, description = "24-hex lawyer id"),
    ),
    request_body = LawyerRequest,
    responses(
        (status = 200, description = "`data: {requestId, lawyer: {_id, name, specialization}}`"),
        (status = 400, description = "Not available for lawyer assignment, or already requested"),
        CitizenOnly,
        (status = 404, description = "Dispute not found or access denied / Lawyer not found or not verified"),
    ))]
async fn request_lawyer_for_dispute(
    State(state): State<AppState>,
    Citizen(user): Citizen,
    Path((raw_case, raw_lawyer)): Path<(String, String)>,
    Body(request): Body<LawyerRequest>,
) -> AppResult<Envelope> {
    request_lawyer(&state, &user, CaseType::Dispute, &raw_case, &raw_lawyer, request).await
}

async fn request_lawyer(
    state: &AppState,
    user: &User,
    case_type: CaseType,
    raw_case: &str,
    raw_lawyer: &str,
    request: LawyerRequest,
) -> AppResult<Envelope> {
    let case_id = parse_id(raw_case, case_type.as_str())?;
    let lawyer_id = parse_id(raw_lawyer, "lawyer")?;
    let data = service::request_lawyer(state, user, case_type, &case_id, &lawyer_id, request).await?;
    Ok(Envelope::data(data).with_message("Request sent to lawyer successfully"))
}

/// Pending requests the citizen sent to lawyers.
#[utoipa::path(get, path = "/api/citizens/pending-requests", tag = "citizens", security(("bearer" = [])),
    params(Paging, ("caseType" = Option<String>, Query, description = "query or dispute")),
    responses(
        (status = 200, description = "`data: {requests: [entry + caseType, caseId, caseTitle, caseCreatedAt], \
            pagination}`"),
        CitizenOnly,
    ))]
async fn citizen_pending_requests(
    State(state): State<AppState>,
    Citizen(user): Citizen,
    params: Params,
) -> AppResult<Cached> {
    request_list(&state, &user, &params, RequestList::CitizenPending, &policy::CITIZEN_PENDING_REQUESTS).await
}

/// Lawyers' offers on the citizen's cases, in one status.
#[utoipa::path(get, path = "/api/citizens/received-offers", tag = "citizens", security(("bearer" = [])),
    params(
        Paging,
        ("caseType" = Option<String>, Query, description = "query or dispute"),
        ("status" = Option<String>, Query, description = "pending (default), accepted or rejected"),
    ),
    responses(
        (status = 200, description = "`data: {offers: [entry + caseType, caseId, caseTitle, caseCreatedAt], \
            pagination}`"),
        CitizenOnly,
    ))]
async fn citizen_received_offers(
    State(state): State<AppState>,
    Citizen(user): Citizen,
    params: Params,
) -> AppResult<Cached> {
    request_list(&state, &user, &params, RequestList::CitizenReceivedOffers, &policy::CITIZEN_RECEIVED_OFFERS).await
}

/// Every request the citizen sent to lawyers.
#[utoipa::path(get, path = "/api/citizens/my-case-requests", tag = "citizens", security(("bearer" = [])),
    params(Paging, ("status" = Option<String>, Query, description = "pending, accepted or rejected")),
    responses(
        (status = 200, description = "`data: {requests: [{requestId, caseId, caseType, caseTitle, description, \
            category, priority, disputeValue?, lawyer: {_id, name, email, specialization, experience}, status, \
            message, requestedAt, respondedAt?}], pagination}`"),
        CitizenOnly,
    ))]
async fn citizen_sent_requests(
    State(state): State<AppState>,
    Citizen(user): Citizen,
    params: Params,
) -> AppResult<Cached> {
    request_list(&state, &user, &params, RequestList::CitizenSent, &policy::CITIZEN_MY_CASE_REQUESTS).await
}

/// Every offer lawyers made on the citizen's cases.
#[utoipa::path(get, path = "/api/citizens/my-case-offers", tag = "citizens", security(("bearer" = [])),
    params(Paging, ("status" = Option<String>, Query, description = "pending, accepted or rejected")),
    responses(
        (status = 200, description = "`data: {offers (as my-case-requests), pagination}`"),
        CitizenOnly,
    ))]
async fn citizen_case_offers(
    State(state): State<AppState>,
    Citizen(user): Citizen,
    params: Params,
) -> AppResult<Cached> {
    request_list(&state, &user, &params, RequestList::CitizenOffers, &policy::CITIZEN_MY_CASE_OFFERS).await
}

/// Accepts a lawyer's offer: the case is assigned to that lawyer and gets its chat.
#[utoipa::path(post, path = "/api/citizens/accept-case-offer/{offerId}", tag = "citizens", security(("bearer" = [])),
    params(("offerId" = String, Path, description = "24-hex offer entry id")),
    responses(
        (status = 200, description = "`data: {request, chat: {chatId, _id}}`"),
        (status = 400, description = "Already answered, or the case is no longer open"),
        CitizenOnly,
        (status = 404, description = "Case offer not found"),
    ))]
async fn accept_case_offer(
    State(state): State<AppState>,
    Citizen(user): Citizen,
    Path(raw): Path<String>,
) -> AppResult<Envelope> {
    answer(&state, &user, Side::Citizen, &raw, true).await
}

/// Rejects a lawyer's offer.
#[utoipa::path(post, path = "/api/citizens/reject-case-offer/{offerId}", tag = "citizens", security(("bearer" = [])),
    params(("offerId" = String, Path, description = "24-hex offer entry id")),
    responses(
        (status = 200, description = "`data: {request}`"),
        (status = 400, description = "Already answered"),
        CitizenOnly,
        (status = 404, description = "Case offer not found"),
    ))]
async fn reject_case_offer(
    State(state): State<AppState>,
    Citizen(user): Citizen,
    Path(raw): Path<String>,
) -> AppResult<Envelope> {
    answer(&state, &user, Side::Citizen, &raw, false).await
}

/// Withdraws a pending request to a lawyer; the lawyer is notified.
#[utoipa::path(delete, path = "/api/citizens/revoke-case-request/{caseType}/{caseId}/{lawyerId}", tag = "citizens",
    security(("bearer" = [])),
    params(
        ("caseType" = String, Path, description = "query or dispute"),
        ("caseId" = String, Path, description = "24-hex case id"),
        ("lawyerId" = String, Path, description = "24-hex lawyer id"),
    ),
    responses(
        (status = 200, description = "Case request revoked successfully"),
        (status = 400, description = "Invalid case type or malformed id"),
        CitizenOnly,
        (status = 404, description = "Case not found or access denied / Request not found or already processed"),
    ))]
async fn revoke_case_request(
    State(state): State<AppState>,
    Citizen(user): Citizen,
    Path((raw_type, raw_case, raw_lawyer)): Path<(String, String, String)>,
) -> AppResult<Envelope> {
    let case_type = case_type_of(&raw_type)?;
    let case_id = parse_id(&raw_case, case_type.as_str())?;
    let lawyer_id = parse_id(&raw_lawyer, "lawyer")?;
    service::revoke_request(&state, &user, case_type, &case_id, &lawyer_id).await?;
    Ok(Envelope::message("Case request revoked successfully"))
}
