//! Direct connections, legacy client links and message requests (docs/api.md 3.3 #7-16, 3.4 #3,
//! #6, #15-19): statuses, exact keys, refusals that change nothing, emits and cached lists.

use nyaya::db::{RowExt, Sql};
use nyaya::notify::{Notification, Target};
use nyaya::store::users::{self, Role, User};
use serde_json::{Value, json};
use tokio::sync::broadcast::Receiver;

use crate::helpers::*;

/// A user stored directly, with an access token.
pub(crate) struct Actor {
    pub user: User,
    pub token: String,
}

impl Actor {
    pub fn id(&self) -> String {
        self.user.id.to_string()
    }
    pub fn t(&self) -> Option<&str> {
        Some(&self.token)
    }
}

/// Nobody logs in with these accounts, so no real password hash is needed.
async fn store(app: &TestApp, user: User) -> Actor {
    users::insert(&app.state().db, &user).await.expect("insert user");
    let token = app.state().tokens.issue(&user).access;
    Actor { user, token }
}

pub(crate) async fn citizen(app: &TestApp, name: &str) -> Actor {
    let mut u = User::new(name.into(), unique_email("citizen"), "-".into(), Role::Citizen);
    u.phone = Some("9876543210".into());
    u.address = json!({"city": "Pune", "state": "MH"});
    store(app, u).await
}

pub(crate) async fn lawyer(app: &TestApp, name: &str, verified: bool) -> Actor {
    let mut u = User::new(name.into(), unique_email("lawyer"), "-".into(), Role::Lawyer);
    u.is_verified = verified;
    u.lawyer_details = Some(json!({
        "verificationStatus": if verified { "verified" } else { "pending" },
        "specialization": ["Civil Law", "Family Law"],
        "experience": 7,
        "verificationNotes": "internal note",
    }));
    store(app, u).await
}

pub(crate) async fn admin(app: &TestApp) -> Actor {
    store(app, User::new("Root Admin".into(), unique_email("admin"), "-".into(), Role::Admin)).await
}

/// Every notification sent so far.
pub(crate) fn drain(rx: &mut Receiver<Notification>) -> Vec<Notification> {
    let mut out = Vec::new();
    while let Ok(n) = rx.try_recv() {
        out.push(n);
    }
    out
}

/// The single notification of `event` to the user room of `to`.
#[track_caller]
pub(crate) fn emitted<'a>(events: &'a [Notification], event: &str, to: &Actor) -> &'a Value {
    let hits: Vec<&Notification> =
        events.iter().filter(|n| n.event == event && n.target == Target::User(to.user.id.clone())).collect();
    assert_eq!(
        hits.len(),
        1,
        "expected one {event} to {}; got {:?}",
        to.user.name,
        events.iter().map(|n| &n.event).collect::<Vec<_>>()
    );
    &hits[0].payload
}

#[track_caller]
pub(crate) fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect();
    k.sort();
    k
}

#[track_caller]
pub(crate) fn assert_keys(v: &Value, expected: &[&str]) {
    let mut e: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    e.sort();
    assert_eq!(keys(v), e, "in {v}");
}

pub(crate) fn direct_chat_id(a: &Actor, b: &Actor) -> String {
    let (x, y) = (a.id(), b.id());
    if x <= y { format!("direct_{x}_{y}") } else { format!("direct_{y}_{x}") }
}

pub(crate) async fn request(app: &TestApp, citizen: &Actor, lawyer: &Actor, message: &str) -> Reply {
    app.post(
        &format!("/api/citizens/direct-connection-request/{}", lawyer.id()),
        citizen.t(),
        json!({"message": message}),
    )
    .await
}

/// A citizen's accepted connection with a lawyer; returns (connectionId, chatId).
pub(crate) async fn connect(app: &TestApp, citizen: &Actor, lawyer: &Actor) -> (String, String) {
    let r = request(app, citizen, lawyer, "Please help with my tenancy dispute").await;
    r.assert_status(200);
    let id = r.data()["connectionId"].as_str().unwrap().to_string();
    let a = app.post(&format!("/api/lawyers/accept-connection-request/{id}"), lawyer.t(), json!({})).await;
    a.assert_status(200);
    (id, a.data()["chatId"].as_str().unwrap().to_string())
}

async fn connection_count(app: &TestApp) -> i64 {
    app.state().db.count(&Sql::new("SELECT COUNT(*) FROM direct_connections")).await.unwrap()
}

