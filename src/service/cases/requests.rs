//! Offers and requests on a case: lawyers offering help or asking to handle a case, citizens
//! asking or inviting a lawyer, the answers to either (which may assign the case), and the
//! request lists of both sides (docs/api.md 3.3 #6, #17-20; 3.4 #7-14, #20; 3.5 / 3.6 #2-5).

use anyhow::anyhow;
use serde_json::Value;

use crate::domain::case::{CaseStatus, CaseType, Direction, RequestStatus};
use crate::domain::page::{LegacyPagination, Params, parse_id};
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::service::access::{authorize, require_verified_lawyer};
use crate::service::people::{LAWYER_BRIEF, NAME, NAME_EMAIL, actor, lawyer_brief, load_users, populate, user_ref};
use crate::state::AppState;
use crate::store::cases::{self as store, RequestFilter};
use crate::store::users::{Role, User};
use crate::time::now;

use super::input::{EntryAction, EntryResponse, LawyerRequest, NewOffer, SendRequest, case_type_param};
use super::payloads::{
    AssignedCase, CaseAssigned, CaseKey, CitizenRequestReceived, EntryAccepted, LawyerRequestSent, NewLawyerOffer,
    OfferData, RequestData, RequestResponse, RequestRevoked, RequestSent, RequestType,
};
use super::views::{
    AnsweredChat, AnsweredEntry, EntryOfCase, LawyerRequested, LawyerSummary, RequestItem, RequestPage, RequestSummary,
    RequestView, to_json,
};
use super::{
    assign, assignment_tags, creator, email_assignment, ensure_assignable, entry_tags, mutate, verified_lawyer,
};

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
    offer: NewOffer,
    route: OfferRoute,
) -> AppResult<()> {
    require_verified_lawyer(lawyer)?;
    let (noun, noun_lower) = match route {
        OfferRoute::Lawyers => ("Case", "case"),
        OfferRoute::Legacy => (case_type.label(), case_type.as_str()),
    };
    let NewOffer { message, proposed_fee: fee, estimated_duration: duration } = offer;
    let message = message.unwrap_or_else(|| match route {
        OfferRoute::Lawyers => format!("I would like to help you with this {case_type}"),
        OfferRoute::Legacy => String::new(),
    });
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
    let (message, duration) = (entry.message.as_deref(), entry.estimated_duration.as_deref());
    let (event, payload) = match route {
        OfferRoute::Lawyers => (
            "new_lawyer_offer",
            to_json(&NewLawyerOffer {
                case_type,
                case_id: &rec.case.id,
                from: lawyer_brief(lawyer),
                message,
                proposed_fee: entry.proposed_fee,
                estimated_duration: duration,
                timestamp: now(),
            }),
        ),
        OfferRoute::Legacy => (
            "lawyer_request_sent",
            to_json(&LawyerRequestSent {
                citizen_id: &rec.case.citizen_id,
                request_data: OfferData {
                    case: CaseKey::new(case_type, &rec.case.id),
                    request_id: &entry.id,
                    case_type,
                    lawyer: lawyer_brief(lawyer),
                    message,
                    proposed_fee: entry.proposed_fee,
                    estimated_duration: duration,
                },
            }),
        ),
    };
    state.notifier.to_user(&rec.case.citizen_id, event, payload);
    Ok(())
}

/// 3.5 / 3.6 #2 (and the lawyer-only alias #4): a verified lawyer asks to handle the case, or
/// the owning citizen invites a verified lawyer (`targetUserId`). Both add a `lawyerRequests`
/// entry recording who created it; the other party is notified in its user room only.
pub async fn send_request(
    state: &AppState,
    user: &User,
    case_type: CaseType,
    case_id: &Id,
    request: SendRequest,
) -> AppResult<()> {
    authorize(user, &[Role::Citizen, Role::Lawyer])?;
    if user.role == Role::Lawyer {
        require_verified_lawyer(user)?;
    }
    let noun = case_type.as_str();
    let message = request.message.unwrap_or_default();
    // The citizen's target, looked up before the change (the checks run in the original's order).
    let target_id = request.target_user_id.as_deref().map(|raw| parse_id(raw.trim(), "lawyer"));
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
                return Err(AppError::bad_request(format!(
                    "You can only request lawyers for your own {}",
                    case_type.plural()
                )));
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
    let by_lawyer = user.role == Role::Lawyer;
    let target_user = if by_lawyer { &rec.case.citizen_id } else { &entry.lawyer_id };
    let payload = RequestSent {
        target_user_id: target_user,
        request_data: RequestData {
            case: CaseKey::new(case_type, &rec.case.id),
            request_id: &entry.id,
            case_type,
            request_type: if by_lawyer { RequestType::LawyerToCitizen } else { RequestType::CitizenToLawyer },
            lawyer: by_lawyer.then(|| lawyer_brief(user)),
            citizen: (!by_lawyer).then(|| populate(user, NAME)),
            message: entry.message.as_deref(),
        },
    };
    let event = format!("{case_type}_request_sent");
    state.notifier.to_user(target_user, &event, to_json(&payload));
    Ok(())
}

