//! Hyperdrive checkout: a quote freezes prices and reserves stock atomically across Redis and
//! PostgreSQL; a charge pays exactly the quote through Stripe and records the order, or
//! compensates and answers a Temporal Paradox with its reason.
//!
//! The order of a charge, and what makes each failure safe:
//! 1. the quote moves to `charging` and a `pending` order is written (one transaction);
//! 2. an unconfirmed PaymentIntent is created and its id stored on the order (nothing charged);
//! 3. the intent is confirmed (the only step that takes money);
//! 4. the order is settled paid (reservation becomes a stock decrement) or failed (reservation
//!    released, intent canceled).
//!
//! When the shopper's bank asks for authentication (3-D Secure), step 3 answers `requires_action`:
//! the order waits in that state, its quote's hold stretched to the authentication window, while
//! Stripe.js runs the bank's check in the page. The page then asks the server to settle the order
//! ([`Hyperdrive::settle_from_stripe`]), the webhook may do the same, and the sweeper cancels what
//! is left past the window; all three settle from the intent as Stripe reports it, once.
//!
//! A crash or outage between 3 and 4 leaves a `pending` order with its intent id: the
//! [`sweeper`] (at start and every few seconds, on every node) asks Stripe and settles it, as does
//! the webhook. No order is ever paid without being recorded, or recorded without being paid.

/// The orders desk's reads (admins).
pub mod desk;
/// What checkout and refunds fail with.
pub mod error;
/// Requests that must happen once: Idempotency-Keys and Stripe events.
pub mod idempotency;
/// PostgreSQL transitions of stock, quotes and orders.
pub mod ledger;
/// Refunds: by admins through SwiftCart, or found at Stripe.
pub mod refunds;
/// StripeHub: the only module that talks to Stripe.
pub mod stripe;
/// The background pass: expired quotes and orders left pending.
pub mod sweeper;

use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

pub use self::error::CheckoutError;
use self::ledger::{OrderView, PricedLine, QuoteStatus};
use self::stripe::{ClientSecret, Intent, IntentStatus, StripeFailure, StripeHub};
use crate::auth::throttle::KeyedLimit;
use crate::auth::Subject;
use crate::cart::CartStore;
use crate::redis_pool::RedisStore;
use app::api::OrderStatus;
use physics_worker::wire::Reason;

/// How many times a quote re-reads prices when the watched product state moved under it.
pub const MAX_WATCH_ATTEMPTS: usize = 8;

/// How long a confirmed payment's recording is retried before the sweeper takes over.
pub const SETTLE_RETRY_FOR: Duration = Duration::from_secs(6);

/// A quote as the API answers it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Quote {
    /// The quote.
    pub quote_id: Uuid,
    /// Lines at their frozen prices.
    pub items: Vec<PricedLine>,
    /// Sum of the lines, in cents.
    pub total_cents: i64,
    /// Until when prices are frozen and stock held.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// The body of `POST /api/checkout`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChargeRequest {
    /// The quote to pay.
    pub quote_id: Uuid,
    /// What Stripe.js made of the card in the browser: a PaymentMethod id (`pm_…`), or the id of
    /// a tokenized card (`card_…`), which Stripe also accepts as a payment method.
    pub payment_method_id: String,
}

impl ChargeRequest {
    /// Fingerprint of the request, to refuse a replayed Idempotency-Key with another body.
    pub fn fingerprint(&self) -> Vec<u8> {
        let mut hash = Sha256::new();
        hash.update(self.quote_id.as_bytes());
        hash.update(self.payment_method_id.as_bytes());
        hash.finalize().to_vec()
    }

    /// Refuses anything that is not a Stripe payment method id, before anything is recorded.
    pub fn validate(&self) -> Result<(), CheckoutError> {
        let id = &self.payment_method_id;
        let well_formed = id.len() <= 255
            && ["pm_", "card_"].iter().any(|prefix| {
                id.strip_prefix(prefix).is_some_and(|rest| {
                    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                })
            });
        // The value itself is never echoed or logged: it might be something that is not ours to keep.
        well_formed.then_some(()).ok_or_else(|| {
            CheckoutError::Invalid(
                "paymentMethodId must be a Stripe payment method id (pm_… or card_…) made by Stripe.js; card details never go to this server".into(),
            )
        })
    }
}

