//! The Alive UI on the main thread (hydrate only): starts the physics worker and hands it a
//! canvas to paint the well into from its own animation frames ([`crate::well_canvas`]); the
//! page then only handles input, a few layout reports a second, and the DOM cards under the
//! canvas that keyboards and screen readers use. Where a canvas cannot be handed over, one
//! `requestAnimationFrame` loop here writes every card's `transform` from the worker's position
//! buffer instead (the DOM painter). Nothing goes through a reactive re-render per frame.
//!
//! Gestures: a drag released with speed is a flick (the velocity of the last ~80 ms of pointer
//! movement becomes the impulse); a drag released over the cart orbit, a long press, or the
//! card's "Beam" button (keyboard: Tab to it, Enter) is a tractor beam; dragging a cart token out
//! of the orbit, or its remove button, drops it. A Temporal Paradox, or a lost connection, plays
//! the rewind and shows what happened in plain words until the state is synced again.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;

use gloo_worker::{Spawnable, WorkerBridge};
use physics_worker::codec::{take_positions, FrameCodec};
use physics_worker::manifold::STRIDE;
use physics_worker::view::{project, Viewport};
use physics_worker::wire::{CLOSE_POLICY, CLOSE_TOKEN_EXPIRED};
use physics_worker::worker::{Command, Connection, Event, Gesture, PhysicsWorker};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlCanvasElement, HtmlElement};

use crate::catalog::{instability, stock_label, LOW_STOCK, REDSHIFT_FROM};
use crate::dom::{element, window};
use crate::money::format_cents;

/// Why the page paints when the shopper asked for it with `?painter=dom`.
const FORCED_DOM_PAINTER: &str = "asked for with ?painter=dom";
/// Pointer samples older than this do not count toward a flick's velocity.
const FLICK_WINDOW_MS: f64 = 80.0;
/// A press held this long without moving is a tractor beam.
const LONG_PRESS_MS: f64 = 500.0;
/// Movement under this many pixels is a tap, not a drag.
const DRAG_THRESHOLD_PX: f64 = 6.0;
/// Largest impulse the well accepts (`WellParams::max_impulse`).
const MAX_IMPULSE: f32 = 1.5;
/// How long the rewind plays.
const REWIND_MS: f64 = 1_200.0;
/// Frame statistics kept for measurements (`window.__swiftcartStats()`).
const STATS_FRAMES: usize = 1_200;

