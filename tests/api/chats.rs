//! Chats over HTTP (docs/api.md 3.7 #1-6) and the chat service functions the Socket.IO layer
//! reuses: participants only, message rules, history pages, read receipts and the cached
//! lists they change.

use nyaya::db::{RowExt, Sql};
use nyaya::ids::Id;
use nyaya::notify::Target;
use nyaya::service::chats::{self, NewMessage};
use serde_json::json;

use crate::connections::{
    Actor, admin, assert_cache, assert_keys, citizen, connect, direct_chat_id, drain, lawyer, request,
};
use crate::documents::{file, multipart, pdf};
use crate::helpers::*;

fn text(content: &str) -> NewMessage {
    NewMessage { content: Some(content.into()), ..NewMessage::default() }
}

async fn say(app: &TestApp, who: &Actor, chat_id: &str, content: &str) -> nyaya::store::chats::Message {
    chats::send_message(app.state(), &who.user, chat_id, text(content)).await.expect("send")
}

async fn message_count(app: &TestApp) -> i64 {
    app.state().db.count(&Sql::new("SELECT COUNT(*) FROM messages")).await.unwrap()
}

/// A case row written directly (the cases routes are another module's).
async fn insert_case(app: &TestApp, case_type: &str, citizen: &Actor, lawyer: Option<&Actor>) -> String {
    let id = Id::new().to_string();
    let now = nyaya::time::now_iso();
    app.state()
        .db
        .exec(
            &Sql::new(
                "INSERT INTO cases (id, case_type, title, description, category, status, citizen_id, assigned_lawyer_id, \
                 created_at, updated_at) VALUES ($1, $2, 'Boundary wall', 'A neighbour built on my land', 'property', $3, $4, $5, $6, $6)",
            )
            .arg(&id)
            .arg(case_type)
            .arg(if lawyer.is_some() { "assigned" } else { "pending" })
            .arg(&citizen.user.id)
            .arg(lawyer.map(|l| l.user.id.clone()))
            .arg(&now),
        )
        .await
        .unwrap();
    id
}

const CHAT_KEYS: &[&str] = &[
    "_id",
    "chatId",
    "participants",
    "chatType",
    "status",
    "relatedCase",
    "directConnection",
    "lastMessage",
    "isActive",
    "createdAt",
    "updatedAt",
    "__v",
    "messages",
];
const MESSAGE_KEYS: &[&str] =
    &["_id", "sender", "content", "messageType", "fileData", "attachments", "isRead", "timestamp", "isDeleted"];

