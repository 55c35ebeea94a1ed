//! Chats and messages as clients receive them (docs/api.md 2.5): the view structs, in the
//! key order of the original's documents, and how a stored chat or message becomes one.
//! Users inside a view (senders, participants) are populated by [`crate::service::people`]
//! with the fields each route asks for, so they stay JSON values here.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::chat::{ChatStatus, ChatType, MessageType};
use crate::ids::Id;
use crate::service::people::{Users, user_ref};
use crate::store::chats::{Chat, Message};
use crate::time::Timestamp;

use super::is_active_chat;

/// A read receipt: `{user, readAt}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadReceipt {
    #[schema(value_type = String)]
    pub user: Id,
    pub read_at: Timestamp,
}

/// A message: `{_id, sender, content, messageType, fileData, attachments, isRead, timestamp,
/// isDeleted, editedAt?}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    #[serde(rename = "_id")]
    #[schema(value_type = String)]
    pub id: Id,
    /// The sender's id, or the sender populated with the fields of the route.
    #[schema(value_type = Object)]
    pub sender: Value,
    pub content: String,
    pub message_type: MessageType,
    /// `{ipfsHash, originalName, mimeType, size, url, documentId}` of a file message, else null.
    #[schema(value_type = Object)]
    pub file_data: Value,
    /// Legacy attachments of imported messages.
    #[schema(value_type = Vec<Object>)]
    pub attachments: Value,
    pub is_read: Vec<ReadReceipt>,
    pub timestamp: Timestamp,
    pub is_deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<Timestamp>,
}

impl MessageView {
    pub fn new(m: &Message, sender: Value) -> MessageView {
        MessageView {
            id: m.id.clone(),
            sender,
            content: m.content.clone(),
            message_type: m.message_type,
            file_data: m.file_data.clone(),
            attachments: m.attachments.clone(),
            is_read: m.reads.iter().map(|(user, at)| ReadReceipt { user: user.clone(), read_at: *at }).collect(),
            timestamp: m.timestamp,
            is_deleted: m.is_deleted,
            edited_at: m.edited_at,
        }
    }
}

/// A message as its chat room receives it (socket `new_message`): the message with its
/// `chatId` and, when the client sent one, its `tempId`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewMessageView {
    #[serde(flatten)]
    pub message: MessageView,
    pub chat_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temp_id: Option<String>,
}

impl NewMessageView {
    pub fn new(m: &Message, sender: Value, chat_id: &str) -> NewMessageView {
        NewMessageView {
            message: MessageView::new(m, sender),
            chat_id: chat_id.to_string(),
            temp_id: m.client_temp_id.clone(),
        }
    }
}

/// The sender's acknowledgement (socket `message_sent`): every field of its `new_message` at
/// the top level, plus `success`, `messageId` and `tempId`. Clients replace their optimistic
/// copy with this payload and render it as a message, so nothing is nested. `tempId` is
/// present (null) even when the client sent none: a client matching copies by `tempId` must
/// not match history messages, which have none.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageSentView {
    #[serde(flatten)]
    pub message: NewMessageView,
    pub success: bool,
    #[schema(value_type = String)]
    pub message_id: Id,
    /// The null `tempId` of a message sent without one (a message with one carries it above).
    #[serde(rename = "tempId", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    no_temp_id: Option<()>,
}

impl MessageSentView {
    pub fn new(message: NewMessageView) -> MessageSentView {
        let no_temp_id = message.temp_id.is_none().then_some(());
        MessageSentView { message_id: message.message.id.clone(), message, success: true, no_temp_id }
    }
}

/// `lastMessage` of a chat: `{content, timestamp, sender}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LastMessageView {
    pub content: String,
    pub timestamp: Timestamp,
    #[schema(value_type = Object)]
    pub sender: Value,
}

/// A chat's `lastMessage`, the sender populated with `sender_fields`; None (null) when the
/// chat has none.
pub fn last_message(chat: &Chat, users: &Users, sender_fields: Option<&[&str]>) -> Option<LastMessageView> {
    chat.last_message.as_ref().map(|last| LastMessageView {
        content: last.content.clone(),
        timestamp: last.timestamp,
        sender: user_ref(users, &last.sender, sender_fields),
    })
}

