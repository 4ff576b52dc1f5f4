//! The REST cart, its write-through to PostgreSQL, and the guest-to-account hand-over.

use std::time::Duration;

use deadpool_redis::redis;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, Options, PrivateRedis, TestApp};

async fn put_quantity(app: &TestApp, token: &str, product: &str, body: serde_json::Value) -> reqwest::Response {
    app.http
        .put(format!("{}/api/cart/items/{product}", app.address))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn stored_lines(app: &TestApp, sub: &str) -> Vec<(String, i32)> {
    sqlx::query_as::<_, (uuid::Uuid, i32)>(
        "SELECT product_id, quantity FROM cart_items WHERE owner_sub = $1 ORDER BY product_id",
    )
    .bind(sub)
    .fetch_all(&app.pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(p, q)| (p.to_string(), q))
    .collect()
}

#[tokio::test]
async fn the_rest_cart_validates_and_changes_only_on_good_input() {
    let app = spawn_app().await;
    let ids = app.product_ids().await;
    assert_eq!(app.get("/api/cart").await.status(), 401);
    let bad = app.http.get(format!("{}/api/cart", app.address)).bearer_auth("not.a.jwt").send().await.unwrap();
    assert_eq!(bad.status(), 401);

    let token = app.guest_token().await;
    assert!(app.cart(&token).await.is_empty());
    let a = ids[0].to_string();
    assert_eq!(
        put_quantity(&app, &token, &uuid::Uuid::new_v4().to_string(), json!({"quantity": 1})).await.status(),
        404
    );
    assert_eq!(put_quantity(&app, &token, "not-a-uuid", json!({"quantity": 1})).await.status(), 404);
    for q in [json!(0), json!(100), json!(-1), json!(1.5), json!("2")] {
        assert_eq!(put_quantity(&app, &token, &a, json!({"quantity": q})).await.status(), 422, "quantity {q}");
    }
    assert!(app.cart(&token).await.is_empty(), "refused requests change nothing");

    let response = put_quantity(&app, &token, &a, json!({"quantity": 3})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.cart(&token).await, vec![(a.clone(), 3)]);
    let deleted =
        app.http.delete(format!("{}/api/cart/items/{a}", app.address)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(deleted.status(), 200);
    assert!(app.cart(&token).await.is_empty());
    app.cleanup().await;
}

#[tokio::test]
async fn a_cart_survives_a_redis_flush_and_a_server_restart() {
    let redis_server = PrivateRedis::start().await;
    let mut app = spawn_app_with(Options { redis_url: Some(redis_server.url()), ..Options::default() }).await;
    let ids = app.product_ids().await;
    let token = app.guest_token().await;
    let sub = app.tokens.verify(&token).unwrap().sub;
    let (a, b) = (ids[1].to_string(), ids[2].to_string());
    put_quantity(&app, &token, &a, json!({"quantity": 2})).await;
    put_quantity(&app, &token, &b, json!({"quantity": 5})).await;
    let mut expected = vec![(a.clone(), 2), (b.clone(), 5)];
    expected.sort();

    // Acknowledged means written: PostgreSQL has the cart as soon as the answer arrived.
    let stored: Vec<(String, u64)> = stored_lines(&app, &sub).await.into_iter().map(|(p, q)| (p, q as u64)).collect();
    assert_eq!(stored, expected, "the cart is in PostgreSQL before the change is acknowledged");

    let mut conn = app.redis.get().await.unwrap();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    drop(conn);
    assert_eq!(app.cart(&token).await, expected, "the cart is reloaded from PostgreSQL after a flush");

    // A change after the reload keeps counting versions from PostgreSQL's, so it is persisted.
    put_quantity(&app, &token, &a, json!({"quantity": 7})).await;
    assert!(stored_lines(&app, &sub).await.contains(&(a.clone(), 7)), "changes after a reload are written through");

    // Restart: stop this server and start another on the same data.
    let options = app.second_node();
    app.stop().await;
    let restarted = spawn_app_with(options).await;
    let mut after: Vec<(String, u64)> = restarted.cart(&token).await;
    after.sort();
    let mut want = vec![(a, 7), (b, 5)];
    want.sort();
    assert_eq!(after, want);
    restarted.cleanup().await;
    app.cleanup().await;
}

#[tokio::test]
async fn signing_in_keeps_the_guest_cart() {
    let app = spawn_app().await;
    let ids = app.product_ids().await;
    let guest = app.guest_token().await;
    put_quantity(&app, &guest, &ids[3].to_string(), json!({"quantity": 2})).await;
    let (email, password) = ("gus@example.com", "guest turned 2 shopper");
    let (status, token) = app.sign_in("/api/auth/register", Some(&guest), email, password).await;
    assert_eq!(status, 201);
    assert_eq!(app.cart(&token).await, vec![(ids[3].to_string(), 2)]);
    assert_eq!(app.session_status(&guest).await, 401, "the guest session ended at sign-in");
    let guest_sub = app.tokens.verify(&guest).unwrap().sub;
    let (still_guest, _) = app.tokens.issue(&guest_sub, swiftcart::auth::Role::Guest);
    assert!(app.cart(&still_guest).await.is_empty(), "the guest cart moved, not copied");

    // Logging in later as a new guest with items merges quantities.
    let guest2 = app.guest_token().await;
    put_quantity(&app, &guest2, &ids[3].to_string(), json!({"quantity": 3})).await;
    let (status, token) = app.sign_in("/api/auth/login", Some(&guest2), email, password).await;
    assert_eq!(status, 200);
    assert_eq!(app.cart(&token).await, vec![(ids[3].to_string(), 5)]);
    app.cleanup().await;
}

/// Guests changing their carts at once over REST, and over `/ws` beams.
const REST_CLIENTS: usize = 50;
const CHANGES_PER_CLIENT: usize = 40;
const BEAM_CLIENTS: usize = 5;
const BEAMS_PER_CLIENT: u32 = 6;

#[tokio::test]
async fn every_acknowledged_change_survives_a_node_crash_with_the_loss_of_redis() {
    let mut redis_server = PrivateRedis::start().await;
    let mut app = spawn_app_with(Options { redis_url: Some(redis_server.url()), ..Options::default() }).await;
    let ids = app.product_ids().await;

    // 2,000 REST changes from 50 clients at once; each client remembers the last cart it was
    // answered (the acknowledged state).
    let mut tokens = Vec::new();
    for _ in 0..REST_CLIENTS {
        tokens.push(app.guest_token().await);
    }
    let app_ref = &app;
    let ids_ref = &ids;
    let runs = tokens.iter().enumerate().map(|(client, token)| async move {
        let mut acknowledged = serde_json::Value::Null;
        for change in 0..CHANGES_PER_CLIENT {
            let product = ids_ref[(client + change) % ids_ref.len()];
            let response =
                put_quantity(app_ref, token, &product.to_string(), json!({"quantity": (change % 99) + 1})).await;
            assert_eq!(response.status(), 200);
            acknowledged = response.json().await.unwrap();
        }
        let mut lines: Vec<(String, u64)> = acknowledged["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["productId"].as_str().unwrap().to_string(), i["quantity"].as_u64().unwrap()))
            .collect();
        lines.sort();
        (token.clone(), lines)
    });
    // And beams over `/ws`, each waited for until its `ack`.
    let mut beamers = Vec::new();
    for _ in 0..BEAM_CLIENTS {
        let token = app.guest_token().await;
        let mut client = crate::wsclient::connect(&app, &token).await;
        client
            .wait_for(Duration::from_secs(5), |f| {
                matches!(f, physics_worker::wire::ServerFrame::Sync { .. }).then_some(())
            })
            .await
            .expect("synced");
        beamers.push((token, client));
    }
    let beams = beamers.iter_mut().enumerate().map(|(n, (_, client))| async move {
        for q in 1..=BEAMS_PER_CLIENT {
            client.send(&physics_worker::wire::ClientFrame::Beam { i: n as u32, q }).await;
            let acked = client
                .wait_for(Duration::from_secs(5), |f| {
                    matches!(f, physics_worker::wire::ServerFrame::Ack { q: got, .. } if *got == q).then_some(())
                })
                .await;
            assert!(acked.is_some(), "beam {q} acked");
        }
    });
    let (acknowledged, ()) = tokio::join!(futures_util::future::join_all(runs), async {
        futures_util::future::join_all(beams).await;
    });

    // The double fault, right after the last acknowledgement: Redis loses everything and the
    // node dies without a graceful shutdown (its background writer has nothing left to read).
    redis_server.kill();
    app.crash();
    redis_server.restart().await;
    let restarted = spawn_app_with(app.second_node()).await;

    let mut lost = 0;
    for (token, want) in &acknowledged {
        let mut have = restarted.cart(token).await;
        have.sort();
        if &have != want {
            lost += 1;
        }
    }
    assert_eq!(lost, 0, "{lost} of {REST_CLIENTS} REST carts lost acknowledged changes");
    for (n, (token, _)) in beamers.iter().enumerate() {
        assert_eq!(restarted.cart(token).await, vec![(ids[n].to_string(), BEAMS_PER_CLIENT as u64)], "beam cart {n}");
    }
    restarted.cleanup().await;
    app.cleanup().await;
}
