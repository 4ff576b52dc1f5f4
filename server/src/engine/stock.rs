//! Stock levels for the price's scarcity term. PostgreSQL is the system of record for stock; a
//! background task reads it every [`REFRESH`] and publishes the levels on a `watch` channel, which
//! the leader picks up at the start of a tick without ever waiting for the database.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

/// How often stock levels are re-read.
pub const REFRESH: Duration = Duration::from_secs(2);

/// Starts the feed; the receiver sees a new map whenever a read succeeds.
pub fn spawn_feed(pool: PgPool) -> watch::Receiver<HashMap<Uuid, i64>> {
    let (tx, rx) = watch::channel(HashMap::new());
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(REFRESH);
        loop {
            ticker.tick().await;
            match levels(&pool).await {
                Ok(levels) => {
                    if tx.send(levels).is_err() {
                        return; // the engine is gone
                    }
                }
                Err(e) => tracing::debug!(error = %e, "stock feed: PostgreSQL unavailable"),
            }
        }
    });
    rx
}

/// Units available per product: stock minus reservations.
pub async fn levels(pool: &PgPool) -> Result<HashMap<Uuid, i64>, sqlx::Error> {
    let rows: Vec<(Uuid, i64)> =
        sqlx::query_as("SELECT product_id, (stock_count - reserved_count)::BIGINT FROM inventory")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().collect())
}
