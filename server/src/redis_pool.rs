//! Redis: the connection pool.

use std::time::Duration;

use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};

/// The pool type used everywhere.
pub type RedisPool = Pool;

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
