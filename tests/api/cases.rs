//! Integration tests: cases (docs/api.md 3.3 #3-6 and #17-20, 3.4 #1, #2, #5, #7-14 and #20, 3.5,
//! 3.6), their socket emits (4.3) and cache invalidation (3.12).

use nyaya::cache::Tag;
use nyaya::db::Sql;
use nyaya::ids::Id;
use nyaya::notify::{Notification, Target};
use nyaya::store::users::{self, Role, User};
use serde_json::{Value, json};
use tokio::sync::broadcast::Receiver;

use crate::helpers::*;

/// A user inserted directly, with a minted access token (no password hashing needed).
struct Actor {
    user: User,
    token: String,
}

impl Actor {
    fn t(&self) -> Option<&str> {
        Some(&self.token)
    }
    fn id(&self) -> String {
        self.user.id.to_string()
    }
}

async fn actor(app: &TestApp, role: Role, name: &str, verified: bool) -> Actor {
    let mut user = User::new(name.into(), unique_email(&name.to_lowercase()), "unused-hash".into(), role);
    if role == Role::Lawyer && verified {
        user.is_verified = true;
        user.lawyer_details =
            Some(json!({"verificationStatus": "verified", "specialization": ["Civil Law"], "experience": 7}));
    }
    users::insert(&app.state().db, &user).await.unwrap();
    let token = app.state().tokens.issue(&user).access;
    Actor { user, token }
}

async fn citizen(app: &TestApp, name: &str) -> Actor {
    actor(app, Role::Citizen, name, false).await
}

async fn lawyer(app: &TestApp, name: &str) -> Actor {
    actor(app, Role::Lawyer, name, true).await
}

const DESCRIPTION: &str = "A description that is comfortably long enough.";

/// Lets the clock move on, so that "newest first" orders are well defined.
async fn tick() {
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
}

async fn new_query(app: &TestApp, owner: &Actor, title: &str) -> String {
    tick().await;
    let r = app
        .post("/api/queries", owner.t(), json!({"title": title, "description": DESCRIPTION, "category": "civil"}))
        .await;
    r.assert_status(201);
    r.data()["query"]["_id"].as_str().unwrap().to_string()
}

async fn new_dispute(app: &TestApp, owner: &Actor, title: &str) -> String {
    tick().await;
    let body = json!({"title": title, "description": DESCRIPTION, "category": "civil", "disputeType": "property"});
    let r = app.post("/api/disputes", owner.t(), body).await;
    r.assert_status(201);
    r.data()["dispute"]["_id"].as_str().unwrap().to_string()
}

/// The lawyer offers help (3.3 #6) and the id of the new `lawyerRequests` entry.
async fn offer(app: &TestApp, lawyer: &Actor, case_type: &str, id: &str) -> String {
    app.post(&format!("/api/lawyers/offer-help/{case_type}/{id}"), lawyer.t(), json!({})).await.assert_status(200);
    tick().await;
    let row = app
        .state()
        .db
        .one(
            &Sql::new("SELECT id FROM case_requests WHERE case_id = $1 AND lawyer_id = $2 AND status = 'pending'")
                .arg(id)
                .arg(&lawyer.user.id),
        )
        .await
        .unwrap();
    nyaya::db::RowExt::text(&row, "id").unwrap()
}

async fn count(app: &TestApp, sql: Sql) -> i64 {
    app.state().db.count(&sql).await.unwrap()
}

/// Everything emitted since the receiver subscribed (or was last drained).
struct Emits(Vec<Notification>);

impl Emits {
    fn take(rx: &mut Receiver<Notification>) -> Emits {
        let mut out = Vec::new();
        while let Ok(n) = rx.try_recv() {
            out.push(n);
        }
        Emits(out)
    }

    /// (recipient user id, payload) of every emit named `event`; only user rooms are expected.
    fn of(&self, event: &str) -> Vec<(String, Value)> {
        self.0
            .iter()
            .filter(|n| n.event == event)
            .map(|n| match &n.target {
                Target::User(id) => (id.to_string(), n.payload.clone()),
                Target::Room(room) => panic!("private event {event} sent to room {room}"),
            })
            .collect()
    }

    fn names(&self) -> Vec<&str> {
        self.0.iter().map(|n| n.event.as_str()).collect()
    }
}

fn cache(r: &Reply) -> &str {
    r.headers.get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn creating_a_query_validates_populates_and_notifies_the_owner() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let vikram = lawyer(&app, "Vikram").await;
    let valid = json!({"title": "Boundary wall", "description": DESCRIPTION, "category": "property"});

    let r = app.post("/api/queries", vikram.t(), valid.clone()).await;
    r.assert_status(403);
    assert_eq!(r.message(), "User role lawyer is not authorized to access this route");
    app.post("/api/queries", None, valid.clone()).await.assert_status(401);

    let bad = json!({"title": "Hi", "description": "short", "category": "space", "priority": "now"});
    let r = app.post("/api/queries", asha.t(), bad).await;
    r.assert_status(400);
    assert_eq!(r.message(), "Validation failed");
    let paths: Vec<&str> = r.body["errors"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["title", "description", "category", "priority"]);
    assert_eq!(r.body["errors"][0]["msg"], "Title must be between 5 and 100 characters");
    assert_eq!(count(&app, Sql::new("SELECT COUNT(*) FROM cases")).await, 0);

    let mut rx = app.state().notifier.subscribe();
    let body = json!({"title": "  Boundary wall  ", "description": DESCRIPTION, "category": "property"});
    let r = app.post("/api/queries", asha.t(), body).await;
    r.assert_status(201);
    assert_eq!(r.message(), "Query created successfully");
    let q = &r.data()["query"];
    assert_eq!(q["title"], "Boundary wall");
    assert_eq!(q["status"], "pending");
    assert_eq!(q["priority"], "medium");
    assert_eq!(q["category"], "property");
    assert_eq!(q["citizen"], json!({"_id": asha.id(), "name": "Asha", "email": asha.user.email}));
    assert!(q["assignedLawyer"].is_null());
    assert_eq!(q["lawyerRequests"], json!([]));
    assert_eq!(q["citizenRequests"], json!([]));
    assert_eq!(q["timeline"][0]["action"], "created");
    assert_eq!(q["timeline"][0]["performedBy"], asha.id());
    assert_eq!(q["__v"], 0);
    assert_eq!(q["createdAt"].as_str().unwrap().len(), 24, "ISO with milliseconds");

    let emits = Emits::take(&mut rx);
    let activity = emits.of("new_activity");
    assert_eq!(activity.len(), 1);
    assert_eq!(activity[0].0, asha.id());
    assert_eq!(activity[0].1["type"], "query");
    assert_eq!(activity[0].1["description"], "Legal query submitted");
    assert_eq!(activity[0].1["id"], q["_id"]);
    let stats =
        json!({"totalCases": 1, "activeCases": 1, "resolvedCases": 0, "connectedLawyers": 0, "pendingRequests": 0});
    for event in ["dashboard_stats_updated", "quick_stats_updated"] {
        assert_eq!(emits.of(event), vec![(asha.id(), stats.clone())], "{event}");
    }
}

