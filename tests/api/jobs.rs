//! Background jobs (issue 6): retries with backoff, the failed set and its admin routes,
//! delayed jobs, abandoned leases, and email delivery through a real SMTP server. Each test
//! runs on every job store configured: SQLite always, Redis with `NYAYA_TEST_REDIS_URL`,
//! PostgreSQL with `NYAYA_TEST_DATABASE_URL`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use nyaya::jobs::runner::{Handler, JobError, Workers};
use nyaya::jobs::{Claimed, JobState, Queue, When};
use nyaya::mail::Email;
use nyaya::service::background::EmailJob;
use nyaya::store::users::Role;
use serde_json::Value;

use crate::admin::account;
use crate::helpers::*;
use crate::support::smtp::SmtpServer;

/// Settings of each job store available to this run, with fast retries for the tests.
fn job_stores() -> Vec<Vec<(&'static str, String)>> {
    let fast = |backend: &str| {
        vec![
            ("JOBS_BACKEND", backend.to_string()),
            ("JOBS_RETRY_BASE", "50ms".to_string()),
            ("JOBS_RETRY_MAX", "200ms".to_string()),
            ("JOBS_MAX_ATTEMPTS", "3".to_string()),
            ("JOBS_POLL_INTERVAL", "50ms".to_string()),
        ]
    };
    let mut stores = vec![fast("sqlite")];
    if let Ok(url) = std::env::var("NYAYA_TEST_REDIS_URL") {
        let mut redis = fast("redis");
        redis.push(("REDIS_URL", url));
        redis.push(("REDIS_PREFIX", format!("nyaya-test-{}:", nyaya::ids::random_hex(6))));
        stores.push(redis);
    }
    if std::env::var("NYAYA_TEST_DATABASE_URL").is_ok() {
        stores.push(fast("postgres"));
    }
    stores
}

async fn spawn_on(store: &[(&'static str, String)], extra: &[(&'static str, String)]) -> TestApp {
    let vars: Vec<(&str, &str)> = store.iter().chain(extra).map(|(k, v)| (*k, v.as_str())).collect();
    spawn_with(&vars).await
}

/// A handler that fails while `failing` is set, counting its runs.
#[derive(Default)]
struct Flaky {
    runs: AtomicU32,
    failing: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Handler for Flaky {
    async fn run(&self, _job: &Claimed) -> Result<(), JobError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) { Err(JobError::retry("downstream refused")) } else { Ok(()) }
    }
}

