//! The client-to-server events of docs/api.md 4.2 and 4.4. Writes go through the same service
//! functions as HTTP (which check access and invalidate cache tags); relays only reach users
//! the sender shares a chat, connection, consultation or case with. Identity always comes
//! from the socket, never from the payload.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, SocketRef};

use super::server::{Identity, Realtime, user_room};
use crate::domain::user::{Role, User};
use crate::error::AppError;
use crate::ids::Id;
use crate::service::access::require_verified_lawyer;
use crate::service::{chats, connections, people, relations};
use crate::state::AppState;
use crate::validate::FromBody;

/// Everything a handler needs: the socket, the server handle, the application, the sender.
pub(super) struct Ctx<A: Adapter> {
    pub s: SocketRef<A>,
    pub io: SocketIo<A>,
    pub state: AppState,
    pub server: Realtime,
    pub me: Arc<Identity>,
}

/// Event names counted in `nyaya_socket_events_total` (others count as `unknown`, so clients
/// cannot create label values).
const KNOWN: &[&str] = &[
    "join_chat",
    "leave_chat",
    "send_message",
    "typing_start",
    "typing_stop",
    "start_typing",
    "stop_typing",
    "mark_messages_read",
    "update_status",
    "consultation_request",
    "consultation_update",
    "case_assigned",
    "lawyer_request_sent",
    "citizen_request_sent",
    "request_responded",
    "direct_message_request",
    "chat:request",
    "send_connection_request",
    "respond_to_connection_request",
    "initiate-call",
    "accept-call",
    "reject-call",
    "end-call",
    "offer",
    "answer",
    "ice-candidate",
    "webrtc_offer",
    "webrtc_answer",
    "webrtc_call_accept",
    "webrtc_call_reject",
    "webrtc_call_end",
    "webrtc_signal",
    "webrtc_ice_candidate",
    "test-event",
    "authenticate",
];

pub(super) async fn handle<A: Adapter>(ctx: Ctx<A>, event: &str, data: Value, ack: AckSender<A>) {
    let label = KNOWN.iter().find(|k| **k == event).copied().unwrap_or("unknown");
    metrics::counter!("nyaya_socket_events_total", "event" => label).increment(1);
    match event {
        "join_chat" => join_chat(&ctx, &data).await,
        "leave_chat" => {
            if let Some(chat_id) = chat_id_of(&data) {
                ctx.server.leave(&ctx.s, &ctx.me, chat_id).await;
            }
        }
        "send_message" => send_message(&ctx, &data).await,
        "typing_start" | "start_typing" => typing(&ctx, &data, true).await,
        "typing_stop" | "stop_typing" => typing(&ctx, &data, false).await,
        "mark_messages_read" => mark_messages_read(&ctx, &data).await,
        "update_status" => {
            let payload = json!({"userId": ctx.me.id, "status": data});
            to_partners(&ctx.state, &ctx.server, &ctx.s, &ctx.me.id, &[("user_status_update", payload)]).await;
        }
        "consultation_request" => consultation_request(&ctx, &data).await,
        "consultation_update" => consultation_update(&ctx, &data).await,
        "case_assigned" => case_assigned(&ctx, &data).await,
        "lawyer_request_sent" => relay_request(&ctx, &data, "citizenId", "new_lawyer_request").await,
        "citizen_request_sent" => relay_request(&ctx, &data, "lawyerId", "new_citizen_request").await,
        "request_responded" => request_responded(&ctx, &data).await,
        "direct_message_request" => direct_message_request(&ctx, &data, None).await,
        "chat:request" => direct_message_request(&ctx, &data, Some(ack)).await,
        "send_connection_request" => send_connection_request(&ctx, &data).await,
        "respond_to_connection_request" => respond_to_connection_request(&ctx, &data).await,
        "initiate-call" => initiate_call(&ctx, &data).await,
        "accept-call" => call_relay(&ctx, &data, "call-accepted", "acceptedBy").await,
        "reject-call" => call_relay(&ctx, &data, "call-rejected", "rejectedBy").await,
        "end-call" => call_relay(&ctx, &data, "call-ended", "endedBy").await,
        "offer" | "answer" | "ice-candidate" => signal_relay(&ctx, &data, event).await,
        "webrtc_offer" | "webrtc_answer" | "webrtc_call_accept" | "webrtc_call_reject" => {
            webrtc_targeted(&ctx, &data, event).await
        }
        "webrtc_call_end" => webrtc_call_end(&ctx, &data).await,
        "webrtc_signal" => webrtc_signal(&ctx, &data, "webrtc_signal", "signal").await,
        "webrtc_ice_candidate" => webrtc_signal(&ctx, &data, "webrtc_ice_candidate", "candidate").await,
        "test-event" => tracing::info!(user = %ctx.me.id, payload = %data, "socket test-event"),
        // Identity comes from the handshake token; the client's claim is ignored.
        "authenticate" => {}
        other => tracing::debug!(user = %ctx.me.id, event = other, "unhandled socket event"),
    }
}

