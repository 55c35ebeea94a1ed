//! The response cache: cache-aside for the GET routes of docs/api.md 3.12, keyed by route,
//! normalized query and scope, invalidated by tags. How to cache a route: README "Caching a
//! route" and [`policy`].
//!
//! # Tiers
//! L1 is an in-process moka cache bounded by memory (`CACHE_MAX_BYTES`). L2 is Redis when
//! `REDIS_URL` is set: entries `<prefix>c:<key>` (SET PX with the route's TTL) whose value is a
//! one-line header (epoch and tag counters) plus the body. An L1 miss reads L2; an L2 miss loads
//! from the database and fills both. Concurrent L1 misses of one key on one instance share one
//! L2 read and one load (moka's `try_get_with`). Only successful loads are stored.
//!
//! # Invalidation: versions, never key lookups
//! Every tag has a counter in Redis, `<prefix>t:<tag>`. A write calls [`Cache::invalidate`],
//! which (1) bumps this instance's own version of the tags, then (2) runs one Lua script that
//! INCRs the counters and PUBLISHes the new values on `<prefix>inv`, atomically, so messages
//! arrive in increment order. Every instance subscribes and raises its mirror of the counters
//! (never lowers it). Nothing ever needs to find the keys a write affects (no KEYS or SCAN).
//!
//! * L1 keys contain a local generation and, for each tag of the entry, the mirrored counter
//!   and the local version. A write or a message changes the key, so older entries are never
//!   found again, and single flight never joins a load that started before the write. Step (1)
//!   happens before `invalidate` returns: the writing instance reads its writes even when Redis
//!   is down. `invalidate` then waits until every other instance confirmed the message, or
//!   until their lease ran out ([`confirm`]): an instance with a lease serves L1 without asking
//!   Redis, one without (just connected, or its subscription lags) reads the entry's tag
//!   counters first (one MGET) and raises its mirror. Either way a write that has answered is
//!   never hidden by another instance's L1.
//! * L2 is checked against Redis itself: one pipelined round trip reads the epoch, the entry's
//!   tag counters (MGET) and the entry. An entry is current only if it was stamped with exactly
//!   those counters, and a load stamps what it read *before* it started, so a slow reader that
//!   stores an old body after a write stores it under a counter that has already moved. This
//!   check needs no message, so an instance that just started or missed messages never takes a
//!   stale entry from L2; what it read also raises its mirror.
//!
//! # Epochs and Redis failures
//! `<prefix>epoch` is a random token; entries carry the epoch they were stored in, and counters
//! are comparable only within one epoch. Every Redis call is bounded by `CACHE_REDIS_TIMEOUT`
//! (100 ms). The first failure marks L2 down (one error line per outage): requests then use L1
//! and the database, L1 is flushed (a new generation: invalidations from other instances can no
//! longer reach us) and entries stored while down live at most [`SHORT_TTL`], which bounds what
//! another instance's write can leave stale here. Invalidations during the outage are local. A
//! background task probes every second; when Redis answers again it resubscribes, then writes a
//! **new epoch** and announces it, before reading L2 again: every L2 entry from before (possibly
//! stale: writes of the outage never reached Redis, or Redis restarted and lost its counters)
//! is unreachable, and every instance that hears of the new epoch (message, or the epoch read
//! with every L2 lookup) flushes its L1. A first connection keeps the current epoch unless this
//! instance already wrote locally. A missing epoch (Redis flushed or restarted under us) or a
//! counter below what we saw (restored from an older snapshot) counts as an outage too.
//!
//! Limits: during an outage, other instances' writes reach us only through [`SHORT_TTL`]. While
//! one instance is cut off from a Redis that the others still use, its writes reach neither L2
//! nor the others until it reconnects and rotates the epoch.

mod confirm;
mod l2;
mod memo;
pub mod policy;
mod state;
mod stats;

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::config::Config;
use crate::domain::page::Params;
use crate::error::AppResult;
use crate::ids::Id;
use crate::store::users::{Role, User};

