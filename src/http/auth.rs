//! Auth routes (docs/api.md 3.1): session cookies and one call into `service::accounts` per
//! route. The bodies and their validators are `service::accounts::input`; register and login
//! take theirs as a `Result`, because the CAPTCHA rule depends on the environment.

use axum::Router;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::routing::{get, post, put};

use super::docs::LoggedIn;
use super::extract::{Body, CurrentUser, cookie};
use super::respond::Envelope;
use crate::error::{AppError, AppResult};
use crate::security::{self, TokenPair};
use crate::service::accounts::views::{CleanUser, DevResetToken, SessionReply, Tokens, UserReply};
use crate::service::accounts::{
    self, CaptchaToken, EmailConfirmation, ForgotPassword, Login, PasswordChange, PasswordReset, ProfileChanges,
    RefreshRequest, Registration, WithCaptcha,
};
use crate::service::chats::view_json;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/register", post(register))
        .route("/login", post(login))
        .route("/refresh-token", post(refresh_token))
        .route("/forgot-password", post(forgot_password))
        .route("/reset-password", post(reset_password))
        .route("/confirm-email", post(confirm_email))
        .route("/logout", post(logout))
        .route("/me", get(me))
        .route("/profile", put(update_profile))
        .route("/update-password", put(update_password))
}

const ACCESS_COOKIE: &str = "accessToken";
const REFRESH_COOKIE: &str = "refreshToken";
/// Cookie lifetimes of docs/api.md 1.6 (fixed, as in the original).
const ACCESS_COOKIE_SECS: i64 = 24 * 60 * 60;
const REFRESH_COOKIE_SECS: i64 = 7 * 24 * 60 * 60;

const GENERIC_RESET_MESSAGE: &str = "If an account with that email exists, a password reset link has been sent.";

type Cookies = AppendHeaders<[(HeaderName, HeaderValue); 2]>;

fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let expires = (chrono::Utc::now() + chrono::Duration::seconds(max_age)).format("%a, %d %b %Y %H:%M:%S GMT");
    let secure = if secure { "; Secure" } else { "" };
    let cookie =
        format!("{name}={value}; Max-Age={max_age}; Path=/; Expires={expires}; HttpOnly{secure}; SameSite=Strict");
    HeaderValue::from_str(&cookie).expect("JWTs are valid cookie values")
}

/// `accessToken` (1 day) and `refreshToken` (7 days): httpOnly, SameSite=Strict, Secure in
/// production.
fn session_cookies(state: &AppState, tokens: &TokenPair) -> Cookies {
    let secure = state.config.env.is_production();
    AppendHeaders([
        (SET_COOKIE, set_cookie(ACCESS_COOKIE, &tokens.access, ACCESS_COOKIE_SECS, secure)),
        (SET_COOKIE, set_cookie(REFRESH_COOKIE, &tokens.refresh, REFRESH_COOKIE_SECS, secure)),
    ])
}

fn cleared_cookies() -> Cookies {
    let clear = |name: &str| {
        HeaderValue::from_str(&format!(
            "{name}=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict"
        ))
        .expect("ascii")
    };
    AppendHeaders([(SET_COOKIE, clear(ACCESS_COOKIE)), (SET_COOKIE, clear(REFRESH_COOKIE))])
}

async fn check_captcha(state: &AppState, token: &CaptchaToken) -> AppResult<()> {
    security::verify_captcha(&state.config, &token.text()).await.map_err(|e| AppError::bad_request(e.0))
}

/// The body with the CAPTCHA rule applied as the environment asks (production only).
fn with_captcha<T: WithCaptcha>(state: &AppState, body: AppResult<Body<T>>) -> AppResult<T> {
    accounts::gate_captcha(body.map(|Body(input)| input), state.config.env.is_production())
}

/// Register a citizen, lawyer or law student (3.1 #1).
///
/// Body: name, email, password, role? (citizen, lawyer, law_student), phone?, address?,
/// lawyerDetails?, studentDetails?, captchaToken (production). Sets the accessToken and
/// refreshToken cookies.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = Registration,
    responses((status = 201, description = "data: {user, tokens: {accessToken, refreshToken}}"),
              (status = 400, description = "Validation failed, CAPTCHA failure, or a duplicate email")))]
pub async fn register(State(state): State<AppState>, body: AppResult<Body<Registration>>) -> AppResult<Response> {
    let registration = with_captcha(&state, body)?;
    check_captcha(&state, &registration.captcha_token).await?;
    let session = accounts::register(&state, registration).await?;
    let data = view_json(SessionReply::of(&session.user, &session.tokens));
    Ok((
        session_cookies(&state, &session.tokens),
        Envelope::data(data).with_message("User registered successfully").created(),
    )
        .into_response())
}

/// Log in with email and password (3.1 #2).
///
/// Body: email, password, captchaToken (production). Sets the accessToken and refreshToken
/// cookies.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, description = "data: {user, tokens: {accessToken, refreshToken}}"),
              (status = 400, description = "Validation failed or CAPTCHA failure"),
              (status = 401, description = "\"Account has been deactivated\" or \"Invalid credentials\""),
              (status = 404, description = "No account found with this email. Please sign up.")))]
pub async fn login(State(state): State<AppState>, body: AppResult<Body<Login>>) -> AppResult<Response> {
    let input = with_captcha(&state, body)?;
    check_captcha(&state, &input.captcha_token).await?;
    let session = accounts::login(&state, &input.email, input.password).await?;
    let data = view_json(SessionReply::of(&session.user, &session.tokens));
    Ok((session_cookies(&state, &session.tokens), Envelope::data(data).with_message("Login successful"))
        .into_response())
}

