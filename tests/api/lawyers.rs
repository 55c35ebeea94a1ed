//! The lawyer directory (docs/api.md 3.3 #1, #2), the citizens' available lawyers (3.4 #4), their
//! cache entries (3.12), and the demo seed.

use nyaya::db::Sql;
use nyaya::ids::Id;
use nyaya::store::users::{self, Role};
use serde_json::{Value, json};

use crate::admin::{
    Account, account, insert_case, keys, lawyer_details, pending_lawyer, sorted, verified_lawyer, x_cache,
};
use crate::helpers::*;

const PUBLIC_KEYS: [&str; 6] = ["_id", "name", "role", "profilePicture", "lawyerDetails", "createdAt"];

/// Asha, Bharat, Chen and Dev, created in that order, plus lawyers and users that must not be listed.
struct Directory {
    asha: Account,
    bharat: Account,
    chen: Account,
    dev: Account,
    pending: Account,
    inactive: Account,
}

async fn directory(app: &TestApp) -> Directory {
    let asha = verified_lawyer(app, "Asha Rao", &["Family Law"], 2, "BA LLB, NALSAR University").await;
    let bharat = verified_lawyer(app, "Bharat Iyer", &["Criminal Law"], 4, "LLB, Delhi University").await;
    let chen = verified_lawyer(app, "Chen 100% Wong", &["Tax Law"], 12, "LLM").await;
    let dev = verified_lawyer(app, "Dev_Kumar", &["Family Law Mediation"], 7, "LLB").await;
    let pending = pending_lawyer(app, "Pia Pending").await;
    let inactive = account(app, Role::Lawyer, "Ina Inactive", |u| {
        lawyer_details(u, &["Family Law"], 5, "LLB", "verified");
        u.is_active = false;
    })
    .await;
    account(app, Role::Citizen, "Asha Citizen", |_| {}).await;
    Directory { asha, bharat, chen, dev, pending, inactive }
}

fn names(r: &Reply) -> Vec<String> {
    r.body["data"].as_array().expect("data array").iter().map(|l| l["name"].as_str().unwrap().to_string()).collect()
}

fn assert_no_private_data(body: &Value, lawyers: &[&Account]) {
    let text = body.to_string();
    for l in lawyers {
        assert!(!text.contains(&l.user.email), "email of {} leaked", l.user.name);
    }
    for private in [
        "9876543210",
        "Court Road",
        "verificationNotes",
        "bar council",
        "verificationDocuments",
        "doc-hash",
        "\"phone\"",
        "\"address\"",
        "\"email\"",
    ] {
        assert!(!text.contains(private), "{private} leaked: {text}");
    }
}

#[tokio::test]
async fn directory_lists_active_verified_lawyers_without_private_data() {
    let app = spawn().await;
    let d = directory(&app).await;
    let r = app.get("/api/lawyers/verified", None).await;
    r.assert_status(200);
    assert_eq!(keys(&r.body), sorted(&["success", "data", "pagination", "meta"]));
    assert_eq!(r.body["success"], true);
    assert_eq!(names(&r), ["Dev_Kumar", "Chen 100% Wong", "Bharat Iyer", "Asha Rao"]);
    assert_eq!(
        r.body["pagination"],
        json!({"currentPage": 1, "totalPages": 1, "totalItems": 4, "itemsPerPage": 20,
               "hasNextPage": false, "hasPrevPage": false, "nextPage": null, "prevPage": null})
    );
    assert_eq!(keys(&r.body["meta"]), sorted(&["timestamp", "responseSize"]));
    assert_eq!(r.body["meta"]["responseSize"].as_u64().unwrap() as usize, r.body["data"].to_string().chars().count());
    let asha = &r.body["data"][3];
    assert_eq!(keys(asha), sorted(&PUBLIC_KEYS));
    assert_eq!(asha["_id"], d.asha.id());
    assert_eq!(asha["role"], "lawyer");
    assert_eq!(asha["lawyerDetails"]["specialization"], json!(["Family Law"]));
    assert_eq!(asha["lawyerDetails"]["experience"], 2);
    assert_eq!(asha["lawyerDetails"]["education"], "BA LLB, NALSAR University");
    assert_eq!(asha["lawyerDetails"]["consultationFee"], 1500);
    assert_no_private_data(&r.body, &[&d.asha, &d.bharat, &d.chen, &d.dev]);
    let listed: Vec<&str> = r.body["data"].as_array().unwrap().iter().map(|l| l["_id"].as_str().unwrap()).collect();
    assert!(!listed.contains(&d.pending.id().as_str()) && !listed.contains(&d.inactive.id().as_str()));

    // `fields=` selects within the public projection only; email selects nothing.
    let r = app.get("/api/lawyers/verified?fields=name,email,password", None).await;
    assert_eq!(keys(&r.body["data"][0]), sorted(&["_id", "name"]));
    let r = app.get("/api/lawyers/verified?fields=email", None).await;
    assert_eq!(r.body["data"][0], json!({"_id": d.dev.id()}));
    let r = app.get("/api/lawyers/verified?fields=lawyerDetails.experience,createdAt", None).await;
    assert_eq!(keys(&r.body["data"][1]), sorted(&["_id", "lawyerDetails", "createdAt"]));
    assert_eq!(r.body["data"][1]["lawyerDetails"], json!({"experience": 12}));
    assert_no_private_data(&r.body, &[&d.asha]);
}