/// What a charge ended as.
#[derive(Debug)]
pub enum Charged {
    /// Paid and recorded.
    Paid(OrderView),
    /// Paid (or possibly paid) but not yet recorded; the sweeper finishes it.
    Pending(OrderView),
    /// The shopper's bank asks for authentication: the page runs it with `client_secret` before
    /// `authenticate_by`, then asks for the order to be settled.
    NeedsAuthentication {
        /// The order, `requires_action`.
        order: OrderView,
        /// For Stripe.js in the shopper's page only.
        client_secret: ClientSecret,
        /// The end of the authentication window: the stock is held until then.
        authenticate_by: chrono::DateTime<chrono::Utc>,
    },
}

/// Checkout: quotes and charges.
#[derive(Clone)]
pub struct Hyperdrive {
    pool: PgPool,
    redis: RedisStore,
    carts: CartStore,
    /// The Stripe client.
    pub stripe: StripeHub,
    quote_ttl: Duration,
    /// How long an order waits for the shopper's bank (3-D Secure) with its stock held.
    auth_window: Duration,
    /// Quotes per shopper and minute (each one locks stock rows and replaces the last).
    quote_rate: Arc<KeyedLimit<Uuid>>,
    /// Settlement requests per shopper (each one asks Stripe).
    settle_rate: Arc<KeyedLimit<Uuid>>,
}

/// Quotes one shopper may ask for at once…
pub const QUOTE_BURST: u32 = 10;
/// …then one more every this long (10 a minute).
pub const QUOTE_REFILL: Duration = Duration::from_secs(6);

/// Settlement requests one shopper may make at once…
pub const SETTLE_BURST: u32 = 10;
/// …then one more every this long.
pub const SETTLE_REFILL: Duration = Duration::from_secs(2);

impl Hyperdrive {
    /// Checkout over these stores; quotes live `quote_ttl`, and an order waits `auth_window` for
    /// the shopper's bank.
    pub fn new(
        pool: PgPool,
        redis: RedisStore,
        carts: CartStore,
        stripe: StripeHub,
        quote_ttl: Duration,
        auth_window: Duration,
    ) -> Self {
        let quote_rate = Arc::new(KeyedLimit::new(QUOTE_BURST, QUOTE_REFILL));
        let settle_rate = Arc::new(KeyedLimit::new(SETTLE_BURST, SETTLE_REFILL));
        Self { pool, redis, carts, stripe, quote_ttl, auth_window, quote_rate, settle_rate }
    }

