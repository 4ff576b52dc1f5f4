//! Configuration from the environment (CONTRACT.md, "Processes and configuration").
//!
//! Every variable has a working local default. A bad value stops the process at start with one
//! line naming the variable; nothing starts half-configured.

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
    /// How long an access token lives (15 minutes; shorter only outside production, for tests).
    pub access_token_ttl: Duration,
}

/// A configuration variable with a bad value.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {var}: {message}")]
pub struct ConfigError {
    /// The variable's name.
    pub var: &'static str,
    /// What is wrong, and what would be right.
    pub message: String,
}

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
        if environment == Environment::Production && jwt_secret == DEV_JWT_SECRET {
            return Err(err(
                "SWIFTCART_JWT_SECRET",
                "the development default is refused in production; set a secret".into(),
            ));
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

        let tick_ms: u64 = get("SWIFTCART_TICK_MS", "50")
            .parse()
            .ok()
            .filter(|ms| (5..=1_000).contains(ms))
            .ok_or_else(|| err("SWIFTCART_TICK_MS", "expected whole milliseconds between 5 and 1000".into()))?;

        let quote_ttl_secs: u64 = get("SWIFTCART_QUOTE_TTL_SECS", "30")
            .parse()
            .ok()
            .filter(|s| (1..=3_600).contains(s))
            .ok_or_else(|| err("SWIFTCART_QUOTE_TTL_SECS", "expected whole seconds between 1 and 3600".into()))?;

        let access_token_ttl_secs: u64 =
            get("SWIFTCART_ACCESS_TOKEN_TTL_SECS", "900").parse().ok().filter(|s| (5..=900).contains(s)).ok_or_else(
                || err("SWIFTCART_ACCESS_TOKEN_TTL_SECS", "expected whole seconds between 5 and 900".into()),
            )?;
        if environment == Environment::Production && access_token_ttl_secs != 900 {
            return Err(err(
                "SWIFTCART_ACCESS_TOKEN_TTL_SECS",
                "a test setting; production keeps access tokens for 15 minutes (900)".into(),
            ));
        }

        let stripe_api_base = get("STRIPE_API_BASE", "http://127.0.0.1:8420");
        let stripe_publishable_key = get("STRIPE_PUBLISHABLE_KEY", "pk_test_swiftcart_local");
        if !stripe_publishable_key.starts_with("pk_") {
            return Err(err("STRIPE_PUBLISHABLE_KEY", "expected a publishable key (pk_…), never a secret one".into()));
        }
        // localstripe serves its Stripe.js under its own address; the real one lives at js.stripe.com.
        let stripe_js_url =
            get("STRIPE_JS_URL", &format!("{}/js.stripe.com/v3/", stripe_api_base.trim_end_matches('/')));
        if !(stripe_js_url.starts_with("https://") || stripe_js_url.starts_with("http://")) {
            return Err(err("STRIPE_JS_URL", "expected an http(s) URL of Stripe.js".into()));
        }

        let redis_key_prefix = get("SWIFTCART_REDIS_PREFIX", "");
        if redis_key_prefix.chars().any(|c| c.is_whitespace()) {
            return Err(err("SWIFTCART_REDIS_PREFIX", "must not contain whitespace".into()));
        }

        Ok(Self {
            database_url,
            redis_url,
            redis_key_prefix,
            site_addr,
            site_root: get("LEPTOS_SITE_ROOT", "target/site"),
            environment,
            jwt_secret,
            allowed_origins,
            stripe_secret_key: get("STRIPE_SECRET_KEY", "sk_test_swiftcart_local"),
            stripe_webhook_secret: get("STRIPE_WEBHOOK_SECRET", "whsec_swiftcart_local"),
            stripe_publishable_key,
            stripe_js_url,
            stripe_api_base,
            tick: Duration::from_millis(tick_ms),
            quote_ttl: Duration::from_secs(quote_ttl_secs),
            access_token_ttl: Duration::from_secs(access_token_ttl_secs),
        })
    }
}

