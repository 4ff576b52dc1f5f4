//! The state every handler shares, built once by [`crate::startup`].

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use sqlx::PgPool;

use crate::auth::revocation::Revocations;
use crate::auth::throttle::AuthThrottle;
use crate::auth::TokenKeys;
use crate::cart::CartStore;
use crate::catalog::Catalog;
use crate::checkout::Hyperdrive;
use crate::config::Config;
use crate::engine::metrics::EngineMetrics;
use crate::realtime::admission::Admissions;
use crate::realtime::hub::Hub;
use crate::redis_pool::RedisStore;

/// Shared state of every handler.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// Leptos' own settings (site root, bundle names).
    pub leptos_options: LeptosOptions,
    /// PostgreSQL.
    pub pool: PgPool,
    /// Redis and its key names.
    pub redis: RedisStore,
    /// The catalog read model.
    pub catalog: Catalog,
    /// The parsed configuration.
    pub config: Arc<Config>,
    /// This node's name (in the engine lease and on queued gestures).
    pub node: String,
    /// Engine counters for `/metrics`.
    pub metrics: Arc<EngineMetrics>,
    /// Access-token keys and rules.
    pub tokens: TokenKeys,
    /// Cart orbits.
    pub carts: CartStore,
    /// This node's WebSocket fan-out.
    pub hub: Arc<Hub>,
    /// Checkout: quotes, charges, the Stripe client.
    pub hyperdrive: Hyperdrive,
    /// Sign-in, registration and guest-session rate limits of this node.
    pub throttle: Arc<AuthThrottle>,
    /// Sessions that ended, so their access tokens stop before they expire.
    pub revocations: Revocations,
    /// The sockets this node holds, counted per subject.
    pub sockets: Arc<Admissions>,
}