#[tokio::test]
async fn directory_filters_searches_sorts_and_pages() {
    let app = spawn().await;
    directory(&app).await;
    let list = |q: &str| {
        let (app, url) = (&app, format!("/api/lawyers/verified?{q}"));
        async move {
            let r = app.get(&url, None).await;
            r.assert_status(200);
            names(&r)
        }
    };
    assert_eq!(list("specialization=Family%20Law").await, ["Asha Rao"], "exact element match");
    assert_eq!(list("specialization=family%20law").await, Vec::<String>::new());
    assert_eq!(list("specialization=all").await.len(), 4);
    assert_eq!(list("experience=3-7").await, ["Dev_Kumar", "Bharat Iyer"]);
    assert_eq!(list("experience=0-2%20years").await, ["Asha Rao"]);
    assert_eq!(list("experience=10%2B%20years").await, ["Chen 100% Wong"]);
    assert_eq!(list("search=nalsar").await, ["Asha Rao"], "education");
    assert_eq!(list("search=CRIMINAL").await, ["Bharat Iyer"], "specialization");
    assert_eq!(list("search=iyer").await, ["Bharat Iyer"], "name");
    assert_eq!(list("search=mediation&specialization=Family%20Law%20Mediation").await, ["Dev_Kumar"]);
    // Stored JSON keys are not searchable text.
    for key in ["verificationStatus", "education", "barRegistrationNumber", "specialization"] {
        assert_eq!(list(&format!("search={key}")).await, Vec::<String>::new(), "{key}");
    }
    // LIKE and regex metacharacters are literal.
    assert_eq!(list("search=%25").await, ["Chen 100% Wong"]);
    assert_eq!(list("search=_").await, ["Dev_Kumar"]);
    assert_eq!(list("search=.*").await, Vec::<String>::new());
    assert_eq!(list("sortBy=name&sortOrder=asc").await, ["Asha Rao", "Bharat Iyer", "Chen 100% Wong", "Dev_Kumar"]);
    assert_eq!(list("sortBy=experience").await, ["Chen 100% Wong", "Dev_Kumar", "Bharat Iyer", "Asha Rao"]);
    assert_eq!(
        list("sortBy=experience&sortOrder=asc").await,
        ["Asha Rao", "Bharat Iyer", "Dev_Kumar", "Chen 100% Wong"]
    );
    assert_eq!(list("sortBy=password_hash").await, ["Dev_Kumar", "Chen 100% Wong", "Bharat Iyer", "Asha Rao"]);
    assert_eq!(
        list("sortBy=createdAt&sortOrder=asc").await,
        ["Asha Rao", "Bharat Iyer", "Chen 100% Wong", "Dev_Kumar"]
    );

    let r = app.get("/api/lawyers/verified?limit=1&page=2", None).await;
    assert_eq!(names(&r), ["Chen 100% Wong"]);
    assert_eq!(
        r.body["pagination"],
        json!({"currentPage": 2, "totalPages": 4, "totalItems": 4, "itemsPerPage": 1,
               "hasNextPage": true, "hasPrevPage": true, "nextPage": 3, "prevPage": 1})
    );
    let r = app.get("/api/lawyers/verified?limit=500&search=law", None).await;
    assert_eq!(r.body["pagination"]["itemsPerPage"], 100);
    assert_eq!(r.body["pagination"]["totalItems"], 4, "real total with a filter");
    let r = app.get("/api/lawyers/verified?limit=0&page=9", None).await;
    assert_eq!(r.body["pagination"]["itemsPerPage"], 20);
    assert_eq!(r.body["data"], json!([]));
    assert_eq!(r.body["pagination"]["totalItems"], 4);
    // Past the end with bound filters: the total is counted on its own, with the same binds.
    let matching = list("search=law&experience=3-7").await.len();
    assert!(matching > 0);
    let r =
        app.get(&format!("/api/lawyers/verified?limit=1&page={}&search=law&experience=3-7", matching + 2), None).await;
    assert_eq!(r.body["data"], json!([]));
    assert_eq!(r.body["pagination"]["totalItems"], matching);
}

