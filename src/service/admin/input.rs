//! Request bodies of the admin routes (docs/api.md 3.2 #4, #6) as typed values.

use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{AppError, AppResult};
use crate::store::users::VerificationStatus;
use crate::validate::FromBody;

/// Body of `PATCH /api/admin/users/{userId}/toggle-status`: without a boolean `isActive` the
/// status is flipped.
#[derive(Debug, Clone, Copy, Default, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct StatusChange {
    pub is_active: Option<bool>,
}

impl FromBody for StatusChange {
    fn from_body(body: &Value) -> AppResult<StatusChange> {
        Ok(StatusChange { is_active: body.get("isActive").and_then(Value::as_bool) })
    }
}

/// JavaScript truthiness, which decides whether the original took a body field at all.
fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(_) => true,
    }
}

/// Body of `PATCH /api/admin/lawyers/{lawyerId}/verification`: an admin's verification
/// decision, read from `{status: verified|rejected}` or `{action: approve|reject}` plus `reason`
/// or `notes` (text, at most 500 characters, trimmed).
#[derive(Debug, Clone, PartialEq, ToSchema)]
pub struct Decision {
    pub status: VerificationStatus,
    pub notes: Option<String>,
}

const INVALID_STATUS: &str =
    "Invalid verification status. Use 'verified'/'rejected' for status or 'approve'/'reject' for action";

impl FromBody for Decision {
    fn from_body(body: &Value) -> AppResult<Decision> {
        parse_decision(body)
    }
}

fn parse_decision(body: &Value) -> AppResult<Decision> {
    let raw = if truthy(body.get("status")) {
        body.get("status").and_then(Value::as_str)
    } else if truthy(body.get("action")) {
        body.get("action").and_then(Value::as_str).map(|a| match a {
            "approve" => "verified",
            "reject" => "rejected",
            other => other,
        })
    } else {
        None
    };
    let status = match raw {
        Some("verified") => VerificationStatus::Verified,
        Some("rejected") => VerificationStatus::Rejected,
        _ => return Err(AppError::bad_request(INVALID_STATUS)),
    };
    let given = [body.get("reason"), body.get("notes")].into_iter().find(|v| truthy(*v)).flatten();
    let notes = match given {
        None => None,
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(AppError::bad_request("Verification notes must be text")),
    };
    Ok(Decision { status, notes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decisions_accept_status_or_action() {
        let d = parse_decision(&json!({"action": "approve", "reason": "  ok  "})).unwrap();
        assert_eq!(d, Decision { status: VerificationStatus::Verified, notes: Some("ok".into()) });
        let d = parse_decision(&json!({"status": "rejected", "notes": "missing bar id"})).unwrap();
        assert_eq!(d.status, VerificationStatus::Rejected);
        assert_eq!(
            parse_decision(&json!({"status": "", "action": "reject"})).unwrap().status,
            VerificationStatus::Rejected
        );
        assert!(parse_decision(&json!({"status": "approve"})).is_err());
        assert!(parse_decision(&json!({})).is_err());
        assert!(parse_decision(&json!({"action": "maybe"})).is_err());
    }
}
