//! Integration tests: consultations (docs/api.md 3.9).

use std::collections::BTreeSet;

use nyaya::db::Sql;
use nyaya::ids::Id;
use nyaya::notify::Notification;
use nyaya::store::users::Role;
use serde_json::{Value, json};
use tokio::sync::broadcast::Receiver;

use crate::documents::{account, citizen, lawyer};
use crate::helpers::*;

fn at(from_now: chrono::Duration) -> String {
    nyaya::time::iso(nyaya::time::now() + from_now)
}

fn hours(h: i64) -> chrono::Duration {
    chrono::Duration::hours(h)
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The events sent so far, as (target room, event, payload).
fn drain(rx: &mut Receiver<Notification>) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    while let Ok(n) = rx.try_recv() {
        out.push((n.target.room_name(), n.event, n.payload));
    }
    out
}

async fn request(app: &TestApp, token: &str, lawyer: &Id, when: &str) -> Reply {
    app.post("/api/consultations/request", Some(token), json!({"targetUserId": lawyer, "scheduledDateTime": when}))
        .await
}

async fn consultation_rows(app: &TestApp) -> i64 {
    app.state().db.count(&Sql::new("SELECT COUNT(*) FROM consultations")).await.unwrap()
}

#[tokio::test]
async fn a_citizen_requests_a_consultation_and_the_lawyer_is_notified() {
    let app = spawn().await;
    let (asha, asha_t) = citizen(&app, "Asha").await;
    let (ravi, _) = lawyer(&app, "Ravi").await;
    let mut rx = app.state().notifier.subscribe();
    let when = at(hours(48));
    let r = app
        .post(
            "/api/consultations/request",
            Some(&asha_t),
            json!({"targetUserId": ravi.id, "scheduledDateTime": when, "duration": 45, "description": "Tenancy dispute", "consultationType": "audio"}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.message(), "Consultation request created successfully");
    let c = &r.data()["consultation"];
    assert_eq!(
        keys(c),
        set(&[
            "_id",
            "title",
            "description",
            "citizen",
            "lawyer",
            "consultationType",
            "status",
            "scheduledDateTime",
            "duration",
            "fee",
            "agenda",
            "followUp",
            "reminders",
            "createdAt",
            "updatedAt",
            "__v",
        ])
    );
    assert_eq!(c["title"], "Consultation with Ravi");
    assert_eq!(c["status"], "requested");
    assert_eq!(c["consultationType"], "audio");
    assert_eq!(c["duration"], 45);
    assert_eq!(c["scheduledDateTime"], when);
    assert_eq!(c["fee"], json!({"currency": "INR", "paymentStatus": "pending"}));
    assert_eq!(c["citizen"], json!({"_id": asha.id, "name": "Asha", "email": asha.email, "role": "citizen"}));
    assert_eq!(
        c["lawyer"],
        json!({"_id": ravi.id, "name": "Ravi", "email": ravi.email, "role": "lawyer", "lawyerDetails": {"specialization": ["Civil Law"]}})
    );

    let events = drain(&mut rx);
    assert_eq!(events.len(), 1);
    let (room, event, payload) = &events[0];
    assert_eq!(room, &format!("user_{}", ravi.id));
    assert_eq!(event, "new_consultation_request");
    assert_eq!(payload["consultationId"], c["_id"]);
    assert_eq!(payload["citizen"], json!({"_id": asha.id, "name": "Asha", "email": asha.email}));
    assert_eq!(payload["scheduledDateTime"], when);
    assert_eq!(payload["duration"], 45);
    assert_eq!(payload["description"], "Tenancy dispute");
    assert_eq!(payload["consultationType"], "audio");
    assert!(payload["timestamp"].is_string());

    // Defaults: 30 minutes, video.
    let r = request(&app, &asha_t, &ravi.id, &at(hours(72))).await;
    r.assert_status(201);
    assert_eq!(r.data()["consultation"]["duration"], 30);
    assert_eq!(r.data()["consultation"]["consultationType"], "video");
}

#[tokio::test]
async fn requests_are_validated_and_refused_requests_store_nothing() {
    let app = spawn().await;
    let (_, asha_t) = citizen(&app, "Asha").await;
    let (ravi, ravi_t) = lawyer(&app, "Ravi").await;
    let (pending, _) = account(&app, Role::Lawyer, "Pending Lawyer", false).await;
    let (other_citizen, _) = citizen(&app, "Bala").await;
    let (_, admin_t) = account(&app, Role::Admin, "Admin", true).await;

    let r =
        app.post("/api/consultations/request", Some(&asha_t), json!({"duration": 5, "consultationType": "chat"})).await;
    r.assert_status(400);
    assert_eq!(r.message(), "Validation failed");
    let errors: Vec<(String, String)> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["path"].as_str().unwrap().to_string(), e["msg"].as_str().unwrap().to_string()))
        .collect();
    let expected = [
        ("targetUserId", "Target user ID is required"),
        ("targetUserId", "Invalid target user ID"),
        ("scheduledDateTime", "Scheduled date and time is required"),
        ("scheduledDateTime", "Invalid date format"),
        ("duration", "Duration must be between 15 and 180 minutes"),
        ("consultationType", "Invalid consultation type"),
    ];
    assert_eq!(errors, expected.map(|(p, m)| (p.to_string(), m.to_string())));
    let long = "x".repeat(501);
    let r = app
        .post(
            "/api/consultations/request",
            Some(&asha_t),
            json!({"targetUserId": ravi.id, "scheduledDateTime": "next week", "description": long}),
        )
        .await;
    r.assert_status(400);
    assert_eq!(r.body["errors"].as_array().unwrap().len(), 2);

    let r = request(&app, &asha_t, &Id::new(), &at(hours(24))).await;
    r.assert_status(404);
    assert_eq!(r.message(), "Target user not found");
    let r = request(&app, &asha_t, &other_citizen.id, &at(hours(24))).await;
    r.assert_status(400);
    assert_eq!(r.message(), "Consultations can only be requested with lawyers");
    let r = request(&app, &asha_t, &pending.id, &at(hours(24))).await;
    r.assert_status(400);
    let r = request(&app, &asha_t, &ravi.id, &at(-hours(1))).await;
    r.assert_status(400);
    assert_eq!(r.message(), "Consultation time must be in the future");
    // Only citizens request.
    let r = request(&app, &ravi_t, &ravi.id, &at(hours(24))).await;
    r.assert_status(403);
    assert_eq!(r.message(), "User role lawyer is not authorized to access this route");
    request(&app, &admin_t, &ravi.id, &at(hours(24))).await.assert_status(403);
    app.post("/api/consultations/request", None, json!({})).await.assert_status(401);
    assert_eq!(consultation_rows(&app).await, 0);
}

