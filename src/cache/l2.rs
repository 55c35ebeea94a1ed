//! The shared tier in Redis: entries, tag counters, the epoch, the invalidation channel, and
//! the background link task that connects, subscribes, probes and reconnects.
//!
//! Keys (all under `REDIS_PREFIX`): `c:<key>` entries (SET PX), `t:<tag>` counters (INCR),
//! `epoch` (a random token), `members` (instances by last renewal, [`super::confirm`]),
//! channels `inv` (announcements) and `ack:<origin>` (each instance's confirmations and pings).
//! Every call is bounded by a short timeout; any failure marks the tier down until the link
//! task has reconnected.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use redis::{AsyncConnectionConfig, RedisResult};
use tokio::sync::Notify;

use super::confirm::{Confirmations, LEASE, MEMBER_TTL, RENEW_EVERY, Renewals};
use super::state::Link;
use super::{Inner, stats};

/// Connecting (TCP + handshake) may take longer than one command.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How often an idle link is probed, and a lost one retried.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Increments the tags' counters and announces the new values, atomically, so that the
/// order of messages is the order of increments. Returns `[epoch, v1, v2, ..., member, ...]`
/// (the members that renewed within `ARGV[3]` ms, by Redis's clock), or nothing when the epoch
/// key is gone (Redis lost its data: the caller treats it as an outage).
/// KEYS: epoch, members, tags; ARGV: channel, `<origin>.<seq>`, member TTL, tag names.
const INVALIDATE: &str = r"
local epoch = redis.call('GET', KEYS[1])
if not epoch then return {} end
local out = {epoch}
local msg = 'i ' .. epoch .. ' ' .. ARGV[2]
for i = 3, #KEYS do
  local v = redis.call('INCR', KEYS[i])
  out[#out + 1] = tostring(v)
  msg = msg .. ' ' .. ARGV[i + 1] .. '=' .. v
end
redis.call('PUBLISH', ARGV[1], msg)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], now - tonumber(ARGV[3]), '+inf')) do
  out[#out + 1] = member
end
return out
";

/// Renews this instance's membership (scored by Redis's clock), forgets long-gone members, and
/// pings this instance's own channel. KEYS: members; ARGV: origin, own channel, ping, member TTL.
const RENEW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 10 * tonumber(ARGV[4]))
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
";

/// One L2 lookup: the epoch and the tags' counters, read in the same round trip as the entry.
pub(super) struct Read {
    pub epoch: Option<String>,
    pub counters: Vec<u64>,
    pub entry: Option<Vec<u8>>,
    /// Milliseconds the entry has left (`PTTL`).
    pub pttl: i64,
}

/// A message from another instance (on `inv`) or for this one (on its own `ack:` channel).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Message {
    /// `i <epoch> <origin>.<seq> TAG=v ...`: counters after an invalidation, to be confirmed to
    /// `origin` (`from`; absent from versions that did not ask for confirmations).
    Invalidated { epoch: String, tags: Vec<(String, u64)>, from: Option<(String, u64)> },
    /// `e <epoch> <origin>`: the epoch was rotated; every entry is retired.
    Epoch(String),
    /// `a <seq> <origin>`: `origin` applied our invalidation `seq`.
    Confirmed { seq: u64, from: String },
    /// `p <seq>`: our own ping came back (see [`super::confirm`]).
    Renewed(u64),
}

pub(super) struct Shared {
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    /// This instance's id on the channel, to skip its own messages.
    origin: String,
    /// The fixed names under the prefix, spelled once (the epoch is read on every lookup).
    epoch_key: String,
    inv_channel: String,
    members_key: String,
    /// This instance's `ack:<origin>` channel: confirmations for it and its own pings.
    own_channel: String,
    script: redis::Script,
    renew: redis::Script,
    pub confirmations: Confirmations,
    /// Seconds since start when a write last went unconfirmed was logged (one line per 10 s).
    unconfirmed_logged: AtomicU64,
    started: std::time::Instant,
    /// Rings when a request marks the tier down, so the link task reconnects at once.
    pub wake: Arc<Notify>,
    outage_logged: AtomicBool,
    outages: AtomicU64,
}

