//! `/admin/orders`: the orders desk for admins. Every order, newest first, 50 a page, filtered by
//! status and by email; an order opens with its lines at frozen prices, totals, the PaymentIntent
//! id, its refunds and a timeline, and can be refunded there: a line (optionally back in stock),
//! an amount in dollars, or whatever is left. Reads and writes go through the admin REST API
//! (`/api/admin/orders…`); answers are read into the typed structs below.

use leptos::prelude::*;
use leptos_meta::Title;
use serde::Deserialize;

use crate::api::OrderStatus;
use crate::money::format_cents;
use crate::pages::order_status_words;

/// One row of the list (`GET /api/admin/orders`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeskRow {
    order_id: String,
    email: String,
    status: String,
    total_cents: i64,
    refunded_cents: i64,
    created_at: String,
}

/// A page of the list.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeskPage {
    orders: Vec<DeskRow>,
    page: i64,
    has_more: bool,
}

/// A line at its frozen price.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeskLine {
    product_id: String,
    quantity: i64,
    unit_price_cents: i64,
}

/// One refund.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeskRefund {
    amount_cents: i64,
    source: String,
    restocked: bool,
    created_at: String,
}

/// One moment of the timeline.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeskMoment {
    event: String,
    at: String,
    amount_cents: Option<i64>,
}

/// An order in full (`GET /api/admin/orders/{id}`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeskOrder {
    // The list row's fields, read one by one: `#[serde(flatten)]` would buffer the whole answer
    // through serde's generic content type, which costs the browser bundle more code.
    order_id: String,
    email: String,
    status: String,
    total_cents: i64,
    refunded_cents: i64,
    items: Vec<DeskLine>,
    payment_intent_id: Option<String>,
    failure_reason: Option<String>,
    refunds: Vec<DeskRefund>,
    timeline: Vec<DeskMoment>,
}

/// An RFC 3339 time as `2026-12-02 05:00:01 UTC` (the server's times are UTC).
fn short_time(iso: &str) -> String {
    match iso.get(..19) {
        Some(seconds) if iso.ends_with('Z') || iso.ends_with("+00:00") => format!("{} UTC", seconds.replace('T', " ")),
        _ => iso.to_string(),
    }
}

/// A timeline event in words.
fn moment_words(event: &str) -> &'static str {
    match event {
        "quoted" => "Prices frozen",
        "charged" => "Charge started",
        "authentication_requested" => "Bank asked for authentication",
        "authenticated" => "Bank confirmed",
        "paid" => "Paid",
        "failed" => "Failed",
        "refunded" => "Refunded",
        _ => "Event",
    }
}

/// What the list shows. (Only the browser fills it in.)
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Listing {
    Loading,
    /// Not an admin, or the server could not be read: the words to show.
    Unavailable(String),
    Ready(DeskPage),
}

/// The filters and page the list was asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeskQuery {
    status: String,
    email: String,
    page: i64,
}

impl DeskQuery {
    /// The list's URL: the filters percent-encoded.
    pub fn path(&self) -> String {
        let mut path = format!("/api/admin/orders?page={}", self.page.max(1));
        if !self.status.is_empty() {
            path += &format!("&status={}", encode(&self.status));
        }
        if !self.email.trim().is_empty() {
            path += &format!("&email={}", encode(self.email.trim()));
        }
        path
    }
}

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// The orders desk as a lazily loaded route: built with `cargo leptos build --split`, its code is
/// a chunk of its own that only an operator's browser fetches.
pub struct OrdersDeskRoute;

#[leptos_router::lazy_route]
impl leptos_router::LazyRoute for OrdersDeskRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <OrdersDeskPage/> }.into_any()
    }
}

/// The orders desk page.
#[component]
pub fn OrdersDeskPage() -> impl IntoView {
    let listing = RwSignal::new(Listing::Loading);
    let query = RwSignal::new(DeskQuery { page: 1, ..DeskQuery::default() });
    let open = RwSignal::new(None::<DeskOrder>);
    let message = RwSignal::new(String::new());
    Effect::new(move |_| {
        let asked = query.get();
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(browser::load_list(asked, listing));
        #[cfg(not(feature = "hydrate"))]
        let _ = (asked, listing);
    });
    let on_filter = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        #[cfg(feature = "hydrate")]
        query.set(browser::read_filters());
    };
    let turn = move |by: i64| query.update(|q| q.page = (q.page + by).max(1));
    let on_open = move |id: String| {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(browser::load_order(id, open, message));
        #[cfg(not(feature = "hydrate"))]
        let _ = (id, open, message);
    };
    view! {
        <Title text=crate::page_title("Orders desk".into())/>
        <section class="admin orders-desk">
            <h1>"Orders desk"</h1>
            <DeskFilters on_filter=on_filter/>
            <p class="admin-message" role="status" data-testid="desk-message">{message}</p>
            <DeskListing listing=listing turn=turn on_open=on_open/>
            {move || open.get().map(|order| view! { <OrderPanel order=order open=open message=message listing=listing query=query/> })}
        </section>
    }
}

