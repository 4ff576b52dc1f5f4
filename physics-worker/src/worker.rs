//! The browser side: a gloo-worker that owns the WebSocket and the manifold, off the main thread.
//!
//! The page talks to it with [`Command`]s and hears back [`Event`]s (the design's Command/Event
//! interface: `CONNECT`, `SEND_GESTURE`, `STATE_UPDATE`, `ERROR_PARADOX`, plus what the page needs
//! to draw: the catalog order, connection state, gesture outcomes). MessagePack frames are decoded
//! here; per animation frame the page gets every product's position in one `Float32Array`
//! (never an object per product; see [`crate::codec`]). Both ends use [`FrameCodec`].

use gloo_worker::{HandlerId, Worker, WorkerScope};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::manifold::{Manifold, STRIDE};
use crate::view::{contention, format_cents, instability, price_jumped, Camera, Viewport, LAYOUT_STRIDE, LOW_STOCK};
use crate::wire::{
    self, ClientFrame, ErrCode, Gesture, GestureKind, Reason, ServerFrame, PROTOCOL_VERSION, SUBPROTOCOL,
};

/// How often the worker pings for clock sync.
const PING_EVERY_MS: i32 = 2_000;
/// How often the page hears where products were painted.
pub const LAYOUT_TO_PAGE_MS: f64 = 100.0;
/// How often, at most, the page hears new prices while the worker paints (they are for
/// assistive technology and the cart; the canvas shows them at once).
pub const PRICES_TO_PAGE_MS: f64 = 500.0;
/// First reconnection delay; doubles up to [`MAX_BACKOFF_MS`].
const FIRST_BACKOFF_MS: i32 = 500;
/// Longest reconnection delay.
const MAX_BACKOFF_MS: i32 = 8_000;

/// What the page asks of the worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Command {
    /// Say which wire protocol the worker speaks.
    Hello,
    /// `CONNECT`: open (or reopen) `/ws` at `url` with this access token.
    Connect {
        /// `ws://…/ws` or `wss://…/ws`.
        url: String,
        /// The JWT, sent as the `bearer.<JWT>` subprotocol.
        token: String,
    },
    /// A fresh access token of the same session: sent as an `auth` frame on the open socket (so
    /// it outlives the old token), and used by every reconnect. While the socket is down it
    /// reconnects at once with it (the one retry after a refused handshake).
    Token {
        /// The new JWT.
        token: String,
    },
    /// `SEND_GESTURE`.
    SendGesture(Gesture),
    /// One animation frame at `now` (ms since the epoch): answer with a `StateUpdate`.
    Frame {
        /// The frame's time.
        now: f64,
    },
    /// Drop the socket as if the network failed (tests and the "simulate outage" control).
    Disconnect,
    /// Paint the well into the `OffscreenCanvas` transferred just before ("canvas"), of this
    /// size in CSS px, from the worker's own animation frames. Answered by [`Event::Painting`].
    AttachCanvas {
        /// The well's size on screen.
        width: f32,
        /// The well's size on screen.
        height: f32,
        /// Device pixels per CSS pixel.
        dpr: f32,
    },
    /// The well changed size on screen.
    Resize {
        /// The well's size on screen.
        width: f32,
        /// The well's size on screen.
        height: f32,
        /// Device pixels per CSS pixel.
        dpr: f32,
    },
    /// What the cards show that the wire does not carry: `(name, units in stock)` by index.
    Products(Vec<(String, i64)>),
    /// Decoded product images were transferred just before ("images": `indices`, `bitmaps`).
    Images,
    /// The cart orbit: `(index, quantity)` lines.
    Cart(Vec<(u32, u32)>),
    /// The product with keyboard focus, if any.
    Focus(Option<u32>),
    /// The product under the pointer, if any.
    Hover(Option<u32>),
    /// Record where this product is painted in every frame (measurements and tests).
    Watch(Option<u32>),
    /// A search's matches, best first: shown on the inner orbit at the front (this page only).
    Pull(Vec<u32>),
    /// The shopper zoomed or panned the well (this page only).
    Camera(Camera),
}

