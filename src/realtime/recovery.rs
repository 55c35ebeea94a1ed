//! Connection state recovery (docs/realtime.md): the Socket.IO 4.6+ protocol that
//! `socket.io-client` speaks by itself. A session has a private id (`pid`) that the `CONNECT`
//! answer carries; every event carries its offset as a last argument; a client reconnecting
//! with `{pid, offset}` within the window gets its rooms back and every event after `offset`,
//! once, in order, on any instance.
//!
//! - **Order.** Every event gets a sequence number `n` (a Redis counter, or a counter here),
//!   and the same step logs it in each room it goes to and hands it to delivery, atomically:
//!   every instance delivers events to its sockets in `n` order, so "after the offset" is exact.
//! - **Logs per room** (a user's room, a chat room, a session's own room for events to one
//!   socket), holding the window's events. **Sessions**: user, owning socket, and each room with
//!   the `n` at which it was joined.
//! - **Delivery** ([`Dispatcher`]): this instance's sockets by room. A socket being (re)attached
//!   is *held*: live events queue while its replay is read, then follow it.
//!
//! Without Redis everything lives in this process ([`Memory`]); with Redis ([`Shared`]) in keys
//! under `<prefix>sio:rec:`, and events reach the instances over one pub/sub channel.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde_json::Value;
use serde_json::value::RawValue;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::ids::Id;

/// A session's private id: 32 hex digits, known only to its client and the server.
pub type Pid = Arc<str>;

/// The most events a room's log keeps, whatever the window (a room flooded with typing
/// events). A client that missed events dropped this way is not recovered (it starts over).
const ROOM_LOG_MAX: usize = 5_000;
/// Logged events are kept this much longer than the window: an event emitted just before a
/// disconnection may still be on its way to the client.
const LOG_SLACK: Duration = Duration::from_secs(10);
/// How often live sessions are refreshed and expired ones swept, at most.
const MAINTAIN_EVERY: Duration = Duration::from_secs(30);
/// A socket held for its replay whose connection never completed is forgotten after this.
const HELD_LIMIT: Duration = Duration::from_secs(60);
/// Bound on each Redis call of recovery.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The room of events to one socket of a session.
fn own_room(pid: &str) -> String {
    format!("~{pid}")
}

/// What a handshake's `pid` must look like to be looked up.
fn valid_pid(pid: &str) -> bool {
    pid.len() == 32 && pid.bytes().all(|b| b.is_ascii_hexdigit())
}

fn outcome(outcome: &'static str) {
    metrics::counter!("nyaya_socket_recoveries_total", "outcome" => outcome).increment(1);
}

/// An event as logged and delivered: its place in the order of all events (the offset the
/// client sees), when it was emitted, the session it must not reach (the sender of
/// `socket.to(...)`), its name and its JSON payload.
#[derive(Debug)]
pub(crate) struct Packet {
    n: u64,
    at_ms: u64,
    except: Option<Pid>,
    event: Box<str>,
    payload: Box<RawValue>,
}

impl Packet {
    /// Parses `n \t ms \t except \t event \t payload` (a log entry).
    fn parse(line: &str) -> Option<Packet> {
        let mut parts = line.splitn(5, '\t');
        let n = parts.next()?.parse().ok()?;
        let at_ms = parts.next()?.parse().ok()?;
        let except = parts.next().filter(|e| !e.is_empty()).map(Pid::from);
        let event = parts.next()?.into();
        let payload = RawValue::from_string(parts.next()?.to_string()).ok()?;
        Some(Packet { n, at_ms, except, event, payload })
    }
}

/// An event on its way out of this instance.
#[derive(Debug)]
struct Outgoing {
    rooms: Vec<String>,
    except: Option<Pid>,
    event: String,
    payload: Box<RawValue>,
}

/// A socket as delivery sees it.
pub(crate) trait Sink: Send + Sync + 'static {
    /// Sends one event, with its offset as the last argument when it has one.
    fn send(&self, event: &str, payload: &RawValue, offset: Option<&str>) -> bool;
    fn connected(&self) -> bool;
}

impl<A: Adapter> Sink for SocketRef<A> {
    fn send(&self, event: &str, payload: &RawValue, offset: Option<&str>) -> bool {
        let sent = match offset {
            Some(offset) => self.emit(event, &(payload, offset)),
            None => self.emit(event, payload),
        };
        if let Err(e) = &sent {
            metrics::counter!("nyaya_socket_send_failures_total").increment(1);
            tracing::debug!(event, error = %e, "could not send to a socket");
        }
        sent.is_ok()
    }

    fn connected(&self) -> bool {
        std::ops::Deref::deref(self).connected()
    }
}

// ---- delivery on this instance ----

struct Entry {
    sid: String,
    sink: Arc<dyn Sink>,
    rooms: HashSet<String>,
    /// Events held back while the socket's replay is read (None: live).
    held: Option<Vec<Arc<Packet>>>,
    held_since: Instant,
    /// The last event this socket was sent (or, before that, the client's offset).
    last: u64,
}

#[derive(Default)]
struct Index {
    entries: HashMap<Pid, Entry>,
    rooms: HashMap<String, HashSet<Pid>>,
}

impl Index {
    fn remove(&mut self, pid: &Pid) {
        if let Some(entry) = self.entries.remove(pid) {
            for room in entry.rooms {
                if let Some(members) = self.rooms.get_mut(&room) {
                    members.remove(pid);
                    if members.is_empty() {
                        self.rooms.remove(&room);
                    }
                }
            }
        }
    }

    /// The sessions in any of `rooms`, but `except`, each once.
    fn targets(&self, rooms: &[String], except: Option<&Pid>) -> Vec<Pid> {
        let mut out: Vec<Pid> = Vec::new();
        for room in rooms {
            if let Some(members) = self.rooms.get(room) {
                out.extend(members.iter().filter(|p| Some(*p) != except).cloned());
            }
        }
        if rooms.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
        out
    }
}

/// This instance's sockets by session and by room.
#[derive(Default)]
pub(crate) struct Dispatcher {
    index: Mutex<Index>,
}