#[tokio::test]
async fn profile_shows_public_projection_and_resolved_case_stats() {
    let app = spawn().await;
    let d = directory(&app).await;
    let citizen = account(&app, Role::Citizen, "Chitra Citizen", |_| {}).await;
    let now = nyaya::time::now_iso();
    let a = Some(&d.asha.user);
    insert_case(&app, "query", "resolved", &citizen.user, a, &now, Some(&now)).await;
    insert_case(&app, "query", "in-progress", &citizen.user, a, &now, None).await;
    insert_case(&app, "dispute", "resolved", &citizen.user, a, &now, Some(&now)).await;
    insert_case(&app, "dispute", "resolved", &citizen.user, a, &now, Some(&now)).await;
    insert_case(&app, "query", "resolved", &citizen.user, Some(&d.bharat.user), &now, Some(&now)).await;

    let r = app.get(&format!("/api/lawyers/{}/profile", d.asha.id()), None).await;
    r.assert_status(200);
    assert_eq!(keys(&r.body), sorted(&["success", "data"]));
    assert_eq!(keys(r.data()), ["lawyer"]);
    let lawyer = &r.data()["lawyer"];
    let mut expected: Vec<&str> = PUBLIC_KEYS.to_vec();
    expected.push("stats");
    assert_eq!(keys(lawyer), sorted(&expected));
    assert_eq!(lawyer["name"], "Asha Rao");
    assert_eq!(lawyer["stats"], json!({"resolvedQueries": 1, "resolvedDisputes": 2, "totalCases": 3, "rating": 4.5}));
    assert_no_private_data(&r.body, &[&d.asha]);

    let r = app.get(&format!("/api/lawyers/{}/profile", d.chen.id()), None).await;
    assert_eq!(
        r.data()["lawyer"]["stats"],
        json!({"resolvedQueries": 0, "resolvedDisputes": 0, "totalCases": 0, "rating": 4.5})
    );

    for id in [d.pending.id(), d.inactive.id(), citizen.id(), Id::new().to_string()] {
        let r = app.get(&format!("/api/lawyers/{id}/profile"), None).await;
        r.assert_status(404);
        assert_eq!(r.body, json!({"success": false, "message": "Lawyer not found"}));
    }
    for bad in ["123", "zzzzzzzzzzzzzzzzzzzzzzzz", "not-an-id"] {
        let r = app.get(&format!("/api/lawyers/{bad}/profile"), None).await;
        r.assert_status(400);
        assert_eq!(r.body["success"], false);
    }
}

const CITIZEN_VIEW_KEYS: [&str; 8] =
    ["_id", "name", "email", "phone", "lawyerDetails", "createdAt", "isActive", "isVerified"];

