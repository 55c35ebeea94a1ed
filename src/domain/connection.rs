//! Direct connections of a citizen and a lawyer: their closed sets.

use super::string_enum::string_enum;

string_enum!(
    /// Where a connection request stands.
    ConnectionStatus, "connection status" {
        Pending = "pending",
        Accepted = "accepted",
        Rejected = "rejected",
        Blocked = "blocked",
    }
);

string_enum!(
    /// What a citizen asks a lawyer for.
    ConnectionType, "connection type" {
        GeneralConsultation = "general_consultation",
        SpecificCase = "specific_case",
        OngoingSupport = "ongoing_support",
    }
);

string_enum!(
    /// What a legacy link (`users.connections`) makes the linked user: a lawyer's `client` or a
    /// citizen's `lawyer`.
    LinkType, "link type" { Client = "client", Lawyer = "lawyer" }
);
