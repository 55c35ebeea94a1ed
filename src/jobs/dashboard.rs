//! The job dashboard on the ops listener (`ADMIN_ADDR`, loopback by default), like Bull Board:
//! counts per queue, jobs by state, retry and discard for failed ones. Plain HTML with every
//! value escaped; the admin API (`/api/admin/jobs`) offers the same over JSON.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::{JobRecord, JobState, Jobs, Queue, QueueCounts};

pub fn routes() -> Router<Jobs> {
    Router::new()
        .route("/jobs", get(page))
        .route("/jobs/{id}/retry", post(retry))
        .route("/jobs/{id}/discard", post(discard))
}

const PAGE_SIZE: u32 = 50;

async fn page(State(jobs): State<Jobs>, Query(q): Query<HashMap<String, String>>) -> Response {
    let state: JobState = q.get("state").and_then(|s| s.parse().ok()).unwrap_or(JobState::Failed);
    let queue: Option<Queue> = q.get("queue").and_then(|s| s.parse().ok());
    let listed = async { Ok::<_, anyhow::Error>((jobs.counts().await?, jobs.list(queue, state, PAGE_SIZE, 0).await?)) };
    match listed.await {
        Ok((counts, (list, total))) => {
            Html(render(jobs.backend().as_str(), &counts, state, queue, &list, total)).into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("job store unavailable: {e:#}")).into_response(),
    }
}

async fn retry(State(jobs): State<Jobs>, Path(id): Path<String>) -> Response {
    act(jobs.retry_failed(&id).await)
}

async fn discard(State(jobs): State<Jobs>, Path(id): Path<String>) -> Response {
    act(jobs.discard_failed(&id).await)
}

fn act(result: anyhow::Result<bool>) -> Response {
    match result {
        Ok(true) => Redirect::to("/jobs?state=failed").into_response(),
        Ok(false) => (StatusCode::NOT_FOUND, "no failed job with this id").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("job store unavailable: {e:#}")).into_response(),
    }
}

fn render(
    backend: &str,
    counts: &[QueueCounts],
    state: JobState,
    queue: Option<Queue>,
    jobs: &[JobRecord],
    total: u64,
) -> String {
    let link = |q: &str, s: &str, n: u64| format!("<a href=\"/jobs?queue={q}&state={s}\">{n}</a>");
    let count_rows: String = counts
        .iter()
        .map(|c| {
            format!(
                "<tr><td>{q}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                link(&c.queue, "ready", c.ready),
                c.scheduled,
                link(&c.queue, "running", c.running),
                link(&c.queue, "failed", c.failed),
                q = esc(&c.queue),
            )
        })
        .collect();
    let job_rows: String = jobs
        .iter()
        .map(|j| {
            let actions = if j.state == JobState::Failed {
                format!(
                    "<form method=post action=\"/jobs/{id}/retry\"><button>retry</button></form>\
                     <form method=post action=\"/jobs/{id}/discard\"><button>discard</button></form>",
                    id = esc(&j.id)
                )
            } else {
                String::new()
            };
            format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{actions}</td></tr>",
                esc(&j.id),
                esc(&j.queue),
                j.attempts,
                j.max_attempts,
                esc(&j.run_at),
                esc(j.last_error.as_deref().unwrap_or("")),
                esc(&truncate(&j.payload.to_string(), 160)),
            )
        })
        .collect();
    let scope = queue.map(|q| q.as_str()).unwrap_or("all queues");
    format!(
        "<!doctype html><html><head><meta charset=utf-8><meta http-equiv=refresh content=5><title>nyaya jobs</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}form{{display:inline}}</style></head>\
         <body><h1>Jobs <small>({backend})</small></h1>\
         <table><tr><th>queue</th><th>ready</th><th>scheduled</th><th>running</th><th>failed</th></tr>{count_rows}</table>\
         <h2>{state} jobs of {scope} ({total})</h2>\
         <table><tr><th>id</th><th>queue</th><th>attempts</th><th>run at / failed at</th><th>last error</th><th>payload</th><th></th></tr>{job_rows}</table>\
         </body></html>",
        backend = esc(backend),
        state = state.as_str(),
        scope = esc(scope),
    )
}

/// Text for HTML element content and quoted attributes.
fn esc(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