// ---- helpers ----

fn now() -> String {
    crate::time::now_iso()
}

fn text<'a>(data: &'a Value, key: &str) -> Option<&'a str> {
    data.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

fn id_of(data: &Value, key: &str) -> Option<Id> {
    text(data, key).and_then(|s| s.parse().ok())
}

/// A chatId sent bare (`"direct_..."`) or as `{chatId}`.
fn chat_id_of(data: &Value) -> Option<String> {
    let raw = match data {
        Value::String(s) => s.as_str(),
        other => other.get("chatId").and_then(Value::as_str)?,
    };
    let raw = raw.trim();
    (!raw.is_empty()).then(|| raw.to_string())
}

/// `data[key]` as an object to spread into a relayed payload (anything else spreads nothing).
fn spread(data: &Value, key: &str) -> Map<String, Value> {
    data.get(key).and_then(Value::as_object).cloned().unwrap_or_default()
}

impl<A: Adapter> Ctx<A> {
    /// To this socket (through recovery's log when it is on: events carry offsets).
    fn emit(&self, event: &str, payload: Value) {
        self.server.emit_to_socket(&self.s, &self.me, event, &payload);
    }

    /// The `error` event of docs/api.md 4.1.
    fn error(&self, message: &str) {
        self.emit("error", json!({"message": message}));
    }

    /// Every socket in the rooms except this one.
    async fn to(&self, rooms: Vec<String>, event: &str, payload: Value) {
        self.server.emit_from(&self.s, Some(&self.me), rooms, event, &payload).await;
    }

    async fn to_user(&self, user: &Id, event: &str, payload: Value) {
        self.to(vec![user_room(user)], event, payload).await;
    }

    /// Every socket in the room, this one included.
    async fn within(&self, room: &str, event: &str, payload: Value) {
        self.server.emit_to_rooms(&self.io, vec![room.to_string()], event, &payload).await;
    }

    /// The sender's account as it is now: a user deleted or deactivated since the handshake
    /// is disconnected instead of acting.
    async fn actor(&self) -> Option<User> {
        match people::principal(&self.state, &self.me.id).await {
            Ok(Some(user)) if user.is_active => Some(user),
            Ok(_) => {
                self.error("User not found or inactive");
                let _ = self.s.clone().disconnect();
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "socket: loading the sender failed");
                self.error("Something went wrong!");
                None
            }
        }
    }

    /// Whether the sender may use the chat room: a room it joined through the checked
    /// `join_chat`, or a chat it participates in.
    async fn in_chat(&self, chat_id: &str) -> bool {
        if self.s.rooms().iter().any(|r| r.as_ref() == chat_id) {
            return true;
        }
        relations::in_chat(&self.state, chat_id, &self.me.id).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "socket: chat membership check failed");
            false
        })
    }

    /// Whether the sender may call or signal in the chat: it and every one of `others` take part
    /// in it, and it is active (a pending chat request is no relation).
    async fn in_active_chat(&self, chat_id: &str, others: &[&Id]) -> bool {
        let users: Vec<&Id> = others.iter().copied().chain([&self.me.id]).collect();
        chats::in_active_chat(&self.state, chat_id, &users).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e.message, "socket: chat membership check failed");
            false
        })
    }

    /// Whether the sender may reach `other`'s sockets (docs/api.md 4.2 "Rust hardening").
    async fn may_reach(&self, other: &Id) -> bool {
        relations::are_related(&self.state, &self.me.id, other).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "socket: relation check failed");
            false
        })
    }

    /// `{id, name, role}`: the caller identity of call events.
    fn caller(&self) -> Value {
        json!({"id": self.me.id, "name": self.me.name, "role": self.me.role.as_str()})
    }
}

