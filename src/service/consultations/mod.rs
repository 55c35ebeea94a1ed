//! Consultations (docs/api.md 3.9): citizens request a time with a verified lawyer, the lawyer
//! schedules or confirms it, either party cancels. Every write invalidates the consultation
//! and both parties' lists (3.12) and notifies the other party (4.3).
//!
//! `input` reads the request bodies, `views` shapes the answers and events.

mod input;
mod views;

pub use input::{CancelConsultation, NewConsultation, StatusUpdate, is_url, parse_iso8601};
pub use views::{
    CancellationRecord, CancelledEvent, ConsultationPage, ConsultationPagination, ConsultationReply, ConsultationView,
    RequestedEvent, StatusUpdatedEvent,
};

use serde_json::Value;

use crate::cache::Tag;
use crate::domain::consultation::{ConsultationStatus, ConsultationType};
use crate::domain::page::Page;
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::service::chats::view_json;
use crate::service::people::{
    NAME, NAME_EMAIL, NAME_EMAIL_ROLE, PARTICIPANT_LIST, actor, load_users, populate, user_ref,
};
use crate::state::AppState;
use crate::store::consultations::{self as store, Consultation, Side};
use crate::store::users::{self, Role, User};
use crate::time::Timestamp;

/// How far apart two consultations of one lawyer must be.
const SLOT_MARGIN: chrono::Duration = chrono::Duration::minutes(30);
/// A consultation can be cancelled until this long before it starts.
const CANCEL_NOTICE: chrono::Duration = chrono::Duration::hours(2);
/// The length of a consultation whose request gives none, in minutes.
const DEFAULT_DURATION: i64 = 30;

/// Consultations with both parties populated: the citizen `name email role`, the lawyer also
/// `lawyerDetails.specialization` (the bare id when an account is gone).
async fn render(state: &AppState, items: &[Consultation]) -> AppResult<Vec<ConsultationView>> {
    let people = load_users(state, items.iter().flat_map(|c| [&c.citizen_id, &c.lawyer_id])).await?;
    Ok(items
        .iter()
        .map(|c| {
            ConsultationView::new(
                c,
                user_ref(&people, &c.citizen_id, Some(NAME_EMAIL_ROLE)),
                user_ref(&people, &c.lawyer_id, Some(PARTICIPANT_LIST)),
            )
        })
        .collect())
}

/// `{consultation}` of the routes that answer one.
async fn reply(state: &AppState, c: &Consultation) -> AppResult<ConsultationReply> {
    let consultation = render(state, std::slice::from_ref(c)).await?.remove(0);
    Ok(ConsultationReply { consultation })
}

async fn invalidate(state: &AppState, c: &Consultation) {
    state
        .cache
        .invalidate([Tag::Cons(c.id.clone()), Tag::ConsList(c.citizen_id.clone()), Tag::ConsList(c.lawyer_id.clone())])
        .await;
}

/// 3.9 #1: a citizen asks a verified lawyer for a time slot.
pub async fn request(state: &AppState, citizen: &User, input: NewConsultation) -> AppResult<ConsultationReply> {
    let lawyer = users::get(&state.db, &input.target_user_id)
        .await?
        .ok_or_else(|| AppError::not_found("Target user not found"))?;
    if lawyer.role != Role::Lawyer {
        return Err(AppError::bad_request("Consultations can only be requested with lawyers"));
    }
    if !lawyer.is_active_verified_lawyer() {
        return Err(AppError::bad_request("Consultations can only be requested with verified, active lawyers"));
    }
    let when = input.scheduled_at;
    if when <= Timestamp::now() {
        return Err(AppError::bad_request("Consultation time must be in the future"));
    }
    if store::lawyer_busy(&state.db, &lawyer.id, when - SLOT_MARGIN, when + SLOT_MARGIN).await? {
        return Err(AppError::conflict("The lawyer has another consultation scheduled at this time"));
    }

    let consultation_type = input.consultation_type.unwrap_or(ConsultationType::Video);
    let c = Consultation::new(
        format!("Consultation with {}", lawyer.name),
        input.description.clone(),
        citizen.id.clone(),
        lawyer.id.clone(),
        consultation_type,
        when,
        input.duration.unwrap_or(DEFAULT_DURATION),
    );
    store::insert(&state.db, &c).await?;
    invalidate(state, &c).await;

    let event = RequestedEvent {
        consultation_id: c.id.clone(),
        citizen: populate(citizen, NAME_EMAIL),
        scheduled_at: c.scheduled_at,
        duration: input.duration_sent,
        description: input.description,
        consultation_type,
        timestamp: Timestamp::now(),
    };
    state.notifier.to_user(&lawyer.id, "new_consultation_request", view_json(event));

    reply(state, &c).await
}

