//! The engine's Redis side: the lease with fencing tokens, loading state on takeover, and the
//! two round trips of a tick: a fenced read (`WATCH` the lease, check it, read the queued
//! gestures), then one `MULTI`/`EXEC` that writes every product hash and publishes the tick,
//! discarded by Redis if the lease changed in between. All Lua and key use of the engine is here.

use std::sync::LazyLock;

use deadpool_redis::redis::{self, Script};
use physics_worker::physics::{initial_body, Body, WellParams};
use physics_worker::wire::{BodyState, Reason};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::core::{GestureResult, ProductMeta, QueuedGesture};
use crate::keys::{Keys, PRODUCT_STATE_FIELDS};
use crate::product_state::{for_each_state_field, live_products};
use crate::redis_pool::RedisStore;

/// How long a lease lives without renewal; a dead leader is replaced within this plus one
/// acquisition attempt.
pub const LEASE_TTL_MS: u64 = 1_500;

/// Takes the lease if nobody holds it. The token is the fence counter incremented, raised to at
/// least the current time in ms so tokens keep growing even after Redis lost the counter.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[3])
if token < floor then
  redis.call('SET', KEYS[2], ARGV[3])
  token = floor
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return token
",
    )
});

/// Deletes the lease only if it still carries our value.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// The message published on `sc:engine:state` once per tick (MessagePack).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TickBroadcast {
    /// Tick number.
    pub n: u64,
    /// Engine time of the tick, ms since the epoch.
    pub t: f64,
    /// [`crate::product_state::catalog_digest`] of the products, in index order.
    pub catalog: u64,
    /// Every product's state, indexed in catalog order.
    pub s: Vec<BodyState>,
    /// Outcomes of the gestures applied this tick.
    pub gestures: Vec<GestureResult>,
    /// Set when clients' state was reset (e.g. `state_lost`): they rewind and resync.
    pub paradox: Option<Reason>,
}

/// This node's hold on the lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The lease value: `{node}:{token}`.
    pub value: String,
    /// The fencing token.
    pub token: u64,
}

/// Tries to take the lease for `node`; `None` when someone holds it.
pub async fn try_acquire(redis: &RedisStore, node: &str, now_ms: u64) -> anyhow::Result<Option<Lease>> {
    let keys = &redis.keys;
    let mut conn = redis.conn().await?;
    let token: Option<u64> = ACQUIRE
        .key(keys.engine_lease())
        .key(keys.engine_fence())
        .arg(node)
        .arg(LEASE_TTL_MS)
        .arg(now_ms)
        .invoke_async(&mut conn)
        .await?;
    Ok(token.map(|token| Lease { value: format!("{node}:{token}"), token }))
}

/// Hands the lease back (a graceful shutdown), unless someone else holds it by now.
pub async fn release(redis: &RedisStore, lease: &Lease) -> anyhow::Result<()> {
    let keys = &redis.keys;
    let mut conn = redis.conn().await?;
    let _: i64 = RELEASE.key(keys.engine_lease()).arg(&lease.value).invoke_async(&mut conn).await?;
    Ok(())
}

/// Queues a gesture for the engine (any node may call this) and, in the same atomic step, forwards
/// it on `sc:engine:events` as a [`GestureEvent`] with the tick that will apply it, unless it moves
/// nothing (a drop). Returns that tick; refused when [`MAX_QUEUED_GESTURES`] wait.
pub async fn queue_gesture(redis: &RedisStore, gesture: &QueuedGesture) -> anyhow::Result<u64> {
    let keys = &redis.keys;
    let bytes = physics_worker::wire::encode(gesture)?;
    let mut conn = redis.conn().await?;
    let tick: i64 = PUSH_AND_FORWARD
        .key(keys.engine_gestures())
        .key(keys.engine_open_tick())
        .key(keys.engine_tick())
        .key(keys.engine_events())
        .arg(bytes)
        .arg(MAX_QUEUED_GESTURES)
        .arg(u8::from(gesture.kind.effect().is_some()))
        .invoke_async(&mut conn)
        .await?;
    anyhow::ensure!(tick >= 0, "the gesture queue is full ({MAX_QUEUED_GESTURES}); the engine is behind");
    Ok(tick as u64)
}

