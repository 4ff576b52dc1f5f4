//! Gesture events: an accepted gesture reaches the clients of every node at once as an `ev`
//! frame forecasting the tick that applies it, and that tick lands exactly where the forecast said.

use std::collections::BTreeMap;
use std::time::Duration;

use physics_worker::physics::{apply_gesture, step, Body, StepScratch, Vec3, WellParams};
use physics_worker::wire::GestureKind;
use physics_worker::wire::{BodyState, ClientFrame, ServerFrame};
use swiftcart::engine::core::{GestureOrigin, QueuedGesture};
use swiftcart::engine::store::queue_gesture;

use crate::helpers::{spawn_app, spawn_app_with};
use crate::wsclient::{connect, Next, WsClient};

const SECOND: Duration = Duration::from_secs(1);

/// What a client of the well holds: every tick's full state, rebuilt from `sync`, deltas and
/// keyframes exactly as the browser's manifold rebuilds it, plus the events it was sent.
struct Watcher {
    client: WsClient,
    ids: Vec<uuid::Uuid>,
    base_masses: Vec<f32>,
    ticks: BTreeMap<u64, Vec<Body>>,
    params: WellParams,
    scratch: StepScratch,
    /// `(product, forecast tick, impulse, newest tick held when it arrived)`.
    events: Vec<(u32, u64, Option<Vec3>, u64)>,
    /// When each event and each tick arrived.
    arrivals: Vec<(Arrival, std::time::Instant)>,
}

#[derive(Debug, PartialEq)]
enum Arrival {
    Event(u32),
    Tick(u64),
}

impl Watcher {
    async fn open(client: WsClient) -> Self {
        let mut watcher = Self {
            client,
            ids: Vec::new(),
            base_masses: Vec::new(),
            ticks: BTreeMap::new(),
            params: WellParams::default(),
            scratch: StepScratch::default(),
            events: Vec::new(),
            arrivals: Vec::new(),
        };
        while watcher.ticks.is_empty() {
            watcher.read().await;
        }
        watcher
    }

    fn newest(&self) -> u64 {
        *self.ticks.keys().next_back().expect("synced")
    }

    fn bodies(&self, states: &[BodyState], mut bodies: Vec<Body>) -> Vec<Body> {
        for s in states {
            bodies[s.i as usize] = Body { p: s.p, v: s.v, m: s.m, base_mass: self.base_masses[s.i as usize] };
        }
        bodies
    }

    /// Reads one frame and folds it in.
    async fn read(&mut self) {
        let Some(Next::Frame(frame)) = self.client.next(2 * SECOND).await else { panic!("the socket keeps talking") };
        match frame {
            ServerFrame::Sync { n, catalog, s, .. } => {
                self.ids = catalog.iter().map(|c| c.id.parse().unwrap()).collect();
                self.base_masses = catalog.iter().map(|c| c.b).collect();
                let blank = Body { p: [0.0; 3], v: [0.0; 3], m: 1.0, base_mass: 1.0 };
                let bodies = self.bodies(&s, vec![blank; catalog.len()]);
                self.ticks = BTreeMap::from([(n, bodies)]);
            }
            ServerFrame::State { n, s, .. } => {
                let newest = self.newest();
                assert!(n > newest, "ticks in order");
                let mut bodies = self.ticks[&newest].clone();
                for _ in newest..n {
                    step(&mut bodies, &self.params, &mut self.scratch);
                }
                let bodies = self.bodies(&s, bodies);
                self.ticks.insert(n, bodies);
                self.arrivals.push((Arrival::Tick(n), std::time::Instant::now()));
            }
            ServerFrame::Event { i, n, v } => {
                let newest = self.newest();
                self.events.push((i, n, v, newest));
                self.arrivals.push((Arrival::Event(i), std::time::Instant::now()));
            }
            _ => {}
        }
    }

    /// Reads until an event for product `i` has come and the tick it forecasts is held; returns
    /// the event.
    async fn forecast_and_its_tick(&mut self, i: u32) -> (u64, Option<Vec3>, u64) {
        loop {
            if let Some(&(_, n, v, held)) = self.events.iter().find(|e| e.0 == i) {
                if self.ticks.contains_key(&n) {
                    return (n, v, held);
                }
            }
            self.read().await;
        }
    }

    /// The tick before `n` with the gesture applied, stepped once: what the forecast says tick
    /// `n` holds for product `i`.
    fn forecast(&mut self, n: u64, i: u32, v: Option<Vec3>) -> Body {
        let mut bodies = self.ticks[&(n - 1)].clone();
        apply_gesture(&mut bodies[i as usize], v, &self.params).unwrap();
        step(&mut bodies, &self.params, &mut self.scratch);
        bodies[i as usize]
    }

    /// The tick before `n` stepped once with no gesture.
    fn unperturbed(&mut self, n: u64, i: u32) -> Body {
        let mut bodies = self.ticks[&(n - 1)].clone();
        step(&mut bodies, &self.params, &mut self.scratch);
        bodies[i as usize]
    }
}

fn bits(b: &Body) -> ([u32; 3], [u32; 3], u32) {
    (b.p.map(f32::to_bits), b.v.map(f32::to_bits), b.m.to_bits())
}

