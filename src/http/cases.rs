//! Cases: queries and disputes (API.md 3.5, 3.6), and the case routes of lawyers (3.3 #3-6,
//! #17-20) and citizens (3.4 #1, #2, #5, #7-14, #20). Handlers extract, gate, and call one
//! function of `service::cases`; `/queries` and `/disputes` are one router generic over the
//! case type.

use std::future::Future;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{delete, get, patch, post};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::cache::{Cached, Lookup, Policy, policy};
use crate::error::{AppError, AppResult};
use crate::http::extract::{Citizen, CurrentUser, JsonBody, Params, VerifiedLawyer, authorize, parse_id};
use crate::http::respond::{Envelope, legacy_pagination, wrapper_meta, wrapper_pagination};
use crate::ids::Id;
use crate::service::cases::{self as service, CaseType, OfferRoute, RequestList, Side};
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

pub fn query_routes() -> Router<AppState> {
    case_routes::<Queries>("queryId")
}

pub fn dispute_routes() -> Router<AppState> {
    case_routes::<Disputes>("disputeId")
}

fn case_routes<K: Kind>(id: &str) -> Router<AppState> {
    Router::new()
        .route("/", post(create::<K>).get(list::<K>))
        .route(&format!("/{{{id}}}"), get(get_one::<K>))
        .route(&format!("/{{{id}}}/send-request"), post(send_request::<K>))
        .route(&format!("/{{{id}}}/requests/{{requestId}}/respond"), post(respond::<K>))
        .route(&format!("/{{{id}}}/request"), post(legacy_request::<K>))
        .route(&format!("/{{{id}}}/offer-help"), post(legacy_offer_help::<K>))
        .route(&format!("/{{{id}}}/status"), patch(update_status::<K>))
}

/// `{success:true, data}` as a cached body.
fn ok_body(data: Value) -> Value {
    json!({"success": true, "data": data})
}

/// Serves a per-user cached GET whose body is `{success, data}`. Gates ran before.
async fn serve_data<F, Fut>(state: &AppState, policy: &Policy, user: &User, params: &Params, load: F) -> AppResult<Cached>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = AppResult<Value>>,
{
    let lookup = Lookup { caller: Some(user), params, subject: None };
    state.cache.serve(policy, lookup, || async move { Ok(ok_body(load().await?)) }).await
}

fn case_id<K: Kind>(raw: &str) -> AppResult<Id> {
    parse_id(raw, K::TYPE.as_str())
}

fn case_type_of(raw: &str) -> AppResult<CaseType> {
    CaseType::parse(raw).ok_or_else(|| AppError::bad_request("Invalid case type. Must be 'query' or 'dispute'"))
}

// 3.5 / 3.6

async fn create<K: Kind>(State(state): State<AppState>, Citizen(user): Citizen, JsonBody(body): JsonBody) -> AppResult<Envelope> {
    let data = service::create(&state, &user, K::TYPE, &body).await?;
    Ok(Envelope::data(data).with_message(format!("{} created successfully", K::TYPE.label())).created())
}

async fn list<K: Kind>(State(state): State<AppState>, CurrentUser(user): CurrentUser, params: Params) -> AppResult<Cached> {
    authorize(&user, &[Role::Citizen, Role::Lawyer, Role::Admin])?;
    let lookup = Lookup { caller: Some(&user), params: &params, subject: None };
    state
        .cache
        .serve(K::LIST, lookup, || async {
            let (items, total, page) = service::list(&state, &user, K::TYPE, &params).await?;
            let data = Value::Array(items);
            Ok(json!({
                "success": true,
                "pagination": wrapper_pagination(total, page),
                "meta": wrapper_meta(&data),
                "data": data,
            }))
        })
        .await
}

async fn get_one<K: Kind>(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(raw): Path<String>,
    params: Params,
) -> AppResult<Cached> {
    let id = case_id::<K>(&raw)?;
    // Checked on every request, hits included: entries are shared per case only in tags.
    service::check_read_access(&state, &user, K::TYPE, &id).await?;
    let lookup = Lookup { caller: Some(&user), params: &params, subject: Some(&id) };
    state.cache.serve(K::ITEM, lookup, || async { Ok(ok_body(service::get(&state, K::TYPE, &id).await?)) }).await
}