/// A gesture as forwarded on `sc:engine:events` the moment a node queued it: the forecast tick
/// in decimal, a space, then the [`QueuedGesture`] in MessagePack (so the Lua that queues it
/// can publish it in the same step, in queue order).
#[derive(Clone, Debug, PartialEq)]
pub struct GestureEvent {
    /// The tick that will apply it, unless the engine falls behind or refuses it.
    pub n: u64,
    /// The gesture.
    pub gesture: QueuedGesture,
}

impl GestureEvent {
    /// Reads a message of `sc:engine:events`; `None` for anything malformed.
    pub fn decode(payload: &[u8]) -> Option<Self> {
        let space = payload.iter().position(|&b| b == b' ')?;
        let n = std::str::from_utf8(&payload[..space]).ok()?.parse().ok()?;
        let gesture = physics_worker::wire::decode(&payload[space + 1..]).ok()?;
        Some(Self { n, gesture })
    }
}

/// Most gestures waiting for the engine. A tick takes many at once, so the queue is only this
/// long when the engine has stopped or fallen far behind; then gestures are refused (the shopper
/// sees a paradox) rather than piling up in Redis without bound.
pub const MAX_QUEUED_GESTURES: usize = 10_000;

/// Appends ARGV[1] to the queue (KEYS[1]) unless it holds ARGV[2] entries already (then -1).
/// Returns the tick that will apply it: the open tick (KEYS[2]) the leader set when it last read
/// the queue, or the last tick written (KEYS[3]) plus one. When ARGV[3] is 1 it also publishes
/// the [`GestureEvent`] on KEYS[4].
static PUSH_AND_FORWARD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end
redis.call('RPUSH', KEYS[1], ARGV[1])
local n = tonumber(redis.call('GET', KEYS[2]) or '')
if not n then n = (tonumber(redis.call('GET', KEYS[3]) or '') or 0) + 1 end
if ARGV[3] == '1' then redis.call('PUBLISH', KEYS[4], string.format('%d', n) .. ' ' .. ARGV[1]) end
return n
",
    )
});

/// The leader's read of the queue (KEYS[2], at most ARGV[2] entries), only while the lease
/// (KEYS[1]) holds ARGV[1]; in the same atomic step the open tick (KEYS[3]) becomes ARGV[3], so
/// a gesture queued from now on is forecast for the tick after this one.
const READ_QUEUE: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
redis.call('SET', KEYS[3], ARGV[3])
return redis.call('LRANGE', KEYS[2], 0, tonumber(ARGV[2]) - 1)
";

/// A connection on which this node has checked that the lease is still its own, under `WATCH`.
pub struct FencedTick {
    conn: deadpool_redis::Connection,
    /// The gestures waiting, oldest first.
    pub gestures: Vec<QueuedGesture>,
    /// How many queue entries were read (a malformed entry counts, so it is trimmed, but is never
    /// applied).
    pub consumed: usize,
}

/// First round trip of a tick: `WATCH` the lease and, if it is still ours, read up to `max`
/// queued gestures for tick `n` (opening tick `n + 1` for gestures queued from now on). `None`
/// when the lease is no longer ours.
pub async fn begin_tick(redis: &RedisStore, lease: &Lease, max: usize, n: u64) -> anyhow::Result<Option<FencedTick>> {
    let keys = &redis.keys;
    let lease_key = keys.engine_lease();
    let mut conn = redis.conn().await?;
    let ((), raw): ((), Option<Vec<Vec<u8>>>) = redis::pipe()
        .cmd("WATCH")
        .arg(&lease_key)
        .cmd("EVAL")
        .arg(READ_QUEUE)
        .arg(3)
        .arg(&lease_key)
        .arg(keys.engine_gestures())
        .arg(keys.engine_open_tick())
        .arg(&lease.value)
        .arg(max)
        .arg(n + 1)
        .query_async(&mut conn)
        .await?;
    let Some(raw) = raw else {
        let _: () = redis::cmd("UNWATCH").query_async(&mut conn).await?;
        return Ok(None);
    };
    let gestures = raw.iter().filter_map(|bytes| physics_worker::wire::decode(bytes).ok()).collect();
    Ok(Some(FencedTick { conn, gestures, consumed: raw.len() }))
}

/// What the second round trip writes.
pub struct TickWrite<'a> {
    /// Tick number.
    pub n: u64,
    /// Each product's state key, in engine order.
    pub state_keys: &'a [String],
    /// Bodies, in engine order.
    pub bodies: &'a [Body],
    /// Prices, in engine order.
    pub prices: &'a [i64],
    /// The encoded [`TickBroadcast`].
    pub payload: &'a [u8],
}

