//! The server side of a run: CPU and resident memory of the server's process tree (the
//! supervisor and its workers) from /proc, and counters from its ops `/metrics` (the
//! supervisor's lists every worker's series; they are summed by name here).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Counters read from `/metrics`, summed over labels and workers.
pub const COUNTERS: [&str; 7] = [
    "nyaya_db_queries_total",
    "nyaya_db_writes_total",
    "nyaya_cache_hits_total",
    "nyaya_cache_misses_total",
    "nyaya_cache_bypass_total",
    "http_requests_total",
    "nyaya_chat_messages_total",
];

/// One reading, every second of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sample {
    /// Seconds since the start of the run.
    pub t: f64,
    /// CPU of the process tree since the previous reading, in % of one core.
    pub cpu: f64,
    pub rss_mb: f64,
    pub processes: usize,
    /// CPU of the load client's processes, in % of one core.
    pub client_cpu: f64,
    pub sockets: f64,
    /// Open sockets by worker (under `--workers`).
    pub sockets_by_worker: BTreeMap<String, f64>,
    pub counters: HashMap<String, f64>,
}

/// CPU and memory of a process and its descendants.
struct Tree {
    pid: u32,
    last: Option<(Instant, u64)>,
}

impl Tree {
    /// (CPU % of one core since the last reading, resident bytes, processes)
    fn read(&mut self, ticks_per_sec: f64, page: f64) -> (f64, f64, usize) {
        let pids = tree(self.pid);
        let ticks: u64 = pids.iter().map(|p| cpu_ticks(*p)).sum();
        let rss = pids.iter().map(|p| rss_pages(*p) as f64 * page).sum();
        let now = Instant::now();
        let cpu = self.last.map_or(0.0, |(at, before)| {
            ticks.saturating_sub(before) as f64 / ticks_per_sec / now.duration_since(at).as_secs_f64().max(1e-3) * 100.0
        });
        self.last = Some((now, ticks));
        (cpu, rss, pids.len())
    }
}

pub struct Sampler {
    server: Option<Tree>,
    /// This load client (parent and children): it shares the machine with the server.
    client: Tree,
    metrics: Option<String>,
    last_metrics: String,
    http: reqwest::Client,
    ticks_per_sec: f64,
    page: f64,
}

fn read(path: String) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// `pid` and every descendant.
fn tree(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        let tasks = std::fs::read_dir(format!("/proc/{p}/task")).into_iter().flatten().flatten();
        for task in tasks {
            let children = read(format!("{}/children", task.path().display())).unwrap_or_default();
            out.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
        }
        i += 1;
    }
    out
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let Some(stat) = read(format!("/proc/{pid}/stat")) else { return 0 };
    // Fields after the command name (which may hold spaces) start at field 3.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    field(14) + field(15)
}

/// Resident pages of the process's own (resident less shared): the file pages it maps, the
/// binary and SQLite's memory-mapped database, are the system's page cache, shared by the
/// workers and cached whether or not a process maps them.
fn rss_pages(pid: u32) -> u64 {
    let statm = read(format!("/proc/{pid}/statm")).unwrap_or_default();
    let mut fields = statm.split_whitespace().skip(1).map(|f| f.parse::<u64>().unwrap_or(0));
    let (resident, shared) = (fields.next().unwrap_or(0), fields.next().unwrap_or(0));
    resident.saturating_sub(shared)
}

/// Prometheus text: the series of `name` as (labels, value).
fn series<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = (&'a str, f64)> + 'a {
    text.lines().filter(|l| !l.starts_with('#')).filter_map(move |l| {
        let rest = l.strip_prefix(name)?;
        let (labels, value) = rest.rsplit_once(' ')?;
        let labels = labels.trim();
        (labels.is_empty() || labels.starts_with('{')).then_some((labels, value.parse().ok()?))
    })
}

/// The sum of every series of `name`, over all labels.
pub fn sum_metric(text: &str, name: &str) -> f64 {
    series(text, name).map(|(_, v)| v).sum()
}

/// The sum of `name` per value of the `worker` label (empty without workers).
fn by_worker(text: &str, name: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (labels, v) in series(text, name) {
        if let Some(worker) = label(labels, "worker") {
            *out.entry(worker.to_string()).or_default() += v;
        }
    }
    out
}

/// One route's handler latency as the server measured it (`http_request_duration_seconds`,
/// summed over workers and statuses), over the server's whole life.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RouteLatency {
    pub method: String,
    pub route: String,
    pub count: f64,
    /// The upper bound of the histogram bucket that holds the 99th percentile.
    pub p99_at_most_ms: f64,
    /// Share of requests above 50 ms, in %.
    pub over_50ms_pct: f64,
}

fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    labels.split(&format!("{name}=\"")).nth(1)?.split('"').next()
}

