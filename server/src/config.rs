//! Configuration from the environment (CONTRACT.md, "Processes and configuration").
//!
//! Every variable has a working local default. A bad value stops the process at start with one
//! line naming the variable; nothing starts half-configured. With `SWIFTCART_ENV=production` the
//! local defaults themselves are refused (see [`production_problems`]): every unsafe setting is
//! named, one line each.

use std::net::SocketAddr;
use std::time::Duration;

/// The development JWT secret. Refused when `SWIFTCART_ENV=production`.
pub const DEV_JWT_SECRET: &str = "swiftcart-dev-secret-change-me-0123456789abcdef";

/// Which kind of deployment this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    /// A developer's machine or CI.
    Development,
    /// A real deployment: development defaults for secrets are refused.
    Production,
}

/// HTTP connections one node holds at once (WebSockets are counted apart, once upgraded).
pub const MAX_CONNECTIONS_PER_NODE: usize = 20_000;
/// HTTP connections and WebSockets one client address holds at once, unless
/// `SWIFTCART_CONNECTIONS_PER_ADDRESS` says otherwise (0: no limit, for a node behind a proxy
/// that limits, or a load test from one machine).
pub const DEFAULT_CONNECTIONS_PER_ADDRESS: usize = 256;

/// Everything the server needs to know about its surroundings.
#[derive(Clone, Debug)]
pub struct Config {
    /// PostgreSQL, the system of record.
    pub database_url: String,
    /// Redis, the volatile state.
    pub redis_url: String,
    /// Prefix of every Redis key this process uses; empty in production, unique per test.
    pub redis_key_prefix: String,
    /// Where the HTTP server listens.
    pub site_addr: SocketAddr,
    /// Where the built site (hydrate bundle, CSS, worker, public assets) lives.
    pub site_root: String,
    /// Development or production.
    pub environment: Environment,
    /// HMAC secret of access tokens (at least 32 bytes).
    pub jwt_secret: String,
    /// The secret before the last rotation (`SWIFTCART_JWT_PREVIOUS_SECRET`): tokens it signed
    /// are still accepted (none are signed with it). Remove it once they expired (15 minutes).
    pub jwt_previous_secret: Option<String>,
    /// Origins allowed to open `/ws`, matched exactly.
    pub allowed_origins: Vec<String>,
    /// Stripe secret key.
    pub stripe_secret_key: String,
    /// Stripe API base URL (localstripe in development).
    pub stripe_api_base: String,
    /// Secret that signs Stripe webhooks.
    pub stripe_webhook_secret: String,
    /// Stripe publishable key, handed to Stripe.js in the browser.
    pub stripe_publishable_key: String,
    /// Where the browser loads Stripe.js from (localstripe serves a compatible one).
    pub stripe_js_url: String,
    /// The engine's fixed tick.
    pub tick: Duration,
    /// How long a checkout quote holds its prices and stock.
    pub quote_ttl: Duration,
    /// How long an order waits for the shopper's bank (3-D Secure), its stock held meanwhile.
    pub auth_window: Duration,
    /// How long an access token lives (15 minutes; shorter only outside production, for tests).
    pub access_token_ttl: Duration,
    /// The bearer token `/metrics` asks for (`SWIFTCART_METRICS_TOKEN`); `None`: open, which
    /// only development allows.
    pub metrics_token: Option<String>,
    /// Connections and their deadlines.
    pub connections: crate::serve::ConnectionLimits,
    /// Whether this node forwards other shoppers' gestures to its sockets as `ev` frames the
    /// moment they are accepted (`SWIFTCART_GESTURE_EVENTS`, `on` by default). Off, gestures reach
    /// clients with their tick only (for comparisons, or to save writes on a huge node).
    pub gesture_events: bool,
}

/// One configuration variable with a bad value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The variable's name.
    pub var: &'static str,
    /// What is wrong, and what would be right.
    pub message: String,
}

/// Why the configuration was refused: one or more problems, each shown on a line of its own.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.iter().map(|p| format!("configuration error: {}: {}", p.var, p.message)).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    /// Every problem found (at least one).
    pub problems: Vec<Problem>,
}

impl ConfigError {
    /// The variable of the first problem.
    pub fn var(&self) -> &'static str {
        self.problems.first().map_or("", |p| p.var)
    }

    /// Every variable named, in order.
    pub fn vars(&self) -> Vec<&'static str> {
        self.problems.iter().map(|p| p.var).collect()
    }
}

