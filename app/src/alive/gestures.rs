//! Gestures on the well. A drag released with speed is a flick (its impulse is
//! [`physics_worker::view::flick_impulse`]); a drag released over the cart orbit, a long press,
//! or the card's "Beam" button (keyboard: Tab to it, Enter) is a tractor beam; dragging a cart
//! token out of the orbit, or its remove button, drops it. A drag on empty space pans the well,
//! two fingers pinch to zoom. Taps open the product; a tap on empty space does nothing.

use std::cell::RefCell;
use std::rc::Rc;

use physics_worker::physics::WellParams;
use physics_worker::view::flick_impulse;
use physics_worker::wire::{Gesture, GestureKind};
use physics_worker::worker::Command;
use wasm_bindgen::prelude::*;
use web_sys::{Element, PointerEvent};

use super::painting::{hover, open_painted_card, set_camera, well_point};
use super::{after_ms, by_test_id, send, Well};
use crate::dom::window;

/// A press held this long without moving is a tractor beam.
const LONG_PRESS_MS: f64 = 500.0;
/// Movement under this many pixels is a tap, not a drag.
const DRAG_THRESHOLD_PX: f64 = 6.0;

/// A pointer held on a product.
pub(super) struct Drag {
    index: usize,
    pointer: i32,
    /// `(ms, x, y)` of the recent movement, oldest first.
    samples: Vec<(f64, f64, f64)>,
    moved: bool,
    beamed: bool,
}

/// A pointer held on empty space: where it was last seen.
pub(super) struct PanPointer {
    id: i32,
    x: f64,
    y: f64,
}

fn card_index(target: &Element) -> Option<usize> {
    target.closest("[data-index]").ok().flatten()?.get_attribute("data-index")?.parse().ok()
}

/// Installs the pointer, focus and button handlers on the well.
pub(super) fn install(well: &Rc<RefCell<Well>>) {
    let container = well.borrow().container.clone();
    let listen = |kind: &str, handler: &Closure<dyn FnMut(PointerEvent)>| {
        let _ = container.add_event_listener_with_callback(kind, handler.as_ref().unchecked_ref());
    };
    let on_down = {
        let well = well.clone();
        Closure::<dyn FnMut(PointerEvent)>::new(move |event: PointerEvent| pointer_down(&well, &event))
    };
    let on_move = {
        let well = well.clone();
        Closure::<dyn FnMut(PointerEvent)>::new(move |event: PointerEvent| pointer_move(&well, &event))
    };
    let on_up = {
        let well = well.clone();
        Closure::<dyn FnMut(PointerEvent)>::new(move |event: PointerEvent| pointer_up(&well, &event))
    };
    listen("pointerdown", &on_down);
    listen("pointermove", &on_move);
    listen("pointerup", &on_up);
    listen("pointercancel", &on_up);
    // The well's handlers live as long as the page.
    on_down.forget();
    on_move.forget();
    on_up.forget();
    // Keyboard focus on a DOM card draws its ring on the canvas, and brings it to the front.
    let page_scroll = keep_page_scroll();
    let on_focus = {
        let well = well.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            let index = if event.type_() == "focusin" {
                crate::dom::event_element(&event).and_then(|target| card_index(&target))
            } else {
                None
            };
            if index.is_some() && well.borrow().canvas.is_some() {
                undo_focus_scroll(&page_scroll);
            }
            send(&well, Command::Focus(index.map(|i| i as u32)));
        })
    };
    let _ = container.add_event_listener_with_callback("focusin", on_focus.as_ref().unchecked_ref());
    let _ = container.add_event_listener_with_callback("focusout", on_focus.as_ref().unchecked_ref());
    on_focus.forget();
    let on_leave = {
        let well = well.clone();
        Closure::<dyn FnMut()>::new(move || {
            let mut w = well.borrow_mut();
            if w.hover.take().is_some() {
                w.send(Command::Hover(None));
            }
        })
    };
    let _ = container.add_event_listener_with_callback("pointerleave", on_leave.as_ref().unchecked_ref());
    on_leave.forget();
    install_buttons(well);
}

/// Where the page was last scrolled to, kept up to date by a scroll listener.
type PageScroll = Rc<std::cell::Cell<(f64, f64)>>;

fn page_scroll_now() -> (f64, f64) {
    (window().scroll_x().unwrap_or(0.0), window().scroll_y().unwrap_or(0.0))
}

