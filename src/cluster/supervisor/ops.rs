//! The supervisor's ops router: `/cluster/status`, `/ready`, `/live`, and `/metrics` (its own
//! series, then every online worker's, merged with a `worker` label).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Cluster, lock};
use crate::cluster::status::WorkerStatus;

pub(super) fn ops_router(cluster: Arc<Cluster>) -> Router {
    Router::new()
        .route("/metrics", get(cluster_metrics))
        .route("/ready", get(cluster_ready))
        .route("/live", get(crate::startup::ops::live))
        .route("/cluster/status", get(cluster_status))
        .with_state(cluster)
}

async fn cluster_status(State(cluster): State<Arc<Cluster>>) -> impl IntoResponse {
    axum::Json(cluster.shared.status())
}

/// Ready while at least one worker serves and the supervisor is not stopping.
async fn cluster_ready(State(cluster): State<Arc<Cluster>>) -> impl IntoResponse {
    let status = cluster.shared.status();
    let online = status.workers.iter().filter(|w| w.status == "online").count();
    if cluster.shared.stopping.load(Ordering::Relaxed) {
        (StatusCode::SERVICE_UNAVAILABLE, "stopping".to_string())
    } else if online == 0 {
        (StatusCode::SERVICE_UNAVAILABLE, "no worker online".to_string())
    } else {
        (StatusCode::OK, format!("ready: {online} of {} workers online", cluster.shared.opts.workers))
    }
}

/// The supervisor's own series, then every online worker's metrics with a `worker` label.
async fn cluster_metrics(State(cluster): State<Arc<Cluster>>) -> impl IntoResponse {
    let status = cluster.shared.status();
    let mut own = String::new();
    own += "# HELP nyaya_cluster_workers Worker processes by status\n# TYPE nyaya_cluster_workers gauge\n";
    for state in ["online", "starting", "draining", "restarting", "errored"] {
        let n = status.workers.iter().filter(|w| w.status == state).count();
        own += &format!("nyaya_cluster_workers{{status=\"{state}\"}} {n}\n");
    }
    let current: Vec<&WorkerStatus> = status.workers.iter().filter(|w| w.status != "draining").collect();
    // (metric name, type, help, value of one worker)
    type Series = (&'static str, &'static str, &'static str, fn(&WorkerStatus) -> f64);
    let series: [Series; 3] = [
        ("nyaya_worker_restarts_total", "counter", "Worker restarts (crashes and --max-memory replacements)", |w| {
            w.restarts as f64
        }),
        ("nyaya_worker_resident_memory_bytes", "gauge", "Resident memory of the worker process", |w| {
            w.memory_bytes as f64
        }),
        ("nyaya_worker_cpu_percent", "gauge", "CPU use of the worker process over the last second", |w| w.cpu_percent),
    ];
    for (name, kind, help, value) in series {
        own += &format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
        for w in &current {
            own += &format!("{name}{{worker=\"{}\"}} {}\n", w.id, value(w));
        }
    }
    let targets: Vec<(usize, SocketAddr)> = (0..cluster.shared.views.len())
        .filter_map(|id| {
            let view = cluster.shared.view(id);
            let info = view.current.as_ref().map(|i| lock(i));
            info.filter(|i| i.ready).and_then(|i| i.ops).map(|ops| (id, ops))
        })
        .collect();
    let fetches =
        targets.iter().map(|(id, ops)| async move { (id.to_string(), fetch_metrics(*ops).await.unwrap_or_default()) });
    let parts = futures::future::join_all(fetches).await;
    let body = own + &merge_metrics(&parts);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// `GET /metrics` from a worker's ops listener (loopback, HTTP/1.1, one request).
async fn fetch_metrics(ops: SocketAddr) -> Option<String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(ops).await.ok()?;
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: worker\r\nConnection: close\r\n\r\n").await.ok()?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.1 200").then(|| body.to_string())
    };
    tokio::time::timeout(Duration::from_secs(2), exchange).await.ok().flatten()
}

/// Merges Prometheus text from several workers into one exposition: each family once (its
/// HELP and TYPE from the first worker that has it), its samples from every worker together,
/// each with a `worker` label.
pub fn merge_metrics(parts: &[(String, String)]) -> String {
    struct Family {
        name: String,
        head: Vec<String>,
        samples: Vec<String>,
    }
    let mut families: Vec<Family> = Vec::new();
    let find = |families: &mut Vec<Family>, name: &str| -> usize {
        match families.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                families.push(Family { name: name.to_string(), head: Vec::new(), samples: Vec::new() });
                families.len() - 1
            }
        }
    };
    for (worker, text) in parts {
        let mut current: Option<usize> = None;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(rest) = line.strip_prefix("# HELP ").or_else(|| line.strip_prefix("# TYPE ")) {
                let name = rest.split_whitespace().next().unwrap_or_default();
                let i = find(&mut families, name);
                if !families[i].head.iter().any(|h| h == line)
                    && families[i].head.len() < 2
                    && families[i].samples.is_empty()
                {
                    families[i].head.push(line.to_string());
                }
                current = Some(i);
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let name = &line[..name_end];
            // Histogram and summary samples (`_bucket`, `_sum`, `_count`) belong to the family
            // declared just before them.
            let i = match current.filter(|i| name.starts_with(&families[*i].name)) {
                Some(i) => i,
                None => find(&mut families, name),
            };
            let labelled = match line[name_end..].strip_prefix('{') {
                Some(rest) if rest.starts_with('}') => format!("{name}{{worker=\"{worker}\"{rest}"),
                Some(rest) => format!("{name}{{worker=\"{worker}\",{rest}"),
                None => format!("{name}{{worker=\"{worker}\"}}{}", &line[name_end..]),
            };
            families[i].samples.push(labelled);
        }
    }
    let mut out = String::new();
    for family in families {
        for line in family.head.iter().chain(&family.samples) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_merge_by_family_with_worker_labels() {
        let worker = |n: u64| {
            format!(
                "# HELP http_requests_total Requests\n# TYPE http_requests_total counter\nhttp_requests_total{{method=\"GET\"}} {n}\n\n\
                 # TYPE lat histogram\nlat_bucket{{le=\"0.1\"}} {n}\nlat_sum {n}\nlat_count {n}\n"
            )
        };
        let merged = merge_metrics(&[("0".into(), worker(1)), ("1".into(), worker(2))]);
        assert_eq!(
            merged,
            "# HELP http_requests_total Requests\n# TYPE http_requests_total counter\n\
             http_requests_total{worker=\"0\",method=\"GET\"} 1\nhttp_requests_total{worker=\"1\",method=\"GET\"} 2\n\
             # TYPE lat histogram\nlat_bucket{worker=\"0\",le=\"0.1\"} 1\nlat_sum{worker=\"0\"} 1\nlat_count{worker=\"0\"} 1\n\
             lat_bucket{worker=\"1\",le=\"0.1\"} 2\nlat_sum{worker=\"1\"} 2\nlat_count{worker=\"1\"} 2\n"
        );
    }
}
