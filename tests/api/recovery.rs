//! Connection state recovery (docs/realtime.md): a client that lost its connection comes
//! back with `{pid, offset}` and gets its session and every event it missed, once, in order;
//! never another user's session; not after an intended disconnect or the window; across
//! instances through Redis, also when the instance it was on stops.
//!
//! The client here speaks Engine.IO long-polling and Socket.IO by hand (as the frontend's
//! `socket.io-client` does), so the tests see what the protocol carries: the `pid` of the
//! `CONNECT` answer and each event's offset. `realtime_js_client_resumes_on_another_instance`
//! below and `realtime_js_clients_resume_through_a_rolling_reload` in tests/cluster.rs drive the
//! npm client itself (tests/js/recovery.mjs).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::connections::{Actor, citizen, connect, lawyer};
use crate::helpers::*;

const PATIENCE: Duration = Duration::from_secs(15);

/// One event as received: name, payload (first argument), offset (the last argument, when the
/// event carries one besides the payload).
#[derive(Debug, Clone)]
struct Got {
    event: String,
    payload: Value,
    offset: Option<String>,
}

/// A Socket.IO client over Engine.IO v4 long-polling, by hand. A task keeps one poll open at
/// a time (as the protocol requires), answers pings and hands packets over.
struct Client {
    http: reqwest::Client,
    url: String,
    /// The `CONNECT` answer.
    sid: String,
    pid: Option<String>,
    rx: mpsc::UnboundedReceiver<String>,
    pending: Vec<Got>,
    /// The offset of the last event received, as socket.io-client keeps it.
    last_offset: Option<String>,
    closed: bool,
}

