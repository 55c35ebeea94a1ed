//! Chats and messages: their closed sets.

use super::string_enum::string_enum;
use super::user::{Role, User};

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

/// Who may ask whom to talk: the rule of direct chats, written once. A citizen may open a
/// (pending) direct chat with, or send a connection request to, an active, verified lawyer (as
/// the directory offers them); nobody else opens a conversation with a stranger. Two users who
/// already share an active chat talk in it whatever their roles.
impl User {
    pub fn may_reach_out_to(&self, other: &User) -> bool {
        self.role == Role::Citizen && self.id != other.id && other.is_active_verified_lawyer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::connection::{ConnectionStatus, ConnectionType, LinkType};
    use crate::domain::consultation::{ConsultationStatus, ConsultationType};
    use crate::domain::document::{DocumentCategory, DocumentStatus, DocumentType};

    /// Each value serializes, parses and is stored as the same string (the API's).
    fn round_trips<T>(all: &[T], names: &[&str], as_str: fn(T) -> &'static str)
    where
        T: Copy + PartialEq + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned + std::str::FromStr,
    {
        assert_eq!(all.len(), names.len());
        for (value, name) in all.iter().zip(names) {
            assert_eq!(as_str(*value), *name);
            assert_eq!(serde_json::to_value(value).unwrap(), serde_json::json!(name));
            assert_eq!(serde_json::from_value::<T>(serde_json::json!(name)).unwrap(), *value);
            assert!(name.parse::<T>().ok() == Some(*value));
        }
        assert!("Active".parse::<T>().is_err(), "parsing is exact");
    }

    #[test]
    fn closed_sets_are_the_api_strings() {
        round_trips(ChatStatus::ALL, &["pending", "active", "closed"], ChatStatus::as_str);
        round_trips(ChatType::ALL, &["direct", "query", "dispute"], ChatType::as_str);
        round_trips(MessageType::ALL, &["text", "file", "image", "system"], MessageType::as_str);
        round_trips(ConnectionStatus::ALL, &["pending", "accepted", "rejected", "blocked"], ConnectionStatus::as_str);
        round_trips(
            ConnectionType::ALL,
            &["general_consultation", "specific_case", "ongoing_support"],
            ConnectionType::as_str,
        );
        round_trips(LinkType::ALL, &["client", "lawyer"], LinkType::as_str);
        round_trips(ConsultationType::ALL, &["video", "audio", "in-person"], ConsultationType::as_str);
        assert_eq!(ConsultationStatus::InProgress.as_str(), "in-progress");
        round_trips(ConsultationStatus::ALL, ConsultationStatus::NAMES, ConsultationStatus::as_str);
        round_trips(DocumentStatus::ALL, DocumentStatus::NAMES, DocumentStatus::as_str);
        round_trips(DocumentType::ALL, &["direct", "query", "dispute"], DocumentType::as_str);
        assert_eq!(DocumentCategory::NAMES.len(), 12);
        round_trips(DocumentCategory::ALL, DocumentCategory::NAMES, DocumentCategory::as_str);
    }

    fn user(role: Role, verified: bool, active: bool) -> User {
        let mut u = User::new("U".into(), "u@example.com".into(), String::new(), role);
        u.is_verified = verified;
        u.is_active = active;
        if verified && role == Role::Lawyer {
            u.lawyer_details = Some(serde_json::json!({"verificationStatus": "verified"}));
        }
        u
    }

    #[test]
    fn only_a_citizen_reaches_out_and_only_to_an_active_verified_lawyer() {
        let citizen = user(Role::Citizen, true, true);
        let lawyer = user(Role::Lawyer, true, true);
        assert!(citizen.may_reach_out_to(&lawyer));
        assert!(!lawyer.may_reach_out_to(&citizen), "a lawyer does not open a conversation");
        assert!(!citizen.may_reach_out_to(&user(Role::Lawyer, false, true)), "unverified");
        assert!(!citizen.may_reach_out_to(&user(Role::Lawyer, true, false)), "deactivated");
        assert!(!citizen.may_reach_out_to(&user(Role::Citizen, true, true)));
        assert!(!user(Role::LawStudent, true, true).may_reach_out_to(&lawyer));
        assert!(!user(Role::Admin, true, true).may_reach_out_to(&lawyer));
        assert!(!lawyer.may_reach_out_to(&lawyer));
    }
}
