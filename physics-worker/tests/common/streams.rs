//! Synthetic snapshot streams for the manifold: a server well ticking at 20 Hz, its frames as the
//! server sends them (deltas of what the integrator cannot predict, a keyframe every second), and
//! a network with latency, jitter, loss and reordering. The checks run natively and in wasm.

use physics_worker::delta::Predictor;
use physics_worker::manifold::{Manifold, RECONCILE_MS, STRIDE};
use physics_worker::physics::{apply_impulse, initial_body, step, Body, StepScratch, WellParams};
use physics_worker::wire::{BodyState, CatalogEntry};

pub const TICK_MS: f64 = physics_worker::shared::DEFAULT_TICK_MS as f64;
/// Well units per pixel on a 600 px well (radius 1 = 300 px).
pub const PX: f32 = 1.0 / 300.0;

/// A tiny deterministic generator (tests must not depend on a crate's RNG).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The server's side: truth per tick, and the frames it sends.
pub struct Server {
    pub params: WellParams,
    scratch: StepScratch,
    /// The server's own delta rule.
    predictor: Predictor,
    pub bodies: Vec<Body>,
    pub n: u64,
    /// Truth by tick, for error measurements.
    pub truth: Vec<Vec<Body>>,
}

/// One frame on the wire.
#[derive(Clone)]
pub struct Sent {
    pub n: u64,
    pub t: f64,
    pub list: Vec<BodyState>,
}

impl Server {
    pub fn new(count: usize) -> Self {
        let params = WellParams::default();
        let bodies: Vec<Body> = (0..count).map(|i| initial_body(i, count, 1.0 + (i % 5) as f32, &params)).collect();
        let mut server = Self {
            params,
            scratch: StepScratch::default(),
            predictor: Predictor::new(params),
            truth: vec![bodies.clone()],
            bodies,
            n: 0,
        };
        server.predictor.changes(0, &server.states(), &server.base_masses());
        server
    }

    fn base_masses(&self) -> Vec<f32> {
        self.bodies.iter().map(|b| b.base_mass).collect()
    }

    pub fn catalog(&self) -> Vec<CatalogEntry> {
        self.bodies
            .iter()
            .enumerate()
            .map(|(i, b)| CatalogEntry { i: i as u32, id: format!("p{i}"), slug: format!("p{i}"), b: b.base_mass })
            .collect()
    }

    pub fn states(&self) -> Vec<BodyState> {
        self.bodies.iter().enumerate().map(|(i, b)| state(i, b)).collect()
    }

    /// Server send time of tick `n`.
    pub fn t(n: u64) -> f64 {
        1_000_000.0 + n as f64 * TICK_MS
    }

    /// One tick, with an optional flick applied first; returns the frame sent for it.
    pub fn tick(&mut self, flick: Option<(usize, [f32; 3])>) -> Sent {
        if let Some((i, impulse)) = flick {
            apply_impulse(&mut self.bodies[i], impulse, &self.params).unwrap();
        }
        step(&mut self.bodies, &self.params, &mut self.scratch);
        self.n += 1;
        self.truth.push(self.bodies.clone());
        let keyframe = self.n.is_multiple_of(physics_worker::shared::ticks_per_keyframe(self.params.tick_ms()));
        let list = match self.predictor.changes(self.n, &self.states(), &self.base_masses()) {
            Some(changed) if !keyframe => changed,
            _ => self.states(),
        };
        Sent { n: self.n, t: Self::t(self.n), list }
    }

    /// The true position of product `i` at server time `t` (linear between ticks).
    pub fn truth_at(&self, i: usize, t: f64) -> [f32; 3] {
        let f = ((t - Self::t(0)) / TICK_MS).max(0.0);
        let a = (f.floor() as usize).min(self.truth.len() - 1);
        let b = (a + 1).min(self.truth.len() - 1);
        let k = (f - f.floor()) as f32;
        let (pa, pb) = (self.truth[a][i].p, self.truth[b][i].p);
        [pa[0] + (pb[0] - pa[0]) * k, pa[1] + (pb[1] - pa[1]) * k, pa[2] + (pb[2] - pa[2]) * k]
    }
}

fn state(i: usize, b: &Body) -> BodyState {
    BodyState { i: i as u32, p: b.p, v: b.v, m: b.m, c: 1_000 }
}