impl Dispatcher {
    /// Adds a socket, held (its events queue until [`Dispatcher::open`]). A socket already
    /// registered for the session here is replaced (the session moved to the new one).
    fn register(&self, pid: &Pid, sid: &str, sink: Arc<dyn Sink>, rooms: &[String], last: u64) {
        let mut index = lock(&self.index);
        index.remove(pid);
        for room in rooms {
            index.rooms.entry(room.clone()).or_default().insert(pid.clone());
        }
        let entry = Entry {
            sid: sid.to_string(),
            sink,
            rooms: rooms.iter().cloned().collect(),
            held: Some(Vec::new()),
            held_since: Instant::now(),
            last,
        };
        index.entries.insert(pid.clone(), entry);
    }

    /// Removes the socket `sid` of the session (not a newer socket that took it over).
    fn unregister(&self, pid: &Pid, sid: &str) {
        let mut index = lock(&self.index);
        if index.entries.get(pid).is_some_and(|e| e.sid == sid) {
            index.remove(pid);
        }
    }

    fn join(&self, pid: &Pid, room: &str) {
        let mut index = lock(&self.index);
        let Some(entry) = index.entries.get_mut(pid) else { return };
        if entry.rooms.insert(room.to_string()) {
            index.rooms.entry(room.to_string()).or_default().insert(pid.clone());
        }
    }

    fn leave(&self, pid: &Pid, room: &str) {
        let mut index = lock(&self.index);
        let Some(entry) = index.entries.get_mut(pid) else { return };
        if entry.rooms.remove(room)
            && let Some(members) = index.rooms.get_mut(room)
        {
            members.remove(pid);
            if members.is_empty() {
                index.rooms.remove(room);
            }
        }
    }

    /// Delivers a logged event to this instance's sockets in its rooms (called in `n` order).
    fn deliver(&self, packet: &Arc<Packet>, rooms: &[String]) {
        let mut index = lock(&self.index);
        let targets = index.targets(rooms, packet.except.as_ref());
        if targets.is_empty() {
            return;
        }
        let offset = packet.n.to_string();
        for pid in targets {
            let Some(entry) = index.entries.get_mut(&pid) else { continue };
            match &mut entry.held {
                Some(queue) => queue.push(packet.clone()),
                None if packet.n > entry.last => {
                    entry.sink.send(&packet.event, &packet.payload, Some(&offset));
                    entry.last = packet.n;
                }
                None => {}
            }
        }
    }

    /// Delivers an event that could not be logged (Redis unavailable): to this instance's
    /// sockets only, without an offset (the client's last offset stays valid).
    fn deliver_unlogged(&self, out: &Outgoing) {
        let index = lock(&self.index);
        for pid in index.targets(&out.rooms, out.except.as_ref()) {
            if let Some(entry) = index.entries.get(&pid)
                && entry.held.is_none()
            {
                entry.sink.send(&out.event, &out.payload, None);
            }
        }
    }

    /// Sends the replay (events up to `seq`, in order), then the events held meanwhile that
    /// come after `seq`, and makes the socket live.
    fn open(&self, pid: &Pid, sid: &str, replay: &[Arc<Packet>], seq: u64) -> usize {
        let mut index = lock(&self.index);
        let Some(entry) = index.entries.get_mut(pid).filter(|e| e.sid == sid) else { return 0 };
        let mut sent = 0;
        for packet in replay {
            if packet.n > entry.last {
                entry.sink.send(&packet.event, &packet.payload, Some(&packet.n.to_string()));
                entry.last = packet.n;
                sent += 1;
            }
        }
        for packet in entry.held.take().unwrap_or_default() {
            if packet.n > seq && packet.n > entry.last {
                entry.sink.send(&packet.event, &packet.payload, Some(&packet.n.to_string()));
                entry.last = packet.n;
            }
        }
        sent
    }

    /// Holds every live socket (their events queue) and returns what a resynchronisation
    /// needs: session, socket, rooms and last event sent.
    fn hold_all(&self) -> Vec<(Pid, String, Vec<String>, u64)> {
        let mut index = lock(&self.index);
        let mut out = Vec::new();
        for (pid, entry) in index.entries.iter_mut().filter(|(_, e)| e.held.is_none()) {
            entry.held = Some(Vec::new());
            entry.held_since = Instant::now();
            out.push((pid.clone(), entry.sid.clone(), entry.rooms.iter().cloned().collect(), entry.last));
        }
        out
    }

    /// Every socket here: (session, socket id).
    fn sessions(&self) -> Vec<(Pid, String)> {
        lock(&self.index).entries.iter().map(|(pid, e)| (pid.clone(), e.sid.clone())).collect()
    }

    /// Forgets sockets held for longer than [`HELD_LIMIT`] whose connection is gone (their
    /// handshake failed after they were registered).
    fn sweep(&self) {
        let mut index = lock(&self.index);
        let stale: Vec<Pid> = index
            .entries
            .iter()
            .filter(|(_, e)| e.held.is_some() && e.held_since.elapsed() > HELD_LIMIT && !e.sink.connected())
            .map(|(pid, _)| pid.clone())
            .collect();
        for pid in stale {
            index.remove(&pid);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.index).entries.len()
    }
}

// ---- what the stores answer ----

/// The logs of a session's rooms, read at once, with the sequence number of that moment.
struct Read {
    seq: u64,
    /// Per room (in the order asked): the newest event dropped from the log for its length
    /// (0: none), and the logged events.
    rooms: Vec<(u64, Vec<Arc<Packet>>)>,
}

impl Read {
    /// The events a session missed after `offset`, in order: for each room, those after it was
    /// joined, without the session's own `socket.to(...)` events. None when some of them are
    /// no longer in a log.
    fn replay(&self, pid: &Pid, offset: u64, rooms: &[(String, u64)]) -> Option<Vec<Arc<Packet>>> {
        let mut out = BTreeMap::new();
        for ((_, joined), (cut, packets)) in rooms.iter().zip(&self.rooms) {
            let from = offset.max(*joined);
            if *cut > from {
                return None;
            }
            for packet in packets.iter().filter(|p| p.n > from && p.except.as_ref() != Some(pid)) {
                out.entry(packet.n).or_insert_with(|| packet.clone());
            }
        }
        Some(out.into_values().collect())
    }
}

/// A session found by its pid.
enum Found {
    /// The user's session: its rooms with the `n` each was joined at.
    Mine(Vec<(String, u64)>),
    /// Another user's.
    Foreign,
    /// Unknown or expired.
    Unknown,
}

