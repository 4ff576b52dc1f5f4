//! Any bytes a client can send: decoding never panics, and whatever passes gesture validation
//! is safe to hand to the engine (a known product index, a finite impulse no longer than the
//! maximum). Server frames are decoded too, as the worker decodes them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use physics_worker::shared::MAX_IMPULSE;
use physics_worker::wire::{decode, encode, validate_gesture, ClientFrame, GestureKind, ServerFrame};

const CATALOG: usize = 64;

fuzz_target!(|bytes: &[u8]| {
    let _ = decode::<ServerFrame>(bytes);
    let Ok(frame) = decode::<ClientFrame>(bytes) else { return };
    let max = MAX_IMPULSE;
    if let Some(Ok((_, gesture))) = validate_gesture(&frame, CATALOG, max) {
        assert!((gesture.i as usize) < CATALOG);
        if let GestureKind::Flick(v) = gesture.kind {
            assert!(v.iter().all(|x| x.is_finite()), "{v:?}");
            let length = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            assert!(length <= f64::from(max) * 1.0001, "{length}");
        }
    }
    // What decodes re-encodes and decodes to the same frame kind.
    let again: ClientFrame = decode(&encode(&frame).expect("a decoded frame encodes")).expect("and decodes back");
    assert_eq!(std::mem::discriminant(&again), std::mem::discriminant(&frame));
});
