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

use crate::keys::{Keys, PRODUCT_STATE_FIELDS};
use crate::redis_pool::RedisPool;

/// What cold boot needs to know of a product.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BootProduct {
    /// The product's uuid.
    pub id: Uuid,
    /// Base communal mass.
    pub base_mass: f32,
    /// List price, the price after a reset.
    pub msrp_cents: i64,
}

/// Live products in catalog order, which is also the order of the initial layout.
pub async fn boot_products(pool: &PgPool) -> Result<Vec<BootProduct>, sqlx::Error> {
    sqlx::query_as("SELECT id, base_mass, msrp_cents FROM products WHERE retired_at IS NULL ORDER BY sort_order, slug")
        .fetch_all(pool)
        .await
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

/// The hash fields and values of a freshly reset product.
pub fn reset_fields(body: &Body, params: &WellParams, msrp_cents: i64) -> [(&'static str, String); 9] {
    let values = [
        body.p[0].to_string(),
        body.p[1].to_string(),
        body.p[2].to_string(),
        body.v[0].to_string(),
        body.v[1].to_string(),
        body.v[2].to_string(),
        body.m.to_string(),
        params.gravity(body.m).to_string(),
        msrp_cents.to_string(),
    ];
    let mut out: [(&'static str, String); 9] = Default::default();
    for (slot, (field, value)) in out.iter_mut().zip(PRODUCT_STATE_FIELDS.iter().zip(values)) {
        *slot = (field, value);
    }
    out
}

/// Cold boot: writes the state hash of every live product missing from Redis. Returns how many
/// hashes were written.
#[tracing::instrument(skip_all)]
pub async fn cold_boot(pool: &PgPool, redis: &RedisPool, keys: &Keys) -> anyhow::Result<usize> {
    let products = boot_products(pool).await?;
    if products.is_empty() {
        return Ok(0);
    }
    let params = WellParams::default();
    let mut invocation = WRITE_MISSING.prepare_invoke();
    invocation.arg(PRODUCT_STATE_FIELDS.len());
    for (index, product) in products.iter().enumerate() {
        let body = initial_body(index, products.len(), product.base_mass, &params);
        invocation.key(keys.product_state(product.id));
        for (field, value) in reset_fields(&body, &params, product.msrp_cents) {
            invocation.arg(field).arg(value);
        }
    }
    let mut conn = redis.get().await?;
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
pub async fn read_live(redis: &RedisPool, keys: &Keys, ids: &[Uuid]) -> anyhow::Result<Vec<Option<LiveState>>> {
    let mut pipe = redis::pipe();
    for id in ids {
        pipe.cmd("HMGET").arg(keys.product_state(*id)).arg("m").arg("price_current");
    }
    let mut conn = redis.get().await?;
    let rows: Vec<(Option<String>, Option<String>)> = pipe.query_async(&mut conn).await?;
    Ok(rows
        .into_iter()
        .map(|(m, price)| Some(LiveState { mass: m?.parse().ok()?, price_cents: price?.parse().ok()? }))
        .collect())
}
