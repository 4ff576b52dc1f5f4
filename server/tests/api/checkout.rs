//! Hyperdrive checkout against the real PostgreSQL, Redis and localstripe (CONTRACT.md, checkout
//! rows): frozen prices, atomic reservations, idempotent charges, compensation, the webhook and
//! the sweeper.

use std::time::Duration;

use deadpool_redis::redis;
use serde_json::{json, Value};
use swiftcart::auth::Role;
use swiftcart::checkout::stripe::sign;
use swiftcart::checkout::sweeper::{sweep, SweepRules};
use uuid::Uuid;

/// 3-D Secure: authentication in the warp, settled once.
mod authentication;
/// Refunds and the orders desk.
mod refunds;

use crate::helpers::{eventually, spawn_app, spawn_app_with, Options, PrivateRedis, TestApp, ToggleProxy};

/// A card that pays (localstripe's test PaymentMethod).
const CARD_OK: &str = "pm_card_visa";
/// A card declined when charged (TOOLCHAIN.md).
const CARD_DECLINED: &str = "pm_card_chargeCustomerFail";

impl TestApp {
    async fn quote(&self, token: &str) -> (u16, Value) {
        let response = self.post_json("/api/checkout/quote", Some(token), json!({})).await;
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn pay(&self, token: &str, key: Option<&str>, quote: &str, card: &str) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/api/checkout", self.address))
            // Many charges at once queue at localstripe (one Python process): allow for it.
            .timeout(Duration::from_secs(60))
            .bearer_auth(token)
            .json(&json!({ "quoteId": quote, "paymentMethodId": card }));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// (stock_count, reserved_count) of a product.
    async fn inventory(&self, product: Uuid) -> (i32, i32) {
        sqlx::query_as("SELECT stock_count, reserved_count FROM inventory WHERE product_id = $1")
            .bind(product)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn set_stock(&self, product: Uuid, stock: i32) {
        sqlx::query("UPDATE inventory SET stock_count = $2, reserved_count = 0 WHERE product_id = $1")
            .bind(product)
            .bind(stock)
            .execute(&self.pool)
            .await
            .unwrap();
    }

    async fn live_price(&self, product: Uuid) -> Option<i64> {
        let mut conn = self.redis.get().await.unwrap();
        redis::cmd("HGET")
            .arg(self.keys.product_state(product))
            .arg("price_current")
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    /// A new shopper with `quantity` of `product` (whose stock is set to `stock`) in the cart,
    /// quoted: (user id, token, quote).
    async fn quoted_shopper(&self, product: Uuid, stock: i32, quantity: u32) -> (Uuid, String, Value) {
        let (user, token) = self.shopper(Role::Shopper).await;
        self.set_stock(product, stock).await;
        self.put_cart(&token, product, quantity).await;
        let (status, quote) = self.quote(&token).await;
        assert_eq!(status, 201, "{quote}");
        (user, token, quote)
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }
}

/// A PaymentIntent as localstripe holds it.
async fn intent(id: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}/v1/payment_intents/{id}", crate::helpers::stripe_api_base()))
        .basic_auth("sk_test_swiftcart_local", Some(""))
        .send()
        .await
        .expect("localstripe is running (scripts/test.sh starts it)")
        .json()
        .await
        .unwrap()
}

fn intent_is_paid(intent: &Value) -> bool {
    intent["status"] == "succeeded" && intent["latest_charge"]["amount_refunded"].as_i64().unwrap_or(0) == 0
}

#[tokio::test]
async fn a_quote_freezes_prices_and_reserves_stock_all_or_nothing() {
    let app = spawn_app().await;
    let ids = app.product_ids().await;
    let (_, token) = app.shopper(Role::Shopper).await;

    let guest = app.guest_token().await;
    let (status, body) = app.quote(&guest).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["message"].as_str().unwrap().contains("sign in"));

    let (status, body) = app.quote(&token).await;
    assert_eq!(status, 422, "an empty cart cannot be quoted: {body}");

    app.set_stock(ids[0], 5).await;
    app.set_stock(ids[1], 1).await;
    app.put_cart(&token, ids[0], 2).await;
    app.put_cart(&token, ids[1], 1).await;
    let (status, quote) = app.quote(&token).await;
    assert_eq!(status, 201, "{quote}");
    let items = quote["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let total: i64 =
        items.iter().map(|i| i["unitPriceCents"].as_i64().unwrap() * i["quantity"].as_i64().unwrap()).sum();
    assert_eq!(quote["totalCents"].as_i64().unwrap(), total);
    assert!(items.iter().all(|i| i["unitPriceCents"].as_i64().unwrap() > 0));
    assert_eq!(app.inventory(ids[0]).await, (5, 2));
    assert_eq!(app.inventory(ids[1]).await, (1, 1));

    // A second quote replaces the first: the units are held once, not twice.
    let (status, _) = app.quote(&token).await;
    assert_eq!(status, 201);
    assert_eq!(app.inventory(ids[0]).await, (5, 2));
    assert_eq!(app.count("SELECT count(*) FROM quotes WHERE status = 'open'").await, 1);

    // All or nothing: another shopper wants both, but the second is gone; nothing is reserved.
    let (_, other) = app.shopper(Role::Shopper).await;
    app.put_cart(&other, ids[0], 1).await;
    app.put_cart(&other, ids[1], 1).await;
    let (status, body) = app.quote(&other).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "ERR_TEMPORAL_PARADOX");
    assert_eq!(body["reason"], "out_of_stock");
    assert_eq!(app.inventory(ids[0]).await, (5, 2), "the first item's reservation was rolled back");

    // Leaving the warp releases the quote at once; there is nothing left to release after that.
    let release = |token: String| {
        let request = app.http.delete(format!("{}/api/checkout/quote", app.address)).bearer_auth(token);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(release(guest.clone()).await.0, 401);
    assert_eq!(release(token.clone()).await, (200, json!({ "released": 1 })));
    assert_eq!(app.inventory(ids[0]).await, (5, 0));
    assert_eq!(app.inventory(ids[1]).await, (1, 0));
    assert_eq!(release(token.clone()).await, (200, json!({ "released": 0 })));
    app.cleanup().await;
}

#[tokio::test]
async fn checkout_charges_exactly_the_quote_once_and_records_the_order() {
    let app = spawn_app().await;
    let ids = app.product_ids().await;
    let (_, token, quote) = app.quoted_shopper(ids[2], 10, 3).await;
    let quote_id = quote["quoteId"].as_str().unwrap();

    let (status, body) = app.pay(&token, None, quote_id, CARD_OK).await;
    assert_eq!(status, 400, "the Idempotency-Key is required: {body}");
    let (status, body) = app.pay(&token, Some("k1"), quote_id, "4242424242424242").await;
    assert_eq!(status, 422, "a card number is refused: {body}");
    assert!(!body.to_string().contains("4242424242424242"), "and never echoed");

    let (status, order) = app.pay(&token, Some("k1"), quote_id, CARD_OK).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["status"], "paid");
    assert_eq!(order["totalCents"], quote["totalCents"]);
    assert_eq!(order["items"][0]["unitPriceCents"], quote["items"][0]["unitPriceCents"]);
    let intent_id = order["paymentIntentId"].as_str().unwrap();
    let charged = intent(intent_id).await;
    assert_eq!(charged["amount"], quote["totalCents"], "Stripe charged exactly the quote");
    assert!(intent_is_paid(&charged));
    assert_eq!(app.inventory(ids[2]).await, (7, 0), "the reservation became a stock decrement");
    assert!(app.cart(&token).await.is_empty(), "bought items left the cart orbit");

    // A replay answers the first response and charges nothing more.
    let (status, again) = app.pay(&token, Some("k1"), quote_id, CARD_OK).await;
    assert_eq!(status, 201);
    assert_eq!(again, order);
    assert_eq!(app.count("SELECT count(*) FROM orders").await, 1);
    // The same key with another body is refused; another key for a paid quote is a conflict.
    let (status, body) = app.pay(&token, Some("k1"), quote_id, "pm_card_mastercard").await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app.pay(&token, Some("k2"), quote_id, CARD_OK).await;
    assert_eq!((status, body["reason"].as_str()), (409, Some("conflict")), "{body}");
    assert_eq!(app.inventory(ids[2]).await, (7, 0));

    let (_, orders) = app.get_as(&token, "/api/orders").await;
    assert_eq!(orders["orders"].as_array().unwrap().len(), 1);
    assert_eq!(orders["orders"][0]["orderId"], order["orderId"]);
    let (_, stranger) = app.shopper(Role::Shopper).await;
    let theirs: Value = app
        .http
        .get(format!("{}/api/orders", app.address))
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(theirs["orders"].as_array().unwrap().is_empty(), "orders are private");
    app.cleanup().await;
}

#[tokio::test]
async fn a_declined_card_changes_nothing() {
    let app = spawn_app().await;
    let ids = app.product_ids().await;
    let (_, token, quote) = app.quoted_shopper(ids[3], 4, 2).await;
    let cart_before = app.cart(&token).await;

    let (status, body) = app.pay(&token, Some("d1"), quote["quoteId"].as_str().unwrap(), CARD_DECLINED).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "ERR_TEMPORAL_PARADOX");
    assert_eq!(body["reason"], "payment_failed");
    assert!(body["message"].as_str().unwrap().contains("declined"), "{body}");
    assert_eq!(app.inventory(ids[3]).await, (4, 0), "stock and reservations as before the quote");
    assert_eq!(app.cart(&token).await, cart_before, "the cart is kept");
    assert_eq!(app.count("SELECT count(*) FROM orders WHERE status = 'paid'").await, 0);
    let intent_id: String =
        sqlx::query_scalar("SELECT stripe_payment_intent_id FROM orders").fetch_one(&app.pool).await.unwrap();
    assert!(!intent_is_paid(&intent(&intent_id).await));
    // The replay gives the same refusal and does not try the card again.
    let (status, again) = app.pay(&token, Some("d1"), quote["quoteId"].as_str().unwrap(), CARD_DECLINED).await;
    assert_eq!((status, &again), (409, &body));
    assert_eq!(app.count("SELECT count(*) FROM orders").await, 1);
    app.cleanup().await;
}

