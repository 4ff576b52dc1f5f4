//! The lag-compensating manifold: turns the server's snapshot stream into a smooth position for
//! every product at any moment, off the main thread.
//!
//! * **Clock sync** ([`ClockSync`]): `ping`/`pong` give a round trip and an offset; the offset of
//!   the fastest recent round trip is kept (the least queueing, the least error).
//! * **Reconstruction**: `s` frames list only what the shared integrator cannot predict, so each
//!   tick's full state is the previous one stepped once, overwritten by the frame. Frames that
//!   arrive out of order wait (a few ticks at most) for the one they follow; a lost frame is filled
//!   by prediction and corrected by the next keyframe.
//! * **Jitter buffer**: the render time trails the server by half a round trip plus an
//!   interpolation delay that follows the measured arrival jitter, at most one send interval,
//!   instead of the usual fixed 100 ms. Inside the buffer positions are interpolated between
//!   confirmed ticks; past the newest tick they are extrapolated with the shared integrator (exact
//!   unless someone gestured), for at most [`MAX_EXTRAPOLATION_MS`], then held.
//! * **Prediction and reconciliation**: the shopper's own flick moves the product at once; when
//!   the server's state catches up (or refuses the flick), the difference between what was shown
//!   and the authoritative path fades out over [`RECONCILE_MS`] instead of snapping.
//! * **Forecasts** ([`Manifold::on_forecast`]): another shopper's gesture arrives as an `ev`
//!   frame before the tick that applies it. It is applied, with the engine's own
//!   [`apply_gesture`], wherever the shown state is stepped past the last confirmed tick, so the
//!   product leaves its path at once. When that tick arrives it matches bit for bit (nothing
//!   moves) or, if the engine refused or moved the gesture, the gap fades like a refused flick.
//!
//! Time is always passed in (milliseconds, the page's clock), so tests drive it precisely.

use std::collections::{BTreeMap, VecDeque};

use crate::physics::{apply_gesture, apply_impulse, step, Body, StepScratch, Vec3, WellParams};
use crate::wire::{BodyState, CatalogEntry};

/// Longest extrapolation past the newest confirmed tick; then positions hold.
pub const MAX_EXTRAPOLATION_MS: f64 = 250.0;
/// How long a correction takes to fade (time constant of the exponential).
pub const RECONCILE_MS: f64 = 60.0;
/// Confirmed ticks kept for interpolation.
const HISTORY: usize = 12;
/// A frame that follows a gap waits for the missing one until this many frames are held; then
/// the gap is filled by prediction (a reordered frame is usually only one tick late).
const MAX_PENDING: usize = 1;
/// Floats per product in the render buffer: x, y, z, mass.
pub const STRIDE: usize = 4;
/// Most forecasts waiting for their tick; more are dropped (the tick still shows them).
pub const MAX_FORECASTS: usize = 64;
/// How far (well units, about half a pixel on a phone) a shown product must be from where it
/// would be without a forecast to count as having left its path.
pub const DEPARTURE_UNITS: f32 = 0.002;

/// Round trip and offset from `ping`/`pong`.
#[derive(Clone, Debug, Default)]
pub struct ClockSync {
    samples: VecDeque<(f64, f64)>,
    offset_ms: Option<f64>,
    rtt_ms: f64,
}

impl ClockSync {
    /// How many recent samples the filter looks at.
    const WINDOW: usize = 8;

    /// Records a `pong`: `sent` and `received` on the local clock, `server` on the server's.
    pub fn on_pong(&mut self, sent: f64, server: f64, received: f64) {
        let rtt = (received - sent).max(0.0);
        let offset = server - (sent + rtt / 2.0);
        if self.samples.len() == Self::WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back((rtt, offset));
        let (best_rtt, best_offset) =
            self.samples.iter().copied().min_by(|a, b| a.0.total_cmp(&b.0)).expect("one sample at least");
        self.rtt_ms = best_rtt;
        self.offset_ms = Some(best_offset);
    }

    /// Server time minus local time, once known.
    pub fn offset_ms(&self) -> Option<f64> {
        self.offset_ms
    }

    /// The filtered round trip.
    pub fn rtt_ms(&self) -> f64 {
        self.rtt_ms
    }
}

/// One confirmed tick.
#[derive(Clone, Debug)]
struct Snapshot {
    n: u64,
    /// Server send time.
    t: f64,
    bodies: Vec<Body>,
}

