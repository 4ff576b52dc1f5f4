//! Product data as the pages see it, and the server functions that load it.
//!
//! The server functions ask a [`ssr::CatalogSource`] that the server binary provides as context,
//! so all SQL and Redis access stays in the `server` crate.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A product with its live price and stock, as shown on a card.
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

/// How a stock level reads on a card, and its CSS class: "12 in stock", "Only 2 left" (low
/// stock, which also feeds the Redshift glitch) or "Sold out".
pub fn stock_label(stock: i64) -> (String, &'static str) {
    match stock {
        s if s <= 0 => ("Sold out".to_string(), "stock stock-out"),
        s if s <= LOW_STOCK => (format!("Only {s} left"), "stock stock-low"),
        s => (format!("{s} in stock"), "stock"),
    }
}

/// At or below this many units a product is low on stock.
pub const LOW_STOCK: i64 = 5;

/// The Redshift glitch's instability, 0 to 1: a fast price move, low stock and contention
/// (communal mass over the base mass, 0 to 1: many shoppers flicking or beaming the product) are
/// worth half each. A card glitches from 0.5 on ([`REDSHIFT_FROM`]), harder as it grows.
pub fn instability(price_jumped: bool, low_stock: bool, contention: f32) -> f32 {
    let half = |on: bool| if on { 0.5 } else { 0.0 };
    (half(price_jumped) + half(low_stock) + 0.5 * contention.clamp(0.0, 1.0)).min(1.0)
}

/// The instability from which a card shows the Redshift glitch.
pub const REDSHIFT_FROM: f32 = 0.5;

/// Contention from a product's communal mass: 0 at its base mass, 1 at twice that or more.
pub fn contention(mass: f32, base_mass: f32) -> f32 {
    (mass / base_mass.max(0.1) - 1.0).clamp(0.0, 1.0)
}

/// Every live product, for the Gravity Well.
#[server(prefix = "/sfn", endpoint = "catalog")]
pub async fn get_catalog() -> Result<Vec<ProductSummary>, ServerFnError> {
    ssr::source()?.list_products().await.map_err(ServerFnError::new)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_one_cause_is_enough_for_the_redshift_and_they_add_up() {
        assert_eq!(instability(false, false, 0.0), 0.0);
        for alone in [instability(true, false, 0.0), instability(false, true, 0.0), instability(false, false, 1.0)] {
            assert!(alone >= REDSHIFT_FROM, "{alone}");
        }
        assert!(instability(false, false, 0.4) < REDSHIFT_FROM, "mild interest is calm");
        assert_eq!(instability(true, true, 1.0), 1.0, "capped");
    }

    #[test]
    fn contention_grows_with_mass_over_the_base() {
        assert_eq!(contention(1.0, 1.0), 0.0);
        assert_eq!(contention(0.5, 1.0), 0.0, "below the base is calm");
        assert!((contention(3.0, 2.0) - 0.5).abs() < 1e-6);
        assert_eq!(contention(9.0, 2.0), 1.0);
    }

    #[test]
    fn stock_reads_in_words() {
        assert_eq!(stock_label(0), ("Sold out".to_string(), "stock stock-out"));
        assert_eq!(stock_label(LOW_STOCK), (format!("Only {LOW_STOCK} left"), "stock stock-low"));
        assert_eq!(stock_label(12), ("12 in stock".to_string(), "stock"));
    }
}
