//! Queries and disputes with their requests and offers (docs/api.md 3.3-3.6, 4.3): one
//! implementation for both case types, shared by the `/queries`, `/disputes`, `/lawyers` and
//! `/citizens` routes (and later Socket.IO handlers).
//!
//! Rules kept everywhere: lists are always scoped by role (filters only narrow them); an entry
//! can only be accepted by the party that did not create it; an acceptance answers 400 when
//! the entry or the case moved on; every write invalidates the cache tags of docs/api.md 3.12
//! before it answers and before anyone is notified.

use std::collections::HashMap;

use anyhow::anyhow;
use serde_json::{Map, Value, json};

use crate::state::AppState;
use crate::cache::Tag;
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::domain::page::{Page, Params, parse_id};
use crate::service::access::{authorize, require_verified_lawyer};
use crate::domain::page::select_fields;
use crate::ids::Id;
use crate::mail::templates;
use crate::service::people::{
    CONTACT, CONTACT_ADDRESS, LAWYER_BRIEF, LAWYER_CONTACT, NAME, NAME_EMAIL, NAME_ROLE, Users, actor, lawyer_brief,
    load_users, populate, user_ref,
};
use crate::domain::case::{
    Actor, CaseStatus, Category, DisputeType, Priority, RequestStatus, ResolutionType, TimelineAction,
};
use crate::store::cases::{self as store, Case, CaseFilter, CaseRecord, CaseRequest, ChatRoom, Direction, Party, RequestFilter, SortKey};
use crate::store::chats::{self as chat_store, CaseChatRow};
use crate::store::users::{self, Role, User};
use crate::time::now_iso;
use crate::validate::Validator;

pub use crate::store::cases::CaseType;

// ---------------------------------------------------------------------------------------------
// Output shapes

/// `fields=` allow-lists (docs/api.md 3.3 #4, 3.5 #6, 3.6).
const QUERY_LIST_FIELDS: &[&str] = &["title", "description", "category", "priority", "status", "createdAt", "citizen", "assignedLawyer"];
const DISPUTE_LIST_FIELDS: &[&str] = &[
    "title",
    "description",
    "category",
    "priority",
    "status",
    "disputeValue",
    "createdAt",
    "citizen",
    "assignedLawyer",
    "opposingParty",
];
const AVAILABLE_FIELDS: &[&str] = &["title", "description", "category", "priority", "status", "createdAt", "caseType", "hasLawyerRequested"];

/// One request entry (`lawyerRequests` / `citizenRequests` item).
fn request_json(r: &CaseRequest, lawyer: Value) -> Value {
    let mut out = Map::new();
    out.insert("_id".into(), json!(r.id));
    out.insert("lawyerId".into(), lawyer);
    out.insert("status".into(), json!(r.status));
    out.insert("requestedAt".into(), json!(r.requested_at));
    if let Some(at) = &r.responded_at {
        out.insert("respondedAt".into(), json!(at));
    }
    if let Some(message) = &r.message {
        out.insert("message".into(), json!(message));
    }
    if let Some(fee) = r.proposed_fee {
        out.insert("proposedFee".into(), json!(fee));
    }
    if let Some(duration) = &r.estimated_duration {
        out.insert("estimatedDuration".into(), json!(duration));
    }
    Value::Object(out)
}

/// Which references of a case are populated, and with which fields.
#[derive(Debug, Clone, Copy, Default)]
struct Populate {
    citizen: Option<&'static [&'static str]>,
    assigned: Option<&'static [&'static str]>,
    lawyer_requests: Option<&'static [&'static str]>,
    citizen_requests: Option<&'static [&'static str]>,
    /// `timeline.performedBy` and `notes.author` (name role).
    people: bool,
}

/// Replaces `key` (a user id) of every item with the user's name and role.
fn populate_people(items: &Value, key: &str, users: &Users) -> Value {
    let Some(items) = items.as_array() else { return json!([]) };
    Value::Array(
        items
            .iter()
            .map(|item| {
                let mut item = item.clone();
                let id = item.get(key).and_then(Value::as_str).and_then(|s| s.parse::<Id>().ok());
                if let Some(id) = id {
                    item[key] = user_ref(users, &id, Some(NAME_ROLE));
                }
                item
            })
            .collect(),
    )
}

/// User ids an item list refers to under `key`.
fn ids_under<'a>(items: &'a Value, key: &'a str) -> impl Iterator<Item = Id> + 'a {
    items.as_array().into_iter().flatten().filter_map(move |i| i.get(key)?.as_str()?.parse().ok())
}

/// A case as the original's documents look (`_id`, camelCase, `__v`), populated per `pop`.
fn case_json(case: &Case, requests: &[&CaseRequest], users: &Users, pop: Populate) -> Value {
    let mut o = Map::new();
    let dispute = case.case_type == CaseType::Dispute;
    o.insert("_id".into(), json!(case.id));
    o.insert("title".into(), json!(case.title));
    o.insert("description".into(), json!(case.description));
    if dispute {
        o.insert("disputeType".into(), json!(case.dispute_type));
    }
    o.insert("category".into(), json!(case.category));
    o.insert("status".into(), json!(case.status));
    o.insert("priority".into(), json!(case.priority));
    o.insert("citizen".into(), user_ref(users, &case.citizen_id, pop.citizen));
    let assigned = case.assigned_lawyer_id.as_ref().map(|id| user_ref(users, id, pop.assigned)).unwrap_or(Value::Null);
    o.insert("assignedLawyer".into(), assigned);
    for (key, direction, fields) in [
        ("lawyerRequests", Direction::Lawyer, pop.lawyer_requests),
        ("citizenRequests", Direction::Citizen, pop.citizen_requests),
    ] {
        let entries: Vec<Value> = requests
            .iter()
            .filter(|r| r.direction == direction)
            .map(|r| request_json(r, user_ref(users, &r.lawyer_id, fields)))
            .collect();
        o.insert(key.into(), Value::Array(entries));
    }
    if dispute {
        for key in ["opposingParty", "disputeValue"] {
            if let Some(v) = case.details.get(key).filter(|v| !v.is_null()) {
                o.insert(key.into(), v.clone());
            }
        }
        o.insert("hearingDates".into(), case.details.get("hearingDates").cloned().unwrap_or_else(|| json!([])));
    }
    o.insert("documents".into(), case.documents.clone());
    if pop.people {
        o.insert("notes".into(), populate_people(&case.notes, "author", users));
        o.insert("timeline".into(), populate_people(&case.timeline, "performedBy", users));
    } else {
        o.insert("notes".into(), case.notes.clone());
        o.insert("timeline".into(), case.timeline.clone());
    }
    if !case.resolution.is_null() {
        o.insert("resolution".into(), case.resolution.clone());
    }
    o.insert("createdAt".into(), json!(case.created_at));
    o.insert("updatedAt".into(), json!(case.updated_at));
    o.insert("__v".into(), json!(0));
    Value::Object(o)
}

/// `chatRoom` of my-cases items.
fn chat_room_json(room: Option<&ChatRoom>) -> Value {
    let Some(room) = room else { return Value::Null };
    let last = match &room.last_message {
        Some((content, at, sender)) => json!({"content": content, "timestamp": at, "sender": sender}),
        None => Value::Null,
    };
    json!({"chatId": room.chat_id, "status": room.status, "lastMessage": last, "unreadCount": room.unread_count})
}

/// A page of cases with their entries and every user they refer to.
struct Hydrated {
    cases: Vec<Case>,
    requests: HashMap<Id, Vec<CaseRequest>>,
    users: Users,
}

