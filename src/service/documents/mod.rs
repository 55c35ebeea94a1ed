//! Documents (docs/api.md 3.8, section 6) and chat files (3.7 #7, #8).
//!
//! An upload goes through three stages: receiving and storing ([`upload`](mod@upload): the
//! file streamed to a temporary file and checked as it arrives, then moved to its content
//! address and recorded as `processing` with its access list) and, in the background, checking
//! the stored file ([`crate::service::files::process_document`]: `active` or `rejected`).
//! Reads apply one rule everywhere: active documents that the caller uploaded or is listed on,
//! plus the caller's own uploads while processing or once rejected. Files (downloads,
//! thumbnails, the hash proxy) are served for active documents only ([`download`](mod@download)).
//!
//! `input` reads the upload forms' fields, `views` shapes the answers and events.

mod download;
mod input;
mod upload;
mod views;

pub use download::{Download, download, file_by_hash, is_file_hash, thumbnail};
pub use input::{ChatFileFields, Search, UploadMeta};
pub use upload::{
    ALLOWED_MIME_TYPES, FileInfo, Incoming, Received, chat_upload, check_chat_upload, check_upload_access, upload,
};
pub use views::*;

use crate::domain::document::DocumentType;
use crate::domain::page::Page;
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::service::people::{NAME_EMAIL_ROLE, load_users, user_ref};
use crate::state::AppState;
use crate::storage::Storage;
use crate::store::documents::{self as store, Document, ListFilter};
use crate::store::users::User;
use crate::time::Timestamp;

/// The storage of this server's uploads.
pub fn storage(state: &AppState) -> Storage {
    Storage::new(&state.config.upload_dir)
}

/// `/api/documents/<id>/download`: files are served through the API, never publicly.
pub fn download_url(id: &Id) -> String {
    format!("/api/documents/{id}/download")
}

/// `/api/documents/<id>/thumbnail`, for images once processed.
pub fn thumbnail_url(id: &Id) -> String {
    format!("/api/documents/{id}/thumbnail")
}

fn doc_error(err: AppError) -> AppError {
    err.with_error_key()
}

/// Documents with their uploaders populated (name email role).
async fn render(state: &AppState, docs: Vec<Document>) -> AppResult<Vec<DocumentView>> {
    let uploaders = load_users(state, docs.iter().map(|d| &d.uploaded_by)).await?;
    let now = Timestamp::now();
    Ok(docs
        .iter()
        .map(|d| DocumentView::new(d, user_ref(&uploaders, &d.uploaded_by, Some(NAME_EMAIL_ROLE)), now))
        .collect())
}

/// Which documents a lookup by id may find.
#[derive(Clone, Copy)]
enum Find {
    /// What the caller may see ([`Document::visible_to`]).
    Record,
    /// Active documents only: the file of anything else is not served, not even to its uploader.
    File,
}

/// A document by id; 404 when absent or not found by `how` (a document still processing or
/// rejected is missing to all but its uploader).
async fn find(state: &AppState, user: &User, id: &Id, how: Find) -> AppResult<Document> {
    let found = store::get(&state.db, id).await?.filter(|d| match how {
        Find::Record => d.is_active() || d.visible_to(&user.id),
        Find::File => d.is_active(),
    });
    found.ok_or_else(|| AppError::not_found("Document not found"))
}

/// A document the caller may read: [`find`], then 403 when not on its access list.
async fn readable(state: &AppState, user: &User, id: &Id, how: Find) -> AppResult<Document> {
    let doc = find(state, user, id, how).await?;
    if !doc.readable_by(&user.id) {
        return Err(AppError::forbidden("Access denied"));
    }
    Ok(doc)
}

/// 3.8 #5: one document; records the access time.
pub async fn details(state: &AppState, user: &User, id: &Id) -> AppResult<DocumentReply> {
    async {
        let mut doc = readable(state, user, id, Find::Record).await?;
        let now = Timestamp::now();
        store::touch(&state.db, &doc.id, now).await?;
        doc.last_accessed_at = now;
        Ok(DocumentReply { document: render(state, vec![doc]).await?.remove(0) })
    }
    .await
    .map_err(doc_error)
}

