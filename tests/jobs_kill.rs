//! At-least-once delivery across a crash: a `nyaya worker` process is killed with SIGKILL
//! while it is sending an email; after a restart the job completes and the email is
//! accepted exactly once. Runs on SQLite, and on Redis / PostgreSQL when configured.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use nyaya::config::Config;
use nyaya::jobs::{JobState, Jobs, Queue, When};
use nyaya::mail::Email;
use nyaya::service::background::EmailJob;
use support::harness::{Process, eventually, free_port, fresh_postgres, nyaya_command, sqlite_url, temp_dir};
use support::smtp::SmtpServer;

async fn stores(data_dir: &Path) -> Vec<HashMap<String, String>> {
    let sqlite_db = sqlite_url(data_dir);
    let mut out =
        vec![HashMap::from([("JOBS_BACKEND".into(), "sqlite".into()), ("DATABASE_URL".into(), sqlite_db.clone())])];
    if let Ok(redis) = std::env::var("NYAYA_TEST_REDIS_URL") {
        out.push(HashMap::from([
            ("JOBS_BACKEND".into(), "redis".into()),
            ("DATABASE_URL".into(), sqlite_db.clone()),
            ("REDIS_URL".into(), redis),
            ("REDIS_PREFIX".into(), format!("nyaya-kill-{}:", nyaya::ids::random_hex(6))),
        ]));
    }
    if let Some(pg) = fresh_postgres().await {
        out.push(HashMap::from([("JOBS_BACKEND".into(), "postgres".into()), ("DATABASE_URL".into(), pg)]));
    }
    out
}

fn start_worker(vars: &HashMap<String, String>, ops: u16) -> Process {
    let ops = format!("127.0.0.1:{ops}");
    Process::start(nyaya_command(&["worker", "--queues", "email", "--ops-addr", &ops], vars), None)
}

async fn live(ops: u16) -> bool {
    reqwest::get(format!("http://127.0.0.1:{ops}/live")).await.is_ok_and(|r| r.status().is_success())
}

#[tokio::test]
#[ignore = "needs Python's aiosmtpd (installed by .ci/run)"]
async fn a_worker_killed_mid_job_loses_nothing_and_sends_once() {
    let data_dir = temp_dir("kill");
    for store in stores(&data_dir).await {
        let smtp = SmtpServer::start();
        // Every message waits, unanswered, until the test lets the server accept it.
        smtp.set_mode("hold");
        let mut vars: HashMap<String, String> = HashMap::from([
            ("DATA_DIR".into(), data_dir.display().to_string()),
            ("JWT_SECRET".into(), "kill-test-access".into()),
            ("JWT_REFRESH_SECRET".into(), "kill-test-refresh".into()),
            ("SMTP_URL".into(), smtp.url()),
            ("JOBS_LEASE".into(), "2s".into()),
            ("JOBS_POLL_INTERVAL".into(), "100ms".into()),
            ("RUST_LOG".into(), "warn".into()),
        ]);
        vars.extend(store.clone());
        let config = Config::from_lookup(&|k| vars.get(k).cloned()).unwrap();
        let db = nyaya::db::Db::connect(&config.database_url, 2).await.unwrap();
        db.migrate().await.unwrap();
        let jobs = Jobs::connect(config.jobs.clone(), &config.job_store()).await.unwrap();

        let ops = free_port();
        let mut worker = start_worker(&vars, ops);
        eventually("the worker to start", Duration::from_secs(30), async || live(ops).await).await;

        let to = format!("kill-{}@example.com", nyaya::ids::random_hex(4));
        let email =
            Email { to: to.clone(), subject: "Survives a crash".into(), html: "<p>hi</p>".into(), text: "hi".into() };
        let id = jobs.enqueue(Queue::Email, &EmailJob { email }, When::Now).await.unwrap();
        eventually("the worker to take the job", Duration::from_secs(10), async || {
            jobs.get(id.as_str()).await.unwrap().is_some_and(|j| j.state == JobState::Running)
        })
        .await;
        // Mid-sending: the server has the message and has not answered.
        smtp.wait_event("held", 1, Duration::from_secs(10)).await;
        worker.kill();
        assert!(jobs.get(id.as_str()).await.unwrap().is_some(), "the job survived the crash ({store:?})");
        // The server saw its client go: that attempt can never be accepted.
        smtp.wait_event("dropped", 1, Duration::from_secs(10)).await;

        smtp.set_mode("accept");
        let ops = free_port();
        let mut restarted = start_worker(&vars, ops);
        eventually("the job to complete after the restart", Duration::from_secs(30), async || {
            jobs.get(id.as_str()).await.unwrap().is_none()
        })
        .await;
        // Completed after the server's 250, and the server stores a message before answering:
        // the one accepted copy is on disk, and no job is left to send another.
        let counts = jobs.counts().await.unwrap();
        assert!(counts.iter().all(|c| c.ready + c.scheduled + c.running + c.failed == 0), "{counts:?} ({store:?})");
        let messages = smtp.messages();
        assert_eq!(messages.len(), 1, "accepted exactly once ({store:?})");
        assert!(messages[0].contains(&to));
        assert_eq!(nyaya::store::email_deliveries::count_for_recipient(&db, &to).await.unwrap(), 1);
        restarted.kill();
        db.close().await;
    }
    let _ = std::fs::remove_dir_all(&data_dir);
}
