//! Request bodies of the consultation routes as typed values ([`FromBody`]: the rules of
//! docs/api.md 3.9 run on the document, every failure comes back at once, then the fields are
//! read as the original reads them).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::consultation::{ConsultationStatus, ConsultationType};
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::time::Timestamp;
use crate::validate::{FromBody, Validator};

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

/// A JSON string field, trimmed.
fn trimmed(body: &Value, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(|s| s.trim().to_string())
}

/// A JSON string field as sent.
fn string(body: &Value, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A present, non-null value as sent: what the original echoes in its events (a number sent as
/// text stays text there), so it is kept beside the typed value.
fn as_sent(body: &Value, key: &str) -> Option<Value> {
    body.get(key).filter(|v| !v.is_null()).cloned()
}

/// Body of `POST /api/consultations/request`.
#[derive(Debug, Clone, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct NewConsultation {
    /// The lawyer, a 24-hex id.
    #[schema(value_type = String)]
    pub target_user_id: Id,
    /// ISO-8601 (a plain date or a date-time without offset reads as UTC), in the future.
    #[schema(rename = "scheduledDateTime")]
    pub scheduled_at: Timestamp,
    /// 15 to 180 minutes; 30 when absent.
    pub duration: Option<i64>,
    /// `duration` as sent, echoed in `new_consultation_request`.
    #[schema(ignore)]
    pub duration_sent: Option<Value>,
    /// At most 500 characters.
    pub description: Option<String>,
    /// Video when absent.
    pub consultation_type: Option<ConsultationType>,
}

impl FromBody for NewConsultation {
    fn from_body(body: &Value) -> AppResult<NewConsultation> {
        let mut v = Validator::body(body);
        v.field("targetUserId")
            .required("Target user ID is required")
            .check(|v| v.and_then(Value::as_str).is_some_and(Id::is_valid), "Invalid target user ID");
        v.field("scheduledDateTime")
            .required("Scheduled date and time is required")
            .check(|v| v.and_then(Value::as_str).and_then(parse_iso8601).is_some(), "Invalid date format");
        v.field("duration").optional().int_range(15, 180, "Duration must be between 15 and 180 minutes");
        v.field("description").optional().length(0, Some(500), "Description cannot exceed 500 characters");
        v.field("consultationType").optional().one_of(ConsultationType::NAMES, "Invalid consultation type");
        v.finish()?;

        let target_user_id = trimmed(body, "targetUserId")
            .unwrap_or_default()
            .parse()
            .map_err(|_| AppError::bad_request("Invalid target user ID"))?;
        let scheduled_at = trimmed(body, "scheduledDateTime")
            .as_deref()
            .and_then(parse_iso8601)
            .ok_or_else(|| AppError::bad_request("Invalid date format"))?;
        let duration = match body.get("duration") {
            Some(Value::Number(n)) => n.as_f64().map(|f| f as i64),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|d| *d != 0);
        Ok(NewConsultation {
            target_user_id,
            scheduled_at,
            duration,
            duration_sent: as_sent(body, "duration"),
            description: string(body, "description"),
            consultation_type: trimmed(body, "consultationType").and_then(|t| t.parse().ok()),
        })
    }
}

/// Body of `PATCH /api/consultations/{id}/status`.
#[derive(Debug, Clone, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct StatusUpdate {
    /// One of [`ConsultationStatus::SETTABLE`].
    pub status: ConsultationStatus,
    /// A URL (empty counts as absent).
    pub meeting_link: Option<String>,
    /// At most 1000 characters (empty counts as absent).
    pub notes: Option<String>,
}

impl FromBody for StatusUpdate {
    fn from_body(body: &Value) -> AppResult<StatusUpdate> {
        let mut v = Validator::body(body);
        v.field("status").required("Status is required").check(
            |v| v.and_then(Value::as_str).and_then(|s| s.parse().ok()).is_some_and(ConsultationStatus::is_settable),
            "Invalid status",
        );
        v.field("meetingLink")
            .optional()
            .check(|v| v.and_then(Value::as_str).is_some_and(is_url), "Invalid meeting link URL");
        v.field("notes").optional().length(0, Some(1000), "Notes cannot exceed 1000 characters");
        v.finish()?;

        let non_empty = |k: &str| string(body, k).filter(|s| !s.is_empty());
        let status =
            non_empty("status").and_then(|s| s.parse().ok()).ok_or_else(|| AppError::bad_request("Invalid status"))?;
        Ok(StatusUpdate { status, meeting_link: non_empty("meetingLink"), notes: non_empty("notes") })
    }
}

/// Body of `PATCH /api/consultations/{id}/cancel`.
#[derive(Debug, Clone, Default, ToSchema)]
pub struct CancelConsultation {
    /// At most 500 characters; "No reason provided" when absent or empty.
    pub reason: Option<String>,
    /// `reason` as sent, echoed in `consultation_cancelled`.
    #[schema(ignore)]
    pub reason_sent: Option<Value>,
}

impl FromBody for CancelConsultation {
    fn from_body(body: &Value) -> AppResult<CancelConsultation> {
        let mut v = Validator::body(body);
        v.field("reason").optional().length(0, Some(500), "Reason cannot exceed 500 characters");
        v.finish()?;
        Ok(CancelConsultation {
            reason: string(body, "reason").filter(|r| !r.is_empty()),
            reason_sent: as_sent(body, "reason"),
        })
    }
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

    #[test]
    fn bodies_read_as_sent() {
        let body = serde_json::json!({
            "targetUserId": " 0123456789abcdef01234567 ", "scheduledDateTime": "2030-05-01", "duration": "45",
        });
        // The id rule reads the text as sent: with spaces it is not an id.
        assert!(NewConsultation::from_body(&body).is_err());
        let body = serde_json::json!({
            "targetUserId": "0123456789abcdef01234567", "scheduledDateTime": "2030-05-01", "duration": "45",
        });
        let c = NewConsultation::from_body(&body).unwrap();
        assert_eq!(c.duration, Some(45));
        assert_eq!(c.duration_sent, Some(serde_json::json!("45")));
        let cancel = CancelConsultation::from_body(&serde_json::json!({"reason": ""})).unwrap();
        assert_eq!((cancel.reason, cancel.reason_sent), (None, Some(serde_json::json!(""))));
    }
}
