//! The Hyperdrive checkout as Leptos components over one [`CheckoutState`].
//!
//! "Hyperdrive" freezes the cart's prices and reserves its stock (`POST /api/checkout/quote`),
//! plays the warp with the freeze's countdown while Stripe.js takes the card, then charges
//! (`POST /api/checkout` with one `Idempotency-Key` per quote, so a retried request never charges
//! twice). A card whose bank asks for 3-D Secure waits while Stripe.js runs the bank's check, then
//! the server settles the order from Stripe (`POST /api/orders/{id}/settle`). Card details go
//! from Stripe.js straight to Stripe; the page only ever holds the id Stripe gives back. Any
//! failure plays the Temporal Paradox rewind with the reason in plain words, and the cart orbit is
//! redrawn from the server's confirmed cart.
//!
//! What each answer leads to is decided by plain functions ([`after_quote`], [`after_charge`],
//! [`after_settle`]) over typed answers, tested natively; the browser side only calls the API,
//! Stripe.js ([`crate::stripe_js`]) and the Alive UI's paradox.

use leptos::prelude::*;
use physics_worker::wire::Reason;
use serde::Deserialize;

use crate::money::format_cents;

/// How long a checkout paradox stays on screen.
pub const PARADOX_HOLD_MS: f64 = 8_000.0;

/// One line of a quote at its frozen price.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrozenLine {
    /// The product.
    pub product_id: String,
    /// Units.
    pub quantity: i64,
    /// The frozen price of one unit, in cents.
    pub unit_price_cents: i64,
}

/// `POST /api/checkout/quote`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuoteAnswer {
    quote_id: String,
    items: Vec<FrozenLine>,
    total_cents: i64,
    expires_at: String,
}

/// What the warp shows and sends while a quote holds.
#[derive(Clone, Debug, PartialEq)]
pub struct FrozenQuote {
    /// The quote.
    pub id: String,
    /// Its lines with the names the page shows.
    pub lines: Vec<(FrozenLine, String)>,
    /// Sum of the lines, in cents.
    pub total_cents: i64,
    /// Until when the prices (or, authenticating, the bank's window) hold, in ms since the epoch.
    pub hold_until_ms: f64,
    /// One `Idempotency-Key` per quote: pressing Pay again resends the same request.
    pub idempotency_key: String,
    /// What Stripe.js made of the card, kept so that a resent request is the same request.
    pub payment_method: Option<String>,
}

/// An order the warp ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedOrder {
    /// The order.
    pub order_id: String,
    /// `paid`, or `pending` while the payment is being recorded.
    pub status: String,
    /// What was charged, in cents.
    pub total_cents: i64,
}

/// Where the checkout stands. One value, so the page can never show two steps at once.
#[derive(Clone, Debug, PartialEq)]
pub enum CheckoutState {
    /// Nothing under way; `notice` says what the shopper needs to know (empty: nothing), and
    /// `sign_in` offers the sign-in links.
    Idle {
        /// A line under the cart orbit.
        notice: String,
        /// Show the sign-in and register links.
        sign_in: bool,
    },
    /// Freezing the prices.
    Quoting,
    /// Prices frozen; the card is being entered.
    Quoted(FrozenQuote),
    /// Charging the card.
    Charging(FrozenQuote),
    /// The shopper's bank runs its check (3-D Secure).
    Authenticating(FrozenQuote),
    /// The order is placed (or being recorded).
    Placed(PlacedOrder),
    /// A paradox is playing; the next press starts over.
    Failed,
}

impl Default for CheckoutState {
    fn default() -> Self {
        Self::Idle { notice: String::new(), sign_in: false }
    }
}

impl CheckoutState {
    /// isWarping: the warp dialog is open.
    pub fn is_warping(&self) -> bool {
        matches!(self, Self::Quoting | Self::Quoted(_) | Self::Charging(_) | Self::Authenticating(_))
    }

    /// A request is on its way: presses wait.
    pub fn is_busy(&self) -> bool {
        matches!(self, Self::Quoting | Self::Charging(_) | Self::Authenticating(_))
    }

    /// The quote the warp holds.
    pub fn quote(&self) -> Option<&FrozenQuote> {
        match self {
            Self::Quoted(q) | Self::Charging(q) | Self::Authenticating(q) => Some(q),
            _ => None,
        }
    }