#[tokio::test]
async fn a_lawyer_cannot_be_booked_twice_within_thirty_minutes() {
    let app = spawn().await;
    let (_, asha_t) = citizen(&app, "Asha").await;
    let (_, bala_t) = citizen(&app, "Bala").await;
    let (ravi, ravi_t) = lawyer(&app, "Ravi").await;
    let slot = nyaya::time::now() + hours(30);
    let iso = |d: chrono::Duration| nyaya::time::iso(slot + d);

    let first = request(&app, &asha_t, &ravi.id, &iso(chrono::Duration::zero())).await;
    first.assert_status(201);
    // A mere request does not hold the slot.
    request(&app, &bala_t, &ravi.id, &iso(chrono::Duration::minutes(10))).await.assert_status(201);
    let id = first.data()["consultation"]["_id"].as_str().unwrap().to_string();
    app.patch(&format!("/api/consultations/{id}/status"), Some(&ravi_t), Some(json!({"status": "confirmed"})))
        .await
        .assert_status(200);

    for minutes in [-30, -20, 0, 29, 30] {
        // The same instant written with an offset is the same time.
        let when = (slot + chrono::Duration::minutes(minutes))
            .datetime()
            .with_timezone(&chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap());
        let r = request(&app, &bala_t, &ravi.id, &when.to_rfc3339()).await;
        r.assert_status(409);
        assert_eq!(r.message(), "The lawyer has another consultation scheduled at this time");
    }
    for minutes in [-31, 31, 24 * 60] {
        request(&app, &bala_t, &ravi.id, &iso(chrono::Duration::minutes(minutes))).await.assert_status(201);
    }
    // Another lawyer is free at that time.
    let (other, _) = lawyer(&app, "Meera").await;
    request(&app, &bala_t, &other.id, &iso(chrono::Duration::zero())).await.assert_status(201);
}

