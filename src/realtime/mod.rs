//! The Socket.IO server ([`Realtime`], `server.rs`) and its event handlers (`events.rs`). It
//! subscribes to the application's [`crate::notify::Notifier`] and emits to rooms, across
//! instances when Redis joins them. Startup owns it; the application state does not hold it, so
//! services reach sockets only through notifications.

mod events;
mod presence;
mod recovery;
mod server;

pub use server::{Identity, Realtime, user_room};
