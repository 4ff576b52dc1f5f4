//! REST routes (CONTRACT.md, "REST"): one router per area, merged in [`api_router`].

/// `/api/auth/…`: guest tokens, accounts, refresh.
pub mod auth;
/// `/api/cart…`: the shopper's cart orbit.
pub mod cart;
/// The one error type of the REST API and its JSON body.
pub mod error;
/// `/api/products…`: the public catalog.
pub mod products;

use axum::Router;

use crate::startup::AppState;

/// Every REST route.
pub fn api_router() -> Router<AppState> {
    Router::new().merge(products::router()).merge(auth::router()).merge(cart::router())
}