/// Follows the page's scroll position (scroll events come once a frame, after the scrolling).
fn keep_page_scroll() -> PageScroll {
    let scroll = Rc::new(std::cell::Cell::new(page_scroll_now()));
    let on_scroll = {
        let scroll = scroll.clone();
        Closure::<dyn FnMut()>::new(move || scroll.set(page_scroll_now()))
    };
    let _ = window().add_event_listener_with_callback("scroll", on_scroll.as_ref().unchecked_ref());
    on_scroll.forget();
    scroll
}

/// Focusing a DOM card under the canvas must scroll nothing: the canvas draws its ring. The
/// browser has already scrolled the page towards where the card lies in the clipped list when
/// the focus event runs, before any scroll event: the page goes back to where it was, before the
/// next frame is painted.
fn undo_focus_scroll(before: &PageScroll) {
    let (x, y) = before.get();
    if page_scroll_now() != (x, y) {
        window().scroll_to_with_x_and_y(x, y);
    }
}

fn pointer_down(well: &Rc<RefCell<Well>>, event: &PointerEvent) {
    let Some(target) = crate::dom::event_element(event) else { return };
    if target.closest("button").ok().flatten().is_some() {
        return;
    }
    let mut w = well.borrow_mut();
    if !w.orbiting {
        return;
    }
    let (x, y) = (event.client_x() as f64, event.client_y() as f64);
    let index = match &w.canvas {
        Some(canvas) => crate::well_canvas::product_at(canvas, &w.rects, x, y),
        None => card_index(&target),
    };
    let pointer = event.pointer_id();
    let _ = w.container.set_pointer_capture(pointer);
    // Empty space, or a second finger: pan and pinch.
    let Some(index) = index.filter(|_| w.gesture.is_none() && w.pan_pointers.is_empty()) else {
        let here = PanPointer { id: pointer, x, y };
        match w.gesture.take() {
            // A flick under way: a second finger changes nothing.
            Some(drag) if drag.moved => w.gesture = Some(drag),
            // A product pressed but not dragged, then a second finger: the two pinch.
            Some(drag) => {
                let (_, x0, y0) = drag.samples[drag.samples.len() - 1];
                w.pan_pointers.push(PanPointer { id: drag.pointer, x: x0, y: y0 });
                w.pan_pointers.push(here);
            }
            None => w.pan_pointers.push(here),
        }
        return;
    };
    w.gesture =
        Some(Drag { index, pointer, samples: vec![(crate::dom::monotonic_ms(), x, y)], moved: false, beamed: false });
    drop(w);
    // Long press: a beam if the pointer has not moved by then.
    let well = well.clone();
    after_ms(LONG_PRESS_MS, move || {
        let mut w = well.borrow_mut();
        let Some(drag) = w.gesture.as_mut() else { return };
        if drag.pointer == pointer && !drag.moved && !drag.beamed {
            drag.beamed = true;
            let index = drag.index as u32;
            drop(w);
            send(&well, Command::SendGesture(Gesture { i: index, kind: GestureKind::Beam }));
        }
    });
}

fn pointer_move(well: &Rc<RefCell<Well>>, event: &PointerEvent) {
    let mut w = well.borrow_mut();
    let (x, y) = (event.client_x() as f64, event.client_y() as f64);
    if let Some(k) = w.pan_pointers.iter().position(|p| p.id == event.pointer_id()) {
        return pan_or_pinch(&mut w, k, x, y);
    }
    let Some(drag) = w.gesture.as_mut() else {
        return hover(&mut w, x, y);
    };
    let now = crate::dom::monotonic_ms();
    let (_, x0, y0) = drag.samples[0];
    if ((x - x0).powi(2) + (y - y0).powi(2)).sqrt() > DRAG_THRESHOLD_PX {
        drag.moved = true;
    }
    drag.samples.push((now, x, y));
    let window_ms = physics_worker::view::FLICK_WINDOW_MS;
    let keep_from = drag.samples.iter().rposition(|s| now - s.0 > window_ms).unwrap_or(0);
    drag.samples.drain(..keep_from);
}

