//! Documents (docs/api.md 3.8) and chat file uploads (3.7 #7, #8).
//!
//! Errors of these routes carry the text under `error` as well as `message` (the original's
//! document controller used `error`). Uploads are multipart and stream each file to disk, but
//! only once the caller's access to where the files go is known: when the text fields that
//! name it come before the first file, a refused upload is answered before any of its bytes
//! is written or even read. Files are served back only through the API, to callers on the
//! document's access list.

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Multipart, Path, Request, State};
use axum::http::StatusCode;
use axum::http::header::{self, AUTHORIZATION, HeaderValue};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Map, Value};

use crate::domain::document::DocumentType;
use crate::error::{AppError, AppResult};
use crate::http::docs::{LoggedIn, Paging};
use crate::http::extract::{CurrentUser, Params, parse_id};
use crate::http::respond::Envelope;
use crate::ids::Id;
use crate::service::chats::view_json;
use crate::service::documents::{
    self as service, ChatFileFields, Download, Incoming, Received, UploadMeta, UploadedDocument, UploadedDocuments,
};
use crate::state::AppState;
use crate::store::users::User;
use crate::validate::FromBody;

/// Room for the text fields and multipart framing beside the files themselves.
const FORM_OVERHEAD: u64 = 1024 * 1024;
/// Longest accepted text field of an upload form.
const MAX_TEXT_FIELD: usize = 64 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/upload", post(upload_one).layer(DefaultBodyLimit::disable()))
        .route("/upload-multiple", post(upload_many).layer(DefaultBodyLimit::disable()))
        .route("/repository/my-documents", get(my_documents))
        .route("/stats/overview", get(stats))
        .route("/details/{documentId}", get(details))
        .route("/search", get(search))
        .route("/{documentId}", delete(remove))
        .route("/{documentId}/download", get(download))
        .route("/{documentId}/thumbnail", get(thumbnail))
        .route("/{documentType}/{relatedId}", get(of_entity))
}

/// Merged into `/api/chats`.
pub fn chat_file_routes() -> Router<AppState> {
    Router::new()
        .route("/upload-file", post(chat_upload).layer(DefaultBodyLimit::disable()))
        .route("/file/{ipfsHash}", get(file_proxy))
}

fn bad_request(text: &str) -> AppError {
    AppError::bad_request(text).with_error_key()
}

/// The fields and files of an upload form.
#[derive(Default)]
struct Form {
    fields: Map<String, Value>,
    files: Vec<Received>,
}

impl Form {
    /// The text fields read into `T` by its rules.
    fn fields<T: FromBody>(&self) -> AppResult<T> {
        T::from_body(&Value::Object(self.fields.clone()))
    }
}

fn multipart_error(err: axum::extract::multipart::MultipartError) -> AppError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::payload_too_large("Request entity too large").with_error_key()
    } else {
        AppError::bad_request(format!("Malformed multipart body: {}", err.body_text())).with_error_key()
    }
}

/// Where the files of a form go, and so whose access is checked before they are received.
#[derive(Clone, Copy)]
enum Target {
    /// A case or connection, named by `documentType` and `relatedId`.
    Entity,
    /// A chat, named by `chatId`.
    Chat,
}

impl Target {
    /// Checks the caller's access once the fields read so far name the target: `Ok(true)`
    /// when checked, `Ok(false)` while they do not name it yet (a form may put its file first,
    /// as the original frontend does; the upload itself checks again, before storing).
    async fn check(self, state: &AppState, user: &User, fields: &Map<String, Value>) -> AppResult<bool> {
        match self {
            Target::Entity if fields.contains_key("documentType") && fields.contains_key("relatedId") => {
                let meta = UploadMeta::from_body(&Value::Object(fields.clone()))?;
                service::check_upload_access(state, user, meta.document_type, &meta.related_id).await?;
                Ok(true)
            }
            Target::Chat => match fields.get("chatId").and_then(Value::as_str).map(str::trim).filter(|c| !c.is_empty())
            {
                Some(chat_id) => service::check_chat_upload(state, user, chat_id).await.map(|()| true),
                None => Ok(false),
            },
            Target::Entity => Ok(false),
        }
    }
}