impl Shared {
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> anyhow::Result<Shared> {
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("REDIS_URL is invalid: {e}"))?;
        let origin = crate::ids::random_hex(6);
        Ok(Shared {
            client,
            prefix: prefix.to_string(),
            timeout,
            epoch_key: format!("{prefix}epoch"),
            inv_channel: format!("{prefix}inv"),
            members_key: format!("{prefix}members"),
            own_channel: format!("{prefix}ack:{origin}"),
            origin,
            script: redis::Script::new(INVALIDATE),
            renew: redis::Script::new(RENEW),
            confirmations: Confirmations::default(),
            unconfirmed_logged: AtomicU64::new(u64::MAX),
            started: std::time::Instant::now(),
            wake: Arc::new(Notify::new()),
            outage_logged: AtomicBool::new(false),
            outages: AtomicU64::new(0),
        })
    }

    fn entry_key(&self, base: &str) -> String {
        format!("{}c:{base}", self.prefix)
    }
    fn tag_key(&self, tag: &str) -> String {
        format!("{}t:{tag}", self.prefix)
    }
    fn epoch_key(&self) -> &str {
        &self.epoch_key
    }
    fn channel(&self) -> &str {
        &self.inv_channel
    }
    fn members_key(&self) -> &str {
        &self.members_key
    }
    fn ack_channel(&self, origin: &str) -> String {
        format!("{}ack:{origin}", self.prefix)
    }

    pub fn outages(&self) -> u64 {
        self.outages.load(Ordering::Relaxed)
    }

    /// Logs the start of an outage, once however many requests fail during it.
    pub fn report_outage(&self, reason: &str) {
        if !self.outage_logged.swap(true, Ordering::SeqCst) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            stats::l2_outage();
            tracing::error!(
                error = reason,
                "cache: Redis unavailable; serving from memory and the database until it is back"
            );
        }
        stats::l2_available(false);
    }

    fn report_up(&self) {
        if self.outage_logged.swap(false, Ordering::SeqCst) {
            tracing::info!("cache: Redis is back; shared tier in use again");
        } else {
            tracing::info!("cache: shared tier connected");
        }
        stats::l2_available(true);
    }

    async fn bounded<T>(
        &self,
        what: &str,
        limit: Duration,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(limit, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                stats::l2_error();
                Err(format!("{what}: {e}"))
            }
            Err(_) => {
                stats::l2_error();
                Err(format!("{what}: no answer within {limit:?}"))
            }
        }
    }

    /// Reads the epoch, the tags' counters, the entry and its remaining lifetime in one round trip.
    pub async fn read(&self, link: &Link, base: &str, tags: &[String]) -> Result<Read, String> {
        let entry_key = self.entry_key(base);
        let mut pipe = redis::pipe();
        pipe.cmd("MGET").arg(self.epoch_key());
        for tag in tags {
            pipe.arg(self.tag_key(tag));
        }
        pipe.cmd("GET").arg(&entry_key).cmd("PTTL").arg(&entry_key);
        let mut conn = link.conn.clone();
        let (values, entry, pttl): (Vec<Option<String>>, Option<Vec<u8>>, i64) =
            self.bounded("cache read", self.timeout, pipe.query_async(&mut conn)).await?;
        let mut values = values.into_iter();
        let epoch = values.next().flatten();
        let counters = values.map(|v| v.and_then(|s| s.parse().ok()).unwrap_or(0)).collect();
        Ok(Read { epoch, counters, entry, pttl })
    }

    /// Reads the epoch and the tags' counters only (no entry): one round trip.
    pub async fn counters(&self, link: &Link, tags: &[String]) -> Result<(Option<String>, Vec<u64>), String> {
        let mut cmd = redis::cmd("MGET");
        cmd.arg(self.epoch_key());
        for tag in tags {
            cmd.arg(self.tag_key(tag));
        }
        let mut conn = link.conn.clone();
        let values: Vec<Option<String>> =
            self.bounded("cache versions", self.timeout, cmd.query_async(&mut conn)).await?;
        let mut values = values.into_iter();
        let epoch = values.next().flatten();
        Ok((epoch, values.map(|v| v.and_then(|s| s.parse().ok()).unwrap_or(0)).collect()))
    }

    /// Stores a body stamped with the epoch and counters read before its load began.
    pub async fn store(
        &self,
        link: &Link,
        base: &str,
        stamp: Stamp<'_>,
        body: &[u8],
        ttl: Duration,
    ) -> Result<(), String> {
        let value = encode(stamp, body);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.entry_key(base)).arg(value).arg("PX").arg(ttl_ms);
        let mut conn = link.conn.clone();
        self.bounded("cache write", self.timeout, cmd.query_async::<()>(&mut conn)).await?;
        stats::l2_write();
        Ok(())
    }

    /// Increments the tags' counters and publishes them, then waits until every other member
    /// applied them (at most [`LEASE`], see [`super::confirm`]). `Ok(None)`: Redis lost its data.
    pub async fn invalidate(&self, link: &Link, tags: &[String]) -> Result<Option<(String, Vec<u64>)>, String> {
        let (seq, all_confirmed) = self.confirmations.open();
        let mut call = self.script.key(self.epoch_key());
        call.key(self.members_key());
        for tag in tags {
            call.key(self.tag_key(tag));
        }
        call.arg(self.channel()).arg(format!("{}.{seq}", self.origin)).arg(MEMBER_TTL.as_millis() as u64);
        for tag in tags {
            call.arg(tag);
        }
        let mut conn = link.conn.clone();
        let out =
            match self.bounded("cache invalidation", self.timeout, call.invoke_async::<Vec<String>>(&mut conn)).await {
                Ok(out) => out,
                Err(reason) => {
                    self.confirmations.close(seq);
                    return Err(reason);
                }
            };
        let mut out = out.into_iter();
        let Some(epoch) = out.next() else {
            self.confirmations.close(seq);
            return Ok(None);
        };
        let counters = out.by_ref().take(tags.len()).map(|v| v.parse().unwrap_or(0)).collect();
        self.confirmations.expect(seq, out.filter(|member| *member != self.origin));
        let confirmed = tokio::time::timeout(LEASE, all_confirmed).await.is_ok();
        let silent = self.confirmations.close(seq);
        if !confirmed {
            self.report_unconfirmed(&silent);
        }
        Ok(Some((epoch, counters)))
    }

    /// A write waited the whole lease for members that did not confirm: logged once per 10 s.
    fn report_unconfirmed(&self, silent: &[String]) {
        stats::unconfirmed();
        let now = self.started.elapsed().as_secs();
        let last = self.unconfirmed_logged.load(Ordering::Relaxed);
        if (last == u64::MAX || now >= last + 10)
            && self.unconfirmed_logged.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            tracing::warn!(
                members = ?silent,
                wait = ?LEASE,
                "cache: instances did not confirm an invalidation (stopped or cut off from Redis); writes wait for them \
                 until their membership lapses"
            );
        }
    }

    /// Tells `origin` that its invalidation `seq` is applied here (in the background: the
    /// listener goes on with the next message).
    fn confirm(&self, link: &Link, origin: &str, seq: u64) {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(self.ack_channel(origin)).arg(format!("a {seq} {}", self.origin));
        let mut conn = link.conn.clone();
        let limit = self.timeout;
        tokio::spawn(async move {
            if tokio::time::timeout(limit, cmd.query_async::<()>(&mut conn)).await.is_err() {
                stats::l2_error();
            }
        });
    }

    /// Renews the membership and sends ping `seq` (in the background).
    fn renew(&self, link: &Link, seq: u64, failed: impl FnOnce(String) + Send + 'static) {
        let (script, members, origin) = (self.renew.clone(), self.members_key.clone(), self.origin.clone());
        let own_channel = self.own_channel.clone();
        let mut conn = link.conn.clone();
        let limit = self.timeout;
        tokio::spawn(async move {
            let mut call = script.key(members);
            call.arg(origin).arg(own_channel).arg(format!("p {seq}")).arg(MEMBER_TTL.as_millis() as u64);
            match tokio::time::timeout(limit, call.invoke_async::<()>(&mut conn)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed(format!("cache renewal: {e}")),
                Err(_) => failed(format!("cache renewal: no answer within {limit:?}")),
            }
        });
    }

    /// Leaves the members (a stopping instance: writers stop waiting for it at once).
    pub async fn leave(&self, link: &Link) {
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(self.members_key()).arg(&self.origin);
        let mut conn = link.conn.clone();
        let _ = self.bounded("cache leave", self.timeout, cmd.query_async::<()>(&mut conn)).await;
    }

    /// Opens the command connection and the subscription.
    async fn connect(&self) -> Result<(MultiplexedConnection, PubSubSink, PubSubStream), String> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(self.timeout));
        let conn = self
            .bounded("connect", CONNECT_TIMEOUT * 2, self.client.get_multiplexed_async_connection_with_config(&config))
            .await?;
        let pubsub = self.bounded("subscribe", CONNECT_TIMEOUT * 2, self.client.get_async_pubsub()).await?;
        let (mut sink, stream) = pubsub.split();
        let channels = [self.channel(), self.own_channel.as_str()];
        self.bounded("subscribe", CONNECT_TIMEOUT, sink.subscribe(&channels)).await?;
        Ok((conn, sink, stream))
    }

    /// The epoch to use on a new link: a fresh one, announced, when `rotate`; otherwise the
    /// current one (created if Redis has none).
    async fn settle_epoch(&self, link: &Link, rotate: bool) -> Result<String, String> {
        let fresh = crate::ids::random_hex(8);
        let mut conn = link.conn.clone();
        let mut pipe = redis::pipe();
        if rotate {
            pipe.cmd("SET").arg(self.epoch_key()).arg(&fresh).ignore();
            pipe.cmd("PUBLISH").arg(self.channel()).arg(format!("e {fresh} {}", self.origin)).ignore();
            self.bounded("epoch rotation", CONNECT_TIMEOUT, pipe.query_async::<()>(&mut conn)).await?;
            Ok(fresh)
        } else {
            pipe.cmd("SET").arg(self.epoch_key()).arg(&fresh).arg("NX").ignore();
            pipe.cmd("GET").arg(self.epoch_key());
            let (epoch,): (String,) = self.bounded("epoch", CONNECT_TIMEOUT, pipe.query_async(&mut conn)).await?;
            Ok(epoch)
        }
    }

    /// Checks both connections of a link, and samples the size of the Redis database.
    async fn probe(&self, link: &Link, sink: &mut PubSubSink) -> Result<(), String> {
        let mut conn = link.conn.clone();
        let mut pipe = redis::pipe();
        pipe.cmd("PING").ignore().cmd("DBSIZE");
        let (keys,): (u64,) = self.bounded("ping", CONNECT_TIMEOUT, pipe.query_async(&mut conn)).await?;
        stats::l2_keys(keys);
        self.bounded("subscription ping", CONNECT_TIMEOUT, sink.ping::<()>()).await
    }

    /// Parses a channel message; `None` for our own announcements and anything malformed.
    pub fn parse(&self, payload: &[u8]) -> Option<Message> {
        let text = std::str::from_utf8(payload).ok()?;
        let mut parts = text.split(' ');
        match parts.next()? {
            "a" => Some(Message::Confirmed { seq: parts.next()?.parse().ok()?, from: parts.next()?.to_string() }),
            "p" => Some(Message::Renewed(parts.next()?.parse().ok()?)),
            kind @ ("e" | "i") => {
                let epoch = parts.next()?.to_string();
                let sender = parts.next()?;
                let (origin, seq) = match sender.split_once('.') {
                    Some((origin, seq)) => (origin, seq.parse().ok()),
                    None => (sender, None),
                };
                if origin == self.origin {
                    return None;
                }
                if kind == "e" {
                    return Some(Message::Epoch(epoch));
                }
                let tags = parts
                    .map(|p| p.rsplit_once('=').and_then(|(t, v)| Some((t.to_string(), v.parse().ok()?))))
                    .collect::<Option<Vec<_>>>()?;
                Some(Message::Invalidated { epoch, tags, from: seq.map(|s| (origin.to_string(), s)) })
            }
            _ => None,
        }
    }
}