#[tokio::test]
async fn an_expired_quote_is_refused_and_the_sweeper_returns_its_stock() {
    let app = spawn_app().await;
    let ids = app.product_ids().await;
    app.set_stock(ids[4], 3).await;
    let (_, first) = app.shopper(Role::Shopper).await;
    let (_, second) = app.shopper(Role::Shopper).await;
    for token in [&first, &second] {
        app.put_cart(token, ids[4], 1).await;
    }
    let (_, q1) = app.quote(&first).await;
    let (_, _q2) = app.quote(&second).await;
    assert_eq!(app.inventory(ids[4]).await, (3, 2));
    sqlx::query("UPDATE quotes SET expires_at = now() - interval '1 second'").execute(&app.pool).await.unwrap();

    // Paying an expired quote: refused, its units back at once.
    let (status, body) = app.pay(&first, Some("e1"), q1["quoteId"].as_str().unwrap(), CARD_OK).await;
    assert_eq!((status, body["reason"].as_str()), (409, Some("quote_expired")), "{body}");
    assert_eq!(app.inventory(ids[4]).await, (3, 1));
    // The other expired quote is released by the sweeper (it runs every second on every node).
    let released = eventually(Duration::from_secs(5), || async { app.inventory(ids[4]).await == (3, 0) }).await;
    assert!(released.is_some(), "the sweeper released the expired reservation");
    assert_eq!(app.count("SELECT count(*) FROM orders").await, 0, "no order, no charge");
    app.cleanup().await;
}