impl Hydrated {
    async fn load(state: &AppState, cases: Vec<Case>) -> AppResult<Hydrated> {
        let db = &state.db;
        let ids: Vec<Id> = cases.iter().map(|c| c.id.clone()).collect();
        let mut requests: HashMap<Id, Vec<CaseRequest>> = HashMap::new();
        for r in store::requests_of(db, &ids).await? {
            requests.entry(r.case_id.clone()).or_default().push(r);
        }
        let mut people: Vec<Id> = Vec::new();
        for c in &cases {
            people.push(c.citizen_id.clone());
            people.extend(c.assigned_lawyer_id.clone());
            people.extend(ids_under(&c.timeline, "performedBy"));
            people.extend(ids_under(&c.notes, "author"));
        }
        people.extend(requests.values().flatten().map(|r| r.lawyer_id.clone()));
        let users = load_users(state, people).await?;
        Ok(Hydrated { cases, requests, users })
    }

    fn requests_of(&self, case: &Case) -> Vec<&CaseRequest> {
        self.requests.get(&case.id).map(|v| v.iter().collect()).unwrap_or_default()
    }

    fn json(&self, case: &Case, pop: Populate) -> Value {
        case_json(case, &self.requests_of(case), &self.users, pop)
    }
}

// ---------------------------------------------------------------------------------------------
// Writing a case

/// A committed change: the record before and after, what the change returned, and the case
/// chat when the change assigned the case.
struct Changed<T> {
    record: CaseRecord,
    value: T,
    chat: Option<CaseChatRow>,
}

const MAX_ATTEMPTS: usize = 8;

/// Loads case `id`, applies `change` in memory and writes the difference; when another
/// writer came first, starts over from a fresh load. A change that assigns the case creates
/// its chat in the same transaction. `case_type` (if given) must match, else `not_found`.
async fn mutate<T>(
    state: &AppState,
    id: &Id,
    case_type: Option<CaseType>,
    not_found: &str,
    mut change: impl FnMut(&mut CaseRecord) -> AppResult<T>,
) -> AppResult<Changed<T>> {
    for _ in 0..MAX_ATTEMPTS {
        let before = store::load(&state.db, id)
            .await?
            .filter(|r| case_type.is_none_or(|t| t == r.case.case_type))
            .ok_or_else(|| AppError::not_found(not_found))?;
        let mut after = before.clone();
        let value = change(&mut after)?;
        after.case.updated_at = now_iso();
        let mut tx = state.db.begin().await?;
        if !store::save(&mut tx, &before, &after).await? {
            continue;
        }
        let chat = match (&before.case.assigned_lawyer_id, &after.case.assigned_lawyer_id) {
            (None, Some(lawyer)) => {
                let case = &after.case;
                let (case_type, citizen) = (case.case_type.as_str(), &case.citizen_id);
                Some(chat_store::find_or_create_case_chat(&mut tx, case_type, &case.id, citizen, lawyer).await?)
            }
            _ => None,
        };
        tx.commit().await?;
        after.case.version += 1;
        return Ok(Changed { record: after, value, chat });
    }
    Err(AppError::internal(anyhow!("case {id} kept changing during {MAX_ATTEMPTS} attempts")))
}

/// Who created an entry. Entries without a recorded origin (moved from the original) count
/// as created by the side their list belongs to.
fn creator(rec: &CaseRecord, entry: &CaseRequest) -> Id {
    entry.requested_by.clone().unwrap_or_else(|| match entry.direction {
        Direction::Lawyer => entry.lawyer_id.clone(),
        Direction::Citizen => rec.case.citizen_id.clone(),
    })
}

/// An acceptance needs a pending entry and a case still open (defect 9: never reassign).
fn ensure_assignable(rec: &CaseRecord, entry: &CaseRequest, answered: &str) -> AppResult<()> {
    if !entry.is_pending() {
        return Err(AppError::bad_request(answered));
    }
    let label = rec.case.case_type.label();
    if rec.case.assigned_lawyer_id.is_some() {
        return Err(AppError::bad_request(format!("{label} is already assigned to a lawyer")));
    }
    if rec.case.status != CaseStatus::Pending {
        return Err(AppError::bad_request(format!("{label} is no longer available for assignment")));
    }
    Ok(())
}

/// Assigns the case: the lawyer's pending entries (both lists) are accepted, every other
/// pending entry rejected, and the timeline records the assignment and the status change.
fn assign(rec: &mut CaseRecord, lawyer: &Id, actor: &Id) {
    let now = now_iso();
    for r in rec.requests.iter_mut().filter(|r| r.is_pending()) {
        let answer = if &r.lawyer_id == lawyer { RequestStatus::Accepted } else { RequestStatus::Rejected };
        r.respond(answer, &now);
    }
    rec.case.assigned_lawyer_id = Some(lawyer.clone());
    let what = rec.case.case_type.as_str();
    rec.case.push_timeline(TimelineAction::Assigned, format!("Lawyer assigned to {what}"), Some(actor));
    rec.case.set_status(CaseStatus::Assigned);
}

/// Tags of an assignment (3.12): the case, the open pool, admin views, the owner and every
/// lawyer with an entry on the case.
fn assignment_tags(rec: &CaseRecord) -> Vec<Tag> {
    let mut tags = vec![Tag::Case(rec.case.id.clone()), Tag::Avail, Tag::Adm, Tag::Cit(rec.case.citizen_id.clone())];
    tags.extend(rec.involved_lawyers().into_iter().map(Tag::Law));
    tags
}

/// Emails the lawyer and the citizen of a case that has just been assigned (committed), with
/// a link to the case chat. A failure to load them is logged: the assignment stands.
async fn email_assignment(state: &AppState, case: &Case, chat_id: &str) {
    let Some(lawyer_id) = &case.assigned_lawyer_id else { return };
    let people = match load_users(state, [&case.citizen_id, lawyer_id]).await {
        Ok(people) => people,
        Err(err) => {
            tracing::error!(case = %case.id, error = %err, "case assignment emails not sent");
            return;
        }
    };
    let (Some(citizen), Some(lawyer)) = (people.get(&case.citizen_id), people.get(lawyer_id)) else { return };
    let assignment = templates::CaseAssignment {
        kind: case.case_type.as_str(),
        title: &case.title,
        citizen_name: &citizen.name,
        lawyer_name: &lawyer.name,
        chat_id,
    };
    let frontend = &state.config.frontend_url;
    crate::service::background::send_email(state, templates::case_assigned_to_lawyer(&lawyer.email, &assignment, frontend)).await;
    crate::service::background::send_email(state, templates::case_assigned_to_citizen(&citizen.email, &assignment, frontend)).await;
}

/// Tags of a new or answered entry that does not assign: the case, its owner, that lawyer.
fn entry_tags(rec: &CaseRecord, lawyer: &Id) -> Vec<Tag> {
    vec![Tag::Case(rec.case.id.clone()), Tag::Cit(rec.case.citizen_id.clone()), Tag::Law(lawyer.clone())]
}

