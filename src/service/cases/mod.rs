//! Queries and disputes with their requests and offers (docs/api.md 3.3-3.6, 4.3): one
//! implementation for both case types, shared by the `/queries`, `/disputes`, `/lawyers` and
//! `/citizens` routes (and later Socket.IO handlers).
//!
//! Rules kept everywhere: lists are always scoped by role (filters only narrow them); an entry
//! can only be accepted by the party that did not create it; an acceptance answers 400 when
//! the entry or the case moved on; every write invalidates the cache tags of docs/api.md 3.12
//! before it answers and before anyone is notified.

use anyhow::anyhow;
use serde_json::Value;

use crate::cache::Tag;
use crate::db::Db;
use crate::domain::case::{CaseStatus, RequestStatus, TimelineAction};
use crate::domain::page::{Page, Params, parse_id, select_fields};
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::mail::templates;
use crate::service::people::{
    CONTACT, CONTACT_ADDRESS, LAWYER_BRIEF, LAWYER_CONTACT, NAME_EMAIL, Users, actor, load_users,
};
use crate::state::AppState;
use crate::store::cases::{self as store, Case, CaseFilter, CaseRecord, CaseRequest, Direction, SortKey};
use crate::store::chats::{self as chat_store, CaseChatRow};
use crate::store::users::{self, Role, User};
use crate::time::now;

pub use crate::store::cases::CaseType;

mod dashboards;
mod input;
mod lists;
mod payloads;
mod requests;
mod views;

pub use dashboards::{citizen_dashboard, citizen_quick_stats, lawyer_dashboard, recent_activity};
use input::Resolution;
pub use input::{
    EntryAction, EntryResponse, LawyerRequest, NewCase, NewDispute, NewOffer, NewQuery, OpposingParty,
    QueryStatusUpdate, ResolutionInput, SendRequest, StatusUpdate,
};
pub use lists::{available_cases, citizen_my_cases, lawyer_my_cases};
use payloads::{CaseKey, StatusUpdated};
pub use requests::{
    OfferRoute, RequestList, Side, answer_entry, offer_help, request_lawyer, request_list, respond, revoke_request,
    send_request,
};
pub use views::{
    ActivityFeed, ActivityItem, AnsweredChat, AnsweredEntry, AvailableCase, CaseData, CasePage, CaseView, ChatRoomView,
    CitizenDashboard, CitizenQuickStats, EntryOfCase, LastMessageView, LawyerDashboard, LawyerRequested, LawyerSummary,
    MyCase, RequestItem, RequestPage, RequestSummary, RequestView,
};
use views::{DISPUTE_LIST_FIELDS, Hydrated, Populate, QUERY_LIST_FIELDS, to_json};

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
        after.case.updated_at = now();
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
    let now = now();
    for r in rec.requests.iter_mut().filter(|r| r.is_pending()) {
        let answer = if &r.lawyer_id == lawyer { RequestStatus::Accepted } else { RequestStatus::Rejected };
        r.respond(answer, now);
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
    let Some(lawyer_id) = &case.assigned_lawyer_id else {
        return;
    };
    let people = match load_users(state, [&case.citizen_id, lawyer_id]).await {
        Ok(people) => people,
        Err(err) => {
            tracing::error!(case = %case.id, error = %err, "case assignment emails not sent");
            return;
        }
    };
    let (Some(citizen), Some(lawyer)) = (people.get(&case.citizen_id), people.get(lawyer_id)) else {
        return;
    };
    let assignment = templates::CaseAssignment {
        kind: case.case_type.as_str(),
        title: &case.title,
        citizen_name: &citizen.name,
        lawyer_name: &lawyer.name,
        chat_id,
    };
    let frontend = &state.config.frontend_url;
    crate::service::background::send_email(
        state,
        templates::case_assigned_to_lawyer(&lawyer.email, &assignment, frontend),
    )
    .await;
    crate::service::background::send_email(
        state,
        templates::case_assigned_to_citizen(&citizen.email, &assignment, frontend),
    )
    .await;
}

/// Tags of a new or answered entry that does not assign: the case, its owner, that lawyer.
fn entry_tags(rec: &CaseRecord, lawyer: &Id) -> Vec<Tag> {
    vec![Tag::Case(rec.case.id.clone()), Tag::Cit(rec.case.citizen_id.clone()), Tag::Law(lawyer.clone())]
}

