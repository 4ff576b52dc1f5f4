use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};
use std::sync::{Arc, Mutex, RwLock};
use std::task::Context;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use physics_worker::delta::Predictor;
use physics_worker::physics::WellParams;
use physics_worker::wire::{self, BodyState, CatalogEntry, Reason, ServerFrame, StockLevel};
use sqlx::PgPool;
use tokio::sync::{mpsc, watch, Notify};
use uuid::Uuid;

use super::metrics::RealtimeMetrics;
use super::raw::{self, Drained, Writer};
use crate::engine::now_ms;
use crate::engine::stock::StockFeed;
use crate::engine::store::{GestureEvent, TickBroadcast};
use crate::keys::Keys;
use crate::product_state::{catalog_digest, live_products};

/// Answers (`ack`, `err`, `pong`) a socket may have waiting; a socket that lets more pile up is
/// not reading and is dropped.
pub const CONTROL_QUEUE: usize = 64;

/// Why a socket must be sent a fresh `sync`.
#[derive(Clone, Debug, PartialEq)]
pub enum Resync {
    /// The engine reset the live state (a Temporal Paradox): announced with an `err` frame first.
    Paradox(Reason),
    /// Products were created or retired, so the indices moved: a quiet `sync`.
    Catalog,
}

/// The products a node's sockets index, in the engine's order.
#[derive(Debug, Default)]
pub struct CatalogIndex {
    /// The `catalog` of `sync` frames.
    pub entries: Vec<CatalogEntry>,
    /// Product ids, by index.
    pub ids: Vec<Uuid>,
    /// Base masses, by index (the predictor needs them).
    pub base_masses: Vec<f32>,
    /// Index of each product id.
    pub index_of: HashMap<Uuid, u32>,
    /// [`catalog_digest`] of `ids`.
    pub digest: u64,
}

impl CatalogIndex {
    /// The live catalog from PostgreSQL.
    pub async fn load(pool: &PgPool) -> Result<Self, sqlx::Error> {
        let products = live_products(pool).await?;
        let ids: Vec<Uuid> = products.iter().map(|p| p.id).collect();
        Ok(Self {
            entries: products
                .iter()
                .enumerate()
                .map(|(i, p)| CatalogEntry { i: i as u32, id: p.id.to_string(), slug: p.slug.clone(), b: p.base_mass })
                .collect(),
            base_masses: products.iter().map(|p| p.base_mass).collect(),
            index_of: ids.iter().enumerate().map(|(i, id)| (*id, i as u32)).collect(),
            digest: catalog_digest(&ids),
            ids,
        })
    }
}

