//! `/api/checkout/quote`, `/api/checkout`, `/api/orders`, `/api/orders/{id}/settle` and
//! `/api/stripe/webhook`: Hyperdrive
//! over REST. The rules live in [`crate::checkout`]; this module is the HTTP edge: who may call,
//! the Idempotency-Key, and Stripe's signed events.

use app::api::OrderStatus;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::error::{ApiError, ApiJson};
use crate::auth::{Principal, Role, Subject};
use crate::checkout::{idempotency, ledger, refunds, ChargeRequest, Charged, CheckoutError};
use crate::state::AppState;
use physics_worker::wire::Reason;

/// The routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/checkout/quote", post(quote).delete(release))
        .route("/api/checkout", post(checkout))
        .route("/api/orders", get(orders))
        .route("/api/orders/{order}/settle", post(settle))
        .route("/api/stripe/webhook", post(webhook).layer(DefaultBodyLimit::max(super::MAX_WEBHOOK_BODY_BYTES)))
}

/// The account behind a token; guests are asked to sign in (their cart is kept).
fn account(who: &Principal) -> Result<Uuid, ApiError> {
    if who.role == Role::Guest {
        return Err(ApiError::Unauthorized(
            "checkout needs an account: sign in or register; your cart orbit is kept".into(),
        ));
    }
    Ok(who.sub.id())
}

async fn quote(State(state): State<AppState>, who: Principal) -> Result<impl IntoResponse, ApiError> {
    let user = account(&who)?;
    let quote = state.hyperdrive.quote(user, who.sub).await?;
    Ok((StatusCode::CREATED, Json(quote)))
}

/// `DELETE /api/checkout/quote`: the shopper left the warp; the open quote's stock goes back.
async fn release(State(state): State<AppState>, who: Principal) -> Result<impl IntoResponse, ApiError> {
    let user = account(&who)?;
    let released = state.hyperdrive.release_open(user).await?;
    Ok(Json(json!({ "released": released })))
}

async fn checkout(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    ApiJson(request): ApiJson<ChargeRequest>,
) -> Result<Response, ApiError> {
    let user = account(&who)?;
    let key = super::idempotency_key(&headers, "a retry never charges twice")?.to_string();
    request.validate()?;
    let fingerprint = request.fingerprint();

    if !idempotency::claim(&state.pool, user, &key, &fingerprint).await? {
        return replay(&state, (user, who.sub), &key, &fingerprint).await;
    }

    let (status, body) = match state.hyperdrive.charge(user, who.sub, &request, &key).await {
        Ok(charged) => charged_parts(charged, StatusCode::CREATED),
        Err(CheckoutError::Unavailable(e)) => {
            // Nothing to remember: let the same key be retried once the service is back.
            let _ = idempotency::release(&state.pool, user, &key).await;
            return Err(ApiError::Unavailable(e));
        }
        Err(e) => ApiError::from(e).to_parts(),
    };
    // Pending answers (202) are not final: a replay rebuilds them from the order.
    if status != StatusCode::ACCEPTED {
        if let Err(e) = idempotency::keep_answer(&state.pool, user, &key, status.as_u16(), &body).await {
            tracing::warn!(error = %e, "checkout: could not store the answer; a replay rebuilds it from the order");
        }
    }
    Ok((status, Json(body)).into_response())
}

/// The status and body of a charge's outcome; `paid` is the status of a paid order (201 for a
/// new charge, 200 for a settlement asked for again). Unsettled outcomes are 202: `pending` with
/// a message, or `requires_action` with the intent's client secret (for Stripe.js in the page,
/// and nothing else of Stripe's) and the end of the authentication window.
fn charged_parts(charged: Charged, paid: StatusCode) -> (StatusCode, serde_json::Value) {
    let to_json = |order| serde_json::to_value(order).expect("serialisable");
    match charged {
        Charged::Paid(order) => (paid, to_json(order)),
        Charged::Pending(order) => {
            let mut body = to_json(order);
            body["message"] =
                json!("your payment is being confirmed; the order appears in your orders within a minute");
            (StatusCode::ACCEPTED, body)
        }
        Charged::NeedsAuthentication { order, client_secret, authenticate_by } => {
            let mut body = to_json(order);
            body["clientSecret"] = json!(client_secret.expose());
            body["authenticateBy"] = json!(authenticate_by);
            body["message"] = json!("your bank asks you to confirm this payment");
            (StatusCode::ACCEPTED, body)
        }
    }
}

