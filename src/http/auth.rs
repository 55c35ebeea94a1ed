//! Auth routes (docs/api.md 3.1): the request validators of the original, session cookies, and
//! one call into `service::accounts` per route.

use axum::Router;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use super::docs::LoggedIn;
use super::extract::{CurrentUser, JsonBody, cookie};
use super::respond::Envelope;
use crate::domain::email;
use crate::domain::password::{Password, Problem};
use crate::error::{AppError, AppResult};
use crate::security::{self, TokenPair};
use crate::service::accounts::views::CleanUser;
use crate::service::accounts::{self, ProfileChanges, Registration, SEMESTERS};
use crate::state::AppState;
use crate::store::users::Role;
use crate::validate::{Validator, lookup};

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
const CAPTCHA_REQUIRED: &str = "CAPTCHA verification is required";

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

fn tokens_json(tokens: &TokenPair) -> Value {
    json!({"accessToken": tokens.access, "refreshToken": tokens.refresh})
}

/// A string value, or the text of a number (express-validator's `toString`).
fn text(body: &Value, path: &str) -> Option<String> {
    match lookup(body, path)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn phone_pattern() -> &'static regex::Regex {
    static PHONE: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"^[0-9]{10}$").expect("phone pattern"));
    &PHONE
}

fn email_rule(v: &mut Validator) {
    v.field("email").check(|v| v.and_then(Value::as_str).is_some_and(email::is_email), email::INVALID);
}

/// The length rule and the pattern rule, each its own entry (values are never echoed).
fn password_rules(v: &mut Validator, field: &str, label: &str) {
    let breaks = |v: Option<&Value>, rule: Problem| text_of(v).is_none_or(|p| Password::problems(&p).contains(&rule));
    v.field(field)
        .check(|v| !breaks(v, Problem::TooShort), &Problem::TooShort.message(label))
        .check(|v| !breaks(v, Problem::NotMixed), &Problem::NotMixed.message(label));
}

/// The password in `field` as a [`Password`] (after [`password_rules`] passed, this cannot fail).
fn password_of(body: &Value, field: &str, label: &str) -> AppResult<Password> {
    Password::parse(text(body, field).unwrap_or_default()).map_err(|problems| {
        let mut v = Validator::body(body);
        for problem in problems {
            v.add(field, None, problem.message(label));
        }
        v.finish().err().unwrap_or_else(|| AppError::bad_request("Validation failed"))
    })
}

fn confirm_rule(v: &mut Validator, body: &Value) {
    let expected = lookup(body, "newPassword").cloned();
    v.field("confirmPassword").check(|v| v.cloned() == expected, "Password confirmation does not match new password");
}

