//! Wall-clock time in microseconds: comparable across the load processes of one machine, so a
//! message sent by one and received by another has a latency.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or_default()
}
