use std::time::{Duration, Instant};

use deadpool_redis::redis;
use futures_util::StreamExt;
use physics_worker::wire::GestureKind;
use swiftcart::engine::core::{GestureOrigin, QueuedGesture};
use swiftcart::engine::store::{queue_gesture, TickBroadcast};
use tokio::sync::mpsc;

use crate::helpers::{eventually, spawn_app, spawn_app_with, Options, PrivateRedis, TestApp};

/// Collects every tick broadcast of an app's deployment.
async fn subscribe(app: &TestApp) -> mpsc::UnboundedReceiver<TickBroadcast> {
    let client = redis::Client::open(app.redis_url.as_str()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe(app.keys.engine_channel()).await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = pubsub.into_on_message();
        while let Some(msg) = messages.next().await {
            let bytes: Vec<u8> = msg.get_payload().unwrap();
            if tx.send(physics_worker::wire::decode::<TickBroadcast>(&bytes).unwrap()).is_err() {
                break;
            }
        }
    });
    rx
}

async fn wait_for_leader(apps: &[&TestApp], limit: Duration) -> Option<usize> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(i) = apps.iter().position(|a| a.metrics.is_leader()) {
            return Some(i);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

async fn msrp_of_all(app: &TestApp) -> Vec<i64> {
    sqlx::query_scalar("SELECT msrp_cents FROM products ORDER BY sort_order, slug").fetch_all(&app.pool).await.unwrap()
}

async fn prices_in_redis(app: &TestApp) -> Vec<Option<i64>> {
    let mut pipe = redis::pipe();
    for id in app.product_ids().await {
        pipe.cmd("HGET").arg(app.keys.product_state(id)).arg("price_current");
    }
    let mut conn = app.redis.get().await.unwrap();
    pipe.query_async(&mut conn).await.unwrap()
}

#[tokio::test]
async fn exactly_one_node_ticks_and_another_takes_over_within_two_seconds_without_repeating_a_tick() {
    let mut a = spawn_app().await;
    let b = spawn_app_with(a.second_node()).await;
    let mut ticks = subscribe(&a).await;
    wait_for_leader(&[&a, &b], Duration::from_secs(3)).await.expect("someone leads");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(a.metrics.is_leader() ^ b.metrics.is_leader(), "exactly one leader");

    // Make `a` the leader by construction: if `b` leads, swap roles by stopping `b` instead.
    let a_leads = a.metrics.is_leader();
    let mut b = b;
    let (leader, follower) = if a_leads { (&mut a, &b) } else { (&mut b, &a) };
    let follower_ticks_before = follower.metrics.ticks();
    leader.stop().await;
    let died = Instant::now();
    let took_over =
        eventually(Duration::from_secs(2), || async { follower.metrics.ticks() > follower_ticks_before }).await;
    assert!(took_over.is_some(), "the follower did not tick within 2 s of the leader dying");
    println!("takeover after {:?}", died.elapsed());

    // Every tick broadcast so far, and then until the new leader has broadcast a few (deadline 2 s).
    let mut seen = Vec::new();
    while let Ok(t) = ticks.try_recv() {
        seen.push(t.n);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut after_takeover = 0;
    while after_takeover < 5 {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(t)) = tokio::time::timeout(left, ticks.recv()).await else { break };
        seen.push(t.n);
        after_takeover += 1;
    }
    assert!(after_takeover >= 5 && seen.len() > 10, "the new leader broadcasts its ticks: {seen:?}");
    assert!(seen.windows(2).all(|w| w[1] > w[0]), "tick numbers must strictly increase across the failover: {seen:?}");
    b.cleanup().await;
    a.cleanup().await;
}

#[tokio::test]
async fn a_flushed_redis_is_healed_within_a_second_from_the_leaders_memory() {
    let redis_server = PrivateRedis::start().await;
    let app = spawn_app_with(Options { redis_url: Some(redis_server.url()), ..Options::default() }).await;
    wait_for_leader(&[&app], Duration::from_secs(3)).await.expect("leads");
    let products = app.product_ids().await.len();
    let mut conn = app.redis.get().await.unwrap();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    let healed = eventually(Duration::from_secs(1), || async { app.product_hashes_present().await == products }).await;
    assert!(healed.is_some(), "not healed within 1 s");
    println!("healed after {:?}", healed.unwrap());
    drop(conn);
    app.cleanup().await;
}

#[tokio::test]
async fn with_the_leader_gone_too_a_flush_brings_products_back_at_msrp_with_a_paradox() {
    let redis_server = PrivateRedis::start().await;
    let mut a = spawn_app_with(Options { redis_url: Some(redis_server.url()), ..Options::default() }).await;
    let leader = wait_for_leader(&[&a], Duration::from_secs(3)).await;
    assert_eq!(leader, Some(0));
    let b = spawn_app_with(a.second_node()).await;
    // Let prices drift away from msrp a little with a flick on every product.
    for id in a.product_ids().await {
        let g = QueuedGesture {
            id: uuid::Uuid::new_v4(),
            product: id,
            kind: GestureKind::Flick([0.3, 0.0, 0.0]),
            origin: GestureOrigin { node: "test".into(), conn: 0, q: 0 },
        };
        queue_gesture(&a.store(), &g).await.unwrap();
    }
    // The leader takes every queued gesture within a tick or two.
    let taken = eventually(Duration::from_secs(2), || async {
        let mut conn = a.redis.get().await.unwrap();
        let queued: usize = redis::cmd("LLEN").arg(a.keys.engine_gestures()).query_async(&mut conn).await.unwrap();
        queued == 0
    })
    .await;
    assert!(taken.is_some(), "the leader did not take the queued flicks");
    let mut ticks = subscribe(&b).await;

    a.stop().await;
    let mut conn = b.redis.get().await.unwrap();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    let back =
        eventually(Duration::from_secs(3), || async { prices_in_redis(&b).await.iter().all(Option::is_some) }).await;
    assert!(back.is_some(), "products did not come back");
    // Reset as the design says: base mass (the flicks' extra mass is gone) and msrp, from which
    // the price has had only a few ticks to decay.
    let prices: Vec<i64> = prices_in_redis(&b).await.into_iter().map(Option::unwrap).collect();
    for (price, msrp) in prices.iter().zip(msrp_of_all(&b).await) {
        assert!(*price <= msrp && msrp - price <= msrp / 100, "price {price} is not back at msrp {msrp}");
    }
    let base: Vec<f32> = sqlx::query_scalar("SELECT base_mass FROM products ORDER BY sort_order, slug")
        .fetch_all(&b.pool)
        .await
        .unwrap();
    let mut conn2 = b.redis.get().await.unwrap();
    for (id, base) in b.product_ids().await.into_iter().zip(base) {
        let m: f32 = redis::cmd("HGET").arg(b.keys.product_state(id)).arg("m").query_async(&mut conn2).await.unwrap();
        assert!((m - base).abs() < 0.01, "mass {m} was not reset to base mass {base}");
    }
    drop(conn2);

    let paradox = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(t) = ticks.recv().await {
            if let Some(reason) = t.paradox {
                return Some(reason);
            }
        }
        None
    })
    .await
    .expect("a paradox was broadcast");
    assert_eq!(paradox, Some(physics_worker::wire::Reason::StateLost));
    drop(conn);
    b.cleanup().await;
    a.cleanup().await;
}

