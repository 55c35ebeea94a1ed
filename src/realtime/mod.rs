//! Real-time delivery. [`Notifier`] is the one way services reach users' sockets, from HTTP
//! and Socket.IO handlers alike; the Socket.IO server ([`Realtime`], `server.rs`) subscribes
//! to it and emits to rooms, across instances when Redis joins them.

mod events;
mod presence;
mod recovery;
mod server;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::ids::Id;
use crate::state::AppState;

pub use server::{Identity, Realtime, user_room};

/// Disconnects every socket of `user`, on every instance (account deactivated).
pub async fn disconnect_user(state: &AppState, user: &Id) {
    state.realtime.disconnect_user(user).await;
}

/// Where an event goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every socket of one user (room `user_<id>`).
    User(Id),
    /// Every socket in a chat room (room named by the chatId).
    Room(String),
}

impl Target {
    pub fn room_name(&self) -> String {
        match self {
            Target::User(id) => format!("user_{id}"),
            Target::Room(room) => room.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Notification {
    pub target: Target,
    pub event: String,
    pub payload: Value,
}

#[derive(Clone)]
pub struct Notifier {
    tx: broadcast::Sender<Notification>,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier::new()
    }
}

impl Notifier {
    pub fn new() -> Notifier {
        let (tx, _) = broadcast::channel(4096);
        Notifier { tx }
    }

    pub fn to_user(&self, user: &Id, event: &str, payload: Value) {
        self.send(Target::User(user.clone()), event, payload);
    }

    pub fn to_room(&self, room: &str, event: &str, payload: Value) {
        self.send(Target::Room(room.to_string()), event, payload);
    }

    fn send(&self, target: Target, event: &str, payload: Value) {
        tracing::debug!(target = %target.room_name(), event, "notify");
        // No subscriber (no socket server in this process) is not an error.
        let _ = self.tx.send(Notification { target, event: event.to_string(), payload });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.tx.subscribe()
    }

    /// Notifications sent and not yet taken by every subscriber.
    pub fn pending(&self) -> usize {
        self.tx.len()
    }
}