fn err(var: &'static str, message: String) -> ConfigError {
    ConfigError { var, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_work_locally() {
        let c = with(&[]).unwrap();
        assert_eq!(c.site_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(c.tick, Duration::from_millis(50));
        assert_eq!(c.allowed_origins, vec!["http://127.0.0.1:3000", "http://localhost:3000"]);
        assert_eq!(c.redis_key_prefix, "");
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        assert_eq!(with(&[("SWIFTCART_TICK_MS", "fast")]).unwrap_err().var, "SWIFTCART_TICK_MS");
        assert_eq!(with(&[("SWIFTCART_TICK_MS", "0")]).unwrap_err().var, "SWIFTCART_TICK_MS");
        assert_eq!(with(&[("SWIFTCART_QUOTE_TTL_SECS", "0")]).unwrap_err().var, "SWIFTCART_QUOTE_TTL_SECS");
        assert_eq!(with(&[("LEPTOS_SITE_ADDR", "nowhere")]).unwrap_err().var, "LEPTOS_SITE_ADDR");
        assert_eq!(with(&[("DATABASE_URL", "mysql://x")]).unwrap_err().var, "DATABASE_URL");
        assert_eq!(with(&[("SWIFTCART_JWT_SECRET", "short")]).unwrap_err().var, "SWIFTCART_JWT_SECRET");
        assert_eq!(with(&[("SWIFTCART_ALLOWED_ORIGINS", "evil.com")]).unwrap_err().var, "SWIFTCART_ALLOWED_ORIGINS");
        assert_eq!(with(&[("STRIPE_PUBLISHABLE_KEY", "sk_live_x")]).unwrap_err().var, "STRIPE_PUBLISHABLE_KEY");
        assert_eq!(with(&[("STRIPE_JS_URL", "js.stripe.com")]).unwrap_err().var, "STRIPE_JS_URL");
        for bad in ["4", "901", "soon"] {
            let e = with(&[("SWIFTCART_ACCESS_TOKEN_TTL_SECS", bad)]).unwrap_err();
            assert_eq!(e.var, "SWIFTCART_ACCESS_TOKEN_TTL_SECS", "{bad}");
        }
    }

    #[test]
    fn a_short_token_lifetime_is_for_tests_only() {
        assert_eq!(with(&[]).unwrap().access_token_ttl, Duration::from_secs(900));
        let short = with(&[("SWIFTCART_ACCESS_TOKEN_TTL_SECS", "12")]).unwrap();
        assert_eq!(short.access_token_ttl, Duration::from_secs(12));
        let secret = "k".repeat(40);
        let production = [("SWIFTCART_ENV", "production"), ("SWIFTCART_JWT_SECRET", secret.as_str())];
        let refused = with(&[production[0], production[1], ("SWIFTCART_ACCESS_TOKEN_TTL_SECS", "12")]).unwrap_err();
        assert_eq!(refused.var, "SWIFTCART_ACCESS_TOKEN_TTL_SECS");
    }

    #[test]
    fn stripe_js_comes_from_the_stripe_api_base_unless_set() {
        let local = with(&[("STRIPE_API_BASE", "http://127.0.0.1:9999/")]).unwrap();
        assert_eq!(local.stripe_js_url, "http://127.0.0.1:9999/js.stripe.com/v3/");
        let real = with(&[("STRIPE_JS_URL", "https://js.stripe.com/v3/")]).unwrap();
        assert_eq!(real.stripe_js_url, "https://js.stripe.com/v3/");
    }

    #[test]
    fn production_refuses_the_development_secret() {
        let e = with(&[("SWIFTCART_ENV", "production")]).unwrap_err();
        assert_eq!(e.var, "SWIFTCART_JWT_SECRET");
        assert!(e.to_string().starts_with("configuration error: SWIFTCART_JWT_SECRET"));
        let ok = with(&[("SWIFTCART_ENV", "production"), ("SWIFTCART_JWT_SECRET", &"k".repeat(40))]);
        assert!(ok.is_ok());
    }
}