/// One tick, ready for every socket of this node.
#[derive(Debug)]
pub struct TickFrames {
    /// The tick.
    pub n: u64,
    /// The `s` frame with only what clients cannot predict, framed for the wire; `None` when
    /// this node missed the previous tick, so every socket needs the keyframe.
    pub delta: Option<Bytes>,
    /// The `s` frame with every product (a keyframe), framed for the wire.
    pub full: Bytes,
    /// Every product's state (for `sync` frames).
    pub state: Arc<Vec<BodyState>>,
    /// Set when the engine reset clients' state: sockets send a paradox, then a fresh `sync`.
    pub paradox: Option<Reason>,
    /// Set on the first tick of a new catalog: sockets get a fresh `sync` with the new indices.
    pub catalog_changed: bool,
    /// The catalog the indices refer to.
    pub catalog: Arc<CatalogIndex>,
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Ticks kept so that a socket behind by a few ticks gets their deltas instead of a keyframe.
const KEPT_TICKS: usize = 8;

/// Sockets a fan-out task writes before it lets other tasks run.
const FAN_OUT_BATCH: usize = 256;

/// Sockets are written by this many tasks in parallel each tick.
const FAN_OUT_SHARDS: usize = 2;

/// Socket writes a node spends on gesture events per second on average (an event costs one write
/// per socket it goes to), in bursts of up to [`EVENT_WRITE_BURST`]: about what the ticks of
/// 500 sockets cost. A node with a few hundred shoppers forwards every gesture at once, one with
/// 2,000 five a second, and one with more sockets than the burst none: the rest reach clients
/// with their tick. Measured in docs/performance.md: 20 gestures a second to 5,000 sockets
/// doubled the node's writes and tripled the ticks' p99 without a bound, and still raised it by
/// half with a budget of 10,000 writes a second in bursts of 5,000.
pub const EVENT_WRITES_PER_SEC: f64 = 10_000.0;
/// See [`EVENT_WRITES_PER_SEC`].
pub const EVENT_WRITE_BURST: f64 = 2_500.0;

/// The side of a socket the hub writes to. Each tick the hub writes the shared frame straight
/// into every live socket, without waking the socket's task; a socket that cannot take it at
/// once (its buffer is still full, or its task is writing) skips ticks and gets a keyframe when
/// it catches up; its task flushes it, and drops it if that takes [`super::socket::SEND_TIMEOUT`].
pub struct SocketOutlet {
    /// The write half.
    pub writer: Mutex<Writer>,
    /// Bytes are left in the writer: the task finishes the write, and the hub skips the socket.
    pub needs_flush: AtomicBool,
    /// The last tick written to this socket.
    pub last_n: AtomicU64,
    /// Set once the socket's `sync` is out: from then on the hub writes its ticks.
    pub live: AtomicBool,
    /// The next tick must be a keyframe.
    pub needs_keyframe: AtomicBool,
    /// A write failed: the socket is gone.
    pub broken: AtomicBool,
    /// A fresh `sync` to send, and why.
    pub resync: Mutex<Option<Resync>>,
    /// Wakes the socket's task when any of the above needs it.
    pub wake: Notify,
    /// Staggers keyframes across sockets.
    phase: u64,
}

impl SocketOutlet {
    /// Writes the ticks this socket has not had, if it can take them now; returns the frames and
    /// bytes written. `window` holds the newest ticks in order. A socket that holds the tick just
    /// before them gets every delta it missed in one write, so a fan-out that fell behind sends
    /// small deltas rather than keyframes; otherwise (or when its keyframe is due) it gets the
    /// newest keyframe.
    ///
    /// The write never waits: what the socket does not take at once is left to the socket's
    /// task, which finishes it (or drops a client that takes nothing for
    /// [`super::socket::SEND_TIMEOUT`]); the socket skips ticks meanwhile.
    fn deliver(&self, window: &[Arc<TickFrames>], keyframe_every: u64) -> Option<(u64, usize)> {
        let newest = window.last()?;
        if !self.live.load(Acquire) {
            return None;
        }
        let last = self.last_n.load(Relaxed);
        if newest.n <= last {
            return None;
        }
        // A socket whose task is finishing a write is left to it.
        if self.needs_flush.load(Acquire) {
            return None;
        }
        // The task holds the writer while it queues an answer; this tick is skipped for it.
        let mut writer = self.writer.try_lock().ok()?;
        // `window` is contiguous (the hub clears it when it misses a tick), so the socket can be
        // caught up with deltas when the tick after its last one is still in it.
        let catch_up = window.iter().position(|f| f.n == last + 1).filter(|&start| {
            !self.needs_keyframe.load(Relaxed)
                && window[start..]
                    .iter()
                    .all(|f| f.delta.is_some() && !(f.n + self.phase).is_multiple_of(keyframe_every))
        });
        let mut frames = 0;
        let mut bytes = 0;
        let mut push = |framed: &Bytes| {
            frames += 1;
            bytes += framed.len();
            writer.push(framed)
        };
        let pushed = match catch_up {
            Some(start) => window[start..].iter().filter_map(|f| f.delta.as_ref()).try_for_each(&mut push),
            None => push(&newest.full),
        };
        if pushed.is_err() {
            return self.break_off();
        }
        self.last_n.store(newest.n, Relaxed);
        self.needs_keyframe.store(false, Relaxed);
        if self.drain_without_waiting(&mut writer).is_err() {
            return self.break_off();
        }
        Some((frames, bytes))
    }

    /// Writes a gesture event into this socket if it can take it at once; a busy or lagging
    /// socket skips it (its tick brings the same change a moment later).
    fn deliver_event(&self, framed: &Bytes) -> bool {
        if !self.live.load(Acquire) || self.needs_flush.load(Acquire) {
            return false;
        }
        let Ok(mut writer) = self.writer.try_lock() else { return false };
        let written = writer.push(framed).is_ok() && self.drain_without_waiting(&mut writer).is_ok();
        if !written {
            self.break_off::<()>();
        }
        written
    }

