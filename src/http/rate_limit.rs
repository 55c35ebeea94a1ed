//! The global per-IP limit on `/api/*` (docs/api.md 1.1) with the IETF draft headers
//! (`RateLimit-Policy`, `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`).
//! Fixed windows per client IP, sharded to keep lock contention off the hot path.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SHARDS: usize = 64;

#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    window: Duration,
    max: u64,
    shards: Vec<Mutex<HashMap<IpAddr, Window>>>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    count: u64,
}

/// The outcome for one request: whether it may pass, and the header values.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    pub reset_secs: u64,
    pub window_secs: u64,
}

impl RateLimiter {
    pub fn new(window: Duration, max: u64) -> RateLimiter {
        let shards = (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect();
        RateLimiter { inner: Arc::new(Inner { window, max, shards }) }
    }

    /// `(max requests, window in seconds)`: the `RateLimit-Policy` of every response.
    pub fn policy(&self) -> (u64, u64) {
        (self.inner.max, self.inner.window.as_secs())
    }

    pub fn check(&self, ip: IpAddr) -> Decision {
        self.check_at(ip, Instant::now())
    }

    fn check_at(&self, ip: IpAddr, now: Instant) -> Decision {
        let inner = &self.inner;
        let shard = &inner.shards[shard_of(&ip)];
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, w| now.duration_since(w.started) < inner.window);
        }
        let w = map.entry(ip).or_insert(Window { started: now, count: 0 });
        if now.duration_since(w.started) >= inner.window {
            *w = Window { started: now, count: 0 };
        }
        w.count += 1;
        let reset = inner.window.saturating_sub(now.duration_since(w.started));
        Decision {
            allowed: w.count <= inner.max,
            limit: inner.max,
            remaining: inner.max.saturating_sub(w.count),
            reset_secs: reset.as_secs_f64().ceil() as u64,
            window_secs: inner.window.as_secs(),
        }
    }
}

fn shard_of(ip: &IpAddr) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    ip.hash(&mut h);
    (h.finish() as usize) % SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_ip_and_resets_after_the_window() {
        let rl = RateLimiter::new(Duration::from_secs(60), 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        assert!(rl.check_at(a, t0).allowed);
        let second = rl.check_at(a, t0);
        assert!(second.allowed);
        assert_eq!(second.remaining, 0);
        assert!(!rl.check_at(a, t0).allowed);
        assert!(rl.check_at(b, t0).allowed, "another client has its own budget");
        assert!(rl.check_at(a, t0 + Duration::from_secs(61)).allowed);
    }
}