fn text(body: &Value, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A finite number or numeric text.
fn number(body: &Value, key: &str) -> Option<f64> {
    body.get(key).and_then(number_of)
}

/// Text or a number as text (durations like "2 weeks" or 14).
fn text_or_number(body: &Value, key: &str) -> Option<String> {
    match body.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An active lawyer whose verification is complete (`isVerified` and a `verified` status): the
/// lawyers citizens may assign cases to and open direct chats with.
pub fn is_verified_lawyer(u: &User) -> bool {
    u.is_active_verified_lawyer()
}

/// The user as the case access rules see them.
fn case_actor(user: &User) -> Actor<'_> {
    match user.role {
        Role::Citizen => Actor::Citizen(&user.id),
        Role::Lawyer => Actor::Lawyer { id: &user.id, verified: is_verified_lawyer(user) },
        Role::Admin => Actor::Admin,
        Role::LawStudent => Actor::Other,
    }
}

/// An active verified lawyer by id, or None.
async fn verified_lawyer(db: &Db, id: &Id) -> AppResult<Option<User>> {
    Ok(users::get(db, id).await?.filter(is_verified_lawyer))
}

// ---------------------------------------------------------------------------------------------
// 3.5 / 3.6 #1: create

fn validate_create(case_type: CaseType, body: &Value) -> AppResult<()> {
    let mut v = Validator::body(body);
    v.field("title").length(5, Some(100), "Title must be between 5 and 100 characters");
    v.field("description").length(20, Some(2000), "Description must be between 20 and 2000 characters");
    if case_type == CaseType::Dispute {
        v.field("disputeType").one_of(DisputeType::NAMES, "Please select a valid dispute type");
    }
    v.field("category").one_of(Category::NAMES, "Please select a valid category");
    v.field("priority").optional().one_of(Priority::NAMES, "Priority must be low, medium, high, or urgent");
    if case_type == CaseType::Dispute {
        v.field("disputeValue")
            .optional()
            .check(|value| value.is_some_and(|x| number_of(x).is_some()), "Dispute value must be a number")
            .check(|value| value.and_then(number_of).is_none_or(|n| n >= 0.0), "Dispute value cannot be negative");
        v.field("opposingParty").optional().object("Opposing party must be an object");
        v.field("opposingParty.name")
            .optional()
            .length(2, Some(100), "Opposing party name must be between 2 and 100 characters");
    }
    v.finish()
}

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|n| n.is_finite())
}

/// `opposingParty`, `disputeValue` and `hearingDates` of a new dispute.
fn dispute_details(body: &Value) -> Value {
    let mut details = Map::new();
    if let Some(party) = body.get("opposingParty").and_then(Value::as_object) {
        let mut out = Map::new();
        for key in ["name", "contact", "address"] {
            if let Some(s) = party.get(key).and_then(Value::as_str) {
                let s = if key == "name" { s.trim() } else { s };
                out.insert(key.into(), json!(s));
            }
        }
        details.insert("opposingParty".into(), Value::Object(out));
    }
    if let Some(value) = body.get("disputeValue").and_then(number_of) {
        details.insert("disputeValue".into(), json!(value));
    }
    details.insert("hearingDates".into(), json!([]));
    Value::Object(details)
}

/// Creates a query or dispute for `citizen`; returns `data` (`{query}` / `{dispute}`).
pub async fn create(state: &AppState, citizen: &User, case_type: CaseType, body: &Value) -> AppResult<Value> {
    validate_create(case_type, body)?;
    let field = |key: &str| body.get(key).and_then(Value::as_str).unwrap_or("").trim().to_string();
    let invalid = |e: crate::domain::case::UnknownValue| AppError::bad_request(e.to_string());
    let priority = Some(field("priority")).filter(|p| !p.is_empty()).map_or(Ok(Priority::Medium), |p| p.parse()).map_err(invalid)?;
    let category: Category = field("category").parse().map_err(invalid)?;
    let (dispute_type, details) = match case_type {
        CaseType::Query => (None, json!({})),
        CaseType::Dispute => (Some(field("disputeType").parse().map_err(invalid)?), dispute_details(body)),
    };
    let mut case =
        Case::new(case_type, field("title"), field("description"), category, dispute_type, priority, citizen.id.clone(), details);
    case.push_timeline(TimelineAction::Created, format!("{} created by citizen", case_type.label()), Some(&citizen.id));
    store::insert(&state.db, &case).await?;
    state.cache.invalidate([Tag::Avail, Tag::Cit(citizen.id.clone()), Tag::Adm]).await;

    let mut activity = json!({
        "id": case.id,
        "type": case_type.as_str(),
        "title": case.title,
        "description": case_type.submitted(),
        "status": case.status,
        "timestamp": case.created_at,
        "category": case.category,
        "priority": case.priority,
    });
    if case_type == CaseType::Dispute {
        activity["disputeType"] = json!(case.dispute_type);
    }
    state.notifier.to_user(&citizen.id, "new_activity", activity);
    let stats = citizen_quick_stats(&state.db, &citizen.id).await?;
    state.notifier.to_user(&citizen.id, "dashboard_stats_updated", stats.clone());
    state.notifier.to_user(&citizen.id, "quick_stats_updated", stats);

    let users: Users = [(citizen.id.clone(), citizen.clone())].into_iter().collect();
    let pop = Populate { citizen: Some(NAME_EMAIL), ..Populate::default() };
    Ok(json!({ case_type.as_str(): case_json(&case, &[], &users, pop) }))
}

// ---------------------------------------------------------------------------------------------
// 3.5 / 3.6 #6, #7: list and read

/// The `/queries` or `/disputes` list: items, total and page (wrapper pagination). The role
/// gate (no law students) runs before this.
pub async fn list(state: &AppState, user: &User, case_type: CaseType, params: &Params) -> AppResult<(Vec<Value>, i64, Page)> {
    let page = crate::domain::page::wrapper_page(params)?;
    let citizen_filter;
    let lawyer_filter;
    let mut filter = CaseFilter {
        case_type: Some(case_type),
        status: params.filter("status"),
        category: params.filter("category"),
        priority: params.filter("priority"),
        dispute_type: if case_type == CaseType::Dispute { params.filter("disputeType") } else { None },
        search: params.get("search"),
        ..CaseFilter::default()
    };
    match user.role {
        Role::Citizen => filter.citizen = Some(&user.id),
        Role::Lawyer => match params.get("type") {
            Some("assigned") => filter.assigned_lawyer = Some(&user.id),
            Some("requests") => filter.lawyer_entry = Some(&user.id),
            _ => filter.open_only = true,
        },
        Role::Admin => {
            citizen_filter = params.get("citizenId").map(|raw| parse_id(raw, "citizen")).transpose()?;
            lawyer_filter = params.get("lawyerId").map(|raw| parse_id(raw, "lawyer")).transpose()?;
            filter.citizen = citizen_filter.as_ref();
            filter.assigned_lawyer = lawyer_filter.as_ref();
        }
        Role::LawStudent => return Err(AppError::forbidden("Access denied")),
    }
    let (cases, total) = store::list(&state.db, &filter, SortKey::CreatedAt, true, page.limit, page.offset()).await?;
    let hydrated = Hydrated::load(state, cases).await?;
    let pop = Populate { citizen: Some(CONTACT), assigned: Some(LAWYER_BRIEF), lawyer_requests: Some(LAWYER_BRIEF), ..Populate::default() };
    let allow = match case_type {
        CaseType::Query => QUERY_LIST_FIELDS,
        CaseType::Dispute => DISPUTE_LIST_FIELDS,
    };
    let items = hydrated.cases.iter().map(|c| select_fields(hydrated.json(c, pop), params, allow)).collect();
    Ok((items, total, page))
}

/// Read access to one case (3.5 #7), checked on every request, cache hits included: the
/// owner; a lawyer assigned, named in an entry, or verified while the case is open; admins.
pub async fn check_read_access(state: &AppState, user: &User, case_type: CaseType, id: &Id) -> AppResult<()> {
    if user.role == Role::LawStudent {
        return Err(AppError::forbidden("Access denied"));
    }
    let facts = store::access_facts(&state.db, id, &user.id)
        .await?
        .filter(|f| f.case_type == case_type)
        .ok_or_else(|| AppError::not_found(format!("{} not found", case_type.label())))?;
    if facts.parties.may_read(case_actor(user), facts.has_entry) { Ok(()) } else { Err(AppError::forbidden("Access denied")) }
}

