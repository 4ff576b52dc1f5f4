use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use physics_worker::wire::{self, BodyState, CatalogEntry, ServerFrame};
use sqlx::PgPool;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::delta::Predictor;
use super::metrics::RealtimeMetrics;
use crate::engine::now_ms;
use crate::engine::store::TickBroadcast;
use crate::keys::Keys;
use crate::product_state::{catalog_digest, live_products};

/// The code of every Temporal Paradox.
pub const ERR_TEMPORAL_PARADOX: &str = "ERR_TEMPORAL_PARADOX";

/// Answers (`ack`, `err`, `pong`) a socket may have waiting; a socket that lets more pile up is
/// not reading and is dropped.
pub const CONTROL_QUEUE: usize = 64;

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
    /// The `s` frame with only what clients cannot predict; `None` when this node missed the
    /// previous tick, so every socket needs the keyframe.
    pub delta: Option<Bytes>,
    /// The `s` frame with every product (a keyframe).
    pub full: Bytes,
    /// Every product's state (for `sync` frames).
    pub state: Arc<Vec<BodyState>>,
    /// Set when the engine reset clients' state: sockets send a paradox, then a fresh `sync`.
    pub paradox: Option<String>,
    /// The catalog the indices refer to.
    pub catalog: Arc<CatalogIndex>,
}

/// The fan-out of one node.
pub struct Hub {
    node: String,
    frames: watch::Sender<Option<Arc<TickFrames>>>,
    catalog: RwLock<Arc<CatalogIndex>>,
    sockets: Mutex<HashMap<u64, mpsc::Sender<Bytes>>>,
    next_socket: AtomicU64,
    /// Counters for `/metrics`.
    pub metrics: RealtimeMetrics,
}

impl Hub {
    /// A hub for `node` (the name gestures carry back to it).
    pub fn new(node: String) -> Self {
        Self {
            node,
            frames: watch::Sender::new(None),
            catalog: RwLock::default(),
            sockets: Mutex::default(),
            next_socket: AtomicU64::new(1),
            metrics: RealtimeMetrics::default(),
        }
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The newest tick, and every later one as it comes.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<TickFrames>>> {
        self.frames.subscribe()
    }

    /// Registers a socket: its id and the receiving end of its answer queue.
    pub fn register(&self) -> (u64, mpsc::Receiver<Bytes>) {
        let id = self.next_socket.fetch_add(1, Relaxed);
        let (tx, rx) = mpsc::channel(CONTROL_QUEUE);
        self.sockets.lock().expect("sockets lock").insert(id, tx);
        (id, rx)
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
        if let Some(tx) = sockets.get(&socket) {
            if tx.try_send(Bytes::from(bytes)).is_err() {
                sockets.remove(&socket);
                self.metrics.slow_drops.fetch_add(1, Relaxed);
            }
        }
    }

    /// Receives the engine's ticks until `shutdown` resolves, reconnecting to Redis as needed.
    pub async fn run(
        self: Arc<Self>,
        redis_url: String,
        keys: Keys,
        pool: PgPool,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut predictor = Predictor::default();
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
        &self,
        redis_url: &str,
        keys: &Keys,
        pool: &PgPool,
        predictor: &mut Predictor,
    ) -> anyhow::Result<()> {
        let client = deadpool_redis::redis::Client::open(redis_url)?;
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(keys.engine_channel()).await?;
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
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
        let mut catalog = self.catalog();
        if catalog.digest != tick.catalog {
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
                Some(reason) => ServerFrame::Err {
                    code: ERR_TEMPORAL_PARADOX.into(),
                    q: Some(result.origin.q),
                    reason: Some(reason.clone()),
                },
            };
            self.answer(result.origin.conn, &frame);
        }
        let changes = predictor.changes(tick.n, &tick.s, &catalog.base_masses);
        // Stamped once, when the frames are handed to the sockets: receive time minus `t`
        // includes any wait in this node's sockets.
        let t = now_ms();
        let encode = |s: Vec<BodyState>| wire::encode(&ServerFrame::State { t, n: tick.n, s }).map(Bytes::from);
        let (Ok(full), delta) = (encode(tick.s.clone()), changes.map(encode).transpose()) else {
            return;
        };
        let frames = TickFrames {
            n: tick.n,
            delta: delta.ok().flatten(),
            full,
            state: Arc::new(tick.s),
            paradox: tick.paradox,
            catalog,
        };
        self.frames.send_replace(Some(Arc::new(frames)));
    }
}
