//! `/admin`: catalog and stock management for admins. Reads and writes through the admin REST
//! API with the browser's token (`/api/admin/products…`); every change reaches Redis and every
//! connected shopper live, which the server guarantees. Prices are typed in dollars and sent as
//! integer cents.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::money::format_cents;

/// One product as the admin table shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct AdminRow {
    id: String,
    slug: String,
    name: String,
    msrp_cents: i64,
    stock: i64,
    reserved: i64,
    retired: bool,
}

/// What the page shows. (Only the browser fills it in.)
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Catalog {
    Loading,
    /// Not signed in as an admin, or the server could not be read: the words to show.
    Unavailable(String),
    Ready(Vec<AdminRow>),
}

/// The catalog admin as a lazily loaded route: built with `cargo leptos build --split`, its code
/// is a chunk of its own that only an operator's browser fetches.
pub struct AdminRoute;

#[leptos_router::lazy_route]
impl leptos_router::LazyRoute for AdminRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <AdminPage/> }.into_any()
    }
}

/// The admin page: the catalog table (edit name and price, set stock, retire) and a form to
/// create a product.
#[component]
pub fn AdminPage() -> impl IntoView {
    let catalog = RwSignal::new(Catalog::Loading);
    let message = RwSignal::new(String::new());
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(browser::reload(catalog));
        #[cfg(not(feature = "hydrate"))]
        let _ = catalog;
    });
    let on_create = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(browser::create(catalog, message));
    };
    let on_table_click = move |event: leptos::ev::MouseEvent| {
        #[cfg(feature = "hydrate")]
        browser::row_action(&event, catalog, message);
        #[cfg(not(feature = "hydrate"))]
        let _ = (event, message);
    };
    view! {
        <Title text=crate::page_title("Catalog admin".into())/>
        <section class="admin">
            <h1>"Catalog admin"</h1>
            <p class="admin-message" role="status" data-testid="admin-message">{message}</p>
            {move || match catalog.get() {
                Catalog::Loading => view! { <p>"Loading the catalog…"</p> }.into_any(),
                Catalog::Unavailable(why) => view! {
                    <p role="alert">{why}" "<a href="/login">"Sign in"</a></p>
                }.into_any(),
                Catalog::Ready(rows) => view! {
                    <table class="admin-table" on:click=on_table_click>
                        <thead><tr>
                            <th>"Product"</th><th>"List price ($)"</th><th>"Stock"</th><th>"Reserved"</th><th></th>
                        </tr></thead>
                        <tbody>
                            {rows.into_iter().map(|row| view! { <AdminProductRow row=row/> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
            <form class="admin-create" on:submit=on_create>
                <h2>"New product"</h2>
                <label>"Slug "<input name="slug" required pattern="[a-z0-9]+(-[a-z0-9]+)*" placeholder="star-lamp"/></label>
                <label>"Name "<input name="name" required maxlength="200"/></label>
                <label>"Description "<input name="description"/></label>
                <label>"List price ($) "<input name="msrp" required inputmode="decimal" placeholder="49.99"/></label>
                <label>"Stock "<input name="stock" type="number" min="0" max="1000000" value="10" required/></label>
                <button type="submit">"Create"</button>
            </form>
        </section>
    }
}

#[component]
fn AdminProductRow(row: AdminRow) -> impl IntoView {
    let price = format_cents(row.msrp_cents).trim_start_matches('$').replace(',', "");
    view! {
        <tr data-product-id=row.id.clone() data-slug=row.slug.clone() class:retired=row.retired>
            <td><input name="name" value=row.name.clone() aria-label=format!("Name of {}", row.slug) disabled=row.retired/></td>
            <td><input name="msrp" value=price inputmode="decimal" aria-label=format!("List price of {}", row.slug) disabled=row.retired/></td>
            <td><input name="stock" type="number" min="0" value=row.stock aria-label=format!("Stock of {}", row.slug) disabled=row.retired/></td>
            <td>{row.reserved}</td>
            <td class="admin-actions">
                {if row.retired {
                    view! { <span>"Retired"</span> }.into_any()
                } else {
                    view! {
                        <button type="button" data-action="save">"Save"</button>
                        <button type="button" data-action="stock">"Set stock"</button>
                        <button type="button" data-action="retire">"Retire"</button>
                    }.into_any()
                }}
            </td>
        </tr>
    }
}

/// The browser side: REST calls with the stored token.
#[cfg(feature = "hydrate")]
mod browser {
    use leptos::prelude::*;
    use wasm_bindgen::{JsCast, JsValue};
    use web_sys::{Element, HtmlInputElement};

    use super::{AdminRow, Catalog};
    use crate::api::AdminProducts;
    use crate::money::parse_dollars;
    use crate::session::{api, call, json_object, message_or, Answer};

    /// Reads the whole catalog (`GET /api/admin/products`).
    pub async fn reload(catalog: RwSignal<Catalog>) {
        catalog.set(match call::<AdminProducts>("GET", "/api/admin/products", None).await {
            Ok(Answer::Done(answer)) => Catalog::Ready(
                answer
                    .products
                    .into_iter()
                    .map(|p| AdminRow {
                        id: p.product_id,
                        slug: p.slug,
                        name: p.name,
                        msrp_cents: p.msrp_cents,
                        stock: i64::from(p.stock_count),
                        reserved: i64::from(p.reserved_count),
                        retired: p.retired,
                    })
                    .collect(),
            ),
            Ok(Answer::Refused(401 | 403, _)) => {
                Catalog::Unavailable("This page is for admins: sign in with an admin account.".into())
            }
            Ok(Answer::Refused(status, _)) => {
                Catalog::Unavailable(format!("The catalog could not be loaded ({status})."))
            }
            Err(why) => Catalog::Unavailable(format!("The catalog could not be loaded: {why}.")),
        });
    }

    fn input(scope: &Element, name: &str) -> String {
        scope
            .query_selector(&format!("input[name=\"{name}\"]"))
            .ok()
            .flatten()
            .and_then(|i| i.dyn_into::<HtmlInputElement>().ok())
            .map(|i| i.value())
            .unwrap_or_default()
    }

    /// Sends one change; on success says `done` and reloads, otherwise shows the server's words.
    async fn change(
        method: &str,
        path: String,
        body: Result<Option<String>, String>,
        done: String,
        catalog: RwSignal<Catalog>,
        message: RwSignal<String>,
    ) {
        let body = match body {
            Ok(body) => body,
            Err(why) => return message.set(why),
        };
        message.set("Saving…".into());
        match api(method, &path, body.as_deref()).await {
            Ok((200 | 201, _)) => {
                message.set(done);
                reload(catalog).await;
            }
            Ok((status, json)) => message.set(message_or(&json, status)),
            Err(why) => message.set(format!("The change did not reach the server: {why}.")),
        }
    }

    fn cents(text: &str) -> Result<i64, String> {
        parse_dollars(text).ok_or_else(|| format!("\"{text}\" is not a price: type dollars, such as 49.99."))
    }

    fn stock(text: &str) -> Result<i64, String> {
        text.trim().parse::<i64>().map_err(|_| format!("\"{text}\" is not a stock count: type a whole number."))
    }

    /// Save, Set stock or Retire on a table row.
    pub fn row_action(event: &web_sys::MouseEvent, catalog: RwSignal<Catalog>, message: RwSignal<String>) {
        let Some(target) = crate::dom::event_element(event) else { return };
        let Some(button) = target.closest("button[data-action]").ok().flatten() else { return };
        let Some(row) = button.closest("tr[data-product-id]").ok().flatten() else { return };
        let id = row.get_attribute("data-product-id").unwrap_or_default();
        let slug = row.get_attribute("data-slug").unwrap_or_default();
        let path = format!("/api/admin/products/{id}");
        let (method, path, body, done) = match button.get_attribute("data-action").as_deref() {
            Some("save") => {
                let name = input(&row, "name");
                let body = cents(&input(&row, "msrp"))
                    .and_then(|c| json_object(&[("name", name.into()), ("msrpCents", JsValue::from_f64(c as f64))]))
                    .map(Some);
                ("PATCH", path, body, format!("Saved {slug}."))
            }
            Some("stock") => {
                let body = stock(&input(&row, "stock"))
                    .and_then(|n| json_object(&[("stockCount", JsValue::from_f64(n as f64))]))
                    .map(Some);
                ("PUT", format!("{path}/stock"), body, format!("Stock of {slug} set."))
            }
            Some("retire") => ("DELETE", path, Ok(None), format!("{slug} retired: it leaves the Gravity Well.")),
            _ => return,
        };
        leptos::task::spawn_local(change(method, path, body, done, catalog, message));
    }

    /// The "New product" form.
    pub async fn create(catalog: RwSignal<Catalog>, message: RwSignal<String>) {
        let Some(form) = document().query_selector(".admin-create").ok().flatten() else { return };
        let slug = input(&form, "slug");
        let body = cents(&input(&form, "msrp")).and_then(|msrp| {
            let count = stock(&input(&form, "stock"))?;
            json_object(&[
                ("slug", slug.clone().into()),
                ("name", input(&form, "name").into()),
                ("description", input(&form, "description").into()),
                ("msrpCents", JsValue::from_f64(msrp as f64)),
                ("stockCount", JsValue::from_f64(count as f64)),
            ])
            .map(Some)
        });
        change("POST", "/api/admin/products".into(), body, format!("Created {slug}."), catalog, message).await;
    }
}