/// Accepts or rejects a `lawyerRequests` entry: the owning citizen or the lawyer it names may
/// answer, but only the party that did not create it may accept (defect 6). Returns the
/// message.
pub async fn respond(
    state: &AppState,
    user: &User,
    case_type: CaseType,
    case_id: &Id,
    request_id: &Id,
    response: EntryResponse,
) -> AppResult<&'static str> {
    let accept = response.action == EntryAction::Accept;
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
                r.respond(RequestStatus::Rejected, now());
            }
        }
        Ok(entry)
    })
    .await?;
    let rec = &changed.record;
    let entry = &changed.value;
    if accept {
        state.cache.invalidate(assignment_tags(rec)).await;
        let payload = to_json(&CaseAssigned {
            citizen_id: &rec.case.citizen_id,
            lawyer_id: &entry.lawyer_id,
            case_type,
            case_id: &rec.case.id,
            case_data: AssignedCase {
                case: CaseKey::new(case_type, &rec.case.id),
                title: &rec.case.title,
                action: RequestStatus::Accepted,
                responder: actor(user),
                chat_id: changed.chat.as_ref().map(|c| c.chat_id.as_str()),
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
    let other = if user.role == Role::Citizen { &entry.lawyer_id } else { &rec.case.citizen_id };
    let payload = RequestResponse {
        case: CaseKey::new(case_type, &rec.case.id),
        request_id: &entry.id,
        action: response.action,
        case_type,
        responder: actor(user),
    };
    state.notifier.to_user(other, "request_response", to_json(&payload));
    Ok(if accept { "Request accepted successfully" } else { "Request rejected successfully" })
}

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
    pub(super) fn direction(self) -> Direction {
        match self {
            RequestList::LawyerSent | RequestList::CitizenReceivedOffers | RequestList::CitizenOffers => {
                Direction::Lawyer
            }
            RequestList::LawyerReceived | RequestList::CitizenPending | RequestList::CitizenSent => Direction::Citizen,
        }
    }

    /// Whether the list is answered under `offers` (else `requests`).
    fn offers(self) -> bool {
        matches!(self, RequestList::CitizenReceivedOffers | RequestList::CitizenOffers)
    }
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
    let items: Vec<RequestItem> = entries
        .iter()
        .filter_map(|r| {
            let case = cases.get(&r.case_id)?;
            Some(match list {
                RequestList::LawyerSent | RequestList::LawyerReceived => RequestItem::Summary(RequestSummary {
                    citizen: Some(user_ref(&users, &case.citizen_id, Some(NAME_EMAIL))),
                    ..RequestSummary::new(r, case)
                }),
                RequestList::CitizenSent | RequestList::CitizenOffers => RequestItem::Summary(RequestSummary {
                    lawyer: Some(users.get(&r.lawyer_id).map(LawyerSummary::new)),
                    ..RequestSummary::new(r, case)
                }),
                RequestList::CitizenPending | RequestList::CitizenReceivedOffers => RequestItem::OfCase(EntryOfCase {
                    entry: RequestView::new(r, user_ref(&users, &r.lawyer_id, Some(LAWYER_BRIEF))),
                    case_type: case.case_type,
                    case_id: &case.id,
                    case_title: &case.title,
                    case_created_at: case.created_at,
                }),
            })
        })
        .collect();
    let pagination = LegacyPagination::of(total, page);
    let data = match list.offers() {
        true => RequestPage { requests: None, offers: Some(items), pagination },
        false => RequestPage { requests: Some(items), offers: None, pagination },
    };
    Ok(to_json(&data))
}

/// Who answers: a lawyer answers `citizenRequests` addressed to them, a citizen answers
/// `lawyerRequests` on their cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Lawyer,
    Citizen,
}

impl Side {
    pub(super) fn noun(self) -> &'static str {
        match self {
            Side::Lawyer => "Case request",
            Side::Citizen => "Case offer",
        }
    }
}

