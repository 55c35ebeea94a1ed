//! Single flight: 500 concurrent requests for one cold key cost the database one load. The
//! loads are counted by the loader itself (the process-wide statement counter also moves with
//! whatever else a server in this process does); the two tests take turns.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use nyaya::cache::policy::{Policy, ScopeRule, TagRule};
use nyaya::cache::{Cached, Lookup};
use nyaya::db::Sql;
use nyaya::error::AppResult;
use nyaya::http::extract::Params;
use nyaya::state::AppState;
use serde_json::{Value, json};
use support::harness::{redis_url, spawn_with};

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Loads run by `cold` (one statement each) since the current test began.
static LOADS: AtomicU64 = AtomicU64::new(0);

static COLD: Policy =
    Policy { route: "/probe/cold", ttl: Duration::from_secs(600), scope: ScopeRule::Public, tags: &[TagRule::Dir] };

/// One load = one statement. The pause lets the requests pile up on the same miss.
async fn cold(State(state): State<AppState>, params: Params) -> AppResult<Cached> {
    let lookup = Lookup { caller: None, params: &params, subject: None };
    state
        .cache
        .serve(&COLD, lookup, || async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            LOADS.fetch_add(1, Ordering::SeqCst);
            let users = state.db.count(&Sql::new("SELECT COUNT(*) FROM users")).await?;
            Ok(json!({"success": true, "data": {"users": users}}))
        })
        .await
}

async fn five_hundred_misses_cost_one_load(overrides: &[(&str, &str)]) {
    let _turn = TURN.lock().await;
    nyaya::telemetry::prometheus();
    let app = spawn_with(overrides).await;
    let shared = app.state().cache.shared_status();
    assert_eq!(shared.available, shared.configured, "Redis is configured but not reachable");
    let router = Router::new().route("/probe/cold", get(cold)).with_state(app.state().clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/probe/cold?k={}", listener.local_addr().unwrap(), nyaya::ids::random_hex(4));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();

    LOADS.store(0, Ordering::SeqCst);
    let requests = (0..500).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move {
            let res = client.get(&url).send().await.expect("request");
            let x_cache = res.headers().get("x-cache").unwrap().to_str().unwrap().to_string();
            (res.status().as_u16(), x_cache, res.json::<Value>().await.unwrap())
        })
    });
    let replies = futures::future::join_all(requests).await;
    assert_eq!(LOADS.load(Ordering::SeqCst), 1, "500 requests for one cold key cost one load");
    for reply in replies {
        let (status, x_cache, body) = reply.unwrap();
        assert_eq!(status, 200);
        assert!(x_cache == "MISS" || x_cache == "HIT", "{x_cache}");
        assert_eq!(body, json!({"success": true, "data": {"users": 0}}));
    }
}

#[tokio::test]
async fn concurrent_misses_share_one_load() {
    five_hundred_misses_cost_one_load(&[]).await;
}

#[tokio::test]
#[ignore = "needs Redis (NYAYA_TEST_REDIS_URL)"]
async fn concurrent_misses_share_one_load_on_redis() {
    let url = redis_url();
    let prefix = format!("nyaya-test-{}:", nyaya::ids::random_hex(6));
    five_hundred_misses_cost_one_load(&[("REDIS_URL", &url), ("REDIS_PREFIX", &prefix)]).await;
    // The test's keys: the epoch, the members of the confirmation protocol and the one entry
    // (KEYS is fine in a test, off any request path).
    let mut conn = redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.unwrap();
    // Socket.IO presence keeps its own key under the prefix; the cache's are the rest.
    let mut cache_keys: Vec<&str> =
        keys.iter().filter_map(|k| k.strip_prefix(&prefix)).filter(|k| !k.starts_with("sio:")).collect();
    cache_keys.sort_unstable();
    assert_eq!(cache_keys.len(), 3, "{keys:?}");
    // Sorted: the entry ("c:..."), then "epoch", then "members".
    assert!(cache_keys[0].starts_with("c:/probe/cold|"), "one entry, whatever the 500 requests: {keys:?}");
    assert_eq!(cache_keys[1], "epoch", "{keys:?}");
    assert_eq!(cache_keys[2], "members", "{keys:?}");
    let _: () = redis::cmd("DEL").arg(keys).query_async(&mut conn).await.unwrap();
}