/// The development defaults of the Stripe settings, fine for localstripe and refused in production.
pub const DEV_STRIPE_SECRET_KEY: &str = "sk_test_swiftcart_local";
/// See [`DEV_STRIPE_SECRET_KEY`].
pub const DEV_STRIPE_WEBHOOK_SECRET: &str = "whsec_swiftcart_local";
/// See [`DEV_STRIPE_SECRET_KEY`].
pub const DEV_STRIPE_PUBLISHABLE_KEY: &str = "pk_test_swiftcart_local";
/// The least estimated entropy of a production JWT secret, in bits.
pub const MIN_SECRET_BITS: f64 = 128.0;

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &str, default: &str| {
            lookup(var).filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_string())
        };

        let environment = match get("SWIFTCART_ENV", "development").as_str() {
            "development" | "dev" | "test" => Environment::Development,
            "production" | "prod" => Environment::Production,
            other => return Err(err("SWIFTCART_ENV", format!("expected development or production, got {other:?}"))),
        };

        let database_url = get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/swiftcart");
        if !database_url.starts_with("postgres://") && !database_url.starts_with("postgresql://") {
            return Err(err("DATABASE_URL", "expected a postgres:// URL".into()));
        }
        let redis_url = get("REDIS_URL", "redis://127.0.0.1:6379");
        if !redis_url.starts_with("redis://") && !redis_url.starts_with("rediss://") {
            return Err(err("REDIS_URL", "expected a redis:// URL".into()));
        }
        let site_addr: SocketAddr = get("LEPTOS_SITE_ADDR", "127.0.0.1:3000")
            .parse()
            .map_err(|_| err("LEPTOS_SITE_ADDR", "expected host:port, such as 127.0.0.1:3000".into()))?;

        let jwt_secret = get("SWIFTCART_JWT_SECRET", DEV_JWT_SECRET);
        if jwt_secret.len() < 32 {
            return Err(err("SWIFTCART_JWT_SECRET", "must be at least 32 bytes (256 bits)".into()));
        }
        let jwt_previous_secret = lookup("SWIFTCART_JWT_PREVIOUS_SECRET").filter(|s| !s.is_empty());
        if jwt_previous_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(err("SWIFTCART_JWT_PREVIOUS_SECRET", "must be at least 32 bytes (256 bits)".into()));
        }

        let own_origins =
            [format!("http://127.0.0.1:{}", site_addr.port()), format!("http://localhost:{}", site_addr.port())]
                .join(",");
        let allowed_origins: Vec<String> = get("SWIFTCART_ALLOWED_ORIGINS", &own_origins)
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_string())
            .filter(|o| !o.is_empty())
            .collect();
        if let Some(bad) = allowed_origins.iter().find(|o| !(o.starts_with("http://") || o.starts_with("https://"))) {
            return Err(err("SWIFTCART_ALLOWED_ORIGINS", format!("{bad:?} is not an http(s) origin")));
        }

        let ticks = physics_worker::shared::TICK_MS_RANGE;
        let tick_ms: u32 = get("SWIFTCART_TICK_MS", &physics_worker::shared::DEFAULT_TICK_MS.to_string())
            .parse()
            .ok()
            .filter(|ms| ticks.contains(ms))
            .ok_or_else(|| {
                let range = format!("expected whole milliseconds between {} and {}", ticks.start(), ticks.end());
                err("SWIFTCART_TICK_MS", range)
            })?;

        let quote_ttl_secs: u64 = get("SWIFTCART_QUOTE_TTL_SECS", "30")
            .parse()
            .ok()
            .filter(|s| (1..=3_600).contains(s))
            .ok_or_else(|| err("SWIFTCART_QUOTE_TTL_SECS", "expected whole seconds between 1 and 3600".into()))?;

        let auth_window_secs: u64 =
            get("SWIFTCART_AUTH_WINDOW_SECS", "300").parse().ok().filter(|s| (30..=1_800).contains(s)).ok_or_else(
                || err("SWIFTCART_AUTH_WINDOW_SECS", "expected whole seconds between 30 and 1800".into()),
            )?;

        let access_token_ttl_secs: u64 =
            get("SWIFTCART_ACCESS_TOKEN_TTL_SECS", "900").parse().ok().filter(|s| (5..=900).contains(s)).ok_or_else(
                || err("SWIFTCART_ACCESS_TOKEN_TTL_SECS", "expected whole seconds between 5 and 900".into()),
            )?;

        let seconds = |name: &'static str, default: &str, range: std::ops::RangeInclusive<u64>| {
            get(name, default).parse().ok().filter(|s| range.contains(s)).map(Duration::from_secs).ok_or_else(|| {
                err(name, format!("expected whole seconds between {} and {}", range.start(), range.end()))
            })
        };
        let header_timeout = seconds("SWIFTCART_HEADER_TIMEOUT_SECS", "10", 1..=60)?;
        let request_timeout = seconds("SWIFTCART_REQUEST_TIMEOUT_SECS", "30", 1..=300)?;
        let socket_idle = seconds("SWIFTCART_SOCKET_IDLE_SECS", "30", 1..=300)?;
        let per_address: usize = get("SWIFTCART_CONNECTIONS_PER_ADDRESS", &DEFAULT_CONNECTIONS_PER_ADDRESS.to_string())
            .parse()
            .map_err(|_| err("SWIFTCART_CONNECTIONS_PER_ADDRESS", "expected a whole number (0: no limit)".into()))?;

        let stripe_api_base = get("STRIPE_API_BASE", "http://127.0.0.1:8420");
        let stripe_publishable_key = get("STRIPE_PUBLISHABLE_KEY", DEV_STRIPE_PUBLISHABLE_KEY);
        if !stripe_publishable_key.starts_with("pk_") {
            return Err(err("STRIPE_PUBLISHABLE_KEY", "expected a publishable key (pk_…), never a secret one".into()));
        }
        // localstripe serves its Stripe.js under its own address; the real one lives at js.stripe.com.
        let stripe_js_url =
            get("STRIPE_JS_URL", &format!("{}/js.stripe.com/v3/", stripe_api_base.trim_end_matches('/')));
        if !(stripe_js_url.starts_with("https://") || stripe_js_url.starts_with("http://")) {
            return Err(err("STRIPE_JS_URL", "expected an http(s) URL of Stripe.js".into()));
        }

        let gesture_events = match get("SWIFTCART_GESTURE_EVENTS", "on").as_str() {
            "on" => true,
            "off" => false,
            _ => return Err(err("SWIFTCART_GESTURE_EVENTS", "expected on or off".into())),
        };

        let redis_key_prefix = get("SWIFTCART_REDIS_PREFIX", "");
        if redis_key_prefix.chars().any(|c| c.is_whitespace()) {
            return Err(err("SWIFTCART_REDIS_PREFIX", "must not contain whitespace".into()));
        }

        let config = Self {
            database_url,
            redis_url,
            redis_key_prefix,
            site_addr,
            site_root: get("LEPTOS_SITE_ROOT", "target/site"),
            environment,
            jwt_secret,
            jwt_previous_secret,
            allowed_origins,
            stripe_secret_key: get("STRIPE_SECRET_KEY", DEV_STRIPE_SECRET_KEY),
            stripe_webhook_secret: get("STRIPE_WEBHOOK_SECRET", DEV_STRIPE_WEBHOOK_SECRET),
            stripe_publishable_key,
            stripe_js_url,
            stripe_api_base,
            tick: Duration::from_millis(u64::from(tick_ms)),
            quote_ttl: Duration::from_secs(quote_ttl_secs),
            auth_window: Duration::from_secs(auth_window_secs),
            access_token_ttl: Duration::from_secs(access_token_ttl_secs),
            metrics_token: lookup("SWIFTCART_METRICS_TOKEN").filter(|t| !t.trim().is_empty()),
            connections: crate::serve::ConnectionLimits {
                per_node: MAX_CONNECTIONS_PER_NODE,
                per_address: (per_address > 0).then_some(per_address),
                header_timeout,
                request_timeout,
                socket_idle,
            },
            gesture_events,
        };
        match config.environment {
            Environment::Production => {
                let problems = production_problems(&config);
                if problems.is_empty() {
                    Ok(config)
                } else {
                    Err(ConfigError { problems })
                }
            }
            Environment::Development => Ok(config),
        }
    }
}

