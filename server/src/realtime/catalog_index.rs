//! The products a node's sockets index, in the engine's order.

use std::collections::HashMap;

use physics_worker::wire::CatalogEntry;
use sqlx::PgPool;
use uuid::Uuid;

use crate::product_state::{catalog_digest, live_products};

/// The products a node's sockets index, in the engine's order.
#[derive(Debug, Default)]
pub struct CatalogIndex {
    /// The `catalog` of `sync` frames.
    pub entries: Vec<CatalogEntry>,
    /// Product ids, by index.
    pub ids: Vec<Uuid>,
    /// Base masses, by index (the predictor needs them).
    pub base_masses: Vec<f32>,
    /// Index of each product id.
    pub index_of: HashMap<Uuid, u32>,
    /// [`catalog_digest`] of `ids`.
    pub digest: u64,
}

impl CatalogIndex {
    /// The live catalog from PostgreSQL.
    pub async fn load(pool: &PgPool) -> Result<Self, sqlx::Error> {
        let products = live_products(pool).await?;
        let ids: Vec<Uuid> = products.iter().map(|p| p.id).collect();
        Ok(Self {
            entries: products
                .iter()
                .enumerate()
                .map(|(i, p)| CatalogEntry { i: i as u32, id: p.id.to_string(), slug: p.slug.clone(), b: p.base_mass })
                .collect(),
            base_masses: products.iter().map(|p| p.base_mass).collect(),
            index_of: ids.iter().enumerate().map(|(i, id)| (*id, i as u32)).collect(),
            digest: catalog_digest(&ids),
            ids,
        })
    }
}