/// The text of a service error for the client: the message of a refusal, a generic `fallback`
/// for internal failures (with the cause as `details` outside production).
fn failure(state: &AppState, e: &AppError, fallback: &str) -> Value {
    if e.status.is_client_error() {
        return json!({"message": e.message});
    }
    tracing::warn!(status = %e.status, error = %e.message, "socket event failed");
    if state.config.env.is_production() {
        json!({"message": fallback})
    } else {
        json!({"message": fallback, "details": e.message})
    }
}

/// Presence events go to the user's chat partners only.
async fn to_partners<A: Adapter>(
    state: &AppState,
    server: &Realtime,
    s: &SocketRef<A>,
    user: &Id,
    events: &[(&str, Value)],
) {
    let partners = match relations::chat_partners(state, user).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "presence: loading chat partners failed");
            return;
        }
    };
    if partners.is_empty() {
        return;
    }
    let rooms: Vec<String> = partners.iter().map(user_room).collect();
    let me = s.extensions.get::<Arc<Identity>>();
    for (event, payload) in events {
        server.emit_from(s, me.as_deref(), rooms.clone(), event, payload).await;
    }
}

/// `user_online` / `user_offline` (4.4) and `user_status_update` (4.2) when a user's first
/// socket opens or last socket closes, on any instance.
pub(super) async fn announce<A: Adapter>(
    state: &AppState,
    server: &Realtime,
    s: &SocketRef<A>,
    me: &Identity,
    online: bool,
) {
    let (event, status) = if online { ("user_online", "online") } else { ("user_offline", "offline") };
    let events =
        [(event, json!({"userId": me.id})), ("user_status_update", json!({"userId": me.id, "status": status}))];
    to_partners(state, server, s, &me.id, &events).await;
}

// ---- chat ----

async fn join_chat<A: Adapter>(ctx: &Ctx<A>, data: &Value) {
    let Some(chat_id) = chat_id_of(data) else {
        return ctx.error("Access denied to chat room");
    };
    let Some(user) = ctx.actor().await else { return };
    // Checks membership and marks everything read in one step.
    match chats::mark_read(&ctx.state, &user, &chat_id, &[]).await {
        Ok(_) => {
            ctx.server.join(&ctx.s, &ctx.me, chat_id.clone()).await;
            ctx.to(vec![chat_id.clone()], "messages_read", json!({"chatId": chat_id, "readBy": ctx.me.id})).await;
            ctx.emit("chat_joined", json!({"chatId": chat_id, "success": true}));
        }
        Err(e) if e.status.is_client_error() => ctx.error("Access denied to chat room"),
        Err(e) => ctx.emit("error", failure(&ctx.state, &e, "Failed to join chat")),
    }
}

async fn send_message<A: Adapter>(ctx: &Ctx<A>, data: &Value) {
    let chat_id = text(data, "chatId").unwrap_or_default().to_string();
    let draft = chats::NewMessage::from_json(data);
    let Some(user) = ctx.actor().await else { return };
    let Some(slot) = ctx.server.limiter().acquire(&user.id) else {
        return ctx.error("Message rate limit exceeded. Please slow down.");
    };
    let stored = match chats::send_message(&ctx.state, &user, &chat_id, draft).await {
        Ok(message) => message,
        Err(e) => {
            let status = e.status.as_u16();
            if status == 400 {
                // An invalid message does not use up the sender's allowance.
                ctx.server.limiter().release(&user.id, slot);
                return ctx.error(&e.message);
            }
            if status == 403 || status == 404 {
                return ctx.error("Chat not found or access denied");
            }
            return ctx.emit("error", failure(&ctx.state, &e, "Failed to send message"));
        }
    };
    metrics::counter!("nyaya_chat_messages_total").increment(1);
    let message = chats::new_message_json(&stored, ctx.me.summary(), &chat_id);
    // Stored first, then acknowledged, then delivered.
    ctx.emit("message_sent", chats::message_sent_json(&message, &stored));
    ctx.within(&chat_id, "new_message", message).await;
}

