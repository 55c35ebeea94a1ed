//! Wiring: builds the application state from the configuration (where "embedded or
//! service-backed" is decided for every subsystem), the HTTP, Socket.IO and ops listeners,
//! the job workers, and the graceful drain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;
use tower::util::MapResponseLayer;
use tower::{Layer, Service};

pub mod ops;

use crate::cache::{Cache, Settings as CacheSettings};
use crate::config::Config;
use crate::db::Db;
use crate::jobs::Jobs;
use crate::jobs::runner::Workers;
use crate::mail::Mailer;
use crate::notify::Notifier;
use crate::realtime::Realtime;
use crate::security::Tokens;
use crate::state::{AppState, Services};

/// The application and the Socket.IO server that serves it. The state does not hold the server
/// (services reach sockets through the notifier); startup owns both.
pub struct App {
    pub state: AppState,
    pub realtime: Realtime,
}

/// Connects every subsystem the configuration names and attaches the Socket.IO handlers.
pub async fn build(config: Config) -> anyhow::Result<App> {
    crate::error::set_expose_internals(!config.env.is_production());
    let db = Db::connect(&config.database_url, config.db_max_connections).await?;
    db.migrate().await.context("running migrations")?;
    let mailer = Mailer::new(config.smtp_url.as_deref(), config.outbox_dir(), &config.mail_from)?;
    let cache = Cache::connect(CacheSettings::from_config(&config)).await?;
    let realtime = Realtime::new(&config).await;
    let jobs = Jobs::connect(config.jobs.clone(), &config.job_store()).await.context("opening the job store")?;
    let state = AppState::new(Services {
        jobs,
        tokens: Tokens::new(&config),
        cache,
        notifier: Notifier::new(),
        config: Arc::new(config),
        db,
        mailer,
        started_at: Instant::now(),
    });
    realtime.attach(&state).await?;
    Ok(App { state, realtime })
}

/// How long a draining server keeps idle keep-alive connections open, answering their next
/// request with `Connection: close`, before closing them. Closing an idle connection races
/// with a client that is sending on it (the request is lost); a client that gets its answer
/// with `Connection: close` reconnects instead, to a listener that is still accepting.
pub const DRAIN_LINGER: Duration = Duration::from_secs(1);

/// The default bound on a graceful stop (`--shutdown-timeout`).
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// What the HTTP server is doing, for readiness, `nyaya status` and the drain.
#[derive(Debug)]
pub struct Activity {
    requests: AtomicU64,
    connections: AtomicI64,
    draining: watch::Sender<Option<Drain>>,
}

/// A drain in progress: connections close after their next response, idle ones after the
/// linger, and whatever is left at the deadline is dropped.
#[derive(Debug, Clone, Copy)]
struct Drain {
    linger_until: tokio::time::Instant,
    deadline: tokio::time::Instant,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            requests: AtomicU64::new(0),
            connections: AtomicI64::new(0),
            draining: watch::channel(None).0,
        })
    }

    /// Responses sent since start.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Open HTTP connections (a connection upgraded to a WebSocket leaves this count).
    pub fn connections(&self) -> i64 {
        self.connections.load(Ordering::Relaxed)
    }

    pub fn is_draining(&self) -> bool {
        self.draining.borrow().is_some()
    }

    async fn drained(&self) -> Drain {
        let mut rx = self.draining.subscribe();
        let drain = rx.wait_for(Option::is_some).await.map(|d| *d);
        // The sender lives as long as `self`.
        drain.ok().flatten().expect("drain signal")
    }
}

/// A running server: its public address and ops address, and a handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub state: AppState,
    realtime: Realtime,
    activity: Arc<Activity>,
    ops_shutdown: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// This process's job workers, unless `JOBS_WORKERS=off`.
    workers: Option<Workers>,
}

