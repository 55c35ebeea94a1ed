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
    // Development requests marked x-testing are exempt.
    let exempt = app.client.get(app.url("/api/health/ping")).header("x-testing", "true").send().await.unwrap();
    assert_eq!(exempt.status(), 200);
}

#[tokio::test]
async fn metrics_count_requests_by_route() {
    let app = spawn().await;
    app.get("/api/health/ping", None).await;
    let text = app.metrics().await;
    assert!(text.contains("http_requests_total{method=\"GET\",route=\"/api/health/ping\",status=\"200\"}"), "{text}");
    assert!(text.contains("nyaya_db_queries_total"));
    assert!(text.contains("http_request_duration_seconds_bucket"));
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