/// Everything the loop and the handlers share.
struct Well {
    bridge: Option<WorkerBridge<PhysicsWorker>>,
    container: HtmlElement,
    /// Card elements by product index.
    cards: Vec<Option<HtmlElement>>,
    /// Their style declarations (kept, so a frame makes one call per card that moved).
    styles: Vec<Option<web_sys::CssStyleDeclaration>>,
    /// The transform last written to each card.
    transforms: Vec<String>,
    /// Product ids by index.
    ids: Vec<String>,
    positions: Vec<f32>,
    fresh: bool,
    frame_in_flight: bool,
    prices: Vec<i64>,
    masses_shown: Vec<f32>,
    /// Base masses by index (from the sync).
    base_masses: Vec<f32>,
    /// What makes a card unstable (the Redshift glitch), by index.
    low_stock: Vec<bool>,
    price_jumped: Vec<bool>,
    contention: Vec<f32>,
    cart: Vec<(u32, u32)>,
    reduced_motion: bool,
    orbiting: bool,
    /// Until when the rewind plays (performance time), if it does.
    rewinding_until: Option<f64>,
    /// The paradox banner stays at least until then, so its words can be read.
    banner_until: f64,
    connection_lost: bool,
    /// Pixels per well unit, and the well's centre, refreshed on resize.
    scale: f64,
    /// The canvas the worker paints, when it does (otherwise the DOM painter runs).
    canvas: Option<HtmlCanvasElement>,
    /// Where the worker last painted each product (`view::LAYOUT_STRIDE` floats each).
    rects: Vec<f32>,
    /// The product under a pointer that is not dragging (drawn in front as a card).
    hover: Option<usize>,
    gesture: Option<Drag>,
    /// Gestures waiting for an answer: q → (index, what).
    pending: Vec<(u32, u32, &'static str)>,
    stats: Stats,
}

/// A pointer held on a card.
struct Drag {
    index: usize,
    pointer: i32,
    samples: Vec<(f64, f64, f64)>,
    moved: bool,
    beamed: bool,
}

#[derive(Default)]
struct Stats {
    last_frame: Option<f64>,
    intervals: Vec<f64>,
    main_ms: Vec<f64>,
    manifold_us: Vec<f64>,
    extrapolated_ms: Vec<f64>,
    /// The worker painter's time per frame, and the intervals between its frames.
    paint_ms: Vec<f64>,
    worker_intervals: Vec<f64>,
    /// Where the watched product was painted: `[epoch ms, x, y]` (client coordinates).
    watched: Vec<(f64, f64, f64)>,
    /// Other shoppers' gestures as the worker showed them: product id, epoch ms the event
    /// arrived, epoch ms of the first frame painted off the old path, confirmed bit for bit.
    forecasts: Vec<(String, f64, Option<f64>, bool)>,
}

impl Stats {
    fn push<T>(list: &mut Vec<T>, value: T) {
        if list.len() == STATS_FRAMES {
            list.remove(0);
        }
        list.push(value);
    }
}

fn perf_now() -> f64 {
    window().performance().map(|p| p.now()).unwrap_or(0.0)
}

fn time_origin() -> f64 {
    window().performance().map(|p| p.time_origin()).unwrap_or(0.0)
}

fn by_test_id(id: &str) -> Option<HtmlElement> {
    element(&format!("[data-testid=\"{id}\"]"))
}

thread_local! {
    /// The running Alive UI, for the checkout flow ([`paradox`], [`reload_cart`]).
    static WELL: RefCell<Option<Rc<RefCell<Well>>>> = const { RefCell::new(None) };
}

fn running() -> Option<Rc<RefCell<Well>>> {
    WELL.with(|slot| slot.borrow().clone())
}

/// Plays the Temporal Paradox rewind with these words, and keeps them on screen for at least
/// `hold_ms` (checkout failures need reading time).
pub fn paradox(words: &str, hold_ms: f64) {
    let Some(well) = running() else {
        show_paradox(words);
        return;
    };
    well.borrow_mut().banner_until = perf_now() + hold_ms;
    play_rewind(&well, words);
    // Without the animation loop (reduced motion) nothing else would end the rewind.
    let clear = Closure::once_into_js(move || {
        if well.borrow().rewinding_until.is_some_and(|u| perf_now() >= u) {
            end_rewind(&well);
        }
    });
    let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(clear.unchecked_ref(), hold_ms as i32 + 50);
}

/// Reads the confirmed cart from the server (`GET /api/cart`) and redraws the cart orbit.
pub async fn reload_cart() {
    let Some(well) = running() else { return };
    let Ok((200, json)) = crate::session::api("GET", "/api/cart", None).await else { return };
    let items = js_sys::Array::from(&crate::session::field(&json, "items"));
    let mut w = well.borrow_mut();
    let cart = items
        .iter()
        .filter_map(|item| {
            let id = crate::session::field(&item, "productId").as_string()?;
            let quantity = crate::session::field(&item, "quantity").as_f64()? as u32;
            let index = w.ids.iter().position(|i| *i == id)? as u32;
            Some((index, quantity))
        })
        .collect();
    w.cart = cart;
    render_cart(&w);
}

/// Starts the Alive UI on the Gravity Well page, once.
pub fn start() {
    let document = window().document().expect("a document");
    let Some(container) =
        document.query_selector(".product-grid").ok().flatten().and_then(|e| e.dyn_into::<HtmlElement>().ok())
    else {
        return;
    };
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
        styles: Vec::new(),
        transforms: Vec::new(),
        ids: Vec::new(),
        positions: Vec::new(),
        fresh: false,
        frame_in_flight: false,
        prices: Vec::new(),
        masses_shown: Vec::new(),
        base_masses: Vec::new(),
        low_stock: Vec::new(),
        price_jumped: Vec::new(),
        contention: Vec::new(),
        cart: Vec::new(),
        reduced_motion,
        orbiting: false,
        rewinding_until: None,
        banner_until: 0.0,
        connection_lost: false,
        scale: 1.0,
        canvas: None,
        rects: Vec::new(),
        hover: None,
        gesture: None,
        pending: Vec::new(),
        stats: Stats::default(),
    }));
    set_syncing(true);

    let bridge = {
        let well = well.clone();
        PhysicsWorker::spawner()
            .callback(move |event| on_event(&well, event))
            .encoding::<FrameCodec>()
            .spawn(crate::WORKER_SCRIPT)
    };
    well.borrow_mut().bridge = Some(bridge);
    install_pointer_handlers(&well);
    install_buttons(&well);
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
                show_paradox(&format!(
                    "We could not start a session ({e}). The list still works; reload to try again."
                ));
            }
        }
    });
}

fn set_syncing(on: bool) {
    if let Some(el) = by_test_id("syncing") {
        let _ = if on { el.remove_attribute("hidden") } else { el.set_attribute("hidden", "") };
    }
}

/// Shows the paradox banner (its title says "Temporal Paradox") with what happened.
fn show_paradox(message: &str) {
    let mut letters = message.chars();
    let message: String = letters.next().map(|first| first.to_uppercase().chain(letters).collect()).unwrap_or_default();
    if let Some(el) = by_test_id("paradox") {
        if let Some(text) = el.query_selector(".paradox-message").ok().flatten() {
            text.set_text_content(Some(&message));
        }
        let _ = el.remove_attribute("hidden");
    }
}

fn hide_paradox() {
    if let Some(el) = by_test_id("paradox") {
        let _ = el.set_attribute("hidden", "");
    }
}

/// Plain words for a paradox reason.
fn paradox_words(reason: &str) -> String {
    match reason {
        "state_lost" => "The Gravity Well lost its live state and rebuilt it from the catalog.".into(),
        "cart_full" => "That product is already at the most your cart orbit can hold (99).".into(),
        "unavailable" => "The Gravity Well could not record that gesture just now.".into(),
        "disconnected" => "The connection dropped before your gesture left.".into(),
        other => format!("Something changed under your gesture ({other})."),
    }
}

fn send(well: &Rc<RefCell<Well>>, command: Command) {
    if let Some(bridge) = &well.borrow().bridge {
        bridge.send(command);
    }
}

