//! The Hyperdrive checkout in the cart orbit (hydrate only).
//!
//! "Hyperdrive" freezes the cart's prices and reserves its stock (`POST /api/checkout/quote`),
//! plays the warp with the freeze's countdown while Stripe.js takes the card, then charges
//! (`POST /api/checkout` with one `Idempotency-Key` per quote, so a retried request never charges
//! twice). Card details go from Stripe.js straight to Stripe; this page only ever holds the id
//! Stripe gives back. Any failure plays the Temporal Paradox rewind with the reason in plain
//! words, and the cart orbit is redrawn from the server's confirmed cart.

use std::cell::RefCell;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::HtmlElement;

use crate::checkout::get_stripe_settings;
use crate::dom::{document, element, window};
use crate::money::format_cents;
use crate::session::{api, api_with_headers, field, json_object};

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

/// Stripe.js and the card element mounted for the current quote.
struct CardEntry {
    stripe: JsValue,
    card: JsValue,
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
    match mount_card().await {
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
        let _ = call(&entry.card, "destroy", &[]);
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
    let card_entry = FLOW.with(|f| f.borrow().card.as_ref().map(|c| (c.stripe.clone(), c.card.clone())));
    let payment_method = match (made_before, card_entry) {
        (Some(id), _) => Ok(id),
        (None, Some((stripe, card))) => payment_method_id(&stripe, &card).await,
        (None, None) => Err("Card entry is not ready yet.".into()),
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

/// Calls `target[name](...args)`. (Typed by `typeof`, not `instanceof`: the target may come
/// from the card frame's realm.)
fn call(target: &JsValue, name: &str, args: &[JsValue]) -> Result<JsValue, String> {
    let method = Reflect::get(target, &name.into())
        .ok()
        .filter(|m| m.is_function())
        .map(|m| m.unchecked_into::<Function>())
        .ok_or(format!("no {name}()"))?;
    method.apply(target, &args.iter().collect()).map_err(|e| describe(&e))
}

/// Awaits a value that may be a promise (of this realm or the card frame's).
async fn settle(value: JsValue) -> Result<JsValue, String> {
    JsFuture::from(Promise::resolve(&value)).await.map_err(|e| describe(&e))
}

fn describe(error: &JsValue) -> String {
    field(error, "message").as_string().or_else(|| error.as_string()).unwrap_or_else(|| "unknown error".into())
}

/// Stripe's own Stripe.js is loaded into the page, as Stripe requires; any other (localstripe's
/// in development) runs in a frame of its own inside the card entry, because localstripe's
/// declares a global `Element` class that would shadow the DOM's for the whole page (and break
/// every `instanceof Element` check, the router's included).
fn runs_in_page(js_url: &str) -> bool {
    js_url.starts_with("https://js.stripe.com/")
}

/// Loads Stripe.js (from this server's settings) and mounts a card element in the warp.
async fn mount_card() -> Result<CardEntry, String> {
    let settings = get_stripe_settings().await.map_err(|e| e.to_string())?;
    let target = element(".card-entry").ok_or("no place for the card entry")?;
    target.set_inner_html("");
    let (realm, mount_at): (JsValue, JsValue) = if runs_in_page(&settings.js_url) {
        if Reflect::get(&window(), &"Stripe".into()).map(|s| s.is_undefined()).unwrap_or(true) {
            load_script(&document(), &settings.js_url).await?;
        }
        (window().into(), target.into())
    } else {
        card_frame(&target, &settings.js_url).await?
    };
    let constructor = Reflect::get(&realm, &"Stripe".into())
        .ok()
        .filter(|s| s.is_function())
        .map(|s| s.unchecked_into::<Function>())
        .ok_or("Stripe.js did not load")?;
    let stripe = constructor.call1(&JsValue::NULL, &settings.publishable_key.into()).map_err(|e| describe(&e))?;
    let elements = call(&stripe, "elements", &[])?;
    let card = call(&elements, "create", &["card".into()])?;
    call(&card, "mount", &[mount_at])?;
    Ok(CardEntry { stripe, card })
}

/// Styles of the card frame's inputs (the page's styles do not reach into the frame).
const CARD_FRAME_STYLE: &str = "body{margin:0;font:14px system-ui,sans-serif;color:#e2e8f0}\
    span{display:none}input{box-sizing:border-box;margin:0 4px 4px 0;padding:6px;border-radius:6px;\
    border:1px solid #475569;background:#0b1024;color:inherit;width:70px}\
    input[placeholder=number]{width:100%}";

/// A frame in the card entry with the Stripe.js at `js_url` loaded into it; returns the frame's
/// window (where `Stripe` lives) and the element to mount the card in.
async fn card_frame(target: &HtmlElement, js_url: &str) -> Result<(JsValue, JsValue), String> {
    let frame: web_sys::HtmlIFrameElement =
        document().create_element("iframe").map_err(|e| describe(&e))?.unchecked_into();
    frame.set_title("Card details");
    frame.set_class_name("card-frame");
    target.append_child(&frame).map_err(|e| describe(&e))?;
    let inner = frame.content_document().ok_or("the card frame has no document")?;
    let style = inner.create_element("style").map_err(|e| describe(&e))?;
    style.set_text_content(Some(CARD_FRAME_STYLE));
    inner.head().ok_or("the card frame has no head")?.append_child(&style).map_err(|e| describe(&e))?;
    load_script(&inner, js_url).await?;
    let realm: JsValue = frame.content_window().ok_or("the card frame has no window")?.into();
    let body: JsValue = inner.body().ok_or("the card frame has no body")?.into();
    Ok((realm, body))
}

/// Adds a script to `doc` and waits for it to run.
async fn load_script(doc: &web_sys::Document, url: &str) -> Result<(), String> {
    // Created by `doc`, so possibly of another realm: typed without `instanceof`.
    let script: HtmlElement = doc.create_element("script").map_err(|e| describe(&e))?.unchecked_into();
    let _ = script.set_attribute("src", url);
    let loaded = Promise::new(&mut |resolve, reject| {
        script.set_onload(Some(&resolve));
        script.set_onerror(Some(&reject));
    });
    doc.head().ok_or("no document head")?.append_child(&script).map_err(|e| describe(&e))?;
    JsFuture::from(loaded).await.map(|_| ()).map_err(|_| format!("{url} did not load"))
}

/// What Stripe.js makes of the card: a PaymentMethod (`createPaymentMethod`), or, where that is
/// not implemented (localstripe's Stripe.js), the card of a token (`createToken`), which Stripe
/// accepts as a payment method too. Stripe's own error message is shown when the card is refused.
async fn payment_method_id(stripe: &JsValue, card: &JsValue) -> Result<String, String> {
    let request = js_sys::Object::new();
    let _ = Reflect::set(&request, &"type".into(), &"card".into());
    let _ = Reflect::set(&request, &"card".into(), card);
    let made = settle(call(stripe, "createPaymentMethod", &[request.into()])?).await?;
    if let Some(id) = field(&field(&made, "paymentMethod"), "id").as_string() {
        return Ok(id);
    }
    if let Some(message) = field(&field(&made, "error"), "message").as_string() {
        return Err(message);
    }
    let tokenized = settle(call(stripe, "createToken", std::slice::from_ref(card))?)
        .await
        .map_err(|_| "Enter the card number, expiry and CVC.".to_string())?;
    if let Some(id) = field(&field(&field(&tokenized, "token"), "card"), "id").as_string() {
        return Ok(id);
    }
    Err(field(&field(&tokenized, "error"), "message")
        .as_string()
        .unwrap_or_else(|| "The card was not accepted; check its number, expiry and CVC.".into()))
}
