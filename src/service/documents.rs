//! Documents (docs/api.md 3.8, section 6) and chat files (3.7 #7, #8).
//!
//! An upload goes through three stages: receiving ([`Incoming`]: stream to a temporary file,
//! hash and sniff while writing, size limit; the HTTP layer asks [`check_upload_access`] or
//! [`check_chat_upload`] first, as soon as the form names its target), storing ([`upload`], [`chat_upload`]: check the
//! entity and its parties, move the file to its content address, record the document as
//! `processing` with its access list, answer) and, in the background, checking the stored file
//! ([`crate::service::files::process_document`]: `active` or `rejected`).
//! Reads apply one rule everywhere: active documents that the caller uploaded or is listed on,
//! plus the caller's own uploads while processing or once rejected. Files (downloads,
//! thumbnails, the hash proxy) are served for active documents only.

use serde_json::{Value, json};

use crate::db::is_unique_violation;
use crate::domain::chat::ChatType;
use crate::domain::document::{DocumentCategory, DocumentStatus, DocumentType};
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::service::files::{Sniffer, schedule_processing};
use crate::service::people::{NAME_EMAIL_ROLE, load_users, user_ref};
use crate::state::AppState;
use crate::storage::{Storage, TempFile};
use crate::store::chats::Chat;
use crate::store::documents::{self as store, Access, Document, ListFilter};
use crate::store::users::User;

/// Declared types accepted for documents and chat files (docs/api.md 6).
pub const ALLOWED_MIME_TYPES: &[&str] = &[
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "image/jpeg",
    "image/png",
    "image/gif",
    "text/plain",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
];

const TYPE_NOT_ALLOWED: &str = "File type not allowed";

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

/// The per-file size rule text ("File size exceeds limit of 10MB").
fn size_limit_text(max: u64) -> String {
    format!("File size exceeds limit of {}MB", max as f64 / 1024.0 / 1024.0)
}