/// The status and email filters.
#[component]
fn DeskFilters(on_filter: impl Fn(leptos::ev::SubmitEvent) + 'static) -> impl IntoView {
    view! {
        <form class="desk-filters" on:submit=on_filter>
            <label>"Status "
                <select name="status">
                    <option value="">"All"</option>
                    {OrderStatus::ALL
                        .into_iter()
                        .map(|s| view! { <option value=s.as_str()>{s.words()}</option> })
                        .collect_view()}
                </select>
            </label>
            <label>"Email "<input name="email" type="search" maxlength="254" placeholder="part of an email"/></label>
            <button type="submit" data-testid="desk-filter">"Filter"</button>
        </form>
    }
    .into_any()
}

/// The list of orders and its page buttons.
#[component]
fn DeskListing(
    listing: RwSignal<Listing>,
    turn: impl Fn(i64) + Copy + Send + Sync + 'static,
    on_open: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    move || {
        match listing.get() {
        Listing::Loading => view! { <p>"Loading orders…"</p> }.into_any(),
        Listing::Unavailable(why) => view! {
            <p role="alert">{why}" "<a href="/login">"Sign in"</a></p>
        }.into_any(),
        Listing::Ready(page) => view! {
            <table class="admin-table desk-list">
                <thead><tr>
                    <th>"Placed"</th><th>"Shopper"</th><th>"Status"</th><th>"Total"</th><th>"Refunded"</th><th></th>
                </tr></thead>
                <tbody>
                    {page.orders.into_iter().map(|row| {
                        let id = row.order_id.clone();
                        view! {
                            <tr class="desk-order" data-order-id=row.order_id.clone() data-status=row.status.clone()>
                                <td>{short_time(&row.created_at)}</td>
                                <td>{row.email}</td>
                                <td>{order_status_words(&row.status)}</td>
                                <td>{format_cents(row.total_cents)}</td>
                                <td>{format_cents(row.refunded_cents)}</td>
                                <td><button type="button" data-action="open" on:click=move |_| on_open(id.clone())>"Open"</button></td>
                            </tr>
                        }.into_any()
                    }).collect_view()}
                </tbody>
            </table>
            <nav class="desk-pages" aria-label="Pages">
                <button type="button" disabled=page.page <= 1 on:click=move |_| turn(-1)>"Newer"</button>
                <span>"Page "{page.page}</span>
                <button type="button" disabled=!page.has_more on:click=move |_| turn(1)>"Older"</button>
            </nav>
        }.into_any(),
    }
    }
}

