//! Sessions (3.1 #2, #3, #6): login, refresh-token rotation and logout.

use super::{Session, invalid_email, open_session};
use crate::domain::email;
use crate::error::{AppError, AppResult};
use crate::security::{self, TokenPair, sha256_hex};
use crate::service::people;
use crate::state::AppState;
use crate::store::users::{self, User};

/// 3.1 #2. Deactivation is reported before the password is checked; migrated bcrypt hashes
/// are replaced by argon2 ones on success.
pub async fn login(state: &AppState, raw_email: &str, password: String) -> AppResult<Session> {
    let email = email::normalize(raw_email).ok_or_else(|| invalid_email(raw_email))?;
    let mut user = users::find_by_email(&state.db, &email)
        .await?
        .ok_or_else(|| AppError::not_found("No account found with this email. Please sign up."))?;
    if !user.is_active {
        return Err(AppError::unauthorized("Account has been deactivated"));
    }
    if !security::verify_password_async(password.clone(), user.password_hash.clone()).await {
        return Err(AppError::unauthorized("Invalid credentials"));
    }
    if security::needs_rehash(&user.password_hash) {
        let upgraded = security::hash_password_async(password).await?;
        users::set_password_hash(&state.db, &user.id, &upgraded, false).await?;
        user.password_hash = upgraded;
        people::user_changed(state, &user.id, []).await;
    }
    open_session(state, user).await
}

/// 3.1 #3. The token must verify and be the one stored (by digest); both tokens rotate, and
/// of two concurrent refreshes with one token only one succeeds.
pub async fn refresh(state: &AppState, token: Option<&str>) -> AppResult<TokenPair> {
    let token = token
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AppError::unauthorized("Refresh token not provided"))?;
    let invalid = || AppError::unauthorized("Invalid refresh token");
    let claims = state.tokens.verify_refresh(token).map_err(|_| invalid())?;
    let id = claims.user_id().ok_or_else(invalid)?;
    let user = users::get(&state.db, &id).await?.ok_or_else(invalid)?;
    let presented = sha256_hex(token);
    if user.refresh_token_hash.as_deref() != Some(presented.as_str()) {
        return Err(invalid());
    }
    if !user.is_active {
        return Err(AppError::unauthorized("Account has been deactivated"));
    }
    let tokens = state.tokens.issue(&user);
    if !users::rotate_refresh_token_hash(&state.db, &id, &presented, &sha256_hex(&tokens.refresh)).await? {
        return Err(invalid());
    }
    Ok(tokens)
}

/// 3.1 #6: the stored refresh token no longer works.
pub async fn logout(state: &AppState, user: &User) -> AppResult<()> {
    users::set_refresh_token_hash(&state.db, &user.id, None).await?;
    people::user_changed(state, &user.id, []).await;
    Ok(())
}