/// Reads a multipart form, streaming each file of `file_field` through [`Incoming`] (size
/// and type checks as it arrives), each only after the caller's access to `target` passed
/// if the fields before it name the target. The whole body is capped at `max_files` files
/// plus some room for text. A body that is not multipart reads as an empty form, as in the
/// original.
async fn read_form(
    state: &AppState,
    user: &User,
    req: Request,
    target: Target,
    file_field: &str,
    max_files: usize,
) -> AppResult<Form> {
    let max_file = state.config.max_file_size;
    let limit = (max_files as u64).saturating_mul(max_file).saturating_add(FORM_OVERHEAD);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let req = req.map(|body| Body::new(http_body_util::Limited::new(body, limit)));
    let mut form = Form::default();
    let Ok(mut multipart) = Multipart::from_request(req, state).await else {
        return Ok(form);
    };
    let storage = service::storage(state);
    let mut access_checked = false;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_string();
        match field.file_name().map(str::to_string) {
            Some(file_name) => {
                if name != file_field {
                    return Err(bad_request(&format!("Unexpected field: {name}")));
                }
                if form.files.len() >= max_files {
                    return Err(bad_request(&format!("Too many files (at most {max_files} per upload)")));
                }
                if !access_checked {
                    access_checked = target.check(state, user, &form.fields).await?;
                }
                let mut incoming =
                    Incoming::start(&storage, &file_name, field.content_type(), max_file, max_files > 1).await?;
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    incoming.push(&chunk).await?;
                }
                form.files.push(incoming.finish()?);
            }
            None => {
                let mut text = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    if text.len() + chunk.len() > MAX_TEXT_FIELD {
                        return Err(AppError::payload_too_large(format!("Field {name} is too long")).with_error_key());
                    }
                    text.extend_from_slice(&chunk);
                }
                form.fields.insert(name, Value::String(String::from_utf8_lossy(&text).into_owned()));
            }
        }
    }
    Ok(form)
}

/// Stores a file on a case or connection the caller is a party of (3.8 #1). The answer comes
/// once the file is stored: the document is `processing` until its content is checked in the
/// background, then `active` or `rejected` (with `rejectionReason`); the uploader is told with
/// the Socket.IO event `document_processed`.
#[utoipa::path(post, path = "/api/documents/upload", tag = "documents", security(("bearer" = [])),
    request_body(content = UploadMeta, content_type = "multipart/form-data",
        description = "multipart/form-data: file field `document` beside these fields. Sent before the file, \
        `documentType` and `relatedId` get a refusal (403, 404) before the file is transferred"),
    responses(
        (status = 201, description = "`data: {document, ipfsUrl}`; `document.status` is `processing`"),
        (status = 400, description = "Validation failed (`error`, `details`), no file, or already uploaded here"),
        (status = 403, description = "Access denied (not a party of the entity)"),
        (status = 404, description = "Query / Dispute / Direct connection not found"),
        (status = 413, description = "File size exceeds limit"),
        (status = 415, description = "File type not allowed"),
        LoggedIn,
    ))]
async fn upload_one(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    req: Request,
) -> AppResult<Envelope> {
    let form = read_form(&state, &user, req, Target::Entity, "document", 1).await?;
    let meta: UploadMeta = form.fields()?;
    if form.files.is_empty() {
        return Err(bad_request("No file uploaded"));
    }
    let document = service::upload(&state, &user, &meta, form.files).await?.remove(0);
    let ipfs_url = document.url.clone();
    Ok(Envelope::data(view_json(UploadedDocument { document, ipfs_url }))
        .with_message("Document uploaded successfully")
        .created())
}

/// Stores several files on one entity, all or none (3.8 #2); each is `processing` until
/// checked, as for a single upload.
#[utoipa::path(post, path = "/api/documents/upload-multiple", tag = "documents", security(("bearer" = [])),
    request_body(content = UploadMeta, content_type = "multipart/form-data",
        description = "multipart/form-data: file field `documents` (up to MAX_FILES_PER_UPLOAD files) beside these \
        fields. Sent before the files, `documentType` and `relatedId` get a refusal (403, 404) before the files \
        are transferred"),
    responses(
        (status = 201, description = "`data: {documents}`, each with `status: processing`"),
        (status = 400, description = "Validation failed, no files, too many files, or a file already uploaded here"),
        (status = 403, description = "Access denied (not a party of the entity)"),
        (status = 404, description = "Query / Dispute / Direct connection not found"),
        (status = 413, description = "File size exceeds limit"),
        (status = 415, description = "File type not allowed"),
        LoggedIn,
    ))]
