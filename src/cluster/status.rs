//! What `nyaya status` shows, how the supervisor measures it, and the client side of the
//! supervisor's control socket (`DATA_DIR/nyaya.sock`: one request line, one JSON answer).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The whole cluster, as `/cluster/status` and the control socket give it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub pid: u32,
    pub listen: String,
    pub uptime_secs: f64,
    pub balance: String,
    pub max_memory: Option<u64>,
    pub reloading: bool,
    pub workers: Vec<WorkerStatus>,
}

/// One row of the table: a slot's current worker, or a worker draining after a reload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerStatus {
    pub id: usize,
    pub pid: Option<u32>,
    /// `starting`, `online`, `draining`, `restarting` (waiting out its backoff) or `errored`
    /// (gave up after too many restarts).
    pub status: String,
    pub uptime_secs: f64,
    pub restarts: u32,
    pub memory_bytes: u64,
    pub cpu_percent: f64,
    pub requests: u64,
    /// Open HTTP connections.
    pub sockets: i64,
}

impl ClusterStatus {
    /// A table like `pm2 list`.
    pub fn table(&self) -> String {
        let head = ["id", "pid", "status", "uptime", "restarts", "memory", "cpu", "requests", "sockets"];
        let rows: Vec<[String; 9]> = self
            .workers
            .iter()
            .map(|w| {
                [
                    w.id.to_string(),
                    w.pid.map_or("-".into(), |p| p.to_string()),
                    w.status.clone(),
                    if w.pid.is_some() { human_duration(w.uptime_secs) } else { "-".into() },
                    w.restarts.to_string(),
                    human_bytes(w.memory_bytes),
                    format!("{:.1}%", w.cpu_percent),
                    w.requests.to_string(),
                    w.sockets.to_string(),
                ]
            })
            .collect();
        let mut widths = head.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let rule = |l: &str, m: &str, r: &str| {
            let cells: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
            format!("{l}{}{r}\n", cells.join(m))
        };
        let line = |cells: Vec<&str>| {
            let cells: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!(" {c:<w$} ")).collect();
            format!("│{}│\n", cells.join("│"))
        };
        let mut out = format!(
            "nyaya supervisor pid {}, listening on {}, up {}, balance {}{}{}\n",
            self.pid,
            self.listen,
            human_duration(self.uptime_secs),
            self.balance,
            self.max_memory.map(|m| format!(", max memory {}", human_bytes(m))).unwrap_or_default(),
            if self.reloading { ", reload in progress" } else { "" },
        );
        out += &rule("┌", "┬", "┐");
        out += &line(head.to_vec());
        out += &rule("├", "┼", "┤");
        for row in &rows {
            out += &line(row.iter().map(String::as_str).collect());
        }
        out += &rule("└", "┴", "┘");
        out
    }
}

pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1}gb", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1}mb", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1}kb", n as f64 / 1024.0),
        n => format!("{n}b"),
    }
}

pub fn human_duration(secs: f64) -> String {
    let s = secs as u64;
    match s {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3600 => format!("{}h", s / 3600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Memory and CPU of a process, from `/proc`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    pub rss_bytes: u64,
    /// User plus system time.
    pub cpu: Duration,
}

pub fn sample_process(pid: u32) -> Option<ProcSample> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces and parentheses): state is field 3,
    // utime 14 and stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let (page, hz) = unsafe { (libc::sysconf(libc::_SC_PAGESIZE), libc::sysconf(libc::_SC_CLK_TCK)) };
    let (page, hz) = (u64::try_from(page).ok()?, u64::try_from(hz).ok().filter(|h| *h > 0)?);
    Some(ProcSample { rss_bytes: resident_pages * page, cpu: Duration::from_millis(ticks * 1000 / hz) })
}

/// The supervisor's control socket for a data dir.
pub fn control_path(data_dir: &Path) -> PathBuf {
    data_dir.join("nyaya.sock")
}

/// Sends one command to the running supervisor and returns its answer.
pub async fn request(data_dir: &Path, command: &str, timeout: Duration) -> anyhow::Result<serde_json::Value> {
    let path = control_path(data_dir);
    let exchange = async {
        let stream = tokio::net::UnixStream::connect(&path).await.with_context(|| {
            format!(
                "no supervisor answers on {} (is `nyaya serve --workers N` running with this DATA_DIR?)",
                path.display()
            )
        })?;
        let (read, mut write) = stream.into_split();
        write.write_all(format!("{command}\n").as_bytes()).await?;
        let mut answer = String::new();
        BufReader::new(read).read_line(&mut answer).await?;
        serde_json::from_str::<serde_json::Value>(&answer).with_context(|| format!("unexpected answer {answer:?}"))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .with_context(|| format!("the supervisor did not answer `{command}` in time"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_every_worker() {
        let worker = |id, status: &str| WorkerStatus {
            id,
            pid: (status != "errored").then_some(4000 + id as u32),
            status: status.into(),
            uptime_secs: 125.0,
            restarts: id as u32,
            memory_bytes: 31 << 20,
            cpu_percent: 1.25,
            requests: 1200,
            sockets: 3,
        };
        let status = ClusterStatus {
            pid: 42,
            listen: "0.0.0.0:5000".into(),
            uptime_secs: 3700.0,
            balance: "ip".into(),
            max_memory: Some(512 << 20),
            reloading: false,
            workers: vec![worker(0, "online"), worker(1, "errored")],
        };
        let table = status.table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "nyaya supervisor pid 42, listening on 0.0.0.0:5000, up 1h, balance ip, max memory 512.0mb"
        );
        assert_eq!(lines[2], "│ id │ pid  │ status  │ uptime │ restarts │ memory │ cpu  │ requests │ sockets │");
        assert_eq!(lines[4], "│ 0  │ 4000 │ online  │ 2m     │ 0        │ 31.0mb │ 1.2% │ 1200     │ 3       │");
        assert_eq!(lines[5], "│ 1  │ -    │ errored │ -      │ 1        │ 31.0mb │ 1.2% │ 1200     │ 3       │");
        assert_eq!(lines.len(), 7);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let sample = sample_process(std::process::id()).expect("/proc is readable");
        assert!(sample.rss_bytes > 1 << 20, "{sample:?}");
    }
}
