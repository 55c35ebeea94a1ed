//! API conventions of section 1: envelope, 404, health, security headers, rate limit, metrics.

use crate::helpers::*;

#[tokio::test]
async fn unknown_routes_get_the_envelope() {
    let app = spawn().await;
    let r = app.get("/api/does-not-exist", None).await;
    r.assert_status(404);
    assert_eq!(r.body, serde_json::json!({"success": false, "message": "Route not found"}));
}

#[tokio::test]
async fn health_reports_the_database() {
    let app = spawn().await;
    let r = app.get("/api/health", None).await;
    r.assert_status(200);
    assert_eq!(r.body["status"], "healthy");
    assert_eq!(r.body["services"]["database"]["status"], "healthy");
    let p = app.get("/api/health/ping", None).await;
    p.assert_status(200);
    assert_eq!(p.body["database"], "healthy");
}

#[tokio::test]
async fn security_headers_and_request_ids_are_set() {
    let app = spawn().await;
    let r = app.get("/api/health/ping", None).await;
    assert_eq!(r.headers["cross-origin-resource-policy"], "cross-origin");
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert_eq!(r.headers["x-request-id"].len(), 24);
}

#[tokio::test]
async fn rate_limit_answers_429_with_ietf_headers() {
    let app = spawn_with(&[("RATE_LIMIT_MAX_REQUESTS", "3")]).await;
    for remaining in [2, 1, 0] {
        let r = app.get("/api/health/ping", None).await;
        r.assert_status(200);
        assert_eq!(r.headers["ratelimit-remaining"], remaining.to_string().as_str());
        assert_eq!(r.headers["ratelimit-limit"], "3");
        assert!(r.headers.get("x-ratelimit-limit").is_none());
    }
    let r = app.get("/api/health/ping", None).await;
    r.assert_status(429);
    assert_eq!(r.body["success"], false);
    assert!(r.headers.contains_key("ratelimit-reset"));
    // No header lets a client past the limit, in development either.
    let marked = app.client.get(app.url("/api/health/ping")).header("x-testing", "true").send().await.unwrap();
    assert_eq!(marked.status(), 429);
}

