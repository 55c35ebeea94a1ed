//! Chats (docs/api.md 2.5, 3.7): who may use a chat, finding or creating direct and case chats,
//! sending messages and read receipts. HTTP routes use these now; the Socket.IO handlers
//! (`join_chat`, `send_message`, `mark_messages_read`, `direct_message_request`,
//! `case_assigned`...) reuse the same functions, so rules and cache invalidation live once.
//!
//! Socket emits that belong to a socket event (`new_message`, `message_sent`, ...) are left to
//! the caller; these functions persist and invalidate.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

mod views;
pub use views::*;

use crate::cache::Tag;
use crate::db::is_unique_violation;
use crate::domain::chat::{ChatStatus, ChatType, MessageType};
use crate::domain::page::Page;
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::service::people::load_users;
use crate::state::AppState;
use crate::store::chats::{self as store, Chat, ChatFilter, ChatOrder, Message, MessageDraft, Participant};
use crate::store::users::{self, Role, User};

/// Longest text message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 1000;

// Users as chats show them; re-exported for the callers of this module.
pub use crate::service::people::{
    NAME_EMAIL_ROLE, NAME_ROLE, NAME_ROLE_PICTURE, PARTICIPANT_DETAIL, PARTICIPANT_LIST, Users,
    lawyer_brief as lawyer_summary, populate, user_ref,
};

/// The cache tag of a chat participant (CIT or LAW by the role they joined with).
pub fn participant_tag(p: &Participant) -> Tag {
    if p.role == Role::Lawyer.as_str() { Tag::Law(p.user_id.clone()) } else { Tag::Cit(p.user_id.clone()) }
}

/// `direct_<a>_<b>` with the two ids sorted ascending.
pub fn direct_chat_id(a: &Id, b: &Id) -> String {
    let (first, second) = if a.as_str() <= b.as_str() { (a, b) } else { (b, a) };
    format!("direct_{first}_{second}")
}

pub use crate::store::chats::case_chat_id;

/// A chatId from a path or payload: `direct_<id>_<id>`, `query_<id>` or `dispute_<id>`.
pub fn parse_chat_id(raw: &str) -> AppResult<String> {
    let raw = raw.trim().to_ascii_lowercase();
    let valid = if let Some(rest) = raw.strip_prefix("direct_") {
        rest.split_once('_').is_some_and(|(a, b)| Id::is_valid(a) && Id::is_valid(b))
    } else if let Some(rest) = raw.strip_prefix("query_").or_else(|| raw.strip_prefix("dispute_")) {
        Id::is_valid(rest)
    } else {
        false
    };
    if valid { Ok(raw) } else { Err(AppError::bad_request("Invalid chat ID format")) }
}

/// `query` or `dispute`.
pub fn parse_case_type(raw: &str) -> AppResult<&'static str> {
    match raw.parse::<ChatType>() {
        Ok(case_type) if case_type.is_case() => Ok(case_type.as_str()),
        _ => Err(AppError::bad_request("Invalid case type. Must be 'query' or 'dispute'")),
    }
}