// ---- in-process store ----

struct StoredSession {
    user: Id,
    owner: Option<String>,
    rooms: HashMap<String, u64>,
    /// Since when no socket holds it (it expires a window later).
    away_since: Option<Instant>,
}

#[derive(Default)]
struct Log {
    packets: VecDeque<Arc<Packet>>,
    cut: u64,
}

/// Sessions and logs of one process (no Redis).
#[derive(Default)]
struct Memory {
    seq: u64,
    sessions: HashMap<Pid, StoredSession>,
    logs: HashMap<String, Log>,
}

impl Memory {
    /// Logs an event in its rooms and delivers it, in one step (under the store's lock).
    fn emit(&mut self, out: Outgoing, keep: Duration, dispatcher: &Dispatcher) {
        self.seq += 1;
        let now = now_ms();
        let packet = Arc::new(Packet {
            n: self.seq,
            at_ms: now,
            except: out.except,
            event: out.event.into(),
            payload: out.payload,
        });
        let oldest = now.saturating_sub(keep.as_millis() as u64);
        for room in &out.rooms {
            let log = self.logs.entry(room.clone()).or_default();
            log.packets.push_back(packet.clone());
            while log.packets.front().is_some_and(|p| p.at_ms < oldest) {
                log.packets.pop_front();
            }
            while log.packets.len() > ROOM_LOG_MAX {
                if let Some(dropped) = log.packets.pop_front() {
                    log.cut = dropped.n;
                }
            }
        }
        dispatcher.deliver(&packet, &out.rooms);
    }

    fn create(&mut self, pid: &Pid, user: &Id, sid: &str, rooms: &[String]) -> u64 {
        let session = StoredSession {
            user: user.clone(),
            owner: Some(sid.to_string()),
            rooms: rooms.iter().map(|r| (r.clone(), self.seq)).collect(),
            away_since: None,
        };
        self.sessions.insert(pid.clone(), session);
        self.seq
    }

    fn restore(&mut self, pid: &Pid, user: &Id, sid: &str, window: Duration) -> Found {
        let Some(session) = self.sessions.get_mut(pid) else { return Found::Unknown };
        if session.away_since.is_some_and(|t| t.elapsed() > window) {
            self.sessions.remove(pid);
            return Found::Unknown;
        }
        if session.user != *user {
            return Found::Foreign;
        }
        session.owner = Some(sid.to_string());
        session.away_since = None;
        Found::Mine(session.rooms.iter().map(|(r, n)| (r.clone(), *n)).collect())
    }

    fn read(&self, rooms: &[(String, u64)]) -> Read {
        let rooms = rooms
            .iter()
            .map(|(room, _)| match self.logs.get(room) {
                Some(log) => (log.cut, log.packets.iter().cloned().collect()),
                None => (0, Vec::new()),
            })
            .collect();
        Read { seq: self.seq, rooms }
    }

    fn join(&mut self, pid: &Pid, room: &str) {
        let seq = self.seq;
        if let Some(session) = self.sessions.get_mut(pid) {
            session.rooms.insert(room.to_string(), seq);
        }
    }

    fn leave(&mut self, pid: &Pid, room: &str) {
        if let Some(session) = self.sessions.get_mut(pid) {
            session.rooms.remove(room);
        }
    }

    /// The socket `sid` left: the session is kept for the window (`keep`) or forgotten.
    fn release(&mut self, pid: &Pid, sid: &str, keep: bool) {
        let Some(session) = self.sessions.get_mut(pid) else { return };
        if session.owner.as_deref() != Some(sid) {
            return;
        }
        if keep {
            session.owner = None;
            session.away_since = Some(Instant::now());
        } else {
            self.sessions.remove(pid);
        }
    }

    /// Forgets expired sessions and events older than the logs keep.
    fn sweep(&mut self, window: Duration, keep: Duration) {
        self.sessions.retain(|_, s| s.away_since.is_none_or(|t| t.elapsed() <= window));
        let oldest = now_ms().saturating_sub(keep.as_millis() as u64);
        self.logs.retain(|_, log| {
            while log.packets.front().is_some_and(|p| p.at_ms < oldest) {
                log.packets.pop_front();
            }
            !log.packets.is_empty()
        });
    }
}

// ---- Redis store ----

/// Logs an event: the next sequence number, an entry in each room's log (trimmed to the
/// window and to ROOM_LOG_MAX, the newest entry dropped for length remembered), and the event
/// published to every instance, in one step.
/// ARGV: prefix, keep ms, max entries, except, event, payload, rooms (JSON), room...
const EMIT: &str = r"
local p, keep, cap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local n = redis.call('INCR', p .. 'seq')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local head = string.format('%d\t%d\t', n, now) .. ARGV[4] .. '\t'
local entry = head .. ARGV[5] .. '\t' .. ARGV[6]
for i = 8, #ARGV do
  local key = p .. 'l:' .. ARGV[i]
  local len = redis.call('RPUSH', key, entry)
  local first = redis.call('LINDEX', key, 0)
  while first do
    local at = tonumber(string.match(first, '^%d+\t(%d+)\t'))
    if at == nil or at >= now - keep then break end
    redis.call('LPOP', key)
    len = len - 1
    first = redis.call('LINDEX', key, 0)
  end
  if len > cap then
    local dropped = redis.call('LINDEX', key, len - cap - 1)
    redis.call('SET', p .. 'c:' .. ARGV[i], string.match(dropped, '^(%d+)'), 'PX', keep)
    redis.call('LTRIM', key, len - cap, -1)
  end
  redis.call('PEXPIRE', key, keep)
end
redis.call('PUBLISH', p .. 'deliver', head .. ARGV[7] .. '\t' .. ARGV[5] .. '\t' .. ARGV[6])
return n
";

/// A new session, its rooms joined now. ARGV: prefix, pid, user, sid, ttl ms, room...
const CREATE: &str = r"
local p = ARGV[1]
local key = p .. 's:' .. ARGV[2]
local n = redis.call('GET', p .. 'seq') or '0'
redis.call('DEL', key)
redis.call('HSET', key, 'u', ARGV[3], 'o', ARGV[4])
for i = 6, #ARGV do
  redis.call('HSET', key, 'r:' .. ARGV[i], n)
end
redis.call('PEXPIRE', key, ARGV[5])
return n
";

