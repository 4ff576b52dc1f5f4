//! `/ws`: the handshake, the frames, gestures across nodes, and every kind of bad input.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use futures_util::SinkExt;
use physics_worker::manifold::Manifold;
use physics_worker::physics::{step, StepScratch, WellParams};
use physics_worker::wire::{ClientFrame, ErrCode, Reason, ServerFrame};
use swiftcart::auth::{Claims, Role, TokenKeys};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{spawn_app, spawn_app_with, Options, TestApp, ALLOWED_ORIGIN};
use crate::wsclient::{connect, open, open_non_reading, Next, WsClient};

const SECOND: Duration = Duration::from_secs(1);

/// What a `sync` frame holds: catalog size, state size, cart lines as (index, quantity).
type SyncSummary = (usize, usize, Vec<(u32, u32)>);

fn sync_of(frame: &ServerFrame) -> Option<SyncSummary> {
    match frame {
        ServerFrame::Sync { catalog, s, cart, .. } => {
            Some((catalog.len(), s.len(), cart.iter().map(|l| (l.i, l.qty)).collect()))
        }
        _ => None,
    }
}

async fn synced(app: &TestApp, token: &str) -> WsClient {
    let mut client = connect(app, token).await;
    client.wait_for(5 * SECOND, sync_of).await.expect("a sync frame first");
    client
}

#[tokio::test]
async fn the_handshake_refuses_bad_origins_and_bad_tokens_before_upgrading() {
    let app = spawn_app().await;
    let good = app.guest_token().await;
    let with = |token: &str| format!("swiftcart.v1, bearer.{token}");
    assert_eq!(open(&app, None, Some(&with(&good))).await.err(), Some(403), "no Origin");
    assert_eq!(open(&app, Some("http://evil.test"), Some(&with(&good))).await.err(), Some(403), "foreign Origin");
    assert_eq!(
        open(&app, Some("http://allowed.test.evil"), Some(&with(&good))).await.err(),
        Some(403),
        "prefix match is not enough"
    );
    assert_eq!(open(&app, Some(ALLOWED_ORIGIN), Some("swiftcart.v1")).await.err(), Some(401), "no token");
    assert_eq!(open(&app, Some(ALLOWED_ORIGIN), None).await.err(), Some(401), "no subprotocol at all");

    let claims = app.tokens.verify(&good).unwrap();
    let now = swiftcart::clock::unix_now();
    let expired = app.tokens.sign(&Claims { exp: now - 1, iat: now - 901, ..claims.clone() });
    let wrong_key = TokenKeys::new(&[9u8; 32]).sign(&claims);
    let wrong_aud = app.tokens.sign(&Claims { aud: "someone-else".into(), ..claims.clone() });
    let payload = good.split('.').nth(1).unwrap();
    let signature = good.split('.').nth(2).unwrap();
    let alg_none = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#));
    let rs256 = format!("{}.{payload}.{signature}", URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#));
    for (what, token) in [
        ("expired", expired),
        ("wrong key", wrong_key),
        ("wrong audience", wrong_aud),
        ("alg none", alg_none),
        ("RS256", rs256),
        ("garbage", "x.y.z".into()),
    ] {
        assert_eq!(open(&app, Some(ALLOWED_ORIGIN), Some(&with(&token))).await.err(), Some(401), "{what}");
    }
    let not_an_upgrade = app
        .http
        .get(app.ws_url().replacen("ws://", "http://", 1))
        .header("Origin", ALLOWED_ORIGIN)
        .header("Sec-WebSocket-Protocol", with(&good))
        .send()
        .await
        .unwrap();
    assert_eq!(not_an_upgrade.status(), 400, "a plain GET is not an upgrade");
    assert!(open(&app, Some(ALLOWED_ORIGIN), Some(&with(&good))).await.is_ok());
    app.cleanup().await;
}

#[tokio::test]
async fn a_socket_gets_sync_then_state_frames_in_tick_order_with_keyframes() {
    let app = spawn_app().await;
    let token = app.guest_token().await;
    let mut client = connect(&app, &token).await;
    let (catalog, state, cart) = client.wait_for(5 * SECOND, sync_of).await.expect("sync first");
    let products = app.product_ids().await.len();
    assert_eq!((catalog, state, cart.len()), (products, products, 0));

    let mut ticks = Vec::new();
    let mut keyframes = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2_200) {
        let frame = client.next(SECOND).await;
        if matches!(frame, Some(Next::Frame(ServerFrame::Stock { .. }))) {
            continue; // stock levels come between the ticks
        }
        let Some(Next::Frame(ServerFrame::State { n, s, t })) = frame else { panic!("state frames keep coming") };
        assert!(t > 0.0);
        let keyframe = s.len() == products;
        if keyframe {
            keyframes += 1;
        }
        ticks.push((n, keyframe));
    }
    // In order and never twice. A socket that fell behind skips ticks by design (the hub does not
    // queue for it), and then its next frame is a keyframe, so no change is lost.
    for pair in ticks.windows(2) {
        let [(before, _), (after, keyframe)] = pair else { unreachable!() };
        assert!(after > before, "ticks in order, each once: {ticks:?}");
        assert!(*after == before + 1 || *keyframe, "after skipped ticks comes a keyframe: {ticks:?}");
    }
    assert!(ticks.len() >= 30, "about 20 ticks a second, got {}", ticks.len());
    assert!((2..=4).contains(&keyframes), "a keyframe about once a second, got {keyframes}");
    app.cleanup().await;
}

