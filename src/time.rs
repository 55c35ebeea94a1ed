//! Timestamps are stored and served as ISO-8601 UTC with milliseconds
//! (`2024-05-01T10:00:00.000Z`): the frontend's format, and text that sorts chronologically
//! in SQLite and PostgreSQL alike.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time at millisecond precision, the precision it is stored and served with, so a
/// value read back equals the value written. Serialized as ISO-8601 UTC text.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp::from_datetime(Utc::now())
    }

    /// Truncated to the millisecond.
    pub fn from_datetime(t: DateTime<Utc>) -> Timestamp {
        Timestamp::from_millis(t.timestamp_millis()).unwrap_or(Timestamp(t))
    }

    pub fn from_millis(ms: i64) -> Option<Timestamp> {
        Utc.timestamp_millis_opt(ms).single().map(Timestamp)
    }

    pub fn millis(self) -> i64 {
        self.0.timestamp_millis()
    }

    pub fn datetime(self) -> DateTime<Utc> {
        self.0
    }

    /// `2024-05-01T10:00:00.000Z`.
    pub fn iso(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// RFC 3339 text in any offset and precision.
    pub fn parse(raw: &str) -> Option<Timestamp> {
        DateTime::parse_from_rfc3339(raw).ok().map(|t| Timestamp::from_datetime(t.with_timezone(&Utc)))
    }
}

impl std::ops::Add<TimeDelta> for Timestamp {
    type Output = Timestamp;
    fn add(self, span: TimeDelta) -> Timestamp {
        Timestamp::from_datetime(self.0 + span)
    }
}

impl std::ops::Sub<TimeDelta> for Timestamp {
    type Output = Timestamp;
    fn sub(self, span: TimeDelta) -> Timestamp {
        Timestamp::from_datetime(self.0 - span)
    }
}

impl std::ops::Sub for Timestamp {
    type Output = TimeDelta;
    fn sub(self, earlier: Timestamp) -> TimeDelta {
        self.0 - earlier.0
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Timestamp {
        Timestamp::from_datetime(t)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.iso())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.iso())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("not an RFC 3339 timestamp")]
pub struct InvalidTimestamp;

impl FromStr for Timestamp {
    type Err = InvalidTimestamp;
    fn from_str(raw: &str) -> Result<Timestamp, InvalidTimestamp> {
        Timestamp::parse(raw).ok_or(InvalidTimestamp)
    }
}

impl From<Timestamp> for String {
    fn from(t: Timestamp) -> String {
        t.iso()
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.iso())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse(&raw).ok_or_else(|| serde::de::Error::custom(InvalidTimestamp))
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::DateTime)))
            .examples(["2024-05-01T10:00:00.000Z"])
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

pub fn now() -> Timestamp {
    Timestamp::now()
}

pub fn iso(t: impl Into<Timestamp>) -> String {
    t.into().iso()
}

pub fn now_iso() -> String {
    Timestamp::now().iso()
}

pub fn parse(raw: &str) -> Option<Timestamp> {
    Timestamp::parse(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_milliseconds_in_utc_and_reads_back_equal() {
        let t = Timestamp::parse("2024-05-01T12:00:00.123456+02:00").unwrap();
        assert_eq!(t.iso(), "2024-05-01T10:00:00.123Z");
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"2024-05-01T10:00:00.123Z\"");
        let back: Timestamp = serde_json::from_str("\"2024-05-01T10:00:00.123Z\"").unwrap();
        assert_eq!(back, t);
        assert!(Timestamp::parse("yesterday").is_none());
        assert_eq!(Timestamp::from_millis(t.millis()), Some(t));
    }
}
