use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use physics_worker::wire::{
    self, CartLine as WireCartLine, Gesture, GestureKind, Reason, ServerFrame, MAX_CLIENT_FRAME_BYTES, SUBPROTOCOL,
};
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use super::admission::Refusal;
use super::hub::{Resync, SocketOutlet, TickFrames};
use super::protocol::{self, Verdict};
use super::raw::{self, Drained, ReadSide, Writer};
use super::{CLIENT_FRAMES_PER_SEC, CLIENT_FRAME_BURST};
use crate::auth::Principal;
use crate::cart::Change;
use crate::clock::now_ms;
use crate::clock::unix_now;
use crate::engine::core::{GestureOrigin, QueuedGesture};
use crate::engine::store;
use crate::rate::TokenBucket;
use crate::state::AppState;

/// Longest a single write to a socket may take before the client is considered gone.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest a new socket waits for the engine's first tick before giving up.
pub const FIRST_TICK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a closing socket waits for the client's close frame.
pub const CLOSE_LINGER: Duration = Duration::from_secs(1);
pub use physics_worker::wire::{CLOSE_POLICY, CLOSE_TOKEN_EXPIRED};
/// Close code for a client that stopped answering (RFC 6455 "going away").
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// `GET /ws`: checks the Origin (403) and the token (401) before upgrading.
pub async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    mut request: Request,
) -> Response {
    let headers = request.headers();
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if !origin.is_some_and(|o| state.config.allowed_origins.iter().any(|allowed| allowed == o)) {
        return refuse(StatusCode::FORBIDDEN, "ERR_FORBIDDEN", "this Origin may not open the real-time socket");
    }
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let token = offered.iter().find_map(|p| p.strip_prefix("bearer."));
    let principal = match token {
        Some(token) => Principal::from_token(&state.tokens, &state.revocations, token).await,
        None => None,
    };
    let Some(principal) = principal else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "ERR_UNAUTHORIZED",
            "send a valid access token as the subprotocol bearer.<token>",
        );
    };
    if !offered.contains(&SUBPROTOCOL) {
        return refuse(StatusCode::BAD_REQUEST, "ERR_BAD_REQUEST", "the subprotocol swiftcart.v1 is required");
    }
    let Some(response) = raw::handshake(request.method(), headers, SUBPROTOCOL) else {
        return refuse(StatusCode::BAD_REQUEST, "ERR_BAD_REQUEST", "expected a WebSocket upgrade (version 13)");
    };
    let admission = match state.sockets.admit(&principal.sub, client.ip()) {
        Ok(admission) => admission,
        Err(Refusal::Subject) => {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "ERR_TOO_MANY_SOCKETS",
                "this session holds the most sockets it may; close one first",
            )
        }
        Err(Refusal::Address) => {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "ERR_TOO_MANY_SOCKETS",
                "this address holds the most sockets it may; close one first",
            )
        }
        Err(Refusal::Node) => {
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE", "this node is full; retry shortly")
        }
    };
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        // The place is held as long as the connection lives.
        let _admission = admission;
        match on_upgrade.await {
            Ok(upgraded) => serve(TokioIo::new(upgraded), state, principal).await,
            Err(e) => tracing::debug!(error = %e, "realtime: upgrade failed"),
        }
    });
    response
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": code, "message": message }))).into_response()
}

