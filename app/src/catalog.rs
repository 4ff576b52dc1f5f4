//! Product data as the pages see it, and the server functions that load it.
//!
//! The server functions ask a [`ssr::CatalogSource`] that the server binary provides as context,
//! so all SQL and Redis access stays in the `server` crate.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A product with its live price and stock, as the product page and the API show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductSummary {
    /// The product's uuid.
    pub product_id: String,
    /// URL-safe unique name.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// A sentence or two about it.
    pub description: String,
    /// Path of its image on this site.
    pub image_url: String,
    /// List price, cents.
    pub msrp_cents: i64,
    /// Live price, cents.
    pub price_current_cents: i64,
    /// Units available to buy (stock minus reservations).
    pub stock_level: i64,
    /// Communal mass.
    pub mass: f32,
}

/// How products read on a card (stock words, the Redshift glitch): defined once, beside the
/// painter that draws them, so the DOM and the canvas agree.
pub use physics_worker::view::{contention, instability, stock_label, LOW_STOCK, REDSHIFT_FROM};

/// What the Gravity Well's list shows of a product: its card. No description, so the page's
/// serialized catalog stays small (the product page has the description).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardSummary {
    /// The product's uuid.
    pub product_id: String,
    /// URL-safe unique name.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Path of its image on this site.
    pub image_url: String,
    /// Live price, cents.
    pub price_current_cents: i64,
    /// Units available to buy.
    pub stock_level: i64,
}

impl From<ProductSummary> for CardSummary {
    fn from(product: ProductSummary) -> Self {
        Self {
            product_id: product.product_id,
            slug: product.slug,
            name: product.name,
            image_url: product.image_url,
            price_current_cents: product.price_current_cents,
            stock_level: product.stock_level,
        }
    }
}

/// Every live product's card, for the Gravity Well.
#[server(prefix = "/sfn", endpoint = "catalog")]
pub async fn get_catalog() -> Result<Vec<CardSummary>, ServerFnError> {
    let products = ssr::source()?.list_products().await.map_err(ServerFnError::new)?;
    Ok(products.into_iter().map(CardSummary::from).collect())
}

/// One product by slug; `None` when there is no such product.
#[server(prefix = "/sfn", endpoint = "product")]
pub async fn get_product(slug: String) -> Result<Option<ProductSummary>, ServerFnError> {
    ssr::source()?.product_by_slug(&slug).await.map_err(ServerFnError::new)
}

/// One logged price of a product.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PricePoint {
    /// When it was logged, RFC 3339.
    pub at: String,
    /// The price then, cents.
    pub price_cents: i64,
}

/// How many logged prices the product page charts.
pub const CHART_POINTS: i64 = 120;

/// The newest logged prices of a product, oldest first; empty for an unknown product.
#[server(prefix = "/sfn", endpoint = "price-history")]
pub async fn get_price_history(slug: String) -> Result<Vec<PricePoint>, ServerFnError> {
    ssr::source()?.price_history(&slug, CHART_POINTS).await.map_err(ServerFnError::new)
}

/// Server-only plumbing for the server functions above.
#[cfg(feature = "ssr")]
pub mod ssr {
    use std::sync::Arc;

    use leptos::prelude::*;

    use super::ProductSummary;

    /// Where the catalog comes from; the server binary implements it over PostgreSQL and Redis.
    #[async_trait::async_trait]
    pub trait CatalogSource: Send + Sync + 'static {
        /// Every live product, in catalog order.
        async fn list_products(&self) -> Result<Vec<ProductSummary>, String>;
        /// One live product, or `None`.
        async fn product_by_slug(&self, slug: &str) -> Result<Option<ProductSummary>, String>;
        /// The newest `limit` logged prices of a live product, oldest first.
        async fn price_history(&self, slug: &str, limit: i64) -> Result<Vec<super::PricePoint>, String>;
    }

    /// The shared handle the server puts into Leptos context.
    pub type SharedCatalog = Arc<dyn CatalogSource>;

    /// The catalog source from context, or a clear error if the server forgot to provide it.
    pub fn source() -> Result<SharedCatalog, ServerFnError> {
        use_context::<SharedCatalog>().ok_or_else(|| ServerFnError::new("catalog source missing from server context"))
    }

    /// Sets the HTTP status of the page being rendered.
    pub fn set_status(status: http::StatusCode) {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(status);
        }
    }
}