/// A session taken by a new socket, if it is the user's: 0 unknown, -1 another user's, else
/// its fields. ARGV: prefix, pid, user, sid, ttl ms.
const RESTORE: &str = r"
local key = ARGV[1] .. 's:' .. ARGV[2]
local user = redis.call('HGET', key, 'u')
if not user then return 0 end
if user ~= ARGV[3] then return -1 end
redis.call('HSET', key, 'o', ARGV[4])
redis.call('PEXPIRE', key, ARGV[5])
return redis.call('HGETALL', key)
";

/// The sequence number, then for each room its cut and its log. ARGV: prefix, room...
const READ: &str = r"
local p = ARGV[1]
local out = { redis.call('GET', p .. 'seq') or '0' }
for i = 2, #ARGV do
  out[#out + 1] = redis.call('GET', p .. 'c:' .. ARGV[i]) or '0'
  out[#out + 1] = redis.call('LRANGE', p .. 'l:' .. ARGV[i], 0, -1)
end
return out
";

/// A room joined now by a session that exists. ARGV: prefix, pid, room.
const JOIN: &str = r"
local key = ARGV[1] .. 's:' .. ARGV[2]
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HSET', key, 'r:' .. ARGV[3], redis.call('GET', ARGV[1] .. 'seq') or '0')
return 1
";

/// The socket `sid` left a session it still owns: kept for the window ('1') or deleted.
/// ARGV: prefix, pid, sid, keep, window ms.
const RELEASE: &str = r"
local key = ARGV[1] .. 's:' .. ARGV[2]
if redis.call('HGET', key, 'o') ~= ARGV[3] then return 0 end
if ARGV[4] == '1' then
  redis.call('HSET', key, 'o', '')
  redis.call('PEXPIRE', key, ARGV[5])
else
  redis.call('DEL', key)
end
return 1
";

struct Shared {
    client: redis::Client,
    conn: ConnectionManager,
    /// `<REDIS_PREFIX>sio:rec:`
    prefix: String,
    emit: redis::Script,
    create: redis::Script,
    restore: redis::Script,
    read: redis::Script,
    join: redis::Script,
    release: redis::Script,
}

impl Shared {
    async fn connect(url: &str, prefix: &str) -> anyhow::Result<Shared> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT));
        let conn = client.get_connection_manager_with_config(config).await?;
        Ok(Shared {
            client,
            conn,
            prefix: format!("{prefix}sio:rec:"),
            emit: redis::Script::new(EMIT),
            create: redis::Script::new(CREATE),
            restore: redis::Script::new(RESTORE),
            read: redis::Script::new(READ),
            join: redis::Script::new(JOIN),
            release: redis::Script::new(RELEASE),
        })
    }

    fn channel(&self) -> String {
        format!("{}deliver", self.prefix)
    }

    /// Runs one script (loading it first if Redis does not have it).
    async fn call<T: redis::FromRedisValue>(&self, script: &redis::Script, cmd: redis::Cmd) -> redis::RedisResult<T> {
        let mut conn = self.conn.clone();
        match cmd.query_async(&mut conn).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                script.load_async(&mut conn).await?;
                cmd.query_async(&mut conn).await
            }
            other => other,
        }
    }

    async fn create(
        &self,
        pid: &Pid,
        user: &Id,
        sid: &str,
        rooms: &[String],
        ttl: Duration,
    ) -> redis::RedisResult<u64> {
        let mut cmd = evalsha(&self.create);
        cmd.arg(&self.prefix).arg(pid.as_ref()).arg(user.as_str()).arg(sid).arg(ttl.as_millis() as u64);
        for room in rooms {
            cmd.arg(room);
        }
        let n: String = self.call(&self.create, cmd).await?;
        Ok(n.parse().unwrap_or(0))
    }

    async fn restore(&self, pid: &Pid, user: &Id, sid: &str, ttl: Duration) -> redis::RedisResult<Found> {
        let mut cmd = evalsha(&self.restore);
        cmd.arg(&self.prefix).arg(pid.as_ref()).arg(user.as_str()).arg(sid).arg(ttl.as_millis() as u64);
        let answer: redis::Value = self.call(&self.restore, cmd).await?;
        Ok(match answer {
            redis::Value::Int(-1) => Found::Foreign,
            redis::Value::Array(fields) => {
                let fields: Vec<String> = fields.iter().filter_map(|v| redis::from_redis_value_ref(v).ok()).collect();
                let rooms = fields
                    .chunks(2)
                    .filter_map(|kv| Some((kv[0].strip_prefix("r:")?.to_string(), kv.get(1)?.parse().ok()?)))
                    .collect();
                Found::Mine(rooms)
            }
            _ => Found::Unknown,
        })
    }

    async fn read(&self, rooms: &[(String, u64)]) -> redis::RedisResult<Read> {
        let mut cmd = evalsha(&self.read);
        cmd.arg(&self.prefix);
        for (room, _) in rooms {
            cmd.arg(room);
        }
        let answer: Vec<redis::Value> = self.call(&self.read, cmd).await?;
        let text = |v: &redis::Value| redis::from_redis_value_ref::<String>(v).ok();
        let number = |v: &redis::Value| text(v).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        let mut values = answer.iter();
        let seq = values.next().map(number).unwrap_or(0);
        let mut read = Read { seq, rooms: Vec::with_capacity(rooms.len()) };
        while let (Some(cut), Some(log)) = (values.next(), values.next()) {
            let lines: Vec<String> = redis::from_redis_value_ref(log).unwrap_or_default();
            read.rooms.push((number(cut), lines.iter().filter_map(|l| Packet::parse(l)).map(Arc::new).collect()));
        }
        Ok(read)
    }

    async fn join(&self, pid: &Pid, room: &str) -> redis::RedisResult<()> {
        let mut cmd = evalsha(&self.join);
        cmd.arg(&self.prefix).arg(pid.as_ref()).arg(room);
        self.call::<i64>(&self.join, cmd).await.map(|_| ())
    }

    async fn leave(&self, pid: &Pid, room: &str) -> redis::RedisResult<()> {
        let key = format!("{}s:{pid}", self.prefix);
        redis::cmd("HDEL").arg(key).arg(format!("r:{room}")).query_async::<()>(&mut self.conn.clone()).await
    }

    async fn release(&self, sessions: &[(Pid, String)], keep: bool, window: Duration) -> redis::RedisResult<()> {
        for batch in sessions.chunks(500) {
            let mut pipe = redis::pipe();
            for (pid, sid) in batch {
                let mut cmd = evalsha(&self.release);
                cmd.arg(&self.prefix)
                    .arg(pid.as_ref())
                    .arg(sid)
                    .arg(if keep { "1" } else { "0" })
                    .arg(window.as_millis() as u64);
                pipe.add_command(cmd).ignore();
            }
            self.query_scripts(&pipe, &[&self.release]).await?;
        }
        Ok(())
    }

    /// Keeps the sessions of this instance's sockets alive.
    async fn refresh(&self, pids: &[Pid], ttl: Duration) -> redis::RedisResult<()> {
        for batch in pids.chunks(1000) {
            let mut pipe = redis::pipe();
            for pid in batch {
                pipe.cmd("PEXPIRE").arg(format!("{}s:{pid}", self.prefix)).arg(ttl.as_millis() as u64).ignore();
            }
            pipe.query_async::<()>(&mut self.conn.clone()).await?;
        }
        Ok(())
    }

    /// Logs and publishes a batch of events in one round trip, in order.
    async fn emit(&self, batch: &[Outgoing], keep: Duration) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        for out in batch {
            let mut cmd = evalsha(&self.emit);
            let rooms = serde_json::to_string(&out.rooms).unwrap_or_else(|_| "[]".into());
            cmd.arg(&self.prefix)
                .arg(keep.as_millis() as u64)
                .arg(ROOM_LOG_MAX)
                .arg(out.except.as_deref().unwrap_or(""))
                .arg(&out.event)
                .arg(out.payload.get())
                .arg(rooms);
            for room in &out.rooms {
                cmd.arg(room);
            }
            pipe.add_command(cmd).ignore();
        }
        self.query_scripts(&pipe, &[&self.emit]).await
    }

    /// Runs a pipeline of EVALSHA calls, loading the scripts first if Redis lost them (it
    /// answers NOSCRIPT to every call then, so none ran).
    async fn query_scripts(&self, pipe: &redis::Pipeline, scripts: &[&redis::Script]) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        match pipe.query_async::<()>(&mut conn).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                for script in scripts {
                    script.load_async(&mut conn).await?;
                }
                pipe.query_async::<()>(&mut conn).await
            }
            other => other,
        }
    }
}

