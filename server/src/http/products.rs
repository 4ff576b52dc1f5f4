//! `/api/products`, `/api/products/{slug}`, `/api/products/{slug}/price-history`.

use app::api::ProductList;
use app::catalog::ProductSummary;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use physics_worker::view::SEARCH_MAX_CHARS;

use super::error::ApiError;
use crate::state::AppState;

/// The routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/products", get(list))
        .route("/api/products/{slug}", get(one))
        .route("/api/products/{slug}/price-history", get(price_history))
}

#[derive(Deserialize)]
struct ListQuery {
    /// A search by name: part of it, or a word one typo away ([`physics_worker::view::search`]).
    q: Option<String>,
}

/// `GET /api/products`: the live catalog; with `?q=` the products whose names match, best first,
/// at most [`physics_worker::view::PULLED_MAX`] (fewer than two letters match nothing).
async fn list(State(state): State<AppState>, Query(query): Query<ListQuery>) -> Result<Json<ProductList>, ApiError> {
    let products = state.catalog.list().await?;
    let Some(q) = query.q else {
        return Ok(Json(ProductList { products }));
    };
    if q.chars().count() > SEARCH_MAX_CHARS {
        return Err(ApiError::Unprocessable(format!("q: at most {SEARCH_MAX_CHARS} characters")));
    }
    let names: Vec<String> = products.iter().map(|p| p.name.clone()).collect();
    let matches = physics_worker::view::search(&names, &q);
    let mut products: Vec<Option<ProductSummary>> = products.into_iter().map(Some).collect();
    Ok(Json(ProductList { products: matches.into_iter().filter_map(|i| products[i].take()).collect() }))
}

async fn one(State(state): State<AppState>, Path(slug): Path<String>) -> Result<Json<ProductSummary>, ApiError> {
    state.catalog.by_slug(&slug).await?.map(Json).ok_or(ApiError::NotFound("no such product"))
}

/// The most points one request may ask for.
const MAX_HISTORY_POINTS: i64 = 1_000;

#[derive(Deserialize)]
struct HistoryQuery {
    limit: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PricePoint {
    at: chrono::DateTime<chrono::Utc>,
    price_cents: i64,
}

#[derive(Serialize)]
struct PriceHistory {
    points: Vec<PricePoint>,
}

async fn price_history(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<PriceHistory>, ApiError> {
    let limit = match query.limit.as_deref() {
        None => 200,
        Some(raw) => raw.parse::<i64>().ok().filter(|n| (1..=MAX_HISTORY_POINTS).contains(n)).ok_or_else(|| {
            ApiError::Unprocessable(format!("limit must be a whole number from 1 to {MAX_HISTORY_POINTS}"))
        })?,
    };
    let id = state.catalog.id_of(&slug).await?.ok_or(ApiError::NotFound("no such product"))?;
    let points = state
        .catalog
        .price_history(id, limit)
        .await?
        .into_iter()
        .map(|(at, price_cents)| PricePoint { at, price_cents })
        .collect();
    Ok(Json(PriceHistory { points }))
}