#[tokio::test]
async fn messages_update_lists_and_opening_the_chat_reads_them() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let (_, chat_id) = connect(&app, &asha, &ravi).await;
    let lawyer_list = "/api/lawyers/connected-citizens";
    app.get(lawyer_list, ravi.t()).await;
    assert_cache(&app.get(lawyer_list, ravi.t()).await, "HIT");
    app.get("/api/citizens/direct-chats", asha.t()).await;
    let dashboard = "/api/lawyers/dashboard/stats";
    app.get(dashboard, ravi.t()).await;

    let sent = say(&app, &asha, &chat_id, "Hello, are you free tomorrow?").await;
    // Lists that show no chat activity keep their entries through messages.
    assert_cache(&app.get(dashboard, ravi.t()).await, "HIT");
    assert_eq!(sent.content, "Hello, are you free tomorrow?");
    assert_eq!(sent.sender, asha.user.id);

    // Every participant's cached lists show the new last message and unread count.
    let r = app.get(lawyer_list, ravi.t()).await;
    assert_cache(&r, "MISS");
    let info = &r.data()["connections"][0]["chatInfo"];
    assert_eq!(info["unreadCount"], 1);
    assert_eq!(info["lastMessage"]["content"], "Hello, are you free tomorrow?");
    assert_eq!(info["lastMessage"]["sender"], json!({"_id": asha.id(), "name": "Asha", "role": "citizen"}));
    let mine = app.get("/api/citizens/direct-chats", asha.t()).await;
    assert_cache(&mine, "MISS");
    assert_eq!(mine.data()["chats"][0]["unreadCount"], 0, "own messages are never unread");
    assert_eq!(mine.data()["chats"][0]["lastMessage"]["content"], "Hello, are you free tomorrow?");

    let mut rx = app.state().notifier.subscribe();
    let r = app.get(&format!("/api/chats/{chat_id}"), ravi.t()).await;
    r.assert_status(200);
    assert_keys(r.data(), &["chat", "pagination"]);
    let chat = &r.data()["chat"];
    assert_keys(chat, CHAT_KEYS);
    assert_eq!(chat["chatId"], chat_id.as_str());
    assert_eq!(chat["relatedCase"], serde_json::Value::Null);
    assert_eq!(chat["lastMessage"]["sender"], asha.id().as_str());
    let participant = chat["participants"].as_array().unwrap().iter().find(|p| p["role"] == "lawyer").unwrap();
    assert_eq!(
        participant["user"],
        json!({"_id": ravi.id(), "name": "Ravi", "email": ravi.user.email, "role": "lawyer", "lawyerDetails": {"specialization": ["Civil Law", "Family Law"]}, "profilePicture": null})
    );
    let message = &chat["messages"][0];
    assert_keys(message, MESSAGE_KEYS);
    assert_eq!(message["sender"], json!({"_id": asha.id(), "name": "Asha", "role": "citizen", "profilePicture": null}));
    assert_eq!(message["_id"], sent.id.as_str());
    assert_eq!(message["isRead"][0]["user"], ravi.id().as_str());
    assert_keys(&message["isRead"][0], &["user", "readAt"]);
    assert_eq!(r.data()["pagination"], json!({"current": 1, "total": 1, "hasMore": false}));
    let events = drain(&mut rx);
    let read = events.iter().find(|n| n.event == "messages_read").expect("messages_read emitted");
    assert_eq!(read.target, Target::Room(chat_id.clone()));
    assert_eq!(read.payload, json!({"chatId": chat_id, "readBy": ravi.id()}));

    // The reader's lists forget the unread message on the next read.
    let r = app.get(lawyer_list, ravi.t()).await;
    assert_cache(&r, "MISS");
    assert_eq!(r.data()["connections"][0]["chatInfo"]["unreadCount"], 0);
}

#[tokio::test]
async fn invalid_messages_and_outsiders_are_refused() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let outsider = citizen(&app, "Outsider").await;
    let (_, chat_id) = connect(&app, &asha, &ravi).await;
    let state = app.state();

    let cases = [
        (text("   "), 400, "Message content cannot be empty"),
        (NewMessage::default(), 400, "Message content cannot be empty"),
        (text(&"x".repeat(1001)), 400, "Message too long. Maximum 1000 characters."),
        (
            NewMessage {
                message_type: Some("file".into()),
                file_data: Some(json!({"url": "u"})),
                ..NewMessage::default()
            },
            400,
            "File data is required for file messages",
        ),
        (
            NewMessage { message_type: Some("system".into()), content: Some("x".into()), ..NewMessage::default() },
            400,
            "Invalid message type",
        ),
    ];
    for (msg, status, message) in cases {
        let err = chats::send_message(state, &asha.user, &chat_id, msg).await.unwrap_err();
        assert_eq!((err.status.as_u16(), err.message.as_str()), (status, message));
    }
    let err = chats::send_message(state, &outsider.user, &chat_id, text("hi")).await.unwrap_err();
    assert_eq!((err.status.as_u16(), err.message.as_str()), (403, "Access denied"));
    let unknown = format!("query_{}", Id::new());
    let err = chats::send_message(state, &asha.user, &unknown, text("hi")).await.unwrap_err();
    assert_eq!((err.status.as_u16(), err.message.as_str()), (404, "Chat not found"));
    assert_eq!(message_count(&app).await, 0);

    // Exactly 1000 characters is fine; file messages get a default caption and keep only
    // the declared fileData keys.
    say(&app, &asha, &chat_id, &"y".repeat(1000)).await;
    let file = chats::send_message(
        state,
        &ravi.user,
        &chat_id,
        NewMessage::from_json(&json!({"messageType": "file", "fileData": {"ipfsHash": "QmHash", "originalName": "deed.pdf", "mimeType": "application/pdf", "evil": 1}, "tempId": "t-1"})),
    )
    .await
    .unwrap();
    assert_eq!(file.content, "File attachment");
    assert_eq!(
        file.file_data,
        json!({"ipfsHash": "QmHash", "originalName": "deed.pdf", "mimeType": "application/pdf"})
    );
    assert_eq!(file.client_temp_id.as_deref(), Some("t-1"));

    // Over HTTP: participants only, well-formed ids only.
    let r = app.get(&format!("/api/chats/{chat_id}"), outsider.t()).await;
    r.assert_status(403);
    assert_eq!(r.message(), "Access denied");
    app.get(&format!("/api/chats/{chat_id}/messages"), outsider.t()).await.assert_status(403);
    let r = app.get(&format!("/api/chats/{unknown}"), asha.t()).await;
    r.assert_status(404);
    assert_eq!(r.message(), "Chat not found");
    for bad in ["direct_abc", "random", "query_123", "direct_x_y"] {
        app.get(&format!("/api/chats/{bad}"), asha.t()).await.assert_status(400);
        app.get(&format!("/api/chats/{bad}/messages"), asha.t()).await.assert_status(400);
    }
    app.get(&format!("/api/chats/{chat_id}"), None).await.assert_status(401);
    // A refused read marks nothing.
    let reads = state
        .db
        .count(&Sql::new("SELECT COUNT(*) FROM message_reads WHERE user_id = $1").arg(&outsider.user.id))
        .await
        .unwrap();
    assert_eq!(reads, 0);
}

