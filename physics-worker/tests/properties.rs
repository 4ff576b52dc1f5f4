//! Property tests of the price function and the integrator (native only).
#![cfg(not(target_arch = "wasm32"))]

use physics_worker::physics::{apply_impulse, initial_body, kinetic_energy, step, Body, StepScratch, WellParams};
use physics_worker::price::{price_cents, PriceInputs, PriceParams};
use proptest::prelude::*;

fn inputs() -> impl Strategy<Value = PriceInputs> {
    (1i64..10_000_000, 0.0f64..=1.0, 0.0f64..1e7, 0.1f64..200.0, 0.1f64..50.0, -10i64..100_000).prop_map(
        |(msrp, floor_frac, idle, mass, base, stock)| PriceInputs {
            msrp_cents: msrp,
            floor_cents: (msrp as f64 * floor_frac) as i64,
            idle_secs: idle,
            mass,
            base_mass: base,
            stock_left: stock,
        },
    )
}

proptest! {
    #[test]
    fn price_is_always_within_floor_and_msrp(i in inputs()) {
        let c = price_cents(&i, &PriceParams::default());
        prop_assert!(c >= i.floor_cents && c <= i.msrp_cents, "{c} not in [{}, {}]", i.floor_cents, i.msrp_cents);
    }

    #[test]
    fn price_never_rises_with_idle_time(i in inputs(), extra in 0.0f64..1e6) {
        let p = PriceParams::default();
        let later = PriceInputs { idle_secs: i.idle_secs + extra, ..i };
        prop_assert!(price_cents(&later, &p) <= price_cents(&i, &p));
    }

    #[test]
    fn price_never_falls_with_mass(i in inputs(), extra in 0.0f64..100.0) {
        let p = PriceParams::default();
        let heavier = PriceInputs { mass: i.mass + extra, ..i };
        prop_assert!(price_cents(&heavier, &p) >= price_cents(&i, &p));
    }

    #[test]
    fn price_never_falls_as_stock_runs_out(i in inputs(), sold in 0i64..1_000) {
        let p = PriceParams::default();
        let scarcer = PriceInputs { stock_left: i.stock_left - sold, ..i };
        prop_assert!(price_cents(&scarcer, &p) >= price_cents(&i, &p));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2, ..ProptestConfig::default() })]

    /// A million steps with a random impulse every few steps: the state stays finite, inside the
    /// well, and the kinetic energy stays below what the speed cap allows.
    #[test]
    fn a_million_steps_with_random_impulses_stay_finite_and_bounded(
        seed in any::<u64>(),
        impulses in prop::collection::vec((-10.0f32..10.0, -10.0f32..10.0, -10.0f32..10.0), 64),
    ) {
        let params = WellParams::default();
        let count = 12;
        let mut bodies: Vec<Body> = (0..count).map(|i| initial_body(i, count, 1.0 + i as f32, &params)).collect();
        let mut scratch = StepScratch::default();
        let energy_cap = count as f32 * 0.5 * params.max_speed * params.max_speed;
        let mut rng = seed;
        for n in 0..1_000_000usize {
            if n % 97 == 0 {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let (x, y, z) = impulses[(rng >> 33) as usize % impulses.len()];
                let target = (rng >> 17) as usize % count;
                apply_impulse(&mut bodies[target], [x, y, z], &params).unwrap();
            }
            step(&mut bodies, &params, &mut scratch);
            if n % 10_000 == 0 {
                let e = kinetic_energy(&bodies);
                prop_assert!(e.is_finite() && e <= energy_cap * 1.0001, "energy {e} at step {n}");
            }
        }
        for b in &bodies {
            prop_assert!(b.p.iter().chain(b.v.iter()).all(|c| c.is_finite()));
            prop_assert!((b.p[0] * b.p[0] + b.p[1] * b.p[1]).sqrt() < 3.0, "escaped: {:?}", b.p);
            prop_assert!(b.m <= params.max_mass);
        }
    }
}
