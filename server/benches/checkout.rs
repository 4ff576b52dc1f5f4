//! Checkout throughput against the real PostgreSQL, Redis and localstripe, over HTTP:
//!
//! * the quote path alone (price freeze under WATCH + reservation), every shopper on their own
//!   product (no contention) and every shopper on one product (row contention);
//! * end-to-end checkouts (quote, then charge through localstripe), the same two ways;
//! * end-to-end checkouts with a card that asks for 3-D Secure: quote, charge (202
//!   `requires_action`), the bank's check answered at localstripe (what Stripe.js does in the
//!   page), then `POST /api/orders/{id}/settle`.
//!
//! `cargo bench -p server --bench checkout -- [--shoppers N] [--seconds S]`. It makes its own
//! database (`swiftcart_bench_checkout`, dropped at the end) and Redis prefix, and needs
//! localstripe on 127.0.0.1:8420 (`scripts/prepare.sh` starts it).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use sqlx::{Connection, Executor, PgConnection};
use swiftcart::auth::Role;
use swiftcart::config::Config;
use swiftcart::startup::Application;
use uuid::Uuid;

const DB: &str = "swiftcart_bench_checkout";
const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// What one round does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Round {
    /// A quote.
    Quote,
    /// A quote and a charge with `pm_card_visa`.
    Charge,
    /// A quote, a charge with a card needing authentication, the check passed, the settlement.
    ChargeWithBankCheck,
}

struct Args {
    shoppers: usize,
    seconds: u64,
}

