//! The one way services reach users' sockets, from HTTP handlers, Socket.IO handlers and jobs
//! alike: a notification names a target (a user or a chat room) and an event; a disconnection
//! asks that a user's sockets be closed. The Socket.IO server subscribes and delivers, across instances
//! when Redis joins them; services never see the server itself.

use serde_json::Value;
use tokio::sync::broadcast;

use crate::ids::Id;

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

/// An event for every socket of the target.
#[derive(Debug, Clone)]
pub struct Notification {
    pub target: Target,
    pub event: String,
    pub payload: Value,
}

#[derive(Clone)]
pub struct Notifier {
    tx: broadcast::Sender<Notification>,
    /// Users whose sockets are to be closed, on every instance (account deactivated).
    disconnects: broadcast::Sender<Id>,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier::new()
    }
}

impl Notifier {
    pub fn new() -> Notifier {
        let (tx, _) = broadcast::channel(4096);
        let (disconnects, _) = broadcast::channel(256);
        Notifier { tx, disconnects }
    }

    pub fn to_user(&self, user: &Id, event: &str, payload: Value) {
        self.event(Target::User(user.clone()), event, payload);
    }

    pub fn to_room(&self, room: &str, event: &str, payload: Value) {
        self.event(Target::Room(room.to_string()), event, payload);
    }

    /// Closes every socket of `user` on every instance; the client's reconnection is then
    /// refused at the handshake if the account is no longer active.
    pub fn disconnect_user(&self, user: &Id) {
        tracing::debug!(%user, "notify: disconnect");
        // No subscriber (no socket server in this process) is not an error.
        let _ = self.disconnects.send(user.clone());
    }

    fn event(&self, target: Target, event: &str, payload: Value) {
        tracing::debug!(target = %target.room_name(), event, "notify");
        let _ = self.tx.send(Notification { target, event: event.to_string(), payload });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.tx.subscribe()
    }

    pub fn subscribe_disconnects(&self) -> broadcast::Receiver<Id> {
        self.disconnects.subscribe()
    }

    /// Notifications sent and not yet taken by every subscriber.
    pub fn pending(&self) -> usize {
        self.tx.len()
    }
}