#[tokio::test]
async fn history_pages_count_from_the_newest_message() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let (_, chat_id) = connect(&app, &asha, &ravi).await;
    let mut sent = Vec::new();
    for i in 1..=5 {
        sent.push(say(&app, if i % 2 == 0 { &ravi } else { &asha }, &chat_id, &format!("m{i}")).await);
    }
    let contents = |r: &Reply, key: &str| -> Vec<String> {
        let list = if key == "chat" { &r.data()["chat"]["messages"] } else { &r.data()["messages"] };
        list.as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap().to_string()).collect()
    };

    let messages = format!("/api/chats/{chat_id}/messages");
    let r = app.get(&format!("{messages}?limit=2"), ravi.t()).await;
    r.assert_status(200);
    assert_keys(r.data(), &["messages", "pagination"]);
    assert_eq!(contents(&r, "messages"), ["m4", "m5"]);
    assert_eq!(r.data()["pagination"], json!({"current": 1, "hasMore": true}));
    assert_eq!(r.data()["messages"][0]["sender"], json!({"_id": ravi.id(), "name": "Ravi", "role": "lawyer"}));
    let r = app.get(&format!("{messages}?limit=2&page=3"), ravi.t()).await;
    assert_eq!(contents(&r, "messages"), ["m1"]);
    assert_eq!(r.data()["pagination"]["hasMore"], false);
    let before = sent[2].timestamp;
    let r = app.get(&format!("{messages}?before={before}"), ravi.t()).await;
    assert_eq!(contents(&r, "messages"), ["m1", "m2"]);
    app.get(&format!("{messages}?before=yesterday"), ravi.t()).await.assert_status(400);

    // Listing history marks nothing read.
    let info = app.get("/api/lawyers/connected-citizens", ravi.t()).await;
    assert_eq!(info.data()["connections"][0]["chatInfo"]["unreadCount"], 3);

    let r = app.get(&format!("/api/chats/{chat_id}?limit=2&page=2"), ravi.t()).await;
    assert_eq!(contents(&r, "chat"), ["m2", "m3"]);
    assert_eq!(r.data()["pagination"], json!({"current": 2, "total": 5, "hasMore": true}));
    // Opening the chat read everything, not only the page shown.
    let info = app.get("/api/lawyers/connected-citizens", ravi.t()).await;
    assert_eq!(info.data()["connections"][0]["chatInfo"]["unreadCount"], 0);
}

