//! The Alive UI on the main thread (hydrate only): starts the physics worker and hands it a
//! canvas to paint the well into from its own animation frames ([`crate::well_canvas`]); the
//! page then only handles input, a few layout reports a second, and the DOM cards under the
//! canvas that keyboards and screen readers use. Where a canvas cannot be handed over, one
//! `requestAnimationFrame` loop writes every card's `transform` from the worker's position
//! buffer instead ([`dom_painter`]). Nothing goes through a reactive re-render per frame.
//!
//! The modules, in the order a shopper meets them:
//! - this one: the shared [`Well`] state, start-up, and the worker's events;
//! - [`cards`]: one [`cards::CardView`] per product (its DOM card, live price and stock, the
//!   Redshift glitch);
//! - [`painting`]: the canvas handed to the worker, the search box, zoom and pan;
//! - [`gestures`]: flick, hold-to-beam, drag to and out of the cart orbit, Beam buttons;
//! - [`cart_orbit`]: the tokens of the shopper's cart;
//! - [`paradox`]: the Temporal Paradox banner and the rewind;
//! - [`dom_painter`]: the fallback painter;
//! - [`hooks`]: `window.__swiftcart*` for tests and measurements.

mod cards;
mod cart_orbit;
mod dom_painter;
mod gestures;
mod hooks;
mod painting;
mod paradox;

use std::cell::RefCell;
use std::rc::Rc;

use gloo_worker::{Spawnable, WorkerBridge};
use physics_worker::codec::{take_positions, FrameCodec};
use physics_worker::manifold::STRIDE;
use physics_worker::view::{Camera, Viewport};
use physics_worker::wire::{Gesture, GestureKind, CLOSE_POLICY, CLOSE_TOKEN_EXPIRED};
use physics_worker::worker::{Command, Connection, Event, PhysicsWorker};
use wasm_bindgen::JsCast;
use web_sys::{HtmlCanvasElement, HtmlElement};

use crate::dom::{element, window};

pub use cart_orbit::reload_cart;
pub use paradox::paradox;

use cards::CardView;
use hooks::Stats;

/// Everything the handlers share.
struct Well {
    bridge: Option<WorkerBridge<PhysicsWorker>>,
    /// The `.product-grid` list of DOM cards, which the canvas covers while orbiting.
    container: HtmlElement,
    /// One view per product, by index.
    cards: Vec<CardView>,
    /// The manifold's positions for the DOM painter (`STRIDE` floats per product).
    positions: Vec<f32>,
    /// New positions arrived since the DOM painter last wrote them.
    fresh: bool,
    /// The DOM painter asked the worker for a frame and waits for it.
    frame_in_flight: bool,
    /// The confirmed cart orbit: `(index, quantity)` lines.
    cart: Vec<(u32, u32)>,
    reduced_motion: bool,
    orbiting: bool,
    /// Until when the rewind plays (performance time), if it does.
    rewinding_until: Option<f64>,
    /// The paradox banner stays at least until then, so its words can be read.
    banner_until: f64,
    connection_lost: bool,
    /// The canvas the worker paints, when it does (otherwise the DOM painter runs).
    canvas: Option<HtmlCanvasElement>,
    /// The well's size on screen, refreshed on resize.
    viewport: Viewport,
    /// The shopper's zoom and pan.
    camera: Camera,
    /// Where the worker last painted each product (`view::LAYOUT_STRIDE` floats each).
    rects: Vec<f32>,
    /// The product under a pointer that is not dragging (drawn in front as a card).
    hover: Option<usize>,
    /// A pointer held on a product.
    gesture: Option<gestures::Drag>,
    /// Pointers held on empty space: one pans, two pinch.
    pan_pointers: Vec<gestures::PanPointer>,
    /// Gestures sent and waiting for an answer, by sequence number.
    pending: Vec<(u32, Gesture)>,
    stats: Stats,
}

impl Well {
    /// The index of the product with this id.
    fn index_of(&self, id: &str) -> Option<usize> {
        self.cards.iter().position(|card| card.id == id)
    }

    /// The id of product `index`.
    fn id_of(&self, index: usize) -> Option<&str> {
        self.cards.get(index).map(|card| card.id.as_str())
    }

    /// Sends a command to the worker.
    fn send(&self, command: Command) {
        if let Some(bridge) = &self.bridge {
            bridge.send(command);
        }
    }
}

fn by_test_id(id: &str) -> Option<HtmlElement> {
    element(&format!("[data-testid=\"{id}\"]"))
}

/// Runs `callback` once after `ms` milliseconds.
fn after_ms(ms: f64, callback: impl FnOnce() + 'static) {
    let callback = wasm_bindgen::closure::Closure::once_into_js(callback);
    let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(callback.unchecked_ref(), ms as i32);
}