    /// Writes what the socket takes now; the rest is left to the socket's task, which has a waker
    /// that knows when the socket is ready. `Err` when the socket is gone.
    fn drain_without_waiting(&self, writer: &mut Writer) -> Result<(), ()> {
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        match writer.drain(&mut cx) {
            Ok(Drained::All) => Ok(()),
            Ok(Drained::Partly) => {
                self.needs_flush.store(true, Release);
                self.wake.notify_one();
                Ok(())
            }
            Err(_) => Err(()),
        }
    }

    fn break_off<T>(&self) -> Option<T> {
        self.broken.store(true, Relaxed);
        self.wake.notify_one();
        None
    }

    /// Asks the task to send a fresh `sync` (after a paradox's `err` frame, if it is one).
    fn request_resync(&self, why: Resync) {
        self.live.store(false, Release);
        *self.resync.lock().expect("resync lock") = Some(why);
        self.wake.notify_one();
    }
}

struct Registered {
    outlet: Arc<SocketOutlet>,
    answers: mpsc::Sender<Bytes>,
}

/// The fan-out of one node.
pub struct Hub {
    node: String,
    keyframe_every: u64,
    /// The engine's tick length, announced in `sync` frames.
    pub tick_ms: u32,
    frames: watch::Sender<Option<Arc<TickFrames>>>,
    /// The newest ticks, contiguous, oldest first (at most [`KEPT_TICKS`]).
    recent: Mutex<std::collections::VecDeque<Arc<TickFrames>>>,
    catalog: RwLock<Arc<CatalogIndex>>,
    sockets: Mutex<HashMap<u64, Registered>>,
    next_socket: AtomicU64,
    /// Counters for `/metrics`.
    pub metrics: RealtimeMetrics,
    /// Bounds the `sync` frames being prepared at once: a burst of thousands of connections
    /// queues here instead of exhausting the Redis and PostgreSQL pools.
    pub sync_gate: tokio::sync::Semaphore,
    /// Units available per product, as last read from PostgreSQL.
    stock: RwLock<HashMap<Uuid, i64>>,
    /// The newest tick received: an event for it or an earlier one is late.
    last_tick: AtomicU64,
    /// Caps the socket writes spent on gesture events ([`EVENT_WRITES_PER_SEC`]).
    event_budget: Mutex<crate::rate::TokenBucket>,
    /// Whether gesture events are forwarded at all ([`crate::config::Config::gesture_events`]).
    gesture_events: bool,
}

/// `sync` frames prepared at once (each reads a cart).
const SYNC_CONCURRENCY: usize = 24;

impl Hub {
    /// A hub for `node` (the name gestures carry back to it) whose engine ticks every `tick`;
    /// each socket gets a keyframe once a second. With `gesture_events` it forwards other
    /// shoppers' gestures as `ev` frames ([`Hub::forward_event`]).
    pub fn new(node: String, tick: Duration, gesture_events: bool) -> Self {
        let tick_ms = WellParams::for_tick(tick).tick_ms();
        Self {
            node,
            keyframe_every: physics_worker::shared::ticks_per_keyframe(tick_ms),
            tick_ms,
            frames: watch::Sender::new(None),
            recent: Mutex::default(),
            catalog: RwLock::default(),
            sockets: Mutex::default(),
            next_socket: AtomicU64::new(1),
            metrics: RealtimeMetrics::default(),
            sync_gate: tokio::sync::Semaphore::new(SYNC_CONCURRENCY),
            stock: RwLock::default(),
            last_tick: AtomicU64::new(0),
            event_budget: Mutex::new(crate::rate::TokenBucket::new(EVENT_WRITES_PER_SEC, EVENT_WRITE_BURST)),
            gesture_events,
        }
    }