/// A participant: `{user, role, joinedAt}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantView {
    #[schema(value_type = Object)]
    pub user: Value,
    pub role: String,
    pub joined_at: Timestamp,
}

/// Participants, users populated with `fields`. Emails are for connected parties: a chat that
/// is not active (a pending request) shows none.
pub fn participants(chat: &Chat, users: &Users, fields: Option<&[&str]>) -> Vec<ParticipantView> {
    let unconnected: Vec<&str>;
    let fields = match fields {
        Some(fields) if !is_active_chat(chat) => {
            unconnected = fields.iter().copied().filter(|f| *f != "email").collect();
            Some(unconnected.as_slice())
        }
        fields => fields,
    };
    chat.participants
        .iter()
        .map(|p| ParticipantView {
            user: user_ref(users, &p.user_id, fields),
            role: p.role.clone(),
            joined_at: p.joined_at,
        })
        .collect()
}

/// `relatedCase` of a case chat: `{caseType, caseId}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RelatedCaseView {
    pub case_type: String,
    #[schema(value_type = String)]
    pub case_id: Id,
}

/// How a chat document is rendered.
#[derive(Clone, Copy)]
pub struct ChatShape {
    pub participants: Option<&'static [&'static str]>,
    pub last_sender: Option<&'static [&'static str]>,
}

/// The chat document: `{_id, chatId, participants, chatType, status, relatedCase,
/// directConnection, lastMessage, isActive, createdAt, updatedAt, __v}`, then `messages` and
/// `unreadCount` where a route shows them.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatView {
    #[serde(rename = "_id")]
    #[schema(value_type = String)]
    pub id: Id,
    pub chat_id: String,
    pub participants: Vec<ParticipantView>,
    pub chat_type: ChatType,
    pub status: ChatStatus,
    pub related_case: Option<RelatedCaseView>,
    #[schema(value_type = Option<String>)]
    pub direct_connection: Option<Id>,
    pub last_message: Option<LastMessageView>,
    pub is_active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(rename = "__v")]
    pub version: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<MessageView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread_count: Option<i64>,
}

impl ChatView {
    /// The chat document without `messages` and `unreadCount`.
    pub fn new(chat: &Chat, users: &Users, shape: ChatShape) -> ChatView {
        ChatView {
            id: chat.id.clone(),
            chat_id: chat.chat_id.clone(),
            participants: participants(chat, users, shape.participants),
            chat_type: chat.chat_type,
            status: chat.status,
            related_case: chat
                .related_case
                .as_ref()
                .map(|(case_type, case_id)| RelatedCaseView { case_type: case_type.clone(), case_id: case_id.clone() }),
            direct_connection: chat.direct_connection.clone(),
            last_message: last_message(chat, users, shape.last_sender),
            is_active: chat.is_active,
            created_at: chat.created_at,
            updated_at: chat.updated_at,
            version: 0,
            messages: None,
            unread_count: None,
        }
    }
}

/// `chatInfo` of connection lists: `{chatId, status, lastMessage, unreadCount}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatInfoView {
    pub chat_id: String,
    pub status: ChatStatus,
    pub last_message: Option<LastMessageView>,
    pub unread_count: i64,
}

/// `pagination` of message pages: `{current, total?, hasMore}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePagination {
    pub current: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    pub has_more: bool,
}

/// A page of messages (3.7 #4 and #6): `{messages, pagination}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessagePageView {
    pub messages: Vec<MessageView>,
    pub pagination: MessagePagination,
}

/// A chat with a page of its messages (3.7 #5): `{chat, pagination}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatPageView {
    pub chat: ChatView,
    pub pagination: MessagePagination,
}

/// `{chats}` (3.7 #1).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatListView {
    pub chats: Vec<ChatView>,
}

/// `{chat}` (3.7 #2, #3); null if the chat vanished between its lookup and its read.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OneChatView {
    pub chat: Option<ChatView>,
}

/// Socket `messages_read`: `{chatId, readBy}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagesReadView {
    pub chat_id: String,
    #[schema(value_type = String)]
    pub read_by: Id,
}

/// A view as the JSON value the envelope and the socket layer carry. Views have string keys
/// and no maps with other keys, so they always serialize.
pub fn view_json(view: impl Serialize) -> Value {
    serde_json::to_value(view).expect("views serialize")
}
