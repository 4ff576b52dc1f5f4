//! DOM helpers shared by the browser-side modules.

use wasm_bindgen::JsCast;
use web_sys::{Element, Event, HtmlElement, Node};

/// The browser window (these modules only run in one).
pub fn window() -> web_sys::Window {
    web_sys::window().expect("a browser window")
}

/// The page's clock: milliseconds since the Unix epoch (token expiries, countdowns). The
/// worker reads the same origin-based time ([`physics_worker::worker::epoch_now`]).
pub fn epoch_ms() -> f64 {
    js_sys::Date::now()
}

/// Monotonic milliseconds since the page loaded, for animation (never jumps with the wall clock).
pub fn monotonic_ms() -> f64 {
    window().performance().map(|p| p.now()).unwrap_or(0.0)
}

/// The page's document.
pub fn document() -> web_sys::Document {
    window().document().expect("a document")
}

/// The first element matching a CSS selector.
pub fn element(selector: &str) -> Option<HtmlElement> {
    document().query_selector(selector).ok()??.dyn_into().ok()
}

/// The element an event happened on.
///
/// Checked through `Node.nodeType` rather than `instanceof Element`: a script on the page may
/// declare a global `Element` of its own (localstripe's Stripe.js does), and then every
/// `instanceof Element` test, which `dyn_into::<Element>` is, fails for real elements.
pub fn event_element(event: &Event) -> Option<Element> {
    let target = event.target()?;
    let node = target.dyn_ref::<Node>()?;
    (node.node_type() == Node::ELEMENT_NODE).then(|| target.unchecked_into::<Element>())
}