/// Rotate the token pair (3.1 #3).
///
/// Body: refreshToken (optional; the refreshToken cookie is used otherwise). Both tokens
/// rotate and both cookies are reset.
#[utoipa::path(post, path = "/api/auth/refresh-token", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, description = "data: {accessToken, refreshToken}"),
              (status = 401, description = "\"Refresh token not provided\" or \"Invalid refresh token\"")))]
pub async fn refresh_token(
    State(state): State<AppState>,
    parts: Parts,
    Body(input): Body<RefreshRequest>,
) -> AppResult<Response> {
    let token = input.refresh_token.or_else(|| cookie(&parts, REFRESH_COOKIE));
    let tokens = accounts::refresh(&state, token.as_deref()).await?;
    Ok((
        session_cookies(&state, &tokens),
        Envelope::data(view_json(Tokens::of(&tokens))).with_message("Token refreshed successfully"),
    )
        .into_response())
}

/// Ask for a password-reset email (3.1 #4).
///
/// Body: email. Always 200 with the same message, whether or not the account exists; in
/// development the reply also carries data: {resetToken, message}.
#[utoipa::path(post, path = "/api/auth/forgot-password", tag = "auth", request_body = ForgotPassword,
    responses((status = 200, description = "Generic confirmation"), (status = 400, description = "Validation failed")))]
pub async fn forgot_password(State(state): State<AppState>, Body(input): Body<ForgotPassword>) -> AppResult<Envelope> {
    let token = accounts::forgot_password(&state, &input.email).await?;
    let reply = Envelope::message(GENERIC_RESET_MESSAGE);
    match token {
        Some(token) if state.config.env == crate::config::Environment::Development => {
            let data = DevResetToken { reset_token: &token, message: "Use this token to reset your password" };
            Ok(reply.with_data(view_json(data)))
        }
        _ => Ok(reply),
    }
}

/// Set a new password with an emailed reset token (3.1 #5).
///
/// Body: token, newPassword, confirmPassword. The token works once and expires after 10
/// minutes.
#[utoipa::path(post, path = "/api/auth/reset-password", tag = "auth", request_body = PasswordReset,
    responses((status = 200, description = "Password reset"),
              (status = 400, description = "Validation failed, or \"Invalid or expired password reset token\"")))]
pub async fn reset_password(State(state): State<AppState>, Body(input): Body<PasswordReset>) -> AppResult<Envelope> {
    accounts::reset_password(&state, &input.token, input.new_password).await?;
    Ok(Envelope::message("Password reset successfully. Please login with your new password."))
}

/// Confirm one's email address with the token emailed at registration.
///
/// Body: token (from the link `<FRONTEND_URL>/confirm-email/<token>`). The token works once and
/// expires after 24 hours. Confirmation gates nothing; the user object's `emailConfirmed` shows
/// it.
#[utoipa::path(post, path = "/api/auth/confirm-email", tag = "auth", request_body = EmailConfirmation,
    responses((status = 200, description = "Email confirmed successfully"),
              (status = 400, description = "Validation failed, or \"Invalid or expired email confirmation token\"")))]
pub async fn confirm_email(State(state): State<AppState>, Body(input): Body<EmailConfirmation>) -> AppResult<Envelope> {
    accounts::confirm_email(&state, &input.token).await?;
    Ok(Envelope::message("Email confirmed successfully"))
}

/// End the session (3.1 #6).
///
/// Requires an access token. The stored refresh token and both cookies are cleared.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "Logout successful"), LoggedIn))]
pub async fn logout(State(state): State<AppState>, CurrentUser(user): CurrentUser) -> AppResult<Response> {
    accounts::logout(&state, &user).await?;
    Ok((cleared_cookies(), Envelope::message("Logout successful")).into_response())
}

/// The signed-in user (3.1 #7).
///
/// Requires an access token. Never cached.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "data: {user}"), LoggedIn))]
pub async fn me(State(state): State<AppState>, CurrentUser(user): CurrentUser) -> AppResult<Envelope> {
    let user = accounts::current_user(&state, &user).await?;
    Ok(Envelope::data(view_json(UserReply { user })))
}

/// Edit one's own profile (3.1 #8).
///
/// Requires an access token. Body (all optional): name, phone, address, lawyerDetails
/// (lawyers), studentDetails (law students). Nested objects merge over the stored ones;
/// verification fields are ignored.
#[utoipa::path(put, path = "/api/auth/profile", tag = "auth", security(("bearer" = [])), request_body = ProfileChanges,
    responses((status = 200, description = "data: {user}"), (status = 400, description = "Validation failed"), LoggedIn))]
pub async fn update_profile(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Body(changes): Body<ProfileChanges>,
) -> AppResult<Envelope> {
    let updated = accounts::update_profile(&state, &user, changes).await?;
    let data = view_json(UserReply { user: CleanUser::of(&updated) });
    Ok(Envelope::data(data).with_message("Profile updated successfully"))
}

/// Change one's password (3.1 #9).
///
/// Requires an access token. Body: currentPassword, newPassword, confirmPassword. Other
/// sessions end at their next refresh.
#[utoipa::path(put, path = "/api/auth/update-password", tag = "auth", security(("bearer" = [])),
    request_body = PasswordChange,
    responses((status = 200, description = "Password updated"),
              (status = 400, description = "Validation failed, or \"Current password is incorrect\""), LoggedIn))]
pub async fn update_password(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Body(input): Body<PasswordChange>,
) -> AppResult<Envelope> {
    accounts::update_password(&state, &user, input.current_password, input.new_password).await?;
    Ok(Envelope::message("Password updated successfully. Please login again."))
}
