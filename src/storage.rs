//! Local file storage under `UPLOAD_DIR`, content-addressed by SHA-256.
//!
//! An upload is written to a temporary file first ([`TempFile`]); once its digest is known
//! it is renamed to `sha256/<aa>/<digest>`, so identical content is stored once and a reader
//! never sees a half-written file. A temporary file that is not committed is deleted when
//! it is dropped, on every failure path. Files derived from stored content (thumbnails) live
//! beside it under the same digest with a fixed suffix.

use std::io;
use std::path::{Path, PathBuf};

use tokio::fs;
use tokio::io::AsyncWriteExt;

/// The storage root. Cheap to build; holds no open resources.
#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
}

/// A file being received. Deleted on drop unless committed.
pub struct TempFile {
    path: PathBuf,
    file: Option<fs::File>,
    written: u64,
    committed: bool,
}

impl Storage {
    pub fn new(root: impl Into<PathBuf>) -> Storage {
        Storage { root: root.into() }
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Starts a new temporary file in the storage root (same filesystem, so commit is a rename).
    pub async fn create_temp(&self) -> io::Result<TempFile> {
        let dir = self.tmp_dir();
        fs::create_dir_all(&dir).await?;
        let path = dir.join(format!("{}.part", crate::ids::random_hex(12)));
        let file = fs::OpenOptions::new().write(true).create_new(true).open(&path).await?;
        Ok(TempFile { path, file: Some(file), written: 0, committed: false })
    }

    /// Moves a finished temporary file to its content address and returns the storage key.
    /// When the content is already stored the temporary copy is simply removed.
    pub async fn commit(&self, temp: TempFile, sha256_hex: &str) -> io::Result<String> {
        let key = content_key(sha256_hex)?;
        self.commit_at(temp, &key).await?;
        Ok(key)
    }

    /// Stores the thumbnail of the content `sha256_hex` (replacing none: the same content
    /// always gives the same thumbnail) and returns its key.
    pub async fn put_thumbnail(&self, sha256_hex: &str, bytes: &[u8]) -> io::Result<String> {
        let key = thumbnail_key(sha256_hex)?;
        let mut temp = self.create_temp().await?;
        temp.write(bytes).await?;
        self.commit_at(temp, &key).await?;
        Ok(key)
    }

    /// Moves a finished temporary file to `key`, unless a file is already there.
    async fn commit_at(&self, mut temp: TempFile, key: &str) -> io::Result<()> {
        if let Some(mut file) = temp.file.take() {
            file.flush().await?;
            file.sync_all().await?;
        }
        let dest = self.path_of(key)?;
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).await?;
        }
        if fs::try_exists(&dest).await.unwrap_or(false) {
            // Same digest, same bytes: keep the stored copy; the drop removes the temp file.
            return Ok(());
        }
        fs::rename(&temp.path, &dest).await?;
        temp.committed = true;
        Ok(())
    }

    /// Opens a stored file for reading.
    pub async fn open(&self, key: &str) -> io::Result<fs::File> {
        // `ipfs/<hash>`: a record imported from the original whose file is still on IPFS.
        if key.starts_with("ipfs/") {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("{key} is not held by this server")));
        }
        fs::File::open(self.path_of(key)?).await
    }

    /// The path of a storage key; keys that are not content addresses are refused, so a
    /// value read from the database can never point outside the storage root.
    pub fn path_of(&self, key: &str) -> io::Result<PathBuf> {
        let valid = key
            .strip_prefix("sha256/")
            .map(|rest| rest.strip_suffix(THUMBNAIL_SUFFIX).unwrap_or(rest))
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(prefix, digest)| is_digest(digest) && digest.starts_with(prefix) && prefix.len() == 2);
        if !valid {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("not a storage key: {key:?}")));
        }
        Ok(self.root.join(key))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `sha256/<first two hex digits>/<digest>`.