async fn status_of(app: &TestApp, id: &str) -> Option<String> {
    let row =
        app.state().db.opt(&Sql::new("SELECT status FROM direct_connections WHERE id = $1").arg(id)).await.unwrap();
    row.map(|r| r.text("status").unwrap())
}

#[track_caller]
pub(crate) fn assert_cache(r: &Reply, expected: &str) {
    r.assert_status(200);
    assert_eq!(r.headers.get("x-cache").map(|v| v.to_str().unwrap()), Some(expected), "X-Cache of {}", r.body);
}

const CONNECTION_KEYS: &[&str] = &[
    "_id",
    "citizen",
    "lawyer",
    "status",
    "requestMessage",
    "requestedAt",
    "metadata",
    "isActive",
    "createdAt",
    "updatedAt",
    "__v",
];

#[tokio::test]
async fn a_request_reaches_the_lawyer_and_acceptance_opens_an_active_chat() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let mut rx = app.state().notifier.subscribe();

    let r = request(&app, &asha, &ravi, "  Please help with my tenancy dispute  ").await;
    r.assert_status(200);
    assert_eq!(r.message(), "Connection request sent successfully");
    assert_keys(r.data(), &["connectionId"]);
    let connection_id = r.data()["connectionId"].as_str().unwrap().to_string();

    let events = drain(&mut rx);
    let ev = emitted(&events, "new_connection_request", &ravi);
    assert_keys(ev, &["connectionId", "citizen", "message", "connectionType", "timestamp"]);
    assert_eq!(ev["connectionId"], connection_id.as_str());
    assert_eq!(ev["citizen"], json!({"_id": asha.id(), "name": "Asha", "email": asha.user.email}));
    assert_eq!(ev["message"], "Please help with my tenancy dispute");
    assert_eq!(ev["connectionType"], "general_consultation");
    let activity = emitted(&events, "new_activity", &asha);
    assert_keys(
        activity,
        &["id", "type", "title", "description", "status", "timestamp", "assignedLawyer", "category", "priority"],
    );
    assert_eq!(activity["type"], "connection");
    assert_eq!(activity["description"], "Connection request sent to Ravi");
    assert_eq!(activity["assignedLawyer"]["lawyerDetails"], json!({"specialization": ["Civil Law", "Family Law"]}));
    for event in ["dashboard_stats_updated", "quick_stats_updated"] {
        let stats = emitted(&events, event, &asha);
        assert_eq!(
            stats,
            &json!({"totalCases": 0, "activeCases": 0, "resolvedCases": 0, "connectedLawyers": 0, "pendingRequests": 1, "receivedOffers": 0})
        );
    }

    // The lawyer sees it with the citizen's contact details.
    let pending = app.get("/api/lawyers/pending-connection-requests", ravi.t()).await;
    pending.assert_status(200);
    assert_eq!(pending.data()["pagination"], json!({"current": 1, "pages": 1, "total": 1}));
    let item = &pending.data()["requests"][0];
    assert_keys(item, CONNECTION_KEYS);
    assert_eq!(
        item["citizen"],
        json!({"_id": asha.id(), "name": "Asha", "email": asha.user.email, "phone": "9876543210", "address": {"city": "Pune", "state": "MH"}})
    );
    assert_eq!(item["lawyer"], ravi.id().as_str());
    assert_eq!(item["status"], "pending");
    assert_eq!(item["requestMessage"], "Please help with my tenancy dispute");
    assert_eq!(
        item["metadata"],
        json!({"citizenLocation": "Pune", "lawyerSpecialization": ["Civil Law", "Family Law"], "connectionType": "general_consultation"})
    );

    let a = app
        .post(
            &format!("/api/lawyers/accept-connection-request/{connection_id}"),
            ravi.t(),
            json!({"responseMessage": " Happy to help "}),
        )
        .await;
    a.assert_status(200);
    assert_eq!(a.message(), "Connection request accepted successfully");
    let chat_id = direct_chat_id(&asha, &ravi);
    assert_keys(a.data(), &["connection", "chatId"]);
    assert_eq!(a.data()["chatId"], chat_id.as_str());
    let connection = &a.data()["connection"];
    let mut expected_keys = CONNECTION_KEYS.to_vec();
    expected_keys.extend(["respondedAt", "responseMessage", "chatId"]);
    assert_keys(connection, &expected_keys);
    assert_eq!(connection["status"], "accepted");
    assert_eq!(connection["responseMessage"], "Happy to help");
    assert_eq!(connection["citizen"], json!({"_id": asha.id(), "name": "Asha", "email": asha.user.email}));

    let events = drain(&mut rx);
    let ev = emitted(&events, "connection_request_accepted", &asha);
    assert_keys(ev, &["connectionId", "chatId", "lawyer", "responseMessage", "timestamp"]);
    assert_eq!(ev["chatId"], chat_id.as_str());
    assert_eq!(ev["lawyer"], json!({"_id": ravi.id(), "name": "Ravi", "specialization": ["Civil Law", "Family Law"]}));
    assert_eq!(ev["responseMessage"], "Happy to help");

    // The chat is active, linked to the connection, and both are its participants.
    let chat = app.get(&format!("/api/chats/{chat_id}"), asha.t()).await;
    chat.assert_status(200);
    assert_eq!(chat.data()["chat"]["status"], "active");
    assert_eq!(chat.data()["chat"]["chatType"], "direct");
    assert_eq!(chat.data()["chat"]["directConnection"], connection_id.as_str());

    // Both sides list the connection with its chat.
    let citizens = app.get("/api/lawyers/connected-citizens", ravi.t()).await;
    citizens.assert_status(200);
    let item = &citizens.data()["connections"][0];
    assert_eq!(item["citizen"]["name"], "Asha");
    assert_eq!(item["chatInfo"], json!({"chatId": chat_id, "status": "active", "lastMessage": null, "unreadCount": 0}));
    let lawyers = app.get("/api/citizens/connected-lawyers", asha.t()).await;
    lawyers.assert_status(200);
    let item = &lawyers.data()["connections"][0];
    assert_keys(&item["lawyer"], &["_id", "name", "email", "lawyerDetails"]);
    assert!(item["lawyer"]["lawyerDetails"].get("verificationNotes").is_none(), "admin notes stay private");
    assert_eq!(item["chatInfo"]["chatId"], chat_id.as_str());
    assert_eq!(lawyers.data()["pagination"], json!({"current": 1, "pages": 1, "total": 1}));

    let direct = app.get("/api/citizens/direct-chats", asha.t()).await;
    direct.assert_status(200);
    let item = &direct.data()["chats"][0];
    assert_keys(
        item,
        &["connectionId", "chatId", "lawyer", "status", "lastMessage", "unreadCount", "connectedAt", "participants"],
    );
    assert_eq!(item["connectionId"], connection_id.as_str());
    assert_eq!(
        item["lawyer"],
        json!({"_id": ravi.id(), "name": "Ravi", "email": ravi.user.email, "lawyerDetails": {"specialization": ["Civil Law", "Family Law"]}})
    );
    assert_eq!(item["connectedAt"], connection["respondedAt"]);
    assert_eq!(item["participants"].as_array().unwrap().len(), 2);
    assert_keys(&item["participants"][0], &["user", "role", "joinedAt"]);
    assert_keys(&item["participants"][0]["user"], &["_id", "name", "role"]);

    let my_chats = app.get("/api/lawyers/my-chats", ravi.t()).await;
    my_chats.assert_status(200);
    assert_eq!(my_chats.data()["chats"][0]["chatId"], chat_id.as_str());
    let clients = app.get("/api/lawyers/my-direct-clients", ravi.t()).await;
    clients.assert_status(200);
    let client = &clients.data()["clients"][0];
    assert_keys(client, &["_id", "name", "email", "phone", "role", "connectedAt", "lastChatUpdate", "chatId"]);
    assert_eq!(client["_id"], asha.id().as_str());
    assert_eq!(client["chatId"], chat_id.as_str());
    assert_eq!(app.get("/api/citizens/pending-connection-requests", asha.t()).await.data()["requests"], json!([]));
}

