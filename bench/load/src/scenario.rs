//! The simulated users: citizens, lawyers and admins of the platform, each holding one
//! Socket.IO connection for the whole run and acting at human rates (a think time between
//! actions). Every write that the user can read back is read back (a miss is a stale read);
//! every chat message and case notification is matched at its receiver (a miss is lost).
//!
//! A socket the server closes (a reload) is reconnected at once, as socket.io-client does it
//! (after 0.5 to 1.5 s), resuming its session (`{pid, offset}`): the events missed meanwhile
//! come then. With `--drop`, a share of the users drop their connection once, mid-run, stay
//! away for `--drop-for` and come back the same way.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use rand::seq::IndexedRandom;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc, watch};

use crate::clock::now_us;
use crate::sio::{Event, Socket};
use crate::stats::{Delivery, Stats};

#[derive(Debug, Clone, Deserialize)]
pub struct ChatRef {
    #[serde(rename = "chatId")]
    pub chat_id: String,
    pub partner: String,
    #[serde(rename = "connectionId")]
    pub connection: String,
    /// Its place among the account's chats (set on loading).
    #[serde(skip)]
    pub index: u16,
}

/// A line of the accounts file written by `nyaya seed-bench`.
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub role: String,
    pub token: String,
    #[serde(default)]
    pub chats: Vec<ChatRef>,
}

/// What a user can do; the mix weighs them per role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Directory,
    Dashboard,
    List,
    Chat,
    Query,
    Accept,
    Upload,
    Verify,
    Login,
}

impl Action {
    const ALL: [Action; 9] = [
        Action::Directory,
        Action::Dashboard,
        Action::List,
        Action::Chat,
        Action::Query,
        Action::Accept,
        Action::Upload,
        Action::Verify,
        Action::Login,
    ];

    fn name(self) -> &'static str {
        match self {
            Action::Directory => "directory",
            Action::Dashboard => "dashboard",
            Action::List => "list",
            Action::Chat => "chat",
            Action::Query => "query",
            Action::Accept => "accept",
            Action::Upload => "upload",
            Action::Verify => "verify",
            Action::Login => "login",
        }
    }

    /// The default weights of each role (0: the role never does it).
    fn weight(self, role: &str) -> u32 {
        use Action::*;
        match (role, self) {
            ("citizen", Directory) => 30,
            ("citizen", Dashboard) => 15,
            ("citizen", List) => 15,
            ("citizen", Chat) => 25,
            ("citizen", Query) => 6,
            ("citizen", Upload) => 5,
            ("lawyer", Directory) => 5,
            ("lawyer", Dashboard) => 20,
            ("lawyer", List) => 20,
            ("lawyer", Chat) => 35,
            ("lawyer", Accept) => 12,
            ("lawyer", Upload) => 5,
            ("admin", Directory) => 5,
            ("admin", Dashboard) => 35,
            ("admin", List) => 30,
            ("admin", Verify) => 30,
            (_, Login) => 1,
            _ => 0,
        }
    }
}

/// Per-role action weights, defaults overridden by `--mix name=weight,...`.
#[derive(Debug, Clone)]
pub struct Mix(HashMap<String, Vec<(Action, u32)>>);

impl Mix {
    pub fn parse(overrides: &str) -> anyhow::Result<Mix> {
        let mut set: HashMap<Action, u32> = HashMap::new();
        for item in overrides.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, weight) =
                item.split_once('=').ok_or_else(|| anyhow::anyhow!("--mix item {item:?} is not name=weight"))?;
            let action = Action::ALL
                .into_iter()
                .find(|a| a.name() == name.trim())
                .ok_or_else(|| anyhow::anyhow!("unknown action {name:?} in --mix"))?;
            set.insert(action, weight.trim().parse()?);
        }
        let roles = ["citizen", "lawyer", "admin"].map(|role| {
            let weights = Action::ALL
                .into_iter()
                .filter(|a| a.weight(role) > 0)
                .map(|a| (a, set.get(&a).copied().unwrap_or(a.weight(role))))
                .collect();
            (role.to_string(), weights)
        });
        Ok(Mix(roles.into_iter().collect()))
    }

    fn pick(&self, role: &str) -> Action {
        let weights = self.0.get(role).map(Vec::as_slice).unwrap_or(&[]);
        weights.choose_weighted(&mut rand::rng(), |(_, w)| *w).map(|(a, _)| *a).unwrap_or(Action::Dashboard)
    }
}

pub struct Options {
    pub think: (Duration, Duration),
    pub duration: Duration,
    /// A delivery later than this counts as lost; also how long sockets stay after the run.
    pub loss_timeout: Duration,
    pub connect_timeout: Duration,
    pub password: String,
    pub mix: Mix,
    /// The share of users who drop their connection once during the run, and for how long.
    pub drop_share: f64,
    pub drop_for: Duration,
}