/// Lowercase type without parameters (`text/plain; charset=utf-8` -> `text/plain`).
fn essence(mime: &str) -> String {
    mime.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// A file being received: written to a temporary file while its digest and the facts the
/// type check needs are computed (a quick refusal; the processing job checks again).
pub struct Incoming {
    temp: TempFile,
    sniffer: Sniffer,
    max: u64,
    original_name: String,
    declared: String,
    /// Prefix for rule texts in multi-file uploads ("File a.pdf: ").
    label: String,
}

/// A received file whose size and type passed; still in its temporary file.
pub struct Received {
    temp: TempFile,
    pub info: FileInfo,
}

/// What is known of a received file.
#[derive(Debug, Clone)]
pub struct FileInfo {
    pub sha256: String,
    pub size: u64,
    pub original_name: String,
    pub mime_type: String,
}

impl Incoming {
    /// Starts receiving one file. A declared type outside the list is refused at once.
    pub async fn start(
        storage: &Storage,
        original_name: &str,
        declared_mime: Option<&str>,
        max: u64,
        multi: bool,
    ) -> AppResult<Incoming> {
        let declared = essence(declared_mime.unwrap_or("application/octet-stream"));
        let label = if multi { format!("File {original_name}: ") } else { String::new() };
        if !ALLOWED_MIME_TYPES.contains(&declared.as_str()) {
            return Err(type_refused(&label));
        }
        let temp = storage.create_temp().await.map_err(AppError::internal)?;
        Ok(Incoming {
            temp,
            sniffer: Sniffer::new(&declared),
            max,
            original_name: original_name.trim().to_string(),
            declared,
            label,
        })
    }

    /// Appends a chunk; 413 as soon as the file grows past the limit (the temporary file is
    /// deleted when `self` is dropped).
    pub async fn push(&mut self, chunk: &[u8]) -> AppResult<()> {
        if self.temp.written() + chunk.len() as u64 > self.max {
            let text = format!("{}{}", self.label, size_limit_text(self.max));
            return Err(doc_error(AppError::payload_too_large(text)));
        }
        self.sniffer.feed(chunk);
        self.temp.write(chunk).await.map_err(AppError::internal)
    }

    /// Ends the file: the content must agree with the declared type.
    pub fn finish(self) -> AppResult<Received> {
        let sniffed = self.sniffer.finish();
        if !sniffed.type_ok {
            return Err(type_refused(&self.label));
        }
        let info = FileInfo {
            sha256: sniffed.sha256,
            size: self.temp.written(),
            original_name: self.original_name,
            mime_type: self.declared,
        };
        Ok(Received { temp: self.temp, info })
    }
}

fn type_refused(label: &str) -> AppError {
    doc_error(AppError::new(axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("{label}{TYPE_NOT_ALLOWED}")))
}

/// The text fields of an upload (already validated by the HTTP layer).
#[derive(Debug, Clone)]
pub struct UploadMeta {
    pub document_type: DocumentType,
    pub related_id: Id,
    pub description: Option<String>,
    pub category: Option<DocumentCategory>,
    pub tags: Option<String>,
}

/// Who a document of this entity belongs to.
struct Owner {
    related_model: &'static str,
    access: Vec<Access>,
}

fn access(user: &Id, role: &str) -> Access {
    Access { user_id: user.clone(), role: role.to_string() }
}

/// The entity a document is attached to must exist and the caller must be one of its
/// parties; its parties become the access list.
async fn owner_of(state: &AppState, user: &User, document_type: DocumentType, related_id: &Id) -> AppResult<Owner> {
    let db = &state.db;
    match document_type {
        DocumentType::Query | DocumentType::Dispute => {
            let missing = if document_type == DocumentType::Query { "Query not found" } else { "Dispute not found" };
            let (citizen, lawyer) = crate::store::cases::case_parties(db, document_type.as_str(), related_id)
                .await?
                .ok_or_else(|| AppError::not_found(missing))?;
            if user.id != citizen && lawyer.as_ref() != Some(&user.id) {
                return Err(AppError::forbidden("Access denied"));
            }
            let mut list = vec![access(&citizen, "citizen")];
            if let Some(l) = lawyer {
                list.push(access(&l, "lawyer"));
            }
            Ok(Owner { related_model: document_type.related_model(), access: list })
        }
        DocumentType::Direct => {
            let (citizen, lawyer) = store::connection_parties(db, related_id)
                .await?
                .ok_or_else(|| AppError::not_found("Direct connection not found"))?;
            if user.id != citizen && user.id != lawyer {
                return Err(AppError::forbidden("Access denied"));
            }
            Ok(Owner {
                related_model: document_type.related_model(),
                access: vec![access(&citizen, "citizen"), access(&lawyer, "lawyer")],
            })
        }
    }
}

/// Whether `user` may add documents to this entity: the check [`upload`] makes, for a caller
/// that wants the answer before receiving any file (so that a refused upload costs no disk).
pub async fn check_upload_access(
    state: &AppState,
    user: &User,
    document_type: DocumentType,
    related_id: &Id,
) -> AppResult<()> {
    owner_of(state, user, document_type, related_id).await.map(|_| ()).map_err(doc_error)
}

/// Whether `user` may share files in this chat: the check [`chat_upload`] makes, for a caller
/// that wants the answer before receiving the file.
pub async fn check_chat_upload(state: &AppState, user: &User, chat_id: &str) -> AppResult<()> {
    chat_of_participant(state, user, chat_id).await.map(|_| ()).map_err(doc_error)
}

/// A chat the caller takes part in and may share files in: 404 when there is none, 403 for
/// non-participants, 409 while it is a pending request ([`crate::service::chats::not_accepted`]).
async fn chat_of_participant(state: &AppState, user: &User, chat_id: &str) -> AppResult<Chat> {
    let chat = crate::store::chats::find_by_chat_id(&state.db, chat_id)
        .await?
        .filter(|c| c.is_active)
        .ok_or_else(|| AppError::not_found("Chat not found"))?;
    if chat.participant(&user.id).is_none() {
        return Err(AppError::forbidden("Access denied"));
    }
    // Files go where messages go: not into a chat request the lawyer has not accepted.
    if !crate::service::chats::is_active_chat(&chat) {
        return Err(crate::service::chats::not_accepted());
    }
    Ok(chat)
}

fn split_tags(raw: Option<&str>) -> Vec<String> {
    raw.map(|t| t.split(',').map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect()).unwrap_or_default()
}

/// A new document record for a received file (not yet stored).
struct NewDoc<'a> {
    file: &'a FileInfo,
    storage_key: String,
    document_type: DocumentType,
    related_id: &'a Id,
    related_model: &'a str,
    uploader: &'a User,
    access: Vec<Access>,
    description: String,
    category: DocumentCategory,
    tags: Vec<String>,
    /// Extra `pinataMetadata.keyvalues` (chat id, entity).
    keyvalues: Value,
}

