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

/// Where an order stands: the `orders.status` column and the API's `status`, in the order an
/// order can pass through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(type_name = "text", rename_all = "snake_case"))]
pub enum OrderStatus {
    /// Written before the charge; the payment is not settled yet.
    Pending,
    /// Waiting for the shopper's bank (3-D Secure); its stock is held.
    RequiresAction,
    /// Paid and recorded.
    Paid,
    /// Not paid; its stock went back.
    Failed,
    /// Paid, and part of it given back.
    PartiallyRefunded,
    /// Paid, and all of it given back.
    Refunded,
}

impl OrderStatus {
    /// Every status, in the order an order can pass through them.
    pub const ALL: [Self; 6] =
        [Self::Pending, Self::RequiresAction, Self::Paid, Self::Failed, Self::PartiallyRefunded, Self::Refunded];

    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::RequiresAction => "requires_action",
            Self::Paid => "paid",
            Self::Failed => "failed",
            Self::PartiallyRefunded => "partially_refunded",
            Self::Refunded => "refunded",
        }
    }

    /// The status spelled `text`, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// Whether money can still be given back (paid, perhaps partly refunded).
    pub fn is_refundable(self) -> bool {
        matches!(self, Self::Paid | Self::PartiallyRefunded)
    }

    /// How a shopper or an operator reads it.
    pub fn words(self) -> &'static str {
        match self {
            Self::Pending => "payment being confirmed",
            Self::RequiresAction => "waiting for your bank's confirmation",
            Self::Paid => "paid",
            Self::Failed => "not paid (nothing was charged)",
            Self::PartiallyRefunded => "partly refunded",
            Self::Refunded => "refunded",
        }
    }
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
