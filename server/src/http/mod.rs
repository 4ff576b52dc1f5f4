//! REST routes (CONTRACT.md, "REST"): one router per area, merged in [`api_router`].

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
/// `/api/products…`: the public catalog.
pub mod products;

use axum::Router;

use crate::startup::AppState;

/// Every REST route.
pub fn api_router() -> Router<AppState> {
    Router::new()
        .merge(products::router())
        .merge(auth::router())
        .merge(cart::router())
        .merge(checkout::router())
        .merge(admin::router())
}
