//! Reading the fields of a MongoDB document the way nyaya stores them: ids as 24-hex text,
//! dates as ISO-8601 UTC with milliseconds (exact: BSON dates are milliseconds), nested
//! documents as JSON with the same conversions inside.
//!
//! The original's data is not uniform: ids appear as ObjectIds, as 24-hex strings, and
//! (where a populated document was written back) as `{_id: ...}`; dates as BSON dates or as
//! strings. Every reader here accepts all of them.

use std::collections::BTreeSet;

use bson::{Bson, Document};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Milliseconds since the epoch to nyaya's timestamp text.
pub fn iso_millis(ms: i64) -> Option<String> {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms).map(crate::time::iso)
}

/// An id as nyaya stores it, from an ObjectId, a 24-hex string, or a populated `{_id}`.
pub fn id_of(value: &Bson) -> Option<String> {
    match value {
        Bson::ObjectId(oid) => Some(oid.to_hex()),
        Bson::String(s) if crate::ids::Id::is_valid(s.trim()) => Some(s.trim().to_ascii_lowercase()),
        Bson::Document(d) => d.get("_id").or_else(|| d.get("$oid")).and_then(id_of),
        _ => None,
    }
}

/// A stable 24-hex id derived from `seed`: for records whose own id is missing or is not an
/// ObjectId. The same input always gives the same id, so a second run finds the same rows.
pub fn derived_id(seed: &str) -> String {
    let digest = Sha256::digest(format!("nyaya-import:{seed}").as_bytes());
    hex::encode(&digest[..12])
}

/// The text of any value, for messages (ids and dates as nyaya writes them).
pub fn describe(value: &Bson) -> String {
    match value {
        Bson::String(s) => format!("{s:?}"),
        other => to_json(other).to_string(),
    }
}

/// A date, from a BSON date, an ISO-8601 string, or milliseconds since the epoch.
pub fn date_of(value: &Bson) -> Option<String> {
    match value {
        Bson::DateTime(d) => iso_millis(d.timestamp_millis()),
        Bson::String(s) => crate::time::parse(s.trim()).map(crate::time::iso),
        Bson::Int64(ms) => iso_millis(*ms),
        Bson::Int32(ms) => iso_millis(i64::from(*ms)),
        Bson::Double(ms) if ms.is_finite() => iso_millis(*ms as i64),
        Bson::Timestamp(ts) => iso_millis(i64::from(ts.time) * 1000),
        _ => None,
    }
}

/// A number, from any BSON number or a numeric string.
pub fn number_of(value: &Bson) -> Option<f64> {
    match value {
        Bson::Int32(n) => Some(f64::from(*n)),
        Bson::Int64(n) => Some(*n as f64),
        Bson::Double(n) if n.is_finite() => Some(*n),
        Bson::Decimal128(d) => d.to_string().parse().ok(),
        Bson::String(s) => s.trim().parse().ok().filter(|n: &f64| n.is_finite()),
        _ => None,
    }
}

/// A JSON number the way JavaScript prints it: whole numbers without a fraction.
pub fn json_number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 { json!(n as i64) } else { json!(n) }
}

/// Text, from a string (numbers and booleans are written as text).
pub fn text_of(value: &Bson) -> Option<String> {
    match value {
        Bson::String(s) => Some(s.clone()),
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
            number_of(value).map(|n| json_number(n).to_string())
        }
        Bson::Boolean(b) => Some(b.to_string()),
        Bson::ObjectId(oid) => Some(oid.to_hex()),
        _ => None,
    }
}

