//! Doors an attacker tried (issue 12): each test tries to get through and is refused.

use std::process::Command;

use serde_json::{json, Value};
use swiftcart::auth::Role;

use crate::helpers::spawn_app;

#[test]
fn the_binary_refuses_to_start_in_production_with_the_local_defaults() {
    let output = Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("serve")
        .env_clear()
        .env("SWIFTCART_ENV", "production")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("the server binary runs");
    assert!(!output.status.success(), "it must not start");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let refusals: Vec<&str> = stderr.lines().filter(|l| l.starts_with("swiftcart: configuration error: ")).collect();
    // The same problems the configuration reports for the local defaults (config.rs lists them).
    let defaults = swiftcart::config::Config::from_lookup(|_| None).unwrap();
    let unsafe_vars: Vec<&str> = swiftcart::config::production_problems(&defaults).iter().map(|p| p.var).collect();
    assert_eq!(unsafe_vars.len(), 8);
    for var in &unsafe_vars {
        assert!(refusals.iter().any(|l| l.contains(var)), "{var} named in: {stderr}");
    }
    assert_eq!(refusals.len(), 8, "one line per problem: {stderr}");
}

#[tokio::test]
async fn admin_doors_check_the_role_first_and_refuse_foreign_images_and_huge_texts() {
    let app = spawn_app().await;
    let (_, shopper) = app.shopper(Role::Shopper).await;
    let (_, admin) = app.shopper(Role::Admin).await;
    // A non-admin is refused before the body is read: a malformed body still gets 403.
    let malformed = app
        .http
        .post(format!("{}/api/admin/products", app.address))
        .bearer_auth(&shopper)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 403);

    let product = |image: &str, description: &str| json!({"slug": "door-test", "name": "Door", "msrpCents": 500, "imageUrl": image, "description": description});
    for image in [
        "//evil.example/x.png",
        "/\\evil.example/x.png",
        "javascript:alert(1)",
        "/a/../b.svg",
        "/x.svg?a=<b>",
        "https://evil.example/x.png",
    ] {
        let response = app.post_json("/api/admin/products", Some(&admin), product(image, "")).await;
        assert_eq!(response.status(), 422, "{image}");
    }
    let long = "d".repeat(3_000);
    assert_eq!(app.post_json("/api/admin/products", Some(&admin), product("/favicon.svg", &long)).await.status(), 422);
    let huge = "d".repeat(300_000);
    let too_big = app.post_json("/api/admin/products", Some(&admin), product("/favicon.svg", &huge)).await;
    assert_eq!(too_big.status(), 413, "a body over 64 KiB is not read");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products WHERE slug = 'door-test'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing was created");
    assert_eq!(
        app.post_json("/api/admin/products", Some(&admin), product("/products/door.svg", "fine")).await.status(),
        201
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_422_never_echoes_the_submitted_value() {
    let app = spawn_app().await;
    let (_, shopper) = app.shopper(Role::Shopper).await;
    let card = "4242424242424242";
    let response = app
        .http
        .post(format!("{}/api/checkout", app.address))
        .bearer_auth(&shopper)
        .header("Idempotency-Key", "door-1")
        .header("content-type", "application/json")
        .body(format!(r#"{{"quoteId": {card}, "paymentMethodId": "pm_card_visa"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert!(!body.to_string().contains(card), "echoed: {body}");
    assert!(body["message"].as_str().unwrap().contains("invalid type"), "still says what is wrong: {body}");
    app.cleanup().await;
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in ["/", "/p/gravity-cast-iron-skillet", "/admin", "/api/products", "/healthz"] {
        let response = app.get(path).await;
        let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_string());
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{path}: no page may frame it");
        assert!(header("content-security-policy").unwrap_or_default().contains("frame-ancestors 'none'"), "{path}");
        assert!(header("referrer-policy").is_some(), "{path}");
        assert!(header("strict-transport-security").is_none(), "{path}: HSTS only in production");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn promoting_an_account_to_admin_ends_every_session_it_had() {
    let app = spawn_app().await;
    // A squatter registers the future admin's email first and keeps its refresh token.
    let creds = json!({"email": "ops@example.com", "password": "squatter 42 pw"});
    let squatter: Value = app.post_json("/api/auth/register", None, creds).await.json().await.unwrap();
    let squatter_token = squatter["token"].as_str().unwrap();
    assert_eq!(app.session_status(squatter_token).await, 200);
    // What `server create-admin` does: promote, then put the ended sessions on the deny-list.
    let (_, ended) =
        swiftcart::auth::users::upsert_admin(&app.pool, "ops@example.com", "operator 42 pw").await.unwrap();
    assert_eq!(ended.len(), 1, "the squatter's session");
    swiftcart::auth::revocation::Revocations::new(app.store(), 900).revoke(&ended).await.unwrap();
    assert_eq!(app.session_status(squatter_token).await, 401, "the squatter's access token ended too");
    assert_eq!(app.refresh(squatter["refreshToken"].as_str().unwrap()).await.0, 401, "no admin token by refresh");
    let (old_password, _) = app.sign_in("/api/auth/login", None, "ops@example.com", "squatter 42 pw").await;
    assert_eq!(old_password, 401);
    let (_, admin) = app.sign_in("/api/auth/login", None, "ops@example.com", "operator 42 pw").await;
    assert_eq!(app.tokens.verify(&admin).unwrap().role, Role::Admin);
    app.cleanup().await;
}

#[tokio::test]
async fn websocket_pings_get_pongs_and_count_against_the_rate() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let app = spawn_app().await;
    let token = app.guest_token().await;
    let mut client = crate::wsclient::connect(&app, &token).await;
    client.ws.send(Message::Ping(b"keepalive".to_vec().into())).await.unwrap();
    let pong = tokio::time::timeout(std::time::Duration::from_secs(3), async {
        while let Some(Ok(message)) = client.ws.next().await {
            if let Message::Pong(payload) = message {
                return Some(payload.to_vec());
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    assert_eq!(pong.as_deref(), Some(&b"keepalive"[..]), "RFC 6455: a Ping is answered with a Pong");

    // A flood of pings is a flood like any other: closed with 1008.
    let mut flooder = crate::wsclient::connect(&app, &app.guest_token().await).await;
    for _ in 0..120 {
        if flooder.ws.send(Message::Ping(b"x".to_vec().into())).await.is_err() {
            break;
        }
    }
    assert_eq!(flooder.close_code(std::time::Duration::from_secs(3)).await, Some(1008));
    app.cleanup().await;
}

#[tokio::test]
async fn guessing_passwords_is_throttled_per_account_and_per_address() {
    let app = spawn_app().await;
    let creds = |email: &str, password: &str| json!({"email": email, "password": password});
    assert_eq!(
        app.post_json("/api/auth/register", None, creds("vic@example.com", "right 42 password")).await.status(),
        201
    );
    assert_eq!(
        app.post_json("/api/auth/register", None, creds("ida@example.com", "other 42 password")).await.status(),
        201
    );

    let mut throttled = 0;
    for _ in 0..30 {
        let response = app.post_json("/api/auth/login", None, creds("VIC@example.com", "wrong 42 guess")).await;
        match response.status().as_u16() {
            401 => {}
            429 => {
                throttled += 1;
                let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=12).contains(&retry), "Retry-After {retry}");
                assert_eq!(response.json::<Value>().await.unwrap()["error"], "ERR_RATE_LIMITED");
            }
            other => panic!("unexpected {other}"),
        }
    }
    // Five guesses pass, then every attempt is refused (one more may pass on a machine so slow
    // that the 30 attempts straddle the 12-second refill).
    assert!((23..=25).contains(&throttled), "{throttled} of 30 guesses refused");
    let right = app.post_json("/api/auth/login", None, creds("vic@example.com", "right 42 password")).await;
    assert_eq!(right.status(), 429, "the right password waits too: the guesser learns nothing");
    let other = app.post_json("/api/auth/login", None, creds("ida@example.com", "other 42 password")).await;
    assert_eq!(other.status(), 200, "another account from the same address still signs in");

    // Registrations from one address: a burst, then 429.
    let mut refused = 0;
    for n in 0..30 {
        let response =
            app.post_json("/api/auth/register", None, creds(&format!("bulk{n}@example.com"), "bulk 42 password")).await;
        if response.status() == 429 {
            refused += 1;
        }
    }
    assert!(refused >= 10, "only {refused} of 30 registrations refused");
    app.cleanup().await;
}

#[tokio::test]
async fn the_gesture_queue_is_bounded() {
    use deadpool_redis::redis;
    use physics_worker::wire::GestureKind;
    use swiftcart::engine::core::{GestureOrigin, QueuedGesture};
    use swiftcart::engine::store::{queue_gesture, MAX_QUEUED_GESTURES};
    // No engine drains this prefix: a node whose engine stopped, as far as the queue can tell.
    let store = swiftcart::redis_pool::RedisStore::new(
        swiftcart::redis_pool::create_pool(&crate::helpers::shared_redis_url()).unwrap(),
        swiftcart::keys::Keys::new(format!("test:{}:", uuid::Uuid::new_v4().simple())),
    );
    let (redis, keys) = (&store.pool, &store.keys);
    let gesture = QueuedGesture {
        id: uuid::Uuid::new_v4(),
        product: uuid::Uuid::new_v4(),
        kind: GestureKind::Flick([0.1, 0.0, 0.0]),
        origin: GestureOrigin { node: "test".into(), conn: 0, q: 1 },
    };
    let mut conn = redis.get().await.unwrap();
    let filler: Vec<&[u8]> = vec![b"x"; MAX_QUEUED_GESTURES - 1];
    let _: i64 = redis::cmd("RPUSH").arg(keys.engine_gestures()).arg(filler).query_async(&mut conn).await.unwrap();
    queue_gesture(&store, &gesture).await.expect("the last free place");
    assert!(queue_gesture(&store, &gesture).await.is_err(), "a full queue refuses");
    let len: usize = redis::cmd("LLEN").arg(keys.engine_gestures()).query_async(&mut conn).await.unwrap();
    assert_eq!(len, MAX_QUEUED_GESTURES);
    let _: i64 = redis::cmd("DEL").arg(keys.engine_gestures()).query_async(&mut conn).await.unwrap();
}

#[tokio::test]
async fn idle_carts_leave_redis_and_old_rows_leave_postgresql() {
    use deadpool_redis::redis;
    let app = spawn_app().await;
    let token = app.guest_token().await;
    let sub = app.tokens.verify(&token).unwrap().sub;
    app.put_cart(&token, app.product_ids().await[0], 1).await;
    let mut conn = app.redis.get().await.unwrap();
    let ttl: i64 = redis::cmd("TTL").arg(app.keys.user_cart(&sub)).query_async(&mut conn).await.unwrap();
    assert!(ttl > 0 && ttl as u64 <= swiftcart::cart::IDLE_CART_SECS, "a cart key expires when idle (TTL {ttl})");

    // Rows past their retention, beside rows that must stay.
    let (shopper, _) = app.shopper(Role::Shopper).await;
    let exec = |sql: String| {
        let pool = app.pool.clone();
        async move { sqlx::query(&sql).execute(&pool).await.unwrap() }
    };
    exec("INSERT INTO carts (owner_sub, updated_at) VALUES ('old-guest', now() - interval '40 days'), ('new-guest', now())".into()).await;
    exec(format!("INSERT INTO carts (owner_sub, updated_at) VALUES ('{shopper}', now() - interval '400 days')")).await;
    exec(
        "INSERT INTO refresh_tokens (token_hash, family_id, guest_sub, expires_at) VALUES
          ('\\x01', gen_random_uuid(), 'old-guest', now() - interval '2 days'),
          ('\\x02', gen_random_uuid(), 'new-guest', now() + interval '2 days')"
            .to_string(),
    )
    .await;
    exec(format!(
        "INSERT INTO quotes (id, user_id, status, total_cents, created_at, expires_at) VALUES
         ('00000000-0000-0000-0000-0000000000a1', '{shopper}', 'released', 100, now() - interval '2 days', now() - interval '2 days'),
         ('00000000-0000-0000-0000-0000000000a2', '{shopper}', 'released', 100, now() - interval '2 days', now() - interval '2 days'),
         ('00000000-0000-0000-0000-0000000000a3', '{shopper}', 'released', 100, now(), now())"
    ))
    .await;
    exec(format!(
        "INSERT INTO orders (user_id, status, total_cents, quote_id) VALUES ('{shopper}', 'failed', 100, '00000000-0000-0000-0000-0000000000a2')"
    ))
    .await;
    exec("INSERT INTO stripe_events (id, event_type, received_at) VALUES ('evt_old', 'x', now() - interval '40 days'), ('evt_new', 'x', now())".into()).await;

    let pruned = swiftcart::retention::prune(&app.pool).await.unwrap();
    assert_eq!(
        (pruned.guest_carts, pruned.refresh_tokens, pruned.quotes, pruned.stripe_events),
        (1, 1, 1, 1),
        "{pruned:?}"
    );
    let left = |sql: &'static str| {
        let pool = app.pool.clone();
        async move { sqlx::query_scalar::<_, String>(sql).fetch_all(&pool).await.unwrap() }
    };
    let carts = left("SELECT owner_sub FROM carts ORDER BY owner_sub").await;
    assert!(
        carts.contains(&"new-guest".to_string())
            && carts.contains(&shopper.to_string())
            && !carts.contains(&"old-guest".to_string())
    );
    assert_eq!(
        left("SELECT id::text FROM quotes ORDER BY id").await,
        vec!["00000000-0000-0000-0000-0000000000a2".to_string(), "00000000-0000-0000-0000-0000000000a3".to_string()],
        "a quote an order refers to stays"
    );
    assert_eq!(left("SELECT id FROM stripe_events").await, vec!["evt_new".to_string()]);
    app.cleanup().await;
}

#[tokio::test]
async fn one_session_cannot_hoard_sockets() {
    let app = spawn_app().await;
    let token = app.guest_token().await;
    let mut held = Vec::new();
    for _ in 0..swiftcart::realtime::admission::MAX_SOCKETS_PER_SUBJECT {
        held.push(crate::wsclient::connect(&app, &token).await);
    }
    let protocols = format!("swiftcart.v1, bearer.{token}");
    let refused = crate::wsclient::open(&app, Some(crate::helpers::ALLOWED_ORIGIN), Some(&protocols)).await;
    assert_eq!(refused.err(), Some(429), "one more socket for the same session is refused");
    let other = app.guest_token().await;
    let _fine = crate::wsclient::connect(&app, &other).await;
    // Closing one frees its place.
    held.pop();
    let again = crate::helpers::eventually(std::time::Duration::from_secs(3), || {
        let protocols = protocols.clone();
        let app = &app;
        async move { crate::wsclient::open(app, Some(crate::helpers::ALLOWED_ORIGIN), Some(&protocols)).await.is_ok() }
    })
    .await;
    assert!(again.is_some(), "a closed socket's place comes back");
    app.cleanup().await;
}

#[tokio::test]
async fn one_shopper_cannot_hold_a_products_whole_stock() {
    let app = spawn_app().await;
    let (_, shopper) = app.shopper(Role::Shopper).await;
    let ids = app.product_ids().await;
    let reserved = |id| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i32>("SELECT reserved_count FROM inventory WHERE product_id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    app.put_cart(&shopper, ids[0], 11).await;
    let quote = app.post_json("/api/checkout/quote", Some(&shopper), json!({})).await;
    assert_eq!(quote.status(), 422, "11 of one product");
    assert_eq!(reserved(ids[0]).await, 0, "nothing reserved");
    app.put_cart(&shopper, ids[0], 10).await;
    app.put_cart(&shopper, ids[1], 10).await;
    app.put_cart(&shopper, ids[2], 1).await;
    assert_eq!(app.post_json("/api/checkout/quote", Some(&shopper), json!({})).await.status(), 422, "21 units");
    let _ = app
        .http
        .delete(format!("{}/api/cart/items/{}", app.address, ids[2]))
        .bearer_auth(&shopper)
        .send()
        .await
        .unwrap();
    assert_eq!(app.post_json("/api/checkout/quote", Some(&shopper), json!({})).await.status(), 201, "20 units");
    assert_eq!(reserved(ids[0]).await, 10);

    // Quotes churn stock rows: a burst, then 429 with Retry-After, and the held quote stays.
    let mut statuses = Vec::new();
    for _ in 0..swiftcart::checkout::QUOTE_BURST {
        statuses.push(app.post_json("/api/checkout/quote", Some(&shopper), json!({})).await);
    }
    let refused = statuses.into_iter().find(|r| r.status() == 429).expect("quotes are rate-limited");
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=swiftcart::checkout::QUOTE_REFILL.as_secs()).contains(&retry), "Retry-After {retry}");
    assert_eq!(reserved(ids[0]).await, 10, "the last granted quote still holds its units");
    let (_, other) = app.shopper(Role::Shopper).await;
    app.put_cart(&other, ids[3], 1).await;
    assert_eq!(app.post_json("/api/checkout/quote", Some(&other), json!({})).await.status(), 201, "others quote");
    app.cleanup().await;
}

#[tokio::test]
async fn metrics_are_for_the_operator_when_a_token_is_set() {
    let token = "scrape-Zq8Kp0vW2xYb7Lr5Tn9Hc1Md4Gs6Ja8";
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        metrics_token: Some(token.into()),
        ..Default::default()
    })
    .await;
    let get = |bearer: Option<&str>| {
        let mut request = app.http.get(format!("{}/metrics", app.address));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        async move { request.send().await.unwrap() }
    };
    assert_eq!(get(None).await.status(), 401);
    assert_eq!(get(Some("scrape-wrong")).await.status(), 401);
    let scraped = get(Some(token)).await;
    assert_eq!(scraped.status(), 200);
    assert!(scraped.text().await.unwrap().contains("swiftcart_ws_connections"));
    app.cleanup().await;
}

/// Reads from `tcp` until the server closes it (or `within` passes: `None`); returns what came.
async fn read_bytes_until_closed(
    tcp: &mut (impl tokio::io::AsyncRead + Unpin),
    within: std::time::Duration,
) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| received)
}

