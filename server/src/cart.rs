//! Cart orbits (`sc:user:cart:{sub}`): Redis is the fast path shared by the WebSocket gestures
//! and the REST cart. Every change is written through to PostgreSQL before it is acknowledged
//! (the REST answer, the `beam`/`drop` gesture queued for its `ack`), so an acknowledged change
//! survives a node crash together with the loss of Redis. Concurrent changes share one
//! statement and commit (group commit, see [`Committer`]). A cart missing from Redis is loaded back from
//! PostgreSQL on first use; a change whose write-through failed is retried by the background
//! writer.
//!
//! The hash maps product uuids to quantities, plus a version field counting changes. The version
//! makes the hash's presence meaningful (an empty cart still has it) and lets the writer keep only
//! newer versions when several nodes write the same cart.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use deadpool_redis::redis::{self, Script};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Notify};
use uuid::Uuid;

use crate::auth::Subject;
use crate::redis_pool::RedisStore;

/// Most units of one product in a cart (the protocol's [`physics_worker::shared::MAX_CART_QUANTITY`]).
pub const MAX_QUANTITY: u32 = physics_worker::shared::MAX_CART_QUANTITY;

/// A cart untouched this long leaves Redis (PostgreSQL holds every acknowledged version, and a
/// cart missing from Redis is loaded back on its next use), so idle carts do not pile up.
pub const IDLE_CART_SECS: u64 = 7 * 24 * 3_600;

/// The hash field holding the cart's version.
const VERSION_FIELD: &str = "_v";

/// One line of a cart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CartLine {
    /// The product.
    pub product_id: Uuid,
    /// Units, 1 to [`MAX_QUANTITY`].
    pub quantity: u32,
}

/// What a cart change did.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// Done; the cart as it now is.
    Done(Vec<CartLine>),
    /// `add_one` on a line already at [`MAX_QUANTITY`]; nothing changed.
    Full,
}

/// Changes a loaded cart: `set` a quantity, `add` one unit (up to ARGV[3]) or `del` a line;
/// bumps the version, keeps the cart for ARGV[4] more idle seconds and returns the whole hash.
/// -1 when the cart is not in Redis (load it first), -2 when `add` found the line full.
static MUTATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local op, field = ARGV[1], ARGV[2]
if op == 'set' then
  redis.call('HSET', KEYS[1], field, ARGV[3])
elseif op == 'add' then
  local q = tonumber(redis.call('HGET', KEYS[1], field) or '0')
  if q >= tonumber(ARGV[3]) then return -2 end
  redis.call('HSET', KEYS[1], field, q + 1)
else
  redis.call('HDEL', KEYS[1], field)
end
redis.call('HINCRBY', KEYS[1], '_v', 1)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return redis.call('HGETALL', KEYS[1])
",
    )
});

/// Writes a cart loaded from PostgreSQL (ARGV[1] idle seconds to live, then field/value pairs),
/// unless another node loaded it first.
static LOAD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
",
    )
});

/// The cart orbits of every shopper.
#[derive(Clone)]
pub struct CartStore {
    redis: RedisStore,
    pool: PgPool,
    dirty: Arc<Dirty>,
    committer: mpsc::UnboundedSender<Commit>,
}

/// Most cart versions written by one statement.
const MAX_BATCH: usize = 256;

/// A cart as Redis held it at one version.
struct CartVersion {
    sub: String,
    version: i64,
    lines: Vec<CartLine>,
}

/// One cart version waiting to be made durable, and who waits for it.
struct Commit {
    cart: CartVersion,
    done: oneshot::Sender<bool>,
}

/// Group commit of cart versions: a change waits until its version is in PostgreSQL, and every
/// change that arrives while a transaction runs goes into the next one, so the cost per change
/// falls as concurrency rises.
struct Committer {
    pool: PgPool,
    queue: mpsc::UnboundedReceiver<Commit>,
}

