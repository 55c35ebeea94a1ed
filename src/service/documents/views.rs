//! Documents as clients receive them (docs/api.md 2.7, 3.8, 3.7 #7): the view structs in the
//! key order of the original's documents, with the model's virtuals (`id`, `sizeFormatted`,
//! `timeAgo`). The uploader is populated by [`crate::service::people`] (or is the bare id when
//! the account is gone), so it stays a JSON value here.

use serde::{Serialize, Serializer};
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::chat::MessageType;
use crate::domain::document::{DocumentCategory, DocumentStatus, DocumentType, RelatedModel};
use crate::domain::user::Role;
use crate::ids::Id;
use crate::store::documents::{Access, Document, TypeStats};
use crate::time::Timestamp;

use super::thumbnail_url;

/// `sizeFormatted`: base 1024, two decimals with trailing zeros dropped ("1.5 MB", "100 Bytes").
pub fn size_formatted(bytes: i64) -> String {
    if bytes <= 0 {
        return "0 Bytes".into();
    }
    const UNITS: [&str; 4] = ["Bytes", "KB", "MB", "GB"];
    let b = bytes as f64;
    let i = ((b.ln() / 1024f64.ln()).floor() as usize).min(UNITS.len() - 1);
    let scaled = format!("{:.2}", b / 1024f64.powi(i as i32));
    let trimmed = scaled.trim_end_matches('0').trim_end_matches('.');
    format!("{trimmed} {}", UNITS[i])
}

/// `timeAgo`: whole days rounded up, as the original model computes it.
pub fn time_ago(uploaded: Timestamp, now: Timestamp) -> String {
    let micros = (now - uploaded).num_microseconds().unwrap_or(i64::MAX).unsigned_abs() as f64;
    let days = (micros / 86_400_000_000.0).ceil() as i64;
    match days {
        1 => "1 day ago".into(),
        d if d < 7 => format!("{d} days ago"),
        d if d < 30 => format!("{} weeks ago", (d as f64 / 7.0).ceil() as i64),
        d if d < 365 => format!("{} months ago", (d as f64 / 30.0).ceil() as i64),
        d => format!("{} years ago", (d as f64 / 365.0).ceil() as i64),
    }
}

/// One entry of `accessibleTo`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessView {
    #[schema(value_type = String)]
    pub user_id: Id,
    pub role: Role,
}

impl From<&Access> for AccessView {
    fn from(a: &Access) -> AccessView {
        AccessView { user_id: a.user_id.clone(), role: a.role }
    }
}

/// A document (the Mongoose JSON with its virtuals), `thumbnailUrl` once an image has one.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentView {
    #[serde(rename = "_id")]
    #[schema(value_type = String)]
    pub id: Id,
    pub original_name: String,
    /// The SHA-256 hex of the content (a CID for records moved from the original).
    #[serde(rename = "ipfsHash")]
    pub content_hash: String,
    pub mime_type: String,
    pub size: i64,
    pub url: String,
    pub document_type: DocumentType,
    #[schema(value_type = String)]
    pub related_id: Id,
    pub related_model: RelatedModel,
    /// `{_id, name, email, role}`, or the bare id when the account is gone.
    #[schema(value_type = Object)]
    pub uploaded_by: Value,
    pub uploaded_by_role: Role,
    pub accessible_to: Vec<AccessView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub document_category: DocumentCategory,
    pub is_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub verified_by: Option<Id>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<Timestamp>,
    /// `{name, keyvalues}` as recorded (free-form in records moved from the original); absent
    /// when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub pinata_metadata: Option<Value>,
    pub status: DocumentStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<String>,
    pub uploaded_at: Timestamp,
    pub last_accessed_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(rename = "__v")]
    pub version: u32,
    /// The `id` virtual: `_id` again.
    #[serde(rename = "id")]
    #[schema(value_type = String)]
    pub id_virtual: Id,
    pub size_formatted: String,
    pub time_ago: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
}

