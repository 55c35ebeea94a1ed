//! Offers and requests on a case: lawyers offering help or asking to handle a case, citizens
//! asking or inviting a lawyer, the answers to either (which may assign the case), and the
//! request lists of both sides (docs/api.md 3.3 #6, #17-20; 3.4 #7-14, #20; 3.5 / 3.6 #2-5).

use super::*;

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

    pub(super) fn key(self) -> &'static str {
        match self {
            RequestList::CitizenReceivedOffers | RequestList::CitizenOffers => "offers",
            _ => "requests",
        }
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
    let chat =
        changed.chat.clone().ok_or_else(|| AppError::internal(anyhow!("assignment of {case_id} created no chat")))?;
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
            (
                "Case request accepted successfully".into(),
                json!({"request": entry, "chat": {"chatId": chat.chat_id, "caseType": case_type}}),
            )
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
            (
                "Case offer accepted successfully".into(),
                json!({"request": entry, "chat": {"chatId": chat.chat_id, "_id": chat.id}}),
            )
        }
    })
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
        json!({"caseType": case_type.as_str(), "caseId": rec.case.id, "citizenId": citizen.id, "timestamp": now_iso()}),
    );
    Ok(())
}