impl NewDoc<'_> {
    fn build(self) -> Document {
        let now = crate::time::now_iso();
        let id = Id::new();
        let mut keyvalues = json!({
            "originalName": self.file.original_name,
            "mimeType": self.file.mime_type,
            "size": self.file.size.to_string(),
            "uploadedAt": now,
            "uploadedBy": self.uploader.id,
            "uploadedByRole": self.uploader.role.as_str(),
            "description": self.description,
        });
        if let (Some(kv), Some(extra)) = (keyvalues.as_object_mut(), self.keyvalues.as_object()) {
            kv.extend(extra.clone());
        }
        Document {
            url: download_url(&id),
            id,
            original_name: self.file.original_name.clone(),
            content_hash: self.file.sha256.clone(),
            storage_key: self.storage_key,
            mime_type: self.file.mime_type.clone(),
            size: self.file.size as i64,
            document_type: self.document_type,
            related_id: self.related_id.clone(),
            related_model: self.related_model.to_string(),
            uploaded_by: self.uploader.id.clone(),
            uploaded_by_role: self.uploader.role.as_str().to_string(),
            description: Some(self.description),
            tags: self.tags,
            document_category: self.category,
            is_verified: false,
            verified_by: None,
            verified_at: None,
            metadata: json!({"name": self.file.original_name, "keyvalues": keyvalues}),
            status: DocumentStatus::Processing,
            status_reason: None,
            thumbnail_key: None,
            uploaded_at: now.clone(),
            last_accessed_at: now.clone(),
            created_at: now.clone(),
            updated_at: now,
            access: self.access,
        }
    }
}

/// What happened to a new record whose content may already be on the entity.
enum Placed {
    /// A new record, or a deleted or rejected one brought back with this upload (to be
    /// processed).
    Stored(Document),
    /// The same content is already on the entity (active or processing).
    Existing(Document),
}

/// Records one document. A deleted or rejected record of the same content on the same
/// entity is replaced (keeping its id); an active or processing one is `Existing`.
async fn place(state: &AppState, mut doc: Document) -> AppResult<Placed> {
    let db = &state.db;
    match store::find_on_entity(db, &doc.content_hash, doc.document_type, &doc.related_id).await? {
        Some(existing) if existing.blocks_reupload() => Ok(Placed::Existing(existing)),
        Some(replaced) => {
            doc.url = download_url(&replaced.id);
            doc.id = replaced.id;
            store::replace(db, &doc).await?;
            Ok(Placed::Stored(doc))
        }
        None => match store::insert_all(db, std::slice::from_ref(&doc)).await {
            Ok(()) => Ok(Placed::Stored(doc)),
            Err(e) if is_unique_violation(&e) => {
                // A concurrent upload of the same content won the race.
                let existing = store::find_on_entity(db, &doc.content_hash, doc.document_type, &doc.related_id).await?;
                existing.map(Placed::Existing).ok_or_else(|| AppError::internal(e))
            }
            Err(e) => Err(e.into()),
        },
    }
}