/// Second round trip: one `MULTI`/`EXEC` that renews the lease, trims the consumed gestures,
/// records the tick, writes every product hash and publishes the tick. Redis discards it if the
/// watched lease changed since [`begin_tick`]; then nothing is written and this returns `false`.
pub async fn commit_tick(
    fenced: FencedTick,
    keys: &Keys,
    params: &WellParams,
    w: TickWrite<'_>,
) -> anyhow::Result<bool> {
    let FencedTick { mut conn, consumed, .. } = fenced;
    let mut pipe = redis::pipe();
    pipe.atomic();
    pipe.cmd("PEXPIRE").arg(keys.engine_lease()).arg(LEASE_TTL_MS).ignore();
    if consumed > 0 {
        pipe.cmd("LTRIM").arg(keys.engine_gestures()).arg(consumed).arg(-1).ignore();
    }
    pipe.cmd("SET").arg(keys.engine_tick()).arg(w.n).ignore();
    for ((key, body), price) in w.state_keys.iter().zip(w.bodies).zip(w.prices) {
        let cmd = pipe.cmd("HSET").arg(key);
        for_each_state_field(body, params, *price, |field, value| {
            cmd.arg(field).arg(value);
        });
        cmd.ignore();
    }
    pipe.cmd("PUBLISH").arg(keys.engine_channel()).arg(w.payload).ignore();
    // EXEC answers nil when the watched lease changed.
    let result: Option<()> = pipe.query_async(&mut conn).await?;
    Ok(result.is_some())
}

/// The last tick number written to Redis, if any.
pub async fn last_written_tick(redis: &RedisStore) -> anyhow::Result<Option<u64>> {
    let keys = &redis.keys;
    let mut conn = redis.conn().await?;
    Ok(redis::cmd("GET").arg(keys.engine_tick()).query_async(&mut conn).await?)
}

/// What a new leader starts from.
pub struct LoadedState {
    /// Product metadata, catalog order.
    pub products: Vec<ProductMeta>,
    /// Bodies from Redis, or reset from PostgreSQL where Redis had none.
    pub bodies: Vec<Body>,
    /// How many products had to be reset (their clients' state was lost).
    pub reset: usize,
    /// The tick to continue from.
    pub n: u64,
}

/// Loads the catalog from PostgreSQL and each product's body from Redis (one pipelined round
/// trip); products missing from Redis are reset as the design says: msrp, reset vectors, base mass.
pub async fn load_state(pool: &PgPool, redis: &RedisStore) -> anyhow::Result<LoadedState> {
    let keys = &redis.keys;
    let rows = live_products(pool).await?;
    let mut pipe = redis::pipe();
    for row in &rows {
        pipe.cmd("HMGET").arg(keys.product_state(row.id)).arg(&PRODUCT_STATE_FIELDS[..7]);
    }
    pipe.cmd("GET").arg(keys.engine_tick());
    let mut conn = redis.conn().await?;
    let mut values: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
    let n: Option<u64> = redis::from_redis_value(&values.pop().unwrap_or(redis::Value::Nil)).unwrap_or(None);
    let stored: Vec<Vec<Option<f32>>> = values.iter().map(|v| redis::from_redis_value(v).unwrap_or_default()).collect();
    let params = WellParams::default();
    let mut reset = 0;
    let bodies = rows
        .iter()
        .zip(&stored)
        .enumerate()
        .map(|(index, (row, fields))| match fields.as_slice() {
            [Some(px), Some(py), Some(pz), Some(vx), Some(vy), Some(vz), Some(m)] => {
                Body { p: [*px, *py, *pz], v: [*vx, *vy, *vz], m: *m, base_mass: row.base_mass }
            }
            _ => {
                reset += 1;
                initial_body(index, rows.len(), row.base_mass, &params)
            }
        })
        .collect();
    let products = rows
        .iter()
        .map(|r| ProductMeta {
            id: r.id,
            msrp_cents: r.msrp_cents,
            floor_cents: r.price_floor_cents,
            stock_left: r.available,
        })
        .collect();
    Ok(LoadedState { products, bodies, reset, n: n.unwrap_or(0) })
}