#[tokio::test]
async fn a_gesture_on_one_node_is_forecast_to_another_nodes_clients_before_its_tick_which_matches_bit_for_bit() {
    let app = spawn_app().await;
    let second = spawn_app_with(app.second_node()).await;
    let mut flicker = connect(&app, &app.guest_token().await).await;
    flicker.wait_for(5 * SECOND, |f| matches!(f, ServerFrame::Sync { .. }).then_some(())).await.expect("sync");
    let mut watcher = Watcher::open(connect(&second, &second.guest_token().await).await).await;
    for _ in 0..10 {
        watcher.read().await; // settle into deltas
    }

    let sent = std::time::Instant::now();
    flicker.send(&ClientFrame::Flick { i: 5, v: [2.0, 0.0, 1.0], q: 77 }).await;
    flicker.send(&ClientFrame::Beam { i: 6, q: 78 }).await;
    // The sender's acks are collected meanwhile, so the watcher reads frames as they come.
    let acks = tokio::spawn(async move {
        let mut acks = BTreeMap::new();
        while acks.len() < 2 {
            match flicker.next(2 * SECOND).await {
                Some(Next::Frame(ServerFrame::Ack { q, n })) => {
                    acks.insert(q, n);
                }
                Some(Next::Frame(ServerFrame::Event { .. })) => panic!("the sender is not sent its own gesture"),
                Some(Next::Frame(_)) => {}
                other => panic!("the flicker's socket ended: {other:?}"),
            }
        }
        acks
    });
    let forecasts = [watcher.forecast_and_its_tick(5).await, watcher.forecast_and_its_tick(6).await];
    let acks = acks.await.unwrap();

    for ((i, q), (n, v, held)) in [(5, 77), (6, 78)].into_iter().zip(forecasts) {
        assert!(held < n, "the event for product {i} arrived before tick {n} (the watcher held {held})");
        assert_eq!(acks[&q], n, "the engine applied product {i}'s gesture at the forecast tick");
        assert_eq!(v.is_some(), i == 5, "a flick carries its impulse, a beam none");
        let forecast = watcher.forecast(n, i, v);
        let truth = watcher.ticks[&n][i as usize];
        assert_eq!(bits(&forecast), bits(&truth), "tick {n} holds product {i} exactly where the forecast said");
        let at = |what: Arrival| watcher.arrivals.iter().find(|(a, _)| *a == what).map(|(_, t)| *t - sent);
        println!(
            "product {i}: event on node B after {:?}, its tick {n} after {:?}",
            at(Arrival::Event(i)),
            at(Arrival::Tick(n))
        );
    }
    second.cleanup().await;
    app.cleanup().await;
}

#[tokio::test]
async fn a_forecast_the_engine_refuses_is_corrected_by_its_tick() {
    let app = spawn_app().await;
    let mut watcher = Watcher::open(connect(&app, &app.guest_token().await).await).await;
    let product = 7;
    let gesture = QueuedGesture {
        id: uuid::Uuid::new_v4(),
        product: watcher.ids[product as usize],
        kind: GestureKind::Flick([1.0, 0.0, 0.0]),
        origin: GestureOrigin { node: "another-node".into(), conn: 1, q: 1 },
    };
    let first = queue_gesture(&app.store(), &gesture).await.unwrap();
    let (n, _, _) = watcher.forecast_and_its_tick(product).await;
    assert_eq!(n, first);
    watcher.events.clear();
    // A node retrying the same gesture: the engine refuses the duplicate at its tick.
    let again = queue_gesture(&app.store(), &gesture).await.unwrap();
    let (n, v, held) = watcher.forecast_and_its_tick(product).await;
    assert_eq!(n, again);
    assert!(held < n);
    let forecast = watcher.forecast(n, product, v);
    let unperturbed = watcher.unperturbed(n, product);
    let truth = watcher.ticks[&n][product as usize];
    assert_ne!(bits(&forecast), bits(&truth), "the refused forecast did not happen");
    assert_eq!(bits(&unperturbed), bits(&truth), "the tick carries the truth: no impulse");
    app.cleanup().await;
}

#[tokio::test]
async fn events_for_unknown_products_late_ticks_and_garbage_are_dropped_and_the_socket_carries_on() {
    let app = spawn_app().await;
    let mut watcher = Watcher::open(connect(&app, &app.guest_token().await).await).await;
    let mut conn = app.redis.get().await.unwrap();
    let channel = app.keys.engine_events();
    let unknown = QueuedGesture {
        id: uuid::Uuid::new_v4(),
        product: uuid::Uuid::new_v4(),
        kind: GestureKind::Flick([1.0, 0.0, 0.0]),
        origin: GestureOrigin { node: "x".into(), conn: 1, q: 1 },
    };
    let known = QueuedGesture { product: watcher.ids[3], ..unknown.clone() };
    let encoded = |n: u64, g: &QueuedGesture| {
        let mut payload = format!("{n} ").into_bytes();
        payload.extend(physics_worker::wire::encode(g).unwrap());
        payload
    };
    let far = watcher.newest() + 1_000;
    for payload in [
        encoded(far, &unknown),
        encoded(1, &known), // a tick long applied
        b"garbage".to_vec(),
        b"12 \xc1\xc1".to_vec(),
    ] {
        let _: i64 =
            deadpool_redis::redis::cmd("PUBLISH").arg(&channel).arg(payload).query_async(&mut conn).await.unwrap();
    }
    let until = watcher.newest() + 10;
    while watcher.newest() < until {
        watcher.read().await;
    }
    assert!(watcher.events.is_empty(), "nothing was forwarded: {:?}", watcher.events);
    // The same path still forwards a good event.
    let _: i64 = deadpool_redis::redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(encoded(far, &known))
        .query_async(&mut conn)
        .await
        .unwrap();
    while watcher.events.is_empty() {
        watcher.read().await;
    }
    assert_eq!(watcher.events[0].0, 3);
    app.cleanup().await;
}