pub fn bool_of(value: &Bson) -> Option<bool> {
    match value {
        Bson::Boolean(b) => Some(*b),
        Bson::Int32(n) => Some(*n != 0),
        Bson::Int64(n) => Some(*n != 0),
        Bson::String(s) if s == "true" => Some(true),
        Bson::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

/// A value as nyaya's JSON documents hold it: ObjectIds as hex, dates as ISO text, numbers
/// as JavaScript prints them; anything exotic as its relaxed Extended JSON.
pub fn to_json(value: &Bson) -> Value {
    match value {
        Bson::Null | Bson::Undefined => Value::Null,
        Bson::Boolean(b) => json!(b),
        Bson::String(s) => json!(s),
        Bson::Int32(n) => json!(n),
        Bson::Int64(n) => json!(n),
        Bson::Double(n) if n.is_finite() => json_number(*n),
        Bson::Double(_) => Value::Null,
        Bson::Decimal128(_) => number_of(value).map(json_number).unwrap_or(Value::Null),
        Bson::ObjectId(oid) => json!(oid.to_hex()),
        Bson::DateTime(_) => date_of(value).map(Value::String).unwrap_or(Value::Null),
        Bson::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Bson::Document(d) => Value::Object(doc_to_json(d)),
        other => other.clone().into_relaxed_extjson(),
    }
}

pub fn doc_to_json(doc: &Document) -> Map<String, Value> {
    doc.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()
}

/// Whether a value carries nothing (absent, null, or an empty document as Mongoose minimizes).
pub fn is_blank(value: Option<&Bson>) -> bool {
    match value {
        None | Some(Bson::Null) | Some(Bson::Undefined) => true,
        Some(Bson::Document(d)) => d.is_empty(),
        _ => false,
    }
}

/// A document being mapped: fields are taken one by one, and what no reader took is what the
/// models do not declare (reported, never dropped silently).
pub struct Fields<'a> {
    doc: &'a Document,
    taken: BTreeSet<&'a str>,
}

impl<'a> Fields<'a> {
    pub fn new(doc: &'a Document) -> Fields<'a> {
        Fields { doc, taken: BTreeSet::from(["_id"]) }
    }

    /// The field, marked as read. Null counts as absent.
    pub fn get(&mut self, key: &'a str) -> Option<&'a Bson> {
        self.taken.insert(key);
        self.doc.get(key).filter(|v| !matches!(v, Bson::Null | Bson::Undefined))
    }

    /// Marks fields as deliberately not carried (sessions, reset tokens, Mongoose's `__v`).
    pub fn skip(&mut self, keys: &[&'a str]) {
        self.taken.extend(keys);
    }

    /// Fields no reader took.
    pub fn rest(&self) -> Vec<&'a str> {
        self.doc.keys().map(String::as_str).filter(|k| !self.taken.contains(k)).collect()
    }

    pub fn text(&mut self, key: &'a str) -> Option<String> {
        self.get(key).and_then(text_of)
    }

    pub fn doc(&mut self, key: &'a str) -> Option<&'a Document> {
        match self.get(key) {
            Some(Bson::Document(d)) => Some(d),
            _ => None,
        }
    }

    pub fn array(&mut self, key: &'a str) -> &'a [Bson] {
        match self.get(key) {
            Some(Bson::Array(items)) => items,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::oid::ObjectId;

    #[test]
    fn ids_in_every_form() {
        let oid = ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap();
        assert_eq!(id_of(&Bson::ObjectId(oid)).as_deref(), Some("65a1b2c3d4e5f60718293a4b"));
        assert_eq!(
            id_of(&Bson::String("65A1B2C3D4E5F60718293A4B".into())).as_deref(),
            Some("65a1b2c3d4e5f60718293a4b")
        );
        assert_eq!(
            id_of(&Bson::Document(bson::doc! {"_id": oid, "name": "x"})).as_deref(),
            Some("65a1b2c3d4e5f60718293a4b")
        );
        assert_eq!(id_of(&Bson::String("not-an-id".into())), None);
        assert_eq!(derived_id("a").len(), 24);
        assert_eq!(derived_id("a"), derived_id("a"));
    }

    #[test]
    fn dates_keep_their_milliseconds() {
        let d = Bson::DateTime(bson::DateTime::from_millis(1_714_557_600_123));
        assert_eq!(date_of(&d).as_deref(), Some("2024-05-01T10:00:00.123Z"));
        assert_eq!(
            date_of(&Bson::String("2024-05-01T15:30:00.007+05:30".into())).as_deref(),
            Some("2024-05-01T10:00:00.007Z")
        );
        assert_eq!(date_of(&Bson::String("yesterday".into())), None);
    }

    #[test]
    fn json_of_nested_documents() {
        let oid = ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap();
        let doc = bson::doc! {"a": oid, "n": 5.0, "f": 1.5, "d": bson::DateTime::from_millis(0), "l": [1i64, "x"]};
        assert_eq!(
            Value::Object(doc_to_json(&doc)),
            json!({"a": "65a1b2c3d4e5f60718293a4b", "n": 5, "f": 1.5, "d": "1970-01-01T00:00:00.000Z", "l": [1, "x"]})
        );
    }
}
