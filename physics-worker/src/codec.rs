//! The codec of the page ↔ worker bridge: gloo-worker's bincode envelope for every message, and,
//! beside a `StateUpdate`, the frame's positions as one `Float32Array`.
//!
//! The positions never go through serde: the worker copies its buffer into a `Float32Array`
//! once ([`attach_positions`]), the browser's structured clone carries it across, and the page
//! copies it into its own buffer with one `memcpy` ([`take_positions`]). gloo-worker posts
//! without a transfer list, so the array is cloned rather than transferred: 3.2 KB at 200
//! products, 16 KB at 1,000 (see docs/performance.md).

use std::cell::RefCell;

use gloo_worker::Codec;
use js_sys::{Float32Array, Object, Reflect, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};

thread_local! {
    /// Worker side: positions to send with the next message.
    static OUTGOING: RefCell<Option<Float32Array>> = const { RefCell::new(None) };
    /// Page side: positions that came with the last message.
    static INCOMING: RefCell<Option<Float32Array>> = const { RefCell::new(None) };
}

/// Field of the envelope bytes in a message that carries positions.
const ENVELOPE: &str = "b";
/// Field of the positions.
const POSITIONS: &str = "p";

/// Worker side: the next message sent carries these positions.
pub fn attach_positions(positions: &[f32]) {
    OUTGOING.with(|slot| *slot.borrow_mut() = Some(Float32Array::from(positions)));
}

/// Page side: the positions that came with the message just delivered, if any.
pub fn take_positions() -> Option<Float32Array> {
    INCOMING.with(|slot| slot.borrow_mut().take())
}

/// Bincode envelope, plus a `Float32Array` of positions when one is attached.
#[derive(Debug)]
pub struct FrameCodec;

impl Codec for FrameCodec {
    fn encode<I: Serialize>(input: I) -> JsValue {
        let bytes = bincode::serialize(&input).expect("a worker message serializes");
        let envelope = Uint8Array::from(bytes.as_slice());
        match OUTGOING.with(|slot| slot.borrow_mut().take()) {
            None => envelope.into(),
            Some(positions) => {
                let message = Object::new();
                let _ = Reflect::set(&message, &ENVELOPE.into(), &envelope);
                let _ = Reflect::set(&message, &POSITIONS.into(), &positions);
                message.into()
            }
        }
    }

    fn decode<O: for<'de> Deserialize<'de>>(input: JsValue) -> O {
        let envelope = match input.dyn_into::<Uint8Array>() {
            Ok(bytes) => bytes,
            Err(message) => {
                let positions = Reflect::get(&message, &POSITIONS.into()).ok().and_then(|p| p.dyn_into().ok());
                INCOMING.with(|slot| *slot.borrow_mut() = positions);
                Reflect::get(&message, &ENVELOPE.into())
                    .ok()
                    .and_then(|b| b.dyn_into().ok())
                    .expect("a worker message has its envelope")
            }
        };
        bincode::deserialize(&envelope.to_vec()).expect("a worker message deserializes")
    }
}
