//! Building the application and running it until shutdown.
//!
//! [`Application::build`] connects, migrates, cold-boots Redis and binds the listener (port 0
//! works, for tests); [`Application::run_until`] serves until the given future resolves, then
//! drains in-flight requests.

use std::future::Future;
use std::sync::Arc;

use app::catalog::ssr::SharedCatalog;
use app::checkout::StripeSettings;
use app::{shell, App, PagePolicy};
use axum::extract::FromRef;
use axum::http::{header, HeaderName, HeaderValue};
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, handle_server_fns_with_context, LeptosRoutes};
use sqlx::PgPool;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::auth::revocation::Revocations;
use crate::auth::throttle::AuthThrottle;
use crate::auth::TokenKeys;
use crate::cart::CartStore;
use crate::catalog::Catalog;
use crate::checkout::stripe::StripeHub;
use crate::checkout::{sweeper, Hyperdrive};
use crate::config::{Config, Environment};
use crate::engine::metrics::EngineMetrics;
use crate::engine::{self, EngineContext};
use crate::keys::Keys;
use crate::realtime::admission::Admissions;
use crate::realtime::hub::{CatalogIndex, Hub};
use crate::redis_pool::{create_pool, RedisPool};
use crate::{db, health, http, product_state, realtime, retention, serve};

/// Shared state of every handler.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// Leptos' own settings (site root, bundle names).
    pub leptos_options: LeptosOptions,
    /// PostgreSQL.
    pub pool: PgPool,
    /// Redis.
    pub redis: RedisPool,
    /// Redis key names.
    pub keys: Keys,
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
        let redis = create_pool(&config.redis_url)?;
        let keys = Keys::new(config.redis_key_prefix.clone());
        if let Err(e) = product_state::cold_boot(&pool, &redis, &keys).await {
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
        let catalog = Catalog::new(pool.clone(), redis.clone(), keys.clone());
        let node = format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let hub = Hub::new(node.clone(), config.tick, config.gesture_events);
        match CatalogIndex::load(&pool).await {
            Ok(index) => hub.set_catalog(index),
            Err(e) => tracing::warn!(error = %e, "catalog index deferred: PostgreSQL unavailable"),
        }
        let carts = CartStore::new(redis.clone(), pool.clone(), keys.clone());
        let stripe = StripeHub::new(&config.stripe_secret_key, &config.stripe_api_base, &config.stripe_webhook_secret)?;
        let hyperdrive = Hyperdrive::new(
            pool.clone(),
            redis.clone(),
            keys.clone(),
            carts.clone(),
            stripe,
            config.quote_ttl,
            config.auth_window,
        );
        let sockets = Arc::new(Admissions::new(config.connections.per_address));
        let mut tokens = TokenKeys::new(config.jwt_secret.as_bytes()).with_lifetime(config.access_token_ttl.as_secs());
        if let Some(previous) = &config.jwt_previous_secret {
            tokens = tokens.with_previous(previous.as_bytes());
        }
        let revocations = Revocations::new(redis.clone(), keys.clone(), tokens.lifetime_secs());
        let state = AppState {
            leptos_options,
            tokens,
            revocations,
            carts,
            hyperdrive,
            hub: Arc::new(hub),
            pool,
            redis,
            keys,
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
                keys: self.state.keys.clone(),
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
            self.state.keys.clone(),
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
        let result = serve::serve(self.listener, router(self.state), limits, shutdown).await;
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

/// The site's bundles (`/pkg`) and the physics worker (`/worker`), from disk: a precompressed
/// sibling (`.br`, `.gz`, written by `cargo leptos build --release --precompress`) is sent as it
/// is when the client accepts it; otherwise the compression layer compresses on the fly.
fn bundle_files(site_root: &str, dir: &str) -> tower_http::services::ServeDir {
    tower_http::services::ServeDir::new(format!("{site_root}/{dir}")).precompressed_br().precompressed_gzip()
}

/// Every route: health, REST, server functions, pages and the static site.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let catalog: SharedCatalog = Arc::new(state.catalog.clone());
    let stripe_settings = StripeSettings {
        publishable_key: state.config.stripe_publishable_key.clone(),
        js_url: state.config.stripe_js_url.clone(),
    };
    let policy = PagePolicy(page_policy(&state.config));
    let worker = app::WorkerBundle::find(&state.config.site_root);
    let provide = {
        let catalog = catalog.clone();
        move || {
            provide_context(catalog.clone());
            provide_context(stripe_settings.clone());
            provide_context(policy.clone());
            provide_context(worker.clone());
        }
    };
    let server_fns = {
        let provide = provide.clone();
        move |request: axum::extract::Request| {
            let provide = provide.clone();
            async move { handle_server_fns_with_context(provide, request).await }
        }
    };
    let shell_options = state.leptos_options.clone();
    let service = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics))
        .merge(http::api_router())
        .route("/ws", get(realtime::socket::upgrade))
        .route("/sfn/{*fn_name}", get(server_fns.clone()).post(server_fns))
        .nest_service("/pkg", bundle_files(&state.config.site_root, "pkg"))
        .nest_service("/worker", bundle_files(&state.config.site_root, "worker"))
        .leptos_routes_with_context(&state, routes, provide.clone(), move || shell(shell_options.clone()))
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(provide, shell));
    // A request that takes longer (a trickling body, say) is answered 408 and its connection closed.
    let mut service = service
        .layer(axum::middleware::map_response(static_cache_control))
        // Pages, JSON and static files travel compressed (brotli or gzip, as the client accepts);
        // files with a precompressed sibling on disk are sent as they are.
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            state.config.connections.request_timeout,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http());
    for (name, value) in security_headers(state.config.environment) {
        service = service.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    service.with_state(state)
}

