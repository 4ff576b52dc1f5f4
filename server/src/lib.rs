//! The SwiftCart server, as a library so that integration tests can build and run it on port 0.
//!
//! Reading order: [`config`], [`db`], [`keys`], [`seed`], [`product_state`], [`engine`],
//! [`catalog`], [`auth`], [`cart`], [`realtime`], [`health`], [`state`], [`http`], [`startup`].

/// Accounts and tokens: passwords, JWTs, refresh tokens, the request extractor.
pub mod auth;
/// Cart orbits: Redis first, written through to PostgreSQL.
pub mod cart;
/// The catalog read model: live products from PostgreSQL with their live state from Redis.
pub mod catalog;
/// Hyperdrive checkout: quotes, charges through Stripe, orders, the sweeper.
pub mod checkout;
/// The server's one clock.
pub mod clock;
/// Configuration from the environment, parsed once at start.
pub mod config;
/// PostgreSQL: the pool and the migrations.
pub mod db;
/// The Redis-first decay engine: lease, tick loop, fenced writes, price history.
pub mod engine;
/// `/healthz`: is each backing service reachable.
pub mod health;
/// REST routes and the one error type they answer with.
pub mod http;
/// Every Redis key name, in one place.
pub mod keys;
/// Card-number detection over databases, Redis and logs (proof that none is kept).
pub mod pii;
/// Product physics state in Redis: cold boot, and the live mass and price the pages show.
pub mod product_state;
/// Token buckets: the rate limits of client frames and of forwarded gesture events.
pub mod rate;
/// The real-time pipe: `/ws`, the per-node fan-out, delta frames.
pub mod realtime;
/// Redis: the connection pool.
pub mod redis_pool;
/// The retention job: old guest carts, tokens, quotes, requests and events deleted hourly.
pub mod retention;
/// The catalog seed: at least 60 products, loaded idempotently.
pub mod seed;
/// Accepting connections within limits.
pub mod serve;
/// Building the application and running it until shutdown.
pub mod startup;
/// The state every handler shares.
pub mod state;
/// Logging.
pub mod telemetry;
