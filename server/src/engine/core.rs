//! The engine's pure heart: [`Engine::tick`] applies queued gestures, steps the shared
//! integrator, recomputes prices and says which price points to log. No I/O, no clock: the
//! caller passes the time in, so tests step it by hand.

use std::collections::VecDeque;

use physics_worker::physics::{self, apply_gesture, Body, StepScratch, WellParams};
use physics_worker::price::{price_cents, PriceInputs, PriceParams};
use physics_worker::wire::{GestureKind, Reason};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How long interactions count toward a product's interaction frequency.
pub const INTERACTION_WINDOW_MS: f64 = 60_000.0;

/// A price point is logged when the price moved by at least this fraction since the last point…
pub const HISTORY_MIN_MOVE: f64 = 0.01;
/// …or when this long has passed since it.
pub const HISTORY_MAX_GAP_MS: f64 = 10_000.0;

/// What the engine knows of a product besides its body.
#[derive(Clone, Debug, PartialEq)]
pub struct ProductMeta {
    /// The product's uuid.
    pub id: Uuid,
    /// List price, cents.
    pub msrp_cents: i64,
    /// Lowest live price, cents.
    pub floor_cents: i64,
    /// Units available to buy.
    pub stock_left: i64,
}

/// A gesture waiting for the engine, as queued by any node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueuedGesture {
    /// Unique id, so a gesture is applied exactly once even if it is seen twice.
    pub id: Uuid,
    /// The product.
    pub product: Uuid,
    /// What to do.
    pub kind: GestureKind,
    /// Where the answer goes: the node and connection that sent it, and the client's sequence number.
    pub origin: GestureOrigin,
}

/// Who sent a gesture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GestureOrigin {
    /// The node that queued it.
    pub node: String,
    /// The connection on that node.
    pub conn: u64,
    /// The client's sequence number.
    pub q: u32,
}

/// The outcome of one gesture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GestureResult {
    /// Who asked.
    pub origin: GestureOrigin,
    /// `None` when applied, otherwise why not.
    pub refused: Option<Reason>,
}

/// What one tick did.
#[derive(Debug, Default)]
pub struct TickOutcome {
    /// The tick number.
    pub n: u64,
    /// One result per gesture handed in, in order.
    pub gestures: Vec<GestureResult>,
    /// Price points to append to the history: (product, cents).
    pub history: Vec<(Uuid, i64)>,
}

/// The authoritative state of every product while this node leads.
#[derive(Debug)]
pub struct Engine {
    /// Products, index-aligned with `bodies`.
    pub products: Vec<ProductMeta>,
    /// Physical state, index-aligned with `products`.
    pub bodies: Vec<Body>,
    /// Current prices, cents.
    pub prices: Vec<i64>,
    /// The last tick run.
    pub n: u64,
    /// Time of the last tick, ms.
    pub now_ms: f64,
    params: WellParams,
    price_params: PriceParams,
    scratch: StepScratch,
    last_interest_ms: Vec<f64>,
    interactions: Vec<VecDeque<f64>>,
    last_logged: Vec<Option<(f64, i64)>>,
    applied: std::collections::HashSet<Uuid>,
    applied_order: VecDeque<Uuid>,
    state_keys: Vec<String>,
    catalog_digest: u64,
}

/// How many gesture ids are remembered to refuse duplicates.
const REMEMBERED_GESTURES: usize = 100_000;

impl Engine {
    /// An engine over these products and bodies, starting at tick `n` and time `now_ms`, stepping
    /// `params` (whose `dt` is the tick length) each tick.
    pub fn new(products: Vec<ProductMeta>, bodies: Vec<Body>, n: u64, now_ms: f64, params: WellParams) -> Self {
        assert_eq!(products.len(), bodies.len(), "one body per product");
        let count = products.len();
        let mut engine = Self {
            prices: vec![0; count],
            products,
            bodies,
            n,
            now_ms,
            params,
            price_params: PriceParams::default(),
            scratch: StepScratch::default(),
            last_interest_ms: vec![now_ms; count],
            interactions: vec![VecDeque::new(); count],
            last_logged: vec![None; count],
            applied: Default::default(),
            applied_order: Default::default(),
            state_keys: Vec::new(),
            catalog_digest: 0,
        };
        engine.catalog_digest = crate::product_state::catalog_digest(engine.products.iter().map(|p| &p.id));
        engine.recompute_prices();
        engine
    }

