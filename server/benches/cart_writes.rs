//! The cost of one acknowledged cart change (`CartStore::set_quantity`, the path of
//! `PUT /api/cart/items/{id}` and of the `beam` gesture) against the real Redis and PostgreSQL.
//!
//! `cargo bench -p server --bench cart_writes -- [--clients N,N,…] [--seconds S]`. Each client is
//! its own guest cart of up to [`LINES_PER_CART`] products; every change sets one line of it. It reports changes per second and the
//! latency of a change until it is acknowledged, for each number of concurrent clients. It makes
//! its own database (`swiftcart_bench_carts`, dropped at the end) and Redis prefix.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use sqlx::{Connection, Executor, PgConnection};
use swiftcart::cart::CartStore;
use swiftcart::keys::Keys;
use uuid::Uuid;

const DB: &str = "swiftcart_bench_carts";
const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Distinct products each cart cycles through (a cart of a few lines, as shoppers have).
const LINES_PER_CART: usize = 5;

/// The bench's flags.
#[derive(clap::Parser)]
struct Args {
    /// Numbers of concurrent clients to measure, one case each.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    clients: Vec<usize>,
    /// Seconds per case.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = <Args as clap::Parser>::parse();
    let mut admin = PgConnection::connect(ADMIN_URL).await?;
    admin.execute(format!(r#"DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)"#).as_str()).await?;
    admin.execute(format!(r#"CREATE DATABASE "{DB}""#).as_str()).await?;
    let pool = swiftcart::db::connect_lazy(&format!("postgres://postgres@127.0.0.1:5432/{DB}"))?;
    swiftcart::db::migrate(&pool).await?;
    swiftcart::seed::run(&pool).await?;
    let prefix = format!("benchcart{}:", Uuid::new_v4().simple());
    let redis = swiftcart::redis_pool::create_pool("redis://127.0.0.1:6379")?;
    let carts =
        CartStore::new(swiftcart::redis_pool::RedisStore::new(redis.clone(), Keys::new(prefix.clone())), pool.clone());
    let (stop_writer, writer_stopped) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(carts.clone().run_writer(async {
        let _ = writer_stopped.await;
    }));
    let products: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM products ORDER BY sort_order, slug").fetch_all(&pool).await?;

    println!(
        "cart change benchmark: CartStore::set_quantity, {} s per case, Redis and PostgreSQL on 127.0.0.1",
        args.seconds
    );
    println!("| concurrent clients | changes/s | p50 ms | p99 ms | errors |");
    println!("| --- | --- | --- | --- | --- |");
    for &clients in &args.clients {
        let deadline = Instant::now() + Duration::from_secs(args.seconds);
        let runs = (0..clients).map(|client| {
            let carts = carts.clone();
            let products = products.clone();
            tokio::spawn(async move {
                let sub = swiftcart::auth::Subject::new(Uuid::new_v4());
                let mut latencies = Histogram::<u64>::new(3).expect("histogram");
                let (mut done, mut errors) = (0u64, 0u64);
                while Instant::now() < deadline {
                    let line = client * LINES_PER_CART + done as usize % LINES_PER_CART;
                    let product = products[line % products.len()];
                    let started = Instant::now();
                    match carts.set_quantity(sub, product, (done % 99 + 1) as u32).await {
                        Ok(_) => {
                            latencies.record(started.elapsed().as_micros() as u64).ok();
                            done += 1;
                        }
                        Err(_) => errors += 1,
                    }
                }
                (latencies, done, errors)
            })
        });
        let started = Instant::now();
        let mut all = Histogram::<u64>::new(3)?;
        let (mut done, mut errors) = (0, 0);
        for run in futures_util::future::join_all(runs).await {
            let (latencies, n, e) = run?;
            all.add(latencies)?;
            done += n;
            errors += e;
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "| {clients} | {:.0} | {:.2} | {:.2} | {errors} |",
            done as f64 / elapsed,
            all.value_at_quantile(0.5) as f64 / 1000.0,
            all.value_at_quantile(0.99) as f64 / 1000.0,
        );
    }

    let _ = stop_writer.send(());
    let _ = writer.await;
    let mut conn = redis.get().await?;
    let keys: Vec<String> = deadpool_redis::redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await?;
    if !keys.is_empty() {
        let _: () = deadpool_redis::redis::cmd("DEL").arg(keys).query_async(&mut conn).await?;
    }
    pool.close().await;
    admin.execute(format!(r#"DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)"#).as_str()).await?;
    Ok(())
}
