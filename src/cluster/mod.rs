//! Cluster mode: `nyaya serve --workers N` runs a [`supervisor`] and N [`worker`] processes
//! that share the public port ([`listener`]); `nyaya status` and `nyaya reload` talk to the
//! supervisor ([`status`]). See docs/scaling.md.

pub mod listener;
pub mod status;
pub mod supervisor;
pub mod worker;

pub use listener::Balance;
pub use supervisor::Options;

/// `--workers`: a count, or `max` for one per core.
pub fn parse_workers(raw: &str) -> Result<usize, String> {
    match raw.trim() {
        "max" => Ok(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)),
        n => match n.parse::<usize>() {
            Ok(n) if (1..=1024).contains(&n) => Ok(n),
            _ => Err(format!("{raw:?} is not a worker count (1 to 1024, or max)")),
        },
    }
}