#[tokio::test]
async fn disputes_carry_their_type_value_and_opposing_party() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;

    let bad = json!({"title": "Contract breach", "description": DESCRIPTION, "category": "civil", "disputeValue": -5,
                     "opposingParty": {"name": "R"}});
    let r = app.post("/api/disputes", asha.t(), bad).await;
    r.assert_status(400);
    let paths: Vec<&str> = r.body["errors"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["disputeType", "disputeValue", "opposingParty.name"]);

    let mut rx = app.state().notifier.subscribe();
    let body = json!({"title": "Contract breach", "description": DESCRIPTION, "category": "civil", "disputeType": "contract",
                      "disputeValue": 50000, "opposingParty": {"name": " Ravi Builders ", "contact": "9999999999"}});
    let r = app.post("/api/disputes", asha.t(), body).await;
    r.assert_status(201);
    assert_eq!(r.message(), "Dispute created successfully");
    let d = &r.data()["dispute"];
    assert_eq!(d["disputeType"], "contract");
    assert_eq!(d["category"], "civil");
    assert_eq!(d["disputeValue"], 50000.0);
    assert_eq!(d["opposingParty"], json!({"name": "Ravi Builders", "contact": "9999999999"}));
    assert_eq!(d["hearingDates"], json!([]));
    let id = d["_id"].as_str().unwrap().to_string();
    let activity = Emits::take(&mut rx).of("new_activity");
    assert_eq!(activity[0].1["disputeType"], "contract");
    assert_eq!(activity[0].1["description"], "Legal dispute filed");
    new_dispute(&app, &asha, "Property line").await;

    let r = app.get("/api/disputes?disputeType=contract", asha.t()).await;
    r.assert_status(200);
    assert_eq!(r.data().as_array().unwrap().len(), 1, "the frontend reads data as an array");
    assert_eq!(r.body["pagination"]["totalItems"], 1);
    let r = app.get("/api/disputes?disputeType=all&category=civil", asha.t()).await;
    assert_eq!(r.body["pagination"]["totalItems"], 2);
    assert_eq!(app.get("/api/queries", asha.t()).await.body["pagination"]["totalItems"], 0, "disputes are not queries");

    // Disputes have the extra statuses; queries do not.
    let r = app.patch(&format!("/api/disputes/{id}/status"), asha.t(), Some(json!({"status": "mediation"}))).await;
    r.assert_status(200);
    assert_eq!(r.message(), "Dispute status updated successfully");
    let q = new_query(&app, &asha, "Plain query").await;
    let r = app.patch(&format!("/api/queries/{q}/status"), asha.t(), Some(json!({"status": "mediation"}))).await;
    r.assert_status(400);
    assert_eq!(r.body["errors"][0]["path"], "status");
    let r = app
        .patch(
            &format!("/api/disputes/{id}/status"),
            asha.t(),
            Some(json!({"status": "resolved", "resolution": {"type": "settlement", "summary": "Paid"}})),
        )
        .await;
    r.assert_status(200);
    let d = app.get(&format!("/api/disputes/{id}"), asha.t()).await;
    assert_eq!(d.data()["dispute"]["resolution"]["type"], "settlement");
    assert_eq!(d.data()["dispute"]["resolution"]["resolvedBy"], asha.id());
}

#[tokio::test]
async fn lists_are_scoped_by_role_whatever_the_filters_say() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let bala = citizen(&app, "Bala").await;
    let vikram = lawyer(&app, "Vikram").await;
    let admin = actor(&app, Role::Admin, "Admin", false).await;
    let student = actor(&app, Role::LawStudent, "Student", false).await;
    new_query(&app, &asha, "Tenant deposit not returned").await;
    new_query(&app, &asha, "Wage theft at 100% factory").await;
    new_query(&app, &bala, "Neighbour noise complaint").await;

    let r = app.get("/api/queries", asha.t()).await;
    r.assert_status(200);
    let p = &r.body["pagination"];
    assert_eq!(
        (p["currentPage"].clone(), p["totalPages"].clone(), p["totalItems"].clone()),
        (json!(1), json!(1), json!(2))
    );
    assert_eq!(
        (p["itemsPerPage"].clone(), p["hasNextPage"].clone(), p["nextPage"].clone()),
        (json!(20), json!(false), Value::Null)
    );
    assert!(r.body["meta"]["responseSize"].as_u64().unwrap() > 0);
    let item = &r.data()[0];
    assert_eq!(item["citizen"]["name"], "Asha");
    assert!(item["lawyerRequests"].is_array());

    // citizenId/lawyerId cannot widen a citizen's scope.
    let r = app.get(&format!("/api/queries?citizenId={}", bala.id()), asha.t()).await;
    assert_eq!(r.body["pagination"]["totalItems"], 2);
    assert!(r.data().as_array().unwrap().iter().all(|q| q["citizen"]["_id"] == asha.id()));
    // Search is literal and ANDed with the scope.
    assert_eq!(app.get("/api/queries?search=100%25", asha.t()).await.body["pagination"]["totalItems"], 1);
    assert_eq!(app.get("/api/queries?search=_", asha.t()).await.body["pagination"]["totalItems"], 0);
    assert_eq!(app.get("/api/queries?search=noise", asha.t()).await.body["pagination"]["totalItems"], 0);
    // Real totals with paging; fields selection.
    let r = app.get("/api/queries?limit=1&page=2", asha.t()).await;
    assert_eq!(r.data().as_array().unwrap().len(), 1);
    assert_eq!(r.body["pagination"]["totalPages"], 2);
    assert_eq!(r.body["pagination"]["prevPage"], 1);
    let r = app.get("/api/queries?fields=title,password", asha.t()).await;
    let keys: Vec<&String> = r.data()[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["_id", "title"]);

    // Lawyers: the open pool by default, their own assignments or requests otherwise.
    let r = app.get(&format!("/api/queries?citizenId={}&lawyerId={}", bala.id(), admin.id()), vikram.t()).await;
    assert_eq!(r.body["pagination"]["totalItems"], 3);
    assert_eq!(app.get("/api/queries?type=assigned", vikram.t()).await.body["pagination"]["totalItems"], 0);
    assert_eq!(app.get("/api/queries?type=requests", vikram.t()).await.body["pagination"]["totalItems"], 0);

    // Admins see everything and may filter by party.
    assert_eq!(app.get("/api/queries", admin.t()).await.body["pagination"]["totalItems"], 3);
    let r = app.get(&format!("/api/queries?citizenId={}", bala.id()), admin.t()).await;
    assert_eq!(r.body["pagination"]["totalItems"], 1);
    let r = app.get("/api/queries?citizenId=not-an-id", admin.t()).await;
    r.assert_status(400);
    assert_eq!(r.message(), "Invalid citizen ID format");

    let r = app.get("/api/queries", student.t()).await;
    r.assert_status(403);
    app.get("/api/disputes", student.t()).await.assert_status(403);
    app.get("/api/queries", None).await.assert_status(401);
}

/// A new query moves the open pool (every lawyer's default list) and the admins' list, and
/// its owner's: another citizen's list stays cached, and still shows only their own cases.
#[tokio::test]
async fn a_new_query_refreshes_the_pool_and_its_owner_but_not_other_citizens() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let bala = citizen(&app, "Bala").await;
    let vikram = lawyer(&app, "Vikram").await;
    let admin = actor(&app, Role::Admin, "Admin", false).await;
    new_query(&app, &asha, "Tenant deposit not returned").await;
    let readers = [&asha, &bala, &vikram, &admin];
    for who in readers {
        app.get("/api/queries", who.t()).await.assert_status(200);
        crate::connections::assert_cache(&app.get("/api/queries", who.t()).await, "HIT");
    }
    new_query(&app, &bala, "Neighbour noise complaint").await;
    let after: Vec<(String, Value)> = futures::future::join_all(readers.map(|who| app.get("/api/queries", who.t())))
        .await
        .into_iter()
        .map(|r| (r.headers["x-cache"].to_str().unwrap().to_string(), r.body["pagination"]["totalItems"].clone()))
        .collect();
    let expected = [("HIT", 1), ("MISS", 1), ("MISS", 2), ("MISS", 2)];
    let expected: Vec<(String, Value)> = expected.iter().map(|(c, n)| (c.to_string(), json!(n))).collect();
    assert_eq!(after, expected, "Asha's list is untouched; Bala's, the pool and the admin's moved");
}

