//! Where a dump's documents come from: the files of one database as `mongodump` writes them
//! (`<collection>.bson`, gzipped as `<collection>.bson.gz` by `--gzip`, each beside its
//! `<collection>.metadata.json`), or as `mongoexport` writes them (`<collection>.json`,
//! Extended JSON, canonical or relaxed, one document per line or one JSON array).
//!
//! Files are read as streams: a document at a time, so a dump larger than memory imports.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use bson::Document;

/// The collections the original's Mongoose models write (model names, pluralized), in the
/// order they are imported: every collection after the ones it refers to.
pub const COLLECTIONS: &[&str] =
    &["users", "directconnections", "queries", "disputes", "chats", "documents", "consultations"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    /// `mongodump`: BSON documents back to back.
    Bson,
    /// `mongoexport`: Extended JSON, a document per line or a JSON array.
    ExtJson,
}

/// One collection's data file.
#[derive(Debug, Clone)]
pub struct Source {
    pub collection: String,
    pub path: PathBuf,
    pub format: Format,
    pub gzip: bool,
    /// Bytes on disk (compressed when gzipped): what progress is measured against.
    pub size: u64,
}

/// The files found in a dump folder.
#[derive(Debug, Default)]
pub struct Dump {
    /// The folder the files are in (the database's folder of a `mongodump --out` tree).
    pub dir: PathBuf,
    /// Data files of the seven collections, in import order.
    pub sources: Vec<Source>,
    /// Files that are not imported, with why (other collections, a second copy...).
    pub ignored: Vec<(PathBuf, String)>,
}

impl Dump {
    pub fn source(&self, collection: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.collection == collection)
    }
}

/// What a file name says: `(collection, format, gzip)`, or `None` for files that are not
/// collection data (metadata, prelude, anything else).
fn classify(name: &str) -> Option<(String, Format, bool)> {
    let (name, gzip) = match name.strip_suffix(".gz") {
        Some(rest) => (rest, true),
        None => (name, false),
    };
    if name.ends_with(".metadata.json") || name == "prelude.json" {
        return None;
    }
    for (ext, format) in
        [(".bson", Format::Bson), (".json", Format::ExtJson), (".jsonl", Format::ExtJson), (".ndjson", Format::ExtJson)]
    {
        if let Some(stem) = name.strip_suffix(ext)
            && !stem.is_empty()
        {
            return Some((stem.to_string(), format, gzip));
        }
    }
    None
}

fn data_files(dir: &Path) -> io::Result<Vec<(PathBuf, String, Format, bool)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some((collection, format, gzip)) = classify(&name) {
            out.push((entry.path(), collection, format, gzip));
        }
    }
    out.sort();
    Ok(out)
}