    /// The warp's step, for styles and tests (`data-step`).
    pub fn step(&self) -> &'static str {
        match self {
            Self::Quoting => "quoting",
            Self::Quoted(_) => "quoted",
            Self::Charging(_) => "charging",
            Self::Authenticating(_) => "authenticating",
            _ => "",
        }
    }

    /// The countdown line at `now_ms`.
    pub fn countdown(&self, now_ms: f64) -> String {
        let left = |q: &FrozenQuote| ((q.hold_until_ms - now_ms) / 1000.0).ceil().max(0.0);
        match self {
            Self::Quoting => "Freezing prices…".into(),
            Self::Quoted(q) | Self::Charging(q) => format!("Prices frozen for {} s", left(q)),
            Self::Authenticating(q) => format!("Stock held for your bank's check: {} s", left(q)),
            _ => String::new(),
        }
    }

    /// Whether the freeze ran out with nothing on its way (a charge's answer decides otherwise).
    pub fn freeze_ran_out(&self, now_ms: f64) -> bool {
        matches!(self, Self::Quoted(q) if q.hold_until_ms <= now_ms)
    }
}

/// The answer of a charge, a replay or a settlement (the order, or an error).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PaymentAnswer {
    order_id: String,
    status: String,
    total_cents: i64,
    client_secret: Option<String>,
    authenticate_by: Option<String>,
    reason: Option<Reason>,
    message: Option<String>,
}

/// What a payment answer leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// The order is placed.
    Placed(PlacedOrder),
    /// The bank asks: run its check with this client secret, then settle `order_id`.
    Authenticate {
        /// The order to settle afterwards.
        order_id: String,
        /// For Stripe.js.
        client_secret: String,
        /// The end of the bank's window (RFC 3339), when known.
        until: Option<String>,
    },
    /// The paradox, with these words.
    Paradox(String),
    /// The warp stays open with this message; Pay can be pressed again.
    Retry(String),
}

/// Plain words for a checkout paradox reason.
pub fn reason_words(reason: Reason) -> &'static str {
    match reason {
        Reason::OutOfStock => "another shopper took the last units of something in your cart orbit. Nothing was charged.",
        Reason::QuoteExpired => "the price freeze ran out before the payment, and the reserved stock went back. Start Hyperdrive again for fresh prices.",
        Reason::PaymentFailed => "your card was declined. Nothing was charged; your cart and the stock are as they were.",
        Reason::StateLost => "the Gravity Well lost track of live prices during checkout. Nothing was charged; please try again.",
        Reason::Conflict => "prices were moving too fast to freeze. Nothing was reserved; try again in a moment.",
        _ => "something changed during checkout. Nothing was charged twice; please try again.",
    }
}

fn placed(answer: PaymentAnswer) -> Next {
    Next::Placed(PlacedOrder { order_id: answer.order_id, status: answer.status, total_cents: answer.total_cents })
}

/// What `POST /api/checkout` (or its replay) answering `status` leads to.
pub fn after_charge(status: u16, answer: PaymentAnswer) -> Next {
    match status {
        202 if answer.status == "requires_action" => match answer.client_secret {
            Some(client_secret) => {
                Next::Authenticate { order_id: answer.order_id, client_secret, until: answer.authenticate_by }
            }
            None => Next::Retry("Your bank asks for a check that could not start. Press Pay to try again.".into()),
        },
        201 | 202 => placed(answer),
        409 if answer.reason.is_some() => Next::Paradox(reason_words(answer.reason.unwrap_or(Reason::Other)).into()),
        _ => Next::Retry(
            answer.message.unwrap_or_else(|| format!("The payment was not taken ({status}). Press Pay to try again.")),
        ),
    }
}

