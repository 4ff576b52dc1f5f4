//! A WebSocket client speaking the `/ws` protocol, for the tests.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use physics_worker::wire::{self, ClientFrame, ServerFrame};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{TestApp, ALLOWED_ORIGIN};

/// An open `/ws` connection.
pub struct WsClient {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// Opens `/ws` with these headers; `Err` carries the HTTP status of a refused handshake.
pub async fn open(app: &TestApp, origin: Option<&str>, protocols: Option<&str>) -> Result<WsClient, u16> {
    let mut request = app.ws_url().into_client_request().unwrap();
    if let Some(origin) = origin {
        request.headers_mut().insert("Origin", HeaderValue::from_str(origin).unwrap());
    }
    if let Some(protocols) = protocols {
        request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(protocols).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, response)) => {
            assert_eq!(response.headers().get("sec-websocket-protocol").unwrap(), "swiftcart.v1");
            Ok(WsClient { ws })
        }
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("handshake failed without an HTTP status: {e}"),
    }
}

/// Opens `/ws` as a well-behaved client with `token`.
pub async fn connect(app: &TestApp, token: &str) -> WsClient {
    open(app, Some(ALLOWED_ORIGIN), Some(&format!("swiftcart.v1, bearer.{token}"))).await.expect("handshake accepted")
}

/// What the server did next.
#[derive(Debug)]
pub enum Next {
    Frame(ServerFrame),
    Closed(Option<u16>),
}

impl WsClient {
    /// Sends a client frame.
    pub async fn send(&mut self, frame: &ClientFrame) {
        self.send_raw(wire::encode(frame).unwrap()).await;
    }

    /// Sends raw bytes as a binary frame.
    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::Binary(bytes.into())).await.expect("frame sent");
    }

    /// The next frame or close, waiting at most `limit`.
    pub async fn next(&mut self, limit: Duration) -> Option<Next> {
        loop {
            let message = tokio::time::timeout(limit, self.ws.next()).await.ok()?;
            return Some(match message {
                Some(Ok(Message::Binary(bytes))) => Next::Frame(wire::decode(&bytes).expect("server frames decode")),
                Some(Ok(Message::Close(frame))) => Next::Closed(frame.map(|f| u16::from(f.code))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => Next::Closed(None),
            });
        }
    }

    /// The next frame for which `pick` returns something, within `limit`.
    pub async fn wait_for<T>(&mut self, limit: Duration, mut pick: impl FnMut(&ServerFrame) -> Option<T>) -> Option<T> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await? {
                Next::Frame(frame) => {
                    if let Some(found) = pick(&frame) {
                        return Some(found);
                    }
                }
                Next::Closed(_) => return None,
            }
        }
    }

    /// Waits for the close, skipping frames; its code.
    pub async fn close_code(&mut self, limit: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await? {
                Next::Frame(_) => continue,
                Next::Closed(code) => return code,
            }
        }
    }
}

/// Opens `/ws` on a socket with a tiny receive buffer and then never reads from it: a client
/// that stopped reading. Returns the socket (dropping it disconnects).
pub async fn open_non_reading(app: &TestApp, token: &str) -> TcpStream {
    open_raw(app, token, Some(4 * 1024)).await
}

/// Sends the `/ws` handshake on a plain TCP socket (with this receive buffer, if given) and
/// returns the socket: what the test does next (read, never answer) is up to it.
pub async fn open_raw(app: &TestApp, token: &str, receive_buffer: Option<u32>) -> TcpStream {
    use tokio::io::AsyncWriteExt;
    let host = app.address.trim_start_matches("http://").to_string();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(size) = receive_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    let mut stream = socket.connect(host.parse().unwrap()).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: swiftcart.v1, bearer.{token}\r\nOrigin: {ALLOWED_ORIGIN}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}