fn on_event(well: &Rc<RefCell<Well>>, event: Event) {
    match event {
        Event::Synced { ids, base_masses, cart } => {
            well.borrow_mut().base_masses = base_masses;
            on_synced(well, ids, cart)
        }
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
            note_forecasts(&mut w, forecasts);
            if let Some(prices) = prices {
                update_prices(&mut w, prices);
            }
        }
        Event::Stock { levels } => update_stock(&mut well.borrow_mut(), &levels),
        Event::Sent { q, gesture } => {
            let (index, what) = match gesture {
                Gesture::Flick { i, .. } => (i, "flick"),
                Gesture::Beam { i } => (i, "beam"),
                Gesture::Drop { i } => (i, "drop"),
            };
            well.borrow_mut().pending.push((q, index, what));
        }
        Event::Accepted { q } => {
            let mut w = well.borrow_mut();
            if let Some(pos) = w.pending.iter().position(|p| p.0 == q) {
                let (_, index, what) = w.pending.remove(pos);
                match what {
                    "beam" => add_to_cart(&mut w, index, 1),
                    "drop" => w.cart.retain(|(i, _)| *i != index),
                    _ => {}
                }
                render_cart(&w);
            }
        }
        Event::Refused { q, .. } => {
            let mut w = well.borrow_mut();
            if let Some(pos) = w.pending.iter().position(|p| p.0 == q) {
                let (_, index, _) = w.pending.remove(pos);
                // The manifold fades a refused flick back; the card shakes to say so.
                if let Some(Some(card)) = w.cards.get(index as usize) {
                    flash_refused(card);
                }
            }
        }
        Event::ErrorParadox { q, reason } => {
            let mut w = well.borrow_mut();
            if let Some(q) = q {
                w.pending.retain(|p| p.0 != q);
            }
            drop(w);
            play_rewind(well, &paradox_words(&reason));
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
            let seconds = (retry_in_ms as f64 / 1000.0).max(0.5);
            let words = if lost_during_gesture {
                format!("The connection dropped while a gesture was in flight. Rewinding to the last confirmed state; reconnecting in {seconds:.1} s.")
            } else {
                format!(
                    "The connection dropped. Rewinding to the last confirmed state; reconnecting in {seconds:.1} s."
                )
            };
            play_rewind(well, &words);
        }
        Event::Painting { started, reason } => {
            if !started {
                fall_back_to_dom_painter(well, &reason);
            }
        }
        Event::Layout { products, prices, paint_ms, intervals_ms, extrapolated_ms, watched, forecasts } => {
            let mut w = well.borrow_mut();
            let wanted = products as usize * physics_worker::view::LAYOUT_STRIDE;
            if let Some(rects) = take_positions().filter(|r| r.length() as usize == wanted) {
                w.rects.resize(wanted, 0.0);
                rects.copy_to(&mut w.rects);
            }
            for ms in paint_ms {
                Stats::push(&mut w.stats.paint_ms, ms as f64);
            }
            for ms in intervals_ms {
                Stats::push(&mut w.stats.worker_intervals, ms as f64);
            }
            for ms in extrapolated_ms {
                Stats::push(&mut w.stats.extrapolated_ms, ms as f64);
            }
            if !watched.is_empty() {
                let origin = w.canvas.as_ref().map(|c| c.get_bounding_client_rect());
                let (left, top) = origin.map_or((0.0, 0.0), |o| (o.left(), o.top()));
                for (t, x, y) in watched {
                    Stats::push(&mut w.stats.watched, (t, left + x as f64, top + y as f64));
                }
            }
            note_forecasts(&mut w, forecasts);
            if let Some(prices) = prices {
                update_prices(&mut w, prices);
            }
        }
        Event::Connection(_) | Event::Ready { .. } => {}
    }
}

fn flash_refused(card: &HtmlElement) {
    let _ = card.class_list().add_1("refused");
    let card = card.clone();
    let clear = Closure::once_into_js(move || {
        let _ = card.class_list().remove_1("refused");
    });
    let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(clear.unchecked_ref(), 600);
}

fn play_rewind(well: &Rc<RefCell<Well>>, words: &str) {
    let until = perf_now() + REWIND_MS;
    {
        let mut w = well.borrow_mut();
        w.rewinding_until = Some(until);
        let _ = w.container.class_list().add_1("rewinding");
    }
    show_paradox(words);
    check_rewind_after(well, REWIND_MS);
}

/// Ends the rewind once it has played (and its words were shown long enough), checked by a
/// timer: the page has no animation loop of its own while the worker paints.
fn check_rewind_after(well: &Rc<RefCell<Well>>, ms: f64) {
    let well = well.clone();
    let check = Closure::once_into_js(move || {
        let (over, lost) = {
            let w = well.borrow();
            (w.rewinding_until.is_some_and(|u| perf_now() >= u), w.connection_lost)
        };
        if over && !lost {
            end_rewind(&well);
            let next = well.borrow().rewinding_until.map(|u| u - perf_now());
            if let Some(wait) = next {
                check_rewind_after(&well, wait.max(16.0));
            }
        }
    });
    let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(check.unchecked_ref(), ms as i32 + 20);
}

fn on_synced(well: &Rc<RefCell<Well>>, ids: Vec<String>, cart: Vec<(u32, u32)>) {
    let document = window().document().expect("a document");
    let mut w = well.borrow_mut();
    w.cards = ids
        .iter()
        .map(|id| {
            document
                .query_selector(&format!(".product-grid [data-product-id=\"{id}\"]"))
                .ok()
                .flatten()
                .and_then(|e| e.dyn_into::<HtmlElement>().ok())
        })
        .collect();
    for (index, card) in w.cards.iter().enumerate() {
        if let Some(card) = card {
            let _ = card.set_attribute("data-index", &index.to_string());
        }
    }
    hide_retired_cards(&w.container, &ids);
    w.low_stock = w
        .cards
        .iter()
        .map(|c| c.as_ref().and_then(|c| c.query_selector(".stock-low, .stock-out").ok().flatten()).is_some())
        .collect();
    w.masses_shown = vec![0.0; ids.len()];
    w.price_jumped = vec![false; ids.len()];
    w.contention = vec![0.0; ids.len()];
    w.styles = w.cards.iter().map(|c| c.as_ref().map(|c| c.style())).collect();
    w.transforms = vec![String::new(); ids.len()];
    w.ids = ids;
    w.cart = cart;
    w.connection_lost = false;
    render_cart(&w);
    let begins_orbit = !w.reduced_motion && !w.orbiting;
    if begins_orbit {
        w.orbiting = true;
        let _ = w.container.class_list().add_1("well-orbit");
        refresh_scale(&mut w);
    }
    let _ = w.container.set_attribute("data-alive", "synced");
    let missing = w.cards.iter().any(Option::is_none);
    drop(w);
    if begins_orbit {
        start_painting(well);
    } else {
        send_products(well);
    }
    set_syncing(false);
    if missing {
        leptos::task::spawn_local(add_new_cards(well.clone()));
    }
    // A resync ends a paradox once its rewind has played.
    let until = well.borrow().rewinding_until;
    if until.is_none_or(|u| perf_now() >= u) {
        end_rewind(well);
    }
}