/// Why a connection ended.
enum End {
    /// Close with this code and reason.
    Close(u16, &'static str),
    /// The client left, or cannot be written to.
    Gone,
}

/// One connection, from the `sync` to the close. The hub writes the tick frames straight into
/// the socket's [`SocketOutlet`]; this task reads the client, writes answers and `sync` frames,
/// and looks after the outlet when the hub flags it (a write to finish, broken, paradox).
struct Connection {
    state: AppState,
    principal: Principal,
    id: u64,
    outlet: Arc<SocketOutlet>,
    bucket: TokenBucket,
}

async fn serve(io: raw::Io, state: AppState, principal: Principal) {
    let hub = state.hub.clone();
    let (read, write) = tokio::io::split(io);
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .max_message_size(Some(MAX_CLIENT_FRAME_BYTES))
        .max_frame_size(Some(MAX_CLIENT_FRAME_BYTES));
    let mut stream = WebSocketStream::from_raw_socket(ReadSide(read), Role::Server, Some(config)).await;
    let (id, outlet, mut answers) = hub.register(Writer::new(write));
    hub.metrics.connections.fetch_add(1, Relaxed);
    let mut conn = Connection {
        state,
        principal,
        id,
        outlet,
        bucket: TokenBucket::new(CLIENT_FRAMES_PER_SEC, CLIENT_FRAME_BURST),
    };
    let end = conn.run(&mut stream, &mut answers).await;
    match &end {
        End::Close(code, reason) => tracing::debug!(socket = id, code, reason, "realtime: closing"),
        End::Gone => tracing::debug!(socket = id, "realtime: client gone"),
    }
    hub.unregister(id);
    if let End::Close(code, reason) = end {
        if conn.write_framed(raw::close_frame(code, reason)).await.is_ok() {
            // Read until the client answers the close (or a second passes): closing with its
            // bytes unread would reset the connection and could lose the close frame.
            let _ = tokio::time::timeout(CLOSE_LINGER, async { while let Some(Ok(_)) = stream.next().await {} }).await;
        }
    }
    hub.metrics.connections.fetch_sub(1, Relaxed);
}

impl Connection {
    async fn run(
        &mut self,
        stream: &mut WebSocketStream<ReadSide>,
        answers: &mut tokio::sync::mpsc::Receiver<Bytes>,
    ) -> End {
        let mut ticks = self.state.hub.subscribe();
        let first = tokio::time::timeout(FIRST_TICK_TIMEOUT, ticks.wait_for(Option::is_some)).await;
        let Ok(Ok(first)) = first.map(|r| r.map(|f| f.clone())) else {
            return End::Close(1011, "the engine is not running; retry shortly");
        };
        let first = first.expect("waited for Some");
        if let Err(end) = self.send_sync(&first).await {
            return end;
        }
        let mut expiry = Box::pin(tokio::time::sleep_until(until(self.principal.exp)));
        // Idle detection: a client silent for `idle` gets a Ping; if nothing comes back within
        // `idle` more, it is gone (a vanished phone, a half-open connection behind a NAT).
        let idle = self.state.config.connections.socket_idle;
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + idle / 2, idle / 2);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = tokio::time::Instant::now();
        let mut pinged_at: Option<tokio::time::Instant> = None;
        loop {
            let step = tokio::select! {
                incoming = stream.next() => match incoming {
                    Some(Ok(message)) => {
                        last_heard = tokio::time::Instant::now();
                        self.on_message(message, &mut expiry).await
                    }
                    Some(Err(e)) => Err(read_error_end(&e)),
                    None => Err(End::Gone),
                },
                answer = answers.recv() => match answer {
                    Some(bytes) => self.send(bytes).await,
                    None => Err(End::Close(CLOSE_POLICY, "not reading; too many unanswered frames")),
                },
                _ = self.outlet.wake.notified() => self.attend().await,
                _ = &mut expiry => Err(End::Close(CLOSE_TOKEN_EXPIRED, "token expired; send an auth frame before exp or reconnect")),
                now = heartbeat.tick() => match pinged_at.filter(|&pinged| last_heard < pinged) {
                    Some(pinged) if now - pinged >= idle => Err(End::Close(CLOSE_GOING_AWAY, "no answer to pings")),
                    Some(_) => Ok(()),
                    None if now - last_heard >= idle => {
                        pinged_at = Some(now);
                        self.write_framed(raw::frame(raw::OPCODE_PING, b"")).await
                    }
                    None => Ok(()),
                },
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// Handles what the hub flagged on the outlet.
    async fn attend(&mut self) -> Result<(), End> {
        if self.outlet.broken.load(Relaxed) {
            return Err(End::Gone);
        }
        if self.outlet.needs_flush.load(std::sync::atomic::Ordering::Acquire) {
            self.flush().await?;
            self.outlet.needs_keyframe.store(true, Relaxed);
            self.outlet.needs_flush.store(false, std::sync::atomic::Ordering::Release);
        }
        let resync = self.outlet.resync.lock().expect("resync lock").take();
        if let Some(why) = resync {
            if let Resync::Paradox(reason) = why {
                self.send_frame(&ServerFrame::paradox(None, reason)).await?;
            }
            let latest = self.state.hub.subscribe().borrow().clone();
            if let Some(frames) = latest {
                self.send_sync(&frames).await?;
            }
        }
        Ok(())
    }

    async fn send(&mut self, bytes: Bytes) -> Result<(), End> {
        let len = bytes.len();
        self.write_framed(raw::frame(2, &bytes)).await?;
        self.state.hub.metrics.sent(len);
        Ok(())
    }

    /// Queues a whole frame behind whatever the socket still holds and writes until all of it
    /// is out (at most [`SEND_TIMEOUT`]).
    async fn write_framed(&self, framed: Vec<u8>) -> Result<(), End> {
        self.outlet.writer.lock().expect("writer lock").push(&framed).map_err(|_| End::Gone)?;
        self.flush().await
    }

    /// Writes everything the socket holds, waiting for it to take it (at most [`SEND_TIMEOUT`]).
    async fn flush(&self) -> Result<(), End> {
        let drained = std::future::poll_fn(|cx| match self.outlet.writer.lock().expect("writer lock").drain(cx) {
            Ok(Drained::All) => std::task::Poll::Ready(Ok(())),
            Ok(Drained::Partly) => std::task::Poll::Pending,
            Err(e) => std::task::Poll::Ready(Err(e)),
        });
        match tokio::time::timeout(SEND_TIMEOUT, drained).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => {
                self.state.hub.metrics.slow_drops.fetch_add(1, Relaxed);
                Err(End::Gone)
            }
        }
    }

    async fn send_frame(&mut self, frame: &ServerFrame) -> Result<(), End> {
        match wire::encode(frame) {
            Ok(bytes) => self.send(Bytes::from(bytes)).await,
            Err(_) => Err(End::Close(1011, "internal error")),
        }
    }

    /// The `sync` frame: catalog, full state, this shopper's cart orbit. The hub writes this
    /// socket's ticks from the next one on, starting with a keyframe.
    async fn send_sync(&mut self, frames: &TickFrames) -> Result<(), End> {
        let hub = self.state.hub.clone();
        let permit = hub.sync_gate.acquire().await;
        let cart = self.state.carts.get(&self.principal.sub).await;
        drop(permit);
        let cart = match cart {
            Ok(lines) => lines
                .iter()
                .filter_map(|l| {
                    frames.catalog.index_of.get(&l.product_id).map(|&i| WireCartLine { i, qty: l.quantity })
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "realtime: cart unavailable for sync");
                return Err(End::Close(1011, "cart unavailable; retry shortly"));
            }
        };
        let sync = ServerFrame::Sync {
            t: now_ms(),
            n: frames.n,
            dt: hub.tick_ms,
            catalog: frames.catalog.entries.clone(),
            s: frames.state.as_ref().clone(),
            cart,
        };
        self.send_frame(&sync).await?;
        if let Some(stock) = hub.stock_frame(&frames.catalog) {
            self.send_frame(&stock).await?;
        }
        self.outlet.last_n.store(frames.n, Relaxed);
        self.outlet.needs_keyframe.store(true, Relaxed);
        self.outlet.live.store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    async fn on_message(
        &mut self,
        message: Message,
        expiry: &mut std::pin::Pin<Box<tokio::time::Sleep>>,
    ) -> Result<(), End> {
        // The catalog is read only for a gesture, and the same one checks and resolves its index.
        let mut checked_against = None;
        let hub = &self.state.hub;
        let verdict =
            protocol::on_message(message, &mut self.bucket, || checked_against.insert(hub.catalog()).ids.len());
        match verdict {
            Verdict::Close(code, reason) => Err(End::Close(code, reason)),
            Verdict::Flood => {
                self.state.hub.metrics.flood_closes.fetch_add(1, Relaxed);
                Err(End::Close(protocol::FLOOD.0, protocol::FLOOD.1))
            }
            Verdict::Gone => Err(End::Gone),
            Verdict::Nothing => Ok(()),
            // The frame reader has checked that a ping's payload is at most 125 bytes.
            Verdict::Pong(payload) => self.write_framed(raw::frame(raw::OPCODE_PONG, &payload)).await,
            Verdict::BadFrame(q, reason) => self.bad_frame(q, reason).await,
            Verdict::ClockPing(c) => self.send_frame(&ServerFrame::Pong { c, t: now_ms() }).await,
            Verdict::Auth(token) => self.reauthenticate(&token, expiry).await,
            Verdict::Gesture(q, gesture) => {
                // Checked against this very catalog, so the index is in it.
                let Some(&product) = checked_against.as_ref().and_then(|c| c.ids.get(gesture.i as usize)) else {
                    return Ok(());
                };
                self.gesture(q, gesture, product).await
            }
        }
    }

    async fn bad_frame(&mut self, q: Option<u32>, reason: Reason) -> Result<(), End> {
        self.state.hub.metrics.bad_frames.fetch_add(1, Relaxed);
        self.send_frame(&ServerFrame::bad_frame(q, reason)).await
    }

    /// A fresh token for the same subject moves the socket's deadline; anything else closes it.
    async fn reauthenticate(
        &mut self,
        token: &str,
        expiry: &mut std::pin::Pin<Box<tokio::time::Sleep>>,
    ) -> Result<(), End> {
        let renewed = Principal::from_token(&self.state.tokens, &self.state.revocations, token).await;
        match protocol::renewal(&self.principal, renewed) {
            Ok(principal) => {
                self.principal = principal;
                expiry.as_mut().reset(until(self.principal.exp));
                self.send_frame(&ServerFrame::Authed { exp: self.principal.exp as f64 * 1_000.0 }).await
            }
            Err((code, reason)) => Err(End::Close(code, reason)),
        }
    }

    /// Applies the cart side of a gesture here, then queues it for the engine, which answers
    /// with `ack` (or a paradox) through the hub once a tick has applied it.
    async fn gesture(&mut self, q: u32, gesture: Gesture, product: uuid::Uuid) -> Result<(), End> {
        match self.apply_and_queue(q, gesture, product).await {
            Ok(()) => Ok(()),
            Err(reason) => self.send_frame(&ServerFrame::paradox(Some(q), reason)).await,
        }
    }

    /// The cart change and the queueing of a gesture; the paradox reason when either fails.
    async fn apply_and_queue(&self, q: u32, gesture: Gesture, product: uuid::Uuid) -> Result<(), Reason> {
        let carts = &self.state.carts;
        match gesture.kind {
            GestureKind::Flick(_) => {}
            GestureKind::Beam => match carts.add_one(&self.principal.sub, product).await {
                Ok(Change::Done(_)) => {}
                Ok(Change::Full) => return Err(Reason::CartFull),
                Err(_) => return Err(Reason::Unavailable),
            },
            GestureKind::Drop => {
                carts.remove(&self.principal.sub, product).await.map_err(|_| Reason::Unavailable)?;
            }
        }
        let queued = QueuedGesture {
            id: uuid::Uuid::new_v4(),
            product,
            kind: gesture.kind,
            origin: GestureOrigin { node: self.state.hub.node().to_string(), conn: self.id, q },
        };
        store::queue_gesture(&self.state.redis, &queued).await.map(|_| ()).map_err(|_| Reason::Unavailable)
    }
}

/// A frame too large is closed with 1009; any other read error means the client is gone.
fn read_error_end(error: &tungstenite::Error) -> End {
    match error {
        tungstenite::Error::Capacity(_) => End::Close(1009, "frames are at most 64 KiB"),
        tungstenite::Error::Protocol(_) => End::Close(1002, "WebSocket protocol error"),
        _ => End::Gone,
    }
}

/// The instant a token expiring at `exp` (seconds since the epoch) runs out.
fn until(exp: u64) -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(exp.saturating_sub(unix_now()))
}