fn capitalized(case_type: &str) -> String {
    let mut chars = case_type.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The chat if `user` participates: 404 "Chat not found" when it does not exist, 403
/// "Access denied" for anyone else.
pub async fn require_participant(state: &AppState, user: &User, chat_id: &str) -> AppResult<Chat> {
    let chat =
        store::find_by_chat_id(&state.db, chat_id).await?.ok_or_else(|| AppError::not_found("Chat not found"))?;
    if chat.participant(&user.id).is_none() {
        return Err(AppError::forbidden("Access denied"));
    }
    Ok(chat)
}

/// Who is in a chat: all that sending and read receipts need, remembered in process (see
/// [`members`]).
#[derive(Debug, Clone)]
pub struct Members {
    /// The chat's `_id`.
    pub id: Id,
    pub participants: Vec<Participant>,
    /// Whether the chat is active. A pending direct chat (a citizen's request the lawyer has
    /// not accepted) can be read by its two members but connects nobody: no messages, calls or
    /// relays until it is accepted.
    pub active: bool,
}

impl Members {
    fn of(chat: &Chat) -> Members {
        Members { id: chat.id.clone(), participants: chat.participants.clone(), active: is_active_chat(chat) }
    }

    pub fn includes(&self, user: &Id) -> bool {
        self.participants.iter().any(|p| &p.user_id == user)
    }
}

/// Whether a chat connects its participants: an active one (a case chat, an accepted
/// connection's chat, an accepted request), not a pending request.
pub fn is_active_chat(chat: &Chat) -> bool {
    chat.status == ChatStatus::Active
}

/// The members of a chat, remembered in this process. A direct chat's two members are fixed
/// when it is created; a case chat gains its lawyer on assignment, which invalidates the
/// case's tag (`CASE:<id>`). So every message and read receipt skips the chat lookup.
/// Only active chats are remembered: a chat only ever becomes active (never the reverse), so
/// what is remembered stays true, and a pending chat is read again until it is accepted.
pub async fn members(state: &AppState, chat_id: &str) -> AppResult<Option<Arc<Members>>> {
    let case = chat_id
        .split_once('_')
        .filter(|(kind, _)| *kind != ChatType::Direct.as_str())
        .and_then(|(_, id)| id.parse::<Id>().ok());
    let tags: Vec<Tag> = case.into_iter().map(Tag::Case).collect();
    let inactive = std::sync::Mutex::new(None);
    let load = || async {
        let found = store::find_by_chat_id(&state.db, chat_id).await?.as_ref().map(Members::of);
        match found {
            Some(members) if !members.active => {
                *inactive.lock().unwrap_or_else(|e| e.into_inner()) = Some(members);
                Ok(None)
            }
            found => Ok(found),
        }
    };
    if let Some(remembered) = state.cache.remember(&format!("chat-members|{chat_id}"), &tags, load).await? {
        return Ok(Some(remembered));
    }
    if let Some(pending) = inactive.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Ok(Some(Arc::new(pending)));
    }
    // Absent, or a concurrent lookup of the same chat loaded it (and did not remember it).
    Ok(store::find_by_chat_id(&state.db, chat_id).await?.as_ref().map(|chat| Arc::new(Members::of(chat))))
}

/// [`members`] of a chat `user` participates in, with the errors of [`require_participant`].
async fn require_member(state: &AppState, user: &User, chat_id: &str) -> AppResult<Arc<Members>> {
    let members = members(state, chat_id).await?.ok_or_else(|| AppError::not_found("Chat not found"))?;
    if !members.includes(&user.id) {
        return Err(AppError::forbidden("Access denied"));
    }
    Ok(members)
}

/// The refusal (409) of a message or a file in a chat that is not active: a pending chat holds
/// at most the citizen's opening message (3.4 #6) until the lawyer accepts.
pub fn not_accepted() -> AppError {
    AppError::conflict("This chat request has not been accepted yet")
}

/// [`require_member`] of a chat that takes messages: an active one, else [`not_accepted`].
pub async fn require_active_member(state: &AppState, user: &User, chat_id: &str) -> AppResult<Arc<Members>> {
    let members = require_member(state, user, chat_id).await?;
    if !members.active {
        return Err(not_accepted());
    }
    Ok(members)
}

/// Whether all of `users` take part in the active chat `chat_id`: who may call or signal each
/// other through it (Socket.IO). A pending chat is no relation.
pub async fn in_active_chat(state: &AppState, chat_id: &str, users: &[&Id]) -> AppResult<bool> {
    Ok(members(state, chat_id).await?.is_some_and(|m| m.active && users.iter().all(|u| m.includes(u))))
}

/// Proof that [`direct_chat_partner`] allowed a direct chat ([`User::may_reach_out_to`]), the
/// only way to open a pending one.
pub struct DirectPartner(User);

impl DirectPartner {
    pub fn user(&self) -> &User {
        &self.0
    }
}

/// The rule of direct chats ([`User::may_reach_out_to`]) applied to an id, for HTTP (3.7 #2,
/// 3.4 #6) and Socket.IO (`direct_message_request`, `chat:request`). Every refusal is the same 404 `refusal` (the route's "not found"
/// message), whether or not an account with that id exists, so ids cannot be probed.
pub async fn direct_chat_partner(
    state: &AppState,
    user: &User,
    other: &Id,
    refusal: &'static str,
) -> AppResult<DirectPartner> {
    let target = users::get(&state.db, other).await?;
    match target {
        Some(target) if user.may_reach_out_to(&target) => Ok(DirectPartner(target)),
        _ => Err(AppError::not_found(refusal)),
    }
}

