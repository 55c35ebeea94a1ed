//! `nyaya import-mongo`: takes over the original platform's data from a MongoDB dump.
//!
//! Layout:
//! - [`source`] finds the collection files of a `mongodump` folder (BSON, gzipped or not) or
//!   of `mongoexport` Extended JSON files, and streams their documents;
//! - [`value`] reads BSON values the way nyaya stores them (24-hex ids, ISO millisecond dates);
//! - [`map`] turns each collection's documents into nyaya's rows, repairing what breaks
//!   nyaya's rules where a safe reading exists and saying so;
//! - [`tables`] names the rows' tables and columns;
//! - [`report`] counts, explains and shows progress;
//! - [`synthetic`] writes dumps of the original's shape for benchmarks;
//! - this module runs the collections in dependency order and writes batches.
//!
//! Each batch of documents is one transaction, and a document whose id is already in the
//! database is left as it is: a second run changes nothing, and a run stopped anywhere is
//! completed by running it again. A document is never split across transactions (a chat and
//! all its messages commit together). A batch the database refuses is retried a document at
//! a time, so one bad document is reported and skipped without losing its neighbours.

pub mod map;
pub mod report;
pub mod source;
pub mod synthetic;
pub mod tables;
pub mod value;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, anyhow};

use crate::db::{Backend, Db, RowExt, Sql, Tx};
use map::{Files, Known, Mapped, Outcome};
use report::{Progress, Summary};
use tables::{Row, Table};

/// What to import and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// A `mongodump --out` folder, one database's folder of it, or a folder of
    /// `mongoexport` files.
    pub dump: PathBuf,
    /// The database folder to read when the dump holds several.
    pub database: Option<String>,
    /// Read and check everything, write nothing.
    pub dry_run: bool,
    /// A folder holding the documents' files named by their IPFS hash.
    pub files: Option<PathBuf>,
    /// nyaya's upload folder (where `--files` are copied).
    pub uploads: PathBuf,
    /// Where every finding is written (one JSON line each).
    pub report: Option<PathBuf>,
    /// Documents per transaction (a batch also closes at [`MAX_BATCH_ROWS`] rows).
    pub batch: usize,
    /// Stop after committing this many batches, as a killed run would (for testing resumption).
    pub stop_after_batches: Option<u64>,
    /// Show a progress line per collection on stderr.
    pub progress: bool,
}

impl Options {
    pub fn new(dump: impl Into<PathBuf>, uploads: impl Into<PathBuf>) -> Options {
        Options {
            dump: dump.into(),
            database: None,
            dry_run: false,
            files: None,
            uploads: uploads.into(),
            report: None,
            batch: 1000,
            stop_after_batches: None,
            progress: false,
        }
    }
}

/// Rows at which a batch closes even when it has fewer documents.
pub const MAX_BATCH_ROWS: usize = 20_000;

/// Parameters per statement. PostgreSQL takes up to 65,535; SQLite up to 32,766, but sqlx
/// finds each `$N` of a SQLite statement by a scan over the statement's parameter names, so
/// binding costs grow with the square of their number there (at 10,000 parameters binding took
/// 70% of an import's CPU): small statements are faster on SQLite.
fn max_params(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 800,
        Backend::Postgres => 30_000,
    }
}
const MAX_ROWS_PER_STATEMENT: usize = 500;

/// The page cache of the connection an import writes through (256 MiB).
const SQLITE_CACHE: &str = "PRAGMA cache_size = -262144";

/// The error of a run stopped by [`Options::stop_after_batches`].
#[derive(Debug, thiserror::Error)]
#[error("stopped after {0} batches as asked (--stop-after-batches); run the import again to complete it")]
pub struct Stopped(pub u64);

/// The main table of a collection: where a document's id is looked up.
fn main_table(collection: &str) -> Table {
    match collection {
        "users" => Table::Users,
        "directconnections" => Table::DirectConnections,
        "queries" | "disputes" => Table::Cases,
        "chats" => Table::Chats,
        "documents" => Table::Documents,
        _ => Table::Consultations,
    }
}

