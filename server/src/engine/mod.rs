//! The Redis-first decay engine: exactly one node at a time steps every product.
//!
//! Each node runs [`run`]: it tries to take the lease every [`ACQUIRE_INTERVAL`]; while it holds
//! it, it ticks: read queued gestures, [`core::Engine::tick`], then one fenced Lua round trip that
//! writes every product hash and publishes the tick. A write refused by the fence means another
//! node leads (or Redis lost the lease): this node steps down and competes again.

/// The pure tick: gestures, physics, prices, price-history decisions.
pub mod core;
/// Price history: batched appends to PostgreSQL off the tick's path.
pub mod history;
/// Counters exported on `/metrics`.
pub mod metrics;
/// Stock levels from PostgreSQL, fed to the leader without blocking its tick.
pub mod stock;
/// Redis: lease, fencing, loading, the per-tick write.
pub mod store;

use std::sync::Arc;
use std::time::{Duration, Instant};

use physics_worker::physics::WellParams;
use physics_worker::wire::{BodyState, Reason};
use sqlx::PgPool;

use self::core::Engine;
use self::metrics::EngineMetrics;
use self::store::{Lease, TickBroadcast, TickWrite};
use crate::clock::now_ms;
use crate::redis_pool::RedisStore;

/// How often a follower tries to take the lease.
pub const ACQUIRE_INTERVAL: Duration = Duration::from_millis(250);

/// Most gestures applied in one tick; the rest wait for the next.
pub const MAX_GESTURES_PER_TICK: usize = 2_000;

/// Everything the engine loop needs.
#[derive(Clone)]
pub struct EngineContext {
    /// PostgreSQL (catalog, price history).
    pub pool: PgPool,
    /// Redis and its key names.
    pub redis: RedisStore,
    /// This node's name in the lease.
    pub node: String,
    /// The fixed tick.
    pub tick: Duration,
    /// Counters.
    pub metrics: Arc<EngineMetrics>,
    /// Stock levels and the catalog stamp ([`stock::spawn_feed`], shared with the WebSocket hub).
    pub stock: tokio::sync::watch::Receiver<stock::StockFeed>,
}

impl EngineContext {
    /// The well's constants at this engine's tick length.
    fn params(&self) -> WellParams {
        WellParams::for_tick(self.tick)
    }
}

/// The state a leader holds.
struct Leadership {
    lease: Lease,
    engine: Engine,
    /// Reason to send with the first broadcast (clients' state was reset).
    paradox: Option<Reason>,
    /// The catalog stamp the engine's products were loaded at (see [`stock::catalog_stamp`]).
    catalog_stamp: String,
}

/// Reloads the products after an admin change, keeping every body's current state (the last
/// tick's write to Redis) and the tick count; returns how many products are live now.
async fn reload_catalog(ctx: &EngineContext, leading: &mut Leadership, stamp: String) -> anyhow::Result<usize> {
    let loaded = store::load_state(&ctx.pool, &ctx.redis).await?;
    let count = loaded.products.len();
    leading.engine = Engine::new(loaded.products, loaded.bodies, leading.engine.n, now_ms(), ctx.params());
    leading.catalog_stamp = stamp;
    ctx.metrics.set_leader(true, count);
    Ok(count)
}

/// Runs the engine loop on this node until `shutdown` resolves; a leader then hands its lease
/// back so another node takes over at its next attempt instead of waiting for the lease to expire.
pub async fn run(ctx: EngineContext, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    let history = history::spawn_writer(ctx.pool.clone());
    let mut stock = ctx.stock.clone();
    // The last engine this node ran; reused if it takes the lease back and its state is newest.
    let mut kept: Option<Engine> = None;
    loop {
        let Some(mut leading) = become_leader(&ctx, &mut kept).await else {
            tokio::select! {
                _ = tokio::time::sleep(ACQUIRE_INTERVAL) => continue,
                _ = &mut shutdown => return,
            }
        };
        ctx.metrics.set_leader(true, leading.engine.products.len());
        tracing::info!(node = %ctx.node, token = leading.lease.token, tick = leading.engine.n, "engine: leading");
        let mut ticker = tokio::time::interval(ctx.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = &mut shutdown => {
                    if let Err(e) = store::release(&ctx.redis, &leading.lease).await {
                        tracing::warn!(error = %e, "engine: could not hand the lease back; it expires by itself");
                    }
                    ctx.metrics.set_leader(false, 0);
                    tracing::info!(node = %ctx.node, "engine: stopped and handed the lease back");
                    return;
                }
            }
            let started = Instant::now();
            if stock.has_changed().unwrap_or(false) {
                let feed = stock.borrow_and_update().clone();
                if feed.catalog_stamp != leading.catalog_stamp && !feed.catalog_stamp.is_empty() {
                    match reload_catalog(&ctx, &mut leading, feed.catalog_stamp).await {
                        Ok(products) => tracing::info!(products, "engine: catalog changed; products reloaded"),
                        Err(e) => tracing::warn!(error = %e, "engine: catalog reload failed; next time"),
                    }
                }
                leading.engine.set_stock(&feed.levels);
            }
            match lead_one_tick(&ctx, &mut leading, &history).await {
                Ok(true) => ctx.metrics.record_tick(started.elapsed(), ctx.tick),
                Ok(false) => {
                    tracing::warn!(node = %ctx.node, "engine: lease lost; stepping down");
                    break;
                }
                Err(e) => {
                    tracing::warn!(node = %ctx.node, error = %e, "engine: tick failed; stepping down");
                    break;
                }
            }
        }
        ctx.metrics.set_leader(false, 0);
        kept = Some(leading.engine);
    }
}

