//! Socket.IO payloads of the case events (docs/api.md 4.3), in the key order clients receive.
//! The acting or named users inside them are populated by [`crate::service::people`]
//! (`actor`, `lawyer_brief`, `populate`), so they stay JSON values.

use serde::Serialize;
use serde_json::Value;

use crate::domain::case::{CaseStatus, CaseType, RequestStatus};
use crate::ids::Id;
use crate::time::Timestamp;

use super::input::EntryAction;

/// The case's id under its type's key: `queryId` or `disputeId` (flattened into a payload).
#[derive(Debug, Clone, Copy, Serialize)]
pub enum CaseKey<'a> {
    #[serde(rename = "queryId")]
    Query(&'a Id),
    #[serde(rename = "disputeId")]
    Dispute(&'a Id),
}

impl<'a> CaseKey<'a> {
    pub fn new(case_type: CaseType, id: &'a Id) -> CaseKey<'a> {
        match case_type {
            CaseType::Query => CaseKey::Query(id),
            CaseType::Dispute => CaseKey::Dispute(id),
        }
    }
}

/// `query_status_updated` / `dispute_status_updated`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusUpdated<'a> {
    #[serde(flatten)]
    pub case: CaseKey<'a>,
    pub new_status: CaseStatus,
    pub updated_by: Value,
}

/// `new_lawyer_offer` (offer-help of 3.3 #6).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewLawyerOffer<'a> {
    pub case_type: CaseType,
    pub case_id: &'a Id,
    pub from: Value,
    pub message: Option<&'a str>,
    pub proposed_fee: Option<f64>,
    pub estimated_duration: Option<&'a str>,
    pub timestamp: Timestamp,
}

/// `lawyer_request_sent` (the legacy offer-help): `{citizenId, requestData}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LawyerRequestSent<'a> {
    pub citizen_id: &'a Id,
    pub request_data: OfferData<'a>,
}

/// `requestData` of `lawyer_request_sent`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferData<'a> {
    #[serde(flatten)]
    pub case: CaseKey<'a>,
    pub request_id: &'a Id,
    pub case_type: CaseType,
    pub lawyer: Value,
    pub message: Option<&'a str>,
    pub proposed_fee: Option<f64>,
    pub estimated_duration: Option<&'a str>,
}

/// Who asked whom in `query_request_sent` / `dispute_request_sent`.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestType {
    LawyerToCitizen,
    CitizenToLawyer,
}

/// `query_request_sent` / `dispute_request_sent`: `{targetUserId, requestData}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestSent<'a> {
    pub target_user_id: &'a Id,
    pub request_data: RequestData<'a>,
}

/// `requestData` of a sent request: the lawyer who asks, or the citizen who invites.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestData<'a> {
    #[serde(flatten)]
    pub case: CaseKey<'a>,
    pub request_id: &'a Id,
    pub case_type: CaseType,
    pub request_type: RequestType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lawyer: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub citizen: Option<Value>,
    pub message: Option<&'a str>,
}

/// `case_assigned`, to both parties when a `lawyerRequests` entry is accepted.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseAssigned<'a> {
    pub citizen_id: &'a Id,
    pub lawyer_id: &'a Id,
    pub case_type: CaseType,
    pub case_id: &'a Id,
    pub case_data: AssignedCase<'a>,
}

/// `caseData` of `case_assigned`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignedCase<'a> {
    #[serde(flatten)]
    pub case: CaseKey<'a>,
    pub title: &'a str,
    /// Always `accepted`.
    pub action: RequestStatus,
    pub responder: Value,
    pub chat_id: Option<&'a str>,
}

/// `request_response`, to the other party of an answered entry.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestResponse<'a> {
    #[serde(flatten)]
    pub case: CaseKey<'a>,
    pub request_id: &'a Id,
    pub action: EntryAction,
    pub case_type: CaseType,
    pub responder: Value,
}

/// `case_request_accepted` (to the citizen, with the lawyer) and `case_offer_accepted` (to the
/// lawyer, with the citizen and a timestamp).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryAccepted<'a> {
    pub case_type: CaseType,
    pub case_id: &'a Id,
    pub chat_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lawyer: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub citizen: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
}

/// `citizen_request_received` (request-lawyer of 3.4 #7, #8).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CitizenRequestReceived<'a> {
    #[serde(rename = "type")]
    pub case_type: CaseType,
    pub case_id: &'a Id,
    pub case_title: &'a str,
    pub citizen: Value,
    pub message: &'a str,
    pub request_id: &'a Id,
}

/// `case_request_revoked`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRevoked<'a> {
    pub case_type: CaseType,
    pub case_id: &'a Id,
    pub citizen_id: &'a Id,
    pub timestamp: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_case_key_is_flattened_in_place() {
        let id = Id::new();
        let payload = StatusUpdated {
            case: CaseKey::new(CaseType::Dispute, &id),
            new_status: CaseStatus::InProgress,
            updated_by: Value::Null,
        };
        let text = serde_json::to_string(&payload).unwrap();
        assert_eq!(text, format!(r#"{{"disputeId":"{id}","newStatus":"in-progress","updatedBy":null}}"#));
        let sent = RequestData {
            case: CaseKey::new(CaseType::Query, &id),
            request_id: &id,
            case_type: CaseType::Query,
            request_type: RequestType::CitizenToLawyer,
            lawyer: None,
            citizen: Some(Value::Null),
            message: Some("m"),
        };
        let keys: Vec<String> = serde_json::to_value(&sent).unwrap().as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["queryId", "requestId", "caseType", "requestType", "citizen", "message"]);
        assert_eq!(serde_json::to_value(&sent).unwrap()["requestType"], "citizen_to_lawyer");
    }
}