fn not_empty(v: Option<&Value>) -> bool {
    match v {
        None => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

fn object_rule(v: &mut Validator, field: &str, label: &str) {
    v.field(field).optional().object(&format!("{label} must be an object"));
}

/// The CAPTCHA rule (production only). When it is the only failure, the message names it.
fn captcha_rule(state: &AppState, v: &mut Validator) {
    if state.config.env.is_production() {
        v.field("captchaToken").check(not_empty, CAPTCHA_REQUIRED);
    }
}

fn finish(v: Validator) -> AppResult<()> {
    v.finish().map_err(|mut err| {
        if err.errors.as_ref().is_some_and(|e| e.iter().all(|f| f.path == "captchaToken")) {
            err.message = CAPTCHA_REQUIRED.into();
        }
        err
    })
}

async fn check_captcha(state: &AppState, body: &Value) -> AppResult<()> {
    let token = text(body, "captchaToken").unwrap_or_default();
    security::verify_captcha(&state.config, &token).await.map_err(|e| AppError::bad_request(e.0))
}

fn validate_register(state: &AppState, body: &Value) -> AppResult<()> {
    let mut v = Validator::body(body);
    v.field("name").length(2, Some(50), "Name must be between 2 and 50 characters");
    email_rule(&mut v);
    password_rules(&mut v, "password", "Password");
    v.field("role")
        .optional()
        .one_of(&["citizen", "lawyer", "law_student"], "Role must be citizen, lawyer, or law_student");
    v.field("phone").optional().matches(phone_pattern(), "Phone number must be 10 digits");
    captcha_rule(state, &mut v);
    object_rule(&mut v, "address", "Address");
    match lookup(body, "role").and_then(Value::as_str) {
        Some("lawyer") => {
            object_rule(&mut v, "lawyerDetails", "Lawyer details");
            v.field("lawyerDetails.barRegistrationNumber").optional().length(
                1,
                None,
                "Bar registration number cannot be empty if provided",
            );
            v.field("lawyerDetails.specialization")
                .optional()
                .array_min(1, "At least one specialization is required if provided");
            v.field("lawyerDetails.experience").optional().int_range(
                0,
                50,
                "Experience must be between 0 and 50 years",
            );
            v.field("lawyerDetails.education").optional().length(
                1,
                None,
                "Education details cannot be empty if provided",
            );
        }
        Some("law_student") => {
            object_rule(&mut v, "studentDetails", "Student details");
            let next_year = i64::from(chrono::Datelike::year(&chrono::Utc::now()) + 1);
            v.field("studentDetails.universityName").optional().length(
                1,
                None,
                "University name cannot be empty if provided",
            );
            v.field("studentDetails.enrollmentYear").optional().int_range(
                2000,
                next_year,
                "Enrollment year must be valid",
            );
            v.field("studentDetails.semester").optional().one_of(SEMESTERS, "Semester must be between 1st and 8th");
            v.field("studentDetails.specialization").optional().length(
                1,
                None,
                "Specialization cannot be empty if provided",
            );
            v.field("studentDetails.rollNumber").optional().length(1, None, "Roll number cannot be empty if provided");
        }
        _ => {}
    }
    finish(v)
}

/// Register a citizen, lawyer or law student (3.1 #1).
///
/// Body: name, email, password, role? (citizen, lawyer, law_student), phone?, address?,
/// lawyerDetails?, studentDetails?, captchaToken (production). Sets the accessToken and
/// refreshToken cookies.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth",
    responses((status = 201, description = "data: {user, tokens: {accessToken, refreshToken}}"),
              (status = 400, description = "Validation failed, CAPTCHA failure, or a duplicate email")))]
pub async fn register(State(state): State<AppState>, JsonBody(body): JsonBody) -> AppResult<Response> {
    validate_register(&state, &body)?;
    check_captcha(&state, &body).await?;
    let role = match lookup(&body, "role").and_then(Value::as_str) {
        Some("lawyer") => Role::Lawyer,
        Some("law_student") => Role::LawStudent,
        _ => Role::Citizen,
    };
    let present = |key: &str| lookup(&body, key).cloned();
    let registration = Registration {
        name: text(&body, "name").unwrap_or_default(),
        email: text(&body, "email").unwrap_or_default(),
        password: password_of(&body, "password", "Password")?,
        role,
        phone: text(&body, "phone"),
        address: present("address"),
        lawyer_details: present("lawyerDetails"),
        student_details: present("studentDetails"),
    };
    let session = accounts::register(&state, registration).await?;
    let data = json!({"user": CleanUser::of(&session.user), "tokens": tokens_json(&session.tokens)});
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
#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    responses((status = 200, description = "data: {user, tokens: {accessToken, refreshToken}}"),
              (status = 400, description = "Validation failed or CAPTCHA failure"),
              (status = 401, description = "\"Account has been deactivated\" or \"Invalid credentials\""),
              (status = 404, description = "No account found with this email. Please sign up.")))]
