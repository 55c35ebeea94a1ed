//! The rules of `nyaya create-admin`.

use serde_json::Value;

use super::documents::profile_completion;
use super::{canonical_email, finish, model_error};
use crate::db::Db;
use crate::domain::email;
use crate::domain::password::Password;
use crate::error::AppResult;
use crate::security;
use crate::store::users::{self, Role, User};

/// What `nyaya create-admin` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminOutcome {
    Created,
    Promoted,
    /// Already an active admin with this password: nothing changed.
    Unchanged,
    /// Already an admin; reactivated and/or given the new password.
    Updated,
}

/// Creates an admin account, or makes the account with this email an active admin with this
/// password. Running it twice with the same arguments changes nothing the second time.
pub async fn ensure_admin(db: &Db, name: &str, raw_email: &str, password: &str) -> AppResult<(User, AdminOutcome)> {
    let mut errors = Vec::new();
    let name = name.trim();
    if !(2..=50).contains(&name.chars().count()) {
        errors.push(model_error("name", Some(&Value::from(name)), "Name must be between 2 and 50 characters"));
    }
    if !email::is_email(raw_email) {
        errors.push(model_error("email", Some(&Value::from(raw_email)), email::INVALID));
    }
    for problem in Password::problems(password) {
        errors.push(model_error("password", None, problem.message("Password")));
    }
    finish(errors)?;
    let email = canonical_email(raw_email)?.into_string();
    let Some(mut user) = users::find_by_email(db, &email).await? else {
        let hash = security::hash_password_async(password.to_string()).await?;
        let mut user = User::new(name.to_string(), email, hash, Role::Admin);
        user.profile_completion = profile_completion(true, true);
        users::insert(db, &user).await?;
        return Ok((user, AdminOutcome::Created));
    };
    let same_password = security::verify_password_async(password.to_string(), user.password_hash.clone()).await;
    let outcome = match (user.role == Role::Admin, user.is_active && same_password) {
        (true, true) => return Ok((user, AdminOutcome::Unchanged)),
        (true, false) => AdminOutcome::Updated,
        (false, _) => AdminOutcome::Promoted,
    };
    user.role = Role::Admin;
    user.is_active = true;
    user.is_verified = true;
    user.lawyer_details = None;
    user.student_details = None;
    user.profile_completion = profile_completion(true, true);
    if !same_password {
        user.password_hash = security::hash_password_async(password.to_string()).await?;
        user.refresh_token_hash = None;
    }
    users::save(db, &mut user).await?;
    Ok((user, outcome))
}