/// The connection as the page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Connection {
    /// Opening the socket.
    Connecting,
    /// Open and synced.
    Open,
    /// Lost; the next attempt is in `retry_in_ms`.
    Lost {
        /// Delay before the next attempt.
        retry_in_ms: i32,
        /// The close code, when there was one (1008 flood, 4001 expired token, …).
        code: u16,
        /// Whether the socket had opened. A handshake that failed may have been refused for its
        /// token (browsers hide the 401): the page checks and hands a fresh one with
        /// [`Command::Token`].
        opened: bool,
    },
}

/// What the worker tells the page.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Event {
    /// Answer to [`Command::Hello`].
    Ready {
        /// The wire protocol version.
        protocol_version: u32,
    },
    /// The connection changed.
    Connection(Connection),
    /// A `sync` arrived: product ids by index, and the shopper's cart orbit.
    Synced {
        /// Product uuids in index order.
        ids: Vec<String>,
        /// Base masses in index order: communal mass above it is interest (contention).
        base_masses: Vec<f32>,
        /// `(index, quantity)` of the cart orbit.
        cart: Vec<(u32, u32)>,
    },
    /// `STATE_UPDATE`: every product's `[x, y, z, mass]` for the frame asked for, in one
    /// `Float32Array` beside this event ([`crate::codec::take_positions`]).
    StateUpdate {
        /// Products in the positions (`manifold::STRIDE` floats each, in index order).
        products: u32,
        /// Prices in cents by index, when they changed since the last update.
        prices: Option<Vec<i64>>,
        /// Time the manifold took for this frame, in microseconds.
        manifold_us: f32,
        /// How far past the newest confirmed tick this frame was extrapolated, in ms.
        extrapolated_ms: f32,
        /// Other shoppers' gestures settled since the last update (as in [`Event::Layout`]).
        forecasts: Vec<Forecasted>,
    },
    /// Units available changed: `(index, units)`.
    Stock {
        /// The new levels.
        levels: Vec<(u32, i64)>,
    },
    /// A gesture left with sequence number `q`.
    Sent {
        /// Sequence number.
        q: u32,
        /// The gesture.
        gesture: Gesture,
    },
    /// The server applied gesture `q`.
    Accepted {
        /// Sequence number.
        q: u32,
    },
    /// The server refused gesture `q` as malformed (it visibly undoes itself).
    Refused {
        /// Sequence number.
        q: u32,
        /// The server's reason.
        reason: Reason,
    },
    /// Whether the worker paints the well ([`Command::AttachCanvas`]); if not, why.
    Painting {
        /// Painting started.
        started: bool,
        /// Why not, when it did not.
        reason: String,
    },
    /// A few times a second while painting: where every product was painted, as
    /// `view::LAYOUT_STRIDE` floats each in one `Float32Array` beside this event, plus
    /// what the page keeps for assistive technology and measurements.
    Layout {
        /// Products in the rectangles.
        products: u32,
        /// Prices in cents by index, when they changed (at most every [`PRICES_TO_PAGE_MS`]).
        prices: Option<Vec<i64>>,
        /// Time each frame's paint took since the last layout, ms.
        paint_ms: Vec<f32>,
        /// Intervals between the worker's animation frames since the last layout, ms.
        intervals_ms: Vec<f32>,
        /// How far past the newest confirmed tick each frame was extrapolated, ms.
        extrapolated_ms: Vec<f32>,
        /// Where the watched product was painted: `(epoch ms, centre x, centre y)` per frame.
        watched: Vec<(f64, f32, f32)>,
        /// Other shoppers' gestures settled since the last layout.
        forecasts: Vec<Forecasted>,
    },
    /// `ERROR_PARADOX`: rewind to the last confirmed state; a fresh `sync` follows.
    ErrorParadox {
        /// The gesture it answers, if any.
        q: Option<u32>,
        /// The server's reason (`state_lost`, `cart_full`, …).
        reason: Reason,
    },
}

/// Another shopper's gesture as the worker showed it: `(product index, epoch ms its event
/// arrived, epoch ms of the first frame that showed the product off its old path, whether the
/// tick matched the forecast bit for bit)`.
pub type Forecasted = (u32, f64, Option<f64>, bool);