/// What the users of one process share.
pub struct Shared {
    pub opts: Options,
    pub base: String,
    pub server: SocketAddr,
    /// One HTTP client per source address (users keep theirs).
    pub clients: Vec<(IpAddr, reqwest::Client)>,
    pub stats: Mutex<Stats>,
    /// The run's start (wall clock, microseconds), once the parent says go.
    pub start: watch::Receiver<Option<u64>>,
    /// Keys of this process's messages: the shard in the high bits keeps them unique.
    keys: AtomicU64,
    /// What each user is doing (by index) until its run ends: the report names what users
    /// stopped for overrunning were doing.
    doing: std::sync::Mutex<HashMap<u64, String>>,
}

impl Shared {
    pub fn new(
        opts: Options,
        base: String,
        server: SocketAddr,
        clients: Vec<(IpAddr, reqwest::Client)>,
        start: watch::Receiver<Option<u64>>,
        shard: u64,
    ) -> Shared {
        let doing = std::sync::Mutex::new(HashMap::new());
        Shared {
            opts,
            base,
            server,
            clients,
            stats: Mutex::new(Stats::default()),
            start,
            keys: AtomicU64::new(shard << 40),
            doing,
        }
    }

    fn doing(&self, user: u64, what: Option<String>) {
        let mut doing = self.doing.lock().unwrap_or_else(|p| p.into_inner());
        match what {
            Some(what) => doing.insert(user, what),
            None => doing.remove(&user),
        };
    }

    /// How many users are still in each activity.
    pub fn still_doing(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for what in self.doing.lock().unwrap_or_else(|p| p.into_inner()).values() {
            *counts.entry(what.clone()).or_default() += 1;
        }
        counts
    }

    fn next_key(&self) -> u64 {
        self.keys.fetch_add(1, Ordering::Relaxed)
    }
}

/// The wait before a user's first action, such that the run starts in the steady state of
/// users who have been acting all along (think times uniform on `[min, max]`): the time left of
/// the think time under way, which is a random part of a length-biased think time.
fn first_wait(min: Duration, max: Duration) -> Duration {
    let mut rng = rand::rng();
    let (a, b) = (min.as_secs_f64(), max.as_secs_f64().max(min.as_secs_f64()));
    let think = (a * a + rng.random::<f64>() * (b * b - a * a)).sqrt();
    Duration::from_secs_f64(think * rng.random::<f64>())
}

