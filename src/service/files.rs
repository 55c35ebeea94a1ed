//! What an uploaded file really is, and the file-processing job (issue 6).
//!
//! An upload is answered as soon as its bytes are stored: the document is recorded as
//! `processing` ([`crate::service::documents::upload`]) and [`schedule_processing`] hands it
//! to [`process_document`], which does the authoritative work on the stored file: the digest
//! must be the recorded one, the bytes must agree with the declared type (magic numbers,
//! trailers, UTF-8 text, and images must decode within limits), images get a thumbnail, and
//! the document becomes `active` or `rejected` (with a reason). The uploader hears of it over
//! Socket.IO (`document_processed`).
//!
//! The [`Sniffer`] is the same while receiving (a quick refusal in the request) and in the job.

use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::Path;

use image::{ImageError, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};

use crate::domain::document::DocumentStatus;
use crate::ids::Id;
use crate::service::chats::view_json;
use crate::service::documents::{ProcessedEvent, storage, thumbnail_url};
use crate::state::AppState;
use crate::store::documents::{self as store, Checked, Document};
use crate::time::Timestamp;

/// Longest side of a thumbnail, in pixels.
pub const THUMBNAIL_MAX_SIDE: u32 = 256;
/// Images wider or taller than this are refused before decoding.
const MAX_IMAGE_SIDE: u32 = 16_384;
/// The most a decoded image may take in memory (a small file can declare a huge image).
const MAX_DECODED_BYTES: u64 = 128 * 1024 * 1024;

/// How many leading bytes are kept for magic-number checks.
const HEAD_LEN: usize = 64;
/// A PDF ends with `%%EOF` within its last KiB (readers look no further).
const PDF_TAIL: usize = 1024;
/// A ZIP (OOXML) ends with its end-of-central-directory record: 22 bytes plus a comment of
/// at most 65535.
const ZIP_TAIL: usize = 22 + 65_535;

const OLE2: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

pub const REASON_TYPE: &str = "File content does not match its declared type";
pub const REASON_HASH: &str = "Stored file does not match its content hash";
pub const REASON_IMAGE: &str = "Image could not be decoded";
pub const REASON_IMAGE_SIZE: &str = "Image is too large to process";

/// Incremental "valid UTF-8 without NUL" check for declared text files.
pub(crate) struct TextCheck {
    pending: Vec<u8>,
    ok: bool,
}

impl TextCheck {
    pub(crate) fn new() -> TextCheck {
        TextCheck { pending: Vec::new(), ok: true }
    }

    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        if !self.ok {
            return;
        }
        if chunk.contains(&0) {
            self.ok = false;
            return;
        }
        let mut buf = std::mem::take(&mut self.pending);
        buf.extend_from_slice(chunk);
        match std::str::from_utf8(&buf) {
            Ok(_) => {}
            // An incomplete sequence at the end may be completed by the next chunk.
            Err(e) if e.error_len().is_none() => self.pending = buf[e.valid_up_to()..].to_vec(),
            Err(_) => self.ok = false,
        }
    }

    pub(crate) fn finish(&self) -> bool {
        self.ok && self.pending.is_empty()
    }
}

/// Bytes of a file as they pass: digest, first bytes, last bytes (for types with a trailer)
/// and the text check (for text).
pub struct Sniffer {
    declared: String,
    hasher: Sha256,
    head: Vec<u8>,
    tail: Vec<u8>,
    tail_cap: usize,
    text: Option<TextCheck>,
    len: u64,
}

/// What a [`Sniffer`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sniffed {
    pub sha256: String,
    pub len: u64,
    /// Whether the bytes agree with the declared type.
    pub type_ok: bool,
}

