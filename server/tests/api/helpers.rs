//! `spawn_app()`: a real server on port 0 with its own database and Redis key prefix.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_redis::redis;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use swiftcart::config::Config;
use swiftcart::keys::Keys;
use swiftcart::redis_pool::{create_pool, RedisPool, RedisStore};
use swiftcart::startup::Application;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The server used by tests to create and drop their databases.
pub fn admin_url() -> String {
    std::env::var("TEST_PG_ADMIN_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The shared Redis of the machine (tests isolate themselves by key prefix).
pub fn shared_redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The Stripe the tests use: `TEST_STRIPE_API_BASE` (scripts/test.sh starts a private
/// localstripe), else the developer's localstripe on 8420.
pub fn stripe_api_base() -> String {
    std::env::var("TEST_STRIPE_API_BASE").unwrap_or_else(|_| "http://127.0.0.1:8420".into())
}

/// Where the PostgreSQL server itself listens, for the proxy.
pub fn postgres_addr() -> SocketAddr {
    "127.0.0.1:5432".parse().unwrap()
}

/// The one Origin test servers accept on `/ws`.
pub const ALLOWED_ORIGIN: &str = "http://allowed.test";

/// A running test server.
pub struct TestApp {
    pub address: String,
    pub pool: PgPool,
    pub redis: RedisPool,
    pub keys: Keys,
    pub prefix: String,
    pub db_name: String,
    pub redis_url: String,
    pub metrics: std::sync::Arc<swiftcart::engine::metrics::EngineMetrics>,
    owns_data: bool,
    pub http: reqwest::Client,
    /// The server's token keys, to mint tokens (also bad ones) directly.
    pub tokens: swiftcart::auth::TokenKeys,
    /// The server's checkout, to run a sweep on demand.
    pub hyperdrive: swiftcart::checkout::Hyperdrive,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Options of [`spawn_app_with`].
#[derive(Default)]
pub struct Options {
    /// Use this Redis instead of the shared one.
    pub redis_url: Option<String>,
    /// Reach PostgreSQL through this address (a proxy) instead of directly.
    pub postgres_via: Option<SocketAddr>,
    /// Reach Stripe (localstripe) through this address (a proxy) instead of directly.
    pub stripe_via: Option<SocketAddr>,
    /// Join another test app's database and key prefix (a second node of the same deployment).
    pub join: Option<(String, String)>,
    /// Add synthetic products until this many are live (a bigger catalog).
    pub products: Option<usize>,
    /// Access tokens live this many seconds (`SWIFTCART_ACCESS_TOKEN_TTL_SECS`).
    pub access_token_ttl_secs: Option<u64>,
    /// `/metrics` asks for this bearer token (`SWIFTCART_METRICS_TOKEN`).
    pub metrics_token: Option<String>,
    /// `SWIFTCART_HEADER_TIMEOUT_SECS`.
    pub header_timeout_secs: Option<u64>,
    /// `SWIFTCART_REQUEST_TIMEOUT_SECS`.
    pub request_timeout_secs: Option<u64>,
    /// `SWIFTCART_CONNECTIONS_PER_ADDRESS`.
    pub connections_per_address: Option<usize>,
    /// `SWIFTCART_SOCKET_IDLE_SECS`.
    pub socket_idle_secs: Option<u64>,
    /// `SWIFTCART_TICK_MS`.
    pub tick_ms: Option<u32>,
}

/// Creates a fresh database, migrates and seeds it, and starts the server on port 0.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

/// [`spawn_app`] with options.
pub async fn spawn_app_with(options: Options) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        swiftcart::telemetry::init();
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let owns_data = options.join.is_none();
    let (db_name, prefix) =
        options.join.clone().unwrap_or_else(|| (format!("swiftcart_test_{id}"), format!("test:{id}:")));
    if owns_data {
        let mut admin = PgConnection::connect(&admin_url()).await.expect("PostgreSQL reachable for tests");
        admin.execute(format!(r#"CREATE DATABASE "{db_name}""#).as_str()).await.unwrap();
    }

    let pg_host = options.postgres_via.unwrap_or_else(postgres_addr);
    let database_url = format!("postgres://postgres@{pg_host}/{db_name}");
    let redis_url = options.redis_url.unwrap_or_else(shared_redis_url);
    let vars = [
        ("DATABASE_URL", database_url.clone()),
        ("REDIS_URL", redis_url.clone()),
        ("SWIFTCART_REDIS_PREFIX", prefix.clone()),
        ("LEPTOS_SITE_ADDR", "127.0.0.1:0".to_string()),
        ("SWIFTCART_ALLOWED_ORIGINS", ALLOWED_ORIGIN.to_string()),
        ("LEPTOS_SITE_ROOT", concat!(env!("CARGO_MANIFEST_DIR"), "/../target/site").to_string()),
        ("STRIPE_API_BASE", options.stripe_via.map_or_else(stripe_api_base, |via| format!("http://{via}"))),
        ("SWIFTCART_ACCESS_TOKEN_TTL_SECS", options.access_token_ttl_secs.unwrap_or(900).to_string()),
        ("SWIFTCART_METRICS_TOKEN", options.metrics_token.clone().unwrap_or_default()),
        ("SWIFTCART_HEADER_TIMEOUT_SECS", options.header_timeout_secs.unwrap_or(10).to_string()),
        ("SWIFTCART_REQUEST_TIMEOUT_SECS", options.request_timeout_secs.unwrap_or(30).to_string()),
        ("SWIFTCART_CONNECTIONS_PER_ADDRESS", options.connections_per_address.unwrap_or(256).to_string()),
        ("SWIFTCART_SOCKET_IDLE_SECS", options.socket_idle_secs.unwrap_or(30).to_string()),
        ("SWIFTCART_TICK_MS", options.tick_ms.unwrap_or(physics_worker::shared::DEFAULT_TICK_MS).to_string()),
    ];
    let config = Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())).unwrap();

    let pool = swiftcart::db::connect_lazy(&database_url).unwrap();
    swiftcart::db::migrate(&pool).await.unwrap();
    swiftcart::seed::run(&pool).await.unwrap();
    if let Some(total) = options.products {
        swiftcart::seed::fill_to(&pool, total).await.unwrap();
    }

    let app = Application::build(config).await.expect("application builds");
    let metrics = app.state().metrics.clone();
    let tokens = app.state().tokens.clone();
    let hyperdrive = app.state().hyperdrive.clone();
    let address = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        address,
        pool,
        redis: create_pool(&redis_url).unwrap(),
        keys: Keys::new(prefix.clone()),
        prefix,
        db_name,
        redis_url,
        metrics,
        owns_data,
        http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap(),
        tokens,
        hyperdrive,
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl TestApp {
    /// This app's Redis with its key prefix, as the server's own code takes it.
    pub fn store(&self) -> RedisStore {
        RedisStore::new(self.redis.clone(), self.keys.clone())
    }

    /// GETs a path of the app.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(format!("{}{path}", self.address)).send().await.expect("request sent")
    }

    /// `GET path` as `token`: (status, JSON body).
    pub async fn get_as(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let response = self.http.get(format!("{}{path}", self.address)).bearer_auth(token).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// `DELETE path` as `token`: (status, JSON body).
    pub async fn delete_as(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let response = self.http.delete(format!("{}{path}", self.address)).bearer_auth(token).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// POSTs JSON to a path of the app, with an optional bearer token.
    pub async fn post_json(&self, path: &str, token: Option<&str>, body: serde_json::Value) -> reqwest::Response {
        let mut request = self.http.post(format!("{}{path}", self.address)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    /// A fresh guest access token.
    pub async fn guest_token(&self) -> String {
        self.guest_session().await["token"].as_str().unwrap().to_string()
    }

    /// A fresh guest session: `{"token","refreshToken","expiresIn"}`.
    pub async fn guest_session(&self) -> serde_json::Value {
        let response = self.post_json("/api/auth/guest", None, serde_json::json!({})).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// The status `GET /api/auth/session` answers for `token` (200: live, 401: dead).
    pub async fn session_status(&self, token: &str) -> u16 {
        let request = self.http.get(format!("{}/api/auth/session", self.address)).bearer_auth(token);
        request.send().await.unwrap().status().as_u16()
    }

    /// `POST /api/auth/refresh` with `refresh_token`: the status and the body.
    pub async fn refresh(&self, refresh_token: &str) -> (u16, serde_json::Value) {
        let response =
            self.post_json("/api/auth/refresh", None, serde_json::json!({ "refreshToken": refresh_token })).await;
        (response.status().as_u16(), response.json().await.unwrap_or_default())
    }

    /// Registers or logs in (`path`), carrying a guest token if given: the status and the new
    /// access token.
    pub async fn sign_in(&self, path: &str, guest: Option<&str>, email: &str, password: &str) -> (u16, String) {
        let response = self.post_json(path, guest, serde_json::json!({"email": email, "password": password})).await;
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        (status, body["token"].as_str().unwrap_or_default().to_string())
    }

    /// `GET /api/cart` as `token`: (product id, quantity) pairs.
    pub async fn cart(&self, token: &str) -> Vec<(String, u64)> {
        let response = self.http.get(format!("{}/api/cart", self.address)).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["productId"].as_str().unwrap().to_string(), i["quantity"].as_u64().unwrap()))
            .collect()
    }

    /// A new account (written directly, without password hashing) and an access token for it.
    pub async fn shopper(&self, role: swiftcart::auth::Role) -> (uuid::Uuid, String) {
        let id = uuid::Uuid::new_v4();
        let db_role = if role == swiftcart::auth::Role::Admin { "admin" } else { "shopper" };
        sqlx::query("INSERT INTO users (id, email, password_hash, role) VALUES ($1, $2, 'not-a-hash', $3)")
            .bind(id)
            .bind(format!("{}@shoppers.test", id.simple()))
            .bind(db_role)
            .execute(&self.pool)
            .await
            .unwrap();
        (id, self.tokens.issue(&id.to_string(), role).0)
    }

    /// `PUT /api/cart/items/{product}` as `token`, asserting success.
    pub async fn put_cart(&self, token: &str, product: uuid::Uuid, quantity: u32) {
        let response = self
            .http
            .put(format!("{}/api/cart/items/{product}", self.address))
            .bearer_auth(token)
            .json(&serde_json::json!({ "quantity": quantity }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    /// The `ws://` URL of `/ws`.
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.address.replacen("http://", "ws://", 1))
    }

    /// The ids of every product in the test database, in catalog order.
    pub async fn product_ids(&self) -> Vec<uuid::Uuid> {
        sqlx::query_scalar("SELECT id FROM products ORDER BY sort_order, slug").fetch_all(&self.pool).await.unwrap()
    }

    /// The number of this test's product hashes present in Redis.
    pub async fn product_hashes_present(&self) -> usize {
        let ids = self.product_ids().await;
        let mut cmd = redis::cmd("EXISTS");
        for id in &ids {
            cmd.arg(self.keys.product_state(*id));
        }
        let mut conn = self.redis.get().await.unwrap();
        cmd.query_async(&mut conn).await.unwrap()
    }

    /// Options that start another node of this deployment (same database, same key prefix).
    pub fn second_node(&self) -> Options {
        Options {
            redis_url: Some(self.redis_url.clone()),
            join: Some((self.db_name.clone(), self.prefix.clone())),
            ..Options::default()
        }
    }

    /// Stops the server (its engine stops renewing the lease), keeping its data.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
    }

    /// Ends the server at once, as a crash would: no graceful shutdown, so nothing is drained.
    pub fn crash(&mut self) {
        // Dropping the sender would count as a shutdown signal: keep it, unsent, forever.
        std::mem::forget(self.shutdown.take());
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }

    /// Stops the server gracefully and, unless it joined another app's data, deletes the
    /// test's Redis keys and drops its database.
    pub async fn cleanup(mut self) {
        self.stop().await;
        if !self.owns_data {
            return;
        }
        // No card number may ever be kept: every test's data is scanned before it is dropped.
        let mut found = swiftcart::pii::scan_database(&self.pool).await.unwrap_or_default();
        found.extend(swiftcart::pii::scan_redis(&self.store()).await.unwrap_or_default());
        assert!(found.is_empty(), "card-number-like strings stored: {found:?}");
        if let Ok(mut conn) = self.redis.get().await {
            let keys: Vec<String> =
                redis::cmd("KEYS").arg(format!("{}*", self.prefix)).query_async(&mut conn).await.unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
            }
        }
        self.pool.close().await;
        if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
            let _ = admin.execute(format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.db_name).as_str()).await;
        }
    }
}

/// Polls `check` every 50 ms until it holds or `limit` passes; returns the time it took.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// A private redis-server on a free port, for tests that stop and restart Redis.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts one and waits until it answers.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut redis = Self { port, child: None };
        redis.restart().await;
        redis
    }

    /// The URL of this server.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (its data is gone, as after a crash of a Redis that keeps nothing).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty.
    pub async fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        self.child = Some(child);
        let up =
            eventually(Duration::from_secs(5), || async { TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() })
                .await;
        assert!(up.is_some(), "private redis-server did not start");
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP proxy in front of PostgreSQL or Stripe that a test can cut and restore, as if the
/// service went away and came back.
pub struct ToggleProxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<ProxyState>>,
    accept: JoinHandle<()>,
}

struct ProxyState {
    open: bool,
    links: Vec<JoinHandle<()>>,
}

impl ToggleProxy {
    /// Starts a proxy to `target`, open.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(ProxyState { open: true, links: Vec::new() }));
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut guard = shared.lock().unwrap();
                if !guard.open {
                    continue; // dropping `inbound` refuses the connection
                }
                guard.links.push(tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        Self { addr, state, accept }
    }

    /// Cuts every open connection and refuses new ones.
    pub fn cut(&self) {
        let mut guard = self.state.lock().unwrap();
        guard.open = false;
        for link in guard.links.drain(..) {
            link.abort();
        }
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.state.lock().unwrap().open = true;
    }
}

impl Drop for ToggleProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
