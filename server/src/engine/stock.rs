//! Stock levels for the price's scarcity term, and a stamp of the catalog. PostgreSQL is the
//! system of record for both; a background task reads them every [`REFRESH`] and publishes them on
//! a `watch` channel, which the leader picks up at the start of a tick without ever waiting for the
//! database. A new catalog stamp (an admin created, edited or retired a product) makes the leader
//! reload its products.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

/// How often stock levels are re-read.
pub const REFRESH: Duration = Duration::from_secs(1);

/// What the feed publishes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StockFeed {
    /// Units available per product.
    pub levels: HashMap<Uuid, i64>,
    /// Changes whenever a product is created, edited or retired.
    pub catalog_stamp: String,
}

/// Starts the feed; the receiver sees a new value whenever a read succeeds.
pub fn spawn_feed(pool: PgPool) -> watch::Receiver<StockFeed> {
    let (tx, rx) = watch::channel(StockFeed::default());
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(REFRESH);
        loop {
            ticker.tick().await;
            match read(&pool).await {
                Ok(feed) => {
                    if tx.send(feed).is_err() {
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

/// The catalog's stamp: live count and last change.
pub async fn catalog_stamp(pool: &PgPool) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE retired_at IS NULL)::text || '/' || coalesce(max(updated_at)::text, '') FROM products",
    )
    .fetch_one(pool)
    .await
}

async fn read(pool: &PgPool) -> Result<StockFeed, sqlx::Error> {
    Ok(StockFeed { levels: levels(pool).await?, catalog_stamp: catalog_stamp(pool).await? })
}