/// Where a product's rendered position came from on the last frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Interpolated,
    Extrapolated,
    Predicted,
    /// Extrapolated through another shopper's forecast gesture.
    Forecast,
}

/// The shopper's own flick, shown before the server confirms it.
#[derive(Clone, Debug)]
struct Prediction {
    q: u32,
    index: usize,
    /// The body as predicted, stepped locally from the moment of the flick.
    body: Body,
    /// `body` one step later.
    next: Body,
    /// Local time `body` corresponds to.
    at: f64,
    /// The tick that applied it, once acknowledged.
    acked_n: Option<u64>,
}

/// Another shopper's gesture, shown before its tick confirms it.
#[derive(Clone, Debug)]
struct Forecast {
    /// The tick that will apply it.
    n: u64,
    index: usize,
    /// A flick's impulse, or `None` for a beam.
    impulse: Option<Vec3>,
    /// Local time the event arrived.
    arrived: f64,
    /// Local time of the first frame that showed the product off its old path.
    departed: Option<f64>,
}

/// How a forecast ended (see [`Manifold::take_forecast_outcomes`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForecastOutcome {
    /// The product.
    pub index: usize,
    /// The tick it forecast.
    pub n: u64,
    /// Local time the event arrived.
    pub arrived: f64,
    /// Local time of the first rendered frame that showed the product off its old path, if one did.
    pub departed: Option<f64>,
    /// Whether the tick's state matched the forecast bit for bit.
    pub confirmed: bool,
}

/// What [`Manifold::render`] did this frame (for tests and measurements).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    /// Server time rendered.
    pub render_t: f64,
    /// How far past the newest confirmed tick, in ms (0 when interpolating).
    pub extrapolated_ms: f64,
}

/// The manifold of one connection.
#[derive(Debug)]
pub struct Manifold {
    params: WellParams,
    scratch: StepScratch,
    base_masses: Vec<f32>,
    tick_ms: f64,
    history: VecDeque<Snapshot>,
    pending: BTreeMap<u64, (f64, Vec<BodyState>)>,
    prices: Vec<i64>,
    prices_changed: bool,
    clock: ClockSync,
    /// Arrival transit statistics (local arrival + offset − send time).
    transit_mean: Option<f64>,
    jitter_ms: f64,
    extrapolation: Extrapolation,
    predictions: Vec<Prediction>,
    forecasts: Vec<Forecast>,
    outcomes: Vec<ForecastOutcome>,
    /// The newest snapshot extrapolated without forecasts, to tell when one shows.
    plain: Extrapolation,
    corrections: Vec<Vec3>,
    sources: Vec<Source>,
    last_rendered: Vec<Vec3>,
    last_render_local: Option<f64>,
}

impl Default for Manifold {
    fn default() -> Self {
        Self::new()
    }
}

impl Manifold {
    /// An empty manifold; the `sync` frame tells it the well's tick.
    pub fn new() -> Self {
        Self {
            params: WellParams::default(),
            scratch: StepScratch::default(),
            base_masses: Vec::new(),
            tick_ms: f64::from(crate::shared::DEFAULT_TICK_MS),
            history: VecDeque::new(),
            pending: BTreeMap::new(),
            prices: Vec::new(),
            prices_changed: false,
            clock: ClockSync::default(),
            transit_mean: None,
            jitter_ms: 0.0,
            extrapolation: Extrapolation { from: u64::MAX, ..Extrapolation::default() },
            predictions: Vec::new(),
            forecasts: Vec::new(),
            outcomes: Vec::new(),
            plain: Extrapolation { from: u64::MAX, ..Extrapolation::default() },
            corrections: Vec::new(),
            sources: Vec::new(),
            last_rendered: Vec::new(),
            last_render_local: None,
        }
    }

    /// How many products the manifold tracks.
    pub fn len(&self) -> usize {
        self.base_masses.len()
    }

    /// Whether nothing has been synced yet.
    pub fn is_empty(&self) -> bool {
        self.history.is_empty()
    }

    /// The clock filter.
    pub fn clock(&self) -> &ClockSync {
        &self.clock
    }

    /// Records a `pong` (see [`ClockSync::on_pong`]).
    pub fn on_pong(&mut self, sent: f64, server: f64, received: f64) {
        self.clock.on_pong(sent, server, received);
    }

    /// The current interpolation delay: enough to cover the measured jitter, at most one tick.
    pub fn interpolation_delay_ms(&self) -> f64 {
        (2.0 * self.jitter_ms + 2.0).min(self.tick_ms)
    }

