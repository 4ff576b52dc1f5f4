//! The Hyperdrive checkout in the cart orbit (hydrate only).
//!
//! "Hyperdrive" freezes the cart's prices and reserves its stock (`POST /api/checkout/quote`),
//! plays the warp with the freeze's countdown while Stripe.js takes the card, then charges
//! (`POST /api/checkout` with one `Idempotency-Key` per quote, so a retried request never charges
//! twice). Card details go from Stripe.js straight to Stripe; this page only ever holds the id
//! Stripe gives back. Any failure plays the Temporal Paradox rewind with the reason in plain
//! words, and the cart orbit is redrawn from the server's confirmed cart.

use std::cell::RefCell;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::dom::{document, element, window};
use crate::money::format_cents;
use crate::session::{api, api_with_headers, field, json_object};
use crate::stripe_js::{mount_card, CardEntry};

/// How often the countdown is redrawn.
const COUNTDOWN_TICK_MS: i32 = 250;
/// How long a checkout paradox stays on screen.
const PARADOX_HOLD_MS: f64 = 8_000.0;

/// A quote: prices frozen and stock reserved until `expires_at_ms`.
struct Quote {
    id: String,
    total_cents: i64,
    expires_at_ms: f64,
    /// One `Idempotency-Key` per quote: pressing Pay again resends the same request.
    idempotency_key: String,
    /// What Stripe.js made of the card, kept so that a resent request is the same request.
    payment_method: Option<String>,
}

#[derive(Default)]
struct Flow {
    /// A step is running (quote or charge): further clicks wait.
    busy: bool,
    quote: Option<Quote>,
    card: Option<CardEntry>,
    /// The countdown's interval and its callback (dropped when the warp closes).
    countdown: Option<(i32, Closure<dyn FnMut()>)>,
}

thread_local! {
    static FLOW: RefCell<Flow> = RefCell::new(Flow::default());
}

fn set_text(selector: &str, text: &str) {
    if let Some(el) = element(selector) {
        el.set_text_content(Some(text));
    }
}

fn show(selector: &str, visible: bool) {
    if let Some(el) = element(selector) {
        let _ = if visible { el.remove_attribute("hidden") } else { el.set_attribute("hidden", "") };
    }
}

fn set_disabled(selector: &str, disabled: bool) {
    if let Some(el) = element(selector) {
        let _ = if disabled { el.set_attribute("disabled", "") } else { el.remove_attribute("disabled") };
    }
}

/// Wires the checkout, pay and cancel buttons (one delegated listener).
pub fn install() {
    let on_click = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
        let Some(target) = crate::dom::event_element(&event) else { return };
        let within = |selector: &str| target.closest(selector).ok().flatten().is_some();
        if within("[data-testid=\"checkout\"]") {
            event.prevent_default();
            leptos::task::spawn_local(start());
        } else if within("[data-testid=\"pay\"]") {
            event.prevent_default();
            leptos::task::spawn_local(pay());
        } else if within(".warp-cancel") {
            event.prevent_default();
            leptos::task::spawn_local(cancel());
        }
    });
    let _ = document().add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
    on_click.forget();
}

fn take_busy() -> bool {
    FLOW.with(|f| !std::mem::replace(&mut f.borrow_mut().busy, true))
}

fn release_busy() {
    FLOW.with(|f| f.borrow_mut().busy = false);
}

/// A short line under the cart orbit (sign-in needed, cancelled, empty cart); empty hides it.
fn notice(text: &str) {
    set_text(".checkout-notice", text);
    show(".checkout-notice", !text.is_empty());
}

/// Plain words for a checkout paradox reason.
fn reason_words(reason: &str) -> &'static str {
    match reason {
        "out_of_stock" => "another shopper took the last units of something in your cart orbit. Nothing was charged.",
        "quote_expired" => "the price freeze ran out before the payment, and the reserved stock went back. Start Hyperdrive again for fresh prices.",
        "payment_failed" => "your card was declined. Nothing was charged; your cart and the stock are as they were.",
        "state_lost" => "the Gravity Well lost track of live prices during checkout. Nothing was charged; please try again.",
        "conflict" => "prices were moving too fast to freeze. Nothing was reserved; try again in a moment.",
        _ => "something changed during checkout. Nothing was charged twice; please try again.",
    }
}

/// Ends the flow with the Temporal Paradox: the rewind plays, the cart orbit is re-read.
async fn paradox(words: &str) {
    close_warp();
    crate::alive::paradox(words, PARADOX_HOLD_MS);
    crate::alive::reload_cart().await;
}

