//! Issue 4: the platform walked as its users walk it, over HTTP only. A citizen registers and
//! posts a query; a lawyer registers and an admin verifies them; the citizen asks that lawyer
//! to take the query and the lawyer accepts; both find the case and its chat, exchange
//! messages, share a document and hold a consultation. Every cached page a user has opened
//! shows each change on the very next read (`X-Cache: MISS` and the new content), and a
//! second citizen can reach none of it.
//!
//! Two steps have no HTTP route of their own: the admin account comes from the seed path
//! (`insert_user`, then a real login), and chat messages travel over Socket.IO, whose handler
//! calls `service::chats::send_message`, as this test does.

use nyaya::ids::Id;
use nyaya::service::chats::{self, NewMessage};
use nyaya::store::users::{self, Role, User};
use reqwest::Method;
use serde_json::{Value, json};

use crate::documents::{fetch, file, multipart, pdf, processed, sha256};
use crate::helpers::*;

/// Opens a cached page and reloads it, as a browser does: the first read must be built from
/// the database (`MISS`, so whatever changed before is in it), the reload served from the
/// cache (`HIT`) with the very same body. Returns the body.
async fn fresh(app: &TestApp, path: &str, token: &str) -> Value {
    let first = app.get(path, Some(token)).await;
    first.assert_status(200);
    assert_eq!(x_cache(&first), "MISS", "first read of {path} after a change: {}", first.body);
    let again = app.get(path, Some(token)).await;
    again.assert_status(200);
    assert_eq!(x_cache(&again), "HIT", "second read of {path}");
    assert_eq!(again.body, first.body, "a hit of {path} replays the stored body");
    first.body
}

/// The same for a public page (no token).
async fn fresh_public(app: &TestApp, path: &str) -> Value {
    let first = app.call_without_cookies(Method::GET, path, None, None).await;
    first.assert_status(200);
    assert_eq!(x_cache(&first), "MISS", "first read of {path} after a change: {}", first.body);
    let again = app.call_without_cookies(Method::GET, path, None, None).await;
    assert_eq!(x_cache(&again), "HIT", "second read of {path}");
    assert_eq!(again.body, first.body);
    first.body
}

