//! The checkout sweeper: runs at start and every [`SWEEP_EVERY`] on every node. It releases
//! quotes past their expiry, settles orders left `pending` by a crash or an outage, and ends
//! orders whose shopper never finished the bank's check (`requires_action` past its window),
//! asking Stripe what really happened. Every step is idempotent, so several nodes may sweep at
//! once.

use std::time::Duration;

use uuid::Uuid;

use super::ledger;
use super::stripe::IntentStatus;
use super::Hyperdrive;

/// How often the sweeper runs.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// How often the sweeper asks Stripe about paid orders' refunds (made elsewhere, e.g. in
/// Stripe's dashboard, when the webhook did not tell)…
pub const REFUND_CHECK_EVERY: Duration = Duration::from_secs(60);
/// …and about how many orders each time (those checked longest ago first).
pub const REFUND_CHECK_BATCH: i64 = 50;

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
    let mut refunds_checked = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = &mut shutdown => return,
        }
        if refunds_checked.elapsed() >= REFUND_CHECK_EVERY {
            refunds_checked = tokio::time::Instant::now();
            match super::refunds::reconcile(hyperdrive.pool(), &hyperdrive.stripe, REFUND_CHECK_BATCH).await {
                Ok(0) => {}
                Ok(changed) => tracing::info!(changed, "checkout sweeper: refunds made elsewhere recorded"),
                Err(e) => tracing::debug!(error = %e, "checkout sweeper: refund check failed; next time"),
            }
        }
        match sweep(&hyperdrive, SweepRules::default()).await {
            Ok(swept) if swept != Swept::default() => tracing::info!(?swept, "checkout sweeper"),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "checkout sweeper: PostgreSQL unavailable; next time"),
        }
    }
}

/// One pass: expired quotes, then unsettled orders as `rules` allow.
pub async fn sweep(hyperdrive: &Hyperdrive, rules: SweepRules) -> sqlx::Result<Swept> {
    let pool = hyperdrive.pool();
    let mut swept = Swept { released_quotes: ledger::release_expired(pool).await?, ..Swept::default() };
    // (order, intent, whether to give up on it now). A pending order is given up once it is
    // older than the unconfirmed limit; one waiting for the bank once its window has passed.
    let unsettled: Vec<(Uuid, Option<String>, bool)> = sqlx::query_as(
        "(SELECT id, stripe_payment_intent_id, created_at <= now() - make_interval(secs => $2) FROM orders
          WHERE status = 'pending' AND created_at <= now() - make_interval(secs => $1) ORDER BY created_at LIMIT 200)
         UNION ALL
         (SELECT id, stripe_payment_intent_id, authenticate_by <= now() FROM orders
          WHERE status = 'requires_action' AND created_at <= now() - make_interval(secs => $1)
          ORDER BY authenticate_by LIMIT 200)",
    )
    .bind(rules.grace.as_secs_f64())
    .bind(rules.unconfirmed_limit.as_secs_f64())
    .fetch_all(pool)
    .await?;
    for (order, intent, give_up) in unsettled {
        let Some(intent) = intent else {
            // The intent id was never stored, so it was never confirmed: nothing was charged.
            if give_up && ledger::settle_failed(pool, order, "state_lost").await? {
                swept.failed += 1;
            }
            continue;
        };
        let now = match hyperdrive.stripe.retrieve(&intent).await {
            Ok(now) => now,
            Err(e) => {
                tracing::debug!(error = %e, %order, "checkout sweeper: Stripe unreachable");
                continue;
            }
        };
        if now.is_paid() {
            if ledger::settle_paid(pool, order, &now.id).await? {
                swept.paid += 1;
            }
            continue;
        }
        let reason = if now.needs_authentication() { "authentication_abandoned" } else { "payment_failed" };
        let failed = if now.is_dead() {
            ledger::settle_failed(pool, order, reason).await?
        } else if give_up && matches!(now.status, IntentStatus::RequiresConfirmation | IntentStatus::RequiresAction) {
            hyperdrive.call_off(order, &now.id, reason).await?
        } else {
            false // still in flight at Stripe: next time
        };
        if failed {
            swept.failed += 1;
        }
    }
    Ok(swept)
}