async fn upload_many(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    req: Request,
) -> AppResult<Envelope> {
    let max = state.config.max_files_per_upload.max(1);
    let form = read_form(&state, &user, req, Target::Entity, "documents", max).await?;
    let meta: UploadMeta = form.fields()?;
    if form.files.is_empty() {
        return Err(bad_request("No files uploaded"));
    }
    let documents = service::upload(&state, &user, &meta, form.files).await?;
    let message = format!("{} documents uploaded successfully", documents.len());
    Ok(Envelope::data(view_json(UploadedDocuments { documents })).with_message(message).created())
}

/// The caller's repository: readable documents, one page, grouped by type and entity (3.8 #3).
#[utoipa::path(get, path = "/api/documents/repository/my-documents", tag = "documents", security(("bearer" = [])),
    params(Paging, ("documentType" = Option<String>, Query, description = "direct, \
        query or dispute")),
    responses(
        (status = 200, description = "`data: {documents: {direct, query, dispute}, pagination: {current, total, \
            count, totalDocuments}}`"),
        LoggedIn,
    ))]
async fn my_documents(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    params: Params,
) -> AppResult<Envelope> {
    let doc_type = params.get("documentType").and_then(|t| t.parse::<DocumentType>().ok());
    let data =
        service::my_documents(&state, &user, doc_type, params.page(20).map_err(AppError::with_error_key)?).await?;
    Ok(Envelope::data(view_json(data)))
}

/// Totals over the documents the caller may read (3.8 #4).
#[utoipa::path(get, path = "/api/documents/stats/overview", tag = "documents", security(("bearer" = [])),
    responses(
        (status = 200, description = "`data: {byType, overall: {totalDocuments, totalSize, avgSize}, recent}`"),
        LoggedIn,
    ))]
async fn stats(State(state): State<AppState>, CurrentUser(user): CurrentUser) -> AppResult<Envelope> {
    Ok(Envelope::data(view_json(service::stats(&state, &user).await?)))
}

fn document_id(raw: &str) -> AppResult<Id> {
    parse_id(raw, "document").map_err(AppError::with_error_key)
}

/// One readable document; records the access time (3.8 #5).
#[utoipa::path(get, path = "/api/documents/details/{documentId}", tag = "documents", security(("bearer" = [])),
    params(("documentId" = String, Path, description = "24-hex document id")),
    responses(
        (status = 200, description = "`data: {document}`"),
        (status = 403, description = "Access denied"),
        (status = 404, description = "Document not found"),
        LoggedIn,
    ))]
async fn details(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Envelope> {
    let id = document_id(&id)?;
    Ok(Envelope::data(view_json(service::details(&state, &user, &id).await?)))
}

/// Soft delete by the uploader (3.8 #6).
#[utoipa::path(delete, path = "/api/documents/{documentId}", tag = "documents", security(("bearer" = [])),
    params(("documentId" = String, Path, description = "24-hex document id")),
    responses(
        (status = 200, description = "Document deleted successfully"),
        (status = 403, description = "Only the uploader can delete this document"),
        (status = 404, description = "Document not found"),
        LoggedIn,
    ))]
async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Envelope> {
    let id = document_id(&id)?;
    service::delete(&state, &user, &id).await?;
    Ok(Envelope::message("Document deleted successfully"))
}

/// Readable documents of one case or connection, newest first (3.8 #7).
#[utoipa::path(get, path = "/api/documents/{documentType}/{relatedId}", tag = "documents", security(("bearer" = [])),
    params(
        ("documentType" = String, Path, description = "direct, query or dispute"),
        ("relatedId" = String, Path, description = "24-hex case or connection id"),
    ),
    responses(
        (status = 200, description = "`data: {documents, count}`"),
        (status = 400, description = "Invalid document type or malformed id"),
        LoggedIn,
    ))]
