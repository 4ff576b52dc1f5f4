//! The codec of the page ↔ worker bridge: gloo-worker's bincode envelope for every message, and,
//! beside a `StateUpdate`, the frame's positions as one `Float32Array`.
//!
//! The positions never go through serde: the worker copies its buffer into a `Float32Array`
//! once ([`attach_positions`]), the browser's structured clone carries it across, and the page
//! copies it into its own buffer with one `memcpy` ([`take_positions`]). gloo-worker posts
//! without a transfer list, so the array is cloned rather than transferred: 3.2 KB at 200
//! products, 16 KB at 1,000 (see docs/performance.md).
//!
//! Things that must be *transferred*, not copied (the well's `OffscreenCanvas`, decoded product
//! images), travel beside the bridge: the page learns the worker object from the first message it
//! hears from it ([`FrameCodec::decode`] reads `window.event`), posts them with a transfer list
//! ([`post_transfer`]), and the worker keeps them ([`take_transferred`]) until the bridge command
//! that uses them arrives, which is always after them (one port, in order).

use std::cell::RefCell;

use gloo_worker::Codec;
use js_sys::{Float32Array, Object, Reflect, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

thread_local! {
    /// Worker side: positions to send with the next message.
    static OUTGOING: RefCell<Option<Float32Array>> = const { RefCell::new(None) };
    /// Page side: positions that came with the last message.
    static INCOMING: RefCell<Option<Float32Array>> = const { RefCell::new(None) };
    /// Page side: the worker at the other end of the bridge, once it has spoken.
    static WORKER: RefCell<Option<web_sys::Worker>> = const { RefCell::new(None) };
    /// Worker side: transferred payloads not yet claimed by a command, oldest first.
    static TRANSFERRED: RefCell<std::collections::VecDeque<JsValue>> = const { RefCell::new(std::collections::VecDeque::new()) };
}

/// Field that marks a message posted beside the bridge; its value names the payload.
const TRANSFER_KIND: &str = "swiftcartTransfer";

/// Page side: posts `payload` (an object) to the worker with `transfer` moved, not copied, marked
/// as `kind`. False when the worker has not spoken yet or the browser refused.
pub fn post_transfer(kind: &str, payload: &Object, transfer: &js_sys::Array) -> bool {
    let _ = Reflect::set(payload, &TRANSFER_KIND.into(), &kind.into());
    WORKER.with(|slot| {
        slot.borrow().as_ref().is_some_and(|worker| worker.post_message_with_transfer(payload, transfer).is_ok())
    })
}

/// Page side: whether [`post_transfer`] can reach the worker.
pub fn can_transfer() -> bool {
    WORKER.with(|slot| slot.borrow().is_some())
}

/// Worker side: sets transferred payloads aside before the bridge sees them. Call before the
/// worker registers, so this listener runs first and can hide them from the bridge.
pub fn listen_for_transfers() {
    let listener = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(|event: web_sys::MessageEvent| {
        let data = event.data();
        let marked = data.is_object() && Reflect::get(&data, &TRANSFER_KIND.into()).is_ok_and(|k| k.is_string());
        if marked {
            event.stop_immediate_propagation();
            TRANSFERRED.with(|queue| queue.borrow_mut().push_back(data));
        }
    });
    let global: web_sys::EventTarget = js_sys::global().unchecked_into();
    let _ = global.add_event_listener_with_callback("message", listener.as_ref().unchecked_ref());
    listener.forget();
}

/// Worker side: the oldest transferred payload of this `kind`, if one came.
pub fn take_transferred(kind: &str) -> Option<Object> {
    TRANSFERRED.with(|queue| {
        let mut queue = queue.borrow_mut();
        let at =
            queue.iter().position(|p| Reflect::get(p, &TRANSFER_KIND.into()).ok().as_ref() == Some(&kind.into()))?;
        queue.remove(at).map(JsValue::unchecked_into)
    })
}

/// Page side: remembers the worker whose message is being delivered.
fn remember_sender() {
    if WORKER.with(|slot| slot.borrow().is_some()) {
        return;
    }
    let Some(window) = web_sys::window() else { return };
    let sender = window
        .event()
        .dyn_into::<web_sys::MessageEvent>()
        .ok()
        .and_then(|event| event.target())
        .and_then(|target| target.dyn_into::<web_sys::Worker>().ok());
    if let Some(worker) = sender {
        WORKER.with(|slot| *slot.borrow_mut() = Some(worker));
    }
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
        remember_sender();
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
