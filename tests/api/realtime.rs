//! Socket.IO (docs/api.md 4): handshake authentication, the client events of 4.2/4.4 with their
//! replies and emits, access refusals that deliver nothing and store nothing, persistence
//! before acknowledgement, presence, HTTP-triggered emits, deactivation, and two instances
//! joined through Redis. Clients are `rust_socketio` (a third-party implementation of the
//! protocol); `realtime_js_clients_across_instances` drives the npm `socket.io-client`.

use std::time::Duration;

use futures::FutureExt;
use nyaya::db::Sql;
use nyaya::ids::Id;
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload, TransportType};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use nyaya::store::users::{Role, User};

use crate::connections::{Actor, admin, citizen, connect, direct_chat_id, lawyer};
use crate::helpers::*;

/// Upper bound for an awaited event to arrive: a hang guard, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(15);

/// One Socket.IO client, recording every event it receives in order (also used by other
/// areas' tests).
pub(crate) struct Sock {
    client: Client,
    rx: mpsc::UnboundedReceiver<(String, Value)>,
    /// Events received and not yet consumed by `next`.
    pending: Vec<(String, Value)>,
}

const CONNECT_ERROR: &str = "Received an ConnectError frame: ";

pub(crate) enum Auth<'a> {
    None,
    Token(&'a str),
    Header(&'a str),
}

impl Sock {
    /// Opens a socket and waits for the outcome of the handshake: Ok once connected (the
    /// client must wait for this before emitting), Err with the `connect_error` message.
    pub(crate) async fn open(base: &str, auth: Auth<'_>, transport: TransportType) -> Result<Sock, String> {
        let (tx, rx) = mpsc::unbounded_channel::<(String, Value)>();
        let record = |tx: mpsc::UnboundedSender<(String, Value)>, name: &'static str| {
            move |payload: Payload, _: Client| {
                let tx = tx.clone();
                async move {
                    let value = first(payload);
                    let event = match (&value, name) {
                        (Value::String(s), "error") if s.starts_with(CONNECT_ERROR) => {
                            let raw = &s[CONNECT_ERROR.len()..];
                            let _ = tx.send(("connect_error".into(), serde_json::from_str(raw).unwrap_or(json!(raw))));
                            return;
                        }
                        (Value::String(_), "error") => "transport_error",
                        _ => name,
                    };
                    let _ = tx.send((event.to_string(), value));
                }
                .boxed()
            }
        };
        let any_tx = tx.clone();
        let mut builder = ClientBuilder::new(base)
            .transport_type(transport)
            .reconnect(false)
            .reconnect_on_disconnect(false)
            .on(Event::Connect, record(tx.clone(), "connect"))
            .on(Event::Close, record(tx.clone(), "disconnect"))
            .on(Event::Error, record(tx.clone(), "error"))
            .on_any(move |event: Event, payload: Payload, _: Client| {
                let tx = any_tx.clone();
                async move {
                    let _ = tx.send((event.as_str().to_string(), first(payload)));
                }
                .boxed()
            });
        builder = match auth {
            Auth::None => builder,
            Auth::Token(t) => builder.auth(json!({"token": t})),
            Auth::Header(t) => builder.opening_header("Authorization", format!("Bearer {t}")),
        };
        let client = builder.connect().await.map_err(|e| format!("transport failed: {e}"))?;
        let mut sock = Sock { client, rx, pending: Vec::new() };
        loop {
            let (event, value) = sock.recv().await;
            match event.as_str() {
                "connect" => return Ok(sock),
                "connect_error" => return Err(value["message"].as_str().unwrap_or_default().to_string()),
                _ => sock.pending.push((event, value)),
            }
        }
    }

    async fn recv(&mut self) -> (String, Value) {
        match tokio::time::timeout(PATIENCE, self.rx.recv()).await {
            Ok(Some(item)) => item,
            Ok(None) => panic!("socket closed"),
            Err(_) => panic!("nothing arrived in time; unconsumed: {:?}", self.pending),
        }
    }

    /// The next `event` (earlier events of other names stay available).
    pub(crate) async fn next(&mut self, event: &str) -> Value {
        if let Some(pos) = self.pending.iter().position(|(e, _)| e == event) {
            return self.pending.remove(pos).1;
        }
        loop {
            let (name, value) = self.recv().await;
            if name == event {
                return value;
            }
            self.pending.push((name, value));
        }
    }

    /// Whether `event` has arrived (and not been consumed) so far.
    pub(crate) fn has(&mut self, event: &str) -> bool {
        while let Ok(item) = self.rx.try_recv() {
            self.pending.push(item);
        }
        self.pending.iter().any(|(e, _)| e == event)
    }

    async fn emit(&self, event: &str, data: Value) {
        self.client.emit(event, data).await.expect("emit");
    }

    pub(crate) async fn close(self) {
        let _ = self.client.disconnect().await;
    }
}

/// An event's payload: its first argument. With connection state recovery (on by default)
/// the server adds the event's offset as a last argument, which clients keep to themselves
/// (tests/api/recovery.rs checks it).
fn first(payload: Payload) -> Value {
    match payload {
        Payload::Text(values) => values.into_iter().next().unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

async fn sock(app: &TestApp, who: &Actor) -> Sock {
    Sock::open(&app.base, Auth::Token(&who.token), TransportType::Websocket).await.expect("connected")
}

async fn polling_sock(app: &TestApp, who: &Actor) -> Sock {
    Sock::open(&app.base, Auth::Token(&who.token), TransportType::Polling).await.expect("connected")
}

async fn message_count(app: &TestApp) -> i64 {
    app.state().db.count(&Sql::new("SELECT COUNT(*) FROM messages")).await.unwrap()
}

/// Waits until `who` has joined `chat_id` (the server answered `chat_joined`).
async fn join(s: &mut Sock, chat_id: &str) {
    s.emit("join_chat", json!(chat_id)).await;
    assert_eq!(s.next("chat_joined").await, json!({"chatId": chat_id, "success": true}));
}

#[tokio::test]
async fn handshake_requires_a_valid_token_of_an_active_user() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;

    let refused = Sock::open(&app.base, Auth::None, TransportType::Polling).await.err();
    assert_eq!(refused.as_deref(), Some("Authentication token required"));
    let refused = Sock::open(&app.base, Auth::Token("not-a-jwt"), TransportType::Websocket).await.err();
    assert_eq!(refused.as_deref(), Some("Authentication failed"));
    let refresh = app.state().tokens.issue(&asha.user).refresh;
    let refused = Sock::open(&app.base, Auth::Token(&refresh), TransportType::Websocket).await.err();
    assert_eq!(refused.as_deref(), Some("Authentication failed"), "a refresh token is not an access token");

    // `auth.token` (what the frontend sends) over polling, the header over WebSocket.
    polling_sock(&app, &asha).await.close().await;
    let header = Sock::open(&app.base, Auth::Header(&asha.token), TransportType::Websocket).await;
    header.expect("Authorization header accepted").close().await;

    let mut gone = asha.user.clone();
    gone.is_active = false;
    nyaya::store::users::save(&app.state().db, &mut gone).await.unwrap();
    nyaya::service::people::user_changed(app.state(), &gone.id, []).await;
    let refused = Sock::open(&app.base, Auth::Token(&asha.token), TransportType::Polling).await.err();
    assert_eq!(refused.as_deref(), Some("User not found or inactive"));
    let stranger = User::new("Ghost".into(), unique_email("ghost"), "-".into(), Role::Citizen);
    let token = app.state().tokens.issue(&stranger).access;
    let refused = Sock::open(&app.base, Auth::Token(&token), TransportType::Websocket).await.err();
    assert_eq!(refused.as_deref(), Some("User not found or inactive"));
}

#[tokio::test]
async fn engine_io_handshake_carries_the_configured_timings_and_cors() {
    let app = spawn().await;
    let origin = "http://localhost:5174";
    let res =
        app.client.get(app.url("/socket.io/?EIO=4&transport=polling")).header("Origin", origin).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], origin);
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    let body = res.text().await.unwrap();
    let open: Value = serde_json::from_str(body.strip_prefix('0').expect("an Engine.IO open packet")).unwrap();
    assert_eq!(open["pingInterval"], 25000);
    assert_eq!(open["pingTimeout"], 60000);
    assert_eq!(open["maxPayload"], 1_000_000);
    assert_eq!(open["upgrades"], json!(["websocket"]));
}

