//! Extractors: the JSON body (with the API's error shapes), the authenticated user and the
//! role gates of docs/api.md 1.7, query parameters, and path ids (400 for malformed ids).

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE};
use axum::http::request::Parts;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::error::{AppError, FieldError};
use crate::ids::Id;
use crate::security::TokenError;
use crate::service::people;
use crate::store::users::{Role, User, VerificationStatus};

/// A request body as a JSON document. JSON and urlencoded forms are accepted, an empty body
/// is `{}`; malformed JSON is a 400 and an oversized body a 413, both in the envelope.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let content_type =
            req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::payload_too_large("Request entity too large")
            } else {
                AppError::bad_request(format!("Could not read request body: {e}"))
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(json!({})));
        }
        if content_type.starts_with("application/x-www-form-urlencoded") {
            let pairs: Vec<(String, String)> = form_urlencoded_pairs(&bytes);
            let map: serde_json::Map<String, Value> = pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            return Ok(JsonBody(Value::Object(map)));
        }
        if !(content_type.is_empty() || content_type.contains("json")) {
            // Express ignores bodies it has no parser for; validation then reports the fields.
            return Ok(JsonBody(json!({})));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v @ Value::Object(_)) => Ok(JsonBody(v)),
            Ok(_) => Err(AppError::bad_request("Request body must be a JSON object")),
            Err(e) => Err(AppError::bad_request(format!("Malformed JSON in request body: {e}"))),
        }
    }
}

fn form_urlencoded_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        let mut out = Vec::with_capacity(s.len());
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(bytes)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Query parameters as strings; the last value of a repeated key wins.
pub struct Params(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let query = parts.uri.query().unwrap_or("");
        Ok(Params(form_urlencoded_pairs(query.as_bytes()).into_iter().collect()))
    }
}

impl Params {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).map(str::trim).filter(|s| !s.is_empty())
    }

    /// A filter value, with the "match everything" spellings (`all`, `undefined`) treated as absent.
    pub fn filter(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !matches!(*v, "all" | "undefined" | "null"))
    }

    /// The `page` and `limit` of every paginated list (both styles of docs/api.md 1.5): `limit`
    /// defaults to `default_limit` and is clamped to 1..=[`MAX_LIMIT`]; a `page` below 1 or not
    /// a number reads as 1, as in the original. A page above [`MAX_PAGE`] (however many digits)
    /// is a 400 in the validation shape: no list is that long, and its offset must stay a
    /// number every database accepts.
    pub fn page(&self, default_limit: i64) -> Result<Page, AppError> {
        Ok(Page { page: page_number(self.get("page"))?, limit: self.limit(default_limit) })
    }

    /// The `limit` alone, for lists of one page: `default_limit` unless a number of at least 1
    /// is given, at most [`MAX_LIMIT`].
    pub fn limit(&self, default_limit: i64) -> i64 {
        self.get("limit").and_then(|l| l.parse::<i64>().ok()).filter(|l| *l >= 1).unwrap_or(default_limit).min(MAX_LIMIT)
    }
}

/// The largest `page` a list serves (1,000,000 pages of [`MAX_LIMIT`] items).
pub const MAX_PAGE: i64 = 1_000_000;
/// The largest `limit` of a list.
pub const MAX_LIMIT: i64 = 100;

/// The page a `page` parameter asks for (see [`Params::page`]); the cache keys pages by it.
pub fn page_number(raw: Option<&str>) -> Result<i64, AppError> {
    match raw.map(|p| (p, p.trim().parse::<i64>())) {
        Some((_, Ok(p))) if p > MAX_PAGE => Err(page_out_of_range(raw)),
        Some((_, Ok(p))) => Ok(p.max(1)),
        // Only digits, yet no i64: far beyond the bound.
        Some((p, Err(_))) if is_unsigned_integer(p.trim().strip_prefix('+').unwrap_or(p.trim())) => Err(page_out_of_range(raw)),
        _ => Ok(1),
    }
}

fn is_unsigned_integer(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn page_out_of_range(raw: Option<&str>) -> AppError {
    AppError::validation(vec![FieldError {
        kind: "field",
        value: raw.map(|r| Value::String(r.to_string())),
        msg: format!("Page must be an integer from 1 to {MAX_PAGE}"),
        path: "page".into(),
        location: "query",
    }])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: i64,
    pub limit: i64,
}

impl Page {
    /// Items before this page; at most `(MAX_PAGE - 1) * MAX_LIMIT` for a parsed page.
    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.limit)
    }
    pub fn pages(&self, total: i64) -> i64 {
        (total + self.limit - 1) / self.limit
    }
}