#[tokio::test]
async fn lists_and_items_are_scoped_to_the_parties_and_cached_reads_show_every_change() {
    let app = spawn().await;
    let (asha, asha_t) = citizen(&app, "Asha").await;
    let (_, bala_t) = citizen(&app, "Bala").await;
    let (ravi, ravi_t) = lawyer(&app, "Ravi").await;
    let (_, meera_t) = lawyer(&app, "Meera").await;
    let (_, admin_t) = account(&app, Role::Admin, "Admin", true).await;
    let early = request(&app, &asha_t, &ravi.id, &at(hours(24))).await;
    let late = request(&app, &asha_t, &ravi.id, &at(hours(96))).await;
    let early_id = early.data()["consultation"]["_id"].as_str().unwrap().to_string();
    let late_id = late.data()["consultation"]["_id"].as_str().unwrap().to_string();

    let list = app.get("/api/consultations", Some(&asha_t)).await;
    list.assert_status(200);
    assert_eq!(list.headers["x-cache"], "MISS");
    assert_eq!(keys(list.data()), set(&["consultations", "pagination"]));
    let ids: Vec<&str> =
        list.data()["consultations"].as_array().unwrap().iter().map(|c| c["_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [late_id.as_str(), early_id.as_str()], "latest scheduled first");
    assert_eq!(list.data()["pagination"], json!({"page": 1, "limit": 20, "total": 2, "pages": 1}));
    assert_eq!(list.data()["consultations"][0]["citizen"]["_id"], asha.id.as_str());
    let again = app.get("/api/consultations", Some(&asha_t)).await;
    assert_eq!(again.headers["x-cache"], "HIT");
    assert_eq!(again.body, list.body);

    let lawyer_list = app.get("/api/consultations?limit=1&page=2", Some(&ravi_t)).await;
    lawyer_list.assert_status(200);
    assert_eq!(lawyer_list.data()["consultations"][0]["_id"], early_id);
    assert_eq!(lawyer_list.data()["pagination"], json!({"page": 2, "limit": 1, "total": 2, "pages": 2}));
    for outsider in [&bala_t, &meera_t] {
        let l = app.get("/api/consultations", Some(outsider)).await;
        l.assert_status(200);
        assert_eq!(l.data()["consultations"], json!([]), "one user's cached list is never another's");
        let one = app.get(&format!("/api/consultations/{early_id}"), Some(outsider)).await;
        one.assert_status(403);
        assert_eq!(one.message(), "Access denied");
    }
    let admin = app.get("/api/consultations", Some(&admin_t)).await;
    admin.assert_status(403);
    assert_eq!(admin.message(), "Access denied");
    app.get(&format!("/api/consultations/{}", Id::new()), Some(&asha_t)).await.assert_status(404);
    app.get("/api/consultations/not-an-id", Some(&asha_t)).await.assert_status(400);

    // The item is cached per user, and the access check still runs on a hit.
    let item = app.get(&format!("/api/consultations/{early_id}"), Some(&asha_t)).await;
    item.assert_status(200);
    assert_eq!(item.data()["consultation"]["status"], "requested");
    assert_eq!(app.get(&format!("/api/consultations/{early_id}"), Some(&asha_t)).await.headers["x-cache"], "HIT");
    app.get(&format!("/api/consultations/{early_id}"), Some(&bala_t)).await.assert_status(403);

    // Each change shows on the next read of the cached list and item, for both parties.
    app.patch(&format!("/api/consultations/{early_id}/status"), Some(&ravi_t), Some(json!({"status": "scheduled"})))
        .await
        .assert_status(200);
    let list = app.get("/api/consultations", Some(&asha_t)).await;
    assert_eq!(list.data()["consultations"][1]["status"], "scheduled");
    let item = app.get(&format!("/api/consultations/{early_id}"), Some(&asha_t)).await;
    assert_eq!(item.data()["consultation"]["status"], "scheduled");
    let filtered = app.get("/api/consultations?status=scheduled", Some(&ravi_t)).await;
    assert_eq!(filtered.data()["pagination"]["total"], 1);

    app.patch(&format!("/api/consultations/{late_id}/cancel"), Some(&asha_t), Some(json!({}))).await.assert_status(200);
    let list = app.get("/api/consultations", Some(&ravi_t)).await;
    assert_eq!(list.data()["consultations"][0]["status"], "cancelled");
    let filtered = app.get("/api/consultations?status=scheduled", Some(&ravi_t)).await;
    assert_eq!(filtered.data()["pagination"]["total"], 1);

    let created = request(&app, &asha_t, &ravi.id, &at(hours(200))).await;
    created.assert_status(201);
    let list = app.get("/api/consultations", Some(&ravi_t)).await;
    assert_eq!(list.data()["pagination"]["total"], 3);
    assert_eq!(list.data()["consultations"][0]["_id"], created.data()["consultation"]["_id"]);
}

#[tokio::test]
async fn only_the_assigned_lawyer_updates_the_status_with_valid_values() {
    let app = spawn().await;
    let (asha, asha_t) = citizen(&app, "Asha").await;
    let (ravi, ravi_t) = lawyer(&app, "Ravi").await;
    let (_, meera_t) = lawyer(&app, "Meera").await;
    let r = request(&app, &asha_t, &ravi.id, &at(hours(24))).await;
    let id = r.data()["consultation"]["_id"].as_str().unwrap().to_string();
    let path = format!("/api/consultations/{id}/status");
    let mut rx = app.state().notifier.subscribe();

    let r = app.patch(&path, Some(&meera_t), Some(json!({"status": "confirmed"}))).await;
    r.assert_status(403);
    assert_eq!(r.message(), "Only the assigned lawyer can update consultation status");
    let r = app.patch(&path, Some(&asha_t), Some(json!({"status": "confirmed"}))).await;
    r.assert_status(403);
    assert_eq!(r.message(), "User role citizen is not authorized to access this route");
    let long = "n".repeat(1001);
    let r = app
        .patch(&path, Some(&ravi_t), Some(json!({"status": "in-progress", "meetingLink": "not a link", "notes": long})))
        .await;
    r.assert_status(400);
    let msgs: Vec<&str> = r.body["errors"].as_array().unwrap().iter().map(|e| e["msg"].as_str().unwrap()).collect();
    assert_eq!(msgs, ["Invalid status", "Invalid meeting link URL", "Notes cannot exceed 1000 characters"]);
    let r = app.patch(&path, Some(&ravi_t), Some(json!({}))).await;
    r.assert_status(400);
    assert_eq!(r.body["errors"][0]["msg"], "Status is required");
    app.patch(&format!("/api/consultations/{}/status", Id::new()), Some(&ravi_t), Some(json!({"status": "confirmed"})))
        .await
        .assert_status(404);
    assert!(drain(&mut rx).is_empty());
    let unchanged = app.get(&format!("/api/consultations/{id}"), Some(&ravi_t)).await;
    assert_eq!(unchanged.data()["consultation"]["status"], "requested");

    // Confirming a video consultation without a link generates one.
    let r = app.patch(&path, Some(&ravi_t), Some(json!({"status": "confirmed", "notes": "Bring the lease"}))).await;
    r.assert_status(200);
    assert_eq!(r.message(), "Consultation status updated successfully");
    let c = &r.data()["consultation"];
    assert_eq!(c["status"], "confirmed");
    assert_eq!(
        c["meetingDetails"],
        json!({"meetingLink": format!("https://meet.example.com/consultation/{id}"), "meetingId": format!("consultation-{id}")})
    );
    assert_eq!(c["notes"], json!({"lawyerNotes": "Bring the lease"}));
    assert_eq!(c["lawyer"]["lawyerDetails"]["specialization"], json!(["Civil Law"]));
    let events = drain(&mut rx);
    assert_eq!(events.len(), 1);
    let (room, event, payload) = &events[0];
    assert_eq!(room, &format!("user_{}", asha.id));
    assert_eq!(event, "consultation_status_updated");
    assert_eq!(payload["consultationId"], id.as_str());
    assert_eq!(payload["status"], "confirmed");
    assert_eq!(payload["meetingLink"], format!("https://meet.example.com/consultation/{id}"));
    assert_eq!(payload["lawyer"], json!({"_id": ravi.id, "name": "Ravi"}));

    // A link of the lawyer's own is stored as given, without a platform.
    let r = app
        .patch(&path, Some(&ravi_t), Some(json!({"status": "scheduled", "meetingLink": "https://zoom.us/j/123"})))
        .await;
    r.assert_status(200);
    assert_eq!(r.data()["consultation"]["meetingDetails"]["meetingLink"], "https://zoom.us/j/123");
    assert!(r.data()["consultation"]["meetingDetails"].get("platform").is_none());
}

#[tokio::test]
async fn either_party_cancels_in_time_and_the_other_party_is_told() {
    let app = spawn().await;
    let (asha, asha_t) = citizen(&app, "Asha").await;
    let (ravi, ravi_t) = lawyer(&app, "Ravi").await;
    let (_, bala_t) = citizen(&app, "Bala").await;
    let soon = request(&app, &asha_t, &ravi.id, &at(chrono::Duration::minutes(90))).await;
    let soon_id = soon.data()["consultation"]["_id"].as_str().unwrap().to_string();
    let later = request(&app, &asha_t, &ravi.id, &at(hours(24))).await;
    let later_id = later.data()["consultation"]["_id"].as_str().unwrap().to_string();
    let third = request(&app, &asha_t, &ravi.id, &at(hours(48))).await;
    let third_id = third.data()["consultation"]["_id"].as_str().unwrap().to_string();
    let mut rx = app.state().notifier.subscribe();

    let r = app.patch(&format!("/api/consultations/{later_id}/cancel"), Some(&bala_t), Some(json!({}))).await;
    r.assert_status(403);
    assert_eq!(r.message(), "Access denied");
    let r = app.patch(&format!("/api/consultations/{soon_id}/cancel"), Some(&asha_t), Some(json!({}))).await;
    r.assert_status(400);
    assert_eq!(r.message(), "Consultation cannot be cancelled (less than 2 hours remaining)");
    let r = app
        .patch(
            &format!("/api/consultations/{later_id}/cancel"),
            Some(&asha_t),
            Some(json!({"reason": "r".repeat(501)})),
        )
        .await;
    r.assert_status(400);
    assert_eq!(r.body["errors"][0]["msg"], "Reason cannot exceed 500 characters");
    app.patch(&format!("/api/consultations/{}/cancel", Id::new()), Some(&asha_t), Some(json!({})))
        .await
        .assert_status(404);
    assert!(drain(&mut rx).is_empty());

    // The citizen cancels: the lawyer is told.
    let r = app.patch(&format!("/api/consultations/{later_id}/cancel"), Some(&asha_t), None).await;
    r.assert_status(200);
    assert_eq!(r.message(), "Consultation cancelled successfully");
    let c = &r.data()["consultation"];
    assert_eq!(c["status"], "cancelled");
    assert_eq!(keys(&c["cancellation"]), set(&["cancelledBy", "reason", "cancelledAt"]));
    assert_eq!(c["cancellation"]["cancelledBy"], asha.id.as_str());
    assert_eq!(c["cancellation"]["reason"], "No reason provided");
    let events = drain(&mut rx);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, format!("user_{}", ravi.id));
    assert_eq!(events[0].1, "consultation_cancelled");
    assert_eq!(events[0].2["cancelledBy"], json!({"_id": asha.id, "name": "Asha", "role": "citizen"}));
    assert_eq!(events[0].2["consultationId"], later_id.as_str());
    // Not twice.
    let r = app.patch(&format!("/api/consultations/{later_id}/cancel"), Some(&ravi_t), Some(json!({}))).await;
    r.assert_status(400);

    // The lawyer cancels: the citizen is told, with the reason.
    let r = app
        .patch(
            &format!("/api/consultations/{third_id}/cancel"),
            Some(&ravi_t),
            Some(json!({"reason": "Court hearing"})),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.data()["consultation"]["cancellation"]["reason"], "Court hearing");
    let events = drain(&mut rx);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, format!("user_{}", asha.id));
    assert_eq!(events[0].2["reason"], "Court hearing");
    assert_eq!(events[0].2["cancelledBy"]["role"], "lawyer");
}
