//! Admin routes (docs/api.md 3.2): dashboards, user management, lawyer verification, and their
//! cache entries (3.12).

use nyaya::db::Sql;
use nyaya::ids::Id;
use nyaya::store::users::{self, Role, User};
use serde_json::{Value, json};

use crate::helpers::*;

/// An account written straight to the store, with a freshly minted access token.
pub struct Account {
    pub user: User,
    pub token: String,
}

impl Account {
    pub fn id(&self) -> String {
        self.user.id.to_string()
    }
}

/// Creates an account of `role`; `edit` adjusts it before it is stored. No test here logs in
/// with a password, so the stored hash is a placeholder (argon2 is slow in debug builds).
/// Accounts are created a few milliseconds apart on the clock they record, so "newest first"
/// is deterministic however fast the database is.
pub async fn account(app: &TestApp, role: Role, name: &str, edit: impl FnOnce(&mut User)) -> Account {
    static SEQ: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let mut user =
        User::new(name.to_string(), unique_email(&name.to_lowercase().replace(' ', ".")), "unused".into(), role);
    let step = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    user.created_at = nyaya::time::now() + chrono::Duration::milliseconds(step * 3);
    user.updated_at = user.created_at;
    edit(&mut user);
    users::insert(&app.state().db, &user).await.expect("insert user");
    let token = app.state().tokens.issue(&user).access;
    Account { user, token }
}

/// Lawyer details as registration and verification leave them.
pub fn lawyer_details(user: &mut User, specializations: &[&str], experience: i64, education: &str, status: &str) {
    user.is_verified = status == "verified";
    user.lawyer_details = Some(json!({
        "barRegistrationNumber": "MAH/1234/2015",
        "specialization": specializations,
        "experience": experience,
        "education": education,
        "verificationStatus": status,
        "verificationDocuments": ["doc-hash"],
        "verificationNotes": "checked against the bar council roll",
        "consultationFee": 1500,
    }));
}

pub async fn verified_lawyer(
    app: &TestApp,
    name: &str,
    specializations: &[&str],
    experience: i64,
    education: &str,
) -> Account {
    account(app, Role::Lawyer, name, |u| {
        lawyer_details(u, specializations, experience, education, "verified");
        u.phone = Some("9876543210".into());
        u.address = json!({"street": "1 Court Road", "city": "Pune", "state": "Maharashtra", "pincode": "411001"});
    })
    .await
}

pub async fn pending_lawyer(app: &TestApp, name: &str) -> Account {
    account(app, Role::Lawyer, name, |u| lawyer_details(u, &["Civil Law"], 2, "LLB", "pending")).await
}

/// Inserts a case row the way the case service stores queries and disputes.
pub async fn insert_case(
    app: &TestApp,
    case_type: &str,
    status: &str,
    citizen: &User,
    lawyer: Option<&User>,
    created_at: &str,
    resolved_at: Option<&str>,
) -> Id {
    let id = Id::new();
    app.state()
        .db
        .exec(
            &Sql::new(
                "INSERT INTO cases (id, case_type, title, description, category, status, priority, citizen_id, \
                 assigned_lawyer_id, resolved_at, created_at, updated_at) VALUES ($1, $2, $3, $4, 'other', $5, 'medium', $6, $7, $8, $9, $9)",
            )
            .arg(&id)
            .arg(case_type)
            .arg(format!("A {case_type} that is {status}"))
            .arg("A description long enough for the validators of the case routes.")
            .arg(status)
            .arg(&citizen.id)
            .arg(lawyer.map(|l| l.id.clone()))
            .arg(resolved_at.map(str::to_string))
            .arg(created_at),
        )
        .await
        .expect("insert case");
    id
}

/// The sorted keys of a JSON object.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

pub fn sorted(list: &[&str]) -> Vec<String> {
    let mut k: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    k.sort();
    k
}

pub fn x_cache(r: &Reply) -> &str {
    r.headers.get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or("")
}

async fn stored(app: &TestApp, id: &Id) -> User {
    users::get(&app.state().db, id).await.unwrap().expect("user exists")
}

const ADMIN_GETS: [&str; 4] = [
    "/api/admin/dashboard/analytics",
    "/api/admin/system/stats",
    "/api/admin/users",
    "/api/admin/lawyers/pending-verifications",
];