#[tokio::test]
async fn messages_sent_at_once_keep_a_strict_order_and_the_newest_is_last() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let (_, chat_id) = connect(&app, &asha, &ravi).await;
    // Many in the same millisecond: the database refuses ties and the slow path steps past them.
    let sends = (0..30).map(|i| say(&app, if i % 2 == 0 { &asha } else { &ravi }, &chat_id, "at once"));
    let mut sent: Vec<String> = futures::future::join_all(sends).await.into_iter().map(|m| m.timestamp.iso()).collect();
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), 30, "every message has a time of its own");

    let r = app.get(&format!("/api/chats/{chat_id}/messages?limit=50"), ravi.t()).await;
    let stamps: Vec<&str> =
        r.data()["messages"].as_array().unwrap().iter().map(|m| m["timestamp"].as_str().unwrap()).collect();
    assert_eq!(stamps, sent, "history is in the order of the times given");
    let r = app.get(&format!("/api/chats/{chat_id}"), ravi.t()).await;
    assert_eq!(r.data()["chat"]["lastMessage"]["timestamp"].as_str(), sent.last().map(String::as_str));

    // A message written behind the application's back cannot go before the last one either.
    let chat_ref = r.data()["chat"]["_id"].as_str().unwrap().to_string();
    let behind = Sql::new(
        "INSERT INTO messages (id, chat_ref, sender_id, content, sent_at, is_deleted) VALUES ($1, $2, $3, 'late', $4, FALSE)",
    )
    .arg(Id::new())
    .arg(&chat_ref)
    .arg(&asha.user.id)
    .arg(&sent[0]);
    let err = app.state().db.exec(&behind).await.unwrap_err();
    assert!(err.to_string().contains("message not after the chat's last message"), "{err}");
    assert_eq!(message_count(&app).await, 30);
}

#[tokio::test]
async fn read_receipts_for_listed_messages_or_all() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let outsider = lawyer(&app, "Outsider", true).await;
    let (_, chat_id) = connect(&app, &asha, &ravi).await;
    let first = say(&app, &asha, &chat_id, "one").await;
    let second = say(&app, &asha, &chat_id, "two").await;
    let state = app.state();

    let marked = chats::mark_read(state, &ravi.user, &chat_id, std::slice::from_ref(&first.id)).await.unwrap();
    assert_eq!(marked, std::slice::from_ref(&first.id));
    let info = app.get("/api/lawyers/connected-citizens", ravi.t()).await;
    assert_eq!(info.data()["connections"][0]["chatInfo"]["unreadCount"], 1);
    let marked = chats::mark_read(state, &ravi.user, &chat_id, &[]).await.unwrap();
    assert_eq!(marked, std::slice::from_ref(&second.id));
    assert!(chats::mark_read(state, &ravi.user, &chat_id, &[]).await.unwrap().is_empty());
    let info = app.get("/api/lawyers/connected-citizens", ravi.t()).await;
    assert_cache(&info, "MISS");
    assert_eq!(info.data()["connections"][0]["chatInfo"]["unreadCount"], 0);
    let err = chats::mark_read(state, &outsider.user, &chat_id, &[]).await.unwrap_err();
    assert_eq!(err.status.as_u16(), 403);
}