/// Takes the lease if free and prepares the state to lead with.
async fn become_leader(ctx: &EngineContext, kept: &mut Option<Engine>) -> Option<Leadership> {
    let lease = match store::try_acquire(&ctx.redis, &ctx.node, now_ms() as u64).await {
        Ok(Some(lease)) => lease,
        Ok(None) => return None,
        Err(e) => {
            tracing::debug!(error = %e, "engine: cannot reach Redis for the lease");
            return None;
        }
    };
    // Our own memory is the newest state when nobody ticked past it (for instance after
    // Redis was flushed or restarted while we led): keep it, and clients lose nothing.
    let written = store::last_written_tick(&ctx.redis).await.ok().flatten();
    if let Some(engine) = kept.take() {
        if written.is_none_or(|n| n <= engine.n) {
            return Some(Leadership { lease, engine, paradox: None, catalog_stamp: String::new() });
        }
    }
    match store::load_state(&ctx.pool, &ctx.redis).await {
        Ok(loaded) => {
            let paradox = (loaded.reset > 0).then(|| {
                tracing::warn!(reset = loaded.reset, "engine: product state lost; reset from PostgreSQL");
                Reason::StateLost
            });
            let engine = Engine::new(loaded.products, loaded.bodies, loaded.n, now_ms(), ctx.params());
            let catalog_stamp = stock::catalog_stamp(&ctx.pool).await.unwrap_or_default();
            Some(Leadership { lease, engine, paradox, catalog_stamp })
        }
        Err(e) => {
            tracing::warn!(error = %e, "engine: cannot load state; will retry");
            None
        }
    }
}

/// One tick as leader: `Ok(false)` when the fence refused the write.
async fn lead_one_tick(
    ctx: &EngineContext,
    leading: &mut Leadership,
    history: &history::HistorySender,
) -> anyhow::Result<bool> {
    let report = tick_once(&ctx.redis, &leading.lease, &mut leading.engine, leading.paradox.take()).await?;
    ctx.metrics.add_gestures(report.gestures);
    history.offer(report.history);
    Ok(report.written)
}

/// What [`tick_once`] did.
#[derive(Debug)]
pub struct TickReport {
    /// `false` when the fence refused the write (the lease is not ours any more).
    pub written: bool,
    /// Gestures handed to the engine.
    pub gestures: usize,
    /// Price points to log.
    pub history: Vec<(uuid::Uuid, i64)>,
}

/// A full engine tick with its two Redis round trips: the fenced read of the queued gestures,
/// the step, the broadcast encoded once, and one `MULTI`/`EXEC` writing every hash plus the
/// broadcast. The loop and the benchmark both run exactly this.
pub async fn tick_once(
    redis: &RedisStore,
    lease: &Lease,
    engine: &mut Engine,
    paradox: Option<Reason>,
) -> anyhow::Result<TickReport> {
    let Some(fenced) = store::begin_tick(redis, lease, MAX_GESTURES_PER_TICK, engine.n + 1).await? else {
        return Ok(TickReport { written: false, gestures: 0, history: Vec::new() });
    };
    let now = now_ms();
    let outcome = engine.tick(now, &fenced.gestures);
    let gestures = fenced.gestures.len();
    let broadcast = TickBroadcast {
        n: outcome.n,
        t: now,
        catalog: engine.catalog_digest(),
        s: engine
            .bodies
            .iter()
            .zip(&engine.prices)
            .enumerate()
            .map(|(i, (b, &c))| BodyState { i: i as u32, p: b.p, v: b.v, m: b.m, c })
            .collect(),
        gestures: outcome.gestures,
        paradox,
    };
    let payload = physics_worker::wire::encode(&broadcast)?;
    engine.prepare_state_keys(&redis.keys);
    let state_keys = engine.state_keys();
    let written = store::commit_tick(
        fenced,
        &redis.keys,
        engine.params(),
        TickWrite { n: outcome.n, state_keys, bodies: &engine.bodies, prices: &engine.prices, payload: &payload },
    )
    .await?;
    Ok(TickReport { written, gestures, history: outcome.history })
}