    /// Forwards another node's (or this node's) accepted gesture to every live socket but the
    /// one that sent it, as an `ev` frame. Dropped when it cannot help: a product this node does
    /// not know, a gesture that moves nothing, a tick already received, or past the write budget.
    pub fn forward_event(self: &Arc<Self>, event: GestureEvent) {
        if !self.gesture_events {
            return;
        }
        let catalog = self.catalog();
        let index = catalog.index_of.get(&event.gesture.product).copied();
        let effect = event.gesture.kind.effect();
        let (Some(i), Some(v)) = (index, effect) else {
            self.metrics.events_dropped.fetch_add(1, Relaxed);
            return;
        };
        let late = event.n <= self.last_tick.load(Relaxed);
        let outlets: Vec<Arc<SocketOutlet>> = {
            let sockets = self.sockets.lock().expect("sockets lock");
            // The budget is checked before the list is built: a flood costs a counter, not a list.
            if late || !self.event_budget.lock().expect("event budget lock").take_n(sockets.len() as f64) {
                self.metrics.events_dropped.fetch_add(1, Relaxed);
                return;
            }
            let origin = &event.gesture.origin;
            let skip = (origin.node == self.node).then_some(origin.conn);
            sockets.iter().filter(|(id, _)| Some(**id) != skip).map(|(_, r)| r.outlet.clone()).collect()
        };
        let Ok(payload) = wire::encode(&ServerFrame::Event { i, n: event.n, v }) else { return };
        let framed = Bytes::from(raw::frame(2, &payload));
        let hub = self.clone();
        // Written apart from the subscription, so ticks never wait behind an event's writes.
        tokio::spawn(tokio::task::unconstrained(async move {
            let delivered = outlets.iter().filter(|o| o.deliver_event(&framed)).count() as u64;
            hub.metrics.events_forwarded.fetch_add(delivered, Relaxed);
            hub.metrics.frames_sent.fetch_add(delivered, Relaxed);
            hub.metrics.bytes_sent.fetch_add(delivered * payload.len() as u64, Relaxed);
        }));
    }

    /// A `stock` frame with every product's units available (sent right after a `sync`), or
    /// `None` before stock was first read.
    pub fn stock_frame(&self, catalog: &CatalogIndex) -> Option<ServerFrame> {
        let stock = self.stock.read().expect("stock lock");
        (!stock.is_empty()).then(|| ServerFrame::Stock {
            s: catalog.ids.iter().zip(0..).filter_map(|(id, i)| stock.get(id).map(|&q| StockLevel { i, q })).collect(),
        })
    }

    /// Follows the stock levels in PostgreSQL (the node's stock feed, shared with the engine) and
    /// tells every live socket which products' units changed.
    async fn follow_stock(self: Arc<Self>, mut feed: watch::Receiver<StockFeed>) {
        while feed.changed().await.is_ok() {
            let levels = feed.borrow_and_update().levels.clone();
            // The first read changes every level: sockets synced before it learn them all.
            let changed: Vec<(Uuid, i64)> = {
                let mut known = self.stock.write().expect("stock lock");
                let changed =
                    levels.iter().filter(|(id, q)| known.get(*id) != Some(*q)).map(|(id, q)| (*id, *q)).collect();
                *known = levels;
                changed
            };
            if changed.is_empty() {
                continue;
            }
            let catalog = self.catalog();
            let s: Vec<StockLevel> = changed
                .iter()
                .filter_map(|(id, q)| catalog.index_of.get(id).map(|&i| StockLevel { i, q: *q }))
                .collect();
            self.broadcast(&ServerFrame::Stock { s });
        }
    }

