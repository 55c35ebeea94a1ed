//! The application's shared state: every subsystem a handler or a service may call, behind one
//! `Arc` so that handing it to a request, a socket event or a job costs one reference count.
//! Built by [`crate::startup`], where "embedded or service-backed" is decided per subsystem.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use crate::cache::Cache;
use crate::config::Config;
use crate::db::Db;
use crate::jobs::Jobs;
use crate::mail::Mailer;
use crate::notify::Notifier;
use crate::security::Tokens;

/// A cheap handle on [`Services`] (one `Arc`): clone it freely.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

/// The subsystems, reached through [`AppState`]'s `Deref` (`state.db`, `state.cache`, ...).
pub struct Services {
    pub config: Arc<Config>,
    pub db: Db,
    pub tokens: Tokens,
    pub mailer: Mailer,
    pub cache: Cache,
    /// How services reach users' sockets (the Socket.IO server subscribes).
    pub notifier: Notifier,
    /// Background job queues (email, file processing).
    pub jobs: Jobs,
    pub started_at: Instant,
}

impl AppState {
    pub fn new(services: Services) -> AppState {
        AppState(Arc::new(services))
    }
}

impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}