    /// The measured arrival jitter (mean absolute deviation of the transit time).
    pub fn jitter_ms(&self) -> f64 {
        self.jitter_ms
    }

    /// The newest confirmed tick.
    pub fn confirmed_tick(&self) -> Option<u64> {
        self.history.back().map(|s| s.n)
    }

    /// The bodies of the newest confirmed tick (the server's state as this manifold rebuilt it
    /// from keyframes, deltas and its own prediction), by product index.
    pub fn confirmed_bodies(&self) -> Option<&[Body]> {
        self.history.back().map(|s| s.bodies.as_slice())
    }

    /// Prices in cents, by product index.
    pub fn prices(&self) -> &[i64] {
        &self.prices
    }

    /// Whether prices changed since the last call (then clears the flag).
    pub fn take_prices_changed(&mut self) -> bool {
        std::mem::take(&mut self.prices_changed)
    }

    /// A `sync` frame: everything starts over from this full state, stepped `tick_ms` of physics
    /// per tick from now on, as the engine steps it.
    pub fn on_sync(
        &mut self,
        tick_ms: u32,
        catalog: &[CatalogEntry],
        n: u64,
        t: f64,
        state: &[BodyState],
        arrived: f64,
    ) {
        let tick_ms = tick_ms.clamp(*crate::shared::TICK_MS_RANGE.start(), *crate::shared::TICK_MS_RANGE.end());
        self.params = WellParams::for_tick_ms(tick_ms);
        self.tick_ms = f64::from(tick_ms);
        self.base_masses = vec![1.0; catalog.len()];
        for entry in catalog {
            if let Some(slot) = self.base_masses.get_mut(entry.i as usize) {
                *slot = entry.b;
            }
        }
        let count = self.base_masses.len();
        let mut bodies = vec![Body { p: [0.0; 3], v: [0.0; 3], m: 1.0, base_mass: 1.0 }; count];
        self.prices = vec![0; count];
        self.apply(&mut bodies, state);
        self.history.clear();
        self.pending.clear();
        self.predictions.clear();
        self.forecasts.clear();
        self.corrections = vec![[0.0; 3]; count];
        self.sources = vec![Source::Interpolated; count];
        self.last_rendered = vec![[0.0; 3]; count];
        self.last_render_local = None;
        self.extrapolation.from = u64::MAX;
        self.prices_changed = true;
        self.observe_transit(t, arrived);
        self.history.push_back(Snapshot { n, t, bodies });
    }

    /// An `s` frame arriving at local time `arrived`.
    pub fn on_state(&mut self, n: u64, t: f64, list: &[BodyState], arrived: f64) {
        let Some(newest) = self.history.back().map(|s| s.n) else {
            return; // nothing to build on before the sync
        };
        if n <= newest {
            return; // a duplicate or a frame overtaken by a keyframe
        }
        self.observe_transit(t, arrived);
        self.pending.insert(n, (t, list.to_vec()));
        self.drain_pending();
    }

    /// Applies held frames in order; fills a gap by prediction when a keyframe is waiting or the
    /// wait has gone on too long.
    fn drain_pending(&mut self) {
        while let Some((&n, _)) = self.pending.first_key_value() {
            let newest = self.history.back().expect("synced").n;
            let is_key = self.pending[&n].1.len() == self.len();
            if n != newest + 1 && !is_key && self.pending.len() <= MAX_PENDING {
                return; // wait for the missing tick
            }
            let (t, list) = self.pending.remove(&n).expect("present");
            let mut bodies = self.history.back().expect("synced").bodies.clone();
            if !is_key {
                // Step through any missing ticks as if nothing unpredictable happened in them.
                for _ in newest..n {
                    step(&mut bodies, &self.params, &mut self.scratch);
                }
            }
            self.apply(&mut bodies, &list);
            if self.history.len() == HISTORY {
                self.history.pop_front();
            }
            self.history.push_back(Snapshot { n, t, bodies });
            self.settle_predictions();
            self.settle_forecasts();
        }
    }

    /// Another shopper's gesture on product `index`, which tick `n` will apply (an `ev` frame
    /// arriving at local time `arrived`). Ignored when it cannot help: before the sync, for an
    /// unknown product or a bad impulse, for a tick already confirmed, or beyond
    /// [`MAX_FORECASTS`] waiting.
    pub fn on_forecast(&mut self, index: usize, n: u64, impulse: Option<Vec3>, arrived: f64) -> bool {
        let known = index < self.len() && self.confirmed_tick().is_some_and(|newest| n > newest);
        let finite = impulse.is_none_or(|v| v.iter().all(|c| c.is_finite()));
        if !known || !finite || self.forecasts.len() >= MAX_FORECASTS {
            return false;
        }
        self.forecasts.push(Forecast { n, index, impulse, arrived, departed: None });
        self.extrapolation.from = u64::MAX; // re-step the shown state with the forecast in it
        true
    }