    /// PostgreSQL (for the sweeper and the webhook).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Releases `user`'s open quote (the shopper left the warp), so its stock goes back now
    /// rather than when the quote expires, and calls off a bank check the shopper walked away
    /// from (its intent canceled at Stripe, its order failed, its stock back). Returns how many
    /// holds were released. A quote being charged otherwise is left to its charge.
    pub async fn release_open(&self, user: Uuid) -> Result<u64, CheckoutError> {
        let mut tx = self.pool.begin().await?;
        let mut released = ledger::release_open_quotes(&mut tx, user).await?;
        tx.commit().await?;
        let awaiting: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT id, stripe_payment_intent_id FROM orders
             WHERE user_id = $1 AND status = 'requires_action' AND stripe_payment_intent_id IS NOT NULL",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        for (order, intent) in awaiting {
            if self.call_off(order, &intent, "authentication_abandoned").await? {
                released += 1;
            }
        }
        Ok(released)
    }

    /// Calls off an intent still waiting (for its confirmation, or for the shopper's bank): cancels
    /// it at Stripe and, only once Stripe says it can take no money, fails the order with `reason`
    /// and gives its stock back. `Ok(true)` when this call failed the order; a payment completed at
    /// that very moment is left to be recorded paid.
    pub async fn call_off(&self, order: Uuid, intent: &str, reason: &str) -> sqlx::Result<bool> {
        let canceled = self.stripe.cancel(intent).await.is_ok_and(|now| now.is_dead());
        Ok(canceled && ledger::settle_failed(&self.pool, order, reason).await?)
    }

    /// Freezes the prices of `user`'s cart and reserves its stock, all or nothing. Replaces the
    /// shopper's earlier open quote, if any. One shopper holds at most [`MAX_UNITS_PER_QUOTE`]
    /// units at once, [`MAX_UNITS_OF_ONE_PRODUCT`] of any product (422 beyond), and asks for
    /// at most [`QUOTE_BURST`] quotes at once, then one per [`QUOTE_REFILL`] (429 beyond).
    pub async fn quote(&self, user: Uuid, sub: Subject) -> Result<Quote, CheckoutError> {
        self.quote_rate.take(&user).map_err(CheckoutError::RateLimited)?;
        let mut cart = self.carts.get(sub).await.map_err(|_| {
            CheckoutError::paradox(Reason::StateLost, "your cart orbit could not be read; please retry")
        })?;
        if cart.is_empty() {
            return Err(CheckoutError::Invalid("your cart is empty: beam a product into your cart orbit first".into()));
        }
        check_hold_limits(&cart)?;
        // One lock order for every transaction: no deadlocks between shoppers.
        cart.sort_by_key(|line| line.product_id);

        let mut tx = self.pool.begin().await?;
        ledger::release_open_quotes(&mut tx, user).await?;
        for line in &cart {
            // Conditional: never more reserved than in stock, so no oversell whatever the race.
            let reserved = sqlx::query(
                "UPDATE inventory SET reserved_count = reserved_count + $2, updated_at = now()
                 WHERE product_id = $1 AND stock_count - reserved_count >= $2
                   AND EXISTS (SELECT 1 FROM products WHERE id = $1 AND retired_at IS NULL)",
            )
            .bind(line.product_id)
            .bind(line.quantity as i32)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if reserved == 0 {
                // Dropping the transaction rolls back every reservation made so far.
                return Err(CheckoutError::paradox(
                    Reason::OutOfStock,
                    format!("not enough stock left for product {}; nothing was reserved", line.product_id),
                ));
            }
        }
        let products: Vec<Uuid> = cart.iter().map(|line| line.product_id).collect();
        let prices = self.read_prices_watched(&products).await?;

        let items: Vec<PricedLine> = cart
            .iter()
            .zip(prices)
            .map(|(line, price)| PricedLine {
                product_id: line.product_id,
                quantity: line.quantity as i32,
                unit_price_cents: price,
            })
            .collect();
        let total_cents = items.iter().map(|i| i.unit_price_cents * i64::from(i.quantity)).sum();
        let ttl_ms = self.quote_ttl.as_millis() as i64;
        let (quote_id, expires_at): (Uuid, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
            "INSERT INTO quotes (user_id, total_cents, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3::float8 / 1000))
             RETURNING id, expires_at",
        )
        .bind(user)
        .bind(total_cents)
        .bind(ttl_ms as f64)
        .fetch_one(&mut *tx)
        .await?;
        for item in &items {
            sqlx::query(
                "INSERT INTO quote_items (quote_id, product_id, quantity, unit_price_cents) VALUES ($1, $2, $3, $4)",
            )
            .bind(quote_id)
            .bind(item.product_id)
            .bind(item.quantity)
            .bind(item.unit_price_cents)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Quote { quote_id, items, total_cents, expires_at })
    }

    /// Reads `price_current` of every product as one consistent snapshot: under `WATCH` on their
    /// state hashes, confirmed by an empty `MULTI`/`EXEC` that fails if any of them was written in
    /// between. Retries [`MAX_WATCH_ATTEMPTS`] times, then answers a paradox (`conflict`).
    async fn read_prices_watched(&self, products: &[Uuid]) -> Result<Vec<i64>, CheckoutError> {
        let state_lost =
            || CheckoutError::paradox(Reason::StateLost, "the live prices could not be read; please retry");
        let mut conn = self.redis.conn().await.map_err(|_| state_lost())?;
        let keys: Vec<String> = products.iter().map(|p| self.redis.keys.product_state(*p)).collect();
        for _ in 0..MAX_WATCH_ATTEMPTS {
            let attempt = async {
                redis::cmd("WATCH").arg(&keys).query_async::<()>(&mut conn).await?;
                let mut read = redis::pipe();
                for key in &keys {
                    read.cmd("HGET").arg(key).arg("price_current");
                }
                let prices: Vec<Option<i64>> = read.query_async(&mut conn).await?;
                redis::cmd("MULTI").query_async::<()>(&mut conn).await?;
                let committed: Option<Vec<redis::Value>> = redis::cmd("EXEC").query_async(&mut conn).await?;
                Ok::<_, redis::RedisError>(committed.map(|_| prices))
            };
            match attempt.await {
                Ok(Some(prices)) => {
                    return prices.into_iter().collect::<Option<Vec<i64>>>().ok_or_else(|| {
                        CheckoutError::paradox(
                            Reason::StateLost,
                            "a product's live state was lost and is being rebuilt; please retry",
                        )
                    });
                }
                Ok(None) => continue, // a tick wrote the state in between: read again
                Err(e) => {
                    tracing::warn!(error = %e, "quote: Redis read failed");
                    let _ = redis::cmd("DISCARD").query_async::<()>(&mut conn).await;
                    let _ = redis::cmd("UNWATCH").query_async::<()>(&mut conn).await;
                    return Err(state_lost());
                }
            }
        }
        Err(CheckoutError::paradox(Reason::Conflict, "prices kept moving while they were being frozen; please retry"))
    }

    /// Pays `request.quote_id` for `user`. See the module documentation for the steps.
    pub async fn charge(
        &self,
        user: Uuid,
        sub: Subject,
        request: &ChargeRequest,
        idempotency: &str,
    ) -> Result<Charged, CheckoutError> {
        let order = self.open_order(user, request.quote_id, idempotency).await?;
        let (order_id, total) = order;

        let intent = match self.stripe.create_intent(total, &request.payment_method_id, order_id).await {
            Ok(intent) => intent,
            Err(failure) => {
                // No intent was confirmed, so no money moved.
                return self.conclude_refused(user, sub, order_id, payment_paradox(failure)).await;
            }
        };
        let stored = sqlx::query("UPDATE orders SET stripe_payment_intent_id = $2, updated_at = now() WHERE id = $1")
            .bind(order_id)
            .bind(&intent.id)
            .execute(&self.pool)
            .await;
        if let Err(e) = stored {
            // Without its id on the order the intent must never be confirmed: cancel it. The
            // sweeper fails the order (and frees its stock) once PostgreSQL is back.
            tracing::warn!(error = %e, order = %order_id, "checkout: could not record the intent; canceling it");
            let _ = self.stripe.cancel(&intent.id).await;
            return Err(CheckoutError::paradox(
                Reason::StateLost,
                "the order could not be recorded; nothing was charged",
            ));
        }

        match self.stripe.confirm(&intent.id, order_id).await {
            Ok(confirmed) if confirmed.is_paid() => self.record_paid(user, sub, order_id, total, &confirmed.id).await,
            Ok(confirmed) if confirmed.needs_authentication() => {
                self.await_bank(user, sub, order_id, total, confirmed).await
            }
            Ok(other) => {
                let _ = self.stripe.cancel(&other.id).await;
                let paradox = CheckoutError::paradox(
                    Reason::PaymentFailed,
                    format!("the payment did not complete ({}); nothing was charged", other.status),
                );
                self.conclude_refused(user, sub, order_id, paradox).await
            }
            Err(StripeFailure::Refused { message }) => {
                let message = match message {
                    Some(message) => message,
                    None => self
                        .stripe
                        .retrieve(&intent.id)
                        .await
                        .ok()
                        .and_then(|i| i.failure_message())
                        .unwrap_or_else(|| "The payment was refused.".into()),
                };
                let _ = self.stripe.cancel(&intent.id).await;
                let paradox = CheckoutError::paradox(
                    Reason::PaymentFailed,
                    format!("{message} Nothing was charged; your cart and its stock are as they were."),
                );
                self.conclude_refused(user, sub, order_id, paradox).await
            }
            Err(StripeFailure::Unknown(e)) => {
                // Did the confirmation land? Ask once; the sweeper keeps asking if Stripe is away.
                tracing::warn!(error = %e, order = %order_id, "checkout: confirmation outcome unknown");
                match self.stripe.retrieve(&intent.id).await {
                    Ok(now) if now.is_paid() => self.record_paid(user, sub, order_id, total, &now.id).await,
                    Ok(now) if now.status == IntentStatus::RequiresConfirmation || now.is_dead() => {
                        let _ = self.stripe.cancel(&now.id).await;
                        let paradox = CheckoutError::paradox(
                            Reason::PaymentFailed,
                            "the payment service did not answer in time; nothing was charged",
                        );
                        self.conclude_refused(user, sub, order_id, paradox).await
                    }
                    _ => Ok(Charged::Pending(self.pending_view(user, order_id, total).await)),
                }
            }
        }
    }

    /// The bank wants the shopper to authenticate: the order waits for it with its stock held, and
    /// the page gets the intent's client secret to run Stripe.js's check.
    async fn await_bank(
        &self,
        user: Uuid,
        sub: Subject,
        order: Uuid,
        total: i64,
        intent: Intent,
    ) -> Result<Charged, CheckoutError> {
        let Some(client_secret) = intent.client_secret.clone() else {
            let _ = self.stripe.cancel(&intent.id).await;
            let paradox = CheckoutError::paradox(
                Reason::PaymentFailed,
                "your bank asked for a confirmation that could not be started; nothing was charged",
            );
            return self.conclude_refused(user, sub, order, paradox).await;
        };
        match ledger::await_authentication(&self.pool, order, self.auth_window).await {
            Ok(Some(authenticate_by)) => Ok(Charged::NeedsAuthentication {
                order: self.pending_view(user, order, total).await,
                client_secret,
                authenticate_by,
            }),
            // Settled meanwhile by the sweeper or the webhook: that is the answer.
            Ok(None) => self.settled(user, sub, order).await,
            Err(e) => {
                // Unrecorded, the wait could not be settled later: call it off now.
                tracing::warn!(error = %e, %order, "checkout: could not record the wait for authentication");
                let _ = self.stripe.cancel(&intent.id).await;
                let paradox =
                    CheckoutError::paradox(Reason::StateLost, "the order could not be recorded; nothing was charged");
                self.conclude_refused(user, sub, order, paradox).await
            }
        }
    }

    /// Settles `user`'s `order` from its intent as Stripe reports it now: the page's follow-up
    /// after the bank's check (and a replayed checkout request). Idempotent: a settled order
    /// answers as it stands. Stripe unreachable leaves the order as it is, for the sweeper.
    pub async fn settle_from_stripe(&self, user: Uuid, sub: Subject, order: Uuid) -> Result<Charged, CheckoutError> {
        self.settle_rate.take(&user).map_err(CheckoutError::RateLimited)?;
        let row: Option<PaymentRow> = sqlx::query_as(
            "SELECT status, stripe_payment_intent_id, total_cents, authenticate_by FROM orders WHERE id = $1 AND user_id = $2",
        )
        .bind(order)
        .bind(user)
        .fetch_optional(&self.pool)
        .await?;
        let Some(PaymentRow { status, stripe_payment_intent_id: intent_id, total_cents: total, authenticate_by }) = row
        else {
            return Err(CheckoutError::NotFound("no such order"));
        };
        if !matches!(status, OrderStatus::Pending | OrderStatus::RequiresAction) {
            return self.settled(user, sub, order).await;
        }
        let Some(intent_id) = intent_id else {
            return Ok(Charged::Pending(self.pending_view(user, order, total).await));
        };
        let intent = match self.stripe.retrieve(&intent_id).await {
            Ok(intent) if intent.belongs_to(order, total) => intent,
            Ok(intent) => {
                tracing::warn!(%order, intent = %intent.id, "checkout: the intent does not match its order");
                return Err(CheckoutError::paradox(
                    Reason::StateLost,
                    "the payment could not be matched to this order; nothing more was charged",
                ));
            }
            Err(e) => {
                tracing::warn!(error = %e, %order, "checkout: Stripe unreachable while settling; the sweeper will");
                return Ok(Charged::Pending(self.pending_view(user, order, total).await));
            }
        };
        if intent.is_paid() {
            return self.record_paid(user, sub, order, total, &intent.id).await;
        }
        if intent.is_dead() {
            return self.conclude_refused_for(user, sub, order, "authentication_failed", bank_refused()).await;
        }
        match (intent.needs_authentication(), intent.client_secret, authenticate_by) {
            (true, Some(client_secret), Some(authenticate_by)) if status == OrderStatus::RequiresAction => {
                Ok(Charged::NeedsAuthentication {
                    order: self.pending_view(user, order, total).await,
                    client_secret,
                    authenticate_by,
                })
            }
            // Still on its way at Stripe (processing): the webhook or the sweeper settles it.
            _ => Ok(Charged::Pending(self.pending_view(user, order, total).await)),
        }
    }

    /// The answer for an order that is already settled: paid (its items leave the cart orbit) or
    /// the paradox of a payment that did not go through.
    async fn settled(&self, user: Uuid, sub: Subject, order: Uuid) -> Result<Charged, CheckoutError> {
        match ledger::order_view(&self.pool, user, order).await? {
            Some(view) if view.status == OrderStatus::Failed => Err(CheckoutError::paradox(
                Reason::PaymentFailed,
                "the payment did not go through; nothing was charged and the stock went back",
            )),
            Some(view) if matches!(view.status, OrderStatus::Pending | OrderStatus::RequiresAction) => {
                Ok(Charged::Pending(view))
            }
            Some(view) => Ok(self.paid(sub, view).await),
            None => Err(CheckoutError::NotFound("no such order")),
        }
    }

    /// Writes the quote's `charging` state and a `pending` order; returns (order id, total).
    async fn open_order(&self, user: Uuid, quote: Uuid, idempotency: &str) -> Result<(Uuid, i64), CheckoutError> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(QuoteStatus, bool, i64)> = sqlx::query_as(
            "SELECT status, expires_at <= now(), total_cents FROM quotes WHERE id = $1 AND user_id = $2 FOR UPDATE",
        )
        .bind(quote)
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((status, expired, total)) = row else {
            return Err(CheckoutError::NotFound("no such quote: ask for a quote first"));
        };
        match (status, expired) {
            (QuoteStatus::Open, false) => {}
            (QuoteStatus::Open, true) => {
                ledger::release_quote(&mut tx, quote).await?;
                tx.commit().await?;
                return Err(expired_paradox());
            }
            (QuoteStatus::Released, _) => return Err(expired_paradox()),
            (QuoteStatus::Charging | QuoteStatus::Consumed, _) => {
                return Err(CheckoutError::paradox(Reason::Conflict, "this quote is already being paid or was paid"))
            }
        }
        sqlx::query("UPDATE quotes SET status = 'charging' WHERE id = $1").bind(quote).execute(&mut *tx).await?;
        let order: Uuid = sqlx::query_scalar(
            "INSERT INTO orders (user_id, status, total_cents, quote_id) VALUES ($1, 'pending', $2, $3) RETURNING id",
        )
        .bind(user)
        .bind(total)
        .bind(quote)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE checkout_requests SET order_id = $3 WHERE user_id = $1 AND idempotency_key = $2")
            .bind(user)
            .bind(idempotency)
            .bind(order)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((order, total))
    }

    /// Records a confirmed payment, retrying through a short outage; after that the sweeper does.
    async fn record_paid(
        &self,
        user: Uuid,
        sub: Subject,
        order: Uuid,
        total: i64,
        intent: &str,
    ) -> Result<Charged, CheckoutError> {
        let started = std::time::Instant::now();
        loop {
            match ledger::settle_paid(&self.pool, order, intent).await {
                Ok(_) => break,
                Err(e) if started.elapsed() < SETTLE_RETRY_FOR => {
                    tracing::warn!(error = %e, order = %order, "checkout: recording a paid order failed; retrying");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, order = %order, "checkout: paid order left for the sweeper");
                    return Ok(Charged::Pending(self.pending_view(user, order, total).await));
                }
            }
        }
        let view =
            ledger::order_view(&self.pool, user, order).await?.ok_or(CheckoutError::NotFound("no such order"))?;
        Ok(self.paid(sub, view).await)
    }

    /// A paid order's answer; its items leave the cart orbit.
    async fn paid(&self, sub: Subject, view: OrderView) -> Charged {
        for item in &view.items {
            if let Err(e) = self.carts.remove(sub, item.product_id).await {
                tracing::warn!(error = %e, "checkout: could not clear a bought item from the cart orbit");
            }
        }
        Charged::Paid(view)
    }

    /// Ends a charge whose payment did not go through: fails the pending order (its stock goes
    /// back) and answers `paradox`. Settling is one conditional transition, so if the webhook or
    /// the sweeper settled the order first from what Stripe reported, that is the answer.
    async fn conclude_refused(
        &self,
        user: Uuid,
        sub: Subject,
        order: Uuid,
        paradox: CheckoutError,
    ) -> Result<Charged, CheckoutError> {
        self.conclude_refused_for(user, sub, order, "payment_failed", paradox).await
    }

    /// [`Hyperdrive::conclude_refused`] recording `reason` as the order's failure reason.
    async fn conclude_refused_for(
        &self,
        user: Uuid,
        sub: Subject,
        order: Uuid,
        reason: &str,
        paradox: CheckoutError,
    ) -> Result<Charged, CheckoutError> {
        if ledger::settle_failed(&self.pool, order, reason).await? {
            return Err(paradox);
        }
        match ledger::order_view(&self.pool, user, order).await? {
            Some(view) if view.status == OrderStatus::Paid => {
                tracing::warn!(order = %order, "checkout: the order was settled paid before this charge concluded");
                Ok(self.paid(sub, view).await)
            }
            _ => Err(paradox),
        }
    }

    /// What the shopper is told about an order whose payment is still being recorded: the order
    /// as stored, or (PostgreSQL away) what this request knows of it.
    async fn pending_view(&self, user: Uuid, order: Uuid, total_cents: i64) -> OrderView {
        match ledger::order_view(&self.pool, user, order).await {
            Ok(Some(view)) => view,
            _ => OrderView {
                order_id: order,
                status: OrderStatus::Pending,
                total_cents,
                items: Vec::new(),
                payment_intent_id: None,
                created_at: chrono::Utc::now(),
                paid_at: None,
                refunded_cents: 0,
            },
        }
    }
}

