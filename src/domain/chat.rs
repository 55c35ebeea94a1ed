//! Chats and messages: their closed sets.

use super::string_enum::string_enum;

string_enum!(
    /// Whether a chat connects its participants: a direct chat a citizen requested is
    /// `pending` until the lawyer accepts; case chats and accepted ones are `active`.
    ChatStatus, "chat status" { Pending = "pending", Active = "active", Closed = "closed" }
);

string_enum!(
    /// A direct chat of two users, or the chat of a query or a dispute.
    ChatType, "chat type" { Direct = "direct", Query = "query", Dispute = "dispute" }
);

impl ChatType {
    /// The case types (`query`, `dispute`): every chat type but `direct`.
    pub fn is_case(self) -> bool {
        self != ChatType::Direct
    }
}

string_enum!(
    /// What a message carries.
    MessageType, "message type" { Text = "text", File = "file", Image = "image", System = "system" }
);