/// The tick length is announced in `sync` and honoured by the worker's manifold: at a tick that
/// is not the default, the state the manifold rebuilds from the frames, stepped once, is the
/// engine's next keyframe bit for bit, and the engine's deltas list only what it could not
/// predict (nothing, with nobody gesturing).
#[tokio::test]
async fn at_a_100_ms_tick_a_workers_manifold_steps_exactly_as_the_engine() {
    let app = spawn_app_with(Options { tick_ms: Some(100), ..Options::default() }).await;
    let token = app.guest_token().await;
    let mut client = connect(&app, &token).await;
    let mut manifold = Manifold::new();
    let dt = client
        .wait_for(5 * SECOND, |frame| match frame {
            ServerFrame::Sync { dt, catalog, n, t, s, .. } => {
                manifold.on_sync(*dt, catalog, *n, *t, s, *t);
                Some(*dt)
            }
            _ => None,
        })
        .await
        .expect("a sync frame first");
    assert_eq!(dt, 100, "the sync frame announces the configured tick");
    let products = manifold.len();
    let params = WellParams::for_tick_ms(dt);
    let mut scratch = StepScratch::default();

    let (mut keyframes_checked, mut deltas, mut ticks) = (0, 0, Vec::new());
    let started = Instant::now();
    while keyframes_checked < 2 {
        assert!(started.elapsed() < 10 * SECOND, "two keyframes after held ticks within 10 s");
        let Some(Next::Frame(frame)) = client.next(SECOND).await else { panic!("frames keep coming") };
        let ServerFrame::State { n, t, s } = frame else { continue };
        ticks.push((n, Instant::now()));
        let held = manifold.confirmed_tick();
        if s.len() == products && held == Some(n - 1) {
            let mut predicted = manifold.confirmed_bodies().expect("synced").to_vec();
            step(&mut predicted, &params, &mut scratch);
            for state in &s {
                let body = &predicted[state.i as usize];
                assert!(
                    body.has_bits_of(state.p, state.v, state.m),
                    "tick {n}, product {}: predicted {body:?}, engine {state:?}",
                    state.i
                );
            }
            keyframes_checked += 1;
        } else if s.len() < products {
            deltas += 1;
            assert!(s.len() < products / 2, "tick {n}: a delta lists {} of {products} products", s.len());
        }
        manifold.on_state(n, t, &s, t);
    }
    assert!(deltas >= 5, "deltas between the keyframes, got {deltas}");
    // Ten ticks a second: the engine really runs at the tick it announced.
    let (first, last) = (ticks.first().unwrap(), ticks.last().unwrap());
    let per_tick = last.1.duration_since(first.1).as_secs_f64() * 1_000.0 / (last.0 - first.0) as f64;
    assert!((80.0..=130.0).contains(&per_tick), "{per_tick:.1} ms per tick");
    app.cleanup().await;
}