/// Messages from the socket and timers to the worker itself.
pub enum Message {
    /// The socket opened.
    Opened,
    /// A binary frame.
    Frame(Vec<u8>),
    /// The socket closed with this code.
    Closed(u16),
    /// Time to ping.
    Ping,
    /// Time to reconnect.
    Reconnect,
    /// The worker's animation frame: paint.
    Paint(f64),
    /// The canvas got its context back after losing it (a GPU reset, a tab restored).
    ContextRestored,
}

/// The painting side of the worker: the canvas painter, its animation frame and what it reports.
#[derive(Default)]
struct Canvas {
    painter: Option<crate::paint::Painter>,
    frame_callback: Option<Closure<dyn FnMut(f64)>>,
    /// Keeps the canvas's `contextrestored` listener alive.
    restored_callback: Option<Closure<dyn FnMut(JsValue)>>,
    last_frame: Option<f64>,
    layout_sent_at: f64,
    prices_sent_at: f64,
    prices_pending: bool,
    /// Prices painted, to tell a fast move (the Redshift glitch).
    prices_painted: Vec<i64>,
    price_jumped: Vec<bool>,
    stock: Vec<i64>,
    base_masses: Vec<f32>,
    paint_ms: Vec<f32>,
    intervals_ms: Vec<f32>,
    extrapolated_ms: Vec<f32>,
    watch: Option<usize>,
    watched: Vec<(f64, f32, f32)>,
    forecasts: Vec<Forecasted>,
}

/// The physics worker.
pub struct PhysicsWorker {
    manifold: Manifold,
    /// Who to send events to (the page that connected).
    page: Option<HandlerId>,
    target: Option<(String, String)>,
    socket: Option<web_sys::WebSocket>,
    /// Whether the current socket has opened.
    opened: bool,
    /// Keeps the socket's callbacks alive as long as the socket.
    callbacks: Vec<Closure<dyn FnMut(JsValue)>>,
    ping: Option<Closure<dyn FnMut()>>,
    reconnect: Option<Closure<dyn FnMut()>>,
    reconnect_timer: Option<i32>,
    backoff_ms: i32,
    next_q: u32,
    positions: Vec<f32>,
    canvas: Canvas,
}

/// Milliseconds since the epoch on the worker's clock (the page uses the same origin-based time).
pub fn epoch_now() -> f64 {
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    global.performance().map(|p| p.time_origin() + p.now()).unwrap_or_else(js_sys::Date::now)
}

fn global() -> web_sys::WorkerGlobalScope {
    js_sys::global().unchecked_into()
}

impl PhysicsWorker {
    fn emit(&self, scope: &WorkerScope<Self>, event: Event) {
        if let Some(page) = self.page {
            scope.respond(page, event);
        }
    }

    fn send(&self, frame: &ClientFrame) -> bool {
        let (Some(socket), Ok(bytes)) = (&self.socket, wire::encode(frame)) else { return false };
        socket.ready_state() == web_sys::WebSocket::OPEN && socket.send_with_u8_array(&bytes).is_ok()
    }

