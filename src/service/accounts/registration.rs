//! 3.1 #1: registration.

use serde_json::{Map, Value};

use super::documents::{
    ADDRESS_KEYS, LAWYER_KEYS, STUDENT_KEYS, finish_lawyer_details, finish_student_details, merge_document,
    profile_completion,
};
use super::email_confirmation::CONFIRMATION_TOKEN_LIFETIME;
use super::{DUPLICATE_EMAIL, Registration, Session, canonical_email, finish, issue_token};
use crate::cache::Tag;
use crate::db::is_unique_violation;
use crate::error::{AppError, AppResult};
use crate::mail::templates;
use crate::security::{self, sha256_hex};
use crate::state::AppState;
use crate::store::users::{self, Role, User};

/// 3.1 #1. Everyone gets an email-address confirmation link; lawyers start pending and
/// unverified and also get the welcome email (5.1).
pub async fn register(state: &AppState, reg: Registration) -> AppResult<Session> {
    let email = canonical_email(&reg.email)?;
    let mut user = User::new(reg.name.trim().to_string(), email.into_string(), String::new(), reg.role);
    user.phone = reg.phone;
    let mut errors = Vec::new();
    if let Some(address) = &reg.address {
        user.address = Value::Object(merge_document(None, address, "address", ADDRESS_KEYS, &mut errors));
    }
    match reg.role {
        Role::Lawyer => {
            let supplied = reg.lawyer_details.is_some();
            let doc = match &reg.lawyer_details {
                Some(input) => merge_document(None, input, "lawyerDetails", LAWYER_KEYS, &mut errors),
                None => Map::new(),
            };
            user.lawyer_details = Some(finish_lawyer_details(doc, supplied, &mut errors));
            user.profile_completion = profile_completion(supplied, false);
        }
        Role::LawStudent => {
            let doc = match &reg.student_details {
                Some(input) => merge_document(None, input, "studentDetails", STUDENT_KEYS, &mut errors),
                None => Map::new(),
            };
            user.student_details = Some(finish_student_details(doc, &mut errors));
        }
        Role::Citizen | Role::Admin => {}
    }
    finish(errors)?;
    if users::find_by_email(&state.db, &user.email).await?.is_some() {
        return Err(AppError::bad_request(DUPLICATE_EMAIL));
    }
    user.password_hash = security::hash_password_async(reg.password.into_inner()).await?;
    let tokens = state.tokens.issue(&user);
    user.refresh_token_hash = Some(sha256_hex(&tokens.refresh));
    let confirmation = issue_token(CONFIRMATION_TOKEN_LIFETIME);
    user.email_confirmation_hash = Some(confirmation.digest);
    user.email_confirmation_expires = Some(confirmation.expires);
    match users::insert(&state.db, &user).await {
        Ok(()) => {}
        Err(e) if is_unique_violation(&e) => return Err(AppError::bad_request(DUPLICATE_EMAIL)),
        Err(e) => return Err(e.into()),
    }
    state.cache.invalidate([Tag::Adm]).await;
    let frontend = &state.config.frontend_url;
    let confirm = templates::email_confirmation(&user.email, &user.name, &confirmation.secret, frontend);
    crate::service::background::send_email(state, confirm).await;
    if user.role == Role::Lawyer {
        crate::service::background::send_email(state, templates::lawyer_welcome(&user.email, &user.name, frontend))
            .await;
    }
    Ok(Session { user, tokens })
}
