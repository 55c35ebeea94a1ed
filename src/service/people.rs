//! Users as other records show them: populated references (Mongoose `populate(path, fields)`)
//! and the small summaries of socket payloads. One place, so that a lawyer looks the same in
//! a case, a chat, a document, a consultation and an event.

use std::borrow::Borrow;
use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::cache::Tag;
use crate::error::AppResult;
use crate::ids::Id;
use crate::state::AppState;
use crate::store::users::{self, User};

// Field selections used across the API.
pub const NAME: &[&str] = &["name"];
pub const NAME_ROLE: &[&str] = &["name", "role"];
pub const NAME_EMAIL: &[&str] = &["name", "email"];
pub const NAME_ROLE_PICTURE: &[&str] = &["name", "role", "profilePicture"];
pub const NAME_EMAIL_ROLE: &[&str] = &["name", "email", "role"];
pub const CONTACT: &[&str] = &["name", "email", "phone"];
pub const CONTACT_ADDRESS: &[&str] = &["name", "email", "phone", "address"];
pub const LAWYER_BRIEF: &[&str] = &["name", "email", "lawyerDetails.specialization"];
pub const LAWYER_CONTACT: &[&str] = &["name", "email", "phone", "lawyerDetails"];
pub const PARTICIPANT_LIST: &[&str] = &["name", "email", "role", "lawyerDetails.specialization"];
pub const PARTICIPANT_DETAIL: &[&str] = &["name", "email", "role", "lawyerDetails.specialization", "profilePicture"];

/// Users by id, loaded once per response to populate references.
pub type Users = HashMap<Id, User>;

/// The users with these ids (duplicates and missing accounts are fine): remembered ones from
/// memory (the entries of [`principal`]), the rest in one statement.
pub async fn load_users<I: Borrow<Id>>(state: &AppState, ids: impl IntoIterator<Item = I>) -> AppResult<Users> {
    let mut wanted: Vec<Id> = ids.into_iter().map(|id| id.borrow().clone()).collect();
    wanted.sort();
    wanted.dedup();
    let load = |missing: Vec<Id>| async move {
        Ok(users::get_many(&state.db, &missing).await?.into_iter().map(|u| (u.id.clone(), u)).collect())
    };
    let found = state.cache.remember_each::<User, _, _>(PRINCIPAL, &wanted, |id| Tag::User(id.clone()), load).await?;
    Ok(found.into_iter().map(|(id, user)| (id, User::clone(&user))).collect())
}

/// The kind of remembered value [`principal`] and [`load_users`] share.
const PRINCIPAL: &str = "user";

/// A populated user reference: `_id` plus the selected fields the user has. `lawyerDetails`
/// is the public one (never verification notes or documents); `lawyerDetails.specialization`
/// selects only that field. A JSON value rather than a view struct: each route names its own
/// field list (Mongoose `populate(path, fields)`), so the shape varies by route, and absent
/// fields must stay absent.
pub fn populate(user: &User, fields: &[&str]) -> Value {
    // Built key by key (json! per field): the selection, not a type, decides the keys.
    let mut out = Map::new();
    out.insert("_id".into(), json!(user.id));
    for field in fields {
        let value = match *field {
            "name" => Some(json!(user.name)),
            "email" => Some(json!(user.email)),
            "role" => Some(json!(user.role.as_str())),
            "phone" => user.phone.as_ref().map(|p| json!(p)),
            "address" => Some(user.address.clone()).filter(|a| !a.is_null()),
            "profilePicture" => Some(json!(user.profile_picture)),
            "createdAt" => Some(json!(user.created_at)),
            "lawyerDetails" => {
                user.lawyer_details.as_ref().map(|_| crate::service::accounts::views::public_lawyer_details(user))
            }
            "lawyerDetails.specialization" => {
                user.lawyer_details.as_ref().map(|_| json!({"specialization": user.specializations()}))
            }
            other => {
                debug_assert!(false, "unknown populate field {other}");
                None
            }
        };
        if let (Some(value), Some(key)) = (value, field.split('.').next()) {
            out.insert(key.into(), value);
        }
    }
    Value::Object(out)
}