impl Committer {
    async fn run(mut self) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while self.queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let carts: Vec<&CartVersion> = batch.iter().map(|c| &c.cart).collect();
            let written = match write_versions(&self.pool, &carts).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, carts = batch.len(), "cart write-through failed");
                    false
                }
            };
            for commit in batch.drain(..) {
                let _ = commit.done.send(written);
            }
        }
    }
}

/// Writes the newest version of each cart in `carts` in one statement, skipping carts that
/// PostgreSQL already has at that version or newer (another node may have written them).
async fn write_versions(pool: &PgPool, carts: &[&CartVersion]) -> Result<(), sqlx::Error> {
    // The newest version per cart, in a fixed order so concurrent batches lock rows alike.
    let mut newest: std::collections::BTreeMap<&str, &CartVersion> = std::collections::BTreeMap::new();
    for &cart in carts {
        let entry = newest.entry(&cart.sub).or_insert(cart);
        if cart.version > entry.version {
            *entry = cart;
        }
    }
    let subs: Vec<&str> = newest.keys().copied().collect();
    let versions: Vec<i64> = newest.values().map(|c| c.version).collect();
    let (mut owners, mut products, mut quantities) = (Vec::new(), Vec::new(), Vec::new());
    for cart in newest.values() {
        for line in &cart.lines {
            owners.push(cart.sub.as_str());
            products.push(line.product_id);
            quantities.push(line.quantity as i32);
        }
    }
    // One statement, so one round trip and one commit for the whole batch. The carts whose
    // version is newer than PostgreSQL's get their lines replaced: lines no longer there are
    // deleted, the others upserted (disjoint rows, as one statement's parts must be).
    sqlx::query(
        "WITH changed AS (
             INSERT INTO carts (owner_sub, version)
             SELECT s, v FROM UNNEST($1::text[], $2::bigint[]) AS t(s, v) ORDER BY s
             ON CONFLICT (owner_sub) DO UPDATE SET version = EXCLUDED.version, updated_at = now()
             WHERE carts.version < EXCLUDED.version
             RETURNING owner_sub
         ),
         lines AS (
             SELECT s, p, q FROM UNNEST($3::text[], $4::uuid[], $5::int[]) AS l(s, p, q)
             WHERE s IN (SELECT owner_sub FROM changed) AND EXISTS (SELECT 1 FROM products WHERE id = p)
         ),
         gone AS (
             DELETE FROM cart_items i
             WHERE i.owner_sub IN (SELECT owner_sub FROM changed)
               AND NOT EXISTS (SELECT 1 FROM lines WHERE lines.s = i.owner_sub AND lines.p = i.product_id)
         )
         INSERT INTO cart_items (owner_sub, product_id, quantity)
         SELECT s, p, q FROM lines ORDER BY s, p
         ON CONFLICT (owner_sub, product_id) DO UPDATE SET quantity = EXCLUDED.quantity
         WHERE cart_items.quantity <> EXCLUDED.quantity",
    )
    .bind(&subs)
    .bind(&versions)
    .bind(&owners)
    .bind(&products)
    .bind(&quantities)
    .execute(pool)
    .await?;
    Ok(())
}

#[derive(Default)]
struct Dirty {
    subs: Mutex<HashSet<String>>,
    wake: Notify,
}

impl CartStore {
    /// A store over these connections (call it inside the Tokio runtime: it starts the group
    /// committer). Call [`CartStore::run_writer`] to retry write-throughs that failed.
    pub fn new(redis: RedisStore, pool: PgPool) -> Self {
        let (committer, queue) = mpsc::unbounded_channel();
        tokio::spawn(Committer { pool: pool.clone(), queue }.run());
        Self { redis, pool, dirty: Arc::default(), committer }
    }

    /// The cart of `sub`.
    pub async fn get(&self, sub: Subject) -> anyhow::Result<Vec<CartLine>> {
        let sub = &sub.to_string();
        self.ensure_loaded(sub).await?;
        let mut conn = self.redis.conn().await?;
        let raw: Vec<(String, String)> =
            redis::cmd("HGETALL").arg(self.redis.keys.user_cart(sub)).query_async(&mut conn).await?;
        Ok(parse(raw).1)
    }