/// A server without job workers, plus one worker of our own running `Flaky` on `noop`.
async fn with_flaky_worker(store: &[(&'static str, String)], failing: bool) -> (TestApp, Arc<Flaky>, Workers) {
    let app = spawn_on(store, &[("JOBS_WORKERS", "off".into())]).await;
    let flaky = Arc::new(Flaky::default());
    flaky.failing.store(failing, Ordering::SeqCst);
    let workers = Workers::start(&app.state().jobs, vec![(Queue::Noop, flaky.clone() as Arc<dyn Handler>)]);
    (app, flaky, workers)
}

/// Jobs of `queue` that may still run: ready, running, scheduled or failed (retryable).
async fn pending_jobs(app: &TestApp, queue: Queue) -> u64 {
    let counts = app.state().jobs.counts().await.unwrap();
    counts.iter().filter(|c| c.queue == queue.as_str()).map(|c| c.ready + c.running + c.scheduled + c.failed).sum()
}

async fn failed_count(app: &TestApp, queue: Queue) -> u64 {
    let counts = app.state().jobs.counts().await.unwrap();
    counts.iter().find(|c| c.queue == queue.as_str()).map(|c| c.failed).unwrap_or(0)
}

#[tokio::test]
async fn failing_jobs_retry_then_fail_and_an_admin_retry_runs_them_once() {
    for store in job_stores() {
        let (app, flaky, workers) = with_flaky_worker(&store, true).await;
        let id = app.state().jobs.enqueue(Queue::Noop, &(), When::Now).await.unwrap();

        eventually("the job to reach the failed set", Duration::from_secs(10), || async {
            failed_count(&app, Queue::Noop).await == 1
        })
        .await;
        assert_eq!(flaky.runs.load(Ordering::SeqCst), 3, "one run per attempt, JOBS_MAX_ATTEMPTS=3 ({store:?})");

        let admin = account(&app, Role::Admin, "Jobs Admin", |_| {}).await;
        let listed = app.get("/api/admin/jobs?state=failed&queue=noop", Some(&admin.token)).await;
        listed.assert_status(200);
        let job = &listed.data()["jobs"][0];
        assert_eq!(job["id"], id.as_str());
        assert_eq!(job["attempts"], 3);
        assert_eq!(job["lastError"], "downstream refused");
        assert_eq!(listed.data()["pagination"]["total"], 1);

        // The downstream recovers; the admin retry runs the job exactly once more.
        flaky.failing.store(false, Ordering::SeqCst);
        app.post(&format!("/api/admin/jobs/{id}/retry"), Some(&admin.token), Value::Null).await.assert_status(200);
        eventually("the retried job to finish", Duration::from_secs(10), || async {
            app.state().jobs.get(id.as_str()).await.unwrap().is_none()
        })
        .await;
        assert_eq!(flaky.runs.load(Ordering::SeqCst), 4);
        assert_eq!(failed_count(&app, Queue::Noop).await, 0);
        // Not failed any more: a second retry or a discard finds nothing.
        app.post(&format!("/api/admin/jobs/{id}/retry"), Some(&admin.token), Value::Null).await.assert_status(404);
        app.delete(&format!("/api/admin/jobs/{id}"), Some(&admin.token)).await.assert_status(404);
        workers.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn an_admin_discards_a_failed_job_and_bad_input_is_refused() {
    for store in job_stores() {
        let (app, flaky, workers) = with_flaky_worker(&store, true).await;
        let id = app.state().jobs.enqueue(Queue::Noop, &(), When::Now).await.unwrap();
        eventually("the job to fail", Duration::from_secs(10), || async { failed_count(&app, Queue::Noop).await == 1 })
            .await;

        let admin = account(&app, Role::Admin, "Jobs Admin", |_| {}).await;
        let citizen = account(&app, Role::Citizen, "Nosy Citizen", |_| {}).await;
        app.get("/api/admin/jobs", Some(&citizen.token)).await.assert_status(403);
        app.get("/api/admin/jobs?state=sleeping", Some(&admin.token)).await.assert_status(400);
        app.get("/api/admin/jobs?queue=fax", Some(&admin.token)).await.assert_status(400);
        app.post("/api/admin/jobs/not-an-id/retry", Some(&admin.token), Value::Null).await.assert_status(400);
        let stats = app.get("/api/admin/jobs/stats", Some(&admin.token)).await;
        stats.assert_status(200);
        let noop = stats.data()["queues"].as_array().unwrap().iter().find(|q| q["queue"] == "noop").unwrap().clone();
        assert_eq!(noop["failed"], 1);

        app.delete(&format!("/api/admin/jobs/{id}"), Some(&admin.token)).await.assert_status(200);
        assert_eq!(failed_count(&app, Queue::Noop).await, 0);
        app.get(&format!("/api/admin/jobs/{id}"), Some(&admin.token)).await.assert_status(404);
        assert_eq!(flaky.runs.load(Ordering::SeqCst), 3, "a discarded job never runs again");
        workers.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn a_delayed_job_waits_for_its_time() {
    for store in job_stores() {
        let (app, flaky, workers) = with_flaky_worker(&store, false).await;
        let started = Instant::now();
        app.state().jobs.enqueue(Queue::Noop, &(), When::After(Duration::from_millis(1500))).await.unwrap();
        let counts = app.state().jobs.counts().await.unwrap();
        assert_eq!(counts.iter().find(|c| c.queue == "noop").unwrap().scheduled, 1);
        eventually("the delayed job to run", Duration::from_secs(10), || async {
            flaky.runs.load(Ordering::SeqCst) == 1
        })
        .await;
        assert!(started.elapsed() >= Duration::from_millis(1500), "ran after {:?}", started.elapsed());
        workers.shutdown(Duration::from_secs(5)).await;
    }
}

/// A handler that never finishes: its worker is as good as dead.
struct Stuck;

#[async_trait]
impl Handler for Stuck {
    async fn run(&self, _job: &Claimed) -> Result<(), JobError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_job_whose_worker_vanished_runs_again_after_its_lease() {
    for store in job_stores() {
        let app = spawn_on(&store, &[("JOBS_WORKERS", "off".into()), ("JOBS_LEASE", "1s".into())]).await;
        let jobs = &app.state().jobs;
        let stuck = Workers::start(jobs, vec![(Queue::Noop, Arc::new(Stuck) as Arc<dyn Handler>)]);
        let id = jobs.enqueue(Queue::Noop, &(), When::Now).await.unwrap();
        eventually("the job to be claimed", Duration::from_secs(10), || async {
            jobs.get(id.as_str()).await.unwrap().is_some_and(|j| j.state == JobState::Running)
        })
        .await;
        drop(stuck);

        let flaky = Arc::new(Flaky::default());
        let healthy = Workers::start(jobs, vec![(Queue::Noop, flaky.clone() as Arc<dyn Handler>)]);
        eventually("the abandoned job to finish elsewhere", Duration::from_secs(10), || async {
            jobs.get(id.as_str()).await.unwrap().is_none()
        })
        .await;
        assert_eq!(flaky.runs.load(Ordering::SeqCst), 1);
        healthy.shutdown(Duration::from_secs(5)).await;
    }
}

fn test_email(to: &str) -> Email {
    Email { to: to.into(), subject: "Queued hello".into(), html: "<p>hello</p>".into(), text: "hello".into() }
}

/// The registration's answer does not wait for its email: it arrives while the SMTP server
/// holds the message unanswered, and the email is accepted after it. An ordering, not a
/// duration: bench/jobs.sh measures the registration's latency with a slow SMTP server.
#[tokio::test]
#[ignore = "needs Python's aiosmtpd (installed by .ci/run)"]
async fn registration_answers_before_the_smtp_server_accepts_the_email() {
    for store in job_stores() {
        let smtp = SmtpServer::start();
        // Nothing is accepted until the test says so: a registration that waited for its
        // email would never answer (the bound only keeps that failure from hanging the run).
        smtp.set_mode("hold");
        let app = spawn_on(&store, &[("SMTP_URL", smtp.url())]).await;
        let registration = register(&app, "lawyer", serde_json::json!({}));
        let registered = tokio::time::timeout(Duration::from_secs(30), registration).await;
        let (user, _) = registered.unwrap_or_else(|_| panic!("registration waited for the SMTP server ({store:?})"));
        // The email is on its way after the answer: the server has it in hand, unanswered.
        smtp.wait_event("held", 1, Duration::from_secs(20)).await;
        assert!(smtp.messages().is_empty());
        smtp.set_mode("accept");
        let email = user["email"].as_str().unwrap();
        let messages = smtp.wait_for(1, Duration::from_secs(20)).await;
        assert!(messages.iter().any(|m| m.contains(email)), "no message to {email}");
    }
}

#[tokio::test]
#[ignore = "needs Python's aiosmtpd (installed by .ci/run)"]
async fn refused_email_lands_in_the_failed_set_and_an_admin_retry_delivers_it_once() {
    for store in job_stores() {
        let smtp = SmtpServer::start();
        smtp.set_mode("refuse");
        let app = spawn_on(&store, &[("SMTP_URL", smtp.url())]).await;
        let to = unique_email("refused");
        nyaya::service::background::send_email(app.state(), test_email(&to)).await;
        eventually("the email job to fail for good", Duration::from_secs(20), || async {
            failed_count(&app, Queue::Email).await == 1
        })
        .await;
        assert!(smtp.messages().is_empty());

        let admin = account(&app, Role::Admin, "Mail Admin", |_| {}).await;
        let failed = app.get("/api/admin/jobs?queue=email", Some(&admin.token)).await;
        let job = failed.data()["jobs"][0].clone();
        assert_eq!(job["attempts"], 3);
        assert!(job["lastError"].as_str().unwrap().contains("554"), "{job}");
        assert_eq!(job["payload"]["email"]["to"], to.as_str());
        assert!(
            job["payload"]["email"].get("html").is_none() && job["payload"]["email"].get("text").is_none(),
            "bodies may hold one-time tokens"
        );

        smtp.set_mode("accept");
        let id = job["id"].as_str().unwrap();
        app.post(&format!("/api/admin/jobs/{id}/retry"), Some(&admin.token), Value::Null).await.assert_status(200);
        smtp.wait_for(1, Duration::from_secs(20)).await;
        eventually("the job to complete", Duration::from_secs(10), || async {
            app.state().jobs.get(id).await.unwrap().is_none()
        })
        .await;
        // Nothing is left that could send it again: no email job is ready, running, waiting or
        // failed, and every message the server accepted is on disk before its 250.
        assert_eq!(pending_jobs(&app, Queue::Email).await, 0, "{store:?}");
        assert_eq!(smtp.messages().len(), 1, "delivered exactly once");
        assert_eq!(nyaya::store::email_deliveries::count_for_recipient(&app.state().db, &to).await.unwrap(), 1);
    }
}

#[tokio::test]
#[ignore = "needs Python's aiosmtpd (installed by .ci/run)"]
async fn an_email_job_run_again_after_delivery_sends_nothing() {
    let smtp = SmtpServer::start();
    let app = spawn_with(&[("SMTP_URL", smtp.url().as_str()), ("JOBS_WORKERS", "off")]).await;
    let to = unique_email("once");
    let job = Claimed {
        id: nyaya::ids::Id::new().to_string(),
        queue: Queue::Email,
        payload: serde_json::to_string(&EmailJob { email: test_email(&to) }).unwrap(),
        attempt: 1,
        max_attempts: 3,
    };
    let handlers = nyaya::service::background::all(app.state(), &[Queue::Email]);
    let send = &handlers[0].1;
    send.run(&job).await.expect("first run sends");
    // As after a crash between the SMTP server's 250 and the job's completion.
    send.run(&Claimed { attempt: 2, ..job.clone() }).await.expect("second run is a no-op");
    // Both runs have returned, and the server writes a message before answering 250: a second
    // sending would be on disk by now.
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test]
async fn inline_mode_sends_before_answering() {
    let app = spawn_with(&[("EMAIL_MODE", "inline")]).await;
    let to = unique_email("inline");
    nyaya::service::background::send_email(app.state(), test_email(&to)).await;
    // Written to the outbox before deliver returned, and no job was queued.
    let outbox: Vec<_> = std::fs::read_dir(app.state().config.outbox_dir()).unwrap().collect();
    assert_eq!(outbox.len(), 1);
    let counts = app.state().jobs.counts().await.unwrap();
    assert!(counts.iter().all(|c| c.ready + c.running + c.failed == 0));
}

#[tokio::test]
async fn the_ops_dashboard_lists_failed_jobs_escaped() {
    // Other tests' no-op jobs fail too: the counter is read alone, around this test's failure.
    if !alone(module_path!(), "the_ops_dashboard_lists_failed_jobs_escaped") {
        return;
    }
    const FAILED: &str = r#"nyaya_jobs_total{queue="noop",outcome="failed"}"#;
    let app = spawn_with(&[("JOBS_WORKERS", "off"), ("JOBS_MAX_ATTEMPTS", "1")]).await;
    let before = app.metric(FAILED).await;
    struct Hostile;
    #[async_trait]
    impl Handler for Hostile {
        async fn run(&self, _job: &Claimed) -> Result<(), JobError> {
            Err(JobError::fatal("<script>alert(1)</script>"))
        }
    }
    let workers = Workers::start(&app.state().jobs, vec![(Queue::Noop, Arc::new(Hostile) as Arc<dyn Handler>)]);
    app.state().jobs.enqueue(Queue::Noop, &(), When::Now).await.unwrap();
    eventually("the job to fail", Duration::from_secs(10), || async { failed_count(&app, Queue::Noop).await == 1 })
        .await;
    let page = reqwest::get(format!("{}/jobs?state=failed", app.ops)).await.unwrap().text().await.unwrap();
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.contains("<script>alert"));
    // Counted once, just after the store recorded it.
    eventually("the failure to be counted", Duration::from_secs(10), async || app.metric(FAILED).await > before).await;
    assert_eq!(app.metric(FAILED).await, before + 1.0);
    workers.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_admin_job_routes_need_a_signed_in_admin() {
    let app = spawn_with(&[("JOBS_WORKERS", "off")]).await;
    let id = app.state().jobs.enqueue(Queue::Noop, &(), When::Now).await.unwrap();
    let citizen = account(&app, Role::Citizen, "Curious Citizen", |_| {}).await;
    let lawyer = account(&app, Role::Lawyer, "Curious Lawyer", |_| {}).await;
    let routes = [
        (reqwest::Method::GET, "/api/admin/jobs".to_string()),
        (reqwest::Method::GET, "/api/admin/jobs/stats".to_string()),
        (reqwest::Method::GET, format!("/api/admin/jobs/{id}")),
        (reqwest::Method::POST, format!("/api/admin/jobs/{id}/retry")),
        (reqwest::Method::DELETE, format!("/api/admin/jobs/{id}")),
    ];
    for (method, path) in &routes {
        let anonymous = app.call(method.clone(), path, None, None).await;
        anonymous.assert_status(401);
        assert_eq!(anonymous.body["success"], false, "{method} {path}: {}", anonymous.body);
        let forged = app.call(method.clone(), path, Some("not-a-token"), None).await;
        forged.assert_status(401);
        for user in [&citizen, &lawyer] {
            app.call(method.clone(), path, Some(&user.token), None).await.assert_status(403);
        }
    }
    // None of the refused calls touched the job.
    let job = app.state().jobs.get(id.as_str()).await.unwrap().expect("the job is still queued");
    assert_eq!(job.state, JobState::Ready);
}

#[tokio::test]
async fn an_admin_reads_one_job_without_its_email_body() {
    for store in job_stores() {
        let app = spawn_on(&store, &[("JOBS_WORKERS", "off".into())]).await;
        let to = unique_email("one-job");
        let id = app.state().jobs.enqueue(Queue::Email, &EmailJob { email: test_email(&to) }, When::Now).await.unwrap();
        let admin = account(&app, Role::Admin, "Jobs Admin", |_| {}).await;

        let r = app.get(&format!("/api/admin/jobs/{id}"), Some(&admin.token)).await;
        r.assert_status(200);
        let job = &r.data()["job"];
        assert_eq!(job["id"], id.as_str(), "{store:?}");
        assert_eq!(job["queue"], "email");
        assert_eq!(job["state"], "ready");
        assert_eq!(job["attempts"], 0);
        assert_eq!(job["maxAttempts"], 3);
        assert!(job["runAt"].is_string() && job["createdAt"].is_string(), "{job}");
        assert_eq!(job["payload"]["email"]["to"], to.as_str());
        assert_eq!(job["payload"]["email"]["subject"], "Queued hello");
        assert!(
            job["payload"]["email"].get("html").is_none() && job["payload"]["email"].get("text").is_none(),
            "bodies may hold one-time tokens"
        );

        app.get("/api/admin/jobs/not-an-id", Some(&admin.token)).await.assert_status(400);
        let missing = app.get(&format!("/api/admin/jobs/{}", nyaya::ids::Id::new()), Some(&admin.token)).await;
        missing.assert_status(404);
        assert_eq!(missing.message(), "Job not found");
    }
}
