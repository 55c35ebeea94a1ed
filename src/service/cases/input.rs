//! Request bodies of the case routes as typed values ([`FromBody`]: the rules of docs/api.md 3.5
//! and 3.6 run on the document, all failures come back at once, then the fields are read), and
//! the `caseType` query parameter.
//!
//! Fields are read as today: `message`, `title` and friends only as JSON strings (a number there
//! counts as absent), amounts as numbers or numeric text.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::case::{CaseStatus, CaseType, Category, DisputeType, Priority, ResolutionType};
use crate::domain::page::Params;
use crate::domain::string_enum::string_enum;
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::store::cases::Case;
use crate::time::Timestamp;
use crate::validate::{FromBody, Validator, number, number_of};

/// A field that is a JSON string (numbers and other values count as absent).
fn string(body: &Value, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Non-empty text or a number as text (durations like "2 weeks" or 14).
fn text_or_number(body: &Value, key: &str) -> Option<String> {
    match body.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A string field trimmed, "" when it is not a string.
fn trimmed(body: &Value, key: &str) -> String {
    body.get(key).and_then(Value::as_str).unwrap_or("").trim().to_string()
}

/// A field of a closed set, once its rule passed.
fn closed<T: std::str::FromStr<Err = crate::domain::case::UnknownValue>>(body: &Value, key: &str) -> AppResult<T> {
    trimmed(body, key).parse().map_err(|e: crate::domain::case::UnknownValue| AppError::bad_request(e.to_string()))
}

/// The rules of a new case (`disputeType`, `disputeValue` and `opposingParty` for disputes).
fn validate_new_case(case_type: CaseType, body: &Value) -> AppResult<()> {
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

/// `priority`, medium when absent or empty.
fn priority(body: &Value) -> AppResult<Option<Priority>> {
    Some(trimmed(body, "priority")).filter(|p| !p.is_empty()).map(|_| closed(body, "priority")).transpose()
}

/// Body of `POST /api/queries`.
#[derive(Debug, Clone, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct NewQuery {
    /// 5 to 100 characters.
    pub title: String,
    /// 20 to 2000 characters.
    pub description: String,
    pub category: Category,
    /// Medium when absent.
    pub priority: Option<Priority>,
}

impl FromBody for NewQuery {
    fn from_body(body: &Value) -> AppResult<NewQuery> {
        validate_new_case(CaseType::Query, body)?;
        Ok(NewQuery {
            title: trimmed(body, "title"),
            description: trimmed(body, "description"),
            category: closed(body, "category")?,
            priority: priority(body)?,
        })
    }
}

/// The other side of a dispute, as given (only its text fields are kept).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct OpposingParty {
    /// 2 to 100 characters, trimmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// Body of `POST /api/disputes`.
#[derive(Debug, Clone, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct NewDispute {
    /// 5 to 100 characters.
    pub title: String,
    /// 20 to 2000 characters.
    pub description: String,
    pub dispute_type: DisputeType,
    pub category: Category,
    /// Medium when absent.
    pub priority: Option<Priority>,
    /// A number (or numeric text), not negative.
    pub dispute_value: Option<f64>,
    pub opposing_party: Option<OpposingParty>,
}

impl FromBody for NewDispute {
    fn from_body(body: &Value) -> AppResult<NewDispute> {
        validate_new_case(CaseType::Dispute, body)?;
        let opposing_party = body.get("opposingParty").filter(|p| p.is_object()).map(|party| OpposingParty {
            name: party.get("name").and_then(Value::as_str).map(|s| s.trim().to_string()),
            contact: string(party, "contact"),
            address: string(party, "address"),
        });
        Ok(NewDispute {
            title: trimmed(body, "title"),
            description: trimmed(body, "description"),
            dispute_type: closed(body, "disputeType")?,
            category: closed(body, "category")?,
            priority: priority(body)?,
            dispute_value: number(body, "disputeValue"),
            opposing_party,
        })
    }
}

/// The dispute-only fields of a case as stored in its `details` column:
/// `{opposingParty?, disputeValue?, hearingDates}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DisputeDetails<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    opposing_party: Option<&'a OpposingParty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dispute_value: Option<f64>,
    hearing_dates: &'a [Value],
}