/// 3.8 #6: soft delete by the uploader (also of an upload still processing or rejected).
pub async fn delete(state: &AppState, user: &User, id: &Id) -> AppResult<()> {
    async {
        let doc = find(state, user, id, Find::Record).await?;
        if doc.uploaded_by != user.id {
            return Err(AppError::forbidden("Only the uploader can delete this document"));
        }
        if !store::mark_deleted(&state.db, id, Timestamp::now()).await? {
            return Err(AppError::not_found("Document not found"));
        }
        Ok(())
    }
    .await
    .map_err(doc_error)
}

/// 3.8 #7: readable documents of one case or connection.
pub async fn of_entity(
    state: &AppState,
    user: &User,
    document_type: DocumentType,
    related_id: &Id,
) -> AppResult<EntityDocuments> {
    async {
        let filter = ListFilter {
            document_type: Some(document_type),
            related_id: Some(related_id.clone()),
            ..Default::default()
        };
        let docs = render(state, store::list(&state.db, &user.id, &filter, None).await?).await?;
        Ok(EntityDocuments { count: docs.len(), documents: docs })
    }
    .await
    .map_err(doc_error)
}

/// 3.8 #3: the caller's repository, one page, grouped by type and entity.
pub async fn my_documents(
    state: &AppState,
    user: &User,
    document_type: Option<DocumentType>,
    page: Page,
) -> AppResult<RepositoryPage> {
    async {
        let filter = ListFilter { document_type, ..Default::default() };
        let docs = store::list(&state.db, &user.id, &filter, Some((page.limit, page.offset()))).await?;
        let total = store::count(&state.db, &user.id, &filter).await?;
        let pagination = DocPagination::new(page, docs.len(), total);
        let mut documents = Repository::default();
        for view in render(state, docs).await? {
            documents.add(view);
        }
        Ok(RepositoryPage { documents, pagination })
    }
    .await
    .map_err(doc_error)
}

/// Dates of the search filters: full ISO timestamps or plain dates (midnight UTC, as
/// JavaScript reads them).
fn parse_filter_date(raw: &str) -> AppResult<Timestamp> {
    if let Some(t) = Timestamp::parse(raw) {
        return Ok(t);
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Timestamp::from_datetime(t.and_utc()))
        .ok_or_else(|| AppError::bad_request(format!("Invalid date: {raw}")))
}

/// 3.8 #9: readable documents matching the text and filters, newest first.
pub async fn search(state: &AppState, user: &User, s: &Search, page: Page) -> AppResult<SearchPage> {
    async {
        let filter = ListFilter {
            document_type: s.document_type.as_deref().and_then(|t| t.parse().ok()),
            category: s.category.clone(),
            text: s.q.clone(),
            uploaded_from: s.date_from.as_deref().map(parse_filter_date).transpose()?,
            uploaded_to: s.date_to.as_deref().map(parse_filter_date).transpose()?,
            ..Default::default()
        };
        let docs = store::list(&state.db, &user.id, &filter, Some((page.limit, page.offset()))).await?;
        let total = store::count(&state.db, &user.id, &filter).await?;
        let pagination = DocPagination::new(page, docs.len(), total);
        Ok(SearchPage {
            documents: render(state, docs).await?,
            pagination,
            search_query: s.q.clone(),
            filters: SearchFilters {
                document_type: s.document_type.clone(),
                document_category: s.category.clone(),
                date_from: s.date_from.clone(),
                date_to: s.date_to.clone(),
            },
        })
    }
    .await
    .map_err(doc_error)
}

/// 3.8 #4: totals over what the caller may read, by type and overall, and the five newest.
pub async fn stats(state: &AppState, user: &User) -> AppResult<DocumentStats> {
    async {
        let by_type = store::stats_by_type(&state.db, &user.id).await?;
        let total_docs: i64 = by_type.iter().map(|s| s.count).sum();
        let total_size: i64 = by_type.iter().map(|s| s.total_size).sum();
        let recent = store::list(&state.db, &user.id, &ListFilter::default(), Some((5, 0))).await?;
        Ok(DocumentStats {
            by_type: by_type.iter().map(TypeStatsView::from).collect(),
            overall: Overall::new(total_docs, total_size),
            recent: render(state, recent).await?,
        })
    }
    .await
    .map_err(doc_error)
}