/// What `POST /api/orders/{id}/settle` answering `status` leads to, after the bank's check
/// ended with `check_error` (Stripe.js's words, when it reported one).
pub fn after_settle(status: u16, answer: PaymentAnswer, check_error: Option<String>) -> Next {
    match status {
        200 => placed(answer),
        202 if answer.status == "requires_action" => {
            let why = check_error.map(|why| format!(" ({why})")).unwrap_or_default();
            Next::Retry(format!(
                "Your bank has not confirmed the payment yet{why}. Press Pay to try its check again; you are never charged twice."
            ))
        }
        202 => placed(answer),
        // The server's words: "your bank did not confirm the payment…".
        409 if answer.reason.is_some() => {
            Next::Paradox(answer.message.unwrap_or_else(|| reason_words(Reason::PaymentFailed).into()))
        }
        _ => Next::Retry(
            answer
                .message
                .unwrap_or_else(|| format!("The payment is not settled yet ({status}). Press Pay to ask again.")),
        ),
    }
}

/// What the quote answer leads to: the warp with the frozen lines (named by `name_of`), held
/// until `expires_at_ms` (the answer's `expiresAt`, parsed by the caller).
pub fn after_quote(
    answer: QuoteAnswer,
    expires_at_ms: f64,
    idempotency_key: String,
    name_of: impl Fn(&str) -> String,
) -> CheckoutState {
    let lines = answer
        .items
        .into_iter()
        .map(|line| {
            let name = name_of(&line.product_id);
            (line, name)
        })
        .collect();
    CheckoutState::Quoted(FrozenQuote {
        id: answer.quote_id,
        lines,
        total_cents: answer.total_cents,
        hold_until_ms: expires_at_ms,
        idempotency_key,
        payment_method: None,
    })
}

/// The checkout's shared signals, provided by [`CheckoutProvider`].
#[derive(Clone, Copy)]
pub struct Checkout {
    /// Where the checkout stands.
    pub state: RwSignal<CheckoutState>,
    /// A line in the warp (Stripe's words about the card, a dropped connection).
    pub message: RwSignal<String>,
    /// The clock the countdown reads (ms since the epoch), ticking while the warp is open.
    pub now_ms: RwSignal<f64>,
    /// Stripe.js's card element is mounted.
    pub card_ready: RwSignal<bool>,
    /// Where Stripe.js mounts the card element.
    pub card_slot: NodeRef<leptos::html::Div>,
}

impl Checkout {
    fn new() -> Self {
        Self {
            state: RwSignal::new(CheckoutState::default()),
            message: RwSignal::new(String::new()),
            now_ms: RwSignal::new(0.0),
            card_ready: RwSignal::new(false),
            card_slot: NodeRef::new(),
        }
    }
}

/// Provides the checkout's signals to [`CheckoutControls`] and [`WarpPanel`].
pub fn provide_checkout() -> Checkout {
    let checkout = Checkout::new();
    provide_context(checkout);
    #[cfg(feature = "hydrate")]
    browser::keep_time(checkout);
    checkout
}

fn checkout() -> Checkout {
    use_context::<Checkout>().expect("provide_checkout() above the checkout components")
}

/// The cart orbit's part: the Hyperdrive button, the notice line, the sign-in links and the
/// placed order.
#[component]
pub fn CheckoutControls() -> impl IntoView {
    let c = checkout();
    let state = c.state;
    let notice =
        move || state.with(|s| if let CheckoutState::Idle { notice, .. } = s { notice.clone() } else { String::new() });
    let sign_in = move || state.with(|s| matches!(s, CheckoutState::Idle { sign_in: true, .. }));
    let order = move || state.with(|s| if let CheckoutState::Placed(o) = s { Some(o.clone()) } else { None });
    let on_start = move |event: leptos::ev::MouseEvent| {
        event.prevent_default();
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(browser::start(c));
    };
    view! {
        <button type="button" data-testid="checkout" class="checkout" on:click=on_start>"Hyperdrive checkout"</button>
        <p class="checkout-notice" role="status" hidden=move || notice().is_empty()>{notice}</p>
        <p class="checkout-sign-in" hidden=move || !sign_in()>
            <a href="/login">"Sign in"</a>" or "<a href="/register">"create an account"</a>
        </p>
        <p data-testid="order-placed" class="order-placed" role="status" hidden=move || order().is_none()
            data-order-id=move || order().map(|o| o.order_id).unwrap_or_default()
            data-status=move || order().map(|o| o.status).unwrap_or_default()>
            <span class="order-placed-text">{move || order().map(|o| placed_words(&o)).unwrap_or_default()}</span>
            " "<a href="/orders">"See your orders"</a>
        </p>
    }
}