pub use policy::Policy;
use state::{Raised, Snapshot, State};

/// The longest an entry stored while Redis is configured but unreachable is served: another
/// instance's writes cannot reach us then.
pub const SHORT_TTL: Duration = Duration::from_secs(1);

/// How long a remembered value ([`Cache::remember`]) stays in this process when nothing
/// invalidates it. Its tags cover every write that changes it (a key holds its tags'
/// versions), so this is only a safety net for changes made outside the application (a
/// restore, hand-written SQL); memory (`CACHE_MAX_BYTES`) bounds the rest. Responses keep
/// their route's TTL: they also show other users' names and profiles, whose changes do not
/// reach the lists that show them (docs/api.md 3.12).
pub const MAX_AGE: Duration = Duration::from_secs(3600);

/// What an entry depends on (docs/api.md 3.12).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Tag {
    Dir,
    DirLawyer(Id),
    Adm,
    Avail,
    Case(Id),
    Cit(Id),
    Law(Id),
    Cons(Id),
    ConsList(Id),
    /// A user's chat activity (last messages, unread counts, chat order): messages and read
    /// receipts change only this, not the user's other lists.
    Chats(Id),
    /// A user's account row: what [`Cache::remember`] keeps of the principal.
    User(Id),
}

impl Tag {
    /// `CIT:<id>` for citizens, `LAW:<id>` for lawyers (other roles have no private lists,
    /// but get a tag of their own so their entries are still invalidated).
    pub fn of_user(user: &User) -> Tag {
        match user.role {
            Role::Lawyer => Tag::Law(user.id.clone()),
            _ => Tag::Cit(user.id.clone()),
        }
    }

    pub fn name(&self) -> String {
        match self {
            Tag::Dir => "DIR".into(),
            Tag::DirLawyer(id) => format!("DIR:{id}"),
            Tag::Adm => "ADM".into(),
            Tag::Avail => "AVAIL".into(),
            Tag::Case(id) => format!("CASE:{id}"),
            Tag::Cit(id) => format!("CIT:{id}"),
            Tag::Law(id) => format!("LAW:{id}"),
            Tag::Cons(id) => format!("CONS:{id}"),
            Tag::ConsList(id) => format!("CONSL:{id}"),
            Tag::Chats(id) => format!("CHATS:{id}"),
            Tag::User(id) => format!("USR:{id}"),
        }
    }
}

/// Who may share an entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    Public,
    Role(Role),
    User(Id),
}

impl Scope {
    fn push_key_part(&self, key: &mut String) {
        match self {
            Scope::Public => key.push_str("public"),
            Scope::Role(r) => {
                key.push_str("role:");
                key.push_str(r.as_str());
            }
            Scope::User(id) => {
                key.push_str("user:");
                key.push_str(id.as_str());
            }
        }
    }
}

/// Whether a response came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
    Bypass,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Bypass => "BYPASS",
        }
    }
}

/// A JSON body with its cache status; answers 200 with `X-Cache`.
pub struct Cached {
    pub body: Bytes,
    pub status: CacheStatus,
}

impl IntoResponse for Cached {
    fn into_response(self) -> Response {
        const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
        let mut res = Response::new(axum::body::Body::from(self.body));
        let h = res.headers_mut();
        // Room for what the edge adds (security, rate-limit, request id, CORS): no regrowth.
        h.reserve(24);
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(X_CACHE, HeaderValue::from_static(self.status.as_str()));
        res
    }
}

/// The request-side facts a policy needs.
pub struct Lookup<'a> {
    pub caller: Option<&'a User>,
    pub params: &'a Params,
    /// The id in the path (lawyer, case, consultation), if the route has one.
    pub subject: Option<&'a Id>,
}

impl<'a> Lookup<'a> {
    /// A list route read by `caller` (no id in the path).
    pub fn of(caller: &'a User, params: &'a Params) -> Lookup<'a> {
        Lookup { caller: Some(caller), params, subject: None }
    }
}