async fn send_request<K: Kind>(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody,
) -> AppResult<Envelope> {
    let id = case_id::<K>(&raw)?;
    service::send_request(&state, &user, K::TYPE, &id, &body).await?;
    Ok(Envelope::message("Request sent successfully"))
}

async fn legacy_request<K: Kind>(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody,
) -> AppResult<Envelope> {
    let id = case_id::<K>(&raw)?;
    service::send_request(&state, &user, K::TYPE, &id, &body).await?;
    Ok(Envelope::message("Request sent successfully"))
}

async fn legacy_offer_help<K: Kind>(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody,
) -> AppResult<Envelope> {
    let id = case_id::<K>(&raw)?;
    service::offer_help(&state, &user, K::TYPE, &id, &body, OfferRoute::Legacy).await?;
    Ok(Envelope::message("Offer sent successfully"))
}

async fn respond<K: Kind>(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((raw, raw_request)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> AppResult<Envelope> {
    let id = case_id::<K>(&raw)?;
    let request_id = parse_id(&raw_request, "request")?;
    let message = service::respond(&state, &user, K::TYPE, &id, &request_id, &body).await?;
    Ok(Envelope::message(message))
}

async fn update_status<K: Kind>(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody,
) -> AppResult<Envelope> {
    let id = case_id::<K>(&raw)?;
    service::update_status(&state, &user, K::TYPE, &id, &body).await?;
    Ok(Envelope::message(format!("{} status updated successfully", K::TYPE.label())))
}

// 3.3: lawyers (every route `auth:lawyer+v`)

pub fn lawyer_routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard/stats", get(lawyer_dashboard))
        .route("/available-cases", get(available_cases))
        .route("/my-cases", get(lawyer_my_cases))
        .route("/offer-help/{caseType}/{caseId}", post(offer_help))
        .route(
            "/my-case-requests",
            get(|State(s): State<AppState>, VerifiedLawyer(u): VerifiedLawyer, p: Params| async move {
                request_list(&s, &u, &p, RequestList::LawyerSent, &policy::LAWYER_MY_CASE_REQUESTS).await
            }),
        )
        .route(
            "/received-case-requests",
            get(|State(s): State<AppState>, VerifiedLawyer(u): VerifiedLawyer, p: Params| async move {
                request_list(&s, &u, &p, RequestList::LawyerReceived, &policy::LAWYER_RECEIVED_CASE_REQUESTS).await
            }),
        )
        .route(
            "/accept-case-request/{requestId}",
            post(|State(s): State<AppState>, VerifiedLawyer(u): VerifiedLawyer, Path(raw): Path<String>| async move {
                answer(&s, &u, Side::Lawyer, &raw, true).await
            }),
        )
        .route(
            "/reject-case-request/{requestId}",
            post(|State(s): State<AppState>, VerifiedLawyer(u): VerifiedLawyer, Path(raw): Path<String>| async move {
                answer(&s, &u, Side::Lawyer, &raw, false).await
            }),
        )
}

async fn lawyer_dashboard(State(state): State<AppState>, VerifiedLawyer(user): VerifiedLawyer, params: Params) -> AppResult<Cached> {
    serve_data(&state, &policy::LAWYER_DASHBOARD, &user, &params, || service::lawyer_dashboard(&state, &user)).await
}

/// `data: {cases, pagination}` (what the frontend reads) plus the wrapper's top-level
/// `pagination` and `meta`.
async fn available_cases(State(state): State<AppState>, VerifiedLawyer(user): VerifiedLawyer, params: Params) -> AppResult<Cached> {
    let lookup = Lookup { caller: Some(&user), params: &params, subject: None };
    state
        .cache
        .serve(&policy::LAWYER_AVAILABLE_CASES, lookup, || async {
            let (items, total, page) = service::available_cases(&state, &user, &params).await?;
            let data = json!({"cases": items, "pagination": legacy_pagination(total, page)});
            Ok(json!({
                "success": true,
                "pagination": wrapper_pagination(total, page),
                "meta": wrapper_meta(&data),
                "data": data,
            }))
        })
        .await
}

async fn lawyer_my_cases(State(state): State<AppState>, VerifiedLawyer(user): VerifiedLawyer, params: Params) -> AppResult<Cached> {
    serve_data(&state, &policy::LAWYER_MY_CASES, &user, &params, || service::lawyer_my_cases(&state, &user, &params)).await
}

async fn offer_help(
    State(state): State<AppState>,
    VerifiedLawyer(user): VerifiedLawyer,
    Path((raw_type, raw_id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> AppResult<Envelope> {
    let case_type = case_type_of(&raw_type)?;
    let id = parse_id(&raw_id, "case")?;
    service::offer_help(&state, &user, case_type, &id, &body, OfferRoute::Lawyers).await?;
    Ok(Envelope::message("Offer sent successfully"))
}

async fn request_list(state: &AppState, user: &User, params: &Params, list: RequestList, policy: &Policy) -> AppResult<Cached> {
    serve_data(state, policy, user, params, || service::request_list(state, user, list, params)).await
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
        .route(
            "/request-lawyer-for-query/{queryId}/{lawyerId}",
            post(|s: State<AppState>, u: Citizen, p: Path<(String, String)>, b: JsonBody| request_lawyer(s, u, p, b, CaseType::Query)),
        )
        .route(
            "/request-lawyer-for-dispute/{disputeId}/{lawyerId}",
            post(|s: State<AppState>, u: Citizen, p: Path<(String, String)>, b: JsonBody| request_lawyer(s, u, p, b, CaseType::Dispute)),
        )
        .route(
            "/pending-requests",
            get(|State(s): State<AppState>, Citizen(u): Citizen, p: Params| async move {
                request_list(&s, &u, &p, RequestList::CitizenPending, &policy::CITIZEN_PENDING_REQUESTS).await
            }),
        )
        .route(
            "/received-offers",
            get(|State(s): State<AppState>, Citizen(u): Citizen, p: Params| async move {
                request_list(&s, &u, &p, RequestList::CitizenReceivedOffers, &policy::CITIZEN_RECEIVED_OFFERS).await
            }),
        )
        .route(
            "/my-case-requests",
            get(|State(s): State<AppState>, Citizen(u): Citizen, p: Params| async move {
                request_list(&s, &u, &p, RequestList::CitizenSent, &policy::CITIZEN_MY_CASE_REQUESTS).await
            }),
        )
        .route(
            "/my-case-offers",
            get(|State(s): State<AppState>, Citizen(u): Citizen, p: Params| async move {
                request_list(&s, &u, &p, RequestList::CitizenOffers, &policy::CITIZEN_MY_CASE_OFFERS).await
            }),
        )
        .route(
            "/accept-case-offer/{offerId}",
            post(|State(s): State<AppState>, Citizen(u): Citizen, Path(raw): Path<String>| async move {
                answer(&s, &u, Side::Citizen, &raw, true).await
            }),
        )
        .route(
            "/reject-case-offer/{offerId}",
            post(|State(s): State<AppState>, Citizen(u): Citizen, Path(raw): Path<String>| async move {
                answer(&s, &u, Side::Citizen, &raw, false).await
            }),
        )
        .route("/revoke-case-request/{caseType}/{caseId}/{lawyerId}", delete(revoke_case_request))
}

async fn citizen_dashboard(State(state): State<AppState>, Citizen(user): Citizen, params: Params) -> AppResult<Cached> {
    serve_data(&state, &policy::CITIZEN_DASHBOARD, &user, &params, || service::citizen_dashboard(&state, &user)).await
}

async fn recent_activity(State(state): State<AppState>, Citizen(user): Citizen, params: Params) -> AppResult<Cached> {
    serve_data(&state, &policy::CITIZEN_RECENT_ACTIVITY, &user, &params, || service::recent_activity(&state, &user, &params)).await
}

async fn citizen_my_cases(State(state): State<AppState>, Citizen(user): Citizen, params: Params) -> AppResult<Cached> {
    serve_data(&state, &policy::CITIZEN_MY_CASES, &user, &params, || service::citizen_my_cases(&state, &user, &params)).await
}

async fn request_lawyer(
    State(state): State<AppState>,
    Citizen(user): Citizen,
    Path((raw_case, raw_lawyer)): Path<(String, String)>,
    JsonBody(body): JsonBody,
    case_type: CaseType,
) -> AppResult<Envelope> {
    let case_id = parse_id(&raw_case, case_type.as_str())?;
    let lawyer_id = parse_id(&raw_lawyer, "lawyer")?;
    let data = service::request_lawyer(&state, &user, case_type, &case_id, &lawyer_id, &body).await?;
    Ok(Envelope::data(data).with_message("Request sent to lawyer successfully"))
}

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