/// What the shopper reads once the order is placed.
fn placed_words(order: &PlacedOrder) -> String {
    let total = format_cents(order.total_cents);
    if order.status == "paid" {
        format!("Order placed: {total}, paid at the frozen prices.")
    } else {
        format!("Order received: {total}. Your payment is being confirmed.")
    }
}

/// The warp (isWarping): the freeze's countdown, the frozen lines and total, Stripe's card entry,
/// Pay and Cancel.
#[component]
pub fn WarpPanel() -> impl IntoView {
    let c = checkout();
    let state = c.state;
    let lines = move || state.with(|s| s.quote().map(|q| q.lines.clone()).unwrap_or_default());
    let total = move || {
        state.with(|s| s.quote().map(|q| format!("Total {}, frozen", format_cents(q.total_cents)))).unwrap_or_default()
    };
    let can_pay = move || state.with(|s| matches!(s, CheckoutState::Quoted(_))) && c.card_ready.get();
    let on_pay = move |event: leptos::ev::MouseEvent| {
        event.prevent_default();
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(browser::pay(c));
    };
    let on_cancel = move |event: leptos::ev::MouseEvent| {
        event.prevent_default();
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(browser::cancel(c));
    };
    view! {
        <section data-testid="warping" class="hyperdrive" role="dialog" aria-label="Hyperdrive checkout"
            hidden=move || !state.with(CheckoutState::is_warping)
            data-step=move || state.with(|s| s.step())>
            <h2>"Hyperdrive"</h2>
            <p class="warp-countdown" aria-live="polite">{move || state.with(|s| s.countdown(c.now_ms.get()))}</p>
            <ul class="warp-items">
                {move || lines().into_iter().map(|(line, name)| view! {
                    <li data-product-id=line.product_id.clone() data-unit-price-cents=line.unit_price_cents.to_string()>
                        {format!("{} × {name} at {}", line.quantity, format_cents(line.unit_price_cents))}
                    </li>
                }).collect_view()}
            </ul>
            <p class="warp-total">{total}</p>
            <label class="card-label">"Card (taken by Stripe; it never reaches SwiftCart)"</label>
            <div class="card-entry" node_ref=c.card_slot></div>
            <p class="warp-message" role="alert">{move || c.message.get()}</p>
            <div class="warp-actions">
                <button type="button" data-testid="pay" class="pay" disabled=move || !can_pay() on:click=on_pay>"Pay"</button>
                <button type="button" class="warp-cancel" on:click=on_cancel>"Cancel"</button>
            </div>
        </section>
    }
}

/// The browser side: the API, Stripe.js and the paradox.
#[cfg(feature = "hydrate")]
mod browser {
    use leptos::prelude::*;
    use physics_worker::wire::Reason;

    use super::{after_charge, after_quote, after_settle, Checkout, CheckoutState, Next, PaymentAnswer, QuoteAnswer};
    use crate::session::{api, api_with_headers, decode, json_object};
    use crate::stripe_js::{mount_card, CardEntry};

    /// How often the countdown's clock ticks while the warp is open.
    const TICK_MS: u64 = 250;

    thread_local! {
        /// Stripe.js's card element for the current quote (a JS object: this thread only).
        static CARD: std::cell::RefCell<Option<CardEntry>> = const { std::cell::RefCell::new(None) };
    }

    fn take_card() -> Option<CardEntry> {
        CARD.with(|c| c.borrow_mut().take())
    }

    /// Puts the card element back, unless the warp closed meanwhile (then it is destroyed).
    fn put_card(c: Checkout, entry: CardEntry) {
        if c.state.with_untracked(CheckoutState::is_warping) {
            CARD.with(|slot| *slot.borrow_mut() = Some(entry));
        } else {
            entry.destroy();
        }
    }