/// The cache key: route + sorted, normalized query + scope.
pub fn cache_key(policy: &Policy, scope: &Scope, params: &Params, subject: Option<&Id>) -> String {
    let mut pairs: Vec<(&String, String)> =
        params.0.iter().filter(|(_, v)| !v.trim().is_empty()).map(|(k, v)| (k, normalize_param(k, v))).collect();
    pairs.sort();
    let subject = subject.map(Id::as_str).unwrap_or("-");
    let mut key = String::with_capacity(policy.route.len() + subject.len() + 64);
    for part in [policy.route, "|", subject, "|"] {
        key.push_str(part);
    }
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            key.push('&');
        }
        for part in [k.as_str(), "=", v] {
            key.push_str(part);
        }
    }
    key.push('|');
    scope.push_key_part(&mut key);
    key
}

fn normalize_param(key: &str, value: &str) -> String {
    let value = value.trim();
    match key {
        "limit" => value.parse::<i64>().ok().filter(|l| *l >= 1).map(|l| l.min(100)).unwrap_or(0).to_string(),
        // As the lists read it; a page they refuse keeps its text, so it never meets page 1.
        "page" => crate::domain::page::page_number(Some(value)).map_or_else(|_| value.to_string(), |p| p.to_string()),
        "fields" => {
            let mut f: Vec<&str> = value.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
            f.sort();
            f.dedup();
            f.join(",")
        }
        _ => value.to_string(),
    }
}

/// Where a stored body came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Database,
    Shared,
}

#[derive(Clone)]
struct L1Entry {
    body: Bytes,
    ttl: Duration,
    source: Source,
}

/// Each L1 entry lives for its own TTL (the route's, or what its L2 copy had left).
struct PerEntryTtl;

impl moka::Expiry<String, L1Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, entry: &L1Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// How the cache is set up (from [`Config`]: `CACHE`, `CACHE_MAX_BYTES`, `REDIS_URL`,
/// `REDIS_PREFIX`, `CACHE_REDIS_TIMEOUT`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub enabled: bool,
    pub max_bytes: u64,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    pub redis_timeout: Duration,
}

impl Settings {
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            enabled: config.cache_enabled,
            max_bytes: config.cache_max_bytes,
            redis_url: config.redis_url.clone(),
            redis_prefix: config.redis_prefix.clone(),
            redis_timeout: config.cache_redis_timeout,
        }
    }
}

/// The state of the shared tier, for readiness and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedStatus {
    pub configured: bool,
    /// L2 is being read and written right now.
    pub available: bool,
    /// Outages since start (each logged once).
    pub outages: u64,
}

struct Inner {
    enabled: bool,
    l1: moka::future::Cache<String, L1Entry>,
    /// Typed values kept in this process only ([`Cache::remember`]).
    values: moka::future::Cache<String, memo::Value>,
    state: Mutex<State>,
    shared: Option<l2::Shared>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_current(&self, serial: u64) -> bool {
        self.lock().link().is_some_and(|l| l.serial == serial)
    }

    /// A Redis call failed: L2 is skipped until the link task has reconnected.
    fn mark_down(&self, serial: Option<u64>, reason: &str) {
        let Some(shared) = &self.shared else { return };
        if self.lock().link_down(serial) {
            shared.report_outage(reason);
            shared.wake.notify_one();
        }
    }

    /// Another instance's announcement of new counters.
    fn apply_invalidation(&self, epoch: &str, tags: &[(String, u64)]) {
        stats::received(tags.len());
        let mut state = self.lock();
        let values = tags.iter().map(|(t, v)| (t.as_str(), *v));
        if state.raise(epoch, values, true) == Raised::OtherEpoch {
            // Counters of another epoch say nothing comparable, but a write happened.
            state.bump_local(tags.iter().map(|(t, _)| t.as_str()), false);
        }
    }

