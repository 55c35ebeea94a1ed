//! Request bodies of the auth routes (docs/api.md 3.1) as typed values: the request validators
//! of the original (express-validator) run on the document in their order, every failure comes
//! back at once, then the fields are read ([`FromBody`]). The model's own rules (nested documents,
//! the email pattern) run later, in the flows.

use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::email;
use crate::domain::password::{Password, Problem};
use crate::error::{AppError, AppResult};
use crate::store::users::Role;
use crate::validate::{FromBody, Validator, lookup, text};

use super::documents::SEMESTERS;

pub const CAPTCHA_REQUIRED: &str = "CAPTCHA verification is required";
const CAPTCHA_FIELD: &str = "captchaToken";

fn phone_pattern() -> &'static regex::Regex {
    static PHONE: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"^[0-9]{10}$").expect("phone pattern"));
    &PHONE
}

/// A string, or the text of a number (express-validator's `toString`).
fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Present and not "" (`notEmpty`; any non-string value passes).
fn not_empty(v: Option<&Value>) -> bool {
    match v {
        None => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
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

fn object_rule(v: &mut Validator, field: &str, label: &str) {
    v.field(field).optional().object(&format!("{label} must be an object"));
}

fn next_year() -> i64 {
    i64::from(chrono::Datelike::year(&chrono::Utc::now()) + 1)
}

/// A nested document as sent (the model casts and checks it later).
fn document(body: &Value, key: &str) -> Option<Value> {
    lookup(body, key).cloned()
}

// ---- the CAPTCHA of register and login ----

/// The `captchaToken` of register and login, as sent.
#[derive(Debug, Clone, Default)]
pub struct CaptchaToken(Option<Value>);

impl CaptchaToken {
    fn of(body: &Value) -> CaptchaToken {
        CaptchaToken(lookup(body, CAPTCHA_FIELD).cloned())
    }

    fn is_missing(&self) -> bool {
        !not_empty(self.0.as_ref())
    }

    /// The token for reCAPTCHA ("" when it is not text).
    pub fn text(&self) -> String {
        text_of(self.0.as_ref()).unwrap_or_default()
    }
}

/// A body with a CAPTCHA token.
pub trait WithCaptcha {
    fn captcha(&self) -> &CaptchaToken;
}

/// The CAPTCHA rule ("CAPTCHA verification is required"), which holds in production only: the
/// document alone cannot tell, so the bodies' rules check the token in its place among the
/// others and fail only when something else failed too; this keeps or drops that entry. A body
/// whose only fault is a missing token answers with the rule's message.
pub fn gate_captcha<T: WithCaptcha>(parsed: AppResult<T>, required: bool) -> AppResult<T> {
    match parsed {
        Ok(input) if required && input.captcha().is_missing() => {
            let mut v = Validator::body(&Value::Null);
            v.add(CAPTCHA_FIELD, input.captcha().0.as_ref(), CAPTCHA_REQUIRED);
            let mut err = v.finish().err().unwrap_or_else(|| AppError::bad_request(CAPTCHA_REQUIRED));
            err.message = CAPTCHA_REQUIRED.into();
            Err(err)
        }
        Err(mut err) if !required => {
            if let Some(errors) = err.errors.as_mut() {
                errors.retain(|f| f.path != CAPTCHA_FIELD);
            }
            Err(err)
        }
        other => other,
    }
}

/// The rules' outcome with a missing CAPTCHA token alone not counting as a failure
/// ([`gate_captcha`] decides about it).
fn finish_but_captcha(v: Validator) -> AppResult<()> {
    match v.finish() {
        Err(e) if e.errors.as_ref().is_some_and(|errors| errors.iter().all(|f| f.path == CAPTCHA_FIELD)) => Ok(()),
        other => other,
    }
}

fn captcha_rule(v: &mut Validator) {
    v.field(CAPTCHA_FIELD).check(not_empty, CAPTCHA_REQUIRED);
}

// ---- the bodies ----

/// Body of `POST /api/auth/register`.
#[derive(Debug, Clone, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Registration {
    /// 2 to 50 characters.
    pub name: String,
    pub email: String,
    /// At least 6 characters with a lowercase letter, an uppercase letter and a digit.
    #[schema(value_type = String)]
    pub password: Password,
    /// citizen (default), lawyer or law_student.
    pub role: Role,
    /// 10 digits.
    pub phone: Option<String>,
    /// `{street, city, state, pincode}`.
    #[schema(value_type = Option<Object>)]
    pub address: Option<Value>,
    /// Lawyers: `{barRegistrationNumber, specialization, experience, education, ...}`.
    #[schema(value_type = Option<Object>)]
    pub lawyer_details: Option<Value>,
    /// Law students: `{universityName, enrollmentYear, semester, specialization, rollNumber}`.
    #[schema(value_type = Option<Object>)]
    pub student_details: Option<Value>,
    /// Required in production.
    #[schema(value_type = Option<String>)]
    pub captcha_token: CaptchaToken,
}

impl WithCaptcha for Registration {
    fn captcha(&self) -> &CaptchaToken {
        &self.captcha_token
    }
}

fn validate_registration(body: &Value) -> AppResult<()> {
    let mut v = Validator::body(body);
    v.field("name").length(2, Some(50), "Name must be between 2 and 50 characters");
    email_rule(&mut v);
    password_rules(&mut v, "password", "Password");
    v.field("role")
        .optional()
        .one_of(&["citizen", "lawyer", "law_student"], "Role must be citizen, lawyer, or law_student");
    v.field("phone").optional().matches(phone_pattern(), "Phone number must be 10 digits");
    captcha_rule(&mut v);
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
            v.field("studentDetails.universityName").optional().length(
                1,
                None,
                "University name cannot be empty if provided",
            );
            v.field("studentDetails.enrollmentYear").optional().int_range(
                2000,
                next_year(),
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
    finish_but_captcha(v)
}

impl FromBody for Registration {
    fn from_body(body: &Value) -> AppResult<Registration> {
        validate_registration(body)?;
        let role = match lookup(body, "role").and_then(Value::as_str) {
            Some("lawyer") => Role::Lawyer,
            Some("law_student") => Role::LawStudent,
            _ => Role::Citizen,
        };
        Ok(Registration {
            name: text(body, "name").unwrap_or_default(),
            email: text(body, "email").unwrap_or_default(),
            password: password_of(body, "password", "Password")?,
            role,
            phone: text(body, "phone"),
            address: document(body, "address"),
            lawyer_details: document(body, "lawyerDetails"),
            student_details: document(body, "studentDetails"),
            captcha_token: CaptchaToken::of(body),
        })
    }
}

/// Body of `POST /api/auth/login`.
#[derive(Debug, Clone, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Login {
    pub email: String,
    pub password: String,
    /// Required in production.
    #[schema(value_type = Option<String>)]
    pub captcha_token: CaptchaToken,
}

impl WithCaptcha for Login {
    fn captcha(&self) -> &CaptchaToken {
        &self.captcha_token
    }
}

impl FromBody for Login {
    fn from_body(body: &Value) -> AppResult<Login> {
        let mut v = Validator::body(body);
        email_rule(&mut v);
        v.field("password").check(not_empty, "Password is required");
        captcha_rule(&mut v);
        finish_but_captcha(v)?;
        Ok(Login {
            email: text(body, "email").unwrap_or_default(),
            password: text(body, "password").unwrap_or_default(),
            captcha_token: CaptchaToken::of(body),
        })
    }
}

/// Body of `POST /api/auth/refresh-token`: the refresh token, unless the cookie carries it.
#[derive(Debug, Clone, Default, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct RefreshRequest {
    /// A non-blank string; anything else counts as absent.
    pub refresh_token: Option<String>,
}

