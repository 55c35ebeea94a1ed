//! One error type for the whole service, rendered in the API's envelope:
//! `{success:false, message, code?, data?, errors?}` (docs/api.md 1.2-1.4).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

/// One entry of an express-validator style error list.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldError {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    pub msg: String,
    pub path: String,
    pub location: &'static str,
}

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub message: String,
    pub code: Option<&'static str>,
    /// Boxed: rare, and it would otherwise make every `Result` carrying this error large.
    pub data: Option<Box<Value>>,
    pub errors: Option<Vec<FieldError>>,
    /// Routes whose original put the text under `error` keep that key (and add `message`).
    pub error_key: bool,
    source: Option<anyhow::Error>,
}

pub type AppResult<T> = Result<T, AppError>;

/// Set once at startup: production hides internal error text.
static EXPOSE_INTERNALS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

pub fn set_expose_internals(expose: bool) {
    EXPOSE_INTERNALS.store(expose, std::sync::atomic::Ordering::Relaxed);
}

impl AppError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> AppError {
        AppError {
            status,
            message: message.into(),
            code: None,
            data: None,
            errors: None,
            error_key: false,
            source: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::UNAUTHORIZED, message)
    }
    pub fn forbidden(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::FORBIDDEN, message)
    }
    pub fn not_found(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::CONFLICT, message)
    }
    pub fn too_many(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::TOO_MANY_REQUESTS, message)
    }
    pub fn payload_too_large(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }
    pub fn validation(errors: Vec<FieldError>) -> AppError {
        AppError { errors: Some(errors), ..AppError::bad_request("Validation failed") }
    }
    pub fn internal(err: impl Into<anyhow::Error>) -> AppError {
        let err = err.into();
        AppError { source: Some(err), ..AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong!") }
    }
    /// A copy for every waiter of a shared load (the underlying cause stays with the first).
    pub fn duplicate(&self) -> AppError {
        let message = match (&self.source, EXPOSE_INTERNALS.load(std::sync::atomic::Ordering::Relaxed)) {
            (Some(source), true) => format!("{source:#}"),
            _ => self.message.clone(),
        };
        AppError {
            status: self.status,
            message,
            code: self.code,
            data: self.data.clone(),
            errors: self.errors.clone(),
            error_key: self.error_key,
            source: None,
        }
    }

    pub fn with_code(mut self, code: &'static str) -> AppError {
        self.code = Some(code);
        self
    }
    pub fn with_data(mut self, data: Value) -> AppError {
        self.data = Some(Box::new(data));
        self
    }
    pub fn with_error_key(mut self) -> AppError {
        self.error_key = true;
        self
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)?;
        // Logs name the cause; responses are built from `message`, never from this.
        match &self.source {
            Some(source) => write!(f, " ({source:#})"),
            None => Ok(()),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> AppError {
        AppError::internal(err)
    }
}

impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> AppError {
        AppError::internal(err)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut message = self.message;
        if let Some(source) = &self.source {
            tracing::error!(error = %format!("{source:#}"), "request failed");
            if EXPOSE_INTERNALS.load(std::sync::atomic::Ordering::Relaxed) {
                message = format!("{source:#}");
            }
        }
        let mut body = json!({ "success": false, "message": message });
        if self.error_key {
            body["error"] = json!(message);
        }
        if let Some(code) = self.code {
            body["code"] = json!(code);
        }
        if let Some(data) = self.data {
            body["data"] = *data;
        }
        if let Some(errors) = self.errors {
            if self.error_key {
                body["details"] = json!(errors);
            } else {
                body["errors"] = json!(errors);
            }
        }
        (self.status, axum::Json(body)).into_response()
    }
}