/// Cards of products that left the catalog (an admin retired them) leave the well.
fn hide_retired_cards(container: &HtmlElement, ids: &[String]) {
    let Ok(cards) = container.query_selector_all("[data-product-id]") else { return };
    for card in (0..cards.length()).filter_map(|k| cards.item(k)) {
        let card: Element = card.unchecked_into();
        let live = card.get_attribute("data-product-id").is_some_and(|id| ids.contains(&id));
        let _ = if live { card.remove_attribute("hidden") } else { card.set_attribute("hidden", "") };
    }
}

/// Cards for products that joined the catalog after the page was rendered (an admin created
/// them): copies of a rendered card, filled in from `GET /api/products`, so the card markup
/// stays defined in one place (the `ProductCard` component).
async fn add_new_cards(well: Rc<RefCell<Well>>) {
    let Ok((200, json)) = crate::session::api("GET", "/api/products", None).await else { return };
    let field = crate::session::field;
    let mut w = well.borrow_mut();
    let Some(template) = w.cards.iter().flatten().next().cloned() else { return };
    for product in js_sys::Array::from(&field(&json, "products")).iter() {
        let id = field(&product, "productId").as_string().unwrap_or_default();
        let Some(index) = w.ids.iter().position(|i| *i == id) else { continue };
        if w.cards[index].is_some() {
            continue;
        }
        let Ok(card) = template.clone_node_with_deep(true) else { continue };
        let card: HtmlElement = card.unchecked_into();
        let name = field(&product, "name").as_string().unwrap_or_default();
        let slug = field(&product, "slug").as_string().unwrap_or_default();
        let cents = field(&product, "priceCurrentCents").as_f64().unwrap_or(0.0) as i64;
        let units = field(&product, "stockLevel").as_f64().unwrap_or(0.0) as i64;
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
        set("img", Some("src"), &field(&product, "imageUrl").as_string().unwrap_or_default());
        set(".product-name", None, &name);
        set(".product-price", None, &format_cents(cents));
        set(".stock", Some("class"), stock_class);
        set(".stock", None, &stock_text);
        set("button[data-beam]", Some("data-beam"), &id);
        set(".beam-target", None, &format!(" {name} into your cart orbit"));
        let _ = w.container.append_child(&card);
        w.low_stock[index] = units <= LOW_STOCK;
        w.styles[index] = Some(card.style());
        w.cards[index] = Some(card);
    }
    drop(w);
    // The painter learns the new cards' names and stock.
    send_products(&well);
}

fn end_rewind(well: &Rc<RefCell<Well>>) {
    let mut w = well.borrow_mut();
    w.rewinding_until = None;
    let _ = w.container.class_list().remove_1("rewinding");
    if !w.connection_lost {
        if perf_now() >= w.banner_until {
            hide_paradox();
        } else {
            w.rewinding_until = Some(w.banner_until);
        }
    }
}

fn refresh_scale(w: &mut Well) {
    let (width, height, dpr) = crate::well_canvas::viewport(&w.container);
    w.scale = Viewport { width, height }.scale() as f64;
    if let (Some(_), Some(bridge)) = (&w.canvas, &w.bridge) {
        bridge.send(Command::Resize { width, height, dpr });
    }
}

/// Hands the worker a canvas to paint the well into, or runs the DOM painter when it cannot.
fn start_painting(well: &Rc<RefCell<Well>>) {
    let canvas = {
        let w = well.borrow();
        match (&w.bridge, crate::well_canvas::supported()) {
            (Some(bridge), true) => crate::well_canvas::attach(&w.container, bridge),
            _ => None,
        }
    };
    let Some(canvas) = canvas else {
        let reason = if crate::well_canvas::dom_painter_asked() {
            FORCED_DOM_PAINTER
        } else {
            "this browser cannot hand a canvas to a worker"
        };
        fall_back_to_dom_painter(well, reason);
        return;
    };
    {
        let mut w = well.borrow_mut();
        w.canvas = Some(canvas);
        let _ = w.container.class_list().add_1("painted");
        let _ = w.container.set_attribute("data-painter", "worker");
    }
    send_products(well);
    install_search(well);
    let images = {
        let w = well.borrow();
        let images: Vec<(usize, String)> = w
            .cards
            .iter()
            .enumerate()
            .filter_map(|(index, card)| {
                let src = card.as_ref()?.query_selector("img").ok()??.get_attribute("src")?;
                Some((index, src))
            })
            .collect();
        images
    };
    let well = Rc::downgrade(well);
    leptos::task::spawn_local(crate::well_canvas::send_images(images, move |command| {
        if let Some(well) = well.upgrade() {
            send(&well, command);
        }
    }));
}

