use deadpool_redis::redis;
use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn cold_boot_writes_every_contract_field_for_every_product() {
    let app = spawn_app().await;
    let ids = app.product_ids().await;
    let mut conn = app.redis.get().await.unwrap();
    for id in &ids {
        let fields: std::collections::HashMap<String, String> =
            redis::cmd("HGETALL").arg(app.keys.product_state(*id)).query_async(&mut conn).await.unwrap();
        for f in ["p_x", "p_y", "p_z", "v_x", "v_y", "v_z", "m", "g"] {
            let v: f32 = fields[f].parse().unwrap_or_else(|_| panic!("{f} is not a number"));
            assert!(v.is_finite());
        }
        assert!(fields["price_current"].parse::<i64>().unwrap() > 0);
    }
    drop(conn);
    app.cleanup().await;
}

#[tokio::test]
async fn the_product_list_has_the_contract_shape_and_live_prices() {
    let app = spawn_app().await;
    let body: Value = app.get("/api/products").await.json().await.unwrap();
    let products = body["products"].as_array().unwrap();
    assert!(products.len() >= 60);
    let first = &products[0];
    for key in
        ["productId", "slug", "name", "description", "imageUrl", "msrpCents", "priceCurrentCents", "stockLevel", "mass"]
    {
        assert!(!first[key].is_null(), "missing {key}");
    }

    // The live price is the engine's, from Redis: once it has decayed below msrp, the API's
    // price sits between two Redis readings taken around it (prices only fall while idle).
    let id: uuid::Uuid = first["productId"].as_str().unwrap().parse().unwrap();
    let msrp = first["msrpCents"].as_i64().unwrap();
    let slug = first["slug"].as_str().unwrap().to_string();
    let mut conn = app.redis.get().await.unwrap();
    let key = app.keys.product_state(id);
    let decayed = crate::helpers::eventually(std::time::Duration::from_secs(3), || {
        let key = key.clone();
        let redis = app.redis.clone();
        async move {
            let mut c = redis.get().await.unwrap();
            let p: i64 = redis::cmd("HGET").arg(&key).arg("price_current").query_async(&mut c).await.unwrap();
            p < msrp
        }
    })
    .await;
    assert!(decayed.is_some(), "the engine never moved the price");
    let before: i64 = redis::cmd("HGET").arg(&key).arg("price_current").query_async(&mut conn).await.unwrap();
    let one: Value = app.get(&format!("/api/products/{slug}")).await.json().await.unwrap();
    let after: i64 = redis::cmd("HGET").arg(&key).arg("price_current").query_async(&mut conn).await.unwrap();
    let api = one["priceCurrentCents"].as_i64().unwrap();
    assert!(after <= api && api <= before, "API price {api} not between Redis readings {before} and {after}");
    drop(conn);
    app.cleanup().await;
}

#[tokio::test]
async fn stock_level_is_stock_minus_reservations() {
    let app = spawn_app().await;
    let body: Value = app.get("/api/products").await.json().await.unwrap();
    let slug = body["products"][0]["slug"].as_str().unwrap().to_string();
    sqlx::query("UPDATE inventory SET stock_count = 10, reserved_count = 3 WHERE product_id = (SELECT id FROM products WHERE slug = $1)")
        .bind(&slug)
        .execute(&app.pool)
        .await
        .unwrap();
    let one: Value = app.get(&format!("/api/products/{slug}")).await.json().await.unwrap();
    assert_eq!(one["stockLevel"], 7);
    app.cleanup().await;
}

#[tokio::test]
async fn unknown_products_and_bad_limits_get_clear_errors() {
    let app = spawn_app().await;
    let missing = app.get("/api/products/no-such-thing").await;
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "ERR_NOT_FOUND");
    assert!(body["message"].as_str().unwrap().len() > 3);

    let list: Value = app.get("/api/products").await.json().await.unwrap();
    let slug = list["products"][0]["slug"].as_str().unwrap().to_string();
    for bad in ["0", "-1", "abc", "100000"] {
        let r = app.get(&format!("/api/products/{slug}/price-history?limit={bad}")).await;
        assert_eq!(r.status(), 422, "limit={bad}");
    }
    assert_eq!(app.get("/api/products/no-such-thing/price-history").await.status(), 404);
    app.cleanup().await;
}

#[tokio::test]
async fn price_history_returns_the_newest_points_oldest_first() {
    let app = spawn_app().await;
    let list: Value = app.get("/api/products").await.json().await.unwrap();
    let slug = list["products"][0]["slug"].as_str().unwrap().to_string();
    let id: uuid::Uuid = list["products"][0]["productId"].as_str().unwrap().parse().unwrap();
    // Dated in the future so they are the newest, whatever the running engine logs meanwhile.
    for (minutes_ahead, price) in [(10, 1000), (20, 990), (30, 980)] {
        sqlx::query("INSERT INTO price_history (product_id, price_cents, recorded_at) VALUES ($1, $2, now() + make_interval(mins => $3))")
            .bind(id)
            .bind(price as i64)
            .bind(minutes_ahead)
            .execute(&app.pool)
            .await
            .unwrap();
    }
    let body: Value = app.get(&format!("/api/products/{slug}/price-history?limit=2")).await.json().await.unwrap();
    let prices: Vec<i64> =
        body["points"].as_array().unwrap().iter().map(|p| p["priceCents"].as_i64().unwrap()).collect();
    assert_eq!(prices, vec![990, 980]);
    app.cleanup().await;
}

#[tokio::test]
async fn a_search_finds_products_by_part_of_the_name_forgiving_a_typo() {
    let app = spawn_app().await;
    let list: Value = app.get("/api/products").await.json().await.unwrap();
    let name = list["products"][0]["name"].as_str().unwrap().to_string();
    let id = list["products"][0]["productId"].clone();
    let word = name.split_whitespace().max_by_key(|w| w.len()).unwrap().to_lowercase();
    assert!(word.len() >= 5, "a word long enough to forgive a typo in: {word}");
    let typo: String = word.chars().enumerate().filter(|(i, _)| *i != 2).map(|(_, c)| c).collect();
    for q in [word.clone(), word.to_uppercase(), typo] {
        let found: Value = app.get(&format!("/api/products?q={q}")).await.json().await.unwrap();
        let products = found["products"].as_array().unwrap();
        assert!(products.iter().any(|p| p["productId"] == id), "{q:?} finds {name:?}: {found}");
        assert!(products.len() <= 8, "at most 8 matches");
        assert!(products[0]["priceCurrentCents"].is_i64(), "the contract's product shape");
    }
    // Too short, markup, and no match find nothing; an overlong search is refused.
    for q in ["x", "%3C%2Ftitle%3E%3Cscript%3E", "zzzzqqqq"] {
        let found: Value = app.get(&format!("/api/products?q={q}")).await.json().await.unwrap();
        assert_eq!(found["products"], serde_json::json!([]), "{q}");
    }
    let long = app.get(&format!("/api/products?q={}", "a".repeat(81))).await;
    assert_eq!(long.status(), 422);
    assert_eq!(long.json::<Value>().await.unwrap()["error"], "ERR_INVALID");
    app.cleanup().await;
}