/// Per-route handler latency from a `/metrics` text, slowest first.
pub fn route_latencies(text: &str) -> Vec<RouteLatency> {
    let mut buckets: BTreeMap<(String, String), BTreeMap<u64, f64>> = BTreeMap::new();
    for (labels, v) in series(text, "http_request_duration_seconds_bucket") {
        let (Some(method), Some(route), Some(le)) =
            (label(labels, "method"), label(labels, "route"), label(labels, "le"))
        else {
            continue;
        };
        // Bucket bounds in microseconds (+Inf as the largest), to key them exactly.
        let le = if le == "+Inf" {
            u64::MAX
        } else {
            le.parse::<f64>().map(|s| (s * 1e6).round() as u64).unwrap_or(u64::MAX)
        };
        *buckets.entry((method.to_string(), route.to_string())).or_default().entry(le).or_default() += v;
    }
    let mut out: Vec<RouteLatency> = buckets
        .into_iter()
        .filter_map(|((method, route), b)| {
            let count = *b.values().last()?;
            let within_50ms = b.get(&50_000).copied()?;
            let p99 = b.iter().find(|(_, n)| **n >= 0.99 * count).map(|(le, _)| *le)?;
            (count > 0.0).then(|| RouteLatency {
                method,
                route,
                count,
                p99_at_most_ms: if p99 == u64::MAX { f64::INFINITY } else { p99 as f64 / 1000.0 },
                over_50ms_pct: ((count - within_50ms) / count * 10_000.0).round() / 100.0,
            })
        })
        .collect();
    out.sort_by(|a, b| b.p99_at_most_ms.total_cmp(&a.p99_at_most_ms).then(b.over_50ms_pct.total_cmp(&a.over_50ms_pct)));
    out
}

impl Sampler {
    pub fn new(pid: Option<u32>, metrics: Option<String>) -> Sampler {
        // SAFETY: sysconf only reads configuration values.
        let (ticks, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
        Sampler {
            server: pid.map(|pid| Tree { pid, last: None }),
            client: Tree { pid: std::process::id(), last: None },
            metrics,
            http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("HTTP client"),
            last_metrics: String::new(),
            ticks_per_sec: if ticks > 0 { ticks as f64 } else { 100.0 },
            page: if page > 0 { page as f64 } else { 4096.0 },
        }
    }

    pub async fn sample(&mut self, t: f64) -> Sample {
        let mut s = Sample { t, ..Sample::default() };
        if let Some(server) = &mut self.server {
            let (cpu, rss, processes) = server.read(self.ticks_per_sec, self.page);
            (s.cpu, s.rss_mb, s.processes) = (cpu, rss / 1_048_576.0, processes);
        }
        s.client_cpu = self.client.read(self.ticks_per_sec, self.page).0;
        if let Some(url) = &self.metrics {
            let text = match self.http.get(url).send().await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            for name in COUNTERS {
                s.counters.insert(name.to_string(), sum_metric(&text, name));
            }
            s.sockets = sum_metric(&text, "nyaya_socket_connections");
            s.sockets_by_worker = by_worker(&text, "nyaya_socket_connections");
            if !text.is_empty() {
                self.last_metrics = text;
            }
        }
        s
    }

    /// The server's whole `/metrics` at the last reading (per-route latency histograms and
    /// every counter), kept with the results to find what a route class hides.
    pub fn last_metrics(&self) -> &str {
        &self.last_metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_a_metric_over_labels_and_not_its_prefixes() {
        let text = "# TYPE nyaya_db_queries_total counter\nnyaya_db_queries_total{worker=\"0\"} 10\n\
                    nyaya_db_queries_total{worker=\"1\"} 5\nnyaya_db_queries_total_other 99\nnyaya_cache_hits_total 3\n";
        assert_eq!(sum_metric(text, "nyaya_db_queries_total"), 15.0);
        assert_eq!(sum_metric(text, "nyaya_cache_hits_total"), 3.0);
        assert_eq!(sum_metric(text, "missing"), 0.0);
        assert_eq!(by_worker(text, "nyaya_db_queries_total").get("1"), Some(&5.0));
    }

    #[test]
    fn route_latencies_sum_workers_and_statuses() {
        let bucket = |worker: u8, status: u16, le: &str, n: u32| {
            format!(
                "http_request_duration_seconds_bucket{{method=\"GET\",route=\"/a\",status=\"{status}\",le=\"{le}\",worker=\"{worker}\"}} {n}\n"
            )
        };
        let mut text = String::new();
        for (worker, status) in [(0, 200), (1, 200), (1, 404)] {
            for (le, n) in [("0.01", 90), ("0.05", 98), ("0.1", 100), ("+Inf", 100)] {
                text += &bucket(worker, status, le, n);
            }
        }
        let routes = route_latencies(&text);
        assert_eq!(routes.len(), 1);
        let a = &routes[0];
        assert_eq!((a.method.as_str(), a.route.as_str(), a.count), ("GET", "/a", 300.0));
        // 294 of 300 within 50 ms: the 99th percentile (297) is in the 100 ms bucket.
        assert_eq!(a.p99_at_most_ms, 100.0);
        assert_eq!(a.over_50ms_pct, 2.0);
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(tree(me).contains(&me));
        assert!(rss_pages(me) > 0);
    }
}