impl Running {
    /// A graceful stop bounded by [`SHUTDOWN_TIMEOUT`].
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown(SHUTDOWN_TIMEOUT).await
    }

    /// Stops accepting, closes the Socket.IO sessions (clients reconnect, to a listener that
    /// still accepts), lets requests in flight finish (their connections close after the
    /// response), closes idle connections after [`DRAIN_LINGER`] and drops whatever is still
    /// open after `timeout`. The ops listener answers (readiness: 503) until the end.
    pub async fn shutdown(mut self, timeout: Duration) -> anyhow::Result<()> {
        self.begin_drain(timeout);
        // A long-poll in flight would otherwise hold its connection until the deadline.
        self.realtime.close().await;
        let served = match self.task.take() {
            Some(task) => task.await,
            None => Ok(Ok(())),
        };
        if let Some(workers) = self.workers.take() {
            workers.shutdown(timeout).await;
        }
        // What the last requests, jobs and socket events emitted reaches Redis before the
        // process goes (sessions resume elsewhere and get it).
        self.realtime.finish(&self.state.notifier, timeout.min(Duration::from_secs(5))).await;
        // Other instances' writes stop waiting for this one's confirmations.
        self.state.cache.leave().await;
        let _ = self.ops_shutdown.send(true);
        served?
    }

    /// Starts the drain without waiting for it (see [`Running::shutdown`]).
    pub fn begin_drain(&self, timeout: Duration) {
        let now = tokio::time::Instant::now();
        let drain = Drain { linger_until: now + DRAIN_LINGER.min(timeout), deadline: now + timeout };
        self.activity.draining.send_if_modified(|d| d.is_none() && d.replace(drain).is_none());
    }

    pub fn activity(&self) -> Arc<Activity> {
        self.activity.clone()
    }
}

impl Drop for Running {
    /// The socket server holds the state (and itself) for its handlers; releasing them here
    /// lets the database pool and the rest of the state go when the server does.
    fn drop(&mut self) {
        self.realtime.detach();
    }
}

/// Serves the public and ops listeners until [`Running::stop`] (or forever).
pub async fn start(app: App, listener: TcpListener, admin_listener: TcpListener) -> anyhow::Result<Running> {
    let App { state, realtime } = app;
    let addr = listener.local_addr()?;
    let admin_addr = admin_listener.local_addr()?;
    let activity = Activity::new();
    let (ops_shutdown, mut ops_rx) = watch::channel(false);
    let counted = activity.clone();
    let app =
        MapResponseLayer::new(move |res| track(&counted, res)).layer(crate::http::router(state.clone(), &realtime));
    let ops = ops::router(state.clone(), activity.clone());
    tokio::spawn(async move {
        let ops = axum::serve(admin_listener, ops).with_graceful_shutdown(async move {
            let _ = ops_rx.wait_for(|stop| *stop).await;
        });
        if let Err(e) = ops.await {
            tracing::error!(error = %e, "ops listener failed");
        }
    });
    let task = tokio::spawn(serve_http(listener, app, activity.clone()));
    let workers = state.jobs.settings().workers_in_serve.then(|| start_workers(&state, &crate::jobs::Queue::ALL));
    Ok(Running { addr, admin_addr, state, realtime, activity, ops_shutdown, task: Some(task), workers })
}

/// Job workers for `queues` in this process.
pub fn start_workers(state: &AppState, queues: &[crate::jobs::Queue]) -> Workers {
    let workers = Workers::start(&state.jobs, crate::service::background::all(state, queues));
    if queues.contains(&crate::jobs::Queue::Files) {
        let state = state.clone();
        tokio::spawn(async move { crate::service::files::resume_processing(&state).await });
    }
    workers
}

