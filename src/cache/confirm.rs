//! Confirmed invalidations: how an instance answers a cached read from its memory without
//! asking Redis first, and still never serves what another instance's answered write retired.
//!
//! * **Members.** Every instance sharing the Redis prefix renews its membership (`<prefix>members`,
//!   scored by Redis's clock) every [`RENEW_EVERY`]. A member silent for [`MEMBER_TTL`] is gone.
//! * **Confirmations.** A write's invalidation script returns the members alongside the new
//!   counters; each member applies the announcement, then confirms it on the writer's own
//!   channel (`<prefix>ack:<origin>`). The writer answers its client once every other member
//!   has confirmed, or once [`LEASE`] has passed since the script returned, whichever is first.
//! * **Leases.** The same renewal publishes a ping on the member's own channel. Redis delivers a
//!   subscriber's messages in the order they were published, so when the ping comes back, every
//!   invalidation published before it was sent has been applied. A member serves its memory
//!   unchecked only within [`LEASE`] of sending the last ping that came back; otherwise it reads
//!   the tags' counters from Redis before the lookup, as before.
//!
//! Why that is enough: a read that reaches member B after a write on A has answered either
//! finds A's announcement applied (B confirmed it), or comes more than [`LEASE`] after A's
//! script returned. Then a ping B sent within [`LEASE`] of the read was sent after the
//! announcement was published and returned after it, so B applied it; with no such ping, B
//! checks Redis. A member whose subscription broke, or that stalled, stops confirming and
//! its lease runs out: A waits [`LEASE`] per write until it comes back or its membership
//! lapses, and [`MEMBER_TTL`] is longer than [`LEASE`] plus a renewal, so a stalled member's
//! lease has run out before A stops waiting for it. Only durations are compared, each on one
//! machine's monotonic clock.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// How long a returned ping lets a member serve its memory unchecked, and the longest a write
/// waits for a member that does not confirm.
pub const LEASE: Duration = Duration::from_millis(250);
/// How often a member renews its membership and its lease.
pub const RENEW_EVERY: Duration = Duration::from_millis(50);
/// How long a member that stopped renewing still counts (and is waited for).
pub const MEMBER_TTL: Duration = Duration::from_secs(2);

const _: () = assert!(MEMBER_TTL.as_millis() > LEASE.as_millis() + 2 * RENEW_EVERY.as_millis());

/// Invalidations this instance sent that wait for the other members' confirmations.
#[derive(Default)]
pub(super) struct Confirmations {
    next: AtomicU64,
    pending: Mutex<HashMap<u64, Pending>>,
}

#[derive(Default)]
struct Pending {
    /// Confirmations that arrived, possibly before the script's answer named the members.
    confirmed: HashSet<String>,
    /// The members to hear from, once the script has answered.
    awaited: Option<HashSet<String>>,
    done: Option<oneshot::Sender<()>>,
}

impl Pending {
    fn settle(&mut self) {
        let complete = self.awaited.as_ref().is_some_and(|a| a.is_subset(&self.confirmed));
        if complete && let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}

impl Confirmations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new invalidation: its sequence number and what completes when every member confirmed.
    pub fn open(&self) -> (u64, oneshot::Receiver<()>) {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let (done, rx) = oneshot::channel();
        self.lock().insert(seq, Pending { done: Some(done), ..Pending::default() });
        (seq, rx)
    }

    /// The script answered: these are the members to hear from (this instance excluded).
    pub fn expect(&self, seq: u64, members: impl IntoIterator<Item = String>) {
        if let Some(p) = self.lock().get_mut(&seq) {
            p.awaited = Some(members.into_iter().collect());
            p.settle();
        }
    }

    /// `from` applied invalidation `seq`.
    pub fn confirmed(&self, seq: u64, from: &str) {
        if let Some(p) = self.lock().get_mut(&seq) {
            p.confirmed.insert(from.to_string());
            p.settle();
        }
    }

    /// Forgets `seq`; returns the awaited members that never confirmed it.
    pub fn close(&self, seq: u64) -> Vec<String> {
        let Some(p) = self.lock().remove(&seq) else { return Vec::new() };
        let mut silent: Vec<String> = p.awaited.unwrap_or_default().difference(&p.confirmed).cloned().collect();
        silent.sort();
        silent
    }
}

/// The pings of one link still on their way back, oldest first.
#[derive(Default)]
pub(super) struct Renewals {
    next: u64,
    sent: VecDeque<(u64, Instant)>,
}

/// Pings kept in flight at most: an unanswered one is forgotten after this many newer ones.
const IN_FLIGHT: usize = 64;

impl Renewals {
    /// A ping about to be sent at `now`: its sequence number.
    pub fn send(&mut self, now: Instant) -> u64 {
        self.next += 1;
        if self.sent.len() == IN_FLIGHT {
            self.sent.pop_front();
        }
        self.sent.push_back((self.next, now));
        self.next
    }

    /// Ping `seq` came back: when it was sent (pings return in order, so older ones are dropped).
    pub fn returned(&mut self, seq: u64) -> Option<Instant> {
        while let Some(&(s, at)) = self.sent.front() {
            if s > seq {
                return None;
            }
            self.sent.pop_front();
            if s == seq {
                return Some(at);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalidation_completes_when_every_member_confirmed_in_any_order() {
        let c = Confirmations::default();
        let (seq, mut done) = c.open();
        // A confirmation may arrive before the script's answer names the members.
        c.confirmed(seq, "b");
        assert!(done.try_recv().is_err());
        c.expect(seq, ["b".to_string(), "c".to_string()]);
        assert!(done.try_recv().is_err());
        c.confirmed(seq, "c");
        assert!(done.try_recv().is_ok());
        assert!(c.close(seq).is_empty());
    }

    #[test]
    fn the_silent_members_are_named() {
        let c = Confirmations::default();
        let (seq, mut done) = c.open();
        c.expect(seq, ["b".to_string(), "c".to_string()]);
        c.confirmed(seq, "c");
        c.confirmed(seq + 1, "b");
        assert!(done.try_recv().is_err());
        assert_eq!(c.close(seq), vec!["b".to_string()]);
        // Alone: nothing to wait for.
        let (seq, mut done) = c.open();
        c.expect(seq, []);
        assert!(done.try_recv().is_ok());
    }

    #[test]
    fn a_returned_ping_dates_the_lease_from_its_sending() {
        let mut r = Renewals::default();
        let t0 = Instant::now();
        let first = r.send(t0);
        let second = r.send(t0 + Duration::from_millis(50));
        let third = r.send(t0 + Duration::from_millis(100));
        assert_eq!(r.returned(second), Some(t0 + Duration::from_millis(50)));
        // Older pings are dropped once a newer one returned.
        assert_eq!(r.returned(first), None);
        assert_eq!(r.returned(third), Some(t0 + Duration::from_millis(100)));
        assert_eq!(r.returned(99), None);
    }
}
