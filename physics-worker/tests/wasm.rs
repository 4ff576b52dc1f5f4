//! wasm32 side of the determinism check, run headless in Chromium by `wasm-pack test`.
#![cfg(target_arch = "wasm32")]

mod common;

use physics_worker::wire::{decode, encode, ClientFrame};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn wasm_physics_is_bit_identical_to_the_native_vectors() {
    let (hash, _) = common::golden();
    assert_eq!(common::state_hash(&common::run_scenario()), hash);
}

#[wasm_bindgen_test]
fn wasm_prices_match_the_native_vectors_to_the_cent() {
    let (_, prices) = common::golden();
    assert_eq!(common::price_samples(), prices);
}

#[wasm_bindgen_test]
fn manifold_interpolates_under_jitter_in_the_browser() {
    common::streams::check_interpolation_under_jitter();
}

#[wasm_bindgen_test]
fn manifold_survives_loss_and_reordering_in_the_browser() {
    common::streams::check_loss_and_reordering();
}

#[wasm_bindgen_test]
fn manifold_caps_extrapolation_in_the_browser() {
    common::streams::check_extrapolation_cap();
}

#[wasm_bindgen_test]
fn manifold_reconciles_predictions_without_snaps_in_the_browser() {
    common::streams::check_prediction_reconciles_without_snaps(false);
    common::streams::check_prediction_reconciles_without_snaps(true);
}

#[wasm_bindgen_test]
fn a_forecast_shows_at_once_and_its_tick_changes_nothing_in_the_browser() {
    common::streams::check_forecast(false);
}

#[wasm_bindgen_test]
fn a_refused_forecast_rolls_back_within_the_reconciliation_window_in_the_browser() {
    common::streams::check_forecast(true);
}

#[wasm_bindgen_test]
fn frames_round_trip_in_the_browser() {
    let frame = ClientFrame::Flick { i: 7, v: [0.25, -1.0, 0.0], q: 3 };
    assert_eq!(decode::<ClientFrame>(&encode(&frame).unwrap()).unwrap(), frame);
    assert!(decode::<ClientFrame>(b"\xc1garbage").is_err());
}

/// The bridge codec: an event with positions attached arrives with the same positions, as one
/// `Float32Array`, and an event without them carries none.
#[cfg(feature = "worker")]
#[wasm_bindgen_test]
fn the_bridge_codec_carries_positions_beside_the_event() {
    use gloo_worker::Codec;
    use physics_worker::codec::{attach_positions, take_positions, FrameCodec};
    use physics_worker::worker::Event;

    let positions: Vec<f32> = (0..800).map(|i| i as f32 * 0.25 - 7.0).collect();
    attach_positions(&positions);
    let update = Event::StateUpdate {
        products: 200,
        prices: Some(vec![1_299, 499]),
        manifold_us: 12.5,
        extrapolated_ms: 0.0,
        forecasts: vec![(3, 1_000.5, Some(1_010.25), true)],
    };
    let message = FrameCodec::encode(update);
    assert!(take_positions().is_none(), "nothing arrived yet");
    match FrameCodec::decode::<Event>(message) {
        Event::StateUpdate { products, prices, forecasts, .. } => {
            assert_eq!(products, 200);
            assert_eq!(prices, Some(vec![1_299, 499]));
            assert_eq!(forecasts, vec![(3, 1_000.5, Some(1_010.25), true)]);
        }
        other => panic!("decoded {other:?}"),
    }
    assert_eq!(take_positions().expect("positions came along").to_vec(), positions);

    let plain = FrameCodec::encode(Event::Accepted { q: 9 });
    assert!(matches!(FrameCodec::decode::<Event>(plain), Event::Accepted { q: 9 }));
    assert!(take_positions().is_none(), "a plain event carries no positions");
}

/// The alpha of the pixel at CSS point (`x`, `y`) of a painted canvas (device pixel ratio 1).
#[cfg(feature = "worker")]
fn alpha_at(canvas: &web_sys::OffscreenCanvas, x: f32, y: f32) -> u8 {
    use wasm_bindgen::JsCast;
    let context: web_sys::OffscreenCanvasRenderingContext2d =
        canvas.get_context("2d").unwrap().unwrap().dyn_into().unwrap();
    let pixel = context.get_image_data(x as f64, y as f64, 1.0, 1.0).unwrap();
    pixel.data()[3]
}

#[cfg(feature = "worker")]
#[wasm_bindgen_test]
fn the_painter_draws_cards_where_the_layout_says_and_nothing_elsewhere() {
    use physics_worker::paint::Painter;
    use physics_worker::view::{Detail, Viewport, LAYOUT_STRIDE};

    let viewport = Viewport { width: 800.0, height: 600.0 };
    let canvas = web_sys::OffscreenCanvas::new(800, 600).unwrap();
    let mut painter = Painter::new(canvas.clone(), viewport, 1.0).unwrap();
    // 60 products: the 40 nearest the front are cards, the rest planets.
    let products: Vec<(String, String, i64)> =
        (0..60).map(|i| (format!("Product {i} </title><script>"), "$12.00".to_string(), i)).collect();
    painter.set_products(products);
    let positions: Vec<f32> = (0..60)
        .flat_map(|i| {
            let angle = i as f32 * 0.7;
            [angle.cos() * 0.8, angle.sin() * 0.5, -1.0 + i as f32 / 30.0, 1.0]
        })
        .collect();
    painter.paint(&positions, 0.0);
    let layout = painter.layout().clone();
    assert_eq!(layout.detail.iter().filter(|d| **d == Detail::Card).count(), 40);
    let front = *layout.order.last().unwrap();
    let r = &layout.rects[front * LAYOUT_STRIDE..front * LAYOUT_STRIDE + 4];
    assert!(alpha_at(&canvas, r[0] + r[2] / 2.0, r[1] + r[3] / 2.0) > 0, "the front card is painted");
    assert_eq!(alpha_at(&canvas, 2.0, 2.0), 0, "an empty corner stays clear");
    // Focus brings a planet to the front as a card.
    let back = layout.order[0];
    assert_eq!(layout.detail[back], Detail::Planet);
    painter.set_focus(Some(back));
    painter.paint(&positions, 16.0);
    assert_eq!(painter.layout().detail[back], Detail::Card);
    assert_eq!(*painter.layout().order.last().unwrap(), back);
}
