//! Who may reach whom over Socket.IO: the checks behind relays and presence, for the socket
//! handlers (which call services, never the store). The rules themselves are the store's
//! queries (`store::relations`): shared chats, accepted connections, consultations, cases.

use crate::ids::Id;
use crate::state::AppState;
use crate::store;

/// Users who share an active chat with `user` (presence events go to them).
pub async fn chat_partners(state: &AppState, user: &Id) -> sqlx::Result<Vec<Id>> {
    store::relations::chat_partners(&state.db, user).await
}

/// Whether `user` participates in the chat named `chat_id`.
pub async fn in_chat(state: &AppState, chat_id: &str, user: &Id) -> sqlx::Result<bool> {
    store::relations::in_chat(&state.db, chat_id, user).await
}

/// Whether `a` may reach `b`'s sockets (calls, signals, relayed requests).
pub async fn are_related(state: &AppState, a: &Id, b: &Id) -> sqlx::Result<bool> {
    store::relations::are_related(&state.db, a, b).await
}

/// The citizen and the assigned lawyer (if any) of a case, for case events.
pub async fn case_parties(state: &AppState, case_type: &str, id: &Id) -> sqlx::Result<Option<(Id, Option<Id>)>> {
    store::cases::case_parties(&state.db, case_type, id).await
}
