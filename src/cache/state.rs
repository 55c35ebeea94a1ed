//! What one instance knows: the version of every tag it has read, the local generation that
//! prefixes every L1 key, and whether (and in which epoch) the shared tier is usable.
//!
//! Everything here changes under one short lock and never across an `.await`.

use std::collections::HashMap;
use std::time::Instant;

use redis::aio::MultiplexedConnection;

use super::confirm::LEASE;

/// Past this many known tags the map is dropped and the generation bumped (a full L1 flush),
/// which keeps memory bounded without ever letting a tag's version go backwards under a live key.
const MAX_TAGS: usize = 500_000;

/// One tag's version. `remote` is the shared counter `<prefix>t:<tag>` as last seen in the
/// current epoch; `local` counts invalidations made by or reported to this instance that the
/// shared counters may not show. An L1 key contains both, so moving either retires the entries.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct TagVersion {
    pub remote: u64,
    pub local: u64,
}

/// A usable connection to the shared tier. `serial` tells failures on an old connection (which
/// must not tear down a newer one) from failures on the current one.
#[derive(Clone)]
pub(super) struct Link {
    pub conn: MultiplexedConnection,
    pub serial: u64,
}

/// The request-side view taken before a lookup.
pub(super) struct Snapshot {
    pub generation: u64,
    /// Set when L2 may be read and written: the connection and the epoch its counters belong to.
    pub l2: Option<(Link, String)>,
    /// Redis is configured but not usable: other instances' invalidations cannot reach us, so
    /// L1 entries stored now must be short-lived.
    pub short_lived: bool,
    pub versions: Vec<TagVersion>,
}

impl Snapshot {
    /// Whether shared counters read after this snapshot are below what the mirror held when it
    /// was taken: Redis lost increments. (The mirror itself may rise while a read is in flight,
    /// from a message or another request, so comparing with its current value would cry wolf.)
    pub fn behind(&self, counters: &[u64]) -> bool {
        counters.iter().zip(&self.versions).any(|(read, seen)| *read < seen.remote)
    }

    /// The L1 key: the base key, the generation and every tag version. A write changes a
    /// version, so entries loaded before it (and loads still in flight) are never found again,
    /// and single flight never joins a load that started before the write.
    pub fn l1_key(&self, base: &str) -> String {
        use std::fmt::Write as _;
        let mut key = String::with_capacity(base.len() + 8 + 12 * self.versions.len());
        let _ = write!(key, "{base}#{}", self.generation);
        for v in &self.versions {
            let _ = write!(key, " {}.{}", v.remote, v.local);
        }
        key
    }
}

/// What a batch of shared counter values did to the mirror.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Raised {
    Applied,
    /// A shared counter is below what this instance saw in the same epoch: Redis lost writes.
    Backwards,
    /// The values belong to another epoch (ours changed meanwhile); nothing applied.
    OtherEpoch,
}

pub(super) struct State {
    generation: u64,
    /// Whether `REDIS_URL` is configured at all.
    shared: bool,
    link: Option<Link>,
    /// L2 reads allowed (the link is up and its epoch settled); invalidations use the link as
    /// soon as it exists.
    reads: bool,
    epoch: Option<String>,
    tags: HashMap<String, TagVersion>,
    next_serial: u64,
    /// A link was up before: a new one must rotate the epoch (see the module doc).
    pub ever_linked: bool,
    /// Invalidations applied only locally because no link existed.
    pub local_only_writes: u64,
    /// When the last returned ping of the current link was sent ([`super::confirm`]).
    lease_from: Option<Instant>,
}

impl State {
    pub fn new(shared: bool) -> State {
        State {
            generation: 0,
            shared,
            link: None,
            reads: false,
            epoch: None,
            tags: HashMap::new(),
            next_serial: 0,
            ever_linked: false,
            local_only_writes: 0,
            lease_from: None,
        }
    }

    /// Whether L1 may be read without checking the counters in Redis first: within
    /// [`LEASE`] of sending a ping that came back on the current link.
    pub fn leased(&self, now: Instant) -> bool {
        self.reads && self.lease_from.is_some_and(|from| now.saturating_duration_since(from) < LEASE)
    }

    /// A ping sent at `sent` on link `serial` came back: every announcement published before
    /// it has been applied.
    pub fn renewed(&mut self, serial: u64, sent: Instant) {
        if self.reads && self.link.as_ref().is_some_and(|l| l.serial == serial) {
            self.lease_from = Some(self.lease_from.map_or(sent, |from| from.max(sent)));
        }
    }

    pub fn snapshot(&mut self, tags: &[String]) -> Snapshot {
        if self.tags.len() >= MAX_TAGS {
            self.tags.clear();
            self.generation += 1;
        }
        // Looked up before inserting: the tag's name is copied only the first time it is seen.
        let versions = tags
            .iter()
            .map(|t| match self.tags.get(t) {
                Some(v) => *v,
                None => *self.tags.entry(t.clone()).or_default(),
            })
            .collect();
        let l2 = match (&self.link, &self.epoch) {
            (Some(link), Some(epoch)) if self.reads => Some((link.clone(), epoch.clone())),
            _ => None,
        };
        Snapshot { generation: self.generation, short_lived: self.shared && l2.is_none(), l2, versions }
    }

    pub fn link(&self) -> Option<Link> {
        self.link.clone()
    }