fn already_uploaded(name: &str) -> AppError {
    AppError::bad_request(format!("{name} has already been uploaded here"))
}

/// Moves received files to their content addresses; returns each file with its storage key.
async fn commit_files(state: &AppState, files: Vec<Received>) -> AppResult<Vec<(FileInfo, String)>> {
    let storage = storage(state);
    let mut out = Vec::with_capacity(files.len());
    for Received { temp, info } in files {
        let key = storage.commit(temp, &info.sha256).await.map_err(AppError::internal)?;
        out.push((info, key));
    }
    Ok(out)
}

/// 3.8 #1 and #2: stores files on a case or connection the caller is a party of; they are
/// `processing` until checked.
pub async fn upload(state: &AppState, user: &User, meta: &UploadMeta, files: Vec<Received>) -> AppResult<Vec<Value>> {
    async move {
        let owner = owner_of(state, user, meta.document_type, &meta.related_id).await?;
        // Refuse the whole batch before anything is stored when a file repeats or is already there.
        let mut seen = std::collections::HashSet::new();
        for f in files.iter().map(|f| &f.info) {
            if !seen.insert(f.sha256.clone()) {
                return Err(already_uploaded(&f.original_name));
            }
            let on_entity = store::find_on_entity(&state.db, &f.sha256, meta.document_type, &meta.related_id).await?;
            if on_entity.is_some_and(|d| d.blocks_reupload()) {
                return Err(already_uploaded(&f.original_name));
            }
        }
        let description = meta.description.clone().unwrap_or_default();
        let category = meta.category.unwrap_or(DocumentCategory::Other);
        let tags = split_tags(meta.tags.as_deref());
        let mut stored = Vec::new();
        for (file, storage_key) in commit_files(state, files).await? {
            let doc = NewDoc {
                file: &file,
                storage_key,
                document_type: meta.document_type,
                related_id: &meta.related_id,
                related_model: owner.related_model,
                uploader: user,
                access: owner.access.clone(),
                description: description.clone(),
                category,
                tags: tags.clone(),
                keyvalues: json!({"documentType": meta.document_type, "relatedId": meta.related_id, "documentCategory": category}),
            }
            .build();
            match place(state, doc).await? {
                Placed::Stored(d) => stored.push(d),
                Placed::Existing(_) => return Err(already_uploaded(&file.original_name)),
            }
        }
        schedule_processing(state, stored.iter().map(|d| d.id.clone()).collect()).await;
        render(state, stored).await
    }
    .await
    .map_err(doc_error)
}

/// 3.7 #7: a file shared in a chat the caller takes part in. Returns the `fileData` object.
pub async fn chat_upload(
    state: &AppState,
    user: &User,
    chat_id: &str,
    description: Option<String>,
    file: Received,
) -> AppResult<Value> {
    async move {
        let chat = chat_of_participant(state, user, chat_id).await?;
        let (related_id, related_model) = chat_entity(state, &chat).await?;
        let access =
            chat.participants.iter().map(|p| Access { user_id: p.user_id.clone(), role: p.role.clone() }).collect();
        let (file, storage_key) = commit_files(state, vec![file]).await?.pop().expect("one file in, one out");
        let doc = NewDoc {
            file: &file,
            storage_key,
            document_type: DocumentType::from(chat.chat_type),
            related_id: &related_id,
            related_model,
            uploader: user,
            access,
            description: description.filter(|d| !d.trim().is_empty()).unwrap_or_else(|| "Shared in chat".into()),
            category: DocumentCategory::Correspondence,
            tags: vec!["chat".into(), "shared".into()],
            keyvalues: json!({"chatId": chat_id, "messageType": "file"}),
        }
        .build();
        let doc = match place(state, doc).await? {
            Placed::Stored(d) => {
                schedule_processing(state, vec![d.id.clone()]).await;
                d
            }
            Placed::Existing(d) => d,
        };
        Ok(json!({
            "ipfsHash": doc.content_hash,
            "originalName": file.original_name,
            "mimeType": file.mime_type,
            "size": file.size,
            "url": doc.url,
            "documentId": doc.id,
        }))
    }
    .await
    .map_err(doc_error)
}

