use crate::helpers::spawn_app;

#[tokio::test]
async fn the_home_page_renders_every_product_on_the_server() {
    let app = spawn_app().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    let cards = html.matches("data-product-id=").count();
    assert!(cards >= 60, "only {cards} product cards in the SSR html");
    assert!(html.contains("data-price-cents="));
    // Its live price: $129.00 list, decaying (about 10 cents a second) from the engine's start.
    let card = &html[html.find("Aurora Merino Throw").expect("the product is listed")..];
    let price = card.split("product-price\">").nth(1).and_then(|p| p.split('<').next()).unwrap_or_default();
    assert!(price.starts_with("$12") && price.len() == "$129.00".len(), "price shown: {price:?}");
    assert!(html.contains("40 in stock"));
    assert!(html.contains("/pkg/swiftcart.js"), "the hydrate script is referenced");
    app.cleanup().await;
}

#[tokio::test]
async fn a_product_page_renders_and_an_unknown_one_is_404() {
    let app = spawn_app().await;
    let response = app.get("/p/gravity-cast-iron-skillet").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("Gravity Cast-Iron Skillet") && html.contains("$72.00"));

    let missing = app.get("/p/no-such-thing").await;
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("lost in space"));
    let nowhere = app.get("/nowhere/at/all").await;
    assert_eq!(nowhere.status(), 404);
    app.cleanup().await;
}