/// What an L2 entry was loaded under: the epoch and the tags' counters read before the load.
#[derive(Clone, Copy)]
pub(super) struct Stamp<'a> {
    pub epoch: &'a str,
    pub tags: &'a [String],
    pub counters: &'a [u64],
}

/// `v1 <epoch> <tag>=<n>,<tag>=<n>\n<body>` (`-` for no tags): small and readable in redis-cli.
fn encode(stamp: Stamp<'_>, body: &[u8]) -> Vec<u8> {
    let tags: Vec<String> = stamp.tags.iter().zip(stamp.counters).map(|(t, v)| format!("{t}={v}")).collect();
    let tags = if tags.is_empty() { "-".to_string() } else { tags.join(",") };
    let mut out = format!("v1 {} {tags}\n", stamp.epoch).into_bytes();
    out.extend_from_slice(body);
    out
}

/// The body of a stored entry if it was loaded under exactly `current` (same epoch, same tags,
/// same counters); `None` for anything else, including values this version cannot read.
pub(super) fn current_body(raw: &[u8], current: Stamp<'_>) -> Option<Bytes> {
    let newline = raw.iter().position(|b| *b == b'\n')?;
    let header = std::str::from_utf8(&raw[..newline]).ok()?;
    if header != std::str::from_utf8(&encode(current, b"")).ok()?.trim_end_matches('\n') {
        return None;
    }
    Some(Bytes::copy_from_slice(&raw[newline + 1..]))
}

