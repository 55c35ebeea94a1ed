//! Queries and disputes: the closed sets a case is made of (type, status, priority, category,
//! dispute type, entry status and direction, timeline actions), serialized as the API's strings,
//! and the two rules about a case's parties: who may read it and who may change its status.

use crate::domain::user::{Role, User};
use crate::ids::Id;

pub use super::string_enum::UnknownValue;
use super::string_enum::string_enum;

string_enum!(
    /// The two kinds of case; they share one table and one implementation.
    CaseType, "case type" { Query = "query", Dispute = "dispute" }
);

string_enum!(
    /// A case's status (disputes add mediation and arbitration).
    CaseStatus, "case status" {
        Pending = "pending",
        Assigned = "assigned",
        InProgress = "in-progress",
        Mediation = "mediation",
        Arbitration = "arbitration",
        Resolved = "resolved",
        Closed = "closed",
    }
);

string_enum!(
    /// How urgent a case is.
    Priority, "priority" { Low = "low", Medium = "medium", High = "high", Urgent = "urgent" }
);

string_enum!(
    /// The law category of a case (queries and disputes).
    Category, "category" {
        Civil = "civil",
        Criminal = "criminal",
        Family = "family",
        Property = "property",
        Corporate = "corporate",
        Tax = "tax",
        Labor = "labor",
        Other = "other",
    }
);

string_enum!(
    /// What a dispute is about.
    DisputeType, "dispute type" {
        Property = "property",
        Contract = "contract",
        Family = "family",
        Employment = "employment",
        Business = "business",
        Consumer = "consumer",
        LandlordTenant = "landlord-tenant",
        Other = "other",
    }
);

string_enum!(
    /// The status of an offer or a request on a case.
    RequestStatus, "request status" { Pending = "pending", Accepted = "accepted", Rejected = "rejected" }
);

string_enum!(
    /// Which list of the case an entry belongs to: `lawyer` = `lawyerRequests` (offers by
    /// lawyers, and invitations a citizen sent through send-request), `citizen` =
    /// `citizenRequests` (a citizen asks a specific lawyer).
    Direction, "direction" { Lawyer = "lawyer", Citizen = "citizen" }
);

string_enum!(
    /// What a timeline item records.
    TimelineAction, "timeline action" { Created = "created", Assigned = "assigned", StatusChange = "status_change" }
);

string_enum!(
    /// How a dispute was resolved.
    ResolutionType, "resolution type" {
        Settlement = "settlement",
        Judgment = "judgment",
        Mediation = "mediation",
        Arbitration = "arbitration",
        Withdrawal = "withdrawal",
    }
);

const QUERY_STATUSES: &[CaseStatus] =
    &[CaseStatus::Pending, CaseStatus::Assigned, CaseStatus::InProgress, CaseStatus::Resolved, CaseStatus::Closed];

impl CaseType {
    /// Capitalized, for messages ("Query not found").
    pub fn label(self) -> &'static str {
        match self {
            CaseType::Query => "Query",
            CaseType::Dispute => "Dispute",
        }
    }

    /// "queries" / "disputes", for messages.
    pub fn plural(self) -> &'static str {
        match self {
            CaseType::Query => "queries",
            CaseType::Dispute => "disputes",
        }
    }

    /// The id key of socket payloads (`queryId` / `disputeId`).
    pub fn id_key(self) -> &'static str {
        match self {
            CaseType::Query => "queryId",
            CaseType::Dispute => "disputeId",
        }
    }

    /// The statuses a case of this type can have, in the model's order.
    pub fn statuses(self) -> &'static [CaseStatus] {
        match self {
            CaseType::Query => QUERY_STATUSES,
            CaseType::Dispute => CaseStatus::ALL,
        }
    }

    /// The `type` / `caseType` query parameter: singular or plural; anything else (`all`) is
    /// both types.
    pub fn from_param(raw: &str) -> Option<CaseType> {
        match raw {
            "query" | "queries" => Some(CaseType::Query),
            "dispute" | "disputes" => Some(CaseType::Dispute),
            _ => None,
        }
    }

    /// The activity-feed text of a new case.
    pub fn submitted(self) -> &'static str {
        match self {
            CaseType::Query => "Legal query submitted",
            CaseType::Dispute => "Legal dispute filed",
        }
    }
}