/// The search box over the painted well: matches (by name, a typo forgiven) are pulled to the
/// front on an inner orbit, for this shopper only.
fn install_search(well: &Rc<RefCell<Well>>) {
    let (Some(box_), Some(input)) = (by_test_id("well-search-box"), by_test_id("well-search")) else { return };
    let _ = box_.remove_attribute("hidden");
    let on_input = {
        let well = well.clone();
        let input: web_sys::HtmlInputElement = input.clone().unchecked_into();
        Closure::<dyn FnMut()>::new(move || {
            let query = input.value();
            let w = well.borrow();
            let names: Vec<String> = w
                .cards
                .iter()
                .map(|card| {
                    let name = card.as_ref().and_then(|c| c.query_selector(".product-name").ok().flatten());
                    name.and_then(|n| n.text_content()).unwrap_or_default()
                })
                .collect();
            let matches = physics_worker::view::search(&names, &query);
            let status = match (query.trim().chars().count(), matches.len()) {
                (0, _) => String::new(),
                (1, _) => "Type at least two letters.".to_string(),
                (_, 0) => "No product matches.".to_string(),
                (_, 1) => format!("{} is at the front of the well.", names[matches[0]]),
                (_, n) => format!("{n} products are at the front of the well."),
            };
            if let Some(line) = box_.query_selector(".well-search-status").ok().flatten() {
                line.set_text_content(Some(&status));
            }
            let _ = w.container.set_attribute(
                "data-pulled",
                &matches.iter().filter_map(|i| w.ids.get(*i).cloned()).collect::<Vec<_>>().join(" "),
            );
            if let Some(bridge) = &w.bridge {
                bridge.send(Command::Pull(matches.into_iter().map(|i| i as u32).collect()));
            }
        })
    };
    let _ = input.add_event_listener_with_callback("input", on_input.as_ref().unchecked_ref());
    on_input.forget();
}

/// The DOM cards' names and stock to the worker's painter (after a sync: products may have come).
fn send_products(well: &Rc<RefCell<Well>>) {
    let w = well.borrow();
    if let (Some(_), Some(bridge)) = (&w.canvas, &w.bridge) {
        crate::well_canvas::send_products(&w.cards, bridge);
        bridge.send(Command::Cart(w.cart.clone()));
    }
}