    /// Forecasts waiting for their tick.
    pub fn forecasts_pending(&self) -> usize {
        self.forecasts.len()
    }

    /// How the forecasts settled since the last call.
    pub fn take_forecast_outcomes(&mut self) -> Vec<ForecastOutcome> {
        std::mem::take(&mut self.outcomes)
    }

    /// Forecasts for ticks now confirmed end: confirmed when the tick landed exactly where the
    /// forecast said, corrected otherwise (the render fades the gap, as for a refused flick).
    fn settle_forecasts(&mut self) {
        let newest = self.history.back().expect("synced");
        if !self.forecasts.iter().any(|f| f.n <= newest.n) {
            return;
        }
        // The tick as forecast: the one before it, with the forecasts for it applied, stepped.
        let before = self.history.iter().rev().nth(1).filter(|s| s.n + 1 == newest.n);
        let expected = before.map(|before| {
            let mut bodies = before.bodies.clone();
            apply_forecasts(&mut bodies, &self.forecasts, newest.n, &self.params);
            step(&mut bodies, &self.params, &mut self.scratch);
            bodies
        });
        let newest = self.history.back().expect("synced");
        let (settled, waiting): (Vec<Forecast>, Vec<Forecast>) =
            std::mem::take(&mut self.forecasts).into_iter().partition(|f| f.n <= newest.n);
        self.forecasts = waiting;
        for f in settled {
            let confirmed = f.n == newest.n
                && expected.as_ref().is_some_and(|bodies| {
                    let truth = &newest.bodies[f.index];
                    bodies[f.index].has_bits_of(truth.p, truth.v, truth.m)
                });
            self.outcomes.push(ForecastOutcome {
                index: f.index,
                n: f.n,
                arrived: f.arrived,
                departed: f.departed,
                confirmed,
            });
        }
        if self.outcomes.len() > 4 * MAX_FORECASTS {
            self.outcomes.drain(..MAX_FORECASTS);
        }
    }

    fn apply(&mut self, bodies: &mut [Body], list: &[BodyState]) {
        for s in list {
            let i = s.i as usize;
            if let Some(body) = bodies.get_mut(i) {
                *body = Body { p: s.p, v: s.v, m: s.m, base_mass: self.base_masses[i] };
                if self.prices[i] != s.c {
                    self.prices[i] = s.c;
                    self.prices_changed = true;
                }
            }
        }
    }

    fn observe_transit(&mut self, t: f64, arrived: f64) {
        let transit = arrived + self.clock.offset_ms.unwrap_or(0.0) - t;
        match self.transit_mean {
            None => self.transit_mean = Some(transit),
            Some(mean) => {
                let deviation = (transit - mean).abs();
                self.transit_mean = Some(mean + (transit - mean) / 16.0);
                self.jitter_ms += (deviation - self.jitter_ms) / 16.0;
            }
        }
    }

    /// Shows the shopper's own flick at once. `q` is the gesture's sequence number.
    pub fn predict_flick(&mut self, q: u32, index: usize, impulse: Vec3, now: f64) {
        let Some(current) = self.position_body(index) else { return };
        let mut body = current;
        if apply_impulse(&mut body, impulse, &self.params).is_err() {
            return;
        }
        let mut next = [body];
        step(&mut next, &self.params, &mut self.scratch);
        self.predictions.retain(|p| p.index != index);
        self.predictions.push(Prediction { q, index, body, next: next[0], at: now, acked_n: None });
    }

    /// The server applied gesture `q` in tick `n`.
    pub fn on_ack(&mut self, q: u32, n: u64) {
        for p in self.predictions.iter_mut().filter(|p| p.q == q) {
            p.acked_n = Some(n);
        }
        self.settle_predictions();
    }

    /// The server refused gesture `q`: the prediction is dropped and fades back.
    pub fn on_refused(&mut self, q: u32) {
        self.predictions.retain(|p| p.q != q);
    }

    /// Whether a gesture's prediction is still shown.
    pub fn is_predicting(&self, index: usize) -> bool {
        self.predictions.iter().any(|p| p.index == index)
    }