/// An active verified lawyer by id, or None.
async fn verified_lawyer(db: &Db, id: &Id) -> AppResult<Option<User>> {
    Ok(users::get(db, id).await?.filter(User::is_active_verified_lawyer))
}

/// Creates a query or dispute for `citizen`; returns `data` (`{query}` / `{dispute}`).
pub async fn create(state: &AppState, citizen: &User, new: NewCase) -> AppResult<Value> {
    let mut case = new.into_case(citizen.id.clone());
    let case_type = case.case_type;
    case.push_timeline(TimelineAction::Created, format!("{} created by citizen", case_type.label()), Some(&citizen.id));
    store::insert(&state.db, &case).await?;
    state.cache.invalidate([Tag::Avail, Tag::Cit(citizen.id.clone()), Tag::Adm]).await;

    let activity = to_json(&ActivityItem::case(&case, case_type.submitted(), None));
    state.notifier.to_user(&citizen.id, "new_activity", activity);
    let stats = citizen_quick_stats(&state.db, &citizen.id).await?;
    state.notifier.to_user(&citizen.id, "dashboard_stats_updated", stats.clone());
    state.notifier.to_user(&citizen.id, "quick_stats_updated", stats);

    let users: Users = [(citizen.id.clone(), citizen.clone())].into_iter().collect();
    let pop = Populate { citizen: Some(NAME_EMAIL), ..Populate::default() };
    Ok(to_json(&CaseData::new(case_type, CaseView::new(&case, &[], &users, pop))))
}

/// The `/queries` or `/disputes` list: items, total and page (wrapper pagination). The role
/// gate (no law students) runs before this.
pub async fn list(
    state: &AppState,
    user: &User,
    case_type: CaseType,
    params: &Params,
) -> AppResult<(Vec<Value>, i64, Page)> {
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
    let pop = Populate {
        citizen: Some(CONTACT),
        assigned: Some(LAWYER_BRIEF),
        lawyer_requests: Some(LAWYER_BRIEF),
        ..Populate::default()
    };
    let allow = match case_type {
        CaseType::Query => QUERY_LIST_FIELDS,
        CaseType::Dispute => DISPUTE_LIST_FIELDS,
    };
    // `fields=` picks keys per request: the items are JSON from here.
    let items = hydrated.cases.iter().map(|c| select_fields(to_json(&hydrated.view(c, pop)), params, allow)).collect();
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
    if facts.parties.may_read(user, facts.has_entry) { Ok(()) } else { Err(AppError::forbidden("Access denied")) }
}

/// One case, fully populated: `data` (`{query}` / `{dispute}`). Access is checked before.
pub async fn get(state: &AppState, case_type: CaseType, id: &Id) -> AppResult<Value> {
    let cases: Vec<Case> = store::get_many(&state.db, std::slice::from_ref(id))
        .await?
        .into_iter()
        .filter(|c| c.case_type == case_type)
        .collect();
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
    Ok(to_json(&CaseData::new(case_type, hydrated.view(&hydrated.cases[0], pop))))
}

/// Changes the status (assigned lawyer, owner or admin). Resolving records the resolution
/// (a query's has no given fields).
pub async fn update_status(
    state: &AppState,
    user: &User,
    case_type: CaseType,
    case_id: &Id,
    update: StatusUpdate,
) -> AppResult<()> {
    let StatusUpdate { status, notes, resolution } = update;
    let not_found = format!("{} not found", case_type.label());
    let changed = mutate(state, case_id, Some(case_type), &not_found, |rec| {
        if !rec.case.parties().may_change_status(user) {
            return Err(AppError::forbidden("Access denied"));
        }
        let old = rec.case.status;
        rec.case.set_status(status);
        if let Some(n) = &notes {
            rec.case.push_note(&user.id, n.clone());
        }
        if status == CaseStatus::Resolved && old != CaseStatus::Resolved {
            let now = now();
            let given = resolution.clone().unwrap_or_default();
            rec.case.resolution = to_json(&Resolution { given: &given, resolved_by: &user.id, resolved_at: now });
            rec.case.resolved_at = Some(now.iso());
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
    let payload = to_json(&StatusUpdated {
        case: CaseKey::new(case_type, &rec.case.id),
        new_status: status,
        updated_by: actor(user),
    });
    for party in std::iter::once(&rec.case.citizen_id).chain(rec.case.assigned_lawyer_id.as_ref()) {
        if party != &user.id {
            state.notifier.to_user(party, &event, payload.clone());
        }
    }
    Ok(())
}
