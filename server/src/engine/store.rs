//! The engine's Redis side: the lease with fencing tokens, loading state on takeover, and the
//! one fenced round trip per tick that writes every product hash and publishes the tick.
//! All Lua lives here.

use std::sync::LazyLock;

use deadpool_redis::redis::{self, Script};
use physics_worker::physics::{initial_body, Body, WellParams};
use physics_worker::wire::BodyState;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::core::{GestureResult, ProductMeta, QueuedGesture};
use crate::keys::{Keys, PRODUCT_STATE_FIELDS};
use crate::redis_pool::RedisPool;

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

/// The tick's one write: checks the lease still carries our token (else writes nothing and
/// returns 0), renews it, drops the gestures this tick consumed, writes every product hash,
/// records the tick number and publishes the tick.
static WRITE_TICK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local consumed = tonumber(ARGV[3])
if consumed > 0 then redis.call('LTRIM', KEYS[2], consumed, -1) end
redis.call('SET', KEYS[3], ARGV[4])
local width = 9
for i = 4, #KEYS do
  local b = 7 + (i - 4) * width
  redis.call('HSET', KEYS[i], 'p_x', ARGV[b], 'p_y', ARGV[b + 1], 'p_z', ARGV[b + 2],
    'v_x', ARGV[b + 3], 'v_y', ARGV[b + 4], 'v_z', ARGV[b + 5],
    'm', ARGV[b + 6], 'g', ARGV[b + 7], 'price_current', ARGV[b + 8])
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
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
    /// Every product's state, indexed in catalog order.
    pub s: Vec<BodyState>,
    /// Outcomes of the gestures applied this tick.
    pub gestures: Vec<GestureResult>,
    /// Set when clients' state was reset (e.g. `state_lost`): they rewind and resync.
    pub paradox: Option<String>,
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
pub async fn try_acquire(
    redis: &RedisPool,
    keys: &Keys,
    node: &str,
    now_ms: u64,
) -> anyhow::Result<Option<Lease>> {
    let mut conn = redis.get().await?;
    let token: Option<u64> = ACQUIRE
        .key(keys.engine_lease())
        .key(keys.engine_fence())
        .arg(node)
        .arg(LEASE_TTL_MS)
        .arg(now_ms)
        .invoke_async(&mut conn)
        .await?;
    Ok(token.map(|token| Lease {
        value: format!("{node}:{token}"),
        token,
    }))
}

/// The gestures waiting, oldest first, at most `max`, and how many queue entries that was
/// (a malformed entry counts, so it is trimmed, but is never applied).
pub async fn queued_gestures(
    redis: &RedisPool,
    keys: &Keys,
    max: usize,
) -> anyhow::Result<(Vec<QueuedGesture>, usize)> {
    let mut conn = redis.get().await?;
    let raw: Vec<Vec<u8>> = redis::cmd("LRANGE")
        .arg(keys.engine_gestures())
        .arg(0)
        .arg(max as i64 - 1)
        .query_async(&mut conn)
        .await?;
    let gestures = raw
        .iter()
        .filter_map(|bytes| rmp_serde::from_slice(bytes).ok())
        .collect();
    Ok((gestures, raw.len()))
}

/// Queues a gesture for the engine (any node may call this).
pub async fn queue_gesture(
    redis: &RedisPool,
    keys: &Keys,
    gesture: &QueuedGesture,
) -> anyhow::Result<()> {
    let bytes = rmp_serde::to_vec(gesture)?;
    let mut conn = redis.get().await?;
    let _: i64 = redis::cmd("RPUSH")
        .arg(keys.engine_gestures())
        .arg(bytes)
        .query_async(&mut conn)
        .await?;
    Ok(())
}

/// Prepared, allocation-light arguments of the tick write.
pub struct TickWrite<'a> {
    /// Our lease.
    pub lease: &'a Lease,
    /// How many queued gestures this tick consumed (trimmed from the queue).
    pub consumed: usize,
    /// Tick number.
    pub n: u64,
    /// Product ids, in engine order.
    pub ids: &'a [Uuid],
    /// Bodies, in engine order.
    pub bodies: &'a [Body],
    /// Prices, in engine order.
    pub prices: &'a [i64],
    /// The encoded [`TickBroadcast`].
    pub payload: &'a [u8],
}