    /// Ticks the countdown's clock while the warp is open, ends a freeze that ran out, and marks
    /// the page while warping (`body.warping`).
    pub fn keep_time(c: Checkout) {
        let ticker = StoredValue::new_local(None::<leptos::prelude::IntervalHandle>);
        Effect::new(move |_| {
            let warping = c.state.with(CheckoutState::is_warping);
            if let Some(body) = document().body() {
                let _ = body.class_list().toggle_with_force("warping", warping);
            }
            match (warping, ticker.get_value()) {
                (true, None) => {
                    c.now_ms.set(crate::dom::epoch_ms());
                    let handle = set_interval_with_handle(
                        move || {
                            let now = crate::dom::epoch_ms();
                            c.now_ms.set(now);
                            if c.state.with_untracked(|s| s.freeze_ran_out(now)) {
                                leptos::task::spawn_local(paradox(c, super::reason_words(Reason::QuoteExpired).into()));
                            }
                        },
                        std::time::Duration::from_millis(TICK_MS),
                    );
                    ticker.set_value(handle.ok());
                }
                (false, Some(handle)) => {
                    handle.clear();
                    ticker.set_value(None);
                }
                _ => {}
            }
        });
    }

    /// Closes the warp: the card element is destroyed (no card data stays in the page).
    fn close(c: Checkout, next: CheckoutState) {
        c.state.set(next);
        c.card_ready.set(false);
        c.message.set(String::new());
        if let Some(entry) = take_card() {
            entry.destroy();
        }
    }

    /// Ends the flow with the Temporal Paradox: the rewind plays, the cart orbit is re-read.
    async fn paradox(c: Checkout, words: String) {
        close(c, CheckoutState::Failed);
        crate::alive::paradox(&words, super::PARADOX_HOLD_MS);
        crate::alive::reload_cart().await;
    }

    /// The name a product card shows, for the warp's lines.
    fn name_of(product_id: &str) -> String {
        document()
            .query_selector(&format!(".product-grid [data-product-id=\"{product_id}\"] .product-name"))
            .ok()
            .flatten()
            .and_then(|n| n.text_content())
            .unwrap_or_else(|| "A product".into())
    }

    /// "Hyperdrive": freeze the prices and reserve the stock, then open the warp with card entry.
    /// A second press starts over (the server replaces the earlier quote).
    #[leptos::lazy]
    pub async fn start(c: Checkout) {
        if c.state.with_untracked(CheckoutState::is_busy) {
            return;
        }
        close(c, CheckoutState::Quoting);
        let answer = api("POST", "/api/checkout/quote", Some("{}")).await;
        let (status, json) = match answer {
            Ok(answer) => answer,
            Err(e) => return paradox(c, format!("the server could not be reached ({e}). Nothing was reserved.")).await,
        };
        match status {
            201 => {}
            401 => {
                return close(
                    c,
                    CheckoutState::Idle {
                        notice: "Checkout needs an account. Sign in or create one: your cart orbit comes with you."
                            .into(),
                        sign_in: true,
                    },
                )
            }
            409 => {
                let reason = decode::<PaymentAnswer>(&json).ok().and_then(|a| a.reason).unwrap_or(Reason::Other);
                return paradox(c, super::reason_words(reason).into()).await;
            }
            _ => {
                let message = crate::session::message_or(&json, status);
                return close(c, CheckoutState::Idle { notice: message, sign_in: false });
            }
        }
        let Ok(quote) = decode::<QuoteAnswer>(&json) else {
            return paradox(c, super::reason_words(Reason::Other).into()).await;
        };
        let expires_at_ms = js_sys::Date::parse(&quote.expires_at);
        c.state.set(after_quote(quote, expires_at_ms, random_key(), name_of));
        let mounted = match c.card_slot.get_untracked() {
            Some(slot) => mount_card(&slot).await,
            None => Err("no place for the card entry".into()),
        };
        match mounted {
            Ok(entry) => {
                put_card(c, entry);
                c.card_ready.set(c.state.with_untracked(CheckoutState::is_warping));
            }
            Err(why) => c.message.set(format!("Card entry could not load: {why}")),
        }
    }

    /// Cancel: the warp closes and the quote's stock goes back (`DELETE /api/checkout/quote`);
    /// during the bank's check, the check is called off too.
    #[leptos::lazy]
    pub async fn cancel(c: Checkout) {
        close(c, CheckoutState::default());
        let notice = match api("DELETE", "/api/checkout/quote", None).await {
            Ok((200, _)) => "Hyperdrive cancelled: the prices are live again and the reserved stock went back.",
            _ => "Hyperdrive cancelled. The reserved stock goes back when the price freeze runs out.",
        };
        c.state.set(CheckoutState::Idle { notice: notice.into(), sign_in: false });
    }

