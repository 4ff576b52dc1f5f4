//! The retention job: what the server no longer needs is deleted, so tables stay bounded however
//! long the store runs. Every node runs it at start and then hourly; deleting twice is harmless.
//!
//! - guest cart orbits untouched for [`GUEST_CART_DAYS`] (their Redis copies expire sooner, see
//!   [`crate::cart`]); account carts stay;
//! - refresh tokens a day past their expiry;
//! - released quotes older than a day that no order refers to (an order keeps its quote, whose
//!   lines it shows);
//! - answered checkout requests older than a day (an `Idempotency-Key` replays for 24 hours);
//! - handled Stripe event ids older than [`STRIPE_EVENT_DAYS`] (Stripe retries for three days).

use std::time::Duration;

use sqlx::PgPool;

/// Days a guest cart may sit unchanged in PostgreSQL.
pub const GUEST_CART_DAYS: i32 = 30;
/// Days a handled Stripe event id is remembered.
pub const STRIPE_EVENT_DAYS: i32 = 30;
/// How often the job runs.
pub const EVERY: Duration = Duration::from_secs(3_600);

/// Rows deleted by one run, per table.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Guest carts (their lines go with them).
    pub guest_carts: u64,
    /// Expired refresh tokens.
    pub refresh_tokens: u64,
    /// Released quotes no order refers to.
    pub quotes: u64,
    /// Answered checkout requests.
    pub checkout_requests: u64,
    /// Stripe event ids.
    pub stripe_events: u64,
}

/// Deletes everything past its retention once.
pub async fn prune(pool: &PgPool) -> Result<Pruned, sqlx::Error> {
    let run = |sql: &'static str| async move {
        Ok::<u64, sqlx::Error>(sqlx::query(sql).execute(pool).await?.rows_affected())
    };
    Ok(Pruned {
        guest_carts: sqlx::query(
            "DELETE FROM carts c WHERE c.updated_at < now() - make_interval(days => $1)
             AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id::text = c.owner_sub)",
        )
        .bind(GUEST_CART_DAYS)
        .execute(pool)
        .await?
        .rows_affected(),
        refresh_tokens: run("DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day'").await?,
        quotes: run("DELETE FROM quotes q WHERE q.status = 'released' AND q.created_at < now() - interval '1 day'
                     AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.quote_id = q.id)")
        .await?,
        checkout_requests: run("DELETE FROM checkout_requests
                                WHERE response_status IS NOT NULL AND created_at < now() - interval '1 day'")
        .await?,
        stripe_events: sqlx::query("DELETE FROM stripe_events WHERE received_at < now() - make_interval(days => $1)")
            .bind(STRIPE_EVENT_DAYS)
            .execute(pool)
            .await?
            .rows_affected(),
    })
}

/// How long a starting node waits before its first [`prune`]: it serves first, and a test that
/// prunes by hand within this time is not raced by the node's own run.
pub const FIRST_AFTER: Duration = Duration::from_secs(60);

/// Runs [`prune`] [`FIRST_AFTER`] the start and then every [`EVERY`] until `shutdown` resolves.
pub async fn run(pool: PgPool, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + FIRST_AFTER, EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => match prune(&pool).await {
                Ok(pruned) if pruned != Pruned::default() => tracing::info!(?pruned, "retention: old rows deleted"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention: will retry at the next run"),
            },
            _ = &mut shutdown => return,
        }
    }
}
