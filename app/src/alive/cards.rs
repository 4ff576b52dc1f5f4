//! One [`CardView`] per product: the DOM card under the canvas (for keyboards, screen readers
//! and the DOM painter), its live price and stock, and what its Redshift glitch is made of.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::{CssStyleDeclaration, HtmlElement};

use super::Well;
use crate::api::ProductList;
use crate::catalog::{instability, stock_label, LOW_STOCK, REDSHIFT_FROM};
use crate::money::format_cents;
use crate::session::{call, Answer};

/// A product in the well, as the page shows it.
pub(super) struct CardView {
    /// The product's id.
    pub id: String,
    /// Its DOM card, when the page has one (a product created after the page was rendered
    /// gets one from [`add_new`]).
    pub element: Option<HtmlElement>,
    /// The card's style declaration, kept so a DOM-painter frame makes one call per card moved.
    pub style: Option<CssStyleDeclaration>,
    /// The transform the DOM painter last wrote.
    pub transform: String,
    /// The live price shown, once the first prices arrived.
    pub price_cents: Option<i64>,
    /// The communal mass the DOM painter last showed.
    pub mass_shown: f32,
    /// The product's base mass (from the sync).
    pub base_mass: f32,
    /// Low on stock (one part of the Redshift glitch).
    pub low_stock: bool,
    /// The last price move was fast (another part).
    pub price_jumped: bool,
    /// Interest from other shoppers, 0 to 1 (the third part).
    pub contention: f32,
    /// The glitch level the card shows (written to the DOM only when it changes: with hundreds
    /// of products, rewriting unchanged styles twice a second costs the page real time).
    instability_shown: f32,
}

impl CardView {
    /// The view of product `id` at `index`, with its rendered card if the page has one
    /// (from [`rendered_cards`]).
    pub fn new(id: String, index: usize, base_mass: f32, element: Option<HtmlElement>) -> Self {
        if let Some(card) = &element {
            let _ = card.set_attribute("data-index", &index.to_string());
        }
        let low_stock = element.as_ref().and_then(rendered_stock).is_some_and(|units| units <= LOW_STOCK);
        let style = element.as_ref().map(|card| card.style());
        Self {
            id,
            element,
            style,
            transform: String::new(),
            price_cents: None,
            mass_shown: 0.0,
            base_mass,
            low_stock,
            price_jumped: false,
            contention: 0.0,
            instability_shown: 0.0,
        }
    }

    /// The product's name as its card shows it.
    pub fn name(&self) -> String {
        self.text_of(".product-name")
    }

    /// The card's image address.
    pub fn image(&self) -> Option<String> {
        self.element.as_ref()?.query_selector("img").ok()??.get_attribute("src")
    }

    fn text_of(&self, selector: &str) -> String {
        let node = self.element.as_ref().and_then(|card| card.query_selector(selector).ok().flatten());
        node.and_then(|n| n.text_content()).unwrap_or_default()
    }

    /// Shows the Redshift glitch at the level its three parts give ([`instability`]), when that
    /// level changed.
    pub fn show_instability(&mut self) {
        let Some(card) = &self.element else { return };
        let level = instability(self.price_jumped, self.low_stock, self.contention);
        if (level - self.instability_shown).abs() < 0.005 {
            return;
        }
        self.instability_shown = level;
        let _ = card.style().set_property("--instability", &format!("{level:.2}"));
        let _ = if level >= REDSHIFT_FROM {
            card.class_list().add_1("redshift")
        } else {
            card.class_list().remove_1("redshift")
        };
    }

    /// The card shakes: a gesture on it was refused.
    pub fn flash_refused(&self) {
        let Some(card) = self.element.clone() else { return };
        let _ = card.class_list().add_1("refused");
        super::after_ms(600.0, move || drop(card.class_list().remove_1("refused")));
    }
}

/// New live prices (cents by index): each card that changed shows its price, and a move of 1 %
/// or more in one update feeds its Redshift glitch.
pub(super) fn update_prices(cards: &mut [CardView], prices: &[i64]) {
    for (card, &cents) in cards.iter_mut().zip(prices) {
        let previous = card.price_cents.replace(cents);
        if previous == Some(cents) {
            continue;
        }
        let Some(element) = &card.element else { continue };
        let _ = element.set_attribute("data-price-cents", &cents.to_string());
        if let Some(price) = element.query_selector(".product-price").ok().flatten() {
            price.set_text_content(Some(&format_cents(cents)));
        }
        card.price_jumped = previous.is_some_and(|p| physics_worker::view::price_jumped(p, cents));
        card.show_instability();
    }
}