/// The direct chat of a citizen and the lawyer [`direct_chat_partner`] allowed: the existing
/// one, or a new pending one. Returns the chat and whether it was created.
pub async fn open_pending_direct_chat(
    state: &AppState,
    citizen: &User,
    lawyer: &DirectPartner,
) -> AppResult<(Chat, bool)> {
    find_or_create_direct_chat(state, citizen, lawyer.user(), false, None).await
}

/// The direct chat `user` opens with `other` (3.7 #2 and the socket requests): an active chat
/// of the two for either of them (they are connected); otherwise the rule of
/// [`direct_chat_partner`] decides, and a new chat is pending. Returns the chat and whether it
/// was created.
pub async fn open_direct_chat(
    state: &AppState,
    user: &User,
    other: &Id,
    refusal: &'static str,
) -> AppResult<(Chat, bool)> {
    if &user.id == other {
        return Err(AppError::bad_request("Cannot create a chat with yourself"));
    }
    let existing = store::find_by_chat_id(&state.db, &direct_chat_id(&user.id, other)).await?;
    if let Some(chat) = existing.filter(|c| is_active_chat(c) && c.participant(&user.id).is_some()) {
        return Ok((chat, false));
    }
    let partner = direct_chat_partner(state, user, other, refusal).await?;
    open_pending_direct_chat(state, user, &partner).await
}

/// The active direct chat of an accepted connection: created active, or an existing (pending)
/// one activated and linked to `connection` if it has none yet.
pub async fn activate_direct_chat(state: &AppState, citizen: &User, lawyer: &User, connection: &Id) -> AppResult<Chat> {
    Ok(find_or_create_direct_chat(state, citizen, lawyer, true, Some(connection)).await?.0)
}

/// The direct chat of two users. Created when absent: `active` when `activate` (an accepted
/// connection), else `pending`. With `activate`, an existing chat becomes active and is linked
/// to `connection` if it has no connection yet. Returns the chat and whether it was created.
async fn find_or_create_direct_chat(
    state: &AppState,
    a: &User,
    b: &User,
    activate: bool,
    connection: Option<&Id>,
) -> AppResult<(Chat, bool)> {
    if a.id == b.id {
        return Err(AppError::bad_request("Cannot create a chat with yourself"));
    }
    let chat_id = direct_chat_id(&a.id, &b.id);
    // Two rounds: a concurrent creator may win the unique chatId between our lookup and insert.
    for _ in 0..2 {
        if let Some(mut chat) = store::find_by_chat_id(&state.db, &chat_id).await? {
            let needs_link = connection.is_some() && chat.direct_connection.is_none();
            if activate && (chat.status != ChatStatus::Active || needs_link) {
                chat.updated_at = store::set_status(&state.db, &chat.id, ChatStatus::Active, connection).await?;
                chat.status = ChatStatus::Active;
                if needs_link {
                    chat.direct_connection = connection.cloned();
                }
                state.cache.invalidate(chat.participants.iter().map(participant_tag)).await;
            }
            return Ok((chat, false));
        }
        let parties = [(a.id.clone(), a.role.as_str().to_string()), (b.id.clone(), b.role.as_str().to_string())];
        let mut chat = Chat::new(
            chat_id.clone(),
            ChatType::Direct,
            if activate { ChatStatus::Active } else { ChatStatus::Pending },
            &parties,
        );
        chat.direct_connection = connection.cloned();
        match store::insert(&state.db, &chat).await {
            Ok(()) => {
                state.cache.invalidate(chat.participants.iter().map(participant_tag)).await;
                return Ok((chat, true));
            }
            Err(e) if is_unique_violation(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::internal(anyhow::anyhow!("direct chat {chat_id} could not be created")))
}

/// The parties of a case chat.
#[derive(Debug, Clone, Copy)]
pub struct CaseChat<'a> {
    /// `query` or `dispute`.
    pub case_type: &'a str,
    pub case_id: &'a Id,
    pub citizen: &'a Id,
    pub lawyer: &'a Id,
}

/// The chat `<caseType>_<caseId>` of an assigned case (see
/// [`store::find_or_create_case_chat`], which assignments run inside their transaction), for
/// callers outside one: 3.7 #3 and the socket `case_assigned` / `request_responded`
/// handlers. Invalidates the lists of whoever joined. Returns the chat and whether it was
/// created.
pub async fn find_or_create_case_chat(state: &AppState, case: CaseChat<'_>) -> AppResult<(Chat, bool)> {
    let mut tx = state.db.begin().await?;
    let row = store::find_or_create_case_chat(&mut tx, case.case_type, case.case_id, case.citizen, case.lawyer).await?;
    tx.commit().await?;
    let joined: Vec<Tag> = row
        .joined
        .iter()
        .map(|id| if id == case.lawyer { Tag::Law(id.clone()) } else { Tag::Cit(id.clone()) })
        .collect();
    if !joined.is_empty() {
        // The chat's remembered members (see `members`) follow the case's tag.
        state.cache.invalidate(joined.into_iter().chain([Tag::Case(case.case_id.clone())])).await;
    }
    let chat = store::find_by_chat_id(&state.db, &row.chat_id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("case chat {} vanished", row.chat_id)))?;
    Ok((chat, row.created))
}