#[tokio::test]
async fn admin_routes_require_an_admin() {
    let app = spawn().await;
    let citizen = account(&app, Role::Citizen, "Asha Citizen", |_| {}).await;
    let lawyer = verified_lawyer(&app, "Lata Lawyer", &["Civil Law"], 5, "LLB").await;
    let pending = pending_lawyer(&app, "Pia Pending").await;
    let toggle = format!("/api/admin/users/{}/toggle-status", pending.id());
    let verify = format!("/api/admin/lawyers/{}/verification", pending.id());
    for path in ADMIN_GETS {
        let r = app.get(path, None).await;
        r.assert_status(401);
        assert_eq!(r.message(), "Not authorized, no token provided");
        let r = app.get(path, Some(&citizen.token)).await;
        r.assert_status(403);
        assert_eq!(
            r.body,
            json!({"success": false, "message": "User role citizen is not authorized to access this route"})
        );
        let r = app.get(path, Some(&lawyer.token)).await;
        r.assert_status(403);
        assert_eq!(r.message(), "User role lawyer is not authorized to access this route");
    }
    let r = app.patch(&toggle, None, Some(json!({"isActive": false}))).await;
    r.assert_status(401);
    let r = app.patch(&toggle, Some(&citizen.token), Some(json!({"isActive": false}))).await;
    r.assert_status(403);
    assert_eq!(r.message(), "User role citizen is not authorized to access this route");
    let r = app.patch(&verify, Some(&lawyer.token), Some(json!({"action": "approve"}))).await;
    r.assert_status(403);
    let r = app.patch(&verify, Some("not-a-token"), Some(json!({"action": "approve"}))).await;
    r.assert_status(401);
    assert_eq!(r.message(), "Not authorized, token failed");
    // Nothing changed.
    let after = stored(&app, &pending.user.id).await;
    assert!(after.is_active && !after.is_verified);
    assert_eq!(after.lawyer_details.unwrap()["verificationStatus"], "pending");
}

#[tokio::test]
async fn analytics_counts_recent_activity_and_months() {
    let app = spawn().await;
    let admin = account(&app, Role::Admin, "Ada Admin", |_| {}).await;
    let c1 = account(&app, Role::Citizen, "Chitra One", |_| {}).await;
    account(&app, Role::Citizen, "Chetan Two", |_| {}).await;
    account(&app, Role::Citizen, "Inactive Citizen", |u| u.is_active = false).await;
    let lawyer = verified_lawyer(&app, "Lal Verified", &["Tax Law"], 4, "LLM").await;
    pending_lawyer(&app, "Pari Pending").await;
    account(&app, Role::Lawyer, "Raj Rejected", |u| lawyer_details(u, &["Tax Law"], 1, "LLB", "rejected")).await;
    account(&app, Role::Lawyer, "Ina Inactive", |u| {
        lawyer_details(u, &["Tax Law"], 1, "LLB", "verified");
        u.is_active = false;
    })
    .await;

    let year = chrono::Datelike::year(&chrono::Utc::now());
    let mut query_ids = Vec::new();
    for i in 0..6 {
        // Oldest first, all in January of this year; the last minute of the month still counts.
        let created = format!("{year}-01-31T23:5{i}:00.000Z");
        let status = if i < 2 { "resolved" } else { "pending" };
        let assigned = (i < 2).then_some(&lawyer.user);
        query_ids.push(insert_case(&app, "query", status, &c1.user, assigned, &created, None).await);
    }
    insert_case(
        &app,
        "dispute",
        "resolved",
        &c1.user,
        Some(&lawyer.user),
        &format!("{year}-03-01T00:00:00.000Z"),
        None,
    )
    .await;
    insert_case(&app, "dispute", "pending", &c1.user, None, &format!("{}-12-31T23:59:59.999Z", year - 1), None).await;

    let r = app.get("/api/admin/dashboard/analytics", Some(&admin.token)).await;
    r.assert_status(200);
    assert_eq!(r.body["success"], true);
    let d = r.data();
    assert_eq!(keys(d), sorted(&["counts", "recentActivities", "monthlyStats", "revenue"]));
    assert_eq!(
        d["counts"],
        json!({
            "totalCitizens": 2, "totalLawyers": 3, "totalQueries": 6, "totalDisputes": 2,
            "completedQueries": 2, "completedDisputes": 1, "pendingLawyerVerifications": 1,
        })
    );
    let recent = d["recentActivities"]["queries"].as_array().unwrap();
    let ids: Vec<&str> = recent.iter().map(|q| q["_id"].as_str().unwrap()).collect();
    let newest: Vec<String> = query_ids.iter().rev().take(5).map(Id::to_string).collect();
    assert_eq!(ids, newest.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(recent[0]["citizen"], json!({"_id": c1.id(), "name": "Chitra One", "email": c1.user.email}));
    assert!(recent[0]["assignedLawyer"].is_null());
    let oldest_shown = &recent[4];
    assert_eq!(
        oldest_shown["assignedLawyer"],
        json!({"_id": lawyer.id(), "name": "Lal Verified", "email": lawyer.user.email})
    );
    for key in ["title", "description", "category", "status", "priority", "createdAt", "updatedAt"] {
        assert!(oldest_shown.get(key).is_some(), "query lacks {key}");
    }
    let disputes = d["recentActivities"]["disputes"].as_array().unwrap();
    assert_eq!(disputes.len(), 2);
    assert!(disputes[0].get("disputeType").is_some());

    let months = d["monthlyStats"].as_array().unwrap();
    assert_eq!(months.len(), 12);
    let names: Vec<&str> = months.iter().map(|m| m["month"].as_str().unwrap()).collect();
    assert_eq!(names, ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]);
    assert_eq!(months[0], json!({"month": "Jan", "queries": 6, "disputes": 0}));
    assert_eq!(months[2], json!({"month": "Mar", "queries": 0, "disputes": 1}));
    assert_eq!(
        months.iter().map(|m| m["disputes"].as_i64().unwrap()).sum::<i64>(),
        1,
        "last year's dispute is not counted"
    );
    assert_eq!(
        d["revenue"],
        json!({"totalRevenue": 125000, "monthlyRevenue": 15000, "growthRate": 12.5, "averageConsultationFee": 1500})
    );
}

