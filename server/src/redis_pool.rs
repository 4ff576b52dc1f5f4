//! Redis: the connection pool.

use std::time::Duration;

use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};

use crate::keys::Keys;

/// The pool type used everywhere.
pub type RedisPool = Pool;

/// Redis as this deployment sees it: the connection pool and the key names under its prefix,
/// always handed around together.
#[derive(Clone)]
pub struct RedisStore {
    /// Connections.
    pub pool: RedisPool,
    /// Key names.
    pub keys: Keys,
}

impl RedisStore {
    /// The store over `pool` with `keys`.
    pub fn new(pool: RedisPool, keys: Keys) -> Self {
        Self { pool, keys }
    }

    /// A store over a new pool to `redis_url` (no connection is made until one is needed), with
    /// keys under `prefix`.
    pub fn open(redis_url: &str, prefix: &str) -> Result<Self, deadpool_redis::CreatePoolError> {
        Ok(Self::new(create_pool(redis_url)?, Keys::new(prefix)))
    }

    /// A connection from the pool (waiting at most [`REDIS_TIMEOUT`]).
    pub async fn conn(&self) -> Result<deadpool_redis::Connection, deadpool_redis::PoolError> {
        self.pool.get().await
    }
}

/// How long any one Redis call may wait for a connection before it counts as a failure.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(800);

/// Builds a pool; no connection is made until one is needed.
pub fn create_pool(redis_url: &str) -> Result<RedisPool, deadpool_redis::CreatePoolError> {
    let mut config = Config::from_url(redis_url);
    config.pool = Some(PoolConfig {
        max_size: 32,
        timeouts: Timeouts { wait: Some(REDIS_TIMEOUT), create: Some(REDIS_TIMEOUT), recycle: Some(REDIS_TIMEOUT) },
        ..PoolConfig::default()
    });
    config.create_pool(Some(Runtime::Tokio1))
}