/// Accepts or rejects an entry; returns the message and `data`.
pub async fn answer_entry(
    state: &AppState,
    user: &User,
    side: Side,
    entry_id: &Id,
    accept: bool,
) -> AppResult<(String, Value)> {
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
                r.respond(RequestStatus::Rejected, now());
            }
        }
        Ok(entry.lawyer_id.clone())
    })
    .await?;
    let rec = &changed.record;
    let lawyer_id = &changed.value;
    // The entry with its lawyer as an id.
    let request = rec.request(entry_id).map(|r| RequestView::new(r, to_json(&r.lawyer_id)));
    if !accept {
        state.cache.invalidate(entry_tags(rec, lawyer_id)).await;
        let message = match side {
            Side::Lawyer => "Case request rejected",
            Side::Citizen => "Case offer rejected",
        };
        return Ok((message.into(), to_json(&AnsweredEntry { request, chat: None })));
    }
    state.cache.invalidate(assignment_tags(rec)).await;
    let chat =
        changed.chat.clone().ok_or_else(|| AppError::internal(anyhow!("assignment of {case_id} created no chat")))?;
    email_assignment(state, &rec.case, &chat.chat_id).await;
    let case_type = rec.case.case_type;
    let accepted = EntryAccepted {
        case_type,
        case_id: &rec.case.id,
        chat_id: &chat.chat_id,
        lawyer: None,
        citizen: None,
        timestamp: None,
    };
    let (message, chat) = match side {
        Side::Lawyer => {
            let payload = EntryAccepted { lawyer: Some(populate(user, NAME)), ..accepted };
            state.notifier.to_user(&rec.case.citizen_id, "case_request_accepted", to_json(&payload));
            let chat = AnsweredChat { chat_id: &chat.chat_id, case_type: Some(case_type), id: None };
            ("Case request accepted successfully", chat)
        }
        Side::Citizen => {
            let payload = EntryAccepted { citizen: Some(populate(user, NAME)), timestamp: Some(now()), ..accepted };
            state.notifier.to_user(lawyer_id, "case_offer_accepted", to_json(&payload));
            (
                "Case offer accepted successfully",
                AnsweredChat { chat_id: &chat.chat_id, case_type: None, id: Some(&chat.id) },
            )
        }
    };
    Ok((message.into(), to_json(&AnsweredEntry { request, chat: Some(chat) })))
}

/// 3.4 #7 / #8: the owning citizen asks a verified lawyer to take an open case. Returns `data`.
pub async fn request_lawyer(
    state: &AppState,
    citizen: &User,
    case_type: CaseType,
    case_id: &Id,
    lawyer_id: &Id,
    request: LawyerRequest,
) -> AppResult<Value> {
    let noun = case_type.as_str();
    let message = request.message.unwrap_or_else(|| format!("I would like you to handle my legal {noun}."));
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
    let payload = CitizenRequestReceived {
        case_type,
        case_id: &rec.case.id,
        case_title: &rec.case.title,
        citizen: populate(citizen, NAME_EMAIL),
        message: &message,
        request_id,
    };
    state.notifier.to_user(lawyer_id, "citizen_request_received", to_json(&payload));
    Ok(to_json(&LawyerRequested { request_id, lawyer: lawyer_brief(&lawyer) }))
}

/// 3.4 #20: the citizen withdraws a pending `citizenRequests` entry.
pub async fn revoke_request(
    state: &AppState,
    citizen: &User,
    case_type: CaseType,
    case_id: &Id,
    lawyer_id: &Id,
) -> AppResult<()> {
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
        to_json(&RequestRevoked { case_type, case_id: &rec.case.id, citizen_id: &citizen.id, timestamp: now() }),
    );
    Ok(())
}
