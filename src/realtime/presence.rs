//! Who is connected, across every instance: socket counts per user (for `user_online` on a
//! user's first socket and `user_offline` on their last) and the members of WebRTC calls (so a
//! call's end and untargeted signals reach only its participants).
//!
//! Without Redis the counts live in this process. With Redis each instance keeps its share in
//! a hash per user (`<prefix>sio:presence:<user>`, one field per instance) and proves it is alive
//! with a key that a heartbeat refreshes (`<prefix>sio:instance:<uid>`); counts of an instance
//! whose key expired (it crashed) are dropped the next time the hash is read. If Redis fails,
//! the local counts answer, so presence degrades to "this instance" instead of failing.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

use crate::ids::Id;

/// How long an instance counts as alive after its last heartbeat.
pub const INSTANCE_TTL: Duration = Duration::from_secs(30);
/// How often the heartbeat runs.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);
/// Calls are forgotten after this long even if nobody ends them.
const CALL_TTL: Duration = Duration::from_secs(4 * 3600);

/// Adds ARGV[2] to this instance's field of the user's hash, drops fields of dead instances,
/// and returns the user's socket count over all live instances.
const ADJUST: &str = r"
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], tonumber(ARGV[2]))
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
local total = 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if redis.call('EXISTS', ARGV[3] .. fields[i]) == 1 then
    total = total + tonumber(fields[i + 1])
  else
    redis.call('HDEL', KEYS[1], fields[i])
  end
end
if total > 0 then redis.call('EXPIRE', KEYS[1], 86400) end
return total
";

struct Shared {
    conn: ConnectionManager,
    prefix: String,
    instance: String,
    adjust: redis::Script,
}

pub struct Presence {
    local: Mutex<HashMap<Id, i64>>,
    calls: Mutex<HashMap<String, (HashSet<Id>, Instant)>>,
    shared: Option<Shared>,
}

impl Presence {
    pub fn local() -> Presence {
        Presence { local: Mutex::new(HashMap::new()), calls: Mutex::new(HashMap::new()), shared: None }
    }

    /// Presence shared through Redis; `instance` names this process.
    pub fn shared(conn: ConnectionManager, prefix: &str, instance: String) -> Presence {
        Presence {
            shared: Some(Shared {
                conn,
                prefix: format!("{prefix}sio:"),
                instance,
                adjust: redis::Script::new(ADJUST),
            }),
            ..Presence::local()
        }
    }

    fn adjust_local(&self, user: &Id, delta: i64) -> i64 {
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        let count = local.entry(user.clone()).or_insert(0);
        *count += delta;
        let now = *count;
        if now <= 0 {
            local.remove(user);
        }
        now.max(0)
    }

    /// Records a socket of `user` opening (+1) or closing (-1); returns how many sockets the user
    /// has now on all instances.
    pub async fn adjust(&self, user: &Id, delta: i64) -> i64 {
        let here = self.adjust_local(user, delta);
        let Some(shared) = &self.shared else { return here };
        let mut conn = shared.conn.clone();
        let result: redis::RedisResult<i64> = shared
            .adjust
            .key(format!("{}presence:{user}", shared.prefix))
            .arg(&shared.instance)
            .arg(delta)
            .arg(format!("{}instance:", shared.prefix))
            .invoke_async(&mut conn)
            .await;
        match result {
            Ok(total) => total,
            Err(e) => {
                tracing::warn!(error = %e, "presence: Redis unavailable, using this instance's count");
                here
            }
        }
    }

    /// Marks this instance alive (its counts keep counting) and forgets stale calls.
    pub async fn heartbeat(&self) {
        self.prune_calls();
        let Some(shared) = &self.shared else { return };
        let mut conn = shared.conn.clone();
        let key = format!("{}instance:{}", shared.prefix, shared.instance);
        if let Err(e) =
            redis::cmd("SET").arg(key).arg(1).arg("EX").arg(INSTANCE_TTL.as_secs()).query_async::<()>(&mut conn).await
        {
            tracing::warn!(error = %e, "presence heartbeat failed");
        }
    }

    /// Forgets this instance (clean shutdown): its counts stop counting at once.
    pub async fn retire(&self) {
        let Some(shared) = &self.shared else { return };
        let mut conn = shared.conn.clone();
        let key = format!("{}instance:{}", shared.prefix, shared.instance);
        if let Err(e) = redis::cmd("DEL").arg(key).query_async::<()>(&mut conn).await {
            tracing::warn!(error = %e, "presence: could not retire this instance");
        }
    }

    fn call_key(shared: &Shared, call_id: &str) -> String {
        format!("{}call:{call_id}", shared.prefix)
    }