fn x_cache(r: &Reply) -> &str {
    r.headers.get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The `_id`s of a list of documents.
fn ids(items: &Value) -> Vec<&str> {
    items.as_array().expect("array").iter().map(|i| i["_id"].as_str().expect("_id")).collect()
}

/// The account behind a registration, as the socket layer knows it after authenticating.
async fn account(app: &TestApp, user: &Value) -> User {
    let id: Id = user["_id"].as_str().expect("_id").parse().expect("id");
    users::get(&app.state().db, &id).await.expect("load user").expect("user exists")
}

async fn say(app: &TestApp, who: &User, chat_id: &str, content: &str) {
    let msg = NewMessage { content: Some(content.into()), ..NewMessage::default() };
    chats::send_message(app.state(), who, chat_id, msg).await.expect("send message");
}

#[tokio::test]
async fn a_case_from_registration_to_a_completed_consultation() {
    let app = spawn().await;

    // ---- The platform's admin (an account of the seed path) logs in. ----
    let root = insert_user(&app, Role::Admin, "Root Admin").await;
    let login = app
        .call_without_cookies(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"email": root.email, "password": PASSWORD})),
        )
        .await;
    login.assert_status(200);
    let root_t = login.data()["tokens"]["accessToken"].as_str().unwrap().to_string();

    // ---- A citizen registers and opens their pages. ----
    let (asha, asha_t) = register(&app, "citizen", json!({"name": "Asha Verma"})).await;
    let asha_id = asha["_id"].as_str().unwrap().to_string();
    let my_cases = fresh(&app, "/api/citizens/my-cases", &asha_t).await;
    assert_eq!(my_cases["data"]["cases"], json!([]));
    let dashboard = fresh(&app, "/api/citizens/dashboard", &asha_t).await;
    assert_eq!(dashboard["data"]["totalQueries"], 0);
    let queries = fresh(&app, "/api/queries", &asha_t).await;
    assert_eq!(queries["data"], json!([]));

    // ---- They post a query: every page they opened shows it. ----
    let r = app
        .post(
            "/api/queries",
            Some(&asha_t),
            json!({
                "title": "Neighbour built on my land",
                "description": "The neighbour's new wall stands two feet inside my plot.",
                "category": "property",
                "priority": "high",
            }),
        )
        .await;
    r.assert_status(201);
    let query_id = r.data()["query"]["_id"].as_str().unwrap().to_string();
    let my_cases = fresh(&app, "/api/citizens/my-cases", &asha_t).await;
    assert_eq!(ids(&my_cases["data"]["cases"]), [query_id.as_str()]);
    let case = &my_cases["data"]["cases"][0];
    assert_eq!((case["status"].as_str(), case["caseType"].as_str()), (Some("pending"), Some("query")));
    assert_eq!(case["chatRoom"], Value::Null, "no chat before a lawyer is assigned");
    let dashboard = fresh(&app, "/api/citizens/dashboard", &asha_t).await;
    assert_eq!(dashboard["data"]["totalQueries"], 1);
    assert_eq!(dashboard["data"]["pendingRequests"], 0);
    let queries = fresh(&app, "/api/queries", &asha_t).await;
    assert_eq!(ids(&queries["data"]), [query_id.as_str()]);

    // ---- A lawyer registers: the admin's queue shows them; until verified they are neither
    // listed nor let in. ----
    let pending = fresh(&app, "/api/admin/lawyers/pending-verifications", &root_t).await;
    assert_eq!(pending["data"]["lawyers"], json!([]));
    let (ravi, ravi_t) = register(
        &app,
        "lawyer",
        json!({
            "name": "Ravi Menon",
            "lawyerDetails": {
                "barRegistrationNumber": "KA/1234/2015",
                "specialization": ["Property Law"],
                "experience": 9,
                "education": "LLB, NLSIU",
            },
        }),
    )
    .await;
    let ravi_id = ravi["_id"].as_str().unwrap().to_string();
    assert_eq!(ravi["lawyerDetails"]["verificationStatus"], "pending");
    let pending = fresh(&app, "/api/admin/lawyers/pending-verifications", &root_t).await;
    assert_eq!(ids(&pending["data"]["lawyers"]), [ravi_id.as_str()]);
    assert_eq!(pending["data"]["total"], 1);
    let r = app.get("/api/lawyers/my-cases", Some(&ravi_t)).await;
    r.assert_status(403);
    assert_eq!(r.body["code"], "LAWYER_NOT_VERIFIED");
    app.call_without_cookies(Method::GET, &format!("/api/lawyers/{ravi_id}/profile"), None, None)
        .await
        .assert_status(404);
    let directory = fresh_public(&app, "/api/lawyers/verified").await;
    assert!(!ids(&directory["data"]).contains(&ravi_id.as_str()));
    let available = fresh(&app, "/api/citizens/available-lawyers", &asha_t).await;
    assert!(!ids(&available["data"]["lawyers"]).contains(&ravi_id.as_str()));
    let r = app
        .post(&format!("/api/citizens/request-lawyer-for-query/{query_id}/{ravi_id}"), Some(&asha_t), json!({}))
        .await;
    r.assert_status(404);
    assert_eq!(r.message(), "Lawyer not found or not verified");

    // ---- The admin verifies the lawyer through the admin route. ----
    let r = app
        .patch(
            &format!("/api/admin/lawyers/{ravi_id}/verification"),
            Some(&root_t),
            Some(json!({"action": "approve", "reason": "Bar council records checked"})),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.message(), "Lawyer verified successfully");
    assert_eq!(r.data()["lawyer"]["lawyerDetails"]["verificationStatus"], "verified");
    let pending = fresh(&app, "/api/admin/lawyers/pending-verifications", &root_t).await;
    assert_eq!(pending["data"]["lawyers"], json!([]));
    let directory = fresh_public(&app, "/api/lawyers/verified").await;
    assert!(ids(&directory["data"]).contains(&ravi_id.as_str()));
    let available = fresh(&app, "/api/citizens/available-lawyers", &asha_t).await;
    assert!(ids(&available["data"]["lawyers"]).contains(&ravi_id.as_str()));
    let profile = fresh_public(&app, &format!("/api/lawyers/{ravi_id}/profile")).await;
    assert_eq!(profile["data"]["lawyer"]["name"], "Ravi Menon");

    // The lawyer completes their profile: the public pages show it on the next read.
    let bio = "Property and boundary disputes in Bengaluru courts.";
    let r = app.put("/api/auth/profile", Some(&ravi_t), json!({"lawyerDetails": {"bio": bio}})).await;
    r.assert_status(200);
    let profile = fresh_public(&app, &format!("/api/lawyers/{ravi_id}/profile")).await;
    assert_eq!(profile["data"]["lawyer"]["lawyerDetails"]["bio"], bio);
    let directory = fresh_public(&app, "/api/lawyers/verified").await;
    let listed = directory["data"].as_array().unwrap().iter().find(|l| l["_id"] == ravi_id.as_str()).expect("listed");
    assert_eq!(listed["lawyerDetails"]["bio"], bio);

    // The verified lawyer opens their pages with the token they registered with.
    let lawyer_cases = fresh(&app, "/api/lawyers/my-cases", &ravi_t).await;
    assert_eq!(lawyer_cases["data"]["cases"], json!([]));
    let inbox = fresh(&app, "/api/lawyers/received-case-requests", &ravi_t).await;
    assert_eq!(inbox["data"]["requests"], json!([]));
    let open_pool = fresh(&app, "/api/lawyers/available-cases", &ravi_t).await;
    assert_eq!(ids(&open_pool["data"]["cases"]), [query_id.as_str()]);
    let assigned = fresh(&app, "/api/queries?type=assigned", &ravi_t).await;
    assert_eq!(assigned["data"], json!([]));
    let stats = fresh(&app, "/api/lawyers/dashboard/stats", &ravi_t).await;
    assert_eq!(stats["data"]["activeQueries"], 0);

    // ---- The citizen asks the verified lawyer to take the query (3.4 #7). ----
    let r = app
        .post(
            &format!("/api/citizens/request-lawyer-for-query/{query_id}/{ravi_id}"),
            Some(&asha_t),
            json!({"message": "Please help me with the boundary wall."}),
        )
        .await;
    r.assert_status(200);
    let request_id = r.data()["requestId"].as_str().unwrap().to_string();
    assert_eq!(r.data()["lawyer"], json!({"_id": ravi_id, "name": "Ravi Menon", "specialization": ["Property Law"]}));
    let inbox = fresh(&app, "/api/lawyers/received-case-requests", &ravi_t).await;
    let requests = inbox["data"]["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["requestId"], request_id.as_str());
    assert_eq!(requests[0]["status"], "pending");
    assert_eq!(requests[0]["citizen"]["_id"], asha_id.as_str());
    let open_pool = fresh(&app, "/api/lawyers/available-cases", &ravi_t).await;
    assert_eq!(ids(&open_pool["data"]["cases"]), [query_id.as_str()], "still open until accepted");
    let my_cases = fresh(&app, "/api/citizens/my-cases", &asha_t).await;
    let asked = &my_cases["data"]["cases"][0]["requestedLawyers"];
    assert_eq!(asked.as_array().unwrap().len(), 1);
    assert_eq!(asked[0]["lawyerId"]["_id"], ravi_id.as_str());
    let dashboard = fresh(&app, "/api/citizens/dashboard", &asha_t).await;
    assert_eq!(dashboard["data"]["pendingRequests"], 1);

    // ---- The lawyer accepts (3.3 #19): the case is theirs and has a chat. ----
    let r = app.post(&format!("/api/lawyers/accept-case-request/{request_id}"), Some(&ravi_t), json!({})).await;
    r.assert_status(200);
    let chat_id = format!("query_{query_id}");
    assert_eq!(r.data()["chat"], json!({"chatId": chat_id, "caseType": "query"}));

    let my_cases = fresh(&app, "/api/citizens/my-cases", &asha_t).await;
    let case = &my_cases["data"]["cases"][0];
    assert_eq!(case["status"], "assigned");
    assert_eq!(case["assignedLawyer"]["_id"], ravi_id.as_str());
    assert_eq!(case["requestedLawyers"][0]["status"], "accepted");
    assert_eq!(case["chatRoom"]["chatId"], chat_id.as_str());
    let dashboard = fresh(&app, "/api/citizens/dashboard", &asha_t).await;
    assert_eq!(
        (dashboard["data"]["activeQueries"].as_i64(), dashboard["data"]["pendingRequests"].as_i64()),
        (Some(1), Some(0))
    );
    let queries = fresh(&app, "/api/queries", &asha_t).await;
    assert_eq!(queries["data"][0]["status"], "assigned");
    assert_eq!(queries["data"][0]["assignedLawyer"]["_id"], ravi_id.as_str());

    let lawyer_cases = fresh(&app, "/api/lawyers/my-cases", &ravi_t).await;
    assert_eq!(ids(&lawyer_cases["data"]["cases"]), [query_id.as_str()]);
    let case = &lawyer_cases["data"]["cases"][0];
    assert_eq!(case["citizen"]["_id"], asha_id.as_str());
    assert_eq!(case["chatRoom"]["chatId"], chat_id.as_str());
    assert_eq!(case["chatRoom"]["unreadCount"], 0);
    let inbox = fresh(&app, "/api/lawyers/received-case-requests", &ravi_t).await;
    assert_eq!(inbox["data"]["requests"][0]["status"], "accepted");
    let open_pool = fresh(&app, "/api/lawyers/available-cases", &ravi_t).await;
    assert_eq!(open_pool["data"]["cases"], json!([]), "an assigned case leaves the open pool");
    let assigned = fresh(&app, "/api/queries?type=assigned", &ravi_t).await;
    assert_eq!(ids(&assigned["data"]), [query_id.as_str()]);
    let stats = fresh(&app, "/api/lawyers/dashboard/stats", &ravi_t).await;
    assert_eq!(stats["data"]["activeQueries"], 1);

    // Both can open the chat; they are its two participants.
    for token in [&asha_t, &ravi_t] {
        let r = app.get(&format!("/api/chats/{chat_id}"), Some(token)).await;
        r.assert_status(200);
        let mut people: Vec<&str> = r.data()["chat"]["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["user"]["_id"].as_str().unwrap())
            .collect();
        people.sort();
        let mut expected = [asha_id.as_str(), ravi_id.as_str()];
        expected.sort();
        assert_eq!(people, expected);
        assert_eq!(r.data()["chat"]["messages"], json!([]));
    }

    // ---- They exchange messages; the case lists show the last one and the unread count. ----
    let (asha_user, ravi_user) = (account(&app, &asha).await, account(&app, &ravi).await);
    say(&app, &asha_user, &chat_id, "I have the sale deed and the survey map.").await;
    let lawyer_cases = fresh(&app, "/api/lawyers/my-cases", &ravi_t).await;
    let room = &lawyer_cases["data"]["cases"][0]["chatRoom"];
    assert_eq!(room["lastMessage"]["content"], "I have the sale deed and the survey map.");
    assert_eq!(room["lastMessage"]["sender"], asha_id.as_str());
    assert_eq!(room["unreadCount"], 1);
    let my_cases = fresh(&app, "/api/citizens/my-cases", &asha_t).await;
    assert_eq!(
        my_cases["data"]["cases"][0]["chatRoom"]["lastMessage"]["content"],
        "I have the sale deed and the survey map."
    );
    assert_eq!(my_cases["data"]["cases"][0]["chatRoom"]["unreadCount"], 0);

    // Opening the chat reads it: the lawyer's unread count drops on the next read of my-cases.
    let r = app.get(&format!("/api/chats/{chat_id}"), Some(&ravi_t)).await;
    r.assert_status(200);
    assert_eq!(r.data()["chat"]["messages"][0]["content"], "I have the sale deed and the survey map.");
    let lawyer_cases = fresh(&app, "/api/lawyers/my-cases", &ravi_t).await;
    assert_eq!(lawyer_cases["data"]["cases"][0]["chatRoom"]["unreadCount"], 0);

    say(&app, &ravi_user, &chat_id, "Please upload the deed here.").await;
    let my_cases = fresh(&app, "/api/citizens/my-cases", &asha_t).await;
    let room = &my_cases["data"]["cases"][0]["chatRoom"];
    assert_eq!(room["lastMessage"]["content"], "Please upload the deed here.");
    assert_eq!(room["lastMessage"]["sender"], ravi_id.as_str());
    assert_eq!(room["unreadCount"], 1);
    let lawyer_cases = fresh(&app, "/api/lawyers/my-cases", &ravi_t).await;
    assert_eq!(lawyer_cases["data"]["cases"][0]["chatRoom"]["lastMessage"]["content"], "Please upload the deed here.");
    let r = app.get(&format!("/api/chats/{chat_id}"), Some(&asha_t)).await;
    let history: Vec<&str> =
        r.data()["chat"]["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(history, ["I have the sale deed and the survey map.", "Please upload the deed here."]);

    // ---- The citizen uploads the deed to the case; both download the same bytes. ----
    let deed = pdf("sale deed of plot 42");
    let r = multipart(
        &app,
        "/api/documents/upload",
        &asha_t,
        &[("documentType", "query"), ("relatedId", &query_id), ("description", "Sale deed"), ("tags", "deed")],
        vec![file("document", "sale-deed.pdf", "application/pdf", deed.clone())],
    )
    .await;
    r.assert_status(201);
    let doc = r.data()["document"].clone();
    let doc_id = doc["_id"].as_str().unwrap().to_string();
    let url = doc["url"].as_str().unwrap().to_string();
    assert_eq!(processed(&app, &asha_t, &doc_id).await["status"], "active", "checked in the background");
    assert_eq!(
        doc["accessibleTo"],
        json!([{"userId": asha_id, "role": "citizen"}, {"userId": ravi_id, "role": "lawyer"}])
    );
    for token in [&asha_t, &ravi_t] {
        let list = app.get(&format!("/api/documents/query/{query_id}"), Some(token)).await;
        list.assert_status(200);
        assert_eq!(ids(&list.data()["documents"]), [doc_id.as_str()]);
        let (status, headers, bytes) = fetch(&app, &url, Some(token)).await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "application/pdf");
        assert_eq!(bytes, deed, "the download is the uploaded file, byte for byte");
    }

    // ---- A second citizen can reach none of it. ----
    let (_, mallory_t) = register(&app, "citizen", json!({"name": "Mallory"})).await;
    let r = app.get(&format!("/api/documents/details/{doc_id}"), Some(&mallory_t)).await;
    r.assert_status(403);
    assert_eq!(r.message(), "Access denied");
    let list = app.get(&format!("/api/documents/query/{query_id}"), Some(&mallory_t)).await;
    list.assert_status(200);
    assert_eq!(list.data()["count"], 0);
    let repository = app.get("/api/documents/repository/my-documents", Some(&mallory_t)).await;
    repository.assert_status(200);
    assert_eq!(repository.data()["pagination"]["totalDocuments"], 0);
    for q in ["sale", "deed"] {
        let found = app.get(&format!("/api/documents/search?q={q}"), Some(&mallory_t)).await;
        found.assert_status(200);
        assert_eq!(found.data()["documents"], json!([]), "search for {q}");
    }
    let overview = app.get("/api/documents/stats/overview", Some(&mallory_t)).await;
    assert_eq!(overview.data()["overall"]["totalDocuments"], 0);
    let (status, _, bytes) = fetch(&app, &url, Some(&mallory_t)).await;
    assert_eq!(status, 403);
    assert_ne!(bytes, deed);
    let (status, _, bytes) = fetch(&app, &format!("{url}?token={mallory_t}"), None).await;
    assert_eq!(status, 403);
    assert_ne!(bytes, deed);
    // The file proxy answers as for content nobody uploaded.
    let (status, _, bytes) = fetch(&app, &format!("/api/chats/file/{}", sha256(&deed)), Some(&mallory_t)).await;
    assert_eq!(status, 404);
    assert_ne!(bytes, deed);
    let r = multipart(
        &app,
        "/api/documents/upload",
        &mallory_t,
        &[("documentType", "query"), ("relatedId", &query_id)],
        vec![file("document", "forged.pdf", "application/pdf", pdf("forged"))],
    )
    .await;
    r.assert_status(403);
    app.get(&format!("/api/queries/{query_id}"), Some(&mallory_t)).await.assert_status(403);
    app.get(&format!("/api/chats/{chat_id}"), Some(&mallory_t)).await.assert_status(403);
    let theirs = app.get("/api/citizens/my-cases", Some(&mallory_t)).await;
    assert_eq!(theirs.data()["cases"], json!([]));

    // ---- The citizen books a consultation; the lawyer confirms, then completes it. ----
    let asha_consultations = fresh(&app, "/api/consultations", &asha_t).await;
    assert_eq!(asha_consultations["data"]["consultations"], json!([]));
    let ravi_consultations = fresh(&app, "/api/consultations", &ravi_t).await;
    assert_eq!(ravi_consultations["data"]["consultations"], json!([]));
    let when = nyaya::time::iso(nyaya::time::now() + chrono::Duration::days(3));
    let r = app
        .post(
            "/api/consultations/request",
            Some(&asha_t),
            json!({"targetUserId": ravi_id, "scheduledDateTime": when, "duration": 45, "description": "Go through the deed"}),
        )
        .await;
    r.assert_status(201);
    let consultation_id = r.data()["consultation"]["_id"].as_str().unwrap().to_string();
    assert_eq!(r.data()["consultation"]["status"], "requested");
    let item = format!("/api/consultations/{consultation_id}");
    for token in [&asha_t, &ravi_t] {
        let list = fresh(&app, "/api/consultations", token).await;
        assert_eq!(ids(&list["data"]["consultations"]), [consultation_id.as_str()]);
        assert_eq!(list["data"]["consultations"][0]["status"], "requested");
        let one = fresh(&app, &item, token).await;
        assert_eq!(one["data"]["consultation"]["status"], "requested");
    }
    app.get(&item, Some(&mallory_t)).await.assert_status(403);

    for (status, notes) in [("confirmed", None), ("completed", Some("Advised a survey and a legal notice."))] {
        let mut body = json!({"status": status});
        if let Some(n) = notes {
            body["notes"] = json!(n);
        }
        let r = app.patch(&format!("{item}/status"), Some(&ravi_t), Some(body)).await;
        r.assert_status(200);
        assert_eq!(r.data()["consultation"]["status"], status);
        for token in [&asha_t, &ravi_t] {
            let list = fresh(&app, "/api/consultations", token).await;
            assert_eq!(list["data"]["consultations"][0]["status"], status, "list after {status}");
            let one = fresh(&app, &item, token).await;
            let c = &one["data"]["consultation"];
            assert_eq!(c["status"], status, "item after {status}");
            assert_eq!(
                c["meetingDetails"]["meetingLink"],
                format!("https://meet.example.com/consultation/{consultation_id}")
            );
            if let Some(n) = notes {
                assert_eq!(c["notes"]["lawyerNotes"], n);
            }
        }
    }
    // Only the lawyer of the consultation sets its status.
    let r = app.patch(&format!("{item}/status"), Some(&asha_t), Some(json!({"status": "cancelled"}))).await;
    r.assert_status(403);
    let one = app.get(&item, Some(&asha_t)).await;
    assert_eq!((x_cache(&one), one.data()["consultation"]["status"].as_str()), ("HIT", Some("completed")));
}
