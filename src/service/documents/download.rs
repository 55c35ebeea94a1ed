//! Serving stored files: the download and thumbnail of a readable active document, and the
//! file of a content hash (the chat file proxy).

use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::state::AppState;
use crate::store::documents::{self as store, Document};
use crate::store::users::User;
use crate::time::Timestamp;

use super::{Find, doc_error, readable, storage};

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
    store::touch(&state.db, &doc.id, Timestamp::now()).await?;
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
    fn file_hashes() {
        assert!(is_file_hash(&"a".repeat(64)));
        assert!(is_file_hash("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"));
        assert!(!is_file_hash("Qm../../etc/passwd"));
        assert!(!is_file_hash("abc"));
    }
}