    /// Adds users to a call (the caller and the callee of a `webrtc_offer`).
    pub async fn join_call(&self, call_id: &str, users: &[&Id]) {
        if let Some(shared) = &self.shared {
            let mut conn = shared.conn.clone();
            let key = Self::call_key(shared, call_id);
            let mut pipe = redis::pipe();
            pipe.sadd(&key, users.iter().map(|u| u.as_str()).collect::<Vec<_>>()).ignore();
            pipe.expire(&key, CALL_TTL.as_secs() as i64).ignore();
            match pipe.query_async::<()>(&mut conn).await {
                Ok(()) => return,
                Err(e) => tracing::warn!(error = %e, "calls: Redis unavailable, keeping the call locally"),
            }
        }
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let entry = calls.entry(call_id.to_string()).or_insert_with(|| (HashSet::new(), Instant::now()));
        entry.0.extend(users.iter().map(|u| (*u).clone()));
    }

    /// The members of a call (empty when unknown).
    pub async fn call_members(&self, call_id: &str) -> Vec<Id> {
        if let Some(shared) = &self.shared {
            let mut conn = shared.conn.clone();
            let found: redis::RedisResult<Vec<String>> =
                redis::cmd("SMEMBERS").arg(Self::call_key(shared, call_id)).query_async(&mut conn).await;
            match found {
                Ok(members) if !members.is_empty() => return members.iter().filter_map(|m| m.parse().ok()).collect(),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "calls: Redis unavailable"),
            }
        }
        let calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        calls.get(call_id).map(|(members, _)| members.iter().cloned().collect()).unwrap_or_default()
    }

    pub async fn end_call(&self, call_id: &str) {
        if let Some(shared) = &self.shared {
            let mut conn = shared.conn.clone();
            if let Err(e) = redis::cmd("DEL").arg(Self::call_key(shared, call_id)).query_async::<()>(&mut conn).await {
                tracing::warn!(error = %e, "calls: Redis unavailable");
            }
        }
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).remove(call_id);
    }

    fn prune_calls(&self) {
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        calls.retain(|_, (_, since)| since.elapsed() < CALL_TTL);
    }
}

/// The per-user limit on chat messages: at most `max` in any rolling `window` (30 a minute),
/// counted in this process as the original did.
pub struct MessageLimiter {
    max: usize,
    window: Duration,
    sent: Mutex<HashMap<Id, Vec<Instant>>>,
}

impl MessageLimiter {
    pub fn new(max: usize, window: Duration) -> MessageLimiter {
        MessageLimiter { max, window, sent: Mutex::new(HashMap::new()) }
    }

    /// Takes one slot for `user`, or None when the limit is reached.
    pub fn acquire(&self, user: &Id) -> Option<Instant> {
        let now = Instant::now();
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let times = sent.entry(user.clone()).or_default();
        times.retain(|t| now.duration_since(*t) < self.window);
        if times.len() >= self.max {
            return None;
        }
        times.push(now);
        Some(now)
    }

    /// Gives back a slot taken for a message that was refused as invalid.
    pub fn release(&self, user: &Id, slot: Instant) {
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(times) = sent.get_mut(user)
            && let Some(pos) = times.iter().position(|t| *t == slot)
        {
            times.remove(pos);
        }
    }

    /// Drops users with no message in the window (bounded memory).
    pub fn prune(&self) {
        let now = Instant::now();
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        sent.retain(|_, times| times.iter().any(|t| now.duration_since(*t) < self.window));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_allows_max_per_window_and_refunds() {
        let limiter = MessageLimiter::new(3, Duration::from_secs(60));
        let user = Id::new();
        let slots: Vec<_> = (0..3).map(|_| limiter.acquire(&user).expect("within limit")).collect();
        assert!(limiter.acquire(&user).is_none());
        limiter.release(&user, slots[1]);
        assert!(limiter.acquire(&user).is_some());
        assert!(limiter.acquire(&Id::new()).is_some(), "limits are per user");
    }

    #[tokio::test]
    async fn local_presence_counts_first_and_last_socket() {
        let p = Presence::local();
        let user = Id::new();
        assert_eq!(p.adjust(&user, 1).await, 1);
        assert_eq!(p.adjust(&user, 1).await, 2);
        assert_eq!(p.adjust(&user, -1).await, 1);
        assert_eq!(p.adjust(&user, -1).await, 0);
    }

    #[tokio::test]
    async fn local_calls_track_members() {
        let p = Presence::local();
        let (a, b) = (Id::new(), Id::new());
        p.join_call("c1", &[&a, &b]).await;
        let mut members = p.call_members("c1").await;
        members.sort();
        let mut expected = vec![a, b];
        expected.sort();
        assert_eq!(members, expected);
        p.end_call("c1").await;
        assert!(p.call_members("c1").await.is_empty());
    }
}