#[tokio::test]
async fn chat_over_sockets_is_stored_acknowledged_delivered_and_read() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let (_, chat_id) = connect(&app, &asha, &ravi).await;
    let mut a = sock(&app, &asha).await;
    let mut r = polling_sock(&app, &ravi).await;
    join(&mut a, &chat_id).await;

    // A warm cached list of the lawyer, which a socket message must invalidate.
    let list = "/api/lawyers/connected-citizens";
    app.get(list, ravi.t()).await.assert_status(200);
    assert_eq!(app.get(list, ravi.t()).await.headers["x-cache"], "HIT");

    a.emit("send_message", json!({"chatId": chat_id, "content": "Namaste, about the lease", "tempId": "tmp-1"})).await;
    let sent = a.next("message_sent").await;
    assert_eq!(sent["success"], true);
    assert_eq!(sent["chatId"], json!(chat_id));
    assert_eq!(sent["tempId"], "tmp-1");
    assert_eq!(sent["_id"], sent["messageId"]);
    assert_eq!(sent["content"], "Namaste, about the lease");
    assert_eq!(sent["messageType"], "text");
    assert_eq!(sent["sender"], json!({"_id": asha.id(), "name": "Asha", "role": "citizen"}));
    // The sender's own copy in the room echoes the tempId.
    let echoed = a.next("new_message").await;
    assert_eq!(echoed["_id"], sent["messageId"]);
    assert_eq!(echoed["tempId"], "tmp-1");
    // Stored before the acknowledgement: it is in the history right away.
    let history = app.get(&format!("/api/chats/{chat_id}/messages"), ravi.t()).await;
    history.assert_status(200);
    assert_eq!(history.data()["messages"][0]["_id"], sent["messageId"]);
    assert_eq!(history.data()["messages"][0]["content"], "Namaste, about the lease");
    let listed = app.get(list, ravi.t()).await;
    assert_eq!(listed.headers["x-cache"], "MISS", "the socket write invalidated the lawyer's list");
    assert_eq!(listed.data()["connections"][0]["chatInfo"]["unreadCount"], 1);

    // The lawyer joins: the citizen learns the messages were read; the lawyer gets the room's
    // next message.
    join(&mut r, &chat_id).await;
    assert_eq!(a.next("messages_read").await, json!({"chatId": chat_id, "readBy": ravi.id()}));
    assert_eq!(app.get(list, ravi.t()).await.data()["connections"][0]["chatInfo"]["unreadCount"], 0);
    r.emit("send_message", json!({"chatId": chat_id, "content": "Happy to help", "tempId": 7})).await;
    let got = a.next("new_message").await;
    assert_eq!(got["content"], "Happy to help");
    assert_eq!(got["sender"], json!({"_id": ravi.id(), "name": "Ravi", "role": "lawyer"}));
    assert_eq!(r.next("message_sent").await["tempId"], "7");
    assert_eq!(r.next("new_message").await["tempId"], "7");

    // Typing in both forms; the sender's identity comes from the socket, not the payload.
    a.emit("start_typing", json!({"chatId": chat_id, "userId": ravi.id(), "userName": "Someone else"})).await;
    assert_eq!(r.next("typing_start").await, json!({"chatId": chat_id, "userId": asha.id(), "userName": "Asha"}));
    assert_eq!(r.next("user_typing").await, json!({"chatId": chat_id, "userId": asha.id(), "name": "Asha"}));
    a.emit("typing_stop", json!(chat_id)).await;
    assert_eq!(r.next("typing_stop").await, json!({"chatId": chat_id, "userId": asha.id(), "userName": "Asha"}));
    assert_eq!(r.next("user_stop_typing").await, json!({"chatId": chat_id, "userId": asha.id()}));
    assert!(!a.has("typing_start"), "the typist does not hear itself");

    // Read receipts for listed messages.
    let id = got["_id"].as_str().unwrap().to_string();
    a.emit("mark_messages_read", json!({"chatId": chat_id, "messageIds": [id]})).await;
    assert_eq!(r.next("messages_read").await, json!({"chatId": chat_id, "readBy": asha.id(), "messageIds": [id]}));
    let reads = app
        .state()
        .db
        .count(
            &Sql::new("SELECT COUNT(*) FROM message_reads WHERE message_id = $1 AND user_id = $2")
                .arg(&id)
                .arg(&asha.user.id),
        )
        .await
        .unwrap();
    assert_eq!(reads, 1);

    assert_eq!(message_count(&app).await, 2);
    a.close().await;
    r.close().await;
}

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v.as_object().expect("an object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

/// `message_sent` is the stored message itself (issue 14): the frontend's `ChatWindow.jsx`
/// replaces its optimistic copy (same `chatId` and `tempId`) with `{...payload, status}` and
/// renders `sender._id`, `content`, `timestamp`, `isRead.length`; a message nested under a key
/// blanked the page. Its fields are the sender's own `new_message`, plus `success`,
/// `messageId` and a `tempId` that is present even when the client sent none (the frontend
/// compares `tempId`s, and history messages have none: an absent one would match them all).
#[tokio::test]
async fn message_sent_is_the_message_itself_with_the_fields_of_new_message() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let (_, chat_id) = connect(&app, &asha, &ravi).await;
    let mut a = polling_sock(&app, &asha).await;
    let mut r = sock(&app, &ravi).await;
    join(&mut a, &chat_id).await;
    join(&mut r, &chat_id).await;

    a.emit("send_message", json!({"chatId": chat_id, "content": "About the hearing", "tempId": "1718000000000"})).await;
    let sent = a.next("message_sent").await;
    let fields = "_id attachments chatId content fileData isDeleted isRead messageId messageType sender success tempId \
                  timestamp";
    assert_eq!(keys(&sent), fields.split_whitespace().collect::<Vec<_>>(), "message_sent: {sent}");
    let id = sent["_id"].as_str().expect("_id is a string");
    assert_eq!(sent["messageId"], json!(id));
    assert_eq!(sent["success"], true);
    assert_eq!(sent["chatId"], json!(chat_id));
    assert_eq!(sent["tempId"], "1718000000000");
    assert_eq!(sent["content"], "About the hearing");
    assert_eq!(sent["messageType"], "text");
    assert_eq!(sent["fileData"], Value::Null);
    assert_eq!(sent["sender"], json!({"_id": asha.id(), "name": "Asha", "role": "citizen"}));
    assert_eq!(sent["isRead"], json!([]));
    assert_eq!(sent["attachments"], json!([]));
    assert_eq!(sent["isDeleted"], false);
    let timestamp = sent["timestamp"].as_str().expect("timestamp is a string");
    chrono::DateTime::parse_from_rfc3339(timestamp).expect("an ISO-8601 timestamp");

    // Exactly the sender's own `new_message`, plus `success` and `messageId`; the other side
    // gets the same message.
    let own = a.next("new_message").await;
    let mut without_ack = sent.clone();
    let ack = without_ack.as_object_mut().unwrap();
    ack.remove("success");
    ack.remove("messageId");
    assert_eq!(without_ack, own);
    assert_eq!(r.next("new_message").await, own);

    // The frontend's reducer over a history message and its optimistic copy: the copy becomes
    // the stored message and every entry still has a sender to render.
    let history = app.get(&format!("/api/chats/{chat_id}"), asha.t()).await;
    let loaded = history.data()["chat"]["messages"][0].clone();
    assert_eq!(loaded["_id"], json!(id));
    let optimistic = json!({"tempId": "1718000000000", "chatId": chat_id, "content": "About the hearing",
        "sender": {"_id": asha.id(), "name": "Asha", "role": "citizen"}, "status": "sending"});
    let list: Vec<Value> = [loaded, optimistic]
        .into_iter()
        .map(|m| {
            if m.get("tempId") == sent.get("tempId") {
                let mut replaced = sent.clone();
                replaced["status"] = json!("sent");
                replaced
            } else {
                m
            }
        })
        .collect();
    assert!(list.iter().all(|m| m["sender"]["_id"].is_string()), "{list:?}");
    assert_eq!(list[1]["_id"], json!(id));
    assert_eq!(list[1]["status"], "sent");

    // Without a tempId the acknowledgement still names it (as null).
    r.emit("send_message", json!({"chatId": chat_id, "content": "Noted"})).await;
    let sent = r.next("message_sent").await;
    assert_eq!(sent.get("tempId"), Some(&Value::Null), "message_sent: {sent}");
    assert_eq!(sent["content"], "Noted");
    assert_eq!(sent["sender"], json!({"_id": ravi.id(), "name": "Ravi", "role": "lawyer"}));
    assert!(r.next("new_message").await.get("tempId").is_none(), "no tempId is invented for new_message");
    a.close().await;
    r.close().await;
}

