//! Documents and their access lists (docs/api.md 2.7), plus read-only lookups of the direct
//! connections a document can belong to (cases and chats are read through their own stores).

use std::collections::HashMap;

use serde_json::Value;
use sqlx::any::AnyRow;

use crate::db::{Db, RowExt, Sql, like_pattern};
use crate::domain::document::{DocumentCategory, DocumentStatus, DocumentType, RelatedModel};
use crate::domain::user::Role;
use crate::ids::Id;
use crate::time::Timestamp;

/// One entry of `accessibleTo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub user_id: Id,
    pub role: Role,
}

#[derive(Debug, Clone)]
pub struct Document {
    pub id: Id,
    pub original_name: String,
    /// SHA-256 hex of the content; served as `ipfsHash`.
    pub content_hash: String,
    pub storage_key: String,
    pub mime_type: String,
    pub url: String,
    pub size: i64,
    pub document_type: DocumentType,
    pub related_id: Id,
    pub related_model: RelatedModel,
    pub uploaded_by: Id,
    pub uploaded_by_role: Role,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub document_category: DocumentCategory,
    pub is_verified: bool,
    pub verified_by: Option<Id>,
    pub verified_at: Option<Timestamp>,
    /// `pinataMetadata`: `{name, keyvalues}` (free-form JSON in records moved from the original).
    pub metadata: Value,
    pub status: DocumentStatus,
    /// Why the content was rejected.
    pub status_reason: Option<String>,
    /// The storage key of the thumbnail, for images.
    pub thumbnail_key: Option<String>,
    pub uploaded_at: Timestamp,
    pub last_accessed_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub access: Vec<Access>,
}

/// Columns for reading. sqlx's `Any` driver refuses SQLite columns declared BOOLEAN, so the
/// flag is read as an expression (an integer on SQLite, a boolean on PostgreSQL).
const COLUMNS: &str = "d.id, d.original_name, d.content_hash, d.storage_key, d.mime_type, d.url, d.size, d.document_type, \
    d.related_id, d.related_model, d.uploaded_by, d.uploaded_by_role, d.description, d.tags, d.document_category, \
    (d.is_verified = TRUE) AS is_verified, d.verified_by, d.verified_at, d.metadata, d.status, d.status_reason, d.thumbnail_key, d.uploaded_at, d.last_accessed_at, \
    d.created_at, d.updated_at";

impl Document {
    fn from_row(row: &AnyRow) -> sqlx::Result<Document> {
        let tags = row.json("tags")?;
        Ok(Document {
            id: row.id("id")?,
            original_name: row.text("original_name")?,
            content_hash: row.text("content_hash")?,
            storage_key: row.text("storage_key")?,
            mime_type: row.text("mime_type")?,
            url: row.text("url")?,
            size: row.int("size")?,
            document_type: row.text("document_type")?.parse()?,
            related_id: row.id("related_id")?,
            related_model: row.text("related_model")?.parse()?,
            uploaded_by: row.id("uploaded_by")?,
            uploaded_by_role: row.text("uploaded_by_role")?.parse()?,
            description: row.text_opt("description")?,
            tags: tags
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
            document_category: row.text("document_category")?.parse()?,
            is_verified: row.flag("is_verified")?,
            verified_by: row.id_opt("verified_by")?,
            verified_at: row.timestamp_opt("verified_at")?,
            metadata: row.json("metadata")?,
            status: row.text("status")?.parse()?,
            status_reason: row.text_opt("status_reason")?,
            thumbnail_key: row.text_opt("thumbnail_key")?,
            uploaded_at: row.timestamp("uploaded_at")?,
            last_accessed_at: row.timestamp("last_accessed_at")?,
            created_at: row.timestamp("created_at")?,
            updated_at: row.timestamp("updated_at")?,
            access: Vec::new(),
        })
    }

    /// The access rule of docs/api.md 2.7/6: the uploader or anyone in `accessibleTo`.
    pub fn readable_by(&self, user: &Id) -> bool {
        self.uploaded_by == *user || self.access.iter().any(|a| a.user_id == *user)
    }

    pub fn is_active(&self) -> bool {
        self.status == DocumentStatus::Active
    }

    pub fn is_processing(&self) -> bool {
        self.status == DocumentStatus::Processing
    }

    /// Whether `user` may see the record: active ones by the access rule, and the uploader's
    /// own while they are checked or after they were rejected (to learn why).
    pub fn visible_to(&self, user: &Id) -> bool {
        match self.status {
            DocumentStatus::Active => self.readable_by(user),
            DocumentStatus::Processing | DocumentStatus::Rejected => self.uploaded_by == *user,
            DocumentStatus::Archived | DocumentStatus::Deleted => false,
        }
    }

