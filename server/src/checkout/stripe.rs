//! StripeHub: every conversation with Stripe, in one place.
//!
//! async-stripe sends the requests (auth, API version, idempotency keys); the replies are read into
//! the small types below, because its generated types do not parse localstripe's replies (see
//! TOOLCHAIN.md). The same code talks to localstripe in development and tests and to the real API
//! in production. Only ids and amounts pass through here: never card data.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use stripe::{IdempotencyKey, RequestStrategy};
use stripe_client_core::{RequestBuilder, StripeMethod};

/// How long one Stripe call may take before its outcome counts as unknown.
pub const STRIPE_TIMEOUT: Duration = Duration::from_secs(10);

/// A webhook older (or newer) than this is refused.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// The part of a PaymentIntent we act on.
#[derive(Clone, Debug, Deserialize)]
pub struct Intent {
    /// `pi_…`
    pub id: String,
    /// Where the intent stands.
    pub status: IntentStatus,
    /// Amount in cents.
    pub amount: i64,
    /// The last charge, when Stripe expanded it (localstripe always does; we ask for it).
    #[serde(default)]
    pub latest_charge: Option<serde_json::Value>,
    /// Why the last attempt failed, if it did.
    #[serde(default)]
    pub last_payment_error: Option<serde_json::Value>,
    /// Three-letter currency code (`usd`).
    #[serde(default)]
    pub currency: Option<String>,
    /// The metadata we set at creation (`order_id`).
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// The secret that lets Stripe.js in the shopper's page run the intent's next action (3-D
    /// Secure). Handed only to the order's own shopper; never stored or logged.
    #[serde(default)]
    pub client_secret: Option<ClientSecret>,
}

/// A PaymentIntent's status, in Stripe's words (`requires_action`, `succeeded`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentStatus {
    /// Declined, or no payment method yet: the shopper may try another card.
    RequiresPaymentMethod,
    /// Created and not confirmed yet.
    RequiresConfirmation,
    /// The bank asks for authentication (3-D Secure).
    RequiresAction,
    /// Stripe is still working on it.
    Processing,
    /// Authorized, waiting to be captured.
    RequiresCapture,
    /// Canceled: it can never take money.
    Canceled,
    /// Money was taken.
    Succeeded,
    /// A status this code does not know; treated as not paid and not dead.
    #[serde(other)]
    Other,
}

impl IntentStatus {
    /// Stripe's spelling, for messages and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequiresPaymentMethod => "requires_payment_method",
            Self::RequiresConfirmation => "requires_confirmation",
            Self::RequiresAction => "requires_action",
            Self::Processing => "processing",
            Self::RequiresCapture => "requires_capture",
            Self::Canceled => "canceled",
            Self::Succeeded => "succeeded",
            Self::Other => "unknown",
        }
    }
}

impl std::fmt::Display for IntentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PaymentIntent's client secret: shown to the order's shopper only, never printed.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// The secret itself, for the shopper's page.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(…)")
    }
}

impl Intent {
    /// Money was taken and not given back.
    pub fn is_paid(&self) -> bool {
        self.status == IntentStatus::Succeeded && self.refunded_cents() < self.amount
    }

    /// The shopper's bank asks for authentication (3-D Secure) before the intent can succeed.
    pub fn needs_authentication(&self) -> bool {
        self.status == IntentStatus::RequiresAction
    }

    /// Whether this intent can never take money any more (declined, canceled, or refunded).
    pub fn is_dead(&self) -> bool {
        matches!(self.status, IntentStatus::Canceled | IntentStatus::RequiresPaymentMethod)
            || (self.status == IntentStatus::Succeeded && self.refunded_cents() >= self.amount)
    }

    /// Stripe's words for why the last attempt failed ("Your card was declined.").
    pub fn failure_message(&self) -> Option<String> {
        let from = |v: &Option<serde_json::Value>, field: &str| {
            v.as_ref().and_then(|v| v.get(field)).and_then(|m| m.as_str()).map(str::to_string)
        };
        from(&self.last_payment_error, "message").or_else(|| from(&self.latest_charge, "failure_message"))
    }

    /// Whether this intent is the one `order` created: its order id, its amount and currency.
    /// A webhook is settled only from an intent that passes (`false` names nothing else).
    pub fn belongs_to(&self, order: uuid::Uuid, total_cents: i64) -> bool {
        let order_id = self.metadata.as_ref().and_then(|m| m.get("order_id")).and_then(|o| o.as_str());
        order_id == Some(order.to_string().as_str())
            && self.amount == total_cents
            && self.currency.as_deref().is_none_or(|c| c.eq_ignore_ascii_case("usd"))
    }