#[tokio::test]
async fn a_request_and_its_acceptance_are_emailed() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha <b>Rao</b>").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let r = request(&app, &asha, &ravi, "Tenancy & deposit").await;
    r.assert_status(200);
    let id = r.data()["connectionId"].as_str().unwrap().to_string();

    let mail = mail_to(&app, &ravi.user.email, "New connection request - ChainVerdict").await;
    assert!(mail.contains("Dear Ravi,"), "{mail}");
    assert!(mail.contains("Asha <b>Rao</b> would like to connect with you"), "plain text is verbatim: {mail}");
    assert!(mail.contains("Asha &lt;b&gt;Rao&lt;&#x2f;b&gt; would like"), "HTML is escaped: {mail}");
    assert!(mail.contains("Tenancy & deposit") && mail.contains("Tenancy &amp; deposit"), "{mail}");
    assert!(mail.contains("http://localhost:5174/lawyer/pending-connection-requests"), "{mail}");

    let a = app
        .post(
            &format!("/api/lawyers/accept-connection-request/{id}"),
            ravi.t(),
            json!({"responseMessage": "Happy to help"}),
        )
        .await;
    a.assert_status(200);
    let mail = mail_to(&app, &asha.user.email, "Your connection request was accepted - ChainVerdict").await;
    assert!(mail.contains("Ravi accepted your connection request"), "{mail}");
    assert!(mail.contains("Happy to help"), "{mail}");
    assert!(mail.contains(&format!("http://localhost:5174/chat/{}", direct_chat_id(&asha, &ravi))), "{mail}");
}

