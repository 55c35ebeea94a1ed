//! Uploads: receiving ([`Incoming`]: stream to a temporary file, hash and sniff while writing,
//! size limit; the HTTP layer asks [`check_upload_access`] or [`check_chat_upload`] first, as
//! soon as the form names its target) and storing ([`upload`], [`chat_upload`]: check the
//! entity and its parties, move the file to its content address, record the document as
//! `processing` with its access list, answer).

use crate::db::is_unique_violation;
use crate::domain::chat::{ChatType, MessageType};
use crate::domain::document::{DocumentCategory, DocumentStatus, DocumentType, RelatedModel};
use crate::domain::string_enum::UnknownValue;
use crate::domain::user::Role;
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::service::files::{Sniffer, schedule_processing};
use crate::state::AppState;
use crate::storage::{Storage, TempFile};
use crate::store::chats::Chat;
use crate::store::documents::{self as store, Access, Document};
use crate::store::users::User;
use crate::time::Timestamp;

use super::input::{ChatFileFields, UploadMeta};
use super::views::{ChatFileView, DocumentView, KeyValues, NewMetadata, UploadTarget};
use super::{doc_error, download_url, render, storage};

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

/// Who a document of this entity belongs to.
struct Owner {
    related_model: RelatedModel,
    access: Vec<Access>,
}

fn access(user: &Id, role: Role) -> Access {
    Access { user_id: user.clone(), role }
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
            let mut list = vec![access(&citizen, Role::Citizen)];
            if let Some(l) = lawyer {
                list.push(access(&l, Role::Lawyer));
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
                access: vec![access(&citizen, Role::Citizen), access(&lawyer, Role::Lawyer)],
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
    related_model: RelatedModel,
    uploader: &'a User,
    access: Vec<Access>,
    description: String,
    category: DocumentCategory,
    tags: Vec<String>,
    /// What the `pinataMetadata.keyvalues` record the upload went to.
    target: UploadTarget<'a>,
}

impl NewDoc<'_> {
    fn build(self) -> Document {
        let now = Timestamp::now();
        let id = Id::new();
        let metadata = NewMetadata {
            name: &self.file.original_name,
            keyvalues: KeyValues {
                original_name: &self.file.original_name,
                mime_type: &self.file.mime_type,
                size: self.file.size.to_string(),
                uploaded_at: now,
                uploaded_by: &self.uploader.id,
                uploaded_by_role: self.uploader.role,
                description: &self.description,
                target: self.target,
            },
        };
        let metadata = serde_json::to_value(metadata).expect("metadata serializes");
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
            related_model: self.related_model,
            uploaded_by: self.uploader.id.clone(),
            uploaded_by_role: self.uploader.role,
            description: Some(self.description),
            tags: self.tags,
            document_category: self.category,
            is_verified: false,
            verified_by: None,
            verified_at: None,
            metadata,
            status: DocumentStatus::Processing,
            status_reason: None,
            thumbnail_key: None,
            uploaded_at: now,
            last_accessed_at: now,
            created_at: now,
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
pub async fn upload(
    state: &AppState,
    user: &User,
    meta: &UploadMeta,
    files: Vec<Received>,
) -> AppResult<Vec<DocumentView>> {
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
                target: UploadTarget::Entity {
                    document_type: meta.document_type,
                    related_id: &meta.related_id,
                    document_category: category,
                },
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
    fields: ChatFileFields,
    file: Received,
) -> AppResult<ChatFileView> {
    async move {
        let ChatFileFields { chat_id, description } = fields;
        let chat = chat_of_participant(state, user, &chat_id).await?;
        let (related_id, related_model) = chat_entity(state, &chat).await?;
        let access = chat
            .participants
            .iter()
            .map(|p| Ok(Access { user_id: p.user_id.clone(), role: p.role.parse()? }))
            .collect::<Result<_, UnknownValue>>()
            .map_err(AppError::internal)?;
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
            target: UploadTarget::Chat { chat_id: &chat_id, message_type: MessageType::File },
        }
        .build();
        let doc = match place(state, doc).await? {
            Placed::Stored(d) => {
                schedule_processing(state, vec![d.id.clone()]).await;
                d
            }
            Placed::Existing(d) => d,
        };
        Ok(ChatFileView {
            content_hash: doc.content_hash,
            original_name: file.original_name,
            mime_type: file.mime_type,
            size: file.size,
            url: doc.url,
            document_id: doc.id,
        })
    }
    .await
    .map_err(doc_error)
}

/// The entity a chat's documents belong to: the case of a case chat, the connection of a
/// direct chat (found by its parties when the chat does not name it), else the chat itself.
async fn chat_entity(state: &AppState, chat: &Chat) -> AppResult<(Id, RelatedModel)> {
    match chat.chat_type {
        ChatType::Query | ChatType::Dispute => Ok(match &chat.related_case {
            Some((_, case)) => (case.clone(), DocumentType::from(chat.chat_type).related_model()),
            None => (chat.id.clone(), RelatedModel::Chat),
        }),
        ChatType::Direct => {
            if let Some(conn) = &chat.direct_connection {
                return Ok((conn.clone(), RelatedModel::DirectConnection));
            }
            if let [a, b] = chat.participants.as_slice()
                && let Some(conn) = store::connection_between(&state.db, &a.user_id, &b.user_id).await?
            {
                return Ok((conn, RelatedModel::DirectConnection));
            }
            Ok((chat.id.clone(), RelatedModel::Chat))
        }
    }
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
}
