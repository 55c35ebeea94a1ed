//! Accounts (docs/api.md 1.6, 2.2, 3.1): registration, login, refresh-token rotation, password
//! reset and change, the current user and profile edits, plus the rules of `nyaya create-admin`.
//! Integration tests: auth.
//!
//! The request bodies (`input`) apply the request validators of the original
//! (express-validator); the flows apply what the original's User model enforced (email
//! pattern, nested document types and limits, declared keys only), answering 400 where the
//! original failed with 500.
//!
//! One file per concern: `registration`, `sessions` (login, refresh, logout), `passwords`
//! (reset and change), `email_confirmation`, `profile`, `create_admin`; `input` holds the
//! request bodies, `documents` the nested documents' casts and rules, `views` the response
//! shapes; this file the pieces they
//! share (sessions and emailed tokens, the model's email rule, validation errors).

use serde_json::Value;

use crate::error::{AppError, AppResult, FieldError};
use crate::security::{TokenPair, sha256_hex};
use crate::service::people;
use crate::state::AppState;
use crate::store::users::{self, User};
use crate::time::Timestamp;

use crate::domain::email::Email;
pub use crate::domain::{email, password};

mod create_admin;
mod documents;
mod email_confirmation;
mod input;
mod passwords;
mod profile;
mod registration;
mod sessions;
pub mod views;

pub use create_admin::*;
pub use documents::{SEMESTERS, is_falsy};
pub use email_confirmation::*;
pub use input::*;
pub use passwords::*;
pub use profile::*;
pub use registration::*;
pub use sessions::*;

const DUPLICATE_EMAIL: &str = "User with this email already exists";

/// A freshly authenticated account with its new token pair.
pub struct Session {
    pub user: User,
    pub tokens: TokenPair,
}

fn model_error(path: &str, value: Option<&Value>, msg: impl Into<String>) -> FieldError {
    FieldError { kind: "field", value: value.cloned(), msg: msg.into(), path: path.to_string(), location: "body" }
}

fn invalid_email(raw: &str) -> AppError {
    AppError::validation(vec![model_error("email", Some(&Value::from(raw)), email::INVALID)])
}

/// The stored form of an address ([`Email::parse`]); a validation error on `email` otherwise.
pub fn canonical_email(raw: &str) -> AppResult<Email> {
    Email::parse(raw).map_err(|_| invalid_email(raw))
}

fn finish(errors: Vec<FieldError>) -> AppResult<()> {
    if errors.is_empty() { Ok(()) } else { Err(AppError::validation(errors)) }
}

/// Issues a token pair and records the refresh token's digest (a new login elsewhere thus
/// invalidates the previous refresh token).
async fn open_session(state: &AppState, user: User) -> AppResult<Session> {
    let tokens = state.tokens.issue(&user);
    users::set_refresh_token_hash(&state.db, &user.id, Some(&sha256_hex(&tokens.refresh))).await?;
    people::user_changed(state, &user.id, []).await;
    Ok(Session { user, tokens })
}

/// A freshly issued single-use token for an email link: the secret that goes into the email,
/// and what is stored (its digest and expiry).
struct IssuedToken {
    secret: String,
    digest: String,
    expires: Timestamp,
}

fn issue_token(lifetime: chrono::Duration) -> IssuedToken {
    let secret = crate::ids::random_hex(32);
    IssuedToken { digest: sha256_hex(&secret), expires: Timestamp::now() + lifetime, secret }
}