/// An EVALSHA command of `script` without keys (arguments follow): the scripts build their
/// key names from the prefix, as a single Redis allows.
fn evalsha(script: &redis::Script) -> redis::Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash()).arg(0);
    cmd
}

/// Parses a delivery message: `n \t ms \t except \t rooms (JSON) \t event \t payload`.
fn parse_delivery(message: &str) -> Option<(Packet, Vec<String>)> {
    let mut parts = message.splitn(6, '\t');
    let n = parts.next()?.parse().ok()?;
    let at_ms = parts.next()?.parse().ok()?;
    let except = parts.next().filter(|e| !e.is_empty()).map(Pid::from);
    let rooms: Vec<String> = serde_json::from_str(parts.next()?).ok()?;
    let event = parts.next()?.into();
    let payload = RawValue::from_string(parts.next()?.to_string()).ok()?;
    Some((Packet { n, at_ms, except, event, payload }, rooms))
}

// ---- recovery: what the socket server uses ----

enum Store {
    Memory(Mutex<Memory>),
    Redis(Box<Shared>),
}

/// What the handshake decided for a socket (kept in its identity).
pub struct Session {
    pub pid: Pid,
    /// Whether the client is told the pid; false when the session could not be stored (Redis
    /// unavailable): the socket then works, without recovery.
    pub(crate) announced: bool,
    /// Whether the client's session was restored.
    pub(crate) recovered: bool,
    /// The chat rooms given back to a restored session.
    pub(crate) rooms: Vec<String>,
    /// The replay to send once connected, and the sequence number it was read at.
    pending: Mutex<Option<(Vec<Arc<Packet>>, u64)>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pid is a credential of sorts: it stays out of logs.
        f.debug_struct("Session").field("announced", &self.announced).field("recovered", &self.recovered).finish()
    }
}

