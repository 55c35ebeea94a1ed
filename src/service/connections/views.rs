//! Direct connections as clients receive them (docs/api.md 2.6): the view structs, in the key
//! order of the original's documents. The parties are ids or users populated with the fields
//! each route asks for, so they stay JSON values here.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::chat::ChatStatus;
use crate::domain::connection::{ConnectionStatus, ConnectionType, LinkType};
use crate::domain::page::{LegacyPagination, Page};
use crate::ids::Id;
use crate::service::chats::{ChatInfoView, ChatView, LastMessageView, ParticipantView};
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

/// `data` of the legacy connection lists: the items under the route's own key, then
/// `pagination`. One struct per key: the key is part of each route's contract.
macro_rules! legacy_page {
    ($(#[$doc:meta])* $name:ident, $key:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Serialize, ToSchema)]
        pub struct $name<T> {
            pub $key: Vec<T>,
            pub pagination: LegacyPagination,
        }

        impl<T> $name<T> {
            pub fn new($key: Vec<T>, total: i64, page: Page) -> $name<T> {
                $name { $key, pagination: LegacyPagination::of(total, page) }
            }
        }
    };
}

legacy_page!(
    /// `{connections, pagination}`.
    ConnectionsPage,
    connections
);
legacy_page!(
    /// `{requests, pagination}`.
    RequestsPage,
    requests
);
legacy_page!(
    /// `{chats, pagination}`.
    ChatsPage,
    chats
);
legacy_page!(
    /// `{lawyers, pagination}`.
    LawyersPage,
    lawyers
);
legacy_page!(
    /// `{clients, pagination}`.
    ClientsPage,
    clients
);

/// A citizen's direct chat (3.4 #19): the connection, its chat and the lawyer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DirectChatItem {
    #[schema(value_type = String)]
    pub connection_id: Id,
    pub chat_id: String,
    /// Populated with the brief lawyer fields, null for a deleted account.
    #[schema(value_type = Object)]
    pub lawyer: Value,
    pub status: ChatStatus,
    pub last_message: Option<LastMessageView>,
    pub unread_count: i64,
    /// When the lawyer accepted (null if never answered).
    pub connected_at: Option<Timestamp>,
    pub participants: Vec<ParticipantView>,
}

/// A user linked by a legacy link (3.3 #7, 3.4 #3): the populated user (the route's field
/// list, so a JSON value), then the link's `connectedAt` as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkedUser {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub user: Value,
    pub connected_at: String,
}

/// A citizen of the lawyer's active direct chats (3.3 #8): the populated citizen, then when
/// they joined, the chat's last update and its id.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DirectClientItem {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub user: Value,
    pub connected_at: String,
    pub last_chat_update: String,
    pub chat_id: String,
}

/// The answer to an accepted direct chat request (3.3 #11): `{chat}` (null if it vanished).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AcceptedChatView {
    pub chat: Option<ChatView>,
}

/// The answer to a legacy message request (3.4 #6): `{chatId}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageRequestSent {
    pub chat_id: String,
}

/// The answer to a direct connection request (3.4 #15): `{connectionId}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionRequestSent {
    #[schema(value_type = String)]
    pub connection_id: Id,
}

// ---- stored documents ----

/// `metadata` of a new connection.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionMetadata<'a> {
    pub citizen_location: &'a str,
    pub lawyer_specialization: Vec<String>,
    pub connection_type: ConnectionType,
}

/// A legacy link in `users.connections`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyLink<'a> {
    pub user_id: &'a Id,
    pub connection_type: LinkType,
    pub connected_at: &'a str,
    #[serde(rename = "_id")]
    pub id: Id,
}

/// A legacy message request in `users.messageRequests`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredMessageRequest<'a> {
    pub to_user_id: &'a Id,
    pub timestamp: Timestamp,
    #[serde(rename = "_id")]
    pub id: Id,
}

// ---- socket payloads (docs/api.md 4.3) ----

