//! Everything HTTP: the site's [`router`] (pages, socket, static files and the REST routes of
//! CONTRACT.md, "REST", one router per area merged in [`api_router`]), the request extractor
//! and the one error type, which converts the domain's errors.

/// `/api/admin/…`: catalog and stock management.
pub mod admin;
/// `/api/auth/…`: guest tokens, accounts, refresh.
pub mod auth;
/// `/api/cart…`: the shopper's cart orbit.
pub mod cart;
/// `/api/checkout…`, `/api/orders`, `/api/stripe/webhook`: Hyperdrive.
pub mod checkout;
/// The one error type of the REST API and its JSON body.
pub mod error;
/// `/api/admin/orders…`: the orders desk and refunds.
pub mod orders_desk;
/// The request extractor for `Authorization: Bearer`.
pub mod principal;
/// `/api/products…`: the public catalog.
pub mod products;
/// The whole site's router and its page, header and cache policies.
pub mod site;

pub use site::router;

use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::Router;

use self::error::ApiError;

use crate::state::AppState;

/// Largest request body the REST API reads (413 beyond): every JSON body it takes is small.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest Stripe webhook body read (events carry whole objects).
pub const MAX_WEBHOOK_BODY_BYTES: usize = 512 * 1024;

/// Longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The request's `Idempotency-Key` (1 to [`MAX_IDEMPOTENCY_KEY`] characters, trimmed), or a 400
/// saying why it is needed: `so` ends the sentence ("a retry never charges twice").
pub fn idempotency_key<'h>(headers: &'h HeaderMap, so: &str) -> Result<&'h str, ApiError> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "an Idempotency-Key header (1 to {MAX_IDEMPOTENCY_KEY} characters) is required, so {so}"
            ))
        })
}

/// Every REST route.
pub fn api_router() -> Router<AppState> {
    Router::new()
        .merge(products::router())
        .merge(auth::router())
        .merge(cart::router())
        .merge(checkout::router())
        .merge(admin::router())
        .merge(orders_desk::router())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}