#[tokio::test]
async fn the_frozen_price_is_charged_after_the_live_price_decays() {
    let app = spawn_app().await;
    let ids = app.product_ids().await;
    let (_, token, quote) = app.quoted_shopper(ids[5], 50, 1).await;
    let frozen = quote["items"][0]["unitPriceCents"].as_i64().unwrap();
    let decayed = eventually(Duration::from_secs(20), || async {
        app.live_price(ids[5]).await.is_some_and(|live| live < frozen)
    })
    .await;
    assert!(decayed.is_some(), "the live price decays below the frozen one");

    let (status, order) = app.pay(&token, Some("f1"), quote["quoteId"].as_str().unwrap(), CARD_OK).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["items"][0]["unitPriceCents"].as_i64(), Some(frozen));
    assert_eq!(intent(order["paymentIntentId"].as_str().unwrap()).await["amount"].as_i64(), Some(frozen));
    app.cleanup().await;
}

#[tokio::test]
async fn two_hundred_buyers_race_for_twenty_five_units() {
    const BUYERS: usize = 200;
    const UNITS: i32 = 25;
    let app = spawn_app().await;
    let product = app.product_ids().await[6];
    app.set_stock(product, UNITS).await;
    let mut tokens = Vec::with_capacity(BUYERS);
    for _ in 0..BUYERS {
        let (_, token) = app.shopper(Role::Shopper).await;
        app.put_cart(&token, product, 1).await;
        tokens.push(token);
    }

    let app = std::sync::Arc::new(app);
    let buyers = tokens.into_iter().enumerate().map(|(n, token)| {
        let app = app.clone();
        tokio::spawn(async move {
            let (status, quote) = app.quote(&token).await;
            if status != 201 {
                return (status, quote["reason"].as_str().unwrap_or_default().to_string());
            }
            let (status, order) =
                app.pay(&token, Some(&format!("race-{n}")), quote["quoteId"].as_str().unwrap(), CARD_OK).await;
            (status, order["status"].as_str().or(order["reason"].as_str()).unwrap_or_default().to_string())
        })
    });
    let outcomes: Vec<(u16, String)> =
        futures_util::future::join_all(buyers).await.into_iter().map(Result::unwrap).collect();
    let paid = outcomes.iter().filter(|(s, o)| *s == 201 && o == "paid").count();
    let sold_out = outcomes.iter().filter(|(s, o)| *s == 409 && o == "out_of_stock").count();
    assert_eq!(paid, UNITS as usize, "{outcomes:?}");
    assert_eq!(sold_out, BUYERS - UNITS as usize, "every other buyer is told it sold out: {outcomes:?}");
    assert_eq!(app.inventory(product).await, (0, 0));
    assert_eq!(app.count("SELECT count(*) FROM orders WHERE status = 'paid'").await, UNITS as i64);
    assert_eq!(app.count("SELECT COALESCE(sum(quantity), 0)::BIGINT FROM order_items").await, UNITS as i64);
    let app = std::sync::Arc::into_inner(app).unwrap();
    app.cleanup().await;
}