/// Connection state recovery of one instance. Cheap to share.
pub struct Recovery {
    window: Duration,
    dispatcher: Dispatcher,
    store: Store,
    publish: Option<mpsc::UnboundedSender<Outgoing>>,
    /// Events handed to the publisher and not yet in Redis.
    pending: AtomicUsize,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Recovery {
    /// Sessions and logs in this process.
    pub fn memory(window: Duration) -> Arc<Recovery> {
        Arc::new(Recovery {
            window,
            dispatcher: Dispatcher::default(),
            store: Store::Memory(Mutex::new(Memory::default())),
            publish: None,
            pending: AtomicUsize::new(0),
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Sessions and logs in Redis, events delivered through its pub/sub: starts the publisher,
    /// the subscription (waiting until it is up) and the maintenance.
    pub async fn redis(url: &str, prefix: &str, window: Duration) -> anyhow::Result<Arc<Recovery>> {
        let shared = Shared::connect(url, prefix).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let recovery = Arc::new(Recovery {
            window,
            dispatcher: Dispatcher::default(),
            store: Store::Redis(Box::new(shared)),
            publish: Some(tx),
            pending: AtomicUsize::new(0),
            tasks: Mutex::new(Vec::new()),
        });
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        let tasks = [
            tokio::spawn(publisher(Arc::downgrade(&recovery), rx)),
            tokio::spawn(subscriber(Arc::downgrade(&recovery), subscribed_tx)),
        ];
        lock(&recovery.tasks).extend(tasks);
        if tokio::time::timeout(REDIS_TIMEOUT * 2, subscribed).await.is_err() {
            tracing::error!(
                "socket recovery: no Redis subscription yet; events reach this instance's sockets once it is up"
            );
        }
        Ok(recovery)
    }

    /// Starts the periodic upkeep (refreshing live sessions, sweeping expired ones).
    pub fn start(self: &Arc<Recovery>) {
        let weak = Arc::downgrade(self);
        let every = (self.window / 4).clamp(Duration::from_secs(1), MAINTAIN_EVERY);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(recovery) = weak.upgrade() else { break };
                recovery.maintain(every).await;
            }
        });
        lock(&self.tasks).push(task);
    }

    /// Waits (at most `within`) until every event emitted so far is logged and published.
    pub async fn flush(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while self.pending.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops the background tasks.
    pub fn stop(&self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// How long logged events are kept.
    fn keep(&self) -> Duration {
        self.window + LOG_SLACK
    }

    /// How long a live session's record lives without a refresh.
    fn live_ttl(&self) -> Duration {
        self.window + MAINTAIN_EVERY * 2
    }

    async fn maintain(&self, _every: Duration) {
        self.dispatcher.sweep();
        match &self.store {
            Store::Memory(memory) => lock(memory).sweep(self.window, self.keep()),
            Store::Redis(shared) => {
                let pids: Vec<Pid> = self.dispatcher.sessions().into_iter().map(|(pid, _)| pid).collect();
                if let Err(e) = shared.refresh(&pids, self.live_ttl()).await {
                    tracing::warn!(error = %e, "socket recovery: could not refresh this instance's sessions");
                }
            }
        }
    }

    /// Emits an event to every socket in `rooms` but `except`'s, logged for recovery.
    pub(crate) fn emit(&self, rooms: Vec<String>, except: Option<&Pid>, event: &str, payload: &Value) {
        if rooms.is_empty() {
            return;
        }
        let payload = match serde_json::value::to_raw_value(payload) {
            Ok(p) => p,
            Err(e) => return tracing::warn!(event, error = %e, "socket event not serializable"),
        };
        let out = Outgoing { rooms, except: except.cloned(), event: event.to_string(), payload };
        match (&self.store, &self.publish) {
            (Store::Memory(memory), _) => lock(memory).emit(out, self.keep(), &self.dispatcher),
            (Store::Redis(_), Some(tx)) => {
                self.pending.fetch_add(1, Ordering::SeqCst);
                if let Err(mpsc::error::SendError(out)) = tx.send(out) {
                    self.pending.fetch_sub(1, Ordering::SeqCst);
                    self.dispatcher.deliver_unlogged(&out);
                }
            }
            (Store::Redis(_), None) => self.dispatcher.deliver_unlogged(&out),
        }
    }

    /// Emits an event to one session's socket.
    pub(crate) fn emit_to(&self, session: &Session, event: &str, payload: &Value) {
        self.emit(vec![own_room(&session.pid)], None, event, payload);
    }

    /// The handshake: restores the session the client presents (`auth.pid`, `auth.offset`) if
    /// it is `user`'s and still known, else opens a new one. The socket is registered for
    /// delivery, held until [`Recovery::open`].
    pub(crate) async fn handshake(
        &self,
        sid: &str,
        sink: Arc<dyn Sink>,
        user: &Id,
        user_room: String,
        auth: &Value,
    ) -> Session {
        let asked = auth.get("pid").and_then(Value::as_str).filter(|p| valid_pid(p));
        if let Some(pid) = asked {
            let pid = Pid::from(pid);
            let offset = auth.get("offset").and_then(Value::as_str).and_then(|o| o.parse::<u64>().ok()).unwrap_or(0);
            if let Some(session) = self.restore(&pid, user, sid, offset, &sink).await {
                return session;
            }
        }
        let pid = Pid::from(crate::ids::random_hex(16));
        let rooms = vec![user_room, own_room(&pid)];
        self.dispatcher.register(&pid, sid, sink, &rooms, 0);
        let created = match &self.store {
            Store::Memory(memory) => Ok(lock(memory).create(&pid, user, sid, &rooms)),
            Store::Redis(shared) => shared.create(&pid, user, sid, &rooms, self.live_ttl()).await,
        };
        let (announced, seq) = match created {
            Ok(seq) => (true, seq),
            Err(e) => {
                tracing::warn!(error = %e, "socket recovery: could not store a new session; this socket works without recovery");
                (false, 0)
            }
        };
        Session { pid, announced, recovered: false, rooms: Vec::new(), pending: Mutex::new(Some((Vec::new(), seq))) }
    }

    async fn restore(&self, pid: &Pid, user: &Id, sid: &str, offset: u64, sink: &Arc<dyn Sink>) -> Option<Session> {
        let found = match &self.store {
            Store::Memory(memory) => Ok(lock(memory).restore(pid, user, sid, self.window)),
            Store::Redis(shared) => shared.restore(pid, user, sid, self.live_ttl()).await,
        };
        let rooms = match found {
            Ok(Found::Mine(rooms)) => rooms,
            Ok(Found::Foreign) => {
                tracing::warn!(%user, "socket recovery: refused a session id that belongs to another user");
                outcome("foreign");
                return None;
            }
            Ok(Found::Unknown) => {
                outcome("expired");
                return None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "socket recovery: could not look the session up");
                outcome("failed");
                return None;
            }
        };
        let names: Vec<String> = rooms.iter().map(|(r, _)| r.clone()).collect();
        self.dispatcher.register(pid, sid, sink.clone(), &names, offset);
        let read = match &self.store {
            Store::Memory(memory) => Ok(lock(memory).read(&rooms)),
            Store::Redis(shared) => shared.read(&rooms).await,
        };
        let replay = match read {
            Ok(read) if offset <= read.seq => read.replay(pid, offset, &rooms).map(|r| (r, read.seq)),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "socket recovery: could not read the missed events");
                None
            }
        };
        let Some(replay) = replay else {
            // Missed events are no longer all known: the client starts over.
            self.dispatcher.unregister(pid, sid);
            outcome("incomplete");
            return None;
        };
        outcome("recovered");
        metrics::counter!("nyaya_socket_replayed_events_total").increment(replay.0.len() as u64);
        let chat_rooms = names.into_iter().filter(|r| !r.starts_with('~') && !r.starts_with("user_")).collect();
        Some(Session {
            pid: pid.clone(),
            announced: true,
            recovered: true,
            rooms: chat_rooms,
            pending: Mutex::new(Some(replay)),
        })
    }

    /// Once the client is told it is connected: sends the replay, then what was held, and
    /// makes the socket live. Returns how many events were replayed.
    pub(crate) fn open(&self, session: &Session, sid: &str) -> usize {
        let Some((replay, seq)) = lock(&session.pending).take() else { return 0 };
        self.dispatcher.open(&session.pid, sid, &replay, seq)
    }