fn args() -> Args {
    let mut args = Args { shoppers: 16, seconds: 5 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--shoppers" => args.shoppers = it.next().and_then(|v| v.parse().ok()).expect("--shoppers N"),
            "--seconds" => args.seconds = it.next().and_then(|v| v.parse().ok()).expect("--seconds S"),
            "--bench" => {}
            other => panic!("unknown flag {other}; use --shoppers N --seconds S"),
        }
    }
    args
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args();
    let mut admin = PgConnection::connect(ADMIN_URL).await?;
    admin.execute(format!(r#"DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)"#).as_str()).await?;
    admin.execute(format!(r#"CREATE DATABASE "{DB}""#).as_str()).await?;
    let prefix = format!("benchco{}:", Uuid::new_v4().simple());
    let vars = [
        ("DATABASE_URL", format!("postgres://postgres@127.0.0.1:5432/{DB}")),
        ("SWIFTCART_REDIS_PREFIX", prefix.clone()),
        ("LEPTOS_SITE_ADDR", "127.0.0.1:0".to_string()),
        ("SWIFTCART_QUOTE_TTL_SECS", "600".to_string()),
    ];
    let config = Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))?;
    let pool = swiftcart::db::connect_lazy(&config.database_url)?;
    swiftcart::db::migrate(&pool).await?;
    swiftcart::seed::run(&pool).await?;
    let app = Application::build(config).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let tokens = app.state().tokens.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    let products: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM products ORDER BY sort_order, slug").fetch_all(&pool).await?;
    assert!(products.len() >= args.shoppers, "the seed has {} products; use --shoppers ≤ that", products.len());
    sqlx::query("UPDATE inventory SET stock_count = 1000000, reserved_count = 0").execute(&pool).await?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    // One shopper may ask for QUOTE_BURST quotes at once (then one per 6 s): each concurrent
    // shopper of the bench is a queue of accounts, and moves to the next account (its cart filled
    // beforehand, untimed) when one has used its burst.
    let accounts_per_shopper = 150;
    let mut shoppers: Vec<Vec<String>> = Vec::new();
    for _ in 0..args.shoppers {
        let mut accounts = Vec::with_capacity(accounts_per_shopper);
        for _ in 0..accounts_per_shopper {
            let id = Uuid::new_v4();
            sqlx::query("INSERT INTO users (id, email, password_hash) VALUES ($1, $2, 'bench')")
                .bind(id)
                .bind(format!("{}@bench.test", id.simple()))
                .execute(&pool)
                .await?;
            accounts.push(tokens.issue(&id.to_string(), Role::Shopper).0);
        }
        shoppers.push(accounts);
    }
    let next_account =
        std::sync::Arc::new((0..args.shoppers).map(|_| std::sync::atomic::AtomicUsize::new(0)).collect::<Vec<_>>());

    println!(
        "checkout benchmark: {} concurrent shoppers, {} s per case, localstripe on 127.0.0.1:8420",
        args.shoppers, args.seconds
    );
    println!("| case | ops/s | p50 ms | p99 ms | errors |");
    println!("| --- | --- | --- | --- | --- |");
    let card_needing_authentication = card_needing_authentication(&http).await?;
    for (name, contended, round) in [
        ("quote, own product each", false, Round::Quote),
        ("quote, one product for all", true, Round::Quote),
        ("quote + charge, own product each", false, Round::Charge),
        ("quote + charge, one product for all", true, Round::Charge),
        ("quote + charge + 3-D Secure + settle, own product each", false, Round::ChargeWithBankCheck),
    ] {
        let deadline = Instant::now() + Duration::from_secs(args.seconds);
        let runs = shoppers.iter().cloned().enumerate().map(|(n, accounts)| {
            let http = http.clone();
            let base = base.clone();
            let next_account = next_account.clone();
            let card = if round == Round::ChargeWithBankCheck {
                card_needing_authentication.clone()
            } else {
                "pm_card_visa".into()
            };
            let product = if contended { products[0] } else { products[n] };
            tokio::spawn(async move {
                let mut latencies = Histogram::<u64>::new(3).expect("histogram");
                let mut errors = 0u64;
                let mut seq = 0u64;
                let mut token = String::new();
                let mut left_in_burst = 0;
                while Instant::now() < deadline {
                    if left_in_burst == 0 {
                        let index = next_account[n].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        token = accounts.get(index).expect("enough bench accounts; raise accounts_per_shopper").clone();
                        fill_cart(&http, &base, &token, product).await;
                        left_in_burst = swiftcart::checkout::QUOTE_BURST;
                    }
                    left_in_burst -= 1;
                    let started = Instant::now();
                    let ok = one(&http, &base, &token, (round, &card), n, &mut seq, product).await;
                    if ok {
                        latencies.record(started.elapsed().as_micros() as u64).expect("in range");
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        });
        let started = Instant::now();
        let mut all = Histogram::<u64>::new(3)?;
        let mut errors = 0;
        for run in futures_util::future::join_all(runs).await {
            let (latencies, e) = run?;
            all.add(latencies)?;
            errors += e;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "| {name} | {:.0} | {:.1} | {:.1} | {errors} |",
            all.len() as f64 / secs,
            all.value_at_quantile(0.5) as f64 / 1000.0,
            all.value_at_quantile(0.99) as f64 / 1000.0
        );
    }
    let _ = stop.send(());
    let _ = server.await;
    pool.close().await;
    admin.execute(format!(r#"DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)"#).as_str()).await?;
    let redis = swiftcart::redis_pool::create_pool("redis://127.0.0.1:6379")?;
    let mut conn = redis.get().await?;
    let keys: Vec<String> = deadpool_redis::redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await?;
    if !keys.is_empty() {
        let _: () = deadpool_redis::redis::cmd("DEL").arg(keys).query_async(&mut conn).await?;
    }
    Ok(())
}

/// Empties `token`'s cart and puts one unit of `product` in it.
async fn fill_cart(http: &reqwest::Client, base: &str, token: &str, product: Uuid) {
    let cart: serde_json::Value = match http.get(format!("{base}/api/cart")).bearer_auth(token).send().await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => serde_json::Value::Null,
    };
    for item in cart["items"].as_array().into_iter().flatten() {
        let id = item["productId"].as_str().unwrap_or_default();
        let _ = http.delete(format!("{base}/api/cart/items/{id}")).bearer_auth(token).send().await;
    }
    assert!(put_one(http, base, token, product).await, "the bench could not fill a cart");
}

/// Puts one unit of `product` in `token`'s cart; `true` when the server took it.
async fn put_one(http: &reqwest::Client, base: &str, token: &str, product: Uuid) -> bool {
    http.put(format!("{base}/api/cart/items/{product}"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "quantity": 1 }))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// localstripe on 127.0.0.1:8420.
const LOCALSTRIPE: &str = "http://127.0.0.1:8420";

/// A PaymentMethod at localstripe for a card whose bank asks for 3-D Secure.
async fn card_needing_authentication(http: &reqwest::Client) -> anyhow::Result<String> {
    let made: serde_json::Value = http
        .post(format!("{LOCALSTRIPE}/v1/payment_methods"))
        .basic_auth("sk_test_swiftcart_local", Some(""))
        .form(&[
            ("type", "card"),
            ("card[number]", "4000002500003155"),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2030"),
            ("card[cvc]", "123"),
        ])
        .send()
        .await?
        .json()
        .await?;
    made["id"].as_str().map(str::to_string).ok_or_else(|| anyhow::anyhow!("localstripe made no payment method: {made}"))
}

/// Passes the bank's check of an intent at localstripe, as its Stripe.js does in the page.
async fn pass_bank_check(http: &reqwest::Client, answer: &serde_json::Value) -> bool {
    let secret = answer["clientSecret"].as_str().unwrap_or_default();
    let intent = secret.split("_secret_").next().unwrap_or_default();
    http.post(format!("{LOCALSTRIPE}/v1/payment_intents/{intent}/_authenticate"))
        .query(&[("success", "true")])
        .json(&serde_json::json!({ "key": "pk_test_swiftcart_local", "client_secret": secret }))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

/// One round; `true` when it succeeded. Paid carts are refilled.
async fn one(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    (round, card): (Round, &str),
    shopper: usize,
    seq: &mut u64,
    product: Uuid,
) -> bool {
    let Ok(response) = http.post(format!("{base}/api/checkout/quote")).bearer_auth(token).send().await else {
        return false;
    };
    if response.status() != 201 {
        if std::env::var_os("BENCH_VERBOSE").is_some() {
            eprintln!("quote: {} {}", response.status(), response.text().await.unwrap_or_default());
        }
        return false;
    }
    if round == Round::Quote {
        return true;
    }
    let Ok(quote) = response.json::<serde_json::Value>().await else { return false };
    *seq += 1;
    let charged = http
        .post(format!("{base}/api/checkout"))
        .bearer_auth(token)
        .header("Idempotency-Key", format!("bench-{shopper}-{seq}-{}", Uuid::new_v4().simple()))
        .json(&serde_json::json!({ "quoteId": quote["quoteId"], "paymentMethodId": card }))
        .send()
        .await
        .ok();
    let charged = match charged {
        Some(r) if r.status() == 201 && round == Round::Charge => true,
        Some(r) if r.status() == 202 && round == Round::ChargeWithBankCheck => {
            let Ok(answer) = r.json::<serde_json::Value>().await else { return false };
            let order = answer["orderId"].as_str().unwrap_or_default().to_string();
            pass_bank_check(http, &answer).await
                && http
                    .post(format!("{base}/api/orders/{order}/settle"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
        }
        Some(r) => {
            if std::env::var_os("BENCH_VERBOSE").is_some() {
                eprintln!("charge: {} {}", r.status(), r.text().await.unwrap_or_default());
            }
            false
        }
        None => false,
    };
    // A paid product leaves the cart orbit: put it back for the next round (not timed apart).
    put_one(http, base, token, product).await;
    charged
}