/// A manifold synced to `server`'s tick 0, the `sync` frame arriving `delay_ms` after it was sent.
pub fn synced(server: &Server, delay_ms: f64) -> Manifold {
    let mut manifold = Manifold::new();
    let t0 = Server::t(0);
    manifold.on_sync(server.params.tick_ms(), &server.catalog(), 0, t0, &server.states(), t0 + delay_ms);
    manifold
}

/// Network conditions.
pub struct Network {
    pub latency_ms: f64,
    pub jitter_ms: f64,
    pub loss: f64,
    pub reorder: f64,
}

/// Runs `ticks` ticks through the network into a manifold rendering at 60 FPS; returns the
/// largest position error (well units) against the truth at the rendered time, over products
/// and frames after the first second, and the manifold.
pub fn run(count: usize, ticks: u64, net: &Network, seed: u64) -> (f32, Manifold, Server) {
    let mut rng = Lcg(seed);
    let mut server = Server::new(count);
    // The clocks agree; a clock offset is tested on its own.
    let mut manifold = synced(&server, net.latency_ms);
    let mut in_flight: Vec<(f64, Sent)> = Vec::new();
    for _ in 0..ticks {
        let sent = server.tick(None);
        if rng.next_f64() < net.loss {
            continue;
        }
        let mut arrive = sent.t + net.latency_ms + rng.next_f64() * net.jitter_ms;
        if rng.next_f64() < net.reorder {
            arrive += TICK_MS * 1.5; // overtaken by the next frame
        }
        in_flight.push((arrive, sent));
    }
    in_flight.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Clock sync: a few pings with the same latency.
    manifold.on_pong(Server::t(0), Server::t(0) + net.latency_ms, Server::t(0) + 2.0 * net.latency_ms);

    let mut worst = 0.0f32;
    let mut out = Vec::new();
    let mut next = 0;
    let end = Server::t(ticks) + net.latency_ms;
    let mut now = Server::t(0) + net.latency_ms;
    while now < end {
        while next < in_flight.len() && in_flight[next].0 <= now {
            let (arrived, sent) = &in_flight[next];
            manifold.on_state(sent.n, sent.t, &sent.list, *arrived);
            next += 1;
        }
        let frame = manifold.render(now, &mut out).unwrap();
        if now > Server::t(20) {
            for i in 0..count {
                let truth = server.truth_at(i, frame.render_t);
                let shown = &out[i * STRIDE..i * STRIDE + 3];
                let error = (0..3).map(|a| (shown[a] - truth[a]).abs()).fold(0.0, f32::max);
                worst = worst.max(error);
            }
        }
        now += 1000.0 / 60.0;
    }
    (worst, manifold, server)
}

/// Interpolation with jitter only: the shown position is the truth, to a fraction of a pixel.
pub fn check_interpolation_under_jitter() {
    let net = Network { latency_ms: 20.0, jitter_ms: 15.0, loss: 0.0, reorder: 0.0 };
    let (worst, manifold, _) = run(64, 200, &net, 7);
    assert!(worst < 0.5 * PX, "error {} px", worst / PX);
    assert!(manifold.interpolation_delay_ms() <= TICK_MS, "delay {}", manifold.interpolation_delay_ms());
}

/// Loss and reordering: lost ticks are predicted, reordered ones wait; the error stays small.
pub fn check_loss_and_reordering() {
    let net = Network { latency_ms: 20.0, jitter_ms: 20.0, loss: 0.1, reorder: 0.1 };
    let (worst, manifold, server) = run(64, 400, &net, 11);
    assert!(worst < 2.0 * PX, "error {} px", worst / PX);
    // Caught up: at most the last frame or two were lost on the way.
    assert!(manifold.confirmed_tick().is_some_and(|n| n + 2 >= server.n), "{:?}", manifold.confirmed_tick());
}

