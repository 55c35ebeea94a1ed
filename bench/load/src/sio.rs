//! A minimal Socket.IO v4 client over WebSocket (Engine.IO 4, default namespace, text
//! packets only): enough for a simulated browser tab.
//!
//! Engine.IO: the server opens with `0{...}`, pings with `2` (answered `3`), closes with `1`.
//! Socket.IO on top: `40{auth}` connects the namespace (answered `40{sid}` or `44{error}`),
//! `42[event, data]` is an event, `41` a disconnect.
//!
//! Connection state recovery, as socket.io-client 4.6+ does it: the answer may be
//! `40{sid, pid}`, events then carry their offset as a last argument, and a reconnecting
//! client sends `40{pid, offset, ...auth}`; the same pid in the answer means the session was
//! recovered (its rooms are back and the events missed meanwhile follow).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

type Ws = WebSocketStream<TcpStream>;

/// An event from the server, stamped with its arrival (wall clock, microseconds).
#[derive(Debug)]
pub struct Event {
    pub name: String,
    pub data: Value,
    pub at: u64,
    /// Its offset (recovery on).
    pub offset: Option<String>,
}

/// The sending half of a connected socket. The connection lives in its own task, which ends
/// (closing the event channel) when the server or the network closes it, or when the last
/// `Socket` is dropped.
#[derive(Clone)]
pub struct Socket {
    out: mpsc::UnboundedSender<Out>,
}

enum Out {
    Text(String),
    /// Drop the connection without a goodbye (a network that goes away).
    Cut,
}

impl Socket {
    /// Connects from `local` (a loopback address: the server may balance by client address),
    /// authenticates with `auth` (`{token}`, plus `{pid, offset}` to resume a session) and
    /// returns the socket with its event stream and the session's pid (recovery on).
    pub async fn connect(
        server: SocketAddr,
        local: IpAddr,
        auth: &Value,
        timeout: Duration,
    ) -> anyhow::Result<(Socket, mpsc::UnboundedReceiver<Event>, Option<String>)> {
        tokio::time::timeout(timeout, handshake(server, local, auth))
            .await
            .map_err(|_| anyhow!("connect timed out"))?
            .map(|(ws, pid)| {
                let (out_tx, out_rx) = mpsc::unbounded_channel();
                let (ev_tx, ev_rx) = mpsc::unbounded_channel();
                tokio::spawn(pump(ws, out_rx, ev_tx));
                (Socket { out: out_tx }, ev_rx, pid)
            })
    }

    /// Emits `event` with one argument. False when the connection is gone.
    pub fn emit(&self, event: &str, data: Value) -> bool {
        self.out.send(Out::Text(format!("42{}", json!([event, data])))).is_ok()
    }

    /// Drops the connection without a close frame (the event stream ends).
    pub fn cut(&self) {
        let _ = self.out.send(Out::Cut);
    }
}

/// TCP from `local`, WebSocket upgrade, Engine.IO open, namespace connect with `auth`; the
/// answer's pid.
async fn handshake(server: SocketAddr, local: IpAddr, auth: &Value) -> anyhow::Result<(Ws, Option<String>)> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(local, 0)).with_context(|| format!("binding {local}"))?;
    let stream = socket.connect(server).await.context("TCP connect")?;
    stream.set_nodelay(true)?;
    let url = format!("ws://{server}/socket.io/?EIO=4&transport=websocket");
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (mut ws, _) = client_async_with_config(url, stream, Some(config)).await.context("WebSocket upgrade")?;
    let open = next_text(&mut ws).await?;
    if !open.starts_with('0') {
        bail!("expected the Engine.IO open packet, got {open:?}");
    }
    ws.send(Message::text(format!("40{auth}"))).await?;
    loop {
        let packet = next_text(&mut ws).await?;
        match packet.get(..2) {
            Some("40") => {
                let answer: Value = serde_json::from_str(&packet[2..]).unwrap_or(Value::Null);
                return Ok((ws, answer["pid"].as_str().map(str::to_string)));
            }
            Some("44") => bail!("connect refused: {}", &packet[2..]),
            _ if packet == "2" => ws.send(Message::text("3")).await?,
            _ => {}
        }
    }
}

async fn next_text(ws: &mut Ws) -> anyhow::Result<String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.to_string()),
            Some(Ok(Message::Close(_))) | None => bail!("closed during the handshake"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

fn now_us() -> u64 {
    crate::clock::now_us()
}

/// Moves frames both ways until either side closes.
async fn pump(mut ws: Ws, mut out: mpsc::UnboundedReceiver<Out>, events: mpsc::UnboundedSender<Event>) {
    loop {
        tokio::select! {
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => continue,
                };
                match text.as_bytes().first() {
                    // A ping: pong, or give up on a dead connection.
                    Some(b'2') if text.len() == 1 && ws.send(Message::text("3")).await.is_err() => break,
                    Some(b'2') => {}
                    Some(b'1') => break,
                    Some(b'4') => match parse(&text) {
                        Packet::Event(name, data, offset) => {
                            if events.send(Event { name, data, at: now_us(), offset }).is_err() {
                                break;
                            }
                        }
                        Packet::Disconnect => break,
                        Packet::Other => {}
                    },
                    _ => {}
                }
            }
            packet = out.recv() => match packet {
                Some(Out::Text(p)) => if ws.send(Message::text(p)).await.is_err() { break },
                // Dropped here: the TCP connection closes with no WebSocket close frame.
                Some(Out::Cut) => return,
                None => break,
            },
        }
    }
    let _ = ws.close(None).await;
}

enum Packet {
    /// Name, first argument, offset (a last string argument after it).
    Event(String, Value, Option<String>),
    Disconnect,
    Other,
}

/// A Socket.IO packet inside an Engine.IO message packet (`4...`).
fn parse(text: &str) -> Packet {
    let rest = &text[1..];
    match rest.as_bytes().first() {
        Some(b'1') => Packet::Disconnect,
        Some(b'2') => {
            // An optional ack id precedes the array.
            let body = rest[1..].trim_start_matches(|c: char| c.is_ascii_digit());
            match serde_json::from_str::<Value>(body) {
                Ok(Value::Array(mut items)) if !items.is_empty() => {
                    let offset = match items.last() {
                        Some(Value::String(o)) if items.len() > 2 => Some(o.clone()),
                        _ => None,
                    };
                    let mut items = items.drain(..);
                    match (items.next(), items.next()) {
                        (Some(Value::String(name)), data) => Packet::Event(name, data.unwrap_or(Value::Null), offset),
                        _ => Packet::Other,
                    }
                }
                _ => Packet::Other,
            }
        }
        _ => Packet::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_with_and_without_ack_ids() {
        let Packet::Event(name, data, offset) = parse(r#"42["new_message",{"tempId":"a1"}]"#) else { panic!() };
        assert_eq!((name.as_str(), data["tempId"].as_str(), offset), ("new_message", Some("a1"), None));
        let Packet::Event(name, data, _) = parse(r#"4217["chat_joined",{"chatId":"x"}]"#) else { panic!() };
        assert_eq!((name.as_str(), data["chatId"].as_str()), ("chat_joined", Some("x")));
        let Packet::Event(name, data, offset) = parse(r#"42["new_message",{"tempId":"a2"},"1234"]"#) else { panic!() };
        assert_eq!(
            (name.as_str(), data["tempId"].as_str(), offset.as_deref()),
            ("new_message", Some("a2"), Some("1234"))
        );
        assert!(matches!(parse("41"), Packet::Disconnect));
        assert!(matches!(parse(r#"40{"sid":"s"}"#), Packet::Other));
    }
}
