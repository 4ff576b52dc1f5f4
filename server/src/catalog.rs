//! The catalog read model: live products from PostgreSQL, with mass and price from Redis.
//!
//! When Redis is unreachable the catalog still answers, with list prices and base masses, so
//! the storefront degrades instead of failing.

/// The catalog as operators change it.
pub mod admin;

use app::catalog::ssr::CatalogSource;
use app::catalog::{PricePoint, ProductSummary};
use sqlx::PgPool;
use uuid::Uuid;

use crate::product_state::{read_live, LiveState};
use crate::redis_pool::RedisStore;

/// A catalog row as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
struct ProductRow {
    id: Uuid,
    slug: String,
    name: String,
    description: String,
    image_path: String,
    msrp_cents: i64,
    base_mass: f32,
    available: i64,
}

const SELECT_LIVE: &str = "SELECT p.id, p.slug, p.name, p.description, p.image_path, p.msrp_cents, p.base_mass,
            COALESCE(i.stock_count - i.reserved_count, 0)::BIGINT AS available
     FROM products p LEFT JOIN inventory i ON i.product_id = p.id
     WHERE p.retired_at IS NULL";

/// Reads the catalog; cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    pool: PgPool,
    redis: RedisStore,
}

impl Catalog {
    /// A catalog over these stores.
    pub fn new(pool: PgPool, redis: RedisStore) -> Self {
        Self { pool, redis }
    }

    /// Whether the product exists and is not retired (it can go into a cart).
    pub async fn is_live(&self, id: Uuid) -> sqlx::Result<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM products WHERE id = $1 AND retired_at IS NULL)")
            .bind(id)
            .fetch_one(&self.pool)
            .await
    }

    /// Every live product in catalog order.
    pub async fn list(&self) -> Result<Vec<ProductSummary>, sqlx::Error> {
        let rows: Vec<ProductRow> =
            sqlx::query_as(&format!("{SELECT_LIVE} ORDER BY p.sort_order, p.slug")).fetch_all(&self.pool).await?;
        Ok(self.with_live_state(rows).await)
    }

    /// One live product by slug.
    pub async fn by_slug(&self, slug: &str) -> Result<Option<ProductSummary>, sqlx::Error> {
        let row: Option<ProductRow> =
            sqlx::query_as(&format!("{SELECT_LIVE} AND p.slug = $1")).bind(slug).fetch_optional(&self.pool).await?;
        Ok(self.with_live_state(row.into_iter().collect()).await.pop())
    }

    /// The uuid of a live product, by slug.
    pub async fn id_of(&self, slug: &str) -> Result<Option<Uuid>, sqlx::Error> {
        sqlx::query_scalar("SELECT id FROM products WHERE slug = $1 AND retired_at IS NULL")
            .bind(slug)
            .fetch_optional(&self.pool)
            .await
    }

    /// The newest `limit` price points of a product, oldest first.
    pub async fn price_history(
        &self,
        product: Uuid,
        limit: i64,
    ) -> Result<Vec<(chrono::DateTime<chrono::Utc>, i64)>, sqlx::Error> {
        let mut points: Vec<(chrono::DateTime<chrono::Utc>, i64)> = sqlx::query_as(
            "SELECT recorded_at, price_cents FROM price_history WHERE product_id = $1
             ORDER BY recorded_at DESC, id DESC LIMIT $2",
        )
        .bind(product)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        points.reverse();
        Ok(points)
    }

    async fn with_live_state(&self, rows: Vec<ProductRow>) -> Vec<ProductSummary> {
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let live = match read_live(&self.redis, &ids).await {
            Ok(live) => live,
            Err(e) => {
                tracing::warn!(error = %e, "live state unavailable; showing list prices");
                vec![None; ids.len()]
            }
        };
        rows.into_iter()
            .zip(live)
            .map(|(row, live)| {
                let LiveState { mass, price_cents } =
                    live.unwrap_or(LiveState { mass: row.base_mass, price_cents: row.msrp_cents });
                ProductSummary {
                    product_id: row.id.to_string(),
                    slug: row.slug,
                    name: row.name,
                    description: row.description,
                    image_url: row.image_path,
                    msrp_cents: row.msrp_cents,
                    price_current_cents: price_cents,
                    stock_level: row.available,
                    mass,
                }
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl CatalogSource for Catalog {
    async fn list_products(&self) -> Result<Vec<ProductSummary>, String> {
        self.list().await.map_err(|e| {
            tracing::error!(error = %e, "catalog query failed");
            "the catalog is unavailable".to_string()
        })
    }

    async fn product_by_slug(&self, slug: &str) -> Result<Option<ProductSummary>, String> {
        self.by_slug(slug).await.map_err(|e| {
            tracing::error!(error = %e, "product query failed");
            "the catalog is unavailable".to_string()
        })
    }

    async fn price_history(&self, slug: &str, limit: i64) -> Result<Vec<PricePoint>, String> {
        let unavailable = |e: sqlx::Error| {
            tracing::error!(error = %e, "price history query failed");
            "the price history is unavailable".to_string()
        };
        let Some(id) = self.id_of(slug).await.map_err(unavailable)? else { return Ok(Vec::new()) };
        // The inherent query by id (this trait method shares its name).
        let points = Catalog::price_history(self, id, limit).await.map_err(unavailable)?;
        Ok(points
            .into_iter()
            .map(|(at, price_cents)| PricePoint {
                at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                price_cents,
            })
            .collect())
    }
}