#[tokio::test]
async fn gestures_from_concurrent_senders_are_applied_exactly_once() {
    let app = spawn_app().await;
    let mut ticks = subscribe(&app).await;
    let product = app.product_ids().await[0];
    let mut senders = Vec::new();
    for sender in 0..4u64 {
        let store = app.store();
        senders.push(tokio::spawn(async move {
            for q in 0..50u32 {
                let g = QueuedGesture {
                    id: uuid::Uuid::new_v4(),
                    product,
                    kind: GestureKind::Flick([0.01, 0.0, 0.0]),
                    origin: GestureOrigin { node: "test".into(), conn: sender, q },
                };
                queue_gesture(&store, &g).await.unwrap();
                queue_gesture(&store, &g).await.unwrap(); // a duplicate delivery
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    let mut applied = 0;
    let mut duplicates = 0;
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(t) = ticks.recv().await {
            for g in t.gestures {
                match g.refused {
                    None => applied += 1,
                    Some(physics_worker::wire::Reason::Duplicate) => duplicates += 1,
                    Some(other) => panic!("unexpected refusal {other}"),
                }
            }
            if applied + duplicates == 400 {
                break;
            }
        }
    })
    .await;
    assert_eq!((applied, duplicates), (200, 200));
    let mut conn = app.redis.get().await.unwrap();
    let left: i64 = redis::cmd("LLEN").arg(app.keys.engine_gestures()).query_async(&mut conn).await.unwrap();
    assert_eq!(left, 0, "consumed gestures are trimmed from the queue");
    drop(conn);
    app.cleanup().await;
}

#[tokio::test]
async fn price_history_is_batched_not_written_every_tick() {
    let app = spawn_app().await;
    wait_for_leader(&[&app], Duration::from_secs(3)).await.expect("leads");
    let products = app.product_ids().await.len() as i64;
    let first = eventually(Duration::from_secs(3), || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM price_history").fetch_one(&app.pool).await.unwrap();
        n >= products
    })
    .await;
    assert!(first.is_some(), "every product gets a first point");
    let ticks_before = app.metrics.ticks();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ticks = app.metrics.ticks() - ticks_before;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM price_history").fetch_one(&app.pool).await.unwrap();
    assert!(ticks >= 10, "the engine ticked ({ticks})");
    // Idle for a second moves no price by 1%, and 10 s have not passed: no new points.
    assert_eq!(n, products, "points per product after {ticks} ticks");
    app.cleanup().await;
}

#[tokio::test]
async fn metrics_export_the_engine_counters() {
    let app = spawn_app().await;
    wait_for_leader(&[&app], Duration::from_secs(3)).await.expect("leads");
    // The samples of `/metrics` (not its HELP and TYPE lines), by name.
    let samples = || async {
        let text = app.get("/metrics").await.text().await.unwrap();
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (name, value) = line.split_once(' ')?;
                Some((name.to_string(), value.parse::<f64>().ok()?))
            })
            .collect::<std::collections::HashMap<String, f64>>()
    };
    let ticked =
        eventually(Duration::from_secs(3), || async { samples().await["swiftcart_engine_ticks_total"] >= 2.0 }).await;
    assert!(ticked.is_some(), "the ticks counter counts the leader's ticks");
    let metrics = samples().await;
    let catalog: serde_json::Value = app.get("/api/products").await.json().await.unwrap();
    let products = catalog["products"].as_array().unwrap().len() as f64;
    assert_eq!(metrics["swiftcart_engine_products"], products, "the leader steps every product");
    assert_eq!(metrics["swiftcart_engine_leader"], 1.0);
    assert!(metrics["swiftcart_engine_tick_seconds_sum"] > 0.0, "ticks take time");
    for counter in ["swiftcart_engine_tick_overruns_total", "swiftcart_engine_gestures_total"] {
        assert!(metrics.get(counter).is_some_and(|v| *v >= 0.0), "{counter} has a sample");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_leader_whose_lease_was_taken_writes_nothing_and_an_expired_lease_is_taken_over() {
    let app = spawn_app().await;
    wait_for_leader(&[&app], Duration::from_secs(3)).await.expect("leads");
    // Leading is announced just before the first tick is written: wait for that tick.
    let ticking = eventually(Duration::from_secs(3), || async { last_tick(&app).await.is_some() }).await;
    assert!(ticking.is_some(), "the leader never wrote a tick");
    let mut conn = app.redis.get().await.unwrap();
    // Another node (simulated) holds the lease with a newer token, as after a long pause of ours.
    let _: () = redis::cmd("SET")
        .arg(app.keys.engine_lease())
        .arg("intruder:99999999999999")
        .arg("PX")
        .arg(1_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    let stepped_down = eventually(Duration::from_secs(1), || async { !app.metrics.is_leader() }).await;
    assert!(stepped_down.is_some(), "the fenced leader did not step down");
    let frozen = last_tick(&app).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(last_tick(&app).await, frozen, "a fenced-out leader must not write");

    // The intruder's lease expires without renewal: we take over again within 2 s of that.
    let back = eventually(Duration::from_secs(2), || async { app.metrics.is_leader() }).await;
    assert!(back.is_some(), "the expired lease was not taken over");
    let after = eventually(Duration::from_secs(1), || async { last_tick(&app).await > frozen }).await;
    assert!(after.is_some(), "ticks did not resume");
    drop(conn);
    app.cleanup().await;
}

async fn last_tick(app: &TestApp) -> Option<u64> {
    let mut conn = app.redis.get().await.unwrap();
    redis::cmd("GET").arg(app.keys.engine_tick()).query_async(&mut conn).await.unwrap()
}
