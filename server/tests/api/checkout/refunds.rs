//! Refunds and the orders desk against localstripe: an admin refunds lines, amounts or the rest,
//! once per Idempotency-Key and never above what is left; refunds made directly at Stripe are
//! picked up by the webhook and the sweeper; the desk lists, filters and shows orders.

use serde_json::{json, Value};
use swiftcart::auth::Role;
use swiftcart::checkout::refunds::reconcile;
use swiftcart::checkout::stripe::sign;
use uuid::Uuid;

use super::{intent, post_webhook, CARD_DECLINED, CARD_OK};
use crate::helpers::{spawn_app, stripe_api_base, TestApp};

impl TestApp {
    /// `POST /api/admin/orders/{order}/refunds` as `token` with `key`: (status, body).
    async fn refund(&self, token: &str, order: &str, key: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/api/admin/orders/{order}/refunds", self.address))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// A shopper who bought 2 of `a` and 1 of `b` (stock 10 each): (token, the paid order).
    async fn paid_order(&self, a: Uuid, b: Uuid) -> (String, Value) {
        let (_, token) = self.shopper(Role::Shopper).await;
        self.set_stock(a, 10).await;
        self.set_stock(b, 10).await;
        self.put_cart(&token, a, 2).await;
        self.put_cart(&token, b, 1).await;
        let (status, quote) = self.quote(&token).await;
        assert_eq!(status, 201, "{quote}");
        let (status, order) = self.pay(&token, Some("buy"), quote["quoteId"].as_str().unwrap(), CARD_OK).await;
        assert_eq!(status, 201, "{order}");
        (token, order)
    }
}

fn refunded_at_stripe(intent: &Value) -> i64 {
    intent["latest_charge"]["amount_refunded"].as_i64().unwrap_or(0)
}

#[tokio::test]
async fn an_admin_refunds_a_line_then_the_rest_once_per_key_and_never_above_what_is_left() {
    let app = spawn_app().await;
    let ids = app.product_ids().await;
    let (a, b) = (ids[0], ids[1]);
    let (shopper, order) = app.paid_order(a, b).await;
    let (_, admin) = app.shopper(Role::Admin).await;
    let id = order["orderId"].as_str().unwrap();
    let pi = order["paymentIntentId"].as_str().unwrap();
    let total = order["totalCents"].as_i64().unwrap();
    let price_a = order["items"].as_array().unwrap().iter().find(|i| i["productId"] == json!(a)).unwrap()
        ["unitPriceCents"]
        .as_i64()
        .unwrap();
    assert_eq!(app.inventory(a).await, (8, 0));

    // Refusals change nothing, at Stripe included.
    for bad in [
        json!({ "amountCents": 0 }),
        json!({ "amountCents": -5 }),
        json!({ "amountCents": 1.5 }),
        json!({ "amountCents": "100" }),
        json!({ "amountCents": total + 1 }),
        json!({ "lines": [{ "productId": a, "quantity": 3 }] }),
        json!({ "lines": [{ "productId": Uuid::new_v4(), "quantity": 1 }] }),
        json!({ "amountCents": 100, "lines": [{ "productId": a, "quantity": 1 }] }),
        json!({ "amountCents": 100, "restock": true }),
        json!({ "surprise": true }),
    ] {
        let (status, body) = app.refund(&admin, id, &format!("bad-{bad}"), bad.clone()).await;
        assert_eq!(status, 422, "{bad} → {body}");
    }
    assert_eq!(refunded_at_stripe(&intent(pi).await), 0, "nothing was sent to Stripe");
    assert_eq!(app.refund(&shopper, id, "mine", json!({})).await.0, 403, "shoppers cannot refund");

    // One unit of a, back in stock.
    let one_line = json!({ "lines": [{ "productId": a, "quantity": 1 }], "restock": true });
    let (status, after) = app.refund(&admin, id, "line-1", one_line.clone()).await;
    assert_eq!(status, 201, "{after}");
    assert_eq!((&after["status"], after["refundedCents"].as_i64()), (&json!("partially_refunded"), Some(price_a)));
    assert_eq!(app.inventory(a).await, (9, 0), "the unit went back in stock");
    assert_eq!(refunded_at_stripe(&intent(pi).await), price_a);
    // The same key again refunds once; with another body it is refused.
    let (status, replayed) = app.refund(&admin, id, "line-1", one_line).await;
    assert_eq!((status, &replayed["refundedCents"]), (200, &json!(price_a)));
    assert_eq!(app.refund(&admin, id, "line-1", json!({ "amountCents": 1 })).await.0, 422);
    assert_eq!(refunded_at_stripe(&intent(pi).await), price_a, "refunded once");
    assert_eq!(app.inventory(a).await, (9, 0), "restocked once");

    // The shopper sees it.
    let (_, mine) = app.get_as(&shopper, "/api/orders").await;
    assert_eq!(mine["orders"][0]["status"], "partially_refunded");

    // Whatever is left.
    let (status, rest) = app.refund(&admin, id, "rest", json!({})).await;
    assert_eq!(status, 201, "{rest}");
    assert_eq!((&rest["status"], rest["refundedCents"].as_i64()), (&json!("refunded"), Some(total)));
    assert_eq!(refunded_at_stripe(&intent(pi).await), total);
    assert_eq!(app.inventory(a).await, (9, 0), "no restock asked");
    assert_eq!(app.refund(&admin, id, "more", json!({ "amountCents": 1 })).await.0, 409, "nothing is left");

    // An order that was never paid cannot be refunded.
    let (_, token, quote) = app.quoted_shopper(ids[2], 5, 1).await;
    let (status, _) = app.pay(&token, Some("x"), quote["quoteId"].as_str().unwrap(), CARD_DECLINED).await;
    assert_eq!(status, 409);
    let failed: String =
        sqlx::query_scalar("SELECT id::text FROM orders WHERE status = 'failed'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(app.refund(&admin, &failed, "f", json!({})).await.0, 409);
    assert_eq!(app.refund(&admin, &Uuid::new_v4().to_string(), "f", json!({})).await.0, 404);
    app.cleanup().await;
}

#[tokio::test]
async fn refunds_made_directly_at_stripe_are_picked_up_by_the_sweeper_and_the_webhook() {
    let app = spawn_app().await;
    let ids = app.product_ids().await;
    let (_, order) = app.paid_order(ids[3], ids[4]).await;
    let id: Uuid = order["orderId"].as_str().unwrap().parse().unwrap();
    let pi = order["paymentIntentId"].as_str().unwrap();
    let refund_at_stripe = |amount: i64| async move {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/refunds", stripe_api_base()))
            .basic_auth("sk_test_swiftcart_local", Some(""))
            .form(&[("payment_intent", pi.to_string()), ("amount", amount.to_string())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    };
    let state = |pool: sqlx::PgPool| async move {
        sqlx::query_as::<_, (String, i64)>("SELECT status, refunded_cents FROM orders WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
    };

    // In Stripe's dashboard, 100 cents; the sweeper's refund check finds it.
    refund_at_stripe(100).await;
    assert_eq!(reconcile(&app.pool, &app.hyperdrive.stripe, 50).await.unwrap(), 1);
    assert_eq!(state(app.pool.clone()).await, ("partially_refunded".into(), 100));
    assert_eq!(reconcile(&app.pool, &app.hyperdrive.stripe, 50).await.unwrap(), 0, "recorded once");

    // 50 more; Stripe's charge.refunded event tells (and is believed only as far as Stripe says).
    refund_at_stripe(50).await;
    let event = json!({
        "id": format!("evt_{}", Uuid::new_v4().simple()),
        "type": "charge.refunded",
        "data": { "object": { "id": "ch_x", "object": "charge", "payment_intent": pi, "amount_refunded": 999999 } }
    })
    .to_string();
    let signature = sign("whsec_swiftcart_local", event.as_bytes(), chrono::Utc::now().timestamp());
    assert_eq!(post_webhook(&app, signature, event).await.unwrap().status(), 200);
    assert_eq!(state(app.pool.clone()).await, ("partially_refunded".into(), 150), "Stripe's figure, not the event's");
    let sources: Vec<String> = sqlx::query_scalar("SELECT source FROM refunds WHERE order_id = $1 ORDER BY created_at")
        .bind(id)
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(sources, ["stripe", "stripe"]);
    app.cleanup().await;
}

#[tokio::test]
async fn the_orders_desk_lists_filters_and_shows_an_order_with_its_timeline() {
    let app = spawn_app().await;
    let ids = app.product_ids().await;
    let (_, order) = app.paid_order(ids[5], ids[6]).await;
    let (_, token, quote) = app.quoted_shopper(ids[7], 5, 1).await;
    assert_eq!(app.pay(&token, Some("x"), quote["quoteId"].as_str().unwrap(), CARD_DECLINED).await.0, 409);
    let (_, admin) = app.shopper(Role::Admin).await;
    let (_, shopper) = app.shopper(Role::Shopper).await;

    let (status, all) = app.get_as(&admin, "/api/admin/orders").await;
    assert_eq!(status, 200, "{all}");
    let statuses: Vec<&str> = all["orders"].as_array().unwrap().iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["failed", "paid"], "newest first");
    assert_eq!(all["hasMore"], false);
    let (_, paid) = app.get_as(&admin, "/api/admin/orders?status=paid").await;
    assert_eq!(paid["orders"].as_array().unwrap().len(), 1);
    assert_eq!(paid["orders"][0]["orderId"], order["orderId"]);
    let email = paid["orders"][0]["email"].as_str().unwrap().to_string();
    let (_, by_email) = app.get_as(&admin, &format!("/api/admin/orders?email={}", &email[..8].to_uppercase())).await;
    assert_eq!(by_email["orders"].as_array().unwrap().len(), 1, "case-insensitive part of the email");
    let (_, wildcard) = app.get_as(&admin, "/api/admin/orders?email=%25").await;
    assert_eq!(wildcard["orders"].as_array().unwrap().len(), 0, "% is taken literally");
    for bad in ["?status=lost", "?page=0", "?page=x", "?sort=asc"] {
        assert_eq!(app.get_as(&admin, &format!("/api/admin/orders{bad}")).await.0, 422, "{bad}");
    }
    assert_eq!(app.get_as(&shopper, "/api/admin/orders").await.0, 403);

    let id = order["orderId"].as_str().unwrap();
    assert_eq!(app.refund(&admin, id, "k", json!({ "amountCents": 25 })).await.0, 201);
    let (status, one) = app.get_as(&admin, &format!("/api/admin/orders/{id}")).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["items"], order["items"], "lines at the frozen prices");
    assert_eq!(one["paymentIntentId"], order["paymentIntentId"]);
    assert_eq!(one["totalCents"], order["totalCents"]);
    let events: Vec<&str> = one["timeline"].as_array().unwrap().iter().map(|m| m["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["quoted", "charged", "paid", "refunded"]);
    assert_eq!(one["refunds"][0]["amountCents"], 25);
    assert_eq!(app.get_as(&admin, "/api/admin/orders/not-an-id").await.0, 404);
    app.cleanup().await;
}