impl Sniffer {
    /// `declared` is the lowercase type without parameters.
    pub fn new(declared: &str) -> Sniffer {
        let tail_cap = match declared {
            "application/pdf" => PDF_TAIL,
            DOCX | XLSX => ZIP_TAIL,
            _ => 0,
        };
        Sniffer {
            declared: declared.to_string(),
            hasher: Sha256::new(),
            head: Vec::with_capacity(HEAD_LEN),
            tail: Vec::new(),
            tail_cap,
            text: (declared == "text/plain").then(TextCheck::new),
            len: 0,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        if self.head.len() < HEAD_LEN {
            let take = (HEAD_LEN - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        if self.tail_cap > 0 {
            let from = chunk.len().saturating_sub(self.tail_cap);
            self.tail.extend_from_slice(&chunk[from..]);
            let excess = self.tail.len().saturating_sub(self.tail_cap);
            self.tail.drain(..excess);
        }
        if let Some(text) = &mut self.text {
            text.feed(chunk);
        }
        self.hasher.update(chunk);
        self.len += chunk.len() as u64;
    }

    pub fn finish(self) -> Sniffed {
        let text_ok = self.text.as_ref().is_some_and(TextCheck::finish);
        Sniffed {
            type_ok: content_matches(&self.declared, &self.head, &self.tail, text_ok),
            sha256: hex::encode(self.hasher.finalize()),
            len: self.len,
        }
    }
}

/// Whether the content agrees with the declared type: magic numbers, trailers of PDF and
/// ZIP files, UTF-8 text.
fn content_matches(mime: &str, head: &[u8], tail: &[u8], text_ok: bool) -> bool {
    match mime {
        "application/pdf" => head.starts_with(b"%PDF-") && tail.windows(5).any(|w| w == b"%%EOF"),
        "image/jpeg" => head.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/png" => head.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/gif" => head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a"),
        "application/msword" | "application/vnd.ms-excel" => head.starts_with(OLE2),
        DOCX | XLSX => head.starts_with(b"PK\x03\x04") && has_zip_end(tail),
        "text/plain" => text_ok,
        _ => false,
    }
}

/// Whether a ZIP's last bytes hold its end-of-central-directory record.
fn has_zip_end(tail: &[u8]) -> bool {
    tail.windows(4).rposition(|w| w == b"PK\x05\x06").is_some_and(|at| tail.len() - at >= 22)
}

/// The decoder of a declared image type.
fn image_format(mime: &str) -> Option<ImageFormat> {
    match mime {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/gif" => Some(ImageFormat::Gif),
        _ => None,
    }
}

/// The limits every image is decoded under.
fn decode_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    limits
}

/// What checking a stored file found.
#[derive(Debug)]
pub enum Verdict {
    /// The content is what it claims; images come with a PNG thumbnail.
    Accepted {
        thumbnail: Option<Vec<u8>>,
    },
    Rejected(&'static str),
}

/// Decodes an image under `limits` and renders its thumbnail as PNG (no larger than the
/// image itself). Err only for a failure to read, never for bad content.
fn thumbnail(reader: impl BufRead + Seek, format: ImageFormat, limits: Limits) -> io::Result<Verdict> {
    let mut decoder = ImageReader::with_format(reader, format);
    decoder.limits(limits);
    let image = match decoder.decode() {
        Ok(image) => image,
        Err(ImageError::Limits(_)) => return Ok(Verdict::Rejected(REASON_IMAGE_SIZE)),
        // Truncated or malformed data surfaces as an I/O error from some decoders.
        Err(ImageError::IoError(e))
            if !matches!(e.kind(), io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData) =>
        {
            return Err(e);
        }
        Err(_) => return Ok(Verdict::Rejected(REASON_IMAGE)),
    };
    let small = if image.width() > THUMBNAIL_MAX_SIDE || image.height() > THUMBNAIL_MAX_SIDE {
        image.thumbnail(THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE)
    } else {
        image
    };
    let mut png = io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgba8(small.to_rgba8()).write_to(&mut png, ImageFormat::Png).map_err(io::Error::other)?;
    Ok(Verdict::Accepted { thumbnail: Some(png.into_inner()) })
}

/// Checks a stored file (blocking: run it off the async threads). Err only for a failure
/// to read.
pub fn inspect(path: &Path, declared: &str, expected_sha256: &str) -> io::Result<Verdict> {
    inspect_with(path, declared, expected_sha256, decode_limits())
}

fn inspect_with(path: &Path, declared: &str, expected_sha256: &str, limits: Limits) -> io::Result<Verdict> {
    let mut file = std::fs::File::open(path)?;
    let mut sniffer = Sniffer::new(declared);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sniffer.feed(&buf[..n]);
    }
    let sniffed = sniffer.finish();
    if sniffed.sha256 != expected_sha256 {
        return Ok(Verdict::Rejected(REASON_HASH));
    }
    if !sniffed.type_ok {
        return Ok(Verdict::Rejected(REASON_TYPE));
    }
    match image_format(declared) {
        Some(format) => {
            file.rewind()?;
            thumbnail(BufReader::new(file), format, limits)
        }
        None => Ok(Verdict::Accepted { thumbnail: None }),
    }
}

/// What [`process_document`] left the document as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessOutcome {
    /// The content checked out; images have a thumbnail (its storage key).
    Active { thumbnail_key: Option<String> },
    /// The content is not what the upload claimed; the reason is on the record.
    Rejected { reason: String },
    /// Missing or deleted: nothing to do.
    Gone,
}

impl ProcessOutcome {
    /// The outcome a finished document records.
    fn of(doc: &Document) -> ProcessOutcome {
        match doc.status {
            DocumentStatus::Active => ProcessOutcome::Active { thumbnail_key: doc.thumbnail_key.clone() },
            DocumentStatus::Rejected => {
                ProcessOutcome::Rejected { reason: doc.status_reason.clone().unwrap_or_default() }
            }
            _ => ProcessOutcome::Gone,
        }
    }
}

/// Queues the check of freshly stored documents. The upload path calls only this.
pub async fn schedule_processing(state: &AppState, ids: Vec<Id>) {
    use crate::jobs::{Queue, When};
    use crate::service::background::FileJob;
    let jobs: anyhow::Result<Vec<_>> = ids
        .iter()
        .map(|id| state.jobs.new_job(Queue::Files, &FileJob { document_id: id.clone() }, When::Now))
        .collect();
    let queued = match jobs {
        Ok(jobs) => state.jobs.push_all(jobs).await,
        Err(e) => Err(e),
    };
    if let Err(e) = queued {
        // The files are stored: process them here rather than leave them `processing`.
        tracing::error!(error = %format!("{e:#}"), "file queue unavailable; processing in this process instead");
        for id in ids {
            let state = state.clone();
            tokio::spawn(async move {
                if let Err(e) = process_document(&state, &id).await {
                    tracing::error!(document = %id, error = %format!("{e:#}"), "processing a document failed");
                }
            });
        }
    }
}

/// Queues the check of every document still `processing`, when job workers start. Its job may
/// be gone while the record says `processing`: a restore from a backup whose job store was
/// copied after the job finished, a job store replaced or lost. Checking is idempotent, so a
/// document whose job is still queued is only checked twice.
pub async fn resume_processing(state: &AppState) {
    match store::processing_ids(&state.db).await {
        Ok(ids) if ids.is_empty() => {}
        Ok(ids) => {
            tracing::info!(documents = ids.len(), "queueing the check of documents still processing");
            schedule_processing(state, ids).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "listing documents still processing failed; they are checked at next start")
        }
    }
}