/// Frames stop: extrapolation goes at most 250 ms past the newest tick, then holds still.
pub fn check_extrapolation_cap() {
    let server_count = 16;
    let mut server = Server::new(server_count);
    let mut manifold = synced(&server, 0.0);
    for _ in 0..10 {
        let sent = server.tick(None);
        manifold.on_state(sent.n, sent.t, &sent.list, sent.t);
    }
    let mut out = Vec::new();
    let last_t = Server::t(10);
    let at = |ms: f64, manifold: &mut Manifold, out: &mut Vec<f32>| manifold.render(last_t + ms, out).unwrap();
    let early = at(100.0, &mut manifold, &mut out);
    assert!(early.extrapolated_ms > 50.0 && early.extrapolated_ms <= 100.0);
    let capped = at(400.0, &mut manifold, &mut out);
    assert_eq!(capped.extrapolated_ms, 250.0);
    let held = out.clone();
    at(2_000.0, &mut manifold, &mut out);
    assert_eq!(out, held, "positions hold once the cap is reached");
}

/// The shopper's own flick moves at once; when the server confirms it, or refuses it, the product
/// never jumps by more than its own motion plus a few pixels between two frames.
pub fn check_prediction_reconciles_without_snaps(refused: bool) -> f32 {
    let count = 32;
    let target = 5;
    let impulse = [0.6, -0.3, 0.1];
    let latency = 30.0;
    let mut server = Server::new(count);
    let mut manifold = synced(&server, latency);
    manifold.on_pong(Server::t(0), Server::t(0) + latency, Server::t(0) + 2.0 * latency);
    let mut out = Vec::new();
    let mut previous: Option<[f32; 3]> = None;
    let mut largest_jump = 0.0f32;
    let mut moved_at_once = false;
    let mut now = Server::t(0) + latency;
    let flick_at = Server::t(10) + 5.0;
    let mut flicked = false;
    let mut in_flight: Vec<(f64, Sent)> = Vec::new();
    let mut acked = false;
    while now < Server::t(40) {
        // The server ticks on its own clock; the flick reaches it half a round trip after it is sent.
        while Server::t(server.n + 1) <= now {
            let apply = flicked && !refused && !acked && Server::t(server.n + 1) >= flick_at + latency;
            let sent = server.tick(apply.then_some((target, impulse)));
            if apply {
                acked = true;
                let n = sent.n;
                in_flight.push((sent.t + latency, sent));
                in_flight.sort_by(|a, b| a.0.total_cmp(&b.0));
                // The ack travels with the tick.
                let _ = n;
            } else {
                in_flight.push((sent.t + latency, sent));
            }
        }
        let mut arrived = Vec::new();
        in_flight.retain(|(at, sent)| {
            if *at <= now {
                arrived.push(sent.clone());
                false
            } else {
                true
            }
        });
        for sent in arrived {
            manifold.on_state(sent.n, sent.t, &sent.list, sent.t + latency);
            if acked && sent.list.iter().any(|s| s.i as usize == target) {
                manifold.on_ack(1, sent.n);
            }
        }
        if !flicked && now >= flick_at {
            manifold.predict_flick(1, target, impulse, now);
            flicked = true;
            if refused {
                // The refusal arrives one round trip later.
                in_flight.clear();
            }
        }
        if refused && flicked && now >= flick_at + 2.0 * latency {
            manifold.on_refused(1);
        }
        manifold.render(now, &mut out).unwrap();
        let shown = [out[target * STRIDE], out[target * STRIDE + 1], out[target * STRIDE + 2]];
        if let Some(before) = previous {
            let jump = (0..3).map(|a| (shown[a] - before[a]).powi(2)).sum::<f32>().sqrt();
            largest_jump = largest_jump.max(jump);
        }
        // Before any answer could arrive, the shown product has already left its old path.
        if flicked && (40.0..60.0).contains(&(now - flick_at)) {
            // The clocks agree here, so the rendered server time is now − one way − the delay.
            let unflicked = server.truth_at(target, now - latency - manifold.interpolation_delay_ms());
            let apart = (0..3).map(|a| (shown[a] - unflicked[a]).powi(2)).sum::<f32>().sqrt();
            moved_at_once |= apart > 3.0 * PX;
        }
        previous = Some(shown);
        now += 1000.0 / 60.0;
    }
    assert!(moved_at_once, "the flick shows on the next frame");
    // At most the well's top speed for one frame, plus 3 px.
    let bound = WellParams::default().max_speed * (1.0 / 60.0) + 3.0 * PX;
    assert!(largest_jump <= bound, "a jump of {} px (bound {} px)", largest_jump / PX, bound / PX);
    assert!(!manifold.is_predicting(target), "the prediction ended");
    largest_jump
}