/// What settling an order reads of it.
#[derive(sqlx::FromRow)]
struct PaymentRow {
    status: OrderStatus,
    stripe_payment_intent_id: Option<String>,
    total_cents: i64,
    authenticate_by: Option<chrono::DateTime<chrono::Utc>>,
}

/// The paradox of a payment the shopper's bank did not confirm (3-D Secure failed or abandoned).
fn bank_refused() -> CheckoutError {
    CheckoutError::paradox(
        Reason::PaymentFailed,
        "your bank did not confirm the payment. Nothing was charged; your cart and its stock are as they were.",
    )
}

fn expired_paradox() -> CheckoutError {
    CheckoutError::paradox(
        Reason::QuoteExpired,
        "the frozen prices expired and the stock went back; ask for a new quote",
    )
}

fn payment_paradox(failure: StripeFailure) -> CheckoutError {
    match failure {
        StripeFailure::Refused { message } => CheckoutError::paradox(
            Reason::PaymentFailed,
            format!("{} Nothing was charged.", message.unwrap_or_else(|| "The payment method was refused.".into())),
        ),
        StripeFailure::Unknown(e) => {
            tracing::warn!(error = %e, "checkout: Stripe unreachable");
            CheckoutError::paradox(Reason::PaymentFailed, "the payment service is unreachable; nothing was charged")
        }
    }
}