    /// Updates the units available per product (from PostgreSQL, the system of record), which
    /// the price's scarcity term uses. Products absent from `levels` keep their value.
    pub fn set_stock(&mut self, levels: &std::collections::HashMap<Uuid, i64>) {
        for meta in &mut self.products {
            if let Some(&level) = levels.get(&meta.id) {
                meta.stock_left = level;
            }
        }
    }

    /// Builds every product's `sc:prod:state:{uuid}` key once, rather than every tick.
    pub fn prepare_state_keys(&mut self, keys: &crate::keys::Keys) {
        if self.state_keys.len() != self.products.len() {
            self.state_keys = self.products.iter().map(|p| keys.product_state(p.id)).collect();
        }
    }

    /// The keys built by [`Engine::prepare_state_keys`], in product order.
    pub fn state_keys(&self) -> &[String] {
        &self.state_keys
    }

    /// The physics constants in use.
    pub fn params(&self) -> &WellParams {
        &self.params
    }

    /// The fingerprint of the product order (see [`crate::product_state::catalog_digest`]).
    pub fn catalog_digest(&self) -> u64 {
        self.catalog_digest
    }

    /// The index of a product.
    pub fn index_of(&self, id: Uuid) -> Option<usize> {
        self.products.iter().position(|p| p.id == id)
    }

    /// Interactions with product `index` within the sliding window.
    pub fn interaction_count(&self, index: usize) -> usize {
        self.interactions[index].len()
    }

    /// Runs one tick at time `now_ms`: gestures first (each exactly once), then one physics
    /// step, then prices and the price-history decision.
    pub fn tick(&mut self, now_ms: f64, gestures: &[QueuedGesture]) -> TickOutcome {
        self.n += 1;
        self.now_ms = now_ms;
        let results = gestures.iter().map(|g| self.apply(g)).collect();
        physics::step(&mut self.bodies, &self.params, &mut self.scratch);
        for window in &mut self.interactions {
            while window.front().is_some_and(|&t| now_ms - t > INTERACTION_WINDOW_MS) {
                window.pop_front();
            }
        }
        self.recompute_prices();
        TickOutcome { n: self.n, gestures: results, history: self.history_points() }
    }

    fn apply(&mut self, gesture: &QueuedGesture) -> GestureResult {
        let refused = self.try_apply(gesture).err();
        GestureResult { origin: gesture.origin.clone(), refused }
    }

    fn try_apply(&mut self, gesture: &QueuedGesture) -> Result<(), Reason> {
        if self.applied.contains(&gesture.id) {
            return Err(Reason::Duplicate);
        }
        let i = self.index_of(gesture.product).ok_or(Reason::UnknownProduct)?;
        if let Some(impulse) = gesture.kind.effect() {
            apply_gesture(&mut self.bodies[i], impulse, &self.params).map_err(|_| Reason::InvalidVector)?;
        }
        self.last_interest_ms[i] = self.now_ms;
        self.interactions[i].push_back(self.now_ms);
        self.remember(gesture.id);
        Ok(())
    }

    fn remember(&mut self, id: Uuid) {
        self.applied.insert(id);
        self.applied_order.push_back(id);
        if self.applied_order.len() > REMEMBERED_GESTURES {
            if let Some(old) = self.applied_order.pop_front() {
                self.applied.remove(&old);
            }
        }
    }

    fn recompute_prices(&mut self) {
        for (i, (meta, body)) in self.products.iter().zip(&self.bodies).enumerate() {
            self.prices[i] = price_cents(
                &PriceInputs {
                    msrp_cents: meta.msrp_cents,
                    floor_cents: meta.floor_cents,
                    idle_secs: (self.now_ms - self.last_interest_ms[i]) / 1_000.0,
                    mass: body.m as f64,
                    base_mass: body.base_mass as f64,
                    stock_left: meta.stock_left,
                },
                &self.price_params,
            );
        }
    }