/// Reading a chat in full records how far it was read; what arrives later is counted and
/// marked on its own, and messages read one by one past that point are not counted twice.
#[tokio::test]
async fn after_a_full_read_only_later_messages_count_as_unread() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let (_, chat_id) = connect(&app, &asha, &ravi).await;
    let state = app.state();
    let unread = || async {
        let info = app.get("/api/lawyers/connected-citizens", ravi.t()).await;
        let listed = app.get("/api/chats", ravi.t()).await;
        let in_list = listed.data()["chats"][0]["unreadCount"].clone();
        assert_eq!(info.data()["connections"][0]["chatInfo"]["unreadCount"], in_list, "both lists agree");
        in_list.as_i64().unwrap()
    };

    say(&app, &asha, &chat_id, "one").await;
    say(&app, &asha, &chat_id, "two").await;
    assert_eq!(chats::mark_read(state, &ravi.user, &chat_id, &[]).await.unwrap().len(), 2);
    assert_eq!(unread().await, 0);

    let three = say(&app, &asha, &chat_id, "three").await;
    let four = say(&app, &asha, &chat_id, "four").await;
    say(&app, &ravi, &chat_id, "mine").await;
    assert_eq!(unread().await, 2, "the two messages after the full read, not the reader's own");
    chats::mark_read(state, &ravi.user, &chat_id, std::slice::from_ref(&four.id)).await.unwrap();
    assert_eq!(unread().await, 1);
    let mut marked = chats::mark_read(state, &ravi.user, &chat_id, &[]).await.unwrap();
    let mut expected = vec![three.id.clone()];
    let mine = app.get(&format!("/api/chats/{chat_id}/messages"), asha.t()).await;
    let own = mine.data()["messages"][4]["_id"].as_str().unwrap().to_string();
    expected.push(own.parse().unwrap());
    marked.sort_by_key(|id| id.to_string());
    expected.sort_by_key(|id| id.to_string());
    assert_eq!(marked, expected, "only what was not read yet, the reader's own message included");
    assert_eq!(unread().await, 0);

    say(&app, &asha, &chat_id, "five").await;
    assert_eq!(unread().await, 1);
    // Every message up to the full read carries the reader's receipt.
    let history = app.get(&format!("/api/chats/{chat_id}/messages"), asha.t()).await;
    let receipts: Vec<usize> =
        history.data()["messages"].as_array().unwrap().iter().map(|m| m["isRead"].as_array().unwrap().len()).collect();
    assert_eq!(receipts, [1, 1, 1, 1, 1, 0]);
}

#[tokio::test]
async fn direct_chats_are_found_or_created_pending() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let chat_id = direct_chat_id(&asha, &ravi);

    assert_cache(&app.get("/api/lawyers/pending-requests", ravi.t()).await, "MISS");
    let r = app.post(&format!("/api/chats/direct/{}", ravi.id()), asha.t(), json!({})).await;
    r.assert_status(200);
    assert_keys(r.data(), &["chat"]);
    let chat = &r.data()["chat"];
    assert_keys(chat, CHAT_KEYS);
    assert_eq!(chat["chatId"], chat_id.as_str());
    assert_eq!(chat["status"], "pending");
    assert_eq!(chat["chatType"], "direct");
    let roles: Vec<&str> =
        chat["participants"].as_array().unwrap().iter().map(|p| p["role"].as_str().unwrap()).collect();
    assert_eq!(roles.len(), 2);
    assert!(roles.contains(&"citizen") && roles.contains(&"lawyer"));
    // The lawyer's cached pending list shows it at once.
    let pending = app.get("/api/lawyers/pending-requests", ravi.t()).await;
    assert_cache(&pending, "MISS");
    assert_eq!(pending.data()["requests"][0]["chatId"], chat_id.as_str());

    // Asking again finds the same chat. (The lawyer cannot open it from his side while it is
    // pending: see `only_a_citizen_opens_a_direct_chat_and_only_with_a_verified_lawyer`.)
    let again = app.post(&format!("/api/chats/direct/{}", ravi.id()), asha.t(), json!({})).await;
    again.assert_status(200);
    assert_eq!(again.data()["chat"]["_id"], chat["_id"]);

    let r = app.post(&format!("/api/chats/direct/{}", asha.id()), asha.t(), json!({})).await;
    r.assert_status(400);
    let r = app.post(&format!("/api/chats/direct/{}", Id::new()), asha.t(), json!({})).await;
    r.assert_status(404);
    assert_eq!(r.message(), "User not found");
    app.post("/api/chats/direct/xyz", asha.t(), json!({})).await.assert_status(400);

    let list = app.get("/api/chats", asha.t()).await;
    list.assert_status(200);
    assert_keys(list.data(), &["chats"]);
    let listed = &list.data()["chats"][0];
    let mut keys = CHAT_KEYS.to_vec();
    keys.push("unreadCount");
    assert_keys(listed, &keys);
    assert_eq!(listed["unreadCount"], 0);
    assert!(app.get("/api/chats", None).await.status.as_u16() == 401);
}