pub async fn login(State(state): State<AppState>, JsonBody(body): JsonBody) -> AppResult<Response> {
    let mut v = Validator::body(&body);
    email_rule(&mut v);
    v.field("password").check(not_empty, "Password is required");
    captcha_rule(&state, &mut v);
    finish(v)?;
    check_captcha(&state, &body).await?;
    let raw_email = text(&body, "email").unwrap_or_default();
    let session = accounts::login(&state, &raw_email, text(&body, "password").unwrap_or_default()).await?;
    let data = json!({"user": CleanUser::of(&session.user), "tokens": tokens_json(&session.tokens)});
    Ok((session_cookies(&state, &session.tokens), Envelope::data(data).with_message("Login successful"))
        .into_response())
}

/// Rotate the token pair (3.1 #3).
///
/// Body: refreshToken (optional; the refreshToken cookie is used otherwise). Both tokens
/// rotate and both cookies are reset.
#[utoipa::path(post, path = "/api/auth/refresh-token", tag = "auth",
    responses((status = 200, description = "data: {accessToken, refreshToken}"),
              (status = 401, description = "\"Refresh token not provided\" or \"Invalid refresh token\"")))]
pub async fn refresh_token(
    State(state): State<AppState>,
    parts: Parts,
    JsonBody(body): JsonBody,
) -> AppResult<Response> {
    let presented =
        body.get("refreshToken").and_then(Value::as_str).filter(|t| !t.trim().is_empty()).map(str::to_string);
    let token = presented.or_else(|| cookie(&parts, REFRESH_COOKIE));
    let tokens = accounts::refresh(&state, token.as_deref()).await?;
    Ok((
        session_cookies(&state, &tokens),
        Envelope::data(tokens_json(&tokens)).with_message("Token refreshed successfully"),
    )
        .into_response())
}

/// Ask for a password-reset email (3.1 #4).
///
/// Body: email. Always 200 with the same message, whether or not the account exists; in
/// development the reply also carries data: {resetToken, message}.
#[utoipa::path(post, path = "/api/auth/forgot-password", tag = "auth",
    responses((status = 200, description = "Generic confirmation"), (status = 400, description = "Validation failed")))]
pub async fn forgot_password(State(state): State<AppState>, JsonBody(body): JsonBody) -> AppResult<Envelope> {
    let mut v = Validator::body(&body);
    email_rule(&mut v);
    finish(v)?;
    let token = accounts::forgot_password(&state, &text(&body, "email").unwrap_or_default()).await?;
    let reply = Envelope::message(GENERIC_RESET_MESSAGE);
    match token {
        Some(token) if state.config.env == crate::config::Environment::Development => Ok(reply.with_data(json!({
            "resetToken": token,
            "message": "Use this token to reset your password",
        }))),
        _ => Ok(reply),
    }
}

/// Set a new password with an emailed reset token (3.1 #5).
///
/// Body: token, newPassword, confirmPassword. The token works once and expires after 10
/// minutes.
#[utoipa::path(post, path = "/api/auth/reset-password", tag = "auth",
    responses((status = 200, description = "Password reset"),
              (status = 400, description = "Validation failed, or \"Invalid or expired password reset token\"")))]
pub async fn reset_password(State(state): State<AppState>, JsonBody(body): JsonBody) -> AppResult<Envelope> {
    let mut v = Validator::body(&body);
    v.field("token").check(not_empty, "Reset token is required");
    password_rules(&mut v, "newPassword", "New password");
    confirm_rule(&mut v, &body);
    finish(v)?;
    let token = text(&body, "token").unwrap_or_default();
    accounts::reset_password(&state, &token, password_of(&body, "newPassword", "New password")?).await?;
    Ok(Envelope::message("Password reset successfully. Please login with your new password."))
}

/// Confirm one's email address with the token emailed at registration.
///
/// Body: token (from the link `<FRONTEND_URL>/confirm-email/<token>`). The token works once and
/// expires after 24 hours. Confirmation gates nothing; the user object's `emailConfirmed` shows
/// it.
#[utoipa::path(post, path = "/api/auth/confirm-email", tag = "auth",
    responses((status = 200, description = "Email confirmed successfully"),
              (status = 400, description = "Validation failed, or \"Invalid or expired email confirmation token\"")))]
