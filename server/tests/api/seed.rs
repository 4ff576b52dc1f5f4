use crate::helpers::spawn_app;

#[tokio::test]
async fn seeding_again_adds_nothing_and_keeps_live_stock() {
    let app = spawn_app().await; // already seeded once
    sqlx::query("UPDATE inventory SET stock_count = 3, reserved_count = 1 WHERE product_id = (SELECT id FROM products ORDER BY sort_order LIMIT 1)")
        .execute(&app.pool)
        .await
        .unwrap();
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM products").fetch_one(&app.pool).await.unwrap();

    let report = swiftcart::seed::run(&app.pool).await.unwrap();
    assert_eq!(report.inserted, 0);
    assert_eq!(report.already_present as i64, before);
    let (stock, reserved): (i32, i32) = sqlx::query_as(
        "SELECT stock_count, reserved_count FROM inventory WHERE product_id = (SELECT id FROM products ORDER BY sort_order LIMIT 1)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((stock, reserved), (3, 1));
    app.cleanup().await;
}

#[tokio::test]
async fn the_database_refuses_negative_or_over_reserved_stock() {
    let app = spawn_app().await;
    for update in [
        "UPDATE inventory SET stock_count = -1",
        "UPDATE inventory SET reserved_count = -1",
        "UPDATE inventory SET reserved_count = stock_count + 1",
    ] {
        let err = sqlx::query(update).execute(&app.pool).await.unwrap_err();
        assert!(err.to_string().contains("check constraint"), "{update}: {err}");
    }
    app.cleanup().await;
}