/// A file message is rendered by the frontend's `FileMessage.jsx` on both sides and again from
/// the history: it calls `fileData.mimeType.startsWith`, renders `originalName` and `size` as
/// text and opens `url` in a new tab. So a file message needs a `mimeType`, its other fields
/// have their types, and a `url` is a web address or a path on this server (never
/// `javascript:`); anything else is refused before it is stored or delivered.
#[tokio::test]
async fn file_messages_carry_the_file_fields_the_chat_page_renders() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let (_, chat_id) = connect(&app, &asha, &ravi).await;
    let mut a = sock(&app, &asha).await;
    let mut r = polling_sock(&app, &ravi).await;
    join(&mut a, &chat_id).await;
    join(&mut r, &chat_id).await;

    let file = |extra: Value| {
        let mut data =
            json!({"ipfsHash": "QmHash", "originalName": "lease.pdf", "mimeType": "application/pdf", "size": 2048});
        for (k, v) in extra.as_object().unwrap() {
            data[k] = v.clone();
        }
        json!({"chatId": chat_id, "messageType": "file", "fileData": data})
    };
    for (payload, error) in [
        (file(json!({"mimeType": null})), "File data is required for file messages"),
        (file(json!({"mimeType": "  "})), "File data is required for file messages"),
        (file(json!({"mimeType": 5})), "Invalid file data"),
        (file(json!({"originalName": {"a": 1}})), "Invalid file data"),
        (file(json!({"size": "big"})), "Invalid file data"),
        (file(json!({"size": -1})), "Invalid file data"),
        (file(json!({"url": "javascript:alert(document.cookie)"})), "Invalid file data"),
        (file(json!({"url": "//evil.example/x"})), "Invalid file data"),
        (file(json!({"url": "/\\evil.example/x"})), "Invalid file data"),
        (file(json!({"url": " javascript:alert(1)"})), "Invalid file data"),
        (file(json!({"url": 7})), "Invalid file data"),
        (file(json!({"documentId": ["x"]})), "Invalid file data"),
    ] {
        a.emit("send_message", payload.clone()).await;
        assert_eq!(a.next("error").await, json!({"message": error}), "{payload}");
    }
    assert_eq!(message_count(&app).await, 0, "nothing refused was stored");
    assert!(!r.has("new_message"), "nothing refused was delivered");

    // What the chat upload answers (a path on this server) and a web address both pass.
    for url in ["/api/documents/665f1c2e9b1e8a3f5c000123/download", "https://gateway.pinata.cloud/ipfs/QmHash"] {
        a.emit("send_message", file(json!({"url": url}))).await;
        let sent = a.next("message_sent").await;
        assert_eq!(sent["fileData"]["url"], url);
        let got = r.next("new_message").await;
        assert_eq!(got["messageType"], "file");
        assert_eq!(
            got["fileData"],
            json!({"ipfsHash": "QmHash", "originalName": "lease.pdf", "mimeType": "application/pdf", "size": 2048, "url": url})
        );
    }
    assert_eq!(message_count(&app).await, 2);
    a.close().await;
    r.close().await;
}