impl FromBody for RefreshRequest {
    fn from_body(body: &Value) -> AppResult<RefreshRequest> {
        let token = body.get("refreshToken").and_then(Value::as_str).filter(|t| !t.trim().is_empty());
        Ok(RefreshRequest { refresh_token: token.map(str::to_string) })
    }
}

/// Body of `POST /api/auth/forgot-password`.
#[derive(Debug, Clone, ToSchema)]
pub struct ForgotPassword {
    pub email: String,
}

impl FromBody for ForgotPassword {
    fn from_body(body: &Value) -> AppResult<ForgotPassword> {
        let mut v = Validator::body(body);
        email_rule(&mut v);
        v.finish()?;
        Ok(ForgotPassword { email: text(body, "email").unwrap_or_default() })
    }
}

/// Body of `POST /api/auth/reset-password` (`confirmPassword` must equal `newPassword`).
#[derive(Debug, Clone, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct PasswordReset {
    /// The emailed reset token.
    pub token: String,
    #[schema(value_type = String)]
    pub new_password: Password,
}

/// A required field (the reset token or the current password) and a confirmed new password:
/// their rules, then both values.
fn with_new_password(body: &Value, field: &str, required: &str) -> AppResult<(String, Password)> {
    let mut v = Validator::body(body);
    v.field(field).check(not_empty, required);
    password_rules(&mut v, "newPassword", "New password");
    confirm_rule(&mut v, body);
    v.finish()?;
    Ok((text(body, field).unwrap_or_default(), password_of(body, "newPassword", "New password")?))
}