    /// Whether the same content cannot be uploaded to the same entity again: it is there, or
    /// on its way (a rejected or deleted record is replaced by a new upload).
    pub fn blocks_reupload(&self) -> bool {
        self.is_active() || self.is_processing()
    }
}

fn insert_sql(d: &Document) -> Sql {
    Sql::new(
        "INSERT INTO documents (id, original_name, content_hash, storage_key, mime_type, url, size, document_type, \
         related_id, related_model, uploaded_by, uploaded_by_role, description, tags, document_category, is_verified, \
         verified_by, verified_at, metadata, status, status_reason, thumbnail_key, uploaded_at, last_accessed_at, \
         created_at, updated_at) VALUES \
         ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26)",
    )
    .arg(&d.id)
    .arg(&d.original_name)
    .arg(&d.content_hash)
    .arg(&d.storage_key)
    .arg(&d.mime_type)
    .arg(&d.url)
    .arg(d.size)
    .arg(d.document_type.as_str())
    .arg(&d.related_id)
    .arg(d.related_model.as_str())
    .arg(&d.uploaded_by)
    .arg(d.uploaded_by_role.as_str())
    .arg(d.description.clone())
    .arg(serde_json::to_string(&d.tags).expect("tags serialize"))
    .arg(d.document_category.as_str())
    .arg(d.is_verified)
    .arg(d.verified_by.clone())
    .arg(d.verified_at.map(Timestamp::iso))
    .arg(d.metadata.to_string())
    .arg(d.status.as_str())
    .arg(d.status_reason.clone())
    .arg(d.thumbnail_key.clone())
    .arg(d.uploaded_at)
    .arg(d.last_accessed_at)
    .arg(d.created_at)
    .arg(d.updated_at)
}

async fn write_access(tx: &mut crate::db::Tx, d: &Document) -> sqlx::Result<()> {
    tx.exec(&Sql::new("DELETE FROM document_access WHERE document_id = $1").arg(&d.id)).await?;
    for a in &d.access {
        tx.exec(
            &Sql::new("INSERT INTO document_access (document_id, user_id, role) VALUES ($1, $2, $3)")
                .arg(&d.id)
                .arg(&a.user_id)
                .arg(a.role.as_str()),
        )
        .await?;
    }
    Ok(())
}

/// Inserts documents with their access lists, all or none. A document whose content is
/// already attached to the same entity fails with a unique violation
/// ([`crate::db::is_unique_violation`]).
pub async fn insert_all(db: &Db, docs: &[Document]) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    for d in docs {
        tx.exec(&insert_sql(d)).await?;
        write_access(&mut tx, d).await?;
    }
    tx.commit().await
}

/// Writes a document back whole (used to bring a deleted record back with a new upload).
pub async fn replace(db: &Db, d: &Document) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    tx.exec(&Sql::new("DELETE FROM documents WHERE id = $1").arg(&d.id)).await?;
    tx.exec(&insert_sql(d)).await?;
    write_access(&mut tx, d).await?;
    tx.commit().await
}

async fn attach_access(db: &Db, docs: &mut [Document]) -> sqlx::Result<()> {
    if docs.is_empty() {
        return Ok(());
    }
    let mut sql = Sql::new("SELECT document_id, user_id, role FROM document_access WHERE document_id IN (");
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push_bind(&d.id);
    }
    sql.push(") ORDER BY document_id, role, user_id");
    let mut by_doc: HashMap<Id, Vec<Access>> = HashMap::new();
    for row in db.all(&sql).await? {
        by_doc
            .entry(row.id("document_id")?)
            .or_default()
            .push(Access { user_id: row.id("user_id")?, role: row.text("role")?.parse()? });
    }
    for d in docs.iter_mut() {
        let mut access = by_doc.remove(&d.id).unwrap_or_default();
        // Citizen first, then lawyer, as the original builds the list.
        access.sort_by_key(|a| match a.role {
            Role::Citizen => 0,
            Role::Lawyer => 1,
            _ => 2,
        });
        d.access = access;
    }
    Ok(())
}

async fn select(db: &Db, tail: Sql) -> sqlx::Result<Vec<Document>> {
    let sql = Sql::new(format!("SELECT {COLUMNS} FROM documents d ")).append(tail);
    let mut docs = db.all(&sql).await?.iter().map(Document::from_row).collect::<sqlx::Result<Vec<_>>>()?;
    attach_access(db, &mut docs).await?;
    Ok(docs)
}

/// Every document still `processing`, oldest first.
pub async fn processing_ids(db: &Db) -> sqlx::Result<Vec<Id>> {
    let sql = Sql::new("SELECT id FROM documents WHERE status = $1 ORDER BY created_at, id")
        .arg(DocumentStatus::Processing.as_str());
    db.all(&sql).await?.iter().map(|row| row.id("id")).collect()
}

