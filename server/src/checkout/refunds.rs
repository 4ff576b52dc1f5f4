//! Refunds of paid orders: made by an admin through SwiftCart (whole, an amount, or lines, with
//! or without putting the units back in stock), or found at Stripe (a refund made in Stripe's
//! dashboard, reported by the webhook or found by the sweeper). Money is integer cents; a refund
//! never exceeds what is left of the order's payment.
//!
//! An admin refund holds the order's row lock from its checks through Stripe's answer to its
//! record, so two refunds of one order (or a refund and the webhook) never both spend what is left.
//! Stripe is called with an idempotency key made from the order and the admin's Idempotency-Key:
//! a retry after a lost answer refunds once.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::stripe::{IntentStatus, StripeFailure, StripeHub};
use super::CheckoutError;
use app::api::OrderStatus;

/// One line of a refund request: units of a product the order bought.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefundLine {
    /// The product.
    pub product_id: Uuid,
    /// Units given back (at least one).
    pub quantity: i32,
}

/// The body of `POST /api/admin/orders/{id}/refunds`: an amount, or lines, or neither (whatever
/// is left); `restock` puts the refunded lines' units back in stock.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefundRequest {
    /// Cents to give back.
    pub amount_cents: Option<i64>,
    /// Units to give back, at the prices they were bought at.
    pub lines: Option<Vec<RefundLine>>,
    /// Put the units back in stock (with `lines`, or with neither field: every unit not yet
    /// refunded).
    #[serde(default)]
    pub restock: bool,
}

/// Most lines one refund request may name.
pub const MAX_REFUND_LINES: usize = 100;

impl RefundRequest {
    /// Fingerprint of the request, to refuse a replayed Idempotency-Key with another body.
    pub fn fingerprint(&self) -> Vec<u8> {
        let mut hash = Sha256::new();
        hash.update(serde_json::to_vec(&(self.amount_cents, &self.lines, self.restock)).expect("serialisable"));
        hash.finalize().to_vec()
    }
}

/// What a refund was worked out to be, before Stripe is asked.
#[derive(Debug, PartialEq, Eq)]
struct Planned {
    amount_cents: i64,
    /// Units given back, by product (empty for an amount).
    lines: Vec<RefundLine>,
    restock: bool,
}

/// An order line as a refund sees it: bought and already refunded units, and the frozen price.
#[derive(Clone, Debug, sqlx::FromRow)]
struct BoughtLine {
    product_id: Uuid,
    quantity: i32,
    refunded: i64,
    unit_price_cents: i64,
}

/// Works out the refund `request` asks for from what the order bought and what is left of its
/// payment (`left_cents`). Every refusal is a 422 in words an admin can act on.
fn plan(request: &RefundRequest, bought: &[BoughtLine], left_cents: i64) -> Result<Planned, CheckoutError> {
    let refuse = |why: String| Err(CheckoutError::Invalid(why));
    if left_cents <= 0 {
        return Err(CheckoutError::Conflict("this order has been refunded in full: nothing is left to refund"));
    }
    let planned = match (request.amount_cents, &request.lines) {
        (Some(_), Some(_)) => return refuse("give amountCents or lines, not both".into()),
        (Some(_), None) if request.restock => {
            return refuse("restock needs lines: say which units go back in stock".into());
        }
        (Some(amount), None) => {
            if amount <= 0 {
                return refuse("amountCents must be a whole number of cents above 0".into());
            }
            Planned { amount_cents: amount, lines: Vec::new(), restock: false }
        }
        (None, Some(lines)) => {
            if lines.is_empty() || lines.len() > MAX_REFUND_LINES {
                return refuse(format!("lines must name 1 to {MAX_REFUND_LINES} products of the order"));
            }
            let mut amount: i64 = 0;
            for (index, line) in lines.iter().enumerate() {
                if lines[..index].iter().any(|earlier| earlier.product_id == line.product_id) {
                    return refuse(format!("product {} is named twice", line.product_id));
                }
                let Some(bought) = bought.iter().find(|b| b.product_id == line.product_id) else {
                    return refuse(format!("product {} is not in this order", line.product_id));
                };
                let refundable = i64::from(bought.quantity) - bought.refunded;
                if line.quantity <= 0 || i64::from(line.quantity) > refundable {
                    return refuse(format!(
                        "product {}: quantity must be from 1 to {refundable} (the units not refunded yet)",
                        line.product_id
                    ));
                }
                amount += i64::from(line.quantity) * bought.unit_price_cents;
            }
            Planned { amount_cents: amount, lines: lines.clone(), restock: request.restock }
        }
        (None, None) => {
            let lines: Vec<RefundLine> = bought
                .iter()
                .filter(|b| i64::from(b.quantity) > b.refunded)
                .map(|b| RefundLine { product_id: b.product_id, quantity: b.quantity - b.refunded as i32 })
                .collect();
            Planned { amount_cents: left_cents, lines, restock: request.restock }
        }
    };
    if planned.amount_cents > left_cents {
        return refuse(format!(
            "the refund ({} cents) is above what is left of the payment ({left_cents} cents)",
            planned.amount_cents
        ));
    }
    Ok(planned)
}