#[tokio::test]
async fn chat_access_and_message_rules_are_enforced_on_every_send() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let mallory = citizen(&app, "Mallory").await;
    let (_, chat_id) = connect(&app, &asha, &ravi).await;
    let mut a = sock(&app, &asha).await;
    let mut m = polling_sock(&app, &mallory).await;
    join(&mut a, &chat_id).await;

    m.emit("join_chat", json!(chat_id)).await;
    assert_eq!(m.next("error").await, json!({"message": "Access denied to chat room"}));
    m.emit("join_chat", json!("direct_nonsense")).await;
    assert_eq!(m.next("error").await, json!({"message": "Access denied to chat room"}));
    m.emit("send_message", json!({"chatId": chat_id, "content": "let me in"})).await;
    assert_eq!(m.next("error").await, json!({"message": "Chat not found or access denied"}));
    // A client-supplied identity changes nothing.
    m.emit("authenticate", json!({"userId": asha.id(), "userName": "Asha", "userRole": "citizen"})).await;
    m.emit("send_message", json!({"chatId": chat_id, "content": "it is me, Asha"})).await;
    assert_eq!(m.next("error").await, json!({"message": "Chat not found or access denied"}));
    // Typing into a chat one is not part of reaches nobody.
    m.emit("typing_start", json!(chat_id)).await;
    m.emit("mark_messages_read", json!({"chatId": chat_id})).await;

    for (payload, error) in [
        (json!({"chatId": chat_id, "content": "   "}), "Message content cannot be empty"),
        (json!({"chatId": chat_id}), "Message content cannot be empty"),
        (json!({"chatId": chat_id, "content": "x".repeat(1001)}), "Message too long. Maximum 1000 characters."),
        (
            json!({"chatId": chat_id, "messageType": "file", "fileData": {"url": "x"}}),
            "File data is required for file messages",
        ),
    ] {
        a.emit("send_message", payload).await;
        assert_eq!(a.next("error").await, json!({"message": error}));
    }
    assert_eq!(message_count(&app).await, 0, "nothing refused was stored");

    // A file message keeps only the declared fileData keys.
    let file = json!({"ipfsHash": "QmHash", "originalName": "lease.pdf", "mimeType": "application/pdf", "size": 10, "extra": 1});
    a.emit("send_message", json!({"chatId": chat_id, "messageType": "file", "fileData": file})).await;
    let sent = a.next("message_sent").await;
    assert_eq!(sent["content"], "File attachment");
    assert_eq!(sent["messageType"], "file");
    assert_eq!(
        sent["fileData"],
        json!({"ipfsHash": "QmHash", "originalName": "lease.pdf", "mimeType": "application/pdf", "size": 10})
    );

    // 30 messages a minute per user; the refused ones above did not count.
    for n in 1..30 {
        a.emit("send_message", json!({"chatId": chat_id, "content": format!("message {n}")})).await;
        a.next("message_sent").await;
    }
    a.emit("send_message", json!({"chatId": chat_id, "content": "one too many"})).await;
    assert_eq!(a.next("error").await, json!({"message": "Message rate limit exceeded. Please slow down."}));
    assert_eq!(message_count(&app).await, 30);

    assert!(
        !a.has("typing_start") && !a.has("user_typing") && !a.has("messages_read"),
        "outsider relays reached the room"
    );
    a.close().await;
    m.close().await;
}

#[tokio::test]
async fn presence_follows_the_first_and_last_socket_and_reaches_chat_partners_only() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let bina = citizen(&app, "Bina").await;
    connect(&app, &asha, &ravi).await;
    let mut r = sock(&app, &ravi).await;
    let mut b = sock(&app, &bina).await;

    let a1 = sock(&app, &asha).await;
    assert_eq!(r.next("user_online").await, json!({"userId": asha.id()}));
    assert_eq!(r.next("user_status_update").await, json!({"userId": asha.id(), "status": "online"}));
    let a2 = polling_sock(&app, &asha).await;
    a1.close().await;
    // Status changes are relayed to partners; arriving after the second tab opened and the
    // first closed, this one shows neither produced presence events.
    a2.emit("update_status", json!("away")).await;
    assert_eq!(r.next("user_status_update").await, json!({"userId": asha.id(), "status": "away"}));
    assert!(!r.has("user_online") && !r.has("user_offline"), "another tab is not a presence change");
    a2.close().await;
    assert_eq!(r.next("user_offline").await, json!({"userId": asha.id()}));
    assert_eq!(r.next("user_status_update").await, json!({"userId": asha.id(), "status": "offline"}));

    // Bina shares no chat with Asha: a relay to Bina after all of the above is the first
    // thing she receives.
    let (_, chat) = connect(&app, &bina, &ravi).await;
    r.emit("initiate-call", json!({"type": "audio", "receiverId": bina.id(), "chatId": chat})).await;
    b.next("incoming-call").await;
    assert!(!b.has("user_online") && !b.has("user_offline") && !b.has("user_status_update"));
    r.close().await;
    b.close().await;
}

#[tokio::test]
async fn http_writes_reach_the_target_user_room_only() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let meera = lawyer(&app, "Meera", true).await;
    let mut r = polling_sock(&app, &ravi).await;
    let mut m = sock(&app, &meera).await;
    let mut a = sock(&app, &asha).await;

    let reply = app
        .post(
            &format!("/api/citizens/direct-connection-request/{}", ravi.id()),
            asha.t(),
            json!({"message": "Need advice"}),
        )
        .await;
    reply.assert_status(200);
    let got = r.next("new_connection_request").await;
    assert_eq!(got["connectionId"], reply.data()["connectionId"]);
    assert_eq!(got["citizen"], json!({"_id": asha.id(), "name": "Asha", "email": asha.user.email}));
    assert_eq!(got["message"], "Need advice");
    // The citizen's own dashboard updates arrive on the citizen's sockets.
    assert_eq!(a.next("new_activity").await["type"], "connection");
    a.next("dashboard_stats_updated").await;

    let id = reply.data()["connectionId"].as_str().unwrap();
    app.post(&format!("/api/lawyers/accept-connection-request/{id}"), ravi.t(), json!({})).await.assert_status(200);
    let accepted = a.next("connection_request_accepted").await;
    assert_eq!(accepted["connectionId"], json!(id));
    assert_eq!(accepted["chatId"], json!(direct_chat_id(&asha, &ravi)));
    // Meera saw none of it: her first event is a later one addressed to her.
    app.post(
        &format!("/api/citizens/direct-connection-request/{}", meera.id()),
        asha.t(),
        json!({"message": "Second opinion"}),
    )
    .await
    .assert_status(200);
    assert_eq!(m.next("new_connection_request").await["message"], "Second opinion");
    assert!(!m.has("connection_request_accepted") && !m.has("new_activity"));
    for s in [r, m, a] {
        s.close().await;
    }
}

#[tokio::test]
async fn deactivating_a_user_disconnects_their_sockets() {
    let app = spawn().await;
    let root = admin(&app).await;
    let asha = citizen(&app, "Asha").await;
    let mut ws = sock(&app, &asha).await;
    let mut poll = polling_sock(&app, &asha).await;

    app.patch(&format!("/api/admin/users/{}/toggle-status", asha.id()), root.t(), Some(json!({"isActive": false})))
        .await
        .assert_status(200);
    ws.next("disconnect").await;
    poll.next("disconnect").await;
    let refused = Sock::open(&app.base, Auth::Token(&asha.token), TransportType::Websocket).await.err();
    assert_eq!(refused.as_deref(), Some("User not found or inactive"));
}