/// "Hyperdrive": freeze the prices and reserve the stock, then open the warp with card entry.
async fn start() {
    if !take_busy() {
        return;
    }
    // A second press starts over: the earlier quote is replaced (the server releases it).
    close_warp();
    notice("");
    show("[data-testid=\"order-placed\"]", false);
    open_warp();
    set_text(".warp-countdown", "Freezing prices…");
    let answer = api("POST", "/api/checkout/quote", Some("{}")).await;
    release_busy();
    let (status, json) = match answer {
        Ok(answer) => answer,
        Err(e) => return paradox(&format!("the server could not be reached ({e}). Nothing was reserved.")).await,
    };
    match status {
        201 => {}
        401 => {
            close_warp();
            return sign_in_first();
        }
        409 => {
            let reason = field(&json, "reason").as_string().unwrap_or_default();
            return paradox(reason_words(&reason)).await;
        }
        _ => {
            close_warp();
            let message = field(&json, "message").as_string();
            return notice(&message.unwrap_or_else(|| format!("Checkout is not available right now ({status}).")));
        }
    }
    let quote = Quote {
        id: field(&json, "quoteId").as_string().unwrap_or_default(),
        total_cents: field(&json, "totalCents").as_f64().unwrap_or(0.0) as i64,
        expires_at_ms: js_sys::Date::parse(&field(&json, "expiresAt").as_string().unwrap_or_default()),
        idempotency_key: random_key(),
        payment_method: None,
    };
    show_quote_lines(&json);
    set_text(".warp-total", &format!("Total {}, frozen", format_cents(quote.total_cents)));
    FLOW.with(|f| f.borrow_mut().quote = Some(quote));
    start_countdown();
    let mounted = match element(".card-entry") {
        Some(target) => mount_card(&target).await,
        None => Err("no place for the card entry".into()),
    };
    match mounted {
        Ok(entry) => {
            FLOW.with(|f| f.borrow_mut().card = Some(entry));
            set_disabled("[data-testid=\"pay\"]", false);
            set_text(".warp-message", "");
        }
        Err(why) => set_text(".warp-message", &format!("Card entry could not load: {why}")),
    }
}

/// Cancel: the warp closes and the quote's stock goes back (`DELETE /api/checkout/quote`).
async fn cancel() {
    close_warp();
    notice(match api("DELETE", "/api/checkout/quote", None).await {
        Ok((200, _)) => "Hyperdrive cancelled: the prices are live again and the reserved stock went back.",
        _ => "Hyperdrive cancelled. The reserved stock goes back when the price freeze runs out.",
    });
}

/// Guests keep their cart orbit; signing in carries it into the account.
fn sign_in_first() {
    notice("Checkout needs an account. Sign in or create one: your cart orbit comes with you.");
    show(".checkout-sign-in", true);
}

/// The quote's lines with their frozen unit prices, named from the product cards.
fn show_quote_lines(json: &JsValue) {
    let Some(list) = element(".warp-items") else { return };
    list.set_inner_html("");
    for item in js_sys::Array::from(&field(json, "items")).iter() {
        let id = field(&item, "productId").as_string().unwrap_or_default();
        let quantity = field(&item, "quantity").as_f64().unwrap_or(0.0) as i64;
        let cents = field(&item, "unitPriceCents").as_f64().unwrap_or(0.0) as i64;
        let name = document()
            .query_selector(&format!(".product-grid [data-product-id=\"{id}\"] .product-name"))
            .ok()
            .flatten()
            .and_then(|n| n.text_content())
            .unwrap_or_else(|| "A product".into());
        let Ok(line) = document().create_element("li") else { continue };
        let _ = line.set_attribute("data-product-id", &id);
        let _ = line.set_attribute("data-unit-price-cents", &cents.to_string());
        line.set_text_content(Some(&format!("{quantity} × {name} at {}", format_cents(cents))));
        let _ = list.append_child(&line);
    }
}

fn open_warp() {
    set_disabled("[data-testid=\"pay\"]", true);
    set_text(".warp-message", "");
    set_text(".warp-total", "");
    if let Some(list) = element(".warp-items") {
        list.set_inner_html("");
    }
    set_warping(true);
}

/// isWarping: the warp dialog and the page's warp effect.
fn set_warping(on: bool) {
    show("[data-testid=\"warping\"]", on);
    if let Some(body) = document().body() {
        let _ = if on { body.class_list().add_1("warping") } else { body.class_list().remove_1("warping") };
    }
}