#[tokio::test]
async fn reading_one_case_checks_access_on_every_request() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let bala = citizen(&app, "Bala").await;
    let l1 = lawyer(&app, "Vikram").await;
    let l2 = lawyer(&app, "Meera").await;
    let unverified = actor(&app, Role::Lawyer, "Pending Lawyer", false).await;
    let student = actor(&app, Role::LawStudent, "Student", false).await;
    let admin = actor(&app, Role::Admin, "Admin", false).await;
    let q = new_query(&app, &asha, "Tenant deposit").await;
    let path = format!("/api/queries/{q}");

    let r = app.get(&path, asha.t()).await;
    r.assert_status(200);
    assert_eq!(cache(&r), "MISS");
    let query = &r.data()["query"];
    assert_eq!(query["citizen"]["email"], asha.user.email);
    assert_eq!(query["timeline"][0]["performedBy"], json!({"_id": asha.id(), "name": "Asha", "role": "citizen"}));
    assert_eq!(cache(&app.get(&path, asha.t()).await), "HIT");
    // A cached entry never reaches another user.
    let r = app.get(&path, bala.t()).await;
    r.assert_status(403);
    assert_eq!(r.message(), "Access denied");
    app.get(&path, l1.t()).await.assert_status(200);
    assert_eq!(cache(&app.get(&path, l2.t()).await), "MISS");
    assert_eq!(cache(&app.get(&path, l2.t()).await), "HIT");
    app.get(&path, unverified.t()).await.assert_status(403);
    app.get(&path, student.t()).await.assert_status(403);
    app.get(&path, admin.t()).await.assert_status(200);

    let r = app.get("/api/queries/nothex", asha.t()).await;
    r.assert_status(400);
    assert_eq!(r.message(), "Invalid query ID format");
    let r = app.get(&format!("/api/queries/{}", Id::new()), asha.t()).await;
    r.assert_status(404);
    assert_eq!(r.message(), "Query not found");
    let r = app.get(&format!("/api/disputes/{q}"), asha.t()).await;
    r.assert_status(404);
    assert_eq!(r.message(), "Dispute not found");

    // Access is decided on every request, even while a cached entry exists: a write that
    // bypassed invalidation (here, straight SQL) still cannot leak the case.
    let db = &app.state().db;
    db.exec(
        &Sql::new("UPDATE cases SET status = 'assigned', assigned_lawyer_id = $1 WHERE id = $2")
            .arg(&l1.user.id)
            .arg(&q),
    )
    .await
    .unwrap();
    app.get(&path, l2.t()).await.assert_status(403);
    db.exec(&Sql::new("UPDATE cases SET status = 'pending', assigned_lawyer_id = NULL WHERE id = $1").arg(&q))
        .await
        .unwrap();
    assert_eq!(cache(&app.get(&path, l2.t()).await), "HIT");

    // Once assigned, only the assigned lawyer (and lawyers with entries) may read it.
    let offer_id = offer(&app, &l1, "query", &q).await;
    app.post(&format!("/api/citizens/accept-case-offer/{offer_id}"), asha.t(), json!({})).await.assert_status(200);
    app.get(&path, l2.t()).await.assert_status(403);
    let r = app.get(&path, l1.t()).await;
    r.assert_status(200);
    assert_eq!(r.data()["query"]["assignedLawyer"]["lawyerDetails"]["specialization"], json!(["Civil Law"]));
    let r = app.get(&path, asha.t()).await;
    assert_eq!(cache(&r), "MISS", "the owner's cached copy was invalidated");
    assert_eq!(r.data()["query"]["status"], "assigned");
    assert_eq!(r.data()["query"]["assignedLawyer"]["name"], "Vikram");
}

#[tokio::test]
async fn send_request_and_respond_refuse_self_assignment() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let bala = citizen(&app, "Bala").await;
    let l1 = lawyer(&app, "Vikram").await;
    let l2 = lawyer(&app, "Meera").await;
    let unverified = actor(&app, Role::Lawyer, "Pending Lawyer", false).await;
    let admin = actor(&app, Role::Admin, "Admin", false).await;
    let q = new_query(&app, &asha, "Tenant deposit").await;

    let mut rx = app.state().notifier.subscribe();
    let r = app.post(&format!("/api/queries/{q}/send-request"), l1.t(), json!({"message": "I can help"})).await;
    r.assert_status(200);
    assert_eq!(r.message(), "Request sent successfully");
    let sent = Emits::take(&mut rx).of("query_request_sent");
    assert_eq!(sent.len(), 1, "only the citizen's room");
    assert_eq!(sent[0].0, asha.id());
    assert_eq!(sent[0].1["targetUserId"], asha.id());
    assert_eq!(sent[0].1["requestData"]["requestType"], "lawyer_to_citizen");
    assert_eq!(sent[0].1["requestData"]["queryId"], q);
    assert_eq!(sent[0].1["requestData"]["lawyer"]["_id"], l1.id());
    let request_id = sent[0].1["requestData"]["requestId"].as_str().unwrap().to_string();
    let r = app.post(&format!("/api/queries/{q}/request"), l1.t(), json!({})).await;
    r.assert_status(400);
    assert_eq!(r.message(), "You have already requested to handle this query");

    let respond = format!("/api/queries/{q}/requests/{request_id}/respond");
    let r = app.post(&respond, l1.t(), json!({"action": "accept"})).await;
    r.assert_status(403);
    assert_eq!(r.message(), "Access denied - you cannot respond to this request");
    let stored = app.get(&format!("/api/queries/{q}"), asha.t()).await;
    assert_eq!(stored.data()["query"]["status"], "pending", "a refused self-acceptance changes nothing");
    assert!(stored.data()["query"]["assignedLawyer"].is_null());
    let r = app.post(&respond, asha.t(), json!({"action": "maybe"})).await;
    r.assert_status(400);
    assert_eq!(r.message(), r#"Invalid action. Use "accept" or "reject""#);
    app.post(&respond, bala.t(), json!({"action": "accept"})).await.assert_status(403);
    let r = app
        .post(&format!("/api/queries/{q}/requests/{}/respond", Id::new()), asha.t(), json!({"action": "accept"}))
        .await;
    r.assert_status(404);
    assert_eq!(r.message(), "Request not found");

    Emits::take(&mut rx);
    let r = app.post(&respond, asha.t(), json!({"action": "accept"})).await;
    r.assert_status(200);
    assert_eq!(r.message(), "Request accepted successfully");
    let emits = Emits::take(&mut rx);
    let assigned = emits.of("case_assigned");
    let mut rooms: Vec<&str> = assigned.iter().map(|(to, _)| to.as_str()).collect();
    rooms.sort();
    let mut expected = vec![asha.id(), l1.id()];
    expected.sort();
    assert_eq!(rooms, expected);
    assert_eq!(assigned[0].1["caseData"]["queryId"], q);
    assert_eq!(assigned[0].1["caseData"]["responder"]["role"], "citizen");
    assert_eq!(
        emits.of("request_response"),
        vec![(
            l1.id(),
            json!({"queryId": q, "requestId": request_id, "action": "accept",
        "caseType": "query", "responder": {"_id": asha.id(), "name": "Asha", "role": "citizen"}})
        )]
    );
    let query = app.get(&format!("/api/queries/{q}"), asha.t()).await;
    let query = &query.data()["query"];
    assert_eq!(query["status"], "assigned");
    assert_eq!(query["assignedLawyer"]["_id"], l1.id());
    let actions: Vec<&str> =
        query["timeline"].as_array().unwrap().iter().map(|t| t["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["created", "assigned", "status_change"]);
    let chat =
        Sql::new("SELECT COUNT(*) FROM chat_participants p JOIN chats c ON c.id = p.chat_ref WHERE c.chat_id = $1")
            .arg(format!("query_{q}"));
    assert_eq!(count(&app, chat).await, 2, "the case chat exists with both parties");
    let r = app.post(&respond, asha.t(), json!({"action": "accept"})).await;
    r.assert_status(400);
    assert_eq!(r.message(), "Request has already been responded to");

    // A citizen invites a lawyer; only that lawyer may accept the invitation.
    let q2 = new_query(&app, &asha, "Wage theft").await;
    let send = format!("/api/queries/{q2}/send-request");
    let r = app.post(&send, asha.t(), json!({})).await;
    r.assert_status(400);
    assert_eq!(r.message(), "Target lawyer ID is required");
    let r = app.post(&send, asha.t(), json!({"targetUserId": unverified.id()})).await;
    r.assert_status(404);
    assert_eq!(r.message(), "Lawyer not found or not verified");
    let r = app.post(&send, bala.t(), json!({"targetUserId": l2.id()})).await;
    r.assert_status(400);
    assert_eq!(r.message(), "You can only request lawyers for your own queries");
    app.post(&send, admin.t(), json!({"targetUserId": l2.id()})).await.assert_status(403);
    let r = app.post(&send, unverified.t(), json!({})).await;
    r.assert_status(403);
    assert_eq!(r.body["code"], "LAWYER_NOT_VERIFIED");
    Emits::take(&mut rx);
    app.post(&send, asha.t(), json!({"targetUserId": l2.id(), "message": "Please"})).await.assert_status(200);
    let sent = Emits::take(&mut rx).of("query_request_sent");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, l2.id());
    assert_eq!(sent[0].1["requestData"]["requestType"], "citizen_to_lawyer");
    assert_eq!(sent[0].1["requestData"]["citizen"], json!({"_id": asha.id(), "name": "Asha"}));
    let invitation = sent[0].1["requestData"]["requestId"].as_str().unwrap().to_string();
    let respond = format!("/api/queries/{q2}/requests/{invitation}/respond");
    app.post(&respond, asha.t(), json!({"action": "accept"})).await.assert_status(403);
    app.post(&respond, l2.t(), json!({"action": "accept"})).await.assert_status(200);
    let q2_doc = app.get(&format!("/api/queries/{q2}"), asha.t()).await;
    assert_eq!(q2_doc.data()["query"]["assignedLawyer"]["_id"], l2.id());
    let r = app.post(&send, asha.t(), json!({"targetUserId": l1.id()})).await;
    r.assert_status(400);
    assert_eq!(r.message(), "Query is not available for requests");
}

#[tokio::test]
async fn status_changes_are_authorized_validated_and_recorded() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let bala = citizen(&app, "Bala").await;
    let l1 = lawyer(&app, "Vikram").await;
    let l2 = lawyer(&app, "Meera").await;
    let admin = actor(&app, Role::Admin, "Admin", false).await;
    let q = new_query(&app, &asha, "Tenant deposit").await;
    let offer_id = offer(&app, &l1, "query", &q).await;
    app.post(&format!("/api/citizens/accept-case-offer/{offer_id}"), asha.t(), json!({})).await.assert_status(200);
    let status = format!("/api/queries/{q}/status");

    let r = app.patch(&status, asha.t(), Some(json!({"status": "done"}))).await;
    r.assert_status(400);
    assert_eq!(r.message(), "Validation failed");
    app.patch(&status, asha.t(), Some(json!({}))).await.assert_status(400);
    app.patch(&format!("/api/queries/{}/status", Id::new()), asha.t(), Some(json!({"status": "closed"})))
        .await
        .assert_status(404);
    for other in [&bala, &l2] {
        let r = app.patch(&status, other.t(), Some(json!({"status": "closed"}))).await;
        r.assert_status(403);
        assert_eq!(r.message(), "Access denied");
    }

    let mut rx = app.state().notifier.subscribe();
    let r = app.patch(&status, l1.t(), Some(json!({"status": "in-progress", "notes": "Drafted a legal notice"}))).await;
    r.assert_status(200);
    assert_eq!(r.message(), "Query status updated successfully");
    let expected = json!({"queryId": q, "newStatus": "in-progress", "updatedBy": {"_id": l1.id(), "name": "Vikram", "role": "lawyer"}});
    assert_eq!(Emits::take(&mut rx).of("query_status_updated"), vec![(asha.id(), expected)], "the actor is skipped");
    let doc = app.get(&format!("/api/queries/{q}"), asha.t()).await;
    let doc = &doc.data()["query"];
    assert_eq!(doc["status"], "in-progress");
    let last = doc["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["action"].clone(), last["description"].clone()),
        (json!("status_change"), json!("Status changed to in-progress"))
    );
    assert_eq!(doc["notes"][0]["content"], "Drafted a legal notice");
    assert_eq!(doc["notes"][0]["author"]["name"], "Vikram");

    let dashboard = app.get("/api/lawyers/dashboard/stats", l1.t()).await;
    assert_eq!(dashboard.data()["activeCases"], 1);
    app.patch(&status, asha.t(), Some(json!({"status": "resolved"}))).await.assert_status(200);
    assert_eq!(Emits::take(&mut rx).of("query_status_updated")[0].0, l1.id());
    let doc = app.get(&format!("/api/queries/{q}"), asha.t()).await;
    assert_eq!(doc.data()["query"]["resolution"]["resolvedBy"], asha.id());
    assert!(doc.data()["query"]["resolution"]["resolvedAt"].is_string());
    let dashboard = app.get("/api/lawyers/dashboard/stats", l1.t()).await;
    assert_eq!(cache(&dashboard), "MISS");
    assert_eq!(dashboard.data()["resolvedCases"], 1);
    assert_eq!(dashboard.data()["activeCases"], 0);
    app.patch(&status, admin.t(), Some(json!({"status": "closed"}))).await.assert_status(200);
}