#[tokio::test]
async fn connection_requests_over_sockets_use_the_http_rules() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let novice = lawyer(&app, "Novice", false).await;
    let mut a = sock(&app, &asha).await;
    let mut r = polling_sock(&app, &ravi).await;

    r.emit("send_connection_request", json!({"lawyerId": ravi.id(), "message": "hi"})).await;
    assert_eq!(
        r.next("connection_request_error").await,
        json!({"message": "User role lawyer is not authorized to access this route"})
    );
    a.emit("send_connection_request", json!({"lawyerId": novice.id(), "message": "hi"})).await;
    assert_eq!(a.next("connection_request_error").await, json!({"message": "Lawyer not found or not verified"}));
    a.emit("send_connection_request", json!({"lawyerId": ravi.id(), "message": "  "})).await;
    assert_eq!(a.next("connection_request_error").await, json!({"message": "Message is required"}));

    a.emit("send_connection_request", json!({"lawyerId": ravi.id(), "message": "Please review my lease"})).await;
    let sent = a.next("connection_request_sent").await;
    assert_eq!(sent["success"], true);
    let id = sent["connectionId"].as_str().unwrap().to_string();
    let got = r.next("new_connection_request").await;
    assert_eq!(got["connectionId"], json!(id));
    assert_eq!(got["citizen"]["_id"], json!(asha.id()));
    a.emit("send_connection_request", json!({"lawyerId": ravi.id(), "message": "again"})).await;
    assert_eq!(
        a.next("connection_request_error").await,
        json!({"message": "You already have a pending connection request with this lawyer"})
    );

    // Only the addressed, verified lawyer may answer.
    a.emit("respond_to_connection_request", json!({"connectionId": id, "action": "accept"})).await;
    let http_refusal = nyaya::http::extract::require_verified_lawyer(&asha.user).unwrap_err().message;
    assert_eq!(a.next("connection_response_error").await["message"], json!(http_refusal));
    r.emit("respond_to_connection_request", json!({"connectionId": id, "action": "maybe"})).await;
    assert_eq!(
        r.next("connection_response_error").await,
        json!({"message": "Invalid action. Use \"accept\" or \"reject\""})
    );
    r.emit(
        "respond_to_connection_request",
        json!({"connectionId": id, "action": "accept", "responseMessage": "Welcome"}),
    )
    .await;
    let chat_id = direct_chat_id(&asha, &ravi);
    assert_eq!(
        r.next("connection_response_success").await,
        json!({"action": "accepted", "connectionId": id, "chatId": chat_id})
    );
    let accepted = a.next("connection_request_accepted").await;
    assert_eq!(accepted["chatId"], json!(chat_id));
    assert_eq!(accepted["responseMessage"], "Welcome");
    // The chat is active at once (the original left it pending) and usable over sockets.
    let chat = app.get(&format!("/api/chats/{chat_id}"), asha.t()).await;
    chat.assert_status(200);
    assert_eq!(chat.data()["chat"]["status"], "active");
    join(&mut a, &chat_id).await;
    a.close().await;
    r.close().await;
}

/// A case assigned (or not) to a lawyer, written directly.
async fn insert_case(app: &TestApp, citizen: &Actor, lawyer: Option<&Actor>) -> String {
    let id = Id::new().to_string();
    let now = nyaya::time::now_iso();
    let sql = Sql::new(
        "INSERT INTO cases (id, case_type, title, description, category, status, citizen_id, assigned_lawyer_id, \
         created_at, updated_at) VALUES ($1, 'query', 'Unpaid wages', 'My employer has not paid me', 'labor', $2, $3, $4, $5, $5)",
    )
    .arg(&id)
    .arg(if lawyer.is_some() { "assigned" } else { "pending" })
    .arg(&citizen.user.id)
    .arg(lawyer.map(|l| l.user.id.clone()))
    .arg(&now);
    app.state().db.exec(&sql).await.unwrap();
    id
}

async fn chat_count(app: &TestApp) -> i64 {
    app.state().db.count(&Sql::new("SELECT COUNT(*) FROM chats")).await.unwrap()
}

#[tokio::test]
async fn case_events_check_the_case_before_creating_its_chat() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let meera = lawyer(&app, "Meera", true).await;
    let assigned = insert_case(&app, &asha, Some(&ravi)).await;
    let open = insert_case(&app, &asha, None).await;
    let mut a = sock(&app, &asha).await;
    let mut r = sock(&app, &ravi).await;
    let mut m = polling_sock(&app, &meera).await;

    // Meera is not assigned: claiming the case for herself, or creating its chat, is refused.
    m.emit("case_assigned", json!({"citizenId": asha.id(), "lawyerId": meera.id(), "caseType": "query", "caseId": assigned, "caseData": {}})).await;
    assert_eq!(m.next("error").await, json!({"message": "Case is not assigned to this lawyer"}));
    m.emit("case_assigned", json!({"caseType": "query", "caseId": assigned, "caseData": {}})).await;
    assert_eq!(m.next("error").await, json!({"message": "Access denied"}));
    a.emit("case_assigned", json!({"lawyerId": ravi.id(), "caseType": "query", "caseId": open, "caseData": {}})).await;
    assert_eq!(a.next("error").await, json!({"message": "Case is not assigned to a lawyer"}));
    assert_eq!(chat_count(&app).await, 0);

    a.emit(
        "case_assigned",
        json!({"citizenId": meera.id(), "lawyerId": ravi.id(), "caseType": "query", "caseId": assigned, "caseData": {"title": "Unpaid wages"}}),
    )
    .await;
    let expected = json!({"title": "Unpaid wages", "chatId": format!("query_{assigned}"), "chatCreated": true});
    assert_eq!(r.next("new_case_assigned").await, expected);
    // The chat's participants come from the case, not from the payload's citizenId.
    let chat = app.get(&format!("/api/chats/query_{assigned}"), asha.t()).await;
    chat.assert_status(200);
    let mut members: Vec<String> = chat.data()["chat"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["user"]["_id"].as_str().unwrap().to_string())
        .collect();
    members.sort();
    let mut expected_members = vec![asha.id(), ravi.id()];
    expected_members.sort();
    assert_eq!(members, expected_members);

    // request_responded: relayed to a related user; the chat is the same one.
    r.emit(
        "request_responded",
        json!({"targetUserId": asha.id(), "responseData": {"action": "accepted", "queryId": assigned}, "createChat": true,
               "caseType": "query", "caseId": assigned, "lawyerId": ravi.id()}),
    )
    .await;
    let response = a.next("request_response").await;
    assert_eq!(response["chatId"], json!(format!("query_{assigned}")));
    assert_eq!(response["chatCreated"], true);
    assert_eq!(response["queryId"], json!(assigned));
    assert_eq!(chat_count(&app).await, 1);
    m.emit("request_responded", json!({"targetUserId": asha.id(), "responseData": {"action": "rejected"}})).await;
    assert_eq!(m.next("error").await, json!({"message": "Access denied"}));

    // Relays of requests go only to related users.
    r.emit("lawyer_request_sent", json!({"citizenId": asha.id(), "requestData": {"queryId": assigned}})).await;
    let request = a.next("new_lawyer_request").await;
    assert_eq!(request["queryId"], json!(assigned));
    assert!(request["timestamp"].is_string());
    m.emit("citizen_request_sent", json!({"lawyerId": ravi.id(), "requestData": {}})).await;
    assert_eq!(m.next("error").await, json!({"message": "Access denied"}));
    m.emit("consultation_request", json!({"lawyerId": ravi.id(), "consultationData": {"title": "x"}})).await;
    assert_eq!(m.next("error").await, json!({"message": "Access denied"}));
    a.emit("consultation_request", json!({"lawyerId": ravi.id(), "consultationData": {"title": "Wages"}})).await;
    let consult = r.next("new_consultation_request").await;
    assert_eq!(consult, json!({"title": "Wages", "from": {"_id": asha.id(), "name": "Asha", "role": "citizen"}}));
    assert!(!r.has("new_citizen_request"));
    for s in [a, r, m] {
        s.close().await;
    }
}

