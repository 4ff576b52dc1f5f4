//! `/api/cart`, `/api/cart/items/{productId}`: the shopper's cart orbit over REST. The same
//! Redis cart the WebSocket's `beam` and `drop` change.

use app::api::{CartAnswer, CartItem};
use axum::extract::{Path, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use uuid::Uuid;

use super::error::{ApiError, ApiJson};
use crate::auth::Principal;
use crate::cart::{CartLine, MAX_QUANTITY};
use crate::state::AppState;

/// The routes of this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/cart", get(show)).route("/api/cart/items/{product_id}", put(set_quantity).delete(remove))
}

/// The answer of every cart route: the whole cart orbit.
fn answer(lines: Vec<CartLine>) -> Json<CartAnswer> {
    let items =
        lines.into_iter().map(|l| CartItem { product_id: l.product_id.to_string(), quantity: l.quantity }).collect();
    Json(CartAnswer { items })
}

#[derive(Deserialize)]
struct QuantityBody {
    quantity: i64,
}

async fn show(State(state): State<AppState>, who: Principal) -> Result<Json<CartAnswer>, ApiError> {
    Ok(answer(state.carts.get(who.sub).await?))
}

async fn set_quantity(
    State(state): State<AppState>,
    who: Principal,
    Path(product): Path<String>,
    ApiJson(body): ApiJson<QuantityBody>,
) -> Result<Json<CartAnswer>, ApiError> {
    let product = live_product(&state, &product).await?;
    let quantity = u32::try_from(body.quantity)
        .ok()
        .filter(|q| (1..=MAX_QUANTITY).contains(q))
        .ok_or_else(|| ApiError::Unprocessable(format!("quantity must be a whole number from 1 to {MAX_QUANTITY}")))?;
    Ok(answer(state.carts.set_quantity(who.sub, product, quantity).await?))
}

async fn remove(
    State(state): State<AppState>,
    who: Principal,
    Path(product): Path<String>,
) -> Result<Json<CartAnswer>, ApiError> {
    let product = product.parse::<Uuid>().map_err(|_| ApiError::NotFound("no such product"))?;
    Ok(answer(state.carts.remove(who.sub, product).await?))
}

/// The uuid of a product that can go into a cart (exists, not retired).
async fn live_product(state: &AppState, raw: &str) -> Result<Uuid, ApiError> {
    let id = raw.parse::<Uuid>().map_err(|_| ApiError::NotFound("no such product"))?;
    let live = state.catalog.is_live(id).await?;
    live.then_some(id).ok_or(ApiError::NotFound("no such product"))
}