#[tokio::test]
async fn case_chats_belong_to_the_case_parties() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let other = citizen(&app, "Other").await;
    let root = admin(&app).await;
    let case_id = insert_case(&app, "query", &asha, Some(&ravi)).await;
    let open_case = insert_case(&app, "dispute", &asha, None).await;
    let path = format!("/api/chats/case/query/{case_id}");

    let mut rx = app.state().notifier.subscribe();
    app.get("/api/lawyers/my-chats", ravi.t()).await;
    let r = app.get(&path, asha.t()).await;
    r.assert_status(200);
    let chat = &r.data()["chat"];
    assert_keys(chat, CHAT_KEYS);
    assert_eq!(chat["chatId"], format!("query_{case_id}"));
    assert_eq!(chat["chatType"], "query");
    assert_eq!(chat["status"], "active");
    assert_eq!(chat["relatedCase"], json!({"caseType": "query", "caseId": case_id}));
    assert_keys(&chat["participants"][0]["user"], &["_id", "name", "email", "role"]);
    assert!(drain(&mut rx).is_empty(), "opening a case chat notifies nobody");

    let same = app.get(&path, ravi.t()).await;
    assert_eq!(same.data()["chat"]["_id"], chat["_id"]);
    app.get(&path, root.t()).await.assert_status(200);
    let r = app.get(&path, other.t()).await;
    r.assert_status(403);
    assert_eq!(r.message(), "Access denied");
    let r = app.get(&format!("/api/chats/case/dispute/{open_case}"), asha.t()).await;
    r.assert_status(400);
    assert_eq!(r.message(), "Chat is only available after a lawyer is assigned to the case");
    let r = app.get(&format!("/api/chats/case/dispute/{case_id}"), asha.t()).await;
    r.assert_status(404);
    assert_eq!(r.message(), "Dispute not found");
    let r = app.get(&format!("/api/chats/case/appeal/{case_id}"), asha.t()).await;
    r.assert_status(400);
    assert_eq!(r.message(), "Invalid case type. Must be 'query' or 'dispute'");
    app.get("/api/chats/case/query/123", asha.t()).await.assert_status(400);

    // Messages of the case chat: participants only; reading marks them read.
    let chat_id = format!("query_{case_id}");
    say(&app, &asha, &chat_id, "first").await;
    say(&app, &asha, &chat_id, "second").await;
    let messages = format!("{path}/messages");
    let r = app.get(&format!("{messages}?limit=1"), ravi.t()).await;
    r.assert_status(200);
    assert_eq!(r.data()["messages"][0]["content"], "second");
    assert_eq!(r.data()["pagination"], json!({"current": 1, "hasMore": true}));
    let unread = app
        .state()
        .db
        .count(&Sql::new("SELECT COUNT(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM message_reads r WHERE r.message_id = m.id AND r.user_id = $1)").arg(&ravi.user.id))
        .await
        .unwrap();
    assert_eq!(unread, 0);
    for outsider in [&root, &other] {
        let r = app.get(&messages, outsider.t()).await;
        r.assert_status(404);
        assert_eq!(r.message(), "Chat not found or access denied");
    }
    let row = app.state().db.one(&Sql::new("SELECT COUNT(*) AS n FROM chats")).await.unwrap();
    assert_eq!(row.int("n").unwrap(), 1);
}

#[tokio::test]
async fn a_reassigned_case_chat_gains_the_new_lawyer() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let meena = lawyer(&app, "Meena", true).await;
    let case_id: Id = insert_case(&app, "dispute", &asha, Some(&ravi)).await.parse().unwrap();
    let first_spec =
        chats::CaseChat { case_type: "dispute", case_id: &case_id, citizen: &asha.user.id, lawyer: &ravi.user.id };
    let (first, created) = chats::find_or_create_case_chat(app.state(), first_spec).await.unwrap();
    assert!(created);
    let second_spec = chats::CaseChat { lawyer: &meena.user.id, ..first_spec };
    let (second, created) = chats::find_or_create_case_chat(app.state(), second_spec).await.unwrap();
    assert!(!created);
    assert_eq!(first.id, second.id);
    assert_eq!(second.participants.len(), 3);
    assert!(chats::require_participant(app.state(), &meena.user, &second.chat_id).await.is_ok());
}