#[tokio::test]
async fn direct_message_requests_open_a_pending_chat_with_a_verified_lawyer() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let novice = lawyer(&app, "Novice", false).await;
    let mut a = sock(&app, &asha).await;
    let mut r = polling_sock(&app, &ravi).await;

    a.emit("direct_message_request", json!({"lawyerId": novice.id()})).await;
    assert_eq!(a.next("error").await, json!({"message": "Lawyer not found or not verified"}));
    assert_eq!(chat_count(&app).await, 0);

    a.emit("direct_message_request", json!({"lawyerId": ravi.id()})).await;
    let chat_id = direct_chat_id(&asha, &ravi);
    assert_eq!(a.next("direct_message_request_sent").await, json!({"success": true, "chatId": chat_id}));
    let got = r.next("new_direct_message_request").await;
    assert_eq!(got["from"], json!({"_id": asha.id(), "name": "Asha", "role": "citizen"}));
    assert_eq!(got["chatId"], json!(chat_id));
    assert_eq!(got["message"], "New message request");
    let chat = app.get(&format!("/api/chats/{chat_id}"), ravi.t()).await;
    assert_eq!(chat.data()["chat"]["status"], "pending");

    // The frontend's `chat:request` is answered through its acknowledgement.
    let (tx, mut rx) = mpsc::unbounded_channel();
    a.client
        .emit_with_ack(
            "chat:request",
            json!({"lawyerId": ravi.id(), "content": "Can we talk?"}),
            PATIENCE,
            move |p, _| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(first(p));
                }
                .boxed()
            },
        )
        .await
        .unwrap();
    // rust_socketio hands acknowledgement arguments over as the raw argument list.
    let acked = tokio::time::timeout(PATIENCE, rx.recv()).await.unwrap().unwrap();
    assert_eq!(acked, json!([{"room": chat_id, "message": "Can we talk?"}]));
    assert_eq!(r.next("new_direct_message_request").await["message"], "Can we talk?");
    assert_eq!(chat_count(&app).await, 1);
    a.close().await;
    r.close().await;
}

#[tokio::test]
async fn calls_relay_between_chat_participants_only() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let mallory = citizen(&app, "Mallory").await;
    let (_, chat_id) = connect(&app, &asha, &ravi).await;
    let mut a = sock(&app, &asha).await;
    let mut r = polling_sock(&app, &ravi).await;
    let mut m = sock(&app, &mallory).await;
    join(&mut a, &chat_id).await;
    join(&mut r, &chat_id).await;

    m.emit("initiate-call", json!({"type": "video", "receiverId": asha.id(), "chatId": chat_id})).await;
    assert_eq!(m.next("error").await, json!({"message": "Access denied"}));
    m.emit("webrtc_offer", json!({"callId": "c1", "targetUserId": asha.id(), "offer": {"sdp": "x"}})).await;
    assert_eq!(m.next("error").await, json!({"message": "Access denied"}));
    m.emit("end-call", json!({"chatId": chat_id, "callType": "video"})).await;
    assert_eq!(m.next("error").await, json!({"message": "Access denied"}));

    r.emit(
        "initiate-call",
        json!({"type": "video", "receiverId": asha.id(), "chatId": chat_id, "caller": {"id": mallory.id()}}),
    )
    .await;
    let incoming = a.next("incoming-call").await;
    assert_eq!(incoming["caller"], json!({"id": ravi.id(), "name": "Ravi", "role": "lawyer"}));
    assert_eq!(incoming["type"], "video");
    a.emit("accept-call", json!({"chatId": chat_id, "callType": "video"})).await;
    let accepted = r.next("call-accepted").await;
    assert_eq!(accepted["acceptedBy"], json!({"id": asha.id(), "name": "Asha", "role": "citizen"}));
    r.emit("offer", json!({"chatId": chat_id, "offer": {"sdp": "v=0"}})).await;
    assert_eq!(a.next("offer").await, json!({"offer": {"sdp": "v=0"}, "chatId": chat_id}));

    r.emit("webrtc_offer", json!({"callId": "call-9", "targetUserId": asha.id(), "callType": "audio", "chatId": chat_id, "offer": {"sdp": 1}}))
        .await;
    let offer = a.next("webrtc_offer").await;
    assert_eq!(offer["fromUserId"], json!(ravi.id()));
    assert_eq!(offer["fromUserName"], "Ravi");
    a.emit("webrtc_signal", json!({"callId": "call-9", "signal": {"candidate": "c"}})).await;
    assert_eq!(
        r.next("webrtc_signal").await,
        json!({"callId": "call-9", "signal": {"candidate": "c"}, "fromUserId": asha.id()})
    );
    m.emit("webrtc_call_end", json!({"callId": "call-9"})).await;
    assert_eq!(m.next("error").await, json!({"message": "Access denied"}));
    a.emit("webrtc_call_end", json!({"callId": "call-9"})).await;
    assert_eq!(r.next("webrtc_call_end").await, json!({"callId": "call-9", "fromUserId": asha.id()}));
    assert!(!m.has("webrtc_call_end") && !m.has("incoming-call") && !m.has("offer"));
    for s in [a, r, m] {
        s.close().await;
    }
}

/// The acknowledgement of a `chat:request` (rust_socketio hands over the raw argument list).
async fn chat_request(s: &Sock, lawyer_id: String, content: &str) -> Value {
    let (tx, mut rx) = mpsc::unbounded_channel();
    s.client
        .emit_with_ack("chat:request", json!({"lawyerId": lawyer_id, "content": content}), PATIENCE, move |p, _| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(first(p));
            }
            .boxed()
        })
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, rx.recv()).await.unwrap().unwrap()
}

