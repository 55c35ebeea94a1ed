//! What responses show of an account (docs/api.md 2.2, 3.3): the clean user of auth and admin
//! replies, a lawyer's public projection (directory and profile), and what a citizen sees of a
//! lawyer. Field order is the wire order.

use serde::Serialize;
use serde_json::{Value, json};

use crate::ids::Id;
use crate::security::TokenPair;
use crate::store::users::{Role, User};
use crate::time::Timestamp;

/// The "clean user": every account field a client may see, with role-specific details.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanUser<'a> {
    #[serde(rename = "_id")]
    pub id: &'a Id,
    pub name: &'a str,
    pub email: &'a str,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<&'a str>,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub address: &'a Value,
    pub profile_picture: Option<&'a str>,
    pub is_verified: bool,
    pub is_active: bool,
    pub email_confirmed: bool,
    pub profile_completion: &'a Value,
    /// Legacy links; `clean_with_connections` populates their `userId`.
    pub connections: &'a Value,
    pub direct_connections: [Value; 0],
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(rename = "__v")]
    pub version: u8,
    /// Lawyers only, with `specialization` and `verificationDocuments` always lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lawyer_details: Option<Value>,
    /// Law students only, with the schema's defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub student_details: Option<StudentDetails>,
}

/// A law student's details as shown: absent texts are empty, the year defaults to this one.
/// The values stay JSON: the stored document may hold any type under these keys (imports keep
/// the original app's values), and they are shown as stored.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StudentDetails {
    pub university_name: Value,
    pub enrollment_year: Value,
    pub semester: Value,
    pub specialization: Value,
    pub roll_number: Value,
}

impl<'a> CleanUser<'a> {
    pub fn of(u: &'a User) -> CleanUser<'a> {
        let is_verified = match u.role {
            // The original's save hook keeps these accounts verified.
            Role::Citizen | Role::Admin => true,
            Role::Lawyer => u.is_verified && u.lawyer_details.is_some(),
            Role::LawStudent => u.is_verified,
        };
        // `lawyerDetails` is the stored free-form document (the original app's keys and any
        // an import kept), shown as is but for the two lists the client always expects.
        let lawyer_details = (u.role == Role::Lawyer).then(|| {
            let mut details = u.lawyer_details.clone().unwrap_or_else(|| json!({}));
            for key in ["specialization", "verificationDocuments"] {
                if !details.get(key).is_some_and(Value::is_array) {
                    details[key] = json!([]);
                }
            }
            details
        });
        let student_details = (u.role == Role::LawStudent).then(|| StudentDetails::of(u.student_details.as_ref()));
        CleanUser {
            id: &u.id,
            name: &u.name,
            email: &u.email,
            role: u.role,
            phone: u.phone.as_deref(),
            address: &u.address,
            profile_picture: u.profile_picture.as_deref(),
            is_verified,
            is_active: u.is_active,
            email_confirmed: u.email_confirmed_at.is_some(),
            profile_completion: &u.profile_completion,
            connections: &u.connections,
            direct_connections: [],
            created_at: u.created_at,
            updated_at: u.updated_at,
            version: 0,
            lawyer_details,
            student_details,
        }
    }

    /// As a JSON document, for replies that edit it further.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a clean user serializes")
    }
}

impl StudentDetails {
    fn of(stored: Option<&Value>) -> StudentDetails {
        let empty = json!({});
        let d = stored.unwrap_or(&empty);
        let given = |k: &str| d.get(k).cloned().filter(|v| !v.is_null());
        let text = |k: &str| given(k).unwrap_or_else(|| json!(""));
        StudentDetails {
            university_name: text("universityName"),
            enrollment_year: given("enrollmentYear")
                .unwrap_or_else(|| json!(chrono::Datelike::year(&chrono::Utc::now()))),
            semester: given("semester").unwrap_or_else(|| json!("1st")),
            specialization: text("specialization"),
            roll_number: text("rollNumber"),
        }
    }
}

/// `lawyerDetails` as anyone may see it: no verification notes or documents, `specialization`
/// always a list. A JSON value: the stored document is free-form (the original app's keys,
/// whatever an import kept), so only the withheld keys are named.
pub fn public_lawyer_details(u: &User) -> Value {
    let mut details = u.lawyer_details.clone().unwrap_or_else(|| json!({}));
    if let Some(obj) = details.as_object_mut() {
        obj.remove("verificationNotes");
        obj.remove("verificationDocuments");
        if !obj.get("specialization").is_some_and(Value::is_array) {
            obj.insert("specialization".into(), json!([]));
        }
    }
    details
}

/// What anyone may see of a lawyer (directory and public profile): no contact details, no
/// connections, no verification notes or documents.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicLawyer<'a> {
    #[serde(rename = "_id")]
    pub id: &'a Id,
    pub name: &'a str,
    pub role: Role,
    pub profile_picture: Option<&'a str>,
    pub lawyer_details: Value,
    pub created_at: Timestamp,
    /// The public profile's case counts (3.3 #2); absent in the directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<LawyerStats>,
}

impl<'a> PublicLawyer<'a> {
    pub fn of(u: &'a User) -> PublicLawyer<'a> {
        PublicLawyer {
            id: &u.id,
            name: &u.name,
            role: u.role,
            profile_picture: u.profile_picture.as_deref(),
            lawyer_details: public_lawyer_details(u),
            created_at: u.created_at,
            stats: None,
        }
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a public lawyer serializes")
    }
}

/// A lawyer's resolved cases on the public profile.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LawyerStats {
    pub resolved_queries: i64,
    pub resolved_disputes: i64,
    pub total_cases: i64,
    pub rating: f64,
}

