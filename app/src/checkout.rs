//! What the browser needs to take a card with Stripe.js: the publishable key and where Stripe.js
//! is served. The server provides [`StripeSettings`] as context; card details then go from the
//! browser straight to Stripe, never through this server.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Stripe.js settings for the browser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StripeSettings {
    /// The publishable key (`pk_…`).
    pub publishable_key: String,
    /// The URL of Stripe.js (localstripe serves a compatible one in development).
    pub js_url: String,
}

/// The Stripe.js settings of this server.
#[server(prefix = "/sfn", endpoint = "stripe-settings")]
pub async fn get_stripe_settings() -> Result<StripeSettings, ServerFnError> {
    use_context::<StripeSettings>().ok_or_else(|| ServerFnError::new("Stripe settings missing from server context"))
}