#[tokio::test]
async fn available_lawyers_for_citizens() {
    let app = spawn().await;
    let d = directory(&app).await;
    for i in 0..9 {
        verified_lawyer(&app, &format!("Extra Lawyer {i}"), &["Civil Law"], 1, "LLB").await;
    }
    let citizen = account(&app, Role::Citizen, "Chitra Citizen", |_| {}).await;
    let admin = account(&app, Role::Admin, "Ada Admin", |_| {}).await;
    let path = "/api/citizens/available-lawyers";

    let r = app.get(path, Some(&citizen.token)).await;
    r.assert_status(200);
    assert_eq!(keys(&r.body), sorted(&["success", "data"]));
    assert_eq!(keys(r.data()), sorted(&["lawyers", "pagination"]));
    assert_eq!(r.data()["pagination"], json!({"current": 1, "pages": 2, "total": 13}));
    let lawyers = r.data()["lawyers"].as_array().unwrap();
    assert_eq!(lawyers.len(), 12, "12 per page by default");
    let asha = app.get(&format!("{path}?search=asha"), Some(&citizen.token)).await;
    let item = &asha.data()["lawyers"][0];
    assert_eq!(keys(item), sorted(&CITIZEN_VIEW_KEYS));
    assert_eq!(item["email"], d.asha.user.email);
    assert_eq!(item["phone"], "9876543210");
    assert_eq!((item["isActive"].as_bool(), item["isVerified"].as_bool()), (Some(true), Some(true)));
    assert_eq!(item["lawyerDetails"]["specialization"], json!(["Family Law"]));
    assert!(item["lawyerDetails"].get("verificationNotes").is_none(), "admin notes stay private");

    let names = |r: &Reply| -> Vec<String> {
        r.data()["lawyers"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap().to_string()).collect()
    };
    let get = |q: String| {
        let (app, token) = (&app, citizen.token.clone());
        async move { app.get(&format!("{path}?{q}"), Some(&token)).await }
    };
    assert_eq!(names(&get(format!("search={}", d.bharat.user.email.to_uppercase())).await), ["Bharat Iyer"], "email");
    assert_eq!(names(&get("search=tax".into()).await), ["Chen 100% Wong"], "specialization");
    assert_eq!(names(&get("search=nalsar".into()).await), Vec::<String>::new(), "education is not searched here");
    assert_eq!(names(&get("search=%25".into()).await), ["Chen 100% Wong"]);
    assert_eq!(names(&get("search=_".into()).await), ["Dev_Kumar"]);
    assert_eq!(names(&get("search=.*".into()).await), Vec::<String>::new());
    assert_eq!(names(&get("specialization=Family%20Law".into()).await), ["Asha Rao"]);
    assert_eq!(names(&get("experience=10%2B%20years".into()).await), ["Chen 100% Wong"]);
    assert_eq!(
        names(&get("experience=3-7&sortBy=experience&sortOrder=asc".into()).await),
        ["Bharat Iyer", "Dev_Kumar"]
    );
    let r = get("limit=5&page=3".into()).await;
    assert_eq!(r.data()["pagination"], json!({"current": 3, "pages": 3, "total": 13}));
    assert_eq!(r.data()["lawyers"].as_array().unwrap().len(), 3);
    assert_eq!(get("limit=1000".into()).await.data()["lawyers"].as_array().unwrap().len(), 13);

    let r = app.get(path, None).await;
    r.assert_status(401);
    assert_eq!(r.message(), "Not authorized, no token provided");
    let r = app.get(path, Some(&d.asha.token)).await;
    r.assert_status(403);
    assert_eq!(r.body, json!({"success": false, "message": "User role lawyer is not authorized to access this route"}));
    let r = app.get(path, Some(&admin.token)).await;
    r.assert_status(403);
    assert_eq!(r.message(), "User role admin is not authorized to access this route");
}