/// A message as a client sends it (socket `send_message`).
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    pub content: Option<String>,
    /// `text` (default), `file` or `image`, as the client named it (checked by sending).
    pub message_type: Option<String>,
    pub file_data: Option<Value>,
    /// The client's optimistic id, echoed back in `message_sent` / `new_message`.
    pub temp_id: Option<String>,
}

impl NewMessage {
    /// Reads `{content, messageType, fileData, tempId}` from a payload.
    pub fn from_json(payload: &Value) -> NewMessage {
        let text = |k: &str| payload.get(k).and_then(Value::as_str).map(str::to_string);
        NewMessage {
            content: text("content"),
            message_type: text("messageType"),
            file_data: payload.get("fileData").filter(|v| !v.is_null()).cloned(),
            temp_id: payload.get("tempId").filter(|v| !v.is_null()).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
        }
    }
}

const FILE_DATA_KEYS: &[&str] = &["ipfsHash", "originalName", "mimeType", "size", "url", "documentId"];

/// Whether a present `fileData` value has the type clients render it with: text for names
/// and ids, a byte count for `size`, a link a page may open for `url`.
fn file_field_ok(key: &str, value: &Value) -> bool {
    match key {
        "size" => value.as_u64().is_some(),
        "url" => value.as_str().is_some_and(is_safe_link),
        _ => value.is_string(),
    }
}

/// A link a chat page may open: an http(s) address or a path on this server. Anything else
/// (`javascript:`, `data:`, protocol-relative `//host`, backslashes browsers read as slashes)
/// is refused.
fn is_safe_link(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let allowed = lower.starts_with("https://")
        || lower.starts_with("http://")
        || (url.starts_with('/') && !url.starts_with("//"));
    allowed && !url.contains('\\') && !url.chars().any(char::is_control)
}

/// Checks a message and shapes what is stored: text needs non-blank content of at most
/// 1000 characters; file messages need `fileData.ipfsHash` and `fileData.mimeType` (content
/// defaults to "File attachment"); only the declared `fileData` keys are kept, each with its
/// type (chat pages render them: a wrong type there breaks the page for both sides).
fn draft(sender: &User, msg: NewMessage) -> AppResult<MessageDraft> {
    let message_type = match msg.message_type.as_deref() {
        None => MessageType::Text,
        Some(raw) => raw.parse().map_err(|_| AppError::bad_request("Invalid message type"))?,
    };
    let content = msg.content.unwrap_or_default();
    match message_type {
        MessageType::Text => {
            if content.trim().is_empty() {
                return Err(AppError::bad_request("Message content cannot be empty"));
            }
        }
        MessageType::File => {
            // Missing, null or blank is "required"; another type is refused below.
            let given = |key: &str| match msg.file_data.as_ref().and_then(|f| f.get(key)) {
                None | Some(Value::Null) => false,
                Some(Value::String(s)) => !s.trim().is_empty(),
                Some(_) => true,
            };
            if !given("ipfsHash") || !given("mimeType") {
                return Err(AppError::bad_request("File data is required for file messages"));
            }
        }
        MessageType::Image => {}
        // System messages are the server's, never a client's.
        MessageType::System => return Err(AppError::bad_request("Invalid message type")),
    }
    if content.chars().count() > MAX_MESSAGE_CHARS {
        return Err(AppError::bad_request("Message too long. Maximum 1000 characters."));
    }
    let content =
        if content.is_empty() && message_type == MessageType::File { "File attachment".to_string() } else { content };
    let file_data = match msg.file_data {
        Some(Value::Object(map)) => {
            let kept: Map<String, Value> =
                map.into_iter().filter(|(k, _)| FILE_DATA_KEYS.contains(&k.as_str())).collect();
            if kept.iter().any(|(k, v)| !v.is_null() && !file_field_ok(k, v)) {
                return Err(AppError::bad_request("Invalid file data"));
            }
            Value::Object(kept)
        }
        _ => Value::Null,
    };
    Ok(MessageDraft { sender: sender.id.clone(), content, message_type, file_data, client_temp_id: msg.temp_id })
}