    pub(crate) async fn join(&self, session: &Session, room: &str) {
        self.dispatcher.join(&session.pid, room);
        if !session.announced {
            return;
        }
        let stored = match &self.store {
            Store::Memory(memory) => {
                lock(memory).join(&session.pid, room);
                Ok(())
            }
            Store::Redis(shared) => shared.join(&session.pid, room).await,
        };
        if let Err(e) = stored {
            tracing::warn!(error = %e, "socket recovery: could not record a joined room");
        }
    }

    pub(crate) async fn leave(&self, session: &Session, room: &str) {
        self.dispatcher.leave(&session.pid, room);
        if !session.announced {
            return;
        }
        let stored = match &self.store {
            Store::Memory(memory) => {
                lock(memory).leave(&session.pid, room);
                Ok(())
            }
            Store::Redis(shared) => shared.leave(&session.pid, room).await,
        };
        if let Err(e) = stored {
            tracing::warn!(error = %e, "socket recovery: could not record a left room");
        }
    }

    /// The socket `sid` disconnected: its session is kept for the window after an
    /// unintended disconnection (`keep`), deleted after an intended one.
    pub(crate) async fn detach(&self, session: &Session, sid: &str, keep: bool) {
        self.dispatcher.unregister(&session.pid, sid);
        if !session.announced {
            return;
        }
        let released = match &self.store {
            Store::Memory(memory) => {
                lock(memory).release(&session.pid, sid, keep);
                Ok(())
            }
            Store::Redis(shared) => shared.release(&[(session.pid.clone(), sid.to_string())], keep, self.window).await,
        };
        if let Err(e) = released {
            tracing::warn!(error = %e, "socket recovery: could not release a session");
        }
    }

    /// Before this instance closes its sockets (shutdown): every session here is kept for the
    /// window from now, for its client to resume on another worker or instance.
    pub async fn park_all(&self) {
        let sessions = self.dispatcher.sessions();
        let parked = match &self.store {
            Store::Memory(memory) => {
                let mut memory = lock(memory);
                for (pid, sid) in &sessions {
                    memory.release(pid, sid, true);
                }
                Ok(())
            }
            Store::Redis(shared) => shared.release(&sessions, true, self.window).await,
        };
        if let Err(e) = parked {
            tracing::warn!(error = %e, "socket recovery: could not keep this instance's sessions");
        }
    }

    /// After the delivery stream broke (events may have been published meanwhile that never
    /// arrived): sends every socket here what it missed, from the logs.
    async fn resynchronise(&self) {
        let Store::Redis(shared) = &self.store else { return };
        let held = self.dispatcher.hold_all();
        let mut lost = 0usize;
        for (pid, sid, rooms, last) in held {
            let rooms: Vec<(String, u64)> = rooms.into_iter().map(|r| (r, 0)).collect();
            let replay = match shared.read(&rooms).await {
                Ok(read) => read.replay(&pid, last, &rooms).map(|r| (r, read.seq)),
                Err(e) => {
                    tracing::warn!(error = %e, "socket recovery: could not read missed events");
                    None
                }
            };
            let (replay, seq) = replay.unwrap_or_else(|| {
                lost += 1;
                (Vec::new(), last)
            });
            self.dispatcher.open(&pid, &sid, &replay, seq);
        }
        if lost > 0 {
            tracing::warn!(
                sockets = lost,
                "socket recovery: after a break of the delivery stream some sockets could not be sent what they missed"
            );
        }
    }
}

