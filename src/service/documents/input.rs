//! The text fields of the upload forms as typed values ([`FromBody`] on the form's fields read
//! as a document: the original's rules and messages, all failures at once), and the search
//! filters. Errors carry the text under `error` too, as every error of these routes.

use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::document::{DocumentCategory, DocumentType};
use crate::domain::page::parse_id;
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::validate::{FromBody, Validator};

/// A text field, trimmed (form fields are always text).
fn trimmed(fields: &Value, key: &str) -> Option<String> {
    fields.get(key).and_then(Value::as_str).map(|s| s.trim().to_string())
}

/// The text fields of a document upload (3.8 #1, #2), beside the file field.
#[derive(Debug, Clone, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct UploadMeta {
    pub document_type: DocumentType,
    /// The case or connection, a 24-hex id.
    #[schema(value_type = String)]
    pub related_id: Id,
    /// At most 500 characters.
    pub description: Option<String>,
    /// Other when absent or empty.
    #[schema(rename = "documentCategory")]
    pub category: Option<DocumentCategory>,
    /// Comma-separated; stored trimmed and lowercase.
    pub tags: Option<String>,
}

impl FromBody for UploadMeta {
    fn from_body(fields: &Value) -> AppResult<UploadMeta> {
        let mut v = Validator::body(fields);
        v.field("documentType").one_of(DocumentType::NAMES, "Document type must be direct, query, or dispute");
        v.field("relatedId").check(
            |v| v.and_then(Value::as_str).is_some_and(Id::is_valid),
            "Related ID must be a valid MongoDB ObjectId",
        );
        v.field("description").optional().length(0, Some(500), "Description must not exceed 500 characters");
        v.field("documentCategory").optional().one_of(DocumentCategory::NAMES, "Invalid document category");
        v.field("tags").optional().is_string("Tags must be a comma-separated string");
        v.finish().map_err(AppError::with_error_key)?;
        Ok(UploadMeta {
            document_type: trimmed(fields, "documentType")
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| AppError::bad_request("Invalid document type").with_error_key())?,
            related_id: parse_id(&trimmed(fields, "relatedId").unwrap_or_default(), "related")
                .map_err(AppError::with_error_key)?,
            description: trimmed(fields, "description"),
            category: trimmed(fields, "documentCategory").filter(|c| !c.is_empty()).and_then(|c| c.parse().ok()),
            tags: trimmed(fields, "tags"),
        })
    }
}

/// The text fields of a chat file upload (3.7 #7), beside the file field `file`.
#[derive(Debug, Clone, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ChatFileFields {
    /// The chat's `chatId`.
    pub chat_id: String,
    /// At most 500 characters; "Shared in chat" when absent or blank.
    pub description: Option<String>,
}

impl FromBody for ChatFileFields {
    fn from_body(fields: &Value) -> AppResult<ChatFileFields> {
        let refused = |text: &str| AppError::bad_request(text).with_error_key();
        let chat_id =
            trimmed(fields, "chatId").filter(|c| !c.is_empty()).ok_or_else(|| refused("Chat ID is required"))?;
        let description = trimmed(fields, "description");
        if description.as_ref().is_some_and(|d| d.chars().count() > 500) {
            return Err(refused("Description must not exceed 500 characters"));
        }
        Ok(ChatFileFields { chat_id, description })
    }
}

/// The search of 3.8 #9, as given in the query.
#[derive(Debug, Default, Clone)]
pub struct Search {
    pub q: Option<String>,
    pub document_type: Option<String>,
    pub category: Option<String>,
    pub date_from: Option<String>,
    pub date_to: Option<String>,
}
