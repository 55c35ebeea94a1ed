//! What a load process measures, in a form that merges across processes: latency histograms
//! per route class, errors, stale reads, a per-second series, and every expected and received
//! socket delivery (matched after the merge, since sender and receiver may live in different
//! processes).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Buckets per power of two: values are kept to within 1/64 (about 1.6%).
const SUB: u64 = 64;
const SUB_BITS: u32 = 6;

/// A log-linear latency histogram of microseconds; serialized sparse.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "SparseHist", into = "SparseHist")]
pub struct Hist {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

#[derive(Serialize, Deserialize)]
struct SparseHist {
    max: u64,
    buckets: Vec<(u32, u64)>,
}

impl From<Hist> for SparseHist {
    fn from(h: Hist) -> SparseHist {
        let buckets = h.counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, c)| (i as u32, *c)).collect();
        SparseHist { max: h.max, buckets }
    }
}

impl From<SparseHist> for Hist {
    fn from(s: SparseHist) -> Hist {
        let mut h = Hist::default();
        for (i, c) in s.buckets {
            h.add_bucket(i as usize, c);
        }
        h.max = s.max;
        h
    }
}

fn bucket(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    let shift = exp - SUB_BITS;
    ((shift as u64 + 1) * SUB + ((v >> shift) - SUB)) as usize
}

/// The middle of a bucket's range.
fn bucket_value(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let shift = i / SUB - 1;
    let low = (SUB + i % SUB) << shift;
    low + ((1u64 << shift) >> 1)
}

impl Hist {
    pub fn record(&mut self, micros: u64) {
        self.add_bucket(bucket(micros), 1);
        self.max = self.max.max(micros);
    }

    fn add_bucket(&mut self, i: usize, n: u64) {
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += n;
        self.total += n;
    }

    pub fn merge(&mut self, other: &Hist) {
        for (i, c) in other.counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            self.add_bucket(i, *c);
        }
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value at quantile `q` (0..=1), in microseconds; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        if rank == self.total {
            return self.max;
        }
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_value(i).min(self.max);
            }
        }
        self.max
    }

    pub fn max(&self) -> u64 {
        self.max
    }
}

/// Requests of one route class.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Class {
    pub latency: Hist,
    pub errors: u64,
}

/// One second of the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Second {
    pub requests: u64,
    pub errors: u64,
    pub latency: Hist,
}

/// Socket deliveries the tool checks end to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Delivery {
    /// A chat message (`new_message` at the partner).
    Message,
    /// `citizen_request_received` at the lawyer a citizen asked.
    CaseRequest,
    /// `case_request_accepted` at the citizen whose request a lawyer accepted.
    CaseAccepted,
}

impl Delivery {
    pub const ALL: [Delivery; 3] = [Delivery::Message, Delivery::CaseRequest, Delivery::CaseAccepted];

    pub fn name(self) -> &'static str {
        match self {
            Delivery::Message => "socket-message",
            Delivery::CaseRequest => "notify-request",
            Delivery::CaseAccepted => "notify-accepted",
        }
    }
}

/// `(kind, key, wall-clock microseconds, account, chat)`: the account (its line in the accounts
/// file) that sent or received, and for a sender the chat (its place in the account's chats).
pub type Stamp = (Delivery, u64, u64, u32, u16);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sockets {
    pub connected: u64,
    pub failed: u64,
    /// Closed by the server or the network during the run (`cut` included).
    pub dropped: u64,
    pub reconnected: u64,
    /// Reconnections that resumed their session (connection state recovery).
    #[serde(default)]
    pub recovered: u64,
    /// Reconnections that got a new session (what was sent meanwhile is not replayed).
    #[serde(default)]
    pub not_recovered: u64,
    /// Connections the users themselves dropped (`--drop`).
    #[serde(default)]
    pub cut: u64,
    /// Messages sent on a connection that closed before they were acknowledged, never
    /// acknowledged since and not in the chat's history: lost with the connection before the
    /// server read them (as with any client; the frontend shows them unsent).
    #[serde(default)]
    pub unacknowledged: u64,
}

/// `(account, wall-clock microseconds down, back, session recovered)`: a user's time without a
/// socket.
pub type Gap = (u32, u64, u64, bool);