/// Finds the data files under `dir`: the folder itself, or the one database folder in it
/// (`mongodump --out DIR` writes `DIR/<database>/`); `database` picks one when there are several.
pub fn discover(dir: &Path, database: Option<&str>) -> anyhow::Result<Dump> {
    if !dir.is_dir() {
        bail!("{} is not a folder (expected the output folder of mongodump or mongoexport files)", dir.display());
    }
    let db_dir = match database {
        Some(name) => {
            let sub = dir.join(name);
            if sub.is_dir() { sub } else { dir.to_path_buf() }
        }
        None => {
            let here = data_files(dir)?;
            if here.iter().any(|f| COLLECTIONS.contains(&f.1.as_str())) {
                dir.to_path_buf()
            } else {
                let mut candidates = Vec::new();
                for entry in std::fs::read_dir(dir)? {
                    let entry = entry?;
                    if entry.file_type()?.is_dir()
                        && data_files(&entry.path())?.iter().any(|f| COLLECTIONS.contains(&f.1.as_str()))
                    {
                        candidates.push(entry.path());
                    }
                }
                candidates.sort();
                match candidates.len() {
                    0 => {
                        bail!("no data of the original's collections ({}) in {}", COLLECTIONS.join(", "), dir.display())
                    }
                    1 => candidates.remove(0),
                    _ => bail!(
                        "{} holds several databases ({}); name one with --db",
                        dir.display(),
                        candidates
                            .iter()
                            .filter_map(|p| p.file_name())
                            .map(|n| n.to_string_lossy().into_owned())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            }
        }
    };
    let mut dump = Dump { dir: db_dir.clone(), ..Dump::default() };
    let files = data_files(&db_dir).with_context(|| format!("reading {}", db_dir.display()))?;
    for collection in COLLECTIONS {
        // mongodump's BSON first: it is exact (types included) where JSON may not be.
        let mut mine: Vec<_> = files.iter().filter(|f| f.1 == *collection).collect();
        mine.sort_by_key(|f| (f.2 != Format::Bson, f.3, f.0.clone()));
        let mut chosen = false;
        for (path, _, format, gzip) in mine {
            if chosen {
                dump.ignored.push((path.clone(), format!("a second file of {collection}; the first one is imported")));
                continue;
            }
            if metadata_says_view(&db_dir, collection) {
                dump.ignored.push((path.clone(), "a view, not a collection".into()));
                continue;
            }
            let size = std::fs::metadata(path)?.len();
            dump.sources.push(Source {
                collection: collection.to_string(),
                path: path.clone(),
                format: *format,
                gzip: *gzip,
                size,
            });
            chosen = true;
        }
    }
    for (path, collection, _, _) in &files {
        if !COLLECTIONS.contains(&collection.as_str()) {
            dump.ignored.push((path.clone(), format!("collection {collection:?} is not one of the original's models")));
        }
    }
    Ok(dump)
}

/// Whether `<collection>.metadata.json(.gz)` declares a view (`"type": "view"`).
fn metadata_says_view(dir: &Path, collection: &str) -> bool {
    let plain = dir.join(format!("{collection}.metadata.json"));
    let zipped = dir.join(format!("{collection}.metadata.json.gz"));
    let text = if plain.is_file() {
        std::fs::read_to_string(plain).ok()
    } else if zipped.is_file() {
        File::open(zipped).ok().and_then(|f| {
            let mut s = String::new();
            flate2::read::MultiGzDecoder::new(f).read_to_string(&mut s).ok().map(|_| s)
        })
    } else {
        None
    };
    text.and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|m| m.get("type").and_then(|t| t.as_str()) == Some("view"))
}

/// Counts the bytes read from the file (before decompression), for progress.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A document that could not be read, with where it was.
#[derive(Debug, Clone)]
pub struct Unreadable {
    /// "document 12 (byte 3456)" or "line 7".
    pub at: String,
    pub reason: String,
}

/// The largest document MongoDB stores is 16 MiB; anything much larger is a broken frame.
const MAX_DOCUMENT: usize = 48 * 1024 * 1024;

fn open(source: &Source, bytes: Arc<AtomicU64>) -> io::Result<Box<dyn BufRead>> {
    let file = Counting { inner: File::open(&source.path)?, read: bytes };
    Ok(if source.gzip {
        Box::new(BufReader::with_capacity(1 << 20, flate2::read::MultiGzDecoder::new(BufReader::new(file))))
    } else {
        Box::new(BufReader::with_capacity(1 << 20, file))
    })
}

/// Calls `each` with every document of the file, in file order, or with why one could not be
/// read. `each` returns false to stop early. `bytes` counts the file's bytes as they are read.
pub fn for_each(
    source: &Source,
    bytes: Arc<AtomicU64>,
    mut each: impl FnMut(Result<Document, Unreadable>) -> bool,
) -> anyhow::Result<()> {
    let reader = open(source, bytes).with_context(|| format!("opening {}", source.path.display()))?;
    match source.format {
        Format::Bson => read_bson(reader, &mut each),
        Format::ExtJson => read_extjson(reader, &mut each),
    }
    .with_context(|| format!("reading {}", source.path.display()))
}

fn read_bson(
    mut reader: Box<dyn BufRead>,
    each: &mut dyn FnMut(Result<Document, Unreadable>) -> bool,
) -> io::Result<()> {
    let mut offset: u64 = 0;
    let mut index: u64 = 0;
    let mut buf = Vec::new();
    loop {
        let mut len_bytes = [0u8; 4];
        let got = read_full(&mut reader, &mut len_bytes)?;
        if got == 0 {
            return Ok(());
        }
        index += 1;
        let at = format!("document {index} (byte {offset})");
        if got < 4 {
            each(Err(Unreadable { at, reason: "the file ends inside a document (truncated dump)".into() }));
            return Ok(());
        }
        let len = i32::from_le_bytes(len_bytes);
        if len < 5 || len as usize > MAX_DOCUMENT {
            each(Err(Unreadable {
                at,
                reason: format!("invalid document length {len}: the rest of the file cannot be read"),
            }));
            return Ok(());
        }
        buf.clear();
        buf.extend_from_slice(&len_bytes);
        buf.resize(len as usize, 0);
        let body = read_full(&mut reader, &mut buf[4..])?;
        if body < len as usize - 4 {
            each(Err(Unreadable { at, reason: "the file ends inside a document (truncated dump)".into() }));
            return Ok(());
        }
        offset += len as u64;
        let doc = Document::from_reader(&buf[..])
            .map_err(|e| Unreadable { at, reason: format!("not a valid BSON document: {e}") });
        if !each(doc) {
            return Ok(());
        }
    }
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Extended JSON (canonical or relaxed) to a BSON document.
pub fn from_extjson(value: serde_json::Value) -> Result<Document, String> {
    match bson::Bson::try_from(value) {
        Ok(bson::Bson::Document(doc)) => Ok(doc),
        Ok(other) => Err(format!("not a document but {:?}", other.element_type())),
        Err(e) => Err(format!("not valid Extended JSON: {e}")),
    }
}

fn read_extjson(
    mut reader: Box<dyn BufRead>,
    each: &mut dyn FnMut(Result<Document, Unreadable>) -> bool,
) -> io::Result<()> {
    // A JSON array (`mongoexport --jsonArray`) or a document per line (the default).
    let first = loop {
        let buf = reader.fill_buf()?;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let b = buf[i];
                reader.consume(i);
                break Some(b);
            }
            None if buf.is_empty() => break None,
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    };
    match first {
        None => Ok(()),
        Some(b'[') => read_json_array(reader, each),
        Some(_) => {
            let mut line = String::new();
            let mut number = 0u64;
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                number += 1;
                let text = line.trim();
                if text.is_empty() {
                    continue;
                }
                let at = format!("line {number}");
                let doc = serde_json::from_str::<serde_json::Value>(text)
                    .map_err(|e| format!("not JSON: {e}"))
                    .and_then(from_extjson)
                    .map_err(|reason| Unreadable { at, reason });
                if !each(doc) {
                    return Ok(());
                }
            }
        }
    }
}

