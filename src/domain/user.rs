//! Accounts: roles, a lawyer's verification, and the rules about them, written once.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::string_enum::UnknownValue;
use crate::ids::Id;
use crate::time::Timestamp;

/// What an account is. Serialized as today's strings (`law_student`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Citizen,
    Lawyer,
    Admin,
    LawStudent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Citizen => "citizen",
            Role::Lawyer => "lawyer",
            Role::Admin => "admin",
            Role::LawStudent => "law_student",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        Some(match raw {
            "citizen" => Role::Citizen,
            "lawyer" => Role::Lawyer,
            "admin" => Role::Admin,
            "law_student" => Role::LawStudent,
            _ => return None,
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownValue;
    fn from_str(raw: &str) -> Result<Role, UnknownValue> {
        Role::parse(raw).ok_or_else(|| UnknownValue { set: "role", value: raw.to_string() })
    }
}

/// Where an admin's review of a lawyer stands (`lawyerDetails.verificationStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerificationStatus {
    Pending,
    Verified,
    Rejected,
}

impl VerificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationStatus::Pending => "pending",
            VerificationStatus::Verified => "verified",
            VerificationStatus::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Option<VerificationStatus> {
        Some(match raw {
            "pending" => VerificationStatus::Pending,
            "verified" => VerificationStatus::Verified,
            "rejected" => VerificationStatus::Rejected,
            _ => return None,
        })
    }
}

impl fmt::Display for VerificationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VerificationStatus {
    type Err = UnknownValue;
    fn from_str(raw: &str) -> Result<VerificationStatus, UnknownValue> {
        VerificationStatus::parse(raw)
            .ok_or_else(|| UnknownValue { set: "verification status", value: raw.to_string() })
    }
}

/// An account of any role, with its lawyer or student details (docs/api.md 2.2).
#[derive(Debug, Clone)]
pub struct User {
    pub id: Id,
    pub name: String,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub phone: Option<String>,
    /// `{street, city, state, pincode}` or null.
    pub address: Value,
    pub profile_picture: Option<String>,
    pub is_verified: bool,
    pub is_active: bool,
    pub refresh_token_hash: Option<String>,
    pub password_reset_hash: Option<String>,
    pub password_reset_expires: Option<Timestamp>,
    /// When the owner redeemed the emailed confirmation token; `None`: not confirmed.
    pub email_confirmed_at: Option<Timestamp>,
    pub email_confirmation_hash: Option<String>,
    pub email_confirmation_expires: Option<Timestamp>,
    pub profile_completion: Value,
    /// Lawyers only: the `lawyerDetails` document.
    pub lawyer_details: Option<Value>,
    /// Law students only: the `studentDetails` document.
    pub student_details: Option<Value>,
    /// Legacy `[{userId, connectionType, connectedAt}]` links.
    pub connections: Value,
    pub message_requests: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl User {
    /// A new account with the defaults of docs/api.md 2.1/2.2 for its role.
    pub fn new(name: String, email: String, password_hash: String, role: Role) -> User {
        let now = Timestamp::now();
        let is_lawyer = role == Role::Lawyer;
        User {
            id: Id::new(),
            name,
            email,
            password_hash,
            role,
            phone: None,
            address: Value::Null,
            profile_picture: None,
            is_verified: !is_lawyer,
            is_active: true,
            refresh_token_hash: None,
            password_reset_hash: None,
            password_reset_expires: None,
            email_confirmed_at: None,
            email_confirmation_hash: None,
            email_confirmation_expires: None,
            profile_completion: json!({"basicInfo": true, "roleSpecificDetails": !is_lawyer, "documentsUploaded": !is_lawyer}),
            lawyer_details: is_lawyer.then(|| json!({})),
            student_details: (role == Role::LawStudent).then(|| json!({})),
            connections: json!([]),
            message_requests: json!([]),
            created_at: now,
            updated_at: now,
        }
    }

    /// `lawyerDetails.verificationStatus`; pending when absent or unknown.
    pub fn verification_status(&self) -> VerificationStatus {
        self.lawyer_details
            .as_ref()
            .and_then(|d| d.get("verificationStatus"))
            .and_then(Value::as_str)
            .and_then(VerificationStatus::parse)
            .unwrap_or(VerificationStatus::Pending)
    }

    /// The rule "verified lawyer", the only place it is written: a lawyer whose verification
    /// an admin approved, i.e. `isVerified` AND `verificationStatus: verified` (admin
    /// verification keeps the two together; data from elsewhere may not). Says nothing about
    /// deactivation: see [`User::is_active_verified_lawyer`].
    pub fn is_verified_lawyer(&self) -> bool {
        self.role == Role::Lawyer && self.is_verified && self.verification_status() == VerificationStatus::Verified
    }

    /// A verified lawyer whose account is active: who the directory lists and whom citizens
    /// may assign cases to, connect, chat and book consultations with.
    pub fn is_active_verified_lawyer(&self) -> bool {
        self.is_active && self.is_verified_lawyer()
    }

    /// `lawyerDetails.specialization` (text entries only).
    pub fn specializations(&self) -> Vec<String> {
        self.lawyer_details
            .as_ref()
            .and_then(|d| d.get("specialization"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// `lawyerDetails.experience` in whole years.
    pub fn experience(&self) -> Option<i64> {
        self.lawyer_details.as_ref().and_then(|d| d.get("experience")).and_then(Value::as_f64).map(|e| e as i64)
    }

    /// `lawyerDetails.education`.
    pub fn education(&self) -> Option<String> {
        self.lawyer_details.as_ref().and_then(|d| d.get("education")).and_then(Value::as_str).map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lawyer(flag: bool, status: Option<&str>, active: bool) -> User {
        let mut u = User::new("L".into(), "l@example.com".into(), String::new(), Role::Lawyer);
        u.is_verified = flag;
        u.is_active = active;
        if let Some(s) = status {
            u.lawyer_details = Some(json!({"verificationStatus": s}));
        }
        u
    }

    #[test]
    fn verified_lawyer_needs_the_flag_and_the_status() {
        assert!(lawyer(true, Some("verified"), true).is_verified_lawyer());
        assert!(!lawyer(true, Some("pending"), true).is_verified_lawyer());
        assert!(!lawyer(true, Some("rejected"), true).is_verified_lawyer());
        assert!(!lawyer(true, None, true).is_verified_lawyer());
        assert!(!lawyer(false, Some("verified"), true).is_verified_lawyer());
        assert!(lawyer(true, Some("verified"), false).is_verified_lawyer());
        assert!(!lawyer(true, Some("verified"), false).is_active_verified_lawyer());
        let mut citizen = lawyer(true, Some("verified"), true);
        citizen.role = Role::Citizen;
        assert!(!citizen.is_verified_lawyer());
    }

    #[test]
    fn names_round_trip() {
        for role in [Role::Citizen, Role::Lawyer, Role::Admin, Role::LawStudent] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(serde_json::to_value(role).unwrap(), json!(role.as_str()));
        }
        for s in [VerificationStatus::Pending, VerificationStatus::Verified, VerificationStatus::Rejected] {
            assert_eq!(s.as_str().parse::<VerificationStatus>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
        }
    }
}