pub async fn confirm_email(State(state): State<AppState>, JsonBody(body): JsonBody) -> AppResult<Envelope> {
    let mut v = Validator::body(&body);
    v.field("token").check(not_empty, "Confirmation token is required");
    finish(v)?;
    accounts::confirm_email(&state, &text(&body, "token").unwrap_or_default()).await?;
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
    Ok(Envelope::data(json!({"user": user})))
}

fn validate_profile(body: &Value) -> AppResult<()> {
    let mut v = Validator::body(body);
    v.field("name").optional().length(2, Some(50), "Name must be between 2 and 50 characters");
    v.field("phone").optional().matches(phone_pattern(), "Phone number must be 10 digits");
    object_rule(&mut v, "address", "Address");
    object_rule(&mut v, "lawyerDetails", "Lawyer details");
    object_rule(&mut v, "studentDetails", "Student details");
    v.field("lawyerDetails.specialization").optional().array_min(1, "At least one specialization is required");
    v.field("lawyerDetails.experience").optional().int_range(0, 50, "Experience must be between 0 and 50 years");
    v.field("lawyerDetails.consultationFee").optional().number_min(f64::MIN, "Consultation fee must be a number");
    let next_year = i64::from(chrono::Datelike::year(&chrono::Utc::now()) + 1);
    v.field("studentDetails.universityName").optional_falsy().length(1, None, "University name cannot be empty");
    v.field("studentDetails.enrollmentYear").optional_falsy().int_range(
        2000,
        next_year,
        "Enrollment year must be valid",
    );
    v.field("studentDetails.semester").optional_falsy().one_of(SEMESTERS, "Semester must be between 1st and 8th");
    v.field("studentDetails.rollNumber").optional_falsy().length(1, None, "Roll number cannot be empty");
    v.field("studentDetails.specialization").optional_falsy().length(1, None, "Specialization cannot be empty");
    v.finish()
}

/// Edit one's own profile (3.1 #8).
///
/// Requires an access token. Body (all optional): name, phone, address, lawyerDetails
/// (lawyers), studentDetails (law students). Nested objects merge over the stored ones;
/// verification fields are ignored.
#[utoipa::path(put, path = "/api/auth/profile", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "data: {user}"), (status = 400, description = "Validation failed"), LoggedIn))]
pub async fn update_profile(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    JsonBody(body): JsonBody,
) -> AppResult<Envelope> {
    validate_profile(&body)?;
    let present = |key: &str| lookup(&body, key).cloned();
    let changes = ProfileChanges {
        name: text(&body, "name"),
        phone: text(&body, "phone"),
        address: present("address"),
        lawyer_details: present("lawyerDetails"),
        student_details: present("studentDetails"),
    };
    let updated = accounts::update_profile(&state, &user, changes).await?;
    Ok(Envelope::data(json!({"user": CleanUser::of(&updated)})).with_message("Profile updated successfully"))
}

/// Change one's password (3.1 #9).
///
/// Requires an access token. Body: currentPassword, newPassword, confirmPassword. Other
/// sessions end at their next refresh.
#[utoipa::path(put, path = "/api/auth/update-password", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "Password updated"),
              (status = 400, description = "Validation failed, or \"Current password is incorrect\""), LoggedIn))]
pub async fn update_password(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    JsonBody(body): JsonBody,
) -> AppResult<Envelope> {
    let mut v = Validator::body(&body);
    v.field("currentPassword").check(not_empty, "Current password is required");
    password_rules(&mut v, "newPassword", "New password");
    confirm_rule(&mut v, &body);
    v.finish()?;
    let current = text(&body, "currentPassword").unwrap_or_default();
    let new_password = password_of(&body, "newPassword", "New password")?;
    accounts::update_password(&state, &user, current, new_password).await?;
    Ok(Envelope::message("Password updated successfully. Please login again."))
}
