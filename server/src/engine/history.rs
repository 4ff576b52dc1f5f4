//! Price history: the tick hands its points to a channel and never waits; a writer task appends
//! them to PostgreSQL in batches. If PostgreSQL falls behind, points are dropped (and counted),
//! never the tick.

use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Ticks' worth of points that may wait for the writer.
const QUEUE_TICKS: usize = 256;

/// The tick's end of the channel.
#[derive(Clone)]
pub struct HistorySender {
    tx: mpsc::Sender<Vec<(Uuid, i64)>>,
}

impl HistorySender {
    /// Offers a tick's points without waiting; drops them if the writer is saturated.
    pub fn offer(&self, points: Vec<(Uuid, i64)>) {
        if points.is_empty() {
            return;
        }
        if self.tx.try_send(points).is_err() {
            tracing::warn!("price history writer saturated; dropping a tick's points");
        }
    }
}

/// Starts the writer task and returns the sender.
pub fn spawn_writer(pool: PgPool) -> HistorySender {
    let (tx, mut rx) = mpsc::channel::<Vec<(Uuid, i64)>>(QUEUE_TICKS);
    tokio::spawn(async move {
        while let Some(mut batch) = rx.recv().await {
            // Everything already waiting goes into the same INSERT.
            while let Ok(more) = rx.try_recv() {
                batch.extend(more);
            }
            if let Err(e) = append(&pool, &batch).await {
                tracing::warn!(error = %e, points = batch.len(), "price history append failed; points dropped");
            }
        }
    });
    HistorySender { tx }
}

/// Appends points in one statement.
pub async fn append(pool: &PgPool, points: &[(Uuid, i64)]) -> Result<(), sqlx::Error> {
    let (ids, prices): (Vec<Uuid>, Vec<i64>) = points.iter().copied().unzip();
    sqlx::query("INSERT INTO price_history (product_id, price_cents) SELECT * FROM UNNEST($1::uuid[], $2::bigint[])")
        .bind(ids)
        .bind(prices)
        .execute(pool)
        .await?;
    Ok(())
}