/// The origin (`scheme://host[:port]`) of a configured URL; empty if it has none.
fn origin_of(url: &str) -> String {
    url::Url::parse(url).map(|u| u.origin().ascii_serialization()).ok().filter(|o| o != "null").unwrap_or_default()
}

/// The Content-Security-Policy of pages (see [`PagePolicy`]): scripts only from this site with
/// the response's nonce, WebAssembly, and Stripe.js from where the configuration says; Stripe's
/// frames and API; sockets to the allowed origins; no plugins, no framing by others.
pub fn page_policy(config: &Config) -> String {
    let stripe_js = origin_of(&config.stripe_js_url);
    let stripe_api = origin_of(&config.stripe_api_base);
    let mut frames = vec![stripe_js.clone()];
    if stripe_js == "https://js.stripe.com" {
        // 3-D Secure challenges open from Stripe's hooks domain.
        frames.push("https://hooks.stripe.com".into());
    }
    let sockets: Vec<String> =
        config.allowed_origins.iter().filter_map(|o| o.strip_prefix("http").map(|rest| format!("ws{rest}"))).collect();
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{{nonce}}' 'wasm-unsafe-eval' {stripe_js}; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self'; \
         connect-src 'self' {sockets} {stripe_api} {stripe_js}; frame-src {frames}; worker-src 'self' blob:; \
         object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
        sockets = sockets.join(" "),
        frames = frames.join(" "),
    )
}

/// Headers on every response: no MIME sniffing, no framing by any page (clickjacking), no
/// plugins, no `<base>` or form targets elsewhere, referrers only as origins across sites, and
/// in production HSTS.
pub fn security_headers(environment: Environment) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = vec![
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'; object-src 'none'; base-uri 'self'; form-action 'self'"),
        ),
        (header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin")),
    ];
    if environment == Environment::Production {
        headers
            .push((header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains")));
    }
    headers
}

/// How long browsers keep static files: a bundle (site or worker) whose name carries its
/// content's hash for a year, unchanged (a new build has new names); product images and the icon
/// a day; bundles with plain names (a build without hashes) are revalidated on every visit, so a
/// new deployment reaches the next page view.
fn cache_control_for(path: &str) -> Option<&'static str> {
    if (path.starts_with("/pkg/") || path.starts_with("/worker/")) && carries_content_hash(path) {
        Some("public, max-age=31536000, immutable")
    } else if path.starts_with("/products/") || path == "/favicon.svg" {
        Some("public, max-age=86400")
    } else if path.starts_with("/pkg/") || path.starts_with("/worker/") {
        Some("no-cache")
    } else {
        None
    }
}

/// Whether a file name carries a cargo-leptos content hash: a dot-separated part of 22
/// URL-safe base64 characters (an MD5), before the extension, that is not the all-underscore
/// placeholder of an unhashed build.
fn carries_content_hash(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() >= 3
        && parts[1..parts.len() - 1].iter().any(|part| {
            part.len() == 22
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !part.chars().all(|c| c == '_')
        })
}

/// Adds [`cache_control_for`] to successful static answers that have none.
async fn static_cache_control(
    uri: axum::http::Uri,
    mut response: axum::response::Response,
) -> axum::response::Response {
    if response.status().is_success() && !response.headers().contains_key(header::CACHE_CONTROL) {
        if let Some(value) = cache_control_for(uri.path()) {
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
        }
    }
    response
}

