//! The `server` binary: parse the command, then wire configuration, telemetry and the app.

use clap::{Parser, Subcommand};
use swiftcart::config::Config;
use swiftcart::startup::Application;
use swiftcart::{db, seed, telemetry};

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
    Seed,
}

#[tokio::main]
async fn main() {
    telemetry::init();
    if let Err(e) = run(Cli::parse()).await {
        // One clear line, then a non-zero exit.
        eprintln!("swiftcart: {e:#}");
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
        Command::Seed => {
            let pool = db::connect_lazy(&config.database_url)?;
            db::migrate(&pool).await?;
            let report = seed::run(&pool).await?;
            println!("seeded: {} added, {} already present", report.inserted, report.already_present);
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