#[tokio::test]
async fn available_cases_show_open_cases_with_the_lawyers_flag() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let l1 = lawyer(&app, "Vikram").await;
    let l2 = lawyer(&app, "Meera").await;
    let unverified = actor(&app, Role::Lawyer, "Pending Lawyer", false).await;
    let q1 = new_query(&app, &asha, "Land title search").await;
    let d1 = new_dispute(&app, &asha, "Land boundary fight").await;
    let q2 = new_query(&app, &asha, "Land lease renewal").await;
    let taken = offer(&app, &l2, "query", &q2).await;
    app.post(&format!("/api/citizens/accept-case-offer/{taken}"), asha.t(), json!({})).await.assert_status(200);

    let path = "/api/lawyers/available-cases?search=Land";
    let r = app.get(path, l1.t()).await;
    r.assert_status(200);
    assert_eq!(cache(&r), "MISS");
    let cases = r.data()["cases"].as_array().unwrap().clone();
    assert_eq!(cases.len(), 2, "search is ANDed with unassigned");
    assert_eq!(r.data()["pagination"], json!({"current": 1, "pages": 1, "total": 2}));
    assert_eq!(r.body["pagination"]["totalItems"], 2);
    assert!(r.body["meta"]["responseSize"].as_u64().unwrap() > 0);
    assert!(cases.iter().all(|c| c["hasLawyerRequested"] == false && c["citizen"]["name"] == "Asha"));
    let types: Vec<&str> = cases.iter().map(|c| c["caseType"].as_str().unwrap()).collect();
    assert_eq!(types, ["dispute", "query"], "newest first, both types merged");
    assert_eq!(cache(&app.get(path, l1.t()).await), "HIT");

    let mut rx = app.state().notifier.subscribe();
    let r = app
        .post(
            &format!("/api/lawyers/offer-help/query/{q1}"),
            l1.t(),
            json!({"message": "Happy to help", "proposedFee": 5000}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.message(), "Offer sent successfully");
    let offers = Emits::take(&mut rx).of("new_lawyer_offer");
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].0, asha.id());
    let payload = &offers[0].1;
    assert_eq!((payload["caseType"].clone(), payload["caseId"].clone()), (json!("query"), json!(q1)));
    assert_eq!(payload["from"], json!({"_id": l1.id(), "name": "Vikram", "specialization": ["Civil Law"]}));
    assert_eq!(payload["proposedFee"], 5000.0);
    let r = app.post(&format!("/api/lawyers/offer-help/query/{q1}"), l1.t(), json!({})).await;
    r.assert_status(400);
    assert_eq!(r.message(), "You have already offered help for this case");
    let r = app.post(&format!("/api/lawyers/offer-help/lawsuit/{q1}"), l1.t(), json!({})).await;
    r.assert_status(400);
    assert_eq!(r.message(), "Invalid case type. Must be 'query' or 'dispute'");
    app.post("/api/lawyers/offer-help/query/xyz", l1.t(), json!({})).await.assert_status(400);
    let r = app.post(&format!("/api/lawyers/offer-help/query/{}", Id::new()), l1.t(), json!({})).await;
    r.assert_status(404);
    assert_eq!(r.message(), "Query not found");
    let r = app.post(&format!("/api/lawyers/offer-help/dispute/{q1}"), l1.t(), json!({})).await;
    assert_eq!(r.message(), "Dispute not found");
    let r = app.post(&format!("/api/lawyers/offer-help/query/{q2}"), l1.t(), json!({})).await;
    r.assert_status(400);
    assert_eq!(r.message(), "Case is not available for offers");

    let r = app.get(path, l1.t()).await;
    assert_eq!(cache(&r), "MISS", "the lawyer's own offer invalidates their views");
    let flagged: Vec<bool> =
        r.data()["cases"].as_array().unwrap().iter().map(|c| c["hasLawyerRequested"] == true).collect();
    assert_eq!(flagged, [false, true]);
    let other = app.get(path, l2.t()).await;
    assert!(other.data()["cases"].as_array().unwrap().iter().all(|c| c["hasLawyerRequested"] == false));

    new_query(&app, &asha, "Land survey dispute").await;
    let r = app.get(path, l1.t()).await;
    assert_eq!(cache(&r), "MISS", "a new case reaches every available-cases view");
    assert_eq!(r.data()["pagination"]["total"], 3);
    let r = app.get("/api/lawyers/available-cases?caseType=dispute", l1.t()).await;
    assert_eq!(r.data()["cases"][0]["_id"], d1);
    assert_eq!(r.data()["pagination"]["total"], 1);
    let r = app.get("/api/lawyers/available-cases?fields=title&limit=1", l1.t()).await;
    let keys: Vec<&String> = r.data()["cases"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["_id", "title", "caseType", "hasLawyerRequested"]);
    assert_eq!(r.data()["pagination"]["pages"], 3);

    let r = app.get("/api/lawyers/available-cases", unverified.t()).await;
    r.assert_status(403);
    assert_eq!(r.body["code"], "LAWYER_NOT_VERIFIED");
    assert_eq!(r.body["data"]["verificationStatus"], "pending");
}

