//! At-least-once delivery across a crash: a `nyaya worker` process is killed with SIGKILL
//! while it is sending an email; after a restart the job completes and the email is
//! accepted exactly once. Runs on SQLite, and on Redis / PostgreSQL when configured.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nyaya::config::Config;
use nyaya::service::background::EmailJob;
use nyaya::jobs::{JobState, Jobs, Queue, When};
use nyaya::mail::Email;

#[path = "support/smtp.rs"]
mod smtp;
use smtp::SmtpServer;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A fresh PostgreSQL database for this test, when one is configured.
async fn fresh_postgres() -> Option<String> {
    let admin_url = std::env::var("NYAYA_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())?;
    let name = format!("nyaya_t_{}_{}", chrono::Utc::now().timestamp(), nyaya::ids::random_hex(4));
    let admin = nyaya::db::Db::connect(&admin_url, 1).await.expect("connect to NYAYA_TEST_DATABASE_URL");
    admin.raw(&format!("CREATE DATABASE {name}")).await.expect("create test database");
    admin.close().await;
    let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin_url).to_string();
    Some(format!("{base}/{name}"))
}

async fn stores(data_dir: &Path) -> Vec<HashMap<String, String>> {
    let sqlite_db = format!("sqlite://{}?mode=rwc", data_dir.join("nyaya.db").display());
    let mut out = vec![HashMap::from([("JOBS_BACKEND".into(), "sqlite".into()), ("DATABASE_URL".into(), sqlite_db.clone())])];
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

fn start_worker(vars: &HashMap<String, String>, ops: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_nyaya"))
        .args(["worker", "--queues", "email", "--ops-addr", &format!("127.0.0.1:{ops}")])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(vars)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nyaya worker")
}

async fn wait_until(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn live(ops: u16) -> bool {
    reqwest::get(format!("http://127.0.0.1:{ops}/live")).await.is_ok_and(|r| r.status().is_success())
}

#[tokio::test]
#[ignore = "needs Python's aiosmtpd (installed by .ci/run)"]
async fn a_worker_killed_mid_job_loses_nothing_and_sends_once() {
    let data_dir: PathBuf = std::env::temp_dir().join(format!("nyaya-kill-{}", nyaya::ids::random_hex(6)));
    std::fs::create_dir_all(&data_dir).unwrap();
    for store in stores(&data_dir).await {
        let smtp = SmtpServer::start();
        smtp.set_mode("delay:3");
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
        wait_until("the worker to start", Duration::from_secs(30), async || live(ops).await).await;

        let to = format!("kill-{}@example.com", nyaya::ids::random_hex(4));
        let email = Email { to: to.clone(), subject: "Survives a crash".into(), html: "<p>hi</p>".into(), text: "hi".into() };
        let id = jobs.enqueue(Queue::Email, &EmailJob { email }, When::Now).await.unwrap();
        wait_until("the worker to take the job", Duration::from_secs(10), async || {
            jobs.get(id.as_str()).await.unwrap().is_some_and(|j| j.state == JobState::Running)
        })
        .await;
        // Inside the SMTP server's 3 s wait: the message is not accepted yet.
        tokio::time::sleep(Duration::from_millis(800)).await;
        worker.kill().expect("SIGKILL the worker");
        worker.wait().unwrap();
        assert!(jobs.get(id.as_str()).await.unwrap().is_some(), "the job survived the crash ({store:?})");

        smtp.set_mode("accept");
        let ops = free_port();
        let mut restarted = start_worker(&vars, ops);
        wait_until("the job to complete after the restart", Duration::from_secs(30), async || {
            jobs.get(id.as_str()).await.unwrap().is_none()
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let messages = smtp.messages();
        assert_eq!(messages.len(), 1, "accepted exactly once ({store:?})");
        assert!(messages[0].contains(&to));
        assert_eq!(nyaya::store::email_deliveries::count_for_recipient(&db, &to).await.unwrap(), 1);
        restarted.kill().unwrap();
        restarted.wait().unwrap();
        db.close().await;
    }
    let _ = std::fs::remove_dir_all(&data_dir);
}