/// Every order's state agrees with Stripe: paid ⇔ the intent took money; nothing left pending.
async fn assert_orders_agree_with_stripe(app: &TestApp) {
    let orders: Vec<(Uuid, String, Option<String>)> =
        sqlx::query_as("SELECT id, status, stripe_payment_intent_id FROM orders").fetch_all(&app.pool).await.unwrap();
    for (order, status, intent_id) in orders {
        assert_ne!(status, "pending", "order {order} left pending");
        let paid_at_stripe = match &intent_id {
            Some(id) => intent_is_paid(&intent(id).await),
            None => false,
        };
        assert_eq!(status == "paid", paid_at_stripe, "order {order} is {status}, intent {intent_id:?}");
    }
}

#[tokio::test]
async fn outages_mid_run_leave_no_order_paid_but_unrecorded_or_recorded_but_unpaid() {
    let mut redis = PrivateRedis::start().await;
    let proxy = ToggleProxy::start(crate::helpers::postgres_addr()).await;
    let app =
        spawn_app_with(Options { redis_url: Some(redis.url()), postgres_via: Some(proxy.addr), ..Options::default() })
            .await;
    let ids = app.product_ids().await;
    for id in &ids[..4] {
        app.set_stock(*id, 1_000).await;
    }
    let mut tokens = Vec::new();
    for n in 0..40 {
        let (_, token) = app.shopper(Role::Shopper).await;
        app.put_cart(&token, ids[n % 4], 1).await;
        tokens.push(token);
    }
    let app = std::sync::Arc::new(app);
    let buyers = tokens.into_iter().enumerate().map(|(n, token)| {
        let app = app.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(25 * n as u64)).await;
            let (status, quote) = app.quote(&token).await;
            if status == 201 {
                let _ =
                    app.pay(&token, Some(&format!("outage-{n}")), quote["quoteId"].as_str().unwrap(), CARD_OK).await;
            }
        })
    });
    let chaos = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut conn =
            deadpool_redis::redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        proxy.cut();
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        proxy.restore();
    };
    let (_, _) = tokio::join!(futures_util::future::join_all(buyers), chaos);

    // After the outage, sweeping settles whatever was left in between.
    let settled = eventually(Duration::from_secs(30), || async {
        let _ = sweep(&app.hyperdrive, SweepRules { grace: Duration::ZERO, unconfirmed_limit: Duration::ZERO }).await;
        app.count("SELECT count(*) FROM orders WHERE status = 'pending'").await == 0
    })
    .await;
    assert!(settled.is_some(), "no order stays pending once the services are back");
    assert_orders_agree_with_stripe(&app).await;
    let paid = app.count("SELECT count(*) FROM orders WHERE status = 'paid'").await;
    assert!(paid > 0, "some checkouts went through around the outages");
    for id in &ids[..4] {
        let sold: i64 = sqlx::query_scalar(
            "SELECT COALESCE(sum(oi.quantity), 0)::BIGINT FROM order_items oi JOIN orders o ON o.id = oi.order_id
             WHERE o.status = 'paid' AND oi.product_id = $1",
        )
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        let (stock, _) = app.inventory(*id).await;
        assert_eq!(i64::from(stock) + sold, 1_000, "stock moved exactly by what was paid");
    }
    let app = std::sync::Arc::into_inner(app).unwrap();
    app.cleanup().await;
    redis.kill();
}

