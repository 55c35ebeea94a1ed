//! 24-hex ObjectId-style identifiers: 4 bytes of seconds, 5 random bytes, 3 bytes of counter,
//! so ids sort by creation time like MongoDB's and data moved from the original keeps its ids.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use rand::RngCore;
use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Id(String);

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Id {
    pub fn new() -> Id {
        let secs = chrono::Utc::now().timestamp() as u32;
        let mut random = [0u8; 5];
        rand::rng().fill_bytes(&mut random);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
        Id(format!("{secs:08x}{}{count:06x}", hex::encode(random)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_valid(raw: &str) -> bool {
        raw.len() == 24 && raw.bytes().all(|b| b.is_ascii_hexdigit())
    }
}

impl Default for Id {
    fn default() -> Self {
        Id::new()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("not a 24-character hex id")]
pub struct InvalidId;

impl FromStr for Id {
    type Err = InvalidId;
    fn from_str(raw: &str) -> Result<Id, InvalidId> {
        if Id::is_valid(raw) { Ok(Id(raw.to_ascii_lowercase())) } else { Err(InvalidId) }
    }
}

impl TryFrom<String> for Id {
    type Error = InvalidId;
    fn try_from(raw: String) -> Result<Id, InvalidId> {
        raw.parse()
    }
}

impl From<Id> for String {
    fn from(id: Id) -> String {
        id.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.0)
    }
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_valid_and_unique() {
        let a = Id::new();
        let b = Id::new();
        assert!(Id::is_valid(a.as_str()));
        assert_ne!(a, b);
    }

    #[test]
    fn parse_rejects_malformed() {
        assert!("abc".parse::<Id>().is_err());
        assert!("zzzzzzzzzzzzzzzzzzzzzzzz".parse::<Id>().is_err());
        assert!("507f1f77bcf86cd799439011".parse::<Id>().is_ok());
    }
}
