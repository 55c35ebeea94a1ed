//! The current user and profile edits (3.1 #7, #8).

use serde_json::Value;

use super::documents::{
    ADDRESS_KEYS, LAWYER_KEYS, STUDENT_KEYS, finish_lawyer_details, finish_student_details, is_falsy, merge_document,
};
use super::{ProfileChanges, finish};
use crate::cache::Tag;
use crate::error::AppResult;
use crate::service::people;
use crate::state::AppState;
use crate::store::users::{self, Role, User};

/// 3.1 #7: the clean user with legacy `connections.userId` populated
/// (name, email, role, lawyerDetails.specialization).
pub async fn current_user(state: &AppState, user: &User) -> AppResult<Value> {
    let one = std::slice::from_ref(user);
    let mut docs = people::clean_with_connections(state, one, people::PARTICIPANT_LIST).await?;
    Ok(docs.pop().unwrap_or(Value::Null))
}

/// 3.1 #8. Nested documents merge over the stored ones; lawyer details apply to lawyers
/// only, student details to law students only; verification fields are never taken from the
/// client. Invalidates the directory for lawyers and the admin lists for everyone.
pub async fn update_profile(state: &AppState, user: &User, changes: ProfileChanges) -> AppResult<User> {
    let mut updated = user.clone();
    let mut errors = Vec::new();
    if let Some(name) = changes.name {
        updated.name = name.trim().to_string();
    }
    if let Some(phone) = changes.phone {
        updated.phone = Some(phone);
    }
    if let Some(address) = &changes.address {
        updated.address =
            Value::Object(merge_document(Some(&user.address), address, "address", ADDRESS_KEYS, &mut errors));
    }
    if let (Role::Lawyer, Some(input)) = (user.role, &changes.lawyer_details) {
        let doc = merge_document(user.lawyer_details.as_ref(), input, "lawyerDetails", LAWYER_KEYS, &mut errors);
        let role_specific =
            user.profile_completion.get("roleSpecificDetails").and_then(Value::as_bool).unwrap_or(false);
        updated.lawyer_details = Some(finish_lawyer_details(doc, role_specific, &mut errors));
    }
    if let (Role::LawStudent, Some(input)) = (user.role, &changes.student_details) {
        let mut input = input.clone();
        // A falsy year counts as absent for the validators and unsets the stored year.
        if let Some(obj) = input.as_object_mut().filter(|o| o.get("enrollmentYear").is_some_and(is_falsy)) {
            obj.insert("enrollmentYear".into(), Value::Null);
        }
        let doc = merge_document(user.student_details.as_ref(), &input, "studentDetails", STUDENT_KEYS, &mut errors);
        updated.student_details = Some(finish_student_details(doc, &mut errors));
    }
    finish(errors)?;
    users::save_profile(&state.db, &mut updated).await?;
    if user.role == Role::Lawyer {
        people::user_changed(state, &user.id, [Tag::Dir, Tag::DirLawyer(user.id.clone()), Tag::Adm]).await;
    } else {
        people::user_changed(state, &user.id, [Tag::Adm]).await;
    }
    Ok(updated)
}