/// Parses a path id; malformed ids are a 400, never a 500.
pub fn parse_id(raw: &str, what: &str) -> Result<Id, AppError> {
    raw.parse().map_err(|_| AppError::bad_request(format!("Invalid {what} ID format")))
}

fn bearer_or_cookie(parts: &Parts) -> Option<String> {
    if let Some(h) = parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some(token) = h.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty()) {
            return Some(token.to_string());
        }
    }
    cookie(parts, "accessToken")
}

/// The value of one cookie of the request.
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// `protect`: a valid access token of an existing, active user, as it is now (the remembered
/// principal follows every write), so that deactivation takes effect on the next request.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(user) = parts.extensions.get::<CurrentUser>() {
            return Ok(user.clone());
        }
        let token = bearer_or_cookie(parts).ok_or_else(|| AppError::unauthorized("Not authorized, no token provided"))?;
        let claims = state.tokens.verify_access(&token).map_err(|e| match e {
            TokenError::Expired | TokenError::Invalid => AppError::unauthorized("Not authorized, token failed"),
        })?;
        let id = claims.user_id().ok_or_else(|| AppError::unauthorized("Not authorized, token failed"))?;
        let user = people::principal(state, &id).await?.ok_or_else(|| AppError::unauthorized("Not authorized, user not found"))?;
        if !user.is_active {
            return Err(AppError::unauthorized("Account has been deactivated"));
        }
        let current = CurrentUser(user);
        parts.extensions.insert(current.clone());
        Ok(current)
    }
}

/// `authorize(roles)`: 403 naming the caller's role.
pub fn authorize(user: &User, roles: &[Role]) -> Result<(), AppError> {
    if roles.contains(&user.role) {
        Ok(())
    } else {
        Err(AppError::forbidden(format!("User role {} is not authorized to access this route", user.role)))
    }
}

/// `requireVerifiedLawyer` (docs/api.md 1.7), with the original's codes, messages and order.
/// Verified means `isVerified` and a `verified` status (kept consistent by admin verification).
pub fn require_verified_lawyer(user: &User) -> Result<(), AppError> {
    if user.role != Role::Lawyer {
        return Err(AppError::forbidden("Access restricted to lawyers only").with_code("LAWYER_ROLE_REQUIRED"));
    }
    if !user.is_verified || user.verification_status() != VerificationStatus::Verified {
        return Err(AppError::forbidden(
            "Your lawyer account is pending verification. Please wait for admin approval before accessing this feature.",
        )
        .with_code("LAWYER_NOT_VERIFIED")
        .with_data(json!({
            "verificationStatus": user.verification_status().as_str(),
            "isVerified": false,
            "role": "lawyer",
            "message": "Contact admin if verification is taking longer than expected.",
        })));
    }
    if !user.is_active {
        return Err(
            AppError::forbidden("Your account has been deactivated. Please contact support.").with_code("ACCOUNT_DEACTIVATED")
        );
    }
    Ok(())
}

macro_rules! role_gate {
    ($(#[$doc:meta])* $name:ident, [$($role:expr),+]) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub User);

        impl FromRequestParts<AppState> for $name {
            type Rejection = AppError;

            async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
                let CurrentUser(user) = CurrentUser::from_request_parts(parts, state).await?;
                authorize(&user, &[$($role),+])?;
                Ok($name(user))
            }
        }
    };
}

role_gate!(/// `auth:admin`.
    Admin, [Role::Admin]);
role_gate!(/// `auth:citizen`.
    Citizen, [Role::Citizen]);
role_gate!(/// `auth:lawyer` (without the verification gate).
    Lawyer, [Role::Lawyer]);

/// `auth:lawyer+v`: a lawyer whose verification an admin approved.
#[derive(Debug, Clone)]
pub struct VerifiedLawyer(pub User);

impl FromRequestParts<AppState> for VerifiedLawyer {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let CurrentUser(user) = CurrentUser::from_request_parts(parts, state).await?;
        authorize(&user, &[Role::Lawyer])?;
        require_verified_lawyer(&user)?;
        Ok(VerifiedLawyer(user))
    }
}