    /// Sets the quantity of one line (1 to [`MAX_QUANTITY`]; the caller has checked).
    pub async fn set_quantity(&self, sub: Subject, product: Uuid, quantity: u32) -> anyhow::Result<Vec<CartLine>> {
        match self.mutate(&sub.to_string(), "set", product, quantity).await? {
            Change::Done(lines) => Ok(lines),
            Change::Full => unreachable!("set never reports a full line"),
        }
    }

    /// Adds one unit (the tractor beam), unless the line is at [`MAX_QUANTITY`].
    pub async fn add_one(&self, sub: Subject, product: Uuid) -> anyhow::Result<Change> {
        self.mutate(&sub.to_string(), "add", product, MAX_QUANTITY).await
    }

    /// Removes a line (absent lines are fine).
    pub async fn remove(&self, sub: Subject, product: Uuid) -> anyhow::Result<Vec<CartLine>> {
        match self.mutate(&sub.to_string(), "del", product, 0).await? {
            Change::Done(lines) => Ok(lines),
            Change::Full => unreachable!("del never reports a full line"),
        }
    }

    /// Moves a guest's cart into an account's (quantities add up, capped), then deletes it.
    pub async fn merge(&self, from: Subject, into: Subject) -> anyhow::Result<()> {
        if from == into {
            return Ok(());
        }
        let guest = self.get(from).await?;
        if guest.is_empty() {
            return Ok(());
        }
        let mine = self.get(into).await?;
        for line in guest {
            let have = mine.iter().find(|l| l.product_id == line.product_id).map_or(0, |l| l.quantity);
            self.set_quantity(into, line.product_id, (have + line.quantity).min(MAX_QUANTITY)).await?;
        }
        let mut conn = self.redis.conn().await?;
        let from = from.to_string();
        let _: i64 = redis::cmd("DEL").arg(self.redis.keys.user_cart(&from)).query_async(&mut conn).await?;
        sqlx::query("DELETE FROM carts WHERE owner_sub = $1").bind(&from).execute(&self.pool).await?;
        Ok(())
    }

    async fn mutate(&self, sub: &str, op: &str, product: Uuid, value: u32) -> anyhow::Result<Change> {
        let key = self.redis.keys.user_cart(sub);
        for _ in 0..2 {
            let mut conn = self.redis.conn().await?;
            let reply: redis::Value = MUTATE
                .key(&key)
                .arg(op)
                .arg(product.to_string())
                .arg(value)
                .arg(IDLE_CART_SECS)
                .invoke_async(&mut conn)
                .await?;
            match reply {
                redis::Value::Int(-1) => {
                    drop(conn);
                    self.ensure_loaded(sub).await?;
                }
                redis::Value::Int(-2) => return Ok(Change::Full),
                other => {
                    let raw: Vec<(String, String)> = redis::from_redis_value(&other)?;
                    drop(conn);
                    let (version, lines) = parse(raw);
                    self.make_durable(sub, version, &lines).await?;
                    return Ok(Change::Done(lines));
                }
            }
        }
        anyhow::bail!("cart {sub} vanished from Redis twice while changing it")
    }

    /// Makes sure the cart is in Redis, loading it from PostgreSQL if Redis lost it (or never had it).
    async fn ensure_loaded(&self, sub: &str) -> anyhow::Result<()> {
        let key = self.redis.keys.user_cart(sub);
        let exists: bool = {
            let mut conn = self.redis.conn().await?;
            redis::cmd("EXISTS").arg(&key).query_async(&mut conn).await?
        };
        if exists {
            return Ok(());
        }
        // No Redis connection is held while PostgreSQL answers.
        let version: i64 = sqlx::query_scalar("SELECT version FROM carts WHERE owner_sub = $1")
            .bind(sub)
            .fetch_optional(&self.pool)
            .await?
            .unwrap_or(0);
        let lines: Vec<(Uuid, i32)> =
            sqlx::query_as("SELECT product_id, quantity FROM cart_items WHERE owner_sub = $1 ORDER BY product_id")
                .bind(sub)
                .fetch_all(&self.pool)
                .await?;
        let mut load = LOAD.key(&key);
        load.arg(IDLE_CART_SECS).arg(VERSION_FIELD).arg(version);
        for (product, quantity) in lines {
            load.arg(product.to_string()).arg(quantity);
        }
        let mut conn = self.redis.conn().await?;
        let _: i64 = load.invoke_async(&mut conn).await?;
        Ok(())
    }

