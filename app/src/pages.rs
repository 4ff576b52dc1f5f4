//! One component per page.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::catalog::{get_catalog, get_product, ProductSummary};
use crate::money::format_cents;

/// `/`: the Gravity Well. Every product is a card in a list rendered on the server, so it works
/// without JavaScript. Once hydrated, [`crate::alive`] starts the physics worker and the cards
/// orbit (unless the shopper prefers reduced motion: then the grid stays, with every feature).
#[component]
pub fn GravityWell() -> impl IntoView {
    let catalog = Resource::new(|| (), |_| get_catalog());
    view! {
        <Title text=""/>
        <section class="gravity-well" aria-label="Products in the Gravity Well">
            <Suspense fallback=|| view! { <p data-testid="syncing" class="syncing">"Syncing orbits…"</p> }>
                {move || Suspend::new(async move {
                    match catalog.await {
                        Ok(products) => view! {
                            <p class="well-count">{format!("{} products in orbit", products.len())}</p>
                            <AliveWell/>
                            <ul class="product-grid">
                                {products.into_iter().map(|p| view! { <ProductCard product=p/> }).collect_view()}
                            </ul>
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
        crate::alive::start();
    });
    view! {
        <p data-testid="syncing" class="syncing" role="status" hidden>"Syncing orbits…"</p>
        <div data-testid="paradox" class="paradox" role="alert" hidden>
            <p class="paradox-title">"Temporal Paradox"</p>
            <p class="paradox-message"></p>
        </div>
        <aside data-testid="cart-orbit" class="cart-orbit" aria-label="Your cart orbit" data-count="0">
            <p class="cart-count">"Cart orbit"</p>
            <ul class="cart-ring"></ul>
        </aside>
    }
}

/// One product card: image, name, live price and stock, with the contract's DOM hooks.
#[component]
fn ProductCard(product: ProductSummary) -> impl IntoView {
    let href = format!("/p/{}", product.slug);
    let label = format!("{}, {}", product.name, format_cents(product.price_current_cents));
    let beam_label = format!("Beam {} into your cart orbit", product.name);
    view! {
        <li class="product-card" data-product-id=product.product_id.clone()
            data-price-cents=product.price_current_cents>
            <a href=href aria-label=label draggable="false">
                <img src=product.image_url.clone() alt="" width="160" height="160" loading="lazy" draggable="false"/>
                <h2 class="product-name">{product.name.clone()}</h2>
                <p class="product-price">{format_cents(product.price_current_cents)}</p>
                <StockLine stock=product.stock_level/>
            </a>
            <button type="button" class="beam" data-beam=product.product_id.clone() aria-label=beam_label>"Beam"</button>
        </li>
    }
}

/// "12 in stock", "Only 2 left" or "Sold out".
#[component]
fn StockLine(stock: i64) -> impl IntoView {
    let (text, class) = match stock {
        s if s <= 0 => ("Sold out".to_string(), "stock stock-out"),
        s if s <= 5 => (format!("Only {s} left"), "stock stock-low"),
        s => (format!("{s} in stock"), "stock"),
    };
    view! { <p class=class>{text}</p> }
}

/// `/p/{slug}`: one product.
#[component]
pub fn ProductPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.read().get("slug").unwrap_or_default();
    let product = Resource::new(slug, get_product);
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match product.await {
                    Ok(Some(p)) => view! { <ProductDetail product=p/> }.into_any(),
                    Ok(None) => view! { <NotFound/> }.into_any(),
                    Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ProductDetail(product: ProductSummary) -> impl IntoView {
    view! {
        <Title text=product.name.clone()/>
        <article class="product-detail" data-product-id=product.product_id.clone()
            data-price-cents=product.price_current_cents>
            <img src=product.image_url.clone() alt=product.name.clone() width="320" height="320"/>
            <div>
                <h1>{product.name.clone()}</h1>
                <p class="product-price">{format_cents(product.price_current_cents)}
                    {(product.price_current_cents < product.msrp_cents).then(|| view! {
                        <s class="msrp">{format_cents(product.msrp_cents)}</s>
                    })}
                </p>
                <StockLine stock=product.stock_level/>
                <p class="description">{product.description.clone()}</p>
                <a href="/" class="back">"← Back to the Gravity Well"</a>
            </div>
        </article>
    }
}

/// The 404 page; answers with status 404 when rendered on the server.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::catalog::ssr::set_status(http::StatusCode::NOT_FOUND);
    view! {
        <Title text="Lost in space"/>
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
        <Title text=title/>
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
        <Title text="Your orders"/>
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
                                <p><strong>{format_cents(o.total_cents)}</strong>" · "{o.status.clone()}" · "{o.created_at.clone()}</p>
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
