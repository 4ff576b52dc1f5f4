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
fn frames_round_trip_in_the_browser() {
    let frame = ClientFrame::Flick { i: 7, v: [0.25, -1.0, 0.0], q: 3 };
    assert_eq!(decode::<ClientFrame>(&encode(&frame).unwrap()).unwrap(), frame);
    assert!(decode::<ClientFrame>(b"\xc1garbage").is_err());
}
