//! One component per page.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::OrderStatus;
use crate::catalog::{
    get_catalog, get_price_history, get_product, stock_label, CardSummary, PricePoint, ProductSummary,
};
use crate::escape_html;
use crate::money::format_cents;

/// `/`: the Gravity Well. Every product is a card in a list rendered on the server, so it works
/// without JavaScript. Once hydrated, [`crate::alive`] starts the physics worker and the cards
/// orbit (unless the shopper prefers reduced motion: then the grid stays, with every feature).
#[component]
pub fn GravityWell() -> impl IntoView {
    let catalog = Resource::new(|| (), |_| get_catalog());
    view! {
        <Title text=crate::page_title(String::new())/>
        <section class="gravity-well" aria-label="Products in the Gravity Well">
            <Suspense fallback=|| view! { <p data-testid="syncing" class="syncing" data-syncing="true">"Syncing orbits…"</p> }>
                {move || Suspend::new(async move {
                    match catalog.await {
                        Ok(products) => view! {
                            <p class="well-count">{format!("{} products in orbit", products.len())}</p>
                            <AliveWell/>
                            // One string, not 200 components: hydration takes the server's
                            // cards as they are instead of walking every node of them.
                            <ul class="product-grid" inner_html=cards_markup(&products)></ul>
                        }.into_any(),
                        Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// The live parts around the list: the sync indicator, the paradox banner and the cart orbit.
/// Hidden until the Alive UI starts; its effect (browser only) starts it.
#[component]
fn AliveWell() -> impl IntoView {
    Effect::new(|_| {
        #[cfg(feature = "hydrate")]
        crate::alive::start_soon();
    });
    crate::warp::provide_checkout();
    view! {
        // Both shown by the style only once scripted (`data-syncing`, `data-ready`).
        <p data-testid="syncing" class="syncing" role="status" data-syncing="false">"Syncing orbits…"</p>
        <div class="well-search" data-testid="well-search-box" data-ready="false">
            <label for="well-search">"Find a product"</label>
            <input id="well-search" type="search" data-testid="well-search" placeholder="Name, e.g. lamp"
                autocomplete="off" spellcheck="false" maxlength=physics_worker::view::SEARCH_MAX_CHARS/>
            <p class="well-search-status" role="status" aria-live="polite"></p>
            // In the search's row, so showing it moves nothing on the page.
            <div class="well-zoom" data-testid="well-zoom" role="group" aria-label="Zoom the well">
                <button type="button" data-zoom="in" data-testid="zoom-in">"Zoom in"</button>
                <button type="button" data-zoom="out" data-testid="zoom-out">"Zoom out"</button>
                <button type="button" data-zoom="reset" data-testid="zoom-reset" disabled>"Whole well"</button>
                <span class="well-zoom-hint">"Ctrl + scroll or pinch to zoom; drag empty space to pan."</span>
            </div>
        </div>
        <div data-testid="paradox" class="paradox" role="alert" hidden>
            <p class="paradox-title">"Temporal Paradox"</p>
            <p class="paradox-message"></p>
        </div>
        <aside data-testid="cart-orbit" class="cart-orbit" aria-label="Your cart orbit" data-count="0">
            <p class="cart-count">"Cart orbit"</p>
            <ul class="cart-ring"></ul>
            <crate::warp::CheckoutControls/>
        </aside>
        <crate::warp::WarpPanel/>
    }
}

/// The first cards' images load at once (the first screen); the rest lazily.
const EAGER_IMAGES: usize = 8;

/// The Gravity Well's list items, one product card each: image, name, live price and stock, with
/// the contract's DOM hooks. The link and the Beam button are named by their visible text (screen
/// readers hear the same words sighted shoppers read), the button's with the product's name after
/// it. Every text from the catalog is escaped.
fn cards_markup(products: &[CardSummary]) -> String {
    use std::fmt::Write as _;
    let mut html = String::with_capacity(products.len() * 640);
    for (index, product) in products.iter().enumerate() {
        let eager = index < EAGER_IMAGES;
        let id = escape_html(&product.product_id);
        let name = escape_html(&product.name);
        let (stock_text, stock_class) = stock_label(product.stock_level);
        // Writing into a String cannot fail.
        let _ = write!(
            html,
            "<li class=\"product-card\" data-product-id=\"{id}\" data-price-cents=\"{price}\" data-stock=\"{stock}\">\
             <a href=\"/p/{slug}\" draggable=\"false\">\
             <img src=\"{image}\" alt=\"\" width=\"160\" height=\"160\" draggable=\"false\" loading=\"{loading}\" fetchpriority=\"{priority}\">\
             <h2 class=\"product-name\">{name}</h2>\
             <p class=\"product-price\">{price_text}</p>\
             <p class=\"{stock_class}\">{stock_text}</p></a>\
             <button type=\"button\" class=\"beam\" data-beam=\"{id}\">Beam<span class=\"sr-only beam-target\"> {name} into your cart orbit</span></button></li>",
            price = product.price_current_cents,
            stock = product.stock_level,
            slug = escape_html(&product.slug),
            image = escape_html(&product.image_url),
            loading = if eager { "eager" } else { "lazy" },
            priority = if eager { "high" } else { "auto" },
            price_text = escape_html(&format_cents(product.price_current_cents)),
            stock_class = escape_html(stock_class),
            stock_text = escape_html(&stock_text),
        );
    }
    html
}

/// "12 in stock", "Only 2 left" or "Sold out".
#[component]
fn StockLine(stock: i64) -> impl IntoView {
    let (text, class) = stock_label(stock);
    view! { <p class=class>{text}</p> }
}

/// The shoppers' pages other than the Gravity Well load as wasm chunks of their own (`cargo
/// leptos build --split`): a visit to the well fetches only the well's code. Each route is
/// rendered in full on the server as before.
pub struct ProductRoute;

#[leptos_router::lazy_route]
impl leptos_router::LazyRoute for ProductRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <ProductPage/> }.into_any()
    }
}

/// `/login` as a chunk of its own.
pub struct SignInRoute;

#[leptos_router::lazy_route]
impl leptos_router::LazyRoute for SignInRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <SignInPage register=false/> }.into_any()
    }
}