fn map_document(collection: &str, doc: &bson::Document, known: &mut Known, files: Option<&Files>) -> Mapped {
    match collection {
        "users" => map::user(doc, known),
        "directconnections" => map::connection(doc, known),
        "queries" => map::case(doc, "query", known),
        "disputes" => map::case(doc, "dispute", known),
        "chats" => map::chat(doc, known),
        "documents" => map::document(doc, known, files),
        _ => map::consultation(doc, known),
    }
}

/// Imports the dump into `db` (whose schema is migrated, except in a dry run).
pub async fn run(db: &Db, options: &Options) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let dump = source::discover(&options.dump, options.database.as_deref())?;
    let mut summary = Summary::new(options.dry_run, options.report.clone()).context("creating the report file")?;
    summary.dump_dir = dump.dir.clone();
    summary.ignored = dump.ignored.clone();
    summary.missing = source::COLLECTIONS.iter().filter(|c| dump.source(c).is_none()).map(|c| c.to_string()).collect();

    // A dry run against a database without nyaya's schema finds nothing there.
    let schema = db.count(&Sql::new("SELECT COUNT(*) FROM users")).await.is_ok();
    let mut known = if schema { load_known(db).await? } else { Known::default() };
    let files =
        options.files.clone().map(|from| Files { from, uploads: options.uploads.clone(), dry_run: options.dry_run });
    let mut writer =
        Writer { db, dry_run: options.dry_run, schema, batches: 0, stop_after: options.stop_after_batches };

    let outcome = async {
        for collection in source::COLLECTIONS {
            let Some(src) = dump.source(collection).cloned() else {
                continue;
            };
            known = import_collection(&mut writer, &mut summary, src, known, files.clone(), options).await?;
        }
        anyhow::Ok(())
    }
    .await;
    summary.elapsed = started.elapsed();
    summary.finish().context("writing the report file")?;
    outcome.map(|_| summary)
}

async fn import_collection(
    writer: &mut Writer<'_>,
    summary: &mut Summary,
    src: source::Source,
    known: Known,
    files: Option<Files>,
    options: &Options,
) -> anyhow::Result<Known> {
    let collection = src.collection.clone();
    summary.tally(&collection);
    let progress = Arc::new(Progress::default());
    let done = Arc::new(AtomicBool::new(false));
    let printer =
        options.progress.then(|| report::spawn_progress(collection.clone(), src.size, progress.clone(), done.clone()));

    // The reading and mapping run on a blocking thread, a batch ahead of the writer.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(4);
    let batch_docs = options.batch.max(1);
    let reader_progress = progress.clone();
    let reader = tokio::task::spawn_blocking(move || -> anyhow::Result<Known> {
        let mut known = known;
        let mut seen = std::collections::HashSet::<String>::new();
        let mut batch = Batch::default();
        let mut index = 0u64;
        let mut closed = false;
        source::for_each(&src, reader_progress.bytes.clone(), |doc| {
            index += 1;
            reader_progress.read.fetch_add(1, Ordering::Relaxed);
            match doc {
                Ok(doc) => {
                    let mut mapped = map_document(&src.collection, &doc, &mut known, files.as_ref());
                    if !mapped.skipped && !seen.insert(mapped.id.clone()) {
                        mapped = Mapped::duplicate(mapped.id);
                    }
                    batch.rows += mapped.rows.len();
                    batch.docs.push(mapped);
                }
                Err(bad) => batch.unreadable.push(bad),
            }
            if (batch.docs.len() >= batch_docs || batch.rows >= MAX_BATCH_ROWS)
                && tx.blocking_send(std::mem::take(&mut batch)).is_err()
            {
                closed = true;
                return false;
            }
            true
        })?;
        if !closed && (!batch.docs.is_empty() || !batch.unreadable.is_empty()) {
            let _ = tx.blocking_send(batch);
        }
        Ok(known)
    });

    let mut failure = None;
    while let Some(batch) = rx.recv().await {
        if let Err(e) = writer.write(&collection, batch, summary, &progress).await {
            failure = Some(e);
            break;
        }
    }
    drop(rx);
    let known = reader.await.map_err(|e| anyhow!("the reader of {collection} failed: {e}"));
    done.store(true, Ordering::Release);
    if let Some(printer) = printer {
        let _ = printer.join();
    }
    if let Some(e) = failure {
        return Err(e);
    }
    known?
}