/// The entity a chat's documents belong to: the case of a case chat, the connection of a
/// direct chat (found by its parties when the chat does not name it), else the chat itself.
async fn chat_entity(state: &AppState, chat: &Chat) -> AppResult<(Id, &'static str)> {
    match chat.chat_type {
        ChatType::Query | ChatType::Dispute => Ok(match &chat.related_case {
            Some((_, case)) => (case.clone(), DocumentType::from(chat.chat_type).related_model()),
            None => (chat.id.clone(), "Chat"),
        }),
        ChatType::Direct => {
            if let Some(conn) = &chat.direct_connection {
                return Ok((conn.clone(), "DirectConnection"));
            }
            if let [a, b] = chat.participants.as_slice()
                && let Some(conn) = store::connection_between(&state.db, &a.user_id, &b.user_id).await?
            {
                return Ok((conn, "DirectConnection"));
            }
            Ok((chat.id.clone(), "Chat"))
        }
    }
}

/// Documents with their uploaders populated (name email role).
async fn render(state: &AppState, docs: Vec<Document>) -> AppResult<Vec<Value>> {
    let uploaders = load_users(state, docs.iter().map(|d| &d.uploaded_by)).await?;
    let now = crate::time::now();
    Ok(docs
        .iter()
        .map(|d| {
            let mut out = d.to_json(user_ref(&uploaders, &d.uploaded_by, Some(NAME_EMAIL_ROLE)), now);
            if d.thumbnail_key.is_some() {
                out["thumbnailUrl"] = json!(thumbnail_url(&d.id));
            }
            out
        })
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
pub async fn details(state: &AppState, user: &User, id: &Id) -> AppResult<Value> {
    async {
        let mut doc = readable(state, user, id, Find::Record).await?;
        let now = crate::time::now_iso();
        store::touch(&state.db, &doc.id, &now).await?;
        doc.last_accessed_at = now;
        Ok(json!({"document": render(state, vec![doc]).await?.remove(0)}))
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
        if !store::mark_deleted(&state.db, id, &crate::time::now_iso()).await? {
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
) -> AppResult<Value> {
    async {
        let filter = ListFilter {
            document_type: Some(document_type),
            related_id: Some(related_id.clone()),
            ..Default::default()
        };
        let docs = render(state, store::list(&state.db, &user.id, &filter, None).await?).await?;
        let count = docs.len();
        Ok(json!({"documents": docs, "count": count}))
    }
    .await
    .map_err(doc_error)
}

/// `{current, total (pages), count, totalDocuments}` of the document lists.
fn doc_pagination(page: crate::domain::page::Page, count: usize, total: i64) -> Value {
    json!({"current": page.page, "total": page.pages(total), "count": count, "totalDocuments": total})
}

/// 3.8 #3: the caller's repository, one page, grouped by type and entity.
pub async fn my_documents(
    state: &AppState,
    user: &User,
    document_type: Option<DocumentType>,
    page: crate::domain::page::Page,
) -> AppResult<Value> {
    async {
        let filter = ListFilter { document_type, ..Default::default() };
        let docs = store::list(&state.db, &user.id, &filter, Some((page.limit, page.offset()))).await?;
        let total = store::count(&state.db, &user.id, &filter).await?;
        let count = docs.len();
        let keys: Vec<(DocumentType, String, i64, String)> =
            docs.iter().map(|d| (d.document_type, d.related_id.to_string(), d.size, d.uploaded_at.clone())).collect();
        let rendered = render(state, docs).await?;
        let mut grouped = json!({"direct": {}, "query": {}, "dispute": {}});
        for ((doc_type, related, size, uploaded_at), doc) in keys.into_iter().zip(rendered) {
            let Some(by_entity) = grouped.get_mut(doc_type.as_str()).and_then(Value::as_object_mut) else { continue };
            let group = by_entity.entry(related.clone()).or_insert_with(
                || json!({"relatedId": related, "documents": [], "totalSize": 0, "lastUpdated": uploaded_at}),
            );
            group["documents"].as_array_mut().expect("array").push(doc);
            group["totalSize"] = json!(group["totalSize"].as_i64().unwrap_or(0) + size);
            if group["lastUpdated"].as_str().is_some_and(|last| uploaded_at.as_str() > last) {
                group["lastUpdated"] = json!(uploaded_at);
            }
        }
        Ok(json!({"documents": grouped, "pagination": doc_pagination(page, count, total)}))
    }
    .await
    .map_err(doc_error)
}

/// The search of 3.8 #9.
#[derive(Debug, Default, Clone)]
pub struct Search {
    pub q: Option<String>,
    pub document_type: Option<String>,
    pub category: Option<String>,
    pub date_from: Option<String>,
    pub date_to: Option<String>,
}

/// Dates of the search filters: full ISO timestamps or plain dates (midnight UTC, as
/// JavaScript reads them).
fn parse_filter_date(raw: &str) -> AppResult<String> {
    if let Some(t) = crate::time::parse(raw) {
        return Ok(crate::time::iso(t));
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| crate::time::iso(t.and_utc()))
        .ok_or_else(|| AppError::bad_request(format!("Invalid date: {raw}")))
}

/// 3.8 #9: readable documents matching the text and filters, newest first.
pub async fn search(state: &AppState, user: &User, s: &Search, page: crate::domain::page::Page) -> AppResult<Value> {
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
        let count = docs.len();
        let mut out =
            json!({"documents": render(state, docs).await?, "pagination": doc_pagination(page, count, total)});
        if let Some(q) = &s.q {
            out["searchQuery"] = json!(q);
        }
        let mut filters = serde_json::Map::new();
        for (key, value) in [
            ("documentType", &s.document_type),
            ("documentCategory", &s.category),
            ("dateFrom", &s.date_from),
            ("dateTo", &s.date_to),
        ] {
            if let Some(v) = value {
                filters.insert(key.into(), json!(v));
            }
        }
        out["filters"] = Value::Object(filters);
        Ok(out)
    }
    .await
    .map_err(doc_error)
}

/// 3.8 #4: totals over what the caller may read, by type and overall, and the five newest.
pub async fn stats(state: &AppState, user: &User) -> AppResult<Value> {
    async {
        let by_type = store::stats_by_type(&state.db, &user.id).await?;
        let total_docs: i64 = by_type.iter().map(|s| s.count).sum();
        let total_size: i64 = by_type.iter().map(|s| s.total_size).sum();
        let overall = if total_docs == 0 {
            json!({"totalDocuments": 0, "totalSize": 0, "avgSize": 0})
        } else {
            json!({"_id": null, "totalDocuments": total_docs, "totalSize": total_size, "avgSize": total_size as f64 / total_docs as f64})
        };
        let recent = store::list(&state.db, &user.id, &ListFilter::default(), Some((5, 0))).await?;
        Ok(json!({
            "byType": by_type.iter().map(|s| json!({
                "_id": s.document_type, "count": s.count, "totalSize": s.total_size, "categories": s.categories,
            })).collect::<Vec<_>>(),
            "overall": overall,
            "recent": render(state, recent).await?,
        }))
    }
    .await
    .map_err(doc_error)
}

/// A stored file ready to be streamed.
pub struct Download {
    pub document: Document,
    pub file: tokio::fs::File,
    pub len: u64,
    /// The checked type of the file.
    pub content_type: String,
    pub file_name: String,
}

async fn open_key(state: &AppState, key: &str) -> AppResult<(tokio::fs::File, u64)> {
    let file = storage(state).open(key).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            // A record whose file never arrived (imported without its files, or removed
            // from the uploads folder): the operator's to fix, the caller's to know it is absent.
            tracing::warn!(key, "a document's file is missing from storage");
            AppError::not_found("File not found")
        } else {
            AppError::internal(e)
        }
    })?;
    let len = file.metadata().await.map_err(AppError::internal)?.len();
    Ok((file, len))
}

