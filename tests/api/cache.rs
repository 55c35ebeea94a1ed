//! Integration tests: the response cache, through a small router of cached routes built on the
//! real `Cache::serve` (the application's cached routes arrive with their own areas).
//!
//! Tests marked `needs Redis` use `NYAYA_TEST_REDIS_URL` (default redis://127.0.0.1:6379) with a
//! key prefix of their own; the restart test runs a private `redis-server` on a free port.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use nyaya::cache::policy::{Policy, ScopeRule, TagRule};
use nyaya::cache::{Cached, Lookup, Tag};
use nyaya::config::Config;
use nyaya::db::{RowExt, Sql};
use nyaya::error::{AppError, AppResult};
use nyaya::http::extract::{Params, parse_id};
use nyaya::state::AppState;
use nyaya::store::users::{Role, User};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, alone, eventually, free_port, metric, redis_url, spawn, spawn_with, unique_email};

/// The directory: public, depends on `DIR`.
static DIRECTORY: Policy =
    Policy { route: "/probe/users", ttl: Duration::from_secs(600), scope: ScopeRule::Public, tags: &[TagRule::Dir] };
/// A per-user list: depends on the caller's `CIT:`/`LAW:` tag.
static MINE: Policy =
    Policy { route: "/probe/mine", ttl: Duration::from_secs(120), scope: ScopeRule::User, tags: &[TagRule::Caller] };
/// An item route: public, depends on `DIR` and `DIR:<id>`.
static PROFILE: Policy = Policy {
    route: "/probe/profile/{id}",
    ttl: Duration::from_secs(300),
    scope: ScopeRule::Public,
    tags: &[TagRule::Dir, TagRule::DirOfSubject],
};

async fn user_count(state: &AppState) -> AppResult<i64> {
    Ok(state.db.count(&Sql::new("SELECT COUNT(*) FROM users")).await?)
}

async fn directory(State(state): State<AppState>, params: Params) -> AppResult<Cached> {
    let lookup = Lookup { caller: None, params: &params, subject: None };
    state
        .cache
        .serve(&DIRECTORY, lookup, || async {
            Ok(json!({"success": true, "data": {"users": user_count(&state).await?}}))
        })
        .await
}

/// The directory under a route whose TTL is one second.
static BRIEF: Policy =
    Policy { route: "/probe/brief", ttl: Duration::from_secs(1), scope: ScopeRule::Public, tags: &[TagRule::Dir] };

async fn brief(State(state): State<AppState>, params: Params) -> AppResult<Cached> {
    let lookup = Lookup { caller: None, params: &params, subject: None };
    state
        .cache
        .serve(&BRIEF, lookup, || async { Ok(json!({"success": true, "data": {"users": user_count(&state).await?}})) })
        .await
}

/// The caller from a bearer token, read with text columns only (the probe needs id, email, role).
struct Caller(User);

impl axum::extract::FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, AppError> {
        let token = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| AppError::unauthorized("Not authorized, no token provided"))?;
        let claims =
            state.tokens.verify_access(token).map_err(|_| AppError::unauthorized("Not authorized, token failed"))?;
        let id = claims.user_id().ok_or_else(|| AppError::unauthorized("Not authorized, token failed"))?;
        let row = state.db.opt(&Sql::new("SELECT email, role FROM users WHERE id = $1").arg(&id)).await?;
        let row = row.ok_or_else(|| AppError::unauthorized("Not authorized, user not found"))?;
        let role = Role::parse(&row.text("role")?).ok_or_else(|| AppError::unauthorized("Not authorized"))?;
        let user = User { id, ..User::new("caller".into(), row.text("email")?, String::new(), role) };
        Ok(Caller(user))
    }
}

async fn mine(State(state): State<AppState>, Caller(user): Caller, params: Params) -> AppResult<Cached> {
    let lookup = Lookup { caller: Some(&user), params: &params, subject: None };
    state
        .cache
        .serve(&MINE, lookup, || async {
            let users = user_count(&state).await?;
            Ok(json!({"success": true, "data": {"id": user.id.to_string(), "email": user.email, "users": users}}))
        })
        .await
}