#[tokio::test]
async fn accepting_an_offer_assigns_the_case_and_opens_its_chat() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let bala = citizen(&app, "Bala").await;
    let l1 = lawyer(&app, "Vikram").await;
    let l2 = lawyer(&app, "Meera").await;
    let q = new_query(&app, &asha, "Tenant deposit").await;
    let mut rx = app.state().notifier.subscribe();
    for l in [&l1, &l2] {
        let r = app
            .post(
                &format!("/api/queries/{q}/offer-help"),
                l.t(),
                json!({"message": "Let me help", "estimatedDuration": "2 weeks"}),
            )
            .await;
        r.assert_status(200);
    }
    let sent = Emits::take(&mut rx).of("lawyer_request_sent");
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter().all(|(to, p)| to == &asha.id() && p["citizenId"] == asha.id() && p["requestData"]["queryId"] == q)
    );
    let r = app.post(&format!("/api/queries/{q}/offer-help"), l1.t(), json!({})).await;
    assert_eq!(r.message(), "You have already offered help for this query");

    let mine = app.get("/api/citizens/my-cases", asha.t()).await;
    assert_eq!(cache(&mine), "MISS");
    let case = &mine.data()["cases"][0];
    assert!(case["chatRoom"].is_null());
    assert_eq!(case["receivedOffers"].as_array().unwrap().len(), 2);
    assert_eq!(case["receivedOffers"][0]["lawyerId"]["name"], "Vikram");
    assert_eq!(case["caseType"], "query");
    assert_eq!(cache(&app.get("/api/citizens/my-cases", asha.t()).await), "HIT");

    let received = app.get("/api/citizens/received-offers", asha.t()).await;
    let offers = received.data()["offers"].as_array().unwrap().clone();
    assert_eq!(offers.len(), 2);
    assert_eq!(received.data()["pagination"], json!({"current": 1, "pages": 1, "total": 2}));
    assert!(offers.iter().all(|o| o["caseTitle"] == "Tenant deposit" && o["caseId"] == q && o["status"] == "pending"));
    let listed = app.get("/api/citizens/my-case-offers", asha.t()).await;
    let offers = listed.data()["offers"].as_array().unwrap().clone();
    let mine_of = |lawyer: &Actor| offers.iter().find(|o| o["lawyer"]["_id"] == lawyer.id()).unwrap().clone();
    let first = mine_of(&l1);
    assert_eq!(first["lawyer"]["specialization"], json!(["Civil Law"]));
    assert_eq!(first["lawyer"]["experience"], 7);
    assert_eq!(first["caseType"], "query");
    let first_id = first["requestId"].as_str().unwrap().to_string();
    let second_id = mine_of(&l2)["requestId"].as_str().unwrap().to_string();

    let r = app.post(&format!("/api/citizens/accept-case-offer/{first_id}"), bala.t(), json!({})).await;
    r.assert_status(404);
    assert_eq!(r.message(), "Case offer not found");
    app.post("/api/citizens/accept-case-offer/bad", asha.t(), json!({})).await.assert_status(400);

    Emits::take(&mut rx);
    let r =
        app.post(&format!("/api/citizens/accept-case-offer/{first_id}"), asha.t(), json!({"response": "Thanks"})).await;
    r.assert_status(200);
    assert_eq!(r.message(), "Case offer accepted successfully");
    let chat_id = format!("query_{q}");
    assert_eq!(r.data()["chat"]["chatId"], chat_id);
    assert!(r.data()["chat"]["_id"].is_string());
    assert_eq!(r.data()["request"]["status"], "accepted");
    let accepted = Emits::take(&mut rx).of("case_offer_accepted");
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].0, l1.id());
    assert_eq!(accepted[0].1["chatId"], chat_id);
    assert_eq!(accepted[0].1["citizen"], json!({"_id": asha.id(), "name": "Asha"}));
    // The other offer was answered by the assignment: accepting or rejecting it now is stale.
    let r = app.post(&format!("/api/citizens/accept-case-offer/{second_id}"), asha.t(), json!({})).await;
    r.assert_status(400);
    assert_eq!(r.message(), "Case offer has already been responded to");
    app.post(&format!("/api/citizens/reject-case-offer/{second_id}"), asha.t(), json!({})).await.assert_status(400);

    let mine = app.get("/api/citizens/my-cases", asha.t()).await;
    assert_eq!(cache(&mine), "MISS");
    let case = &mine.data()["cases"][0];
    assert_eq!(case["status"], "assigned");
    assert_eq!(case["assignedLawyer"]["name"], "Vikram");
    assert_eq!(case["chatRoom"], json!({"chatId": chat_id, "status": "active", "lastMessage": null, "unreadCount": 0}));
    let statuses: Vec<&str> =
        case["receivedOffers"].as_array().unwrap().iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["accepted", "rejected"]);

    let theirs = app.get("/api/lawyers/my-cases", l1.t()).await;
    theirs.assert_status(200);
    assert_eq!(theirs.data()["pagination"]["total"], 1);
    assert_eq!(theirs.data()["cases"][0]["citizen"]["email"], asha.user.email);
    assert_eq!(theirs.data()["cases"][0]["chatRoom"]["chatId"], chat_id);
    assert_eq!(app.get("/api/lawyers/my-cases", l2.t()).await.data()["pagination"]["total"], 0);

    // Unread = not mine, not deleted, no read receipt of mine.
    let db = &app.state().db;
    let now = nyaya::time::now_iso();
    // A chat's messages are stored in strictly increasing time (the database refuses ties).
    let start = nyaya::time::now();
    for (i, (content, deleted)) in [("Hello", false), ("Gone", true), ("Are you there?", false)].into_iter().enumerate()
    {
        let at = nyaya::time::iso(start + chrono::Duration::milliseconds(i as i64));
        db.exec(
            &Sql::new(
                "INSERT INTO messages (id, chat_ref, sender_id, content, sent_at, is_deleted) \
                 VALUES ($1, (SELECT id FROM chats WHERE chat_id = $2), $3, $4, $5, $6)",
            )
            .arg(Id::new())
            .arg(&chat_id)
            .arg(&asha.user.id)
            .arg(content)
            .arg(&at)
            .arg(deleted),
        )
        .await
        .unwrap();
    }
    db.exec(
        &Sql::new(
            "INSERT INTO message_reads (message_id, user_id, read_at) \
             SELECT id, $1, $2 FROM messages WHERE content = 'Hello'",
        )
        .arg(&l1.user.id)
        .arg(&now),
    )
    .await
    .unwrap();
    // What the chat service does when a message is sent.
    app.state().cache.invalidate([Tag::Law(l1.user.id.clone()), Tag::Cit(asha.user.id.clone())]).await;
    let room = app.get("/api/lawyers/my-cases", l1.t()).await.data()["cases"][0]["chatRoom"].clone();
    assert_eq!(room["unreadCount"], 1);
    // The database made the newest message the chat's last one.
    let last_at = nyaya::time::iso(start + chrono::Duration::milliseconds(2));
    assert_eq!(room["lastMessage"], json!({"content": "Are you there?", "timestamp": last_at, "sender": asha.id()}));
    let room = app.get("/api/citizens/my-cases", asha.t()).await.data()["cases"][0]["chatRoom"].clone();
    assert_eq!(room["unreadCount"], 0, "own messages are never unread");

    // Rejection: no event, entry rejected.
    let q2 = new_query(&app, &asha, "Wage theft").await;
    let offer_id = offer(&app, &l2, "query", &q2).await;
    Emits::take(&mut rx);
    let r = app.post(&format!("/api/citizens/reject-case-offer/{offer_id}"), asha.t(), json!({})).await;
    r.assert_status(200);
    assert_eq!(r.message(), "Case offer rejected");
    assert_eq!(r.data()["request"]["status"], "rejected");
    assert!(r.data()["request"]["respondedAt"].is_string());
    assert!(Emits::take(&mut rx).names().is_empty());
}