    /// Cents of this intent's payment given back so far (by anyone, Stripe's dashboard included).
    pub fn refunded_cents(&self) -> i64 {
        self.latest_charge.as_ref().and_then(|c| c.get("amount_refunded")).and_then(|a| a.as_i64()).unwrap_or(0)
    }
}

/// Why a Stripe call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum StripeFailure {
    /// Stripe answered and refused (a declined card, a bad payment method): nothing was charged.
    #[error("payment refused: {message:?}")]
    Refused {
        /// Stripe's words when it gave them, safe to show the shopper ("Your card was declined.").
        message: Option<String>,
    },
    /// No usable answer (network, timeout, an unreadable reply): the outcome is unknown.
    #[error("Stripe unreachable: {0}")]
    Unknown(String),
}

/// `POST /v1/payment_intents` (form-encoded by async-stripe: `metadata[order_id]=…`).
#[derive(Serialize)]
struct CreateIntent<'a> {
    amount: i64,
    currency: &'a str,
    payment_method: &'a str,
    payment_method_types: [&'a str; 1],
    metadata: Metadata<'a>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    order_id: &'a str,
}

/// `POST /v1/refunds`.
#[derive(Serialize)]
struct CreateRefund<'a> {
    payment_intent: &'a str,
    amount: i64,
    metadata: Metadata<'a>,
}

/// The part of a Refund we keep.
#[derive(Clone, Debug, Deserialize)]
pub struct Refund {
    /// `re_…`
    pub id: String,
    /// Cents given back.
    pub amount: i64,
    /// `succeeded`, `pending`, `failed`, …
    #[serde(default)]
    pub status: Option<String>,
}

/// Asks for the intent's last charge in full (it carries refunds and the decline message).
#[derive(Serialize)]
struct Expand {
    expand: [&'static str; 1],
}

const EXPAND_CHARGE: Expand = Expand { expand: ["latest_charge"] };

/// `POST /v1/payment_intents/{id}/confirm`.
#[derive(Serialize)]
struct Confirm {
    expand: [&'static str; 1],
    /// Asks Stripe for a next action that Stripe.js runs in the page (`handleNextAction`) when
    /// the bank wants authentication. Sent to Stripe only: localstripe refuses the parameter and
    /// always answers that way.
    #[serde(skip_serializing_if = "Option::is_none")]
    use_stripe_sdk: Option<bool>,
}

/// The Stripe client of this deployment.
#[derive(Clone)]
pub struct StripeHub {
    client: stripe::Client,
    webhook_secret: String,
    /// The API is Stripe's own (`https://api.stripe.com`), not localstripe.
    real_stripe: bool,
}

impl std::fmt::Debug for StripeHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StripeHub")
    }
}

impl StripeHub {
    /// A client of the Stripe API at `api_base` (localstripe in development).
    pub fn new(secret_key: &str, api_base: &str, webhook_secret: &str) -> anyhow::Result<Self> {
        let base = if api_base.ends_with('/') { api_base.to_string() } else { format!("{api_base}/") };
        let real_stripe = base.starts_with("https://api.stripe.com/");
        let client = stripe::ClientBuilder::new(secret_key)
            .url(base)
            .timeout(STRIPE_TIMEOUT)
            .build()
            .map_err(|e| anyhow::anyhow!("STRIPE_API_BASE / STRIPE_SECRET_KEY: {e}"))?;
        Ok(Self { client, webhook_secret: webhook_secret.to_string(), real_stripe })
    }

    /// Creates an unconfirmed PaymentIntent for `amount_cents` with the shopper's payment method.
    /// Nothing is charged until [`StripeHub::confirm`].
    pub async fn create_intent(
        &self,
        amount_cents: i64,
        payment_method: &str,
        order_id: uuid::Uuid,
    ) -> Result<Intent, StripeFailure> {
        let order = order_id.to_string();
        let form = CreateIntent {
            amount: amount_cents,
            currency: "usd",
            payment_method,
            payment_method_types: ["card"],
            metadata: Metadata { order_id: &order },
        };
        let request = RequestBuilder::new(StripeMethod::Post, "/payment_intents").form(&form);
        self.send(request, Some(format!("swiftcart-create-{order}"))).await
    }

    /// Confirms (charges) an intent. A card that needs 3-D Secure answers `requires_action`: the
    /// shopper's page then runs the authentication with the intent's client secret.
    pub async fn confirm(&self, intent_id: &str, order_id: uuid::Uuid) -> Result<Intent, StripeFailure> {
        let request = RequestBuilder::new(StripeMethod::Post, format!("/payment_intents/{intent_id}/confirm"))
            .form(&self.confirm_form());
        self.send(request, Some(format!("swiftcart-confirm-{order_id}"))).await
    }