pub fn content_key(sha256_hex: &str) -> io::Result<String> {
    if !is_digest(sha256_hex) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a lowercase SHA-256 hex digest"));
    }
    Ok(format!("sha256/{}/{}", &sha256_hex[..2], sha256_hex))
}

/// The suffix of a thumbnail beside its content.
const THUMBNAIL_SUFFIX: &str = ".thumb.png";

/// `sha256/<aa>/<digest>.thumb.png`: the thumbnail of the content `sha256_hex`.
pub fn thumbnail_key(sha256_hex: &str) -> io::Result<String> {
    Ok(format!("{}{THUMBNAIL_SUFFIX}", content_key(sha256_hex)?))
}

impl TempFile {
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        let file = self.file.as_mut().ok_or_else(|| io::Error::other("temporary file already closed"))?;
        file.write_all(chunk).await?;
        self.written += chunk.len() as u64;
        Ok(())
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            drop(self.file.take());
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn temp_root() -> PathBuf {
        std::env::temp_dir().join(format!("nyaya-storage-{}", crate::ids::random_hex(6)))
    }

    #[tokio::test]
    async fn commit_moves_to_the_content_address_and_dedupes() {
        let storage = Storage::new(temp_root());
        let digest = hex::encode(Sha256::digest(b"hello"));
        let mut a = storage.create_temp().await.unwrap();
        a.write(b"hel").await.unwrap();
        a.write(b"lo").await.unwrap();
        assert_eq!(a.written(), 5);
        let a_path = a.path().to_path_buf();
        let key = storage.commit(a, &digest).await.unwrap();
        assert_eq!(key, format!("sha256/{}/{}", &digest[..2], digest));
        assert!(!a_path.exists());
        assert_eq!(std::fs::read(storage.path_of(&key).unwrap()).unwrap(), b"hello");

        let mut b = storage.create_temp().await.unwrap();
        b.write(b"hello").await.unwrap();
        let b_path = b.path().to_path_buf();
        assert_eq!(storage.commit(b, &digest).await.unwrap(), key);
        assert!(!b_path.exists(), "a duplicate's temporary file is removed");
        let _ = std::fs::remove_dir_all(storage.root());
    }

    #[tokio::test]
    async fn dropped_temp_files_are_deleted() {
        let storage = Storage::new(temp_root());
        let mut t = storage.create_temp().await.unwrap();
        t.write(b"partial").await.unwrap();
        let path = t.path().to_path_buf();
        assert!(path.exists());
        drop(t);
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(storage.root());
    }

    #[test]
    fn keys_cannot_escape_the_root() {
        let storage = Storage::new("/srv/uploads");
        assert!(storage.path_of("../etc/passwd").is_err());
        assert!(storage.path_of("sha256/ab/../../x").is_err());
        let d = "ab".repeat(32);
        assert!(storage.path_of(&format!("sha256/ab/{d}")).is_ok());
        assert!(storage.path_of(&format!("sha256/cd/{d}")).is_err());
        assert!(storage.path_of(&format!("sha256/ab/{d}.thumb.png")).is_ok());
        assert!(storage.path_of(&format!("sha256/ab/{d}.png")).is_err());
        assert!(storage.path_of(&format!("sha256/ab/{d}.thumb.png.thumb.png")).is_err());
    }

    #[tokio::test]
    async fn thumbnails_live_beside_their_content() {
        let storage = Storage::new(temp_root());
        let digest = hex::encode(Sha256::digest(b"image bytes"));
        let key = storage.put_thumbnail(&digest, b"thumb").await.unwrap();
        assert_eq!(key, format!("sha256/{}/{digest}.thumb.png", &digest[..2]));
        assert_eq!(std::fs::read(storage.path_of(&key).unwrap()).unwrap(), b"thumb");
        // A second run keeps the first file and leaves no temporary file behind.
        assert_eq!(storage.put_thumbnail(&digest, b"thumb").await.unwrap(), key);
        assert_eq!(std::fs::read_dir(storage.root().join("tmp")).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(storage.root());
    }
}