/// One case, fully populated: `data` (`{query}` / `{dispute}`). Access is checked before.
pub async fn get(state: &AppState, case_type: CaseType, id: &Id) -> AppResult<Value> {
    let cases: Vec<Case> =
        store::get_many(&state.db, std::slice::from_ref(id)).await?.into_iter().filter(|c| c.case_type == case_type).collect();
    if cases.is_empty() {
        return Err(AppError::not_found(format!("{} not found", case_type.label())));
    }
    let hydrated = Hydrated::load(state, cases).await?;
    let pop = Populate {
        citizen: Some(CONTACT_ADDRESS),
        assigned: Some(LAWYER_CONTACT),
        lawyer_requests: Some(LAWYER_BRIEF),
        citizen_requests: None,
        people: true,
    };
    Ok(json!({ case_type.as_str(): hydrated.json(&hydrated.cases[0], pop) }))
}

// ---------------------------------------------------------------------------------------------
// Entries created by lawyers: 3.3 #6, 3.5 / 3.6 #2 (lawyer), #4, #5

/// The wording of an offer route: 3.3 #6 speaks of "case", the legacy 3.5 #5 of the type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferRoute {
    /// `POST /lawyers/offer-help/:caseType/:caseId`
    Lawyers,
    /// `POST /queries/:id/offer-help`, `POST /disputes/:id/offer-help`
    Legacy,
}

/// A verified lawyer offers help on an open case.
pub async fn offer_help(
    state: &AppState,
    lawyer: &User,
    case_type: CaseType,
    case_id: &Id,
    body: &Value,
    route: OfferRoute,
) -> AppResult<()> {
    require_verified_lawyer(lawyer)?;
    let (noun, noun_lower) = match route {
        OfferRoute::Lawyers => ("Case", "case"),
        OfferRoute::Legacy => (case_type.label(), case_type.as_str()),
    };
    let message = text(body, "message").filter(|m| !m.is_empty()).unwrap_or_else(|| match route {
        OfferRoute::Lawyers => format!("I would like to help you with this {case_type}"),
        OfferRoute::Legacy => String::new(),
    });
    let fee = number(body, "proposedFee");
    let duration = text_or_number(body, "estimatedDuration");
    let not_found = format!("{} not found", case_type.label());
    let changed = mutate(state, case_id, Some(case_type), &not_found, |rec| {
        if rec.case.status != CaseStatus::Pending {
            return Err(AppError::bad_request(format!("{noun} is not available for offers")));
        }
        if rec.case.assigned_lawyer_id.is_some() {
            return Err(AppError::bad_request(format!("{noun} is already assigned to a lawyer")));
        }
        if rec.pending_entry(Direction::Lawyer, &lawyer.id).is_some() {
            return Err(AppError::bad_request(format!("You have already offered help for this {noun_lower}")));
        }
        let entry = rec.add_request(Direction::Lawyer, &lawyer.id, &lawyer.id, Some(message.clone()));
        entry.proposed_fee = fee;
        entry.estimated_duration = duration.clone();
        Ok(entry.clone())
    })
    .await?;
    let rec = &changed.record;
    state.cache.invalidate(entry_tags(rec, &lawyer.id)).await;
    let entry = &changed.value;
    match route {
        OfferRoute::Lawyers => state.notifier.to_user(
            &rec.case.citizen_id,
            "new_lawyer_offer",
            json!({
                "caseType": case_type.as_str(),
                "caseId": rec.case.id,
                "from": lawyer_brief(lawyer),
                "message": entry.message,
                "proposedFee": entry.proposed_fee,
                "estimatedDuration": entry.estimated_duration,
                "timestamp": now_iso(),
            }),
        ),
        OfferRoute::Legacy => state.notifier.to_user(
            &rec.case.citizen_id,
            "lawyer_request_sent",
            json!({
                "citizenId": rec.case.citizen_id,
                "requestData": {
                    case_type.id_key(): rec.case.id,
                    "requestId": entry.id,
                    "caseType": case_type.as_str(),
                    "lawyer": lawyer_brief(lawyer),
                    "message": entry.message,
                    "proposedFee": entry.proposed_fee,
                    "estimatedDuration": entry.estimated_duration,
                },
            }),
        ),
    }
    Ok(())
}