#[tokio::test]
async fn a_flick_on_one_node_reaches_a_client_of_another_node_and_is_acked() {
    let app = spawn_app().await;
    let second = spawn_app_with(app.second_node()).await;
    let mut flicker = synced(&app, &app.guest_token().await).await;
    let mut watcher = synced(&second, &second.guest_token().await).await;
    // Product 5's communal mass as the other node's client last saw it (every state frame about
    // it carries it; a keyframe, about once a second, carries every product).
    let before = watcher
        .wait_for(2 * SECOND, |f| match f {
            ServerFrame::State { s, .. } => s.iter().find(|b| b.i == 5).map(|b| b.m),
            _ => None,
        })
        .await
        .expect("the other node's client hears about product 5");

    let sent = Instant::now();
    flicker.send(&ClientFrame::Flick { i: 5, v: [2.0, 0.0, 1.0], q: 77 }).await;
    let acked = flicker
        .wait_for(2 * SECOND, |f| match f {
            ServerFrame::Ack { q: 77, n } => Some(*n),
            _ => None,
        })
        .await;
    let n = acked.expect("the flick is acked");
    // The flick adds communal mass (`mass_per_interaction`, 0.5): a frame of the flick's tick or
    // later that shows it proves the flick crossed, not merely that a keyframe came.
    let gained = physics_worker::physics::WellParams::default().mass_per_interaction * 0.8;
    let seen = watcher
        .wait_for(2 * SECOND, |f| match f {
            ServerFrame::State { n: tick, s, .. }
                if *tick >= n && s.iter().any(|b| b.i == 5 && b.m >= before + gained) =>
            {
                Some(sent.elapsed())
            }
            _ => None,
        })
        .await
        .expect("the other node's client sees the flicked product gain the flick's mass");
    println!("flick on node A seen by a client of node B after {seen:?}");
    assert!(seen < Duration::from_millis(500), "{seen:?}");
    second.cleanup().await;
    app.cleanup().await;
}

#[tokio::test]
async fn beam_and_drop_change_the_shared_cart() {
    let app = spawn_app().await;
    let token = app.guest_token().await;
    let ids = app.product_ids().await;
    let mut client = synced(&app, &token).await;
    for q in [1, 2] {
        client.send(&ClientFrame::Beam { i: 4, q }).await;
        let ack = client
            .wait_for(2 * SECOND, |f| matches!(f, ServerFrame::Ack { q: got, .. } if *got == q).then_some(()))
            .await;
        assert!(ack.is_some(), "beam {q} acked");
    }
    assert_eq!(app.cart(&token).await, vec![(ids[4].to_string(), 2)]);

    // A reconnect finds the cart orbit in its sync frame.
    let mut again = connect(&app, &token).await;
    let (_, _, cart) = again.wait_for(5 * SECOND, sync_of).await.unwrap();
    assert_eq!(cart, vec![(4, 2)]);

    client.send(&ClientFrame::Drop { i: 4, q: 3 }).await;
    assert!(client.wait_for(2 * SECOND, |f| matches!(f, ServerFrame::Ack { q: 3, .. }).then_some(())).await.is_some());
    assert!(app.cart(&token).await.is_empty());
    app.cleanup().await;
}

/// The `(index, units)` of a `stock` frame.
fn stock_of(frame: &ServerFrame) -> Option<Vec<(u32, i64)>> {
    match frame {
        ServerFrame::Stock { s } => Some(s.iter().map(|l| (l.i, l.q)).collect()),
        _ => None,
    }
}

