use std::time::Duration;

use serde_json::Value;

use crate::helpers::{eventually, postgres_addr, spawn_app, spawn_app_with, Options, PrivateRedis, ToggleProxy};

#[tokio::test]
async fn healthz_is_ok_when_both_services_answer() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok", "checks": {"redis": "ok", "postgres": "ok"}}));
    app.cleanup().await;
}

async fn health_of(app: &crate::helpers::TestApp) -> (u16, Value) {
    let response = app.get("/healthz").await;
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn losing_redis_names_it_within_two_seconds_and_its_return_restores_the_product_state() {
    let mut redis = PrivateRedis::start().await;
    let app = spawn_app_with(Options { redis_url: Some(redis.url()), ..Options::default() }).await;
    let products = app.product_ids().await.len();
    assert!(products >= 60);
    assert_eq!(app.product_hashes_present().await, products, "cold boot wrote every hash");

    redis.kill();
    let noticed = eventually(Duration::from_secs(2), || async {
        let (status, body) = health_of(&app).await;
        status == 503 && body["checks"]["redis"] == "down" && body["checks"]["postgres"] == "ok"
    })
    .await;
    assert!(noticed.is_some(), "healthz did not report redis down within 2 s");

    redis.restart().await; // empty, like a restarted Redis that keeps nothing on disk
    let healthy = eventually(Duration::from_secs(3), || async { health_of(&app).await.0 == 200 }).await;
    assert!(healthy.is_some(), "healthz did not recover");
    let restored =
        eventually(Duration::from_secs(2), || async { app.product_hashes_present().await == products }).await;
    assert!(restored.is_some(), "product hashes were not restored");
    app.cleanup().await;
}

#[tokio::test]
async fn losing_postgres_names_it_and_its_return_restores_ok() {
    let proxy = ToggleProxy::start(postgres_addr()).await;
    let app = spawn_app_with(Options { postgres_via: Some(proxy.addr), ..Options::default() }).await;
    assert_eq!(health_of(&app).await.0, 200);

    proxy.cut();
    let noticed = eventually(Duration::from_secs(2), || async {
        let (status, body) = health_of(&app).await;
        status == 503 && body["checks"]["postgres"] == "down" && body["checks"]["redis"] == "ok"
    })
    .await;
    assert!(noticed.is_some(), "healthz did not report postgres down within 2 s");

    proxy.restore();
    let healthy = eventually(Duration::from_secs(5), || async { health_of(&app).await.0 == 200 }).await;
    assert!(healthy.is_some(), "healthz did not recover");
    app.cleanup().await;
}

#[tokio::test]
async fn a_deleted_product_hash_is_rebuilt_within_a_second() {
    let app = spawn_app().await;
    let ids = app.product_ids().await;
    let key = app.keys.product_state(ids[5]);
    let mut conn = app.redis.get().await.unwrap();
    let _: () = deadpool_redis::redis::cmd("DEL").arg(&key).query_async(&mut conn).await.unwrap();
    let rebuilt =
        eventually(Duration::from_secs(1), || async { app.product_hashes_present().await == ids.len() }).await;
    assert!(rebuilt.is_some(), "hash not rebuilt within 1 s");
    let price: i64 =
        deadpool_redis::redis::cmd("HGET").arg(&key).arg("price_current").query_async(&mut conn).await.unwrap();
    let (msrp, floor): (i64, i64) = sqlx::query_as("SELECT msrp_cents, price_floor_cents FROM products WHERE id = $1")
        .bind(ids[5])
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!((floor..=msrp).contains(&price), "rebuilt price {price} outside [{floor}, {msrp}]");
    drop(conn);
    app.cleanup().await;
}
