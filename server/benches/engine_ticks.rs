//! Full engine ticks (read gestures, step, prices, encode the broadcast, one fenced Lua write of
//! every hash) against the real Redis at `REDIS_URL` (default 127.0.0.1:6379), for 200, 2,000
//! and 10,000 products. Uses its own key prefix and deletes its keys afterwards.
//!
//! `cargo bench -p server --bench engine_ticks` (add `-- 500` for 500 ticks per size).

use std::time::{Duration, Instant};

use physics_worker::physics::{initial_body, WellParams};
use swiftcart::clock::now_ms;
use swiftcart::engine::core::{Engine, ProductMeta};
use swiftcart::engine::{store, tick_once};
use swiftcart::keys::Keys;
use swiftcart::redis_pool::{create_pool, RedisStore};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let ticks: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(200);
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis = create_pool(&redis_url)?;
    println!("engine ticks against {redis_url}, {ticks} ticks per size");
    println!("{:>8} {:>10} {:>10} {:>10} {:>10}", "products", "p50 ms", "p99 ms", "max ms", "mean ms");
    for products in [200usize, 2_000, 10_000] {
        let prefix = format!("bench:{}:", uuid::Uuid::new_v4().simple());
        let store = RedisStore::new(redis.clone(), Keys::new(prefix.clone()));
        let params = WellParams::default();
        let metas = (0..products)
            .map(|_| ProductMeta { id: uuid::Uuid::new_v4(), msrp_cents: 10_000, floor_cents: 6_500, stock_left: 20 })
            .collect();
        let bodies = (0..products).map(|i| initial_body(i, products, 1.0 + (i % 9) as f32, &params)).collect();
        let mut engine = Engine::new(metas, bodies, 0, now_ms(), WellParams::default());
        let lease = store::try_acquire(&store, "bench", now_ms() as u64).await?.expect("fresh prefix has no lease");
        let mut samples = Vec::with_capacity(ticks);
        for n in 0..ticks + 10 {
            let started = Instant::now();
            let report = tick_once(&store, &lease, &mut engine, None).await?;
            assert!(report.written, "fence refused the bench's own lease");
            if n >= 10 {
                samples.push(started.elapsed()); // the first ten warm up connections
            }
        }
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let mean = samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len() as f64;
        println!(
            "{:>8} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
            products,
            ms(samples[samples.len() / 2]),
            ms(samples[samples.len() * 99 / 100]),
            ms(*samples.last().unwrap()),
            mean
        );
        let mut conn = redis.get().await?;
        let keys_left: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await?;
        for chunk in keys_left.chunks(1_000) {
            let _: () = redis::cmd("DEL").arg(chunk).query_async(&mut conn).await?;
        }
    }
    Ok(())
}
