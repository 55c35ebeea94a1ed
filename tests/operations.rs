//! Operations commands end to end, with the real binary: `nyaya backup` of a server under
//! write load, `nyaya backup --verify`, `nyaya restore` into a fresh deployment (and its
//! refusals), and `nyaya healthcheck` (the container image's health check).
//!
//! SQLite by default; with `NYAYA_TEST_DATABASE_URL` the database part goes through
//! `pg_dump`/`pg_restore` into a fresh PostgreSQL database.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::harness::{Process, free_port, fresh_database, nyaya_command, postgres_admin_url, temp_dir};

const PASSWORD: &str = "Secret123";

/// Where one deployment keeps its data. No JWT secrets are set: the server generates them
/// into `<data>/secrets`, which the backup must carry (tokens stay valid after a restore).
#[derive(Clone)]
struct Site {
    data_dir: PathBuf,
    database: String,
}

impl Site {
    async fn new(root: &Path, name: &str) -> Site {
        let data_dir = root.join(name);
        std::fs::create_dir_all(&data_dir).unwrap();
        let database = fresh_database(&data_dir).await;
        Site { data_dir, database }
    }

    fn env(&self) -> Vec<(String, String)> {
        [
            ("NYAYA_ENV", "development"),
            ("DATA_DIR", &self.data_dir.display().to_string()),
            ("DATABASE_URL", &self.database),
            ("RATE_LIMIT_MAX_REQUESTS", "100000000"),
            ("DB_MAX_CONNECTIONS", "8"),
            ("HOST", "127.0.0.1"),
            ("RUST_LOG", "warn"),
            ("NO_COLOR", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = nyaya_command(args, self.env());
        cmd.current_dir(self.data_dir.parent().unwrap());
        cmd
    }

    /// Runs a command to its end (off the async runtime's threads).
    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        tokio::task::spawn_blocking(move || cmd.output().expect("run nyaya")).await.unwrap()
    }
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `nyaya serve` on free loopback ports, stopped (SIGTERM, then SIGKILL) when dropped.
struct Server {
    process: Process,
    port: u16,
    ops: u16,
    http: reqwest::Client,
}

impl Server {
    async fn start(site: &Site, log: PathBuf) -> Server {
        let (port, ops) = (free_port(), free_port());
        let mut command = site.command(&["serve"]);
        command.env("PORT", port.to_string()).env("ADMIN_ADDR", format!("127.0.0.1:{ops}"));
        let process = Process::start(command, Some(&log));
        let server = Server { process, port, ops, http: reqwest::Client::new() };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = server.http.get(format!("http://127.0.0.1:{ops}/ready")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            assert!(Instant::now() < deadline, "nyaya did not become ready; log:\n{}", server.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        self.process.log()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn upload(&self, token: &str, query: &str, name: &str, bytes: Vec<u8>) -> (u16, Value) {
        let form =
            reqwest::multipart::Form::new().text("documentType", "query").text("relatedId", query.to_string()).part(
                "document",
                reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()).mime_str("text/plain").unwrap(),
            );
        let res = self
            .http
            .post(self.url("/api/documents/upload"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    fn stop(&mut self) {
        self.process.stop();
    }
}

/// Removes the test's folder at the end (kept when the test fails, for its logs).
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

async fn register_citizen(server: &Server) -> String {
    let email = format!("backup.{}@example.com", nyaya::ids::random_hex(4));
    let body = json!({"name": "Asha Citizen", "email": email, "password": PASSWORD, "role": "citizen"});
    let (status, reply) = server.call(reqwest::Method::POST, "/api/auth/register", None, Some(body)).await;
    assert_eq!(status, 201, "register: {reply}");
    reply["data"]["tokens"]["accessToken"].as_str().expect("access token").to_string()
}

fn query_body(n: usize) -> Value {
    json!({
        "title": format!("Backup case {n}"),
        "description": format!("Boundary dispute number {n} with the neighbour over the wall"),
        "category": "property",
    })
}

/// A write the server acknowledged: a case (query) or a document with its bytes.
#[derive(Debug, Clone)]
enum Acked {
    Query { id: String, title: String },
    Document { id: String, bytes: Vec<u8> },
}

#[tokio::test]
async fn a_backup_under_write_load_restores_every_acknowledged_write() {
    let root = temp_dir("backup");
    let _cleanup = Cleanup(root.clone());
    let source = Site::new(&root, "source").await;
    let server = Arc::new(Server::start(&source, root.join("source.log")).await);
    let token = register_citizen(&server).await;

    // Before the load: a case with a few documents (the uploads folder has content).
    let (status, reply) = server.call(reqwest::Method::POST, "/api/queries", Some(&token), Some(query_body(0))).await;
    assert_eq!(status, 201, "create query: {reply}");
    let first_case = reply["data"]["query"]["_id"].as_str().unwrap().to_string();

    // Writers: cases, and every fourth write a document with unique content, until stopped.
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4usize {
        let (server, token, acked, stop, first_case) =
            (server.clone(), token.clone(), acked.clone(), stop.clone(), first_case.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let k = w * 1_000_000 + n;
                if n.is_multiple_of(4) {
                    let bytes =
                        format!("Witness statement {k}: the wall stood there in {}.\n", 1990 + n % 30).into_bytes();
                    let (status, reply) =
                        server.upload(&token, &first_case, &format!("statement-{k}.txt"), bytes.clone()).await;
                    assert_eq!(status, 201, "upload: {reply}");
                    let id = reply["data"]["document"]["_id"].as_str().unwrap().to_string();
                    acked.lock().unwrap().push(Acked::Document { id, bytes });
                } else {
                    let (status, reply) =
                        server.call(reqwest::Method::POST, "/api/queries", Some(&token), Some(query_body(k))).await;
                    assert_eq!(status, 201, "create query: {reply}");
                    let id = reply["data"]["query"]["_id"].as_str().unwrap().to_string();
                    acked.lock().unwrap().push(Acked::Query { id, title: format!("Backup case {k}") });
                }
            }
        }));
    }

    // Let the load run, then take the backup in the middle of it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (writes, documents) = {
            let acked = acked.lock().unwrap();
            (acked.len(), acked.iter().filter(|a| matches!(a, Acked::Document { .. })).count())
        };
        if writes >= 40 && documents >= 5 {
            break;
        }
        assert!(Instant::now() < deadline, "only {writes} writes acknowledged in 60 s");
    }
    let before: Vec<Acked> = acked.lock().unwrap().clone();
    let backup_dir = root.join("backups").join("nightly");
    let backup = source.run(&["backup", backup_dir.to_str().unwrap()]).await;
    let during = acked.lock().unwrap().len() - before.len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer");
    }
    assert!(backup.status.success(), "nyaya backup failed:\n{}", text(&backup));
    let documents_before = before.iter().filter(|a| matches!(a, Acked::Document { .. })).count();
    eprintln!("{} writes acknowledged before the backup, {during} while it ran", before.len());

    // The manifest describes what the backup holds.
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup_dir.join("manifest.json")).expect("manifest.json")).unwrap();
    let engine = if postgres_admin_url().is_some() { "postgres" } else { "sqlite" };
    assert_eq!(manifest["engine"], engine, "{manifest:#}");
    assert_eq!(manifest["nyaya"], env!("CARGO_PKG_VERSION"));
    assert!(manifest["startedAt"].is_string() && manifest["finishedAt"].is_string(), "{manifest:#}");
    let files: BTreeMap<String, Value> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_string(), f.clone()))
        .collect();
    let database_file = if engine == "sqlite" { "nyaya.db" } else { "database.pgdump" };
    for expected in [database_file, "jobs.db", "secrets/JWT_SECRET", "secrets/JWT_REFRESH_SECRET"] {
        let entry = files.get(expected).unwrap_or_else(|| panic!("{expected} not in the manifest: {manifest:#}"));
        assert_eq!(entry["size"].as_u64().unwrap(), std::fs::metadata(backup_dir.join(expected)).unwrap().len());
        assert_eq!(entry["sha256"].as_str().unwrap().len(), 64);
    }
    let uploads = files.keys().filter(|p| p.starts_with("uploads/")).count();
    assert!(uploads >= documents_before, "{uploads} uploads in the backup for {documents_before} documents");

    let verify = source.run(&["backup", "--verify", backup_dir.to_str().unwrap()]).await;
    assert!(verify.status.success(), "backup --verify failed:\n{}", text(&verify));

    // The source is busy and not empty: restore refuses it, and --force does not override a
    // running server.
    let refused = source.run(&["restore", backup_dir.to_str().unwrap()]).await;
    assert!(!refused.status.success());
    assert!(text(&refused).contains("not empty"), "{}", text(&refused));
    let refused = source.run(&["restore", "--force", backup_dir.to_str().unwrap()]).await;
    assert!(!refused.status.success());
    assert!(text(&refused).contains("in use"), "{}", text(&refused));

    // Restore into a fresh deployment and serve it.
    let target = Site::new(&root, "restored").await;
    let restore = target.run(&["restore", backup_dir.to_str().unwrap()]).await;
    assert!(restore.status.success(), "nyaya restore failed:\n{}", text(&restore));
    let restored = Server::start(&target, root.join("restored.log")).await;

    // The token the source issued is valid: the generated secrets came back too.
    for write in &before {
        match write {
            Acked::Query { id, title } => {
                let (status, reply) =
                    restored.call(reqwest::Method::GET, &format!("/api/queries/{id}"), Some(&token), None).await;
                assert_eq!(status, 200, "case {id} acknowledged before the backup is missing: {reply}");
                assert_eq!(reply["data"]["query"]["title"], title.as_str());
            }
            Acked::Document { id, bytes } => {
                // An upload the backup caught still `processing` is checked again when the
                // restored server's job workers start: wait (bounded) for that check.
                let download = || restored.http.get(restored.url(&format!("/api/documents/{id}/download")));
                let deadline = Instant::now() + Duration::from_secs(20);
                let mut res = download().bearer_auth(&token).send().await.unwrap();
                while res.status().as_u16() == 404 && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    res = download().bearer_auth(&token).send().await.unwrap();
                }
                assert_eq!(res.status().as_u16(), 200, "document {id} acknowledged before the backup is missing");
                assert_eq!(res.bytes().await.unwrap().as_ref(), bytes.as_slice(), "content of document {id}");
            }
        }
    }
    drop(restored);

    if engine == "sqlite" {
        for file in ["nyaya.db", "jobs.db"] {
            assert_eq!(integrity_check(&target.data_dir.join(file)).await, "ok", "{file}");
        }
    }

    // A damaged backup is named as such and never restored.
    let damaged = root.join("backups").join("damaged");
    copy_tree(&backup_dir, &damaged);
    let victim = files.keys().find(|p| p.starts_with("uploads/")).unwrap().clone();
    let mut bytes = std::fs::read(damaged.join(&victim)).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(damaged.join(&victim), bytes).unwrap();
    let verify = source.run(&["backup", "--verify", damaged.to_str().unwrap()]).await;
    assert!(!verify.status.success());
    assert!(text(&verify).contains(&victim), "{}", text(&verify));
    let other = Site::new(&root, "other").await;
    let restore = other.run(&["restore", damaged.to_str().unwrap()]).await;
    assert!(!restore.status.success(), "a damaged backup was restored:\n{}", text(&restore));
    assert!(text(&restore).contains(&victim), "{}", text(&restore));
    assert!(!other.data_dir.join("uploads").exists(), "a refused restore wrote files");

    // A backup folder is never overwritten.
    let again = source.run(&["backup", backup_dir.to_str().unwrap()]).await;
    assert!(!again.status.success(), "a second backup into the same folder succeeded");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

async fn integrity_check(file: &Path) -> String {
    use sqlx::Connection;
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(file).read_only(true);
    let mut conn = sqlx::sqlite::SqliteConnection::connect_with(&options).await.expect("open restored database");
    let (answer,): (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(&mut conn).await.unwrap();
    answer
}

#[tokio::test]
async fn healthcheck_exits_zero_only_while_the_server_is_ready() {
    let root = temp_dir("healthcheck");
    let _cleanup = Cleanup(root.clone());
    let site = Site::new(&root, "data").await;
    let mut server = Server::start(&site, root.join("server.log")).await;
    // The ops listener bound to every interface is probed over loopback.
    let ops = format!("0.0.0.0:{}", server.ops);
    let ok = site.command(&["healthcheck"]).env("ADMIN_ADDR", &ops).output().unwrap();
    assert!(ok.status.success(), "healthcheck failed against a ready server:\n{}", text(&ok));
    server.stop();
    let down = site.command(&["healthcheck", "--timeout", "1s"]).env("ADMIN_ADDR", &ops).output().unwrap();
    assert!(!down.status.success(), "healthcheck passed with the server stopped");
    assert!(text(&down).contains("/ready"), "{}", text(&down));
}