/// Validates and stores a message from a participant, making it the chat's `lastMessage`.
/// Invalidates every participant's chat activity (`CHATS`: last message, unread counts).
pub async fn send_message(state: &AppState, user: &User, chat_id: &str, msg: NewMessage) -> AppResult<Message> {
    let draft = draft(user, msg)?;
    let members = require_active_member(state, user, chat_id).await?;
    append(state, &members, draft).await
}

async fn append(state: &AppState, chat: &Members, draft: MessageDraft) -> AppResult<Message> {
    let message = store::insert_message(&state.db, &chat.id, draft).await?;
    state.cache.invalidate(chat.participants.iter().map(|p| Tag::Chats(p.user_id.clone()))).await;
    Ok(message)
}

/// The first message of a chat opened by a legacy message request (3.4 #6).
pub async fn post_opening_message(state: &AppState, chat: &Chat, sender: &User, content: String) -> AppResult<Message> {
    let draft = draft(sender, NewMessage { content: Some(content), ..NewMessage::default() })?;
    append(state, &Members::of(chat), draft).await
}

/// Read receipts for `user` on the listed messages, or on all when `message_ids` is empty.
/// Returns the ids newly marked; the reader's cached lists are invalidated when any were.
pub async fn mark_read(state: &AppState, user: &User, chat_id: &str, message_ids: &[Id]) -> AppResult<Vec<Id>> {
    let members = require_member(state, user, chat_id).await?;
    mark_chat_read(state, user, &members.id, message_ids).await
}

async fn mark_chat_read(state: &AppState, user: &User, chat_ref: &Id, message_ids: &[Id]) -> AppResult<Vec<Id>> {
    let only = (!message_ids.is_empty()).then_some(message_ids);
    let marked = store::mark_read(&state.db, chat_ref, &user.id, only).await?;
    if !marked.is_empty() {
        state.cache.invalidate([Tag::Chats(user.id.clone())]).await;
    }
    Ok(marked)
}

/// Marks everything read on opening a chat over HTTP and tells the room (`messages_read`).
async fn read_on_open(state: &AppState, user: &User, chat_ref: &Id, chat_id: &str) -> AppResult<()> {
    let marked = mark_chat_read(state, user, chat_ref, &[]).await?;
    if !marked.is_empty() {
        state.notifier.to_room(
            chat_id,
            "messages_read",
            view_json(MessagesReadView { chat_id: chat_id.to_string(), read_by: user.id.clone() }),
        );
    }
    Ok(())
}

// ---- views ----

/// A message as its room receives it (socket `new_message`), as JSON for the socket layer.
pub fn new_message_json(m: &Message, sender: Value, chat_id: &str) -> Value {
    view_json(NewMessageView::new(m, sender, chat_id))
}

/// The sender's acknowledgement (socket `message_sent`) of the `new_message` payload
/// [`new_message_json`] made: [`MessageSentView`], the same keys in the same order. For socket
/// handlers holding that payload; a caller with the message should build the views.
pub fn message_sent_json(new_message: &Value, m: &Message) -> Value {
    let mut out = new_message.clone();
    if let Value::Object(map) = &mut out {
        map.insert("success".into(), Value::Bool(true));
        map.insert("messageId".into(), Value::String(m.id.to_string()));
        map.insert("tempId".into(), m.client_temp_id.clone().map_or(Value::Null, Value::String));
    }
    out
}