impl FromBody for PasswordReset {
    fn from_body(body: &Value) -> AppResult<PasswordReset> {
        let (token, new_password) = with_new_password(body, "token", "Reset token is required")?;
        Ok(PasswordReset { token, new_password })
    }
}

/// Body of `POST /api/auth/confirm-email`.
#[derive(Debug, Clone, ToSchema)]
pub struct EmailConfirmation {
    /// The token of the emailed link.
    pub token: String,
}

impl FromBody for EmailConfirmation {
    fn from_body(body: &Value) -> AppResult<EmailConfirmation> {
        let mut v = Validator::body(body);
        v.field("token").check(not_empty, "Confirmation token is required");
        v.finish()?;
        Ok(EmailConfirmation { token: text(body, "token").unwrap_or_default() })
    }
}

/// Body of `PUT /api/auth/profile`; an absent field leaves the stored one unchanged.
#[derive(Debug, Clone, Default, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ProfileChanges {
    /// 2 to 50 characters.
    pub name: Option<String>,
    /// 10 digits.
    pub phone: Option<String>,
    /// Merged over the stored address.
    #[schema(value_type = Option<Object>)]
    pub address: Option<Value>,
    /// Lawyers only; merged over the stored details (verification fields are ignored).
    #[schema(value_type = Option<Object>)]
    pub lawyer_details: Option<Value>,
    /// Law students only; merged over the stored details.
    #[schema(value_type = Option<Object>)]
    pub student_details: Option<Value>,
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
    v.field("studentDetails.universityName").optional_falsy().length(1, None, "University name cannot be empty");
    v.field("studentDetails.enrollmentYear").optional_falsy().int_range(
        2000,
        next_year(),
        "Enrollment year must be valid",
    );
    v.field("studentDetails.semester").optional_falsy().one_of(SEMESTERS, "Semester must be between 1st and 8th");
    v.field("studentDetails.rollNumber").optional_falsy().length(1, None, "Roll number cannot be empty");
    v.field("studentDetails.specialization").optional_falsy().length(1, None, "Specialization cannot be empty");
    v.finish()
}

impl FromBody for ProfileChanges {
    fn from_body(body: &Value) -> AppResult<ProfileChanges> {
        validate_profile(body)?;
        Ok(ProfileChanges {
            name: text(body, "name"),
            phone: text(body, "phone"),
            address: document(body, "address"),
            lawyer_details: document(body, "lawyerDetails"),
            student_details: document(body, "studentDetails"),
        })
    }
}

/// Body of `PUT /api/auth/update-password` (`confirmPassword` must equal `newPassword`).
#[derive(Debug, Clone, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct PasswordChange {
    pub current_password: String,
    #[schema(value_type = String)]
    pub new_password: Password,
}

impl FromBody for PasswordChange {
    fn from_body(body: &Value) -> AppResult<PasswordChange> {
        let (current_password, new_password) =
            with_new_password(body, "currentPassword", "Current password is required")?;
        Ok(PasswordChange { current_password, new_password })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(err: &AppError) -> Vec<&str> {
        err.errors.iter().flatten().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn the_captcha_entry_keeps_its_place_in_production_only() {
        let body = json!({"name": "A", "email": "a@x.in", "password": "Secret1"});
        let parsed = || Registration::from_body(&body);
        let production = gate_captcha(parsed(), true).unwrap_err();
        assert_eq!(paths(&production), ["name", "captchaToken"]);
        assert_eq!(production.message, "Validation failed");
        assert_eq!(paths(&gate_captcha(parsed(), false).unwrap_err()), ["name"]);

        let only_captcha = json!({"email": "a@x.in", "password": "x"});
        let err = gate_captcha(Login::from_body(&only_captcha), true).unwrap_err();
        assert_eq!((paths(&err), err.message.as_str()), (vec!["captchaToken"], CAPTCHA_REQUIRED));
        assert!(gate_captcha(Login::from_body(&only_captcha), false).is_ok());
        let with = json!({"email": "a@x.in", "password": "x", "captchaToken": 7});
        assert_eq!(gate_captcha(Login::from_body(&with), true).unwrap().captcha_token.text(), "7");
    }
}
