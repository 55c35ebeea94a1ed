//! Passwords (3.1 #4, #5, #9): the emailed reset and the change of one's own password.

use super::issue_token;
use crate::domain::email;
use crate::domain::password::Password;
use crate::error::{AppError, AppResult};
use crate::mail::templates;
use crate::security::{self, sha256_hex};
use crate::service::people;
use crate::state::AppState;
use crate::store::users::{self, EmailedToken, User};
use crate::time::Timestamp;

/// How long an emailed password-reset token stays valid (the email says so).
pub(super) const RESET_TOKEN_LIFETIME: chrono::Duration = chrono::Duration::minutes(10);

/// 3.1 #4. For a known account: a single-use token (only its digest is stored), valid for 10
/// minutes, emailed to the owner. Returns the token so development can show it; `None` for
/// unknown addresses, which the caller must answer exactly like known ones.
pub async fn forgot_password(state: &AppState, raw_email: &str) -> AppResult<Option<String>> {
    let Some(email) = email::normalize(raw_email) else { return Ok(None) };
    let Some(user) = users::find_by_email(&state.db, &email).await? else { return Ok(None) };
    let token = issue_token(RESET_TOKEN_LIFETIME);
    users::set_emailed_token(&state.db, &user.id, EmailedToken::PasswordReset, &token.digest, token.expires).await?;
    people::user_changed(state, &user.id, []).await;
    let email = templates::password_reset(&user.email, &user.name, &token.secret, &state.config.frontend_url);
    crate::service::background::send_email(state, email).await;
    Ok(Some(token.secret))
}

/// 3.1 #5. Redeems the token once, sets the password and ends stored sessions.
pub async fn reset_password(state: &AppState, token: &str, new_password: Password) -> AppResult<()> {
    let invalid = || AppError::bad_request("Invalid or expired password reset token");
    let digest = sha256_hex(token);
    let user = users::find_by_reset_hash(&state.db, &digest).await?.ok_or_else(invalid)?;
    if user.password_reset_expires.is_none_or(|t| t <= Timestamp::now()) {
        return Err(invalid());
    }
    let hash = security::hash_password_async(new_password.into_inner()).await?;
    let Some(id) = users::redeem_password_reset(&state.db, &digest, Timestamp::now(), &hash).await? else {
        return Err(invalid());
    };
    people::user_changed(state, &id, []).await;
    Ok(())
}

/// 3.1 #9. Ends stored sessions (the refresh token); access tokens live until they expire.
pub async fn update_password(state: &AppState, user: &User, current: String, new_password: Password) -> AppResult<()> {
    if !security::verify_password_async(current, user.password_hash.clone()).await {
        return Err(AppError::bad_request("Current password is incorrect"));
    }
    let hash = security::hash_password_async(new_password.into_inner()).await?;
    users::set_password_hash(&state.db, &user.id, &hash, true).await?;
    people::user_changed(state, &user.id, []).await;
    Ok(())
}