/// Chat documents with their whole message history (senders as ids), as a chat list or a
/// single chat of the original returns them. `unread_for` adds `unreadCount`.
pub async fn chat_documents(
    state: &AppState,
    chats: &[Chat],
    shape: ChatShape,
    unread_for: Option<&Id>,
) -> AppResult<Vec<ChatView>> {
    let refs: Vec<Id> = chats.iter().map(|c| c.id.clone()).collect();
    let messages = store::all_messages(&state.db, &refs).await?;
    let mut by_chat: HashMap<&Id, Vec<MessageView>> = HashMap::new();
    for m in &messages {
        by_chat.entry(&m.chat_ref).or_default().push(MessageView::new(m, Value::String(m.sender.to_string())));
    }
    let unread = match unread_for {
        Some(user) => store::unread_counts(&state.db, user, &refs).await?,
        None => HashMap::new(),
    };
    let users = load_users(state, chats.iter().flat_map(chat_user_ids)).await?;
    Ok(chats
        .iter()
        .map(|chat| {
            let mut view = ChatView::new(chat, &users, shape);
            view.messages = Some(by_chat.remove(&chat.id).unwrap_or_default());
            if unread_for.is_some() {
                view.unread_count = Some(unread.get(&chat.id).copied().unwrap_or(0));
            }
            view
        })
        .collect())
}

/// Everyone a chat shape may populate: participants and the last sender.
pub fn chat_user_ids(chat: &Chat) -> impl Iterator<Item = &Id> {
    chat.participants.iter().map(|p| &p.user_id).chain(chat.last_message.as_ref().map(|l| &l.sender))
}

pub async fn chat_document(state: &AppState, chat: &Chat, shape: ChatShape) -> AppResult<Option<ChatView>> {
    Ok(chat_documents(state, std::slice::from_ref(chat), shape, None).await?.pop())
}

/// A page of messages with senders populated.
async fn message_views(state: &AppState, messages: &[Message], sender_fields: &[&str]) -> AppResult<Vec<MessageView>> {
    let users = load_users(state, messages.iter().map(|m| &m.sender)).await?;
    Ok(messages.iter().map(|m| MessageView::new(m, user_ref(&users, &m.sender, Some(sender_fields)))).collect())
}

/// `chatInfo` of connection lists: `{chatId, status, lastMessage (sender name role), unreadCount}`
/// per chatId, for `viewer`.
pub async fn chat_infos(
    state: &AppState,
    viewer: &Id,
    chat_ids: &[String],
) -> AppResult<HashMap<String, ChatInfoView>> {
    let chats = store::find_many_by_chat_id(&state.db, chat_ids).await?;
    let refs: Vec<Id> = chats.iter().map(|c| c.id.clone()).collect();
    let unread = store::unread_counts(&state.db, viewer, &refs).await?;
    let users = load_users(state, chats.iter().filter_map(|c| c.last_message.as_ref().map(|l| &l.sender))).await?;
    Ok(chats
        .iter()
        .map(|chat| {
            let info = ChatInfoView {
                chat_id: chat.chat_id.clone(),
                status: chat.status,
                last_message: last_message(chat, &users, Some(NAME_ROLE)),
                unread_count: unread.get(&chat.id).copied().unwrap_or(0),
            };
            (chat.chat_id.clone(), info)
        })
        .collect())
}

// ---- 3.7 routes ----

fn one_chat(chat: Option<ChatView>) -> Value {
    view_json(OneChatView { chat })
}

const LIST_SHAPE: ChatShape = ChatShape { participants: Some(PARTICIPANT_LIST), last_sender: Some(NAME_ROLE) };

/// 3.7 #1: the caller's active chats, most recently updated first, with `unreadCount`.
pub async fn my_chats(state: &AppState, user: &User, page: Page) -> AppResult<Value> {
    let filter = ChatFilter { participant: Some(&user.id), active_only: true, ..ChatFilter::default() };
    let chats = store::list(&state.db, &filter, ChatOrder::UpdatedDesc, page).await?;
    let chats = chat_documents(state, &chats, LIST_SHAPE, Some(&user.id)).await?;
    Ok(view_json(ChatListView { chats }))
}