#[tokio::test]
async fn system_stats_group_rank_and_time_resolutions() {
    let app = spawn().await;
    let admin = account(&app, Role::Admin, "Ada Admin", |_| {}).await;
    let empty = app.get("/api/admin/system/stats", Some(&admin.token)).await;
    empty.assert_status(200);
    assert_eq!(
        *empty.data(),
        json!({
            "userStats": [{"_id": "admin", "count": 1}],
            "queryStats": [], "disputeStats": [], "topLawyers": [],
            "resolutionStats": {"averageResolutionTime": 0, "minResolutionTime": 0, "maxResolutionTime": 0},
        })
    );

    let citizen = account(&app, Role::Citizen, "Chitra Citizen", |_| {}).await;
    let best = verified_lawyer(&app, "Bina Best", &["Civil Law"], 9, "LLM").await;
    let second = verified_lawyer(&app, "Sam Second", &["Civil Law"], 3, "LLB").await;
    insert_case(
        &app,
        "query",
        "resolved",
        &citizen.user,
        Some(&best.user),
        "2024-01-01T00:00:00.000Z",
        Some("2024-01-03T00:00:00.000Z"),
    )
    .await;
    insert_case(
        &app,
        "query",
        "resolved",
        &citizen.user,
        Some(&best.user),
        "2024-01-01T00:00:00.000Z",
        Some("2024-01-07T00:00:00.000Z"),
    )
    .await;
    insert_case(&app, "query", "resolved", &citizen.user, Some(&second.user), "2024-02-01T00:00:00.000Z", None).await;
    insert_case(&app, "query", "pending", &citizen.user, None, "2024-02-01T00:00:00.000Z", None).await;
    // Resolved disputes do not rank lawyers.
    for _ in 0..3 {
        insert_case(&app, "dispute", "resolved", &citizen.user, Some(&second.user), "2024-02-01T00:00:00.000Z", None)
            .await;
    }
    // The inserts above bypassed the services (no invalidation): read under a new cache key.
    let r = app.get("/api/admin/system/stats?fresh=1", Some(&admin.token)).await;
    r.assert_status(200);
    let d = r.data();
    assert_eq!(
        d["userStats"],
        json!([{"_id": "admin", "count": 1}, {"_id": "citizen", "count": 1}, {"_id": "lawyer", "count": 2}])
    );
    assert_eq!(d["queryStats"], json!([{"_id": "pending", "count": 1}, {"_id": "resolved", "count": 3}]));
    assert_eq!(d["disputeStats"], json!([{"_id": "resolved", "count": 3}]));
    assert_eq!(
        d["topLawyers"],
        json!([
            {"_id": best.id(), "resolvedCases": 2, "lawyerName": "Bina Best", "lawyerEmail": best.user.email},
            {"_id": second.id(), "resolvedCases": 1, "lawyerName": "Sam Second", "lawyerEmail": second.user.email},
        ])
    );
    assert_eq!(
        d["resolutionStats"],
        json!({"_id": null, "averageResolutionTime": 4.0, "minResolutionTime": 2.0, "maxResolutionTime": 6.0})
    );
}