/// Waits for the two emails of an assignment and checks who they name and where they link.
async fn assert_assignment_emailed(app: &TestApp, lawyer: &Actor, citizen: &Actor, kind: &str, id: &str, title: &str) {
    let link = format!("http://localhost:5174/chat/{kind}_{id}");
    let (l, c) = (&lawyer.user.name, &citizen.user.name);
    let to_lawyer = mail_to(app, &lawyer.user.email, &format!("A new {kind} is assigned to you - ChainVerdict")).await;
    assert!(to_lawyer.contains(&format!("Dear {l},")), "{to_lawyer}");
    assert!(
        to_lawyer.contains(&format!("You are now the assigned lawyer of the {kind} \"{title}\" from {c}.")),
        "{to_lawyer}"
    );
    assert!(to_lawyer.contains(&link), "{to_lawyer}");
    let to_citizen =
        mail_to(app, &citizen.user.email, &format!("A lawyer is assigned to your {kind} - ChainVerdict")).await;
    assert!(to_citizen.contains(&format!("Dear {c},")), "{to_citizen}");
    assert!(
        to_citizen.contains(&format!("{l} is now the assigned lawyer of your {kind} \"{title}\".")),
        "{to_citizen}"
    );
    assert!(to_citizen.contains(&link), "{to_citizen}");
}

#[tokio::test]
async fn every_way_of_assigning_a_case_emails_the_lawyer_and_the_citizen() {
    let app = spawn().await;

    // The citizen accepts a lawyer's offer (3.4 #13).
    let (asha, vikram) = (citizen(&app, "Asha").await, lawyer(&app, "Vikram").await);
    let q = new_query(&app, &asha, "Tenant deposit").await;
    let offer_id = offer(&app, &vikram, "query", &q).await;
    app.post(&format!("/api/citizens/accept-case-offer/{offer_id}"), asha.t(), json!({})).await.assert_status(200);
    assert_assignment_emailed(&app, &vikram, &asha, "query", &q, "Tenant deposit").await;

    // A lawyer accepts the citizen's request (3.3 #19).
    let (bala, meera) = (citizen(&app, "Bala").await, lawyer(&app, "Meera").await);
    let d = new_dispute(&app, &bala, "Boundary wall").await;
    let r =
        app.post(&format!("/api/citizens/request-lawyer-for-dispute/{d}/{}", meera.id()), bala.t(), json!({})).await;
    r.assert_status(200);
    let request_id = r.data()["requestId"].as_str().unwrap().to_string();
    app.post(&format!("/api/lawyers/accept-case-request/{request_id}"), meera.t(), json!({})).await.assert_status(200);
    assert_assignment_emailed(&app, &meera, &bala, "dispute", &d, "Boundary wall").await;

    // The citizen accepts through the case's own respond route (3.5 #3).
    let (chitra, kiran) = (citizen(&app, "Chitra").await, lawyer(&app, "Kiran").await);
    let q2 = new_query(&app, &chitra, "Wage theft").await;
    let entry = offer(&app, &kiran, "query", &q2).await;
    let r =
        app.post(&format!("/api/queries/{q2}/requests/{entry}/respond"), chitra.t(), json!({"action": "accept"})).await;
    r.assert_status(200);
    assert_assignment_emailed(&app, &kiran, &chitra, "query", &q2, "Wage theft").await;
}

