//! The orders desk's reads: every shopper's orders for admins, newest first, filtered by status
//! and email, and one order in full (lines at frozen prices, refunds, a timeline).

use app::api::OrderStatus;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::ledger::PricedLine;

/// Orders per page of the desk.
pub const DESK_PAGE_SIZE: i64 = 50;

/// One row of the desk's list.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct DeskRow {
    /// The order.
    pub order_id: Uuid,
    /// The shopper's email.
    pub email: String,
    /// Its status.
    pub status: OrderStatus,
    /// What was charged, in cents.
    pub total_cents: i64,
    /// What was given back, in cents.
    pub refunded_cents: i64,
    /// When it was placed.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Which orders the desk lists.
#[derive(Clone, Debug, Default)]
pub struct DeskFilter {
    /// Only this status.
    pub status: Option<OrderStatus>,
    /// Only shoppers whose email contains this (case-insensitive, taken literally).
    pub email: Option<String>,
    /// 1-based page of [`DESK_PAGE_SIZE`] orders.
    pub page: i64,
}

/// A page of the desk: its rows and whether an older page exists.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeskPage {
    /// The orders, newest first.
    pub orders: Vec<DeskRow>,
    /// This page's number.
    pub page: i64,
    /// Whether there are older orders on the next page.
    pub has_more: bool,
}

/// `text` as a literal `ILIKE` pattern part: `%`, `_` and `\` match only themselves.
fn like_literal(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

/// The orders `filter` selects, newest first.
pub async fn list(pool: &PgPool, filter: &DeskFilter) -> sqlx::Result<DeskPage> {
    let email = filter.email.as_deref().map(|e| format!("%{}%", like_literal(&e.to_lowercase())));
    let mut orders: Vec<DeskRow> = sqlx::query_as(
        "SELECT o.id AS order_id, u.email, o.status, o.total_cents, o.refunded_cents, o.created_at
         FROM orders o JOIN users u ON u.id = o.user_id
         WHERE ($1::text IS NULL OR o.status = $1) AND ($2::text IS NULL OR u.email LIKE $2)
         ORDER BY o.created_at DESC, o.id DESC LIMIT $3 OFFSET $4",
    )
    .bind(filter.status.map(OrderStatus::as_str))
    .bind(email)
    .bind(DESK_PAGE_SIZE + 1)
    .bind((filter.page - 1) * DESK_PAGE_SIZE)
    .fetch_all(pool)
    .await?;
    let has_more = orders.len() as i64 > DESK_PAGE_SIZE;
    orders.truncate(DESK_PAGE_SIZE as usize);
    Ok(DeskPage { orders, page: filter.page, has_more })
}

/// One refund of an order.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    /// Cents given back.
    pub amount_cents: i64,
    /// `admin` (through SwiftCart) or `stripe` (found at Stripe: made elsewhere).
    pub source: String,
    /// Whether its units went back in stock.
    pub restocked: bool,
    /// Stripe's refund id, when SwiftCart made it.
    pub stripe_refund_id: Option<String>,
    /// When it was recorded.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// One moment in an order's life.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Moment {
    /// `quoted`, `charged`, `authentication_requested`, `authenticated` (recorded when the payment
    /// settles), `paid`, `failed` or `refunded`.
    pub event: &'static str,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
    /// Cents, for a refund.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_cents: Option<i64>,
}

/// An order in full, for the desk.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeskOrder {
    /// The list row (email, status, totals, time).
    #[serde(flatten)]
    pub row: DeskRow,
    /// Lines at their frozen prices (bought lines once paid; the quote's otherwise).
    pub items: Vec<PricedLine>,
    /// Stripe's PaymentIntent id.
    pub payment_intent_id: Option<String>,
    /// Why it failed, for a failed order.
    pub failure_reason: Option<String>,
    /// Its refunds, oldest first.
    pub refunds: Vec<RefundView>,
    /// What happened when, oldest first.
    pub timeline: Vec<Moment>,
}

/// An order as the desk reads it: its list row and its moments, in one query.
#[derive(sqlx::FromRow)]
struct OrderRecord {
    #[sqlx(flatten)]
    row: DeskRow,
    stripe_payment_intent_id: Option<String>,
    failure_reason: Option<String>,
    quoted_at: Option<chrono::DateTime<chrono::Utc>>,
    authentication_requested_at: Option<chrono::DateTime<chrono::Utc>>,
    paid_at: Option<chrono::DateTime<chrono::Utc>>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

/// One order in full; `None` if there is no such order.
pub async fn order(pool: &PgPool, order: Uuid) -> sqlx::Result<Option<DeskOrder>> {
    let record: Option<OrderRecord> = sqlx::query_as(
        "SELECT o.id AS order_id, u.email, o.status, o.total_cents, o.refunded_cents, o.created_at,
                o.stripe_payment_intent_id, o.failure_reason, q.created_at AS quoted_at,
                o.authentication_requested_at, o.paid_at, o.updated_at
         FROM orders o JOIN users u ON u.id = o.user_id LEFT JOIN quotes q ON q.id = o.quote_id WHERE o.id = $1",
    )
    .bind(order)
    .fetch_optional(pool)
    .await?;
    let Some(OrderRecord {
        row,
        stripe_payment_intent_id: intent,
        failure_reason,
        quoted_at,
        authentication_requested_at,
        paid_at,
        updated_at,
    }) = record
    else {
        return Ok(None);
    };
    let charged_at = row.created_at;
    let items: Vec<PricedLine> = sqlx::query_as(
        "SELECT product_id, quantity, unit_price_cents FROM order_items WHERE order_id = $1
         UNION ALL
         SELECT q.product_id, q.quantity, q.unit_price_cents FROM quote_items q JOIN orders o ON o.quote_id = q.quote_id
         WHERE o.id = $1 AND NOT EXISTS (SELECT 1 FROM order_items WHERE order_id = $1)
         ORDER BY product_id",
    )
    .bind(order)
    .fetch_all(pool)
    .await?;
    let refunds: Vec<RefundView> = sqlx::query_as(
        "SELECT amount_cents, source, restocked, stripe_refund_id, created_at FROM refunds WHERE order_id = $1
         ORDER BY created_at",
    )
    .bind(order)
    .fetch_all(pool)
    .await?;
    let moment = |event, at| Moment { event, at, amount_cents: None };
    let mut timeline: Vec<Moment> = quoted_at.map(|at| moment("quoted", at)).into_iter().collect();
    timeline.push(moment("charged", charged_at));
    if let Some(at) = authentication_requested_at {
        timeline.push(moment("authentication_requested", at));
    }
    if let Some(at) = paid_at {
        // The bank's confirmation is learnt from Stripe when the payment settles.
        if authentication_requested_at.is_some() {
            timeline.push(moment("authenticated", at));
        }
        timeline.push(moment("paid", at));
    }
    if row.status == OrderStatus::Failed {
        timeline.push(moment("failed", updated_at));
    }
    timeline.extend(refunds.iter().map(|r| Moment {
        event: "refunded",
        at: r.created_at,
        amount_cents: Some(r.amount_cents),
    }));
    Ok(Some(DeskOrder { row, items, payment_intent_id: intent, failure_reason, refunds, timeline }))
}

#[cfg(test)]
mod tests {
    use super::like_literal;

    #[test]
    fn email_filters_match_their_text_literally() {
        assert_eq!(like_literal("a_b%c\\d"), "a\\_b\\%c\\\\d");
        assert_eq!(like_literal("pilot@swiftcart.test"), "pilot@swiftcart.test");
    }
}