/// [`read_bytes_until_closed`], as text.
async fn read_until_closed(
    tcp: &mut (impl tokio::io::AsyncRead + Unpin),
    within: std::time::Duration,
) -> Option<String> {
    read_bytes_until_closed(tcp, within).await.map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn slow_and_idle_clients_are_cut_off() {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        header_timeout_secs: Some(1),
        request_timeout_secs: Some(2),
        ..Default::default()
    })
    .await;
    let host = app.address.trim_start_matches("http://").to_string();
    let patience = std::time::Duration::from_secs(6);

    // Connected, silent.
    let mut idle = TcpStream::connect(&host).await.unwrap();
    assert!(read_until_closed(&mut idle, patience).await.is_some(), "an idle connection is closed");

    // Headers that never finish (slowloris).
    let mut slow = TcpStream::connect(&host).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    assert!(read_until_closed(&mut slow, patience).await.is_some(), "unfinished headers are cut off");

    // A keep-alive connection left idle after its first answer.
    let mut kept = TcpStream::connect(&host).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let answered = read_until_closed(&mut kept, patience).await.expect("closed once idle");
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");

    // A body that trickles in, a byte at a time.
    let mut trickle = TcpStream::connect(&host).await.unwrap();
    trickle
        .write_all(b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (mut reader, mut writer) = trickle.into_split();
    let dripping = tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            if writer.write_all(b" ").await.is_err() {
                break;
            }
        }
    });
    let answer = read_until_closed(&mut reader, patience).await.expect("the trickling request is closed");
    dripping.abort();
    assert!(answer.starts_with("HTTP/1.1 408"), "a trickling body gets 408: {answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(8));

    // Ordinary requests are unaffected.
    assert_eq!(app.http.get(format!("{}/healthz", app.address)).send().await.unwrap().status(), 200);
    app.cleanup().await;
}

