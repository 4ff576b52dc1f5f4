//! Test and measurement hooks on `window`: `__swiftcartStats()`, `__swiftcartLayout()`,
//! `__swiftcartWatch(productId)` and `__swiftcartDisconnect()`. The browser tests and
//! `e2e/measure.mjs` read the well through these instead of card rectangles.

use std::cell::RefCell;
use std::rc::Rc;

use physics_worker::worker::{Command, Forecasted};
use wasm_bindgen::prelude::*;

use super::{send, Well};
use crate::dom::window;

/// Frame statistics kept for measurements (`window.__swiftcartStats()`).
const STATS_FRAMES: usize = 1_200;

/// What the page and the worker report about their frames, the last [`STATS_FRAMES`] of each.
#[derive(Default)]
pub(super) struct Stats {
    pub last_frame: Option<f64>,
    pub intervals: Vec<f64>,
    pub main_ms: Vec<f64>,
    pub manifold_us: Vec<f64>,
    pub extrapolated_ms: Vec<f64>,
    /// The worker painter's time per frame, and the intervals between its frames.
    pub paint_ms: Vec<f64>,
    pub worker_intervals: Vec<f64>,
    /// Where the watched product was painted: `[epoch ms, x, y]` (client coordinates).
    pub watched: Vec<(f64, f64, f64)>,
    /// Other shoppers' gestures as the worker showed them: product id, epoch ms the event
    /// arrived, epoch ms of the first frame painted off the old path, confirmed bit for bit.
    pub forecasts: Vec<(String, f64, Option<f64>, bool)>,
}

impl Stats {
    /// Appends `value`, dropping the oldest beyond [`STATS_FRAMES`].
    pub fn push<T>(list: &mut Vec<T>, value: T) {
        if list.len() == STATS_FRAMES {
            list.remove(0);
        }
        list.push(value);
    }
}

/// Keeps what the worker did with other shoppers' gestures, by product id, for the stats.
pub(super) fn note_forecasts(w: &mut Well, forecasts: Vec<Forecasted>) {
    for (index, arrived, departed, confirmed) in forecasts {
        if let Some(id) = w.id_of(index as usize).map(str::to_string) {
            Stats::push(&mut w.stats.forecasts, (id, arrived, departed, confirmed));
        }
    }
}

/// The worker painter's frames since its last layout report.
pub(super) fn note_worker_frames(
    w: &mut Well,
    paint_ms: &[f32],
    intervals_ms: &[f32],
    extrapolated_ms: &[f32],
    watched: Vec<(f64, f32, f32)>,
) {
    for ms in paint_ms {
        Stats::push(&mut w.stats.paint_ms, *ms as f64);
    }
    for ms in intervals_ms {
        Stats::push(&mut w.stats.worker_intervals, *ms as f64);
    }
    for ms in extrapolated_ms {
        Stats::push(&mut w.stats.extrapolated_ms, *ms as f64);
    }
    if !watched.is_empty() {
        let origin = w.canvas.as_ref().map(|c| c.get_bounding_client_rect());
        let (left, top) = origin.map_or((0.0, 0.0), |o| (o.left(), o.top()));
        for (t, x, y) in watched {
            Stats::push(&mut w.stats.watched, (t, left + x as f64, top + y as f64));
        }
    }
}

/// `window.__swiftcartStats()`: `{intervals, mainMs, manifoldUs, extrapolatedMs}` of the page's
/// last frames (DOM painter), `{paintMs, workerIntervals, watched}` of the worker's, `forecasts`
/// (`[productId, arrivedAt, departedAt | null, confirmed]` per other shopper's gesture, epoch ms),
/// the `zoom`, and which `painter` draws, for the browser measurements (docs/performance.md) and
/// tests.
fn stats_object(w: &Well) -> JsValue {
    let object = js_sys::Object::new();
    let set = |key: &str, value: &JsValue| drop(js_sys::Reflect::set(&object, &key.into(), value));
    let list = |values: &[f64]| values.iter().map(|v| JsValue::from_f64(*v)).collect::<js_sys::Array>();
    set("intervals", &list(&w.stats.intervals));
    set("mainMs", &list(&w.stats.main_ms));
    set("manifoldUs", &list(&w.stats.manifold_us));
    set("extrapolatedMs", &list(&w.stats.extrapolated_ms));
    set("paintMs", &list(&w.stats.paint_ms));
    set("workerIntervals", &list(&w.stats.worker_intervals));
    let watched: js_sys::Array =
        w.stats.watched.iter().map(|(t, x, y)| js_sys::Array::of3(&(*t).into(), &(*x).into(), &(*y).into())).collect();
    set("watched", &watched);
    let forecasts: js_sys::Array = w
        .stats
        .forecasts
        .iter()
        .map(|(id, arrived, departed, confirmed)| {
            let departed = departed.map_or(JsValue::NULL, JsValue::from_f64);
            js_sys::Array::of4(&id.into(), &(*arrived).into(), &departed, &(*confirmed).into())
        })
        .collect();
    set("forecasts", &forecasts);
    set("zoom", &JsValue::from_f64(w.camera.zoom as f64));
    set("painter", &(if w.canvas.is_some() { "worker" } else { "dom" }).into());
    object.into()
}

/// Puts a hook on `window` under `name`.
fn expose<F: ?Sized + wasm_bindgen::closure::WasmClosure>(name: &str, hook: Closure<F>) {
    let _ = js_sys::Reflect::set(&window(), &name.into(), hook.as_ref().unchecked_ref());
    hook.forget();
}

/// Installs the hooks for the running well.
pub(super) fn install(well: &Rc<RefCell<Well>>) {
    let w = well.clone();
    expose("__swiftcartStats", Closure::<dyn FnMut() -> JsValue>::new(move || stats_object(&w.borrow())));
    let w = well.clone();
    expose(
        "__swiftcartLayout",
        Closure::<dyn FnMut() -> JsValue>::new(move || {
            let w = w.borrow();
            let ids: Vec<&str> = w.cards.iter().map(|card| card.id.as_str()).collect();
            match &w.canvas {
                Some(canvas) => crate::well_canvas::layout_object(canvas, &w.rects, &ids),
                None => JsValue::NULL,
            }
        }),
    );
    let w = well.clone();
    expose(
        "__swiftcartWatch",
        Closure::<dyn FnMut(String)>::new(move |id: String| {
            let mut w = w.borrow_mut();
            w.stats.watched.clear();
            let index = w.index_of(&id).map(|i| i as u32);
            w.send(Command::Watch(index));
        }),
    );
    let w = well.clone();
    expose("__swiftcartDisconnect", Closure::<dyn FnMut()>::new(move || send(&w, Command::Disconnect)));
}