    /// Raises this instance's mirror of `tags`' counters to Redis's before an L1 lookup, unless
    /// this instance holds a lease ([`confirm`]): then every write that has answered anywhere is
    /// already applied here. Without one (just connected, or the subscription lags), the
    /// announcement of another instance's write may still be on its way, so the counters are
    /// read (one round trip). Nothing when Redis is not in use.
    async fn sync_versions(&self, tags: &[String]) {
        let Some(shared) = &self.shared else { return };
        if tags.is_empty() {
            return;
        }
        let snap = {
            let mut state = self.lock();
            if state.leased(Instant::now()) {
                return;
            }
            state.snapshot(tags)
        };
        let Some((link, epoch)) = &snap.l2 else { return };
        stats::version_read();
        match shared.counters(link, tags).await {
            Ok((current, counters)) => {
                self.apply_versions(&snap, link.serial, epoch, current.as_deref(), tags, &counters);
            }
            Err(reason) => self.mark_down(Some(link.serial), &reason),
        }
    }

    /// Takes shared versions read after `snap` into the mirror. False when they cannot be
    /// trusted: Redis lost the epoch or went backwards (an outage), or another instance rotated
    /// the epoch (adopted here, which flushes L1).
    fn apply_versions(
        &self,
        snap: &Snapshot,
        serial: u64,
        epoch: &str,
        current: Option<&str>,
        tags: &[String],
        counters: &[u64],
    ) -> bool {
        let Some(current) = current else {
            self.mark_down(Some(serial), "Redis lost the cache's epoch (restarted or flushed)");
            return false;
        };
        if current != epoch {
            // Its announcement may still be on the way.
            self.lock().adopt(current);
            return false;
        }
        if snap.behind(counters) {
            self.mark_down(Some(serial), "Redis counters went backwards (restored from an older snapshot?)");
            return false;
        }
        let values = tags.iter().map(String::as_str).zip(counters.iter().copied());
        self.lock().raise(epoch, values, false) == Raised::Applied
    }

    /// Fills an L1 miss: from L2 if it holds a current entry, else from `load` (then into L2).
    async fn fill<F, Fut>(
        &self,
        policy: &Policy,
        base: &str,
        tags: &[String],
        snap: Snapshot,
        load: F,
    ) -> AppResult<L1Entry>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = AppResult<Value>>,
    {
        let ttl = if snap.short_lived { policy.ttl.min(SHORT_TTL) } else { policy.ttl };
        let from_db = |body: Value| L1Entry { body: Bytes::from(body.to_string()), ttl, source: Source::Database };
        let (Some((link, epoch)), Some(shared)) = (snap.l2.clone(), &self.shared) else {
            return Ok(from_db(load().await?));
        };
        let read = match shared.read(&link, base, tags).await {
            Ok(read) => read,
            Err(reason) => {
                self.mark_down(Some(link.serial), &reason);
                return Ok(from_db(load().await?));
            }
        };
        if !self.apply_versions(&snap, link.serial, &epoch, read.epoch.as_deref(), tags, &read.counters) {
            return Ok(from_db(load().await?));
        }
        let stamp = l2::Stamp { epoch: &epoch, tags, counters: &read.counters };
        if let Some(body) = read.entry.as_deref().and_then(|raw| l2::current_body(raw, stamp)) {
            let left = u64::try_from(read.pttl).ok().filter(|ms| *ms > 0).map(Duration::from_millis);
            return Ok(L1Entry { body, ttl: left.map_or(ttl, |l| l.min(ttl)), source: Source::Shared });
        }
        let entry = from_db(load().await?);
        if let Err(reason) = shared.store(&link, base, stamp, &entry.body, policy.ttl).await {
            self.mark_down(Some(link.serial), &reason);
        }
        Ok(entry)
    }

    fn update_gauges(&self) {
        stats::l1_size(self.l1.entry_count(), self.l1.weighted_size());
    }
}

/// The cache of one process. Cheap to clone.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

impl Cache {
    /// A memory-only cache (no Redis).
    pub fn new(enabled: bool, max_bytes: u64) -> Cache {
        Cache::build(enabled, max_bytes, None)
    }