    pub fn l2_readable(&self) -> bool {
        self.reads && self.link.is_some()
    }

    /// Raises the mirror to shared counter values read in `epoch` (never lowers it). With
    /// `known_only`, tags this instance never read are skipped: no L1 key depends on them.
    pub fn raise<'a>(
        &mut self,
        epoch: &str,
        values: impl IntoIterator<Item = (&'a str, u64)>,
        known_only: bool,
    ) -> Raised {
        if self.epoch.as_deref() != Some(epoch) {
            return Raised::OtherEpoch;
        }
        let mut result = Raised::Applied;
        for (tag, value) in values {
            let version = match self.tags.get_mut(tag) {
                Some(v) => v,
                None if known_only => continue,
                None => self.tags.entry(tag.to_string()).or_default(),
            };
            if value < version.remote {
                result = Raised::Backwards;
            }
            version.remote = version.remote.max(value);
        }
        result
    }

    /// An invalidation this instance applies to itself. `insert` is false for reports from
    /// other instances about tags no local key depends on.
    pub fn bump_local<'a>(&mut self, tags: impl IntoIterator<Item = &'a str>, insert: bool) {
        for tag in tags {
            match self.tags.get_mut(tag) {
                Some(v) => v.local += 1,
                None if insert => {
                    self.tags.insert(tag.to_string(), TagVersion { remote: 0, local: 1 });
                }
                None => {}
            }
        }
        if self.link.is_none() {
            self.local_only_writes += 1;
        }
    }

    /// Switches to another epoch of the shared tier: its counters are not comparable with
    /// ours, so they restart from zero and every L1 entry is retired.
    pub fn adopt(&mut self, epoch: &str) -> bool {
        if self.epoch.as_deref() == Some(epoch) {
            return false;
        }
        self.epoch = Some(epoch.to_string());
        self.reset_remote();
        true
    }

    fn reset_remote(&mut self) {
        for v in self.tags.values_mut() {
            v.remote = 0;
        }
        self.generation += 1;
    }

    /// Phase one of a (re)connection: invalidations go to Redis from now on, reads not yet.
    pub fn link_up(&mut self, conn: MultiplexedConnection) -> Link {
        self.next_serial += 1;
        let link = Link { conn, serial: self.next_serial };
        self.link = Some(link.clone());
        self.reads = false;
        self.lease_from = None;
        link
    }

    /// Phase two: the epoch is settled, L2 may be read. Counters may have been reset while we
    /// were away, so the mirror restarts from zero under a new generation.
    pub fn open_reads(&mut self, serial: u64, epoch: &str) -> bool {
        if self.link.as_ref().map(|l| l.serial) != Some(serial) {
            return false;
        }
        self.epoch = Some(epoch.to_string());
        self.reset_remote();
        self.reads = true;
        self.ever_linked = true;
        true
    }

    /// Drops the link if `serial` is the current one (or `None`: whatever link there is).
    /// Returns whether a link was dropped. Entries stored from now on are short-lived, and those
    /// stored before are retired: invalidations from other instances can no longer reach us.
    pub fn link_down(&mut self, serial: Option<u64>) -> bool {
        match &self.link {
            Some(link) if serial.is_none_or(|s| s == link.serial) => {
                self.link = None;
                self.reads = false;
                self.lease_from = None;
                self.generation += 1;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(state: &mut State, tags: &[&str]) -> String {
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        state.snapshot(&tags).l1_key("k")
    }

    #[test]
    fn every_change_moves_the_key() {
        let mut s = State::new(false);
        let k0 = key(&mut s, &["DIR"]);
        s.bump_local(["DIR"], true);
        let k1 = key(&mut s, &["DIR"]);
        assert_ne!(k0, k1);
        assert_eq!(key(&mut s, &["ADM"]), key(&mut s, &["ADM"]));
        // Values from an epoch we do not hold are ignored.
        assert_eq!(s.raise("e1", [("DIR", 5)], false), Raised::OtherEpoch);
        assert!(s.adopt("e1"));
        let k2 = key(&mut s, &["DIR"]);
        assert_ne!(k1, k2);
        assert_eq!(s.raise("e1", [("DIR", 5)], false), Raised::Applied);
        let k3 = key(&mut s, &["DIR"]);
        assert_ne!(k2, k3);
        // Raising to a value already seen changes nothing; a lower one is reported.
        assert_eq!(s.raise("e1", [("DIR", 5)], false), Raised::Applied);
        assert_eq!(key(&mut s, &["DIR"]), k3);
        assert_eq!(s.raise("e1", [("DIR", 4)], false), Raised::Backwards);
        assert_eq!(key(&mut s, &["DIR"]), k3);
    }

    #[test]
    fn reports_about_unknown_tags_are_not_stored() {
        let mut s = State::new(true);
        s.adopt("e");
        s.raise("e", [("CIT:1", 3)], true);
        s.bump_local(["CIT:2"], false);
        assert!(s.tags.is_empty());
    }

    #[test]
    fn only_a_configured_but_missing_redis_shortens_lifetimes() {
        assert!(!State::new(false).snapshot(&[]).short_lived);
        let mut s = State::new(true);
        let snap = s.snapshot(&[]);
        assert!(snap.short_lived && snap.l2.is_none());
        // Without a link there is nothing to drop, and the generation stays.
        assert!(!s.link_down(None));
        assert_eq!(s.snapshot(&[]).generation, snap.generation);
    }
}
