//! A real SMTP server (Python's aiosmtpd, `tests/support/smtp_server.py`) for email tests.
//! `.ci/run` installs aiosmtpd; the tests that use it are `#[ignore]`d for a plain `cargo test`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::harness::{free_port, temp_dir};

pub struct SmtpServer {
    child: Child,
    pub dir: PathBuf,
    pub port: u16,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let port = free_port();
        let dir = temp_dir("smtp");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_server.py");
        let child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 with aiosmtpd (pip install aiosmtpd)");
        let deadline = Instant::now() + Duration::from_secs(15);
        while !dir.join("ready").exists() {
            assert!(Instant::now() < deadline, "SMTP test server did not start (is aiosmtpd installed?)");
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpServer { child, dir, port }
    }

    /// For `SMTP_URL`: plain SMTP on loopback.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// `accept`, `refuse`, `delay:SECS` or `hold` (until the mode changes); applies from the
    /// next message, and to a message being held.
    pub fn set_mode(&self, mode: &str) {
        std::fs::write(self.dir.join("mode"), mode).unwrap();
    }

    /// The raw messages accepted so far, in order.
    pub fn messages(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names.iter().map(|p| std::fs::read_to_string(p).unwrap_or_default()).collect()
    }

    /// What happened to the messages so far, in order: `held`, `dropped` (the client vanished
    /// while the message waited), `accepted` or `refused`, each with the message's number.
    pub fn events(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.dir.join("events")).unwrap_or_default();
        // Only complete lines: the server may be writing the last one.
        let complete = text.rsplit_once('\n').map_or("", |(done, _)| done);
        complete.lines().map(str::to_string).collect()
    }

    /// Waits until `count` events of `kind` happened (panics after `timeout`).
    pub async fn wait_event(&self, kind: &str, count: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.events();
            if events.iter().filter(|e| e.split(' ').next() == Some(kind)).count() >= count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} {kind:?} event(s) within {timeout:?}; events: {events:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until at least `n` messages were accepted (panics after `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(Instant::now() < deadline, "expected {n} message(s), got {} within {timeout:?}", messages.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