async fn of_entity(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((doc_type, related)): Path<(String, String)>,
) -> AppResult<Envelope> {
    let Ok(doc_type) = doc_type.parse::<DocumentType>() else {
        return Err(bad_request("Invalid document type"));
    };
    let related = parse_id(&related, "related").map_err(AppError::with_error_key)?;
    Ok(Envelope::data(view_json(service::of_entity(&state, &user, doc_type, &related).await?)))
}

/// Readable documents matching a text and filters, newest first (3.8 #9).
#[utoipa::path(get, path = "/api/documents/search", tag = "documents", security(("bearer" = [])),
    params(
        Paging,
        ("q" = Option<String>, Query, description = "Case-insensitive text in name, description or tags"),
        ("documentType" = Option<String>, Query, description = "direct, query or dispute"),
        ("documentCategory" = Option<String>, Query, description = "A category"),
        ("dateFrom" = Option<String>, Query, description = "Uploaded at or after (ISO timestamp or date)"),
        ("dateTo" = Option<String>, Query, description = "Uploaded at or before (ISO timestamp or date)"),
    ),
    responses(
        (status = 200, description = "`data: {documents, pagination: {current, total, count, totalDocuments}, \
            searchQuery?, filters}`"),
        (status = 400, description = "Invalid date"),
        LoggedIn,
    ))]
async fn search(State(state): State<AppState>, CurrentUser(user): CurrentUser, params: Params) -> AppResult<Envelope> {
    let text = |k: &str| params.get(k).map(str::to_string);
    let query = service::Search {
        q: text("q"),
        document_type: text("documentType"),
        category: text("documentCategory"),
        date_from: text("dateFrom"),
        date_to: text("dateTo"),
    };
    let page = params.page(20).map_err(AppError::with_error_key)?;
    Ok(Envelope::data(view_json(service::search(&state, &user, &query, page).await?)))
}

/// The caller of a file link: the `Authorization` header or cookie as everywhere, or a
/// `?token=` query parameter for links the browser opens itself (`window.open`, `<img src>`),
/// which cannot carry a header.
struct LinkUser(User);

impl FromRequestParts<AppState> for LinkUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if !parts.headers.contains_key(AUTHORIZATION) {
            let Params(query) = Params::from_request_parts(parts, state).await?;
            if let Some(token) = query.get("token").map(|t| t.trim()).filter(|t| !t.is_empty()) {
                let value = HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| AppError::unauthorized("Not authorized, token failed"))?;
                parts.headers.insert(AUTHORIZATION, value);
            }
        }
        let CurrentUser(user) =
            CurrentUser::from_request_parts(parts, state).await.map_err(AppError::with_error_key)?;
        Ok(LinkUser(user))
    }
}

/// `Content-Disposition` with an ASCII fallback name and the exact UTF-8 name (RFC 6266).
pub fn content_disposition(kind: &str, name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| if (c.is_ascii_graphic() || c == ' ') && c != '"' && c != '\\' { c } else { '_' })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// Streams a stored file. Never cached by shared caches; the type is the checked one.
fn file_response(dl: Download, disposition: &str) -> AppResult<Response> {
    let mime = match dl.content_type.as_str() {
        "text/plain" => "text/plain; charset=utf-8".to_string(),
        other => other.to_string(),
    };
    let header = |v: String| HeaderValue::from_str(&v).map_err(AppError::internal);
    let mut res = Body::from_stream(tokio_util::io::ReaderStream::new(dl.file)).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, header(mime)?);
    h.insert(header::CONTENT_LENGTH, header(dl.len.to_string())?);
    h.insert(header::CONTENT_DISPOSITION, header(content_disposition(disposition, &dl.file_name))?);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(res)
}

/// The file of a readable document (the `url` of every document). The token may come as
/// `?token=` for links the browser opens itself.
#[utoipa::path(get, path = "/api/documents/{documentId}/download", tag = "documents", security(("bearer" = [])),
    params(
        ("documentId" = String, Path, description = "24-hex document id"),
        ("token" = Option<String>, Query, description = "Access token, for links without an Authorization header"),
    ),
    responses(
        (status = 200, description = "The file, with its type and `Content-Disposition: attachment`",
            content_type = "application/octet-stream"),
        (status = 403, description = "Access denied"),
        (status = 404, description = "Document not found (also while it is processing or after it was rejected)"),
        LoggedIn,
    ))]
