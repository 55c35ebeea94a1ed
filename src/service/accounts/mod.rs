//! Accounts (docs/api.md 1.6, 2.2, 3.1): registration, login, refresh-token rotation, password
//! reset and change, the current user and profile edits, plus the rules of `nyaya create-admin`.
//! Integration tests: auth.
//!
//! The HTTP layer applies the request validators of the original (express-validator); this
//! module applies what the original's User model enforced (email pattern, nested document
//! types and limits, declared keys only), answering 400 where the original failed with 500.

use serde_json::{Map, Value, json};

use crate::state::AppState;
use crate::cache::Tag;
use crate::db::{Db, is_unique_violation};
use crate::error::{AppError, AppResult, FieldError};
use crate::mail::templates;
use crate::security::{self, TokenPair, sha256_hex};
use crate::service::people;
use crate::store::users::{self, EmailedToken, Role, User};

pub use crate::domain::{email, password};
use crate::domain::email::Email;
use crate::domain::password::Password;

pub mod views;

const DUPLICATE_EMAIL: &str = "User with this email already exists";

/// A freshly authenticated account with its new token pair.
pub struct Session {
    pub user: User,
    pub tokens: TokenPair,
}

/// A registration that passed the request validators.
pub struct Registration {
    pub name: String,
    pub email: String,
    pub password: Password,
    pub role: Role,
    pub phone: Option<String>,
    pub address: Option<Value>,
    pub lawyer_details: Option<Value>,
    pub student_details: Option<Value>,
}

/// A profile update that passed the request validators; `None` leaves a field unchanged.
#[derive(Default)]
pub struct ProfileChanges {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub address: Option<Value>,
    pub lawyer_details: Option<Value>,
    pub student_details: Option<Value>,
}

fn model_error(path: &str, value: Option<&Value>, msg: impl Into<String>) -> FieldError {
    FieldError { kind: "field", value: value.cloned(), msg: msg.into(), path: path.to_string(), location: "body" }
}

fn invalid_email(raw: &str) -> AppError {
    AppError::validation(vec![model_error("email", Some(&json!(raw)), email::INVALID)])
}

/// The stored form of an address ([`Email::parse`]); a validation error on `email` otherwise.
pub fn canonical_email(raw: &str) -> AppResult<Email> {
    Email::parse(raw).map_err(|_| invalid_email(raw))
}

/// How the original's schema casts one declared key of a nested document.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Trimmed,
    Number,
    TextList,
}

const ADDRESS_KEYS: &[(&str, Kind)] =
    &[("street", Kind::Text), ("city", Kind::Text), ("state", Kind::Text), ("pincode", Kind::Text)];

/// `lawyerDetails` keys a client may write (the verification fields are the admin's).
const LAWYER_KEYS: &[(&str, Kind)] = &[
    ("barRegistrationNumber", Kind::Text),
    ("specialization", Kind::TextList),
    ("experience", Kind::Number),
    ("education", Kind::Text),
    ("consultationFee", Kind::Number),
    ("bio", Kind::Text),
    ("licenseNumber", Kind::Text),
    ("practiceAreas", Kind::TextList),
    ("courtAdmissions", Kind::TextList),
];

const STUDENT_KEYS: &[(&str, Kind)] = &[
    ("universityName", Kind::Trimmed),
    ("enrollmentYear", Kind::Number),
    ("semester", Kind::Text),
    ("specialization", Kind::Trimmed),
    ("rollNumber", Kind::Trimmed),
];

pub const SEMESTERS: &[&str] = &["1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th"];

fn cast(kind: Kind, value: &Value) -> Option<Value> {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match kind {
        Kind::Text => text(value).map(Value::String),
        Kind::Trimmed => text(value).map(|s| Value::String(s.trim().to_string())),
        Kind::Number => match value {
            Value::Number(_) => Some(value.clone()),
            Value::String(s) => {
                let n: f64 = s.trim().parse().ok().filter(|n: &f64| n.is_finite())?;
                Some(if n.fract() == 0.0 && n.abs() < 9e15 { json!(n as i64) } else { json!(n) })
            }
            _ => None,
        },
        Kind::TextList => match value {
            Value::Array(items) => items.iter().map(text).collect::<Option<Vec<_>>>().map(|v| json!(v)),
            other => text(other).map(|s| json!([s])),
        },
    }
}