/// A new case as the service takes it: the body of either route.
#[derive(Debug, Clone)]
pub enum NewCase {
    Query(NewQuery),
    Dispute(NewDispute),
}

impl From<NewQuery> for NewCase {
    fn from(q: NewQuery) -> NewCase {
        NewCase::Query(q)
    }
}

impl From<NewDispute> for NewCase {
    fn from(d: NewDispute) -> NewCase {
        NewCase::Dispute(d)
    }
}

impl NewCase {
    /// The pending case of `citizen` (without its first timeline item).
    pub(super) fn into_case(self, citizen: Id) -> Case {
        match self {
            NewCase::Query(q) => Case::new(
                CaseType::Query,
                q.title,
                q.description,
                q.category,
                None,
                q.priority.unwrap_or(Priority::Medium),
                citizen,
                Value::Object(Default::default()),
            ),
            NewCase::Dispute(d) => {
                let details = DisputeDetails {
                    opposing_party: d.opposing_party.as_ref(),
                    dispute_value: d.dispute_value,
                    hearing_dates: &[],
                };
                let details = serde_json::to_value(&details).expect("dispute details serialize to JSON");
                Case::new(
                    CaseType::Dispute,
                    d.title,
                    d.description,
                    d.category,
                    Some(d.dispute_type),
                    d.priority.unwrap_or(Priority::Medium),
                    citizen,
                    details,
                )
            }
        }
    }
}

/// The rules of a status change (`resolution` for disputes).
fn validate_status(case_type: CaseType, body: &Value) -> AppResult<()> {
    let statuses: Vec<&str> = case_type.statuses().iter().map(|s| s.as_str()).collect();
    let mut v = Validator::body(body);
    v.field("status")
        .required("Status is required")
        .one_of(&statuses, &format!("Status must be one of: {}", statuses.join(", ")));
    v.field("notes").optional().is_string("Notes must be a string");
    if case_type == CaseType::Dispute {
        v.field("resolution").optional().object("Resolution must be an object");
        v.field("resolution.type").optional().one_of(ResolutionType::NAMES, "Invalid resolution type");
    }
    v.finish()
}

/// `status` and `notes` (non-empty text, or a number as text) of a status change.
fn status_and_notes(body: &Value) -> AppResult<(CaseStatus, Option<String>)> {
    let notes = body.get("notes").and_then(|n| match n {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    Ok((closed(body, "status")?, notes))
}

/// The outcome of a dispute, as given: its type is checked, the rest is kept as sent.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolutionInput {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ResolutionType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub summary: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub terms: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub is_successful: Option<Value>,
}

/// A case's `resolution` as stored: what the dispute body gave, then who resolved it and when.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Resolution<'a> {
    #[serde(flatten)]
    pub(super) given: &'a ResolutionInput,
    pub(super) resolved_by: &'a Id,
    pub(super) resolved_at: Timestamp,
}

/// Body of `PATCH /api/disputes/{id}/status`, and what the service takes for both types.
#[derive(Debug, Clone, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct StatusUpdate {
    /// One of the statuses of the case's type.
    pub status: CaseStatus,
    /// Added to the case's notes.
    pub notes: Option<String>,
    /// Recorded when the dispute becomes resolved.
    pub resolution: Option<ResolutionInput>,
}