/// Documents of one collection read together.
#[derive(Default)]
struct Batch {
    docs: Vec<Mapped>,
    rows: usize,
    unreadable: Vec<source::Unreadable>,
}

struct Writer<'a> {
    db: &'a Db,
    dry_run: bool,
    /// Whether the database has nyaya's schema (false only in a dry run on an empty database).
    schema: bool,
    batches: u64,
    stop_after: Option<u64>,
}

impl Writer<'_> {
    async fn write(
        &mut self,
        collection: &str,
        batch: Batch,
        summary: &mut Summary,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        let table = main_table(collection);
        let read = (batch.docs.len() + batch.unreadable.len()) as u64;
        summary.tally(collection).read += read;
        for bad in &batch.unreadable {
            let note = map::Note {
                outcome: Outcome::Skipped,
                reason: "unreadable document".into(),
                detail: bad.reason.clone(),
            };
            summary.note(collection, &bad.at, &note);
            summary.tally(collection).skipped += 1;
        }
        let mut candidates = Vec::new();
        for doc in batch.docs {
            if doc.skipped {
                for note in &doc.notes {
                    summary.note(collection, &doc.id, note);
                }
                summary.tally(collection).skipped += 1;
            } else {
                candidates.push(doc);
            }
        }
        let present = if self.schema { self.present(table, &candidates).await? } else { Default::default() };
        let (there, new): (Vec<Mapped>, Vec<Mapped>) = candidates.into_iter().partition(|d| present.contains(&d.id));
        for doc in &there {
            summary.tally(collection).present += 1;
            if let (Some((id, key)), false) = (&doc.attach_file, self.dry_run) {
                let sql = Sql::new("UPDATE documents SET storage_key = $2 WHERE id = $1 AND storage_key LIKE 'ipfs/%'")
                    .arg(id)
                    .arg(key);
                summary.files_attached += self.db.exec(&sql).await?;
            }
        }
        if self.dry_run {
            for doc in &new {
                record_written(collection, doc, summary);
            }
        } else {
            match self.insert(&new).await {
                Ok(()) => {
                    for doc in &new {
                        record_written(collection, doc, summary);
                    }
                }
                Err(e) if is_refusal(&e) => {
                    tracing::debug!(error = %e, "a batch of {collection} was refused; retrying its documents one by one");
                    for doc in &new {
                        match self.insert(std::slice::from_ref(doc)).await {
                            Ok(()) => record_written(collection, doc, summary),
                            Err(e) if is_refusal(&e) => {
                                let refused = map::Note {
                                    outcome: Outcome::Skipped,
                                    reason: "refused by the database".into(),
                                    detail: database_message(&e),
                                };
                                summary.note(collection, &doc.id, &refused);
                                summary.tally(collection).skipped += 1;
                            }
                            Err(e) => {
                                return Err(e).with_context(|| format!("writing {collection}"));
                            }
                        }
                    }
                }
                Err(e) => return Err(e).with_context(|| format!("writing {collection}")),
            }
            self.batches += 1;
        }
        let tally = summary.get(collection);
        progress.written.store(tally.written + tally.present, Ordering::Relaxed);
        if let Some(limit) = self.stop_after.filter(|limit| self.batches >= *limit) {
            return Err(Stopped(limit).into());
        }
        Ok(())
    }

    /// Ids of `docs` already in the database.
    async fn present(&self, table: Table, docs: &[Mapped]) -> anyhow::Result<std::collections::HashSet<String>> {
        let mut out = std::collections::HashSet::new();
        for chunk in docs.chunks(max_params(self.db.backend()).min(MAX_ROWS_PER_STATEMENT)) {
            let mut sql = Sql::new(format!("SELECT id FROM {} WHERE id IN (", table.name()));
            for (i, d) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.push_bind(d.id.as_str());
            }
            sql.push(")");
            for row in self.db.all(&sql).await? {
                out.insert(row.text("id")?);
            }
        }
        Ok(out)
    }

    /// Inserts the documents' rows, parents first, and runs their follow-up statements, in one
    /// transaction.
    async fn insert(&self, docs: &[Mapped]) -> Result<(), sqlx::Error> {
        if docs.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin().await?;
        if self.db.backend() == Backend::Sqlite {
            // SQLite's default page cache is 2 MB: the secondary indexes of a million
            // messages (by sender, by chat and time) then miss it at every insert.
            tx.exec(&Sql::new(SQLITE_CACHE)).await?;
        }
        let mut by_table: std::collections::BTreeMap<Table, Vec<&Row>> = std::collections::BTreeMap::new();
        for doc in docs {
            for row in &doc.rows {
                by_table.entry(row.table).or_default().push(row);
            }
        }
        for (t, rows) in by_table {
            insert_rows(&mut tx, self.db.backend(), t, &rows).await?;
        }
        for doc in docs {
            for sql in &doc.after {
                tx.exec(sql).await?;
            }
        }
        tx.commit().await
    }
}