#[tokio::test]
async fn bad_connection_requests_are_refused_and_change_nothing() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let pending_lawyer = lawyer(&app, "Pending", false).await;
    let path = format!("/api/citizens/direct-connection-request/{}", ravi.id());

    for body in [json!({}), json!({"message": "   "}), json!({"message": 42})] {
        let r = app.post(&path, asha.t(), body).await;
        r.assert_status(400);
        assert_eq!(r.message(), "Message is required");
    }
    let long = app.post(&path, asha.t(), json!({"message": "x".repeat(501)})).await;
    long.assert_status(400);
    let bad_type = app.post(&path, asha.t(), json!({"message": "hi", "connectionType": "forever"})).await;
    bad_type.assert_status(400);
    app.post("/api/citizens/direct-connection-request/not-an-id", asha.t(), json!({"message": "hi"}))
        .await
        .assert_status(400);
    let unknown = request(&app, &asha, &admin(&app).await, "hi").await;
    unknown.assert_status(404);
    assert_eq!(unknown.message(), "Lawyer not found or not verified");
    request(&app, &asha, &pending_lawyer, "hi").await.assert_status(404);
    assert_eq!(connection_count(&app).await, 0);

    request(&app, &asha, &ravi, "first").await.assert_status(200);
    let again = request(&app, &asha, &ravi, "second").await;
    again.assert_status(400);
    assert_eq!(again.message(), "You already have a pending connection request with this lawyer");
    assert_eq!(connection_count(&app).await, 1);

    // Wrong roles.
    let as_lawyer = request(&app, &ravi, &ravi, "hi").await;
    as_lawyer.assert_status(403);
    assert_eq!(as_lawyer.message(), "User role lawyer is not authorized to access this route");
    app.post(&path, None, json!({"message": "hi"})).await.assert_status(401);
}

#[tokio::test]
async fn accepted_pairs_refuse_new_requests_and_rejected_ones_are_reused() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let meena = lawyer(&app, "Meena", true).await;

    let (_, _) = connect(&app, &asha, &ravi).await;
    let dup = request(&app, &asha, &ravi, "again").await;
    dup.assert_status(400);
    assert_eq!(dup.message(), "You are already connected with this lawyer");

    let first = request(&app, &asha, &meena, "first").await;
    let id = first.data()["connectionId"].as_str().unwrap().to_string();
    let mut rx = app.state().notifier.subscribe();
    let rej = app
        .post(&format!("/api/lawyers/reject-connection-request/{id}"), meena.t(), json!({"responseMessage": "Busy"}))
        .await;
    rej.assert_status(200);
    assert_eq!(rej.message(), "Connection request rejected");
    assert_keys(rej.data(), &["connection"]);
    assert_eq!(rej.data()["connection"]["status"], "rejected");
    assert_eq!(rej.data()["connection"]["responseMessage"], "Busy");
    assert!(rej.data()["connection"].get("chatId").is_none());
    let events = drain(&mut rx);
    let ev = emitted(&events, "connection_request_rejected", &asha);
    assert_keys(ev, &["connectionId", "lawyer", "responseMessage", "timestamp"]);
    assert_eq!(ev["lawyer"]["name"], "Meena");
    assert_eq!(ev["responseMessage"], "Busy");

    // Asking again reuses the record: pending, new message, response cleared.
    let again = app
        .post(
            &format!("/api/citizens/direct-connection-request/{}", meena.id()),
            asha.t(),
            json!({"message": "second try", "connectionType": "ongoing_support"}),
        )
        .await;
    again.assert_status(200);
    assert_eq!(again.data()["connectionId"], id.as_str());
    let events = drain(&mut rx);
    assert_eq!(emitted(&events, "new_connection_request", &meena)["connectionType"], "ongoing_support");
    assert!(events.iter().all(|n| n.event != "new_activity"), "a reopened request is not a new activity");
    let pending = app.get("/api/lawyers/pending-connection-requests", meena.t()).await;
    let item = &pending.data()["requests"][0];
    assert_eq!(item["_id"], id.as_str());
    assert_eq!(item["requestMessage"], "second try");
    assert!(item.get("responseMessage").is_none() && item.get("respondedAt").is_none());
    assert_eq!(item["metadata"]["connectionType"], "ongoing_support");
    assert_eq!(connection_count(&app).await, 2);
}

