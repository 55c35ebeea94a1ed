//! A minimal Socket.IO v4 client over WebSocket (Engine.IO 4, default namespace, text
//! packets only): enough for a simulated browser tab.
//!
//! Engine.IO: the server opens with `0{...}`, pings with `2` (answered `3`), closes with `1`.
//! Socket.IO on top: `40{auth}` connects the namespace (answered `40{sid}` or `44{error}`),
//! `42[event, data]` is an event, `41` a disconnect.

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
}

/// The sending half of a connected socket. The connection lives in its own task, which ends
/// (closing the event channel) when the server or the network closes it, or when the last
/// `Socket` is dropped.
#[derive(Clone)]
pub struct Socket {
    out: mpsc::UnboundedSender<String>,
}

impl Socket {
    /// Connects from `local` (a loopback address: the server may balance by client address),
    /// authenticates with `token` and returns the socket with its event stream.
    pub async fn connect(
        server: SocketAddr,
        local: IpAddr,
        token: &str,
        timeout: Duration,
    ) -> anyhow::Result<(Socket, mpsc::UnboundedReceiver<Event>)> {
        tokio::time::timeout(timeout, handshake(server, local, token))
            .await
            .map_err(|_| anyhow!("connect timed out"))?
            .map(|ws| {
                let (out_tx, out_rx) = mpsc::unbounded_channel();
                let (ev_tx, ev_rx) = mpsc::unbounded_channel();
                tokio::spawn(pump(ws, out_rx, ev_tx));
                (Socket { out: out_tx }, ev_rx)
            })
    }

    /// Emits `event` with one argument. False when the connection is gone.
    pub fn emit(&self, event: &str, data: Value) -> bool {
        self.out.send(format!("42{}", json!([event, data]))).is_ok()
    }
}

/// TCP from `local`, WebSocket upgrade, Engine.IO open, namespace connect with the token.
async fn handshake(server: SocketAddr, local: IpAddr, token: &str) -> anyhow::Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(local, 0)).with_context(|| format!("binding {local}"))?;
    let stream = socket.connect(server).await.context("TCP connect")?;
    stream.set_nodelay(true)?;
    let url = format!("ws://{server}/socket.io/?EIO=4&transport=websocket");
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (mut ws, _) = client_async_with_config(url, stream, Some(config))
        .await
        .context("WebSocket upgrade")?;
    let open = next_text(&mut ws).await?;
    if !open.starts_with('0') {
        bail!("expected the Engine.IO open packet, got {open:?}");
    }
    ws.send(Message::text(format!("40{}", json!({"token": token})))).await?;
    loop {
        let packet = next_text(&mut ws).await?;
        match packet.get(..2) {
            Some("40") => return Ok(ws),
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
async fn pump(mut ws: Ws, mut out: mpsc::UnboundedReceiver<String>, events: mpsc::UnboundedSender<Event>) {
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
                        Packet::Event(name, data) => {
                            if events.send(Event { name, data, at: now_us() }).is_err() {
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
                Some(p) => if ws.send(Message::text(p)).await.is_err() { break },
                None => break,
            },
        }
    }
    let _ = ws.close(None).await;
}

enum Packet {
    Event(String, Value),
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
                    let data = if items.len() > 1 { items.swap_remove(1) } else { Value::Null };
                    match items.swap_remove(0) {
                        Value::String(name) => Packet::Event(name, data),
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
        let Packet::Event(name, data) = parse(r#"42["new_message",{"tempId":"a1"}]"#) else { panic!() };
        assert_eq!(name, "new_message");
        assert_eq!(data["tempId"], "a1");
        let Packet::Event(name, data) = parse(r#"4217["chat_joined",{"chatId":"x"}]"#) else { panic!() };
        assert_eq!((name.as_str(), data["chatId"].as_str()), ("chat_joined", Some("x")));
        assert!(matches!(parse("41"), Packet::Disconnect));
        assert!(matches!(parse(r#"40{"sid":"s"}"#), Packet::Other));
    }
}
