//! The fallback painter: where the worker cannot paint (no `OffscreenCanvas`, or `?painter=dom`),
//! one `requestAnimationFrame` loop on the page asks the worker for positions and writes each DOM
//! card's `transform`, with the same projection and camera as the worker's painter.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;

use physics_worker::manifold::STRIDE;
use physics_worker::view::project;
use physics_worker::worker::Command;
use wasm_bindgen::prelude::*;

use super::hooks::Stats;
use super::{paradox, Well};
use crate::dom::window;

/// Why the page paints when the shopper asked for it with `?painter=dom`.
pub(super) const FORCED: &str = "asked for with ?painter=dom";

/// The worker cannot paint: the page moves the DOM cards itself, and says so once.
pub(super) fn fall_back(well: &Rc<RefCell<Well>>, reason: &str) {
    let mut w = well.borrow_mut();
    if let Some(canvas) = w.canvas.take() {
        canvas.remove();
    }
    let _ = w.container.class_list().remove_1("painted");
    if w.orbiting {
        // The cards leave the grid for the orbit's absolute places (`.dom-orbit` in the style).
        let _ = w.container.class_list().add_1("dom-orbit");
    }
    let _ = w.container.set_attribute("data-painter", "dom");
    web_sys::console::warn_1(&format!("SwiftCart: the well is drawn by the page ({reason})").into());
    // One line for the shopper, unless they asked for it (`?painter=dom`).
    if reason != FORCED {
        let notice = window().document().and_then(|d| d.create_element("p").ok());
        if let Some(notice) = notice {
            notice.set_class_name("well-notice");
            let _ = notice.set_attribute("role", "status");
            notice.set_text_content(Some(
                "This browser cannot paint the well off the page, so it may move less smoothly.",
            ));
            let _ = w.container.before_with_node_1(&notice);
        }
    }
    let start = !w.reduced_motion;
    drop(w);
    if start {
        start_frame_loop(well.clone());
    }
}

/// The animation loop's closure, which re-arms itself every frame.
type FrameCallback = Rc<RefCell<Option<Closure<dyn FnMut(f64)>>>>;

/// The one animation loop: write the newest positions, ask for the next.
fn start_frame_loop(well: Rc<RefCell<Well>>) {
    let callback: FrameCallback = Rc::new(RefCell::new(None));
    let again = callback.clone();
    let origin = window().performance().map(|p| p.time_origin()).unwrap_or(0.0);
    *callback.borrow_mut() = Some(Closure::new(move |timestamp: f64| {
        let started = crate::dom::monotonic_ms();
        frame(&well, timestamp, origin);
        let mut w = well.borrow_mut();
        let spent = crate::dom::monotonic_ms() - started;
        if let Some(last) = w.stats.last_frame {
            Stats::push(&mut w.stats.intervals, timestamp - last);
        }
        w.stats.last_frame = Some(timestamp);
        Stats::push(&mut w.stats.main_ms, spent);
        drop(w);
        if let Some(cb) = again.borrow().as_ref() {
            let _ = window().request_animation_frame(cb.as_ref().unchecked_ref());
        }
    }));
    if let Some(cb) = callback.borrow().as_ref() {
        let _ = window().request_animation_frame(cb.as_ref().unchecked_ref());
    }
    // The loop lives as long as the page.
    std::mem::forget(callback);
}

fn frame(well: &Rc<RefCell<Well>>, timestamp: f64, origin: f64) {
    let rewind_over = well.borrow().rewinding_until.is_some_and(|u| crate::dom::monotonic_ms() >= u);
    if rewind_over && !well.borrow().connection_lost {
        paradox::end_rewind(well);
    }
    let mut w = well.borrow_mut();
    if !w.frame_in_flight && !w.cards.is_empty() {
        w.frame_in_flight = true;
        w.send(Command::Frame { now: origin + timestamp });
    }
    // During the rewind the cards glide (CSS transition) back to the last confirmed positions.
    if !w.fresh || !w.orbiting {
        return;
    }
    w.fresh = false;
    let scale = w.viewport.scale() * w.camera.zoom;
    let (grow, pan) = (w.camera.size_factor(), w.camera.pan);
    let Well { cards, positions, .. } = &mut *w;
    let mut text = String::with_capacity(64);
    for (index, card) in cards.iter_mut().enumerate() {
        let Some(style) = &card.style else { continue };
        let Some(p) = positions.get(index * STRIDE..index * STRIDE + STRIDE) else { break };
        let at = project(p[0], p[1], p[2], p[3], scale);
        text.clear();
        let _ = write!(
            text,
            "translate3d({:.1}px, {:.1}px, 0) scale({:.3})",
            at.dx + pan[0],
            at.dy + pan[1],
            at.size * grow
        );
        // A card that moved less than the written precision costs nothing this frame.
        if card.transform != text {
            let _ = style.set_property("transform", &text);
            card.transform.clone_from(&text);
        }
        let mass = p[3];
        if (mass - card.mass_shown).abs() > 0.25 {
            card.mass_shown = mass;
            let _ = style.set_property("--mass", &format!("{mass:.2}"));
            card.contention = crate::catalog::contention(mass, card.base_mass);
            card.show_instability();
        }
    }
}