/// One pointer on empty space moved: with one down the well pans, with two it zooms about their
/// midpoint by the change in their distance (and pans with the midpoint).
fn pan_or_pinch(w: &mut Well, k: usize, x: f64, y: f64) {
    let before: Vec<(f64, f64)> = w.pan_pointers.iter().take(2).map(|p| (p.x, p.y)).collect();
    w.pan_pointers[k].x = x;
    w.pan_pointers[k].y = y;
    let after: Vec<(f64, f64)> = w.pan_pointers.iter().take(2).map(|p| (p.x, p.y)).collect();
    let camera = match (before.as_slice(), after.as_slice()) {
        ([a], [b]) => w.camera.pan_by(w.viewport, (b.0 - a.0) as f32, (b.1 - a.1) as f32),
        ([a0, a1], [b0, b1]) => {
            let distance = |p: (f64, f64), q: (f64, f64)| ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt();
            let mid = |p: (f64, f64), q: (f64, f64)| ((p.0 + q.0) / 2.0, (p.1 + q.1) / 2.0);
            let factor = (distance(*b0, *b1) / distance(*a0, *a1).max(1.0)) as f32;
            let (m0, m1) = (mid(*a0, *a1), mid(*b0, *b1));
            let at = well_point(&w.container, m1.0, m1.1);
            w.camera.zoom_at(w.viewport, factor, at).pan_by(w.viewport, (m1.0 - m0.0) as f32, (m1.1 - m0.1) as f32)
        }
        _ => return,
    };
    set_camera(w, camera);
}

fn pointer_up(well: &Rc<RefCell<Well>>, event: &PointerEvent) {
    {
        let mut w = well.borrow_mut();
        let before = w.pan_pointers.len();
        w.pan_pointers.retain(|p| p.id != event.pointer_id());
        if w.pan_pointers.len() != before {
            return;
        }
    }
    let Some(drag) = well.borrow_mut().gesture.take_if(|drag| drag.pointer == event.pointer_id()) else { return };
    if drag.beamed {
        return; // a long press beamed
    }
    if !drag.moved {
        // A tap opens the product: the link's own click, or on the canvas the link of the card
        // drawn there.
        if event.type_() == "pointerup" {
            open_painted_card(well, drag.index);
        }
        return;
    }
    event.prevent_default();
    suppress_next_click(well);
    let (x, y) = (event.client_x() as f64, event.client_y() as f64);
    let over_cart = by_test_id("cart-orbit").is_some_and(|orbit| {
        let r = orbit.get_bounding_client_rect();
        x >= r.left() && x <= r.right() && y >= r.top() && y <= r.bottom()
    });
    let index = drag.index as u32;
    if over_cart {
        send(well, Command::SendGesture(Gesture { i: index, kind: GestureKind::Beam }));
        return;
    }
    let (viewport, camera) = {
        let w = well.borrow();
        (w.viewport, w.camera)
    };
    let release = (crate::dom::monotonic_ms(), x, y);
    if let Some(v) = flick_impulse(viewport, camera, &drag.samples, release, WellParams::default().max_impulse) {
        send(well, Command::SendGesture(Gesture { i: index, kind: GestureKind::Flick(v) }));
    }
}

/// After a drag, the browser still fires a click on the card's link: swallow that one.
fn suppress_next_click(well: &Rc<RefCell<Well>>) {
    let container = well.borrow().container.clone();
    let handler = Closure::once_into_js(move |event: web_sys::Event| {
        event.prevent_default();
        event.stop_propagation();
    });
    let options = web_sys::AddEventListenerOptions::new();
    options.set_once(true);
    options.set_capture(true);
    let _ = container.add_event_listener_with_callback_and_add_event_listener_options(
        "click",
        handler.unchecked_ref(),
        &options,
    );
    // If no click comes (a touch drag), the listener must not eat a later real click.
    after_ms(300.0, move || {
        let _ = container.remove_event_listener_with_callback_and_bool("click", handler.unchecked_ref(), true);
    });
}

/// "Beam" buttons on cards and remove buttons on cart tokens (keyboard and pointer alike).
fn install_buttons(well: &Rc<RefCell<Well>>) {
    let document = window().document().expect("a document");
    let on_click = {
        let well = well.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            let Some(target) = crate::dom::event_element(&event) else { return };
            if let Some(button) = target.closest("[data-beam]").ok().flatten() {
                event.prevent_default();
                let id = button.get_attribute("data-beam").unwrap_or_default();
                let index = well.borrow().index_of(&id);
                if let Some(index) = index {
                    send(&well, Command::SendGesture(Gesture { i: index as u32, kind: GestureKind::Beam }));
                }
            } else if let Some(button) = target.closest("[data-drop]").ok().flatten() {
                event.prevent_default();
                if let Some(index) = button.get_attribute("data-drop").and_then(|i| i.parse().ok()) {
                    send(&well, Command::SendGesture(Gesture { i: index, kind: GestureKind::Drop }));
                }
            }
        })
    };
    let _ = document.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
    on_click.forget();
}
