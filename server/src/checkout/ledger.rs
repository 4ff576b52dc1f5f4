//! The PostgreSQL side of checkout: every change of stock, quotes and orders, each in one
//! transaction. PostgreSQL is the system of record; every transition is conditional on the state
//! it leaves, so running one twice (the webhook and the checkout response, two sweepers) changes
//! nothing the second time.

use app::api::OrderStatus;
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// One line of a quote or an order, at its frozen unit price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct PricedLine {
    /// The product.
    pub product_id: Uuid,
    /// Units.
    pub quantity: i32,
    /// Frozen price of one unit, in cents.
    pub unit_price_cents: i64,
}

/// Where a quote stands (the `quotes.status` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum QuoteStatus {
    /// Holding its prices and stock until it expires.
    Open,
    /// A charge is under way with it.
    Charging,
    /// An order was paid with it.
    Consumed,
    /// Expired or given up; its stock went back.
    Released,
}

/// The order (id, total in cents) paid through the PaymentIntent `intent`, if any.
pub async fn order_of_intent(pool: &PgPool, intent: &str) -> sqlx::Result<Option<(Uuid, i64)>> {
    sqlx::query_as("SELECT id, total_cents FROM orders WHERE stripe_payment_intent_id = $1")
        .bind(intent)
        .fetch_optional(pool)
        .await
}

/// An order as the API shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    /// The order.
    pub order_id: Uuid,
    /// Where it stands.
    pub status: OrderStatus,
    /// What was (or is being) charged, in cents.
    pub total_cents: i64,
    /// The lines at their frozen prices.
    pub items: Vec<PricedLine>,
    /// Stripe's PaymentIntent id, once there is one.
    pub payment_intent_id: Option<String>,
    /// When the order was placed.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it was paid.
    pub paid_at: Option<chrono::DateTime<chrono::Utc>>,
    /// What was given back so far, in cents (refunds).
    pub refunded_cents: i64,
}

/// Releases every open quote of `user` (not one being charged); returns how many.
pub async fn release_open_quotes(tx: &mut Transaction<'_, Postgres>, user: Uuid) -> sqlx::Result<u64> {
    let open: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM quotes WHERE user_id = $1 AND status = 'open' FOR UPDATE")
        .bind(user)
        .fetch_all(&mut **tx)
        .await?;
    let mut released = 0;
    for quote in open {
        released += u64::from(release_quote(tx, quote).await?);
    }
    Ok(released)
}

/// Releases the units of a quote that still holds them; `false` when it held none.
pub async fn release_quote(tx: &mut Transaction<'_, Postgres>, quote: Uuid) -> sqlx::Result<bool> {
    let released =
        sqlx::query("UPDATE quotes SET status = 'released' WHERE id = $1 AND status IN ('open', 'charging')")
            .bind(quote)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    if released == 0 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE inventory i SET reserved_count = i.reserved_count - q.quantity, updated_at = now()
         FROM quote_items q WHERE q.quote_id = $1 AND i.product_id = q.product_id",
    )
    .bind(quote)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// The statuses of an order whose payment is not settled yet, as an SQL list.
const UNSETTLED: &str = "('pending', 'requires_action')";

/// Marks a pending order as waiting for the shopper's bank (3-D Secure) until `window` from now,
/// and stretches its quote's hold to the same moment, so the reserved stock stays held while the
/// shopper authenticates. Returns the deadline; `None` when the order was no longer pending.
pub async fn await_authentication(
    pool: &PgPool,
    order: Uuid,
    window: std::time::Duration,
) -> sqlx::Result<Option<chrono::DateTime<chrono::Utc>>> {
    let mut tx = pool.begin().await?;
    let marked: Option<(Option<Uuid>, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "UPDATE orders SET status = 'requires_action', updated_at = now(), authentication_requested_at = now(),
                authenticate_by = now() + make_interval(secs => $2)
         WHERE id = $1 AND status = 'pending' RETURNING quote_id, authenticate_by",
    )
    .bind(order)
    .bind(window.as_secs_f64())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((quote, deadline)) = marked else {
        return Ok(None);
    };
    sqlx::query("UPDATE quotes SET expires_at = $2 WHERE id = $1").bind(quote).bind(deadline).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(Some(deadline))
}