/// Most units one shopper's quote reserves at once: a free account cannot hold a product's whole
/// stock out of everyone's reach.
pub const MAX_UNITS_PER_QUOTE: u32 = 20;
/// Most units of one product in one quote.
pub const MAX_UNITS_OF_ONE_PRODUCT: u32 = 10;

/// Whether a cart is within what one quote may hold.
fn check_hold_limits(cart: &[crate::cart::CartLine]) -> Result<(), CheckoutError> {
    let total: u32 = cart.iter().map(|line| line.quantity).sum();
    if cart.iter().any(|line| line.quantity > MAX_UNITS_OF_ONE_PRODUCT) {
        return Err(CheckoutError::Invalid(format!(
            "a checkout holds at most {MAX_UNITS_OF_ONE_PRODUCT} units of one product; lower it in your cart orbit"
        )));
    }
    if total > MAX_UNITS_PER_QUOTE {
        return Err(CheckoutError::Invalid(format!(
            "a checkout holds at most {MAX_UNITS_PER_QUOTE} units at once; remove some from your cart orbit"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(payment_method_id: &str) -> ChargeRequest {
        ChargeRequest { quote_id: Uuid::nil(), payment_method_id: payment_method_id.into() }
    }

    #[test]
    fn only_stripe_payment_method_ids_are_accepted() {
        for ok in ["pm_card_visa", "pm_1Abc", "card_9xYz"] {
            assert!(request(ok).validate().is_ok(), "{ok}");
        }
        for bad in ["4242424242424242", "pm_", "card_", "tok_abc", "pm_a-b", "src_abc", ""] {
            assert!(request(bad).validate().is_err(), "{bad}");
        }
    }
}