    /// Predictions end once the authoritative state includes their tick and has been rendered up
    /// to it (the switch back fades through the correction).
    fn settle_predictions(&mut self) {
        let newest = self.history.back().map(|s| s.n).unwrap_or(0);
        self.predictions.retain(|p| p.acked_n.is_none_or(|n| n > newest));
    }

    /// The body of product `index` as last rendered (for prediction), approximated by the newest
    /// confirmed state moved to the rendered position.
    fn position_body(&self, index: usize) -> Option<Body> {
        let newest = self.history.back()?;
        let mut body = *newest.bodies.get(index)?;
        if let Some(p) = self.last_rendered.get(index) {
            if self.last_render_local.is_some() {
                body.p = *p;
            }
        }
        Some(body)
    }

    /// Writes every product's `[x, y, z, mass]` for local time `now` into `out` (resized to
    /// `len() * STRIDE`). Returns what was rendered, or `None` before the first sync.
    pub fn render(&mut self, now: f64, out: &mut Vec<f32>) -> Option<Frame> {
        let newest_t = self.history.back()?.t;
        let count = self.len();
        out.resize(count * STRIDE, 0.0);
        let server_now = now + self.clock.offset_ms.unwrap_or(0.0);
        let render_t = server_now - self.transit_floor() - self.interpolation_delay_ms();
        let frame_dt = self.last_render_local.map(|last| (now - last).max(0.0)).unwrap_or(0.0);
        let fade = (-frame_dt / RECONCILE_MS).exp() as f32;

        // Authoritative positions at render_t: interpolated, extrapolated or held.
        let (extrapolated_ms, source) = if render_t <= newest_t {
            (0.0, Source::Interpolated)
        } else {
            ((render_t - newest_t).min(MAX_EXTRAPOLATION_MS), Source::Extrapolated)
        };
        let positions: Vec<(Vec3, f32)> =
            if source == Source::Interpolated { self.interpolate(render_t) } else { self.extrapolate(extrapolated_ms) };
        if source == Source::Extrapolated {
            self.note_departures(&positions, extrapolated_ms, now);
        }

        // Own predictions, stepped locally in present time.
        let dt_ms = self.params.dt as f64 * 1000.0;
        for p in &mut self.predictions {
            while now - p.at >= dt_ms {
                p.body = p.next;
                let mut single = [p.next];
                step(&mut single, &self.params, &mut self.scratch);
                p.next = single[0];
                p.at += dt_ms;
            }
        }
        let newest = self.history.back().expect("synced");

        for i in 0..count {
            let (mut pos, mass) = positions[i];
            let mut this_source = source;
            if source == Source::Extrapolated && self.forecasts.iter().any(|f| f.index == i) {
                this_source = Source::Forecast;
            }
            let mut velocity = newest.bodies[i].v;
            if let Some(p) = self.predictions.iter().find(|p| p.index == i) {
                let k = ((now - p.at) / dt_ms).clamp(0.0, 1.0) as f32;
                pos = lerp3(p.body.p, p.next.p, k);
                velocity = p.body.v;
                this_source = Source::Predicted;
            }
            // A change of source (prediction ending or refused, extrapolation meeting a late
            // snapshot) would jump: carry the gap between where the old path was heading and the
            // new one as a correction that fades out.
            let correction = &mut self.corrections[i];
            // A forecast starting is the point: it shows at once, unsmoothed.
            let change = this_source != self.sources[i] && this_source != Source::Forecast;
            if self.last_render_local.is_some() && change {
                let shown = self.last_rendered[i];
                let seconds = (frame_dt / 1000.0) as f32;
                for axis in 0..3 {
                    correction[axis] = shown[axis] + velocity[axis] * seconds - pos[axis];
                }
            }
            for c in correction.iter_mut() {
                *c *= fade;
            }
            let shown = [pos[0] + correction[0], pos[1] + correction[1], pos[2] + correction[2]];
            self.sources[i] = this_source;
            self.last_rendered[i] = shown;
            out[i * STRIDE..i * STRIDE + STRIDE].copy_from_slice(&[shown[0], shown[1], shown[2], mass]);
        }
        self.last_render_local = Some(now);
        Some(Frame { render_t, extrapolated_ms })
    }

    /// The one-way transit floor: half the round trip once the clock is synced, else the mean
    /// observed transit (which then also carries the unknown clock offset).
    fn transit_floor(&self) -> f64 {
        match self.clock.offset_ms {
            Some(_) => self.clock.rtt_ms / 2.0,
            None => self.transit_mean.unwrap_or(0.0),
        }
    }