#[tokio::test]
async fn directory_caches_are_invalidated_by_verification_and_toggle_status() {
    let app = spawn().await;
    let d = directory(&app).await;
    let admin = account(&app, Role::Admin, "Ada Admin", |_| {}).await;
    let citizen = account(&app, Role::Citizen, "Chitra Citizen", |_| {}).await;
    let other_citizen = account(&app, Role::Citizen, "Chetan Citizen", |_| {}).await;
    let profile = format!("/api/lawyers/{}/profile", d.asha.id());
    let available = "/api/citizens/available-lawyers";

    let r = app.get("/api/lawyers/verified", None).await;
    assert_eq!((x_cache(&r), r.body["pagination"]["totalItems"].as_i64()), ("MISS", Some(4)));
    assert_eq!(x_cache(&app.get("/api/lawyers/verified", None).await), "HIT");
    assert_eq!(x_cache(&app.get(&profile, None).await), "MISS");
    assert_eq!(x_cache(&app.get(&profile, None).await), "HIT");
    assert_eq!(x_cache(&app.get(available, Some(&citizen.token)).await), "MISS");
    // Shared by every citizen (scope role:citizen).
    assert_eq!(x_cache(&app.get(available, Some(&other_citizen.token)).await), "HIT");

    // Toggling a citizen touches no directory entry.
    app.patch(&format!("/api/admin/users/{}/toggle-status", other_citizen.id()), Some(&admin.token), None)
        .await
        .assert_status(200);
    assert_eq!(x_cache(&app.get("/api/lawyers/verified", None).await), "HIT");
    assert_eq!(x_cache(&app.get(&profile, None).await), "HIT");

    // Verifying a lawyer: the lists change at once.
    let pending_profile = format!("/api/lawyers/{}/profile", d.pending.id());
    app.get(&pending_profile, None).await.assert_status(404);
    let r = app
        .patch(
            &format!("/api/admin/lawyers/{}/verification", d.pending.id()),
            Some(&admin.token),
            Some(json!({"action": "approve"})),
        )
        .await;
    r.assert_status(200);
    let r = app.get("/api/lawyers/verified", None).await;
    assert_eq!((x_cache(&r), r.body["pagination"]["totalItems"].as_i64()), ("MISS", Some(5)));
    assert!(names(&r).contains(&"Pia Pending".to_string()));
    let r = app.get(available, Some(&citizen.token)).await;
    assert_eq!((x_cache(&r), r.data()["pagination"]["total"].as_i64()), ("MISS", Some(5)));
    let r = app.get(&pending_profile, None).await;
    r.assert_status(200);
    assert_eq!(x_cache(&r), "MISS");
    assert_eq!(x_cache(&app.get(&pending_profile, None).await), "HIT");

    // Rejecting takes the lawyer out again, profile included.
    let r = app
        .patch(
            &format!("/api/admin/lawyers/{}/verification", d.pending.id()),
            Some(&admin.token),
            Some(json!({"status": "rejected"})),
        )
        .await;
    r.assert_status(200);
    app.get(&pending_profile, None).await.assert_status(404);
    assert_eq!(app.get("/api/lawyers/verified", None).await.body["pagination"]["totalItems"], 4);

    // Deactivating a lawyer hides their profile and listing; reactivating brings them back.
    let toggle = format!("/api/admin/users/{}/toggle-status", d.asha.id());
    app.patch(&toggle, Some(&admin.token), Some(json!({"isActive": false}))).await.assert_status(200);
    let r = app.get(&profile, None).await;
    r.assert_status(404);
    let r = app.get("/api/lawyers/verified", None).await;
    assert_eq!(x_cache(&r), "MISS");
    assert!(!names(&r).contains(&"Asha Rao".to_string()));
    let r = app.get(available, Some(&citizen.token)).await;
    assert_eq!(r.data()["pagination"]["total"], 3);
    app.patch(&toggle, Some(&admin.token), Some(json!({"isActive": true}))).await.assert_status(200);
    let r = app.get(&profile, None).await;
    r.assert_status(200);
    assert_eq!(x_cache(&r), "MISS");
}