/// `POST /api/orders/{id}/settle`: after the bank's check in the page, the server asks Stripe
/// how the payment ended and settles the order once (the webhook may have done it already).
/// 200 paid, 202 still waiting (`requires_action` again, or `pending` while Stripe cannot be
/// asked: the sweeper settles it), 409 `payment_failed` when the bank did not confirm.
async fn settle(
    State(state): State<AppState>,
    who: Principal,
    Path(order): Path<String>,
) -> Result<Response, ApiError> {
    let user = account(&who)?;
    let order: Uuid = order.parse().map_err(|_| ApiError::NotFound("no such order"))?;
    let charged = state.hyperdrive.settle_from_stripe(user, who.sub, order).await?;
    let (status, body) = charged_parts(charged, StatusCode::OK);
    Ok((status, Json(body)).into_response())
}

/// The answer to a replayed Idempotency-Key: the first answer, never a second charge.
async fn replay(
    state: &AppState,
    (user, sub): (Uuid, Subject),
    key: &str,
    fingerprint: &[u8],
) -> Result<Response, ApiError> {
    let stored = idempotency::stored(&state.pool, user, key).await?;
    if stored.fingerprint != fingerprint {
        return Err(ApiError::Unprocessable(
            "this Idempotency-Key was already used for a different checkout request; use a new key".into(),
        ));
    }
    if let Some((status, body)) = stored.answer {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        return Ok((status, Json(body)).into_response());
    }
    // The first request is still running, or ended before it could store its answer.
    let Some(order) = stored.order else {
        return Err(ApiError::InProgress("this checkout is still being processed; retry in a moment"));
    };
    match ledger::order_view(&state.pool, user, order).await? {
        Some(view) if view.status == OrderStatus::Paid => {
            Ok((StatusCode::CREATED, Json(serde_json::to_value(view).expect("serialisable"))).into_response())
        }
        // Waiting for the bank: the same answer again, as Stripe sees the intent now.
        Some(view) if view.status == OrderStatus::RequiresAction => {
            let charged = state.hyperdrive.settle_from_stripe(user, sub, order).await?;
            let (status, body) = charged_parts(charged, StatusCode::CREATED);
            Ok((status, Json(body)).into_response())
        }
        Some(view) if view.status == OrderStatus::Failed => {
            Err(CheckoutError::paradox(Reason::PaymentFailed, "the payment did not go through; nothing was charged")
                .into())
        }
        _ => Err(ApiError::InProgress("this checkout is still being processed; retry in a moment")),
    }
}

async fn orders(State(state): State<AppState>, who: Principal) -> Result<impl IntoResponse, ApiError> {
    let user = account(&who)?;
    Ok(Json(json!({ "orders": ledger::orders_of(&state.pool, user, None).await? })))
}

/// The part of a Stripe event we read.
#[derive(Deserialize)]
struct StripeEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: StripeEventData,
}

#[derive(Deserialize)]
struct StripeEventData {
    object: serde_json::Value,
}

/// `POST /api/stripe/webhook`: verified over the raw body; each event id is handled once; an
/// order is settled only from the intent as Stripe reports it when asked.
async fn webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    if let Err(why) = state.hyperdrive.stripe.verify_signature(signature, &body, now) {
        return Err(ApiError::BadRequest(format!("{why}; the event was ignored")));
    }
    let event: StripeEvent =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("not a Stripe event: {e}")))?;
    if idempotency::event_handled(&state.pool, &event.id).await? {
        return Ok(Json(json!({ "received": true, "duplicate": true })).into_response());
    }
    let settles = matches!(
        event.kind.as_str(),
        "payment_intent.succeeded" | "payment_intent.payment_failed" | "payment_intent.canceled"
    );
    // A refund made anywhere (Stripe's dashboard included) names its intent on the object.
    let refund_event = matches!(
        event.kind.as_str(),
        "charge.refunded" | "charge.refund.updated" | "refund.created" | "refund.updated"
    );
    let intent_field = if refund_event { "payment_intent" } else { "id" };
    let intent_id = event.data.object.get(intent_field).and_then(|v| v.as_str()).unwrap_or_default();
    let order = ledger::order_of_intent(&state.pool, intent_id).await?;
    if let (Some((order, total_cents)), true) = (order, settles || refund_event) {
        // The event is only a hint: what Stripe says of the intent when asked decides. Stripe
        // unreachable is a 503, so Stripe delivers the event again later.
        let intent = state.hyperdrive.stripe.retrieve(intent_id).await.map_err(|e| ApiError::Unavailable(e.into()))?;
        if !intent.belongs_to(order, total_cents) {
            tracing::warn!(%order, intent = %intent.id, "webhook: the intent does not match its order; ignored");
        } else if refund_event {
            refunds::record_found(&state.pool, order, intent.refunded_cents()).await?;
        } else if intent.is_paid() {
            ledger::settle_paid(&state.pool, order, &intent.id).await?;
        } else if intent.is_dead() {
            ledger::settle_failed(&state.pool, order, "payment_failed").await?;
        }
    }
    // Remembered only once handled, so a failure above lets Stripe's redelivery try again.
    idempotency::remember_event(&state.pool, &event.id, &event.kind).await?;
    Ok(Json(json!({ "received": true })).into_response())
}