/// `new_connection_request`, to the lawyer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewConnectionRequest<'a> {
    pub connection_id: &'a Id,
    /// `{_id, name, email}`.
    pub citizen: Value,
    pub message: &'a str,
    pub connection_type: ConnectionType,
    pub timestamp: Timestamp,
}

/// `dashboard_stats_updated` and `quick_stats_updated`, to the citizen after a new request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CitizenStatsPayload {
    pub total_cases: i64,
    pub active_cases: i64,
    pub resolved_cases: i64,
    pub connected_lawyers: i64,
    pub pending_requests: i64,
    pub received_offers: i64,
}

/// `connection_request_revoked`, to the lawyer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRevoked<'a> {
    pub connection_id: &'a Id,
    pub citizen_id: &'a Id,
    pub timestamp: Timestamp,
}

/// `connection_request_accepted` (with `chatId`) and `connection_request_rejected` (without),
/// to the citizen.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestAnswered<'a> {
    pub connection_id: &'a Id,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<&'a str>,
    /// [`lawyer_brief`](crate::service::people::lawyer_brief).
    pub lawyer: Value,
    pub response_message: &'a str,
    pub timestamp: Timestamp,
}

/// `connection_accepted` (legacy accept-client), to the citizen.
#[derive(Debug, Clone, Serialize)]
pub struct ClientAccepted {
    pub lawyer: Value,
}

/// `direct_message_request`, to the lawyer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectMessageRequest<'a> {
    pub chat_id: &'a str,
    pub message: &'a str,
    /// `{_id, name, role}`.
    pub from: Value,
    pub timestamp: Timestamp,
}

/// `direct_request_accepted`, to the citizen.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectRequestAccepted<'a> {
    pub chat_id: &'a str,
    pub lawyer: Value,
    pub timestamp: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(v: impl Serialize) -> String {
        serde_json::to_string(&v).unwrap()
    }

    #[test]
    fn flattened_users_keep_their_keys_first_and_the_link_fields_last() {
        let user = json!({"_id": "0000000000000000000000aa", "name": "A", "email": "a@x.in"});
        assert_eq!(
            text(LinkedUser { user: user.clone(), connected_at: "2026-01-01T00:00:00.000Z".into() }),
            r#"{"_id":"0000000000000000000000aa","name":"A","email":"a@x.in","connectedAt":"2026-01-01T00:00:00.000Z"}"#
        );
        let client = DirectClientItem {
            user,
            connected_at: "t1".into(),
            last_chat_update: "t2".into(),
            chat_id: "direct_x".into(),
        };
        assert_eq!(
            text(client),
            r#"{"_id":"0000000000000000000000aa","name":"A","email":"a@x.in","connectedAt":"t1","lastChatUpdate":"t2","chatId":"direct_x"}"#
        );
    }

    #[test]
    fn answers_to_a_request_carry_the_chat_id_only_when_accepted() {
        let id: Id = "0000000000000000000000aa".parse().unwrap();
        let at: Timestamp = "2026-01-01T00:00:00.000Z".parse().unwrap();
        let answered = |chat_id| RequestAnswered {
            connection_id: &id,
            chat_id,
            lawyer: json!({"_id": "b"}),
            response_message: "ok",
            timestamp: at,
        };
        assert_eq!(
            text(answered(Some("direct_x"))),
            r#"{"connectionId":"0000000000000000000000aa","chatId":"direct_x","lawyer":{"_id":"b"},"responseMessage":"ok","timestamp":"2026-01-01T00:00:00.000Z"}"#
        );
        assert_eq!(
            text(answered(None)),
            r#"{"connectionId":"0000000000000000000000aa","lawyer":{"_id":"b"},"responseMessage":"ok","timestamp":"2026-01-01T00:00:00.000Z"}"#
        );
        let page = LawyersPage::new(vec![1], 11, Page { page: 2, limit: 10 });
        assert_eq!(text(page), r#"{"lawyers":[1],"pagination":{"current":2,"pages":2,"total":11}}"#);
    }
}