#[tokio::test]
async fn users_list_filters_searches_literally_and_pages() {
    let app = spawn().await;
    let admin = account(&app, Role::Admin, "Ada Admin", |_| {}).await;
    let partner = account(&app, Role::Citizen, "Percy Partner", |_| {}).await;
    let linked = account(&app, Role::Lawyer, "Lina Linked", |u| {
        lawyer_details(u, &["Civil Law"], 3, "LLB", "verified");
        u.connections = json!([
            {"userId": partner.id(), "connectionType": "client", "connectedAt": "2024-01-01T00:00:00.000Z"},
            {"userId": Id::new().to_string(), "connectionType": "client", "connectedAt": "2024-01-02T00:00:00.000Z"},
        ]);
    })
    .await;
    let pending = pending_lawyer(&app, "Pia Pending").await;
    account(&app, Role::Citizen, "Ina Inactive", |u| u.is_active = false).await;
    account(&app, Role::Citizen, "Percent 100% Sure", |_| {}).await;
    account(&app, Role::Citizen, "Under_Score", |_| {}).await;

    let r = app.get("/api/admin/users", Some(&admin.token)).await;
    r.assert_status(200);
    let d = r.data();
    assert_eq!(
        keys(d),
        sorted(&[
            "docs",
            "totalDocs",
            "limit",
            "page",
            "totalPages",
            "hasNextPage",
            "hasPrevPage",
            "nextPage",
            "prevPage"
        ])
    );
    assert_eq!(d["totalDocs"], 7);
    assert_eq!(d["limit"], 10);
    assert_eq!(d["page"], 1);
    assert_eq!(d["totalPages"], 1);
    assert_eq!(d["hasNextPage"], false);
    assert!(d["nextPage"].is_null() && d["prevPage"].is_null());
    let docs = d["docs"].as_array().unwrap();
    // Newest first.
    assert_eq!(docs[0]["name"], "Under_Score");
    assert_eq!(docs[6]["_id"], admin.id());
    for doc in docs {
        for secret in ["password", "passwordHash", "password_hash", "refreshToken"] {
            assert!(doc.get(secret).is_none(), "{secret} leaked");
        }
    }
    assert!(!r.body.to_string().contains("unused"), "the stored hash never leaves the server");
    let linked_doc = docs.iter().find(|u| u["_id"] == linked.id()).unwrap();
    assert_eq!(
        linked_doc["connections"][0]["userId"],
        json!({"_id": partner.id(), "name": "Percy Partner", "email": partner.user.email, "role": "citizen"})
    );
    assert!(linked_doc["connections"][1]["userId"].is_null(), "a deleted account populates as null");
    assert_eq!(linked_doc["lawyerDetails"]["verificationStatus"], "verified");
    let admin_doc = &docs[6];
    assert!(admin_doc.get("lawyerDetails").is_none());
    assert_eq!(admin_doc["isVerified"], true);

    let names = |r: &Reply| -> Vec<String> {
        r.data()["docs"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap().to_string()).collect()
    };
    let r = app.get("/api/admin/users?role=lawyer", Some(&admin.token)).await;
    assert_eq!(names(&r), ["Pia Pending", "Lina Linked"]);
    let r = app.get("/api/admin/users?role=all&status=inactive", Some(&admin.token)).await;
    assert_eq!(names(&r), ["Ina Inactive"]);
    let r = app.get("/api/admin/users?verificationStatus=pending", Some(&admin.token)).await;
    assert_eq!(names(&r), ["Pia Pending"]);
    let r = app.get("/api/admin/users?verificationStatus=rejected&role=lawyer", Some(&admin.token)).await;
    assert_eq!(names(&r), ["Pia Pending"]);
    let r =
        app.get(&format!("/api/admin/users?search={}", pending.user.email.to_uppercase()), Some(&admin.token)).await;
    assert_eq!(names(&r), ["Pia Pending"]);
    // LIKE and regex metacharacters are literal.
    let r = app.get("/api/admin/users?search=%25", Some(&admin.token)).await;
    assert_eq!(names(&r), ["Percent 100% Sure"]);
    let r = app.get("/api/admin/users?search=_", Some(&admin.token)).await;
    assert_eq!(names(&r), ["Under_Score"]);
    let r = app.get("/api/admin/users?search=.*", Some(&admin.token)).await;
    assert_eq!(r.data()["totalDocs"], 0);

    // Pagination: real totals, limit clamped to 100.
    let r = app.get("/api/admin/users?limit=3&page=2", Some(&admin.token)).await;
    let d = r.data();
    assert_eq!((d["totalDocs"].as_i64(), d["totalPages"].as_i64(), d["limit"].as_i64()), (Some(7), Some(3), Some(3)));
    assert_eq!((d["hasNextPage"].as_bool(), d["hasPrevPage"].as_bool()), (Some(true), Some(true)));
    assert_eq!((d["nextPage"].as_i64(), d["prevPage"].as_i64()), (Some(3), Some(1)));
    assert_eq!(d["docs"].as_array().unwrap().len(), 3);
    let r = app.get("/api/admin/users?limit=500", Some(&admin.token)).await;
    assert_eq!(r.data()["limit"], 100);
}