/// Writes the declared keys of `input` over `base` with the schema's casts (undeclared keys
/// are dropped, null unsets a key); a value that cannot be cast is a validation entry.
fn merge_document(
    base: Option<&Value>,
    input: &Value,
    prefix: &str,
    keys: &[(&str, Kind)],
    errors: &mut Vec<FieldError>,
) -> Map<String, Value> {
    let mut doc = base.and_then(Value::as_object).cloned().unwrap_or_default();
    let Some(input) = input.as_object() else {
        errors.push(model_error(prefix, Some(input), format!("{prefix} must be an object")));
        return doc;
    };
    for (key, kind) in keys {
        let Some(value) = input.get(*key) else { continue };
        let path = format!("{prefix}.{key}");
        if value.is_null() {
            doc.remove(*key);
            continue;
        }
        match cast(*kind, value) {
            Some(v) => {
                doc.insert(key.to_string(), v);
            }
            None => {
                let what = match kind {
                    Kind::Number => "a number",
                    Kind::TextList => "a list of text values",
                    Kind::Text | Kind::Trimmed => "text",
                };
                errors.push(model_error(&path, Some(value), format!("{path} must be {what}")));
            }
        }
    }
    doc
}

fn number_at(doc: &Map<String, Value>, key: &str) -> Option<f64> {
    doc.get(key).and_then(Value::as_f64)
}

fn text_len(doc: &Map<String, Value>, key: &str) -> usize {
    doc.get(key).and_then(Value::as_str).map(|s| s.encode_utf16().count()).unwrap_or(0)
}

/// The lawyer schema's defaults and validators; `role_specific` is
/// `profileCompletion.roleSpecificDetails`, which makes the bar registration number required.
fn finish_lawyer_details(mut doc: Map<String, Value>, role_specific: bool, errors: &mut Vec<FieldError>) -> Value {
    let defaults = [
        ("specialization", json!(["General Practice"])),
        ("experience", json!(0)),
        ("education", json!("Law Graduate")),
        ("verificationStatus", json!("pending")),
        ("verificationDocuments", json!([])),
        ("practiceAreas", json!([])),
        ("courtAdmissions", json!([])),
    ];
    for (key, value) in defaults {
        doc.entry(key).or_insert(value);
    }
    if let Some(exp) = number_at(&doc, "experience").filter(|e| !(0.0..=50.0).contains(e)) {
        errors.push(model_error(
            "lawyerDetails.experience",
            Some(&json!(exp)),
            "Experience must be between 0 and 50 years",
        ));
    }
    if let Some(fee) = number_at(&doc, "consultationFee").filter(|f| *f < 0.0) {
        errors.push(model_error(
            "lawyerDetails.consultationFee",
            Some(&json!(fee)),
            "Consultation fee cannot be negative",
        ));
    }
    if role_specific && doc.get("barRegistrationNumber").and_then(Value::as_str).is_none_or(|s| s.is_empty()) {
        errors.push(model_error(
            "lawyerDetails.barRegistrationNumber",
            doc.get("barRegistrationNumber"),
            "Bar registration number is required",
        ));
    }
    Value::Object(doc)
}

/// The student schema's defaults and validators.
fn finish_student_details(mut doc: Map<String, Value>, errors: &mut Vec<FieldError>) -> Value {
    doc.entry("semester").or_insert(json!("1st"));
    let next_year = f64::from(chrono::Datelike::year(&chrono::Utc::now()) + 1);
    if let Some(year) = number_at(&doc, "enrollmentYear").filter(|y| !(2000.0..=next_year).contains(y)) {
        errors.push(model_error("studentDetails.enrollmentYear", Some(&json!(year)), "Enrollment year must be valid"));
    }
    if !doc.get("semester").and_then(Value::as_str).is_some_and(|s| SEMESTERS.contains(&s)) {
        errors.push(model_error(
            "studentDetails.semester",
            doc.get("semester"),
            "Semester must be between 1st and 8th",
        ));
    }
    for (key, max, label) in [
        ("universityName", 100, "University name"),
        ("specialization", 50, "Specialization"),
        ("rollNumber", 30, "Roll number"),
    ] {
        if text_len(&doc, key) > max {
            errors.push(model_error(
                &format!("studentDetails.{key}"),
                doc.get(key),
                format!("{label} cannot be more than {max} characters"),
            ));
        }
    }
    Value::Object(doc)
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
    expires: String,
}

fn issue_token(lifetime: chrono::Duration) -> IssuedToken {
    let secret = crate::ids::random_hex(32);
    IssuedToken { digest: sha256_hex(&secret), expires: crate::time::iso(crate::time::now() + lifetime), secret }
}