#[tokio::test]
async fn citizens_ask_lawyers_who_accept_reject_or_see_it_revoked() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let bala = citizen(&app, "Bala").await;
    let l1 = lawyer(&app, "Vikram").await;
    let l2 = lawyer(&app, "Meera").await;
    let unverified = actor(&app, Role::Lawyer, "Pending Lawyer", false).await;
    let q1 = new_query(&app, &asha, "Tenant deposit").await;
    let q2 = new_query(&app, &asha, "Wage theft").await;
    let d1 = new_dispute(&app, &asha, "Boundary wall").await;

    let ask = |case: &str, lawyer: &str| format!("/api/citizens/request-lawyer-for-query/{case}/{lawyer}");
    let r = app.post(&ask(&q1, &l1.id()), bala.t(), json!({})).await;
    r.assert_status(404);
    assert_eq!(r.message(), "Query not found or access denied");
    let r = app.post(&ask(&q1, &unverified.id()), asha.t(), json!({})).await;
    r.assert_status(404);
    assert_eq!(r.message(), "Lawyer not found or not verified");
    app.post(&ask(&q1, "bad"), asha.t(), json!({})).await.assert_status(400);

    let mut rx = app.state().notifier.subscribe();
    let r = app.post(&ask(&q1, &l1.id()), asha.t(), json!({"message": "Please take my case"})).await;
    r.assert_status(200);
    assert_eq!(r.message(), "Request sent to lawyer successfully");
    assert_eq!(r.data()["lawyer"], json!({"_id": l1.id(), "name": "Vikram", "specialization": ["Civil Law"]}));
    let request_q1 = r.data()["requestId"].as_str().unwrap().to_string();
    let received = Emits::take(&mut rx).of("citizen_request_received");
    assert_eq!(
        received,
        vec![(
            l1.id(),
            json!({"type": "query", "caseId": q1, "caseTitle": "Tenant deposit",
            "citizen": {"_id": asha.id(), "name": "Asha", "email": asha.user.email}, "message": "Please take my case",
            "requestId": request_q1})
        )]
    );
    let r = app.post(&ask(&q1, &l1.id()), asha.t(), json!({})).await;
    r.assert_status(400);
    assert_eq!(r.message(), "You have already requested this lawyer for this query");
    tick().await;
    let r = app.post(&format!("/api/citizens/request-lawyer-for-dispute/{d1}/{}", l1.id()), asha.t(), json!({})).await;
    r.assert_status(200);
    let request_d1 = r.data()["requestId"].as_str().unwrap().to_string();
    tick().await;
    app.post(&ask(&q2, &l2.id()), asha.t(), json!({})).await.assert_status(200);

    let pending = app.get("/api/citizens/pending-requests", asha.t()).await;
    let requests = pending.data()["requests"].as_array().unwrap().clone();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0]["caseId"], q2, "newest first");
    assert_eq!(requests[0]["lawyerId"]["name"], "Meera");
    assert!(requests[0]["caseCreatedAt"].is_string());
    let disputes = app.get("/api/citizens/pending-requests?caseType=dispute", asha.t()).await;
    assert_eq!(disputes.data()["requests"][0]["message"], "I would like you to handle my legal dispute.");
    assert_eq!(disputes.data()["pagination"]["total"], 1);
    let sent = app.get("/api/citizens/my-case-requests?limit=2", asha.t()).await;
    assert_eq!(sent.data()["requests"].as_array().unwrap().len(), 2);
    assert_eq!(sent.data()["pagination"], json!({"current": 1, "pages": 2, "total": 3}), "real totals");
    assert_eq!(sent.data()["requests"][0]["lawyer"]["name"], "Meera");
    assert_eq!(app.get("/api/citizens/dashboard", asha.t()).await.data()["pendingRequests"], 3);

    let inbox = app.get("/api/lawyers/received-case-requests", l1.t()).await;
    let items = inbox.data()["requests"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["citizen"], json!({"_id": asha.id(), "name": "Asha", "email": asha.user.email}));
    assert_eq!(items[1]["requestId"], request_q1);
    assert_eq!(items[1]["caseTitle"], "Tenant deposit");

    Emits::take(&mut rx);
    let r = app.post(&format!("/api/lawyers/accept-case-request/{request_q1}"), l2.t(), json!({})).await;
    r.assert_status(404);
    assert_eq!(r.message(), "Case request not found");
    let r =
        app.post(&format!("/api/lawyers/accept-case-request/{request_q1}"), l1.t(), json!({"response": "Sure"})).await;
    r.assert_status(200);
    assert_eq!(r.message(), "Case request accepted successfully");
    assert_eq!(r.data()["chat"], json!({"chatId": format!("query_{q1}"), "caseType": "query"}));
    assert_eq!(r.data()["request"]["status"], "accepted");
    let accepted = Emits::take(&mut rx).of("case_request_accepted");
    assert_eq!(
        accepted,
        vec![(
            asha.id(),
            json!({"caseType": "query", "caseId": q1, "chatId": format!("query_{q1}"),
            "lawyer": {"_id": l1.id(), "name": "Vikram"}})
        )]
    );
    let r = app.post(&format!("/api/lawyers/accept-case-request/{request_q1}"), l1.t(), json!({})).await;
    r.assert_status(400);
    assert_eq!(r.message(), "Case request has already been responded to");

    let r = app.post(&format!("/api/lawyers/reject-case-request/{request_d1}"), l1.t(), json!({})).await;
    r.assert_status(200);
    assert_eq!(r.message(), "Case request rejected");
    assert_eq!(r.data()["request"]["status"], "rejected");
    assert!(Emits::take(&mut rx).names().is_empty(), "rejections emit nothing");
    let rejected = app.get("/api/lawyers/received-case-requests?status=rejected", l1.t()).await;
    assert_eq!(rejected.data()["requests"][0]["caseType"], "dispute");
    assert_eq!(rejected.data()["pagination"]["total"], 1);

    // Revoke: the lawyer's inbox shows the change on the next read.
    let inbox = app.get("/api/lawyers/received-case-requests", l2.t()).await;
    assert_eq!(inbox.data()["pagination"]["total"], 1);
    assert_eq!(cache(&app.get("/api/lawyers/received-case-requests", l2.t()).await), "HIT");
    let revoke = format!("/api/citizens/revoke-case-request/query/{q2}/{}", l2.id());
    let r = app.delete(&revoke, bala.t()).await;
    r.assert_status(404);
    assert_eq!(r.message(), "Query not found or access denied");
    app.delete(&format!("/api/citizens/revoke-case-request/thing/{q2}/{}", l2.id()), asha.t()).await.assert_status(400);
    let r = app.delete(&revoke, asha.t()).await;
    r.assert_status(200);
    assert_eq!(r.message(), "Case request revoked successfully");
    let revoked = Emits::take(&mut rx).of("case_request_revoked");
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].0, l2.id());
    assert_eq!((revoked[0].1["caseId"].clone(), revoked[0].1["citizenId"].clone()), (json!(q2), json!(asha.id())));
    let r = app.delete(&revoke, asha.t()).await;
    r.assert_status(404);
    assert_eq!(r.message(), "Request not found or already processed");
    let inbox = app.get("/api/lawyers/received-case-requests", l2.t()).await;
    assert_eq!(cache(&inbox), "MISS");
    assert_eq!(inbox.data()["pagination"]["total"], 0);

    // The lawyer's own offers, one item per case.
    offer(&app, &l2, "query", &q2).await;
    let mine = app.get("/api/lawyers/my-case-requests", l2.t()).await;
    let items = mine.data()["requests"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["caseId"], q2);
    assert_eq!(items[0]["status"], "pending");
    assert_eq!(items[0]["citizen"]["name"], "Asha");
    assert_eq!(items[0]["message"], "I would like to help you with this query");
    assert_eq!(app.get("/api/lawyers/my-case-requests?status=accepted", l2.t()).await.data()["pagination"]["total"], 0);
}

#[tokio::test]
async fn dashboards_and_activity_count_cases_connections_and_offers() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let l1 = lawyer(&app, "Vikram").await;
    let l2 = lawyer(&app, "Meera").await;
    let l3 = lawyer(&app, "Kiran").await;
    let q1 = new_query(&app, &asha, "Tenant deposit").await;
    let q2 = new_query(&app, &asha, "Wage theft").await;
    let d1 = new_dispute(&app, &asha, "Boundary wall").await;
    let accepted = offer(&app, &l1, "query", &q1).await;
    app.post(&format!("/api/citizens/accept-case-offer/{accepted}"), asha.t(), json!({})).await.assert_status(200);
    app.patch(&format!("/api/queries/{q1}/status"), l1.t(), Some(json!({"status": "in-progress"})))
        .await
        .assert_status(200);
    offer(&app, &l2, "query", &q2).await;
    app.patch(&format!("/api/disputes/{d1}/status"), asha.t(), Some(json!({"status": "resolved"})))
        .await
        .assert_status(200);
    let db = &app.state().db;
    for (lawyer, status, active) in [(&l1, "accepted", true), (&l2, "pending", true), (&l3, "pending", false)] {
        let now = nyaya::time::now_iso();
        db.exec(
            &Sql::new(
                "INSERT INTO direct_connections (id, citizen_id, lawyer_id, status, request_message, requested_at, is_active, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, 'Hello', $5, $6, $5, $5)",
            )
            .arg(Id::new())
            .arg(&asha.user.id)
            .arg(&lawyer.user.id)
            .arg(status)
            .arg(&now)
            .arg(active),
        )
        .await
        .unwrap();
    }

    let r = app.get("/api/citizens/dashboard", asha.t()).await;
    r.assert_status(200);
    assert_eq!(cache(&r), "MISS");
    assert_eq!(
        r.data(),
        &json!({"totalQueries": 2, "activeQueries": 1, "resolvedQueries": 0, "totalDisputes": 1, "activeDisputes": 0,
            "resolvedDisputes": 1, "totalCases": 3, "activeCases": 1, "resolvedCases": 1, "connectedLawyers": 1,
            "pendingRequests": 1, "receivedOffers": 1})
    );
    assert_eq!(cache(&app.get("/api/citizens/dashboard", asha.t()).await), "HIT");
    app.post(&format!("/api/citizens/request-lawyer-for-query/{q2}/{}", l3.id()), asha.t(), json!({}))
        .await
        .assert_status(200);
    let r = app.get("/api/citizens/dashboard", asha.t()).await;
    assert_eq!(cache(&r), "MISS");
    assert_eq!(r.data()["pendingRequests"], 2);

    let r = app.get("/api/citizens/recent-activity", asha.t()).await;
    r.assert_status(200);
    assert_eq!(r.data()["total"], 6);
    let activities = r.data()["activities"].as_array().unwrap().clone();
    assert_eq!(activities.len(), 5);
    let connected = activities.iter().find(|a| a["type"] == "connection" && a["status"] == "accepted").unwrap();
    assert_eq!(connected["title"], "Direct Lawyer Connection");
    assert_eq!(connected["description"], "Connected with Vikram");
    assert_eq!(connected["assignedLawyer"]["lawyerDetails"]["specialization"], json!(["Civil Law"]));
    assert_eq!(connected["category"], "consultation");
    let stamps: Vec<&str> = activities.iter().map(|a| a["timestamp"].as_str().unwrap()).collect();
    let mut sorted = stamps.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(stamps, sorted, "newest first");
    assert_eq!(count(&app, Sql::new("SELECT COUNT(*) FROM cases")).await, 3, "reading never creates sample cases");

    let r = app.get("/api/lawyers/dashboard/stats", l1.t()).await;
    assert_eq!(
        r.data(),
        &json!({"totalClients": 0, "activeQueries": 1, "activeDisputes": 0, "totalCases": 1, "resolvedCases": 0, "activeCases": 1})
    );
}

