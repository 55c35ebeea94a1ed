//! The nested documents of an account (address, lawyer and student details) as the original
//! schema cast, defaulted and validated them.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::model_error;
use crate::error::FieldError;

/// How the original's schema casts one declared key of a nested document.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Text,
    Trimmed,
    Number,
    TextList,
}

pub(super) const ADDRESS_KEYS: &[(&str, Kind)] =
    &[("street", Kind::Text), ("city", Kind::Text), ("state", Kind::Text), ("pincode", Kind::Text)];

/// `lawyerDetails` keys a client may write (the verification fields are the admin's).
pub(super) const LAWYER_KEYS: &[(&str, Kind)] = &[
    ("barRegistrationNumber", Kind::Text),
    ("specialization", Kind::TextList),
    ("experience", Kind::Number),
    ("education", Kind::Text),
    ("consultationFee", Kind::Number),
    ("bio", Kind::Text),
    ("licenseNumber", Kind::Text),
    ("practiceAreas", Kind::TextList),
    ("courtAdmissions", Kind::TextList),
];

pub(super) const STUDENT_KEYS: &[(&str, Kind)] = &[
    ("universityName", Kind::Trimmed),
    ("enrollmentYear", Kind::Number),
    ("semester", Kind::Text),
    ("specialization", Kind::Trimmed),
    ("rollNumber", Kind::Trimmed),
];

pub const SEMESTERS: &[&str] = &["1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th"];

pub(super) fn cast(kind: Kind, value: &Value) -> Option<Value> {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match kind {
        Kind::Text => text(value).map(Value::String),
        Kind::Trimmed => text(value).map(|s| Value::String(s.trim().to_string())),
        Kind::Number => match value {
            Value::Number(_) => Some(value.clone()),
            Value::String(s) => {
                let n: f64 = s.trim().parse().ok().filter(|n: &f64| n.is_finite())?;
                Some(if n.fract() == 0.0 && n.abs() < 9e15 { Value::from(n as i64) } else { Value::from(n) })
            }
            _ => None,
        },
        Kind::TextList => match value {
            Value::Array(items) => items.iter().map(text).collect::<Option<Vec<_>>>().map(Value::from),
            other => text(other).map(|s| Value::from(vec![s])),
        },
    }
}

/// Writes the declared keys of `input` over `base` with the schema's casts (undeclared keys
/// are dropped, null unsets a key); a value that cannot be cast is a validation entry.
pub(super) fn merge_document(
    base: Option<&Value>,
    input: &Value,
    prefix: &str,
    keys: &[(&str, Kind)],
    errors: &mut Vec<FieldError>,
) -> Map<String, Value> {
    let mut doc = base.and_then(Value::as_object).cloned().unwrap_or_default();
    let Some(input) = input.as_object() else {
        errors.push(model_error(prefix, Some(input), format!("{prefix} must be an object")));
        return doc;
    };
    for (key, kind) in keys {
        let Some(value) = input.get(*key) else { continue };
        let path = format!("{prefix}.{key}");
        if value.is_null() {
            doc.remove(*key);
            continue;
        }
        match cast(*kind, value) {
            Some(v) => {
                doc.insert(key.to_string(), v);
            }
            None => {
                let what = match kind {
                    Kind::Number => "a number",
                    Kind::TextList => "a list of text values",
                    Kind::Text | Kind::Trimmed => "text",
                };
                errors.push(model_error(&path, Some(value), format!("{path} must be {what}")));
            }
        }
    }
    doc
}

pub(super) fn number_at(doc: &Map<String, Value>, key: &str) -> Option<f64> {
    doc.get(key).and_then(Value::as_f64)
}

pub(super) fn text_len(doc: &Map<String, Value>, key: &str) -> usize {
    doc.get(key).and_then(Value::as_str).map(|s| s.encode_utf16().count()).unwrap_or(0)
}

/// The lawyer schema's defaults and validators; `role_specific` is
/// `profileCompletion.roleSpecificDetails`, which makes the bar registration number required.
pub(super) fn finish_lawyer_details(
    mut doc: Map<String, Value>,
    role_specific: bool,
    errors: &mut Vec<FieldError>,
) -> Value {
    // Defaults of the stored, free-form document (its other keys are the client's own).
    let defaults = [
        ("specialization", json!(["General Practice"])),
        ("experience", json!(0)),
        ("education", json!("Law Graduate")),
        ("verificationStatus", json!("pending")),
        ("verificationDocuments", json!([])),
        ("practiceAreas", json!([])),
        ("courtAdmissions", json!([])),
    ];
    for (key, value) in defaults {
        doc.entry(key).or_insert(value);
    }
    if let Some(exp) = number_at(&doc, "experience").filter(|e| !(0.0..=50.0).contains(e)) {
        errors.push(model_error(
            "lawyerDetails.experience",
            Some(&Value::from(exp)),
            "Experience must be between 0 and 50 years",
        ));
    }
    if let Some(fee) = number_at(&doc, "consultationFee").filter(|f| *f < 0.0) {
        errors.push(model_error(
            "lawyerDetails.consultationFee",
            Some(&Value::from(fee)),
            "Consultation fee cannot be negative",
        ));
    }
    if role_specific && doc.get("barRegistrationNumber").and_then(Value::as_str).is_none_or(|s| s.is_empty()) {
        errors.push(model_error(
            "lawyerDetails.barRegistrationNumber",
            doc.get("barRegistrationNumber"),
            "Bar registration number is required",
        ));
    }
    Value::Object(doc)
}

/// The student schema's defaults and validators.
pub(super) fn finish_student_details(mut doc: Map<String, Value>, errors: &mut Vec<FieldError>) -> Value {
    doc.entry("semester").or_insert_with(|| Value::from("1st"));
    let next_year = f64::from(chrono::Datelike::year(&chrono::Utc::now()) + 1);
    if let Some(year) = number_at(&doc, "enrollmentYear").filter(|y| !(2000.0..=next_year).contains(y)) {
        errors.push(model_error(
            "studentDetails.enrollmentYear",
            Some(&Value::from(year)),
            "Enrollment year must be valid",
        ));
    }
    if !doc.get("semester").and_then(Value::as_str).is_some_and(|s| SEMESTERS.contains(&s)) {
        errors.push(model_error(
            "studentDetails.semester",
            doc.get("semester"),
            "Semester must be between 1st and 8th",
        ));
    }
    for (key, max, label) in [
        ("universityName", 100, "University name"),
        ("specialization", 50, "Specialization"),
        ("rollNumber", 30, "Roll number"),
    ] {
        if text_len(&doc, key) > max {
            errors.push(model_error(
                &format!("studentDetails.{key}"),
                doc.get(key),
                format!("{label} cannot be more than {max} characters"),
            ));
        }
    }
    Value::Object(doc)
}

/// The stored `profileCompletion` document.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProfileCompletion {
    basic_info: bool,
    role_specific_details: bool,
    documents_uploaded: bool,
}

/// `profileCompletion` of a new or promoted account (basic info always given).
pub(super) fn profile_completion(role_specific_details: bool, documents_uploaded: bool) -> Value {
    let completion = ProfileCompletion { basic_info: true, role_specific_details, documents_uploaded };
    serde_json::to_value(completion).expect("profileCompletion serializes")
}

/// JavaScript truthiness, for the validators' "falsy counts as absent".
pub fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(_) | Value::Object(_) => false,
    }
}