/// Marks an unsettled order paid by `intent`: its reservation becomes a stock decrement, its
/// items are written at the quote's frozen prices. `Ok(false)` when the order was already
/// settled (by the other path): nothing changes.
pub async fn settle_paid(pool: &PgPool, order: Uuid, intent: &str) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let quote: Option<Uuid> = sqlx::query_scalar(&format!(
        "UPDATE orders SET status = 'paid', paid_at = now(), updated_at = now(), stripe_payment_intent_id = $2
         WHERE id = $1 AND status IN {UNSETTLED} RETURNING quote_id",
    ))
    .bind(order)
    .bind(intent)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(quote) = quote else {
        return Ok(false);
    };
    sqlx::query(
        "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)
         SELECT $1, product_id, quantity, unit_price_cents FROM quote_items WHERE quote_id = $2",
    )
    .bind(order)
    .bind(quote)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE inventory i SET stock_count = i.stock_count - q.quantity,
                                reserved_count = i.reserved_count - q.quantity, updated_at = now()
         FROM quote_items q WHERE q.quote_id = $1 AND i.product_id = q.product_id",
    )
    .bind(quote)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE quotes SET status = 'consumed' WHERE id = $1").bind(quote).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(true)
}

/// Marks an unsettled order failed and gives its units back. `Ok(false)` when it was settled.
pub async fn settle_failed(pool: &PgPool, order: Uuid, reason: &str) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let quote: Option<Option<Uuid>> = sqlx::query_scalar(&format!(
        "UPDATE orders SET status = 'failed', failure_reason = $2, updated_at = now()
         WHERE id = $1 AND status IN {UNSETTLED} RETURNING quote_id",
    ))
    .bind(order)
    .bind(reason)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(quote) = quote else {
        return Ok(false);
    };
    if let Some(quote) = quote {
        release_quote(&mut tx, quote).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Releases every open quote past its expiry; returns how many.
pub async fn release_expired(pool: &PgPool) -> sqlx::Result<u64> {
    let mut tx = pool.begin().await?;
    let expired: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM quotes WHERE status = 'open' AND expires_at <= now() ORDER BY id LIMIT 500 FOR UPDATE SKIP LOCKED",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut released = 0;
    for quote in expired {
        released += u64::from(release_quote(&mut tx, quote).await?);
    }
    tx.commit().await?;
    Ok(released)
}

/// One order with its lines, if it belongs to `user`.
pub async fn order_view(pool: &PgPool, user: Uuid, order: Uuid) -> sqlx::Result<Option<OrderView>> {
    Ok(orders_of(pool, user, Some(order)).await?.pop())
}

/// A shopper's orders, newest first (or only `only`).
pub async fn orders_of(pool: &PgPool, user: Uuid, only: Option<Uuid>) -> sqlx::Result<Vec<OrderView>> {
    type Row = (
        Uuid,
        OrderStatus,
        i64,
        Option<String>,
        chrono::DateTime<chrono::Utc>,
        Option<chrono::DateTime<chrono::Utc>>,
        Option<Uuid>,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, status, total_cents, stripe_payment_intent_id, created_at, paid_at, quote_id, refunded_cents FROM orders
         WHERE user_id = $1 AND ($2::uuid IS NULL OR id = $2) ORDER BY created_at DESC LIMIT 200",
    )
    .bind(user)
    .bind(only)
    .fetch_all(pool)
    .await?;
    let mut views = Vec::with_capacity(rows.len());
    for (order_id, status, total_cents, payment_intent_id, created_at, paid_at, quote, refunded_cents) in rows {
        // Paid orders (refunded or not) have their own lines; others show what their quote froze.
        let items: Vec<PricedLine> = if paid_at.is_some() {
            sqlx::query_as(
                "SELECT product_id, quantity, unit_price_cents FROM order_items WHERE order_id = $1 ORDER BY product_id",
            )
            .bind(order_id)
            .fetch_all(pool)
            .await?
        } else {
            sqlx::query_as(
                "SELECT product_id, quantity, unit_price_cents FROM quote_items WHERE quote_id = $1 ORDER BY product_id",
            )
            .bind(quote)
            .fetch_all(pool)
            .await?
        };
        views.push(OrderView {
            order_id,
            status,
            total_cents,
            items,
            payment_intent_id,
            created_at,
            paid_at,
            refunded_cents,
        });
    }
    Ok(views)
}