async fn chat_count(app: &TestApp) -> i64 {
    app.state().db.count(&Sql::new("SELECT COUNT(*) FROM chats")).await.unwrap()
}

/// Saves a changed account and drops what the server remembers of it.
async fn save(app: &TestApp, user: &mut nyaya::store::users::User) {
    nyaya::store::users::save(&app.state().db, user).await.unwrap();
    nyaya::service::people::user_changed(app.state(), &user.id, []).await;
}

/// The emails a chat document's populated participants show.
fn participant_emails(chat: &serde_json::Value) -> Vec<&serde_json::Value> {
    chat["participants"].as_array().unwrap().iter().filter_map(|p| p["user"].get("email")).collect()
}

const PENDING: &str = "This chat request has not been accepted yet";

#[tokio::test]
async fn only_a_citizen_opens_a_direct_chat_and_only_with_a_verified_lawyer() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let bina = citizen(&app, "Bina").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let meera = lawyer(&app, "Meera", true).await;
    let novice = lawyer(&app, "Novice", false).await;
    let root = admin(&app).await;
    // Flagged verified while its verification is still pending, and a deactivated lawyer.
    let mut half = lawyer(&app, "Half", true).await;
    half.user.lawyer_details.as_mut().unwrap()["verificationStatus"] = json!("pending");
    save(&app, &mut half.user).await;
    let mut gone = lawyer(&app, "Gone", true).await;
    gone.user.is_active = false;
    save(&app, &mut gone.user).await;
    let open = |who: &Actor, other: String| {
        let path = format!("/api/chats/direct/{other}");
        let token = who.token.clone();
        let app = &app;
        async move { app.post(&path, Some(&token), json!({})).await }
    };

    // Every refusal reads exactly like an id nobody has: existence cannot be probed.
    let unknown = open(&asha, Id::new().to_string()).await;
    unknown.assert_status(404);
    assert_eq!(unknown.message(), "User not found");
    let refused = [
        (&asha, &bina),
        (&asha, &novice),
        (&asha, &half),
        (&asha, &gone),
        (&asha, &root),
        (&ravi, &asha),
        (&ravi, &meera),
        (&root, &ravi),
        (&bina, &asha),
    ];
    for (who, other) in refused {
        let r = open(who, other.id()).await;
        assert_eq!((r.status, &r.body), (unknown.status, &unknown.body), "{} -> {}", who.user.name, other.user.name);
    }
    assert_eq!(chat_count(&app).await, 0, "a refusal leaves no chat behind");

    // A citizen and a verified lawyer: a pending chat, whose participants show no email.
    let r = open(&asha, ravi.id()).await;
    r.assert_status(200);
    let chat = r.data()["chat"].clone();
    assert_eq!(chat["status"], "pending");
    assert_eq!(chat["participants"].as_array().unwrap().len(), 2);
    assert!(participant_emails(&chat).is_empty(), "emails in a pending chat: {chat}");
    let listed = app.get("/api/chats", asha.t()).await;
    assert_eq!(listed.data()["chats"][0]["chatId"], chat["chatId"]);
    assert!(participant_emails(&listed.data()["chats"][0]).is_empty());
    let seen = app.get(&format!("/api/chats/{}", chat["chatId"].as_str().unwrap()), ravi.t()).await;
    seen.assert_status(200);
    assert!(participant_emails(&seen.data()["chat"]).is_empty());
    let requests = app.get("/api/lawyers/pending-requests", ravi.t()).await;
    assert!(participant_emails(&requests.data()["requests"][0]).is_empty());
    // The lawyer does not open it from the other side while it is pending.
    let r = open(&ravi, asha.id()).await;
    assert_eq!((r.status, &r.body), (unknown.status, &unknown.body));

    // Accepted, the chat connects them: either side finds it, with both emails.
    app.post(&format!("/api/lawyers/accept-request/{}", chat["chatId"].as_str().unwrap()), ravi.t(), json!({}))
        .await
        .assert_status(200);
    for (who, other) in [(&ravi, &asha), (&asha, &ravi)] {
        let r = open(who, other.id()).await;
        r.assert_status(200);
        assert_eq!(r.data()["chat"]["_id"], chat["_id"]);
        assert_eq!(r.data()["chat"]["status"], "active");
        let mut emails: Vec<&str> = participant_emails(&r.data()["chat"]).iter().map(|e| e.as_str().unwrap()).collect();
        emails.sort();
        let mut expected = [asha.user.email.as_str(), ravi.user.email.as_str()];
        expected.sort();
        assert_eq!(emails, expected);
    }
    let listed = app.get("/api/chats", asha.t()).await;
    assert_eq!(participant_emails(&listed.data()["chats"][0]).len(), 2);
    assert_eq!(chat_count(&app).await, 1);
}