    /// Queues a frame for every live socket (as [`Hub::answer`] does for one).
    fn broadcast(&self, frame: &ServerFrame) {
        let Ok(bytes) = wire::encode(frame) else { return };
        let bytes = Bytes::from(bytes);
        let mut sockets = self.sockets.lock().expect("sockets lock");
        let before = sockets.len();
        sockets.retain(|_, registered| {
            !registered.outlet.live.load(Acquire) || registered.answers.try_send(bytes.clone()).is_ok()
        });
        self.metrics.slow_drops.fetch_add((before - sockets.len()) as u64, Relaxed);
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The newest tick, and every later one as it comes.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<TickFrames>>> {
        self.frames.subscribe()
    }

    /// Registers a socket's write half: its id, its outlet, and the receiving end of its answer
    /// queue.
    pub fn register(&self, writer: Writer) -> (u64, Arc<SocketOutlet>, mpsc::Receiver<Bytes>) {
        let id = self.next_socket.fetch_add(1, Relaxed);
        let (answers, rx) = mpsc::channel(CONTROL_QUEUE);
        let outlet = Arc::new(SocketOutlet {
            writer: Mutex::new(writer),
            needs_flush: AtomicBool::new(false),
            last_n: AtomicU64::new(0),
            live: AtomicBool::new(false),
            needs_keyframe: AtomicBool::new(true),
            broken: AtomicBool::new(false),
            resync: Mutex::new(None),
            wake: Notify::new(),
            phase: id,
        });
        self.sockets.lock().expect("sockets lock").insert(id, Registered { outlet: outlet.clone(), answers });
        (id, outlet, rx)
    }

    /// Forgets a socket.
    pub fn unregister(&self, id: u64) {
        self.sockets.lock().expect("sockets lock").remove(&id);
    }

    /// Queues an answer for a socket; a socket whose queue is full is not reading, and losing its
    /// queue makes it close.
    pub fn answer(&self, socket: u64, frame: &ServerFrame) {
        let Ok(bytes) = wire::encode(frame) else { return };
        let mut sockets = self.sockets.lock().expect("sockets lock");
        if let Some(registered) = sockets.get(&socket) {
            if registered.answers.try_send(Bytes::from(bytes)).is_err() {
                sockets.remove(&socket);
                self.metrics.slow_drops.fetch_add(1, Relaxed);
            }
        }
    }

    /// Receives the engine's ticks until `shutdown` resolves, reconnecting to Redis as needed, and
    /// passes stock changes from `stock` on to the sockets.
    pub async fn run(
        self: Arc<Self>,
        redis_url: String,
        keys: Keys,
        pool: PgPool,
        stock: watch::Receiver<StockFeed>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut predictor = Predictor::new(WellParams::for_tick_ms(self.tick_ms));
        // Writing to the sockets runs apart from receiving ticks: when a fan-out takes longer
        // than a tick, the next one starts from the newest tick instead of falling behind.
        let fan_out = {
            let hub = self.clone();
            let mut ticks = self.subscribe();
            tokio::spawn(async move {
                let mut fanned_out = 0;
                while ticks.changed().await.is_ok() {
                    ticks.borrow_and_update();
                    let window: Vec<Arc<TickFrames>> =
                        hub.recent.lock().expect("recent lock").iter().filter(|f| f.n > fanned_out).cloned().collect();
                    let Some(newest) = window.last() else { continue };
                    fanned_out = newest.n;
                    let resync = match window.iter().rev().find_map(|f| f.paradox.as_ref()) {
                        Some(&reason) => Some(Resync::Paradox(reason)),
                        None => window.iter().any(|f| f.catalog_changed).then_some(Resync::Catalog),
                    };
                    if let Some(why) = resync {
                        let outlets: Vec<Arc<SocketOutlet>> =
                            hub.sockets.lock().expect("sockets lock").values().map(|r| r.outlet.clone()).collect();
                        outlets.iter().for_each(|o| o.request_resync(why.clone()));
                        continue;
                    }
                    // Sockets that are behind need earlier ticks too: hand over all kept ones.
                    let all: Vec<Arc<TickFrames>> = hub.recent.lock().expect("recent lock").iter().cloned().collect();
                    hub.fan_out(Arc::new(all)).await;
                }
            })
        };
        let _stop_fan_out = AbortOnDrop(fan_out);
        let _stop_stock = AbortOnDrop(tokio::spawn(self.clone().follow_stock(stock)));
        loop {
            tokio::select! {
                result = self.follow(&redis_url, &keys, &pool, &mut predictor) => {
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "realtime: engine channel lost; resubscribing");
                    }
                }
                _ = &mut shutdown => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = &mut shutdown => return,
            }
        }
    }