impl Client {
    /// Opens a session with `auth` and waits for the answer: Ok once connected, Err with the
    /// `connect_error` message.
    async fn open(base: &str, auth: Value) -> Result<Client, String> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(40)).build().unwrap();
        let handshake = format!("{base}/socket.io/?EIO=4&transport=polling");
        let open = http.get(&handshake).send().await.unwrap().text().await.unwrap();
        let info: Value = serde_json::from_str(open.strip_prefix('0').expect("an open packet")).unwrap();
        let url = format!("{handshake}&sid={}", info["sid"].as_str().unwrap());
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(pump(http.clone(), url.clone(), tx));
        let mut client = Client {
            http,
            url,
            sid: String::new(),
            pid: None,
            rx,
            pending: Vec::new(),
            last_offset: None,
            closed: false,
        };
        client.post(&format!("40{auth}")).await;
        loop {
            let packet = client.packet().await.ok_or("closed during the handshake")?;
            if let Some(answer) = packet.strip_prefix("40") {
                let answer: Value = serde_json::from_str(answer).unwrap();
                client.sid = answer["sid"].as_str().expect("a sid").to_string();
                client.pid = answer["pid"].as_str().map(str::to_string);
                return Ok(client);
            }
            if let Some(error) = packet.strip_prefix("44") {
                let error: Value = serde_json::from_str(error).unwrap();
                return Err(error["message"].as_str().unwrap_or_default().to_string());
            }
            client.take(&packet);
        }
    }

    async fn post(&self, body: &str) {
        let res = self.http.post(&self.url).body(body.to_string()).send().await.expect("POST");
        assert!(res.status().is_success(), "POST {body}: {}", res.status());
    }

    async fn packet(&mut self) -> Option<String> {
        tokio::time::timeout(PATIENCE, self.rx.recv()).await.expect("nothing arrived in time")
    }

    /// Records an event packet (`42[...]`) like socket.io-client: the last argument is the
    /// offset when it is a string after the payload.
    fn take(&mut self, packet: &str) {
        if packet == "41" || packet == "1" {
            self.closed = true;
            return;
        }
        let Some(body) = packet.strip_prefix("42") else { return };
        let Ok(Value::Array(mut args)) = serde_json::from_str::<Value>(body) else { panic!("not an event: {packet}") };
        let event = args.remove(0).as_str().unwrap().to_string();
        let offset = match args.last() {
            Some(Value::String(o)) if args.len() > 1 => Some(o.clone()),
            _ => None,
        };
        if offset.is_some() {
            self.last_offset = offset.clone();
        }
        let payload = args.into_iter().next().unwrap_or(Value::Null);
        self.pending.push(Got { event, payload, offset });
    }

    /// The next `event` (others stay available).
    async fn next(&mut self, event: &str) -> Got {
        loop {
            if let Some(pos) = self.pending.iter().position(|g| g.event == event) {
                return self.pending.remove(pos);
            }
            match self.packet().await {
                Some(packet) => self.take(&packet),
                None => panic!("closed while waiting for {event}; got {:?}", self.pending),
            }
        }
    }

    /// Everything received before the first event that `marker` matches (consumed as well).
    /// The server sends a socket's events in order, so a marker caused after an action proves
    /// that whatever the action would have sent (a replay, a duplicate) is in the list.
    async fn before(&mut self, marker: impl Fn(&Got) -> bool) -> Vec<Got> {
        loop {
            if let Some(pos) = self.pending.iter().position(&marker) {
                let mut got: Vec<Got> = self.pending.drain(..=pos).collect();
                got.pop();
                return got;
            }
            match self.packet().await {
                Some(packet) => self.take(&packet),
                None => panic!("closed before the marker; got {:?}", self.pending),
            }
        }
    }

    /// Everything received before the chat message `content` (see [`Client::before`]).
    async fn before_message(&mut self, content: &str) -> Vec<Got> {
        self.before(|g| g.event == "new_message" && g.payload["content"] == content).await
    }

    async fn emit(&self, event: &str, data: Value) {
        self.post(&format!("42{}", json!([event, data]))).await;
    }

    /// The transport goes away without a goodbye to the namespace (Engine.IO close), as when
    /// a network drops or a tab's connection is cut: the session is kept.
    async fn drop_transport(self) -> (String, Option<String>) {
        self.post("1").await;
        (self.pid.expect("a pid"), self.last_offset)
    }

    /// `socket.disconnect()`: the session ends.
    async fn disconnect(self) -> String {
        self.post("41").await;
        self.pid.expect("a pid")
    }

    /// Waits until the server closes this session (bounded).
    async fn closed_by_server(&mut self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while !self.closed {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(packet)) => self.take(&packet),
                Ok(None) => return,
                Err(_) => panic!("the server did not close the socket within {within:?}"),
            }
        }
    }
}

/// Keeps one poll open, answers pings, hands every other packet over; ends when the session
/// does.
async fn pump(http: reqwest::Client, url: String, tx: mpsc::UnboundedSender<String>) {
    loop {
        let Ok(res) = http.get(&url).send().await else { break };
        if !res.status().is_success() {
            break;
        }
        let Ok(body) = res.text().await else { break };
        for packet in body.split('\u{1e}') {
            if packet == "2" {
                let _ = http.post(&url).body("3").send().await;
            } else if tx.send(packet.to_string()).is_err() {
                return;
            }
        }
        if body.split('\u{1e}').any(|p| p == "1") {
            break;
        }
    }
}

fn auth(who: &Actor) -> Value {
    json!({"token": who.token})
}

/// What socket.io-client sends when it reconnects: the pid and offset, then its own auth.
fn resume(who: &Actor, pid: &str, offset: Option<&str>) -> Value {
    let mut auth = json!({"pid": pid, "token": who.token});
    if let Some(offset) = offset {
        auth["offset"] = json!(offset);
    }
    auth
}

async fn join(c: &mut Client, chat_id: &str) {
    c.emit("join_chat", json!(chat_id)).await;
    assert_eq!(c.next("chat_joined").await.payload, json!({"chatId": chat_id, "success": true}));
}

/// Sends a chat message and waits for its acknowledgement; returns the message id.
async fn say(c: &mut Client, chat_id: &str, content: &str) -> String {
    c.emit("send_message", json!({"chatId": chat_id, "content": content, "tempId": content})).await;
    let ack = c.next("message_sent").await;
    assert_eq!(ack.payload["content"], content);
    ack.payload["messageId"].as_str().unwrap().to_string()
}