#[tokio::test]
async fn a_pending_chat_holds_only_the_opening_message_until_the_lawyer_accepts() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let chat_id = direct_chat_id(&asha, &ravi);
    let state = app.state();

    // The citizen's request opens the chat with its one opening message.
    let r = app
        .post(&format!("/api/citizens/message-request/{}", ravi.id()), asha.t(), json!({"message": "Can you help?"}))
        .await;
    r.assert_status(200);
    assert_eq!(message_count(&app).await, 1);
    for who in [&asha, &ravi] {
        let err = chats::send_message(state, &who.user, &chat_id, text("more")).await.unwrap_err();
        assert_eq!((err.status.as_u16(), err.message.as_str()), (409, PENDING), "{}", who.user.name);
    }
    // Nor does a file go into it.
    let upload = vec![file("file", "brief.pdf", "application/pdf", pdf("brief"))];
    let r = multipart(&app, "/api/chats/upload-file", &asha.token, &[("chatId", &chat_id)], upload).await;
    r.assert_status(409);
    assert_eq!(r.body["error"], PENDING);
    let documents = state.db.count(&Sql::new("SELECT COUNT(*) FROM documents")).await.unwrap();
    assert_eq!((message_count(&app).await, documents), (1, 0), "nothing refused was stored");

    // Accepted (after the refusals above were answered), messages flow both ways at once.
    app.post(&format!("/api/lawyers/accept-request/{chat_id}"), ravi.t(), json!({})).await.assert_status(200);
    say(&app, &asha, &chat_id, "Thank you").await;
    say(&app, &ravi, &chat_id, "Tell me more").await;
    assert_eq!(message_count(&app).await, 3);
}

#[tokio::test]
async fn only_accepted_links_make_two_users_related() {
    use nyaya::store::relations::{are_related, chat_partners};
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let bina = citizen(&app, "Bina").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let db = &app.state().db;

    // A pending chat and a pending connection request relate nobody.
    app.post(&format!("/api/chats/direct/{}", ravi.id()), asha.t(), json!({})).await.assert_status(200);
    let r = request(&app, &bina, &ravi, "Please take my case").await;
    r.assert_status(200);
    let connection = r.data()["connectionId"].as_str().unwrap().to_string();
    for (a, b) in [(&asha, &ravi), (&ravi, &asha), (&bina, &ravi)] {
        assert!(!are_related(db, &a.user.id, &b.user.id).await.unwrap(), "{} ~ {}", a.user.name, b.user.name);
    }
    assert!(chat_partners(db, &asha.user.id).await.unwrap().is_empty());
    assert!(chat_partners(db, &ravi.user.id).await.unwrap().is_empty());

    // Accepting either makes the pair related.
    let chat_id = direct_chat_id(&asha, &ravi);
    app.post(&format!("/api/lawyers/accept-request/{chat_id}"), ravi.t(), json!({})).await.assert_status(200);
    app.post(&format!("/api/lawyers/accept-connection-request/{connection}"), ravi.t(), json!({}))
        .await
        .assert_status(200);
    for (a, b) in [(&asha, &ravi), (&ravi, &asha), (&bina, &ravi)] {
        assert!(are_related(db, &a.user.id, &b.user.id).await.unwrap(), "{} ~ {}", a.user.name, b.user.name);
    }
    assert_eq!(chat_partners(db, &asha.user.id).await.unwrap(), vec![ravi.user.id.clone()]);
    assert!(!are_related(db, &asha.user.id, &bina.user.id).await.unwrap());
}