#[tokio::test]
async fn stock_levels_follow_the_sync_and_changes_reach_every_socket() {
    let app = spawn_app().await;
    let ids = app.product_ids().await;
    let mut first = synced(&app, &app.guest_token().await).await;
    let mut second = synced(&app, &app.guest_token().await).await;
    let all = first.wait_for(3 * SECOND, stock_of).await.expect("every level after the sync");
    assert_eq!(all.len(), ids.len(), "one level per product");
    assert!(all.iter().all(|(_, units)| *units >= 0));

    sqlx::query("UPDATE inventory SET stock_count = reserved_count + 2 WHERE product_id = $1")
        .bind(ids[3])
        .execute(&app.pool)
        .await
        .unwrap();
    for client in [&mut first, &mut second] {
        let seen = client
            .wait_for(4 * SECOND, |f| stock_of(f).filter(|levels| levels.contains(&(3, 2))))
            .await
            .expect("the new level reaches the socket");
        assert!(seen.len() < ids.len(), "only what changed: {seen:?}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_new_product_resyncs_every_socket_quietly_with_the_new_catalog() {
    let app = spawn_app().await;
    let products = app.product_ids().await.len();
    let (_, admin) = app.shopper(Role::Admin).await;
    let mut client = synced(&app, &app.guest_token().await).await;
    let created = app
        .post_json(
            "/api/admin/products",
            Some(&admin),
            serde_json::json!({ "slug": "quasar-kettle", "name": "Quasar Kettle", "msrpCents": 4_500, "stockCount": 4 }),
        )
        .await;
    assert_eq!(created.status(), 201);
    let mut paradoxes = 0;
    let resynced = client
        .wait_for(6 * SECOND, |f| {
            if matches!(f, ServerFrame::Err { .. }) {
                paradoxes += 1;
            }
            sync_of(f)
        })
        .await
        .expect("a fresh sync after the catalog changed");
    assert_eq!(resynced.0, products + 1, "the new product is in the catalog index");
    assert_eq!(paradoxes, 0, "a catalog change is not a paradox");
    app.cleanup().await;
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_socket_keeps_working() {
    let app = spawn_app().await;
    let mut client = synced(&app, &app.guest_token().await).await;
    let bad_frame = |f: &ServerFrame| match f {
        ServerFrame::Err { code: ErrCode::BadFrame, reason, q } => Some((*reason, *q)),
        _ => None,
    };
    client.send_raw(vec![0xc1, 0x13, 0x37, 0xff, 0x00]).await;
    assert_eq!(client.wait_for(SECOND, bad_frame).await, Some((Some(Reason::Malformed), None)));
    let unknown_kind = rmp_serde::to_vec_named(&serde_json::json!({"k": "warp", "i": 1})).unwrap();
    client.send_raw(unknown_kind).await;
    assert!(client.wait_for(SECOND, bad_frame).await.is_some());
    client.send(&ClientFrame::Flick { i: 1, v: [f32::NAN, 0.0, 0.0], q: 5 }).await;
    assert_eq!(client.wait_for(SECOND, bad_frame).await, Some((Some(Reason::InvalidVector), Some(5))));
    client.send(&ClientFrame::Flick { i: 2, v: [0.0, f32::INFINITY, 0.0], q: 6 }).await;
    assert_eq!(client.wait_for(SECOND, bad_frame).await, Some((Some(Reason::InvalidVector), Some(6))));
    client.send(&ClientFrame::Beam { i: 10_000, q: 7 }).await;
    assert_eq!(client.wait_for(SECOND, bad_frame).await, Some((Some(Reason::UnknownProduct), Some(7))));

    client.send(&ClientFrame::Ping { c: 1234.5 }).await;
    let pong = client
        .wait_for(SECOND, |f| match f {
            ServerFrame::Pong { c, t } => Some((*c, *t)),
            _ => None,
        })
        .await;
    let (c, t) = pong.expect("still usable after bad frames");
    assert_eq!(c, 1234.5);
    assert!(t > 1.7e12);
    app.cleanup().await;
}

#[tokio::test]
async fn abusive_clients_are_closed_without_disturbing_others() {
    let app = spawn_app().await;
    let mut bystander = synced(&app, &app.guest_token().await).await;

    let mut texter = synced(&app, &app.guest_token().await).await;
    texter.ws.send(Message::Text("hello".into())).await.unwrap();
    assert_eq!(texter.close_code(2 * SECOND).await, Some(1003), "text frames close with 1003");

    let mut big = synced(&app, &app.guest_token().await).await;
    big.ws.send(Message::Binary(vec![0u8; 1024 * 1024].into())).await.unwrap();
    assert_eq!(big.close_code(2 * SECOND).await, Some(1009), "a 1 MiB frame closes with 1009");

    let mut flooder = synced(&app, &app.guest_token().await).await;
    let ping = physics_worker::wire::encode(&ClientFrame::Ping { c: 1.0 }).unwrap();
    for _ in 0..200 {
        if flooder.ws.send(Message::Binary(ping.clone().into())).await.is_err() {
            break;
        }
    }
    assert_eq!(flooder.close_code(2 * SECOND).await, Some(1008), "a flood closes with 1008");

    // Meanwhile the bystander kept getting a frame every tick.
    let mut ticks = Vec::new();
    while ticks.len() < 10 {
        let Some(Next::Frame(frame)) = bystander.next(SECOND).await else { panic!("bystander starved") };
        if let ServerFrame::State { n, .. } = frame {
            ticks.push(n);
        }
    }
    assert!(ticks.windows(2).all(|w| w[1] == w[0] + 1), "{ticks:?}");
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.cleanup().await;
}

#[tokio::test]
async fn a_socket_closes_when_its_token_expires_unless_renewed() {
    let app = spawn_app().await;
    let guest = app.guest_token().await;
    let claims = app.tokens.verify(&guest).unwrap();
    let now = swiftcart::clock::unix_now();
    let short = app.tokens.sign(&Claims { exp: now + 2, ..claims.clone() });
    let mut lapsing = synced(&app, &short).await;
    let mut renewing = synced(&app, &short).await;
    let (fresh, _) = app.tokens.issue(&claims.sub, Role::Guest);
    renewing.send(&ClientFrame::Auth { token: fresh }).await;
    let renewed = renewing
        .wait_for(SECOND, |f| match f {
            ServerFrame::Authed { exp } => Some(*exp),
            _ => None,
        })
        .await;
    assert!(renewed.expect("authed") > (now as f64 + 800.0) * 1_000.0);

    assert_eq!(lapsing.close_code(4 * SECOND).await, Some(4001), "closed at expiry");
    let still = renewing.wait_for(SECOND, |f| matches!(f, ServerFrame::State { .. }).then_some(())).await;
    assert!(still.is_some(), "the renewed socket stays open");

    // A token of another subject cannot take over a socket.
    let (other, _) = app.tokens.issue(&uuid::Uuid::new_v4().to_string(), Role::Guest);
    renewing.send(&ClientFrame::Auth { token: other }).await;
    assert_eq!(renewing.close_code(2 * SECOND).await, Some(1008));
    app.cleanup().await;
}

#[tokio::test]
async fn a_socket_outlives_its_first_token_through_a_refresh_and_an_auth_frame() {
    let app = spawn_app_with(crate::helpers::Options { access_token_ttl_secs: Some(5), ..Default::default() }).await;
    let guest = app.guest_session().await;
    let token = guest["token"].as_str().unwrap();
    let first = app.tokens.verify(token).unwrap();
    let mut client = synced(&app, token).await;

    // Renew the way the page does (the refresh endpoint), then hand the new token to the socket.
    let (status, renewed) = app.refresh(guest["refreshToken"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let fresh = renewed["token"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (status, renewed_again) = app.refresh(renewed["refreshToken"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let fresher = renewed_again["token"].as_str().unwrap().to_string();
    let later = app.tokens.verify(&fresher).unwrap();
    assert!(later.exp > first.exp, "the renewed token expires later");
    client.send(&ClientFrame::Auth { token: fresh }).await;
    client.send(&ClientFrame::Auth { token: fresher }).await;
    let authed = client
        .wait_for(2 * SECOND, |f| match f {
            ServerFrame::Authed { exp } if *exp == later.exp as f64 * 1_000.0 => Some(()),
            _ => None,
        })
        .await;
    assert!(authed.is_some(), "authed with the newest token's expiry");

    // Past the first token's expiry the socket still takes ticks and acks gestures.
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    tokio::time::sleep(Duration::from_millis((first.exp * 1_000 + 300).saturating_sub(now_ms))).await;
    client.send(&ClientFrame::Beam { i: 2, q: 7 }).await;
    let acked = client.wait_for(2 * SECOND, |f| matches!(f, ServerFrame::Ack { q: 7, .. }).then_some(())).await;
    assert!(acked.is_some(), "a beam is acked after the first token expired");
    assert_eq!(app.cart(renewed_again["token"].as_str().unwrap()).await.len(), 1);
    app.cleanup().await;
}

/// The value of a `/metrics` line.
async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok()).unwrap_or(f64::NAN)
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_never_stalls_the_others() {
    // 600 products: keyframes of about 33 KB fill a stalled socket's buffers within seconds.
    let app = spawn_app_with(crate::helpers::Options { products: Some(600), ..Default::default() }).await;
    let mut bystander = synced(&app, &app.guest_token().await).await;
    // The bystander reads all along and records the ticks it gets.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        let mut ticks = Vec::new();
        loop {
            tokio::select! {
                next = bystander.next(SECOND) => match next {
                    Some(Next::Frame(ServerFrame::State { n, .. })) => ticks.push(n),
                    Some(Next::Frame(_)) => {}
                    _ => return (ticks, false),
                },
                _ = &mut stopped => return (ticks, true),
            }
        }
    });
    let stalled = open_non_reading(&app, &app.guest_token().await).await;
    let dropped = crate::helpers::eventually(Duration::from_secs(30), || async {
        metric(&app, "swiftcart_ws_slow_drops_total").await >= 1.0
    })
    .await;
    assert!(dropped.is_some(), "the non-reading client is dropped");
    assert_eq!(metric(&app, "swiftcart_ws_connections").await, 1.0, "only the bystander is left");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop.send(());
    let (ticks, alive) = reader.await.unwrap();
    assert!(alive, "the bystander stayed connected");
    assert!(ticks.len() >= 10, "{ticks:?}");
    assert!(ticks.windows(2).all(|w| w[1] == w[0] + 1), "the bystander got every tick: {ticks:?}");
    drop(stalled);
    app.cleanup().await;
}