/// Closes the warp: the countdown stops, the card element is destroyed (no card data stays in
/// the page), the quote is forgotten.
fn close_warp() {
    stop_countdown();
    let card = FLOW.with(|f| {
        let mut f = f.borrow_mut();
        f.quote = None;
        f.card.take()
    });
    if let Some(entry) = card {
        entry.destroy();
    }
    if let Some(entry) = element(".card-entry") {
        entry.set_inner_html("");
    }
    set_warping(false);
}

fn stop_countdown() {
    if let Some((handle, _callback)) = FLOW.with(|f| f.borrow_mut().countdown.take()) {
        window().clear_interval_with_handle(handle);
    }
}

/// Redraws the countdown four times a second; at zero the freeze has run out (unless a charge
/// is on its way, whose answer then decides).
fn start_countdown() {
    stop_countdown();
    let tick = Closure::<dyn FnMut()>::new(move || {
        let Some(expires_at) = FLOW.with(|f| f.borrow().quote.as_ref().map(|q| q.expires_at_ms)) else { return };
        let left = ((expires_at - js_sys::Date::now()) / 1000.0).ceil().max(0.0);
        set_text(".warp-countdown", &format!("Prices frozen for {left} s"));
        if let Some(panel) = element("[data-testid=\"warping\"]") {
            let _ = panel.style().set_property("--seconds-left", &left.to_string());
        }
        let charging = FLOW.with(|f| f.borrow().busy);
        if left <= 0.0 && !charging {
            leptos::task::spawn_local(paradox(reason_words("quote_expired")));
        }
    });
    let handle = window()
        .set_interval_with_callback_and_timeout_and_arguments_0(tick.as_ref().unchecked_ref(), COUNTDOWN_TICK_MS);
    if let Ok(handle) = handle {
        FLOW.with(|f| f.borrow_mut().countdown = Some((handle, tick)));
    }
}

/// Pay: Stripe.js turns the card into a payment method id, then the quote is charged.
async fn pay() {
    let Some((quote_id, key)) =
        FLOW.with(|f| f.borrow().quote.as_ref().map(|q| (q.id.clone(), q.idempotency_key.clone())))
    else {
        return;
    };
    if !take_busy() {
        return;
    }
    set_disabled("[data-testid=\"pay\"]", true);
    set_text(".warp-message", "Charging…");
    let made_before = FLOW.with(|f| f.borrow().quote.as_ref().and_then(|q| q.payment_method.clone()));
    let payment_method = match made_before {
        Some(id) => Ok(id),
        None => match take_card() {
            Some(entry) => {
                let made = entry.payment_method_id().await;
                put_card(entry);
                made
            }
            None => Err("Card entry is not ready yet.".into()),
        },
    };
    let payment_method = match payment_method {
        Ok(id) => id,
        Err(why) => {
            release_busy();
            set_disabled("[data-testid=\"pay\"]", false);
            return set_text(".warp-message", &why);
        }
    };
    FLOW.with(|f| {
        if let Some(quote) = f.borrow_mut().quote.as_mut() {
            quote.payment_method = Some(payment_method.clone());
        }
    });
    let body = json_object(&[("quoteId", quote_id.into()), ("paymentMethodId", payment_method.into())]);
    let answer = match body {
        Ok(body) => api_with_headers("POST", "/api/checkout", Some(&body), &[("Idempotency-Key", &key)]).await,
        Err(e) => Err(e),
    };
    release_busy();
    match answer {
        Ok((202, json)) if field(&json, "status").as_string().as_deref() == Some("requires_action") => {
            authenticate(&json).await
        }
        Ok((201, json)) | Ok((202, json)) => placed(&json).await,
        Ok((409, json)) => {
            let reason = field(&json, "reason").as_string().unwrap_or_default();
            paradox(reason_words(&reason)).await
        }
        Ok((status, json)) => {
            set_disabled("[data-testid=\"pay\"]", false);
            let message = field(&json, "message").as_string();
            set_text(".warp-message", &message.unwrap_or_else(|| format!("The payment was not taken ({status}).")));
        }
        Err(why) => {
            // Same quote, same key: pressing Pay again can never charge twice.
            set_disabled("[data-testid=\"pay\"]", false);
            set_text(
                ".warp-message",
                &format!("The connection dropped while paying ({why}). Press Pay again: it resends the same request, so you are never charged twice."),
            );
        }
    }
}