async fn open_stored(state: &AppState, doc: Document) -> AppResult<Download> {
    let (file, len) = open_key(state, &doc.storage_key).await?;
    let now = crate::time::now_iso();
    store::touch(&state.db, &doc.id, &now).await?;
    let (content_type, file_name) = (doc.mime_type.clone(), doc.original_name.clone());
    Ok(Download { document: doc, file, len, content_type, file_name })
}

/// `GET /api/documents/<id>/download`: the file of a readable active document.
pub async fn download(state: &AppState, user: &User, id: &Id) -> AppResult<Download> {
    async {
        let doc = readable(state, user, id, Find::File).await?;
        open_stored(state, doc).await
    }
    .await
    .map_err(doc_error)
}

/// `GET /api/documents/<id>/thumbnail`: the PNG thumbnail of a readable active image; 404
/// when it has none.
pub async fn thumbnail(state: &AppState, user: &User, id: &Id) -> AppResult<Download> {
    async {
        let doc = readable(state, user, id, Find::File).await?;
        let key = doc.thumbnail_key.clone().ok_or_else(|| AppError::not_found("Thumbnail not found"))?;
        let (file, len) = open_key(state, &key).await?;
        let stem = doc.original_name.rsplit_once('.').map_or(doc.original_name.as_str(), |(stem, _)| stem);
        let file_name = format!("{stem}-thumbnail.png");
        Ok(Download { document: doc, file, len, content_type: "image/png".into(), file_name })
    }
    .await
    .map_err(doc_error)
}

