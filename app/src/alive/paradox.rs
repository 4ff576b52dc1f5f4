//! The Temporal Paradox: the banner that says what happened, and the rewind to the last
//! confirmed state that plays under it.

use std::cell::RefCell;
use std::rc::Rc;

use physics_worker::wire::Reason;

use super::{after_ms, by_test_id, running, Well};

/// How long the rewind plays.
const REWIND_MS: f64 = 1_200.0;

/// Plays the Temporal Paradox rewind with these words, and keeps them on screen for at least
/// `hold_ms` (checkout failures need reading time).
pub fn paradox(words: &str, hold_ms: f64) {
    let Some(well) = running() else {
        show_banner(words);
        return;
    };
    well.borrow_mut().banner_until = crate::dom::monotonic_ms() + hold_ms;
    play_rewind(&well, words);
    // Without the animation loop (reduced motion) nothing else would end the rewind.
    after_ms(hold_ms + 50.0, move || {
        if well.borrow().rewinding_until.is_some_and(|u| crate::dom::monotonic_ms() >= u) {
            end_rewind(&well);
        }
    });
}

/// Shows the paradox banner (its title says "Temporal Paradox") with what happened.
pub(super) fn show_banner(message: &str) {
    let mut letters = message.chars();
    let message: String = letters.next().map(|first| first.to_uppercase().chain(letters).collect()).unwrap_or_default();
    if let Some(el) = by_test_id("paradox") {
        if let Some(text) = el.query_selector(".paradox-message").ok().flatten() {
            text.set_text_content(Some(&message));
        }
        let _ = el.remove_attribute("hidden");
    }
}

fn hide_banner() {
    if let Some(el) = by_test_id("paradox") {
        let _ = el.set_attribute("hidden", "");
    }
}

/// Plain words for a paradox reason from the server.
pub(super) fn words_for(reason: Reason) -> String {
    match reason {
        Reason::StateLost => "The Gravity Well lost its live state and rebuilt it from the catalog.".into(),
        Reason::CartFull => format!(
            "That product is already at the most your cart orbit can hold ({}).",
            physics_worker::shared::MAX_CART_QUANTITY
        ),
        Reason::Unavailable => "The Gravity Well could not record that gesture just now.".into(),
        Reason::Disconnected => "The connection dropped before your gesture left.".into(),
        other => format!("Something changed under your gesture ({other})."),
    }
}

/// What the shopper reads when the connection dropped.
pub(super) fn connection_lost_words(retry_in_ms: i32, during_gesture: bool) -> String {
    let seconds = (retry_in_ms as f64 / 1000.0).max(0.5);
    if during_gesture {
        format!("The connection dropped while a gesture was in flight. Rewinding to the last confirmed state; reconnecting in {seconds:.1} s.")
    } else {
        format!("The connection dropped. Rewinding to the last confirmed state; reconnecting in {seconds:.1} s.")
    }
}

/// Plays the rewind (the well glides back to the last confirmed state) under these words.
pub(super) fn play_rewind(well: &Rc<RefCell<Well>>, words: &str) {
    {
        let mut w = well.borrow_mut();
        w.rewinding_until = Some(crate::dom::monotonic_ms() + REWIND_MS);
        let _ = w.container.class_list().add_1("rewinding");
    }
    show_banner(words);
    check_rewind_after(well, REWIND_MS);
}

/// Ends the rewind once it has played (and its words were shown long enough), checked by a
/// timer: the page has no animation loop of its own while the worker paints.
fn check_rewind_after(well: &Rc<RefCell<Well>>, ms: f64) {
    let well = well.clone();
    after_ms(ms + 20.0, move || {
        let (over, lost) = {
            let w = well.borrow();
            (w.rewinding_until.is_some_and(|u| crate::dom::monotonic_ms() >= u), w.connection_lost)
        };
        if over && !lost {
            end_rewind(&well);
            let next = well.borrow().rewinding_until.map(|u| u - crate::dom::monotonic_ms());
            if let Some(wait) = next {
                check_rewind_after(&well, wait.max(16.0));
            }
        }
    });
}

/// Ends the rewind; the banner goes once its words were shown long enough, unless the
/// connection is still down.
pub(super) fn end_rewind(well: &Rc<RefCell<Well>>) {
    let mut w = well.borrow_mut();
    w.rewinding_until = None;
    let _ = w.container.class_list().remove_1("rewinding");
    if !w.connection_lost {
        if crate::dom::monotonic_ms() >= w.banner_until {
            hide_banner();
        } else {
            w.rewinding_until = Some(w.banner_until);
        }
    }
}