/// 3.7 #2: the direct chat with another user under the rule of [`open_direct_chat`]; 404
/// "User not found" for every refusal.
pub async fn direct_chat(state: &AppState, user: &User, other: &Id) -> AppResult<Value> {
    let (chat, _) = open_direct_chat(state, user, other, "User not found").await?;
    let shape = ChatShape { participants: Some(PARTICIPANT_DETAIL), last_sender: None };
    Ok(one_chat(chat_document(state, &chat, shape).await?))
}

/// 3.7 #3: the chat of an assigned case, for its citizen, its lawyer or an admin.
pub async fn case_chat(state: &AppState, user: &User, case_type: &'static str, case_id: &Id) -> AppResult<Value> {
    let (citizen, lawyer) = crate::store::cases::case_parties(&state.db, case_type, case_id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("{} not found", capitalized(case_type))))?;
    let allowed = citizen == user.id || lawyer.as_ref() == Some(&user.id) || user.role == Role::Admin;
    if !allowed {
        return Err(AppError::forbidden("Access denied"));
    }
    let lawyer =
        lawyer.ok_or_else(|| AppError::bad_request("Chat is only available after a lawyer is assigned to the case"))?;
    let spec = CaseChat { case_type, case_id, citizen: &citizen, lawyer: &lawyer };
    let (chat, _) = find_or_create_case_chat(state, spec).await?;
    Ok(one_chat(chat_document(state, &chat, LIST_SHAPE).await?))
}

/// 3.7 #4: a page of a case chat's messages (newest block, chronological); marks them read.
pub async fn case_chat_messages(
    state: &AppState,
    user: &User,
    case_type: &'static str,
    case_id: &Id,
    page: Page,
) -> AppResult<Value> {
    let chat_id = case_chat_id(case_type, case_id);
    let chat = require_member(state, user, &chat_id).await.map_err(|e| {
        if e.status.is_client_error() { AppError::not_found("Chat not found or access denied") } else { e }
    })?;
    read_on_open(state, user, &chat.id, &chat_id).await?;
    let (messages, has_more) = store::message_page(&state.db, &chat.id, None, page).await?;
    let messages = message_views(state, &messages, NAME_ROLE).await?;
    Ok(view_json(MessagePageView {
        messages,
        pagination: MessagePagination { current: page.page, total: None, has_more },
    }))
}

/// 3.7 #5: a chat with the newest page of its messages; marks everything read for the caller.
pub async fn chat_by_id(state: &AppState, user: &User, chat_id: &str, page: Page) -> AppResult<Value> {
    let chat = require_participant(state, user, chat_id).await?;
    read_on_open(state, user, &chat.id, &chat.chat_id).await?;
    let total = store::count_messages(&state.db, &chat.id).await?;
    let (messages, _) = store::message_page(&state.db, &chat.id, None, page).await?;
    let users = load_users(state, chat_user_ids(&chat)).await?;
    let mut chat =
        ChatView::new(&chat, &users, ChatShape { participants: Some(PARTICIPANT_DETAIL), last_sender: None });
    chat.messages = Some(message_views(state, &messages, NAME_ROLE_PICTURE).await?);
    let pagination =
        MessagePagination { current: page.page, total: Some(total), has_more: total > page.page * page.limit };
    Ok(view_json(ChatPageView { chat, pagination }))
}

/// A `before` cursor: an ISO timestamp, a date (midnight UTC) or epoch milliseconds.
fn parse_before(raw: &str) -> AppResult<String> {
    let parsed = crate::time::parse(raw)
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc().into())
        })
        .or_else(|| raw.parse::<i64>().ok().and_then(crate::time::Timestamp::from_millis));
    parsed.map(crate::time::iso).ok_or_else(|| AppError::bad_request("Invalid 'before' timestamp"))
}