pub async fn get(db: &Db, id: &Id) -> sqlx::Result<Option<Document>> {
    Ok(select(db, Sql::new("WHERE d.id = $1").arg(id)).await?.into_iter().next())
}

/// The record of this content on this entity, whatever its status.
pub async fn find_on_entity(
    db: &Db,
    content_hash: &str,
    document_type: DocumentType,
    related_id: &Id,
) -> sqlx::Result<Option<Document>> {
    let tail = Sql::new("WHERE d.content_hash = $1 AND d.document_type = $2 AND d.related_id = $3")
        .arg(content_hash)
        .arg(document_type.as_str())
        .arg(related_id);
    Ok(select(db, tail).await?.into_iter().next())
}

/// Appends `d.status = 'active' AND (uploader OR listed)` for `viewer`.
fn push_readable(sql: &mut Sql, viewer: &Id) {
    sql.push("d.status = ").push_bind(DocumentStatus::Active.as_str()).push(" AND ");
    push_own_or_shared(sql, viewer);
}

/// The records `viewer` may see ([`Document::visible_to`]): readable active ones, and their
/// own while processing or rejected. Written as "own or shared, and then by status" (the same
/// set) so the database starts from the viewer's documents through the uploader and access
/// indexes instead of reading every document.
fn push_visible(sql: &mut Sql, viewer: &Id) {
    push_own_or_shared(sql, viewer);
    sql.push(" AND (d.status = ")
        .push_bind(DocumentStatus::Active.as_str())
        .push(" OR (d.status IN (")
        .push_bind(DocumentStatus::Processing.as_str())
        .push(", ")
        .push_bind(DocumentStatus::Rejected.as_str())
        .push(") AND d.uploaded_by = ")
        .push_bind(viewer)
        .push("))");
}

/// `d.id` among the documents `viewer` uploaded or is on the access list of: a set read from
/// two indexes, so its cost follows the viewer's documents, not the table.
fn push_own_or_shared(sql: &mut Sql, viewer: &Id) {
    sql.push("d.id IN (SELECT o.id FROM documents o WHERE o.uploaded_by = ")
        .push_bind(viewer)
        .push(" UNION ALL SELECT a.document_id FROM document_access a WHERE a.user_id = ")
        .push_bind(viewer)
        .push(")");
}

/// The newest active document with this content that `viewer` may read. Whether others
/// hold the same content is not asked: that is nobody else's business.
pub async fn find_readable_by_hash(db: &Db, content_hash: &str, viewer: &Id) -> sqlx::Result<Option<Document>> {
    let mut tail = Sql::new("WHERE d.content_hash = $1 AND ").arg(content_hash);
    push_readable(&mut tail, viewer);
    tail.push(" ORDER BY d.uploaded_at DESC LIMIT 1");
    Ok(select(db, tail).await?.into_iter().next())
}

/// Filters of the list routes; every list is limited to what the viewer may see.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub document_type: Option<DocumentType>,
    pub related_id: Option<Id>,
    /// The search's `documentCategory` as given: a name outside the set matches nothing.
    pub category: Option<String>,
    /// Case-insensitive literal text in the name, the description or a tag.
    pub text: Option<String>,
    pub uploaded_from: Option<Timestamp>,
    pub uploaded_to: Option<Timestamp>,
}

fn where_clause(viewer: &Id, f: &ListFilter) -> Sql {
    let mut sql = Sql::new("WHERE ");
    push_visible(&mut sql, viewer);
    if let Some(t) = &f.document_type {
        sql.push(" AND d.document_type = ").push_bind(t.as_str());
    }
    if let Some(r) = &f.related_id {
        sql.push(" AND d.related_id = ").push_bind(r);
    }
    if let Some(c) = &f.category {
        sql.push(" AND d.document_category = ").push_bind(c);
    }
    if let Some(text) = &f.text {
        let pattern = like_pattern(text);
        sql.push(" AND (LOWER(d.original_name) LIKE ").push_bind(&pattern).push(" ESCAPE '\\'");
        sql.push(" OR LOWER(COALESCE(d.description, '')) LIKE ").push_bind(&pattern).push(" ESCAPE '\\'");
        // Tags are a JSON array of lowercase strings: text without JSON punctuation cannot
        // match across two tags, so a LIKE on the array text is a match on one tag.
        if !text.contains(['"', ',', '\\', '[', ']']) {
            sql.push(" OR d.tags LIKE ").push_bind(&pattern).push(" ESCAPE '\\'");
        }
        sql.push(")");
    }
    if let Some(from) = &f.uploaded_from {
        sql.push(" AND d.uploaded_at >= ").push_bind(*from);
    }
    if let Some(to) = &f.uploaded_to {
        sql.push(" AND d.uploaded_at <= ").push_bind(*to);
    }
    sql
}

