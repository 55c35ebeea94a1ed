//! Direct connections as clients receive them (docs/api.md 2.6): the view structs, in the key
//! order of the original's documents. The parties are ids or users populated with the fields
//! each route asks for, so they stay JSON values here.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::connection::ConnectionStatus;
use crate::ids::Id;
use crate::service::chats::ChatInfoView;
use crate::store::connections::Connection;
use crate::time::Timestamp;

/// The connection document: `{_id, citizen, lawyer, status, requestMessage, requestedAt,
/// respondedAt?, responseMessage?, chatId?, metadata, isActive, createdAt, updatedAt, __v}`.
/// Unset optional fields are absent, as in the stored documents of the original.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionView {
    #[serde(rename = "_id")]
    #[schema(value_type = String)]
    pub id: Id,
    #[schema(value_type = Object)]
    pub citizen: Value,
    #[schema(value_type = Object)]
    pub lawyer: Value,
    pub status: ConnectionStatus,
    pub request_message: String,
    pub requested_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responded_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    /// `{citizenLocation, lawyerSpecialization, connectionType}`.
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub is_active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(rename = "__v")]
    pub version: u8,
}

impl ConnectionView {
    /// The document with `citizen` and `lawyer` as given (ids or populated users).
    pub fn new(c: &Connection, citizen: Value, lawyer: Value) -> ConnectionView {
        ConnectionView {
            id: c.id.clone(),
            citizen,
            lawyer,
            status: c.status,
            request_message: c.request_message.clone(),
            requested_at: c.requested_at,
            responded_at: c.responded_at,
            response_message: c.response_message.clone(),
            chat_id: c.chat_id.clone(),
            metadata: c.metadata.clone(),
            is_active: c.is_active,
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: 0,
        }
    }
}

/// An accepted connection with its chat's `chatInfo` (null when it has no chat).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectedView {
    #[serde(flatten)]
    pub connection: ConnectionView,
    pub chat_info: Option<ChatInfoView>,
}

/// A citizen's pending request in the original's per-lawyer grouping: the request, then
/// `requestCount` and `allRequests` (a pair has one record, so each group has one).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingGroupView {
    #[serde(flatten)]
    pub connection: ConnectionView,
    pub request_count: u32,
    pub all_requests: Vec<ConnectionView>,
}

/// The answer to an accepted request (3.3 #14): `{connection, chatId}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcceptedView {
    pub connection: ConnectionView,
    pub chat_id: String,
}

/// The answer to a rejected request (3.3 #15): `{connection}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RejectedView {
    pub connection: ConnectionView,
}

/// An id where a party is not populated.
pub fn id_json(id: &Id) -> Value {
    Value::String(id.to_string())
}