#[tokio::test]
async fn a_blocked_pair_is_forbidden() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let id = request(&app, &asha, &ravi, "hi").await.data()["connectionId"].as_str().unwrap().to_string();
    app.state()
        .db
        .exec(&Sql::new("UPDATE direct_connections SET status = 'blocked', is_active = FALSE WHERE id = $1").arg(&id))
        .await
        .unwrap();
    request(&app, &asha, &ravi, "let me in").await.assert_status(403);
    assert_eq!(status_of(&app, &id).await.as_deref(), Some("blocked"));
}

#[tokio::test]
async fn only_the_addressed_lawyer_answers_and_only_pending_requests() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let other = lawyer(&app, "Other", true).await;
    let unverified = lawyer(&app, "Newbie", false).await;
    let id = request(&app, &asha, &ravi, "hi").await.data()["connectionId"].as_str().unwrap().to_string();

    for action in ["accept", "reject"] {
        let path = format!("/api/lawyers/{action}-connection-request/{id}");
        let r = app.post(&path, other.t(), json!({})).await;
        r.assert_status(404);
        assert_eq!(r.message(), "Connection request not found");
        let r = app.post(&path, unverified.t(), json!({})).await;
        r.assert_status(403);
        assert_eq!(r.body["code"], "LAWYER_NOT_VERIFIED");
        assert_eq!(r.body["data"]["verificationStatus"], "pending");
        assert_eq!(r.body["data"]["isVerified"], false);
        let r = app.post(&path, asha.t(), json!({})).await;
        r.assert_status(403);
        assert_eq!(r.message(), "User role citizen is not authorized to access this route");
    }
    app.post("/api/lawyers/accept-connection-request/xyz", ravi.t(), json!({})).await.assert_status(400);
    app.post(&format!("/api/lawyers/accept-connection-request/{}", asha.id()), ravi.t(), json!({}))
        .await
        .assert_status(404);
    assert_eq!(status_of(&app, &id).await.as_deref(), Some("pending"));

    app.post(&format!("/api/lawyers/accept-connection-request/{id}"), ravi.t(), json!({})).await.assert_status(200);
    app.post(&format!("/api/lawyers/accept-connection-request/{id}"), ravi.t(), json!({})).await.assert_status(404);
    app.post(&format!("/api/lawyers/reject-connection-request/{id}"), ravi.t(), json!({})).await.assert_status(404);
    assert_eq!(status_of(&app, &id).await.as_deref(), Some("accepted"));
    app.get("/api/lawyers/connected-citizens", unverified.t()).await.assert_status(403);
}

#[tokio::test]
async fn a_citizen_revokes_only_their_own_pending_request() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let bela = citizen(&app, "Bela").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let meena = lawyer(&app, "Meena", true).await;
    let id = request(&app, &asha, &ravi, "hi").await.data()["connectionId"].as_str().unwrap().to_string();
    let path = format!("/api/citizens/revoke-connection-request/{id}");

    let r = app.delete(&path, bela.t()).await;
    r.assert_status(404);
    assert_eq!(r.message(), "Connection request not found or already processed");
    app.delete("/api/citizens/revoke-connection-request/12", asha.t()).await.assert_status(400);
    app.delete(&path, ravi.t()).await.assert_status(403);
    assert_eq!(status_of(&app, &id).await.as_deref(), Some("pending"));

    let mut rx = app.state().notifier.subscribe();
    let r = app.delete(&path, asha.t()).await;
    r.assert_status(200);
    assert_eq!(r.body, json!({"success": true, "message": "Connection request revoked successfully"}));
    assert_eq!(status_of(&app, &id).await, None);
    let events = drain(&mut rx);
    let ev = emitted(&events, "connection_request_revoked", &ravi);
    assert_keys(ev, &["connectionId", "citizenId", "timestamp"]);
    assert_eq!(ev["connectionId"], id.as_str());
    assert_eq!(ev["citizenId"], asha.id().as_str());
    app.delete(&path, asha.t()).await.assert_status(404);

    // An accepted connection cannot be revoked.
    let (accepted, _) = connect(&app, &asha, &meena).await;
    app.delete(&format!("/api/citizens/revoke-connection-request/{accepted}"), asha.t()).await.assert_status(404);
    assert_eq!(status_of(&app, &accepted).await.as_deref(), Some("accepted"));
}

