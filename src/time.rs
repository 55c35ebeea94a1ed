//! Timestamps are stored and served as ISO-8601 UTC with milliseconds
//! (`2024-05-01T10:00:00.000Z`): the frontend's format, and text that sorts chronologically
//! in SQLite and PostgreSQL alike.

use chrono::{DateTime, SecondsFormat, Utc};

pub type Timestamp = DateTime<Utc>;

pub fn now() -> Timestamp {
    Utc::now()
}

pub fn iso(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn now_iso() -> String {
    iso(now())
}

pub fn parse(raw: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(raw).ok().map(|t| t.with_timezone(&Utc))
}
