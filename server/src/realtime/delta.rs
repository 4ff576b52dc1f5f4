//! Delta frames: the shared integrator lets every client step the last state it was sent and
//! land exactly where the engine did, unless something it cannot know happened (a gesture, a
//! price move, a neighbour pushed by a gesture). [`Predictor`] runs the same step on the node and
//! lists only the products whose engine state differs, bit for bit, from that prediction.

use physics_worker::physics::{step, Body, StepScratch, WellParams};
use physics_worker::wire::BodyState;

/// Predicts each tick from the previous one, as clients do.
#[derive(Default)]
pub struct Predictor {
    last_n: Option<u64>,
    bodies: Vec<Body>,
    prices: Vec<i64>,
    params: WellParams,
    scratch: StepScratch,
}

impl Predictor {
    /// Takes tick `n`'s full state; returns the products a client holding tick `n - 1` cannot
    /// predict, or `None` when this predictor did not see tick `n - 1` (send a keyframe).
    /// `base_masses` are the catalog's, in index order.
    pub fn changes(&mut self, n: u64, state: &[BodyState], base_masses: &[f32]) -> Option<Vec<BodyState>> {
        let contiguous = self.last_n.is_some_and(|last| last + 1 == n) && self.bodies.len() == state.len();
        let changed = contiguous.then(|| {
            step(&mut self.bodies, &self.params, &mut self.scratch);
            state
                .iter()
                .zip(self.bodies.iter().zip(&self.prices))
                .filter(|(s, (b, &c))| !same_bits(s, b) || s.c != c)
                .map(|(s, _)| s.clone())
                .collect()
        });
        self.last_n = Some(n);
        self.bodies.clear();
        self.bodies.extend(state.iter().enumerate().map(|(i, s)| Body {
            p: s.p,
            v: s.v,
            m: s.m,
            base_mass: base_masses.get(i).copied().unwrap_or(1.0),
        }));
        self.prices.clear();
        self.prices.extend(state.iter().map(|s| s.c));
        changed
    }
}

fn same_bits(s: &BodyState, b: &Body) -> bool {
    let bits = |v: &[f32; 3]| v.map(f32::to_bits);
    bits(&s.p) == bits(&b.p) && bits(&s.v) == bits(&b.v) && s.m.to_bits() == b.m.to_bits()
}

#[cfg(test)]
mod tests {
    use super::*;
    use physics_worker::physics::{apply_impulse, initial_body};

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
        let mut predictor = Predictor::default();
        assert_eq!(predictor.changes(1, &states(&bodies, &prices), &masses), None, "first tick: keyframe");
        for n in 2..40 {
            step(&mut bodies, &params, &mut scratch);
            let changed = predictor.changes(n, &states(&bodies, &prices), &masses).unwrap();
            assert!(changed.is_empty(), "tick {n}: free motion is predictable, got {changed:?}");
        }
        // A flick on product 7 and a price move on product 20.
        apply_impulse(&mut bodies[7], [0.5, 0.0, 0.0], &params).unwrap();
        step(&mut bodies, &params, &mut scratch);
        prices[20] -= 1;
        let changed = predictor.changes(40, &states(&bodies, &prices), &masses).unwrap();
        let indices: Vec<u32> = changed.iter().map(|s| s.i).collect();
        assert!(indices.contains(&7) && indices.contains(&20), "{indices:?}");
        assert!(changed.len() < 64, "only the affected products: {indices:?}");
        // A missed tick means the predictor cannot vouch for the client's state.
        step(&mut bodies, &params, &mut scratch);
        step(&mut bodies, &params, &mut scratch);
        assert_eq!(predictor.changes(42, &states(&bodies, &prices), &masses), None);
    }
}