/// Both typing forms of 4.4: a bare chatId or `{chatId, ...}`; the names the frontend
/// listens to and the original's are both emitted.
async fn typing<A: Adapter>(ctx: &Ctx<A>, data: &Value, start: bool) {
    let Some(chat_id) = chat_id_of(data) else { return };
    // Typing is frequent and harmless to drop: refused silently.
    if !ctx.in_chat(&chat_id).await {
        return;
    }
    let me = &ctx.me;
    let room = || vec![chat_id.clone()];
    let (event, original, original_payload) = if start {
        ("typing_start", "user_typing", json!({"chatId": chat_id, "userId": me.id, "name": me.name}))
    } else {
        ("typing_stop", "user_stop_typing", json!({"chatId": chat_id, "userId": me.id}))
    };
    ctx.to(room(), event, json!({"chatId": chat_id, "userId": me.id, "userName": me.name})).await;
    ctx.to(room(), original, original_payload).await;
}

async fn mark_messages_read<A: Adapter>(ctx: &Ctx<A>, data: &Value) {
    let Some(chat_id) = chat_id_of(data) else { return };
    let listed = data.get("messageIds").and_then(Value::as_array);
    let ids: Vec<Id> = listed.map(|l| l.iter().filter_map(|v| v.as_str()?.parse().ok()).collect()).unwrap_or_default();
    if listed.is_some_and(|l| !l.is_empty()) && ids.is_empty() {
        return;
    }
    let Some(user) = ctx.actor().await else { return };
    // Non-participants are ignored silently, as in the original.
    if chats::mark_read(&ctx.state, &user, &chat_id, &ids).await.is_err() {
        return;
    }
    let mut payload = json!({"chatId": chat_id, "readBy": ctx.me.id});
    if let Some(listed) = listed {
        payload["messageIds"] = Value::Array(listed.clone());
    }
    ctx.to(vec![chat_id], "messages_read", payload).await;
}

// ---- requests, consultations and cases ----

async fn consultation_request<A: Adapter>(ctx: &Ctx<A>, data: &Value) {
    let Some(lawyer) = id_of(data, "lawyerId") else { return ctx.error("Access denied") };
    if !ctx.may_reach(&lawyer).await {
        return ctx.error("Access denied");
    }
    let mut payload = spread(data, "consultationData");
    payload.insert("from".into(), ctx.me.summary());
    ctx.to_user(&lawyer, "new_consultation_request", Value::Object(payload)).await;
}

async fn consultation_update<A: Adapter>(ctx: &Ctx<A>, data: &Value) {
    let Some(participants) = data.get("participants").and_then(Value::as_array) else { return };
    let update = data.get("updateData").cloned().unwrap_or(Value::Null);
    let mut rooms = Vec::new();
    for id in participants.iter().filter_map(|v| v.as_str()?.parse::<Id>().ok()) {
        if id != ctx.me.id && ctx.may_reach(&id).await {
            rooms.push(user_room(&id));
        }
    }
    ctx.to(rooms, "consultation_updated", update).await;
}

/// `lawyer_request_sent` / `citizen_request_sent`: a relay to the named user.
async fn relay_request<A: Adapter>(ctx: &Ctx<A>, data: &Value, target_key: &str, event: &str) {
    let Some(target) = id_of(data, target_key) else { return ctx.error("Access denied") };
    if !ctx.may_reach(&target).await {
        return ctx.error("Access denied");
    }
    let mut payload = spread(data, "requestData");
    payload.insert("timestamp".into(), json!(now()));
    ctx.to_user(&target, event, Value::Object(payload)).await;
}

