use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Acquire, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use physics_worker::delta::Predictor;
use physics_worker::physics::WellParams;
use physics_worker::wire::{self, BodyState, ServerFrame, StockLevel};
use sqlx::PgPool;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

pub use super::catalog_index::CatalogIndex;
use super::metrics::RealtimeMetrics;
pub use super::outlet::{Resync, SocketOutlet, TickFrames};
use super::raw::{self, Writer};
use crate::clock::now_ms;
use crate::engine::stock::StockFeed;
use crate::engine::store::{GestureEvent, TickBroadcast};
use crate::keys::Keys;

/// Answers (`ack`, `err`, `pong`) a socket may have waiting; a socket that lets more pile up is
/// not reading and is dropped.
pub const CONTROL_QUEUE: usize = 64;

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
        let outlet = Arc::new(SocketOutlet::new(writer, id));
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
        self.publish(Arc::new(frames));
    }

    /// Hands a tick's frames to the fan-out and to the sockets waiting for their first tick.
    pub fn publish(&self, frames: Arc<TickFrames>) {
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
