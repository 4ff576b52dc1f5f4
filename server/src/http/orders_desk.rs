//! `/api/admin/orders…`: the orders desk (role admin): every order, one order in full, refunds.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use uuid::Uuid;

use super::admin::Admin;
use super::error::{ApiError, ApiJson};
use crate::checkout::desk::{self, DeskFilter};
use crate::checkout::refunds::{self, RefundRequest, Refunded};
use crate::state::AppState;
use app::api::OrderStatus;

/// The routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/orders", get(list))
        .route("/api/admin/orders/{order}", get(one))
        .route("/api/admin/orders/{order}/refunds", post(refund))
}

/// Longest email filter accepted.
const MAX_EMAIL_FILTER: usize = 254;
/// Highest page number accepted.
const MAX_PAGE: i64 = 100_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    email: Option<String>,
    page: Option<i64>,
}

/// `GET /api/admin/orders?status=&email=&page=`: newest first, 50 a page.
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::Unprocessable(e.body_text()))?;
    let status = match query.status.filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(OrderStatus::parse(&text).ok_or_else(|| {
            let all: Vec<&str> = OrderStatus::ALL.into_iter().map(OrderStatus::as_str).collect();
            ApiError::Unprocessable(format!("status must be one of {}", all.join(", ")))
        })?),
    };
    let email = query.email.map(|e| e.trim().to_string()).filter(|e| !e.is_empty());
    if email.as_ref().is_some_and(|e| e.chars().count() > MAX_EMAIL_FILTER) {
        return Err(ApiError::Unprocessable(format!("email filters are at most {MAX_EMAIL_FILTER} characters")));
    }
    let page = query.page.unwrap_or(1);
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(ApiError::Unprocessable(format!("page must be from 1 to {MAX_PAGE}")));
    }
    Ok(Json(desk::list(&state.pool, &DeskFilter { status, email, page }).await?))
}

fn order_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound("no such order"))
}

/// `GET /api/admin/orders/{id}`: lines at frozen prices, totals, the PaymentIntent id, refunds and
/// the timeline.
async fn one(
    State(state): State<AppState>,
    _admin: Admin,
    Path(order): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let order = desk::order(&state.pool, order_id(&order)?).await?.ok_or(ApiError::NotFound("no such order"))?;
    Ok(Json(order))
}

/// `POST /api/admin/orders/{id}/refunds` with an `Idempotency-Key`: 201 the order after the
/// refund; 200 the order for a replayed key (refunded once).
async fn refund(
    State(state): State<AppState>,
    _admin: Admin,
    Path(order): Path<String>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<RefundRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let order = order_id(&order)?;
    let key = super::idempotency_key(&headers, "a retry never refunds twice")?;
    let outcome = refunds::refund(&state.pool, &state.hyperdrive.stripe, order, key, &request).await?;
    let status = if outcome == Refunded::Made { StatusCode::CREATED } else { StatusCode::OK };
    let view = desk::order(&state.pool, order).await?.ok_or(ApiError::NotFound("no such order"))?;
    Ok((status, Json(view)))
}