impl DocumentView {
    /// `uploaded_by` is the populated uploader; `now` is when `timeAgo` is counted from.
    pub fn new(d: &Document, uploaded_by: Value, now: Timestamp) -> DocumentView {
        DocumentView {
            id: d.id.clone(),
            original_name: d.original_name.clone(),
            content_hash: d.content_hash.clone(),
            mime_type: d.mime_type.clone(),
            size: d.size,
            url: d.url.clone(),
            document_type: d.document_type,
            related_id: d.related_id.clone(),
            related_model: d.related_model,
            uploaded_by,
            uploaded_by_role: d.uploaded_by_role,
            accessible_to: d.access.iter().map(AccessView::from).collect(),
            description: d.description.clone(),
            tags: d.tags.clone(),
            document_category: d.document_category,
            is_verified: d.is_verified,
            verified_by: d.verified_by.clone(),
            verified_at: d.verified_at,
            pinata_metadata: d.metadata.as_object().is_some_and(|m| !m.is_empty()).then(|| d.metadata.clone()),
            status: d.status,
            rejection_reason: d.status_reason.clone(),
            uploaded_at: d.uploaded_at,
            last_accessed_at: d.last_accessed_at,
            created_at: d.created_at,
            updated_at: d.updated_at,
            version: 0,
            id_virtual: d.id.clone(),
            size_formatted: size_formatted(d.size),
            time_ago: time_ago(d.uploaded_at, now),
            thumbnail_url: d.thumbnail_key.as_ref().map(|_| thumbnail_url(&d.id)),
        }
    }
}

/// `data` of a single upload: `{document, ipfsUrl}` (the download URL).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadedDocument {
    pub document: DocumentView,
    pub ipfs_url: String,
}

/// `data` of the routes answering a list: `{documents}` (a multiple upload).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UploadedDocuments {
    pub documents: Vec<DocumentView>,
}

/// `data` of 3.8 #5: `{document}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DocumentReply {
    pub document: DocumentView,
}

/// `data` of 3.8 #7: `{documents, count}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntityDocuments {
    pub documents: Vec<DocumentView>,
    pub count: usize,
}

/// `{current, total (pages), count, totalDocuments}` of the document lists.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocPagination {
    pub current: i64,
    pub total: i64,
    pub count: usize,
    pub total_documents: i64,
}

impl DocPagination {
    pub fn new(page: crate::domain::page::Page, count: usize, total: i64) -> DocPagination {
        DocPagination { current: page.page, total: page.pages(total), count, total_documents: total }
    }
}

/// The documents of one entity in the repository.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntityGroup {
    #[schema(value_type = String)]
    pub related_id: Id,
    pub documents: Vec<DocumentView>,
    pub total_size: i64,
    /// The newest upload of the group.
    pub last_updated: Timestamp,
}

/// Groups keyed by entity id, in the order their first document came.
#[derive(Debug, Clone, Default, ToSchema)]
#[schema(value_type = Object)]
pub struct ByEntity(pub Vec<EntityGroup>);

impl Serialize for ByEntity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|g| (g.related_id.to_string(), g)))
    }
}

impl ByEntity {
    /// Adds a document to its entity's group.
    pub fn add(&mut self, view: DocumentView) {
        let (size, uploaded_at) = (view.size, view.uploaded_at);
        let group = match self.0.iter().position(|g| g.related_id == view.related_id) {
            Some(at) => &mut self.0[at],
            None => {
                self.0.push(EntityGroup {
                    related_id: view.related_id.clone(),
                    documents: Vec::new(),
                    total_size: 0,
                    last_updated: uploaded_at,
                });
                self.0.last_mut().expect("just pushed")
            }
        };
        group.documents.push(view);
        group.total_size += size;
        group.last_updated = group.last_updated.max(uploaded_at);
    }
}

/// The repository by type, then entity.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Repository {
    pub direct: ByEntity,
    pub query: ByEntity,
    pub dispute: ByEntity,
}

impl Repository {
    pub fn add(&mut self, view: DocumentView) {
        match view.document_type {
            DocumentType::Direct => self.direct.add(view),
            DocumentType::Query => self.query.add(view),
            DocumentType::Dispute => self.dispute.add(view),
        }
    }
}

/// `data` of 3.8 #3.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RepositoryPage {
    pub documents: Repository,
    pub pagination: DocPagination,
}

/// The filters a search applied, as given.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchFilters {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_to: Option<String>,
}

/// `data` of 3.8 #9.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchPage {
    pub documents: Vec<DocumentView>,
    pub pagination: DocPagination,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_query: Option<String>,
    pub filters: SearchFilters,
}

/// One type's totals in the stats.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TypeStatsView {
    #[serde(rename = "_id")]
    pub document_type: DocumentType,
    pub count: i64,
    pub total_size: i64,
    pub categories: Vec<DocumentCategory>,
}

