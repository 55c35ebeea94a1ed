//! Extractors: the JSON body (with the API's error shapes), the authenticated user and the
//! role gates of docs/api.md 1.7, query parameters, and path ids (400 for malformed ids).

use std::collections::BTreeMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE};
use axum::http::request::Parts;
use serde_json::{Value, json};
use utoipa::IntoResponses;
use utoipa::openapi::{self, RefOr};

use crate::domain::page::form_urlencoded_pairs;
pub use crate::domain::page::{Page, Params, parse_id};
use crate::error::AppError;
use crate::security::TokenError;
pub use crate::service::access::{authorize, require_verified_lawyer};
use crate::service::people;
use crate::state::AppState;
use crate::store::users::{Role, User};
use crate::validate::FromBody;

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

/// A request body read into a typed value by its [`FromBody`] rules: a failed rule is a 400 in
/// the validation shape, listing every failure, and the handler receives only valid input.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: FromBody> FromRequest<S> for Body<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let JsonBody(document) = JsonBody::from_request(req, state).await?;
        T::from_body(&document).map(Body)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let query = parts.uri.query().unwrap_or("");
        Ok(Params::from_query(query))
    }
}

fn bearer_or_cookie(parts: &Parts) -> Option<String> {
    if let Some(h) = parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(token) = h.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty())
    {
        return Some(token.to_string());
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
        let token =
            bearer_or_cookie(parts).ok_or_else(|| AppError::unauthorized("Not authorized, no token provided"))?;
        let claims = state.tokens.verify_access(&token).map_err(|e| match e {
            TokenError::Expired | TokenError::Invalid => AppError::unauthorized("Not authorized, token failed"),
        })?;
        let id = claims.user_id().ok_or_else(|| AppError::unauthorized("Not authorized, token failed"))?;
        let user = people::principal(state, &id)
            .await?
            .ok_or_else(|| AppError::unauthorized("Not authorized, user not found"))?;
        if !user.is_active {
            return Err(AppError::unauthorized("Account has been deactivated"));
        }
        let current = CurrentUser(user);
        parts.extensions.insert(current.clone());
        Ok(current)
    }
}

/// The failures of a gate, for the OpenAPI `responses` of the routes behind it: each gate
/// documents what it refuses, so the spec follows the extractor a handler actually takes.
fn gate_responses(forbidden: Option<&str>) -> BTreeMap<String, RefOr<openapi::Response>> {
    let mut responses = BTreeMap::new();
    let unauthorized = openapi::Response::new("No, bad or expired token, or a deactivated account");
    responses.insert("401".to_string(), RefOr::T(unauthorized));
    if let Some(description) = forbidden {
        responses.insert("403".to_string(), RefOr::T(openapi::Response::new(description)));
    }
    responses
}

impl IntoResponses for CurrentUser {
    fn responses() -> BTreeMap<String, RefOr<openapi::Response>> {
        gate_responses(None)
    }
}

macro_rules! role_gate {
    ($(#[$doc:meta])* $name:ident, [$($role:expr),+], $forbidden:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub User);

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<openapi::Response>> {
                gate_responses(Some($forbidden))
            }
        }

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
    Admin, [Role::Admin], "Not an admin");
role_gate!(/// `auth:citizen`.
    Citizen, [Role::Citizen], "Not a citizen");
role_gate!(/// `auth:lawyer` (without the verification gate).
    Lawyer, [Role::Lawyer], "Not a lawyer");

/// `auth:lawyer+v`: a lawyer whose verification an admin approved.
#[derive(Debug, Clone)]
pub struct VerifiedLawyer(pub User);

impl IntoResponses for VerifiedLawyer {
    fn responses() -> BTreeMap<String, RefOr<openapi::Response>> {
        gate_responses(Some("`code` LAWYER_ROLE_REQUIRED, LAWYER_NOT_VERIFIED or ACCOUNT_DEACTIVATED"))
    }
}

impl FromRequestParts<AppState> for VerifiedLawyer {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let CurrentUser(user) = CurrentUser::from_request_parts(parts, state).await?;
        authorize(&user, &[Role::Lawyer])?;
        require_verified_lawyer(&user)?;
        Ok(VerifiedLawyer(user))
    }
}