#[tokio::test]
async fn toggle_status_flips_sets_and_refuses_self() {
    let app = spawn().await;
    let admin = account(&app, Role::Admin, "Ada Admin", |_| {}).await;
    let citizen = account(&app, Role::Citizen, "Chitra Citizen", |_| {}).await;
    let path = format!("/api/admin/users/{}/toggle-status", citizen.id());

    // The frontend sends no body: the status flips.
    let r = app.patch(&path, Some(&admin.token), None).await;
    r.assert_status(200);
    assert_eq!(r.message(), "User account deactivated successfully");
    assert_eq!(r.data()["user"]["isActive"], false);
    assert_eq!(r.data()["user"]["_id"], citizen.id());
    assert!(r.data()["user"].get("password").is_none());
    assert!(!stored(&app, &citizen.user.id).await.is_active);
    // Deactivation takes effect on the user's next request.
    let r = app.get("/api/citizens/available-lawyers", Some(&citizen.token)).await;
    r.assert_status(401);
    assert_eq!(r.message(), "Account has been deactivated");

    let r = app.patch(&path, Some(&admin.token), Some(json!({"isActive": true}))).await;
    r.assert_status(200);
    assert_eq!(r.message(), "User account activated successfully");
    let r = app.patch(&path, Some(&admin.token), Some(json!({"isActive": true}))).await;
    assert_eq!(r.message(), "User account activated successfully");
    assert!(stored(&app, &citizen.user.id).await.is_active);
    // A non-boolean isActive counts as absent.
    let r = app.patch(&path, Some(&admin.token), Some(json!({"isActive": "no"}))).await;
    assert_eq!(r.data()["user"]["isActive"], false);

    // Self: refused whatever the body, and nothing changes.
    let own = format!("/api/admin/users/{}/toggle-status", admin.id());
    for body in [None, Some(json!({"isActive": true})), Some(json!({"isActive": false}))] {
        let r = app.patch(&own, Some(&admin.token), body).await;
        r.assert_status(400);
        assert_eq!(r.body, json!({"success": false, "message": "Cannot deactivate your own account"}));
    }
    assert!(stored(&app, &admin.user.id).await.is_active);

    let r = app.patch(&format!("/api/admin/users/{}/toggle-status", Id::new()), Some(&admin.token), None).await;
    r.assert_status(404);
    assert_eq!(r.message(), "User not found");
    let r = app.patch("/api/admin/users/not-an-id/toggle-status", Some(&admin.token), None).await;
    r.assert_status(400);
    assert_eq!(r.body["success"], false);
}

