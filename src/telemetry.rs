//! Logs (tracing, JSON with `LOG_FORMAT=json`) and the process-wide Prometheus recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = if json { builder.json().flatten_event(true).try_init() } else { builder.try_init() };
}

/// Installs the recorder on first use; every server in the process renders the same registry.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("http_request_duration_seconds".into()),
                &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
            )
            .expect("valid buckets")
            .install_recorder()
            .expect("a single metrics recorder per process");
        describe();
        // Histogram samples pile up in the recorder until they are folded into the buckets:
        // without a scrape, that is only upkeep, so without this the memory grows with every
        // request for as long as nothing reads `/metrics`.
        let upkept = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(5));
                    upkept.run_upkeep();
                }
            })
            .expect("spawn the metrics upkeep thread");
        handle
    })
}

fn describe() {
    metrics::describe_counter!("http_requests_total", "HTTP requests by method, matched route and status");
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        "HTTP request latency by method, matched route and status"
    );
    metrics::describe_counter!("nyaya_db_queries_total", "Statements sent to the database");
    metrics::describe_counter!(
        "nyaya_db_writes_total",
        "Statements sent to the database that change data (and BEGIN/COMMIT)"
    );
    metrics::describe_gauge!("nyaya_socket_connections", "Socket.IO connections open on this instance");
    metrics::describe_counter!("nyaya_socket_events_total", "Socket.IO client events received, by event");
    metrics::describe_counter!("nyaya_chat_messages_total", "Chat messages stored through Socket.IO");
}