async fn table_count(app: &TestApp, table: &str) -> i64 {
    app.state().db.count(&Sql::new(format!("SELECT COUNT(*) FROM {table}"))).await.unwrap()
}

#[tokio::test]
async fn seed_is_idempotent_and_fills_the_directory() {
    let app = spawn().await;
    let db = &app.state().db;
    let first = nyaya::seed::run(db, nyaya::seed::DEFAULT_PASSWORD).await.expect("seed");
    let counts =
        (table_count(&app, "users").await, table_count(&app, "cases").await, table_count(&app, "case_requests").await);
    assert_eq!(first.created.len() as i64, counts.0);
    assert_eq!(first.cases_created as i64, counts.1);
    assert!(counts.1 >= 4, "some queries and disputes");
    assert!(first.logins_table().contains("demo.admin@example.com"));
    assert!(first.logins_table().contains(nyaya::seed::DEFAULT_PASSWORD));

    let second = nyaya::seed::run(db, nyaya::seed::DEFAULT_PASSWORD).await.expect("second seed");
    assert!(second.created.is_empty());
    assert_eq!(second.cases_created, 0);
    assert_eq!(second.existing_users, first.created.len());
    let again =
        (table_count(&app, "users").await, table_count(&app, "cases").await, table_count(&app, "case_requests").await);
    assert_eq!(again, counts, "a second run creates nothing");

    // One password for everyone, hashed once, and it is the printed one.
    let admin = users::find_by_email(db, "demo.admin@example.com").await.unwrap().expect("seed admin");
    assert_eq!(admin.role, Role::Admin);
    let hashes: std::collections::HashSet<String> =
        users::select(db, Sql::new("")).await.unwrap().into_iter().map(|u| u.password_hash).collect();
    assert_eq!(hashes.len(), 1);
    assert!(nyaya::security::verify_password(nyaya::seed::DEFAULT_PASSWORD, &admin.password_hash));

    let r = app.get("/api/lawyers/verified?limit=100", None).await;
    r.assert_status(200);
    let total = r.body["pagination"]["totalItems"].as_i64().unwrap();
    assert!(total >= 50, "{total} verified lawyers");
    assert_eq!(total, nyaya::seed::VERIFIED_LAWYERS as i64);
    for spec in [
        "Criminal Law",
        "Family Law",
        "Property Law",
        "Corporate Law",
        "Civil Law",
        "Tax Law",
        "Labor Law",
        "Consumer Law",
    ] {
        let r = app.get(&format!("/api/lawyers/verified?specialization={}", spec.replace(' ', "%20")), None).await;
        assert!(r.body["pagination"]["totalItems"].as_i64().unwrap() >= 3, "{spec}");
    }
    let seeded = users::listed_lawyers(
        db,
        &users::LawyerQuery {
            specialization: None,
            min_experience: None,
            max_experience: None,
            search: None,
            search_in: users::LawyerSearchIn::NameSpecializationEducation,
            sort: users::LawyerSort::CreatedAt,
            descending: true,
            limit: 100,
            offset: 0,
        },
    )
    .await
    .unwrap()
    .0;
    let cities: std::collections::HashSet<&str> = seeded.iter().filter_map(|u| u.address["city"].as_str()).collect();
    assert!(cities.len() >= 8, "lawyers across Indian cities: {cities:?}");
    for u in &seeded {
        let details = u.lawyer_details.as_ref().unwrap();
        for key in ["experience", "education", "consultationFee", "bio"] {
            assert!(details.get(key).is_some(), "{} lacks {key}", u.email);
        }
    }
    let r = app.get("/api/lawyers/verified?search=nalsar", None).await;
    assert!(r.body["pagination"]["totalItems"].as_i64().unwrap() >= 1, "education is searchable");

    // Pending lawyers wait for the admin; the dashboards see the seeded cases.
    let token = app.state().tokens.issue(&admin).access;
    let r = app.get("/api/admin/lawyers/pending-verifications", Some(&token)).await;
    assert!(r.data()["total"].as_i64().unwrap() >= 2);
    let r = app.get("/api/admin/dashboard/analytics", Some(&token)).await;
    assert!(r.data()["counts"]["pendingLawyerVerifications"].as_i64().unwrap() >= 1);
    assert!(
        r.data()["counts"]["totalQueries"].as_i64().unwrap() >= 2
            && r.data()["counts"]["totalDisputes"].as_i64().unwrap() >= 2
    );
    let r = app.get("/api/admin/system/stats", Some(&token)).await;
    assert!(!r.data()["topLawyers"].as_array().unwrap().is_empty(), "resolved queries rank lawyers");
}

