//! What an import did: counts per collection (read, written, already there, repaired,
//! skipped), rows per table, every reason with how often it occurred and a few examples, and
//! a report file with one line per finding (collection, id, outcome, reason, details), so
//! nothing is dropped silently. Also the progress line shown while a collection imports.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::map::{Note, Outcome};
use super::tables::Table;

/// Counts of one collection.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Documents read from the dump (readable or not).
    pub read: u64,
    /// Documents written now (in a dry run: that would be written).
    pub written: u64,
    /// Documents already in the database (an earlier run): left as they are.
    pub present: u64,
    /// Written documents with at least one repair.
    pub repaired: u64,
    /// Documents not written, with their reasons.
    pub skipped: u64,
}

/// How often one reason occurred, with the first few examples.
#[derive(Debug, Default, Clone)]
pub struct ReasonCount {
    pub count: u64,
    pub examples: Vec<String>,
}

const EXAMPLES: usize = 3;

/// The outcome of an import.
#[derive(Debug, Default)]
pub struct Summary {
    pub dry_run: bool,
    /// The database folder of the dump that was read.
    pub dump_dir: PathBuf,
    pub collections: Vec<(String, Tally)>,
    /// Rows written (or that would be) per table.
    pub rows: BTreeMap<Table, u64>,
    /// `(collection, outcome, reason)` to its count.
    pub reasons: BTreeMap<(String, Outcome, String), ReasonCount>,
    /// Files of the dump that were not imported, with why.
    pub ignored: Vec<(PathBuf, String)>,
    /// Collections of the original with no file in the dump.
    pub missing: Vec<String>,
    /// Files attached to documents imported earlier.
    pub files_attached: u64,
    /// Where every finding was written.
    pub report_path: Option<PathBuf>,
    pub elapsed: Duration,
    sink: Option<std::io::BufWriter<std::fs::File>>,
}

impl Summary {
    pub fn new(dry_run: bool, report_path: Option<PathBuf>) -> std::io::Result<Summary> {
        let sink = match &report_path {
            Some(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)?;
                }
                Some(std::io::BufWriter::new(std::fs::File::create(path)?))
            }
            None => None,
        };
        Ok(Summary { dry_run, report_path, sink, ..Summary::default() })
    }

    pub fn tally(&mut self, collection: &str) -> &mut Tally {
        if let Some(i) = self.collections.iter().position(|(c, _)| c == collection) {
            return &mut self.collections[i].1;
        }
        self.collections.push((collection.to_string(), Tally::default()));
        &mut self.collections.last_mut().expect("just pushed").1
    }

    pub fn get(&self, collection: &str) -> Tally {
        self.collections.iter().find(|(c, _)| c == collection).map(|(_, t)| *t).unwrap_or_default()
    }

    /// Records a finding about a document.
    pub fn note(&mut self, collection: &str, id: &str, note: &Note) {
        let entry = self.reasons.entry((collection.to_string(), note.outcome, note.reason.clone())).or_default();
        entry.count += 1;
        if entry.examples.len() < EXAMPLES {
            entry.examples.push(format!("{id}: {}", note.detail));
        }
        if let Some(sink) = self.sink.as_mut() {
            let outcome = match note.outcome {
                Outcome::Repaired => "repaired",
                Outcome::Skipped => "skipped",
            };
            let line = json!({"collection": collection, "id": id, "outcome": outcome, "reason": note.reason, "detail": note.detail});
            let _ = writeln!(sink, "{line}");
        }
    }

    pub fn finish(&mut self) -> std::io::Result<()> {
        match self.sink.as_mut() {
            Some(sink) => sink.flush(),
            None => Ok(()),
        }
    }

    /// The number of times a reason occurred in a collection (either outcome).
    pub fn count_of(&self, collection: &str, reason_starts_with: &str) -> u64 {
        self.reasons
            .iter()
            .filter(|((c, _, r), _)| c == collection && r.starts_with(reason_starts_with))
            .map(|(_, n)| n.count)
            .sum()
    }

    /// The final table and the reasons, as printed at the end of a run.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let verb = if self.dry_run { "would write" } else { "written" };
        let _ = writeln!(out, "{}import of {}", if self.dry_run { "dry run: " } else { "" }, self.dump_dir.display());
        let _ = writeln!(
            out,
            "{:<18} {:>10} {:>12} {:>10} {:>10} {:>10}",
            "collection", "read", verb, "present", "repaired", "skipped"
        );
        let mut total = Tally::default();
        for (c, t) in &self.collections {
            let _ = writeln!(
                out,
                "{:<18} {:>10} {:>12} {:>10} {:>10} {:>10}",
                c, t.read, t.written, t.present, t.repaired, t.skipped
            );
            total.read += t.read;
            total.written += t.written;
            total.present += t.present;
            total.repaired += t.repaired;
            total.skipped += t.skipped;
        }
        let _ = writeln!(
            out,
            "{:<18} {:>10} {:>12} {:>10} {:>10} {:>10}",
            "total", total.read, total.written, total.present, total.repaired, total.skipped
        );
        let rows: Vec<String> =
            self.rows.iter().filter(|(_, n)| **n > 0).map(|(t, n)| format!("{} {n}", t.name())).collect();
        if !rows.is_empty() {
            let _ = writeln!(out, "rows {verb}: {}", rows.join(", "));
        }
        if self.files_attached > 0 {
            let _ = writeln!(out, "files attached to documents imported earlier: {}", self.files_attached);
        }
        if !self.missing.is_empty() {
            let _ = writeln!(out, "not in the dump (nothing to import): {}", self.missing.join(", "));
        }
        for (path, why) in &self.ignored {
            let _ = writeln!(out, "not imported: {}: {why}", path.display());
        }
        for outcome in [Outcome::Skipped, Outcome::Repaired] {
            let title = match outcome {
                Outcome::Skipped => "skipped (not written)",
                Outcome::Repaired => "repaired (written)",
            };
            let mine: Vec<_> = self.reasons.iter().filter(|((_, o, _), _)| *o == outcome).collect();
            if mine.is_empty() {
                continue;
            }
            let _ = writeln!(out, "{title}:");
            for ((collection, _, reason), n) in mine {
                let _ = writeln!(out, "  {collection}: {reason} ({})", n.count);
                for e in &n.examples {
                    let _ = writeln!(out, "      {e}");
                }
            }
        }
        let _ = writeln!(
            out,
            "passwords are carried as their bcrypt hashes (upgraded to argon2 at each first sign-in); sessions and reset tokens are not: everybody signs in once"
        );
        if let Some(path) = &self.report_path {
            let _ = writeln!(out, "every finding, one per line: {}", path.display());
        }
        let _ = writeln!(out, "took {:.1}s", self.elapsed.as_secs_f64());
        out
    }
}

