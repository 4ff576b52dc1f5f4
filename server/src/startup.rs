//! Building the application and running it until shutdown.
//!
//! [`Application::build`] connects, migrates, cold-boots Redis and binds the listener (port 0
//! works, for tests); [`Application::run_until`] serves until the given future resolves, then
//! drains in-flight requests.

use std::future::Future;
use std::sync::Arc;

use leptos::prelude::*;
use tokio::net::TcpListener;

use crate::auth::revocation::Revocations;
use crate::auth::TokenKeys;
use crate::cart::CartStore;
use crate::catalog::Catalog;
use crate::checkout::stripe::StripeHub;
use crate::checkout::{sweeper, Hyperdrive};
use crate::config::{Config, Environment};
use crate::engine::{self, EngineContext};
use crate::realtime::admission::Admissions;
use crate::realtime::hub::{CatalogIndex, Hub};
use crate::redis_pool::RedisStore;
use crate::state::AppState;
use crate::{db, http, product_state, retention, serve};

/// A built, bound, not yet running server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Connects to PostgreSQL and Redis, applies migrations, writes missing product state to
    /// Redis and binds the listener.
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        let pool = db::connect_lazy(&config.database_url)?;
        db::migrate(&pool).await.map_err(|e| anyhow::anyhow!("cannot migrate PostgreSQL at DATABASE_URL: {e}"))?;
        let redis = RedisStore::open(&config.redis_url, &config.redis_key_prefix)?;
        if let Err(e) = product_state::cold_boot(&pool, &redis).await {
            // Not fatal: the engine writes every hash as soon as Redis answers and it leads.
            tracing::warn!(error = %e, "cold boot deferred: Redis unavailable");
        }
        let listener = TcpListener::bind(config.site_addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on LEPTOS_SITE_ADDR {}: {e}", config.site_addr))?;
        let bound = listener.local_addr()?;
        if config.site_addr.port() == 0 {
            // The default allow-list named port 0; it means the port actually bound.
            for origin in &mut config.allowed_origins {
                if let Some(base) = origin.strip_suffix(":0") {
                    *origin = format!("{base}:{}", bound.port());
                }
            }
        }
        let leptos_options = leptos_options(&config, bound);
        let catalog = Catalog::new(pool.clone(), redis.clone());
        let node = format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let hub = Hub::new(node.clone(), config.tick, config.gesture_events);
        match CatalogIndex::load(&pool).await {
            Ok(index) => hub.set_catalog(index),
            Err(e) => tracing::warn!(error = %e, "catalog index deferred: PostgreSQL unavailable"),
        }
        let carts = CartStore::new(redis.clone(), pool.clone());
        let stripe = StripeHub::new(&config.stripe_secret_key, &config.stripe_api_base, &config.stripe_webhook_secret)?;
        let hyperdrive =
            Hyperdrive::new(pool.clone(), redis.clone(), carts.clone(), stripe, config.quote_ttl, config.auth_window);
        let sockets = Arc::new(Admissions::new(config.connections.per_address));
        let mut tokens = TokenKeys::new(config.jwt_secret.as_bytes()).with_lifetime(config.access_token_ttl.as_secs());
        if let Some(previous) = &config.jwt_previous_secret {
            tokens = tokens.with_previous(previous.as_bytes());
        }
        let revocations = Revocations::new(redis.clone(), tokens.lifetime_secs());
        let state = AppState {
            leptos_options,
            tokens,
            revocations,
            carts,
            hyperdrive,
            hub: Arc::new(hub),
            pool,
            redis,
            catalog,
            config: Arc::new(config),
            node,
            metrics: Arc::default(),
            throttle: Arc::default(),
            sockets,
        };
        Ok(Self { listener, state })
    }

    /// The shared state (tests use its handles).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests and stops the
    /// background tasks.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop_engine, engine_stopped) = tokio::sync::oneshot::channel::<()>();
        // One reader of stock levels per node, for the engine's prices and the hub's `stock` frames.
        let stock = engine::stock::spawn_feed(self.state.pool.clone());
        let mut engine = tokio::spawn(engine::run(
            EngineContext {
                pool: self.state.pool.clone(),
                redis: self.state.redis.clone(),
                node: self.state.node.clone(),
                tick: self.state.config.tick,
                metrics: self.state.metrics.clone(),
                stock: stock.clone(),
            },
            async {
                let _ = engine_stopped.await;
            },
        ));
        let (stop_background, background_stopped) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut rx = background_stopped.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        };
        let hub = tokio::spawn(self.state.hub.clone().run(
            self.state.config.redis_url.clone(),
            self.state.redis.keys.clone(),
            self.state.pool.clone(),
            stock,
            stopped(),
        ));
        let cart_writer = tokio::spawn(self.state.carts.clone().run_writer(stopped()));
        // The first sweep runs at once: orders left between paid and recorded are settled at start.
        let checkout_sweeper = tokio::spawn(sweeper::run(self.state.hyperdrive.clone(), stopped()));
        let retention = tokio::spawn(retention::run(self.state.pool.clone(), stopped()));
        tracing::info!("SwiftCart listening on http://{}", self.listener.local_addr()?);
        // The client's address reaches the handlers (throttling and socket caps are per address).
        let limits = self.state.config.connections.clone();
        let result = serve::serve(self.listener, http::router(self.state), limits, shutdown).await;
        // Sockets end when the hub stops; carts still waiting are written before the exit.
        let _ = stop_background.send(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), cart_writer).await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), hub).await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), checkout_sweeper).await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), retention).await;
        // Let the engine hand its lease back, but never hang the shutdown on Redis.
        let _ = stop_engine.send(());
        if tokio::time::timeout(std::time::Duration::from_secs(2), &mut engine).await.is_err() {
            engine.abort();
        }
        tracing::info!("SwiftCart stopped");
        Ok(result?)
    }
}

/// Leptos settings derived from our configuration, so the binary runs the same with or without
/// cargo-leptos around it.
fn leptos_options(config: &Config, bound: std::net::SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("swiftcart")
        .site_root(config.site_root.as_str())
        .site_pkg_dir("pkg")
        .site_addr(bound)
        .reload_port(std::env::var("LEPTOS_RELOAD_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3001))
        .hash_files(hashed_bundles())
        .env(match config.environment {
            Environment::Development if std::env::var("LEPTOS_WATCH").is_ok() => leptos::config::Env::DEV,
            _ => leptos::config::Env::PROD,
        })
        .build()
}

/// Whether the site's bundles carry content hashes in their names: cargo-leptos (`hash-files`
/// in Cargo.toml) writes the hashes to `hash.txt` next to the server binary it builds, and the
/// pages then link `/pkg/swiftcart.<hash>.wasm` and so on. A binary built without it (a plain
/// `cargo build`) links the plain names.
fn hashed_bundles() -> bool {
    std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.join("hash.txt"))).is_some_and(|p| p.exists())
}
