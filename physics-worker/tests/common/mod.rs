//! The golden scenario that native and wasm32 builds must compute bit for bit alike.

use physics_worker::physics::{apply_impulse, initial_body, step, Body, StepScratch, WellParams};
use physics_worker::price::{price_cents, PriceInputs, PriceParams};

/// Bodies, steps, and a deterministic sequence of flicks.
pub const BODIES: usize = 200;
pub const STEPS: usize = 600;

/// Runs the scenario and returns the final state.
pub fn run_scenario() -> Vec<Body> {
    let params = WellParams::default();
    let mut bodies: Vec<Body> =
        (0..BODIES).map(|i| initial_body(i, BODIES, 1.0 + (i % 9) as f32 * 0.75, &params)).collect();
    let mut scratch = StepScratch::default();
    for n in 0..STEPS {
        if n % 7 == 0 {
            let target = (n * 31) % BODIES;
            let k = n as f32 / STEPS as f32;
            apply_impulse(&mut bodies[target], [0.4 - k, k * 0.3 - 0.1, 0.05], &params).unwrap();
        }
        step(&mut bodies, &params, &mut scratch);
    }
    bodies
}

/// FNV-1a over the bit patterns of every component of every body.
pub fn state_hash(bodies: &[Body]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bodies {
        for x in b.p.iter().chain(b.v.iter()).chain([b.m, b.base_mass].iter()) {
            for byte in x.to_bits().to_le_bytes() {
                hash ^= byte as u64;
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    }
    hash
}

/// Prices over a grid of inputs.
pub fn price_samples() -> Vec<i64> {
    let params = PriceParams::default();
    let mut out = Vec::new();
    for idle in [0.0, 1.5, 60.0, 599.9, 3_600.0, 86_400.0] {
        for mass in [1.0, 1.7, 9.3, 60.0] {
            for stock in [0, 1, 4, 50, 5_000] {
                out.push(price_cents(
                    &PriceInputs {
                        msrp_cents: 12_999,
                        floor_cents: 8_449,
                        idle_secs: idle,
                        mass,
                        base_mass: 1.0,
                        stock_left: stock,
                    },
                    &params,
                ));
            }
        }
    }
    out
}

/// The vectors file, produced natively (`UPDATE_GOLDEN=1 cargo test -p physics-worker --test golden`).
pub const GOLDEN: &str = include_str!("../vectors/golden.txt");

/// Parses the vectors file: the state hash, then the prices, one per line.
pub fn golden() -> (u64, Vec<i64>) {
    let mut lines = GOLDEN.lines().filter(|l| !l.starts_with('#'));
    let hash = u64::from_str_radix(lines.next().expect("hash line").trim_start_matches("0x"), 16).unwrap();
    (hash, lines.map(|l| l.parse().unwrap()).collect())
}

/// Synthetic snapshot streams for the manifold.
#[allow(dead_code)]
pub mod streams;