#[tokio::test]
async fn the_webhook_is_verified_deduplicated_and_settles_idempotently() {
    let app = spawn_app().await;
    let ids = app.product_ids().await;
    let (user, _, quote) = app.quoted_shopper(ids[7], 5, 1).await;
    // A confirmed intent whose checkout response never came back: the order is still pending.
    let (_, intent) = pending_order(&app, user, &quote, CARD_OK).await;
    let event = intent_event("payment_intent.succeeded", &intent);
    let post = |signature: String, body: String| post_webhook(&app, signature, body);
    let now = chrono::Utc::now().timestamp();
    let secret = "whsec_swiftcart_local";

    // Bad signatures change nothing.
    for signature in
        [sign("whsec_other", event.as_bytes(), now), sign(secret, event.as_bytes(), now - 301), String::new()]
    {
        assert_eq!(post(signature, event.clone()).await.unwrap().status(), 400);
    }
    let tampered = event.replace("succeeded", "canceled");
    assert_eq!(post(sign(secret, event.as_bytes(), now), tampered).await.unwrap().status(), 400);
    assert_eq!(app.count("SELECT count(*) FROM orders WHERE status = 'pending'").await, 1);

    // A valid event settles the order once; a redelivery changes nothing.
    assert_eq!(post(sign(secret, event.as_bytes(), now), event.clone()).await.unwrap().status(), 200);
    assert_eq!(app.count("SELECT count(*) FROM orders WHERE status = 'paid'").await, 1);
    assert_eq!(app.inventory(ids[7]).await, (4, 0));
    let again: Value = post(sign(secret, event.as_bytes(), now), event.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(again["duplicate"], true);
    // A different event for the same, already settled order changes nothing either.
    let late = event.replace("evt_", "evt_late");
    assert_eq!(post(sign(secret, late.as_bytes(), now), late).await.unwrap().status(), 200);
    assert_eq!(app.inventory(ids[7]).await, (4, 0));
    assert_eq!(app.count("SELECT count(*) FROM order_items").await, 1);
    app.cleanup().await;
}

#[tokio::test]
async fn admins_manage_the_catalog_and_changes_go_live() {
    let app = spawn_app().await;
    let (_, shopper) = app.shopper(Role::Shopper).await;
    let (_, admin) = app.shopper(Role::Admin).await;
    let new_product = json!({
        "slug": "warp-core-lamp", "name": "Warp Core Lamp", "msrpCents": 12_900, "stockCount": 7, "baseMass": 2.0
    });
    assert_eq!(app.post_json("/api/admin/products", Some(&shopper), new_product.clone()).await.status(), 403);
    let bad = json!({ "slug": "Bad Slug", "name": "x", "msrpCents": 100 });
    assert_eq!(app.post_json("/api/admin/products", Some(&admin), bad).await.status(), 422);
    let negative = json!({ "slug": "neg", "name": "x", "msrpCents": -5 });
    assert_eq!(app.post_json("/api/admin/products", Some(&admin), negative).await.status(), 422);

    let response = app.post_json("/api/admin/products", Some(&admin), new_product.clone()).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let id: Uuid = created["productId"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.post_json("/api/admin/products", Some(&admin), new_product).await.status(), 409, "slug taken");
    assert!(app.live_price(id).await.is_some(), "its live state is in Redis at once");
    let listed: Value = app.get("/api/products/warp-core-lamp").await.json().await.unwrap();
    assert_eq!(listed["stockLevel"], 7);

    let edited: Value = app
        .http
        .patch(format!("{}/api/admin/products/{id}", app.address))
        .bearer_auth(&admin)
        .json(&json!({ "name": "Warp Core Lamp II", "msrpCents": 9_900 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(edited["name"], "Warp Core Lamp II");
    let stock = |count: i64| {
        app.http
            .put(format!("{}/api/admin/products/{id}/stock", app.address))
            .bearer_auth(&admin)
            .json(&json!({ "stockCount": count }))
            .send()
    };
    assert_eq!(stock(-1).await.unwrap().status(), 422);
    assert_eq!(stock(3).await.unwrap().status(), 200);
    assert_eq!(app.inventory(id).await, (3, 0));

    // The engine picks the new catalog up: the product's state is stepped (its tick advances).
    let stepped = eventually(Duration::from_secs(5), || async {
        let mut conn = app.redis.get().await.unwrap();
        let before: Option<f64> =
            redis::cmd("HGET").arg(app.keys.product_state(id)).arg("p_x").query_async(&mut conn).await.unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        let after: Option<f64> =
            redis::cmd("HGET").arg(app.keys.product_state(id)).arg("p_x").query_async(&mut conn).await.unwrap();
        before.is_some() && before != after
    })
    .await;
    assert!(stepped.is_some(), "the engine reloaded its catalog and moves the new product");

    let retired =
        app.http.delete(format!("{}/api/admin/products/{id}", app.address)).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(retired.status(), 200);
    assert_eq!(app.get("/api/products/warp-core-lamp").await.status(), 404);
    app.cleanup().await;
}

#[tokio::test]
async fn the_card_number_scan_finds_a_planted_number_in_postgres_and_redis() {
    let app = spawn_app().await;
    assert!(swiftcart::pii::scan_database(&app.pool).await.unwrap().is_empty());
    sqlx::query("UPDATE products SET description = 'paid with 4000 0000 0000 0341' WHERE slug = (SELECT min(slug) FROM products)")
        .execute(&app.pool)
        .await
        .unwrap();
    let found = swiftcart::pii::scan_database(&app.pool).await.unwrap();
    assert_eq!(found, vec!["products: …0341"]);
    let mut conn = app.redis.get().await.unwrap();
    let key = format!("{}leak", app.prefix);
    let _: () = redis::cmd("SET").arg(&key).arg("4242424242424242").query_async(&mut conn).await.unwrap();
    assert_eq!(swiftcart::pii::scan_redis(&app.store()).await.unwrap().len(), 1);
    // Clean again, so the scan in cleanup passes.
    let _: () = redis::cmd("DEL").arg(&key).query_async(&mut conn).await.unwrap();
    sqlx::query("UPDATE products SET description = ''").execute(&app.pool).await.unwrap();
    app.cleanup().await;
}

/// A pending order paying for `quote` with an intent created for `card` and confirmed (the
/// confirmation may be refused): as if the checkout's answer never came back. (order, intent id)
async fn pending_order(app: &TestApp, user: Uuid, quote: &Value, card: &str) -> (Uuid, String) {
    let quote_id: Uuid = quote["quoteId"].as_str().unwrap().parse().unwrap();
    let order: Uuid = sqlx::query_scalar(
        "WITH q AS (UPDATE quotes SET status = 'charging' WHERE id = $2 RETURNING total_cents)
         INSERT INTO orders (user_id, status, total_cents, quote_id) SELECT $1, 'pending', total_cents, $2 FROM q RETURNING id",
    )
    .bind(user)
    .bind(quote_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let created =
        app.hyperdrive.stripe.create_intent(quote["totalCents"].as_i64().unwrap(), card, order).await.unwrap();
    sqlx::query("UPDATE orders SET stripe_payment_intent_id = $2 WHERE id = $1")
        .bind(order)
        .bind(&created.id)
        .execute(&app.pool)
        .await
        .unwrap();
    let _ = app.hyperdrive.stripe.confirm(&created.id, order).await;
    (order, created.id)
}

/// A Stripe event of `kind` about `intent`, as JSON text.
fn intent_event(kind: &str, intent: &str) -> String {
    json!({
        "id": format!("evt_{}", Uuid::new_v4().simple()),
        "type": kind,
        "data": { "object": { "id": intent, "object": "payment_intent", "status": "succeeded" } }
    })
    .to_string()
}

/// Posts a webhook body with this signature.
async fn post_webhook(app: &TestApp, signature: String, body: String) -> reqwest::Result<reqwest::Response> {
    app.http
        .post(format!("{}/api/stripe/webhook", app.address))
        .header("Stripe-Signature", signature)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
}

#[tokio::test]
async fn a_webhook_event_is_a_hint_and_stripe_decides() {
    let app = spawn_app().await;
    let ids = app.product_ids().await;
    let secret = "whsec_swiftcart_local";
    let now = chrono::Utc::now().timestamp();
    let status = |order: Uuid| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status FROM orders WHERE id = $1")
                .bind(order)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };

    // A forged "succeeded" during a declined payment: Stripe says it failed, so the order fails
    // and its stock goes back.
    let (user, _, quote) = app.quoted_shopper(ids[7], 5, 1).await;
    let (declined, intent) = pending_order(&app, user, &quote, CARD_DECLINED).await;
    let forged = intent_event("payment_intent.succeeded", &intent);
    assert_eq!(post_webhook(&app, sign(secret, forged.as_bytes(), now), forged).await.unwrap().status(), 200);
    assert_eq!(status(declined).await, "failed", "not paid on the event's word");
    assert_eq!(app.inventory(ids[7]).await, (5, 0), "the reserved unit went back, none was taken");

    // A forged "payment_failed" during a good payment: Stripe says it was paid.
    let (user, _, quote) = app.quoted_shopper(ids[8], 5, 1).await;
    let (paid, intent) = pending_order(&app, user, &quote, CARD_OK).await;
    let forged = intent_event("payment_intent.payment_failed", &intent);
    assert_eq!(post_webhook(&app, sign(secret, forged.as_bytes(), now), forged).await.unwrap().status(), 200);
    assert_eq!(status(paid).await, "paid", "a charged order is never marked failed by an event");
    assert_eq!(app.inventory(ids[8]).await, (4, 0));
    app.cleanup().await;
}

/// The webhook (or the sweeper) settled the order from what Stripe reported while the charge was
/// still talking to Stripe: settling is one conditional transition, so the charge path answers
/// the settled order instead of failing it (and never tells a paying shopper "nothing charged").
#[tokio::test]
async fn a_charge_that_loses_the_race_to_the_webhook_answers_the_settled_order() {
    let app = spawn_app().await;
    let product = app.product_ids().await[0];
    for _attempt in 0..5 {
        let (user, token, quote) = app.quoted_shopper(product, 100, 1).await;
        // Stands in for the webhook: settles the order paid the moment it is pending.
        let pool = app.pool.clone();
        let settler = tokio::spawn(async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while std::time::Instant::now() < deadline {
                let order: Option<(Uuid, String)> = sqlx::query_as("SELECT id, status FROM orders WHERE user_id = $1")
                    .bind(user)
                    .fetch_optional(&pool)
                    .await
                    .unwrap();
                match order {
                    Some((id, status)) if status == "pending" => {
                        return swiftcart::checkout::ledger::settle_paid(&pool, id, "pi_settled_by_webhook")
                            .await
                            .unwrap()
                    }
                    Some(_) => return false,
                    None => tokio::time::sleep(Duration::from_millis(1)).await,
                }
            }
            false
        });
        let (status, body) = app.pay(&token, Some("race"), quote["quoteId"].as_str().unwrap(), CARD_DECLINED).await;
        if !settler.await.unwrap() {
            continue; // The charge concluded first: the race was not run; try again.
        }
        assert_eq!(status, 201, "the settled order is the answer: {body}");
        assert_eq!(body["status"], "paid");
        let stored: String = sqlx::query_scalar("SELECT status FROM orders WHERE user_id = $1")
            .bind(user)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert_eq!(stored, "paid", "the refused charge did not overwrite the settlement");
        assert!(app.cart(&token).await.is_empty(), "the bought item left the cart orbit");
        app.cleanup().await;
        return;
    }
    panic!("in five tries the charge always concluded before the order could be settled elsewhere");
}

/// Order and quote statuses read straight from their text columns into enums, and back; a
/// spelling the enum does not know is an error, not a silent default.
#[tokio::test]
async fn statuses_read_from_their_columns_into_enums() {
    use app::api::OrderStatus;
    use swiftcart::checkout::ledger::QuoteStatus;
    let app = spawn_app().await;
    for status in OrderStatus::ALL {
        let read: OrderStatus = sqlx::query_scalar("SELECT $1::text").bind(status).fetch_one(&app.pool).await.unwrap();
        assert_eq!(read, status);
        let spelled: String =
            sqlx::query_scalar("SELECT $1::text").bind(status.as_str()).fetch_one(&app.pool).await.unwrap();
        assert_eq!(OrderStatus::parse(&spelled), Some(status));
    }
    let released: QuoteStatus = sqlx::query_scalar("SELECT 'released'::text").fetch_one(&app.pool).await.unwrap();
    assert_eq!(released, QuoteStatus::Released);
    let unknown = sqlx::query_scalar::<_, OrderStatus>("SELECT 'teleported'::text").fetch_one(&app.pool).await;
    assert!(unknown.is_err(), "an unknown status is refused: {unknown:?}");
    app.cleanup().await;
}