/// How long an emailed password-reset token stays valid (the email says so).
const RESET_TOKEN_LIFETIME: chrono::Duration = chrono::Duration::minutes(10);

/// How long an email-confirmation token stays valid (the email says so).
const CONFIRMATION_TOKEN_LIFETIME: chrono::Duration = chrono::Duration::hours(24);

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
            user.profile_completion =
                json!({"basicInfo": true, "roleSpecificDetails": supplied, "documentsUploaded": false});
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
        crate::service::background::send_email(state, templates::lawyer_welcome(&user.email, &user.name, frontend)).await;
    }
    Ok(Session { user, tokens })
}

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

/// 3.1 #4. For a known account: a single-use token (only its digest is stored), valid for 10
/// minutes, emailed to the owner. Returns the token so development can show it; `None` for
/// unknown addresses, which the caller must answer exactly like known ones.
pub async fn forgot_password(state: &AppState, raw_email: &str) -> AppResult<Option<String>> {
    let Some(email) = email::normalize(raw_email) else { return Ok(None) };
    let Some(user) = users::find_by_email(&state.db, &email).await? else { return Ok(None) };
    let token = issue_token(RESET_TOKEN_LIFETIME);
    users::set_emailed_token(&state.db, &user.id, EmailedToken::PasswordReset, &token.digest, &token.expires).await?;
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
    let unexpired =
        user.password_reset_expires.as_deref().and_then(crate::time::parse).is_some_and(|t| t > crate::time::now());
    if !unexpired {
        return Err(invalid());
    }
    let hash = security::hash_password_async(new_password.into_inner()).await?;
    let Some(id) = users::redeem_password_reset(&state.db, &digest, &crate::time::now_iso(), &hash).await? else {
        return Err(invalid());
    };
    people::user_changed(state, &id, []).await;
    Ok(())
}

/// Redeems an emailed confirmation token once: the account's address counts as confirmed
/// (`emailConfirmed`) from then on. Nothing is gated on it.
pub async fn confirm_email(state: &AppState, token: &str) -> AppResult<()> {
    let Some(id) = users::confirm_email(&state.db, &sha256_hex(token), &crate::time::now_iso()).await? else {
        return Err(AppError::bad_request("Invalid or expired email confirmation token"));
    };
    // The admin user lists show `emailConfirmed`.
    people::user_changed(state, &id, [Tag::Adm]).await;
    Ok(())
}

/// 3.1 #6: the stored refresh token no longer works.
pub async fn logout(state: &AppState, user: &User) -> AppResult<()> {
    users::set_refresh_token_hash(&state.db, &user.id, None).await?;
    people::user_changed(state, &user.id, []).await;
    Ok(())
}

/// 3.1 #7: the clean user with legacy `connections.userId` populated
/// (name, email, role, lawyerDetails.specialization).
pub async fn current_user(state: &AppState, user: &User) -> AppResult<Value> {
    let one = std::slice::from_ref(user);
    let mut docs = people::clean_with_connections(state, one, people::PARTICIPANT_LIST).await?;
    Ok(docs.pop().unwrap_or(Value::Null))
}

/// JavaScript truthiness, for the validators' "falsy counts as absent".
pub fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(_) | Value::Object(_) => false,
    }
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
        errors.push(model_error("name", Some(&json!(name)), "Name must be between 2 and 50 characters"));
    }
    if !email::is_email(raw_email) {
        errors.push(model_error("email", Some(&json!(raw_email)), email::INVALID));
    }
    for problem in Password::problems(password) {
        errors.push(model_error("password", None, problem.message("Password")));
    }
    finish(errors)?;
    let email = canonical_email(raw_email)?.into_string();
    let Some(mut user) = users::find_by_email(db, &email).await? else {
        let hash = security::hash_password_async(password.to_string()).await?;
        let mut user = User::new(name.to_string(), email, hash, Role::Admin);
        user.profile_completion = json!({"basicInfo": true, "roleSpecificDetails": true, "documentsUploaded": true});
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
    user.profile_completion = json!({"basicInfo": true, "roleSpecificDetails": true, "documentsUploaded": true});
    if !same_password {
        user.password_hash = security::hash_password_async(password.to_string()).await?;
        user.refresh_token_hash = None;
    }
    users::save(db, &mut user).await?;
    Ok((user, outcome))
}
