//! The painted well: the canvas handed to the worker, what its cards show, the search box that
//! pulls matches to the front, and the shopper's zoom and pan.

use std::cell::RefCell;
use std::rc::Rc;

use physics_worker::view::{Camera, Viewport};
use physics_worker::worker::Command;
use wasm_bindgen::prelude::*;
use web_sys::HtmlElement;

use super::{by_test_id, dom_painter, send, Well};
use crate::api::ProductList;
use crate::dom::window;
use crate::session::{call, Answer};

/// How much one press of a zoom button zooms.
const ZOOM_STEP: f32 = 1.5;
/// How much a wheel's pixel of scroll zooms (Ctrl + wheel, or a trackpad's pinch).
const ZOOM_PER_WHEEL_PIXEL: f32 = 0.002;

/// The well's size on screen changed (or was never read): the worker's canvas follows.
pub(super) fn refresh_viewport(w: &mut Well) {
    let (width, height, dpr) = crate::well_canvas::viewport(&w.container);
    w.viewport = Viewport { width, height };
    w.camera = w.camera.clamped(w.viewport);
    if w.canvas.is_some() {
        w.send(Command::Resize { width, height, dpr });
    }
}

/// Follows the window's size.
pub(super) fn install_resize(well: &Rc<RefCell<Well>>) {
    let well = well.clone();
    let on_resize = Closure::<dyn FnMut()>::new(move || refresh_viewport(&mut well.borrow_mut()));
    let _ = window().add_event_listener_with_callback("resize", on_resize.as_ref().unchecked_ref());
    on_resize.forget();
}

/// Hands the worker a canvas to paint the well into, or runs the DOM painter when it cannot.
pub(super) fn start(well: &Rc<RefCell<Well>>) {
    install_zoom(well);
    let canvas = {
        let w = well.borrow();
        match (&w.bridge, crate::well_canvas::supported()) {
            (Some(bridge), true) => crate::well_canvas::attach(&w.container, bridge),
            _ => None,
        }
    };
    let Some(canvas) = canvas else {
        let reason = if crate::well_canvas::dom_painter_asked() {
            dom_painter::FORCED
        } else {
            "this browser cannot hand a canvas to a worker"
        };
        dom_painter::fall_back(well, reason);
        return;
    };
    {
        let mut w = well.borrow_mut();
        w.canvas = Some(canvas);
        let _ = w.container.class_list().add_1("painted");
        let _ = w.container.set_attribute("data-painter", "worker");
    }
    // What the cards show goes in a task of its own: the page stays responsive in between.
    let weak = Rc::downgrade(well);
    super::after_ms(0.0, move || {
        let Some(well) = weak.upgrade() else { return };
        send_products(&well);
        install_search(&well);
        let images: Vec<(usize, String)> =
            well.borrow().cards.iter().enumerate().filter_map(|(index, card)| Some((index, card.image()?))).collect();
        leptos::task::spawn_local(crate::well_canvas::send_images(images, move |command| {
            if let Some(well) = weak.upgrade() {
                send(&well, command);
            }
        }));
    });
}

/// The DOM cards' names and stock to the worker's painter (after a sync: products may have come).
pub(super) fn send_products(well: &Rc<RefCell<Well>>) {
    let w = well.borrow();
    if let (Some(_), Some(bridge)) = (&w.canvas, &w.bridge) {
        crate::well_canvas::send_products(w.cards.iter().map(|card| card.element.as_ref()), bridge);
        bridge.send(Command::Cart(w.cart.clone()));
    }
}

/// How long the search waits for typing to pause before it asks the server.
const SEARCH_PAUSE_MS: f64 = 120.0;

/// The search box over the painted well: the server's catalog search (by name, a typo forgiven)
/// pulls its matches to the front on an inner orbit, for this shopper only. Should the server not
/// answer, the same search runs over the names the page has.
fn install_search(well: &Rc<RefCell<Well>>) {
    let (Some(box_), Some(input)) = (by_test_id("well-search-box"), by_test_id("well-search")) else { return };
    let _ = box_.set_attribute("data-ready", "true");
    // The newest query's number: an answer to an older one is dropped.
    let asked = Rc::new(std::cell::Cell::new(0_u32));
    let on_input = {
        let well = well.clone();
        let input: web_sys::HtmlInputElement = input.clone().unchecked_into();
        Closure::<dyn FnMut()>::new(move || {
            let number = asked.get() + 1;
            asked.set(number);
            let (well, asked, query) = (well.clone(), asked.clone(), input.value());
            super::after_ms(SEARCH_PAUSE_MS, move || {
                if asked.get() == number {
                    leptos::task::spawn_local(search(well, query, number, asked));
                }
            });
        })
    };
    let _ = input.add_event_listener_with_callback("input", on_input.as_ref().unchecked_ref());
    on_input.forget();
}

