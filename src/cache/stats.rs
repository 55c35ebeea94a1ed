//! The cache's Prometheus metrics (rendered on the ops listener's `/metrics`).

pub(super) const HITS: &str = "nyaya_cache_hits_total";
pub(super) const MISSES: &str = "nyaya_cache_misses_total";
const BYPASSES: &str = "nyaya_cache_bypass_total";
const SENT: &str = "nyaya_cache_invalidations_sent_total";
const RECEIVED: &str = "nyaya_cache_invalidations_received_total";
const VALUES: &str = "nyaya_cache_values_total";
const L1_ENTRIES: &str = "nyaya_cache_l1_entries";
const L1_BYTES: &str = "nyaya_cache_l1_bytes";
const L2_AVAILABLE: &str = "nyaya_cache_l2_available";
const L2_KEYS: &str = "nyaya_cache_l2_keys";
const L2_WRITES: &str = "nyaya_cache_l2_writes_total";
const L2_ERRORS: &str = "nyaya_cache_l2_errors_total";
const L2_OUTAGES: &str = "nyaya_cache_l2_outages_total";
const VERSION_READS: &str = "nyaya_cache_version_reads_total";
const UNCONFIRMED: &str = "nyaya_cache_unconfirmed_invalidations_total";

/// Installs the process recorder if the ops listener has not yet (so nothing recorded from
/// here on is lost) and describes the cache's series.
pub(super) fn describe() {
    crate::telemetry::prometheus();
    metrics::describe_counter!(HITS, "Cached GETs answered from the cache, by route and tier (l1 memory, l2 Redis)");
    metrics::describe_counter!(MISSES, "Cached GETs that loaded from the database, by route");
    metrics::describe_counter!(BYPASSES, "Cached GETs served with the cache switched off (CACHE=off), by route");
    metrics::describe_counter!(SENT, "Tag invalidations made by this process");
    metrics::describe_counter!(RECEIVED, "Tag invalidations received from other instances over Redis pub/sub");
    metrics::describe_counter!(
        VALUES,
        "Lookups of values kept in process (users, chat members), by outcome (hit, load)"
    );
    metrics::describe_gauge!(L1_ENTRIES, "Entries in the in-process cache");
    metrics::describe_gauge!(L1_BYTES, "Approximate bytes held by the in-process cache");
    metrics::describe_gauge!(L2_AVAILABLE, "1 while the Redis tier is in use, 0 while it is unreachable");
    metrics::describe_gauge!(L2_KEYS, "Keys in the shared tier's Redis database, sampled every second (all its users)");
    metrics::describe_counter!(L2_WRITES, "Entries written to the Redis tier");
    metrics::describe_counter!(L2_ERRORS, "Failed or timed-out Redis calls of the cache");
    metrics::describe_counter!(L2_OUTAGES, "Times the Redis tier became unreachable");
    metrics::describe_counter!(
        VERSION_READS,
        "Lookups that read their tags' counters from Redis first (no lease: just connected, or the subscription lags)"
    );
    metrics::describe_counter!(
        UNCONFIRMED,
        "Invalidations that waited the whole lease because some instance did not confirm them"
    );
}

pub(super) fn hit(route: &'static str, tier: &'static str) {
    metrics::counter!(HITS, "route" => route, "tier" => tier).increment(1);
}

pub(super) fn miss(route: &'static str) {
    metrics::counter!(MISSES, "route" => route).increment(1);
}

pub(super) fn bypass(route: &'static str) {
    metrics::counter!(BYPASSES, "route" => route).increment(1);
}

pub(super) fn value_reads(hit: bool, count: usize) {
    if count > 0 {
        metrics::counter!(VALUES, "outcome" => if hit { "hit" } else { "load" }).increment(count as u64);
    }
}

pub(super) fn sent(tags: usize) {
    metrics::counter!(SENT).increment(tags as u64);
}

pub(super) fn received(tags: usize) {
    metrics::counter!(RECEIVED).increment(tags as u64);
}

pub(super) fn l1_size(entries: u64, bytes: u64) {
    metrics::gauge!(L1_ENTRIES).set(entries as f64);
    metrics::gauge!(L1_BYTES).set(bytes as f64);
}

pub(super) fn l2_available(up: bool) {
    metrics::gauge!(L2_AVAILABLE).set(if up { 1.0 } else { 0.0 });
}

pub(super) fn l2_keys(keys: u64) {
    metrics::gauge!(L2_KEYS).set(keys as f64);
}

pub(super) fn l2_write() {
    metrics::counter!(L2_WRITES).increment(1);
}

pub(super) fn l2_error() {
    metrics::counter!(L2_ERRORS).increment(1);
}

pub(super) fn l2_outage() {
    metrics::counter!(L2_OUTAGES).increment(1);
}

pub(super) fn version_read() {
    metrics::counter!(VERSION_READS).increment(1);
}

pub(super) fn unconfirmed() {
    metrics::counter!(UNCONFIRMED).increment(1);
}