/// Streams the elements of a top-level JSON array, one at a time.
fn read_json_array(
    reader: Box<dyn BufRead>,
    each: &mut dyn FnMut(Result<Document, Unreadable>) -> bool,
) -> io::Result<()> {
    use serde::de::{Deserializer as _, SeqAccess, Visitor};

    struct Elements<'a> {
        each: &'a mut dyn FnMut(Result<Document, Unreadable>) -> bool,
        stopped: &'a mut bool,
    }

    impl<'de> Visitor<'de> for Elements<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array of documents")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut index = 0u64;
            while let Some(value) = seq.next_element::<serde_json::Value>()? {
                index += 1;
                let doc =
                    from_extjson(value).map_err(|reason| Unreadable { at: format!("array element {index}"), reason });
                if !(self.each)(doc) {
                    // Stop reading: the rest of the array is left unparsed.
                    *self.stopped = true;
                    return Ok(());
                }
            }
            Ok(())
        }
    }

    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut stopped = false;
    let outcome = de.deserialize_seq(Elements { each: &mut *each, stopped: &mut stopped });
    if let (Err(e), false) = (outcome, stopped) {
        each(Err(Unreadable { at: format!("line {}", e.line()), reason: format!("the JSON array breaks off: {e}") }));
    }
    Ok(())
}