/// The parties of an assigned case, when the sender is one of them and the payload's lawyer
/// (if named) is the one assigned. Client ids decide nothing else.
async fn assigned_case<A: Adapter>(ctx: &Ctx<A>, data: &Value) -> Result<(&'static str, Id, Id, Id), &'static str> {
    let case_type = text(data, "caseType").and_then(|t| chats::parse_case_type(t).ok()).ok_or("Invalid case type")?;
    let case_id = id_of(data, "caseId").ok_or("Case not found")?;
    let parties = relations::case_parties(&ctx.state, case_type, &case_id).await.map_err(|e| {
        tracing::warn!(error = %e, "socket: loading case parties failed");
        "Case not found"
    })?;
    let (citizen, lawyer) = parties.ok_or("Case not found")?;
    let lawyer = lawyer.ok_or("Case is not assigned to a lawyer")?;
    if id_of(data, "lawyerId").is_some_and(|named| named != lawyer) {
        return Err("Case is not assigned to this lawyer");
    }
    if ctx.me.id != citizen && ctx.me.id != lawyer {
        return Err("Access denied");
    }
    Ok((case_type, case_id, citizen, lawyer))
}

async fn case_chat<A: Adapter>(ctx: &Ctx<A>, case: &(&'static str, Id, Id, Id)) -> Result<String, AppError> {
    let (case_type, case_id, citizen, lawyer) = case;
    let parties = chats::CaseChat { case_type, case_id, citizen, lawyer };
    Ok(chats::find_or_create_case_chat(&ctx.state, parties).await?.0.chat_id)
}

async fn case_assigned<A: Adapter>(ctx: &Ctx<A>, data: &Value) {
    let case = match assigned_case(ctx, data).await {
        Ok(case) => case,
        Err(message) => return ctx.error(message),
    };
    let chat_id = match case_chat(ctx, &case).await {
        Ok(chat_id) => chat_id,
        Err(e) => return ctx.emit("error", failure(&ctx.state, &e, "Failed to process case assignment")),
    };
    let mut payload = spread(data, "caseData");
    payload.insert("chatId".into(), json!(chat_id));
    payload.insert("chatCreated".into(), json!(true));
    let payload = Value::Object(payload);
    let (_, _, citizen, lawyer) = &case;
    ctx.to_user(citizen, "case_assignment_update", payload.clone()).await;
    ctx.to_user(lawyer, "new_case_assigned", payload).await;
}

async fn request_responded<A: Adapter>(ctx: &Ctx<A>, data: &Value) {
    let Some(target) = id_of(data, "targetUserId") else { return ctx.error("Access denied") };
    if !ctx.may_reach(&target).await {
        return ctx.error("Access denied");
    }
    let mut response = spread(data, "responseData");
    let wants_chat = data.get("createChat").and_then(Value::as_bool).unwrap_or(false)
        && response.get("action").and_then(Value::as_str) == Some("accepted");
    if wants_chat {
        let case = match assigned_case(ctx, data).await {
            Ok(case) => case,
            Err(message) => return ctx.error(message),
        };
        match case_chat(ctx, &case).await {
            Ok(chat_id) => {
                response.insert("chatId".into(), json!(chat_id));
                response.insert("chatCreated".into(), json!(true));
            }
            Err(e) => return ctx.emit("error", failure(&ctx.state, &e, "Failed to process request response")),
        }
    }
    response.insert("timestamp".into(), json!(now()));
    ctx.to_user(&target, "request_response", Value::Object(response)).await;
}

/// `direct_message_request` (and the frontend's `chat:request`, answered by acknowledgement):
/// opens (or finds) the pending direct chat with a verified lawyer.
async fn direct_message_request<A: Adapter>(ctx: &Ctx<A>, data: &Value, ack: Option<AckSender<A>>) {
    let message_key = if ack.is_some() { "content" } else { "message" };
    let message = text(data, message_key).unwrap_or("New message request").to_string();
    let outcome = open_direct_chat(ctx, data).await;
    match (outcome, ack) {
        (Ok((chat_id, lawyer)), ack) => {
            let payload = json!({"from": ctx.me.summary(), "chatId": chat_id, "message": message, "timestamp": now()});
            ctx.to_user(&lawyer, "new_direct_message_request", payload).await;
            match ack {
                Some(ack) => {
                    let _ = ack.send(&json!({"room": chat_id, "message": message}));
                }
                None => ctx.emit("direct_message_request_sent", json!({"success": true, "chatId": chat_id})),
            }
        }
        (Err(failure), Some(ack)) => {
            let _ = ack.send(&json!({"room": Value::Null, "message": failure["message"]}));
        }
        (Err(failure), None) => ctx.emit("error", failure),
    }
}

/// The direct chat under the rule HTTP uses (a citizen with a verified lawyer; one refusal for
/// every other target, existing or not). Returns the chatId and the other party.
async fn open_direct_chat<A: Adapter>(ctx: &Ctx<A>, data: &Value) -> Result<(String, Id), Value> {
    const REFUSAL: &str = "Lawyer not found or not verified";
    let lawyer_id = id_of(data, "lawyerId").ok_or_else(|| json!({"message": REFUSAL}))?;
    let user = ctx.actor().await.ok_or_else(|| json!({"message": "User not found or inactive"}))?;
    chats::open_direct_chat(&ctx.state, &user, &lawyer_id, REFUSAL)
        .await
        .map(|(chat, _)| (chat.chat_id, lawyer_id))
        .map_err(|e| failure(&ctx.state, &e, "Failed to send direct message request"))
}

// ---- connections ----

async fn send_connection_request<A: Adapter>(ctx: &Ctx<A>, data: &Value) {
    let refuse = |message: Value| ctx.emit("connection_request_error", message);
    let Some(user) = ctx.actor().await else { return };
    if user.role != Role::Citizen {
        return refuse(json!({"message": format!("User role {} is not authorized to access this route", user.role)}));
    }
    let Some(lawyer) = id_of(data, "lawyerId") else {
        return refuse(json!({"message": "Lawyer not found or not verified"}));
    };
    let body = json!({"message": data.get("message"), "connectionType": data.get("connectionType")});
    let request = connections::ConnectionRequest::from_body(&body);
    match async { connections::request_connection(&ctx.state, &user, &lawyer, request?).await }.await {
        Ok(id) => ctx.emit("connection_request_sent", json!({"success": true, "connectionId": id})),
        Err(e) => refuse(failure(&ctx.state, &e, "Failed to send connection request")),
    }
}

async fn respond_to_connection_request<A: Adapter>(ctx: &Ctx<A>, data: &Value) {
    let refuse = |message: Value| ctx.emit("connection_response_error", message);
    let Some(user) = ctx.actor().await else { return };
    if let Err(e) = require_verified_lawyer(&user) {
        return refuse(json!({"message": e.message}));
    }
    let Some(connection) = id_of(data, "connectionId") else {
        return refuse(json!({"message": "Connection request not found"}));
    };
    let body = json!({"responseMessage": data.get("responseMessage")});
    let answer = || connections::ConnectionAnswer::from_body(&body);
    match text(data, "action") {
        Some("accept") => {
            match async { connections::accept_connection(&ctx.state, &user, &connection, &answer()?).await }.await {
                Ok(result) => ctx.emit(
                    "connection_response_success",
                    json!({"action": "accepted", "connectionId": connection, "chatId": result["chatId"]}),
                ),
                Err(e) => refuse(failure(&ctx.state, &e, "Failed to respond to connection request")),
            }
        }
        Some("reject") => {
            match async { connections::reject_connection(&ctx.state, &user, &connection, &answer()?).await }.await {
                Ok(_) => {
                    ctx.emit("connection_response_success", json!({"action": "rejected", "connectionId": connection}))
                }
                Err(e) => refuse(failure(&ctx.state, &e, "Failed to respond to connection request")),
            }
        }
        _ => refuse(json!({"message": "Invalid action. Use \"accept\" or \"reject\""})),
    }
}

// ---- calls ----

async fn initiate_call<A: Adapter>(ctx: &Ctx<A>, data: &Value) {
    let (Some(chat_id), Some(receiver)) = (chat_id_of(data), id_of(data, "receiverId")) else {
        return ctx.error("Access denied");
    };
    if receiver == ctx.me.id || !ctx.in_active_chat(&chat_id, &[&receiver]).await {
        return ctx.error("Access denied");
    }
    let payload = json!({"type": data.get("type"), "chatId": chat_id, "caller": ctx.caller(), "timestamp": now()});
    ctx.to_user(&receiver, "incoming-call", payload).await;
}

/// `accept-call`, `reject-call`, `end-call`: to the chat room, from a participant of the
/// active chat.
async fn call_relay<A: Adapter>(ctx: &Ctx<A>, data: &Value, event: &str, actor_key: &str) {
    let Some(chat_id) = chat_id_of(data) else { return ctx.error("Access denied") };
    if !ctx.in_active_chat(&chat_id, &[]).await {
        return ctx.error("Access denied");
    }
    let payload =
        json!({"chatId": chat_id, "callType": data.get("callType"), actor_key: ctx.caller(), "timestamp": now()});
    ctx.to(vec![chat_id], event, payload).await;
}

/// `offer`, `answer`, `ice-candidate`: WebRTC signalling into the room of an active chat.
async fn signal_relay<A: Adapter>(ctx: &Ctx<A>, data: &Value, event: &str) {
    let Some(chat_id) = chat_id_of(data) else { return ctx.error("Access denied") };
    if !ctx.in_active_chat(&chat_id, &[]).await {
        return ctx.error("Access denied");
    }
    let key = if event == "ice-candidate" { "candidate" } else { event };
    ctx.to(vec![chat_id.clone()], event, json!({key: data.get(key), "chatId": chat_id})).await;
}

/// Whether the sender may signal `target` within a call: both are its members, or they are
/// related (a call starts with an offer between related users).
async fn may_signal<A: Adapter>(ctx: &Ctx<A>, call_id: Option<&str>, target: &Id) -> bool {
    if let Some(call_id) = call_id {
        let members = ctx.server.presence().call_members(call_id).await;
        if members.contains(&ctx.me.id) && members.contains(target) {
            return true;
        }
    }
    ctx.may_reach(target).await
}

async fn webrtc_targeted<A: Adapter>(ctx: &Ctx<A>, data: &Value, event: &str) {
    let Some(target) = id_of(data, "targetUserId") else { return ctx.error("Access denied") };
    let call_id = text(data, "callId");
    if target == ctx.me.id || !may_signal(ctx, call_id, &target).await {
        return ctx.error("Access denied");
    }
    let me = &ctx.me;
    let field = |k: &str| data.get(k).cloned().unwrap_or(Value::Null);
    let (name, payload) = match event {
        "webrtc_offer" => {
            if let Some(call_id) = call_id {
                ctx.server.presence().join_call(call_id, &[&me.id, &target]).await;
            }
            let payload = json!({
                "callId": field("callId"), "callType": field("callType"), "chatId": field("chatId"), "offer": field("offer"),
                "fromUserId": me.id, "fromUserName": me.name, "fromUserRole": me.role.as_str(),
            });
            ("webrtc_offer", payload)
        }
        "webrtc_answer" => {
            ("webrtc_answer", json!({"callId": field("callId"), "answer": field("answer"), "fromUserId": me.id}))
        }
        "webrtc_call_accept" => (
            "webrtc_call_accepted",
            json!({"callId": field("callId"), "acceptType": field("acceptType"), "fromUserId": me.id}),
        ),
        _ => ("webrtc_call_rejected", json!({"callId": field("callId"), "fromUserId": me.id})),
    };
    ctx.to_user(&target, name, payload).await;
}

/// The other members of a call the sender belongs to.
async fn call_peers<A: Adapter>(ctx: &Ctx<A>, call_id: &str) -> Option<Vec<String>> {
    let members = ctx.server.presence().call_members(call_id).await;
    members.contains(&ctx.me.id).then(|| members.iter().filter(|m| **m != ctx.me.id).map(user_room).collect())
}

async fn webrtc_call_end<A: Adapter>(ctx: &Ctx<A>, data: &Value) {
    let Some(call_id) = text(data, "callId") else { return };
    let Some(peers) = call_peers(ctx, call_id).await else { return ctx.error("Access denied") };
    ctx.to(peers, "webrtc_call_end", json!({"callId": call_id, "fromUserId": ctx.me.id})).await;
    ctx.server.presence().end_call(call_id).await;
}

/// `webrtc_signal` / `webrtc_ice_candidate`: to the named user, or to the call's other members.
async fn webrtc_signal<A: Adapter>(ctx: &Ctx<A>, data: &Value, event: &str, key: &str) {
    let call_id = text(data, "callId");
    let payload = json!({"callId": data.get("callId"), key: data.get(key), "fromUserId": ctx.me.id});
    if let Some(target) = id_of(data, "targetUserId") {
        if target == ctx.me.id || !may_signal(ctx, call_id, &target).await {
            return ctx.error("Access denied");
        }
        return ctx.to_user(&target, event, payload).await;
    }
    let Some(peers) = (match call_id {
        Some(call_id) => call_peers(ctx, call_id).await,
        None => None,
    }) else {
        return ctx.error("Access denied");
    };
    ctx.to(peers, event, payload).await;
}