    fn open(&mut self, scope: &WorkerScope<Self>) {
        self.close_socket();
        let Some((url, token)) = self.target.clone() else { return };
        let protocols = js_sys::Array::of2(&SUBPROTOCOL.into(), &format!("bearer.{token}").into());
        let Ok(socket) = web_sys::WebSocket::new_with_str_sequence(&url, &protocols) else {
            self.schedule_reconnect(scope, 0);
            return;
        };
        socket.set_binary_type(web_sys::BinaryType::Arraybuffer);
        let on_open = {
            let scope = scope.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |_| scope.send_message(Message::Opened))
        };
        let on_message = {
            let scope = scope.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let event: web_sys::MessageEvent = event.unchecked_into();
                if let Ok(buffer) = event.data().dyn_into::<js_sys::ArrayBuffer>() {
                    scope.send_message(Message::Frame(js_sys::Uint8Array::new(&buffer).to_vec()));
                }
            })
        };
        let on_close = {
            let scope = scope.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let code = event.dyn_ref::<web_sys::CloseEvent>().map(|e| e.code()).unwrap_or(1006);
                scope.send_message(Message::Closed(code))
            })
        };
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        self.callbacks = vec![on_open, on_message, on_close];
        self.socket = Some(socket);
        self.opened = false;
        self.emit(scope, Event::Connection(Connection::Connecting));
    }

    fn close_socket(&mut self) {
        if let Some(socket) = self.socket.take() {
            socket.set_onopen(None);
            socket.set_onmessage(None);
            socket.set_onclose(None);
            let _ = socket.close();
        }
        self.callbacks.clear();
    }

    /// Stops a pending reconnection timer (before its callback is dropped).
    fn cancel_reconnect(&mut self) {
        if let Some(handle) = self.reconnect_timer.take() {
            global().clear_timeout_with_handle(handle);
        }
        self.reconnect = None;
    }

    fn schedule_reconnect(&mut self, scope: &WorkerScope<Self>, code: u16) {
        let delay = self.backoff_ms;
        self.backoff_ms = (self.backoff_ms * 2).min(MAX_BACKOFF_MS);
        let callback = {
            let scope = scope.clone();
            Closure::<dyn FnMut()>::new(move || scope.send_message(Message::Reconnect))
        };
        self.cancel_reconnect();
        self.reconnect_timer = global()
            .set_timeout_with_callback_and_timeout_and_arguments_0(callback.as_ref().unchecked_ref(), delay)
            .ok();
        self.reconnect = Some(callback);
        let opened = self.opened;
        self.emit(scope, Event::Connection(Connection::Lost { retry_in_ms: delay, code, opened }));
    }

    fn on_frame(&mut self, scope: &WorkerScope<Self>, bytes: &[u8]) {
        let arrived = epoch_now();
        let Ok(frame) = wire::decode::<ServerFrame>(bytes) else { return };
        match frame {
            ServerFrame::Sync { t, n, dt, catalog, s, cart } => {
                self.manifold.on_sync(dt, &catalog, n, t, &s, arrived);
                self.backoff_ms = FIRST_BACKOFF_MS;
                let mut ids = vec![String::new(); catalog.len()];
                let mut base_masses = vec![1.0; catalog.len()];
                for entry in catalog {
                    if let (Some(id), Some(mass)) =
                        (ids.get_mut(entry.i as usize), base_masses.get_mut(entry.i as usize))
                    {
                        *id = entry.id;
                        *mass = entry.b;
                    }
                }
                let cart: Vec<(u32, u32)> = cart.into_iter().map(|line| (line.i, line.qty)).collect();
                self.canvas.base_masses.clone_from(&base_masses);
                if let Some(painter) = &mut self.canvas.painter {
                    painter.set_cart(&cart);
                }
                self.emit(scope, Event::Synced { ids, base_masses, cart });
                self.emit(scope, Event::Connection(Connection::Open));
            }
            ServerFrame::State { t, n, s } => self.manifold.on_state(n, t, &s, arrived),
            ServerFrame::Ack { q, n } => {
                self.manifold.on_ack(q, n);
                self.emit(scope, Event::Accepted { q });
            }
            ServerFrame::Err { code, q, reason } => {
                let reason = reason.unwrap_or(Reason::Other);
                if let Some(q) = q {
                    self.manifold.on_refused(q);
                }
                if code == ErrCode::TemporalParadox {
                    self.emit(scope, Event::ErrorParadox { q, reason });
                } else if let Some(q) = q {
                    self.emit(scope, Event::Refused { q, reason });
                }
            }
            ServerFrame::Event { i, n, v } => {
                self.manifold.on_forecast(i as usize, n, v, arrived);
            }
            ServerFrame::Pong { c, t } => self.manifold.on_pong(c, t, arrived),
            ServerFrame::Authed { .. } => {}
            ServerFrame::Stock { s } => {
                for level in &s {
                    if let Some(units) = self.canvas.stock.get_mut(level.i as usize) {
                        *units = level.q;
                    }
                    if let Some(painter) = &mut self.canvas.painter {
                        painter.set_stock(level.i as usize, level.q);
                    }
                }
                self.emit(scope, Event::Stock { levels: s.iter().map(|level| (level.i, level.q)).collect() })
            }
        }
    }
}