/// What a logged-in citizen sees of a lawyer (3.4 #4): contact details included, the admin's
/// verification notes and documents still withheld.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LawyerForCitizen<'a> {
    #[serde(rename = "_id")]
    pub id: &'a Id,
    pub name: &'a str,
    pub email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<&'a str>,
    pub lawyer_details: Value,
    pub created_at: Timestamp,
    pub is_active: bool,
    pub is_verified: bool,
}

impl<'a> LawyerForCitizen<'a> {
    pub fn of(u: &'a User) -> LawyerForCitizen<'a> {
        LawyerForCitizen {
            id: &u.id,
            name: &u.name,
            email: &u.email,
            phone: u.phone.as_deref(),
            lawyer_details: public_lawyer_details(u),
            created_at: u.created_at,
            is_active: u.is_active,
            is_verified: u.is_verified,
        }
    }
}

/// `{user}`: a reply carrying one account (the clean user, or `/me`'s with populated links).
#[derive(Debug, Serialize)]
pub struct UserReply<U> {
    pub user: U,
}

/// `{lawyer}`: the admin's verification answer.
#[derive(Debug, Serialize)]
pub struct LawyerReply<'a> {
    pub lawyer: CleanUser<'a>,
}

/// `{accessToken, refreshToken}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tokens<'a> {
    pub access_token: &'a str,
    pub refresh_token: &'a str,
}

impl<'a> Tokens<'a> {
    pub fn of(tokens: &'a TokenPair) -> Tokens<'a> {
        Tokens { access_token: &tokens.access, refresh_token: &tokens.refresh }
    }
}

/// `{user, tokens}`: registration and login.
#[derive(Debug, Serialize)]
pub struct SessionReply<'a> {
    pub user: CleanUser<'a>,
    pub tokens: Tokens<'a>,
}

impl<'a> SessionReply<'a> {
    pub fn of(user: &'a User, tokens: &'a TokenPair) -> SessionReply<'a> {
        SessionReply { user: CleanUser::of(user), tokens: Tokens::of(tokens) }
    }
}

/// `{resetToken, message}`: the forgot-password reply in development only.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DevResetToken<'a> {
    pub reset_token: &'a str,
    pub message: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_user_keeps_the_key_order_and_role_details() {
        let mut u = User::new("Ana".into(), "a@x.in".into(), "-".into(), Role::Citizen);
        u.is_verified = false;
        let v = CleanUser::of(&u).to_value();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "_id",
                "name",
                "email",
                "role",
                "profilePicture",
                "isVerified",
                "isActive",
                "emailConfirmed",
                "profileCompletion",
                "connections",
                "directConnections",
                "createdAt",
                "updatedAt",
                "__v"
            ]
        );
        assert_eq!(v["isVerified"], true);
        assert_eq!(v["directConnections"], json!([]));

        let mut s = User::new("Sia".into(), "s@x.in".into(), "-".into(), Role::LawStudent);
        s.phone = Some("9876543210".into());
        s.student_details = Some(json!({"universityName": "NLU", "semester": null}));
        let v = CleanUser::of(&s).to_value();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(&keys[3..5], ["role", "phone"]);
        assert_eq!(keys.last(), Some(&"studentDetails"));
        assert_eq!(v["studentDetails"]["universityName"], "NLU");
        assert_eq!(v["studentDetails"]["semester"], "1st");
        assert_eq!(v["studentDetails"]["rollNumber"], "");

        let mut l = User::new("Lal".into(), "l@x.in".into(), "-".into(), Role::Lawyer);
        l.lawyer_details = None;
        let v = CleanUser::of(&l).to_value();
        assert_eq!(v["isVerified"], false);
        assert_eq!(v["lawyerDetails"], json!({"specialization": [], "verificationDocuments": []}));
    }

    #[test]
    fn public_lawyer_hides_notes_and_documents() {
        let mut l = User::new("Lal".into(), "l@x.in".into(), "-".into(), Role::Lawyer);
        l.lawyer_details = Some(json!({"verificationNotes": "n", "verificationDocuments": ["d"], "bio": "b"}));
        let v = PublicLawyer::of(&l).to_value();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["_id", "name", "role", "profilePicture", "lawyerDetails", "createdAt"]);
        assert_eq!(v["lawyerDetails"], json!({"bio": "b", "specialization": []}));
    }

    #[test]
    fn session_replies_keep_the_key_order() {
        let u = User::new("Ana".into(), "a@x.in".into(), "-".into(), Role::Citizen);
        let tokens = TokenPair { access: "a".into(), refresh: "r".into() };
        let v = serde_json::to_value(SessionReply::of(&u, &tokens)).unwrap();
        assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["user", "tokens"]);
        assert_eq!(v["user"], CleanUser::of(&u).to_value());
        assert_eq!(serde_json::to_string(&v["tokens"]).unwrap(), r#"{"accessToken":"a","refreshToken":"r"}"#);
        let dev = DevResetToken { reset_token: "t", message: "m" };
        assert_eq!(serde_json::to_string(&dev).unwrap(), r#"{"resetToken":"t","message":"m"}"#);
    }
}