thread_local! {
    /// The running Alive UI, for the checkout flow ([`paradox`], [`reload_cart`]).
    static WELL: RefCell<Option<Rc<RefCell<Well>>>> = const { RefCell::new(None) };
}

fn running() -> Option<Rc<RefCell<Well>>> {
    WELL.with(|slot| slot.borrow().clone())
}

fn send(well: &Rc<RefCell<Well>>, command: Command) {
    well.borrow().send(command);
}

/// Starts the Alive UI in a task of its own, after the one that hydrated the page: two shorter
/// tasks instead of one long one, so a shopper's first tap is answered sooner.
pub fn start_soon() {
    after_ms(0.0, start);
}

/// Starts the Alive UI on the Gravity Well page, once.
fn start() {
    let Some(container) = element(".product-grid") else { return };
    if container.get_attribute("data-alive").is_some() {
        return;
    }
    let _ = container.set_attribute("data-alive", "starting");
    let reduced_motion =
        window().match_media("(prefers-reduced-motion: reduce)").ok().flatten().is_some_and(|q| q.matches());
    let well = Rc::new(RefCell::new(Well {
        bridge: None,
        container: container.clone(),
        cards: Vec::new(),
        positions: Vec::new(),
        fresh: false,
        frame_in_flight: false,
        cart: Vec::new(),
        reduced_motion,
        orbiting: false,
        rewinding_until: None,
        banner_until: 0.0,
        connection_lost: false,
        canvas: None,
        viewport: Viewport { width: 1.0, height: 1.0 },
        camera: Camera::default(),
        rects: Vec::new(),
        hover: None,
        gesture: None,
        pan_pointers: Vec::new(),
        pending: Vec::new(),
        stats: Stats::default(),
    }));
    set_syncing(true);

    let bridge = {
        let well = well.clone();
        PhysicsWorker::spawner()
            .callback(move |event| on_event(&well, event))
            .encoding::<FrameCodec>()
            .spawn(&worker_script())
    };
    well.borrow_mut().bridge = Some(bridge);
    gestures::install(&well);
    painting::install_resize(&well);
    hooks::install(&well);
    WELL.with(|slot| *slot.borrow_mut() = Some(well.clone()));
    leptos::task::spawn_local(async move {
        match crate::session::access_token().await {
            Ok(token) => {
                let location = window().location();
                let scheme = if location.protocol().unwrap_or_default() == "https:" { "wss" } else { "ws" };
                let url = format!("{scheme}://{}/ws", location.host().unwrap_or_default());
                send(&well, Command::Connect { url: url.clone(), token });
                // Every renewed token, this tab's or another's, follows onto the socket; a new
                // subject (a sign-in, a session that ended) gets a new connection.
                let well = Rc::downgrade(&well);
                crate::session::on_change(move |change| {
                    if let Some(well) = well.upgrade() {
                        let token = change.token.clone();
                        let command = if change.new_subject {
                            Command::Connect { url: url.clone(), token }
                        } else {
                            Command::Token { token }
                        };
                        send(&well, command);
                    }
                });
            }
            Err(e) => {
                set_syncing(false);
                paradox::show_banner(&format!(
                    "We could not start a session ({e}). The list still works; reload to try again."
                ));
            }
        }
    });
}

/// The worker's script, as the page's preload names it (with its content hash), else the plain
/// name.
fn worker_script() -> String {
    let link = window().document().and_then(|d| d.get_element_by_id("worker-script"));
    link.and_then(|l| l.get_attribute("href")).unwrap_or_else(|| crate::WorkerBundle::default().script)
}

fn set_syncing(on: bool) {
    if let Some(el) = by_test_id("syncing") {
        let _ = el.set_attribute("data-syncing", if on { "true" } else { "false" });
    }
}

