//! Application state, built once from the configuration: this is where "embedded or
//! service-backed" is decided for every subsystem.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::cache::{Cache, Settings as CacheSettings};
use crate::config::Config;
use crate::db::Db;
use crate::http::rate_limit::RateLimiter;
use crate::mail::Mailer;
use crate::realtime::{Notifier, Realtime};
use crate::security::Tokens;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub tokens: Tokens,
    pub mailer: Mailer,
    pub rate_limiter: RateLimiter,
    pub cache: Cache,
    pub notifier: Notifier,
    /// The Socket.IO server of this instance (API.md 4).
    pub realtime: Realtime,
    pub started_at: Instant,
}

impl AppState {
    pub async fn build(config: Config) -> anyhow::Result<AppState> {
        crate::error::set_expose_internals(!config.env.is_production());
        let db = Db::connect(&config.database_url, config.db_max_connections).await?;
        db.migrate().await.context("running migrations")?;
        let mailer = Mailer::new(config.smtp_url.as_deref(), config.outbox_dir(), &config.mail_from)?;
        let cache = Cache::connect(CacheSettings::from_config(&config)).await?;
        let realtime = Realtime::new(&config).await;
        let state = AppState {
            tokens: Tokens::new(&config),
            rate_limiter: RateLimiter::new(config.rate_limit_window, config.rate_limit_max),
            cache,
            notifier: Notifier::new(),
            realtime,
            config: Arc::new(config),
            db,
            mailer,
            started_at: Instant::now(),
        };
        state.realtime.attach(&state).await?;
        Ok(state)
    }
}

/// A running server: its public address and ops address, and a handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub state: AppState,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    pub async fn stop(mut self) -> anyhow::Result<()> {
        // Sockets first: open WebSockets would hold the graceful shutdown forever.
        self.state.realtime.close().await;
        let _ = self.shutdown.send(true);
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    /// The socket server holds the state for its handlers; releasing it here lets the
    /// database pool and the rest of the state go when the server does.
    fn drop(&mut self) {
        self.state.realtime.detach();
    }
}

/// Binds the public and ops listeners and serves until [`Running::stop`] (or forever).
pub async fn start(state: AppState, listener: TcpListener, admin_listener: TcpListener) -> anyhow::Result<Running> {
    let addr = listener.local_addr()?;
    let admin_addr = admin_listener.local_addr()?;
    let (shutdown, mut rx) = tokio::sync::watch::channel(false);
    let mut rx_admin = rx.clone();
    let app = crate::http::router(state.clone());
    let ops = crate::ops::router(state.clone());
    let task = tokio::spawn(async move {
        let api = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|stop| *stop).await;
            });
        let ops = axum::serve(admin_listener, ops).with_graceful_shutdown(async move {
            let _ = rx_admin.wait_for(|stop| *stop).await;
        });
        let (a, b) = tokio::join!(api.into_future(), ops.into_future());
        a.context("API server")?;
        b.context("ops server")?;
        Ok(())
    });
    Ok(Running { addr, admin_addr, state, shutdown, task: Some(task) })
}

/// `nyaya serve`: the configured ports, until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let public: SocketAddr = format!("{}:{}", config.host, config.port).parse().context("HOST/PORT")?;
    let admin = config.admin_addr;
    let state = AppState::build(config).await?;
    let listener = TcpListener::bind(public).await.with_context(|| format!("binding {public}"))?;
    let admin_listener = TcpListener::bind(admin).await.with_context(|| format!("binding ops listener {admin}"))?;
    tracing::info!(%public, ops = %admin, mail = state.mailer.transport_name(), "nyaya listening");
    let running = start(state, listener, admin_listener).await?;
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.stop().await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