#[tokio::test]
async fn direct_chat_requests_over_sockets_follow_the_http_rule() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let bina = citizen(&app, "Bina").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let meera = lawyer(&app, "Meera", true).await;
    // Flagged verified while its verification is still pending.
    let mut half = lawyer(&app, "Half", true).await;
    half.user.lawyer_details.as_mut().unwrap()["verificationStatus"] = json!("pending");
    nyaya::store::users::save(&app.state().db, &mut half.user).await.unwrap();
    nyaya::service::people::user_changed(app.state(), &half.user.id, []).await;
    let mut a = sock(&app, &asha).await;
    let mut r = polling_sock(&app, &ravi).await;
    let mut m = sock(&app, &meera).await;

    // One refusal for every ineligible target, existing or not: a lawyer cannot open a chat
    // with a lawyer or a citizen, a citizen only with an active, fully verified lawyer.
    let refused = json!({"message": "Lawyer not found or not verified"});
    for (s, targets) in
        [(&mut r, [meera.id(), asha.id()].as_slice()), (&mut a, &[bina.id(), half.id(), Id::new().to_string()])]
    {
        for target in targets {
            s.emit("direct_message_request", json!({"lawyerId": target})).await;
            assert_eq!(s.next("error").await, refused, "to {target}");
        }
    }
    assert_eq!(
        chat_request(&r, meera.id(), "Colleague?").await,
        json!([{"room": null, "message": "Lawyer not found or not verified"}])
    );
    assert_eq!(
        chat_request(&a, half.id(), "Hello?").await,
        json!([{"room": null, "message": "Lawyer not found or not verified"}])
    );
    assert_eq!(chat_count(&app).await, 0);

    // The one allowed direction still opens the pending chat.
    assert_eq!(
        chat_request(&a, meera.id(), "Can we talk?").await,
        json!([{"room": direct_chat_id(&asha, &meera), "message": "Can we talk?"}])
    );
    let got = m.next("new_direct_message_request").await;
    assert_eq!(got["from"], json!({"_id": asha.id(), "name": "Asha", "role": "citizen"}));
    assert_eq!(chat_count(&app).await, 1);
    assert!(!m.has("new_direct_message_request"), "a refused request reached Meera");
    for s in [a, r, m] {
        s.close().await;
    }
}

#[tokio::test]
async fn a_pending_chat_is_no_relation_for_messages_calls_or_relays() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let bina = citizen(&app, "Bina").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let mut a = sock(&app, &asha).await;
    let mut b = polling_sock(&app, &bina).await;
    let mut r = polling_sock(&app, &ravi).await;

    a.emit("direct_message_request", json!({"lawyerId": ravi.id(), "message": "Please call me"})).await;
    let chat_id = direct_chat_id(&asha, &ravi);
    assert_eq!(a.next("direct_message_request_sent").await, json!({"success": true, "chatId": chat_id}));
    r.next("new_direct_message_request").await;
    // Both may open the pending chat (the lawyer reads the request there)...
    join(&mut a, &chat_id).await;
    join(&mut r, &chat_id).await;

    // ...but nothing is stored in it before the lawyer accepts, from either side.
    let pending = json!({"message": "This chat request has not been accepted yet"});
    for s in [&mut a, &mut r] {
        s.emit("send_message", json!({"chatId": chat_id, "content": "hello?"})).await;
        assert_eq!(s.next("error").await, pending);
    }
    assert_eq!(message_count(&app).await, 0);

    // Nor does it let the citizen ring the lawyer or relay anything to them.
    let denied = json!({"message": "Access denied"});
    for (event, payload) in [
        ("initiate-call", json!({"type": "video", "receiverId": ravi.id(), "chatId": chat_id})),
        ("offer", json!({"chatId": chat_id, "offer": {"sdp": "v=0"}})),
        ("ice-candidate", json!({"chatId": chat_id, "candidate": {"c": 1}})),
        ("end-call", json!({"chatId": chat_id, "callType": "video"})),
        ("webrtc_offer", json!({"callId": "c1", "targetUserId": ravi.id(), "offer": {"sdp": "x"}})),
        ("webrtc_ice_candidate", json!({"callId": "c1", "targetUserId": ravi.id(), "candidate": {"c": 1}})),
        ("citizen_request_sent", json!({"lawyerId": ravi.id(), "requestData": {"queryId": "q"}})),
        ("consultation_request", json!({"lawyerId": ravi.id(), "consultationData": {"title": "x"}})),
    ] {
        a.emit(event, payload).await;
        assert_eq!(a.next("error").await, denied, "{event}");
    }
    // A pending connection request relates nobody either.
    crate::connections::request(&app, &bina, &ravi, "Please take my case").await.assert_status(200);
    b.emit("webrtc_offer", json!({"callId": "c2", "targetUserId": ravi.id(), "offer": {"sdp": "x"}})).await;
    assert_eq!(b.next("error").await, denied);

    // Accepted, the chat is a relation at once (nothing remembered the pending state).
    app.post(&format!("/api/lawyers/accept-request/{chat_id}"), ravi.t(), json!({})).await.assert_status(200);
    a.emit("send_message", json!({"chatId": chat_id, "content": "Thank you"})).await;
    a.next("message_sent").await;
    assert_eq!(r.next("new_message").await["content"], "Thank you");
    a.emit("initiate-call", json!({"type": "audio", "receiverId": ravi.id(), "chatId": chat_id})).await;
    assert_eq!(r.next("incoming-call").await["caller"]["id"], json!(asha.id()));
    for event in [
        "offer",
        "ice-candidate",
        "call-ended",
        "webrtc_offer",
        "webrtc_ice_candidate",
        "new_citizen_request",
        "new_consultation_request",
    ] {
        assert!(!r.has(event), "{event} reached the lawyer");
    }
    assert_eq!(message_count(&app).await, 1);
    for s in [a, b, r] {
        s.close().await;
    }
}

#[tokio::test]
async fn socket_metrics_are_exported() {
    // Every socket test moves these series: they are read alone, around this test's socket.
    if !alone(module_path!(), "socket_metrics_are_exported") {
        return;
    }
    const OPEN: &str = "nyaya_socket_connections";
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let (_, chat_id) = connect(&app, &asha, &ravi).await;
    let before = app.metrics().await;
    let mut a = sock(&app, &asha).await;
    a.emit("send_message", json!({"chatId": chat_id, "content": "counted"})).await;
    a.next("message_sent").await;
    // The connection is counted by the server's connect handler, which runs beside the events.
    eventually("the socket to be counted", PATIENCE, async || app.metric(OPEN).await > metric(&before, OPEN)).await;
    let metrics = app.metrics().await;
    let grew = |series: &str| metric(&metrics, series) - metric(&before, series);
    assert_eq!(grew(OPEN), 1.0, "{metrics}");
    assert_eq!(grew("nyaya_chat_messages_total"), 1.0, "{metrics}");
    assert_eq!(grew("nyaya_socket_events_total{event=\"send_message\"}"), 1.0, "{metrics}");
    a.close().await;
}

