//! 24-hex ObjectId-style identifiers: 4 bytes of seconds, 5 random bytes drawn once per
//! process, 3 bytes of counter, so ids of one process sort by creation time like MongoDB's
//! (ties on a timestamp break in creation order) and data moved from the original keeps its ids.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use rand::RngCore;
use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Id(String);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The process's random part, as MongoDB drivers draw it: once, so that the counter orders
/// the ids of one second.
fn process_random() -> &'static str {
    static RANDOM: OnceLock<String> = OnceLock::new();
    RANDOM.get_or_init(|| {
        let mut random = [0u8; 5];
        rand::rng().fill_bytes(&mut random);
        hex::encode(random)
    })
}

impl Id {
    pub fn new() -> Id {
        let secs = chrono::Utc::now().timestamp() as u32;
        let count = COUNTER.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
        Id(format!("{secs:08x}{}{count:06x}", process_random()))
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
        // Within one process, later ids sort after earlier ones (ties on time included).
        let later: Vec<Id> = (0..100).map(|_| Id::new()).collect();
        assert!(later.windows(2).all(|w| w[0] < w[1]), "{later:?}");
    }

    #[test]
    fn parse_rejects_malformed() {
        assert!("abc".parse::<Id>().is_err());
        assert!("zzzzzzzzzzzzzzzzzzzzzzzz".parse::<Id>().is_err());
        assert!("507f1f77bcf86cd799439011".parse::<Id>().is_ok());
    }
}
