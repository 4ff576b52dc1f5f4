//! DOM helpers shared by the browser-side modules.

use wasm_bindgen::JsCast;
use web_sys::{Element, Event, Node};

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