#[tokio::test]
async fn stopping_the_server_closes_its_sockets_instead_of_waiting_for_them() {
    let mut app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ws = sock(&app, &asha).await;
    let poll = polling_sock(&app, &asha).await;
    let running = app.running.take().expect("running");
    // The engine connections are closed (not a socket.io disconnect), so clients reconnect
    // to another instance on their own.
    tokio::time::timeout(PATIENCE, running.stop())
        .await
        .expect("an open socket held the shutdown")
        .expect("clean stop");
    let base = app.base.clone();
    assert!(Sock::open(&base, Auth::Token(&asha.token), TransportType::Polling).await.is_err(), "still serving");
    drop((ws, poll));
}

#[tokio::test]
async fn an_unreachable_redis_leaves_the_instance_serving_its_own_sockets() {
    let app = spawn_with(&[("REDIS_URL", "redis://127.0.0.1:1")]).await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let (_, chat_id) = connect(&app, &asha, &ravi).await;
    let mut r = polling_sock(&app, &ravi).await;
    let a = sock(&app, &asha).await;
    assert_eq!(r.next("user_online").await, json!({"userId": asha.id()}));
    join(&mut r, &chat_id).await;
    a.emit("send_message", json!({"chatId": chat_id, "content": "still here"})).await;
    assert_eq!(r.next("new_message").await["content"], "still here");
    a.close().await;
    r.close().await;
}

// ---- two instances joined through Redis ----

#[tokio::test]
#[ignore = "needs Redis"]
async fn two_instances_share_rooms_presence_and_disconnects_through_redis() {
    let (one, two) = spawn_pair().await;
    let root = admin(&one).await;
    let asha = citizen(&one, "Asha").await;
    let ravi = lawyer(&one, "Ravi", true).await;
    let meera = lawyer(&one, "Meera", true).await;
    let (_, chat_id) = connect(&one, &asha, &ravi).await;

    let mut r = Sock::open(&two.base, Auth::Token(&ravi.token), TransportType::Polling).await.expect("ravi on two");
    let mut a = Sock::open(&one.base, Auth::Token(&asha.token), TransportType::Websocket).await.expect("asha on one");
    assert_eq!(r.next("user_online").await, json!({"userId": asha.id()}), "presence crosses instances");
    assert_eq!(r.next("user_status_update").await, json!({"userId": asha.id(), "status": "online"}));
    join(&mut a, &chat_id).await;
    join(&mut r, &chat_id).await;
    assert_eq!(a.next("messages_read").await, json!({"chatId": chat_id, "readBy": ravi.id()}));

    a.emit("send_message", json!({"chatId": chat_id, "content": "From one", "tempId": "t1"})).await;
    let sent = a.next("message_sent").await;
    assert_eq!(a.next("new_message").await["_id"], sent["messageId"], "the sender's own copy");
    assert_eq!(r.next("new_message").await["_id"], sent["messageId"]);
    r.emit("send_message", json!({"chatId": chat_id, "content": "From two"})).await;
    assert_eq!(a.next("new_message").await["content"], "From two");
    a.emit("typing_start", json!(chat_id)).await;
    assert_eq!(r.next("user_typing").await, json!({"chatId": chat_id, "userId": asha.id(), "name": "Asha"}));

    // An HTTP write on instance two reaches a socket on instance one.
    let mut m = Sock::open(&one.base, Auth::Token(&meera.token), TransportType::Websocket).await.expect("meera on one");
    two.post(
        &format!("/api/citizens/direct-connection-request/{}", meera.id()),
        asha.t(),
        json!({"message": "Across"}),
    )
    .await
    .assert_status(200);
    assert_eq!(m.next("new_connection_request").await["message"], "Across");

    // A second socket of Asha on instance two is not a presence change; deactivating her
    // through instance two closes her sockets on both instances, and only then is she offline.
    let mut a2 = Sock::open(&two.base, Auth::Token(&asha.token), TransportType::Polling).await.expect("asha on two");
    a2.emit("update_status", json!("busy")).await;
    assert_eq!(r.next("user_status_update").await, json!({"userId": asha.id(), "status": "busy"}));
    assert!(!r.has("user_online"), "a second socket on another instance announced Asha again");
    two.patch(&format!("/api/admin/users/{}/toggle-status", asha.id()), root.t(), Some(json!({"isActive": false})))
        .await
        .assert_status(200);
    a.next("disconnect").await;
    a2.next("disconnect").await;
    assert_eq!(r.next("user_offline").await, json!({"userId": asha.id()}));
    r.close().await;
    m.close().await;
}

/// The npm `socket.io-client` against two instances: `tests/js/chat-across-instances.mjs`
/// (install its dependency first: `npm ci --prefix tests/js`).
#[tokio::test]
#[ignore = "needs Redis and node"]
async fn realtime_js_clients_across_instances() {
    let (one, two) = spawn_pair().await;
    let asha = citizen(&one, "Asha").await;
    let ravi = lawyer(&one, "Ravi", true).await;
    let (_, chat_id) = connect(&one, &asha, &ravi).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js/chat-across-instances.mjs");
    let output = tokio::process::Command::new("node")
        .arg(script)
        .env("NYAYA_URL_1", &one.base)
        .env("NYAYA_URL_2", &two.base)
        .env("TOKEN_A", &asha.token)
        .env("TOKEN_B", &ravi.token)
        .env("USER_A", asha.id())
        .env("USER_B", ravi.id())
        .env("CHAT_ID", &chat_id)
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the JS scenario failed:\n{stdout}\n{stderr}");
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("a JSON result line");
    assert_eq!(result["ok"], true);
    // The script checks the payload shape of every event on arrival; these are the frontend
    // listeners it exercised.
    let listeners = "call-accepted call-ended call-rejected chat_joined incoming-call message_sent messages_read new_message \
                     typing_start typing_stop user_offline user_online user_status_update user_stop_typing user_typing";
    assert_eq!(keys(&result["checked"]), listeners.split_whitespace().collect::<Vec<_>>());

    // Everything the clients exchanged is in the chat history, on either instance.
    for app in [&one, &two] {
        let history = app.get(&format!("/api/chats/{chat_id}/messages"), asha.t()).await;
        history.assert_status(200);
        let ids: Vec<&Value> = history.data()["messages"].as_array().unwrap().iter().map(|m| &m["_id"]).collect();
        let expected: Vec<&Value> = result["messages"].as_array().unwrap().iter().collect();
        assert_eq!(ids, expected);
        let contents: Vec<&str> =
            history.data()["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
        assert_eq!(contents, ["Hello from instance one", "Hello back from instance two", "Both your tabs get this"]);
    }
}
