//! The page's side of the painted well: a `<canvas>` over the card list whose control goes to
//! the physics worker, the cards' names, stock and decoded images sent after it, and the
//! worker's last layout kept for hit tests and the test hook `window.__swiftcartLayout()`.
//!
//! The DOM cards stay in the document under the canvas (for keyboards, screen readers and the
//! no-JavaScript page); only the picture is the worker's.

use gloo_worker::WorkerBridge;
use js_sys::{Array, Object, Reflect};
use physics_worker::codec::{can_transfer, post_transfer};
use physics_worker::view::{hit_test, LAYOUT_STRIDE};
use physics_worker::worker::{Command, PhysicsWorker};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{HtmlCanvasElement, HtmlElement, HtmlImageElement};

use crate::dom::{document, window};

/// Images decoded per batch before they are handed to the worker.
const IMAGES_PER_BATCH: usize = 16;
/// Decoded image size in device pixels (cards draw them at most about 120 CSS px).
const IMAGE_PIXELS: u32 = 240;

/// Whether the page was asked for the DOM painter (`?painter=dom`: comparisons, tests).
pub fn dom_painter_asked() -> bool {
    window().location().search().unwrap_or_default().contains("painter=dom")
}

/// Whether this browser can hand a canvas to the worker (and the page did not ask for the DOM
/// painter with `?painter=dom`).
pub fn supported() -> bool {
    let forced_dom = dom_painter_asked();
    let global = js_sys::global();
    let has = |object: &JsValue, name: &str| Reflect::has(object, &name.into()).unwrap_or(false);
    let prototype = Reflect::get(&global, &"HTMLCanvasElement".into())
        .and_then(|c| Reflect::get(&c, &"prototype".into()))
        .unwrap_or(JsValue::UNDEFINED);
    !forced_dom && can_transfer() && has(&global, "OffscreenCanvas") && has(&prototype, "transferControlToOffscreen")
}

/// The well's size in CSS px and the device pixel ratio.
pub fn viewport(container: &HtmlElement) -> (f32, f32, f32) {
    let rect = container.get_bounding_client_rect();
    (rect.width() as f32, rect.height() as f32, window().device_pixel_ratio() as f32)
}

/// Puts a canvas over the cards and hands its control to the worker. `None` when the browser
/// refused at any step (the DOM painter carries on).
pub fn attach(container: &HtmlElement, bridge: &WorkerBridge<PhysicsWorker>) -> Option<HtmlCanvasElement> {
    let canvas: HtmlCanvasElement = document().create_element("canvas").ok()?.dyn_into().ok()?;
    canvas.set_class_name("well-canvas");
    let _ = canvas.set_attribute("data-testid", "well-canvas");
    // The cards under it are the accessible well; the canvas is a picture of them.
    let _ = canvas.set_attribute("aria-hidden", "true");
    container.append_child(&canvas).ok()?;
    let offscreen = canvas.transfer_control_to_offscreen().ok()?;
    let payload = Object::new();
    let _ = Reflect::set(&payload, &"canvas".into(), &offscreen);
    if !post_transfer("canvas", &payload, &Array::of1(&offscreen)) {
        canvas.remove();
        return None;
    }
    let (width, height, dpr) = viewport(container);
    bridge.send(Command::AttachCanvas { width, height, dpr });
    Some(canvas)
}

/// What the canvas cards show that the wire does not carry, read from the DOM cards.
pub fn send_products<'a>(
    cards: impl IntoIterator<Item = Option<&'a HtmlElement>>,
    bridge: &WorkerBridge<PhysicsWorker>,
) {
    let products = cards
        .into_iter()
        .map(|card| {
            let Some(card) = card else { return (String::new(), 0) };
            let name =
                card.query_selector(".product-name").ok().flatten().and_then(|n| n.text_content()).unwrap_or_default();
            let stock = card.get_attribute("data-stock").and_then(|s| s.parse().ok()).unwrap_or(0);
            (name, stock)
        })
        .collect();
    bridge.send(Command::Products(products));
}

/// Decodes every card's image on the page (SVG needs the page) and transfers the bitmaps to the
/// worker in batches.
pub async fn send_images(images: Vec<(usize, String)>, deliver: impl Fn(Command)) {
    for batch in images.chunks(IMAGES_PER_BATCH) {
        let indices = Array::new();
        let bitmaps = Array::new();
        for (index, src) in batch {
            if let Some(bitmap) = decode(src).await {
                indices.push(&JsValue::from(*index as u32));
                bitmaps.push(&bitmap);
            }
        }
        let payload = Object::new();
        let _ = Reflect::set(&payload, &"indices".into(), &indices);
        let _ = Reflect::set(&payload, &"bitmaps".into(), &bitmaps);
        if post_transfer("images", &payload, &bitmaps) {
            deliver(Command::Images);
        }
    }
}

async fn decode(src: &str) -> Option<JsValue> {
    let image = HtmlImageElement::new().ok()?;
    image.set_src(src);
    JsFuture::from(image.decode()).await.ok()?;
    let options = web_sys::ImageBitmapOptions::new();
    options.set_resize_width(IMAGE_PIXELS);
    options.set_resize_height(IMAGE_PIXELS);
    let promise =
        window().create_image_bitmap_with_html_image_element_and_image_bitmap_options(&image, &options).ok()?;
    JsFuture::from(promise).await.ok()
}

/// The product painted at client point (`x`, `y`) in the last layout, if any.
pub fn product_at(canvas: &HtmlCanvasElement, rects: &[f32], x: f64, y: f64) -> Option<usize> {
    let origin = canvas.get_bounding_client_rect();
    hit_test(rects, (x - origin.left()) as f32, (y - origin.top()) as f32)
}

/// `window.__swiftcartLayout()`: where each product was last painted, in client coordinates:
/// `[{id, x, y, width, height, rank, card}]` (rank: higher is nearer the front; `card`: drawn
/// as a full card, not a planet).
pub fn layout_object(canvas: &HtmlCanvasElement, rects: &[f32], ids: &[&str]) -> JsValue {
    let origin = canvas.get_bounding_client_rect();
    let list = Array::new();
    for (index, r) in rects.chunks_exact(LAYOUT_STRIDE).enumerate() {
        let entry = Object::new();
        let set = |key: &str, value: JsValue| drop(Reflect::set(&entry, &key.into(), &value));
        set("id", ids.get(index).copied().unwrap_or_default().into());
        set("x", (origin.left() + r[0] as f64).into());
        set("y", (origin.top() + r[1] as f64).into());
        set("width", (r[2] as f64).into());
        set("height", (r[3] as f64).into());
        set("rank", (r[4] as f64).into());
        // Cards are taller than wide; planets are round.
        set("card", (r[3] > r[2] * 1.1).into());
        list.push(&entry);
    }
    list.into()
}