    fn confirm_form(&self) -> Confirm {
        Confirm { expand: EXPAND_CHARGE.expand, use_stripe_sdk: self.real_stripe.then_some(true) }
    }

    /// Reads an intent as Stripe sees it now.
    pub async fn retrieve(&self, intent_id: &str) -> Result<Intent, StripeFailure> {
        let request =
            RequestBuilder::new(StripeMethod::Get, format!("/payment_intents/{intent_id}")).query(&EXPAND_CHARGE);
        self.send(request, None).await
    }

    /// Gives `amount_cents` of an intent's payment back. `idempotency_key` makes a retry of the
    /// same refund request never refund twice.
    pub async fn refund(
        &self,
        intent_id: &str,
        amount_cents: i64,
        order_id: uuid::Uuid,
        idempotency_key: String,
    ) -> Result<Refund, StripeFailure> {
        let order = order_id.to_string();
        let form =
            CreateRefund { payment_intent: intent_id, amount: amount_cents, metadata: Metadata { order_id: &order } };
        let request = RequestBuilder::new(StripeMethod::Post, "/refunds").form(&form);
        self.send(request, Some(idempotency_key)).await
    }

    /// Cancels an intent that has not taken money (compensation).
    pub async fn cancel(&self, intent_id: &str) -> Result<Intent, StripeFailure> {
        let request = RequestBuilder::new(StripeMethod::Post, format!("/payment_intents/{intent_id}/cancel"));
        self.send(request, Some(format!("swiftcart-cancel-{intent_id}"))).await
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: RequestBuilder,
        idempotency_key: Option<String>,
    ) -> Result<T, StripeFailure> {
        let mut request = request.customize::<miniserde::json::Value>();
        if let Some(key) = idempotency_key {
            let key = IdempotencyKey::new(key).map_err(|e| StripeFailure::Unknown(e.to_string()))?;
            request = request.request_strategy(RequestStrategy::Idempotent(key));
        }
        match request.send(&self.client).await {
            Ok(value) => serde_json::from_str(&miniserde::json::to_string(&value))
                .map_err(|e| StripeFailure::Unknown(format!("unreadable reply: {e}"))),
            Err(stripe::StripeError::Stripe(errors, status)) if (400..500).contains(&status) => {
                Err(StripeFailure::Refused { message: errors.message })
            }
            // async-stripe reports an error status whose body it cannot read (localstripe's) this
            // way: Stripe did answer, and refused.
            Err(stripe::StripeError::JSONDeserialize(why)) if why.contains("Stripe error") => {
                Err(StripeFailure::Refused { message: None })
            }
            Err(e) => Err(StripeFailure::Unknown(e.to_string())),
        }
    }

    /// Checks a `Stripe-Signature` header (`t=…,v1=…`) over the raw body at `now` (Unix seconds).
    pub fn verify_signature(&self, header: &str, body: &[u8], now: i64) -> Result<(), &'static str> {
        verify_signature(&self.webhook_secret, header, body, now)
    }
}

type HmacSha256 = Hmac<Sha256>;

/// Checks a `Stripe-Signature` header: HMAC-SHA256 of `{t}.{body}` under `secret`, any `v1`
/// matching, and `t` within [`SIGNATURE_TOLERANCE_SECS`] of `now`.
pub fn verify_signature(secret: &str, header: &str, body: &[u8], now: i64) -> Result<(), &'static str> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => candidates.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or("Stripe-Signature has no timestamp")?;
    // Checked: a timestamp near i64::MIN or MAX must be refused, not overflow.
    let age = now.checked_sub(timestamp).and_then(i64::checked_abs);
    if age.is_none_or(|age| age > SIGNATURE_TOLERANCE_SECS) {
        return Err("Stripe-Signature timestamp outside the tolerance");
    }
    if candidates.is_empty() {
        return Err("Stripe-Signature has no v1 signature");
    }
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).map_err(|_| "bad webhook secret")?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    // verify_slice compares in constant time.
    let matches = candidates.iter().any(|candidate| mac.clone().verify_slice(candidate).is_ok());
    if matches {
        Ok(())
    } else {
        Err("Stripe-Signature does not match")
    }
}