    /// Pay: Stripe.js turns the card into a payment method id, then the quote is charged.
    #[leptos::lazy]
    pub async fn pay(c: Checkout) {
        let Some(quote) = c.state.with_untracked(|s| match s {
            CheckoutState::Quoted(q) => Some(q.clone()),
            _ => None,
        }) else {
            return;
        };
        c.state.set(CheckoutState::Charging(quote.clone()));
        c.message.set("Charging…".into());
        let payment_method = match &quote.payment_method {
            Some(id) => Ok(id.clone()),
            None => match take_card() {
                Some(entry) => {
                    let made = entry.payment_method_id().await;
                    put_card(c, entry);
                    made
                }
                None => Err("Card entry is not ready yet.".into()),
            },
        };
        let payment_method = match payment_method {
            Ok(id) => id,
            Err(why) => {
                c.message.set(why);
                return c.state.set(CheckoutState::Quoted(quote));
            }
        };
        let quote = super::FrozenQuote { payment_method: Some(payment_method.clone()), ..quote };
        c.state.set(CheckoutState::Charging(quote.clone()));
        let body = json_object(&[("quoteId", quote.id.clone().into()), ("paymentMethodId", payment_method.into())]);
        let answer = match body {
            Ok(body) => {
                api_with_headers("POST", "/api/checkout", Some(&body), &[("Idempotency-Key", &quote.idempotency_key)])
                    .await
            }
            Err(e) => Err(e),
        };
        let next = match answer {
            Ok((status, json)) => after_charge(status, decode(&json).unwrap_or_default()),
            // Same quote, same key: pressing Pay again can never charge twice.
            Err(why) => Next::Retry(format!(
                "The connection dropped while paying ({why}). Press Pay again: it resends the same request, so you are never charged twice."
            )),
        };
        follow(c, quote, next).await;
    }

    /// Acts on what an answer led to.
    async fn follow(c: Checkout, quote: super::FrozenQuote, next: Next) {
        match next {
            Next::Placed(order) => {
                close(c, CheckoutState::Placed(order));
                crate::alive::reload_cart().await;
            }
            Next::Paradox(words) => paradox(c, words).await,
            Next::Retry(message) => {
                c.state.set(CheckoutState::Quoted(quote));
                c.message.set(message);
            }
            Next::Authenticate { order_id, client_secret, until } => {
                authenticate(c, quote, order_id, client_secret, until).await;
            }
        }
    }

    /// The bank asks the shopper to confirm the payment (3-D Secure): Stripe.js runs its check
    /// while the stock stays held (the countdown shows the bank's window), then the server
    /// settles the order from what Stripe says.
    async fn authenticate(
        c: Checkout,
        quote: super::FrozenQuote,
        order_id: String,
        client_secret: String,
        until: Option<String>,
    ) {
        let until_ms = until.map(|u| js_sys::Date::parse(&u)).filter(|ms| ms.is_finite());
        let quote = super::FrozenQuote { hold_until_ms: until_ms.unwrap_or(quote.hold_until_ms), ..quote };
        c.state.set(CheckoutState::Authenticating(quote.clone()));
        c.message.set("Your bank asks you to confirm this payment. Follow its check to finish.".into());
        let checked = match take_card() {
            Some(entry) => {
                let checked = entry.run_bank_check(&client_secret).await;
                put_card(c, entry);
                checked
            }
            None => Err("the card entry closed".into()),
        };
        if !c.state.with_untracked(CheckoutState::is_warping) {
            return; // Cancelled meanwhile: the server called the check off.
        }
        c.message.set("Asking your bank how it went…".into());
        let next = match api("POST", &format!("/api/orders/{order_id}/settle"), Some("{}")).await {
            Ok((status, json)) => after_settle(status, decode(&json).unwrap_or_default(), checked.err()),
            Err(why) => Next::Retry(format!(
                "The connection dropped while asking your bank's answer ({why}). Press Pay to ask again: you are never charged twice."
            )),
        };
        // Boxed: `follow` and `authenticate` call each other.
        Box::pin(follow(c, quote, next)).await;
    }