/// A reference as stored (`fields` None: the bare id) or populated; a deleted account
/// populates as null.
pub fn user_ref(users: &Users, id: &Id, fields: Option<&[&str]>) -> Value {
    match fields {
        None => json!(id),
        Some(fields) => users.get(id).map(|u| populate(u, fields)).unwrap_or(Value::Null),
    }
}

/// `{_id, name, specialization}`: a lawyer in socket payloads and request answers.
#[derive(Debug, Serialize)]
pub struct LawyerBrief<'a> {
    #[serde(rename = "_id")]
    pub id: &'a Id,
    pub name: &'a str,
    pub specialization: Vec<String>,
}

/// [`LawyerBrief`] as a JSON value, for the payloads that hold populated users beside it.
pub fn lawyer_brief(lawyer: &User) -> Value {
    let brief = LawyerBrief { id: &lawyer.id, name: &lawyer.name, specialization: lawyer.specializations() };
    serde_json::to_value(brief).expect("a lawyer brief serializes")
}

/// `{_id, name, role}`: who acted, in socket payloads.
pub fn actor(user: &User) -> Value {
    populate(user, NAME_ROLE)
}

/// Clean users (docs/api.md 2.2) with their legacy `connections[].userId` populated with `fields`
/// (null when that account no longer exists).
pub async fn clean_with_connections(state: &AppState, list: &[User], fields: &[&str]) -> AppResult<Vec<Value>> {
    let linked_id = |c: &Value| c.get("userId").and_then(Value::as_str).and_then(|s| s.parse::<Id>().ok());
    let ids: Vec<Id> = list.iter().filter_map(|u| u.connections.as_array()).flatten().filter_map(linked_id).collect();
    let linked = load_users(state, ids).await?;
    Ok(list
        .iter()
        .map(|u| {
            let mut doc = crate::service::accounts::views::CleanUser::of(u).to_value();
            if let Some(conns) = doc.get_mut("connections").and_then(Value::as_array_mut) {
                for c in conns {
                    c["userId"] = linked_id(c).map(|id| user_ref(&linked, &id, Some(fields))).unwrap_or(Value::Null);
                }
            }
            doc
        })
        .collect())
}

/// The account behind an access token or a socket, remembered in process until the next write
/// to it on any instance ([`user_changed`]), so authenticating a request or a socket event
/// costs no statement once warm. Read-modify-write paths load the row itself instead.
pub async fn principal(state: &AppState, id: &Id) -> AppResult<Option<User>> {
    let tags = [Tag::User(id.clone())];
    let user = state
        .cache
        .remember(&format!("{PRINCIPAL}|{id}"), &tags, || async { Ok(users::get(&state.db, id).await?) })
        .await?;
    Ok(user.map(|u| User::clone(&u)))
}

/// Every write to a user row ends here (with the response tags it also touches), so no
/// instance keeps authenticating with the row as it was.
pub async fn user_changed(state: &AppState, id: &Id, also: impl IntoIterator<Item = Tag>) {
    state.cache.invalidate(also.into_iter().chain([Tag::User(id.clone())])).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::users::Role;

    #[test]
    fn populated_lawyers_never_show_verification_notes() {
        let mut u = User::new("Ravi".into(), "r@x.in".into(), "-".into(), Role::Lawyer);
        u.phone = Some("9876543210".into());
        u.lawyer_details =
            Some(json!({"specialization": ["Tax"], "verificationNotes": "n", "verificationDocuments": ["d"]}));
        let v = populate(&u, LAWYER_CONTACT);
        assert_eq!(v["lawyerDetails"], json!({"specialization": ["Tax"]}));
        assert_eq!(v["phone"], "9876543210");
        assert_eq!(populate(&u, LAWYER_BRIEF)["lawyerDetails"], json!({"specialization": ["Tax"]}));
        let citizen = User::new("Asha".into(), "a@x.in".into(), "-".into(), Role::Citizen);
        assert_eq!(
            populate(&citizen, PARTICIPANT_LIST),
            json!({"_id": citizen.id, "name": "Asha", "email": "a@x.in", "role": "citizen"})
        );
        assert_eq!(user_ref(&Users::new(), &citizen.id, Some(NAME_ROLE)), Value::Null);
        assert_eq!(user_ref(&Users::new(), &citizen.id, None), json!(citizen.id));
    }
}