fn record_written(collection: &str, doc: &Mapped, summary: &mut Summary) {
    let tally = summary.tally(collection);
    tally.written += 1;
    if !doc.notes.is_empty() {
        tally.repaired += 1;
    }
    for note in &doc.notes {
        summary.note(collection, &doc.id, note);
    }
    for row in &doc.rows {
        *summary.rows.entry(row.table).or_default() += 1;
    }
}

/// A refusal by the database (a constraint, a trigger): the document is at fault, not the run.
fn is_refusal(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(_))
}

fn database_message(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => db.message().to_string(),
        other => other.to_string(),
    }
}

/// Multi-row INSERTs of `rows` into `table`.
async fn insert_rows(tx: &mut Tx, backend: Backend, table: Table, rows: &[&Row]) -> Result<(), sqlx::Error> {
    let columns = table.columns();
    let per_statement = (max_params(backend) / columns.len()).clamp(1, MAX_ROWS_PER_STATEMENT);
    for chunk in rows.chunks(per_statement) {
        let mut text = format!("INSERT INTO {} ({}) VALUES ", table.name(), columns.join(", "));
        let mut n = 0;
        for (i, _) in chunk.iter().enumerate() {
            text.push_str(if i == 0 { "(" } else { ", (" });
            for (j, column) in columns.iter().enumerate() {
                n += 1;
                if j > 0 {
                    text.push_str(", ");
                }
                text.push_str(&table.placeholder(column, n));
            }
            text.push(')');
        }
        let mut sql = Sql::new(text);
        for row in chunk {
            for value in &row.values {
                sql = sql.arg(value.clone());
            }
        }
        tx.exec(&sql).await?;
    }
    Ok(())
}

/// What the database already holds that documents refer to or must not repeat.
async fn load_known(db: &Db) -> anyhow::Result<Known> {
    let mut known = Known::default();
    for row in db.all(&Sql::new("SELECT id, role, email FROM users")).await? {
        let id = row.text("id")?;
        known.emails.insert(row.text("email")?, id.clone());
        known.users.insert(id, row.text("role")?);
    }
    for row in db.all(&Sql::new("SELECT id, citizen_id, lawyer_id, chat_id FROM direct_connections")).await? {
        let (id, citizen, lawyer) = (row.text("id")?, row.text("citizen_id")?, row.text("lawyer_id")?);
        if let Some(chat) = row.text_opt("chat_id")? {
            known.connection_chats.insert(chat, id.clone());
        }
        known.pairs.insert((citizen.clone(), lawyer.clone()), id.clone());
        known.connections.insert(id, (citizen, lawyer));
    }
    for row in db.all(&Sql::new("SELECT id, case_type FROM cases")).await? {
        let case_type = if row.text("case_type")? == "dispute" { "dispute" } else { "query" };
        known.cases.insert(row.text("id")?, case_type);
    }
    for row in db.all(&Sql::new("SELECT id, chat_id FROM chats")).await? {
        known.chat_ids.insert(row.text("chat_id")?, row.text("id")?);
    }
    for row in
        db.all(&Sql::new("SELECT id, content_hash, document_type, related_id, storage_key FROM documents")).await?
    {
        let id = row.text("id")?;
        known
            .document_keys
            .insert((row.text("content_hash")?, row.text("document_type")?, row.text("related_id")?), id.clone());
        known.document_storage.insert(id, row.text("storage_key")?);
    }
    Ok(known)
}

/// The engine's name, for messages.
pub fn engine(db: &Db) -> &'static str {
    match db.backend() {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    }
}