/// FNV-1a: a delivery key from a server id.
fn key_of(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

enum Body {
    Empty,
    Json(Value),
    Form(reqwest::multipart::Form),
}

/// `items[*]._id` (or `key`) as strings.
/// The creation second at the start of an id (8 hex digits, as in a MongoDB ObjectId).
fn id_second(id: &str) -> u32 {
    id.get(..8).and_then(|h| u32::from_str_radix(h, 16).ok()).unwrap_or(0)
}

fn ids(items: &Value, key: &str) -> Vec<String> {
    items.as_array().map(|a| a.iter().filter_map(|i| i[key].as_str().map(String::from)).collect()).unwrap_or_default()
}

const SPECIALIZATIONS: [&str; 8] = [
    "Criminal Law",
    "Family Law",
    "Property Law",
    "Corporate Law",
    "Civil Law",
    "Tax Law",
    "Labor Law",
    "Consumer Law",
];
const SURNAMES: [&str; 6] = ["Sharma", "Iyer", "Reddy", "Patel", "Nair", "Khan"];
const CATEGORIES: [&str; 8] = ["civil", "criminal", "family", "property", "corporate", "tax", "labor", "other"];

pub struct User {
    acct: Account,
    /// The account's line in the accounts file.
    index: u32,
    shared: Arc<Shared>,
    ip: IpAddr,
    http: reqwest::Client,
    socket: Option<Socket>,
    events: Option<mpsc::UnboundedReceiver<Event>>,
    start_us: u64,
    /// The session's private id and the offset of the last event received (recovery).
    pid: Option<String>,
    offset: Option<String>,
    /// Since when (wall clock, microseconds) the socket is gone, and when to reconnect.
    down_since: Option<u64>,
    reconnect_at: Option<Instant>,
    reconnect_failures: u32,
    /// When this user drops the connection (`--drop`, while idle), and until when it stays away.
    drop_at: Option<Instant>,
    away_until: Option<Instant>,
    idle: bool,
    /// Connections lost so far.
    drops: u32,
    /// The last acknowledged message id of each chat (read back on the next visit).
    acked: HashMap<String, String>,
    /// Case requests addressed to this lawyer, from `citizen_request_received`: (request, case).
    requests: VecDeque<(String, String)>,
    accepted: HashSet<String>,
}

impl User {
    pub fn new(acct: Account, shared: Arc<Shared>, index: usize) -> User {
        let (ip, http) = shared.clients[index % shared.clients.len()].clone();
        User {
            acct,
            index: index as u32,
            shared,
            ip,
            http,
            socket: None,
            events: None,
            start_us: 0,
            pid: None,
            offset: None,
            down_since: None,
            reconnect_at: None,
            reconnect_failures: 0,
            drop_at: None,
            away_until: None,
            idle: false,
            drops: 0,
            acked: HashMap::new(),
            requests: VecDeque::new(),
            accepted: HashSet::new(),
        }
    }

    async fn stats<R>(&self, f: impl FnOnce(&mut Stats) -> R) -> R {
        f(&mut *self.shared.stats.lock().await)
    }

    /// Whether the run's actions still last: deliveries started later might outlive the
    /// receivers' sockets.
    fn running(&self) -> bool {
        self.second().is_some()
    }

    /// The second of the run now, while the run's actions last.
    fn second(&self) -> Option<usize> {
        let now = now_us();
        let secs = now.checked_sub(self.start_us)? / 1_000_000;
        (self.start_us > 0 && secs < self.shared.opts.duration.as_secs()).then_some(secs as usize)
    }

    /// Connects the socket and joins every chat; true when all of it worked.
    pub async fn connect(&mut self) -> bool {
        let t0 = Instant::now();
        let auth = json!({"token": self.acct.token});
        let timeout = self.shared.opts.connect_timeout;
        let (socket, events, pid) = match Socket::connect(self.shared.server, self.ip, &auth, timeout).await {
            Ok(connected) => connected,
            Err(e) => {
                self.stats(|s| {
                    s.sockets.failed += 1;
                    s.error("socket:connect".into(), || format!("{e:#}"));
                })
                .await;
                return false;
            }
        };
        self.attach(socket, events, pid);
        let ok = self.join_chats().await;
        let micros = t0.elapsed().as_micros() as u64;
        self.stats(|s| {
            s.request("connect", micros, ok, None);
            s.sockets.connected += 1;
        })
        .await;
        ok
    }

    fn attach(&mut self, socket: Socket, events: mpsc::UnboundedReceiver<Event>, pid: Option<String>) {
        self.socket = Some(socket);
        self.events = Some(events);
        self.pid = pid;
        self.reconnect_at = None;
        self.reconnect_failures = 0;
    }

    /// Joins every chat of the account (a new session's rooms); true when all were joined.
    async fn join_chats(&mut self) -> bool {
        let Some(socket) = self.socket.clone() else { return false };
        let mut waiting: HashSet<String> = self.acct.chats.iter().map(|c| c.chat_id.clone()).collect();
        for chat in &self.acct.chats {
            socket.emit("join_chat", json!(chat.chat_id));
        }
        let deadline = Instant::now() + self.shared.opts.connect_timeout;
        while !waiting.is_empty() {
            let joined = self.wait_for(|e| e.name == "chat_joined" || e.name == "error", deadline).await;
            match joined {
                Some(e) if e.name == "chat_joined" => {
                    waiting.remove(e.data["chatId"].as_str().unwrap_or_default());
                }
                _ => break,
            }
        }
        if !waiting.is_empty() {
            let n = waiting.len();
            self.stats(|s| s.error("socket:join".into(), || format!("{n} chats not joined"))).await;
        }
        waiting.is_empty()
    }

    /// Reconnects a dropped socket as socket.io-client does: resuming the session with its pid
    /// and the last offset received. A resumed session has its rooms back and gets what it
    /// missed; a new one joins its chats again (what was sent meanwhile is lost to it).
    async fn reconnect(&mut self) {
        let mut auth = json!({"token": self.acct.token});
        if let Some(pid) = &self.pid {
            auth["pid"] = json!(pid);
            if let Some(offset) = &self.offset {
                auth["offset"] = json!(offset);
            }
        }
        let timeout = self.shared.opts.connect_timeout;
        let (socket, events, pid) = match Socket::connect(self.shared.server, self.ip, &auth, timeout).await {
            Ok(connected) => connected,
            Err(e) => {
                // Retried with a growing delay (the server may be between workers).
                self.reconnect_failures += 1;
                let wait = Duration::from_millis(500 << self.reconnect_failures.min(4));
                self.reconnect_at = Some(Instant::now() + wait);
                if self.reconnect_failures >= 5 {
                    self.stats(|s| s.error("socket:reconnect".into(), || format!("{e:#}"))).await;
                }
                return;
            }
        };
        let recovered = pid.is_some() && pid == self.pid;
        self.attach(socket, events, pid);
        let (me, down, up) = (self.index, self.down_since.take().unwrap_or_else(now_us), now_us());
        let during_run = self.running();
        self.stats(|s| {
            s.sockets.reconnected += 1;
            s.gaps.push((me, down, up, recovered));
            if recovered {
                s.sockets.recovered += 1;
            } else {
                s.sockets.not_recovered += 1;
                if during_run {
                    s.error("socket:not-recovered".into(), || "a reconnected socket got a new session".into());
                }
            }
        })
        .await;
        if !recovered {
            self.offset = None;
            self.join_chats().await;
        }
    }

    /// Waits for the start, acts until the end of the run, then keeps listening for the
    /// deliveries still under way.
    pub async fn run(mut self) {
        let mut start = self.shared.start.clone();
        let Ok(go) = start.wait_for(Option::is_some).await.map(|s| s.unwrap_or_default()) else { return };
        self.start_us = go;
        let opts = &self.shared.opts;
        if rand::rng().random_bool(opts.drop_share.clamp(0.0, 1.0)) {
            // Somewhere in the middle of the run, so that the user comes back before its end.
            let at = opts.duration.mul_f64(rand::rng().random_range(0.15..0.55));
            self.drop_at = Some(Instant::now() + Duration::from_micros(go.saturating_sub(now_us())) + at);
        }
        let (think_min, think_max) = opts.think;
        let run_end = Instant::now() + Duration::from_micros(go.saturating_sub(now_us())) + opts.duration;
        let drain_end = run_end + opts.loss_timeout + Duration::from_secs(1);
        let mut next =
            Instant::now() + Duration::from_micros(go.saturating_sub(now_us())) + first_wait(think_min, think_max);
        loop {
            // A think time may reach past the end of the run: the drain starts on time anyway.
            self.idle_until(next.min(run_end)).await;
            if Instant::now() >= run_end {
                break;
            }
            self.shared.doing(self.index.into(), Some("reconnecting".into()));
            self.ensure_socket().await;
            let action = self.shared.opts.mix.pick(&self.acct.role);
            self.shared.doing(self.index.into(), Some(format!("{action:?}")));
            self.act(action).await;
            self.shared.doing(self.index.into(), Some("thinking".into()));
            let think = rand::rng()
                .random_range(think_min.as_secs_f64()..=think_max.as_secs_f64().max(think_min.as_secs_f64()));
            next = Instant::now() + Duration::from_secs_f64(think);
        }
        self.shared.doing(self.index.into(), Some("draining".into()));
        self.idle_until(drain_end).await;
        self.shared.doing(self.index.into(), None);
    }

    /// Handles socket events until `until`.
    async fn idle_until(&mut self, until: Instant) {
        self.idle = true;
        self.wait_for(|_| false, until).await;
        self.idle = false;
    }

    /// Handles socket events until one matches (returned) or `until` passes. Meanwhile a
    /// planned drop happens, and a dropped socket is reconnected when its time comes.
    async fn wait_for(&mut self, matches: impl Fn(&Event) -> bool, until: Instant) -> Option<Event> {
        loop {
            let wake = match (&self.socket, self.drop_at.filter(|_| self.idle), self.reconnect_at) {
                (Some(_), Some(drop), _) => until.min(drop),
                (None, _, Some(reconnect)) => until.min(reconnect),
                _ => until,
            };
            let next = async {
                match self.events.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let event = tokio::select! {
                e = next => e,
                _ = tokio::time::sleep_until(wake.into()) => {
                    if Instant::now() >= until {
                        return None;
                    }
                    if self.socket.is_some() && self.idle && self.drop_at.is_some_and(|t| t <= Instant::now()) {
                        self.cut().await;
                    } else if self.socket.is_none() && self.reconnect_at.is_some_and(|t| t <= Instant::now()) {
                        Box::pin(self.reconnect()).await;
                    }
                    continue;
                }
            };
            let Some(event) = event else {
                self.dropped().await;
                continue;
            };
            if event.offset.is_some() && self.pid.is_some() {
                self.offset = event.offset.clone();
            }
            self.handle(&event).await;
            if matches(&event) {
                return Some(event);
            }
        }
    }

    /// The user's network goes away (`--drop`): the connection is cut, and the socket comes
    /// back after `--drop-for`.
    async fn cut(&mut self) {
        self.drop_at = None;
        self.away_until = Some(Instant::now() + self.shared.opts.drop_for);
        if let Some(socket) = &self.socket {
            socket.cut();
        }
        self.stats(|s| s.sockets.cut += 1).await;
    }

    /// The socket is gone (the server closed it, or it was cut): it reconnects after a delay
    /// like socket.io-client's (0.5 to 1.5 s), or once the user is back (`--drop`).
    async fn dropped(&mut self) {
        self.socket = None;
        self.events = None;
        self.drops += 1;
        self.down_since = Some(now_us());
        let delay = Duration::from_millis(rand::rng().random_range(500..1500));
        let at = Instant::now() + delay;
        self.reconnect_at = Some(self.away_until.take().map_or(at, |back| back.max(at)));
        self.stats(|s| s.sockets.dropped += 1).await;
    }

    /// Reconnects a dropped socket whose time has come.
    async fn ensure_socket(&mut self) {
        if self.socket.is_none() && self.reconnect_at.is_some_and(|t| t <= Instant::now()) {
            Box::pin(self.reconnect()).await;
        }
    }

    async fn handle(&mut self, e: &Event) {
        let me = self.index;
        match e.name.as_str() {
            "new_message" => {
                let from_partner = e.data["sender"]["_id"].as_str() != Some(self.acct.id.as_str());
                let key = e.data["tempId"].as_str().and_then(|t| u64::from_str_radix(t, 16).ok());
                if let (true, Some(key)) = (from_partner, key) {
                    self.stats(|s| s.received.push((Delivery::Message, key, e.at, me, 0))).await;
                }
            }
            "citizen_request_received" => {
                let (Some(request), Some(case)) = (e.data["requestId"].as_str(), e.data["caseId"].as_str()) else {
                    return;
                };
                self.stats(|s| s.received.push((Delivery::CaseRequest, key_of(request), e.at, me, 0))).await;
                self.requests.push_back((request.to_string(), case.to_string()));
            }
            "case_request_accepted" => {
                let Some(case) = e.data["caseId"].as_str() else { return };
                self.stats(|s| s.received.push((Delivery::CaseAccepted, key_of(case), e.at, me, 0))).await;
                // Told that a lawyer took the case, the citizen opens it: it must say so.
                if self.running() {
                    self.check_assigned(case, e.at).await;
                }
            }
            "error" => {
                let message = e.data["message"].as_str().unwrap_or_default().to_string();
                self.stats(|s| s.error(format!("socket:error:{message}"), || e.data.to_string())).await;
            }
            _ => {}
        }
    }

    /// The case a notification said was assigned must read as assigned. A stale answer is
    /// read again every 10 ms (for half a second) to tell how long it stays stale.
    async fn check_assigned(&self, case: &str, notified: u64) {
        let path = format!("/api/queries/{case}");
        let status = async || {
            let body = self.get("list", path.clone()).await?;
            body["data"]["query"]["status"].as_str().map(String::from)
        };
        let Some(first) = status().await else { return };
        let mut fresh_after = None;
        if first == "pending" {
            for _ in 0..50 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                if status().await.is_some_and(|s| s != "pending") {
                    fresh_after = Some(now_us().saturating_sub(notified) / 1000);
                    break;
                }
            }
        }
        let sample = || match fresh_after {
            Some(ms) => format!(
                "query {case} read as pending after case_request_accepted; assigned {ms} ms after the notification"
            ),
            None => format!("query {case} read as pending after case_request_accepted, still after 0.5 s"),
        };
        self.check("case-assigned", first != "pending", sample).await;
    }

    async fn check(&self, name: &str, fresh: bool, sample: impl FnOnce() -> String) {
        self.stats(|s| s.check(name, fresh, sample)).await;
    }

    /// One HTTP request, measured; the body of a 2xx answer.
    async fn call(&self, class: &str, method: Method, path: String, body: Body) -> Option<Value> {
        let mut req =
            self.http.request(method.clone(), format!("{}{path}", self.shared.base)).bearer_auth(&self.acct.token);
        req = match body {
            Body::Empty => req,
            Body::Json(v) => req.json(&v),
            Body::Form(f) => req.multipart(f),
        };
        let t0 = Instant::now();
        let outcome = match req.send().await {
            Ok(res) => {
                let status = res.status();
                match res.bytes().await {
                    Ok(bytes) => Ok((status, bytes)),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        let micros = t0.elapsed().as_micros() as u64;
        let second = self.second();
        let (ok, kind, value, sample) = match outcome {
            Ok((status, bytes)) => {
                let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let sample =
                    format!("{method} {path}: {status} {}", String::from_utf8_lossy(&bytes[..bytes.len().min(300)]));
                (status.is_success(), format!("{class}:{}", status.as_u16()), value, sample)
            }
            Err(e) => {
                let what = if e.is_timeout() { "timeout" } else { "transport" };
                (false, format!("{class}:{what}"), Value::Null, format!("{method} {path}: {e:#}"))
            }
        };
        self.stats(|s| {
            s.request(class, micros, ok, second);
            if !ok {
                s.error(kind, || sample);
            }
        })
        .await;
        ok.then_some(value)
    }

    async fn get(&self, class: &str, path: String) -> Option<Value> {
        self.call(class, Method::GET, path, Body::Empty).await
    }

    /// A dashboard's `data[field]`.
    async fn dashboard_count(&self, path: &str, field: &str) -> Option<i64> {
        self.get("dashboard", path.to_string()).await?["data"][field].as_i64()
    }

    fn random_chat(&self) -> Option<ChatRef> {
        self.acct.chats.choose(&mut rand::rng()).cloned()
    }

    async fn act(&mut self, action: Action) {
        match action {
            Action::Directory => self.directory().await,
            Action::Dashboard => self.dashboard().await,
            Action::List => self.list().await,
            Action::Chat => self.chat().await,
            Action::Query => self.post_query().await,
            Action::Accept => self.accept().await,
            Action::Upload => self.upload().await,
            Action::Verify => self.verify().await,
            Action::Login => self.login().await,
        }
    }

    /// The lawyer directory: pages, filters, a search; sometimes a profile from the page.
    async fn directory(&mut self) {
        let path = {
            let mut rng = rand::rng();
            match rng.random_range(0..100) {
                0..50 => format!("/api/lawyers/verified?page={}&limit=20", rng.random_range(1..=5)),
                50..75 => format!(
                    "/api/lawyers/verified?specialization={}&page=1&limit=20",
                    SPECIALIZATIONS.choose(&mut rng).unwrap_or(&"Civil Law").replace(' ', "%20")
                ),
                75..85 => {
                    format!("/api/lawyers/verified?search={}&limit=20", SURNAMES.choose(&mut rng).unwrap_or(&"Rao"))
                }
                _ if self.acct.role == "citizen" => {
                    format!("/api/citizens/available-lawyers?page={}", rng.random_range(1..=3))
                }
                _ => "/api/lawyers/verified?sortBy=name&sortOrder=asc&limit=20".to_string(),
            }
        };
        let Some(page) = self.get("directory", path).await else { return };
        let lawyers = ids(&page["data"], "_id");
        let lawyers = if lawyers.is_empty() { ids(&page["data"]["lawyers"], "_id") } else { lawyers };
        let pick = { lawyers.choose(&mut rand::rng()).cloned() };
        if let Some(id) = pick.filter(|_| rand::rng().random_bool(0.5)) {
            self.get("directory", format!("/api/lawyers/{id}/profile")).await;
        }
    }

    async fn dashboard(&mut self) {
        let paths: &[&str] = match self.acct.role.as_str() {
            "citizen" => &["/api/citizens/dashboard", "/api/citizens/recent-activity"],
            "lawyer" => &["/api/lawyers/dashboard/stats"],
            _ => &["/api/admin/dashboard/analytics", "/api/admin/system/stats"],
        };
        let path = paths.choose(&mut rand::rng()).copied().unwrap_or_default();
        self.get("dashboard", path.to_string()).await;
    }

    async fn list(&mut self) {
        let paths: &[&str] = match self.acct.role.as_str() {
            "citizen" => &[
                "/api/citizens/my-cases",
                "/api/citizens/connected-lawyers",
                "/api/citizens/direct-chats",
                "/api/queries?limit=10",
                "/api/documents/repository/my-documents",
            ],
            "lawyer" => &[
                "/api/lawyers/my-cases?limit=10",
                "/api/lawyers/connected-citizens",
                "/api/lawyers/my-direct-clients",
                "/api/lawyers/available-cases",
                "/api/lawyers/received-case-requests",
            ],
            _ => &[
                "/api/admin/users?page=1",
                "/api/admin/users?page=2&role=lawyer",
                "/api/admin/lawyers/pending-verifications",
            ],
        };
        let path = paths.choose(&mut rand::rng()).copied().unwrap_or_default();
        self.get("list", path.to_string()).await;
    }

    /// Opens a chat (its history must hold what this user sent last time), then sends one to
    /// three messages a few seconds apart.
    async fn chat(&mut self) {
        let Some(chat) = self.random_chat() else { return self.list().await };
        let history = self.get("chat-read", format!("/api/chats/{}/messages?limit=20", chat.chat_id)).await;
        if let (Some(history), Some(mine)) = (history, self.acked.get(&chat.chat_id).cloned()) {
            let page = ids(&history["data"]["messages"], "_id");
            let present = page.contains(&mine);
            // The page holds the 20 newest: when the partner sent 20 since, mine is on a later
            // page, which proves nothing. Ids start with their creation second, so a page whose
            // messages are all from later seconds than mine is left unchecked.
            let fell_off = page.len() >= 20 && page.iter().all(|id| id_second(id) > id_second(&mine));
            if present || !fell_off {
                self.check("chat-history", present, || format!("{}: message {mine} missing", chat.chat_id)).await;
            }
        }
        let count = rand::rng().random_range(1..=3);
        for k in 0..count {
            if k > 0 {
                let pause = Duration::from_millis(rand::rng().random_range(2000..8000));
                self.idle_until(Instant::now() + pause).await;
            }
            if !self.running() {
                break;
            }
            self.send_message(&chat).await;
        }
    }

    async fn send_message(&mut self, chat: &ChatRef) {
        let Some(socket) = self.socket.clone() else { return };
        let key = self.shared.next_key();
        let temp = format!("{key:x}");
        let sent = now_us();
        let content = format!("Load test message {temp}: could we go over the documents before the hearing?");
        if !socket.emit("send_message", json!({"chatId": chat.chat_id, "content": content, "tempId": temp})) {
            return;
        }
        let until = Instant::now() + self.shared.opts.loss_timeout;
        let drops = self.drops;
        let reply =
            self.wait_for(|e| (e.name == "message_sent" && e.data["tempId"] == temp) || e.name == "error", until).await;
        // The connection closed under the message (a reload): its acknowledgement comes with
        // the resumed session, or never when the message was lost with the connection.
        let resumed = self.drops > drops;
        match reply {
            Some(e) if e.name == "message_sent" => {
                if let Some(id) = e.data["messageId"].as_str() {
                    self.acked.insert(chat.chat_id.clone(), id.to_string());
                }
                let me = self.index;
                let class = if resumed { "socket-ack-resumed" } else { "socket-ack" };
                self.stats(|s| {
                    s.request(class, e.at.saturating_sub(sent), true, None);
                    // Acknowledged: from now on the partner must receive it.
                    s.sent.push((Delivery::Message, key, sent, me, chat.index));
                })
                .await;
            }
            // An `error` event was counted by `handle`.
            Some(_) => {}
            // Lost with the connection before the server read it, unless the chat has it: then
            // the server stored it and its acknowledgement never came, which is a failure.
            None if resumed => {
                let history = self.get("chat-read", format!("/api/chats/{}/messages?limit=50", chat.chat_id)).await;
                let stored = history.is_some_and(|h| {
                    h["data"]["messages"].as_array().is_some_and(|m| m.iter().any(|m| m["content"] == content.as_str()))
                });
                self.stats(|s| match stored {
                    true => s.error("socket-ack:stored-unacknowledged".into(), || format!("{} {temp}", chat.chat_id)),
                    false => s.sockets.unacknowledged += 1,
                })
                .await;
            }
            None => self.stats(|s| s.error("socket-ack:timeout".into(), || format!("{} {temp}", chat.chat_id))).await,
        }
    }

    /// A citizen posts a query, finds it in "my queries" and counted on the dashboard, and often
    /// asks a connected lawyer.
    async fn post_query(&mut self) {
        const DASHBOARD: &str = "/api/citizens/dashboard";
        let before = self.dashboard_count(DASHBOARD, "totalQueries").await;
        let key = self.shared.next_key();
        let category = *CATEGORIES.choose(&mut rand::rng()).unwrap_or(&"civil");
        let body = json!({
            "title": format!("Load test query {key:x}"),
            "description": "A tenant has not been returned the deposit two months after moving out.",
            "category": category,
            "priority": "medium",
        });
        let Some(created) = self.call("write", Method::POST, "/api/queries".into(), Body::Json(body)).await else {
            return;
        };
        let Some(id) = created["data"]["query"]["_id"].as_str().map(String::from) else { return };
        if let Some(mine) = self.get("list", "/api/queries?limit=10".into()).await {
            let present = ids(&mine["data"], "_id").contains(&id);
            self.check("query-list", present, || format!("query {id} missing from GET /api/queries")).await;
        }
        if let (Some(before), Some(after)) = (before, self.dashboard_count(DASHBOARD, "totalQueries").await) {
            let sample = || format!("totalQueries {after} after creating query {id}, {before} before");
            self.check("citizen-dashboard", after == before + 1, sample).await;
        }
        let Some(chat) = self.random_chat().filter(|_| self.running() && rand::rng().random_bool(0.6)) else { return };
        let sent = now_us();
        let path = format!("/api/citizens/request-lawyer-for-query/{id}/{}", chat.partner);
        let body = json!({"message": "Could you take this one?"});
        let Some(answer) = self.call("write", Method::POST, path, Body::Json(body)).await else { return };
        if let Some(request) = answer["data"]["requestId"].as_str() {
            let (me, to) = (self.index, chat.index);
            self.stats(|s| s.sent.push((Delivery::CaseRequest, key_of(request), sent, me, to))).await;
        }
        // The citizen looks at the query (so it is cached when the lawyer's answer comes).
        self.get("list", format!("/api/queries/{id}")).await;
    }

    /// A lawyer accepts the newest request of a citizen (announced on the socket, else from the
    /// list), then finds the case among "my cases" and counted on the dashboard.
    async fn accept(&mut self) {
        const DASHBOARD: &str = "/api/lawyers/dashboard/stats";
        while self.requests.back().is_some_and(|(r, _)| self.accepted.contains(r)) {
            self.requests.pop_back();
        }
        let next = match self.requests.pop_back() {
            Some(pair) => Some(pair),
            None => {
                let Some(list) =
                    self.get("list", "/api/lawyers/received-case-requests?status=pending&limit=10".into()).await
                else {
                    return;
                };
                let items = list["data"]["requests"].as_array().cloned().unwrap_or_default();
                items.iter().find_map(|i| {
                    let (request, case) = (i["requestId"].as_str()?, i["caseId"].as_str()?);
                    (!self.accepted.contains(request)).then(|| (request.to_string(), case.to_string()))
                })
            }
        };
        let Some((request, case)) = next.filter(|_| self.running()) else { return };
        self.accepted.insert(request.clone());
        let before = self.dashboard_count(DASHBOARD, "activeQueries").await;
        let sent = now_us();
        let path = format!("/api/lawyers/accept-case-request/{request}");
        if self.call("write", Method::POST, path, Body::Json(json!({}))).await.is_none() {
            return;
        }
        let me = self.index;
        self.stats(|s| s.sent.push((Delivery::CaseAccepted, key_of(&case), sent, me, 0))).await;
        if let Some(mine) = self.get("list", "/api/lawyers/my-cases?limit=10".into()).await {
            let cases = ids(&mine["data"]["cases"], "_id");
            let mut present = cases.contains(&case);
            if !present && cases.len() == 10 {
                // An older case may rightly fall off the first page: then it must say it is ours.
                let item = self.get("list", format!("/api/queries/{case}")).await;
                present = item.is_some_and(|i| i["data"]["query"]["assignedLawyer"]["_id"] == self.acct.id.as_str());
            }
            self.check("lawyer-my-cases", present, || format!("case {case} missing from GET /api/lawyers/my-cases"))
                .await;
        }
        if let (Some(before), Some(after)) = (before, self.dashboard_count(DASHBOARD, "activeQueries").await) {
            let sample = || format!("activeQueries {after} after accepting case {case}, {before} before");
            self.check("lawyer-dashboard", after == before + 1, sample).await;
        }
    }

    /// A small text document on one of the user's connections, then read back.
    async fn upload(&mut self) {
        let Some(chat) = self.random_chat() else { return self.list().await };
        let key = self.shared.next_key();
        let text = format!("Load test document {key:x}\n{}", "Terms of the tenancy agreement. ".repeat(60));
        let Ok(part) = reqwest::multipart::Part::bytes(text.into_bytes())
            .file_name(format!("note-{key:x}.txt"))
            .mime_str("text/plain")
        else {
            return;
        };
        let form = reqwest::multipart::Form::new()
            .part("document", part)
            .text("documentType", "direct")
            .text("relatedId", chat.connection.clone())
            .text("description", "Uploaded by the load test");
        let Some(created) = self.call("upload", Method::POST, "/api/documents/upload".into(), Body::Form(form)).await
        else {
            return;
        };
        let document = &created["data"]["document"];
        let Some(id) = document["_id"].as_str().or(document["id"].as_str()).map(String::from) else { return };
        if let Some(list) = self.get("list", format!("/api/documents/direct/{}", chat.connection)).await {
            let present = ids(&list["data"]["documents"], "_id").contains(&id);
            self.check("document", present, || format!("document {id} missing from its connection's list")).await;
        }
    }

    /// An admin verifies a pending lawyer, who must then be in the public directory: on its
    /// first page (the most browsed, so cached), unless twenty newer lawyers fill it.
    async fn verify(&mut self) {
        let Some(pending) = self.get("list", "/api/admin/lawyers/pending-verifications?limit=10".into()).await else {
            return;
        };
        let lawyers = pending["data"]["lawyers"].as_array().cloned().unwrap_or_default();
        let Some(lawyer) = lawyers.choose(&mut rand::rng()).cloned() else { return self.dashboard().await };
        let (Some(id), Some(created)) = (lawyer["_id"].as_str(), lawyer["createdAt"].as_str()) else { return };
        let body = json!({"action": "approve", "reason": "Verified by the load test"});
        if self
            .call("write", Method::PATCH, format!("/api/admin/lawyers/{id}/verification"), Body::Json(body))
            .await
            .is_none()
        {
            return;
        }
        if let Some(page) = self.get("directory", "/api/lawyers/verified?page=1&limit=20".into()).await {
            let items = page["data"].as_array().cloned().unwrap_or_default();
            let present = items.iter().any(|i| i["_id"] == id)
                || (items.len() == 20 && items.iter().all(|i| i["createdAt"].as_str().is_some_and(|c| c >= created)));
            self.check("directory-verified", present, || {
                format!("verified lawyer {id} not on the directory's first page")
            })
            .await;
        }
    }

    /// A password login (argon2: deliberately slow, so rare).
    async fn login(&mut self) {
        let body = json!({"email": self.acct.email, "password": self.shared.opts.password});
        self.call("login", Method::POST, "/api/auth/login".into(), Body::Json(body)).await;
    }
}