    fn interpolate(&self, render_t: f64) -> Vec<(Vec3, f32)> {
        let oldest = self.history.front().expect("synced");
        if render_t <= oldest.t {
            return oldest.bodies.iter().map(|b| (b.p, b.m)).collect();
        }
        let pair =
            self.history.iter().zip(self.history.iter().skip(1)).find(|(a, b)| a.t <= render_t && render_t <= b.t);
        let (a, b) = pair.unwrap_or_else(|| {
            let last = self.history.back().expect("synced");
            (last, last)
        });
        let span = b.t - a.t;
        let k = if span > 0.0 { ((render_t - a.t) / span) as f32 } else { 1.0 };
        a.bodies.iter().zip(&b.bodies).map(|(x, y)| (lerp3(x.p, y.p, k), x.m + (y.m - x.m) * k)).collect()
    }

    /// The newest snapshot carried `ahead_ms` forward with the shared integrator, interpolating
    /// within the step, with the forecasts applied at their ticks. Cached: a frame steps only
    /// what earlier frames have not stepped yet.
    fn extrapolate(&mut self, ahead_ms: f64) -> Vec<(Vec3, f32)> {
        let newest = self.history.back().expect("synced");
        self.extrapolation.advance(newest, ahead_ms, &self.params, &mut self.scratch, &self.forecasts)
    }

    /// Marks the forecasts whose product is now shown off the path it had without them.
    fn note_departures(&mut self, shown: &[(Vec3, f32)], ahead_ms: f64, now: f64) {
        if self.forecasts.iter().all(|f| f.departed.is_some()) {
            return;
        }
        let newest = self.history.back().expect("synced");
        let plain = self.plain.advance(newest, ahead_ms, &self.params, &mut self.scratch, &[]);
        for f in self.forecasts.iter_mut().filter(|f| f.departed.is_none()) {
            let (a, b) = (shown[f.index].0, plain[f.index].0);
            let apart = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
            if apart > DEPARTURE_UNITS {
                f.departed = Some(now);
            }
        }
    }
}

/// Applies the forecasts for tick `n`, in the order they arrived (the order the engine queued them).
fn apply_forecasts(bodies: &mut [Body], forecasts: &[Forecast], n: u64, params: &WellParams) {
    for f in forecasts.iter().filter(|f| f.n == n) {
        if let Some(body) = bodies.get_mut(f.index) {
            let _ = apply_gesture(body, f.impulse, params);
        }
    }
}

/// The newest snapshot stepped `steps` (`before`) and `steps + 1` (`after`) times.
#[derive(Debug, Default)]
struct Extrapolation {
    from: u64,
    steps: u32,
    before: Vec<Body>,
    after: Vec<Body>,
}

impl Extrapolation {
    /// Positions `ahead_ms` past `newest`, stepping from where the cache left off; forecasts
    /// apply before the step of their tick, as the engine applies gestures.
    fn advance(
        &mut self,
        newest: &Snapshot,
        ahead_ms: f64,
        params: &WellParams,
        scratch: &mut StepScratch,
        forecasts: &[Forecast],
    ) -> Vec<(Vec3, f32)> {
        let dt_ms = params.dt as f64 * 1000.0;
        let whole = (ahead_ms / dt_ms).floor() as u32;
        if self.from != newest.n || self.steps > whole {
            self.from = newest.n;
            self.steps = 0;
            self.before.clone_from(&newest.bodies);
            self.after.clone_from(&newest.bodies);
            apply_forecasts(&mut self.after, forecasts, newest.n + 1, params);
            step(&mut self.after, params, scratch);
        }
        while self.steps < whole {
            self.before.clone_from(&self.after);
            self.steps += 1;
            apply_forecasts(&mut self.after, forecasts, newest.n + 1 + self.steps as u64, params);
            step(&mut self.after, params, scratch);
        }
        let k = ((ahead_ms - whole as f64 * dt_ms) / dt_ms) as f32;
        self.before.iter().zip(&self.after).map(|(x, y)| (lerp3(x.p, y.p, k), x.m)).collect()
    }
}

fn lerp3(a: Vec3, b: Vec3, k: f32) -> Vec3 {
    [a[0] + (b[0] - a[0]) * k, a[1] + (b[1] - a[1]) * k, a[2] + (b[2] - a[2]) * k]
}
