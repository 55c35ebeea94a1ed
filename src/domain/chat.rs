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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::connection::{ConnectionStatus, ConnectionType, LinkType};
    use crate::domain::consultation::{ConsultationStatus, ConsultationType};
    use crate::domain::document::{DocumentCategory, DocumentStatus, DocumentType};

    /// Each value serializes, parses and is stored as the same string (the API's).
    fn round_trips<T>(all: &[T], names: &[&str], as_str: fn(T) -> &'static str)
    where
        T: Copy
            + PartialEq
            + std::fmt::Debug
            + serde::Serialize
            + serde::de::DeserializeOwned
            + std::str::FromStr,
    {
        assert_eq!(all.len(), names.len());
        for (value, name) in all.iter().zip(names) {
            assert_eq!(as_str(*value), *name);
            assert_eq!(
                serde_json::to_value(value).unwrap(),
                serde_json::json!(name)
            );
            assert_eq!(
                serde_json::from_value::<T>(serde_json::json!(name)).unwrap(),
                *value
            );
            assert!(name.parse::<T>().ok() == Some(*value));
        }
        assert!("Active".parse::<T>().is_err(), "parsing is exact");
    }

    #[test]
    fn closed_sets_are_the_api_strings() {
        round_trips(
            ChatStatus::ALL,
            &["pending", "active", "closed"],
            ChatStatus::as_str,
        );
        round_trips(
            ChatType::ALL,
            &["direct", "query", "dispute"],
            ChatType::as_str,
        );
        round_trips(
            MessageType::ALL,
            &["text", "file", "image", "system"],
            MessageType::as_str,
        );
        round_trips(
            ConnectionStatus::ALL,
            &["pending", "accepted", "rejected", "blocked"],
            ConnectionStatus::as_str,
        );
        round_trips(
            ConnectionType::ALL,
            &["general_consultation", "specific_case", "ongoing_support"],
            ConnectionType::as_str,
        );
        round_trips(LinkType::ALL, &["client", "lawyer"], LinkType::as_str);
        round_trips(
            ConsultationType::ALL,
            &["video", "audio", "in-person"],
            ConsultationType::as_str,
        );
        assert_eq!(ConsultationStatus::InProgress.as_str(), "in-progress");
        round_trips(
            ConsultationStatus::ALL,
            ConsultationStatus::NAMES,
            ConsultationStatus::as_str,
        );
        round_trips(
            DocumentStatus::ALL,
            DocumentStatus::NAMES,
            DocumentStatus::as_str,
        );
        round_trips(
            DocumentType::ALL,
            &["direct", "query", "dispute"],
            DocumentType::as_str,
        );
        assert_eq!(DocumentCategory::NAMES.len(), 12);
        round_trips(
            DocumentCategory::ALL,
            DocumentCategory::NAMES,
            DocumentCategory::as_str,
        );
    }
}
