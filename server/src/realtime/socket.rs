use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use hyper_util::rt::TokioIo;
use physics_worker::wire::{
    self, CartLine as WireCartLine, Gesture, GestureKind, Reason, ServerFrame, MAX_CLIENT_FRAME_BYTES, SUBPROTOCOL,
};
use serde_json::json;
use tokio::io::AsyncWrite;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use super::admission::Refusal;
use super::hub::{Hub, Resync, SocketOutlet, TickFrames};
use super::protocol::{self, Verdict};
use super::raw::{self, Drained, ReadSide, Writer};
use super::{CLIENT_FRAMES_PER_SEC, CLIENT_FRAME_BURST};
use crate::auth::{Principal, Subject};
use crate::cart::{CartLine, Change};
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
    let admission = match state.sockets.admit(principal.sub, client.ip()) {
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
#[derive(Debug, PartialEq)]
enum End {
    /// Close with this code and reason.
    Close(u16, &'static str),
    /// The client left, or cannot be written to.
    Gone,
}

/// What a connection asks of the rest of the server: the shopper's cart, token checks, and the
/// gestures it hands to the engine. [`AppState`] is the real one; the unit tests below stand in
/// their own so that the loop can be driven over channels.
pub trait ConnectionServices: Send + Sync + 'static {
    /// The cart orbit of `sub`, for the `sync` frame.
    fn cart(&self, sub: Subject) -> impl Future<Output = anyhow::Result<Vec<CartLine>>> + Send;
    /// The caller a fresh token names (an `auth` frame), if it verifies.
    fn verify(&self, token: &str) -> impl Future<Output = Option<Principal>> + Send;
    /// Applies the cart side of `gesture` for `sub` and queues it for the engine; the paradox
    /// reason when either fails.
    fn apply(&self, sub: Subject, gesture: QueuedGesture) -> impl Future<Output = Result<(), Reason>> + Send;
}

impl ConnectionServices for AppState {
    async fn cart(&self, sub: Subject) -> anyhow::Result<Vec<CartLine>> {
        self.carts.get(sub).await
    }

    async fn verify(&self, token: &str) -> Option<Principal> {
        Principal::from_token(&self.tokens, &self.revocations, token).await
    }

    async fn apply(&self, sub: Subject, gesture: QueuedGesture) -> Result<(), Reason> {
        match gesture.kind {
            GestureKind::Flick(_) => {}
            GestureKind::Beam => match self.carts.add_one(sub, gesture.product).await {
                Ok(Change::Done(_)) => {}
                Ok(Change::Full) => return Err(Reason::CartFull),
                Err(_) => return Err(Reason::Unavailable),
            },
            GestureKind::Drop => {
                self.carts.remove(sub, gesture.product).await.map_err(|_| Reason::Unavailable)?;
            }
        }
        store::queue_gesture(&self.redis, &gesture).await.map(|_| ()).map_err(|_| Reason::Unavailable)
    }
}

/// What a connection is attached to: the node's hub, the services it calls, and how long a
/// client may stay silent before it is pinged.
pub struct Link<S> {
    /// The node's fan-out.
    pub hub: Arc<Hub>,
    /// The cart, tokens and engine queue.
    pub services: S,
    /// Silence before a Ping; as long again without an answer closes with 1001.
    pub idle: Duration,
}

/// The client's frames, as tungstenite reads them (or a channel in the tests).
pub trait FrameSource: Stream<Item = Result<Message, tungstenite::Error>> + Unpin + Send {}
impl<T: Stream<Item = Result<Message, tungstenite::Error>> + Unpin + Send> FrameSource for T {}

/// One connection over a TCP socket: tungstenite reads the client's frames, the hub and this task
/// write into the raw write half.
async fn serve(io: raw::Io, state: AppState, principal: Principal) {
    let (read, write) = tokio::io::split(io);
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .max_message_size(Some(MAX_CLIENT_FRAME_BYTES))
        .max_frame_size(Some(MAX_CLIENT_FRAME_BYTES));
    let source = WebSocketStream::from_raw_socket(ReadSide(read), Role::Server, Some(config)).await;
    let link = Link { hub: state.hub.clone(), idle: state.config.connections.socket_idle, services: state };
    converse(source, write, link, principal).await;
}

/// One connection, from the `sync` to the close, over any frame source and byte sink. The hub
/// writes the tick frames straight into the socket's [`SocketOutlet`] (over `sink`); this task
/// reads `source`, writes answers and `sync` frames, and looks after the outlet when the hub flags
/// it (a write to finish, broken, paradox).
pub async fn converse<S: ConnectionServices>(
    mut source: impl FrameSource,
    sink: impl AsyncWrite + Send + 'static,
    link: Link<S>,
    principal: Principal,
) {
    let Link { hub, services, idle } = link;
    let (id, outlet, mut answers) = hub.register(Writer::new(sink));
    hub.metrics.connections.fetch_add(1, Relaxed);
    let mut conn = Connection {
        services,
        hub: hub.clone(),
        idle,
        principal,
        id,
        outlet,
        bucket: TokenBucket::new(CLIENT_FRAMES_PER_SEC, CLIENT_FRAME_BURST),
    };
    let end = conn.run(&mut source, &mut answers).await;
    match &end {
        End::Close(code, reason) => tracing::debug!(socket = id, code, reason, "realtime: closing"),
        End::Gone => tracing::debug!(socket = id, "realtime: client gone"),
    }
    hub.unregister(id);
    if let End::Close(code, reason) = end {
        if conn.write_framed(raw::close_frame(code, reason)).await.is_ok() {
            // Read until the client answers the close (or a second passes): closing with its
            // bytes unread would reset the connection and could lose the close frame.
            let _ = tokio::time::timeout(CLOSE_LINGER, async { while let Some(Ok(_)) = source.next().await {} }).await;
        }
    }
    hub.metrics.connections.fetch_sub(1, Relaxed);
}

/// One connection's state while it runs.
struct Connection<S> {
    services: S,
    hub: Arc<Hub>,
    idle: Duration,
    principal: Principal,
    id: u64,
    outlet: Arc<SocketOutlet>,
    bucket: TokenBucket,
}

impl<S: ConnectionServices> Connection<S> {
    async fn run(&mut self, source: &mut impl FrameSource, answers: &mut tokio::sync::mpsc::Receiver<Bytes>) -> End {
        let mut ticks = self.hub.subscribe();
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
        let idle = self.idle;
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + idle / 2, idle / 2);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = tokio::time::Instant::now();
        let mut pinged_at: Option<tokio::time::Instant> = None;
        loop {
            let step = tokio::select! {
                incoming = source.next() => match incoming {
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
            let latest = self.hub.subscribe().borrow().clone();
            if let Some(frames) = latest {
                self.send_sync(&frames).await?;
            }
        }
        Ok(())
    }

    async fn send(&mut self, bytes: Bytes) -> Result<(), End> {
        let len = bytes.len();
        self.write_framed(raw::frame(2, &bytes)).await?;
        self.hub.metrics.sent(len);
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
                self.hub.metrics.slow_drops.fetch_add(1, Relaxed);
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
        let hub = self.hub.clone();
        let permit = hub.sync_gate.acquire().await;
        let cart = self.services.cart(self.principal.sub).await;
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
        let hub = &self.hub;
        let verdict =
            protocol::on_message(message, &mut self.bucket, || checked_against.insert(hub.catalog()).ids.len());
        match verdict {
            Verdict::Close(code, reason) => Err(End::Close(code, reason)),
            Verdict::Flood => {
                self.hub.metrics.flood_closes.fetch_add(1, Relaxed);
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
        self.hub.metrics.bad_frames.fetch_add(1, Relaxed);
        self.send_frame(&ServerFrame::bad_frame(q, reason)).await
    }

    /// A fresh token for the same subject moves the socket's deadline; anything else closes it.
    async fn reauthenticate(
        &mut self,
        token: &str,
        expiry: &mut std::pin::Pin<Box<tokio::time::Sleep>>,
    ) -> Result<(), End> {
        let renewed = self.services.verify(token).await;
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
        let queued = self.queued(q, gesture, product);
        match self.services.apply(self.principal.sub, queued).await {
            Ok(()) => Ok(()),
            Err(reason) => self.send_frame(&ServerFrame::paradox(Some(q), reason)).await,
        }
    }

    /// The gesture as the engine queue carries it, with this socket as its origin.
    fn queued(&self, q: u32, gesture: Gesture, product: uuid::Uuid) -> QueuedGesture {
        QueuedGesture {
            id: uuid::Uuid::new_v4(),
            product,
            kind: gesture.kind,
            origin: GestureOrigin { node: self.hub.node().to_string(), conn: self.id, q },
        }
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

/// The connection loop driven over channels: frames go in through an mpsc channel, and what the
/// server writes is read back from an in-memory pipe. No TCP, Redis or PostgreSQL.
#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use physics_worker::wire::{BodyState, CatalogEntry, ClientFrame, ErrCode};
    use tokio::io::DuplexStream;
    use tokio::sync::mpsc;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    use super::*;
    use crate::auth::Role as AccountRole;
    use crate::realtime::catalog_index::CatalogIndex;

    const PRODUCTS: usize = 3;

    /// Stands in for the cart, the token check and the engine queue, and records the gestures.
    #[derive(Clone, Default)]
    struct Recorder {
        cart: Vec<CartLine>,
        renewal: Arc<Mutex<Option<Principal>>>,
        queued: Arc<Mutex<Vec<QueuedGesture>>>,
    }

    impl ConnectionServices for Recorder {
        async fn cart(&self, _: Subject) -> anyhow::Result<Vec<CartLine>> {
            Ok(self.cart.clone())
        }
        async fn verify(&self, _: &str) -> Option<Principal> {
            self.renewal.lock().unwrap().clone()
        }
        async fn apply(&self, _: Subject, gesture: QueuedGesture) -> Result<(), Reason> {
            self.queued.lock().unwrap().push(gesture);
            Ok(())
        }
    }

    fn shopper(expires_in: u64) -> Principal {
        Principal { sub: Subject::new(uuid::Uuid::new_v4()), role: AccountRole::Guest, exp: unix_now() + expires_in }
    }

    /// A hub whose engine has ticked once, over a catalog of [`PRODUCTS`].
    fn hub_with_a_tick() -> Arc<Hub> {
        let hub = Arc::new(Hub::new("node-test".into(), Duration::from_millis(50), false));
        let ids: Vec<uuid::Uuid> = (0..PRODUCTS).map(|_| uuid::Uuid::new_v4()).collect();
        hub.set_catalog(CatalogIndex {
            entries: ids
                .iter()
                .zip(0..)
                .map(|(id, i)| CatalogEntry { i, id: id.to_string(), slug: format!("p{i}"), b: 1.0 })
                .collect(),
            base_masses: vec![1.0; PRODUCTS],
            index_of: ids.iter().zip(0..).map(|(id, i)| (*id, i)).collect(),
            digest: 7,
            ids,
        });
        let s: Vec<BodyState> =
            (0..PRODUCTS as u32).map(|i| BodyState { i, p: [1.0, 0.0, 0.0], v: [0.0; 3], m: 1.0, c: 999 }).collect();
        let full = wire::encode(&ServerFrame::State { t: 0.0, n: 1, s: s.clone() }).unwrap();
        hub.publish(Arc::new(TickFrames {
            n: 1,
            delta: None,
            full: Bytes::from(raw::frame(2, &full)),
            state: Arc::new(s),
            paradox: None,
            catalog_changed: false,
            catalog: hub.catalog(),
        }));
        hub
    }

    /// The client's end: frames in through a channel, the server's writes read back.
    struct Client {
        frames: Option<mpsc::Sender<Result<Message, tungstenite::Error>>>,
        socket: WebSocketStream<DuplexStream>,
        done: tokio::task::JoinHandle<()>,
    }

    async fn connect(hub: &Arc<Hub>, services: Recorder, principal: Principal, idle: Duration) -> Client {
        let (frames, rx) = mpsc::channel(256);
        let source = Box::pin(futures_util::stream::unfold(rx, |mut rx| async { rx.recv().await.map(|m| (m, rx)) }));
        let (server_end, client_end) = tokio::io::duplex(1 << 20);
        let link = Link { hub: hub.clone(), services, idle };
        let done = tokio::spawn(converse(source, server_end, link, principal));
        let socket = WebSocketStream::from_raw_socket(client_end, Role::Client, None).await;
        Client { frames: Some(frames), socket, done }
    }

    impl Client {
        async fn send(&self, message: Message) {
            self.frames.as_ref().expect("open").send(Ok(message)).await.expect("the connection reads");
        }

        async fn send_frame(&self, frame: &ClientFrame) {
            self.send(Message::Binary(wire::encode(frame).unwrap().into())).await;
        }

        /// The next message the server wrote, within 10 s.
        async fn next(&mut self) -> Message {
            self.next_within(Duration::from_secs(10)).await
        }

        /// The next message the server wrote, within `limit` (of paused time, where it is paused).
        async fn next_within(&mut self, limit: Duration) -> Message {
            let next = tokio::time::timeout(limit, self.socket.next()).await;
            next.expect("a frame in time").expect("the pipe is open").expect("a well-formed frame")
        }

        async fn next_frame(&mut self) -> ServerFrame {
            match self.next().await {
                Message::Binary(bytes) => wire::decode(&bytes).expect("a server frame"),
                other => panic!("expected a binary frame, got {other:?}"),
            }
        }

        async fn expect_close(&mut self, limit: Duration) -> (u16, String) {
            match self.next_within(limit).await {
                Message::Close(Some(close)) => (u16::from(close.code), close.reason.to_string()),
                other => panic!("expected a close frame, got {other:?}"),
            }
        }

        /// Hangs up and waits for the connection task to end.
        async fn hang_up(mut self) {
            self.frames.take();
            tokio::time::timeout(Duration::from_secs(5), self.done).await.expect("the task ends").unwrap();
        }
    }

    #[tokio::test]
    async fn a_connection_syncs_queues_gestures_and_answers_bad_frames() {
        let hub = hub_with_a_tick();
        let ids = hub.catalog().ids.clone();
        let services = Recorder { cart: vec![CartLine { product_id: ids[1], quantity: 2 }], ..Default::default() };
        let mut client = connect(&hub, services.clone(), shopper(900), Duration::from_secs(30)).await;

        let ServerFrame::Sync { n, dt, catalog, s, cart, .. } = client.next_frame().await else { panic!("sync first") };
        assert_eq!((n, dt, catalog.len(), s.len()), (1, 50, PRODUCTS, PRODUCTS));
        assert_eq!(cart, vec![WireCartLine { i: 1, qty: 2 }], "the cart orbit by catalog index");

        client.send(Message::Binary(vec![0xc1].into())).await;
        let malformed = client.next_frame().await;
        assert_eq!(malformed, ServerFrame::bad_frame(None, Reason::Malformed));
        client.send_frame(&ClientFrame::Beam { i: 7, q: 3 }).await;
        assert_eq!(client.next_frame().await, ServerFrame::bad_frame(Some(3), Reason::UnknownProduct));

        client.send_frame(&ClientFrame::Beam { i: 2, q: 4 }).await;
        client.send_frame(&ClientFrame::Ping { c: 5.0 }).await;
        let ServerFrame::Pong { c, .. } = client.next_frame().await else { panic!("pong") };
        assert_eq!(c, 5.0);
        let queued = services.queued.lock().unwrap().clone();
        assert_eq!(queued.len(), 1, "only the good gesture reaches the engine queue");
        assert_eq!((queued[0].product, queued[0].kind), (ids[2], GestureKind::Beam));
        assert_eq!((queued[0].origin.node.as_str(), queued[0].origin.q), ("node-test", 4));
        assert_eq!(hub.metrics.bad_frames.load(Relaxed), 2);
        assert!(matches!(malformed, ServerFrame::Err { code: ErrCode::BadFrame, .. }));

        assert_eq!(hub.metrics.connections.load(Relaxed), 1);
        client.hang_up().await;
        assert_eq!(hub.metrics.connections.load(Relaxed), 0, "a client that leaves is forgotten");
    }

    #[tokio::test]
    async fn a_flood_is_answered_up_to_the_burst_then_closed_with_1008() {
        let hub = hub_with_a_tick();
        let mut client = connect(&hub, Recorder::default(), shopper(900), Duration::from_secs(30)).await;
        assert!(matches!(client.next_frame().await, ServerFrame::Sync { .. }));
        for k in 0..200 {
            client.send_frame(&ClientFrame::Ping { c: f64::from(k) }).await;
        }
        let mut answered = 0;
        let close = loop {
            match client.next().await {
                Message::Binary(_) => answered += 1,
                Message::Close(Some(close)) => break close,
                other => panic!("unexpected {other:?}"),
            }
        };
        assert!((60..66).contains(&answered), "answered {answered} pings before the close");
        assert_eq!((u16::from(close.code), close.reason.as_str()), protocol::FLOOD);
        assert_eq!(close.code, CloseCode::Policy);
        assert_eq!(hub.metrics.flood_closes.load(Relaxed), 1);
        client.hang_up().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_renewed_in_time_keeps_the_socket_and_an_expired_one_closes_it_with_4001() {
        let hub = hub_with_a_tick();
        let services = Recorder::default();
        let first = shopper(60);
        let mut client = connect(&hub, services.clone(), first.clone(), Duration::from_secs(3_600)).await;
        assert!(matches!(client.next_frame().await, ServerFrame::Sync { .. }));

        tokio::time::sleep(Duration::from_secs(50)).await;
        let renewed = Principal { exp: first.exp + 600, ..first.clone() };
        *services.renewal.lock().unwrap() = Some(renewed.clone());
        client.send_frame(&ClientFrame::Auth { token: "fresh".into() }).await;
        assert_eq!(client.next_frame().await, ServerFrame::Authed { exp: renewed.exp as f64 * 1_000.0 });

        // Past the first token's expiry the socket still answers.
        tokio::time::sleep(Duration::from_secs(60)).await;
        client.send_frame(&ClientFrame::Ping { c: 1.0 }).await;
        assert!(matches!(client.next_frame().await, ServerFrame::Pong { .. }));

        // Nothing more: the renewed token runs out and the server closes.
        let started = tokio::time::Instant::now();
        let (code, reason) = client.expect_close(Duration::from_secs(3_600)).await;
        assert_eq!(code, CLOSE_TOKEN_EXPIRED, "{reason}");
        // The renewed token had 660 s left when it arrived, 60 s before `started`.
        let waited = started.elapsed().as_secs();
        assert!((598..=602).contains(&waited), "closed {waited} s later");
        client.hang_up().await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_auth_frame_for_another_subject_closes_the_socket() {
        let hub = hub_with_a_tick();
        let services = Recorder::default();
        let mut client = connect(&hub, services.clone(), shopper(600), Duration::from_secs(3_600)).await;
        assert!(matches!(client.next_frame().await, ServerFrame::Sync { .. }));
        *services.renewal.lock().unwrap() = Some(shopper(900));
        client.send_frame(&ClientFrame::Auth { token: "someone else's".into() }).await;
        let closed = client.expect_close(Duration::from_secs(10)).await;
        assert_eq!(closed, (CLOSE_POLICY, "invalid token in auth frame".to_string()));
        client.hang_up().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_pinged_then_closed_with_1001() {
        let hub = hub_with_a_tick();
        let idle = Duration::from_secs(30);
        let mut client = connect(&hub, Recorder::default(), shopper(3_600), idle).await;
        assert!(matches!(client.next_frame().await, ServerFrame::Sync { .. }));
        let started = tokio::time::Instant::now();
        let pinged = client.next_within(idle * 3).await;
        assert!(matches!(pinged, Message::Ping(_)), "a ping after the idle time, not {pinged:?}");
        let pinged = started.elapsed();
        assert!(pinged >= idle && pinged <= idle * 2, "pinged after {pinged:?}");
        // The pong tungstenite writes back never reaches this server's frame source: no answer.
        let (code, _) = client.expect_close(idle * 3).await;
        assert_eq!(code, CLOSE_GOING_AWAY);
        assert!(started.elapsed() >= pinged + idle, "closed only after another idle time");
        client.hang_up().await;
    }
}