/// Another shopper's flick, forwarded as an event before the tick that applies it: the shown
/// product leaves its old path within a frame of the event. Confirmed, the shown path is the
/// truth from then on and the tick changes nothing (bit for bit); refused, the shown product is
/// back on the truth within the reconciliation window, without a jump.
pub fn check_forecast(refused: bool) {
    let count = 32;
    let target = 5;
    let impulse = [0.6, -0.3, 0.1];
    let latency = 10.0;
    let mut server = Server::new(count);
    let mut manifold = synced(&server, latency);
    manifold.on_pong(Server::t(0), Server::t(0) + latency, Server::t(0) + 2.0 * latency);
    // Queued between ticks 10 and 11, so tick 11 applies it; its event arrives a moment later.
    let forecast_tick = 11;
    let event_at = Server::t(10) + 20.0 + latency;
    let mut tick_arrived_at = None;
    let mut in_flight: Vec<(f64, Sent)> = Vec::new();
    let (mut out, mut previous, mut largest_jump) = (Vec::new(), None::<[f32; 3]>, 0.0f32);
    let mut forecast_sent = false;
    // (local time, rendered server time, shown position): compared with the truth at the end,
    // once the server has ticked past every rendered time.
    let mut shown_frames = Vec::new();
    let mut now = Server::t(0) + latency;
    while now < Server::t(40) {
        while Server::t(server.n + 1) <= now {
            let apply = server.n + 1 == forecast_tick && !refused;
            let sent = server.tick(apply.then_some((target, impulse)));
            in_flight.push((sent.t + latency, sent));
        }
        for (_, sent) in in_flight.iter().filter(|(at, _)| *at <= now) {
            manifold.on_state(sent.n, sent.t, &sent.list, sent.t + latency);
            if sent.n == forecast_tick {
                tick_arrived_at = Some(now);
            }
        }
        in_flight.retain(|(at, _)| *at > now);
        if !forecast_sent && now >= event_at {
            assert!(manifold.on_forecast(target, forecast_tick, Some(impulse), now));
            forecast_sent = true;
        }
        let frame = manifold.render(now, &mut out).unwrap();
        let shown = [out[target * STRIDE], out[target * STRIDE + 1], out[target * STRIDE + 2]];
        if let Some(before) = previous {
            largest_jump = largest_jump.max((0..3).map(|a| (shown[a] - before[a]).powi(2)).sum::<f32>().sqrt());
        }
        previous = Some(shown);
        shown_frames.push((now, frame.render_t, shown));
        now += 1000.0 / 60.0;
    }
    let error_at = |render_t: f64, shown: [f32; 3]| {
        let truth = server.truth_at(target, render_t);
        (0..3).map(|a| (shown[a] - truth[a]).abs()).fold(0.0, f32::max)
    };
    let settled_from = tick_arrived_at.expect("the forecast tick arrived") + 5.0 * RECONCILE_MS;
    let worst = |from: f64| {
        let known = Server::t(server.n); // the truth ends at the server's last tick
        shown_frames
            .iter()
            .filter(|(at, t, _)| *at >= from && *t <= known)
            .map(|(_, t, shown)| error_at(*t, *shown))
            .fold(0.0, f32::max)
    };
    let (worst_after_event, worst_after_settling) = (worst(event_at + 1000.0 / 60.0), worst(settled_from));
    let outcomes = manifold.take_forecast_outcomes();
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    let outcome = outcomes[0];
    assert_eq!(outcome.confirmed, !refused, "{outcome:?}");
    let departed = outcome.departed.expect("the forecast showed");
    assert!(
        departed - outcome.arrived <= 1000.0 / 60.0 + 1e-6,
        "left its path {} ms after the event",
        departed - outcome.arrived
    );
    let bound = WellParams::default().max_speed * (1.0 / 60.0) + 3.0 * PX;
    assert!(largest_jump <= bound, "a jump of {} px (bound {} px)", largest_jump / PX, bound / PX);
    if !refused {
        // From the frame after the event on, what is shown is the truth: the tick adds nothing.
        assert!(worst_after_event < 0.5 * PX, "off the truth by {} px after the event", worst_after_event / PX);
    }
    assert!(worst_after_settling < 0.5 * PX, "off the truth by {} px once settled", worst_after_settling / PX);
    assert_eq!(manifold.forecasts_pending(), 0);
}