#[tokio::test]
async fn one_address_cannot_hold_every_connection_or_socket_or_mint_endless_guests() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        connections_per_address: Some(4),
        ..Default::default()
    })
    .await;
    let host = app.address.trim_start_matches("http://").to_string();

    // Four guests, four sockets: upgraded sockets count per address too.
    let mut sockets = Vec::new();
    for _ in 0..4 {
        let token = app.guest_token().await;
        sockets.push(crate::wsclient::connect(&app, &token).await);
    }
    let token = app.guest_token().await;
    let protocols = format!("swiftcart.v1, bearer.{token}");
    let refused = crate::wsclient::open(&app, Some(crate::helpers::ALLOWED_ORIGIN), Some(&protocols)).await;
    assert_eq!(refused.err(), Some(429), "a fifth socket from one address is refused");
    drop(sockets);

    // Four idle keep-alive HTTP connections, each answered once (so the server holds it); a
    // fifth is closed at once without an answer. They come from 127.0.0.2, an address of their
    // own, so the test client's pooled connections from 127.0.0.1 take none of the four places.
    let neighbour: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let server: std::net::SocketAddr = host.parse().unwrap();
    let answered_from = |address| async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(std::net::SocketAddr::new(address, 0)).unwrap();
        let mut connection = socket.connect(server).await.ok()?;
        connection.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.ok()?;
        let mut head = [0u8; 12];
        connection.read_exact(&mut head).await.ok()?;
        (&head == b"HTTP/1.1 200").then_some(connection)
    };
    let mut held = Vec::new();
    for n in 1..=4 {
        held.push(answered_from(neighbour).await.unwrap_or_else(|| panic!("connection {n} of 4 is admitted")));
    }
    let fifth = tokio::net::TcpSocket::new_v4().unwrap();
    fifth.bind(std::net::SocketAddr::new(neighbour, 0)).unwrap();
    let mut fifth = fifth.connect(server).await.unwrap();
    let closed = read_until_closed(&mut fifth, std::time::Duration::from_secs(2)).await;
    assert_eq!(closed.as_deref(), Some(""), "the fifth connection is closed at once");
    assert!(answered_from("127.0.0.1".parse().unwrap()).await.is_some(), "other addresses are not held back");
    drop(held);
    let freed = crate::helpers::eventually(std::time::Duration::from_secs(3), || async {
        answered_from(neighbour).await.is_some()
    })
    .await;
    assert!(freed.is_some(), "closed connections free their places");

    // Guest sessions: a burst, then 429 with Retry-After, and nothing written for the refused.
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM refresh_tokens").fetch_one(&app.pool).await.unwrap();
    let mut minted = 0;
    let mut refused = None;
    for _ in 0..swiftcart::auth::throttle::GUESTS_PER_ADDRESS_BURST + 5 {
        let response = app.post_json("/api/auth/guest", None, json!({})).await;
        match response.status().as_u16() {
            200 => minted += 1,
            429 => refused = Some(response),
            other => panic!("unexpected {other}"),
        }
    }
    let refused = refused.expect("guest minting is throttled");
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "ERR_RATE_LIMITED");
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM refresh_tokens").fetch_one(&app.pool).await.unwrap();
    assert_eq!(after - before, minted, "a refused guest leaves no row");
    assert!(minted <= swiftcart::auth::throttle::GUESTS_PER_ADDRESS_BURST as i64 + 1);
    app.cleanup().await;
}