fn offsets(events: &[Got]) -> Vec<u64> {
    events.iter().map(|g| g.offset.as_deref().expect("an offset").parse().expect("a number")).collect()
}

#[tokio::test]
async fn a_dropped_socket_resumes_its_session_and_gets_what_it_missed_once_in_order() {
    let app = spawn().await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let kiran = citizen(&app, "Kiran").await;
    let (_, chat_id) = connect(&app, &asha, &ravi).await;
    let mut a = Client::open(&app.base, auth(&asha)).await.unwrap();
    let mut r = Client::open(&app.base, auth(&ravi)).await.unwrap();
    let pid = r.pid.clone().expect("the CONNECT answer carries a pid");
    assert!(pid.len() == 32 && pid.bytes().all(|b| b.is_ascii_hexdigit()), "{pid}");
    assert_ne!(a.pid, r.pid);
    join(&mut a, &chat_id).await;
    join(&mut r, &chat_id).await;
    say(&mut a, &chat_id, "before").await;
    let before = r.next("new_message").await;
    assert!(before.offset.is_some(), "every event carries an offset");

    // Ravi's connection drops; Asha goes on talking, and an HTTP write notifies Ravi.
    let (pid, offset) = r.drop_transport().await;
    for content in ["one", "two", "three"] {
        say(&mut a, &chat_id, content).await;
    }
    a.emit("typing_stop", json!(chat_id)).await;
    let path = format!("/api/citizens/direct-connection-request/{}", ravi.id());
    app.post(&path, kiran.t(), json!({"message": "Can you help?"})).await.assert_status(200);
    say(&mut a, &chat_id, "four").await;

    // Ravi comes back (as socket.io-client does, the token again with pid and offset).
    let mut r = Client::open(&app.base, resume(&ravi, &pid, offset.as_deref())).await.unwrap();
    assert_eq!(r.pid.as_deref(), Some(pid.as_str()), "the same session: recovered");
    say(&mut a, &chat_id, "marker").await;
    let got = r.before_message("marker").await;
    let messages: Vec<&Got> = got.iter().filter(|g| g.event == "new_message").collect();
    let ids: Vec<&str> = messages.iter().map(|g| g.payload["_id"].as_str().unwrap()).collect();
    let contents: Vec<&str> = messages.iter().map(|g| g.payload["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["one", "two", "three", "four"], "every missed message once, in order: {got:?}");
    assert_eq!(ids.len(), 4);
    let names: Vec<&str> = got.iter().map(|g| g.event.as_str()).collect();
    let position =
        |event: &str| names.iter().position(|n| *n == event).unwrap_or_else(|| panic!("no {event} in {names:?}"));
    assert_eq!(
        &names[..5],
        ["new_message", "new_message", "new_message", "typing_stop", "user_stop_typing"],
        "in order"
    );
    assert_eq!(got[position("new_connection_request")].payload["message"], "Can you help?");
    assert_eq!(names.iter().filter(|n| **n == "new_connection_request").count(), 1);
    assert_eq!(names.len(), 7, "nothing else, nothing of before: {names:?}");
    let numbers = offsets(&got);
    let first: u64 = offset.unwrap().parse().unwrap();
    assert!(numbers.iter().all(|n| *n > first), "only what came after the offset: {numbers:?}");
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "in order: {numbers:?}");

    // The session is live again, with its rooms: messages both ways without a new join.
    say(&mut a, &chat_id, "five").await;
    let live = r.next("new_message").await;
    assert_eq!(live.payload["content"], "five");
    assert!(offsets(std::slice::from_ref(&live))[0] > *numbers.last().unwrap());
    r.emit("typing_start", json!(chat_id)).await;
    assert_eq!(a.next("typing_start").await.payload["userId"], ravi.id());
    a.before_message("five").await; // her own copies so far
    say(&mut r, &chat_id, "six").await;
    assert_eq!(a.next("new_message").await.payload["content"], "six");
    say(&mut a, &chat_id, "end").await;
    assert!(r.before_message("end").await.iter().all(|g| g.payload["content"] != "four"), "no duplicate");
}

#[tokio::test]
async fn a_session_resumes_only_for_its_user_and_not_after_an_intended_disconnect_or_the_window() {
    // It counts a refused foreign pid in the process-wide metrics: read alone, as a difference.
    if !alone(module_path!(), "a_session_resumes_only_for_its_user_and_not_after_an_intended_disconnect_or_the_window")
    {
        return;
    }
    const FOREIGN: &str = r#"nyaya_socket_recoveries_total{outcome="foreign"}"#;
    let app = spawn_with(&[("SOCKET_RECOVERY_WINDOW", "2")]).await;
    let foreign = app.metric(FOREIGN).await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let meera = lawyer(&app, "Meera", true).await;
    let (_, chat_id) = connect(&app, &asha, &ravi).await;
    let mut a = Client::open(&app.base, auth(&asha)).await.unwrap();
    join(&mut a, &chat_id).await;
    let mut r = Client::open(&app.base, auth(&ravi)).await.unwrap();
    join(&mut r, &chat_id).await;
    let (pid, offset) = r.drop_transport().await;
    say(&mut a, &chat_id, "for Ravi only").await;

    // Another user presenting Ravi's pid gets a session of their own and nothing of Ravi's.
    let mut m = Client::open(&app.base, resume(&meera, &pid, offset.as_deref())).await.unwrap();
    assert!(m.pid.is_some());
    assert_ne!(m.pid.as_deref(), Some(pid.as_str()), "a pid alone grants nothing");
    // Her own request's refusal comes after anything the session's replay would have sent.
    m.emit("join_chat", json!(chat_id)).await;
    assert!(m.before(|g| g.event == "error").await.iter().all(|g| g.event != "new_message"));

    // A pid without a valid token is refused like any handshake.
    let refused = Client::open(&app.base, json!({"pid": pid, "offset": offset})).await.err();
    assert_eq!(refused.as_deref(), Some("Authentication token required"));

    // Ravi himself still resumes (the other user's attempt did not spend the session)...
    let mut r = Client::open(&app.base, resume(&ravi, &pid, offset.as_deref())).await.unwrap();
    assert_eq!(r.pid.as_deref(), Some(pid.as_str()));
    assert_eq!(r.next("new_message").await.payload["content"], "for Ravi only");

    // ...but not after `socket.disconnect()`,
    let pid = r.disconnect().await;
    let r = Client::open(&app.base, resume(&ravi, &pid, None)).await.unwrap();
    assert_ne!(r.pid.as_deref(), Some(pid.as_str()), "an intended disconnect ends the session");

    // nor after the window.
    let (pid, offset) = r.drop_transport().await;
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let r = Client::open(&app.base, resume(&ravi, &pid, offset.as_deref())).await.unwrap();
    assert_ne!(r.pid.as_deref(), Some(pid.as_str()), "expired after the window");
    assert_eq!(app.metric(FOREIGN).await, foreign + 1.0, "Meera's attempt was counted");
}

#[tokio::test]
async fn with_recovery_off_events_carry_no_offset_and_connect_no_pid() {
    let app = spawn_with(&[("SOCKET_RECOVERY_WINDOW", "0")]).await;
    let asha = citizen(&app, "Asha").await;
    let ravi = lawyer(&app, "Ravi", true).await;
    let (_, chat_id) = connect(&app, &asha, &ravi).await;
    let mut a = Client::open(&app.base, auth(&asha)).await.unwrap();
    assert_eq!(a.pid, None);
    join(&mut a, &chat_id).await;
    let mut r = Client::open(&app.base, auth(&ravi)).await.unwrap();
    join(&mut r, &chat_id).await;
    say(&mut a, &chat_id, "plain").await;
    let got = r.next("new_message").await;
    assert_eq!((got.payload["content"].as_str(), got.offset), (Some("plain"), None));
}

// ---- across instances (Redis) ----

#[tokio::test]
#[ignore = "needs Redis"]
async fn a_session_resumes_on_another_instance_also_when_its_instance_stops() {
    let (mut one, two) = spawn_pair().await;
    let asha = citizen(&one, "Asha").await;
    let ravi = lawyer(&one, "Ravi", true).await;
    let (_, chat_id) = connect(&one, &asha, &ravi).await;
    let mut a = Client::open(&two.base, auth(&asha)).await.unwrap();
    join(&mut a, &chat_id).await;
    let mut r = Client::open(&two.base, auth(&ravi)).await.unwrap();
    join(&mut r, &chat_id).await;
    say(&mut a, &chat_id, "first").await;
    assert_eq!(r.next("new_message").await.payload["content"], "first");

    // Ravi drops from instance two and comes back on instance one: the session and what he
    // missed follow him.
    let (pid, offset) = r.drop_transport().await;
    say(&mut a, &chat_id, "while away 1").await;
    say(&mut a, &chat_id, "while away 2").await;
    let mut r = Client::open(&one.base, resume(&ravi, &pid, offset.as_deref())).await.unwrap();
    assert_eq!(r.pid.as_deref(), Some(pid.as_str()));
    say(&mut a, &chat_id, "live across").await;
    let got = r.before_message("live across").await;
    let contents: Vec<&str> =
        got.iter().filter(|g| g.event == "new_message").filter_map(|g| g.payload["content"].as_str()).collect();
    assert_eq!(contents, ["while away 1", "while away 2"]);

    // Instance one stops (a reload): it closes Ravi's socket at once, and he resumes on
    // instance two with what was said meanwhile.
    let stopped = tokio::time::Instant::now();
    let stopping = tokio::spawn(one.running.take().expect("running").shutdown(Duration::from_secs(5)));
    r.closed_by_server(Duration::from_secs(3)).await;
    eprintln!("the stopping instance closed the socket after {:?}", stopped.elapsed());
    say(&mut a, &chat_id, "during the reload").await;
    let offset = r.last_offset.clone();
    let mut r = Client::open(&two.base, resume(&ravi, &pid, offset.as_deref())).await.unwrap();
    assert_eq!(r.pid.as_deref(), Some(pid.as_str()), "resumed on the instance that took over");
    assert_eq!(r.next("new_message").await.payload["content"], "during the reload");
    say(&mut a, &chat_id, "after").await;
    say(&mut a, &chat_id, "marker").await;
    let got = r.before_message("marker").await;
    let contents: Vec<&str> =
        got.iter().filter(|g| g.event == "new_message").filter_map(|g| g.payload["content"].as_str()).collect();
    assert_eq!(contents, ["after"], "live again, nothing twice");
    stopping.await.unwrap().unwrap();
}

/// The npm `socket.io-client` (tests/js/recovery.mjs): B's connection to instance two drops,
/// and B's tab resumes on instance one with everything missed, once, in order.
#[tokio::test]
#[ignore = "needs Redis and node"]
async fn realtime_js_client_resumes_on_another_instance() {
    let (one, two) = spawn_pair().await;
    let asha = citizen(&one, "Asha").await;
    let ravi = lawyer(&one, "Ravi", true).await;
    let (_, chat_id) = connect(&one, &asha, &ravi).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js/recovery.mjs");
    let output = tokio::process::Command::new("node")
        .arg(script)
        .arg("instances")
        .env("NYAYA_URL_1", &one.base)
        .env("NYAYA_URL_2", &two.base)
        .env("TOKEN_A", &asha.token)
        .env("TOKEN_B", &ravi.token)
        .env("USER_A", asha.id())
        .env("USER_B", ravi.id())
        .env("CHAT_ID", &chat_id)
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the JS scenario failed:\n{stdout}\n{stderr}");
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("a JSON result line");
    assert_eq!((result["ok"].as_bool(), result["recovered"].as_bool()), (Some(true), Some(true)));
}