/// Signs `body` as Stripe does (`t=…,v1=…`): for tests and the local webhook forwarder.
pub fn sign(secret: &str, body: &[u8], timestamp: i64) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_body_secret_and_time() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign("whsec_a", body, 1_000);
        assert!(verify_signature("whsec_a", &header, body, 1_000).is_ok());
        assert!(verify_signature("whsec_a", &header, body, 1_000 + SIGNATURE_TOLERANCE_SECS).is_ok());
        assert!(verify_signature("whsec_a", &header, body, 1_000 + SIGNATURE_TOLERANCE_SECS + 1).is_err());
        assert!(verify_signature("whsec_b", &header, body, 1_000).is_err());
        assert!(verify_signature("whsec_a", &header, br#"{"id":"evt_2"}"#, 1_000).is_err());
        assert!(verify_signature("whsec_a", "t=1000", body, 1_000).is_err());
        assert!(verify_signature("whsec_a", "garbage", body, 1_000).is_err());
        assert!(verify_signature("whsec_a", "t=1000,v1=zz", body, 1_000).is_err());
    }

    #[test]
    fn extreme_timestamps_are_refused_without_overflow() {
        let body = br#"{"id":"evt_1"}"#;
        let now = 1_700_000_000;
        for t in [i64::MIN, now - i64::MAX, i64::MAX, -1] {
            let header = format!("t={t},v1=00");
            assert_eq!(
                verify_signature("whsec_a", &header, body, now),
                Err("Stripe-Signature timestamp outside the tolerance"),
                "t={t}"
            );
        }
    }

    #[test]
    fn only_stripe_itself_is_asked_for_a_stripe_js_next_action() {
        let form = |base: &str| {
            let hub = StripeHub::new("sk_test_x", base, "whsec_x").unwrap();
            serde_json::to_value(hub.confirm_form()).unwrap()
        };
        assert_eq!(form("https://api.stripe.com")["use_stripe_sdk"], true);
        assert!(form("http://127.0.0.1:8420").get("use_stripe_sdk").is_none(), "localstripe refuses it");
    }

    #[test]
    fn a_client_secret_never_prints() {
        let intent: Intent = serde_json::from_value(serde_json::json!({
            "id": "pi_1", "status": "requires_action", "amount": 500, "client_secret": "pi_1_secret_abc"
        }))
        .unwrap();
        assert!(intent.needs_authentication());
        assert_eq!(intent.client_secret.as_ref().map(ClientSecret::expose), Some("pi_1_secret_abc"));
        assert!(!format!("{intent:?}").contains("secret_abc"));
    }

    #[test]
    fn intent_statuses_read_stripes_words_and_tolerate_new_ones() {
        let status = |word: &str| serde_json::from_value::<IntentStatus>(serde_json::json!(word)).unwrap();
        for known in ["requires_payment_method", "requires_confirmation", "requires_action", "succeeded", "canceled"] {
            assert_eq!(status(known).as_str(), known);
        }
        assert_eq!(status("requires_something_new"), IntentStatus::Other, "a future status does not fail the read");
    }

    #[test]
    fn refunded_intents_are_dead_not_paid() {
        let intent = |status: IntentStatus, refunded: i64| Intent {
            id: "pi_1".into(),
            status,
            amount: 500,
            latest_charge: Some(serde_json::json!({ "amount_refunded": refunded })),
            last_payment_error: None,
            currency: Some("usd".into()),
            metadata: Some(serde_json::json!({ "order_id": "00000000-0000-0000-0000-000000000001" })),
            client_secret: None,
        };
        assert!(intent(IntentStatus::Succeeded, 0).is_paid());
        assert!(!intent(IntentStatus::Succeeded, 500).is_paid());
        assert!(intent(IntentStatus::Succeeded, 500).is_dead());
        assert!(intent(IntentStatus::Canceled, 0).is_dead());
        assert!(!intent(IntentStatus::RequiresConfirmation, 0).is_dead());
        assert!(!intent(IntentStatus::RequiresConfirmation, 0).is_paid());
    }

    #[test]
    fn an_intent_belongs_to_its_order_amount_and_currency_only() {
        let order: uuid::Uuid = "00000000-0000-0000-0000-000000000001".parse().unwrap();
        let intent = Intent {
            id: "pi_1".into(),
            status: IntentStatus::Succeeded,
            amount: 500,
            latest_charge: None,
            last_payment_error: None,
            currency: Some("usd".into()),
            metadata: Some(serde_json::json!({ "order_id": order.to_string() })),
            client_secret: None,
        };
        assert!(intent.belongs_to(order, 500));
        assert!(!intent.belongs_to(order, 499), "another amount");
        assert!(!intent.belongs_to(uuid::Uuid::nil(), 500), "another order");
        assert!(!Intent { currency: Some("eur".into()), ..intent.clone() }.belongs_to(order, 500), "another currency");
        assert!(!Intent { metadata: None, ..intent }.belongs_to(order, 500), "no order id");
    }
}