/// `GET /metrics`: Prometheus text; with `SWIFTCART_METRICS_TOKEN` set, only for
/// `Authorization: Bearer <that token>` (401 otherwise).
async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if let Some(expected) = &state.config.metrics_token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Constant time: the comparison does not tell how much of a guess was right.
        if !bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
            return crate::http::error::ApiError::Unauthorized("/metrics needs the operator's bearer token".into())
                .into_response();
        }
    }
    let mut text = state.metrics.render();
    state.hub.metrics.render_into(&mut text);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_bundle_is_found_by_its_hashed_names_else_the_plain_ones() {
        let site = std::env::temp_dir().join(format!("swiftcart-site-{}", uuid::Uuid::new_v4()));
        let site_root = site.to_str().unwrap();
        assert_eq!(app::WorkerBundle::find(site_root), app::WorkerBundle::default(), "no site: plain names");
        std::fs::create_dir_all(site.join("worker")).unwrap();
        for name in ["worker.old0000000000000000000.js", "worker_bg.old0000000000000000000.wasm"] {
            std::fs::write(site.join("worker").join(name), b"old").unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        for name in ["worker.Xo3t8Q2mZ1v-_4b5KpLq7w.js", "worker_bg.Yo3t8Q2mZ1v-_4b5KpLq7w.wasm"] {
            std::fs::write(site.join("worker").join(name), b"new").unwrap();
        }
        let found = app::WorkerBundle::find(site_root);
        assert_eq!(found.script, "/worker/worker.Xo3t8Q2mZ1v-_4b5KpLq7w.js", "the newest build");
        assert_eq!(found.wasm, "/worker/worker_bg.Yo3t8Q2mZ1v-_4b5KpLq7w.wasm");
        std::fs::remove_dir_all(site).unwrap();
    }

    #[test]
    fn images_are_kept_a_day_and_bundles_revalidated() {
        assert_eq!(cache_control_for("/products/aurora.svg"), Some("public, max-age=86400"));
        assert_eq!(cache_control_for("/pkg/swiftcart_bg.wasm"), Some("no-cache"));
        assert_eq!(cache_control_for("/pkg/swiftcart.wasm"), Some("no-cache"), "no hash, no promise");
        let year = Some("public, max-age=31536000, immutable");
        assert_eq!(cache_control_for("/pkg/swiftcart.Xo3t8Q2mZ1v-_4b5KpLq7w.wasm"), year);
        assert_eq!(cache_control_for("/pkg/__wasm_split.Xo3t8Q2mZ1v-_4b5KpLq7w.js"), year);
        assert_eq!(
            cache_control_for("/pkg/__wasm_split.______________________.js"),
            Some("no-cache"),
            "the placeholder of an unhashed build is not a hash"
        );
        assert_eq!(cache_control_for("/products/Xo3t8Q2mZ1v-_4b5KpLq7w.wasm"), Some("public, max-age=86400"));
        assert_eq!(cache_control_for("/worker/worker.js"), Some("no-cache"));
        assert_eq!(
            cache_control_for("/worker/worker_bg.Xo3t8Q2mZ1v-_4b5KpLq7w.wasm"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(cache_control_for("/"), None, "pages are not static");
        assert_eq!(cache_control_for("/api/products"), None);
    }

    #[test]
    fn the_page_policy_allows_this_site_stripe_and_the_sockets_only() {
        let config = Config::from_lookup(|name| match name {
            "STRIPE_JS_URL" => Some("https://js.stripe.com/v3/".into()),
            "STRIPE_API_BASE" => Some("https://api.stripe.com".into()),
            "SWIFTCART_ALLOWED_ORIGINS" => Some("https://shop.example".into()),
            _ => None,
        })
        .unwrap();
        let policy = page_policy(&config);
        assert!(
            policy.contains("script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval' https://js.stripe.com;"),
            "{policy}"
        );
        assert!(policy.contains("connect-src 'self' wss://shop.example https://api.stripe.com"), "{policy}");
        assert!(policy.contains("frame-src https://js.stripe.com https://hooks.stripe.com;"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'") && policy.contains("object-src 'none'"));
        assert!(!policy.contains(" 'unsafe-eval'"), "no eval of strings");
        let scripts = policy.split(';').find(|d| d.trim().starts_with("script-src")).unwrap();
        assert!(!scripts.contains("'unsafe-inline'"), "no inline script without the nonce");
    }

    #[test]
    fn production_adds_hsts_to_the_security_headers() {
        let names = |e| security_headers(e).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert!(!names(Environment::Development).contains(&header::STRICT_TRANSPORT_SECURITY));
        assert!(names(Environment::Production).contains(&header::STRICT_TRANSPORT_SECURITY));
        assert!(names(Environment::Development).contains(&header::X_FRAME_OPTIONS));
    }
}