/// New stock levels: the card's stock line, and low stock for the Redshift glitch.
pub(super) fn update_stock(cards: &mut [CardView], levels: &[(u32, i64)]) {
    for &(index, units) in levels {
        let Some(card) = cards.get_mut(index as usize) else { continue };
        let Some(element) = &card.element else { continue };
        let (text, class) = stock_label(units);
        let _ = element.set_attribute("data-stock", &units.to_string());
        if let Some(line) = element.query_selector(".stock").ok().flatten() {
            line.set_class_name(class);
            line.set_text_content(Some(&text));
        }
        card.low_stock = units <= LOW_STOCK;
        card.show_instability();
    }
}

/// The list's rendered cards with their product ids, in the list's order, read in one pass (a
/// lookup per product would walk the document once per product).
pub(super) fn rendered_cards(container: &HtmlElement) -> Vec<(String, HtmlElement)> {
    let Ok(rendered) = container.query_selector_all("[data-product-id]") else { return Vec::new() };
    (0..rendered.length())
        .filter_map(|k| rendered.item(k))
        .filter_map(|node| {
            let card: HtmlElement = node.unchecked_into();
            Some((card.get_attribute("data-product-id")?, card))
        })
        .collect()
}

/// The position of `id` in `ids`, looked for first at `hint`: the list is rendered in the
/// catalog's order, so a product is almost always where its index says, and matching a whole
/// catalog stays linear.
fn position_near<'a>(mut ids: impl Iterator<Item = &'a str> + Clone, id: &str, hint: usize) -> Option<usize> {
    if ids.clone().nth(hint) == Some(id) {
        return Some(hint);
    }
    ids.position(|other| other == id)
}

/// Product `id`'s card in [`rendered_cards`], for the product at `index` in the catalog.
pub(super) fn rendered_card<'a>(
    rendered: &'a [(String, HtmlElement)],
    id: &str,
    index: usize,
) -> Option<&'a HtmlElement> {
    let at = position_near(rendered.iter().map(|(card_id, _)| card_id.as_str()), id, index)?;
    Some(&rendered[at].1)
}

/// The stock level a rendered card shows (its `data-stock`).
fn rendered_stock(card: &HtmlElement) -> Option<i64> {
    card.get_attribute("data-stock")?.parse().ok()
}

/// Cards of products that left the catalog (an admin retired them) leave the well; `rendered` is
/// [`rendered_cards`], `cards` the catalog's products.
pub(super) fn hide_retired(rendered: &[(String, HtmlElement)], cards: &[CardView]) {
    for (k, (id, card)) in rendered.iter().enumerate() {
        let live = position_near(cards.iter().map(|card| card.id.as_str()), id, k).is_some();
        let _ = if live { card.remove_attribute("hidden") } else { card.set_attribute("hidden", "") };
    }
}

/// Cards for products that joined the catalog after the page was rendered (an admin created
/// them): copies of a rendered card, filled in from `GET /api/products`, so the card markup
/// stays defined in one place (the `ProductCard` component).
pub(super) async fn add_new(well: Rc<RefCell<Well>>) {
    let Ok(Answer::Done(list)) = call::<ProductList>("GET", "/api/products", None).await else { return };
    let mut w = well.borrow_mut();
    let Some(template) = w.cards.iter().find_map(|card| card.element.clone()) else { return };
    for product in list.products {
        let id = product.product_id;
        let Some(index) = w.index_of(&id) else { continue };
        if w.cards[index].element.is_some() {
            continue;
        }
        let Ok(card) = template.clone_node_with_deep(true) else { continue };
        let card: HtmlElement = card.unchecked_into();
        let (name, slug) = (product.name, product.slug);
        let (cents, units) = (product.price_current_cents, product.stock_level);
        let (stock_text, stock_class) = stock_label(units);
        let _ = card.set_attribute("data-product-id", &id);
        let _ = card.set_attribute("data-price-cents", &cents.to_string());
        let _ = card.set_attribute("data-stock", &units.to_string());
        let _ = card.set_attribute("data-index", &index.to_string());
        let _ = card.remove_attribute("style");
        let set = |selector: &str, attribute: Option<&str>, value: &str| {
            if let Some(el) = card.query_selector(selector).ok().flatten() {
                match attribute {
                    Some(attribute) => drop(el.set_attribute(attribute, value)),
                    None => el.set_text_content(Some(value)),
                }
            }
        };
        set("a", Some("href"), &format!("/p/{slug}"));
        set("img", Some("src"), &product.image_url);
        set(".product-name", None, &name);
        set(".product-price", None, &format_cents(cents));
        set(".stock", Some("class"), stock_class);
        set(".stock", None, &stock_text);
        set("button[data-beam]", Some("data-beam"), &id);
        set(".beam-target", None, &format!(" {name} into your cart orbit"));
        let _ = w.container.append_child(&card);
        let view = &mut w.cards[index];
        view.low_stock = units <= LOW_STOCK;
        view.style = Some(card.style());
        view.element = Some(card);
    }
    drop(w);
    // The painter learns the new cards' names and stock.
    super::painting::send_products(&well);
}