/// The worker cannot paint: the page moves the DOM cards itself, and says so once.
fn fall_back_to_dom_painter(well: &Rc<RefCell<Well>>, reason: &str) {
    let mut w = well.borrow_mut();
    if let Some(canvas) = w.canvas.take() {
        canvas.remove();
    }
    let _ = w.container.class_list().remove_1("painted");
    let _ = w.container.set_attribute("data-painter", "dom");
    web_sys::console::warn_1(&format!("SwiftCart: the well is drawn by the page ({reason})").into());
    // One line for the shopper, unless they asked for it (`?painter=dom`).
    if reason != FORCED_DOM_PAINTER {
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

fn update_prices(w: &mut Well, prices: Vec<i64>) {
    for (index, &cents) in prices.iter().enumerate() {
        let previous = w.prices.get(index).copied().unwrap_or(cents);
        if w.prices.len() > index && previous == cents {
            continue;
        }
        let Some(Some(card)) = w.cards.get(index) else { continue };
        let _ = card.set_attribute("data-price-cents", &cents.to_string());
        let text = format_cents(cents);
        if let Some(price) = card.query_selector(".product-price").ok().flatten() {
            price.set_text_content(Some(&text));
        }
        // A move of 1 % or more in one update is a fast price move.
        if let Some(jumped) = w.price_jumped.get_mut(index) {
            *jumped = previous > 0 && (cents - previous).abs() as f64 >= 0.01 * previous as f64;
        }
        show_instability(w, index);
    }
    w.prices = prices;
}

/// Shows a card's Redshift glitch ([`instability`]).
fn show_instability(w: &Well, index: usize) {
    let Some(Some(card)) = w.cards.get(index) else { return };
    let flag = |list: &[bool]| list.get(index) == Some(&true);
    let level = instability(flag(&w.price_jumped), flag(&w.low_stock), w.contention.get(index).copied().unwrap_or(0.0));
    let _ = card.style().set_property("--instability", &format!("{level:.2}"));
    let _ = if level >= REDSHIFT_FROM {
        card.class_list().add_1("redshift")
    } else {
        card.class_list().remove_1("redshift")
    };
}

/// New stock levels: the card's stock line, and low stock for the Redshift glitch.
fn update_stock(w: &mut Well, levels: &[(u32, i64)]) {
    for &(index, units) in levels {
        let index = index as usize;
        let Some(Some(card)) = w.cards.get(index) else { continue };
        let (text, class) = stock_label(units);
        let _ = card.set_attribute("data-stock", &units.to_string());
        if let Some(line) = card.query_selector(".stock").ok().flatten() {
            line.set_class_name(class);
            line.set_text_content(Some(&text));
        }
        if let Some(low) = w.low_stock.get_mut(index) {
            *low = units <= LOW_STOCK;
        }
        show_instability(w, index);
    }
}

fn add_to_cart(w: &mut Well, index: u32, quantity: u32) {
    match w.cart.iter_mut().find(|(i, _)| *i == index) {
        Some((_, q)) => *q = (*q + quantity).min(99),
        None => w.cart.push((index, quantity)),
    }
}

/// The cart orbit: a token per line, orbiting the cart (CSS), each with a remove button.
fn render_cart(w: &Well) {
    let Some(orbit) = by_test_id("cart-orbit") else { return };
    let Some(ring) = orbit.query_selector(".cart-ring").ok().flatten() else { return };
    let document = window().document().expect("a document");
    ring.set_inner_html("");
    let count: u32 = w.cart.iter().map(|(_, q)| q).sum();
    for (slot, (index, quantity)) in w.cart.iter().enumerate() {
        let Some(id) = w.ids.get(*index as usize) else { continue };
        let Some(Some(card)) = w.cards.get(*index as usize) else { continue };
        let name =
            card.query_selector(".product-name").ok().flatten().and_then(|n| n.text_content()).unwrap_or_default();
        let image = card.query_selector("img").ok().flatten().and_then(|i| i.get_attribute("src")).unwrap_or_default();
        let Ok(token) = document.create_element("li") else { continue };
        token.set_class_name("cart-token");
        let _ = token.set_attribute("data-cart-product-id", id);
        let _ = token.set_attribute("data-index", &index.to_string());
        let _ = token.set_attribute("style", &format!("--slot:{slot};--slots:{}", w.cart.len().max(1)));
        token.set_inner_html(&format!(
            "<img src=\"{}\" alt=\"\" width=\"36\" height=\"36\"><span class=\"qty\">×{quantity}</span>\
             <button type=\"button\" class=\"drop\" data-drop=\"{index}\" aria-label=\"Remove {} from your cart\">×</button>",
            crate::escape_html(&image),
            crate::escape_html(&name)
        ));
        let _ = ring.append_child(&token);
    }
    if let Some(label) = orbit.query_selector(".cart-count").ok().flatten() {
        label.set_text_content(Some(&match count {
            0 => "Cart orbit: empty".to_string(),
            1 => "Cart orbit: 1 item".to_string(),
            n => format!("Cart orbit: {n} items"),
        }));
    }
    let _ = orbit.set_attribute("data-count", &count.to_string());
    if let (Some(_), Some(bridge)) = (&w.canvas, &w.bridge) {
        bridge.send(Command::Cart(w.cart.clone()));
    }
}

/// The animation loop's closure, which re-arms itself every frame.
type FrameCallback = Rc<RefCell<Option<Closure<dyn FnMut(f64)>>>>;

/// The one animation loop: write the newest positions, ask for the next.
fn start_frame_loop(well: Rc<RefCell<Well>>) {
    let callback: FrameCallback = Rc::new(RefCell::new(None));
    let again = callback.clone();
    let origin = time_origin();
    *callback.borrow_mut() = Some(Closure::new(move |timestamp: f64| {
        let started = perf_now();
        frame(&well, timestamp, origin);
        let mut w = well.borrow_mut();
        let spent = perf_now() - started;
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
    let rewind_over = well.borrow().rewinding_until.is_some_and(|u| perf_now() >= u);
    if rewind_over && !well.borrow().connection_lost {
        end_rewind(well);
    }
    let mut w = well.borrow_mut();
    if !w.frame_in_flight && !w.ids.is_empty() {
        w.frame_in_flight = true;
        if let Some(bridge) = &w.bridge {
            bridge.send(Command::Frame { now: origin + timestamp });
        }
    }
    // During the rewind the cards glide (CSS transition) back to the last confirmed positions.
    if !w.fresh || !w.orbiting {
        return;
    }
    w.fresh = false;
    let scale = w.scale;
    let mut unstable = Vec::new();
    let Well { styles, positions, masses_shown, transforms, base_masses, contention, .. } = &mut *w;
    let mut text = String::with_capacity(64);
    for (index, style) in styles.iter().enumerate() {
        let Some(style) = style else { continue };
        let Some(p) = positions.get(index * STRIDE..index * STRIDE + STRIDE) else { break };
        let m = p[3] as f64;
        let at = project(p[0], p[1], p[2], p[3], scale as f32);
        text.clear();
        let _ = write!(text, "translate3d({:.1}px, {:.1}px, 0) scale({:.3})", at.dx, at.dy, at.size);
        // A card that moved less than the written precision costs nothing this frame.
        if transforms[index] != text {
            let _ = style.set_property("transform", &text);
            transforms[index].clone_from(&text);
        }
        let shown = &mut masses_shown[index];
        if (m as f32 - *shown).abs() > 0.25 {
            *shown = m as f32;
            let _ = style.set_property("--mass", &format!("{:.2}", m));
            contention[index] = crate::catalog::contention(m as f32, base_masses.get(index).copied().unwrap_or(1.0));
            unstable.push(index);
        }
    }
    for index in unstable {
        show_instability(&w, index);
    }
}

/// Keeps what the worker did with other shoppers' gestures, by product id, for the stats.
fn note_forecasts(w: &mut Well, forecasts: Vec<physics_worker::worker::Forecasted>) {
    for (index, arrived, departed, confirmed) in forecasts {
        if let Some(id) = w.ids.get(index as usize).cloned() {
            Stats::push(&mut w.stats.forecasts, (id, arrived, departed, confirmed));
        }
    }
}

/// `window.__swiftcartStats()`: `{intervals, mainMs, manifoldUs, extrapolatedMs}` of the page's
/// last frames (DOM painter), `{paintMs, workerIntervals, watched}` of the worker's, `forecasts`
/// (`[productId, arrivedAt, departedAt | null, confirmed]` per other shopper's gesture, epoch ms),
/// and which `painter` draws, for the browser measurements (docs/performance.md) and tests.
fn stats_object(w: &Well) -> JsValue {
    let object = js_sys::Object::new();
    let list = |values: &[f64]| values.iter().map(|v| JsValue::from_f64(*v)).collect::<js_sys::Array>();
    let _ = js_sys::Reflect::set(&object, &"intervals".into(), &list(&w.stats.intervals));
    let _ = js_sys::Reflect::set(&object, &"mainMs".into(), &list(&w.stats.main_ms));
    let _ = js_sys::Reflect::set(&object, &"manifoldUs".into(), &list(&w.stats.manifold_us));
    let _ = js_sys::Reflect::set(&object, &"extrapolatedMs".into(), &list(&w.stats.extrapolated_ms));
    let _ = js_sys::Reflect::set(&object, &"paintMs".into(), &list(&w.stats.paint_ms));
    let _ = js_sys::Reflect::set(&object, &"workerIntervals".into(), &list(&w.stats.worker_intervals));
    let watched: js_sys::Array =
        w.stats.watched.iter().map(|(t, x, y)| js_sys::Array::of3(&(*t).into(), &(*x).into(), &(*y).into())).collect();
    let _ = js_sys::Reflect::set(&object, &"watched".into(), &watched);
    let forecasts: js_sys::Array = w
        .stats
        .forecasts
        .iter()
        .map(|(id, arrived, departed, confirmed)| {
            let departed = departed.map_or(JsValue::NULL, JsValue::from_f64);
            js_sys::Array::of4(&id.into(), &(*arrived).into(), &departed, &(*confirmed).into())
        })
        .collect();
    let _ = js_sys::Reflect::set(&object, &"forecasts".into(), &forecasts);
    let painter = if w.canvas.is_some() { "worker" } else { "dom" };
    let _ = js_sys::Reflect::set(&object, &"painter".into(), &painter.into());
    object.into()
}

/// The pointer moved without dragging: the card under it comes to the front.
fn hover(w: &mut Well, x: f64, y: f64) {
    let Some(canvas) = &w.canvas else { return };
    let under = crate::well_canvas::product_at(canvas, &w.rects, x, y);
    if under != w.hover {
        w.hover = under;
        if let Some(bridge) = &w.bridge {
            bridge.send(Command::Hover(under.map(|i| i as u32)));
        }
    }
}

/// A tap on a card painted on the canvas opens that product, as its link would.
fn open_painted_card(well: &Rc<RefCell<Well>>, index: usize) {
    let w = well.borrow();
    if w.canvas.is_none() {
        return; // the DOM card's link gets the click itself
    }
    let link = w.cards.get(index).and_then(|c| c.as_ref()?.query_selector("a").ok()?);
    if let Some(link) = link.and_then(|l| l.dyn_into::<HtmlElement>().ok()) {
        drop(w);
        link.click();
    }
}

fn card_index(target: &Element) -> Option<usize> {
    target.closest("[data-index]").ok().flatten()?.get_attribute("data-index")?.parse().ok()
}

fn install_pointer_handlers(well: &Rc<RefCell<Well>>) {
    let container = well.borrow().container.clone();
    let on_down = {
        let well = well.clone();
        Closure::<dyn FnMut(web_sys::PointerEvent)>::new(move |event: web_sys::PointerEvent| {
            let Some(target) = crate::dom::event_element(&event) else { return };
            if target.closest("button").ok().flatten().is_some() {
                return;
            }
            let mut w = well.borrow_mut();
            let (x, y) = (event.client_x() as f64, event.client_y() as f64);
            let index = match &w.canvas {
                Some(canvas) => crate::well_canvas::product_at(canvas, &w.rects, x, y),
                None => card_index(&target),
            };
            let Some(index) = index else { return };
            if !w.orbiting {
                return;
            }
            w.gesture = Some(Drag {
                index,
                pointer: event.pointer_id(),
                samples: vec![(perf_now(), event.client_x() as f64, event.client_y() as f64)],
                moved: false,
                beamed: false,
            });
            let _ = w.container.set_pointer_capture(event.pointer_id());
            drop(w);
            // Long press: a beam if the pointer has not moved by then.
            let well = well.clone();
            let pointer = event.pointer_id();
            let long_press = Closure::once_into_js(move || {
                let mut w = well.borrow_mut();
                let Some(drag) = w.gesture.as_mut() else { return };
                if drag.pointer == pointer && !drag.moved && !drag.beamed {
                    drag.beamed = true;
                    let index = drag.index as u32;
                    drop(w);
                    send(&well, Command::SendGesture(Gesture::Beam { i: index }));
                }
            });
            let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(
                long_press.unchecked_ref(),
                LONG_PRESS_MS as i32,
            );
        })
    };
    let on_move = {
        let well = well.clone();
        Closure::<dyn FnMut(web_sys::PointerEvent)>::new(move |event: web_sys::PointerEvent| {
            let mut w = well.borrow_mut();
            let (x, y) = (event.client_x() as f64, event.client_y() as f64);
            if w.gesture.is_none() {
                hover(&mut w, x, y);
                return;
            }
            let Some(drag) = w.gesture.as_mut() else { return };
            let now = perf_now();
            let (_, x0, y0) = drag.samples[0];
            if ((x - x0).powi(2) + (y - y0).powi(2)).sqrt() > DRAG_THRESHOLD_PX {
                drag.moved = true;
            }
            drag.samples.push((now, x, y));
            let keep_from = drag.samples.iter().rposition(|s| now - s.0 > FLICK_WINDOW_MS).unwrap_or(0);
            drag.samples.drain(..keep_from);
        })
    };
    let on_up = {
        let well = well.clone();
        Closure::<dyn FnMut(web_sys::PointerEvent)>::new(move |event: web_sys::PointerEvent| {
            let Some(drag) = well.borrow_mut().gesture.take() else { return };
            if drag.beamed {
                return; // a long press beamed
            }
            if !drag.moved {
                // A tap opens the product: the link's own click, or on the canvas the link of
                // the card drawn there.
                if event.type_() == "pointerup" {
                    open_painted_card(&well, drag.index);
                }
                return;
            }
            event.prevent_default();
            suppress_next_click(&well);
            let (x, y) = (event.client_x() as f64, event.client_y() as f64);
            let over_cart = by_test_id("cart-orbit").is_some_and(|orbit| {
                let r = orbit.get_bounding_client_rect();
                x >= r.left() && x <= r.right() && y >= r.top() && y <= r.bottom()
            });
            let index = drag.index as u32;
            if over_cart {
                send(&well, Command::SendGesture(Gesture::Beam { i: index }));
                return;
            }
            // Velocity over the last ~80 ms of movement, to well units per second. A pointer held
            // still for longer than that before it was released throws nothing.
            let now = perf_now();
            let mut samples = drag.samples;
            if samples.last().is_some_and(|last| now - last.0 > FLICK_WINDOW_MS) {
                return;
            }
            // The release usually repeats the last move's position: it adds no segment.
            if samples.last().is_none_or(|last| (last.1, last.2) != (x, y)) {
                samples.push((now, x, y));
            }
            if samples.len() < 2 {
                return;
            }
            let (end_t, end_x, end_y) = *samples.last().expect("two samples");
            // The oldest sample in the window, but always at least the last segment.
            let in_window = samples.iter().position(|s| now - s.0 <= FLICK_WINDOW_MS).unwrap_or(0);
            let first = samples[in_window.min(samples.len() - 2)];
            let dt = (end_t - first.0).max(8.0);
            let (width, height, _) = crate::well_canvas::viewport(&well.borrow().container);
            let [vx, vy] = Viewport { width, height }.impulse_from_screen(
                ((end_x - first.1) / dt * 1000.0) as f32,
                ((end_y - first.2) / dt * 1000.0) as f32,
            );
            let length = (vx * vx + vy * vy).sqrt();
            let k = if length > MAX_IMPULSE { MAX_IMPULSE / length } else { 1.0 };
            if length > 0.02 {
                send(&well, Command::SendGesture(Gesture::Flick { i: index, v: [vx * k, vy * k, 0.0] }));
            }
        })
    };
    let _ = container.add_event_listener_with_callback("pointerdown", on_down.as_ref().unchecked_ref());
    let _ = container.add_event_listener_with_callback("pointermove", on_move.as_ref().unchecked_ref());
    let _ = container.add_event_listener_with_callback("pointerup", on_up.as_ref().unchecked_ref());
    let _ = container.add_event_listener_with_callback("pointercancel", on_up.as_ref().unchecked_ref());
    // Keyboard focus on a DOM card draws its ring on the canvas, and brings it to the front.
    let on_focus = {
        let well = well.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            let index = if event.type_() == "focusin" {
                crate::dom::event_element(&event).and_then(|target| card_index(&target))
            } else {
                None
            };
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
                if let Some(bridge) = &w.bridge {
                    bridge.send(Command::Hover(None));
                }
            }
        })
    };
    let _ = container.add_event_listener_with_callback("pointerleave", on_leave.as_ref().unchecked_ref());
    on_leave.forget();
    // Dragging must not scroll or select on touch screens while orbiting.
    on_down.forget();
    on_move.forget();
    on_up.forget();
    let on_resize = {
        let well = well.clone();
        Closure::<dyn FnMut()>::new(move || refresh_scale(&mut well.borrow_mut()))
    };
    let _ = window().add_event_listener_with_callback("resize", on_resize.as_ref().unchecked_ref());
    on_resize.forget();
    let stats = {
        let well = well.clone();
        Closure::<dyn FnMut() -> JsValue>::new(move || stats_object(&well.borrow()))
    };
    let _ = js_sys::Reflect::set(&window(), &"__swiftcartStats".into(), stats.as_ref().unchecked_ref());
    stats.forget();
    let layout = {
        let well = well.clone();
        Closure::<dyn FnMut() -> JsValue>::new(move || {
            let w = well.borrow();
            match &w.canvas {
                Some(canvas) => crate::well_canvas::layout_object(canvas, &w.rects, &w.ids),
                None => JsValue::NULL,
            }
        })
    };
    let _ = js_sys::Reflect::set(&window(), &"__swiftcartLayout".into(), layout.as_ref().unchecked_ref());
    layout.forget();
    let watch = {
        let well = well.clone();
        Closure::<dyn FnMut(String)>::new(move |id: String| {
            let mut w = well.borrow_mut();
            w.stats.watched.clear();
            let index = w.ids.iter().position(|i| *i == id).map(|i| i as u32);
            if let Some(bridge) = &w.bridge {
                bridge.send(Command::Watch(index));
            }
        })
    };
    let _ = js_sys::Reflect::set(&window(), &"__swiftcartWatch".into(), watch.as_ref().unchecked_ref());
    watch.forget();
    let disconnect = {
        let well = well.clone();
        Closure::<dyn FnMut()>::new(move || send(&well, Command::Disconnect))
    };
    let _ = js_sys::Reflect::set(&window(), &"__swiftcartDisconnect".into(), disconnect.as_ref().unchecked_ref());
    disconnect.forget();
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
    let container2 = container.clone();
    let remove = Closure::once_into_js(move || {
        let _ = container2.remove_event_listener_with_callback_and_bool("click", handler.unchecked_ref(), true);
    });
    let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(remove.unchecked_ref(), 300);
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
                let index = well.borrow().ids.iter().position(|i| *i == id);
                if let Some(index) = index {
                    send(&well, Command::SendGesture(Gesture::Beam { i: index as u32 }));
                }
            } else if let Some(button) = target.closest("[data-drop]").ok().flatten() {
                event.prevent_default();
                if let Some(index) = button.get_attribute("data-drop").and_then(|i| i.parse().ok()) {
                    send(&well, Command::SendGesture(Gesture::Drop { i: index }));
                }
            }
        })
    };
    let _ = document.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
    on_click.forget();
}
