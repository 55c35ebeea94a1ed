//! Reading request bodies and query parameters of the case routes: field helpers, the
//! validation of a new case and the details of a new dispute.

use super::*;

pub(super) fn text(body: &Value, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A finite number or numeric text.
pub(super) fn number(body: &Value, key: &str) -> Option<f64> {
    body.get(key).and_then(number_of)
}

/// Text or a number as text (durations like "2 weeks" or 14).
pub(super) fn text_or_number(body: &Value, key: &str) -> Option<String> {
    match body.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(super) fn validate_create(case_type: CaseType, body: &Value) -> AppResult<()> {
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
        v.field("opposingParty.name").optional().length(
            2,
            Some(100),
            "Opposing party name must be between 2 and 100 characters",
        );
    }
    v.finish()
}

pub(super) fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|n| n.is_finite())
}

/// `opposingParty`, `disputeValue` and `hearingDates` of a new dispute.
pub(super) fn dispute_details(body: &Value) -> Value {
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

/// The `caseType` query parameter (`all` or absent: both).
pub(super) fn case_type_param(params: &Params, key: &str) -> Option<CaseType> {
    CaseType::from_param(params.filter(key)?)
}