async fn download(
    State(state): State<AppState>,
    LinkUser(user): LinkUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = document_id(&id)?;
    file_response(service::download(&state, &user, &id).await?, "attachment")
}

/// The PNG thumbnail (at most 256 px a side) of an image document, made once the upload was
/// processed (the document's `thumbnailUrl`). Same access rule as the download.
#[utoipa::path(get, path = "/api/documents/{documentId}/thumbnail", tag = "documents", security(("bearer" = [])),
    params(
        ("documentId" = String, Path, description = "24-hex document id"),
        ("token" = Option<String>, Query, description = "Access token, for links without an Authorization header"),
    ),
    responses(
        (status = 200, description = "The thumbnail, `Content-Disposition: inline`", content_type = "image/png"),
        (status = 403, description = "Access denied"),
        (status = 404, description = "Document not found (or not active), or it has no thumbnail"),
        LoggedIn,
    ))]
async fn thumbnail(
    State(state): State<AppState>,
    LinkUser(user): LinkUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = document_id(&id)?;
    file_response(service::thumbnail(&state, &user, &id).await?, "inline")
}

/// A file shared in a chat the caller takes part in (3.7 #7); the client then sends it as a file message.
#[utoipa::path(post, path = "/api/chats/upload-file", tag = "chats", security(("bearer" = [])),
    request_body(content = ChatFileFields, content_type = "multipart/form-data",
        description = "file field `file` beside these fields. Sent before the file, `chatId` gets a refusal \
        (403, 404) before the file is transferred"),
    responses(
        (status = 200, description = "`data: {ipfsHash, originalName, mimeType, size, url, documentId}`"),
        (status = 400, description = "No file uploaded, or Chat ID is required"),
        (status = 403, description = "Access denied (not a participant)"),
        (status = 404, description = "Chat not found"),
        (status = 413, description = "File size exceeds limit"),
        (status = 415, description = "File type not allowed"),
        LoggedIn,
    ))]
async fn chat_upload(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    req: Request,
) -> AppResult<Envelope> {
    let mut form = read_form(&state, &user, req, Target::Chat, "file", 1).await?;
    let Some(file) = form.files.pop() else {
        return Err(bad_request("No file uploaded"));
    };
    let fields: ChatFileFields = form.fields()?;
    let data = service::chat_upload(&state, &user, fields, file).await?;
    Ok(Envelope::data(view_json(data)).with_message("File uploaded successfully"))
}

/// The file of a content hash, for a caller who may read a document with it (3.7 #8). The
/// hash is checked before the caller, as in the original; a caller who may not read the file
/// is told it does not exist, as for content nobody uploaded.
#[utoipa::path(get, path = "/api/chats/file/{ipfsHash}", tag = "chats", security(("bearer" = [])),
    params(
        ("ipfsHash" = String, Path, description = "SHA-256 hex, or a CID of a record moved from the original"),
        ("token" = Option<String>, Query, description = "Access token, for links without an Authorization header"),
    ),
    responses(
        (status = 200, description = "The file, with its type and `Content-Disposition: inline`",
            content_type = "application/octet-stream"),
        (status = 400, description = "Invalid IPFS hash"),
        (status = 404, description = "File not found: no active document with this content that the caller may read"),
        LoggedIn,
    ))]
async fn file_proxy(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    user: Result<LinkUser, AppError>,
) -> AppResult<Response> {
    if !service::is_file_hash(&hash) {
        return Err(bad_request("Invalid IPFS hash"));
    }
    let LinkUser(user) = user?;
    file_response(service::file_by_hash(&state, &user, &hash).await?, "inline")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_escape_names() {
        assert_eq!(content_disposition("inline", "a.pdf"), "inline; filename=\"a.pdf\"; filename*=UTF-8''a.pdf");
        let d = content_disposition("attachment", "rés\"umé\r\n.pdf");
        assert_eq!(d, "attachment; filename=\"r_s_um___.pdf\"; filename*=UTF-8''r%C3%A9s%22um%C3%A9%0D%0A.pdf");
        assert!(HeaderValue::from_str(&d).is_ok());
    }
}
