//! The response cache (scaling plan item 1): cache-aside for GET routes, keyed by route,
//! normalized query and scope, invalidated by tags.
//!
//! Invalidation bumps a version counter per tag; every entry remembers the versions of its
//! tags when its load started, and an entry whose tag moved on is stale. So a write never
//! has to find the keys it affects, and a slow reader that stores an old body after a write
//! cannot be served. Concurrent misses of one key share one load (single flight).

pub mod policy;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::error::{AppError, AppResult};
use crate::http::extract::Params;
use crate::ids::Id;
use crate::store::users::{Role, User};

pub use policy::Policy;

/// What an entry depends on (API.md 3.12).
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
    fn key_part(&self) -> String {
        match self {
            Scope::Public => "public".into(),
            Scope::Role(r) => format!("role:{r}"),
            Scope::User(id) => format!("user:{id}"),
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
        let mut res = (StatusCode::OK, self.body).into_response();
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert("x-cache", HeaderValue::from_static(self.status.as_str()));
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

/// The cache key: route + sorted, normalized query + scope.
pub fn cache_key(policy: &Policy, scope: &Scope, params: &Params, subject: Option<&Id>) -> String {
    let mut pairs: Vec<(&String, String)> = params
        .0
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k, normalize_param(k, v)))
        .collect();
    pairs.sort();
    let query: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    let subject = subject.map(Id::as_str).unwrap_or("-");
    format!("{}|{}|{}|{}", policy.route, subject, query.join("&"), scope.key_part())
}

fn normalize_param(key: &str, value: &str) -> String {
    let value = value.trim();
    match key {
        "limit" => value.parse::<i64>().ok().filter(|l| *l >= 1).map(|l| l.min(100)).unwrap_or(0).to_string(),
        "page" => value.parse::<i64>().ok().filter(|p| *p >= 1).unwrap_or(1).to_string(),
        "fields" => {
            let mut f: Vec<&str> = value.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
            f.sort();
            f.dedup();
            f.join(",")
        }
        _ => value.to_string(),
    }
}

#[derive(Clone)]
struct Entry {
    body: Bytes,
    versions: Arc<[(Tag, u64)]>,
    expires_at: Instant,
}

/// The cache of one process. Cheap to clone.
#[derive(Clone)]
pub struct Cache {
    enabled: bool,
    l1: moka::future::Cache<String, Entry>,
    versions: Arc<Mutex<HashMap<Tag, u64>>>,
}

impl Cache {
    pub fn new(enabled: bool, max_bytes: u64) -> Cache {
        let l1 = moka::future::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &String, e: &Entry| (k.len() + e.body.len() + 64).try_into().unwrap_or(u32::MAX))
            .time_to_live(Duration::from_secs(600))
            .build();
        Cache { enabled, l1, versions: Arc::new(Mutex::new(HashMap::new())) }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn snapshot(&self, tags: &[Tag]) -> Arc<[(Tag, u64)]> {
        let versions = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        tags.iter().map(|t| (t.clone(), versions.get(t).copied().unwrap_or(0))).collect()
    }

    fn is_fresh(&self, entry: &Entry) -> bool {
        if entry.expires_at <= Instant::now() {
            return false;
        }
        let versions = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        entry.versions.iter().all(|(t, v)| versions.get(t).copied().unwrap_or(0) == *v)
    }

    /// Serves a cached GET: a fresh entry if there is one, otherwise `load` (once, however many
    /// requests wait for it). Authorization must already have run. Only successful loads are
    /// stored; errors pass through to every waiter.
    pub async fn serve<F, Fut>(&self, policy: &Policy, lookup: Lookup<'_>, load: F) -> AppResult<Cached>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = AppResult<Value>>,
    {
        if !self.enabled {
            let body = load().await?;
            return Ok(Cached { body: Bytes::from(body.to_string()), status: CacheStatus::Bypass });
        }
        let scope = policy.scope(lookup.caller);
        let key = cache_key(policy, &scope, lookup.params, lookup.subject);
        if let Some(entry) = self.l1.get(&key).await {
            if self.is_fresh(&entry) {
                return Ok(Cached { body: entry.body, status: CacheStatus::Hit });
            }
            self.l1.invalidate(&key).await;
        }
        let tags = policy.tags(lookup.caller, lookup.subject);
        let versions = self.snapshot(&tags);
        let ttl = policy.ttl;
        let loaded = self
            .l1
            .try_get_with(key.clone(), async move {
                let body = load().await?;
                Ok::<_, AppError>(Entry { body: Bytes::from(body.to_string()), versions, expires_at: Instant::now() + ttl })
            })
            .await;
        match loaded {
            Ok(entry) => Ok(Cached { body: entry.body, status: CacheStatus::Miss }),
            Err(shared) => Err(shared.duplicate()),
        }
    }

    /// Invalidates every entry that depends on any of `tags`. Returns after the local tier
    /// no longer serves them (read-your-writes for the writer).
    pub async fn invalidate(&self, tags: impl IntoIterator<Item = Tag>) {
        let mut versions = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        for tag in tags {
            *versions.entry(tag).or_insert(0) += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn keys_normalize_the_query() {
        let p = &policy::LAWYERS_VERIFIED;
        let a = cache_key(p, &Scope::Public, &params(&[("page", "1"), ("limit", "500"), ("fields", "name, email")]), None);
        let b = cache_key(p, &Scope::Public, &params(&[("fields", "email,name"), ("limit", "100"), ("page", "1")]), None);
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