    fn history_points(&mut self) -> Vec<(Uuid, i64)> {
        let mut points = Vec::new();
        for (i, meta) in self.products.iter().enumerate() {
            let price = self.prices[i];
            let due = match self.last_logged[i] {
                None => true,
                Some((at, logged)) => {
                    let moved = (price - logged).abs() as f64 >= HISTORY_MIN_MOVE * logged.max(1) as f64;
                    moved || self.now_ms - at >= HISTORY_MAX_GAP_MS
                }
            };
            if due {
                self.last_logged[i] = Some((self.now_ms, price));
                points.push((meta.id, price));
            }
        }
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use physics_worker::physics::initial_body;

    fn engine(count: usize) -> Engine {
        let params = WellParams::default();
        let products = (0..count)
            .map(|i| ProductMeta {
                id: Uuid::from_u128(i as u128 + 1),
                msrp_cents: 10_000,
                floor_cents: 6_000,
                stock_left: 50,
            })
            .collect();
        let bodies = (0..count).map(|i| initial_body(i, count, 1.0, &params)).collect();
        Engine::new(products, bodies, 0, 0.0, WellParams::default())
    }

    fn flick(product: u128, v: physics_worker::physics::Vec3) -> QueuedGesture {
        QueuedGesture {
            id: Uuid::new_v4(),
            product: Uuid::from_u128(product),
            kind: GestureKind::Flick(v),
            origin: GestureOrigin { node: "n".into(), conn: 1, q: 1 },
        }
    }

    #[test]
    fn a_gesture_is_applied_exactly_once_even_if_queued_twice() {
        let mut e = engine(3);
        let g = flick(2, [0.5, 0.0, 0.0]);
        let out = e.tick(50.0, &[g.clone(), g.clone()]);
        assert_eq!(out.gestures[0].refused, None);
        assert_eq!(out.gestures[1].refused, Some(Reason::Duplicate));
        let expected = 1.0 + e.params().mass_per_interaction - relax_loss(&e);
        assert!((e.bodies[1].m - expected).abs() < 1e-6, "mass {} vs {expected}", e.bodies[1].m);
        assert_eq!(e.tick(100.0, &[g]).gestures[0].refused, Some(Reason::Duplicate));
        assert_eq!(e.interaction_count(1), 1);
    }

    /// The mass shed by one step of relaxation right after one interaction from base mass 1.
    fn relax_loss(e: &Engine) -> f32 {
        let p = e.params();
        p.mass_per_interaction * (p.mass_relax * p.dt).min(1.0)
    }

    #[test]
    fn unknown_products_and_bad_vectors_are_refused_and_change_nothing() {
        let mut e = engine(2);
        let mut reference = engine(2);
        let out = e.tick(50.0, &[flick(99, [1.0, 0.0, 0.0]), flick(1, [f32::NAN, 0.0, 0.0])]);
        reference.tick(50.0, &[]);
        assert_eq!(out.gestures[0].refused, Some(Reason::UnknownProduct));
        assert_eq!(out.gestures[1].refused, Some(Reason::InvalidVector));
        assert_eq!(e.bodies, reference.bodies);
    }

    #[test]
    fn prices_decay_without_interest_and_recover_with_it() {
        let mut e = engine(1);
        assert_eq!(e.prices[0], 10_000);
        let mut t = 0.0;
        for _ in 0..2_000 {
            t += 1_000.0; // one simulated second per tick, to age quickly
            e.tick(t, &[]);
        }
        let decayed = e.prices[0];
        assert!(decayed < 9_000, "price {decayed}");
        e.tick(t + 1_000.0, &[flick(1, [0.1, 0.0, 0.0])]);
        assert!(e.prices[0] > decayed);
        assert!(e.prices.iter().all(|&p| (6_000..=10_000).contains(&p)));
    }

    #[test]
    fn price_history_logs_on_first_sight_on_moves_of_one_percent_and_every_ten_seconds() {
        let mut e = engine(1);
        assert_eq!(e.tick(50.0, &[]).history.len(), 1, "first point");
        assert!(e.tick(100.0, &[]).history.is_empty(), "nothing moved");
        assert_eq!(e.tick(10_050.0, &[]).history.len(), 1, "ten seconds passed");
        // A long idle stretch moves the price by more than 1% within one tick.
        let out = e.tick(400_000.0, &[]);
        assert_eq!(out.history.len(), 1);
    }

    #[test]
    fn scarcity_from_a_stock_update_raises_the_price_of_an_ignored_product() {
        let mut e = engine(2);
        e.tick(3_600_000.0, &[]);
        let before = e.prices.clone();
        e.set_stock(&[(Uuid::from_u128(1), 0)].into_iter().collect());
        e.tick(3_600_050.0, &[]);
        assert!(e.prices[0] > before[0], "sold out should hold the price up");
        assert!(e.prices[1] <= before[1], "the other product is unaffected");
    }

    #[test]
    fn the_interaction_window_forgets_old_interactions() {
        let mut e = engine(1);
        e.tick(0.0, &[flick(1, [0.1, 0.0, 0.0])]);
        assert_eq!(e.interaction_count(0), 1);
        e.tick(INTERACTION_WINDOW_MS + 1.0, &[]);
        assert_eq!(e.interaction_count(0), 0);
    }
}
