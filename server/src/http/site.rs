//! The whole site's router: health, metrics, REST, the socket, server functions, pages and the
//! static bundles, with the page policy, security headers and cache rules around them.

use std::sync::Arc;

use app::catalog::ssr::SharedCatalog;
use app::checkout::StripeSettings;
use app::{shell, App, PagePolicy};
use axum::http::{header, HeaderName, HeaderValue};
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, handle_server_fns_with_context, LeptosRoutes};
use subtle::ConstantTimeEq;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::{Config, Environment};
use crate::state::AppState;
use crate::{health, realtime};

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
        .merge(super::api_router())
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