    /// The cache as configured. With `REDIS_URL`, waits briefly for the first connection (so a
    /// fresh instance uses L2 from its first request) but never fails because Redis is down:
    /// the link task keeps trying in the background.
    pub async fn connect(settings: Settings) -> anyhow::Result<Cache> {
        let shared = match (&settings.redis_url, settings.enabled) {
            (Some(url), true) => Some(l2::Shared::new(url, &settings.redis_prefix, settings.redis_timeout)?),
            _ => None,
        };
        let cache = Cache::build(settings.enabled, settings.max_bytes, shared);
        if let Some(shared) = &cache.inner.shared {
            tokio::spawn(l2::run(Arc::downgrade(&cache.inner), shared.wake.clone()));
            let deadline = Instant::now() + Duration::from_secs(3);
            while !cache.inner.lock().l2_readable() && cache.shared_status().outages == 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        Ok(cache)
    }

    fn build(enabled: bool, max_bytes: u64, shared: Option<l2::Shared>) -> Cache {
        stats::describe();
        let l1 = moka::future::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &String, e: &L1Entry| (k.len() + e.body.len() + 64).try_into().unwrap_or(u32::MAX))
            .expire_after(PerEntryTtl)
            .build();
        let state = Mutex::new(State::new(shared.is_some()));
        let values = memo::store(max_bytes);
        let inner = Arc::new(Inner { enabled, l1, values, state, shared });
        if enabled && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(housekeeping(Arc::downgrade(&inner)));
        }
        Cache { inner }
    }

    pub fn enabled(&self) -> bool {
        self.inner.enabled
    }

    pub fn shared_status(&self) -> SharedStatus {
        SharedStatus {
            configured: self.inner.shared.is_some(),
            available: self.inner.lock().l2_readable(),
            outages: self.inner.shared.as_ref().map_or(0, l2::Shared::outages),
        }
    }

    /// Serves a cached GET: a current entry if there is one, otherwise `load` (once, however many
    /// requests wait for it). Authorization must already have run. Only successful loads are
    /// stored; errors pass through to every waiter.
    pub async fn serve<F, Fut>(&self, policy: &Policy, lookup: Lookup<'_>, load: F) -> AppResult<Cached>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = AppResult<Value>>,
    {
        if !self.inner.enabled {
            stats::bypass(policy.route);
            let body = load().await?;
            return Ok(Cached { body: Bytes::from(body.to_string()), status: CacheStatus::Bypass });
        }
        let scope = policy.scope(lookup.caller);
        let base = cache_key(policy, &scope, lookup.params, lookup.subject);
        let tags: Vec<String> = policy.tags(lookup.caller, lookup.subject).iter().map(Tag::name).collect();
        self.inner.sync_versions(&tags).await;
        let snap = self.inner.lock().snapshot(&tags);
        let key = snap.l1_key(&base);
        if let Some(entry) = self.inner.l1.get(&key).await {
            stats::hit(policy.route, "l1");
            return Ok(Cached { body: entry.body, status: CacheStatus::Hit });
        }
        let filled = self.inner.l1.try_get_with(key, self.inner.fill(policy, &base, &tags, snap, load)).await;
        match filled {
            Ok(entry) if entry.source == Source::Shared => {
                stats::hit(policy.route, "l2");
                Ok(Cached { body: entry.body, status: CacheStatus::Hit })
            }
            Ok(entry) => {
                stats::miss(policy.route);
                Ok(Cached { body: entry.body, status: CacheStatus::Miss })
            }
            Err(shared) => Err(shared.duplicate()),
        }
    }

    /// Invalidates every entry that depends on any of `tags`, in both tiers and on every
    /// instance. Returns once no instance serves them any more (read-your-writes, wherever the
    /// next read lands: every other member confirmed, or its lease ran out; see [`confirm`]).
    /// Never fails: with Redis down the invalidation is local (see the module doc).
    pub async fn invalidate(&self, tags: impl IntoIterator<Item = Tag>) {
        let mut names: Vec<String> = tags.into_iter().map(|t| t.name()).collect();
        names.sort();
        names.dedup();
        if names.is_empty() || !self.inner.enabled {
            return;
        }
        stats::sent(names.len());
        let link = {
            let mut state = self.inner.lock();
            state.bump_local(names.iter().map(String::as_str), true);
            state.link()
        };
        let (Some(link), Some(shared)) = (link, &self.inner.shared) else { return };
        match shared.invalidate(&link, &names).await {
            Ok(Some((epoch, counters))) => {
                let mut state = self.inner.lock();
                let values = || names.iter().map(String::as_str).zip(counters.iter().copied());
                if state.raise(&epoch, values(), false) == Raised::OtherEpoch && state.adopt(&epoch) {
                    state.raise(&epoch, values(), false);
                }
            }
            Ok(None) => self.inner.mark_down(Some(link.serial), "Redis lost the cache's epoch (restarted or flushed)"),
            Err(reason) => self.inner.mark_down(Some(link.serial), &reason),
        }
    }
}