/// Counts responses; while draining, asks the client to reconnect elsewhere. (A response
/// mapper, not `from_fn`, which would clone the service below it on every request.)
fn track(activity: &Activity, mut res: Response) -> Response {
    activity.requests.fetch_add(1, Ordering::Relaxed);
    if activity.is_draining() && res.status() != StatusCode::SWITCHING_PROTOCOLS {
        res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// The accept loop (hyper HTTP/1.1 with upgrades, one task per connection) and the drain:
/// unlike `axum::serve`, idle keep-alive connections are not cut the moment the drain starts.
async fn serve_http<S>(listener: TcpListener, app: S, activity: Arc<Activity>) -> anyhow::Result<()>
where
    S: HttpService,
    S::Future: Send + 'static,
{
    let tracker = TaskTracker::new();
    let drain = loop {
        let accepted = tokio::select! {
            drain = activity.drained() => break drain,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Per-connection errors (reset before accept) or fd exhaustion: keep going.
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tracker.spawn(serve_connection(stream, peer, app.clone(), activity.clone()));
    };
    // Stop accepting: other listeners of the same port (other workers) take new connections.
    drop(listener);
    tracker.close();
    if tokio::time::timeout_at(drain.deadline, tracker.wait()).await.is_err() {
        tracing::warn!(open = activity.connections(), "shutdown timeout: dropping connections still open");
    }
    Ok(())
}

/// The public HTTP service as the accept loop takes it ([`crate::http::router`] and its counter).
trait HttpService:
    Service<axum::extract::Request, Response = Response, Error = std::convert::Infallible> + Clone + Send + Sync + 'static
{
}

impl<S> HttpService for S where
    S: Service<axum::extract::Request, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + Sync
        + 'static
{
}

async fn serve_connection<S>(stream: tokio::net::TcpStream, peer: SocketAddr, app: S, activity: Arc<Activity>)
where
    S: HttpService,
    S::Future: Send + 'static,
{
    activity.connections.fetch_add(1, Ordering::Relaxed);
    let service = hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        app.clone().call(req.map(axum::body::Body::new))
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let finished = tokio::select! {
        result = conn.as_mut() => Some(result),
        drain = activity.drained() => {
            // Busy connections finish their request and close (`Connection: close`); idle ones
            // get the linger to send one more.
            match tokio::time::timeout_at(drain.linger_until, conn.as_mut()).await {
                Ok(result) => Some(result),
                Err(_) => {
                    conn.as_mut().graceful_shutdown();
                    tokio::time::timeout_at(drain.deadline, conn.as_mut()).await.ok()
                }
            }
        }
    };
    if let Some(Err(e)) = finished {
        tracing::debug!(error = %e, %peer, "connection error");
    }
    activity.connections.fetch_sub(1, Ordering::Relaxed);
}

/// `nyaya serve` as one process: the configured ports, until Ctrl-C or SIGTERM, then a
/// graceful stop bounded by `shutdown_timeout`.
pub async fn serve(config: Config, shutdown_timeout: Duration) -> anyhow::Result<()> {
    let public: SocketAddr = format!("{}:{}", config.host, config.port).parse().context("HOST/PORT")?;
    let admin = config.admin_addr;
    let app = build(config).await?;
    let listener = TcpListener::bind(public).await.with_context(|| format!("binding {public}"))?;
    let admin_listener = TcpListener::bind(admin).await.with_context(|| format!("binding ops listener {admin}"))?;
    tracing::info!(%public, ops = %admin, mail = app.state.mailer.transport_name(), "nyaya listening");
    let running = start(app, listener, admin_listener).await?;
    shutdown_signal().await;
    tracing::info!(timeout = ?shutdown_timeout, "shutting down: finishing requests in flight");
    running.shutdown(shutdown_timeout).await
}

/// `nyaya worker`: job workers without the HTTP server, until Ctrl-C or SIGTERM; jobs in flight
/// get `shutdown_timeout` to finish.
pub async fn run_job_worker(
    config: Config,
    queues: &[crate::jobs::Queue],
    ops_addr: Option<SocketAddr>,
    shutdown_timeout: Duration,
) -> anyhow::Result<()> {
    // The socket server stays: a job's notification (document_processed) reaches the users'
    // sockets on the web instances through its Redis adapter.
    let App { state, realtime } = build(config).await?;
    if let Some(addr) = ops_addr {
        let listener = TcpListener::bind(addr).await.with_context(|| format!("binding ops listener {addr}"))?;
        let ops = ops::router(state.clone(), Activity::new());
        tokio::spawn(async move { axum::serve(listener, ops).await });
    }
    let workers = start_workers(&state, queues);
    let names: Vec<&str> = queues.iter().map(|q| q.as_str()).collect();
    tracing::info!(queues = ?names, backend = state.jobs.backend().as_str(), "nyaya worker running");
    shutdown_signal().await;
    tracing::info!(timeout = ?shutdown_timeout, "worker stopping: finishing jobs in flight");
    workers.shutdown(shutdown_timeout).await;
    state.cache.leave().await;
    realtime.close().await;
    realtime.detach();
    Ok(())
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