/// Live counters of the collection being imported.
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes of the file read so far.
    pub bytes: Arc<AtomicU64>,
    pub read: AtomicU64,
    pub written: AtomicU64,
}

/// Prints a progress line for `collection` until `done`: in place on a terminal, else a line
/// every 10 seconds (logs stay readable).
pub fn spawn_progress(
    collection: String,
    size: u64,
    progress: Arc<Progress>,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let tty = std::io::stderr().is_terminal();
        let started = Instant::now();
        let every = if tty { Duration::from_millis(500) } else { Duration::from_secs(10) };
        let mut last = Instant::now();
        loop {
            let finished = done.load(Ordering::Acquire);
            if finished || last.elapsed() >= every {
                last = Instant::now();
                let line = progress_line(&collection, size, &progress, started.elapsed());
                if tty {
                    eprint!("\r\x1b[2K{line}");
                    if finished {
                        eprintln!();
                    }
                } else if finished || started.elapsed() >= every {
                    eprintln!("{line}");
                }
            }
            if finished {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

fn progress_line(collection: &str, size: u64, p: &Progress, elapsed: Duration) -> String {
    let read = p.read.load(Ordering::Relaxed);
    let written = p.written.load(Ordering::Relaxed);
    let bytes = p.bytes.load(Ordering::Relaxed).min(size);
    let secs = elapsed.as_secs_f64().max(0.001);
    let fraction = if size == 0 { 1.0 } else { bytes as f64 / size as f64 };
    let width = 24;
    let filled = ((fraction * width as f64) as usize).min(width);
    let bar: String = "#".repeat(filled) + &"-".repeat(width - filled);
    let eta = if fraction > 0.0 && fraction < 1.0 {
        format!("{:.0}s", secs * (1.0 - fraction) / fraction)
    } else {
        "0s".into()
    };
    format!(
        "{collection:<18} [{bar}] {:>3}%  {read} read, {written} stored  {:.0} docs/s  ETA {eta}",
        (fraction * 100.0) as u32,
        read as f64 / secs
    )
}
