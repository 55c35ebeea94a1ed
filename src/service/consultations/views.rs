//! Consultations as clients receive them (docs/api.md 2.8, 3.9, 4.3): the view structs in the
//! key order of the original's documents. The parties are populated by
//! [`crate::service::people`] with the fields each place asks for (the lawyer of a consultation
//! also with `lawyerDetails.specialization`, the citizen of an event without `role`), and stay
//! JSON values here. The nested documents (fee, meeting details, notes, ...) are served as
//! stored: imported records carry the original's free-form shapes.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::consultation::{ConsultationStatus, ConsultationType};
use crate::ids::Id;
use crate::store::consultations::Consultation;
use crate::time::Timestamp;

/// A nested document that Mongoose leaves out when it is empty (or absent).
fn non_empty_object(v: &Value) -> Option<Value> {
    v.as_object().is_some_and(|m| !m.is_empty()).then(|| v.clone())
}

/// A consultation with both parties populated.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsultationView {
    #[serde(rename = "_id")]
    #[schema(value_type = String)]
    pub id: Id,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `{_id, name, email, role}`, or the bare id when the account is gone.
    #[schema(value_type = Object)]
    pub citizen: Value,
    /// `{_id, name, email, role, lawyerDetails: {specialization}}`, or the bare id.
    #[schema(value_type = Object)]
    pub lawyer: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub related_case: Option<Value>,
    pub consultation_type: ConsultationType,
    pub status: ConsultationStatus,
    #[serde(rename = "scheduledDateTime")]
    pub scheduled_at: Timestamp,
    pub duration: i64,
    /// `{amount?, currency, paymentStatus, ...}`.
    #[schema(value_type = Object)]
    pub fee: Value,
    /// `{meetingLink?, meetingId?, ...}`, absent while empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub meeting_details: Option<Value>,
    #[schema(value_type = Vec<Object>)]
    pub agenda: Value,
    /// `{lawyerNotes?, ...}`, absent while empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub notes: Option<Value>,
    #[schema(value_type = Object)]
    pub follow_up: Value,
    /// `{cancelledBy, reason, cancelledAt}` once cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub cancellation: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub reschedule: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub feedback: Option<Value>,
    #[schema(value_type = Vec<Object>)]
    pub reminders: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(rename = "__v")]
    pub version: u32,
}

impl ConsultationView {
    pub fn new(c: &Consultation, citizen: Value, lawyer: Value) -> ConsultationView {
        ConsultationView {
            id: c.id.clone(),
            title: c.title.clone(),
            description: c.description.clone(),
            citizen,
            lawyer,
            related_case: non_empty_object(&c.related_case),
            consultation_type: c.consultation_type,
            status: c.status,
            scheduled_at: c.scheduled_at,
            duration: c.duration,
            fee: c.fee.clone(),
            meeting_details: non_empty_object(&c.meeting_details),
            agenda: c.agenda.clone(),
            notes: non_empty_object(&c.notes),
            follow_up: c.follow_up.clone(),
            cancellation: non_empty_object(&c.cancellation),
            reschedule: non_empty_object(&c.reschedule),
            feedback: non_empty_object(&c.feedback),
            reminders: c.reminders.clone(),
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: 0,
        }
    }
}

/// `data` of the routes that answer one consultation: `{consultation}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsultationReply {
    pub consultation: ConsultationView,
}

/// `{page, limit, total, pages}` of the consultation list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsultationPagination {
    pub page: i64,
    pub limit: i64,
    pub total: i64,
    pub pages: i64,
}

/// `data` of the consultation list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsultationPage {
    pub consultations: Vec<ConsultationView>,
    pub pagination: ConsultationPagination,
}

/// `new_consultation_request`, to the lawyer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestedEvent {
    pub consultation_id: Id,
    /// `{_id, name, email}`.
    pub citizen: Value,
    #[serde(rename = "scheduledDateTime")]
    pub scheduled_at: Timestamp,
    /// As the citizen sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub consultation_type: ConsultationType,
    pub timestamp: Timestamp,
}

/// `consultation_status_updated`, to the citizen.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusUpdatedEvent {
    pub consultation_id: Id,
    pub status: ConsultationStatus,
    /// The meeting link as recorded (imported records may hold any value there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meeting_link: Option<Value>,
    /// `{_id, name}`.
    pub lawyer: Value,
    pub timestamp: Timestamp,
}

/// `consultation_cancelled`, to the other party.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelledEvent {
    pub consultation_id: Id,
    /// `{_id, name, role}` of who cancelled.
    pub cancelled_by: Value,
    /// As the canceller sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Value>,
    pub timestamp: Timestamp,
}

/// The `cancellation` document recorded on a cancelled consultation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CancellationRecord<'a> {
    pub cancelled_by: &'a Id,
    pub reason: &'a str,
    pub cancelled_at: Timestamp,
}