/// Everything one load process measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    pub users: u64,
    pub classes: BTreeMap<String, Class>,
    /// Errors by kind (`class:status`, `socket:...`), with one sample text each.
    pub errors: BTreeMap<String, u64>,
    pub error_samples: BTreeMap<String, String>,
    /// Reads after writes, by check, and how many of them missed the write.
    pub checks: BTreeMap<String, u64>,
    pub stale: BTreeMap<String, u64>,
    pub stale_samples: BTreeMap<String, String>,
    /// HTTP requests by second of the run.
    pub series: Vec<Second>,
    pub sent: Vec<Stamp>,
    pub received: Vec<Stamp>,
    pub sockets: Sockets,
    #[serde(default)]
    pub gaps: Vec<Gap>,
}

fn add_all(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

impl Stats {
    pub fn request(&mut self, class: &str, micros: u64, ok: bool, second: Option<usize>) {
        let c = self.classes.entry(class.to_string()).or_default();
        c.latency.record(micros);
        if !ok {
            c.errors += 1;
        }
        if let Some(s) = second {
            let slot = self.second(s);
            slot.requests += 1;
            slot.latency.record(micros);
            if !ok {
                slot.errors += 1;
            }
        }
    }

    fn second(&mut self, s: usize) -> &mut Second {
        if self.series.len() <= s {
            self.series.resize_with(s + 1, Second::default);
        }
        &mut self.series[s]
    }

    pub fn error(&mut self, kind: String, sample: impl FnOnce() -> String) {
        *self.errors.entry(kind.clone()).or_default() += 1;
        self.error_samples.entry(kind).or_insert_with(sample);
    }

    pub fn check(&mut self, check: &str, fresh: bool, sample: impl FnOnce() -> String) {
        *self.checks.entry(check.to_string()).or_default() += 1;
        if !fresh {
            *self.stale.entry(check.to_string()).or_default() += 1;
            self.stale_samples.entry(check.to_string()).or_insert_with(sample);
        }
    }

    pub fn merge(&mut self, other: Stats) {
        self.users += other.users;
        for (name, c) in &other.classes {
            let mine = self.classes.entry(name.clone()).or_default();
            mine.latency.merge(&c.latency);
            mine.errors += c.errors;
        }
        add_all(&mut self.errors, &other.errors);
        for (k, v) in other.error_samples {
            self.error_samples.entry(k).or_insert(v);
        }
        add_all(&mut self.checks, &other.checks);
        add_all(&mut self.stale, &other.stale);
        for (k, v) in other.stale_samples {
            self.stale_samples.entry(k).or_insert(v);
        }
        for (i, s) in other.series.iter().enumerate() {
            let mine = self.second(i);
            mine.requests += s.requests;
            mine.errors += s.errors;
            mine.latency.merge(&s.latency);
        }
        self.sent.extend(other.sent);
        self.received.extend(other.received);
        self.sockets.connected += other.sockets.connected;
        self.sockets.failed += other.sockets.failed;
        self.sockets.dropped += other.sockets.dropped;
        self.sockets.reconnected += other.sockets.reconnected;
        self.sockets.recovered += other.sockets.recovered;
        self.sockets.not_recovered += other.sockets.not_recovered;
        self.sockets.cut += other.sockets.cut;
        self.sockets.unacknowledged += other.sockets.unacknowledged;
        self.gaps.extend(other.gaps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip_within_two_percent() {
        for v in [0u64, 1, 63, 64, 65, 127, 128, 1000, 12_345, 999_999, 60_000_000] {
            let back = bucket_value(bucket(v));
            assert!((back as f64 - v as f64).abs() <= v as f64 / 60.0 + 1.0, "{v} -> {back}");
        }
        assert!(bucket(1000) < bucket(1100));
    }

    #[test]
    fn quantiles_and_merge() {
        let mut a = Hist::default();
        for v in 1..=100 {
            a.record(v * 1000);
        }
        let mut b: Hist = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(b.count(), 100);
        b.merge(&a);
        assert_eq!(b.count(), 200);
        let p50 = b.quantile(0.5) as f64;
        assert!((p50 - 50_000.0).abs() < 1000.0, "{p50}");
        assert_eq!(b.quantile(1.0), 100_000);
    }
}