#[tokio::test]
async fn a_silent_socket_is_pinged_then_closed_while_an_answering_one_stays() {
    use futures_util::StreamExt;
    let app =
        crate::helpers::spawn_app_with(crate::helpers::Options { socket_idle_secs: Some(1), ..Default::default() })
            .await;
    // tokio-tungstenite answers Pings while it reads, as browsers do.
    let mut answering = crate::wsclient::connect(&app, &app.guest_token().await).await;
    let mut silent = crate::wsclient::open_raw(&app, &app.guest_token().await, None).await;
    let (heard, silent_end) = tokio::join!(
        async {
            let mut frames = 0;
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(4);
            while let Ok(Some(message)) = tokio::time::timeout_at(deadline, answering.ws.next()).await {
                match message {
                    Ok(tokio_tungstenite::tungstenite::Message::Close(frame)) => panic!("closed: {frame:?}"),
                    Ok(_) => frames += 1,
                    Err(e) => panic!("{e}"),
                }
            }
            frames
        },
        read_bytes_until_closed(&mut silent, std::time::Duration::from_secs(6)),
    );
    assert!(heard > 20, "the answering client kept getting ticks ({heard} frames)");
    let bytes = silent_end.expect("the silent client is closed");
    let has = |pattern: &[u8]| bytes.windows(pattern.len()).any(|w| w == pattern);
    assert!(has(&[0x89, 0x00]), "it was pinged first");
    assert!(has(&[0x88]) && has(&1001u16.to_be_bytes()) && has(b"no answer to pings"), "then closed with 1001");
    app.cleanup().await;
}
