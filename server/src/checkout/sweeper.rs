//! The checkout sweeper: runs at start and every [`SWEEP_EVERY`] on every node. It releases
//! quotes past their expiry and settles orders left `pending` by a crash or an outage, asking
//! Stripe what really happened. Every step is idempotent, so several nodes may sweep at once.

use std::time::Duration;

use uuid::Uuid;

use super::ledger;
use super::Hyperdrive;

/// How often the sweeper runs.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// When the sweeper may touch a pending order.
#[derive(Clone, Copy, Debug)]
pub struct SweepRules {
    /// A pending order younger than this may still be in its checkout request: leave it alone.
    pub grace: Duration,
    /// A pending order whose intent was never confirmed is given up after this long.
    pub unconfirmed_limit: Duration,
}

impl Default for SweepRules {
    fn default() -> Self {
        Self { grace: Duration::from_secs(30), unconfirmed_limit: Duration::from_secs(60) }
    }
}

/// What one sweep did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Expired quotes whose stock went back.
    pub released_quotes: u64,
    /// Pending orders settled paid.
    pub paid: u64,
    /// Pending orders settled failed.
    pub failed: u64,
}

/// Runs [`sweep`] until `shutdown` resolves.
pub async fn run(hyperdrive: Hyperdrive, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut ticker = tokio::time::interval(SWEEP_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = &mut shutdown => return,
        }
        match sweep(&hyperdrive, SweepRules::default()).await {
            Ok(swept) if swept != Swept::default() => tracing::info!(?swept, "checkout sweeper"),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "checkout sweeper: PostgreSQL unavailable; next time"),
        }
    }
}

/// One pass: expired quotes, then pending orders as `rules` allow.
pub async fn sweep(hyperdrive: &Hyperdrive, rules: SweepRules) -> sqlx::Result<Swept> {
    let pool = hyperdrive.pool();
    let mut swept = Swept { released_quotes: ledger::release_expired(pool).await?, ..Swept::default() };
    let pending: Vec<(Uuid, Option<String>, f64)> = sqlx::query_as(
        "SELECT id, stripe_payment_intent_id, EXTRACT(EPOCH FROM now() - created_at)::float8 FROM orders
         WHERE status = 'pending' AND created_at <= now() - make_interval(secs => $1) ORDER BY created_at LIMIT 200",
    )
    .bind(rules.grace.as_secs_f64())
    .fetch_all(pool)
    .await?;
    for (order, intent, age_secs) in pending {
        let old = age_secs >= rules.unconfirmed_limit.as_secs_f64();
        let Some(intent) = intent else {
            // The intent id was never stored, so it was never confirmed: nothing was charged.
            if old && ledger::settle_failed(pool, order, "state_lost").await? {
                swept.failed += 1;
            }
            continue;
        };
        match hyperdrive.stripe.retrieve(&intent).await {
            Ok(now) if now.is_paid() => {
                if ledger::settle_paid(pool, order, &now.id).await? {
                    swept.paid += 1;
                }
            }
            Ok(now) if now.is_dead() || (old && now.status == "requires_confirmation") => {
                let _ = hyperdrive.stripe.cancel(&now.id).await;
                if ledger::settle_failed(pool, order, "payment_failed").await? {
                    swept.failed += 1;
                }
            }
            Ok(_) => {} // still in flight at Stripe
            Err(e) => tracing::debug!(error = %e, %order, "checkout sweeper: Stripe unreachable"),
        }
    }
    Ok(swept)
}