    async fn follow(
        self: &Arc<Self>,
        redis_url: &str,
        keys: &Keys,
        pool: &PgPool,
        predictor: &mut Predictor,
    ) -> anyhow::Result<()> {
        let client = deadpool_redis::redis::Client::open(redis_url)?;
        let mut pubsub = client.get_async_pubsub().await?;
        // One connection for both channels: Redis delivers them in the order they were
        // published, so an event always comes before the tick that applies it.
        let events = keys.engine_events();
        pubsub.subscribe(&[keys.engine_channel(), events.clone()]).await?;
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            if message.get_channel_name() == events {
                match GestureEvent::decode(message.get_payload_bytes()) {
                    Some(event) => self.forward_event(event),
                    None => {
                        self.metrics.events_dropped.fetch_add(1, Relaxed);
                    }
                }
                continue;
            }
            match wire::decode::<TickBroadcast>(message.get_payload_bytes()) {
                Ok(tick) => self.on_tick(tick, pool, predictor).await,
                Err(e) => tracing::warn!(error = %e, "realtime: undecodable tick skipped"),
            }
        }
        anyhow::bail!("subscription ended")
    }

    /// Replaces the catalog index (at start; later the engine's digest triggers reloads).
    pub fn set_catalog(&self, index: CatalogIndex) {
        *self.catalog.write().expect("catalog lock") = Arc::new(index);
    }

    /// The current catalog index.
    pub fn catalog(&self) -> Arc<CatalogIndex> {
        self.catalog.read().expect("catalog lock").clone()
    }

    /// Turns one engine tick into frames for every socket and routes the gesture answers.
    async fn on_tick(&self, tick: TickBroadcast, pool: &PgPool, predictor: &mut Predictor) {
        self.metrics.ticks_received.fetch_add(1, Relaxed);
        self.last_tick.store(tick.n, Relaxed);
        let mut catalog = self.catalog();
        let catalog_changed = catalog.digest != tick.catalog;
        if catalog_changed {
            match CatalogIndex::load(pool).await {
                Ok(fresh) => {
                    catalog = Arc::new(fresh);
                    *self.catalog.write().expect("catalog lock") = catalog.clone();
                }
                Err(e) => tracing::warn!(error = %e, "realtime: cannot reload the catalog"),
            }
            if catalog.digest != tick.catalog {
                tracing::warn!("realtime: the engine's catalog differs from PostgreSQL's; tick skipped");
                return;
            }
        }
        for result in tick.gestures.iter().filter(|g| g.origin.node == self.node) {
            let frame = match &result.refused {
                None => ServerFrame::Ack { q: result.origin.q, n: tick.n },
                Some(reason) => ServerFrame::paradox(Some(result.origin.q), *reason),
            };
            self.answer(result.origin.conn, &frame);
        }
        let changes = predictor.changes(tick.n, &tick.s, &catalog.base_masses);
        // Stamped once, when the frames are handed to the sockets: receive time minus `t`
        // includes any wait in this node's sockets.
        let t = now_ms();
        let encode = |s: Vec<BodyState>| {
            wire::encode(&ServerFrame::State { t, n: tick.n, s }).map(|p| Bytes::from(raw::frame(2, &p)))
        };
        let (Ok(full), delta) = (encode(tick.s.clone()), changes.map(encode).transpose()) else {
            return;
        };
        let frames = TickFrames {
            n: tick.n,
            delta: delta.ok().flatten(),
            full,
            state: Arc::new(tick.s),
            paradox: tick.paradox,
            catalog_changed,
            catalog,
        };
        let frames = Arc::new(frames);
        {
            let mut recent = self.recent.lock().expect("recent lock");
            if recent.back().is_some_and(|last| last.n + 1 != frames.n) {
                recent.clear();
            }
            recent.push_back(frames.clone());
            while recent.len() > KEPT_TICKS {
                recent.pop_front();
            }
        }
        self.frames.send_replace(Some(frames));
    }

    /// Writes one tick into every live socket, in [`FAN_OUT_SHARDS`] parallel tasks.
    async fn fan_out(self: &Arc<Self>, window: Arc<Vec<Arc<TickFrames>>>) {
        let outlets: Vec<Arc<SocketOutlet>> =
            self.sockets.lock().expect("sockets lock").values().map(|r| r.outlet.clone()).collect();
        let per_shard = outlets.len().div_ceil(FAN_OUT_SHARDS).max(1);
        let mut shards = tokio::task::JoinSet::new();
        for chunk in outlets.chunks(per_shard) {
            let (chunk, window, hub) = (chunk.to_vec(), window.clone(), self.clone());
            // Unconstrained: tokio's cooperative budget would otherwise make every write after
            // the first 128 of a tick report "not ready" (it is about fairness, not the socket).
            shards.spawn(tokio::task::unconstrained(async move {
                let (mut count, mut bytes) = (0u64, 0u64);
                for (k, outlet) in chunk.iter().enumerate() {
                    if let Some((frames, len)) = outlet.deliver(&window, hub.keyframe_every) {
                        count += frames;
                        bytes += len as u64;
                    }
                    // Let the engine, gestures and answers run between batches of writes.
                    if k % FAN_OUT_BATCH == FAN_OUT_BATCH - 1 {
                        tokio::task::yield_now().await;
                    }
                }
                hub.metrics.frames_sent.fetch_add(count, Relaxed);
                hub.metrics.bytes_sent.fetch_add(bytes, Relaxed);
            }));
        }
        while shards.join_next().await.is_some() {}
    }
}