impl Drop for Recovery {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends this instance's events to Redis in batches, in the order they were emitted.
async fn publisher(recovery: std::sync::Weak<Recovery>, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
    let mut batch = Vec::with_capacity(256);
    while rx.recv_many(&mut batch, 256).await > 0 {
        let Some(recovery) = recovery.upgrade() else { break };
        let Store::Redis(shared) = &recovery.store else { break };
        if let Err(e) = shared.emit(&batch, recovery.keep()).await {
            tracing::warn!(error = %e, events = batch.len(), "socket recovery: Redis unavailable; events reach this instance's sockets only, unlogged");
            for out in &batch {
                recovery.dispatcher.deliver_unlogged(out);
            }
        }
        recovery.pending.fetch_sub(batch.len(), Ordering::SeqCst);
        batch.clear();
    }
}

/// Receives every instance's events and delivers them here, in order; after a break of the
/// subscription, sends the sockets here what they missed meanwhile.
async fn subscriber(recovery: std::sync::Weak<Recovery>, subscribed: tokio::sync::oneshot::Sender<()>) {
    use futures::StreamExt;
    let mut subscribed = Some(subscribed);
    let mut broke = false;
    let mut backoff = Duration::from_millis(100);
    loop {
        let (client, channel) = {
            let Some(recovery) = recovery.upgrade() else { return };
            let Store::Redis(shared) = &recovery.store else { return };
            (shared.client.clone(), shared.channel())
        };
        let stream = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub.into_on_message())
        };
        let mut stream = match tokio::time::timeout(REDIS_TIMEOUT, stream).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "socket recovery: Redis subscription failed; retrying");
                broke = true;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
            Err(_) => {
                tracing::warn!("socket recovery: Redis subscription timed out; retrying");
                broke = true;
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        if let Some(tx) = subscribed.take() {
            let _ = tx.send(());
        }
        if broke && let Some(recovery) = recovery.upgrade() {
            recovery.resynchronise().await;
        }
        while let Some(msg) = stream.next().await {
            let Some(recovery) = recovery.upgrade() else { return };
            match std::str::from_utf8(msg.get_payload_bytes()).ok().and_then(parse_delivery) {
                Some((packet, rooms)) => recovery.dispatcher.deliver(&Arc::new(packet), &rooms),
                None => tracing::warn!("socket recovery: unreadable delivery message"),
            }
        }
        tracing::warn!("socket recovery: Redis subscription lost; reconnecting");
        broke = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that records what it is sent.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(String, String, Option<String>)>>);

    impl Sink for Recorder {
        fn send(&self, event: &str, payload: &RawValue, offset: Option<&str>) -> bool {
            lock(&self.0).push((event.to_string(), payload.get().to_string(), offset.map(str::to_string)));
            true
        }
        fn connected(&self) -> bool {
            true
        }
    }

    impl Recorder {
        fn events(&self) -> Vec<String> {
            lock(&self.0).iter().map(|(e, p, _)| format!("{e}:{p}")).collect()
        }
        fn last_offset(&self) -> u64 {
            lock(&self.0).last().and_then(|(_, _, o)| o.as_ref()?.parse().ok()).unwrap_or(0)
        }
    }

    /// A handshake of `user`'s socket `sid` with `auth`, as the socket server does it.
    async fn connect(r: &Recovery, user: &Id, sid: &str, sink: &Arc<Recorder>, auth: Value) -> Session {
        r.handshake(sid, sink.clone(), user, format!("user_{user}"), &auth).await
    }

    fn payload(n: u32) -> Value {
        serde_json::json!({"n": n})
    }

    #[tokio::test]
    async fn a_reconnecting_session_gets_what_it_missed_once_in_order() {
        let r = Recovery::memory(Duration::from_secs(120));
        let (asha, ravi) = (Id::new(), Id::new());
        let a = Arc::new(Recorder::default());
        let b = Arc::new(Recorder::default());
        let sa = connect(&r, &asha, "sa", &a, Value::Null).await;
        r.open(&sa, "sa");
        let sb = connect(&r, &ravi, "sb", &b, Value::Null).await;
        r.open(&sb, "sb");
        r.join(&sa, "chat").await;
        r.join(&sb, "chat").await;

        r.emit(vec!["chat".into()], Some(&sa.pid), "new_message", &payload(1));
        assert_eq!(b.events(), ["new_message:{\"n\":1}"]);
        assert!(a.events().is_empty(), "the sender's own socket is excluded");

        // B drops; three events for it meanwhile (room, user room, and one excluded for it).
        let offset = b.last_offset();
        r.detach(&sb, "sb", true).await;
        r.emit(vec!["chat".into()], Some(&sa.pid), "new_message", &payload(2));
        r.emit(vec![format!("user_{ravi}")], None, "case_update", &payload(3));
        r.emit(vec!["chat".into()], Some(&sb.pid), "typing_start", &payload(4));
        r.emit(vec![format!("user_{asha}")], None, "for_asha", &payload(5));

        let b2 = Arc::new(Recorder::default());
        let auth = serde_json::json!({"pid": sb.pid.to_string(), "offset": offset.to_string()});
        let sb2 = connect(&r, &ravi, "sb2", &b2, auth).await;
        assert!(sb2.recovered);
        assert_eq!(sb2.pid, sb.pid);
        assert_eq!(sb2.rooms, ["chat"]);
        // Live events during the replay's preparation are held, then follow it.
        r.emit(vec!["chat".into()], Some(&sa.pid), "new_message", &payload(6));
        assert!(b2.events().is_empty());
        assert_eq!(r.open(&sb2, "sb2"), 2);
        assert_eq!(b2.events(), ["new_message:{\"n\":2}", "case_update:{\"n\":3}", "new_message:{\"n\":6}"]);
        r.emit(vec!["chat".into()], None, "messages_read", &payload(7));
        assert_eq!(b2.events().len(), 4);
        let offsets: Vec<u64> = lock(&b2.0).iter().filter_map(|(_, _, o)| o.as_ref()?.parse().ok()).collect();
        assert!(offsets.windows(2).all(|w| w[0] < w[1]), "offsets increase: {offsets:?}");
    }

    #[tokio::test]
    async fn a_pid_is_refused_to_another_user_and_forgotten_after_the_window_or_an_intended_disconnect() {
        let r = Recovery::memory(Duration::from_millis(200));
        let (asha, mallory) = (Id::new(), Id::new());
        let a = Arc::new(Recorder::default());
        let sa = connect(&r, &asha, "sa", &a, Value::Null).await;
        r.open(&sa, "sa");
        r.detach(&sa, "sa", true).await;
        let m = Arc::new(Recorder::default());
        let stolen =
            connect(&r, &mallory, "sm", &m, serde_json::json!({"pid": sa.pid.to_string(), "offset": "0"})).await;
        assert!(!stolen.recovered);
        assert_ne!(stolen.pid, sa.pid, "another user gets a session of their own");

        tokio::time::sleep(Duration::from_millis(300)).await;
        let late = connect(&r, &asha, "sa2", &a, serde_json::json!({"pid": sa.pid.to_string(), "offset": "0"})).await;
        assert!(!late.recovered, "expired after the window");

        r.open(&late, "sa2");
        r.detach(&late, "sa2", false).await;
        let again =
            connect(&r, &asha, "sa3", &a, serde_json::json!({"pid": late.pid.to_string(), "offset": "0"})).await;
        assert!(!again.recovered, "an intended disconnect ends the session");
        assert_eq!(r.dispatcher.len(), 3 - 1, "the refused attempts left no socket registered");
    }

    #[tokio::test]
    async fn events_dropped_from_a_full_log_make_recovery_start_over() {
        let r = Recovery::memory(Duration::from_secs(120));
        let user = Id::new();
        let a = Arc::new(Recorder::default());
        let sa = connect(&r, &user, "sa", &a, Value::Null).await;
        r.open(&sa, "sa");
        r.join(&sa, "chat").await;
        r.detach(&sa, "sa", true).await;
        for i in 0..(ROOM_LOG_MAX as u32 + 1) {
            r.emit(vec!["chat".into()], None, "typing_start", &payload(i));
        }
        let again = connect(&r, &user, "sa2", &a, serde_json::json!({"pid": sa.pid.to_string(), "offset": "0"})).await;
        assert!(!again.recovered);
    }

    #[test]
    fn log_lines_and_delivery_messages_parse() {
        let p = Packet::parse("42\t1700000000000\t\tnew_message\t{\"a\":\"b\\tc\"}").unwrap();
        assert_eq!(
            (p.n, p.at_ms, p.except.is_none(), &*p.event, p.payload.get()),
            (42, 1700000000000, true, "new_message", "{\"a\":\"b\\tc\"}")
        );
        let (p, rooms) = parse_delivery("7\t1\tabc\t[\"user_x\",\"chat\"]\ttyping\t{}").unwrap();
        assert_eq!((p.n, p.except.as_deref(), rooms), (7, Some("abc"), vec!["user_x".to_string(), "chat".to_string()]));
        assert!(parse_delivery("garbage").is_none());
    }
}