impl PhysicsWorker {
    fn attach_canvas(&mut self, scope: &WorkerScope<Self>, viewport: Viewport, dpr: f32) -> Result<(), String> {
        let payload = crate::codec::take_transferred("canvas").ok_or("no canvas was transferred")?;
        let canvas = js_sys::Reflect::get(&payload, &"canvas".into())
            .ok()
            .and_then(|c| c.dyn_into::<web_sys::OffscreenCanvas>().ok())
            .ok_or("the transfer held no OffscreenCanvas")?;
        // A context lost and restored comes back blank, and so may the cards' rasters: they are
        // drawn again, and every frame repaints from the manifold anyway.
        let restored = {
            let scope = scope.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |_| scope.send_message(Message::ContextRestored))
        };
        let _ = canvas.add_event_listener_with_callback("contextrestored", restored.as_ref().unchecked_ref());
        self.canvas.restored_callback = Some(restored);
        self.canvas.painter = Some(crate::paint::Painter::new(canvas, viewport, dpr)?);
        let callback = {
            let scope = scope.clone();
            Closure::<dyn FnMut(f64)>::new(move |timestamp: f64| scope.send_message(Message::Paint(timestamp)))
        };
        self.canvas.frame_callback = Some(callback);
        self.request_frame();
        Ok(())
    }

    fn request_frame(&self) {
        let Some(callback) = &self.canvas.frame_callback else { return };
        let global: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        let _ = global.request_animation_frame(callback.as_ref().unchecked_ref());
    }

    /// Decoded images transferred by the page, onto their cards.
    fn take_images(&mut self) {
        let (Some(payload), Some(painter)) = (crate::codec::take_transferred("images"), self.canvas.painter.as_mut())
        else {
            return;
        };
        let get = |key: &str| js_sys::Reflect::get(&payload, &key.into()).ok().map(|v| js_sys::Array::from(&v));
        let (Some(indices), Some(bitmaps)) = (get("indices"), get("bitmaps")) else { return };
        for (index, bitmap) in indices.iter().zip(bitmaps.iter()) {
            if let (Some(index), Ok(bitmap)) = (index.as_f64(), bitmap.dyn_into::<web_sys::ImageBitmap>()) {
                painter.set_image(index as usize, bitmap);
            }
        }
    }

    /// One animation frame: the manifold's positions, painted; a few times a second the page hears
    /// where everything was painted.
    fn paint(&mut self, scope: &WorkerScope<Self>, timestamp: f64) {
        self.request_frame();
        let started = epoch_now();
        let canvas = &mut self.canvas;
        if let Some(last) = canvas.last_frame.replace(timestamp) {
            push_capped(&mut canvas.intervals_ms, (timestamp - last) as f32);
        }
        let Some(painter) = canvas.painter.as_mut() else { return };
        let Some(frame) = self.manifold.render(started, &mut self.positions) else { return };
        push_capped(&mut canvas.extrapolated_ms, frame.extrapolated_ms as f32);
        for outcome in self.manifold.take_forecast_outcomes() {
            push_capped(&mut canvas.forecasts, forecasted(&outcome));
        }
        let prices = self.manifold.prices();
        if canvas.prices_painted.len() != prices.len() {
            canvas.prices_painted = prices.to_vec();
            canvas.price_jumped = vec![false; prices.len()];
            for (index, cents) in prices.iter().enumerate() {
                painter.set_price(index, format_cents(*cents));
            }
        }
        for (index, &cents) in prices.iter().enumerate() {
            let previous = canvas.prices_painted[index];
            if previous != cents {
                canvas.price_jumped[index] = price_jumped(previous, cents);
                canvas.prices_painted[index] = cents;
                painter.set_price(index, format_cents(cents));
                canvas.prices_pending = true;
            }
            let mass = self.positions.get(index * STRIDE + 3).copied().unwrap_or(1.0);
            let base = canvas.base_masses.get(index).copied().unwrap_or(1.0);
            let low = canvas.stock.get(index).is_some_and(|units| *units <= LOW_STOCK);
            painter.set_instability(index, instability(canvas.price_jumped[index], low, contention(mass, base)));
        }
        painter.paint(&self.positions, started);
        let now = epoch_now();
        push_capped(&mut canvas.paint_ms, (now - started) as f32);
        if let Some(watch) = canvas.watch {
            if let Some(r) = painter.layout().rects.get(watch * LAYOUT_STRIDE..watch * LAYOUT_STRIDE + 4) {
                push_capped(&mut canvas.watched, (now, r[0] + r[2] / 2.0, r[1] + r[3] / 2.0));
            }
        }
        if now - canvas.layout_sent_at < LAYOUT_TO_PAGE_MS {
            return;
        }
        canvas.layout_sent_at = now;
        let prices = (canvas.prices_pending && now - canvas.prices_sent_at >= PRICES_TO_PAGE_MS).then(|| {
            canvas.prices_pending = false;
            canvas.prices_sent_at = now;
            canvas.prices_painted.clone()
        });
        let rects = &painter.layout().rects;
        crate::codec::attach_positions(rects);
        let event = Event::Layout {
            products: (rects.len() / LAYOUT_STRIDE) as u32,
            prices,
            paint_ms: std::mem::take(&mut canvas.paint_ms),
            intervals_ms: std::mem::take(&mut canvas.intervals_ms),
            extrapolated_ms: std::mem::take(&mut canvas.extrapolated_ms),
            watched: std::mem::take(&mut canvas.watched),
            forecasts: std::mem::take(&mut canvas.forecasts),
        };
        self.emit(scope, event);
    }
}

