//! Criterion benchmarks of the shared physics for 10,000 products:
//! `cargo bench -p physics-worker --bench physics`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use physics_worker::physics::{initial_body, step, StepScratch, WellParams};
use physics_worker::price::{price_cents, PriceInputs, PriceParams};
use std::hint::black_box;

const PRODUCTS: usize = 10_000;

fn integrator(c: &mut Criterion) {
    let params = WellParams::default();
    let bodies: Vec<_> = (0..PRODUCTS).map(|i| initial_body(i, PRODUCTS, 1.0 + (i % 13) as f32, &params)).collect();
    let mut scratch = StepScratch::default();
    c.bench_function("step 10k products", |b| {
        b.iter_batched_ref(
            || bodies.clone(),
            |bodies| step(black_box(bodies), &params, &mut scratch),
            BatchSize::LargeInput,
        )
    });
}

fn prices(c: &mut Criterion) {
    let params = PriceParams::default();
    let inputs: Vec<PriceInputs> = (0..PRODUCTS)
        .map(|i| PriceInputs {
            msrp_cents: 1_000 + i as i64,
            floor_cents: 650,
            idle_secs: i as f64 * 0.37,
            mass: 1.0 + (i % 17) as f64,
            base_mass: 1.0,
            stock_left: (i % 40) as i64,
        })
        .collect();
    c.bench_function("price 10k products", |b| {
        b.iter(|| inputs.iter().map(|i| price_cents(black_box(i), &params)).sum::<i64>())
    });
}

criterion_group!(benches, integrator, prices);
criterion_main!(benches);
