//! Consultations (docs/api.md 3.9): citizens request a time with a verified lawyer, the lawyer
//! schedules or confirms it, either party cancels. Every write invalidates the consultation
//! and both parties' lists (3.12) and notifies the other party (4.3).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Value, json};

use crate::cache::Tag;
use crate::domain::consultation::{ConsultationStatus, ConsultationType};
use crate::domain::page::Page;
use crate::error::{AppError, AppResult};
use crate::time::Timestamp;
use crate::ids::Id;
use crate::service::people::{
    NAME, NAME_EMAIL, NAME_EMAIL_ROLE, PARTICIPANT_LIST, actor, load_users, populate, user_ref,
};
use crate::state::AppState;
use crate::store::consultations::{self as store, Consultation, Side};
use crate::store::users::{self, Role, User};
use crate::validate::Validator;

/// How far apart two consultations of one lawyer must be.
const SLOT_MARGIN: chrono::Duration = chrono::Duration::minutes(30);
/// A consultation can be cancelled until this long before it starts.
const CANCEL_NOTICE: chrono::Duration = chrono::Duration::hours(2);

/// Reads ISO-8601 the way the original's validator and `new Date()` accept it: full
/// timestamps with an offset, local-less date-times (read as UTC) and plain dates.
pub fn parse_iso8601(raw: &str) -> Option<Timestamp> {
    let raw = raw.trim();
    Some(Timestamp::from_datetime(parse_loose(raw)?))
}