async fn profile(State(state): State<AppState>, Path(raw): Path<String>, params: Params) -> AppResult<Cached> {
    let id = parse_id(&raw, "lawyer")?;
    let lookup = Lookup { caller: None, params: &params, subject: Some(&id) };
    state
        .cache
        .serve(&PROFILE, lookup, || async {
            let row = state.db.opt(&Sql::new("SELECT name FROM users WHERE id = $1").arg(&id)).await?;
            let row = row.ok_or_else(|| AppError::not_found("Lawyer not found"))?;
            Ok(json!({"success": true, "data": {"name": row.text("name")?}}))
        })
        .await
}

/// A write: a new account, then the invalidation its service would declare.
async fn register(State(state): State<AppState>) -> AppResult<(axum::http::StatusCode, axum::Json<Value>)> {
    let user = new_user(&state, Role::Citizen).await;
    state.cache.invalidate([Tag::Dir, Tag::Adm]).await;
    Ok((axum::http::StatusCode::CREATED, axum::Json(json!({"success": true, "data": {"id": user.id.to_string()}}))))
}

/// Serves the probe routes for `state` on a port of their own; returns the base URL.
async fn probe(state: &AppState) -> String {
    let router = Router::new()
        .route("/probe/users", get(directory).post(register))
        .route("/probe/brief", get(brief))
        .route("/probe/mine", get(mine))
        .route("/probe/profile/{id}", get(profile))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

async fn new_user(state: &AppState, role: Role) -> User {
    let user = User::new("Probe User".into(), unique_email("probe"), "unused-hash".into(), role);
    insert_user(state, &user).await;
    user
}

/// The columns the probes read, written with plain SQL: the probes exercise the cache, not the
/// accounts store.
async fn insert_user(state: &AppState, user: &User) {
    let sql = Sql::new(
        "INSERT INTO users (id, name, email, password_hash, role, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .arg(&user.id)
    .arg(&user.name)
    .arg(&user.email)
    .arg(&user.password_hash)
    .arg(user.role.as_str())
    .arg(user.created_at);
    state.db.exec(&sql).await.unwrap();
}

/// Status, `X-Cache` and body of one request.
async fn fetch(client: &reqwest::Client, url: &str, token: Option<&str>) -> (StatusCode, String, Value) {
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    let x_cache = res.headers().get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let status = res.status();
    (status, x_cache, res.json().await.unwrap_or(Value::Null))
}

/// A server sharing `REDIS_URL`/`REDIS_PREFIX` with the other servers of the test.
async fn spawn_on_redis(url: &str, prefix: &str) -> TestApp {
    spawn_with(&[("REDIS_URL", url), ("REDIS_PREFIX", prefix)]).await
}

fn unique_prefix() -> String {
    format!("nyaya-test-{}:", nyaya::ids::random_hex(6))
}

/// Another instance of `app`: the same database, secrets and Redis settings, its own cache.
async fn sibling(app: &TestApp) -> AppState {
    let first = &app.state().config;
    let data_dir = app.data_dir.join(format!("sibling-{}", nyaya::ids::random_hex(3)));
    std::fs::create_dir_all(&data_dir).unwrap();
    let mut vars = vec![
        ("NYAYA_ENV", "development".to_string()),
        ("JWT_SECRET", first.jwt_secret.clone()),
        ("JWT_REFRESH_SECRET", first.jwt_refresh_secret.clone()),
        ("DB_MAX_CONNECTIONS", "4".to_string()),
        ("DATA_DIR", data_dir.display().to_string()),
        ("DATABASE_URL", first.database_url.clone()),
        ("REDIS_PREFIX", first.redis_prefix.clone()),
    ];
    if let Some(url) = &first.redis_url {
        vars.push(("REDIS_URL", url.clone()));
    }
    let config = Config::from_lookup(&|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())).unwrap();
    // Only its state is used: the services of a second instance, without serving it.
    nyaya::startup::build(config).await.expect("second instance").state
}

/// Deletes a test's keys (SCAN is fine here, off any request path).
/// Two instances sharing a fresh Redis prefix, the probe routes mounted on each (`one`, `two`).
struct Pair {
    app: TestApp,
    /// The second instance: kept alive for the test's length.
    _other: AppState,
    client: reqwest::Client,
    url: String,
    prefix: String,
    one: String,
    two: String,
}

async fn pair_on_redis() -> Pair {
    let (url, prefix) = (redis_url(), unique_prefix());
    let app = spawn_on_redis(&url, &prefix).await;
    assert!(app.state().cache.shared_status().available, "Redis at {url} is not reachable");
    let other = sibling(&app).await;
    let (one, two) = (probe(app.state()).await, probe(&other).await);
    Pair { app, _other: other, client: reqwest::Client::new(), url, prefix, one, two }
}

async fn drop_keys(url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(url) else { return };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else { return };
    let keys: Vec<String> = {
        let pattern = format!("{prefix}*");
        let Ok(mut iter) = redis::AsyncCommands::scan_match::<_, String>(&mut conn, pattern).await else { return };
        let mut keys = Vec::new();
        while let Some(k) = futures::StreamExt::next(&mut iter).await {
            if let Ok(k) = k {
                keys.push(k);
            }
        }
        keys
    };
    if !keys.is_empty() {
        let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}

/// A's per-user entry is never B's, on one instance and (with Redis) across instances.
async fn user_scope(first: &TestApp, second: Option<&AppState>) {
    let state = first.state();
    let (a, b) = (new_user(state, Role::Citizen).await, new_user(state, Role::Lawyer).await);
    let (ta, tb) = (state.tokens.issue(&a).access, state.tokens.issue(&b).access);
    let client = reqwest::Client::new();
    let url = format!("{}/probe/mine", probe(state).await);

    let (status, x_cache, body) = fetch(&client, &url, Some(&ta)).await;
    assert_eq!((status.as_u16(), x_cache.as_str()), (200, "MISS"), "{body}");
    assert_eq!(body["data"]["id"], a.id.to_string());
    let (_, x_cache, body) = fetch(&client, &url, Some(&tb)).await;
    assert_eq!(x_cache, "MISS", "B must not get A's entry");
    assert_eq!(body["data"]["id"], b.id.to_string());
    assert_eq!(body["data"]["email"], b.email);
    for (token, user) in [(&ta, &a), (&tb, &b)] {
        let (_, x_cache, body) = fetch(&client, &url, Some(token)).await;
        assert_eq!(x_cache, "HIT");
        assert_eq!(body["data"]["id"], user.id.to_string());
    }
    // Without a token the route refuses before the cache is consulted.
    let (status, x_cache, _) = fetch(&client, &url, None).await;
    assert_eq!((status.as_u16(), x_cache.as_str()), (401, ""));

    if let Some(other) = second {
        // A fresh instance finds both entries in L2, each under its own user.
        let url = format!("{}/probe/mine", probe(other).await);
        for (token, user) in [(&tb, &b), (&ta, &a)] {
            let (_, x_cache, body) = fetch(&client, &url, Some(token)).await;
            assert_eq!(x_cache, "HIT");
            assert_eq!(body["data"]["id"], user.id.to_string());
        }
        let c = new_user(state, Role::Citizen).await;
        let (_, x_cache, body) = fetch(&client, &url, Some(&state.tokens.issue(&c).access)).await;
        assert_eq!(x_cache, "MISS");
        assert_eq!(body["data"]["id"], c.id.to_string());
    }
}

/// A failed load is not stored: once the lawyer exists, the next request loads it.
async fn errors_uncached(first: &TestApp, second: Option<&AppState>) {
    let state = first.state();
    let client = reqwest::Client::new();
    let base = probe(state).await;
    let lawyer = User::new("Meera Rao".into(), unique_email("lawyer"), "unused-hash".into(), Role::Lawyer);
    let url = format!("{base}/probe/profile/{}", lawyer.id);

    for _ in 0..2 {
        let (status, x_cache, body) = fetch(&client, &url, None).await;
        assert_eq!(status.as_u16(), 404, "{body}");
        assert_eq!(x_cache, "", "an error carries no cache status");
        assert_eq!(body["message"], "Lawyer not found");
    }
    insert_user(state, &lawyer).await;
    let (status, x_cache, body) = fetch(&client, &url, None).await;
    assert_eq!((status.as_u16(), x_cache.as_str()), (200, "MISS"));
    assert_eq!(body["data"]["name"], "Meera Rao");
    let (_, x_cache, _) = fetch(&client, &url, None).await;
    assert_eq!(x_cache, "HIT");
    if let Some(other) = second {
        let url = format!("{}/probe/profile/{}", probe(other).await, lawyer.id);
        let (status, x_cache, body) = fetch(&client, &url, None).await;
        assert_eq!((status.as_u16(), x_cache.as_str()), (200, "HIT"));
        assert_eq!(body["data"]["name"], "Meera Rao");
    }
}

#[tokio::test]
async fn a_per_user_entry_is_never_served_to_another_user() {
    user_scope(&spawn().await, None).await;
}

#[tokio::test]
#[ignore = "needs Redis (NYAYA_TEST_REDIS_URL)"]
async fn a_per_user_entry_is_never_served_to_another_user_on_redis() {
    let (url, prefix) = (redis_url(), unique_prefix());
    let app = spawn_on_redis(&url, &prefix).await;
    assert!(app.state().cache.shared_status().available, "Redis at {url} is not reachable");
    let second = sibling(&app).await;
    user_scope(&app, Some(&second)).await;
    drop_keys(&url, &prefix).await;
}

#[tokio::test]
async fn errors_are_never_cached() {
    errors_uncached(&spawn().await, None).await;
}

#[tokio::test]
#[ignore = "needs Redis (NYAYA_TEST_REDIS_URL)"]
async fn errors_are_never_cached_on_redis() {
    let (url, prefix) = (redis_url(), unique_prefix());
    let app = spawn_on_redis(&url, &prefix).await;
    assert!(app.state().cache.shared_status().available, "Redis at {url} is not reachable");
    let second = sibling(&app).await;
    errors_uncached(&app, Some(&second)).await;
    drop_keys(&url, &prefix).await;
}

#[tokio::test]
async fn a_write_is_visible_to_the_writer_at_once() {
    // The cache's counters are process-wide and other tests use the same probe route: they are
    // read alone, as differences around this test's requests.
    if !alone(module_path!(), "a_write_is_visible_to_the_writer_at_once") {
        return;
    }
    const HITS: &str = r#"nyaya_cache_hits_total{route="/probe/users",tier="l1"}"#;
    const MISSES: &str = r#"nyaya_cache_misses_total{route="/probe/users"}"#;
    const SENT: &str = "nyaya_cache_invalidations_sent_total";
    let app = spawn().await;
    let client = reqwest::Client::new();
    let base = probe(app.state()).await;
    let counted = app.metrics().await;
    let url = format!("{base}/probe/users?limit=5&page=1");
    let (_, first, body) = fetch(&client, &url, None).await;
    let before = body["data"]["users"].as_i64().unwrap();
    assert_eq!(first, "MISS");
    // The same query, spelled differently, is the same entry.
    let (_, x_cache, _) = fetch(&client, &format!("{base}/probe/users?page=1&limit=5"), None).await;
    assert_eq!(x_cache, "HIT");
    let created = client.post(format!("{base}/probe/users")).send().await.unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let (_, x_cache, body) = fetch(&client, &url, None).await;
    assert_eq!(x_cache, "MISS");
    assert_eq!(body["data"]["users"], before + 1);

    let metrics = app.metrics().await;
    let grew = |series: &str| metric(&metrics, series) - metric(&counted, series);
    assert_eq!(grew(HITS), 1.0, "one hit\n{metrics}");
    assert_eq!(grew(MISSES), 2.0, "two misses\n{metrics}");
    assert_eq!(grew(SENT), 2.0, "the write's two tags\n{metrics}");
    // Gauges, set by this process's only cache.
    for series in ["nyaya_cache_l1_entries", "nyaya_cache_l1_bytes"] {
        assert!(metrics.lines().any(|l| l.starts_with(series)), "{series} missing from /metrics");
    }
}

/// A response lives its route's TTL at most, even with no write to its tags: lists also show
/// other users' names and profiles, whose changes reach them only through time.
#[tokio::test]
async fn a_response_lives_its_route_ttl_at_most() {
    let app = spawn().await;
    let client = reqwest::Client::new();
    let base = probe(app.state()).await;
    let url = format!("{base}/probe/brief");
    assert_eq!(fetch(&client, &url, None).await.1, "MISS");
    assert_eq!(fetch(&client, &url, None).await.1, "HIT");
    tokio::time::sleep(BRIEF.ttl + Duration::from_millis(500)).await;
    assert_eq!(fetch(&client, &url, None).await.1, "MISS", "expired with the route's TTL");
}

#[tokio::test]
async fn cache_off_bypasses_every_request() {
    let app = spawn_with(&[("CACHE", "off")]).await;
    let client = reqwest::Client::new();
    let url = format!("{}/probe/users", probe(app.state()).await);
    let (_, x_cache, body) = fetch(&client, &url, None).await;
    assert_eq!(x_cache, "BYPASS");
    new_user(app.state(), Role::Citizen).await;
    // No invalidation was declared, yet the change shows: nothing was stored.
    let (_, x_cache, again) = fetch(&client, &url, None).await;
    assert_eq!(x_cache, "BYPASS");
    assert_eq!(again["data"]["users"], body["data"]["users"].as_i64().unwrap() + 1);
}

#[tokio::test]
#[ignore = "needs Redis (NYAYA_TEST_REDIS_URL)"]
async fn an_invalidation_reaches_a_second_instance() {
    // Other tests' instances send and receive invalidations too: counted alone.
    if !alone(module_path!(), "an_invalidation_reaches_a_second_instance") {
        return;
    }
    const RECEIVED: &str = "nyaya_cache_invalidations_received_total";
    let Pair { app, _other, client, url, prefix, one, two } = pair_on_redis().await;
    let (read_one, read_two) = (format!("{one}/probe/users"), format!("{two}/probe/users"));

    let (_, x_cache, body) = fetch(&client, &read_two, None).await;
    assert_eq!(x_cache, "MISS");
    let before = body["data"]["users"].as_i64().unwrap();
    assert_eq!(fetch(&client, &read_two, None).await.1, "HIT");
    // The first instance has nothing in memory: the entry comes from Redis.
    let (_, x_cache, body) = fetch(&client, &read_one, None).await;
    assert_eq!((x_cache.as_str(), body["data"]["users"].as_i64()), ("HIT", Some(before)));

    // An entry only Redis holds for the first instance.
    let page_two = |base: &str| format!("{base}/probe/users?page=2");
    assert_eq!(fetch(&client, &page_two(&two), None).await.1, "MISS");

    let received = app.metric(RECEIVED).await;
    let created = client.post(format!("{one}/probe/users")).send().await.unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let (_, x_cache, body) = fetch(&client, &read_one, None).await;
    assert_eq!((x_cache.as_str(), body["data"]["users"].as_i64()), ("MISS", Some(before + 1)), "read-your-writes");
    // The copy in Redis predates the write: it is not served, by either instance.
    let (_, x_cache, body) = fetch(&client, &page_two(&one), None).await;
    assert_eq!((x_cache.as_str(), body["data"]["users"].as_i64()), ("MISS", Some(before + 1)));

    // The second instance still holds the old body in memory until the announcement arrives.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, _, body) = fetch(&client, &read_two, None).await;
        if body["data"]["users"].as_i64() == Some(before + 1) {
            break;
        }
        assert!(Instant::now() < deadline, "the second instance still serves the old body");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // The announcement of the write's two tags reaches the second instance (the writer skips
    // its own); it may come after the second instance already saw the new counters in Redis.
    eventually("the announcement", Duration::from_secs(5), async || app.metric(RECEIVED).await >= received + 2.0).await;
    assert_eq!(app.metric(RECEIVED).await, received + 2.0, "received invalidations");
    drop_keys(&url, &prefix).await;
}

/// With a lease, a second instance answers from memory without asking Redis (no counter read
/// per lookup), and yet the first read it serves after a write on the first instance has
/// answered already shows that write: the writer waited for its confirmation.
#[tokio::test]
#[ignore = "needs Redis (NYAYA_TEST_REDIS_URL)"]
async fn a_second_instance_answers_from_memory_yet_never_after_an_answered_write() {
    // Counts Redis counter reads, which every instance of the process adds to: counted alone.
    if !alone(module_path!(), "a_second_instance_answers_from_memory_yet_never_after_an_answered_write") {
        return;
    }
    const VERSION_READS: &str = "nyaya_cache_version_reads_total";
    let Pair { app, _other, client, url, prefix, one, two } = pair_on_redis().await;
    let read_two = format!("{two}/probe/users");
    let (_, _, body) = fetch(&client, &read_two, None).await;
    let before = body["data"]["users"].as_i64().unwrap();

    // Once its lease is up, twenty hits on the second instance read no counter from Redis.
    eventually("hits without a Redis round trip", Duration::from_secs(5), async || {
        let reads = app.metric(VERSION_READS).await;
        for _ in 0..20 {
            assert_eq!(fetch(&client, &read_two, None).await.1, "HIT");
        }
        app.metric(VERSION_READS).await == reads
    })
    .await;

    // Every write that has answered on the first instance is seen by the very next read on the
    // second: no polling, no wait for the announcement.
    for round in 1..=20 {
        let created = client.post(format!("{one}/probe/users")).send().await.unwrap();
        assert_eq!(created.status().as_u16(), 201);
        let (_, _, body) = fetch(&client, &read_two, None).await;
        assert_eq!(body["data"]["users"].as_i64(), Some(before + round), "stale read after write {round}");
    }
    drop_keys(&url, &prefix).await;
}

/// A member that stopped confirming (crashed, or cut off from Redis) holds writes up for one
/// lease each, never forever, and is reported in the metrics.
#[tokio::test]
#[ignore = "needs Redis (NYAYA_TEST_REDIS_URL)"]
async fn a_silent_member_delays_a_write_by_one_lease_at_most() {
    if !alone(module_path!(), "a_silent_member_delays_a_write_by_one_lease_at_most") {
        return;
    }
    const UNCONFIRMED: &str = "nyaya_cache_unconfirmed_invalidations_total";
    let (url, prefix) = (redis_url(), unique_prefix());
    let app = spawn_on_redis(&url, &prefix).await;
    assert!(app.state().cache.shared_status().available, "Redis at {url} is not reachable");
    let client = reqwest::Client::new();
    let one = probe(app.state()).await;
    let write = async || {
        let started = Instant::now();
        let created = client.post(format!("{one}/probe/users")).send().await.unwrap();
        assert_eq!(created.status().as_u16(), 201);
        started.elapsed()
    };
    write().await;
    let unconfirmed = app.metric(UNCONFIRMED).await;

    // A member that renewed just now, by Redis's clock, but will never confirm anything.
    let redis = redis::Client::open(url.as_str()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await.unwrap();
    let members = format!("{prefix}members");
    let _: () = redis::cmd("ZADD")
        .arg(&members)
        .arg(secs * 1000 + micros / 1000)
        .arg("ghost")
        .query_async(&mut conn)
        .await
        .unwrap();
    let waited = write().await;
    assert!(waited >= Duration::from_millis(250), "the write did not wait for the silent member ({waited:?})");
    assert!(waited < Duration::from_secs(5), "the write waited {waited:?}");
    assert_eq!(app.metric(UNCONFIRMED).await, unconfirmed + 1.0);

    // Gone from the members: nothing to wait for.
    let _: () = redis::cmd("ZREM").arg(&members).arg("ghost").query_async(&mut conn).await.unwrap();
    write().await;
    assert_eq!(app.metric(UNCONFIRMED).await, unconfirmed + 1.0);
    drop_keys(&url, &prefix).await;
}

/// A private redis-server, killed when dropped.
struct PrivateRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    fn start(port: u16) -> PrivateRedis {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        PrivateRedis { port, child: Some(child) }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let client = redis::Client::open(self.url()).unwrap();
        while Instant::now() < deadline {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
#[ignore = "needs Redis (runs its own redis-server)"]
async fn redis_stopping_and_returning_fails_no_request() {
    let mut redis = PrivateRedis::start(free_port());
    redis.wait_ready().await;
    let prefix = unique_prefix();
    // A generous bound: a slow answer on a busy test machine must not count as an outage here.
    let app =
        spawn_with(&[("REDIS_URL", &redis.url()), ("REDIS_PREFIX", &prefix), ("CACHE_REDIS_TIMEOUT", "500ms")]).await;
    let cache = app.state().cache.clone();
    assert!(cache.shared_status().available);
    let base = probe(app.state()).await;

    // Readers over ten keys and a writer, until told to stop; every failure is counted.
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut workers = Vec::new();
    for worker in 0..5 {
        let (stop, done, failed, base) = (stop.clone(), done.clone(), failed.clone(), base.clone());
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let res = if worker == 0 && i.is_multiple_of(5) {
                    client.post(format!("{base}/probe/users")).send().await
                } else {
                    client.get(format!("{base}/probe/users?page={}", i % 10 + 1)).send().await
                };
                match res {
                    Ok(r) if r.status().is_success() => {}
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let after = |n: usize| {
        let target = done.load(Ordering::Relaxed) + n;
        let done = done.clone();
        move || done.load(Ordering::Relaxed) >= target
    };

    wait_for("requests with Redis up", after(100)).await;
    redis.kill();
    wait_for("the outage to be noticed", || !cache.shared_status().available).await;
    wait_for("requests during the outage", after(200)).await;
    let mut redis = PrivateRedis::start(redis.port);
    redis.wait_ready().await;
    wait_for("the cache to use Redis again", || cache.shared_status().available).await;
    wait_for("requests after recovery", after(100)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }

    assert_eq!(failed.load(Ordering::Relaxed), 0, "failed requests");
    assert_eq!(cache.shared_status().outages, 1, "one outage, logged once");
    // L2 is in use again: an entry stored now is found by an instance that never saw it.
    let client = reqwest::Client::new();
    let url = format!("{base}/probe/users?fresh=1");
    assert_eq!(fetch(&client, &url, None).await.1, "MISS");
    let other = sibling(&app).await;
    assert!(other.cache.shared_status().available);
    let (status, x_cache, _) = fetch(&client, &format!("{}/probe/users?fresh=1", probe(&other).await), None).await;
    assert_eq!((status.as_u16(), x_cache.as_str()), (200, "HIT"));
    redis.kill();
}

/// The remembered principal (the user behind every authenticated request and socket event):
/// kept in memory, yet a deactivation on one instance refuses the very next lookup on another,
/// with no wait for the announcement (the tag's counter is read from Redis first).
#[tokio::test]
#[ignore = "needs Redis (NYAYA_TEST_REDIS_URL)"]
async fn a_deactivation_on_one_instance_reaches_the_principal_on_another_at_once() {
    use nyaya::service::{admin, people};
    let (url, prefix) = (redis_url(), unique_prefix());
    let app = spawn_on_redis(&url, &prefix).await;
    assert!(app.state().cache.shared_status().available, "Redis at {url} is not reachable");
    let other = sibling(&app).await;
    let user = new_user(app.state(), Role::Citizen).await;
    let admin_user = new_user(app.state(), Role::Admin).await;

    let seen = people::principal(&other, &user.id).await.unwrap().expect("the user exists");
    assert!(seen.is_active);
    // Remembered: a write that bypasses the services is not seen...
    let rename = Sql::new("UPDATE users SET name = 'Renamed Quietly' WHERE id = $1").arg(&user.id);
    app.state().db.exec(&rename).await.unwrap();
    assert_eq!(people::principal(&other, &user.id).await.unwrap().unwrap().name, "Probe User");
    // ...but a write through them is, on the other instance, at once.
    admin::toggle_status(app.state(), &admin_user, &user.id, Some(false)).await.unwrap();
    let now = people::principal(&other, &user.id).await.unwrap().unwrap();
    assert!(!now.is_active, "the other instance still authenticates a deactivated user");
    assert_eq!(now.name, "Renamed Quietly");
    drop_keys(&url, &prefix).await;
}

/// Without Redis, one instance's own writes reach its principal at once.
#[tokio::test]
async fn a_deactivation_reaches_the_remembered_principal() {
    use nyaya::service::{admin, people};
    let app = spawn().await;
    let user = new_user(app.state(), Role::Lawyer).await;
    let admin_user = new_user(app.state(), Role::Admin).await;
    assert!(people::principal(app.state(), &user.id).await.unwrap().unwrap().is_active);
    admin::toggle_status(app.state(), &admin_user, &user.id, Some(false)).await.unwrap();
    assert!(!people::principal(app.state(), &user.id).await.unwrap().unwrap().is_active);
    assert!(people::principal(app.state(), &nyaya::ids::Id::new()).await.unwrap().is_none());
}