/// Hash formats the proxy accepts: our SHA-256 digests, and IPFS CIDs (v0 `Qm...`, v1
/// base32 `b...`) of records moved from the original.
pub fn is_file_hash(raw: &str) -> bool {
    let sha = raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit());
    let cid_v0 = raw.len() == 46
        && raw.starts_with("Qm")
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() && !b"0OIl".contains(&b));
    let cid_v1 =
        raw.len() > 50 && raw.starts_with('b') && raw[1..].bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'));
    sha || cid_v0 || cid_v1
}

/// 3.7 #8: the file of a hash, for a caller who may read a document with that content. To
/// anyone else the content does not exist: the same 404 whether or not others hold it, so
/// that a hash cannot be used to learn that someone has a given file.
pub async fn file_by_hash(state: &AppState, user: &User, hash: &str) -> AppResult<Download> {
    async {
        if !is_file_hash(hash) {
            return Err(AppError::bad_request("Invalid IPFS hash"));
        }
        let hash = if hash.len() == 64 { hash.to_ascii_lowercase() } else { hash.to_string() };
        let doc = store::find_readable_by_hash(&state.db, &hash, &user.id)
            .await?
            .ok_or_else(|| AppError::not_found("File not found"))?;
        open_stored(state, doc).await.map_err(|e| {
            if e.status.is_client_error() {
                return e;
            }
            tracing::error!(error = %e, "serving a stored file");
            AppError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "Failed to serve file")
        })
    }
    .await
    .map_err(doc_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_texts_and_tags() {
        assert_eq!(size_limit_text(10 * 1024 * 1024), "File size exceeds limit of 10MB");
        assert_eq!(split_tags(Some(" Lease, ,Urgent ")), vec!["lease", "urgent"]);
        assert_eq!(essence("Text/Plain; charset=utf-8"), "text/plain");
    }

    #[test]
    fn file_hashes() {
        assert!(is_file_hash(&"a".repeat(64)));
        assert!(is_file_hash("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"));
        assert!(!is_file_hash("Qm../../etc/passwd"));
        assert!(!is_file_hash("abc"));
    }
}