    /// A fresh random `Idempotency-Key`.
    fn random_key() -> String {
        window().crypto().map(|c| c.random_uuid()).unwrap_or_else(|_| format!("key-{}", crate::dom::epoch_ms()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: &str) -> PaymentAnswer {
        PaymentAnswer { order_id: "o1".into(), status: status.into(), total_cents: 1_250, ..Default::default() }
    }

    fn quote(hold_until_ms: f64) -> FrozenQuote {
        FrozenQuote {
            id: "q1".into(),
            lines: Vec::new(),
            total_cents: 1_250,
            hold_until_ms,
            idempotency_key: "k".into(),
            payment_method: None,
        }
    }

    #[test]
    fn a_charge_answer_places_authenticates_rewinds_or_lets_pay_again() {
        let paid = after_charge(201, answer("paid"));
        assert_eq!(
            paid,
            Next::Placed(PlacedOrder { order_id: "o1".into(), status: "paid".into(), total_cents: 1_250 })
        );
        assert!(matches!(after_charge(202, answer("pending")), Next::Placed(_)));
        let bank = PaymentAnswer { client_secret: Some("pi_1_secret_x".into()), ..answer("requires_action") };
        assert_eq!(
            after_charge(202, bank),
            Next::Authenticate { order_id: "o1".into(), client_secret: "pi_1_secret_x".into(), until: None }
        );
        assert!(matches!(after_charge(202, answer("requires_action")), Next::Retry(_)), "no secret, no check");
        let declined = PaymentAnswer { reason: Some(Reason::PaymentFailed), ..Default::default() };
        assert_eq!(after_charge(409, declined), Next::Paradox(reason_words(Reason::PaymentFailed).into()));
        let busy = PaymentAnswer { message: Some("still being processed".into()), ..Default::default() };
        assert_eq!(
            after_charge(409, busy),
            Next::Retry("still being processed".into()),
            "ERR_IN_PROGRESS has no reason"
        );
    }

    #[test]
    fn a_settlement_uses_the_servers_words_for_the_banks_refusal() {
        assert!(matches!(after_settle(200, answer("paid"), None), Next::Placed(_)));
        let refused = PaymentAnswer {
            reason: Some(Reason::PaymentFailed),
            message: Some("your bank did not confirm the payment.".into()),
            ..Default::default()
        };
        assert_eq!(after_settle(409, refused, None), Next::Paradox("your bank did not confirm the payment.".into()));
        let waiting = after_settle(202, answer("requires_action"), Some("closed".into()));
        assert!(matches!(waiting, Next::Retry(words) if words.contains("(closed)")));
    }

    #[test]
    fn the_state_says_what_the_warp_shows() {
        assert!(!CheckoutState::default().is_warping());
        assert!(CheckoutState::Quoting.is_busy() && CheckoutState::Quoting.is_warping());
        let quoted = CheckoutState::Quoted(quote(10_000.0));
        assert!(quoted.is_warping() && !quoted.is_busy());
        assert_eq!(quoted.countdown(1_500.0), "Prices frozen for 9 s");
        assert!(!quoted.freeze_ran_out(9_999.0) && quoted.freeze_ran_out(10_000.0));
        let charging = CheckoutState::Charging(quote(10_000.0));
        assert!(!charging.freeze_ran_out(20_000.0), "a charge on its way decides");
        assert_eq!(CheckoutState::Authenticating(quote(60_000.0)).step(), "authenticating");
        assert!(!CheckoutState::Placed(PlacedOrder { order_id: "o".into(), status: "paid".into(), total_cents: 1 })
            .is_warping());
    }

    #[test]
    fn a_quote_opens_the_warp_with_named_lines() {
        let answer = QuoteAnswer {
            quote_id: "q1".into(),
            items: vec![FrozenLine { product_id: "p1".into(), quantity: 2, unit_price_cents: 500 }],
            total_cents: 1_000,
            expires_at: "2026-12-02T06:00:00Z".into(),
        };
        let state = after_quote(answer, 42.0, "key".into(), |id| format!("name of {id}"));
        let q = state.quote().unwrap();
        assert_eq!((q.id.as_str(), q.hold_until_ms, q.lines[0].1.as_str()), ("q1", 42.0, "name of p1"));
    }
}