fn parse_loose(raw: &str) -> Option<DateTime<Utc>> {
    if let Some(t) = crate::time::parse(raw) {
        return Some(t.datetime());
    }
    let with_offset = raw.strip_suffix('Z').or_else(|| raw.strip_suffix('z')).map(|r| format!("{r}+00:00"));
    for candidate in with_offset.iter().map(String::as_str).chain([raw]) {
        if let Ok(t) = DateTime::parse_from_str(candidate, "%Y-%m-%dT%H:%M%:z") {
            return Some(t.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(raw, format) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc())
}

/// validator.js `isURL` with its defaults: optional http/https/ftp scheme, a host with a
/// top-level domain (or an IPv4 address), optional port and path; no spaces.
pub fn is_url(raw: &str) -> bool {
    if raw.is_empty() || raw.len() > 2083 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    if raw.to_ascii_lowercase().starts_with("mailto:") {
        return false;
    }
    let rest = match raw.split_once("://") {
        Some((scheme, rest)) => {
            if !["http", "https", "ftp"].contains(&scheme.to_ascii_lowercase().as_str()) {
                return false;
            }
            rest
        }
        None if raw.starts_with("//") => return false,
        None => raw,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    let host = match host_port.rsplit_once(':') {
        Some((host, port)) => {
            if port.is_empty()
                || port.len() > 5
                || !port.bytes().all(|b| b.is_ascii_digit())
                || port.parse::<u32>().unwrap_or(0) > 65535
            {
                return false;
            }
            host
        }
        None => host_port,
    };
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let tld = labels[labels.len() - 1];
    let tld_ok = tld.len() >= 2 && tld.chars().all(|c| c.is_alphabetic()) || tld.starts_with("xn--");
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    tld_ok && labels.iter().all(label_ok)
}

/// Consultations with both parties populated: the citizen `name email role`, the lawyer also
/// `lawyerDetails.specialization` (null when an account is gone).
async fn render(state: &AppState, items: &[Consultation]) -> AppResult<Vec<Value>> {
    let people = load_users(state, items.iter().flat_map(|c| [&c.citizen_id, &c.lawyer_id])).await?;
    Ok(items
        .iter()
        .map(|c| {
            c.to_json(
                user_ref(&people, &c.citizen_id, Some(NAME_EMAIL_ROLE)),
                user_ref(&people, &c.lawyer_id, Some(PARTICIPANT_LIST)),
            )
        })
        .collect())
}

async fn render_one(state: &AppState, c: &Consultation) -> AppResult<Value> {
    Ok(render(state, std::slice::from_ref(c)).await?.remove(0))
}

async fn invalidate(state: &AppState, c: &Consultation) {
    state
        .cache
        .invalidate([Tag::Cons(c.id.clone()), Tag::ConsList(c.citizen_id.clone()), Tag::ConsList(c.lawyer_id.clone())])
        .await;
}

fn is_object_id(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str).is_some_and(Id::is_valid)
}

/// 3.9 #1: a citizen asks a verified lawyer for a time slot.
pub async fn request(state: &AppState, citizen: &User, body: &Value) -> AppResult<Value> {
    let mut v = Validator::body(body);
    v.field("targetUserId").required("Target user ID is required").check(is_object_id, "Invalid target user ID");
    v.field("scheduledDateTime")
        .required("Scheduled date and time is required")
        .check(|v| v.and_then(Value::as_str).and_then(parse_iso8601).is_some(), "Invalid date format");
    v.field("duration").optional().int_range(15, 180, "Duration must be between 15 and 180 minutes");
    v.field("description").optional().length(0, Some(500), "Description cannot exceed 500 characters");
    v.field("consultationType").optional().one_of(ConsultationType::NAMES, "Invalid consultation type");
    v.finish()?;

    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::trim);
    let target: Id = text("targetUserId")
        .unwrap_or_default()
        .parse()
        .map_err(|_| AppError::bad_request("Invalid target user ID"))?;
    let when = text("scheduledDateTime")
        .and_then(parse_iso8601)
        .ok_or_else(|| AppError::bad_request("Invalid date format"))?;
    let duration = match body.get("duration") {
        Some(Value::Number(n)) => n.as_f64().map(|f| f as i64),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|d| *d != 0)
    .unwrap_or(30);
    let description = body.get("description").and_then(Value::as_str).map(str::to_string);
    let consultation_type = text("consultationType").and_then(|t| t.parse().ok()).unwrap_or(ConsultationType::Video);

    let lawyer = users::get(&state.db, &target).await?.ok_or_else(|| AppError::not_found("Target user not found"))?;
    if lawyer.role != Role::Lawyer {
        return Err(AppError::bad_request("Consultations can only be requested with lawyers"));
    }
    if !lawyer.is_active_verified_lawyer() {
        return Err(AppError::bad_request("Consultations can only be requested with verified, active lawyers"));
    }
    if when <= crate::time::now() {
        return Err(AppError::bad_request("Consultation time must be in the future"));
    }
    let (from, to) = (crate::time::iso(when - SLOT_MARGIN), crate::time::iso(when + SLOT_MARGIN));
    if store::lawyer_busy(&state.db, &lawyer.id, &from, &to).await? {
        return Err(AppError::conflict("The lawyer has another consultation scheduled at this time"));
    }

    let c = Consultation::new(
        format!("Consultation with {}", lawyer.name),
        description.clone(),
        citizen.id.clone(),
        lawyer.id.clone(),
        consultation_type,
        crate::time::iso(when),
        duration,
    );
    store::insert(&state.db, &c).await?;
    invalidate(state, &c).await;

    let mut event = json!({
        "consultationId": c.id,
        "citizen": populate(citizen, NAME_EMAIL),
        "scheduledDateTime": c.scheduled_at,
    });
    if let Some(d) = body.get("duration").filter(|d| !d.is_null()) {
        event["duration"] = d.clone();
    }
    if let Some(d) = &description {
        event["description"] = json!(d);
    }
    event["consultationType"] = json!(consultation_type);
    event["timestamp"] = json!(crate::time::now_iso());
    state.notifier.to_user(&lawyer.id, "new_consultation_request", event);

    Ok(json!({"consultation": render_one(state, &c).await?}))
}

/// Which list a caller sees (3.9 #2): citizens theirs as citizen, lawyers as lawyer.
pub fn list_side(user: &User) -> AppResult<Side> {
    match user.role {
        Role::Citizen => Ok(Side::Citizen),
        Role::Lawyer => Ok(Side::Lawyer),
        _ => Err(AppError::forbidden("Access denied")),
    }
}

/// 3.9 #2: `data` of one page.
pub async fn list(state: &AppState, user: &User, side: Side, status: Option<&str>, page: Page) -> AppResult<Value> {
    let items = store::list(&state.db, side, &user.id, status, page.limit, page.offset()).await?;
    let total = store::count(&state.db, side, &user.id, status).await?;
    Ok(json!({
        "consultations": render(state, &items).await?,
        "pagination": {"page": page.page, "limit": page.limit, "total": total, "pages": page.pages(total)},
    }))
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
pub async fn get(state: &AppState, id: &Id) -> AppResult<Value> {
    let c = store::get(&state.db, id).await?.ok_or_else(|| AppError::not_found("Consultation not found"))?;
    Ok(json!({"consultation": render_one(state, &c).await?}))
}

/// 3.9 #4: the assigned lawyer sets the status, meeting link and notes.
pub async fn update_status(state: &AppState, lawyer: &User, id: &Id, body: &Value) -> AppResult<Value> {
    let mut v = Validator::body(body);
    v.field("status").required("Status is required").one_of(ConsultationStatus::SETTABLE, "Invalid status");
    v.field("meetingLink")
        .optional()
        .check(|v| v.and_then(Value::as_str).is_some_and(is_url), "Invalid meeting link URL");
    v.field("notes").optional().length(0, Some(1000), "Notes cannot exceed 1000 characters");
    v.finish()?;

    let mut c = store::get(&state.db, id).await?.ok_or_else(|| AppError::not_found("Consultation not found"))?;
    if lawyer.role != Role::Lawyer || c.lawyer_id != lawyer.id {
        return Err(AppError::forbidden("Only the assigned lawyer can update consultation status"));
    }
    let text = |k: &str| body.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let status: ConsultationStatus =
        text("status").and_then(|s| s.parse().ok()).ok_or_else(|| AppError::bad_request("Invalid status"))?;
    c.status = status;
    if !c.meeting_details.is_object() {
        c.meeting_details = json!({});
    }
    if let Some(link) = text("meetingLink") {
        c.meeting_details["meetingLink"] = json!(link);
    }
    if let Some(notes) = text("notes") {
        if !c.notes.is_object() {
            c.notes = json!({});
        }
        c.notes["lawyerNotes"] = json!(notes);
    }
    let has_link = c.meeting_details.get("meetingLink").and_then(Value::as_str).is_some_and(|l| !l.is_empty());
    if status == ConsultationStatus::Confirmed && !has_link && c.consultation_type == ConsultationType::Video {
        c.meeting_details["meetingLink"] = json!(format!("https://meet.example.com/consultation/{}", c.id));
        c.meeting_details["meetingId"] = json!(format!("consultation-{}", c.id));
    }
    store::save(&state.db, &mut c).await?;
    invalidate(state, &c).await;

    let mut event = json!({"consultationId": c.id, "status": status});
    if let Some(link) = c.meeting_details.get("meetingLink") {
        event["meetingLink"] = link.clone();
    }
    event["lawyer"] = populate(lawyer, NAME);
    event["timestamp"] = json!(crate::time::now_iso());
    state.notifier.to_user(&c.citizen_id, "consultation_status_updated", event);

    Ok(json!({"consultation": render_one(state, &c).await?}))
}

/// 3.9 #5: either party cancels while at least two hours remain.
pub async fn cancel(state: &AppState, user: &User, id: &Id, body: &Value) -> AppResult<Value> {
    let mut v = Validator::body(body);
    v.field("reason").optional().length(0, Some(500), "Reason cannot exceed 500 characters");
    v.finish()?;

    let mut c = store::get(&state.db, id).await?.ok_or_else(|| AppError::not_found("Consultation not found"))?;
    if user.id != c.citizen_id && user.id != c.lawyer_id {
        return Err(AppError::forbidden("Access denied"));
    }
    let too_late = || AppError::bad_request("Consultation cannot be cancelled (less than 2 hours remaining)");
    let starts = crate::time::parse(&c.scheduled_at).ok_or_else(too_late)?;
    if starts - crate::time::now() < CANCEL_NOTICE || !c.status.is_cancellable() {
        return Err(too_late());
    }
    let given = body.get("reason").and_then(Value::as_str).filter(|r| !r.is_empty());
    let cancellation = json!({
        "cancelledBy": user.id,
        "reason": given.unwrap_or("No reason provided"),
        "cancelledAt": crate::time::now_iso(),
    });
    if !store::cancel(&state.db, &mut c, cancellation).await? {
        return Err(too_late());
    }
    invalidate(state, &c).await;

    let other = if user.id == c.citizen_id { &c.lawyer_id } else { &c.citizen_id };
    let mut event = json!({
        "consultationId": c.id,
        "cancelledBy": actor(user),
    });
    if let Some(r) = body.get("reason").filter(|r| !r.is_null()) {
        event["reason"] = r.clone();
    }
    event["timestamp"] = json!(crate::time::now_iso());
    state.notifier.to_user(other, "consultation_cancelled", event);

    Ok(json!({"consultation": render_one(state, &c).await?}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_forms() {
        let t = |s: &str| parse_iso8601(s).map(crate::time::iso);
        assert_eq!(t("2030-05-01T10:00:00.000Z").as_deref(), Some("2030-05-01T10:00:00.000Z"));
        assert_eq!(t("2030-05-01T15:30:00+05:30").as_deref(), Some("2030-05-01T10:00:00.000Z"));
        assert_eq!(t("2030-05-01T10:00Z").as_deref(), Some("2030-05-01T10:00:00.000Z"));
        assert_eq!(t("2030-05-01T10:00").as_deref(), Some("2030-05-01T10:00:00.000Z"));
        assert_eq!(t("2030-05-01").as_deref(), Some("2030-05-01T00:00:00.000Z"));
        assert_eq!(t("tomorrow"), None);
        assert_eq!(t("2030-13-01"), None);
    }

    #[test]
    fn urls_like_validator() {
        for ok in [
            "https://meet.google.com/abc-defg",
            "http://zoom.us/j/123?pwd=x",
            "meet.example.com/room",
            "https://10.0.0.1:8443/x",
        ] {
            assert!(is_url(ok), "{ok}");
        }
        for bad in [
            "",
            "not a url",
            "javascript:alert(1)",
            "https://localhost/x",
            "ftp//x.com",
            "https://exa mple.com",
            "mailto:a@b.com",
        ] {
            assert!(!is_url(bad), "{bad}");
        }
    }
}