/// The card element, taken out of the flow while Stripe.js works with it (no borrow is held
/// across an await); [`put_card`] puts it back unless the warp closed meanwhile.
fn take_card() -> Option<CardEntry> {
    FLOW.with(|f| f.borrow_mut().card.take())
}

fn put_card(entry: CardEntry) {
    let open = FLOW.with(|f| f.borrow().quote.is_some());
    if open {
        FLOW.with(|f| f.borrow_mut().card = Some(entry));
    } else {
        entry.destroy();
    }
}

/// The bank asks the shopper to confirm the payment (3-D Secure): Stripe.js runs its check with
/// the intent's client secret while the stock stays held (the countdown now shows the bank's
/// window), then the server settles the order from what Stripe says
/// (`POST /api/orders/{id}/settle`). If the bank has not answered, Pay resends the same request,
/// which offers the check again; nothing is ever charged twice.
async fn authenticate(answer: &JsValue) {
    let order = field(answer, "orderId").as_string().unwrap_or_default();
    let secret = field(answer, "clientSecret").as_string().unwrap_or_default();
    let window_ends = js_sys::Date::parse(&field(answer, "authenticateBy").as_string().unwrap_or_default());
    FLOW.with(|f| {
        if let Some(quote) = f.borrow_mut().quote.as_mut().filter(|_| window_ends.is_finite()) {
            quote.expires_at_ms = window_ends;
        }
    });
    if !take_busy() {
        return;
    }
    set_step("authenticating");
    set_text(".warp-message", "Your bank asks you to confirm this payment. Follow its check to finish.");
    let checked = match take_card() {
        Some(entry) => {
            let checked = entry.run_bank_check(&secret).await;
            put_card(entry);
            checked
        }
        None => Err("the card entry closed".into()),
    };
    set_text(".warp-message", "Asking your bank how it went…");
    let settled = api("POST", &format!("/api/orders/{order}/settle"), Some("{}")).await;
    release_busy();
    set_step("");
    match settled {
        Ok((200, json)) => placed(&json).await,
        Ok((202, json)) if field(&json, "status").as_string().as_deref() == Some("requires_action") => {
            set_disabled("[data-testid=\"pay\"]", false);
            let why = checked.err().map(|why| format!(" ({why})")).unwrap_or_default();
            set_text(
                ".warp-message",
                &format!("Your bank has not confirmed the payment yet{why}. Press Pay to try its check again; you are never charged twice."),
            );
        }
        Ok((202, json)) => placed(&json).await,
        Ok((409, json)) => {
            let words = field(&json, "message").as_string();
            paradox(&words.unwrap_or_else(|| reason_words("payment_failed").into())).await
        }
        Ok((status, json)) => {
            set_disabled("[data-testid=\"pay\"]", false);
            let message = field(&json, "message").as_string();
            set_text(
                ".warp-message",
                &message
                    .unwrap_or_else(|| format!("The payment is not settled yet ({status}). Press Pay to ask again.")),
            );
        }
        Err(why) => {
            set_disabled("[data-testid=\"pay\"]", false);
            set_text(
                ".warp-message",
                &format!("The connection dropped while asking your bank's answer ({why}). Press Pay to ask again: you are never charged twice."),
            );
        }
    }
}

/// The warp's step for styles and tests (`data-step` on the warp: `authenticating`, or none).
fn set_step(step: &str) {
    if let Some(panel) = element("[data-testid=\"warping\"]") {
        let _ =
            if step.is_empty() { panel.remove_attribute("data-step") } else { panel.set_attribute("data-step", step) };
    }
}

/// The order is placed (or being confirmed): say so, link the orders, redraw the cart orbit.
async fn placed(json: &JsValue) {
    close_warp();
    let total = format_cents(field(json, "totalCents").as_f64().unwrap_or(0.0) as i64);
    let status = field(json, "status").as_string().unwrap_or_default();
    let words = if status == "paid" {
        format!("Order placed: {total}, paid at the frozen prices.")
    } else {
        format!("Order received: {total}. Your payment is being confirmed.")
    };
    set_text(".order-placed-text", &words);
    if let Some(el) = element("[data-testid=\"order-placed\"]") {
        let _ = el.set_attribute("data-order-id", &field(json, "orderId").as_string().unwrap_or_default());
        let _ = el.set_attribute("data-status", &status);
    }
    show("[data-testid=\"order-placed\"]", true);
    crate::alive::reload_cart().await;
}

/// A fresh random `Idempotency-Key`.
fn random_key() -> String {
    window().crypto().map(|c| c.random_uuid()).unwrap_or_else(|_| format!("key-{}", js_sys::Date::now()))
}