/// Runs one search and shows its matches, unless a newer one was asked meanwhile.
async fn search(well: Rc<RefCell<Well>>, query: String, number: u32, asked: Rc<std::cell::Cell<u32>>) {
    let found = server_search(&query).await;
    if asked.get() != number {
        return;
    }
    let w = well.borrow();
    let matches: Vec<usize> = match found {
        Some(ids) => ids.iter().filter_map(|id| w.index_of(id)).collect(),
        None => {
            let names: Vec<String> = w.cards.iter().map(|card| card.name()).collect();
            physics_worker::view::search(&names, &query)
        }
    };
    let status = match (query.trim().chars().count(), matches.as_slice()) {
        (0, _) => String::new(),
        (1, _) => "Type at least two letters.".to_string(),
        (_, []) => "No product matches.".to_string(),
        (_, [one]) => format!("{} is at the front of the well.", w.cards[*one].name()),
        (_, many) => format!("{} products are at the front of the well.", many.len()),
    };
    if let Some(line) = by_test_id("well-search-box").and_then(|b| b.query_selector(".well-search-status").ok()?) {
        line.set_text_content(Some(&status));
    }
    let pulled: Vec<&str> = matches.iter().filter_map(|i| w.id_of(*i)).collect();
    let _ = w.container.set_attribute("data-pulled", &pulled.join(" "));
    w.send(Command::Pull(matches.into_iter().map(|i| i as u32).collect()));
}

/// The ids of the products the server's catalog search finds (`GET /api/products?q=`), best
/// first; `None` when it did not answer.
async fn server_search(query: &str) -> Option<Vec<String>> {
    let query = query.trim();
    if query.chars().count() < 2 {
        return Some(Vec::new());
    }
    let path = format!("/api/products?q={}", js_sys::encode_uri_component(query));
    let Ok(Answer::Done(found)) = call::<ProductList>("GET", &path, None).await else { return None };
    Some(found.products.into_iter().map(|product| product.product_id).collect())
}

/// Sets the shopper's zoom and pan, kept in range, for whichever painter draws.
pub(super) fn set_camera(w: &mut Well, camera: Camera) {
    let camera = camera.clamped(w.viewport);
    if camera == w.camera {
        return;
    }
    let was_whole = w.camera == Camera::default();
    w.camera = camera;
    w.fresh = true;
    w.send(Command::Camera(camera));
    let _ = w.container.set_attribute("data-zoom", &format!("{:.2}", camera.zoom));
    // The reset button changes only when the view leaves or returns to the whole well (a pinch
    // calls this on every pointer move).
    if was_whole == (camera == Camera::default()) {
        return;
    }
    if let Some(reset) = by_test_id("zoom-reset") {
        let _ = if camera == Camera::default() {
            reset.set_attribute("disabled", "")
        } else {
            reset.remove_attribute("disabled")
        };
    }
}

/// A point in client coordinates, in CSS px from the well's top left.
pub(super) fn well_point(container: &HtmlElement, x: f64, y: f64) -> (f32, f32) {
    let origin = container.get_bounding_client_rect();
    ((x - origin.left()) as f32, (y - origin.top()) as f32)
}

/// The zoom buttons (for everyone, keyboards included; shown with the search box) and Ctrl +
/// wheel or a trackpad's pinch over the well (a plain wheel still scrolls the page).
fn install_zoom(well: &Rc<RefCell<Well>>) {
    let Some(controls) = by_test_id("well-zoom") else { return };
    let on_click = {
        let well = well.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            let Some(button) = crate::dom::event_element(&event).and_then(|t| t.closest("[data-zoom]").ok().flatten())
            else {
                return;
            };
            let mut w = well.borrow_mut();
            let centre = (w.viewport.width / 2.0, w.viewport.height / 2.0);
            let camera = match button.get_attribute("data-zoom").as_deref() {
                Some("in") => w.camera.zoom_at(w.viewport, ZOOM_STEP, centre),
                Some("out") => w.camera.zoom_at(w.viewport, 1.0 / ZOOM_STEP, centre),
                _ => Camera::default(),
            };
            set_camera(&mut w, camera);
        })
    };
    let _ = controls.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
    on_click.forget();
    let on_wheel = {
        let well = well.clone();
        Closure::<dyn FnMut(web_sys::WheelEvent)>::new(move |event: web_sys::WheelEvent| {
            if !(event.ctrl_key() || event.meta_key()) {
                return;
            }
            event.prevent_default();
            let mut w = well.borrow_mut();
            let at = well_point(&w.container, event.client_x() as f64, event.client_y() as f64);
            let factor = (-(event.delta_y() as f32) * ZOOM_PER_WHEEL_PIXEL).exp();
            let camera = w.camera.zoom_at(w.viewport, factor, at);
            set_camera(&mut w, camera);
        })
    };
    let options = web_sys::AddEventListenerOptions::new();
    options.set_passive(false);
    let container = well.borrow().container.clone();
    let _ = container.add_event_listener_with_callback_and_add_event_listener_options(
        "wheel",
        on_wheel.as_ref().unchecked_ref(),
        &options,
    );
    on_wheel.forget();
}

/// The pointer moved without dragging: the product under it comes to the front.
pub(super) fn hover(w: &mut Well, x: f64, y: f64) {
    let Some(canvas) = &w.canvas else { return };
    let under = crate::well_canvas::product_at(canvas, &w.rects, x, y);
    if under != w.hover {
        w.hover = under;
        w.send(Command::Hover(under.map(|i| i as u32)));
    }
}

/// A tap on a product painted on the canvas opens it, as its card's link would.
pub(super) fn open_painted_card(well: &Rc<RefCell<Well>>, index: usize) {
    let w = well.borrow();
    if w.canvas.is_none() {
        return; // the DOM card's link gets the click itself
    }
    let link = w.cards.get(index).and_then(|card| card.element.as_ref()?.query_selector("a").ok()?);
    if let Some(link) = link.and_then(|l| l.dyn_into::<HtmlElement>().ok()) {
        drop(w);
        link.click();
    }
}