/// Performs the fenced write; `false` when the lease is no longer ours (nothing was written).
pub async fn write_tick(
    redis: &RedisPool,
    keys: &Keys,
    params: &WellParams,
    w: TickWrite<'_>,
) -> anyhow::Result<bool> {
    let mut invocation = WRITE_TICK.prepare_invoke();
    invocation
        .key(keys.engine_lease())
        .key(keys.engine_gestures())
        .key(keys.engine_tick());
    for id in w.ids {
        invocation.key(keys.product_state(*id));
    }
    invocation
        .arg(&w.lease.value)
        .arg(LEASE_TTL_MS)
        .arg(w.consumed)
        .arg(w.n)
        .arg(keys.engine_channel())
        .arg(w.payload);
    let mut buf = ryu::Buffer::new();
    for (body, price) in w.bodies.iter().zip(w.prices) {
        for x in body
            .p
            .iter()
            .chain(body.v.iter())
            .chain([body.m, params.gravity(body.m)].iter())
        {
            invocation.arg(buf.format(*x));
        }
        invocation.arg(*price);
    }
    let mut conn = redis.get().await?;
    let written: i64 = invocation.invoke_async(&mut conn).await?;
    Ok(written == 1)
}

/// The last tick number written to Redis, if any.
pub async fn last_written_tick(redis: &RedisPool, keys: &Keys) -> anyhow::Result<Option<u64>> {
    let mut conn = redis.get().await?;
    Ok(redis::cmd("GET")
        .arg(keys.engine_tick())
        .query_async(&mut conn)
        .await?)
}

/// Products as the engine needs them, in catalog order, with their base masses.
#[derive(sqlx::FromRow)]
struct EngineProductRow {
    id: Uuid,
    msrp_cents: i64,
    price_floor_cents: i64,
    base_mass: f32,
    available: i64,
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
pub async fn load_state(
    pool: &PgPool,
    redis: &RedisPool,
    keys: &Keys,
) -> anyhow::Result<LoadedState> {
    let rows: Vec<EngineProductRow> = sqlx::query_as(
        "SELECT p.id, p.msrp_cents, p.price_floor_cents, p.base_mass,
                COALESCE(i.stock_count - i.reserved_count, 0)::BIGINT AS available
         FROM products p LEFT JOIN inventory i ON i.product_id = p.id
         WHERE p.retired_at IS NULL ORDER BY p.sort_order, p.slug",
    )
    .fetch_all(pool)
    .await?;
    let mut pipe = redis::pipe();
    for row in &rows {
        pipe.cmd("HMGET")
            .arg(keys.product_state(row.id))
            .arg(&PRODUCT_STATE_FIELDS[..7]);
    }
    pipe.cmd("GET").arg(keys.engine_tick());
    let mut conn = redis.get().await?;
    let (stored, n): (Vec<Vec<Option<f32>>>, Option<u64>) = if rows.is_empty() {
        (
            Vec::new(),
            redis::cmd("GET")
                .arg(keys.engine_tick())
                .query_async(&mut conn)
                .await?,
        )
    } else {
        let mut values: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
        let n_value = values.pop().unwrap_or(redis::Value::Nil);
        let n: Option<u64> = redis::from_redis_value(&n_value).unwrap_or(None);
        let stored = values
            .into_iter()
            .map(|v| redis::from_redis_value::<Vec<Option<f32>>>(&v).unwrap_or_default())
            .collect();
        (stored, n)
    };
    let params = WellParams::default();
    let mut reset = 0;
    let bodies = rows
        .iter()
        .zip(stored.iter().chain(std::iter::repeat(&Vec::new())))
        .enumerate()
        .map(|(index, (row, fields))| match fields.as_slice() {
            [Some(px), Some(py), Some(pz), Some(vx), Some(vy), Some(vz), Some(m)] => Body {
                p: [*px, *py, *pz],
                v: [*vx, *vy, *vz],
                m: *m,
                base_mass: row.base_mass,
            },
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
    Ok(LoadedState {
        products,
        bodies,
        reset,
        n: n.unwrap_or(0),
    })
}
