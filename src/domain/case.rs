//! Queries and disputes: the closed sets a case is made of (type, status, priority, category,
//! dispute type, entry status and direction, timeline actions), serialized as the API's strings,
//! and the two rules about a case's parties: who may read it and who may change its status.

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

const QUERY_STATUSES: &[CaseStatus] = &[
    CaseStatus::Pending,
    CaseStatus::Assigned,
    CaseStatus::InProgress,
    CaseStatus::Resolved,
    CaseStatus::Closed,
];

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

/// Who acts on a case, as its two access rules see them (built from the user by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    Citizen(&'a Id),
    /// `verified`: an active lawyer whose verification is complete.
    Lawyer {
        id: &'a Id,
        verified: bool,
    },
    Admin,
    /// Law students see no cases.
    Other,
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
    /// (`has_entry`), or verified while the case is open; admins.
    pub fn may_read(&self, actor: Actor<'_>, has_entry: bool) -> bool {
        match actor {
            Actor::Citizen(id) => &self.citizen_id == id,
            Actor::Lawyer { id, verified } => {
                self.assigned_lawyer_id.as_ref() == Some(id)
                    || has_entry
                    || (verified && self.is_open())
            }
            Actor::Admin => true,
            Actor::Other => false,
        }
    }

    /// Who may change the case's status: its citizen, its assigned lawyer, admins.
    pub fn may_change_status(&self, actor: Actor<'_>) -> bool {
        match actor {
            Actor::Citizen(id) => &self.citizen_id == id,
            Actor::Lawyer { id, .. } => self.assigned_lawyer_id.as_ref() == Some(id),
            Actor::Admin => true,
            Actor::Other => false,
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
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        assert_eq!(CaseStatus::InProgress.as_str(), "in-progress");
        assert_eq!(DisputeType::LandlordTenant.as_str(), "landlord-tenant");
        assert_eq!(TimelineAction::StatusChange.as_str(), "status_change");
        assert!("urgent!".parse::<Priority>().is_err());
        assert_eq!(CaseType::Query.statuses().len(), 5);
        assert_eq!(CaseType::Dispute.statuses().len(), 7);
    }

    #[test]
    fn parties_rules() {
        let (citizen, lawyer, other) = (Id::new(), Id::new(), Id::new());
        let open = CaseParties {
            citizen_id: citizen.clone(),
            assigned_lawyer_id: None,
            status: CaseStatus::Pending,
        };
        let taken = CaseParties {
            assigned_lawyer_id: Some(lawyer.clone()),
            status: CaseStatus::Assigned,
            ..open.clone()
        };
        let verified = Actor::Lawyer {
            id: &other,
            verified: true,
        };
        assert!(open.may_read(verified, false));
        assert!(!taken.may_read(verified, false));
        assert!(taken.may_read(verified, true));
        assert!(taken.may_read(
            Actor::Lawyer {
                id: &lawyer,
                verified: false
            },
            false
        ));
        assert!(!open.may_read(Actor::Citizen(&other), false));
        assert!(!open.may_read(Actor::Other, true));
        assert!(taken.may_change_status(Actor::Lawyer {
            id: &lawyer,
            verified: false
        }));
        assert!(!taken.may_change_status(verified));
        assert!(taken.may_change_status(Actor::Citizen(&citizen)));
        assert!(taken.may_change_status(Actor::Admin));
    }
}
