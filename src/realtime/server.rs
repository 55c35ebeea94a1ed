//! The Socket.IO server (docs/api.md 4.1): socketioxide on the API port at `/socket.io/`, polling
//! and WebSocket, authenticated at handshake; the local adapter, or the Redis adapter when
//! `REDIS_URL` is set so rooms span instances. With connection state recovery on (the
//! default), every event goes out through [`Recovery`] (`recovery.rs`, docs/realtime.md).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};
use serde_json::{Value, json};
use socketioxide::adapter::{Adapter, Emitter, LocalAdapter};
use socketioxide::extract::{AckSender, Event, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::DisconnectReason;
use socketioxide::{SocketIo, SocketIoBuilder};
use socketioxide_redis::{RedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
use tokio::sync::{SetOnce, broadcast};
use tokio::task::JoinHandle;

use super::events;
use super::presence::{HEARTBEAT_EVERY, MessageLimiter, Presence};
use super::recovery::{Recovery, Session, Sink};
use crate::config::Config;
use crate::domain::user::Role;
use crate::ids::Id;
use crate::notify::{Notification, Notifier};
use crate::service::people;
use crate::state::AppState;

type Redis = RedisAdapter<Emitter>;

/// Engine.IO settings of docs/api.md 4.1.
const PING_INTERVAL: Duration = Duration::from_secs(25);
const PING_TIMEOUT: Duration = Duration::from_secs(60);
/// socket.io's `maxHttpBufferSize` (1e6 bytes).
const MAX_PAYLOAD: u64 = 1_000_000;
/// Small per-socket WebSocket read buffer: most frames are tiny (measured in BENCHMARKS.md).
const WS_READ_BUFFER: usize = 512;
/// Chat messages per user in a rolling minute.
const MESSAGES_PER_MINUTE: usize = 30;

/// Who a socket belongs to, fixed at handshake (docs/api.md 4.1).
#[derive(Debug)]
pub struct Identity {
    pub id: Id,
    pub name: String,
    pub role: Role,
    /// Set once the connect handler has counted the socket in presence: events and the
    /// disconnect wait for it, so `user_online` precedes anything the socket causes.
    ready: SetOnce<()>,
    /// The socket's recovery session (None with recovery off).
    pub(crate) session: Option<Session>,
}

impl Identity {
    pub fn room(&self) -> String {
        user_room(&self.id)
    }

    /// `{_id, name, role}`: how the sender appears in relayed events.
    pub fn summary(&self) -> Value {
        json!({"_id": self.id, "name": self.name, "role": self.role.as_str()})
    }
}

pub fn user_room(id: &Id) -> String {
    format!("user_{id}")
}

/// What the event handlers work with: the application and this socket server.
#[derive(Clone)]
pub(crate) struct Attached {
    pub state: AppState,
    pub server: Realtime,
}

/// Handlers reach the application through this slot; it is emptied when the server stops so
/// the socket server does not keep the application (and its database pool) alive.
#[derive(Clone, Default)]
pub(crate) struct Slot(Arc<RwLock<Option<Attached>>>);

impl Slot {
    pub(crate) fn get(&self) -> Option<Attached> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
    fn set(&self, attached: Option<Attached>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = attached;
    }
}

#[derive(Clone)]
enum Io {
    Local(SocketIo<LocalAdapter>),
    Redis(SocketIo<Redis>),
}

#[derive(Clone)]
enum Layer {
    Local(SocketIoLayer<LocalAdapter>),
    Redis(SocketIoLayer<Redis>),
}

struct Inner {
    io: Io,
    layer: Layer,
    slot: Slot,
    presence: Presence,
    limiter: MessageLimiter,
    recovery: Option<Arc<Recovery>>,
    /// Client events being handled now.
    in_flight: AtomicUsize,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// The socket server of one instance. Cheap to clone.
#[derive(Clone)]
pub struct Realtime {
    inner: Arc<Inner>,
}

fn builder() -> SocketIoBuilder {
    SocketIo::builder()
        .ping_interval(PING_INTERVAL)
        .ping_timeout(PING_TIMEOUT)
        .max_payload(MAX_PAYLOAD)
        .ws_read_buffer_size(WS_READ_BUFFER)
}

/// `REDIS_URL` with `protocol=resp3`, which the adapter's pub/sub needs.
fn resp3_url(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

async fn connect_redis(
    url: &str,
    prefix: &str,
    slot: &Slot,
) -> anyhow::Result<(SocketIoLayer<Redis>, SocketIo<Redis>, Presence)> {
    let client = redis::Client::open(resp3_url(url))?;
    let config = RedisAdapterConfig::new().with_prefix(format!("{prefix}socket.io"));
    let ctr = RedisAdapterCtr::new_with_redis_config(&client, config).await?;
    let (layer, io) = builder().with_adapter::<Redis>(ctr).with_state(slot.clone()).build_layer();
    let conn = redis::Client::open(url)?.get_connection_manager().await?;
    let presence = Presence::shared(conn, prefix, Id::new().to_string());
    Ok((layer, io, presence))
}

impl Realtime {
    /// Builds the server; with `REDIS_URL`, joined to the other instances through Redis. If
    /// Redis cannot be reached at startup the instance runs alone (logged as an error).
    pub async fn new(config: &Config) -> Realtime {
        let slot = Slot::default();
        let mut built = None;
        if let Some(url) = &config.redis_url {
            match connect_redis(url, &config.redis_prefix, &slot).await {
                Ok((layer, io, presence)) => built = Some((Io::Redis(io), Layer::Redis(layer), presence)),
                Err(e) => {
                    tracing::error!(error = %e, "Socket.IO Redis adapter unavailable: this instance's sockets will not reach other instances")
                }
            }
        }
        let (io, layer, presence) = built.unwrap_or_else(|| {
            let (layer, io) = builder().with_state(slot.clone()).build_layer();
            (Io::Local(io), Layer::Local(layer), Presence::local())
        });
        let window = config.socket_recovery_window;
        let recovery = match (&io, &config.redis_url) {
            _ if window.is_zero() => None,
            (Io::Redis(_), Some(url)) => match Recovery::redis(url, &config.redis_prefix, window).await {
                Ok(recovery) => Some(recovery),
                Err(e) => {
                    tracing::error!(error = %e, "socket recovery unavailable (Redis): sockets work without it");
                    None
                }
            },
            _ => Some(Recovery::memory(window)),
        };
        Realtime {
            inner: Arc::new(Inner {
                io,
                layer,
                slot,
                presence,
                limiter: MessageLimiter::new(MESSAGES_PER_MINUTE, Duration::from_secs(60)),
                recovery,
                in_flight: AtomicUsize::new(0),
                tasks: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Opens the default namespace and starts delivering the application's notifications.
    pub async fn attach(&self, state: &AppState) -> anyhow::Result<()> {
        self.inner.slot.set(Some(Attached { state: state.clone(), server: self.clone() }));
        let notifications = state.notifier.subscribe();
        let disconnects = state.notifier.subscribe_disconnects();
        let recovery = self.inner.recovery.clone();
        if let Some(recovery) = &recovery {
            recovery.start();
        }
        let bridge = match &self.inner.io {
            Io::Local(io) => {
                io.ns("/", on_connect::<LocalAdapter>.with(authenticate::<LocalAdapter>));
                tokio::spawn(deliver(io.clone(), recovery, notifications, disconnects))
            }
            Io::Redis(io) => {
                io.ns("/", on_connect::<Redis>.with(authenticate::<Redis>))
                    .await
                    .map_err(|e| anyhow::anyhow!("opening the Socket.IO namespace on Redis: {e}"))?;
                tokio::spawn(deliver(io.clone(), recovery, notifications, disconnects))
            }
        };
        self.inner.presence.heartbeat().await;
        let inner = Arc::downgrade(&self.inner);
        let heartbeat = tokio::spawn(async move {
            let mut every = tokio::time::interval(HEARTBEAT_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(inner) = inner.upgrade() else { break };
                inner.presence.heartbeat().await;
                inner.limiter.prune();
            }
        });
        self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner()).extend([bridge, heartbeat]);
        Ok(())
    }

    /// Puts the socket server in front of the public HTTP service (outside its body limit,
    /// metrics and compression), wrapped once around the whole service rather than around each
    /// route: a route's layers are cloned on every request.
    pub fn mount<S>(&self, app: S) -> Router
    where
        S: tower::Service<Request, Response = axum::response::Response, Error = std::convert::Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        use tower::Layer as _;
        let own = tower::util::MapRequestLayer::new(own_handshake_parts);
        match &self.inner.layer {
            Layer::Local(layer) => Router::new().fallback_service(own.layer(layer.layer(app))),
            Layer::Redis(layer) => Router::new().fallback_service(own.layer(layer.layer(app))),
        }
    }

    /// Closes every socket of this instance (so a graceful HTTP shutdown is not held open by
    /// WebSockets) and withdraws this instance from shared presence. The sockets' sessions are
    /// kept for the recovery window first: their clients see the transport close, reconnect at
    /// once (to the worker or instance that takes over) and resume.
    pub async fn close(&self) {
        if let Some(recovery) = &self.inner.recovery {
            recovery.park_all().await;
        }
        match &self.inner.io {
            Io::Local(io) => io.close().await,
            Io::Redis(io) => io.close().await,
        }
        self.inner.presence.retire().await;
    }

    /// The end of a graceful stop, once requests and jobs are done: lets the client events
    /// under way finish, and every event they and the requests emitted reach Redis (logged for
    /// the sockets' sessions, which resume elsewhere), bounded by `within`.
    pub async fn finish(&self, notifier: &Notifier, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let pause = Duration::from_millis(5);
        while self.inner.in_flight.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(pause).await;
        }
        while notifier.pending() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(pause).await;
        }
        // The bridge hands the last notification taken over at once.
        tokio::time::sleep(pause).await;
        if let Some(recovery) = &self.inner.recovery {
            recovery.flush(deadline.saturating_duration_since(tokio::time::Instant::now())).await;
        }
    }

    /// Stops background work and lets go of the application state.
    pub fn detach(&self) {
        for task in self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            task.abort();
        }
        if let Some(recovery) = &self.inner.recovery {
            recovery.stop();
        }
        self.inner.slot.set(None);
    }

    pub(crate) fn presence(&self) -> &Presence {
        &self.inner.presence
    }

    pub(crate) fn limiter(&self) -> &MessageLimiter {
        &self.inner.limiter
    }

    /// The recovery window, when recovery is on.
    pub fn recovery_window(&self) -> Option<Duration> {
        self.inner.recovery.as_ref().map(|r| r.window())
    }

    /// Emits to the socket `s` itself.
    pub(crate) fn emit_to_socket<A: Adapter>(&self, s: &SocketRef<A>, me: &Identity, event: &str, payload: &Value) {
        if let (Some(recovery), Some(session)) = (&self.inner.recovery, &me.session) {
            return recovery.emit_to(session, event, payload);
        }
        if let Err(e) = s.emit(event, payload) {
            tracing::debug!(event, error = %e, "could not emit to the sender");
        }
    }

    /// Emits to every socket in `rooms`.
    pub(crate) async fn emit_to_rooms<A: Adapter>(
        &self,
        io: &SocketIo<A>,
        rooms: Vec<String>,
        event: &str,
        payload: &Value,
    ) {
        if rooms.is_empty() {
            return;
        }
        if let Some(recovery) = &self.inner.recovery {
            return recovery.emit(rooms, None, event, payload);
        }
        if let Err(e) = io.to(rooms).emit(event, payload).await {
            tracing::warn!(event, error = %e, "socket broadcast failed");
        }
    }

    /// Emits to every socket in `rooms` but `s` (its user's other sockets do receive), as
    /// `socket.to(rooms)` does.
    pub(crate) async fn emit_from<A: Adapter>(
        &self,
        s: &SocketRef<A>,
        me: Option<&Identity>,
        rooms: Vec<String>,
        event: &str,
        payload: &Value,
    ) {
        if rooms.is_empty() {
            return;
        }
        if let Some(recovery) = &self.inner.recovery {
            let except = me.and_then(|me| me.session.as_ref()).map(|session| &session.pid);
            return recovery.emit(rooms, except, event, payload);
        }
        if let Err(e) = s.to(rooms).emit(event, payload).await {
            tracing::warn!(event, error = %e, "socket broadcast failed");
        }
    }

    /// Adds the socket to a room (and its recovery session, so a resumed socket is in it again).
    pub(crate) async fn join<A: Adapter>(&self, s: &SocketRef<A>, me: &Identity, room: String) {
        s.join(room.clone());
        if let (Some(recovery), Some(session)) = (&self.inner.recovery, &me.session) {
            recovery.join(session, &room).await;
        }
    }

    pub(crate) async fn leave<A: Adapter>(&self, s: &SocketRef<A>, me: &Identity, room: String) {
        s.leave(room.clone());
        if let (Some(recovery), Some(session)) = (&self.inner.recovery, &me.session) {
            recovery.leave(session, &room).await;
        }
    }
}

/// Emits every application notification to its room, and closes the sockets of users whose
/// accounts were deactivated, on whichever instance the sockets are.
async fn deliver<A: Adapter>(
    io: SocketIo<A>,
    recovery: Option<Arc<Recovery>>,
    mut rx: broadcast::Receiver<Notification>,
    mut disconnects: broadcast::Receiver<Id>,
) {
    loop {
        tokio::select! {
            received = rx.recv() => match received {
                Ok(n) => {
                    if let Some(recovery) = &recovery {
                        recovery.emit(vec![n.target.room_name()], None, &n.event, &n.payload);
                    } else if let Err(e) = io.to(n.target.room_name()).emit(&n.event, &n.payload).await {
                        tracing::warn!(event = %n.event, error = %e, "could not deliver a notification");
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "socket delivery fell behind; notifications were dropped");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            // The adapter carries the disconnection to the other instances.
            Ok(user) = disconnects.recv() => {
                if let Err(e) = io.to(user_room(&user)).disconnect().await {
                    tracing::warn!(%user, error = %e, "could not disconnect the user's sockets");
                }
            }
        }
    }
}

/// Why a handshake was refused; the text reaches the client as `connect_error`.
#[derive(Debug)]
struct Refused(&'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// The access token from `auth.token`, else from `Authorization: Bearer`.
fn handshake_token(auth: &Value, headers: &HeaderMap) -> Option<String> {
    if let Some(token) = auth.get("token").and_then(Value::as_str).filter(|t| !t.is_empty()) {
        return Some(token.to_string());
    }
    let header = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    header.split(' ').nth(1).filter(|t| !t.is_empty()).map(str::to_string)
}

/// Handshake authentication: a valid access token of an existing, active user. The socket's
/// room and handlers are set up here, before the client is told it is connected, so no event
/// it sends right after `connect` can miss its handler.
async fn authenticate<A: Adapter>(
    s: SocketRef<A>,
    State(slot): State<Slot>,
    TryData(auth): TryData<Value>,
) -> Result<(), Refused> {
    let Attached { state, server } = slot.get().ok_or(Refused("Authentication failed"))?;
    let auth = auth.unwrap_or(Value::Null);
    let token = handshake_token(&auth, &s.req_parts().headers).ok_or(Refused("Authentication token required"))?;
    let claims = state.tokens.verify_access(&token).map_err(|_| Refused("Authentication failed"))?;
    let id = claims.user_id().ok_or(Refused("Authentication failed"))?;
    let user = people::principal(&state, &id).await.map_err(|e| {
        tracing::warn!(error = %e, "socket authentication: user lookup failed");
        Refused("Authentication failed")
    })?;
    let user = user.filter(|u| u.is_active).ok_or(Refused("User not found or inactive"))?;
    // Recovery only after authentication: a session is resumed for the user of the token only.
    let session = match &server.inner.recovery {
        Some(recovery) => {
            let sink: Arc<dyn Sink> = Arc::new(s.clone());
            let session = recovery.handshake(&s.id.to_string(), sink, &user.id, user_room(&user.id), &auth).await;
            if session.announced {
                s.set_pid(session.pid.to_string());
            }
            for room in &session.rooms {
                s.join(room.clone());
            }
            Some(session)
        }
        None => None,
    };
    let me = Identity { id: user.id, name: user.name, role: user.role, ready: SetOnce::new(), session };
    s.join(me.room());
    s.extensions.insert(Arc::new(me));
    s.on_fallback(dispatch::<A>);
    s.on_disconnect(on_disconnect::<A>);
    Ok(())
}

/// Sends a resumed socket what it missed (a new one what came since its handshake), then
/// counts it in presence (announcing the user on their first socket anywhere).
async fn on_connect<A: Adapter>(s: SocketRef<A>, State(slot): State<Slot>) {
    let Some(me) = s.extensions.get::<Arc<Identity>>() else { return };
    let Some(Attached { state, server }) = slot.get() else { return };
    if let (Some(session), Some(recovery)) = (&me.session, &server.inner.recovery) {
        let replayed = recovery.open(session, &s.id.to_string());
        if session.recovered {
            tracing::debug!(user = %me.id, replayed, "socket session resumed");
        }
    }
    metrics::gauge!("nyaya_socket_connections").increment(1.0);
    if server.presence().adjust(&me.id, 1).await == 1 {
        events::announce(&state, &server, &s, &me, true).await;
    }
    let _ = me.ready.set(());
}

async fn on_disconnect<A: Adapter>(s: SocketRef<A>, State(slot): State<Slot>, reason: DisconnectReason) {
    let Some(me) = s.extensions.get::<Arc<Identity>>() else { return };
    me.ready.wait().await;
    metrics::gauge!("nyaya_socket_connections").decrement(1.0);
    let Some(Attached { state, server }) = slot.get() else { return };
    tracing::debug!(user = %me.id, ?reason, "socket disconnected");
    if let (Some(recovery), Some(session)) = (&server.inner.recovery, &me.session) {
        recovery.detach(session, &s.id.to_string(), recoverable(reason)).await;
    }
    if server.presence().adjust(&me.id, -1).await == 0 {
        events::announce(&state, &server, &s, &me, false).await;
    }
}

/// Whether a session outlives this disconnection (Socket.IO keeps it after these: the
/// transport closed or failed, a ping timeout, the server shutting down), not after the
/// client's or the server's deliberate disconnect, or a protocol violation.
fn recoverable(reason: DisconnectReason) -> bool {
    use DisconnectReason::*;
    matches!(reason, TransportClose | TransportError | HeartbeatTimeout | ClosingServer)
}

/// Every client event goes through one handler per socket (less memory than one per event).
async fn dispatch<A: Adapter>(
    s: SocketRef<A>,
    io: SocketIo<A>,
    State(slot): State<Slot>,
    Event(event): Event,
    ack: AckSender<A>,
    TryData(data): TryData<Value>,
) {
    let Some(me) = s.extensions.get::<Arc<Identity>>() else { return };
    me.ready.wait().await;
    let Some(Attached { state, server }) = slot.get() else { return };
    let data = data.unwrap_or(Value::Null);
    let _counted = InFlight::count(&server);
    events::handle(events::Ctx { s, io, state, server, me }, &event, data, ack).await;
}

/// Counts a client event as under way while it lives (see [`Realtime::finish`]).
struct InFlight(Realtime);

impl InFlight {
    fn count(realtime: &Realtime) -> InFlight {
        realtime.inner.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(realtime.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.inner.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// engineioxide keeps the handshake request's parts for the socket's lifetime; copied into
/// owned buffers they no longer pin hyper's 16 KiB read buffer (see BENCHMARKS.md).
fn own_handshake_parts(mut req: Request) -> Request {
    let uri = req.uri();
    let handshake = uri.path().starts_with("/socket.io") && !uri.query().is_some_and(|q| q.contains("sid="));
    if !handshake {
        return req;
    }
    if let Ok(owned) = Uri::try_from(uri.to_string()) {
        *req.uri_mut() = owned;
    }
    let mut headers = HeaderMap::with_capacity(req.headers().len());
    for (name, value) in req.headers() {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name.as_str().as_bytes()), HeaderValue::from_bytes(value.as_bytes()))
        {
            headers.append(name, value);
        }
    }
    *req.headers_mut() = headers;
    req
}