/// Checks a `processing` document's stored file and marks it `active` or `rejected`, then
/// tells the uploader (`document_processed`). Idempotent: a document no longer `processing`
/// is left alone and its outcome returned. Bad content is `Ok(Rejected)`; Err means a
/// transient failure (storage, database) worth a retry.
pub async fn process_document(state: &AppState, id: &Id) -> anyhow::Result<ProcessOutcome> {
    let Some(doc) = store::get(&state.db, id).await? else {
        return Ok(ProcessOutcome::Gone);
    };
    if !doc.is_processing() {
        return Ok(ProcessOutcome::of(&doc));
    }
    let storage = storage(state);
    let path = storage.path_of(&doc.storage_key)?;
    let (mime, hash) = (doc.mime_type.clone(), doc.content_hash.clone());
    let verdict = tokio::task::spawn_blocking(move || inspect(&path, &mime, &hash)).await??;
    let outcome = match verdict {
        Verdict::Accepted { thumbnail: Some(png) } => {
            ProcessOutcome::Active { thumbnail_key: Some(storage.put_thumbnail(&doc.content_hash, &png).await?) }
        }
        Verdict::Accepted { thumbnail: None } => ProcessOutcome::Active { thumbnail_key: None },
        Verdict::Rejected(reason) => ProcessOutcome::Rejected { reason: reason.to_string() },
    };
    let checked = match &outcome {
        ProcessOutcome::Active { thumbnail_key } => {
            Checked { status: DocumentStatus::Active, reason: None, thumbnail_key: thumbnail_key.as_deref() }
        }
        ProcessOutcome::Rejected { reason } => {
            Checked { status: DocumentStatus::Rejected, reason: Some(reason), thumbnail_key: None }
        }
        ProcessOutcome::Gone => unreachable!("a verdict is active or rejected"),
    };
    if !store::finish_processing(&state.db, id, &checked, Timestamp::now()).await? {
        // Deleted, or finished by another run, meanwhile: report what is recorded.
        return Ok(store::get(&state.db, id).await?.map_or(ProcessOutcome::Gone, |d| ProcessOutcome::of(&d)));
    }
    // Nothing cached depends on documents (docs/api.md 3.12), so there are no tags to invalidate.
    tracing::info!(document = %id, status = checked.status.as_str(), reason = checked.reason, "document processed");
    let event = ProcessedEvent {
        document_id: &doc.id,
        status: checked.status,
        original_name: &doc.original_name,
        document_type: doc.document_type,
        related_id: &doc.related_id,
        reason: checked.reason,
        thumbnail_url: checked.thumbnail_key.map(|_| thumbnail_url(&doc.id)),
    };
    state.notifier.to_user(&doc.uploaded_by, "document_processed", view_json(event));
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff(mime: &str, chunks: &[&[u8]]) -> Sniffed {
        let mut s = Sniffer::new(mime);
        for c in chunks {
            s.feed(c);
        }
        s.finish()
    }

    fn matches(mime: &str, bytes: &[u8]) -> bool {
        sniff(mime, &[bytes]).type_ok
    }

    /// A `w`×`h` image encoded as `format`.
    fn encoded(w: u32, h: u32, format: ImageFormat) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let mut out = io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(img).write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn temp_file(bytes: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("nyaya-files-{}", crate::ids::random_hex(6)));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn digest(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// The thumbnail of an inspected file, or the rejection reason.
    fn inspected(bytes: &[u8], mime: &str, limits: Limits) -> Result<Option<Vec<u8>>, &'static str> {
        let path = temp_file(bytes);
        let verdict = inspect_with(&path, mime, &digest(bytes), limits).unwrap();
        let _ = std::fs::remove_file(path);
        match verdict {
            Verdict::Accepted { thumbnail } => Ok(thumbnail),
            Verdict::Rejected(reason) => Err(reason),
        }
    }

    #[test]
    fn sniffing_matches_declared_types() {
        assert!(matches("application/pdf", b"%PDF-1.7\n1 0 obj endobj\n%%EOF\n"));
        assert!(!matches("application/pdf", b"%PDF-1.7\n1 0 obj endobj\n"), "a truncated PDF has no trailer");
        assert!(!matches("application/pdf", b"\x7fELF\x02\x01\x01"));
        assert!(!matches("application/pdf", b"MZ\x90\x00"));
        assert!(matches("image/png", b"\x89PNG\r\n\x1a\n...."));
        assert!(matches("application/msword", &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0]));
        let mut zip = b"PK\x03\x04 entries... ".to_vec();
        zip.extend_from_slice(b"PK\x05\x06");
        zip.extend_from_slice(&[0; 18]);
        assert!(matches(DOCX, &zip));
        assert!(!matches(DOCX, &zip[..zip.len() - 1]), "the end record is cut short");
        assert!(!matches(XLSX, b"PK\x03\x04 no central directory"));
        assert!(!matches("image/jpeg", b"GIF89a"));
        assert!(!matches("application/x-msdownload", b"MZ"));
    }

    #[test]
    fn the_tail_is_kept_across_chunks() {
        let mut pdf = b"%PDF-1.4\n".to_vec();
        pdf.extend(std::iter::repeat_n(b'x', 5000));
        pdf.extend_from_slice(b"\n%%EOF\n");
        let whole = sniff("application/pdf", &[&pdf]);
        let chunks: Vec<&[u8]> = pdf.chunks(7).collect();
        let pieces = sniff("application/pdf", &chunks);
        assert!(whole.type_ok && pieces.type_ok);
        assert_eq!(whole, pieces);
        assert_eq!(whole.sha256, digest(&pdf));
        assert_eq!(whole.len, pdf.len() as u64);
        // `%%EOF` further than a KiB from the end does not count.
        let mut late = pdf.clone();
        late.extend(std::iter::repeat_n(b' ', 2000));
        assert!(!sniff("application/pdf", &[&late]).type_ok);
    }

    #[test]
    fn text_must_be_utf8_without_nul() {
        let mut t = TextCheck::new();
        let snowman = "☃".as_bytes();
        t.feed(&snowman[..1]);
        t.feed(&snowman[1..]);
        assert!(t.finish());
        let mut cut = TextCheck::new();
        cut.feed(&snowman[..2]);
        assert!(!cut.finish(), "a truncated sequence at the end is invalid");
        let mut nul = TextCheck::new();
        nul.feed(b"abc\0def");
        assert!(!nul.finish());
        let mut bad = TextCheck::new();
        bad.feed(&[0xff, 0x41]);
        assert!(!bad.finish());
        assert!(matches("text/plain", "Namaste ☃".as_bytes()));
    }

    #[test]
    fn images_get_a_png_thumbnail_within_the_size() {
        for format in [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Gif] {
            let mime = format.to_mime_type();
            let thumb = inspected(&encoded(600, 300, format), mime, decode_limits()).unwrap().expect("a thumbnail");
            let t = image::load_from_memory_with_format(&thumb, ImageFormat::Png).unwrap();
            assert_eq!((t.width(), t.height()), (256, 128), "{mime}");
        }
        // Small images are not enlarged.
        let thumb = inspected(&encoded(40, 20, ImageFormat::Png), "image/png", decode_limits()).unwrap().unwrap();
        let t = image::load_from_memory(&thumb).unwrap();
        assert_eq!((t.width(), t.height()), (40, 20));
    }

    #[test]
    fn a_file_that_only_starts_like_an_image_is_rejected() {
        let mut fake = b"\x89PNG\r\n\x1a\n".to_vec();
        fake.extend_from_slice(b"this is not really an image");
        assert_eq!(inspected(&fake, "image/png", decode_limits()), Err(REASON_IMAGE));
        let png = encoded(64, 64, ImageFormat::Png);
        assert_eq!(inspected(&png[..png.len() / 2], "image/png", decode_limits()), Err(REASON_IMAGE), "truncated");
        assert_eq!(inspected(&png, "image/jpeg", decode_limits()), Err(REASON_TYPE));
        assert_eq!(inspected(b"%PDF-1.4\n%%EOF", "application/pdf", decode_limits()), Ok(None));
    }

    #[test]
    fn an_image_larger_than_the_limits_is_refused_before_decoding() {
        let png = encoded(64, 64, ImageFormat::Png);
        let mut small_alloc = Limits::default();
        small_alloc.max_alloc = Some(1024);
        assert_eq!(inspected(&png, "image/png", small_alloc), Err(REASON_IMAGE_SIZE));
        let mut narrow = decode_limits();
        narrow.max_image_width = Some(32);
        assert_eq!(inspected(&png, "image/png", narrow), Err(REASON_IMAGE_SIZE));
    }

    #[test]
    fn a_stored_file_that_differs_from_its_hash_is_rejected() {
        let path = temp_file(b"%PDF-1.4\n%%EOF");
        let verdict = inspect(&path, "application/pdf", &digest(b"something else")).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(matches!(verdict, Verdict::Rejected(REASON_HASH)));
        assert!(inspect(&path, "application/pdf", &digest(b"")).is_err(), "a missing file is an I/O error");
    }
}
