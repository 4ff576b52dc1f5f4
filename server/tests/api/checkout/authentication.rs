//! 3-D Secure against localstripe: a card whose bank asks for authentication waits for it with
//! its stock held; the bank's answer (as Stripe reports it when asked) settles the order once,
//! whoever asks first (the page's follow-up, the webhook or the sweeper).

use serde_json::{json, Value};
use swiftcart::checkout::stripe::sign;
use swiftcart::checkout::sweeper::{sweep, SweepRules};
use uuid::Uuid;

use super::{intent, intent_event, intent_is_paid, post_webhook};
use crate::helpers::{spawn_app, spawn_app_with, stripe_api_base, Options, TestApp, ToggleProxy};

/// A PaymentMethod at localstripe for a card whose bank asks for 3-D Secure (4000 0025 0000 3155),
/// made the way Stripe.js would, so the card number never passes through SwiftCart.
async fn card_needing_authentication() -> String {
    let made: Value = reqwest::Client::new()
        .post(format!("{}/v1/payment_methods", stripe_api_base()))
        .basic_auth("sk_test_swiftcart_local", Some(""))
        .form(&[
            ("type", "card"),
            ("card[number]", "4000002500003155"),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2030"),
            ("card[cvc]", "123"),
        ])
        .send()
        .await
        .expect("localstripe is running (scripts/test.sh starts it)")
        .json()
        .await
        .unwrap();
    made["id"].as_str().expect("a payment method id").to_string()
}