/// One order in full, with its refund controls.
#[component]
fn OrderPanel(
    order: DeskOrder,
    open: RwSignal<Option<DeskOrder>>,
    message: RwSignal<String>,
    listing: RwSignal<Listing>,
    query: RwSignal<DeskQuery>,
) -> impl IntoView {
    let refundable = OrderStatus::parse(&order.status).is_some_and(OrderStatus::is_refundable);
    let id = order.order_id.clone();
    let on_refund = move |event: leptos::ev::MouseEvent| {
        #[cfg(feature = "hydrate")]
        browser::refund_action(&event, id.clone(), open, message, listing, query.get_untracked());
        #[cfg(not(feature = "hydrate"))]
        let _ = (event, &id, open, message, listing, query);
    };
    view! {
        <article class="desk-detail" data-testid="desk-order" data-order-id=order.order_id.clone()
            data-status=order.status.clone() on:click=on_refund>
            <h2>"Order "{order.order_id.clone()}</h2>
            <p>{order.email.clone()}" · "{order_status_words(&order.status)}
               " · total "{format_cents(order.total_cents)}" · refunded "{format_cents(order.refunded_cents)}</p>
            <p>"PaymentIntent: "<code>{order.payment_intent_id.clone().unwrap_or_else(|| "none".into())}</code>
               {order.failure_reason.clone().map(|why| format!(" · failure: {why}"))}</p>
            <table class="admin-table">
                <thead><tr><th>"Product"</th><th>"Units"</th><th>"Frozen price"</th><th>"Refund"</th></tr></thead>
                <tbody>
                    {order.items.iter().map(|line| view! {
                        <tr class="desk-line" data-product-id=line.product_id.clone()>
                            <td><code>{line.product_id.clone()}</code></td>
                            <td>{line.quantity}</td>
                            <td>{format_cents(line.unit_price_cents)}</td>
                            <td>
                                {refundable.then(|| view! {
                                    <input name="quantity" type="number" min="1" max=line.quantity value="1"
                                        aria-label="Units to refund"/>
                                    <label><input name="restock" type="checkbox"/>" back in stock"</label>
                                    <button type="button" data-action="refund-line">"Refund"</button>
                                })}
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            {refundable.then(|| view! {
                <p class="desk-refund">
                    <label>"Amount ($) "<input name="amount" inputmode="decimal" placeholder="5.00"/></label>
                    <button type="button" data-action="refund-amount">"Refund amount"</button>
                    <button type="button" data-action="refund-rest">"Refund the rest"</button>
                </p>
            })}
            <h3>"Timeline"</h3>
            <ol class="desk-timeline">
                {order.timeline.iter().map(|m| view! {
                    <li data-event=m.event.clone()>
                        {short_time(&m.at)}" · "{moment_words(&m.event)}
                        {m.amount_cents.map(|c| format!(" {}", format_cents(c)))}
                    </li>
                }).collect_view()}
            </ol>
            <h3>"Refunds"</h3>
            <ul class="desk-refunds">
                {order.refunds.iter().map(|r| view! {
                    <li>{short_time(&r.created_at)}" · "{format_cents(r.amount_cents)}
                        {if r.source == "stripe" { " · made at Stripe" } else { "" }}
                        {if r.restocked { " · back in stock" } else { "" }}</li>
                }).collect_view()}
            </ul>
        </article>
    }
    .into_any()
}

/// The browser side: REST calls with the stored token.
#[cfg(feature = "hydrate")]
mod browser {
    use leptos::prelude::*;
    use wasm_bindgen::{JsCast, JsValue};
    use web_sys::{Element, HtmlInputElement};

    use super::{DeskOrder, DeskPage, DeskQuery, Listing};
    use crate::money::parse_dollars;
    use crate::session::{api, api_with_headers, decode, json_object};

    /// The filter form's values, from page 1.
    pub fn read_filters() -> DeskQuery {
        let value = |selector: &str| {
            document()
                .query_selector(selector)
                .ok()
                .flatten()
                .and_then(|el| js_sys::Reflect::get(&el, &"value".into()).ok())
                .and_then(|v| v.as_string())
                .unwrap_or_default()
        };
        DeskQuery { status: value(".desk-filters select"), email: value(".desk-filters input"), page: 1 }
    }

    /// Loads a page of the list.
    pub async fn load_list(query: DeskQuery, listing: RwSignal<Listing>) {
        listing.set(match api("GET", &query.path(), None).await {
            Ok((200, json)) => match decode::<DeskPage>(&json) {
                Ok(page) => Listing::Ready(page),
                Err(why) => Listing::Unavailable(format!("The orders could not be read: {why}.")),
            },
            Ok((401 | 403, _)) => {
                Listing::Unavailable("This page is for admins: sign in with an admin account.".into())
            }
            Ok((status, json)) => Listing::Unavailable(crate::session::message_or(&json, status)),
            Err(why) => Listing::Unavailable(format!("The orders could not be loaded: {why}.")),
        });
    }

    /// Opens one order.
    pub async fn load_order(id: String, open: RwSignal<Option<DeskOrder>>, message: RwSignal<String>) {
        match api("GET", &format!("/api/admin/orders/{id}"), None).await {
            Ok((200, json)) => match decode::<DeskOrder>(&json) {
                Ok(order) => open.set(Some(order)),
                Err(why) => message.set(format!("The order could not be read: {why}.")),
            },
            Ok((status, json)) => message.set(crate::session::message_or(&json, status)),
            Err(why) => message.set(format!("The order could not be loaded: {why}.")),
        }
    }

    fn input(scope: &Element, name: &str) -> Option<HtmlInputElement> {
        scope.query_selector(&format!("input[name=\"{name}\"]")).ok().flatten().and_then(|i| i.dyn_into().ok())
    }

    /// Refund a line, an amount, or the rest, from the order panel's buttons. One
    /// Idempotency-Key per press: a retried request never refunds twice.
    pub fn refund_action(
        event: &web_sys::MouseEvent,
        order: String,
        open: RwSignal<Option<DeskOrder>>,
        message: RwSignal<String>,
        listing: RwSignal<Listing>,
        query: DeskQuery,
    ) {
        let Some(target) = crate::dom::event_element(event) else { return };
        let Some(button) = target.closest("button[data-action]").ok().flatten() else { return };
        let body = match button.get_attribute("data-action").as_deref() {
            Some("refund-line") => {
                let Some(row) = button.closest("tr[data-product-id]").ok().flatten() else { return };
                let product = row.get_attribute("data-product-id").unwrap_or_default();
                let quantity = input(&row, "quantity").map(|i| i.value_as_number()).unwrap_or(f64::NAN);
                if !(quantity.is_finite() && quantity >= 1.0 && quantity.fract() == 0.0) {
                    return message.set("Type how many units to refund: a whole number from 1.".into());
                }
                let restock = input(&row, "restock").is_some_and(|i| i.checked());
                let line = js_sys::Object::new();
                let _ = js_sys::Reflect::set(&line, &"productId".into(), &product.into());
                let _ = js_sys::Reflect::set(&line, &"quantity".into(), &JsValue::from_f64(quantity));
                json_object(&[("lines", js_sys::Array::of1(&line).into()), ("restock", restock.into())])
            }
            Some("refund-amount") => {
                let Some(panel) = button.closest(".desk-detail").ok().flatten() else { return };
                let typed = input(&panel, "amount").map(|i| i.value()).unwrap_or_default();
                match parse_dollars(&typed) {
                    Some(cents) if cents > 0 => json_object(&[("amountCents", JsValue::from_f64(cents as f64))]),
                    _ => return message.set(format!("\"{typed}\" is not an amount: type dollars, such as 5.00.")),
                }
            }
            Some("refund-rest") => Ok("{}".into()),
            _ => return,
        };
        let Ok(body) = body else { return };
        leptos::task::spawn_local(async move {
            message.set("Refunding…".into());
            let key = window().crypto().map(|c| c.random_uuid()).unwrap_or_default();
            let path = format!("/api/admin/orders/{order}/refunds");
            match api_with_headers("POST", &path, Some(&body), &[("Idempotency-Key", &key)]).await {
                Ok((200 | 201, json)) => {
                    if let Ok(order) = decode::<DeskOrder>(&json) {
                        message
                            .set(format!("Refunded: {} given back so far.", super::format_cents(order.refunded_cents)));
                        open.set(Some(order));
                    }
                    load_list(query, listing).await;
                }
                Ok((status, json)) => message.set(crate::session::message_or(&json, status)),
                Err(why) => {
                    message.set(format!("The refund did not reach the server ({why}); nothing was refunded twice."))
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_encoded_into_the_list_path() {
        let query = DeskQuery { status: "paid".into(), email: " a+b@x.test ".into(), page: 2 };
        assert_eq!(query.path(), "/api/admin/orders?page=2&status=paid&email=a%2Bb%40x.test");
        assert_eq!(DeskQuery::default().path(), "/api/admin/orders?page=1");
        assert_eq!(encode("%&="), "%25%26%3D");
    }

    #[test]
    fn times_read_as_utc_seconds() {
        assert_eq!(short_time("2026-12-02T05:00:01.123456Z"), "2026-12-02 05:00:01 UTC");
        assert_eq!(short_time("soon"), "soon");
    }

    #[test]
    fn the_servers_order_reads_into_the_typed_desk_order() {
        let json = r#"{"orderId":"o1","email":"a@b.test","status":"partially_refunded","totalCents":1000,
            "refundedCents":250,"createdAt":"2026-12-02T05:00:00Z","items":[{"productId":"p1","quantity":2,
            "unitPriceCents":500}],"paymentIntentId":"pi_1","failureReason":null,"refunds":[{"amountCents":250,
            "source":"admin","restocked":true,"stripeRefundId":"re_1","createdAt":"2026-12-02T05:01:00Z"}],
            "timeline":[{"event":"paid","at":"2026-12-02T05:00:01Z"},{"event":"refunded","at":"2026-12-02T05:01:00Z",
            "amountCents":250}]}"#;
        let order: DeskOrder = serde_json::from_str(json).unwrap();
        assert_eq!(order.refunded_cents, 250);
        assert_eq!(order.items[0].unit_price_cents, 500);
        assert_eq!(order.timeline[1].amount_cents, Some(250));
        assert_eq!(moment_words(&order.timeline[1].event), "Refunded");
    }
}