    /// Waits until this version of the cart is in PostgreSQL. On failure the cart is queued for
    /// the background writer (Redis already holds the change) and the caller reports an error,
    /// so nothing is acknowledged that a crash could lose.
    async fn make_durable(&self, sub: &str, version: i64, lines: &[CartLine]) -> anyhow::Result<()> {
        let (done, written) = oneshot::channel();
        let commit = Commit { cart: CartVersion { sub: sub.to_string(), version, lines: lines.to_vec() }, done };
        let durable = self.committer.send(commit).is_ok() && written.await.unwrap_or(false);
        if !durable {
            self.mark_dirty(sub);
            anyhow::bail!("cart {sub} could not be written to PostgreSQL");
        }
        Ok(())
    }

    fn mark_dirty(&self, sub: &str) {
        self.dirty.subs.lock().expect("dirty set lock").insert(sub.to_string());
        self.dirty.wake.notify_one();
    }

    /// Retries failed write-throughs until `shutdown` resolves, then writes what is left.
    pub async fn run_writer(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = self.dirty.wake.notified() => {}
                _ = &mut shutdown => {
                    self.flush().await;
                    return;
                }
            }
            // Let a burst of changes to the same cart coalesce into one write.
            tokio::time::sleep(Duration::from_millis(20)).await;
            if !self.flush().await {
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.dirty.wake.notify_one();
            }
        }
    }

    /// Writes every changed cart now; `false` if some could not be written (they stay queued).
    pub async fn flush(&self) -> bool {
        let subs: Vec<String> =
            std::mem::take(&mut *self.dirty.subs.lock().expect("dirty set lock")).into_iter().collect();
        let mut all_written = true;
        for sub in subs {
            if let Err(e) = self.persist(&sub).await {
                tracing::warn!(error = %e, "cart write-through failed; will retry");
                self.dirty.subs.lock().expect("dirty set lock").insert(sub);
                all_written = false;
            }
        }
        all_written
    }

    /// Copies one cart from Redis to PostgreSQL if Redis holds a newer version.
    async fn persist(&self, sub: &str) -> anyhow::Result<()> {
        let mut conn = self.redis.conn().await?;
        let raw: Vec<(String, String)> =
            redis::cmd("HGETALL").arg(self.redis.keys.user_cart(sub)).query_async(&mut conn).await?;
        drop(conn);
        if raw.is_empty() {
            // Gone from Redis (merged away, or Redis lost it): PostgreSQL already has the newest copy.
            return Ok(());
        }
        let (version, lines) = parse(raw);
        write_versions(&self.pool, &[&CartVersion { sub: sub.to_string(), version, lines }]).await?;
        Ok(())
    }
}

/// Splits a cart hash into its version and its lines (sorted by product, malformed fields skipped).
fn parse(raw: Vec<(String, String)>) -> (i64, Vec<CartLine>) {
    let mut version = 0;
    let mut lines = Vec::new();
    for (field, value) in raw {
        if field == VERSION_FIELD {
            version = value.parse().unwrap_or(0);
        } else if let (Ok(product_id), Ok(quantity)) = (field.parse::<Uuid>(), value.parse::<u32>()) {
            if (1..=MAX_QUANTITY).contains(&quantity) {
                lines.push(CartLine { product_id, quantity });
            }
        }
    }
    lines.sort_by_key(|l| l.product_id);
    (version, lines)
}
