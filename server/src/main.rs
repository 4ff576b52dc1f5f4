//! The `server` binary: parse the command, then wire configuration, telemetry and the app.

use clap::{Parser, Subcommand};
use swiftcart::config::Config;
use swiftcart::redis_pool::RedisStore;
use swiftcart::startup::Application;
use swiftcart::{auth, db, seed, telemetry};

/// SwiftCart: physics-driven commerce.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the site, the API and the engine (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Apply migrations and add missing catalog products, then exit. Never touches live stock.
    Seed {
        /// For load tests: add synthetic products until this many are live.
        #[arg(long)]
        fill_to: Option<usize>,
    },
    /// Create an admin account (or make an existing one admin). The password is read from
    /// SWIFTCART_ADMIN_PASSWORD, or else from the first line of standard input.
    CreateAdmin {
        /// The admin's email address.
        #[arg(long)]
        email: String,
    },
    /// Look for card-number-like strings in every table, every Redis key under the prefix, and
    /// the given log files; exit non-zero if any is found (only the last four digits are shown).
    ScanPii {
        /// Log files to scan as well.
        #[arg(long = "log")]
        logs: Vec<std::path::PathBuf>,
    },
}

#[tokio::main]
async fn main() {
    telemetry::init();
    if let Err(e) = run(Cli::parse()).await {
        // One clear line per problem, then a non-zero exit.
        for line in format!("{e:#}").lines() {
            eprintln!("swiftcart: {line}");
        }
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => Application::build(config).await?.run_until(shutdown_signal()).await,
        Command::Migrate => {
            let pool = db::connect_lazy(&config.database_url)?;
            db::migrate(&pool).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Seed { fill_to } => {
            let pool = db::connect_lazy(&config.database_url)?;
            db::migrate(&pool).await?;
            let report = seed::run(&pool).await?;
            println!("seeded: {} added, {} already present", report.inserted, report.already_present);
            if let Some(total) = fill_to {
                println!("synthetic products added: {}", seed::fill_to(&pool, total).await?);
            }
            Ok(())
        }
        Command::ScanPii { logs } => {
            let pool = db::connect_lazy(&config.database_url)?;
            let redis = RedisStore::open(&config.redis_url, &config.redis_key_prefix)?;
            let mut found = swiftcart::pii::scan_database(&pool).await?;
            found.extend(swiftcart::pii::scan_redis(&redis).await?);
            for log in &logs {
                let text = std::fs::read_to_string(log).map_err(|e| anyhow::anyhow!("{}: {e}", log.display()))?;
                found
                    .extend(swiftcart::pii::card_numbers(&text).into_iter().map(|m| format!("{}: {m}", log.display())));
            }
            if !found.is_empty() {
                anyhow::bail!("card-number-like strings found: {}", found.join(", "));
            }
            println!(
                "no card-number-like string in PostgreSQL, Redis (prefix {:?}) or {} log file(s)",
                redis.keys.prefix(),
                logs.len()
            );
            Ok(())
        }
        Command::CreateAdmin { email } => {
            let password = match std::env::var("SWIFTCART_ADMIN_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let pool = db::connect_lazy(&config.database_url)?;
            db::migrate(&pool).await?;
            let (user, ended) = auth::users::upsert_admin(&pool, &email, &password).await?;
            // The account's earlier sessions end now, access tokens included (every node reads
            // the deny-list in Redis); without Redis they run out within 15 minutes.
            let revocations = auth::revocation::Revocations::new(
                RedisStore::open(&config.redis_url, &config.redis_key_prefix)?,
                config.access_token_ttl.as_secs(),
            );
            if let Err(e) = revocations.revoke(&ended).await {
                eprintln!(
                    "warning: Redis unreachable ({e}); the account's old access tokens run out within 15 minutes"
                );
            }
            println!("admin {} ({}) ready; {} earlier session(s) ended", user.email, user.id, ended.len());
            Ok(())
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
