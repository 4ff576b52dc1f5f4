//! The catalog seed (`server/seed/catalog.json`, generated with its art by
//! `scripts/generate-catalog.py`).
//!
//! Seeding only adds what is missing: an existing product, its live stock and every order are
//! left exactly as they are, so it is safe to run on every start.

use serde::Deserialize;
use sqlx::PgPool;

const CATALOG_JSON: &str = include_str!("../seed/catalog.json");

/// One product of the seed catalog.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedProduct {
    /// Unique URL name.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Image path under the site root.
    pub image_path: String,
    /// List price, cents.
    pub msrp_cents: i64,
    /// Lowest live price, cents.
    pub price_floor_cents: i64,
    /// Base communal mass.
    pub base_mass: f32,
    /// Initial stock.
    pub stock: i32,
    /// Catalog order.
    pub sort_order: i32,
}

/// The seed catalog.
pub fn catalog() -> Vec<SeedProduct> {
    serde_json::from_str(CATALOG_JSON).expect("server/seed/catalog.json is valid (checked by a unit test)")
}

/// What a seed run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedReport {
    /// Products added by this run.
    pub inserted: usize,
    /// Products that were already there and were left alone.
    pub already_present: usize,
}

/// Loads the seed catalog in one transaction, adding only missing products and inventory rows.
#[tracing::instrument(skip_all)]
pub async fn run(pool: &PgPool) -> Result<SeedReport, sqlx::Error> {
    let products = catalog();
    let mut tx = pool.begin().await?;
    let mut inserted = 0;
    for p in &products {
        let id: Option<uuid::Uuid> = sqlx::query_scalar(
            "INSERT INTO products (slug, name, description, image_path, msrp_cents, price_floor_cents, base_mass, sort_order)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (slug) DO NOTHING
             RETURNING id",
        )
        .bind(&p.slug)
        .bind(&p.name)
        .bind(&p.description)
        .bind(&p.image_path)
        .bind(p.msrp_cents)
        .bind(p.price_floor_cents)
        .bind(p.base_mass)
        .bind(p.sort_order)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = id {
            sqlx::query("INSERT INTO inventory (product_id, stock_count) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(id)
                .bind(p.stock)
                .execute(&mut *tx)
                .await?;
            inserted += 1;
        }
    }
    tx.commit().await?;
    let report = SeedReport { inserted, already_present: products.len() - inserted };
    tracing::info!(inserted = report.inserted, already_present = report.already_present, "catalog seeded");
    Ok(report)
}

/// Adds synthetic products (`bench-item-NNNN`, modelled on the seed catalog) until `total` live
/// products exist. For load tests with a bigger catalog; never run by the server itself.
pub async fn fill_to(pool: &PgPool, total: usize) -> Result<usize, sqlx::Error> {
    let live: i64 =
        sqlx::query_scalar("SELECT count(*) FROM products WHERE retired_at IS NULL").fetch_one(pool).await?;
    let missing = total.saturating_sub(live as usize);
    let models = catalog();
    let mut tx = pool.begin().await?;
    for k in 0..missing {
        let model = &models[k % models.len()];
        let n = live as usize + k;
        sqlx::query(
            "WITH p AS (
                INSERT INTO products (slug, name, description, image_path, msrp_cents, price_floor_cents, base_mass, sort_order)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (slug) DO NOTHING RETURNING id)
             INSERT INTO inventory (product_id, stock_count) SELECT id, $9 FROM p",
        )
        .bind(format!("bench-item-{n:04}"))
        .bind(format!("{} (bench {n})", model.name))
        .bind(&model.description)
        .bind(&model.image_path)
        .bind(model.msrp_cents)
        .bind(model.price_floor_cents)
        .bind(model.base_mass)
        .bind(10_000 + n as i32)
        .bind(model.stock)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_catalog_is_big_believable_and_consistent() {
        let products = catalog();
        assert!(products.len() >= 60, "only {} products", products.len());
        let mut slugs: Vec<_> = products.iter().map(|p| p.slug.as_str()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), products.len(), "slugs must be unique");
        for p in &products {
            assert!(p.price_floor_cents > 0 && p.price_floor_cents <= p.msrp_cents, "{}", p.slug);
            assert!(p.base_mass > 0.0 && p.stock > 0 && p.description.len() > 20, "{}", p.slug);
            let image = format!("{}/../public{}", env!("CARGO_MANIFEST_DIR"), p.image_path);
            assert!(std::path::Path::new(&image).exists(), "missing image {image}");
        }
    }
}