/// `/register` as a chunk of its own.
pub struct RegisterRoute;

#[leptos_router::lazy_route]
impl leptos_router::LazyRoute for RegisterRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <SignInPage register=true/> }.into_any()
    }
}

/// `/orders` as a chunk of its own.
pub struct OrdersRoute;

#[leptos_router::lazy_route]
impl leptos_router::LazyRoute for OrdersRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <OrdersPage/> }.into_any()
    }
}

/// `/p/{slug}`: one product, with its live price and a chart of its logged prices.
#[component]
pub fn ProductPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.read().get("slug").unwrap_or_default();
    let product = Resource::new(slug, get_product);
    let history = Resource::new(slug, get_price_history);
    // The title is set outside the Suspense, so a lazily loaded page never shows a blank one
    // while its view is being hydrated.
    let title = move || match product.get() {
        Some(Ok(Some(p))) => p.name,
        Some(Ok(None)) => NOT_FOUND_TITLE.to_string(),
        _ => String::new(),
    };
    view! {
        <Title text=move || crate::page_title(title())/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match (product.await, history.await) {
                    (Ok(Some(p)), history) => view! { <ProductDetail product=p history=history.unwrap_or_default()/> }.into_any(),
                    (Ok(None), _) => view! { <NotFound/> }.into_any(),
                    (Err(e), _) => view! { <LoadError message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// How often the product page refreshes its live price and chart.
#[cfg(feature = "hydrate")]
const PRODUCT_REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

#[component]
fn ProductDetail(product: ProductSummary, history: Vec<PricePoint>) -> impl IntoView {
    let live = RwSignal::new(product.clone());
    let points = RwSignal::new(history);
    // In the browser the price and the chart follow the live state.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        {
            let slug = live.get_untracked().slug;
            let refresh = move || {
                let slug = slug.clone();
                leptos::task::spawn_local(async move {
                    if let Ok(Some(fresh)) = get_product(slug.clone()).await {
                        live.set(fresh);
                    }
                    if let Ok(fresh) = get_price_history(slug).await {
                        points.set(fresh);
                    }
                });
            };
            if let Ok(handle) = leptos::leptos_dom::helpers::set_interval_with_handle(refresh, PRODUCT_REFRESH) {
                on_cleanup(move || handle.clear());
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (live, points);
    });
    view! {
        <article class="product-detail" data-product-id=product.product_id.clone()
            data-price-cents=move || live.read().price_current_cents>
            <img src=product.image_url.clone() alt=product.name.clone() width="320" height="320"/>
            <div>
                <h1>{product.name.clone()}</h1>
                <p class="product-price" aria-live="polite">{move || format_cents(live.read().price_current_cents)}
                    {move || {
                        let p = live.read();
                        (p.price_current_cents < p.msrp_cents).then(|| view! { <s class="msrp">{format_cents(p.msrp_cents)}</s> })
                    }}
                </p>
                {move || view! { <StockLine stock=live.read().stock_level/> }}
                <p class="description">{product.description.clone()}</p>
                <PriceChart points=points/>
                <a href="/" class="back">"← Back to the Gravity Well"</a>
            </div>
        </article>
    }
}

/// Chart size in SVG units.
const CHART_WIDTH: f64 = 480.0;
const CHART_HEIGHT: f64 = 160.0;

/// The logged prices as a line (SVG, drawn on the server and redrawn as new prices are logged).
#[component]
fn PriceChart(points: RwSignal<Vec<PricePoint>>) -> impl IntoView {
    let summary = move || {
        let points = points.read();
        match (points.iter().map(|p| p.price_cents).min(), points.iter().map(|p| p.price_cents).max()) {
            (Some(low), Some(high)) => format!(
                "Price history: {} logged prices, from {} to {}; latest {}.",
                points.len(),
                format_cents(low),
                format_cents(high),
                format_cents(points.last().map(|p| p.price_cents).unwrap_or(high))
            ),
            _ => "No prices logged yet.".to_string(),
        }
    };
    view! {
        <figure class="price-chart" data-testid="price-chart" data-points=move || points.read().len()>
            <svg viewBox=format!("0 0 {CHART_WIDTH} {CHART_HEIGHT}") role="img" aria-label=summary
                preserveAspectRatio="none">
                <polyline class="price-line" fill="none" points=move || chart_line(&points.read())/>
            </svg>
            <figcaption>{summary}</figcaption>
        </figure>
    }
}

/// SVG polyline points: time left to right (evenly spaced samples), price bottom to top, with
/// a little headroom so a flat line is not drawn on the border.
fn chart_line(points: &[PricePoint]) -> String {
    let (Some(low), Some(high)) =
        (points.iter().map(|p| p.price_cents).min(), points.iter().map(|p| p.price_cents).max())
    else {
        return String::new();
    };
    let span = ((high - low) as f64).max(1.0);
    let step = CHART_WIDTH / (points.len().max(2) - 1) as f64;
    points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let y = CHART_HEIGHT - 10.0 - (p.price_cents - low) as f64 / span * (CHART_HEIGHT - 20.0);
            format!("{:.1},{:.1}", i as f64 * step, y)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The title of a page that does not exist.
const NOT_FOUND_TITLE: &str = "Lost in space";

/// The 404 page; answers with status 404 when rendered on the server.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::catalog::ssr::set_status(http::StatusCode::NOT_FOUND);
    view! {
        <Title text=crate::page_title(NOT_FOUND_TITLE.into())/>
        <section class="not-found">
            <h1>"404: lost in space"</h1>
            <p>"Nothing orbits at this address."</p>
            <a href="/">"Back to the Gravity Well"</a>
        </section>
    }
}

/// Shown when the catalog cannot be loaded (for example while PostgreSQL is down).
#[component]
fn LoadError(message: String) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::catalog::ssr::set_status(http::StatusCode::SERVICE_UNAVAILABLE);
    view! {
        <section class="load-error" role="alert">
            <h1>"The Gravity Well is out of reach"</h1>
            <p>"We could not load the catalog. Please try again in a moment."</p>
            <details><summary>"Details"</summary><code>{message}</code></details>
        </section>
    }
}

/// `/login` and `/register`: an account, so the cart orbit can be checked out. The guest's cart
/// orbit moves into the account.
#[component]
pub fn SignInPage(register: bool) -> impl IntoView {
    let (message, set_message) = signal(String::new());
    let (title, action, other_href, other_text) = if register {
        ("Create an account", "register", "/login", "Already have an account? Sign in")
    } else {
        ("Sign in", "login", "/register", "New here? Create an account")
    };
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let value = |id: &str| {
                document()
                    .get_element_by_id(id)
                    .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
                    .map(|i| i.value())
                    .unwrap_or_default()
            };
            let (email, password) = (value("email"), value("password"));
            set_message.set("Signing in…".into());
            leptos::task::spawn_local(async move {
                match crate::session::sign_in(action, &email, &password).await {
                    Ok(()) => {
                        let _ = window().location().set_href("/");
                    }
                    Err(why) => set_message.set(why),
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (action, set_message);
    };
    view! {
        <Title text=crate::page_title(title.into())/>
        <section class="auth">
            <h1>{title}</h1>
            <form on:submit=on_submit>
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="email" required/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" required minlength="10"
                    autocomplete=if register { "new-password" } else { "current-password" }/>
                {register.then(|| view! { <p class="hint">"At least 10 characters, mixing letters, digits or symbols."</p> })}
                <button type="submit" data-testid="sign-in">{title}</button>
                <p class="form-message" role="alert">{message}</p>
            </form>
            <a href=other_href>{other_text}</a>
        </section>
    }
}

/// `/orders`: the signed-in shopper's orders, newest first (read with the browser's token).
#[component]
pub fn OrdersPage() -> impl IntoView {
    let (orders, set_orders) = signal(None::<Result<Vec<OrderLine>, String>>);
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            set_orders.set(Some(load_orders().await));
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = set_orders;
    });
    view! {
        <Title text=crate::page_title("Your orders".into())/>
        <section class="orders">
            <h1>"Your orders"</h1>
            {move || match orders.get() {
                None => view! { <p>"Loading your orders…"</p> }.into_any(),
                Some(Err(why)) => view! { <p role="alert">{why}" "<a href="/login">"Sign in"</a></p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! { <p>"No orders yet."</p> }.into_any(),
                Some(Ok(list)) => view! {
                    <ul class="order-list">
                        {list.into_iter().map(|o| view! {
                            <li class="order" data-order-id=o.id.clone() data-status=o.status.clone()>
                                <p><strong>{format_cents(o.total_cents)}</strong>" · "{order_status_words(&o.status)}" · "{o.created_at.clone()}</p>
                                <ul>
                                    {o.items.into_iter().map(|(product, quantity, cents)| view! {
                                        <li data-product-id=product data-unit-price-cents=cents>{format!("{quantity} × {}", format_cents(cents))}</li>
                                    }).collect_view()}
                                </ul>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
        </section>
    }
}

/// An order's status in a shopper's words (the raw status stays in `data-status`).
pub fn order_status_words(status: &str) -> &'static str {
    OrderStatus::parse(status).map_or("status unknown", OrderStatus::words)
}

/// One order as the orders page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderLine {
    id: String,
    status: String,
    total_cents: i64,
    created_at: String,
    /// (product id, quantity, unit price in cents)
    items: Vec<(String, i64, i64)>,
}

#[cfg(feature = "hydrate")]
async fn load_orders() -> Result<Vec<OrderLine>, String> {
    let (status, json) = crate::session::api("GET", "/api/orders", None).await?;
    if status == 401 {
        return Err("Sign in to see your orders.".into());
    }
    if status != 200 {
        return Err(format!("Your orders could not be loaded ({status})."));
    }
    let get =
        |v: &wasm_bindgen::JsValue, k: &str| js_sys::Reflect::get(v, &k.into()).unwrap_or(wasm_bindgen::JsValue::NULL);
    let orders = js_sys::Array::from(&get(&json, "orders"));
    Ok(orders
        .iter()
        .map(|o| OrderLine {
            id: get(&o, "orderId").as_string().unwrap_or_default(),
            status: get(&o, "status").as_string().unwrap_or_default(),
            total_cents: get(&o, "totalCents").as_f64().unwrap_or(0.0) as i64,
            created_at: get(&o, "createdAt").as_string().unwrap_or_default(),
            items: js_sys::Array::from(&get(&o, "items"))
                .iter()
                .map(|i| {
                    (
                        get(&i, "productId").as_string().unwrap_or_default(),
                        get(&i, "quantity").as_f64().unwrap_or(0.0) as i64,
                        get(&i, "unitPriceCents").as_f64().unwrap_or(0.0) as i64,
                    )
                })
                .collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(price_cents: i64) -> PricePoint {
        PricePoint { at: String::new(), price_cents }
    }

    #[test]
    fn the_chart_spans_the_width_and_puts_higher_prices_higher() {
        let line = chart_line(&[point(1_000), point(900), point(1_100)]);
        let coords: Vec<(f64, f64)> = line
            .split(' ')
            .map(|pair| {
                let (x, y) = pair.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        assert_eq!(coords.len(), 3);
        assert_eq!(coords[0].0, 0.0);
        assert_eq!(coords[2].0, CHART_WIDTH);
        assert!(coords[2].1 < coords[0].1 && coords[0].1 < coords[1].1, "{coords:?}");
        assert!(coords.iter().all(|(_, y)| (0.0..=CHART_HEIGHT).contains(y)));
    }

    fn card(name: &str, stock_level: i64) -> CardSummary {
        CardSummary {
            product_id: "0b0e-id".to_string(),
            slug: "lamp".to_string(),
            name: name.to_string(),
            image_url: "/images/lamp.svg".to_string(),
            price_current_cents: 12_345,
            stock_level,
        }
    }

    #[test]
    fn a_card_carries_the_contract_hooks_and_its_words() {
        let html = cards_markup(&[card("Lamp", 12)]);
        for part in [
            r#"<li class="product-card" data-product-id="0b0e-id" data-price-cents="12345" data-stock="12">"#,
            r#"<a href="/p/lamp" draggable="false">"#,
            r#"<h2 class="product-name">Lamp</h2>"#,
            r#"<p class="product-price">$123.45</p>"#,
            r#"<p class="stock">12 in stock</p>"#,
            r#"<button type="button" class="beam" data-beam="0b0e-id">Beam<span class="sr-only beam-target"> Lamp into your cart orbit</span></button></li>"#,
        ] {
            assert!(html.contains(part), "{part} not in {html}");
        }
    }

    #[test]
    fn markup_in_a_product_name_stays_text_on_its_card() {
        let html = cards_markup(&[card(r#"</h2><script>alert("x")</script>"#, 0)]);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains(r#"&lt;/h2&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"#), "{html}");
        assert!(html.contains(r#"<p class="stock stock-out">Sold out</p>"#), "{html}");
    }

    #[test]
    fn only_the_first_screen_of_images_loads_at_once() {
        let products: Vec<CardSummary> = (0..EAGER_IMAGES + 3).map(|_| card("Lamp", 3)).collect();
        let html = cards_markup(&products);
        assert_eq!(html.matches(r#"loading="eager" fetchpriority="high""#).count(), EAGER_IMAGES);
        assert_eq!(html.matches(r#"loading="lazy" fetchpriority="auto""#).count(), 3);
        assert_eq!(html.matches("<li ").count(), EAGER_IMAGES + 3);
    }

    #[test]
    fn every_order_status_has_words() {
        for status in OrderStatus::ALL {
            assert_ne!(order_status_words(status.as_str()), "status unknown", "{status:?}");
        }
        assert_eq!(order_status_words("</li><script>"), "status unknown");
    }

    #[test]
    fn no_points_no_line() {
        assert_eq!(chart_line(&[]), "");
        assert!(!chart_line(&[point(5)]).contains("NaN"));
    }
}