impl Cache {
    /// Leaves the instances sharing Redis (a stopping instance): their writes stop waiting for
    /// its confirmations at once instead of after its membership lapses.
    pub async fn leave(&self) {
        let link = self.inner.lock().link();
        if let (Some(link), Some(shared)) = (link, &self.inner.shared) {
            shared.leave(&link).await;
        }
    }
}

/// Keeps the size gauges current; ends with the cache.
async fn housekeeping(weak: Weak<Inner>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        inner.l1.run_pending_tasks().await;
        inner.update_gauges();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;
    use axum::http::StatusCode;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn keys_normalize_the_query() {
        let p = &policy::LAWYERS_VERIFIED;
        let a =
            cache_key(p, &Scope::Public, &params(&[("page", "1"), ("limit", "500"), ("fields", "name, email")]), None);
        let b =
            cache_key(p, &Scope::Public, &params(&[("fields", "email,name"), ("limit", "100"), ("page", "1")]), None);
        assert_eq!(a, b);
        let c = cache_key(p, &Scope::User(Id::new()), &params(&[]), None);
        assert_ne!(a, c);
    }

    #[tokio::test]
    async fn invalidation_by_tag_forces_a_reload() {
        let cache = Cache::new(true, 1 << 20);
        let loads = AtomicUsize::new(0);
        let p = params(&[]);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(serde_json::json!({"n": loads.load(Ordering::SeqCst)}))
        };
        let lookup = || Lookup { caller: None, params: &p, subject: None };
        assert_eq!(cache.serve(&policy::LAWYERS_VERIFIED, lookup(), load).await.unwrap().status, CacheStatus::Miss);
        assert_eq!(cache.serve(&policy::LAWYERS_VERIFIED, lookup(), load).await.unwrap().status, CacheStatus::Hit);
        cache.invalidate([Tag::Adm]).await;
        assert_eq!(cache.serve(&policy::LAWYERS_VERIFIED, lookup(), load).await.unwrap().status, CacheStatus::Hit);
        cache.invalidate([Tag::Dir]).await;
        let third = cache.serve(&policy::LAWYERS_VERIFIED, lookup(), load).await.unwrap();
        assert_eq!(third.status, CacheStatus::Miss);
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache = Cache::new(true, 1 << 20);
        let p = params(&[]);
        let failed = cache
            .serve(&policy::LAWYERS_VERIFIED, Lookup { caller: None, params: &p, subject: None }, || async {
                Err(AppError::not_found("nope"))
            })
            .await;
        assert_eq!(failed.err().unwrap().status, StatusCode::NOT_FOUND);
        let ok = cache
            .serve(&policy::LAWYERS_VERIFIED, Lookup { caller: None, params: &p, subject: None }, || async {
                Ok(serde_json::json!({}))
            })
            .await
            .unwrap();
        assert_eq!(ok.status, CacheStatus::Miss);
    }
}
