//! Product physics state in Redis (`sc:prod:state:{uuid}`).
//!
//! PostgreSQL is the system of record; Redis holds the volatile state. At start (cold boot) every
//! missing hash is written from PostgreSQL: msrp as the price, reset vectors, base mass. Once
//! running, the engine rewrites every hash each tick and heals lost state (see `engine`).

use std::sync::LazyLock;

use deadpool_redis::redis::{self, Script};
use physics_worker::physics::{initial_body, Body, WellParams};
use sqlx::PgPool;
use uuid::Uuid;

use crate::keys::PRODUCT_STATE_FIELDS;
use crate::redis_pool::RedisStore;

/// A live product as the engine and cold boot need it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LiveProduct {
    /// The product's uuid.
    pub id: Uuid,
    /// The product's slug.
    pub slug: String,
    /// List price, cents; also the price after a reset.
    pub msrp_cents: i64,
    /// Lowest live price, cents.
    pub price_floor_cents: i64,
    /// Base communal mass.
    pub base_mass: f32,
    /// Units available to buy (stock minus reservations).
    pub available: i64,
}

/// Live products in catalog order, which is also the order of the initial layout.
pub async fn live_products(pool: &PgPool) -> Result<Vec<LiveProduct>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.id, p.slug, p.msrp_cents, p.price_floor_cents, p.base_mass,
                COALESCE(i.stock_count - i.reserved_count, 0)::BIGINT AS available
         FROM products p LEFT JOIN inventory i ON i.product_id = p.id
         WHERE p.retired_at IS NULL ORDER BY p.sort_order, p.slug",
    )
    .fetch_all(pool)
    .await
}

/// A fingerprint of the catalog order (FNV-1a over the product ids): the engine publishes it
/// with every tick so each node can check that its product indices mean the same products.
pub fn catalog_digest<'a>(ids: impl IntoIterator<Item = &'a Uuid>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for id in ids {
        for byte in id.as_bytes() {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Hands each field of a `sc:prod:state:{uuid}` hash and its value to `emit`, in contract order.
/// The one place that turns a body and a price into hash fields (cold boot and every tick).
pub fn for_each_state_field(
    body: &Body,
    params: &WellParams,
    price_cents: i64,
    mut emit: impl FnMut(&'static str, &str),
) {
    let mut buf = ryu::Buffer::new();
    let floats = [body.p[0], body.p[1], body.p[2], body.v[0], body.v[1], body.v[2], body.m, params.gravity(body.m)];
    for (field, x) in PRODUCT_STATE_FIELDS.iter().zip(floats) {
        emit(field, buf.format(x));
    }
    emit(PRODUCT_STATE_FIELDS[8], itoa::Buffer::new().format(price_cents));
}

/// Writes each hash only if its key is absent, all in one atomic round trip, so a node that
/// boots while another is running never overwrites live state.
static WRITE_MISSING: LazyLock<Script> = LazyLock::new(|| Script::new(WRITE_MISSING_LUA));

const WRITE_MISSING_LUA: &str = r"
local written = 0
local width = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 0 then
    local base = 1 + (i - 1) * width * 2
    local fields = {}
    for j = 1, width * 2 do fields[j] = ARGV[base + j] end
    redis.call('HSET', key, unpack(fields))
    written = written + 1
  end
end
return written
";

/// Cold boot: writes the state hash of every live product missing from Redis. Returns how many
/// hashes were written.
#[tracing::instrument(skip_all)]
pub async fn cold_boot(pool: &PgPool, redis: &RedisStore) -> anyhow::Result<usize> {
    let keys = &redis.keys;
    let products = live_products(pool).await?;
    if products.is_empty() {
        return Ok(0);
    }
    let params = WellParams::default();
    let mut invocation = WRITE_MISSING.prepare_invoke();
    invocation.arg(PRODUCT_STATE_FIELDS.len());
    for (index, product) in products.iter().enumerate() {
        let body = initial_body(index, products.len(), product.base_mass, &params);
        invocation.key(keys.product_state(product.id));
        for_each_state_field(&body, &params, product.msrp_cents, |field, value| {
            invocation.arg(field).arg(value);
        });
    }
    let mut conn = redis.conn().await?;
    let written: usize = invocation.invoke_async(&mut conn).await?;
    tracing::info!(products = products.len(), written, "cold boot: product state in Redis");
    Ok(written)
}

/// The live part of a product's state that pages show.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LiveState {
    /// Communal mass.
    pub mass: f32,
    /// Current price, cents.
    pub price_cents: i64,
}

/// Reads mass and price of many products in one pipelined round trip; `None` for a product
/// whose hash is missing.
pub async fn read_live(redis: &RedisStore, ids: &[Uuid]) -> anyhow::Result<Vec<Option<LiveState>>> {
    let keys = &redis.keys;
    let mut pipe = redis::pipe();
    for id in ids {
        pipe.cmd("HMGET").arg(keys.product_state(*id)).arg("m").arg("price_current");
    }
    let mut conn = redis.conn().await?;
    let rows: Vec<(Option<String>, Option<String>)> = pipe.query_async(&mut conn).await?;
    Ok(rows
        .into_iter()
        .map(|(m, price)| Some(LiveState { mass: m?.parse().ok()?, price_cents: price?.parse().ok()? }))
        .collect())
}