/// The link task: connect, settle the epoch, then listen and probe until something fails;
/// repeat. Ends when the cache is dropped.
pub(super) async fn run(weak: Weak<Inner>, wake: Arc<Notify>) {
    loop {
        let pause = match connect_once(&weak, &wake).await {
            Step::Dropped => return,
            Step::Failed => PROBE_EVERY,
            // Soon, but not in a tight loop: every reconnection rotates the epoch.
            Step::Lost => PROBE_EVERY / 4,
        };
        tokio::time::sleep(pause).await;
    }
}

enum Step {
    Dropped,
    Failed,
    Lost,
}

async fn connect_once(weak: &Weak<Inner>, wake: &Notify) -> Step {
    let Some(inner) = weak.upgrade() else { return Step::Dropped };
    let Some(shared) = inner.shared.as_ref() else { return Step::Dropped };
    let (conn, mut sink, mut stream) = match shared.connect().await {
        Ok(parts) => parts,
        Err(reason) => {
            shared.report_outage(&reason);
            return Step::Failed;
        }
    };
    // Phase one: invalidations go to Redis from here on; reads wait for the epoch. A new epoch
    // is needed if we were linked before (we may have missed messages, and Redis may have lost
    // counters) or if writes happened here that Redis never heard of.
    let (link, rotate) = {
        let mut state = inner.lock();
        let link = state.link_up(conn);
        (link, state.ever_linked || state.local_only_writes > 0)
    };
    let epoch = match shared.settle_epoch(&link, rotate).await {
        Ok(epoch) => epoch,
        Err(reason) => {
            inner.mark_down(Some(link.serial), &reason);
            return Step::Failed;
        }
    };
    if !inner.lock().open_reads(link.serial, &epoch) {
        return Step::Lost;
    }
    shared.report_up();
    drop(inner);

    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    // Renewals start at once: the first one makes this instance a member.
    let mut renew = tokio::time::interval(RENEW_EVERY);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut renewals = Renewals::default();
    loop {
        let failure = tokio::select! {
            msg = stream.next() => match msg {
                Some(msg) => {
                    let Some(inner) = weak.upgrade() else { return Step::Dropped };
                    let Some(shared) = inner.shared.as_ref() else { return Step::Dropped };
                    match shared.parse(msg.get_payload_bytes()) {
                        Some(Message::Invalidated { epoch, tags, from }) => {
                            inner.apply_invalidation(&epoch, &tags);
                            if let Some((origin, seq)) = from {
                                shared.confirm(&link, &origin, seq);
                            }
                        }
                        Some(Message::Epoch(epoch)) => {
                            inner.lock().adopt(&epoch);
                        }
                        Some(Message::Confirmed { seq, from }) => shared.confirmations.confirmed(seq, &from),
                        Some(Message::Renewed(seq)) => {
                            if let Some(sent) = renewals.returned(seq) {
                                inner.lock().renewed(link.serial, sent);
                            }
                        }
                        None => {}
                    }
                    continue;
                }
                None => "subscription closed".to_string(),
            },
            _ = renew.tick() => {
                let Some(inner) = weak.upgrade() else { return Step::Dropped };
                let Some(shared) = inner.shared.as_ref() else { return Step::Dropped };
                let seq = renewals.send(std::time::Instant::now());
                let (failing, serial) = (weak.clone(), link.serial);
                shared.renew(&link, seq, move |reason| {
                    if let Some(inner) = failing.upgrade() {
                        inner.mark_down(Some(serial), &reason);
                    }
                });
                continue;
            }
            _ = tick.tick() => {
                let Some(inner) = weak.upgrade() else { return Step::Dropped };
                let Some(shared) = inner.shared.as_ref() else { return Step::Dropped };
                if !inner.is_current(link.serial) {
                    return Step::Lost;
                }
                match shared.probe(&link, &mut sink).await {
                    Ok(()) => continue,
                    Err(reason) => reason,
                }
            }
            _ = wake.notified() => {
                let Some(inner) = weak.upgrade() else { return Step::Dropped };
                if inner.is_current(link.serial) {
                    continue;
                }
                return Step::Lost;
            }
        };
        let Some(inner) = weak.upgrade() else { return Step::Dropped };
        inner.mark_down(Some(link.serial), &failure);
        return Step::Lost;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared::new("redis://127.0.0.1:1", "p:", Duration::from_millis(50)).unwrap()
    }

    #[test]
    fn entries_are_current_only_under_the_same_stamp() {
        let tags = vec!["DIR".to_string(), "CIT:1".to_string()];
        let stamp = Stamp { epoch: "e1", tags: &tags, counters: &[3, 0] };
        let raw = encode(stamp, b"{\"a\":1}\n");
        assert_eq!(current_body(&raw, stamp).as_deref(), Some(&b"{\"a\":1}\n"[..]));
        assert_eq!(current_body(&raw, Stamp { counters: &[4, 0], ..stamp }), None);
        assert_eq!(current_body(&raw, Stamp { epoch: "e2", ..stamp }), None);
        assert_eq!(current_body(&raw, Stamp { tags: &tags[..1], counters: &[3], ..stamp }), None);
        let none = Stamp { epoch: "e1", tags: &[], counters: &[] };
        assert_eq!(current_body(&encode(none, b"x"), none).as_deref(), Some(&b"x"[..]));
        assert_eq!(current_body(b"garbage", stamp), None);
    }

    #[test]
    fn messages_parse_and_our_own_are_skipped() {
        let s = shared();
        assert_eq!(
            s.parse(b"i e1 other DIR=3 CIT:ab=1"),
            Some(Message::Invalidated {
                epoch: "e1".into(),
                tags: vec![("DIR".into(), 3), ("CIT:ab".into(), 1)],
                from: None
            })
        );
        assert_eq!(
            s.parse(b"i e1 other.7 DIR=3"),
            Some(Message::Invalidated {
                epoch: "e1".into(),
                tags: vec![("DIR".into(), 3)],
                from: Some(("other".into(), 7))
            })
        );
        assert_eq!(s.parse(format!("i e1 {}.7 DIR=3", s.origin).as_bytes()), None);
        assert_eq!(s.parse(b"a 7 other"), Some(Message::Confirmed { seq: 7, from: "other".into() }));
        assert_eq!(s.parse(b"p 12"), Some(Message::Renewed(12)));
        assert_eq!(s.parse(b"e e2 other"), Some(Message::Epoch("e2".into())));
        assert_eq!(s.parse(format!("e e2 {}", s.origin).as_bytes()), None);
        assert_eq!(s.parse(b"i e1 other DIR=x"), None);
        assert_eq!(s.parse(b"x"), None);
    }
}