#[tokio::test]
async fn pending_verifications_list_unverified_lawyers() {
    let app = spawn().await;
    let admin = account(&app, Role::Admin, "Ada Admin", |_| {}).await;
    verified_lawyer(&app, "Vera Verified", &["Civil Law"], 3, "LLB").await;
    let first = pending_lawyer(&app, "Pia First").await;
    let rejected =
        account(&app, Role::Lawyer, "Raj Rejected", |u| lawyer_details(u, &["Tax Law"], 1, "LLB", "rejected")).await;
    let last = pending_lawyer(&app, "Pia Last").await;

    let r = app.get("/api/admin/lawyers/pending-verifications", Some(&admin.token)).await;
    r.assert_status(200);
    let d = r.data();
    assert_eq!(keys(d), sorted(&["lawyers", "pagination", "total"]));
    assert_eq!(d["total"], 3);
    assert_eq!(d["pagination"], json!({"current": 1, "pages": 1, "total": 3}));
    let ids: Vec<&str> = d["lawyers"].as_array().unwrap().iter().map(|l| l["_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [last.id(), rejected.id(), first.id()]);
    let one = &d["lawyers"][0];
    assert_eq!(one["isVerified"], false);
    assert_eq!(one["lawyerDetails"]["verificationStatus"], "pending");
    assert_eq!(one["lawyerDetails"]["verificationDocuments"], json!(["doc-hash"]));
    assert!(one.get("password").is_none());

    let r = app.get("/api/admin/lawyers/pending-verifications?page=2&limit=2", Some(&admin.token)).await;
    let d = r.data();
    assert_eq!(d["pagination"], json!({"current": 2, "pages": 2, "total": 3}));
    assert_eq!(d["lawyers"].as_array().unwrap().len(), 1);
    assert_eq!(d["lawyers"][0]["_id"], first.id());
}

#[tokio::test]
async fn verification_approves_rejects_and_validates() {
    let app = spawn().await;
    let admin = account(&app, Role::Admin, "Ada Admin", |_| {}).await;
    let lawyer = pending_lawyer(&app, "Pia Pending").await;
    let citizen = account(&app, Role::Citizen, "Chitra Citizen", |_| {}).await;
    let path = format!("/api/admin/lawyers/{}/verification", lawyer.id());

    // What the frontend sends.
    let r =
        app.patch(&path, Some(&admin.token), Some(json!({"action": "approve", "reason": "Bar roll checked"}))).await;
    r.assert_status(200);
    assert_eq!(r.message(), "Lawyer verified successfully");
    let l = &r.data()["lawyer"];
    assert_eq!(l["_id"], lawyer.id());
    assert_eq!(l["isVerified"], true);
    assert_eq!(l["lawyerDetails"]["verificationStatus"], "verified");
    assert_eq!(l["lawyerDetails"]["verificationNotes"], "Bar roll checked");
    let saved = stored(&app, &lawyer.user.id).await;
    assert!(saved.is_verified);
    assert_eq!(saved.lawyer_details.as_ref().unwrap()["verificationStatus"], "verified");
    let verified = mail_to(&app, &lawyer.user.email, "Your Lawyer Account Has Been Verified").await;
    assert!(verified.contains("Admin notes: Bar roll checked"), "{verified}");
    // The lawyer's gated routes now see a verified lawyer.
    assert!(nyaya::http::extract::require_verified_lawyer(&saved).is_ok());

    let r = app.patch(&path, Some(&admin.token), Some(json!({"status": "rejected", "notes": "Licence expired"}))).await;
    r.assert_status(200);
    assert_eq!(r.message(), "Lawyer rejected successfully");
    assert_eq!(r.data()["lawyer"]["isVerified"], false);
    assert_eq!(r.data()["lawyer"]["lawyerDetails"]["verificationStatus"], "rejected");
    assert_eq!(r.data()["lawyer"]["lawyerDetails"]["verificationNotes"], "Licence expired");
    let rejected = mail_to(&app, &lawyer.user.email, "Lawyer Account Verification Update").await;
    assert!(rejected.contains("Reason: Licence expired"), "{rejected}");

    let invalid = "Invalid verification status. Use 'verified'/'rejected' for status or 'approve'/'reject' for action";
    for body in [json!({}), json!({"status": "approve"}), json!({"action": "maybe"}), json!({"status": 1})] {
        let r = app.patch(&path, Some(&admin.token), Some(body)).await;
        r.assert_status(400);
        assert_eq!(r.body, json!({"success": false, "message": invalid}));
    }
    let long = "x".repeat(501);
    let r = app.patch(&path, Some(&admin.token), Some(json!({"action": "approve", "reason": long}))).await;
    r.assert_status(400);
    let unchanged = stored(&app, &lawyer.user.id).await;
    assert!(!unchanged.is_verified);
    assert_eq!(unchanged.lawyer_details.as_ref().unwrap()["verificationNotes"], "Licence expired");

    for id in [citizen.id(), admin.id(), Id::new().to_string()] {
        let r = app
            .patch(
                &format!("/api/admin/lawyers/{id}/verification"),
                Some(&admin.token),
                Some(json!({"action": "approve"})),
            )
            .await;
        r.assert_status(404);
        assert_eq!(r.message(), "Lawyer not found");
    }
    assert!(stored(&app, &citizen.user.id).await.lawyer_details.is_none());
    let r =
        app.patch("/api/admin/lawyers/123/verification", Some(&admin.token), Some(json!({"action": "approve"}))).await;
    r.assert_status(400);
}

#[tokio::test]
async fn admin_reads_are_cached_and_writes_invalidate_them() {
    let app = spawn().await;
    let admin = account(&app, Role::Admin, "Ada Admin", |_| {}).await;
    let other_admin = account(&app, Role::Admin, "Otto Admin", |_| {}).await;
    let lawyer = pending_lawyer(&app, "Pia Pending").await;
    let citizen = account(&app, Role::Citizen, "Chitra Citizen", |_| {}).await;

    for path in ADMIN_GETS {
        let first = app.get(path, Some(&admin.token)).await;
        first.assert_status(200);
        assert_eq!(x_cache(&first), "MISS", "{path}");
        // Shared by role: another admin hits the same entry.
        let second = app.get(path, Some(&other_admin.token)).await;
        assert_eq!(x_cache(&second), "HIT", "{path}");
        assert_eq!(first.body, second.body);
    }

    // Verification invalidates every admin read.
    let r = app
        .patch(
            &format!("/api/admin/lawyers/{}/verification", lawyer.id()),
            Some(&admin.token),
            Some(json!({"action": "approve"})),
        )
        .await;
    r.assert_status(200);
    for path in ADMIN_GETS {
        assert_eq!(x_cache(&app.get(path, Some(&admin.token)).await), "MISS", "{path} after verification");
    }
    let r = app.get("/api/admin/lawyers/pending-verifications", Some(&admin.token)).await;
    assert_eq!(x_cache(&r), "HIT");
    assert_eq!(r.data()["total"], 0, "the verified lawyer left the pending list");

    // So does toggle-status.
    let inactive = "/api/admin/users?status=inactive";
    assert_eq!(app.get(inactive, Some(&admin.token)).await.data()["totalDocs"], 0);
    assert_eq!(x_cache(&app.get(inactive, Some(&admin.token)).await), "HIT");
    let r = app.patch(&format!("/api/admin/users/{}/toggle-status", citizen.id()), Some(&admin.token), None).await;
    r.assert_status(200);
    let r = app.get(inactive, Some(&admin.token)).await;
    assert_eq!(x_cache(&r), "MISS");
    assert_eq!(r.data()["totalDocs"], 1);
    let r = app.get("/api/admin/dashboard/analytics", Some(&admin.token)).await;
    assert_eq!(x_cache(&r), "MISS");
    assert_eq!(r.data()["counts"]["totalCitizens"], 0);

    // A refused write invalidates nothing.
    let r = app.get("/api/admin/system/stats", Some(&admin.token)).await;
    assert_eq!(x_cache(&r), "MISS");
    app.patch(&format!("/api/admin/users/{}/toggle-status", admin.id()), Some(&admin.token), None)
        .await
        .assert_status(400);
    assert_eq!(x_cache(&app.get("/api/admin/system/stats", Some(&admin.token)).await), "HIT");
}