/// What a refund request ended as.
#[derive(Debug, PartialEq, Eq)]
pub enum Refunded {
    /// Stripe gave the money back and it is recorded.
    Made,
    /// The same Idempotency-Key was already used for this request: nothing more happened.
    Replayed,
}

/// Refunds `order` as `request` asks, once per `idempotency_key`.
pub async fn refund(
    pool: &PgPool,
    stripe: &StripeHub,
    order: Uuid,
    idempotency_key: &str,
    request: &RefundRequest,
) -> Result<Refunded, CheckoutError> {
    let fingerprint = request.fingerprint();
    let mut tx = pool.begin().await?;
    let row: Option<(OrderStatus, i64, i64, Option<String>)> = sqlx::query_as(
        "SELECT status, total_cents, refunded_cents, stripe_payment_intent_id FROM orders WHERE id = $1 FOR UPDATE",
    )
    .bind(order)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((status, total_cents, refunded_cents, intent)) = row else {
        return Err(CheckoutError::NotFound("no such order"));
    };
    let earlier: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT request_hash FROM refunds WHERE order_id = $1 AND idempotency_key = $2")
            .bind(order)
            .bind(idempotency_key)
            .fetch_optional(&mut *tx)
            .await?
            .flatten();
    if let Some(earlier) = earlier {
        return if earlier == fingerprint {
            Ok(Refunded::Replayed)
        } else {
            Err(CheckoutError::Invalid(
                "this Idempotency-Key was already used for a different refund of this order; use a new key".into(),
            ))
        };
    }
    let (true, Some(intent)) = (status.is_refundable(), intent) else {
        return Err(CheckoutError::Conflict("only a paid order can be refunded"));
    };
    let bought: Vec<BoughtLine> = sqlx::query_as(
        "SELECT i.product_id, i.quantity, i.unit_price_cents,
                COALESCE((SELECT sum(l.quantity) FROM refund_lines l JOIN refunds r ON r.id = l.refund_id
                          WHERE r.order_id = i.order_id AND l.product_id = i.product_id), 0)::int8 AS refunded
         FROM order_items i WHERE i.order_id = $1 ORDER BY i.product_id",
    )
    .bind(order)
    .fetch_all(&mut *tx)
    .await?;
    let planned = plan(request, &bought, total_cents - refunded_cents)?;

    let stripe_key = format!("swiftcart-refund-{order}-{}", hex::encode(&Sha256::digest(idempotency_key)[..16]));
    let made = match stripe.refund(&intent, planned.amount_cents, order, stripe_key).await {
        Ok(made) => made,
        Err(StripeFailure::Refused { message }) => {
            return Err(CheckoutError::Refused(format!(
                "Stripe refused the refund: {}. Nothing changed.",
                message.unwrap_or_else(|| "no reason given".into())
            )));
        }
        Err(StripeFailure::Unknown(e)) => {
            // It may have been made: the same Idempotency-Key retried makes it once, and the
            // sweeper records what Stripe did meanwhile.
            return Err(CheckoutError::Unavailable(anyhow::anyhow!("Stripe did not answer a refund: {e}")));
        }
    };
    let refund_id: Uuid = sqlx::query_scalar(
        "INSERT INTO refunds (order_id, source, idempotency_key, request_hash, stripe_refund_id, amount_cents, restocked)
         VALUES ($1, 'admin', $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(order)
    .bind(idempotency_key)
    .bind(&fingerprint)
    .bind(&made.id)
    .bind(planned.amount_cents)
    .bind(planned.restock)
    .fetch_one(&mut *tx)
    .await?;
    for line in &planned.lines {
        sqlx::query("INSERT INTO refund_lines (refund_id, product_id, quantity) VALUES ($1, $2, $3)")
            .bind(refund_id)
            .bind(line.product_id)
            .bind(line.quantity)
            .execute(&mut *tx)
            .await?;
        if planned.restock {
            sqlx::query(
                "UPDATE inventory SET stock_count = stock_count + $2, updated_at = now() WHERE product_id = $1",
            )
            .bind(line.product_id)
            .bind(line.quantity)
            .execute(&mut *tx)
            .await?;
        }
    }
    add_refunded(&mut tx, order, planned.amount_cents).await?;
    if let Err(e) = tx.commit().await {
        // Stripe refunded; the record did not land. The sweeper finds the refund at Stripe.
        tracing::warn!(error = %e, %order, "refund made at Stripe but not recorded; the sweeper will");
        return Err(e.into());
    }
    Ok(Refunded::Made)
}

/// Adds `cents` to an order's refunded sum and moves it to `partially_refunded` or `refunded`.
async fn add_refunded(tx: &mut Transaction<'_, Postgres>, order: Uuid, cents: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE orders SET refunded_cents = refunded_cents + $2, refunds_checked_at = now(), updated_at = now(),
                status = CASE WHEN refunded_cents + $2 >= total_cents THEN 'refunded' ELSE 'partially_refunded' END
         WHERE id = $1",
    )
    .bind(order)
    .bind(cents)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records what Stripe says was refunded of `order` in all (`stripe_refunded_cents`), when that
/// is more than SwiftCart knows: a refund made elsewhere (Stripe's dashboard). Returns whether
/// anything changed.
pub async fn record_found(pool: &PgPool, order: Uuid, stripe_refunded_cents: i64) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let known: Option<i64> = sqlx::query_scalar(
        "SELECT refunded_cents FROM orders WHERE id = $1 AND status IN ('paid', 'partially_refunded') FOR UPDATE",
    )
    .bind(order)
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query("UPDATE orders SET refunds_checked_at = now() WHERE id = $1").bind(order).execute(&mut *tx).await?;
    let missing = known.map_or(0, |known| stripe_refunded_cents - known);
    if missing > 0 {
        sqlx::query("INSERT INTO refunds (order_id, source, amount_cents) VALUES ($1, 'stripe', $2)")
            .bind(order)
            .bind(missing)
            .execute(&mut *tx)
            .await?;
        add_refunded(&mut tx, order, missing).await?;
    }
    tx.commit().await?;
    Ok(missing > 0)
}

/// Asks Stripe about the refunds of up to `batch` paid orders, those checked longest ago first,
/// and records what was refunded elsewhere. Returns how many orders changed.
pub async fn reconcile(pool: &PgPool, stripe: &StripeHub, batch: i64) -> sqlx::Result<u64> {
    let due: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT id, stripe_payment_intent_id FROM orders
         WHERE status IN ('paid', 'partially_refunded') AND stripe_payment_intent_id IS NOT NULL
         ORDER BY refunds_checked_at NULLS FIRST LIMIT $1",
    )
    .bind(batch)
    .fetch_all(pool)
    .await?;
    let mut changed = 0;
    for (order, intent) in due {
        match stripe.retrieve(&intent).await {
            Ok(now) if now.status == IntentStatus::Succeeded => {
                if record_found(pool, order, now.refunded_cents()).await? {
                    changed += 1;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(error = %e, %order, "refund check: Stripe unreachable");
                break;
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bought(product: u128, quantity: i32, refunded: i64, unit_price_cents: i64) -> BoughtLine {
        BoughtLine { product_id: Uuid::from_u128(product), quantity, refunded, unit_price_cents }
    }

    fn lines(lines: &[(u128, i32)]) -> Option<Vec<RefundLine>> {
        Some(lines.iter().map(|&(p, quantity)| RefundLine { product_id: Uuid::from_u128(p), quantity }).collect())
    }

    #[test]
    fn lines_are_refunded_at_their_frozen_prices_and_never_twice() {
        let order = [bought(1, 2, 0, 1_250), bought(2, 1, 0, 999)];
        let planned =
            plan(&RefundRequest { lines: lines(&[(1, 1)]), restock: true, ..Default::default() }, &order, 3_499);
        assert_eq!(planned.unwrap(), Planned { amount_cents: 1_250, lines: lines(&[(1, 1)]).unwrap(), restock: true });
        let after_one = [bought(1, 2, 2, 1_250), bought(2, 1, 0, 999)];
        let again = RefundRequest { lines: lines(&[(1, 1)]), ..Default::default() };
        assert!(plan(&again, &after_one, 999).is_err(), "both units of product 1 were refunded already");
        for bad in [lines(&[(1, 0)]), lines(&[(1, -1)]), lines(&[(3, 1)]), lines(&[(1, 1), (1, 1)]), lines(&[])] {
            assert!(
                plan(&RefundRequest { lines: bad.clone(), ..Default::default() }, &order, 3_499).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn amounts_are_positive_and_never_above_what_is_left() {
        let order = [bought(1, 1, 0, 1_000)];
        let amount = |cents| RefundRequest { amount_cents: Some(cents), ..Default::default() };
        assert_eq!(plan(&amount(400), &order, 1_000).unwrap().amount_cents, 400);
        assert_eq!(plan(&amount(600), &order, 600).unwrap().amount_cents, 600);
        for bad in [0, -5, 601] {
            assert!(plan(&amount(bad), &order, 600).is_err(), "{bad}");
        }
        let both = RefundRequest { amount_cents: Some(1), lines: lines(&[(1, 1)]), restock: false };
        assert!(plan(&both, &order, 1_000).is_err());
        assert!(plan(&RefundRequest { amount_cents: Some(5), restock: true, lines: None }, &order, 1_000).is_err());
        assert!(matches!(plan(&amount(1), &order, 0), Err(CheckoutError::Conflict(_))), "nothing left");
    }

    #[test]
    fn neither_field_refunds_whatever_is_left_with_its_units() {
        let order = [bought(1, 2, 1, 500), bought(2, 1, 0, 700)];
        let planned = plan(&RefundRequest { restock: true, ..Default::default() }, &order, 1_200).unwrap();
        assert_eq!(planned.amount_cents, 1_200);
        assert_eq!(planned.lines, lines(&[(1, 1), (2, 1)]).unwrap());
    }
}