/// What makes a configuration unsafe to run in production: the local defaults, weak or test
/// secrets, and plain-http addresses for Stripe and the browser. Empty when it is safe.
pub fn production_problems(config: &Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut refuse = |var: &'static str, message: &str| problems.push(Problem { var, message: message.into() });
    if config.jwt_secret == DEV_JWT_SECRET {
        refuse("SWIFTCART_JWT_SECRET", "the development default is refused in production; set a random secret");
    } else if estimated_entropy_bits(&config.jwt_secret) < MIN_SECRET_BITS {
        refuse(
            "SWIFTCART_JWT_SECRET",
            "too predictable for production; use at least 32 random bytes (e.g. `openssl rand -base64 48`)",
        );
    }
    if let Some(previous) = &config.jwt_previous_secret {
        if previous == DEV_JWT_SECRET || estimated_entropy_bits(previous) < MIN_SECRET_BITS {
            refuse("SWIFTCART_JWT_PREVIOUS_SECRET", "too predictable for production (or the development default)");
        }
    }
    if config.stripe_secret_key == DEV_STRIPE_SECRET_KEY || config.stripe_secret_key.starts_with("sk_test_") {
        refuse(
            "STRIPE_SECRET_KEY",
            "a test or default key is refused in production; set the live secret key (sk_live_…)",
        );
    }
    if config.stripe_webhook_secret == DEV_STRIPE_WEBHOOK_SECRET || !config.stripe_webhook_secret.starts_with("whsec_")
    {
        refuse(
            "STRIPE_WEBHOOK_SECRET",
            "the public default is refused in production; set the endpoint's signing secret (whsec_…)",
        );
    }
    if config.stripe_publishable_key == DEV_STRIPE_PUBLISHABLE_KEY
        || config.stripe_publishable_key.starts_with("pk_test_")
    {
        refuse(
            "STRIPE_PUBLISHABLE_KEY",
            "a test or default key is refused in production; set the live publishable key (pk_live_…)",
        );
    }
    if !config.stripe_api_base.starts_with("https://") {
        refuse("STRIPE_API_BASE", "must be https in production (https://api.stripe.com)");
    }
    if !config.stripe_js_url.starts_with("https://") {
        refuse("STRIPE_JS_URL", "must be https in production (https://js.stripe.com/v3/)");
    }
    if config.allowed_origins.iter().any(|o| !o.starts_with("https://")) {
        refuse("SWIFTCART_ALLOWED_ORIGINS", "every origin must be https in production");
    }
    match &config.metrics_token {
        None => {
            refuse("SWIFTCART_METRICS_TOKEN", "/metrics must not be public in production; set a token for the scraper")
        }
        Some(token) if estimated_entropy_bits(token) < MIN_SECRET_BITS => {
            refuse("SWIFTCART_METRICS_TOKEN", "too predictable; use at least 32 random bytes")
        }
        Some(_) => {}
    }
    if config.access_token_ttl != Duration::from_secs(900) {
        refuse(
            "SWIFTCART_ACCESS_TOKEN_TTL_SECS",
            "a test setting; production keeps access tokens for 15 minutes (900)",
        );
    }
    problems
}