impl CaseStatus {
    /// Statuses the dashboards count as active.
    pub const ACTIVE: &'static [CaseStatus] = &[CaseStatus::Assigned, CaseStatus::InProgress];
    /// Statuses the dashboards count as resolved.
    pub const RESOLVED: &'static [CaseStatus] = &[CaseStatus::Resolved];
}

/// The parties of a case and the facts its two access rules need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseParties {
    pub citizen_id: Id,
    pub assigned_lawyer_id: Option<Id>,
    pub status: CaseStatus,
}

impl CaseParties {
    /// Open for offers and assignment: pending and nobody assigned.
    pub fn is_open(&self) -> bool {
        self.status == CaseStatus::Pending && self.assigned_lawyer_id.is_none()
    }

    /// Who may see the case: its citizen; a lawyer assigned to it, named in one of its entries
    /// (`has_entry`), or verified (and active) while the case is open; admins.
    pub fn may_read(&self, user: &User, has_entry: bool) -> bool {
        match user.role {
            Role::Citizen => self.citizen_id == user.id,
            Role::Lawyer => {
                self.assigned_lawyer_id.as_ref() == Some(&user.id)
                    || has_entry
                    || (user.is_active_verified_lawyer() && self.is_open())
            }
            Role::Admin => true,
            Role::LawStudent => false,
        }
    }

    /// Who may change the case's status: its citizen, its assigned lawyer, admins.
    pub fn may_change_status(&self, user: &User) -> bool {
        match user.role {
            Role::Citizen => self.citizen_id == user.id,
            Role::Lawyer => self.assigned_lawyer_id.as_ref() == Some(&user.id),
            Role::Admin => true,
            Role::LawStudent => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip() {
        for s in CaseStatus::ALL {
            assert_eq!(s.as_str().parse::<CaseStatus>(), Ok(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        assert_eq!(CaseStatus::InProgress.as_str(), "in-progress");
        assert_eq!(DisputeType::LandlordTenant.as_str(), "landlord-tenant");
        assert_eq!(TimelineAction::StatusChange.as_str(), "status_change");
        assert!("urgent!".parse::<Priority>().is_err());
        assert_eq!(CaseType::Query.statuses().len(), 5);
        assert_eq!(CaseType::Dispute.statuses().len(), 7);
    }

    fn user(role: Role, verified: bool) -> User {
        let mut u = User::new("U".into(), "u@example.com".into(), String::new(), role);
        u.is_verified = verified;
        if verified {
            u.lawyer_details = Some(serde_json::json!({"verificationStatus": "verified"}));
        }
        u
    }

    #[test]
    fn parties_rules() {
        let citizen = user(Role::Citizen, false);
        let assigned = user(Role::Lawyer, false);
        let verified = user(Role::Lawyer, true);
        let stranger = user(Role::Citizen, false);
        let open =
            CaseParties { citizen_id: citizen.id.clone(), assigned_lawyer_id: None, status: CaseStatus::Pending };
        let taken =
            CaseParties { assigned_lawyer_id: Some(assigned.id.clone()), status: CaseStatus::Assigned, ..open.clone() };
        assert!(open.may_read(&verified, false));
        assert!(!open.may_read(&assigned, false), "an unverified lawyer does not browse open cases");
        assert!(!taken.may_read(&verified, false));
        assert!(taken.may_read(&verified, true));
        assert!(taken.may_read(&assigned, false));
        assert!(!open.may_read(&stranger, false));
        assert!(!open.may_read(&user(Role::LawStudent, false), true));
        assert!(taken.may_change_status(&assigned));
        assert!(!taken.may_change_status(&verified));
        assert!(taken.may_change_status(&citizen));
        assert!(!taken.may_change_status(&stranger));
        assert!(taken.may_change_status(&user(Role::Admin, false)));
    }
}
