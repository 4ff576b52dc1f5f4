//! The REST answers the browser reads, typed once: the server's handlers serialize these very
//! types and the page reads them with [`crate::session::call`], so a renamed field breaks the
//! build, not production. Keys are the contract's camelCase.

use physics_worker::wire::Reason;
use serde::{Deserialize, Serialize};

/// `POST /api/auth/guest`, `/login`, `/register`, `/refresh`: a session's tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    /// The access token (a JWT).
    pub token: String,
    /// The refresh token that renews it.
    pub refresh_token: String,
    /// Seconds the access token lives.
    pub expires_in: u64,
}

/// One line of a cart orbit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CartItem {
    /// The product's id.
    pub product_id: String,
    /// Units, 1 to [`physics_worker::shared::MAX_CART_QUANTITY`].
    pub quantity: u32,
}

/// `GET /api/products` (the live catalog, or a search's best matches with `?q=`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProductList {
    /// The products, in catalog order or best match first.
    pub products: Vec<crate::catalog::ProductSummary>,
}

/// `GET /api/cart`, and the answer of every cart change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartAnswer {
    /// The lines, in the order they were added.
    pub items: Vec<CartItem>,
}

/// One product as an admin sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminProduct {
    /// The product's id.
    pub product_id: String,
    /// Its URL name.
    pub slug: String,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its image, a path on this site.
    pub image_url: String,
    /// List price, cents.
    pub msrp_cents: i64,
    /// The lowest the live price goes, cents.
    pub price_floor_cents: i64,
    /// Communal mass when nobody is interested.
    pub base_mass: f32,
    /// Units in stock.
    pub stock_count: i32,
    /// Units held by open quotes.
    pub reserved_count: i32,
    /// Retired: kept for order history, out of the Gravity Well.
    pub retired: bool,
}

/// `GET /api/admin/products`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AdminProducts {
    /// Live products first, in catalog order, then the retired ones.
    pub products: Vec<AdminProduct>,
}

/// The body of every error answer: `{"error": "ERR_…", "message": "…", "reason"?: "…"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    /// The contract's code (`ERR_INVALID`, `ERR_TEMPORAL_PARADOX`, …).
    pub error: String,
    /// What went wrong, in words a person can act on.
    pub message: String,
    /// With `ERR_TEMPORAL_PARADOX`: which paradox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}
