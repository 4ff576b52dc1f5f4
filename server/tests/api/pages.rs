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

#[tokio::test]
async fn a_product_named_like_markup_stays_text_on_every_page() {
    let app = spawn_app().await;
    let (_, admin) = app.shopper(swiftcart::auth::Role::Admin).await;
    let hostile = r#"</title><script>alert(1)</script>"><img src=x onerror=alert(2)>]]>"#;
    let created = app
        .post_json(
            "/api/admin/products",
            Some(&admin),
            serde_json::json!({"slug": "hostile-name", "name": hostile, "description": hostile, "msrpCents": 1000, "stockCount": 3}),
        )
        .await;
    assert_eq!(created.status(), 201);
    for path in ["/p/hostile-name", "/"] {
        let html = app.get(path).await.text().await.unwrap();
        assert!(html.contains("&lt;/title&gt;&lt;script&gt;alert(1)"), "{path}: the name is shown, escaped");
        assert!(!html.contains("<script>alert(1)"), "{path}: no script from a product's text");
        assert!(!html.contains("<img src=x"), "{path}: no element from a product's text");
        let head = &html[..html.find("</head>").unwrap()];
        assert_eq!(head.matches("</title>").count(), 1, "{path}: the title ends once");
    }
    app.cleanup().await;
}

/// Every page carries a Content-Security-Policy whose script nonce is new on every response
/// and is on every script the page itself has, so an injected `<script>` would not run.
#[tokio::test]
async fn pages_allow_only_their_own_nonced_scripts() {
    let app = spawn_app().await;
    let mut nonces = Vec::new();
    for path in ["/", "/p/gravity-cast-iron-skillet", "/login", "/no-such-page"] {
        let response = app.get(path).await;
        let policy = response.headers()["content-security-policy"].to_str().unwrap().to_string();
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("{path}: no nonce in {policy}"))
            .to_string();
        assert!(nonce.len() >= 16, "{path}: a nonce of at least 128 bits");
        let scripts = policy.split(';').find(|d| d.trim().starts_with("script-src")).unwrap();
        assert!(!scripts.contains("'unsafe-inline'"), "{path}: {scripts}");
        assert!(policy.contains("frame-ancestors 'none'"), "{path}");
        let html = response.text().await.unwrap();
        let script_tags: Vec<&str> = html.split("<script").skip(1).map(|s| &s[..s.find('>').unwrap()]).collect();
        assert!(!script_tags.is_empty(), "{path}: the hydration script is there");
        for tag in script_tags {
            assert!(tag.contains(&format!("nonce=\"{nonce}\"")), "{path}: a script without the nonce: <script{tag}>");
        }
        nonces.push(nonce);
    }
    let distinct: std::collections::HashSet<_> = nonces.iter().collect();
    assert_eq!(distinct.len(), nonces.len(), "a new nonce on every response");
    // Answers that are not pages keep the strict default.
    let api = app.get("/api/products").await;
    assert!(api.headers()["content-security-policy"].to_str().unwrap().contains("object-src 'none'"));
    app.cleanup().await;
}

/// A first visit is light: pages and JSON travel compressed, and the home page asks for the
/// first images at once, and for its bundles and the worker right after its first paint.
#[tokio::test]
async fn answers_are_compressed_and_static_files_say_how_long_to_keep_them() {
    let app = spawn_app().await;
    // reqwest is built without decompression here: the bytes are what travelled.
    let raw = reqwest::Client::builder().no_gzip().no_brotli().build().unwrap();
    for (path, encoding) in [("/", "br"), ("/", "gzip"), ("/api/products", "br"), ("/api/products", "gzip")] {
        let response =
            raw.get(format!("{}{path}", app.address)).header("Accept-Encoding", encoding).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers().get("content-encoding").map(|v| v.to_str().unwrap()), Some(encoding), "{path}");
    }
    let plain = raw.get(format!("{}/api/products", app.address)).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none(), "no encoding the client did not ask for");
    let compressed = raw.get(format!("{}/", app.address)).header("Accept-Encoding", "br").send().await.unwrap();
    let html = app.get("/").await.text().await.unwrap();
    let travelled = compressed.bytes().await.unwrap().len();
    assert!(travelled * 4 < html.len(), "the page shrinks at least 4×: {travelled} of {} bytes", html.len());
    let head = &html[..html.find("</head>").unwrap()];
    let after_paint = &head[head.find(r#"<template id="hydration-scripts">"#).expect("an inert template")..];
    let after_paint = &after_paint[..after_paint.find("</template>").unwrap()];
    assert!(
        after_paint.contains(r#"id="worker-script" rel="modulepreload" href="/worker/worker."#)
            && after_paint.contains(r#"href="/worker/worker_bg."#)
            && after_paint.contains(r#"href="/pkg/swiftcart."#),
        "the hydrate bundle, the worker and its wasm are fetched right after the first paint: {head}"
    );
    assert!(html.contains(r#"fetchpriority="high""#) && html.contains(r#"loading="lazy""#));
    app.cleanup().await;
}