/// 3.7 #6: older history: messages strictly before `before` (if given), newest block first.
pub async fn chat_messages(
    state: &AppState,
    user: &User,
    chat_id: &str,
    before: Option<&str>,
    page: Page,
) -> AppResult<Value> {
    let before = before.map(parse_before).transpose()?;
    let chat = require_member(state, user, chat_id).await?;
    let (messages, has_more) = store::message_page(&state.db, &chat.id, before.as_deref(), page).await?;
    let messages = message_views(state, &messages, NAME_ROLE).await?;
    Ok(view_json(MessagePageView {
        messages,
        pagination: MessagePagination { current: page.page, total: None, has_more },
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(temp_id: Option<&str>) -> Message {
        Message {
            id: "0000000000000000000000aa".parse().unwrap(),
            chat_ref: Id::new(),
            sender: "0000000000000000000000bb".parse().unwrap(),
            content: "Hello".into(),
            message_type: MessageType::Text,
            file_data: Value::Null,
            attachments: json!([]),
            client_temp_id: temp_id.map(str::to_string),
            timestamp: "2026-01-01T00:00:00.000Z".parse().unwrap(),
            edited_at: None,
            is_deleted: false,
            reads: vec![("0000000000000000000000cc".parse().unwrap(), "2026-01-01T00:00:01.000Z".parse().unwrap())],
        }
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    #[test]
    fn message_payloads_keep_their_keys_and_order() {
        const MESSAGE: [&str; 9] =
            ["_id", "sender", "content", "messageType", "fileData", "attachments", "isRead", "timestamp", "isDeleted"];
        let sender = json!({"_id": "0000000000000000000000bb", "name": "A"});
        for temp_id in [Some("t1"), None] {
            let m = message(temp_id);
            let new_message = new_message_json(&m, sender.clone(), "query_0000000000000000000000dd");
            let mut expected: Vec<&str> = MESSAGE.to_vec();
            expected.push("chatId");
            expected.extend(temp_id.map(|_| "tempId"));
            assert_eq!(keys(&new_message), expected);
            assert_eq!(
                new_message["isRead"],
                json!([{"user": "0000000000000000000000cc", "readAt": "2026-01-01T00:00:01.000Z"}])
            );
            assert_eq!(new_message["messageType"], json!("text"));

            let sent = message_sent_json(&new_message, &m);
            let typed = view_json(MessageSentView::new(NewMessageView::new(
                &m,
                sender.clone(),
                "query_0000000000000000000000dd",
            )));
            assert_eq!(serde_json::to_string(&sent).unwrap(), serde_json::to_string(&typed).unwrap());
            assert_eq!(sent["tempId"], json!(temp_id), "present, null without one");
            assert_eq!(sent["messageId"], new_message["_id"]);
            assert_eq!(sent["success"], json!(true));
        }
    }

    #[test]
    fn direct_chat_ids_sort_the_two_users() {
        let a: Id = "0000000000000000000000aa".parse().unwrap();
        let b: Id = "ff0000000000000000000000".parse().unwrap();
        assert_eq!(direct_chat_id(&a, &b), direct_chat_id(&b, &a));
        assert_eq!(direct_chat_id(&b, &a), format!("direct_{a}_{b}"));
    }

    #[test]
    fn chat_ids_must_have_a_known_format() {
        let id = "507f1f77bcf86cd799439011";
        for ok in [format!("direct_{id}_{id}"), format!("query_{id}"), format!("dispute_{}", id.to_uppercase())] {
            assert_eq!(parse_chat_id(&ok).unwrap(), ok.to_ascii_lowercase());
        }
        for bad in ["", "direct_", &format!("direct_{id}"), &format!("case_{id}"), &format!("query_{id}_1"), "query_zz"]
        {
            assert_eq!(parse_chat_id(bad).unwrap_err().status.as_u16(), 400, "{bad}");
        }
    }

    #[test]
    fn file_messages_need_a_hash_and_get_a_caption() {
        let user = User::new("A".into(), "a@b.co".into(), "-".into(), Role::Citizen);
        let no_hash = NewMessage {
            message_type: Some("file".into()),
            file_data: Some(json!({"ipfsHash": " "})),
            ..NewMessage::default()
        };
        assert_eq!(draft(&user, no_hash).unwrap_err().message, "File data is required for file messages");
        let file = NewMessage {
            message_type: Some("file".into()),
            file_data: Some(json!({"ipfsHash": "Qm1", "mimeType": "application/pdf"})),
            ..NewMessage::default()
        };
        assert_eq!(draft(&user, file).unwrap().content, "File attachment");
        let long = NewMessage { content: Some("é".repeat(1000)), ..NewMessage::default() };
        assert!(draft(&user, long).is_ok(), "the limit counts characters, not bytes");
    }
}