/// Readable documents, newest first; `limit`/`offset` of `None` returns them all.
pub async fn list(db: &Db, viewer: &Id, f: &ListFilter, page: Option<(i64, i64)>) -> sqlx::Result<Vec<Document>> {
    let mut tail = where_clause(viewer, f);
    tail.push(" ORDER BY d.uploaded_at DESC, d.id DESC");
    if let Some((limit, offset)) = page {
        tail.push_page(limit, offset);
    }
    select(db, tail).await
}

pub async fn count(db: &Db, viewer: &Id, f: &ListFilter) -> sqlx::Result<i64> {
    db.count(&Sql::new("SELECT COUNT(*) FROM documents d ").append(where_clause(viewer, f))).await
}

/// Per-type totals of what `viewer` may read: `(type, count, total size, categories)`.
pub struct TypeStats {
    pub document_type: DocumentType,
    pub count: i64,
    pub total_size: i64,
    pub categories: Vec<DocumentCategory>,
}

pub async fn stats_by_type(db: &Db, viewer: &Id) -> sqlx::Result<Vec<TypeStats>> {
    let f = ListFilter::default();
    let sql = Sql::new(
        "SELECT d.document_type, d.document_category, COUNT(*) AS n, CAST(SUM(d.size) AS BIGINT) AS total FROM documents d ",
    )
    .append(where_clause(viewer, &f))
    .append(Sql::new(" GROUP BY d.document_type, d.document_category ORDER BY d.document_type, d.document_category"));
    let mut out: Vec<TypeStats> = Vec::new();
    for row in db.all(&sql).await? {
        let t: DocumentType = row.text("document_type")?.parse()?;
        let (n, total) = (row.int("n")?, row.int("total")?);
        let category: DocumentCategory = row.text("document_category")?.parse()?;
        match out.iter_mut().find(|s| s.document_type == t) {
            Some(s) => {
                s.count += n;
                s.total_size += total;
                s.categories.push(category);
            }
            None => out.push(TypeStats { document_type: t, count: n, total_size: total, categories: vec![category] }),
        }
    }
    Ok(out)
}

pub async fn touch(db: &Db, id: &Id, at: Timestamp) -> sqlx::Result<()> {
    db.exec(&Sql::new("UPDATE documents SET last_accessed_at = $2 WHERE id = $1").arg(id).arg(at)).await.map(|_| ())
}

/// Soft delete. Returns false when the document was already deleted (nothing changed).
pub async fn mark_deleted(db: &Db, id: &Id, at: Timestamp) -> sqlx::Result<bool> {
    let deleted = DocumentStatus::Deleted.as_str();
    let sql = Sql::new("UPDATE documents SET status = $3, updated_at = $2 WHERE id = $1 AND status <> $3")
        .arg(id)
        .arg(at)
        .arg(deleted);
    let n = db.exec(&sql).await?;
    Ok(n > 0)
}

/// The result of checking an uploaded file.
pub struct Checked<'a> {
    /// `Active` or `Rejected`.
    pub status: DocumentStatus,
    pub reason: Option<&'a str>,
    pub thumbnail_key: Option<&'a str>,
}

/// Records the result of the check, only while the document is still `processing` (a
/// second run, or a delete in the meantime, wins). Returns whether it was recorded.
pub async fn finish_processing(db: &Db, id: &Id, checked: &Checked<'_>, at: Timestamp) -> sqlx::Result<bool> {
    let sql = Sql::new(
        "UPDATE documents SET status = $2, status_reason = $3, thumbnail_key = $4, updated_at = $5 \
         WHERE id = $1 AND status = $6",
    )
    .arg(id)
    .arg(checked.status.as_str())
    .arg(checked.reason)
    .arg(checked.thumbnail_key)
    .arg(at)
    .arg(DocumentStatus::Processing.as_str());
    Ok(db.exec(&sql).await? > 0)
}

// ---- Read-only lookups of the connections documents belong to. ----

/// The parties of a direct connection: `(citizen, lawyer)`.
pub async fn connection_parties(db: &Db, id: &Id) -> sqlx::Result<Option<(Id, Id)>> {
    let row = db.opt(&Sql::new("SELECT citizen_id, lawyer_id FROM direct_connections WHERE id = $1").arg(id)).await?;
    row.map(|r| Ok((r.id("citizen_id")?, r.id("lawyer_id")?))).transpose()
}

/// The active connection between two users, in either direction.
pub async fn connection_between(db: &Db, a: &Id, b: &Id) -> sqlx::Result<Option<Id>> {
    let sql = Sql::new(
        "SELECT id FROM direct_connections WHERE is_active = TRUE AND \
         ((citizen_id = $1 AND lawyer_id = $2) OR (citizen_id = $2 AND lawyer_id = $1)) ORDER BY created_at DESC LIMIT 1",
    )
    .arg(a)
    .arg(b);
    db.opt(&sql).await?.map(|r| r.id("id")).transpose()
}