/// 3.5 / 3.6 #2 (and the lawyer-only alias #4): a verified lawyer asks to handle the case, or
/// the owning citizen invites a verified lawyer (`targetUserId`). Both add a `lawyerRequests`
/// entry recording who created it; the other party is notified in its user room only.
pub async fn send_request(state: &AppState, user: &User, case_type: CaseType, case_id: &Id, body: &Value) -> AppResult<()> {
    authorize(user, &[Role::Citizen, Role::Lawyer])?;
    if user.role == Role::Lawyer {
        require_verified_lawyer(user)?;
    }
    let noun = case_type.as_str();
    let message = text(body, "message").unwrap_or_default();
    // The citizen's target, looked up before the change (the checks run in the original's order).
    let target_raw = text(body, "targetUserId").filter(|t| !t.trim().is_empty());
    let target_id = target_raw.as_deref().map(|raw| parse_id(raw.trim(), "lawyer"));
    let target = match (&user.role, &target_id) {
        (Role::Citizen, Some(Ok(id))) => verified_lawyer(&state.db, id).await?,
        _ => None,
    };
    let not_found = format!("{} not found", case_type.label());
    let changed = mutate(state, case_id, Some(case_type), &not_found, |rec| {
        if rec.case.status != CaseStatus::Pending {
            return Err(AppError::bad_request(format!("{} is not available for requests", case_type.label())));
        }
        let lawyer_id = if user.role == Role::Lawyer {
            if rec.pending_entry(Direction::Lawyer, &user.id).is_some() {
                return Err(AppError::bad_request(format!("You have already requested to handle this {noun}")));
            }
            user.id.clone()
        } else {
            let id = match &target_id {
                None => return Err(AppError::bad_request("Target lawyer ID is required")),
                Some(Err(e)) => return Err(AppError::bad_request(e.message.clone())),
                Some(Ok(id)) => id.clone(),
            };
            if rec.case.citizen_id != user.id {
                return Err(AppError::bad_request(format!("You can only request lawyers for your own {}", case_type.plural())));
            }
            if target.is_none() {
                return Err(AppError::not_found("Lawyer not found or not verified"));
            }
            if rec.pending_entry(Direction::Lawyer, &id).is_some() {
                return Err(AppError::bad_request(format!("This lawyer has already been requested for this {noun}")));
            }
            id
        };
        Ok(rec.add_request(Direction::Lawyer, &lawyer_id, &user.id, Some(message.clone())).clone())
    })
    .await?;
    let rec = &changed.record;
    let entry = &changed.value;
    state.cache.invalidate(entry_tags(rec, &entry.lawyer_id)).await;
    let mut request_data = json!({
        case_type.id_key(): rec.case.id,
        "requestId": entry.id,
        "caseType": case_type.as_str(),
    });
    let target_user = if user.role == Role::Lawyer {
        request_data["requestType"] = json!("lawyer_to_citizen");
        request_data["lawyer"] = lawyer_brief(user);
        rec.case.citizen_id.clone()
    } else {
        request_data["requestType"] = json!("citizen_to_lawyer");
        request_data["citizen"] = populate(user, NAME);
        entry.lawyer_id.clone()
    };
    request_data["message"] = json!(entry.message);
    let event = format!("{case_type}_request_sent");
    state.notifier.to_user(&target_user, &event, json!({"targetUserId": target_user, "requestData": request_data}));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3.5 / 3.6 #3: respond to a lawyerRequests entry

/// Accepts or rejects a `lawyerRequests` entry: the owning citizen or the lawyer it names may
/// answer, but only the party that did not create it may accept (defect 6). Returns the
/// message.
pub async fn respond(
    state: &AppState,
    user: &User,
    case_type: CaseType,
    case_id: &Id,
    request_id: &Id,
    body: &Value,
) -> AppResult<&'static str> {
    let accept = match body.get("action").and_then(Value::as_str) {
        Some("accept") => true,
        Some("reject") => false,
        _ => return Err(AppError::bad_request(r#"Invalid action. Use "accept" or "reject""#)),
    };
    if user.role == Role::Lawyer {
        require_verified_lawyer(user)?;
    }
    let not_found = format!("{} not found", case_type.label());
    let changed = mutate(state, case_id, Some(case_type), &not_found, |rec| {
        let entry = rec
            .request(request_id)
            .filter(|r| r.direction == Direction::Lawyer)
            .cloned()
            .ok_or_else(|| AppError::not_found("Request not found"))?;
        let party = match user.role {
            Role::Citizen => rec.case.citizen_id == user.id,
            Role::Lawyer => entry.lawyer_id == user.id,
            _ => false,
        };
        if !party || (accept && creator(rec, &entry) == user.id) {
            return Err(AppError::forbidden("Access denied - you cannot respond to this request"));
        }
        if accept {
            ensure_assignable(rec, &entry, "Request has already been responded to")?;
            assign(rec, &entry.lawyer_id, &user.id);
        } else {
            if !entry.is_pending() {
                return Err(AppError::bad_request("Request has already been responded to"));
            }
            if let Some(r) = rec.request_mut(request_id) {
                r.respond(RequestStatus::Rejected, &now_iso());
            }
        }
        Ok(entry)
    })
    .await?;
    let rec = &changed.record;
    let entry = &changed.value;
    let action = if accept { "accept" } else { "reject" };
    if accept {
        state.cache.invalidate(assignment_tags(rec)).await;
        let payload = json!({
            "citizenId": rec.case.citizen_id,
            "lawyerId": entry.lawyer_id,
            "caseType": case_type.as_str(),
            "caseId": rec.case.id,
            "caseData": {
                case_type.id_key(): rec.case.id,
                "title": rec.case.title,
                "action": "accepted",
                "responder": actor(user),
                "chatId": changed.chat.as_ref().map(|c| c.chat_id.clone()),
            },
        });
        state.notifier.to_user(&rec.case.citizen_id, "case_assigned", payload.clone());
        state.notifier.to_user(&entry.lawyer_id, "case_assigned", payload);
        if let Some(chat) = &changed.chat {
            email_assignment(state, &rec.case, &chat.chat_id).await;
        }
    } else {
        state.cache.invalidate(entry_tags(rec, &entry.lawyer_id)).await;
    }
    let other = if user.role == Role::Citizen { entry.lawyer_id.clone() } else { rec.case.citizen_id.clone() };
    state.notifier.to_user(
        &other,
        "request_response",
        json!({
            case_type.id_key(): rec.case.id,
            "requestId": entry.id,
            "action": action,
            "caseType": case_type.as_str(),
            "responder": actor(user),
        }),
    );
    Ok(if accept { "Request accepted successfully" } else { "Request rejected successfully" })
}

// ---------------------------------------------------------------------------------------------
// 3.5 / 3.6 #8: status

/// Changes the status (assigned lawyer, owner or admin). Resolving records the resolution.
pub async fn update_status(state: &AppState, user: &User, case_type: CaseType, case_id: &Id, body: &Value) -> AppResult<()> {
    let statuses: Vec<&str> = case_type.statuses().iter().map(|s| s.as_str()).collect();
    let mut v = Validator::body(body);
    v.field("status").required("Status is required").one_of(&statuses, &format!("Status must be one of: {}", statuses.join(", ")));
    v.field("notes").optional().is_string("Notes must be a string");
    if case_type == CaseType::Dispute {
        v.field("resolution").optional().object("Resolution must be an object");
        v.field("resolution.type").optional().one_of(ResolutionType::NAMES, "Invalid resolution type");
    }
    v.finish()?;
    let status: CaseStatus =
        text(body, "status").unwrap_or_default().parse().map_err(|e: crate::domain::case::UnknownValue| AppError::bad_request(e.to_string()))?;
    let notes = body.get("notes").and_then(|n| match n {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let not_found = format!("{} not found", case_type.label());
    let changed = mutate(state, case_id, Some(case_type), &not_found, |rec| {
        if !rec.case.parties().may_change_status(case_actor(user)) {
            return Err(AppError::forbidden("Access denied"));
        }
        let old = rec.case.status;
        rec.case.set_status(status);
        if let Some(n) = &notes {
            rec.case.push_note(&user.id, n.clone());
        }
        if status == CaseStatus::Resolved && old != CaseStatus::Resolved {
            let now = now_iso();
            let mut resolution = Map::new();
            if case_type == CaseType::Dispute {
                if let Some(given) = body.get("resolution").and_then(Value::as_object) {
                    for key in ["type", "summary", "terms", "isSuccessful"] {
                        if let Some(v) = given.get(key).filter(|v| !v.is_null()) {
                            resolution.insert(key.into(), v.clone());
                        }
                    }
                }
            }
            resolution.insert("resolvedBy".into(), json!(user.id));
            resolution.insert("resolvedAt".into(), json!(now));
            rec.case.resolution = Value::Object(resolution);
            rec.case.resolved_at = Some(now);
        }
        Ok(old)
    })
    .await?;
    let rec = &changed.record;
    let old = &changed.value;
    let mut tags = vec![Tag::Case(rec.case.id.clone()), Tag::Cit(rec.case.citizen_id.clone()), Tag::Adm];
    if let Some(lawyer) = &rec.case.assigned_lawyer_id {
        tags.push(Tag::Law(lawyer.clone()));
        if (*old == CaseStatus::Resolved) != (status == CaseStatus::Resolved) {
            tags.push(Tag::DirLawyer(lawyer.clone()));
        }
    }
    if (*old == CaseStatus::Pending) != (status == CaseStatus::Pending) {
        tags.push(Tag::Avail);
    }
    state.cache.invalidate(tags).await;
    let event = format!("{case_type}_status_updated");
    let payload = json!({case_type.id_key(): rec.case.id, "newStatus": status, "updatedBy": actor(user)});
    for party in std::iter::once(&rec.case.citizen_id).chain(rec.case.assigned_lawyer_id.as_ref()) {
        if party != &user.id {
            state.notifier.to_user(party, &event, payload.clone());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3.3 lawyer views: #3, #4, #5

fn count(counts: &HashMap<(CaseType, CaseStatus), i64>, t: CaseType, statuses: &[CaseStatus]) -> i64 {
    statuses.iter().map(|s| counts.get(&(t, *s)).copied().unwrap_or(0)).sum()
}

fn total(counts: &HashMap<(CaseType, CaseStatus), i64>, t: CaseType) -> i64 {
    counts.iter().filter(|((ct, _), _)| *ct == t).map(|(_, n)| n).sum()
}

const ACTIVE: &[CaseStatus] = CaseStatus::ACTIVE;
const RESOLVED: &[CaseStatus] = CaseStatus::RESOLVED;

/// 3.3 #3: `data` of the lawyer dashboard.
pub async fn lawyer_dashboard(state: &AppState, lawyer: &User) -> AppResult<Value> {
    let counts = store::status_counts(&state.db, Party::AssignedLawyer(&lawyer.id)).await?;
    let clients = lawyer
        .connections
        .as_array()
        .map(|c| c.iter().filter(|c| c.get("connectionType").and_then(Value::as_str) == Some("client")).count())
        .unwrap_or(0);
    let (aq, ad) = (count(&counts, CaseType::Query, ACTIVE), count(&counts, CaseType::Dispute, ACTIVE));
    Ok(json!({
        "totalClients": clients,
        "activeQueries": aq,
        "activeDisputes": ad,
        "totalCases": total(&counts, CaseType::Query) + total(&counts, CaseType::Dispute),
        "resolvedCases": count(&counts, CaseType::Query, RESOLVED) + count(&counts, CaseType::Dispute, RESOLVED),
        "activeCases": aq + ad,
    }))
}

/// The `caseType` query parameter (`all` or absent: both).
fn case_type_param(params: &Params, key: &str) -> Option<CaseType> {
    CaseType::from_param(params.filter(key)?)
}

/// 3.3 #4: open cases of both types (pending AND unassigned AND the filters), with whether
/// this lawyer already has an entry. Returns items, total and page.
pub async fn available_cases(state: &AppState, lawyer: &User, params: &Params) -> AppResult<(Vec<Value>, i64, Page)> {
    let page = crate::domain::page::wrapper_page(params)?;
    let filter = CaseFilter {
        case_type: case_type_param(params, "caseType"),
        open_only: true,
        category: params.filter("category"),
        priority: params.filter("priority"),
        search: params.get("search"),
        ..CaseFilter::default()
    };
    let sort = SortKey::parse(params.get("sortBy"));
    let descending = params.get("sortOrder").is_none_or(|o| o == "desc");
    let (cases, total) = store::list(&state.db, &filter, sort, descending, page.limit, page.offset()).await?;
    let hydrated = Hydrated::load(state, cases).await?;
    let pop = Populate { citizen: Some(CONTACT), ..Populate::default() };
    let items = hydrated
        .cases
        .iter()
        .map(|c| {
            let mut item = select_fields(hydrated.json(c, pop), params, AVAILABLE_FIELDS);
            let requested = hydrated.requests_of(c).iter().any(|r| r.direction == Direction::Lawyer && r.lawyer_id == lawyer.id);
            item["caseType"] = json!(c.case_type.as_str());
            item["hasLawyerRequested"] = json!(requested);
            item
        })
        .collect();
    Ok((items, total, page))
}

/// 3.3 #5: cases assigned to the lawyer, each with its chat. `data: {cases, pagination}`.
pub async fn lawyer_my_cases(state: &AppState, lawyer: &User, params: &Params) -> AppResult<Value> {
    let filter = CaseFilter {
        case_type: case_type_param(params, "caseType"),
        assigned_lawyer: Some(&lawyer.id),
        status: params.filter("status"),
        search: params.get("search"),
        ..CaseFilter::default()
    };
    let pop = Populate { citizen: Some(CONTACT), ..Populate::default() };
    my_cases(state, lawyer, &filter, params, pop, false).await
}

/// my-cases of either side: a page of cases with `caseType` and `chatRoom` (the reader's
/// case chat); citizens also get `requestedLawyers` and `receivedOffers`.
async fn my_cases(
    state: &AppState,
    reader: &User,
    filter: &CaseFilter<'_>,
    params: &Params,
    pop: Populate,
    citizen_view: bool,
) -> AppResult<Value> {
    let page = params.page(10)?;
    let (cases, total) = store::list(&state.db, filter, SortKey::CreatedAt, true, page.limit, page.offset()).await?;
    // Citizens see the chat only once a lawyer is assigned.
    let with_chat: Vec<Id> =
        cases.iter().filter(|c| !citizen_view || c.assigned_lawyer_id.is_some()).map(|c| c.id.clone()).collect();
    let rooms = store::chat_rooms(&state.db, &reader.id, &with_chat).await?;
    let hydrated = Hydrated::load(state, cases).await?;
    let items: Vec<Value> = hydrated
        .cases
        .iter()
        .map(|c| {
            let mut item = hydrated.json(c, pop);
            item["caseType"] = json!(c.case_type.as_str());
            item["chatRoom"] = chat_room_json(rooms.get(&c.id));
            if citizen_view {
                item["requestedLawyers"] = item["citizenRequests"].clone();
                item["receivedOffers"] = item["lawyerRequests"].clone();
            }
            item
        })
        .collect();
    Ok(json!({"cases": items, "pagination": crate::domain::page::legacy_pagination(total, page)}))
}

// ---------------------------------------------------------------------------------------------
// Request lists: 3.3 #17, #18; 3.4 #9-#12

/// Which entries a request list shows, and in which shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestList {
    /// 3.3 #17: the lawyer's own `lawyerRequests` entries (one per case).
    LawyerSent,
    /// 3.3 #18: `citizenRequests` addressed to the lawyer (one per case).
    LawyerReceived,
    /// 3.4 #9: pending `citizenRequests` of the citizen's cases.
    CitizenPending,
    /// 3.4 #10: `lawyerRequests` of the citizen's cases in one status (pending by default).
    CitizenReceivedOffers,
    /// 3.4 #11: every `citizenRequests` entry of the citizen's cases.
    CitizenSent,
    /// 3.4 #12: every `lawyerRequests` entry of the citizen's cases.
    CitizenOffers,
}

impl RequestList {
    fn direction(self) -> Direction {
        match self {
            RequestList::LawyerSent | RequestList::CitizenReceivedOffers | RequestList::CitizenOffers => Direction::Lawyer,
            RequestList::LawyerReceived | RequestList::CitizenPending | RequestList::CitizenSent => Direction::Citizen,
        }
    }

    fn key(self) -> &'static str {
        match self {
            RequestList::CitizenReceivedOffers | RequestList::CitizenOffers => "offers",
            _ => "requests",
        }
    }
}

/// The summary item of 3.3 #17/#18 and 3.4 #11/#12; `party` is the citizen or the lawyer.
fn request_summary(r: &CaseRequest, case: &Case, party_key: &str, party: Value) -> Value {
    let mut o = Map::new();
    o.insert("requestId".into(), json!(r.id));
    o.insert("caseId".into(), json!(case.id));
    o.insert("caseType".into(), json!(case.case_type.as_str()));
    o.insert("caseTitle".into(), json!(case.title));
    o.insert("description".into(), json!(case.description));
    o.insert("category".into(), json!(case.category));
    o.insert("priority".into(), json!(case.priority));
    if case.case_type == CaseType::Dispute {
        if let Some(v) = case.details.get("disputeValue").filter(|v| !v.is_null()) {
            o.insert("disputeValue".into(), v.clone());
        }
    }
    o.insert(party_key.into(), party);
    o.insert("status".into(), json!(r.status));
    o.insert("message".into(), json!(r.message));
    o.insert("requestedAt".into(), json!(r.requested_at));
    if let Some(at) = &r.responded_at {
        o.insert("respondedAt".into(), json!(at));
    }
    Value::Object(o)
}

/// A request list: `data: {requests | offers, pagination: {current, pages, total}}` with the
/// real total of matching entries.
pub async fn request_list(state: &AppState, user: &User, list: RequestList, params: &Params) -> AppResult<Value> {
    let page = params.page(10)?;
    let lawyer_side = matches!(list, RequestList::LawyerSent | RequestList::LawyerReceived);
    let status = match list {
        RequestList::CitizenPending => Some(RequestStatus::Pending.as_str()),
        RequestList::CitizenReceivedOffers => Some(params.filter("status").unwrap_or(RequestStatus::Pending.as_str())),
        _ => params.filter("status"),
    };
    let filter = RequestFilter {
        direction: list.direction(),
        lawyer: lawyer_side.then_some(&user.id),
        citizen: (!lawyer_side).then_some(&user.id),
        status,
        case_type: match list {
            RequestList::CitizenPending | RequestList::CitizenReceivedOffers => case_type_param(params, "caseType"),
            _ => None,
        },
        latest_per_case: lawyer_side,
    };
    let (entries, cases, total) = store::list_requests(&state.db, &filter, page.limit, page.offset()).await?;
    let people = entries.iter().map(|r| r.lawyer_id.clone()).chain(cases.values().map(|c| c.citizen_id.clone()));
    let users = load_users(state, people).await?;
    let items: Vec<Value> = entries
        .iter()
        .filter_map(|r| {
            let case = cases.get(&r.case_id)?;
            Some(match list {
                RequestList::LawyerSent | RequestList::LawyerReceived => {
                    request_summary(r, case, "citizen", user_ref(&users, &case.citizen_id, Some(NAME_EMAIL)))
                }
                RequestList::CitizenSent | RequestList::CitizenOffers => {
                    let lawyer = users.get(&r.lawyer_id).map(|u| {
                        let details = u.lawyer_details.clone().unwrap_or(Value::Null);
                        json!({
                            "_id": u.id,
                            "name": u.name,
                            "email": u.email,
                            "specialization": u.specializations(),
                            "experience": details.get("experience").cloned().unwrap_or(Value::Null),
                        })
                    });
                    request_summary(r, case, "lawyer", lawyer.unwrap_or(Value::Null))
                }
                RequestList::CitizenPending | RequestList::CitizenReceivedOffers => {
                    let mut item = request_json(r, user_ref(&users, &r.lawyer_id, Some(LAWYER_BRIEF)));
                    item["caseType"] = json!(case.case_type.as_str());
                    item["caseId"] = json!(case.id);
                    item["caseTitle"] = json!(case.title);
                    item["caseCreatedAt"] = json!(case.created_at);
                    item
                }
            })
        })
        .collect();
    Ok(json!({list.key(): items, "pagination": crate::domain::page::legacy_pagination(total, page)}))
}

// ---------------------------------------------------------------------------------------------
// Answering an entry: 3.3 #19, #20 (lawyer), 3.4 #13, #14 (citizen)

/// Who answers: a lawyer answers `citizenRequests` addressed to them, a citizen answers
/// `lawyerRequests` on their cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Lawyer,
    Citizen,
}

impl Side {
    fn noun(self) -> &'static str {
        match self {
            Side::Lawyer => "Case request",
            Side::Citizen => "Case offer",
        }
    }
}

/// Accepts or rejects an entry; returns the message and `data`.
pub async fn answer_entry(state: &AppState, user: &User, side: Side, entry_id: &Id, accept: bool) -> AppResult<(String, Value)> {
    let noun = side.noun();
    let not_found = format!("{noun} not found");
    let case_id = store::case_of_request(&state.db, entry_id).await?.ok_or_else(|| AppError::not_found(&not_found))?;
    let answered = format!("{noun} has already been responded to");
    let changed = mutate(state, &case_id, None, &not_found, |rec| {
        let entry = rec
            .request(entry_id)
            .filter(|r| match side {
                Side::Lawyer => r.direction == Direction::Citizen && r.lawyer_id == user.id,
                Side::Citizen => r.direction == Direction::Lawyer && rec.case.citizen_id == user.id,
            })
            .cloned()
            .ok_or_else(|| AppError::not_found(&not_found))?;
        if accept && creator(rec, &entry) == user.id {
            return Err(AppError::forbidden("You cannot accept a request you sent yourself"));
        }
        if accept {
            ensure_assignable(rec, &entry, &answered)?;
            assign(rec, &entry.lawyer_id, &user.id);
        } else {
            if !entry.is_pending() {
                return Err(AppError::bad_request(&answered));
            }
            if let Some(r) = rec.request_mut(entry_id) {
                r.respond(RequestStatus::Rejected, &now_iso());
            }
        }
        Ok(entry.lawyer_id.clone())
    })
    .await?;
    let rec = &changed.record;
    let lawyer_id = &changed.value;
    let entry = rec.request(entry_id).map(|r| request_json(r, json!(r.lawyer_id))).unwrap_or(Value::Null);
    if !accept {
        state.cache.invalidate(entry_tags(rec, lawyer_id)).await;
        let message = match side {
            Side::Lawyer => "Case request rejected",
            Side::Citizen => "Case offer rejected",
        };
        return Ok((message.into(), json!({"request": entry})));
    }
    state.cache.invalidate(assignment_tags(rec)).await;
    let chat = changed.chat.clone().ok_or_else(|| AppError::internal(anyhow!("assignment of {case_id} created no chat")))?;
    email_assignment(state, &rec.case, &chat.chat_id).await;
    let case_type = rec.case.case_type.as_str();
    Ok(match side {
        Side::Lawyer => {
            state.notifier.to_user(
                &rec.case.citizen_id,
                "case_request_accepted",
                json!({
                    "caseType": case_type,
                    "caseId": rec.case.id,
                    "chatId": chat.chat_id,
                    "lawyer": populate(user, NAME),
                }),
            );
            ("Case request accepted successfully".into(), json!({"request": entry, "chat": {"chatId": chat.chat_id, "caseType": case_type}}))
        }
        Side::Citizen => {
            state.notifier.to_user(
                lawyer_id,
                "case_offer_accepted",
                json!({
                    "caseType": case_type,
                    "caseId": rec.case.id,
                    "chatId": chat.chat_id,
                    "citizen": populate(user, NAME),
                    "timestamp": now_iso(),
                }),
            );
            ("Case offer accepted successfully".into(), json!({"request": entry, "chat": {"chatId": chat.chat_id, "_id": chat.id}}))
        }
    })
}

// ---------------------------------------------------------------------------------------------
// 3.4 citizen views and requests: #1, #2, #5, #7, #8, #20

/// What the citizen dashboard and the quick stats are computed from.
struct CitizenCounts {
    by_status: HashMap<(CaseType, CaseStatus), i64>,
    pending_requests: i64,
    received_offers: i64,
    connected: i64,
}

async fn citizen_counts(db: &Db, citizen: &Id) -> AppResult<CitizenCounts> {
    let c = store::citizen_counts(db, citizen).await?;
    Ok(CitizenCounts {
        by_status: c.by_status,
        pending_requests: c.with_pending_asks + c.pending_connections,
        received_offers: c.with_pending_offers,
        connected: c.connected,
    })
}

/// The `{totalCases, activeCases, resolvedCases, connectedLawyers, pendingRequests}` payload of
/// `dashboard_stats_updated` / `quick_stats_updated` (docs/api.md 3.5 #1; `activeCases` = total
/// minus resolved), with real numbers. Also for the connections service (3.4 #15).
pub async fn citizen_quick_stats(db: &Db, citizen: &Id) -> AppResult<Value> {
    let c = citizen_counts(db, citizen).await?;
    let total_cases = total(&c.by_status, CaseType::Query) + total(&c.by_status, CaseType::Dispute);
    let resolved = count(&c.by_status, CaseType::Query, RESOLVED) + count(&c.by_status, CaseType::Dispute, RESOLVED);
    Ok(json!({
        "totalCases": total_cases,
        "activeCases": total_cases - resolved,
        "resolvedCases": resolved,
        "connectedLawyers": c.connected,
        "pendingRequests": c.pending_requests,
    }))
}

/// 3.4 #1: `data` of the citizen dashboard.
pub async fn citizen_dashboard(state: &AppState, citizen: &User) -> AppResult<Value> {
    let c = citizen_counts(&state.db, &citizen.id).await?;
    let s = &c.by_status;
    let (tq, aq, rq) = (total(s, CaseType::Query), count(s, CaseType::Query, ACTIVE), count(s, CaseType::Query, RESOLVED));
    let (td, ad, rd) = (total(s, CaseType::Dispute), count(s, CaseType::Dispute, ACTIVE), count(s, CaseType::Dispute, RESOLVED));
    Ok(json!({
        "totalQueries": tq,
        "activeQueries": aq,
        "resolvedQueries": rq,
        "totalDisputes": td,
        "activeDisputes": ad,
        "resolvedDisputes": rd,
        "totalCases": tq + td,
        "activeCases": aq + ad,
        "resolvedCases": rq + rd,
        "connectedLawyers": c.connected,
        "pendingRequests": c.pending_requests,
        "receivedOffers": c.received_offers,
    }))
}

/// 3.4 #2: the newest cases and connections of the citizen as activity items (at most 5),
/// and how many there were before truncation. Reading never writes.
pub async fn recent_activity(state: &AppState, citizen: &User, params: &Params) -> AppResult<Value> {
    let limit = params.limit(10);
    let db = &state.db;
    let mut cases = store::newest_of_citizen(db, &citizen.id, CaseType::Query, limit).await?;
    cases.extend(store::newest_of_citizen(db, &citizen.id, CaseType::Dispute, limit).await?);
    let connections = store::newest_connections(db, &citizen.id, limit).await?;
    let people = cases.iter().filter_map(|c| c.assigned_lawyer_id.clone()).chain(connections.iter().map(|c| c.lawyer_id.clone()));
    let users = load_users(state, people).await?;
    let lawyer = |id: Option<&Id>| id.map(|id| user_ref(&users, id, Some(LAWYER_BRIEF))).unwrap_or(Value::Null);
    let mut items: Vec<(String, Value)> = Vec::new();
    for c in &cases {
        let latest = c.timeline.as_array().and_then(|t| t.last()).and_then(|t| t.get("description")).and_then(Value::as_str);
        let fallback = c.case_type.submitted();
        let mut item = json!({
            "id": c.id,
            "type": c.case_type.as_str(),
            "title": c.title,
            "description": latest.unwrap_or(fallback),
            "status": c.status,
            "timestamp": c.created_at,
            "assignedLawyer": lawyer(c.assigned_lawyer_id.as_ref()),
            "category": c.category,
            "priority": c.priority,
        });
        if c.case_type == CaseType::Dispute {
            item["disputeType"] = json!(c.dispute_type);
        }
        items.push((c.created_at.clone(), item));
    }
    for conn in &connections {
        let name = users.get(&conn.lawyer_id).map(|u| u.name.as_str()).unwrap_or("lawyer");
        let description = match conn.status.as_str() {
            "pending" => format!("Connection request sent to {name}"),
            "accepted" => format!("Connected with {name}"),
            "rejected" => format!("Connection request declined by {name}"),
            _ => format!("Direct connection with {name}"),
        };
        let item = json!({
            "id": conn.id,
            "type": "connection",
            "title": "Direct Lawyer Connection",
            "description": description,
            "status": conn.status,
            "timestamp": conn.created_at,
            "assignedLawyer": lawyer(Some(&conn.lawyer_id)),
            "category": "consultation",
            "priority": "medium",
        });
        items.push((conn.created_at.clone(), item));
    }
    items.sort_by(|a, b| b.0.cmp(&a.0));
    let total = items.len();
    let activities: Vec<Value> = items.into_iter().take(5).map(|(_, item)| item).collect();
    Ok(json!({"activities": activities, "total": total}))
}

/// 3.4 #5: the citizen's cases (`type`: all, queries, disputes). `data: {cases, pagination}`.
pub async fn citizen_my_cases(state: &AppState, citizen: &User, params: &Params) -> AppResult<Value> {
    let filter = CaseFilter {
        case_type: case_type_param(params, "type"),
        citizen: Some(&citizen.id),
        status: params.filter("status"),
        search: params.get("search"),
        ..CaseFilter::default()
    };
    let pop = Populate {
        assigned: Some(LAWYER_BRIEF),
        lawyer_requests: Some(LAWYER_BRIEF),
        citizen_requests: Some(LAWYER_BRIEF),
        ..Populate::default()
    };
    my_cases(state, citizen, &filter, params, pop, true).await
}

/// 3.4 #7 / #8: the owning citizen asks a verified lawyer to take an open case. Returns `data`.
pub async fn request_lawyer(
    state: &AppState,
    citizen: &User,
    case_type: CaseType,
    case_id: &Id,
    lawyer_id: &Id,
    body: &Value,
) -> AppResult<Value> {
    let noun = case_type.as_str();
    let message = text(body, "message").unwrap_or_else(|| format!("I would like you to handle my legal {noun}."));
    let lawyer = verified_lawyer(&state.db, lawyer_id).await?;
    let not_found = format!("{} not found or access denied", case_type.label());
    let changed = mutate(state, case_id, Some(case_type), &not_found, |rec| {
        if rec.case.citizen_id != citizen.id {
            return Err(AppError::not_found(&not_found));
        }
        if !rec.case.is_open() {
            return Err(AppError::bad_request(format!("{} is not available for lawyer assignment", case_type.label())));
        }
        if lawyer.is_none() {
            return Err(AppError::not_found("Lawyer not found or not verified"));
        }
        if rec.pending_entry(Direction::Citizen, lawyer_id).is_some() {
            return Err(AppError::bad_request(format!("You have already requested this lawyer for this {noun}")));
        }
        Ok(rec.add_request(Direction::Citizen, lawyer_id, &citizen.id, Some(message.clone())).id.clone())
    })
    .await?;
    let rec = &changed.record;
    let request_id = &changed.value;
    let lawyer = lawyer.ok_or_else(|| AppError::internal(anyhow!("lawyer vanished")))?;
    state.cache.invalidate(entry_tags(rec, lawyer_id)).await;
    state.notifier.to_user(
        lawyer_id,
        "citizen_request_received",
        json!({
            "type": noun,
            "caseId": rec.case.id,
            "caseTitle": rec.case.title,
            "citizen": populate(citizen, NAME_EMAIL),
            "message": message,
            "requestId": request_id,
        }),
    );
    Ok(json!({"requestId": request_id, "lawyer": lawyer_brief(&lawyer)}))
}

/// 3.4 #20: the citizen withdraws a pending `citizenRequests` entry.
pub async fn revoke_request(state: &AppState, citizen: &User, case_type: CaseType, case_id: &Id, lawyer_id: &Id) -> AppResult<()> {
    let not_found = format!("{} not found or access denied", case_type.label());
    let changed = mutate(state, case_id, Some(case_type), &not_found, |rec| {
        if rec.case.citizen_id != citizen.id {
            return Err(AppError::not_found(&not_found));
        }
        let id = rec
            .pending_entry(Direction::Citizen, lawyer_id)
            .map(|r| r.id.clone())
            .ok_or_else(|| AppError::not_found("Request not found or already processed"))?;
        rec.requests.retain(|r| r.id != id);
        Ok(())
    })
    .await?;
    let rec = &changed.record;
    state.cache.invalidate(entry_tags(rec, lawyer_id)).await;
    state.notifier.to_user(
        lawyer_id,
        "case_request_revoked",
        json!({"caseType": case_type.as_str(), "caseId": rec.case.id, "citizenId": citizen.id, "timestamp": now_iso()}),
    );
    Ok(())
}
