//! The cart orbit: a token per cart line, orbiting the cart (CSS), each with a remove button.

use physics_worker::shared::MAX_CART_QUANTITY;

use super::{by_test_id, running, Well};
use crate::api::CartAnswer;
use crate::dom::window;
use crate::session::{call, Answer};

/// Adds `quantity` units of product `index` to the cart lines, up to the line cap.
pub(super) fn add(cart: &mut Vec<(u32, u32)>, index: u32, quantity: u32) {
    match cart.iter_mut().find(|(i, _)| *i == index) {
        Some((_, q)) => *q = (*q + quantity).min(MAX_CART_QUANTITY),
        None => cart.push((index, quantity.min(MAX_CART_QUANTITY))),
    }
}

/// Draws the cart orbit from the well's confirmed cart, and tells the worker's painter.
pub(super) fn render(w: &Well) {
    let Some(orbit) = by_test_id("cart-orbit") else { return };
    let Some(ring) = orbit.query_selector(".cart-ring").ok().flatten() else { return };
    let document = window().document().expect("a document");
    ring.set_inner_html("");
    let count: u32 = w.cart.iter().map(|(_, q)| q).sum();
    for (slot, (index, quantity)) in w.cart.iter().enumerate() {
        let Some(card) = w.cards.get(*index as usize).filter(|card| card.element.is_some()) else { continue };
        let Ok(token) = document.create_element("li") else { continue };
        token.set_class_name("cart-token");
        let _ = token.set_attribute("data-cart-product-id", &card.id);
        let _ = token.set_attribute("data-index", &index.to_string());
        let _ = token.set_attribute("style", &format!("--slot:{slot};--slots:{}", w.cart.len().max(1)));
        token.set_inner_html(&format!(
            "<img src=\"{}\" alt=\"\" width=\"36\" height=\"36\"><span class=\"qty\">×{quantity}</span>\
             <button type=\"button\" class=\"drop\" data-drop=\"{index}\" aria-label=\"Remove {} from your cart\">×</button>",
            crate::escape_html(&card.image().unwrap_or_default()),
            crate::escape_html(&card.name())
        ));
        let _ = ring.append_child(&token);
    }
    if let Some(label) = orbit.query_selector(".cart-count").ok().flatten() {
        label.set_text_content(Some(&count_words(count)));
    }
    let _ = orbit.set_attribute("data-count", &count.to_string());
    if w.canvas.is_some() {
        w.send(physics_worker::worker::Command::Cart(w.cart.clone()));
    }
}

/// The cart orbit's label.
fn count_words(count: u32) -> String {
    match count {
        0 => "Cart orbit: empty".to_string(),
        1 => "Cart orbit: 1 item".to_string(),
        n => format!("Cart orbit: {n} items"),
    }
}

/// Reads the confirmed cart from the server (`GET /api/cart`) and redraws the cart orbit.
pub async fn reload_cart() {
    let Some(well) = running() else { return };
    let Ok(Answer::Done(answer)) = call::<CartAnswer>("GET", "/api/cart", None).await else { return };
    let mut w = well.borrow_mut();
    let cart =
        answer.items.iter().filter_map(|item| Some((w.index_of(&item.product_id)? as u32, item.quantity))).collect();
    w.cart = cart;
    render(&w);
}
