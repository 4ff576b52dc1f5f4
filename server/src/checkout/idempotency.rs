//! Requests that must happen once: checkout requests by `Idempotency-Key` (the
//! `checkout_requests` table) and Stripe events by id (`stripe_events`).

use sqlx::PgPool;
use uuid::Uuid;

/// What was stored for a shopper's Idempotency-Key.
#[derive(Debug)]
pub struct StoredRequest {
    /// The fingerprint of the request that first used the key.
    pub fingerprint: Vec<u8>,
    /// The order it opened, once it has one.
    pub order: Option<Uuid>,
    /// Its final answer (status, JSON body), once there is one.
    pub answer: Option<(u16, serde_json::Value)>,
}

/// Claims `key` for this request: `true` when it is the first with the key (it runs), `false`
/// when the key was used before (answer with [`stored`]).
pub async fn claim(pool: &PgPool, user: Uuid, key: &str, fingerprint: &[u8]) -> sqlx::Result<bool> {
    let first: Option<bool> = sqlx::query_scalar(
        "INSERT INTO checkout_requests (user_id, idempotency_key, request_hash) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING RETURNING true",
    )
    .bind(user)
    .bind(key)
    .bind(fingerprint)
    .fetch_optional(pool)
    .await?;
    Ok(first.unwrap_or(false))
}

/// Lets `key` be used again: the request failed before anything was worth remembering (no
/// order was opened).
pub async fn release(pool: &PgPool, user: Uuid, key: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM checkout_requests WHERE user_id = $1 AND idempotency_key = $2 AND order_id IS NULL")
        .bind(user)
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}

/// Keeps the final answer of the request that claimed `key`, for its retries.
pub async fn keep_answer(
    pool: &PgPool,
    user: Uuid,
    key: &str,
    status: u16,
    body: &serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE checkout_requests SET response_status = $3, response_body = $4 WHERE user_id = $1 AND idempotency_key = $2",
    )
    .bind(user)
    .bind(key)
    .bind(status as i16)
    .bind(body)
    .execute(pool)
    .await?;
    Ok(())
}

/// What was stored for `key`.
pub async fn stored(pool: &PgPool, user: Uuid, key: &str) -> sqlx::Result<StoredRequest> {
    type Row = (Vec<u8>, Option<Uuid>, Option<i16>, Option<serde_json::Value>);
    let (fingerprint, order, status, body): Row = sqlx::query_as(
        "SELECT request_hash, order_id, response_status, response_body FROM checkout_requests
         WHERE user_id = $1 AND idempotency_key = $2",
    )
    .bind(user)
    .bind(key)
    .fetch_one(pool)
    .await?;
    let answer = status.zip(body).map(|(status, body)| (status as u16, body));
    Ok(StoredRequest { fingerprint, order, answer })
}

/// Whether the Stripe event `id` was already handled.
pub async fn event_handled(pool: &PgPool, id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM stripe_events WHERE id = $1)").bind(id).fetch_one(pool).await
}

/// Remembers that the Stripe event `id` (of type `kind`) was handled.
pub async fn remember_event(pool: &PgPool, id: &str, kind: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO stripe_events (id, event_type) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(id)
        .bind(kind)
        .execute(pool)
        .await?;
    Ok(())
}