#[tokio::test]
async fn metrics_count_requests_by_route() {
    // Other tests ping too: counted alone, as a difference around this test's requests.
    if !alone(module_path!(), "metrics_count_requests_by_route") {
        return;
    }
    const PINGS: &str = r#"http_requests_total{method="GET",route="/api/health/ping",status="200"}"#;
    const TIMED: &str = r#"http_request_duration_seconds_count{method="GET",route="/api/health/ping",status="200"}"#;
    let app = spawn().await;
    let (pings, timed) = (app.metric(PINGS).await, app.metric(TIMED).await);
    for _ in 0..3 {
        app.get("/api/health/ping", None).await.assert_status(200);
    }
    let text = app.metrics().await;
    assert_eq!(metric(&text, PINGS), pings + 3.0, "{text}");
    assert_eq!(metric(&text, TIMED), timed + 3.0, "{text}");
    assert!(text.contains("nyaya_db_queries_total"));
    assert!(text.contains("http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn metrics_do_not_grow_with_made_up_methods() {
    // A client may send any token as a method; each new label would be a new series held for
    // the life of the process, so a hostile client could grow the metrics without bound.
    let app = spawn().await;
    let made_up: Vec<String> = (0..3).map(|i| format!("BREW{i}{}", nyaya::ids::random_hex(4).to_uppercase())).collect();
    for method in &made_up {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = app.client.request(method, app.url("/api/health/ping")).send().await.unwrap();
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    let text = app.metrics().await;
    for method in &made_up {
        assert!(!text.contains(method.as_str()), "{method} became a label:\n{text}");
    }
    assert!(text.contains(r#"http_requests_total{method="OTHER","#), "{text}");
}

#[tokio::test]
async fn boolean_and_null_columns_round_trip_on_every_backend() {
    use nyaya::store::users::{self, Role, User};
    let app = spawn().await;
    let db = &app.state().db;
    // A citizen has no lawyer experience: a typed NULL in a BIGINT column.
    let mut u = User::new("Ravi".into(), unique_email("ravi"), "x".into(), Role::Citizen);
    u.is_active = false;
    users::insert(db, &u).await.unwrap();
    let back = users::get(db, &u.id).await.unwrap().unwrap();
    assert!(!back.is_active);
    assert!(back.is_verified);
}

// ---- OpenAPI: every route of the router is described, and the UI works offline. ----

/// `{name}` placeholders as `{}`, for comparing route templates.
fn template(path: &str) -> String {
    regex::Regex::new(r"\{[^}]*\}").unwrap().replace_all(path, "{}").into_owned()
}

/// A route as registered in `src/http`: methods, the path as written (relative to its nest),
/// and the handler each method calls.
#[derive(Debug)]
struct SourceRoute {
    file: String,
    path: String,
    handlers: Vec<(String, String)>,
}

/// The text of a call's arguments: from `open` (just after `(`) to its matching `)`.
fn call_args(text: &str, open: usize) -> &str {
    let mut depth = 1;
    for (i, c) in text[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open..open + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced .route( call");
}

/// Every `.route(path, method_router)` of the HTTP modules. Paths written with `concat!` (the
/// per-case-type macro) keep their braces, so their macro variable reads as a `{}` segment.
fn source_routes() -> Vec<SourceRoute> {
    let method = regex::Regex::new(r"(?:^|\.)\s*(get|post|put|patch|delete)\(\s*(\w+)\s*\)").unwrap();
    let mut out = Vec::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    for entry in std::fs::read_dir(dir).unwrap() {
        let file = entry.unwrap().path();
        let text = std::fs::read_to_string(&file).unwrap();
        for (at, _) in text.match_indices(".route(") {
            let args = call_args(&text, at + ".route(".len());
            let (raw_path, router) = if let Some(rest) = args.trim_start().strip_prefix("concat!(") {
                let end = rest.find(')').unwrap();
                (rest[..end].to_string(), rest[end + 1..].trim_start().trim_start_matches(',').to_string())
            } else {
                let (p, r) = args.split_once(',').unwrap();
                (p.to_string(), r.to_string())
            };
            let path: String =
                raw_path.replace("$id", "").chars().filter(|c| !matches!(c, '"' | ',' | ' ' | '\n')).collect();
            let handlers =
                method.captures_iter(&router).map(|c| (c[1].to_string(), c[2].to_string())).collect::<Vec<_>>();
            assert!(!handlers.is_empty(), "no method router understood in {}: {router}", file.display());
            out.push(SourceRoute { file: file.display().to_string(), path: template(&path), handlers });
        }
    }
    out
}

/// A value of the right form for a path parameter, so that the request reaches its handler.
fn sample(param: &str) -> String {
    let id = "0123456789abcdef01234567";
    match param {
        "caseType" | "documentType" => "query".into(),
        "chatId" => format!("query_{id}"),
        "ipfsHash" => "a".repeat(64),
        _ => id.into(),
    }
}

#[tokio::test]
async fn the_openapi_description_lists_every_route_of_the_router() {
    let app = spawn().await;
    let r = app.get("/api/docs/openapi.json", None).await;
    r.assert_status(200);
    let paths = r.body["paths"].as_object().expect("paths");
    // (method, template, operationId) of every documented operation.
    let mut documented = Vec::new();
    for (path, item) in paths {
        assert!(path.starts_with("/api/"), "{path}");
        for (method, op) in item.as_object().unwrap() {
            documented.push((method.clone(), path.clone(), op["operationId"].as_str().unwrap_or("").to_string()));
        }
    }

    // Every registered route (method and handler) is described, under a path that ends with
    // the route as written in its module.
    let routes = source_routes();
    let mut registrations = 0;
    for route in &routes {
        let suffix = if route.path == "/" { String::new() } else { route.path.clone() };
        for (method, handler) in &route.handlers {
            registrations += 1;
            let found =
                documented.iter().any(|(m, p, op)| m == method && template(p).ends_with(&suffix) && op == handler);
            assert!(
                found,
                "{} {} ({handler}, {}) is not in the OpenAPI description",
                method.to_uppercase(),
                route.path,
                route.file
            );
        }
    }
    assert!(registrations >= 80, "the source scan found only {registrations} routes");
    // The per-case-type routes are written once and served under /queries and /disputes.
    assert!(documented.len() >= registrations + 8, "{} operations for {registrations} registrations", documented.len());
    let distinct: std::collections::BTreeSet<String> = documented.iter().map(|(_, p, _)| p.clone()).collect();
    assert_eq!(paths.len(), distinct.len());

    // And every described operation is served: its request reaches a handler (no "Route not
    // found", no 405), whatever the handler then answers without a token.
    let param = regex::Regex::new(r"\{([^}]*)\}").unwrap();
    for (method, path, _) in &documented {
        let concrete = param.replace_all(path, |c: &regex::Captures| sample(&c[1]));
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let res = app.call_without_cookies(method.clone(), &concrete, None, None).await;
        assert_ne!(res.status.as_u16(), 405, "{method} {path} is described but not routed");
        assert!(
            !(res.status.as_u16() == 404 && res.message() == "Route not found"),
            "{method} {path} is described but not routed"
        );
    }

    // Spot checks, one per module.
    for (method, path) in [
        ("post", "/api/auth/register"),
        ("patch", "/api/admin/lawyers/{lawyerId}/verification"),
        ("get", "/api/lawyers/verified"),
        ("get", "/api/health"),
        ("patch", "/api/disputes/{disputeId}/status"),
        ("post", "/api/lawyers/accept-case-request/{requestId}"),
        ("delete", "/api/citizens/revoke-connection-request/{connectionId}"),
        ("get", "/api/chats/{chatId}/messages"),
        ("post", "/api/chats/upload-file"),
        ("get", "/api/documents/{documentType}/{relatedId}"),
        ("patch", "/api/consultations/{consultationId}/cancel"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path}");
    }
    // Protected operations name the bearer scheme the document defines; public ones do not.
    assert_eq!(r.body["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(paths["/api/queries/{queryId}"]["get"]["security"], serde_json::json!([{"bearer": []}]));
    assert!(paths["/api/lawyers/verified"]["get"].get("security").is_none());
    let upload = &paths["/api/documents/upload"]["post"]["requestBody"]["content"];
    assert!(upload.get("multipart/form-data").is_some(), "{upload}");
    let query_id = &paths["/api/queries/{queryId}"]["get"]["parameters"][0];
    assert_eq!((query_id["name"].as_str(), query_id["in"].as_str()), (Some("queryId"), Some("path")));
}

#[tokio::test]
async fn the_api_docs_ui_is_served_without_network() {
    let app = spawn().await;
    let res = app.client.get(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Its scripts come from this server (vendored at build time), not from a CDN.
    let scripts = regex::Regex::new(r#"src="([^"]+)""#).unwrap();
    let mut seen = 0;
    for c in scripts.captures_iter(&html) {
        let src = &c[1];
        assert!(!src.starts_with("http"), "external script {src}");
        let asset =
            app.client.get(app.url(&format!("/api/docs/{}", src.trim_start_matches("./")))).send().await.unwrap();
        assert_eq!(asset.status(), 200, "{src}");
        seen += 1;
    }
    assert!(seen >= 1, "no script in {html}");
    // The UI loads the description from where it is served, and /api/docs leads to the UI.
    let init = app.client.get(app.url("/api/docs/swagger-initializer.js")).send().await.unwrap().text().await.unwrap();
    assert!(init.contains(r#""url": "/api/docs/openapi.json""#), "{init}");
    let res = app.client.get(app.url("/api/docs")).send().await.unwrap();
    assert_eq!((res.status().as_u16(), res.url().path()), (200, "/api/docs/"));
}

// ---- Pagination bounds: every paginated list refuses a page it cannot serve. ----

/// The `page` query parameter of a described operation, if it has one.
fn page_parameter(op: &serde_json::Value) -> Option<&serde_json::Value> {
    op["parameters"].as_array()?.iter().find(|p| p["name"] == "page" && p["in"] == "query")
}

/// Whether a reply is the validation error of the `page` query parameter.
fn refuses_the_page(r: &Reply) -> bool {
    // Document routes carry their list under `details` (with `error`), the others under `errors`.
    let list = r.body.get("errors").or_else(|| r.body.get("details")).and_then(|l| l.as_array());
    r.status.as_u16() == 400
        && r.body["success"] == false
        && r.message() == "Validation failed"
        && list.is_some_and(|l| l.iter().any(|e| e["path"] == "page" && e["location"] == "query"))
}

#[tokio::test]
async fn a_page_beyond_the_bound_is_a_400_on_every_paginated_list() {
    use nyaya::store::users::Role;
    let app = spawn().await;
    let admin = insert_user(&app, Role::Admin, "Page Admin").await;
    let citizen = insert_user(&app, Role::Citizen, "Page Citizen").await;
    let lawyer = insert_verified_lawyer(&app, "Page Lawyer", &["Civil Law"], 5).await;
    let tokens = [token_for(&app, &admin), token_for(&app, &citizen), token_for(&app, &lawyer)];

    let doc = app.get("/api/docs/openapi.json", None).await;
    let param = regex::Regex::new(r"\{([^}]*)\}").unwrap();
    let mut paginated = std::collections::BTreeSet::new();
    for (path, item) in doc.body["paths"].as_object().expect("paths") {
        let Some(op) = item.get("get") else { continue };
        let concrete = param.replace_all(path, |c: &regex::Captures| sample(&c[1])).into_owned();
        // The page of the issue report: (page - 1) * limit does not fit in 64 bits.
        let huge = format!("{concrete}?page=92233720368547760&limit=100");
        let mut refused = false;
        for token in &tokens {
            let r = app.get(&huge, Some(token)).await;
            assert!(r.status.as_u16() < 500, "GET {huge}: {} {}", r.status, r.body);
            if refuses_the_page(&r) {
                refused = true;
                let documented = page_parameter(op).and_then(|p| p["description"].as_str()).unwrap_or("");
                assert!(
                    documented.contains("1000000"),
                    "GET {path} refuses large pages but its page parameter says {documented:?}"
                );
                // The bound itself is served; one past it is refused too.
                let at_bound = app.get(&format!("{concrete}?page=1000000"), Some(token)).await;
                assert!(
                    !refuses_the_page(&at_bound) && at_bound.status.as_u16() < 500,
                    "GET {path}?page=1000000: {}",
                    at_bound.body
                );
                assert!(
                    refuses_the_page(&app.get(&format!("{concrete}?page=1000001"), Some(token)).await),
                    "GET {path}?page=1000001"
                );
                break;
            }
        }
        if refused {
            paginated.insert(path.clone());
        } else {
            assert!(page_parameter(op).is_none(), "GET {path} documents a page but accepted page=92233720368547760");
        }
    }
    // The lists of every area, in both pagination styles and from every layer that reads the page.
    for path in [
        "/api/queries",
        "/api/disputes",
        "/api/lawyers/verified",
        "/api/lawyers/available-cases",
        "/api/lawyers/my-cases",
        "/api/lawyers/my-clients",
        "/api/lawyers/my-direct-clients",
        "/api/lawyers/my-case-requests",
        "/api/citizens/available-lawyers",
        "/api/citizens/my-cases",
        "/api/citizens/connected-lawyers",
        "/api/citizens/received-offers",
        "/api/admin/users",
        "/api/admin/lawyers/pending-verifications",
        "/api/admin/jobs",
        "/api/chats",
        "/api/chats/{chatId}",
        "/api/chats/{chatId}/messages",
        "/api/chats/case/{caseType}/{caseId}/messages",
        "/api/consultations",
        "/api/documents/repository/my-documents",
        "/api/documents/search",
    ] {
        assert!(paginated.contains(path), "GET {path} does not refuse an out-of-range page; refusing: {paginated:#?}");
    }

    // Pages below 1 or not numbers still read as page 1, as in the original.
    for page in ["0", "-3", "abc", "-92233720368547760000"] {
        let r = app.get(&format!("/api/queries?page={page}"), Some(&tokens[1])).await;
        r.assert_status(200);
        assert_eq!(r.body["pagination"]["currentPage"], 1, "page={page}");
    }
    let r = app.get("/api/queries?page=99999999999999999999999", Some(&tokens[1])).await;
    assert!(refuses_the_page(&r), "a page too large for 64 bits: {}", r.body);
    assert_eq!(r.body["errors"][0]["value"], "99999999999999999999999");
}