fn on_event(well: &Rc<RefCell<Well>>, event: Event) {
    match event {
        Event::Synced { ids, base_masses, cart } => on_synced(well, ids, base_masses, cart),
        Event::StateUpdate { products, prices, manifold_us, extrapolated_ms, forecasts } => {
            let mut w = well.borrow_mut();
            w.frame_in_flight = false;
            Stats::push(&mut w.stats.extrapolated_ms, extrapolated_ms as f64);
            // One copy from the message's Float32Array into the page's buffer.
            let wanted = products as usize * STRIDE;
            if let Some(positions) = take_positions().filter(|p| p.length() as usize == wanted) {
                w.positions.resize(wanted, 0.0);
                positions.copy_to(&mut w.positions);
                w.fresh = true;
            }
            Stats::push(&mut w.stats.manifold_us, manifold_us as f64);
            hooks::note_forecasts(&mut w, forecasts);
            if let Some(prices) = prices {
                cards::update_prices(&mut w.cards, &prices);
            }
        }
        Event::Stock { levels } => cards::update_stock(&mut well.borrow_mut().cards, &levels),
        Event::Sent { q, gesture } => {
            well.borrow_mut().pending.push((q, gesture));
        }
        Event::Accepted { q } => {
            let mut w = well.borrow_mut();
            if let Some(pos) = w.pending.iter().position(|p| p.0 == q) {
                let (_, Gesture { i: index, kind }) = w.pending.remove(pos);
                match kind {
                    GestureKind::Beam => cart_orbit::add(&mut w.cart, index, 1),
                    GestureKind::Drop => w.cart.retain(|(i, _)| *i != index),
                    GestureKind::Flick(_) => {}
                }
                cart_orbit::render(&w);
            }
        }
        Event::Refused { q, .. } => {
            let mut w = well.borrow_mut();
            if let Some(pos) = w.pending.iter().position(|p| p.0 == q) {
                let (_, Gesture { i: index, .. }) = w.pending.remove(pos);
                // The manifold fades a refused flick back; the card shakes to say so.
                if let Some(card) = w.cards.get(index as usize) {
                    card.flash_refused();
                }
            }
        }
        Event::ErrorParadox { q, reason } => {
            if let Some(q) = q {
                well.borrow_mut().pending.retain(|p| p.0 != q);
            }
            paradox::play_rewind(well, &paradox::words_for(reason));
        }
        Event::Connection(Connection::Lost { retry_in_ms, code, opened }) => {
            if !opened || code == CLOSE_TOKEN_EXPIRED || code == CLOSE_POLICY {
                // Perhaps refused for its token: the session checks it and renews it if so; the
                // new token reaches the worker, which retries with it at once.
                leptos::task::spawn_local(async {
                    let _ = crate::session::recover_refused().await;
                });
            }
            let lost_during_gesture = !well.borrow().pending.is_empty();
            well.borrow_mut().connection_lost = true;
            paradox::play_rewind(well, &paradox::connection_lost_words(retry_in_ms, lost_during_gesture));
        }
        Event::Painting { started, reason } => {
            if !started {
                dom_painter::fall_back(well, &reason);
            }
        }
        Event::Layout { products, prices, paint_ms, intervals_ms, extrapolated_ms, watched, forecasts } => {
            let mut w = well.borrow_mut();
            let wanted = products as usize * physics_worker::view::LAYOUT_STRIDE;
            if let Some(rects) = take_positions().filter(|r| r.length() as usize == wanted) {
                w.rects.resize(wanted, 0.0);
                rects.copy_to(&mut w.rects);
            }
            hooks::note_worker_frames(&mut w, &paint_ms, &intervals_ms, &extrapolated_ms, watched);
            hooks::note_forecasts(&mut w, forecasts);
            if let Some(prices) = prices {
                cards::update_prices(&mut w.cards, &prices);
            }
        }
        Event::Connection(_) | Event::Ready { .. } => {}
    }
}

/// The worker synced (first, or again after a reconnect or a catalog change): the cards are
/// matched to the products' indices, the cart orbit redrawn, and the well starts orbiting.
fn on_synced(well: &Rc<RefCell<Well>>, ids: Vec<String>, base_masses: Vec<f32>, cart: Vec<(u32, u32)>) {
    let mut w = well.borrow_mut();
    let rendered = cards::rendered_cards(&w.container);
    w.cards = ids
        .into_iter()
        .enumerate()
        .map(|(index, id)| {
            let element = cards::rendered_card(&rendered, &id, index).cloned();
            CardView::new(id, index, base_masses.get(index).copied().unwrap_or(1.0), element)
        })
        .collect();
    cards::hide_retired(&rendered, &w.cards);
    w.cart = cart;
    w.connection_lost = false;
    cart_orbit::render(&w);
    let begins_orbit = !w.reduced_motion && !w.orbiting;
    if begins_orbit {
        w.orbiting = true;
        let _ = w.container.class_list().add_1("well-orbit");
        painting::refresh_viewport(&mut w);
    }
    let _ = w.container.set_attribute("data-alive", "synced");
    let missing = w.cards.iter().any(|card| card.element.is_none());
    drop(w);
    if begins_orbit {
        painting::start(well);
    } else {
        painting::send_products(well);
    }
    set_syncing(false);
    if missing {
        leptos::task::spawn_local(cards::add_new(well.clone()));
    }
    // A resync ends a paradox once its rewind has played.
    let until = well.borrow().rewinding_until;
    if until.is_none_or(|u| crate::dom::monotonic_ms() >= u) {
        paradox::end_rewind(well);
    }
}