/// The shopper's answer to the bank's check, as localstripe's Stripe.js sends it.
async fn authenticate(client_secret: &str, success: bool) {
    let intent = client_secret.split("_secret_").next().unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/v1/payment_intents/{intent}/_authenticate", stripe_api_base()))
        .query(&[("success", success.to_string())])
        .json(&json!({ "key": "pk_test_swiftcart_local", "client_secret": client_secret }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

impl TestApp {
    /// `POST /api/orders/{order}/settle`: (status, body).
    async fn settle(&self, token: &str, order: &str) -> (u16, Value) {
        let response = self.post_json(&format!("/api/orders/{order}/settle"), Some(token), json!({})).await;
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn order_row(&self, order: &str) -> (String, Option<String>) {
        sqlx::query_as("SELECT status, failure_reason FROM orders WHERE id = $1::uuid")
            .bind(order)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

/// A shopper with one unit of `product` (stock 5) who paid with a card needing authentication:
/// (user, token, the 202 answer).
async fn awaiting_bank(app: &TestApp, product: Uuid) -> (Uuid, String, Value) {
    let (user, token, quote) = app.quoted_shopper(product, 5, 1).await;
    let card = card_needing_authentication().await;
    let (status, body) = app.pay(&token, Some("3ds"), quote["quoteId"].as_str().unwrap(), &card).await;
    assert_eq!(status, 202, "{body}");
    (user, token, body)
}

#[tokio::test]
async fn a_card_needing_authentication_waits_with_its_stock_held_and_is_paid_once_the_bank_confirms() {
    let app = spawn_app().await;
    let product = app.product_ids().await[0];
    let (_, token, answer) = awaiting_bank(&app, product).await;
    let order = answer["orderId"].as_str().unwrap();
    let secret = answer["clientSecret"].as_str().unwrap();
    assert_eq!(answer["status"], "requires_action");
    assert!(secret.starts_with(answer["paymentIntentId"].as_str().unwrap()), "the intent's own secret");
    let window = chrono::DateTime::parse_from_rfc3339(answer["authenticateBy"].as_str().unwrap()).unwrap();
    let left = window.signed_duration_since(chrono::Utc::now()).num_seconds();
    assert!((250..=300).contains(&left), "the default window is 300 s: {left}");
    assert_eq!(app.inventory(product).await, (5, 1), "the unit stays reserved while the bank asks");
    let quote_hold: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT q.expires_at FROM quotes q JOIN orders o ON o.quote_id = q.id WHERE o.id = $1::uuid",
    )
    .bind(order)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(quote_hold, window, "the quote's hold covers the authentication window");

    // Asked before the shopper answered the bank: still waiting, same secret.
    let (status, again) = app.settle(&token, order).await;
    assert_eq!((status, &again["status"], &again["clientSecret"]), (202, &json!("requires_action"), &json!(secret)));
    // Nothing of the window lets the sweeper end it early.
    sqlx::query("UPDATE orders SET created_at = now() - interval '1 hour' WHERE id = $1::uuid")
        .bind(order)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(sweep(&app.hyperdrive, SweepRules::default()).await.unwrap().failed, 0);

    authenticate(secret, true).await;
    let (status, paid) = app.settle(&token, order).await;
    assert_eq!((status, &paid["status"]), (200, &json!("paid")), "{paid}");
    assert_eq!(paid["totalCents"], answer["totalCents"], "at the frozen prices");
    assert!(paid.get("clientSecret").is_none());
    assert_eq!(app.inventory(product).await, (4, 0), "the reservation became the sale");
    assert!(app.cart(&token).await.is_empty(), "the bought item left the cart orbit");
    let at_stripe = intent(paid["paymentIntentId"].as_str().unwrap()).await;
    assert!(intent_is_paid(&at_stripe));
    assert_eq!(at_stripe["amount"], answer["totalCents"]);

    // Asked again, and the checkout request replayed: the same paid order, nothing more.
    assert_eq!(app.settle(&token, order).await.0, 200);
    let quote_id: Uuid = sqlx::query_scalar("SELECT quote_id FROM orders WHERE id = $1::uuid")
        .bind(order)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let card = at_stripe["payment_method"].as_str().unwrap().to_string();
    let (status, replayed) = app.pay(&token, Some("3ds"), &quote_id.to_string(), &card).await;
    assert_eq!((status, &replayed["status"]), (201, &json!("paid")), "{replayed}");
    assert_eq!(app.inventory(product).await, (4, 0));
    assert_eq!(app.count("SELECT count(*) FROM order_items").await, 1);

    // The orders desk tells the story.
    let (_, admin) = app.shopper(swiftcart::auth::Role::Admin).await;
    let (_, desk) = app.get_as(&admin, &format!("/api/admin/orders/{order}")).await;
    let events: Vec<&str> = desk["timeline"].as_array().unwrap().iter().map(|m| m["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["quoted", "charged", "authentication_requested", "authenticated", "paid"]);
    app.cleanup().await;
}

#[tokio::test]
async fn a_failed_authentication_fails_the_order_and_puts_the_stock_back() {
    let app = spawn_app().await;
    let product = app.product_ids().await[1];
    let (_, token, answer) = awaiting_bank(&app, product).await;
    let order = answer["orderId"].as_str().unwrap();
    authenticate(answer["clientSecret"].as_str().unwrap(), false).await;

    let (status, paradox) = app.settle(&token, order).await;
    assert_eq!(status, 409, "{paradox}");
    assert_eq!(paradox["error"], "ERR_TEMPORAL_PARADOX");
    assert_eq!(paradox["reason"], "payment_failed");
    assert!(paradox["message"].as_str().unwrap().contains("your bank did not confirm the payment"), "{paradox}");
    assert_eq!(app.order_row(order).await, ("failed".into(), Some("authentication_failed".into())));
    assert_eq!(app.inventory(product).await, (5, 0), "the reserved unit went back at once");
    assert_eq!(app.cart(&token).await.len(), 1, "the cart orbit is as it was");
    // Asked again: the same paradox, nothing else changes.
    assert_eq!(app.settle(&token, order).await.0, 409);
    assert_eq!(app.inventory(product).await, (5, 0));

    // Another shopper cannot settle (or learn of) this order.
    let (_, stranger) = app.shopper(swiftcart::auth::Role::Shopper).await;
    assert_eq!(app.settle(&stranger, order).await.0, 404);
    assert_eq!(app.settle(&token, "not-an-order").await.0, 404);
    app.cleanup().await;
}

#[tokio::test]
async fn an_abandoned_authentication_is_canceled_by_the_sweeper_after_its_window() {
    let app = spawn_app().await;
    let product = app.product_ids().await[2];
    let (_, _, answer) = awaiting_bank(&app, product).await;
    let order = answer["orderId"].as_str().unwrap();
    // The shopper closed the tab; the window passes.
    sqlx::query(
        "UPDATE orders SET created_at = now() - interval '1 hour', authenticate_by = now() - interval '1 second'
         WHERE id = $1::uuid",
    )
    .bind(order)
    .execute(&app.pool)
    .await
    .unwrap();
    let swept = sweep(&app.hyperdrive, SweepRules::default()).await.unwrap();
    assert_eq!(swept.failed, 1, "{swept:?}");
    assert_eq!(app.order_row(order).await, ("failed".into(), Some("authentication_abandoned".into())));
    assert_eq!(app.inventory(product).await, (5, 0), "its stock went back");
    assert_eq!(intent(answer["paymentIntentId"].as_str().unwrap()).await["status"], "canceled");
    // Answering the bank now is too late: the intent can no longer take money.
    let late = reqwest::Client::new()
        .post(format!(
            "{}/v1/payment_intents/{}/_authenticate",
            stripe_api_base(),
            answer["paymentIntentId"].as_str().unwrap()
        ))
        .query(&[("success", "true")])
        .json(&json!({ "key": "pk_test_swiftcart_local", "client_secret": answer["clientSecret"] }))
        .send()
        .await
        .unwrap();
    assert_ne!(late.status(), 200);
    assert_eq!(sweep(&app.hyperdrive, SweepRules::default()).await.unwrap().failed, 0, "settled once");
    app.cleanup().await;
}

#[tokio::test]
async fn the_webhook_and_the_follow_up_racing_settle_the_order_once() {
    let app = spawn_app().await;
    let product = app.product_ids().await[3];
    for round in 0..3 {
        let (_, token, answer) = awaiting_bank(&app, product).await;
        let order = answer["orderId"].as_str().unwrap().to_string();
        authenticate(answer["clientSecret"].as_str().unwrap(), true).await;
        let event = intent_event("payment_intent.succeeded", answer["paymentIntentId"].as_str().unwrap());
        let signature = sign("whsec_swiftcart_local", event.as_bytes(), chrono::Utc::now().timestamp());
        let (hook, (status, body)) = tokio::join!(post_webhook(&app, signature, event), app.settle(&token, &order));
        assert_eq!(hook.unwrap().status(), 200);
        assert_eq!((status, &body["status"]), (200, &json!("paid")), "{body}");
        assert_eq!(app.order_row(&order).await.0, "paid");
        assert_eq!(app.inventory(product).await, (4, 0), "round {round}: one unit sold, none reserved");
        assert_eq!(
            app.count(&format!("SELECT count(*) FROM order_items WHERE order_id = '{order}'")).await,
            1,
            "the lines were written once"
        );
    }
    app.cleanup().await;
}

#[tokio::test]
async fn leaving_the_warp_during_the_bank_check_fails_the_order_and_puts_the_stock_back_at_once() {
    let app = spawn_app().await;
    let product = app.product_ids().await[4];
    let (_, token, answer) = awaiting_bank(&app, product).await;
    let order = answer["orderId"].as_str().unwrap();
    let (_, left) = app.delete_as(&token, "/api/checkout/quote").await;
    assert_eq!(left["released"], 1);
    assert_eq!(app.order_row(order).await, ("failed".into(), Some("authentication_abandoned".into())));
    assert_eq!(app.inventory(product).await, (5, 0));
    assert_eq!(intent(answer["paymentIntentId"].as_str().unwrap()).await["status"], "canceled");
    let (status, paradox) = app.settle(&token, order).await;
    assert_eq!((status, &paradox["reason"]), (409, &json!("payment_failed")));
    app.cleanup().await;
}

#[tokio::test]
async fn with_stripe_unreachable_after_the_bank_check_the_order_waits_and_is_settled_once_stripe_answers() {
    let stripe = stripe_api_base().trim_start_matches("http://").parse().expect("localstripe's address");
    let proxy = ToggleProxy::start(stripe).await;
    let app = spawn_app_with(Options { stripe_via: Some(proxy.addr), ..Options::default() }).await;
    let product = app.product_ids().await[5];
    let (_, token, answer) = awaiting_bank(&app, product).await;
    let order = answer["orderId"].as_str().unwrap();
    // The shopper completes the bank's check (the browser talks to Stripe, not to us); then
    // SwiftCart loses Stripe before it can ask how it went.
    authenticate(answer["clientSecret"].as_str().unwrap(), true).await;
    proxy.cut();
    let (status, waiting) = app.settle(&token, order).await;
    assert_eq!((status, &waiting["status"]), (202, &json!("requires_action")), "{waiting}");
    assert_eq!(app.order_row(order).await, ("requires_action".into(), None), "nothing decided blind");
    assert_eq!(app.inventory(product).await, (5, 1), "the unit stays reserved");
    // Nor does the sweeper decide anything while Stripe is away.
    sweep(&app.hyperdrive, SweepRules::default()).await.unwrap();
    assert_eq!(app.order_row(order).await.0, "requires_action");

    // Stripe answers again: the sweeper (or the page's next follow-up) settles it once.
    proxy.restore();
    sweep(&app.hyperdrive, SweepRules::default()).await.unwrap();
    let (status, paid) = app.settle(&token, order).await;
    assert_eq!((status, &paid["status"]), (200, &json!("paid")), "{paid}");
    assert_eq!(app.inventory(product).await, (4, 0), "sold once");
    assert!(intent_is_paid(&intent(answer["paymentIntentId"].as_str().unwrap()).await));
    assert_eq!(app.settle(&token, order).await.0, 200);
    assert_eq!(app.count("SELECT count(*) FROM order_items").await, 1);
    app.cleanup().await;
}