fn forecasted(o: &crate::manifold::ForecastOutcome) -> Forecasted {
    (o.index as u32, o.arrived, o.departed, o.confirmed)
}

/// Appends to a report list, dropping the oldest past a bound (a page that stops listening must
/// not grow the worker).
fn push_capped<T>(list: &mut Vec<T>, value: T) {
    const CAP: usize = 2_000;
    if list.len() >= CAP {
        list.remove(0);
    }
    list.push(value);
}

impl Worker for PhysicsWorker {
    type Message = Message;
    type Input = Command;
    type Output = Event;

    fn create(scope: &WorkerScope<Self>) -> Self {
        let ping = {
            let scope = scope.clone();
            Closure::<dyn FnMut()>::new(move || scope.send_message(Message::Ping))
        };
        let _ = global()
            .set_interval_with_callback_and_timeout_and_arguments_0(ping.as_ref().unchecked_ref(), PING_EVERY_MS);
        Self {
            manifold: Manifold::new(),
            page: None,
            target: None,
            socket: None,
            opened: false,
            callbacks: Vec::new(),
            ping: Some(ping),
            reconnect: None,
            reconnect_timer: None,
            backoff_ms: FIRST_BACKOFF_MS,
            next_q: 1,
            positions: Vec::new(),
            canvas: Canvas::default(),
        }
    }

    fn update(&mut self, scope: &WorkerScope<Self>, message: Self::Message) {
        match message {
            Message::Opened => {
                self.opened = true;
                // Clock sync at once, then every PING_EVERY_MS.
                self.send(&ClientFrame::Ping { c: epoch_now() });
            }
            Message::Frame(bytes) => self.on_frame(scope, &bytes),
            Message::Closed(code) => {
                self.close_socket();
                // Reports whether this socket had opened, then forgets it for the next one.
                self.schedule_reconnect(scope, code);
                self.opened = false;
            }
            Message::Ping => {
                self.send(&ClientFrame::Ping { c: epoch_now() });
            }
            Message::Reconnect => {
                self.reconnect_timer = None;
                self.open(scope);
            }
            Message::Paint(timestamp) => self.paint(scope, timestamp),
            Message::ContextRestored => {
                if let Some(painter) = &mut self.canvas.painter {
                    painter.forget_rasters();
                }
            }
        }
    }