#[tokio::test]
async fn cached_connection_lists_show_every_change_on_the_next_read() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let lawyer_list = "/api/lawyers/pending-connection-requests";
    let citizen_list = "/api/citizens/pending-connection-requests";

    for (path, who) in [(lawyer_list, &ravi), (citizen_list, &asha)] {
        assert_cache(&app.get(path, who.t()).await, "MISS");
        let hit = app.get(path, who.t()).await;
        assert_cache(&hit, "HIT");
        assert_eq!(hit.data()["requests"], json!([]));
    }

    let id = request(&app, &asha, &ravi, "hi").await.data()["connectionId"].as_str().unwrap().to_string();
    let r = app.get(lawyer_list, ravi.t()).await;
    assert_cache(&r, "MISS");
    assert_eq!(r.data()["requests"][0]["_id"], id.as_str());
    let r = app.get(citizen_list, asha.t()).await;
    assert_cache(&r, "MISS");
    let group = &r.data()["requests"][0];
    assert_eq!(group["_id"], id.as_str());
    assert_eq!(group["requestCount"], 1);
    assert_eq!(group["allRequests"][0]["_id"], id.as_str());
    assert_keys(&group["lawyer"], &["_id", "name", "email", "lawyerDetails", "createdAt"]);

    for (path, who) in [("/api/lawyers/connected-citizens", &ravi), ("/api/citizens/connected-lawyers", &asha)] {
        app.get(path, who.t()).await;
        let r = app.get(path, who.t()).await;
        assert_cache(&r, "HIT");
        assert_eq!(r.data()["connections"], json!([]));
    }
    for (path, who) in [
        ("/api/citizens/direct-chats", &asha),
        ("/api/lawyers/my-chats", &ravi),
        ("/api/lawyers/my-direct-clients", &ravi),
    ] {
        app.get(path, who.t()).await;
        assert_cache(&app.get(path, who.t()).await, "HIT");
    }

    app.post(&format!("/api/lawyers/accept-connection-request/{id}"), ravi.t(), json!({})).await.assert_status(200);
    let r = app.get(lawyer_list, ravi.t()).await;
    assert_cache(&r, "MISS");
    assert_eq!(r.data()["requests"], json!([]));
    assert_eq!(app.get(citizen_list, asha.t()).await.data()["requests"], json!([]));
    let r = app.get("/api/lawyers/connected-citizens", ravi.t()).await;
    assert_cache(&r, "MISS");
    assert_eq!(r.data()["connections"][0]["_id"], id.as_str());
    assert_eq!(app.get("/api/citizens/connected-lawyers", asha.t()).await.data()["connections"][0]["_id"], id.as_str());
    assert_eq!(app.get("/api/citizens/direct-chats", asha.t()).await.data()["chats"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/api/lawyers/my-chats", ravi.t()).await.data()["chats"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.get("/api/lawyers/my-direct-clients", ravi.t()).await.data()["clients"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn list_totals_count_every_record_not_the_page() {
    let app = spawn().await;
    let ravi = lawyer(&app, "Ravi", true).await;
    for name in ["A", "B", "C"] {
        let c = citizen(&app, name).await;
        request(&app, &c, &ravi, "hi").await.assert_status(200);
    }
    let r = app.get("/api/lawyers/pending-connection-requests?page=2&limit=2", ravi.t()).await;
    r.assert_status(200);
    assert_eq!(r.data()["requests"].as_array().unwrap().len(), 1);
    assert_eq!(r.data()["pagination"], json!({"current": 2, "pages": 2, "total": 3}));
    // Newest first.
    let first = app.get("/api/lawyers/pending-connection-requests?limit=500", ravi.t()).await;
    let names: Vec<&str> =
        first.data()["requests"].as_array().unwrap().iter().map(|r| r["citizen"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["C", "B", "A"]);
    assert_eq!(first.data()["pagination"], json!({"current": 1, "pages": 1, "total": 3}));
}

#[tokio::test]
async fn the_connection_request_route_has_its_own_per_ip_limit() {
    let app = spawn_with(&[("NYAYA_ENV", "test")]).await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    request(&app, &asha, &ravi, "hi").await.assert_status(200);
    for _ in 1..30 {
        request(&app, &asha, &ravi, "hi").await.assert_status(400);
    }
    let limited = request(&app, &asha, &ravi, "hi").await;
    limited.assert_status(429);
    assert_eq!(limited.body, json!({"success": false, "message": "Too many messages sent, please slow down."}));
    // Other routes are not affected.
    app.get("/api/citizens/pending-connection-requests", asha.t()).await.assert_status(200);
}

#[tokio::test]
async fn legacy_message_requests_open_a_pending_chat_the_lawyer_can_accept() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let other = lawyer(&app, "Other", true).await;
    let chat_id = direct_chat_id(&asha, &ravi);
    let path = format!("/api/citizens/message-request/{}", ravi.id());

    assert_cache(&app.get("/api/lawyers/pending-requests", ravi.t()).await, "MISS");
    let mut rx = app.state().notifier.subscribe();
    let r = app.post(&path, asha.t(), json!({})).await;
    r.assert_status(200);
    assert_eq!(r.message(), "Message request sent successfully");
    assert_eq!(r.data(), &json!({"chatId": chat_id}));
    let events = drain(&mut rx);
    let ev = emitted(&events, "direct_message_request", &ravi);
    assert_keys(ev, &["chatId", "message", "from", "timestamp"]);
    assert_eq!(ev["message"], "Hi, I would like to connect with you for legal assistance.");
    assert_eq!(ev["from"], json!({"_id": asha.id(), "name": "Asha", "role": "citizen"}));

    let pending = app.get("/api/lawyers/pending-requests", ravi.t()).await;
    assert_cache(&pending, "MISS");
    assert_eq!(pending.data()["pagination"], json!({"current": 1, "pages": 1, "total": 1}));
    let chat = &pending.data()["requests"][0];
    assert_keys(
        chat,
        &[
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
        ],
    );
    assert_eq!(chat["status"], "pending");
    // Emails are for connected parties: none while the request is pending.
    assert_keys(&chat["participants"][0]["user"], &["_id", "name", "role"]);
    assert_eq!(chat["lastMessage"]["sender"], json!({"_id": asha.id(), "name": "Asha", "role": "citizen"}));
    assert_eq!(chat["lastMessage"]["content"], "Hi, I would like to connect with you for legal assistance.");
    let message = &chat["messages"][0];
    assert_keys(
        message,
        &["_id", "sender", "content", "messageType", "fileData", "attachments", "isRead", "timestamp", "isDeleted"],
    );
    assert_eq!(message["sender"], asha.id().as_str());

    // Two per hour per lawyer; the third is refused and recorded nowhere.
    app.post(&path, asha.t(), json!({"message": "Are you there?"})).await.assert_status(200);
    let third = app.post(&path, asha.t(), json!({"message": "Hello?"})).await;
    third.assert_status(429);
    assert_eq!(third.message(), "You can only send 2 message requests per hour to the same lawyer");
    let stored = users::get(&app.state().db, &asha.user.id).await.unwrap().unwrap();
    assert_eq!(stored.message_requests.as_array().unwrap().len(), 2);
    // The existing chat got no second opening message.
    let chat = app.get(&format!("/api/chats/{chat_id}"), asha.t()).await;
    assert_eq!(chat.data()["chat"]["messages"].as_array().unwrap().len(), 1);

    app.post(&format!("/api/citizens/message-request/{}", other.id()), asha.t(), json!({})).await.assert_status(200);
    app.post(&format!("/api/citizens/message-request/{}", asha.id()), asha.t(), json!({})).await.assert_status(404);
    app.post("/api/citizens/message-request/nope", asha.t(), json!({})).await.assert_status(400);

    // Accepting: only a participant lawyer, only a well-formed chat id.
    let accept = format!("/api/lawyers/accept-request/{chat_id}");
    let r = app.post(&accept, other.t(), json!({})).await;
    r.assert_status(404);
    assert_eq!(r.message(), "Chat request not found");
    app.post("/api/lawyers/accept-request/direct_1_2", ravi.t(), json!({})).await.assert_status(400);
    app.post(&format!("/api/lawyers/accept-request/direct_{}_{}", ravi.id(), other.id()), ravi.t(), json!({}))
        .await
        .assert_status(404);
    assert_cache(&app.get("/api/lawyers/my-chats", ravi.t()).await, "MISS");
    let r = app.post(&accept, ravi.t(), json!({})).await;
    r.assert_status(200);
    assert_eq!(r.message(), "Direct message request accepted successfully");
    assert_eq!(r.data()["chat"]["status"], "active");
    let events = drain(&mut rx);
    let ev = emitted(&events, "direct_request_accepted", &asha);
    assert_keys(ev, &["chatId", "lawyer", "timestamp"]);
    assert_eq!(ev["lawyer"], json!({"_id": ravi.id(), "name": "Ravi", "specialization": ["Civil Law", "Family Law"]}));

    let chats = app.get("/api/lawyers/my-chats", ravi.t()).await;
    assert_cache(&chats, "MISS");
    assert_eq!(chats.data()["chats"][0]["chatId"], chat_id.as_str());
    assert_eq!(app.get("/api/lawyers/pending-requests", ravi.t()).await.data()["requests"], json!([]));
}

#[tokio::test]
async fn legacy_client_links_connect_both_sides() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let bela = citizen(&app, "Bela").await;
    let ravi = lawyer(&app, "Ravi", true).await;

    let before = app.get("/api/lawyers/my-clients", ravi.t()).await;
    assert_cache(&before, "MISS");
    assert_eq!(before.data(), &json!([]));
    assert_eq!(before.body["pagination"]["totalItems"], 0);

    let mut rx = app.state().notifier.subscribe();
    let r = app.post(&format!("/api/lawyers/accept-client/{}", asha.id()), ravi.t(), json!({})).await;
    r.assert_status(200);
    assert_eq!(r.body, json!({"success": true, "message": "Client connection accepted successfully"}));
    let events = drain(&mut rx);
    assert_eq!(
        emitted(&events, "connection_accepted", &asha),
        &json!({"lawyer": {"_id": ravi.id(), "name": "Ravi", "specialization": ["Civil Law", "Family Law"]}})
    );

    let again = app.post(&format!("/api/lawyers/accept-client/{}", asha.id()), ravi.t(), json!({})).await;
    again.assert_status(400);
    assert_eq!(again.message(), "Already connected with this client");
    let r = app.post(&format!("/api/lawyers/accept-client/{}", ravi.id()), ravi.t(), json!({})).await;
    r.assert_status(404);
    assert_eq!(r.message(), "Citizen not found");
    app.post("/api/lawyers/accept-client/zz", ravi.t(), json!({})).await.assert_status(400);
    app.post(&format!("/api/lawyers/accept-client/{}", bela.id()), asha.t(), json!({})).await.assert_status(403);

    let clients = app.get("/api/lawyers/my-clients", ravi.t()).await;
    assert_cache(&clients, "MISS");
    assert_keys(&clients.body, &["success", "data", "pagination", "meta"]);
    assert_eq!(clients.body["pagination"]["totalItems"], 1);
    assert_eq!(clients.body["pagination"]["itemsPerPage"], 20);
    let item = &clients.data()[0];
    assert_keys(item, &["_id", "name", "email", "phone", "createdAt", "connectedAt"]);
    assert_eq!(item["_id"], asha.id().as_str());

    app.post(&format!("/api/lawyers/accept-client/{}", bela.id()), ravi.t(), json!({})).await.assert_status(200);
    let clients = app.get("/api/lawyers/my-clients?limit=1&page=2", ravi.t()).await;
    assert_eq!(clients.body["pagination"]["totalItems"], 2);
    assert_eq!(clients.data()[0]["name"], "Bela");

    let lawyers = app.get("/api/citizens/my-lawyers", asha.t()).await;
    lawyers.assert_status(200);
    assert_eq!(lawyers.data()["pagination"], json!({"current": 1, "pages": 1, "total": 1}));
    let item = &lawyers.data()["lawyers"][0];
    assert_keys(item, &["_id", "name", "email", "lawyerDetails", "createdAt", "connectedAt"]);
    assert_eq!(item["_id"], ravi.id().as_str());
    app.get("/api/citizens/my-lawyers", ravi.t()).await.assert_status(403);
}