#[tokio::test]
async fn case_routes_enforce_roles_and_lawyer_verification() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let unverified = actor(&app, Role::Lawyer, "Pending Lawyer", false).await;
    let l1 = lawyer(&app, "Vikram").await;
    let student = actor(&app, Role::LawStudent, "Student", false).await;
    let id = Id::new();
    let lawyer_gets = [
        "/api/lawyers/dashboard/stats",
        "/api/lawyers/available-cases",
        "/api/lawyers/my-cases",
        "/api/lawyers/my-case-requests",
        "/api/lawyers/received-case-requests",
    ];
    let lawyer_posts = [
        format!("/api/lawyers/offer-help/query/{id}"),
        format!("/api/lawyers/accept-case-request/{id}"),
        format!("/api/lawyers/reject-case-request/{id}"),
        format!("/api/queries/{id}/offer-help"),
        format!("/api/queries/{id}/request"),
    ];
    for path in lawyer_gets {
        let r = app.get(path, unverified.t()).await;
        r.assert_status(403);
        assert_eq!(r.body["code"], "LAWYER_NOT_VERIFIED", "{path}");
        let r = app.get(path, asha.t()).await;
        r.assert_status(403);
        assert_eq!(r.message(), "User role citizen is not authorized to access this route");
        app.get(path, student.t()).await.assert_status(403);
        app.get(path, None).await.assert_status(401);
    }
    for path in &lawyer_posts {
        let r = app.post(path, unverified.t(), json!({})).await;
        r.assert_status(403);
        assert_eq!(r.body["code"], "LAWYER_NOT_VERIFIED", "{path}");
        app.post(path, asha.t(), json!({})).await.assert_status(403);
    }
    let citizen_gets = [
        "/api/citizens/dashboard",
        "/api/citizens/recent-activity",
        "/api/citizens/my-cases",
        "/api/citizens/pending-requests",
        "/api/citizens/received-offers",
        "/api/citizens/my-case-requests",
        "/api/citizens/my-case-offers",
    ];
    for path in citizen_gets {
        let r = app.get(path, l1.t()).await;
        r.assert_status(403);
        assert_eq!(r.message(), "User role lawyer is not authorized to access this route");
        app.get(path, student.t()).await.assert_status(403);
    }
    for path in
        [format!("/api/citizens/accept-case-offer/{id}"), format!("/api/citizens/request-lawyer-for-query/{id}/{id}")]
    {
        app.post(&path, l1.t(), json!({})).await.assert_status(403);
    }
    app.delete(&format!("/api/citizens/revoke-case-request/query/{id}/{id}"), l1.t()).await.assert_status(403);
    // Unknown ids behind the gates: 404, malformed: 400.
    let r = app.post(&format!("/api/lawyers/accept-case-request/{id}"), l1.t(), json!({})).await;
    r.assert_status(404);
    assert_eq!(r.message(), "Case request not found");
    let r = app.post("/api/lawyers/reject-case-request/123", l1.t(), json!({})).await;
    r.assert_status(400);
    assert_eq!(r.message(), "Invalid request ID format");
}

#[tokio::test]
async fn concurrent_acceptances_assign_a_dispute_once() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let l1 = lawyer(&app, "Vikram").await;
    let l2 = lawyer(&app, "Meera").await;
    let d = new_dispute(&app, &asha, "Boundary wall").await;
    let first = offer(&app, &l1, "dispute", &d).await;
    let second = offer(&app, &l2, "dispute", &d).await;
    let (respond, accept) =
        (format!("/api/disputes/{d}/requests/{first}/respond"), format!("/api/citizens/accept-case-offer/{second}"));
    let (a, b) = tokio::join!(
        app.post(&respond, asha.t(), json!({"action": "accept"})),
        app.post(&accept, asha.t(), json!({})),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{} / {}", a.body, b.body);
    let winner = if a.status.as_u16() == 200 { &l1 } else { &l2 };
    let doc = app.get(&format!("/api/disputes/{d}"), asha.t()).await;
    let doc = &doc.data()["dispute"];
    assert_eq!(doc["assignedLawyer"]["_id"], winner.id());
    let mut entries: Vec<&str> =
        doc["lawyerRequests"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    entries.sort();
    assert_eq!(entries, ["accepted", "rejected"]);
    let actions = doc["timeline"].as_array().unwrap().iter().filter(|t| t["action"] == "assigned").count();
    assert_eq!(actions, 1);
    let chat =
        Sql::new("SELECT COUNT(*) FROM chat_participants p JOIN chats c ON c.id = p.chat_ref WHERE c.chat_id = $1")
            .arg(format!("dispute_{d}"));
    assert_eq!(count(&app, chat).await, 2);
    let mine = app.get("/api/lawyers/my-cases?caseType=dispute", winner.t()).await;
    assert_eq!(mine.data()["cases"][0]["chatRoom"]["chatId"], format!("dispute_{d}"));
}

#[tokio::test]
async fn a_dispute_and_its_status_are_refused_to_non_parties() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let bala = citizen(&app, "Bala").await;
    let l1 = lawyer(&app, "Vikram").await;
    let l2 = lawyer(&app, "Meera").await;
    let d = new_dispute(&app, &asha, "Boundary wall").await;
    let offer_id = offer(&app, &l1, "dispute", &d).await;
    app.post(&format!("/api/citizens/accept-case-offer/{offer_id}"), asha.t(), json!({})).await.assert_status(200);
    let path = format!("/api/disputes/{d}");
    let status = format!("{path}/status");

    // Warm the parties' cached copies first: a cached entry must never reach a non-party.
    app.get(&path, asha.t()).await.assert_status(200);
    app.get(&path, l1.t()).await.assert_status(200);
    for other in [&bala, &l2] {
        let r = app.get(&path, other.t()).await;
        r.assert_status(403);
        assert_eq!(r.message(), "Access denied");
        assert!(r.data().is_null(), "a refusal carries no dispute: {}", r.body);
        let r = app.patch(&status, other.t(), Some(json!({"status": "mediation"}))).await;
        r.assert_status(403);
        assert_eq!(r.message(), "Access denied");
    }
    app.get(&path, None).await.assert_status(401);
    app.patch(&status, None, Some(json!({"status": "mediation"}))).await.assert_status(401);

    // The refused changes changed nothing; the assigned lawyer's change is recorded.
    let doc = app.get(&path, asha.t()).await;
    assert_eq!(doc.data()["dispute"]["status"], "assigned");
    app.patch(&status, l1.t(), Some(json!({"status": "mediation"}))).await.assert_status(200);
    assert_eq!(app.get(&path, asha.t()).await.data()["dispute"]["status"], "mediation");
}

#[tokio::test]
async fn case_request_bodies_are_documented_by_the_types_that_parse_them() {
    let app = spawn().await;
    let doc = app.get("/api/docs/openapi.json", None).await;
    doc.assert_status(200);
    let body_ref = |path: &str, method: &str| {
        let content = &doc.body["paths"][path][method]["requestBody"]["content"]["application/json"];
        content["schema"]["$ref"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_string()
    };
    for (path, method, schema) in [
        ("/api/queries", "post", "NewQuery"),
        ("/api/disputes", "post", "NewDispute"),
        ("/api/queries/{queryId}/status", "patch", "QueryStatusUpdate"),
        ("/api/disputes/{disputeId}/status", "patch", "StatusUpdate"),
        ("/api/disputes/{disputeId}/send-request", "post", "SendRequest"),
        ("/api/queries/{queryId}/requests/{requestId}/respond", "post", "EntryResponse"),
        ("/api/lawyers/offer-help/{caseType}/{caseId}", "post", "NewOffer"),
        ("/api/citizens/request-lawyer-for-query/{queryId}/{lawyerId}", "post", "LawyerRequest"),
    ] {
        assert_eq!(body_ref(path, method), schema, "{method} {path}");
    }
    let dispute = &doc.body["components"]["schemas"]["NewDispute"]["properties"];
    for key in ["title", "description", "disputeType", "category", "priority", "disputeValue", "opposingParty"] {
        assert!(dispute.get(key).is_some(), "NewDispute.{key} missing: {dispute}");
    }
}