/// A rough upper bound of a secret's entropy: its length times the Shannon entropy of its byte
/// frequencies. Forty copies of one letter score 0; 48 random bytes in base64 score about 350.
pub fn estimated_entropy_bits(secret: &str) -> f64 {
    let bytes = secret.as_bytes();
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0usize; 256];
    for &b in bytes {
        counts[b as usize] += 1;
    }
    let n = bytes.len() as f64;
    let per_byte: f64 = counts.iter().filter(|&&c| c > 0).map(|&c| c as f64 / n).map(|p| -p * p.log2()).sum();
    per_byte * n
}

fn err(var: &'static str, message: String) -> ConfigError {
    ConfigError { problems: vec![Problem { var, message }] }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    /// `.env.example` names every variable the configuration reads, and its values are the
    /// defaults: read with it, the configuration is the same as with nothing set.
    #[test]
    fn the_env_example_lists_every_variable_with_its_default() {
        let example: Vec<(String, String)> = include_str!("../../.env.example")
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .filter_map(|line| line.split_once('='))
            .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
            .collect();
        let asked = std::cell::RefCell::new(Vec::new());
        let from_example = Config::from_lookup(|name| {
            asked.borrow_mut().push(name.to_string());
            example.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .unwrap();
        for name in asked.borrow().iter() {
            assert!(example.iter().any(|(k, _)| k == name), "{name} is missing from .env.example");
        }
        assert_eq!(
            format!("{from_example:?}"),
            format!("{:?}", with(&[]).unwrap()),
            "the example's values are the defaults"
        );
    }

    #[test]
    fn defaults_work_locally() {
        let c = with(&[]).unwrap();
        assert_eq!(c.site_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(c.tick, Duration::from_millis(50));
        assert_eq!(c.allowed_origins, vec!["http://127.0.0.1:3000", "http://localhost:3000"]);
        assert_eq!(c.redis_key_prefix, "");
        assert!(c.gesture_events, "gesture events are forwarded unless switched off");
        assert_eq!(c.auth_window, Duration::from_secs(300));
        assert_eq!(with(&[("SWIFTCART_AUTH_WINDOW_SECS", "60")]).unwrap().auth_window, Duration::from_secs(60));
        assert!(!with(&[("SWIFTCART_GESTURE_EVENTS", "off")]).unwrap().gesture_events);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        assert_eq!(with(&[("SWIFTCART_TICK_MS", "fast")]).unwrap_err().var(), "SWIFTCART_TICK_MS");
        assert_eq!(with(&[("SWIFTCART_TICK_MS", "0")]).unwrap_err().var(), "SWIFTCART_TICK_MS");
        assert_eq!(with(&[("SWIFTCART_QUOTE_TTL_SECS", "0")]).unwrap_err().var(), "SWIFTCART_QUOTE_TTL_SECS");
        for bad in ["29", "1801", "-1", "long"] {
            let error = with(&[("SWIFTCART_AUTH_WINDOW_SECS", bad)]).unwrap_err();
            assert_eq!(error.var(), "SWIFTCART_AUTH_WINDOW_SECS", "{bad}");
        }
        assert_eq!(with(&[("LEPTOS_SITE_ADDR", "nowhere")]).unwrap_err().var(), "LEPTOS_SITE_ADDR");
        assert_eq!(with(&[("DATABASE_URL", "mysql://x")]).unwrap_err().var(), "DATABASE_URL");
        assert_eq!(with(&[("SWIFTCART_JWT_SECRET", "short")]).unwrap_err().var(), "SWIFTCART_JWT_SECRET");
        assert_eq!(with(&[("SWIFTCART_ALLOWED_ORIGINS", "evil.com")]).unwrap_err().var(), "SWIFTCART_ALLOWED_ORIGINS");
        assert_eq!(with(&[("STRIPE_PUBLISHABLE_KEY", "sk_live_x")]).unwrap_err().var(), "STRIPE_PUBLISHABLE_KEY");
        assert_eq!(with(&[("STRIPE_JS_URL", "js.stripe.com")]).unwrap_err().var(), "STRIPE_JS_URL");
        assert_eq!(with(&[("SWIFTCART_GESTURE_EVENTS", "yes")]).unwrap_err().var(), "SWIFTCART_GESTURE_EVENTS");
        for bad in ["4", "901", "soon"] {
            let e = with(&[("SWIFTCART_ACCESS_TOKEN_TTL_SECS", bad)]).unwrap_err();
            assert_eq!(e.var(), "SWIFTCART_ACCESS_TOKEN_TTL_SECS", "{bad}");
        }
    }

    #[test]
    fn a_short_token_lifetime_is_for_tests_only() {
        assert_eq!(with(&[]).unwrap().access_token_ttl, Duration::from_secs(900));
        let short = with(&[("SWIFTCART_ACCESS_TOKEN_TTL_SECS", "12")]).unwrap();
        assert_eq!(short.access_token_ttl, Duration::from_secs(12));
        let mut production = safe_production();
        production.push(("SWIFTCART_ACCESS_TOKEN_TTL_SECS", "12"));
        assert_eq!(with(&production).unwrap_err().vars(), vec!["SWIFTCART_ACCESS_TOKEN_TTL_SECS"]);
    }

    #[test]
    fn stripe_js_comes_from_the_stripe_api_base_unless_set() {
        let local = with(&[("STRIPE_API_BASE", "http://127.0.0.1:9999/")]).unwrap();
        assert_eq!(local.stripe_js_url, "http://127.0.0.1:9999/js.stripe.com/v3/");
        let real = with(&[("STRIPE_JS_URL", "https://js.stripe.com/v3/")]).unwrap();
        assert_eq!(real.stripe_js_url, "https://js.stripe.com/v3/");
    }

    /// A production configuration with nothing unsafe in it.
    fn safe_production() -> Vec<(&'static str, &'static str)> {
        vec![
            ("SWIFTCART_ENV", "production"),
            ("SWIFTCART_JWT_SECRET", "q8Zf3Kp0vW2xYb7Lr5Tn9Hc1Md4Gs6Ja8Ue0Oi2Py4Rw6Tv"),
            ("STRIPE_SECRET_KEY", "sk_live_0123456789abcdef"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_0123456789abcdef0123"),
            ("STRIPE_PUBLISHABLE_KEY", "pk_live_0123456789abcdef"),
            ("STRIPE_API_BASE", "https://api.stripe.com"),
            ("STRIPE_JS_URL", "https://js.stripe.com/v3/"),
            ("SWIFTCART_ALLOWED_ORIGINS", "https://shop.example"),
            ("SWIFTCART_METRICS_TOKEN", "m3Tr1cs-Zq8Kp0vW2xYb7Lr5Tn9Hc1Md4Gs6Ja8Ue0Oi2"),
        ]
    }

    #[test]
    fn production_starts_only_when_nothing_is_unsafe() {
        assert!(with(&safe_production()).is_ok());
        // The development defaults: every unsafe variable is named, one line each.
        let e = with(&[("SWIFTCART_ENV", "production")]).unwrap_err();
        assert_eq!(
            e.vars(),
            vec![
                "SWIFTCART_JWT_SECRET",
                "STRIPE_SECRET_KEY",
                "STRIPE_WEBHOOK_SECRET",
                "STRIPE_PUBLISHABLE_KEY",
                "STRIPE_API_BASE",
                "STRIPE_JS_URL",
                "SWIFTCART_ALLOWED_ORIGINS",
                "SWIFTCART_METRICS_TOKEN",
            ]
        );
        assert_eq!(e.to_string().lines().count(), 8);
        assert!(e.to_string().starts_with("configuration error: SWIFTCART_JWT_SECRET"));
    }

    #[test]
    fn production_refuses_each_unsafe_value_alone() {
        let forty_ks = "k".repeat(40);
        let abab = "ab".repeat(32);
        for (var, value) in [
            ("SWIFTCART_JWT_SECRET", DEV_JWT_SECRET),
            ("SWIFTCART_JWT_SECRET", forty_ks.as_str()),
            ("SWIFTCART_JWT_SECRET", abab.as_str()),
            ("STRIPE_SECRET_KEY", "sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
            ("STRIPE_WEBHOOK_SECRET", DEV_STRIPE_WEBHOOK_SECRET),
            ("STRIPE_WEBHOOK_SECRET", "not-a-signing-secret"),
            ("STRIPE_PUBLISHABLE_KEY", "pk_test_abc"),
            ("STRIPE_API_BASE", "http://127.0.0.1:8420"),
            ("STRIPE_JS_URL", "http://127.0.0.1:8420/js.stripe.com/v3/"),
            ("SWIFTCART_ALLOWED_ORIGINS", "https://shop.example,http://shop.example"),
            ("SWIFTCART_METRICS_TOKEN", "metrics"),
            ("SWIFTCART_JWT_PREVIOUS_SECRET", DEV_JWT_SECRET),
            ("SWIFTCART_JWT_PREVIOUS_SECRET", forty_ks.as_str()),
        ] {
            let mut vars = safe_production();
            vars.retain(|(k, _)| *k != var);
            vars.push((var, value));
            assert_eq!(with(&vars).unwrap_err().vars(), vec![var], "{var}={value}");
        }
        // Development keeps its working defaults.
        assert!(with(&[]).is_ok());
        // A key rotation in progress, with a strong previous secret, is fine; a short one never is.
        let mut rotating = safe_production();
        rotating.push(("SWIFTCART_JWT_PREVIOUS_SECRET", "Zr7Kq2Xw9Lm4Tb8Np1Vc6Hd3Jg5Fs0Ya7Ue2Oi9Py4Rw6Tv"));
        assert!(with(&rotating).is_ok());
        assert_eq!(
            with(&[("SWIFTCART_JWT_PREVIOUS_SECRET", "short")]).unwrap_err().var(),
            "SWIFTCART_JWT_PREVIOUS_SECRET"
        );
    }

    #[test]
    fn entropy_tells_random_secrets_from_repeated_ones() {
        assert_eq!(estimated_entropy_bits(&"k".repeat(40)), 0.0);
        assert!(estimated_entropy_bits("q8Zf3Kp0vW2xYb7Lr5Tn9Hc1Md4Gs6Ja8Ue0Oi2Py4Rw6Tv") > MIN_SECRET_BITS);
        assert!(estimated_entropy_bits(&"ab".repeat(32)) < MIN_SECRET_BITS, "64 bytes, 1 bit each");
    }
}