impl FromBody for StatusUpdate {
    fn from_body(body: &Value) -> AppResult<StatusUpdate> {
        validate_status(CaseType::Dispute, body)?;
        let (status, notes) = status_and_notes(body)?;
        let resolution = body.get("resolution").filter(|r| r.is_object()).map(|given| {
            let field = |key: &str| given.get(key).filter(|v| !v.is_null()).cloned();
            ResolutionInput {
                kind: given.get("type").and_then(Value::as_str).and_then(|t| t.parse().ok()),
                summary: field("summary"),
                terms: field("terms"),
                is_successful: field("isSuccessful"),
            }
        });
        Ok(StatusUpdate { status, notes, resolution })
    }
}

/// Body of `PATCH /api/queries/{id}/status`.
#[derive(Debug, Clone, ToSchema)]
pub struct QueryStatusUpdate {
    /// pending, assigned, in-progress, resolved or closed.
    pub status: CaseStatus,
    /// Added to the case's notes.
    pub notes: Option<String>,
}

impl FromBody for QueryStatusUpdate {
    fn from_body(body: &Value) -> AppResult<QueryStatusUpdate> {
        validate_status(CaseType::Query, body)?;
        let (status, notes) = status_and_notes(body)?;
        Ok(QueryStatusUpdate { status, notes })
    }
}

impl From<QueryStatusUpdate> for StatusUpdate {
    fn from(q: QueryStatusUpdate) -> StatusUpdate {
        StatusUpdate { status: q.status, notes: q.notes, resolution: None }
    }
}

/// Body of offer-help (3.3 #6 and the legacy 3.5 #5).
#[derive(Debug, Clone, Default, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct NewOffer {
    /// A default text when absent or empty (the legacy route keeps it empty).
    pub message: Option<String>,
    /// A number or numeric text.
    pub proposed_fee: Option<f64>,
    /// Text or a number ("2 weeks", 14).
    pub estimated_duration: Option<String>,
}

impl FromBody for NewOffer {
    fn from_body(body: &Value) -> AppResult<NewOffer> {
        Ok(NewOffer {
            message: string(body, "message").filter(|m| !m.is_empty()),
            proposed_fee: number(body, "proposedFee"),
            estimated_duration: text_or_number(body, "estimatedDuration"),
        })
    }
}

/// Body of send-request (and the lawyers' alias `request`).
#[derive(Debug, Clone, Default, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct SendRequest {
    /// Empty when absent.
    pub message: Option<String>,
    /// Citizens: the verified lawyer to invite (24-hex id; checked against the case).
    pub target_user_id: Option<String>,
}

impl FromBody for SendRequest {
    fn from_body(body: &Value) -> AppResult<SendRequest> {
        Ok(SendRequest {
            message: string(body, "message"),
            target_user_id: string(body, "targetUserId").filter(|t| !t.trim().is_empty()),
        })
    }
}

string_enum!(
    /// The answer to an entry of `lawyerRequests`.
    EntryAction, "action" { Accept = "accept", Reject = "reject" }
);

/// Body of `.../requests/{requestId}/respond`.
#[derive(Debug, Clone, ToSchema)]
pub struct EntryResponse {
    pub action: EntryAction,
}

impl FromBody for EntryResponse {
    fn from_body(body: &Value) -> AppResult<EntryResponse> {
        body.get("action")
            .and_then(Value::as_str)
            .and_then(|a| a.parse().ok())
            .map(|action| EntryResponse { action })
            .ok_or_else(|| AppError::bad_request(r#"Invalid action. Use "accept" or "reject""#))
    }
}

/// Body of request-lawyer-for-query / -dispute.
#[derive(Debug, Clone, Default, ToSchema)]
pub struct LawyerRequest {
    /// A default text when absent.
    pub message: Option<String>,
}

impl FromBody for LawyerRequest {
    fn from_body(body: &Value) -> AppResult<LawyerRequest> {
        Ok(LawyerRequest { message: string(body, "message") })
    }
}

/// The `caseType` query parameter (`all` or absent: both).
pub(super) fn case_type_param(params: &Params, key: &str) -> Option<CaseType> {
    CaseType::from_param(params.filter(key)?)
}