/// Which list a caller sees (3.9 #2): citizens theirs as citizen, lawyers as lawyer.
pub fn list_side(user: &User) -> AppResult<Side> {
    match user.role {
        Role::Citizen => Ok(Side::Citizen),
        Role::Lawyer => Ok(Side::Lawyer),
        _ => Err(AppError::forbidden("Access denied")),
    }
}

/// 3.9 #2: `data` of one page. `status` is the query's text: one outside the set matches
/// nothing, as the original's query would.
pub async fn list(
    state: &AppState,
    user: &User,
    side: Side,
    status: Option<&str>,
    page: Page,
) -> AppResult<ConsultationPage> {
    let items = store::list(&state.db, side, &user.id, status, page.limit, page.offset()).await?;
    let total = store::count(&state.db, side, &user.id, status).await?;
    let pagination = ConsultationPagination { page: page.page, limit: page.limit, total, pages: page.pages(total) };
    Ok(ConsultationPage { consultations: render(state, &items).await?, pagination })
}

/// 3.9 #3, access part: runs on every request, cached or not.
pub async fn check_party(state: &AppState, user: &User, id: &Id) -> AppResult<()> {
    let (citizen, lawyer) =
        store::parties(&state.db, id).await?.ok_or_else(|| AppError::not_found("Consultation not found"))?;
    if user.id != citizen && user.id != lawyer {
        return Err(AppError::forbidden("Access denied"));
    }
    Ok(())
}

/// 3.9 #3: `data`.
pub async fn get(state: &AppState, id: &Id) -> AppResult<ConsultationReply> {
    let c = store::get(&state.db, id).await?.ok_or_else(|| AppError::not_found("Consultation not found"))?;
    reply(state, &c).await
}

/// 3.9 #4: the assigned lawyer sets the status, meeting link and notes.
pub async fn update_status(
    state: &AppState,
    lawyer: &User,
    id: &Id,
    input: StatusUpdate,
) -> AppResult<ConsultationReply> {
    let mut c = store::get(&state.db, id).await?.ok_or_else(|| AppError::not_found("Consultation not found"))?;
    if lawyer.role != Role::Lawyer || c.lawyer_id != lawyer.id {
        return Err(AppError::forbidden("Only the assigned lawyer can update consultation status"));
    }
    let status = input.status;
    c.status = status;
    let details = c.meeting_details_mut();
    if let Some(link) = input.meeting_link {
        details.insert("meetingLink".into(), Value::String(link));
    }
    if let Some(notes) = input.notes {
        c.notes_mut().insert("lawyerNotes".into(), Value::String(notes));
    }
    if status == ConsultationStatus::Confirmed
        && !c.has_meeting_link()
        && c.consultation_type == ConsultationType::Video
    {
        let (link, meeting_id) =
            (format!("https://meet.example.com/consultation/{}", c.id), format!("consultation-{}", c.id));
        let details = c.meeting_details_mut();
        details.insert("meetingLink".into(), Value::String(link));
        details.insert("meetingId".into(), Value::String(meeting_id));
    }
    store::save(&state.db, &mut c).await?;
    invalidate(state, &c).await;

    let event = StatusUpdatedEvent {
        consultation_id: c.id.clone(),
        status,
        meeting_link: c.meeting_details.get("meetingLink").cloned(),
        lawyer: populate(lawyer, NAME),
        timestamp: Timestamp::now(),
    };
    state.notifier.to_user(&c.citizen_id, "consultation_status_updated", view_json(event));

    reply(state, &c).await
}

/// 3.9 #5: either party cancels while at least two hours remain.
pub async fn cancel(state: &AppState, user: &User, id: &Id, input: CancelConsultation) -> AppResult<ConsultationReply> {
    let mut c = store::get(&state.db, id).await?.ok_or_else(|| AppError::not_found("Consultation not found"))?;
    if user.id != c.citizen_id && user.id != c.lawyer_id {
        return Err(AppError::forbidden("Access denied"));
    }
    let too_late = || AppError::bad_request("Consultation cannot be cancelled (less than 2 hours remaining)");
    if c.scheduled_at - Timestamp::now() < CANCEL_NOTICE || !c.status.is_cancellable() {
        return Err(too_late());
    }
    let cancellation = CancellationRecord {
        cancelled_by: &user.id,
        reason: input.reason.as_deref().unwrap_or("No reason provided"),
        cancelled_at: Timestamp::now(),
    };
    if !store::cancel(&state.db, &mut c, view_json(cancellation)).await? {
        return Err(too_late());
    }
    invalidate(state, &c).await;

    let other = if user.id == c.citizen_id { &c.lawyer_id } else { &c.citizen_id };
    let event = CancelledEvent {
        consultation_id: c.id.clone(),
        cancelled_by: actor(user),
        reason: input.reason_sent,
        timestamp: Timestamp::now(),
    };
    state.notifier.to_user(other, "consultation_cancelled", view_json(event));

    reply(state, &c).await
}