impl From<&TypeStats> for TypeStatsView {
    fn from(s: &TypeStats) -> TypeStatsView {
        TypeStatsView {
            document_type: s.document_type,
            count: s.count,
            total_size: s.total_size,
            categories: s.categories.clone(),
        }
    }
}

/// The overall totals: all zero (and no `_id`) without documents, as the original's empty
/// aggregation fallback; else the aggregation's group (`_id: null`, the average a float).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Overall {
    #[serde(rename_all = "camelCase")]
    Empty { total_documents: i64, total_size: i64, avg_size: i64 },
    #[serde(rename_all = "camelCase")]
    Totals {
        #[serde(rename = "_id")]
        #[schema(value_type = Option<String>)]
        id: Option<Id>,
        total_documents: i64,
        total_size: i64,
        avg_size: f64,
    },
}

impl Overall {
    pub fn new(total_documents: i64, total_size: i64) -> Overall {
        if total_documents == 0 {
            Overall::Empty { total_documents: 0, total_size: 0, avg_size: 0 }
        } else {
            let avg_size = total_size as f64 / total_documents as f64;
            Overall::Totals { id: None, total_documents, total_size, avg_size }
        }
    }
}

/// `data` of 3.8 #4.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentStats {
    pub by_type: Vec<TypeStatsView>,
    pub overall: Overall,
    pub recent: Vec<DocumentView>,
}

/// `data` of a chat file upload (3.7 #7), the message's `fileData`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatFileView {
    #[serde(rename = "ipfsHash")]
    pub content_hash: String,
    pub original_name: String,
    pub mime_type: String,
    pub size: u64,
    pub url: String,
    #[schema(value_type = String)]
    pub document_id: Id,
}

/// `document_processed`, to the uploader.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessedEvent<'a> {
    pub document_id: &'a Id,
    pub status: DocumentStatus,
    pub original_name: &'a str,
    pub document_type: DocumentType,
    pub related_id: &'a Id,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
}

/// `pinataMetadata` of a new upload: `{name, keyvalues}`.
#[derive(Debug, Clone, Serialize)]
pub struct NewMetadata<'a> {
    pub name: &'a str,
    pub keyvalues: KeyValues<'a>,
}

/// `pinataMetadata.keyvalues` of a new upload, then what it was attached to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyValues<'a> {
    pub original_name: &'a str,
    pub mime_type: &'a str,
    /// The size in bytes, as text.
    pub size: String,
    pub uploaded_at: Timestamp,
    pub uploaded_by: &'a Id,
    pub uploaded_by_role: Role,
    pub description: &'a str,
    #[serde(flatten)]
    pub target: UploadTarget<'a>,
}

/// Where an upload went, as its `keyvalues` record it.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum UploadTarget<'a> {
    #[serde(rename_all = "camelCase")]
    Entity { document_type: DocumentType, related_id: &'a Id, document_category: DocumentCategory },
    #[serde(rename_all = "camelCase")]
    Chat { chat_id: &'a str, message_type: MessageType },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_format_like_the_original() {
        assert_eq!(size_formatted(0), "0 Bytes");
        assert_eq!(size_formatted(100), "100 Bytes");
        assert_eq!(size_formatted(1024), "1 KB");
        assert_eq!(size_formatted(1536), "1.5 KB");
        assert_eq!(size_formatted(10 * 1024 * 1024), "10 MB");
        assert_eq!(size_formatted(1_234_567), "1.18 MB");
    }

    #[test]
    fn time_ago_rounds_days_up() {
        let now = crate::time::now();
        assert_eq!(time_ago(now - chrono::Duration::minutes(5), now), "1 day ago");
        assert_eq!(time_ago(now - chrono::Duration::days(3), now), "3 days ago");
        assert_eq!(time_ago(now - chrono::Duration::days(10), now), "2 weeks ago");
        assert_eq!(time_ago(now - chrono::Duration::days(45), now), "2 months ago");
        assert_eq!(time_ago(now - chrono::Duration::days(400), now), "2 years ago");
    }

    #[test]
    fn overall_and_groups_keep_the_wire_shape() {
        assert_eq!(
            serde_json::to_string(&Overall::new(0, 0)).unwrap(),
            r#"{"totalDocuments":0,"totalSize":0,"avgSize":0}"#
        );
        assert_eq!(
            serde_json::to_string(&Overall::new(2, 3072)).unwrap(),
            r#"{"_id":null,"totalDocuments":2,"totalSize":3072,"avgSize":1536.0}"#
        );
    }
}