#[tokio::test]
async fn openapi_documents_the_directory_and_admin_routes() {
    let app = spawn().await;
    let r = app.get("/api/docs/openapi.json", None).await;
    r.assert_status(200);
    let paths = &r.body["paths"];
    for (path, method) in [
        ("/api/lawyers/verified", "get"),
        ("/api/lawyers/{lawyerId}/profile", "get"),
        ("/api/citizens/available-lawyers", "get"),
        ("/api/admin/dashboard/analytics", "get"),
        ("/api/admin/system/stats", "get"),
        ("/api/admin/users", "get"),
        ("/api/admin/users/{userId}/toggle-status", "patch"),
        ("/api/admin/lawyers/pending-verifications", "get"),
        ("/api/admin/lawyers/{lawyerId}/verification", "patch"),
    ] {
        assert!(paths[path].get(method).is_some(), "{method} {path} missing from the OpenAPI document");
    }
}

/// "Verified lawyer" is one rule: `isVerified` AND `verificationStatus: verified`. An account
/// with the flag set but its status still pending or rejected (as data imported from the
/// original can be) is refused everywhere a verified lawyer is required: the directory, the
/// public profile, the citizens' list and a connection request.
#[tokio::test]
async fn a_flagged_lawyer_whose_status_is_not_verified_is_not_a_verified_lawyer() {
    let app = spawn().await;
    let listed = verified_lawyer(&app, "Vera Verified", &["Family Law"], 3, "LLB").await;
    let mut half = Vec::new();
    for status in ["pending", "rejected"] {
        half.push(
            account(&app, Role::Lawyer, &format!("Hal {status}"), |u| {
                lawyer_details(u, &["Family Law"], 3, "LLB", status);
                u.is_verified = true;
            })
            .await,
        );
    }
    let citizen = account(&app, Role::Citizen, "Cyra Citizen", |_| {}).await;

    let r = app.get("/api/lawyers/verified", None).await;
    r.assert_status(200);
    assert_eq!(names(&r), ["Vera Verified"]);
    assert_eq!(r.body["pagination"]["totalItems"], 1);
    let r = app.get("/api/citizens/available-lawyers", Some(&citizen.token)).await;
    r.assert_status(200);
    assert_eq!(r.data()["pagination"]["total"], 1);
    app.get(&format!("/api/lawyers/{}/profile", listed.id()), None).await.assert_status(200);
    for lawyer in &half {
        let r = app.get(&format!("/api/lawyers/{}/profile", lawyer.id()), None).await;
        r.assert_status(404);
        assert_eq!(r.message(), "Lawyer not found");
        let path = format!("/api/citizens/direct-connection-request/{}", lawyer.id());
        let r = app.post(&path, Some(&citizen.token), json!({"message": "Hello"})).await;
        r.assert_status(404);
        assert_eq!(r.message(), "Lawyer not found or not verified");
    }
    let path = format!("/api/citizens/direct-connection-request/{}", listed.id());
    let r = app.post(&path, Some(&citizen.token), json!({"message": "Hello"})).await;
    assert!(r.status.is_success(), "{:?}", r.body);

    // They still wait for an admin's decision, so the admin's list shows them.
    let admin = account(&app, Role::Admin, "Ada Admin", |_| {}).await;
    let r = app.get("/api/admin/lawyers/pending-verifications", Some(&admin.token)).await;
    r.assert_status(200);
    let text = r.body.to_string();
    assert!(half.iter().all(|l| text.contains(&l.id())) && !text.contains(&listed.id()), "{text}");
}