    fn received(&mut self, scope: &WorkerScope<Self>, command: Self::Input, who: HandlerId) {
        match command {
            Command::Hello => scope.respond(who, Event::Ready { protocol_version: PROTOCOL_VERSION }),
            Command::Connect { url, token } => {
                self.page = Some(who);
                self.target = Some((url, token));
                self.backoff_ms = FIRST_BACKOFF_MS;
                self.cancel_reconnect();
                self.open(scope);
            }
            Command::Token { token } => {
                let Some(target) = &mut self.target else { return };
                if target.1 == token {
                    return;
                }
                target.1 = token.clone();
                let open = self.socket.as_ref().is_some_and(|s| s.ready_state() == web_sys::WebSocket::OPEN);
                if open {
                    self.send(&ClientFrame::Auth { token });
                } else if self.socket.is_none() {
                    // Waiting to reconnect (perhaps refused for the old token): try now.
                    self.cancel_reconnect();
                    self.open(scope);
                }
            }
            Command::SendGesture(gesture) => {
                let q = self.next_q;
                self.next_q = self.next_q.wrapping_add(1);
                if self.send(&gesture.frame(q)) {
                    if let GestureKind::Flick(v) = gesture.kind {
                        self.manifold.predict_flick(q, gesture.i as usize, v, epoch_now());
                    }
                    self.emit(scope, Event::Sent { q, gesture });
                } else {
                    self.emit(scope, Event::ErrorParadox { q: Some(q), reason: Reason::Disconnected });
                }
            }
            Command::Frame { now } => {
                let started = epoch_now();
                let Some(frame) = self.manifold.render(now, &mut self.positions) else { return };
                let prices = self.manifold.take_prices_changed().then(|| self.manifold.prices().to_vec());
                let manifold_us = ((epoch_now() - started) * 1000.0) as f32;
                crate::codec::attach_positions(&self.positions);
                scope.respond(
                    who,
                    Event::StateUpdate {
                        products: (self.positions.len() / crate::manifold::STRIDE) as u32,
                        prices,
                        manifold_us,
                        extrapolated_ms: frame.extrapolated_ms as f32,
                        forecasts: self.manifold.take_forecast_outcomes().iter().map(forecasted).collect(),
                    },
                );
            }
            Command::Disconnect => {
                if let Some(socket) = &self.socket {
                    let _ = socket.close();
                }
            }
            Command::AttachCanvas { width, height, dpr } => {
                self.page = Some(who);
                let started = self.attach_canvas(scope, Viewport { width, height }, dpr);
                let (started, reason) = match started {
                    Ok(()) => (true, String::new()),
                    Err(reason) => (false, reason),
                };
                scope.respond(who, Event::Painting { started, reason });
            }
            Command::Resize { width, height, dpr } => {
                if let Some(painter) = &mut self.canvas.painter {
                    painter.resize(Viewport { width, height }, dpr);
                }
            }
            Command::Products(products) => {
                self.canvas.stock = products.iter().map(|p| p.1).collect();
                let prices = self.manifold.prices();
                let faces = products
                    .into_iter()
                    .enumerate()
                    .map(|(i, (name, stock))| (name, format_cents(prices.get(i).copied().unwrap_or(0)), stock))
                    .collect();
                if let Some(painter) = &mut self.canvas.painter {
                    painter.set_products(faces);
                }
                self.canvas.prices_painted.clear();
            }
            Command::Images => self.take_images(),
            Command::Cart(lines) => {
                if let Some(painter) = &mut self.canvas.painter {
                    painter.set_cart(&lines);
                }
            }
            Command::Focus(index) => {
                if let Some(painter) = &mut self.canvas.painter {
                    painter.set_focus(index.map(|i| i as usize));
                }
            }
            Command::Hover(index) => {
                if let Some(painter) = &mut self.canvas.painter {
                    painter.set_hover(index.map(|i| i as usize));
                }
            }
            Command::Pull(indices) => {
                if let Some(painter) = &mut self.canvas.painter {
                    painter.set_pulled(indices.into_iter().map(|i| i as usize).collect());
                }
            }
            Command::Camera(camera) => {
                if let Some(painter) = &mut self.canvas.painter {
                    painter.set_camera(camera);
                }
            }
            Command::Watch(index) => {
                self.canvas.watch = index.map(|i| i as usize);
                self.canvas.watched.clear();
            }
        }
    }

    fn destroy(&mut self, _scope: &WorkerScope<Self>, _id: gloo_worker::WorkerDestroyHandle<Self>) {
        self.close_socket();
        self.ping = None;
        self.reconnect = None;
    }
}
