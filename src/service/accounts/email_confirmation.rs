//! Confirming an account's email address with the emailed token.

use crate::cache::Tag;
use crate::error::{AppError, AppResult};
use crate::security::sha256_hex;
use crate::service::people;
use crate::state::AppState;
use crate::store::users;
use crate::time::Timestamp;

/// How long an email-confirmation token stays valid (the email says so).
pub(super) const CONFIRMATION_TOKEN_LIFETIME: chrono::Duration = chrono::Duration::hours(24);

/// Redeems an emailed confirmation token once: the account's address counts as confirmed
/// (`emailConfirmed`) from then on. Nothing is gated on it.
pub async fn confirm_email(state: &AppState, token: &str) -> AppResult<()> {
    let Some(id) = users::confirm_email(&state.db, &sha256_hex(token), Timestamp::now()).await? else {
        return Err(AppError::bad_request("Invalid or expired email confirmation token"));
    };
    // The admin user lists show `emailConfirmed`.
    people::user_changed(state, &id, [Tag::Adm]).await;
    Ok(())
}
