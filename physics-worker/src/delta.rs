//! The delta rule of `s` frames, shared by the server that writes them and the tests that
//! stand in for it: the shared integrator lets every client step the last state it was sent and
//! land exactly where the engine did, unless something it cannot know happened (a gesture, a
//! neighbour pushed by a gesture, a price move). [`Predictor`] runs the same step on the node and
//! lists only the products whose engine state differs, bit for bit, from that prediction, or
//! whose price moved by [`PRICE_RESEND_FRACTION`] since it was last sent. Smaller price moves
//! (the steady decay, a cent every few ticks) reach clients with the next keyframe, at most a
//! second later; without that rule the decay alone made deltas 5 times bigger.

use crate::physics::{step, Body, StepScratch, WellParams};
use crate::wire::BodyState;

/// A price that moved by this fraction since a client last saw it is sent at once.
pub const PRICE_RESEND_FRACTION: f64 = 0.01;

/// Predicts each tick from the previous one, as clients do.
pub struct Predictor {
    last_n: Option<u64>,
    bodies: Vec<Body>,
    prices: Vec<i64>,
    params: WellParams,
    scratch: StepScratch,
}

impl Predictor {
    /// A predictor stepping these constants (the engine's, tick length included).
    pub fn new(params: WellParams) -> Self {
        Self { last_n: None, bodies: Vec::new(), prices: Vec::new(), params, scratch: StepScratch::default() }
    }

    /// Takes tick `n`'s full state; returns the products a client holding tick `n - 1` cannot
    /// predict, or `None` when this predictor did not see tick `n - 1` (send a keyframe).
    /// `base_masses` are the catalog's, in index order.
    pub fn changes(&mut self, n: u64, state: &[BodyState], base_masses: &[f32]) -> Option<Vec<BodyState>> {
        let contiguous = self.last_n.is_some_and(|last| last + 1 == n) && self.bodies.len() == state.len();
        self.last_n = Some(n);
        if !contiguous {
            self.prices.clear();
            self.prices.extend(state.iter().map(|s| s.c));
            self.reset_bodies(state, base_masses);
            return None;
        }
        step(&mut self.bodies, &self.params, &mut self.scratch);
        let mut changed = Vec::new();
        for ((s, body), last_sent) in state.iter().zip(&self.bodies).zip(&mut self.prices) {
            let price_moved =
                (s.c - *last_sent).unsigned_abs() as f64 >= PRICE_RESEND_FRACTION * (*last_sent).max(1) as f64;
            if !body.has_bits_of(s.p, s.v, s.m) || price_moved {
                *last_sent = s.c;
                changed.push(s.clone());
            }
        }
        self.reset_bodies(state, base_masses);
        Some(changed)
    }

    /// The engine's bodies are exactly what every client now holds (sent or predicted).
    fn reset_bodies(&mut self, state: &[BodyState], base_masses: &[f32]) {
        self.bodies.clear();
        self.bodies.extend(state.iter().enumerate().map(|(i, s)| Body {
            p: s.p,
            v: s.v,
            m: s.m,
            base_mass: base_masses.get(i).copied().unwrap_or(1.0),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physics::{apply_impulse, initial_body};

    fn states(bodies: &[Body], prices: &[i64]) -> Vec<BodyState> {
        bodies
            .iter()
            .zip(prices)
            .enumerate()
            .map(|(i, (b, &c))| BodyState { i: i as u32, p: b.p, v: b.v, m: b.m, c })
            .collect()
    }

    #[test]
    fn only_what_a_client_cannot_predict_is_sent() {
        let params = WellParams::default();
        let masses: Vec<f32> = (0..64).map(|i| 1.0 + (i % 4) as f32).collect();
        let mut bodies: Vec<Body> = masses.iter().enumerate().map(|(i, &m)| initial_body(i, 64, m, &params)).collect();
        let mut prices = vec![1_000i64; 64];
        let mut scratch = StepScratch::default();
        let mut predictor = Predictor::new(params);
        assert_eq!(predictor.changes(1, &states(&bodies, &prices), &masses), None, "first tick: keyframe");
        for n in 2..40 {
            step(&mut bodies, &params, &mut scratch);
            let changed = predictor.changes(n, &states(&bodies, &prices), &masses).unwrap();
            assert!(changed.is_empty(), "tick {n}: free motion is predictable, got {changed:?}");
        }
        // A flick on product 7, a 2% price move on product 20, a one-cent decay on product 30.
        apply_impulse(&mut bodies[7], [0.5, 0.0, 0.0], &params).unwrap();
        step(&mut bodies, &params, &mut scratch);
        prices[20] += 20;
        prices[30] -= 1;
        let changed = predictor.changes(40, &states(&bodies, &prices), &masses).unwrap();
        let indices: Vec<u32> = changed.iter().map(|s| s.i).collect();
        assert!(indices.contains(&7) && indices.contains(&20), "{indices:?}");
        assert!(!indices.contains(&30), "a one-cent move waits for the keyframe: {indices:?}");
        assert!(changed.len() < 64, "only the affected products: {indices:?}");
        // Small moves add up until they reach the threshold.
        for n in 41..=49 {
            step(&mut bodies, &params, &mut scratch);
            prices[30] -= 1;
            let changed = predictor.changes(n, &states(&bodies, &prices), &masses).unwrap();
            let sent = changed.iter().any(|s| s.i == 30);
            assert_eq!(sent, n == 49, "tick {n}: 10 cents of 1,000 is the 1% threshold");
        }
        // A missed tick means the predictor cannot vouch for the client's state.
        step(&mut bodies, &params, &mut scratch);
        step(&mut bodies, &params, &mut scratch);
        assert_eq!(predictor.changes(51, &states(&bodies, &prices), &masses), None);
    }
}
