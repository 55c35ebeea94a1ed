//! Request bodies of the connection routes (docs/api.md 3.3 #14, #15, 3.4 #6, #15) as typed
//! values, with the original's checks and messages (plain 400s, not the validation shape). The
//! Socket.IO events that carry the same payloads read them with the same [`FromBody`] rules.

use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::connection::ConnectionType;
use crate::error::{AppError, AppResult};
use crate::service::chats::MAX_MESSAGE_CHARS;
use crate::validate::FromBody;

/// Longest request or response message of a connection, in characters.
pub const MAX_CONNECTION_MESSAGE: usize = 500;

/// Body of a direct connection request (3.4 #15).
#[derive(Debug, Clone, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ConnectionRequest {
    /// 1 to 500 characters, trimmed.
    pub message: String,
    /// general_consultation when absent.
    pub connection_type: ConnectionType,
}

impl FromBody for ConnectionRequest {
    fn from_body(body: &Value) -> AppResult<ConnectionRequest> {
        let message = match body.get("message").and_then(Value::as_str).map(str::trim) {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => return Err(AppError::bad_request("Message is required")),
        };
        if message.chars().count() > MAX_CONNECTION_MESSAGE {
            return Err(AppError::bad_request("Request message cannot be more than 500 characters"));
        }
        let connection_type = match body.get("connectionType") {
            None | Some(Value::Null) => ConnectionType::GeneralConsultation,
            Some(v) => v
                .as_str()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| AppError::bad_request("Invalid connection type"))?,
        };
        Ok(ConnectionRequest { message, connection_type })
    }
}

/// Body of a lawyer's answer to a connection request (3.3 #14, #15).
#[derive(Debug, Clone, Default, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ConnectionAnswer {
    /// At most 500 characters, trimmed; "" when absent.
    pub response_message: Option<String>,
}

impl FromBody for ConnectionAnswer {
    fn from_body(body: &Value) -> AppResult<ConnectionAnswer> {
        let response_message = match body.get("responseMessage") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                let s = s.trim();
                if s.chars().count() > MAX_CONNECTION_MESSAGE {
                    return Err(AppError::bad_request("Response message cannot be more than 500 characters"));
                }
                Some(s.to_string())
            }
            Some(_) => return Err(AppError::bad_request("Response message must be a string")),
        };
        Ok(ConnectionAnswer { response_message })
    }
}

impl ConnectionAnswer {
    pub fn response(&self) -> &str {
        self.response_message.as_deref().unwrap_or_default()
    }
}

/// Body of a legacy message request (3.4 #6).
#[derive(Debug, Clone, Default, ToSchema)]
pub struct MessageRequest {
    /// At most 1000 characters; a standard greeting when absent or blank.
    pub message: Option<String>,
}

impl FromBody for MessageRequest {
    fn from_body(body: &Value) -> AppResult<MessageRequest> {
        let message = match body.get("message") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(AppError::bad_request("Message must be a string")),
        };
        if message.as_ref().is_some_and(|m| m.chars().count() > MAX_MESSAGE_CHARS) {
            return Err(AppError::bad_request("Message too long. Maximum 1000 characters."));
        }
        Ok(MessageRequest { message })
    }
}
