//! Typed values kept in this process only: the user behind a request or a socket event, the
//! members of a chat. They follow the same tags and versions as responses (a write on any
//! instance makes them unreachable, and the tags' counters are read from Redis before an
//! entry is trusted), but they never go to Redis: they may hold password and token hashes.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{Cache, MAX_AGE, SHORT_TTL, Snapshot, Tag, stats};
use crate::error::{AppError, AppResult};
use crate::ids::Id;

#[derive(Clone)]
pub(super) struct Value {
    value: Arc<dyn Any + Send + Sync>,
    ttl: Duration,
}

struct ValueTtl;

impl moka::Expiry<String, Value> for ValueTtl {
    fn expire_after_create(&self, _: &String, entry: &Value, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// The store of remembered values: about one entry per 2 KiB of `CACHE_MAX_BYTES`.
pub(super) fn store(max_bytes: u64) -> moka::future::Cache<String, Value> {
    moka::future::Cache::builder().max_capacity((max_bytes / 2048).max(1024)).expire_after(ValueTtl).build()
}

/// How long a value read under `snap` may live: briefly while Redis is configured but
/// unreachable (other instances' writes cannot reach us then).
fn value_ttl(snap: &Snapshot) -> Duration {
    if snap.short_lived { SHORT_TTL } else { MAX_AGE }
}

/// Why a load left nothing to remember.
enum Miss {
    Absent,
    Failed(AppError),
}

impl Cache {
    /// The value `load` produces for `base`, remembered in this process until one of `tags`
    /// is invalidated (here or on another instance) or [`MAX_AGE`] passes. Concurrent misses
    /// of one key share one load; `None` and errors are not remembered. With the cache off,
    /// every call loads. `base` must name the kind of value (e.g. `user|<id>`): one key, one type.
    pub async fn remember<T, F, Fut>(&self, base: &str, tags: &[Tag], load: F) -> AppResult<Option<Arc<T>>>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = AppResult<Option<T>>>,
    {
        if !self.inner.enabled {
            return Ok(load().await?.map(Arc::new));
        }
        let tags: Vec<String> = tags.iter().map(Tag::name).collect();
        self.inner.sync_versions(&tags).await;
        let snap = self.inner.lock().snapshot(&tags);
        let ttl = value_ttl(&snap);
        let key = snap.l1_key(base);
        let loaded = AtomicBool::new(false);
        let filled = self
            .inner
            .values
            .try_get_with(key, async {
                loaded.store(true, Ordering::Relaxed);
                match load().await {
                    Ok(Some(value)) => Ok(Value { value: Arc::new(value), ttl }),
                    Ok(None) => Err(Miss::Absent),
                    Err(e) => Err(Miss::Failed(e)),
                }
            })
            .await;
        stats::value_reads(!loaded.load(Ordering::Relaxed), 1);
        match filled {
            Ok(entry) => Ok(Some(entry.value.downcast::<T>().map_err(|_| {
                AppError::internal(anyhow::anyhow!("cache key {base} was remembered with another type"))
            })?)),
            Err(miss) => match &*miss {
                Miss::Absent => Ok(None),
                Miss::Failed(e) => Err(e.duplicate()),
            },
        }
    }
}

impl Cache {
    /// [`Cache::remember`] for many values of one kind: entry `<kind>|<id>` with the single tag
    /// `tag(id)`, the same entries `remember` reads and fills. What is remembered comes from
    /// memory; the rest from one call of `load`, which may leave ids out (absent, not kept).
    /// One Redis round trip checks all the tags.
    pub async fn remember_each<T, F, Fut>(
        &self,
        kind: &str,
        ids: &[Id],
        tag: fn(&Id) -> Tag,
        load: F,
    ) -> AppResult<HashMap<Id, Arc<T>>>
    where
        T: Send + Sync + 'static,
        F: FnOnce(Vec<Id>) -> Fut,
        Fut: Future<Output = AppResult<Vec<(Id, T)>>>,
    {
        if !self.inner.enabled {
            return Ok(load(ids.to_vec()).await?.into_iter().map(|(id, v)| (id, Arc::new(v))).collect());
        }
        let tags: Vec<String> = ids.iter().map(|id| tag(id).name()).collect();
        self.inner.sync_versions(&tags).await;
        // Keys are taken before loading: a write during the load moves the tag, and what this
        // load stores stays under the old key, never found again.
        let keys: Vec<(String, Duration)> = {
            let mut state = self.inner.lock();
            ids.iter()
                .zip(&tags)
                .map(|(id, t)| {
                    let snap = state.snapshot(std::slice::from_ref(t));
                    (snap.l1_key(&format!("{kind}|{id}")), value_ttl(&snap))
                })
                .collect()
        };
        let mut found = HashMap::with_capacity(ids.len());
        let mut missing: HashMap<Id, (String, Duration)> = HashMap::new();
        for (id, (key, ttl)) in ids.iter().zip(keys) {
            match self.inner.values.get(&key).await.and_then(|e| e.value.downcast::<T>().ok()) {
                Some(value) => {
                    found.insert(id.clone(), value);
                }
                None => {
                    missing.insert(id.clone(), (key, ttl));
                }
            }
        }
        stats::value_reads(true, found.len());
        stats::value_reads(false, missing.len());
        if missing.is_empty() {
            return Ok(found);
        }
        for (id, value) in load(missing.keys().cloned().collect()).await? {
            let value = Arc::new(value);
            if let Some((key, ttl)) = missing.remove(&id) {
                self.inner.values.insert(key, Value { value: value.clone(), ttl }).await;
            }
            found.insert(id, value);
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn remembers_until_a_tag_is_invalidated() {
        let cache = Cache::new(true, 1 << 20);
        let id = Id::new();
        let loads = AtomicUsize::new(0);
        let load = || async { Ok(Some(loads.fetch_add(1, Ordering::SeqCst) + 1)) };
        let tags = [Tag::User(id.clone())];
        assert_eq!(*cache.remember::<usize, _, _>("n", &tags, load).await.unwrap().unwrap(), 1);
        assert_eq!(*cache.remember::<usize, _, _>("n", &tags, load).await.unwrap().unwrap(), 1);
        cache.invalidate([Tag::User(Id::new())]).await;
        assert_eq!(*cache.remember::<usize, _, _>("n", &tags, load).await.unwrap().unwrap(), 1);
        cache.invalidate([Tag::User(id)]).await;
        assert_eq!(*cache.remember::<usize, _, _>("n", &tags, load).await.unwrap().unwrap(), 2);
    }

    #[tokio::test]
    async fn absent_values_and_errors_are_not_remembered() {
        let cache = Cache::new(true, 1 << 20);
        let loads = AtomicUsize::new(0);
        let none = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(None::<usize>)
        };
        assert!(cache.remember("absent", &[], none).await.unwrap().is_none());
        assert!(cache.remember("absent", &[], none).await.unwrap().is_none());
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        let failed = cache.remember::<usize, _, _>("failing", &[], || async { Err(AppError::not_found("gone")) }).await;
        assert_eq!(failed.err().unwrap().status, axum::http::StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn a_disabled_cache_always_loads() {
        let cache = Cache::new(false, 1 << 20);
        let loads = AtomicUsize::new(0);
        let load = || async { Ok(Some(loads.fetch_add(1, Ordering::SeqCst))) };
        cache.remember::<usize, _, _>("n", &[], load).await.unwrap();
        cache.remember::<usize, _, _>("n", &[], load).await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn many_values_load_only_what_is_not_remembered() {
        let cache = Cache::new(true, 1 << 20);
        let (a, b, c) = (Id::new(), Id::new(), Id::new());
        let asked = std::sync::Mutex::new(Vec::new());
        let load = |ids: Vec<Id>| {
            asked.lock().unwrap().push(ids.len());
            let known = [a.clone(), b.clone()];
            async move {
                Ok(ids.into_iter().filter(|id| known.contains(id)).map(|id| (id.clone(), id.to_string())).collect())
            }
        };
        let first = cache
            .remember_each::<String, _, _>("user", &[a.clone(), c.clone()], |id| Tag::User(id.clone()), load)
            .await
            .unwrap();
        assert_eq!(first.len(), 1, "an absent id is left out");
        assert_eq!(*first[&a], a.to_string());
        let second = cache
            .remember_each::<String, _, _>("user", &[a.clone(), b.clone(), c.clone()], |id| Tag::User(id.clone()), load)
            .await
            .unwrap();
        assert_eq!(second.len(), 2);
        assert_eq!(*asked.lock().unwrap(), vec![2, 2], "a is remembered; b and c are asked for");
        // The same entries as `remember`'s, and the same invalidation.
        let one = cache
            .remember::<String, _, _>(&format!("user|{a}"), &[Tag::User(a.clone())], || async { Ok(None) })
            .await
            .unwrap();
        assert_eq!(one.as_deref(), Some(&a.to_string()));
        cache.invalidate([Tag::User(a.clone())]).await;
        cache
            .remember_each::<String, _, _>("user", std::slice::from_ref(&a), |id| Tag::User(id.clone()), load)
            .await
            .unwrap();
        assert_eq!(asked.lock().unwrap().last(), Some(&1));
    }
}
