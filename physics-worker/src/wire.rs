//! The frames of `/ws` (see CONTRACT.md), as Rust types with the contract's short keys.
//!
//! Every frame is a MessagePack map carrying its kind in `k`. [`encode`] and [`decode`] are the
//! one path the server, the worker and the tests use.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::physics::Vec3;

/// Version of this schema, announced as the WebSocket subprotocol `swiftcart.v1`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The subprotocol name matching [`PROTOCOL_VERSION`].
pub const SUBPROTOCOL: &str = "swiftcart.v1";

/// Largest frame a client may send, in bytes (larger ones close the socket with 1009).
pub const MAX_CLIENT_FRAME_BYTES: usize = 64 * 1024;

/// Index of a product in the catalog a `sync` frame announced.
pub type ProductIndex = u32;

/// One product's live state in a `sync` or `s` frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BodyState {
    /// Product index.
    pub i: ProductIndex,
    /// Position.
    pub p: Vec3,
    /// Velocity.
    pub v: Vec3,
    /// Communal mass.
    pub m: f32,
    /// Current price, in cents.
    pub c: i64,
}

/// A product of the catalog index sent in `sync`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    /// The index later frames use.
    pub i: ProductIndex,
    /// The product's uuid.
    pub id: String,
    /// The product's slug.
    pub slug: String,
}

/// One line of the shopper's cart orbit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CartLine {
    /// Product index.
    pub i: ProductIndex,
    /// Quantity.
    pub qty: u32,
}

/// Frames the server sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k")]
pub enum ServerFrame {
    /// The first frame, and the one after any paradox: everything a client needs.
    #[serde(rename = "sync")]
    Sync {
        /// Server send time, ms since the epoch.
        t: f64,
        /// Engine tick.
        n: u64,
        /// The catalog index.
        catalog: Vec<CatalogEntry>,
        /// Full state.
        s: Vec<BodyState>,
        /// The shopper's cart orbit.
        cart: Vec<CartLine>,
    },
    /// One tick's state.
    #[serde(rename = "s")]
    State {
        /// Server send time, ms since the epoch.
        t: f64,
        /// Engine tick.
        n: u64,
        /// Changed products (all of them in a keyframe).
        s: Vec<BodyState>,
    },
    /// A gesture was accepted.
    #[serde(rename = "ack")]
    Ack {
        /// The client's sequence number.
        q: u32,
        /// The tick that applied it.
        n: u64,
    },
    /// A refused frame or a Temporal Paradox.
    #[serde(rename = "err")]
    Err {
        /// `ERR_BAD_FRAME` or `ERR_TEMPORAL_PARADOX`.
        code: String,
        /// The client's sequence number, when the error answers a gesture.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        q: Option<u32>,
        /// Why, in a word.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Answer to `ping`, for clock sync.
    #[serde(rename = "pong")]
    Pong {
        /// The client's time, echoed.
        c: f64,
        /// Server time, ms since the epoch.
        t: f64,
    },
}

/// Frames a client sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k")]
pub enum ClientFrame {
    /// Flick-to-orbit: an impulse, which also adds communal mass.
    #[serde(rename = "flick")]
    Flick {
        /// Product index.
        i: ProductIndex,
        /// Impulse.
        v: Vec3,
        /// Client sequence number.
        q: u32,
    },
    /// Tractor beam: into the shopper's cart orbit, quantity +1.
    #[serde(rename = "beam")]
    Beam {
        /// Product index.
        i: ProductIndex,
        /// Client sequence number.
        q: u32,
    },
    /// Out of the cart orbit.
    #[serde(rename = "drop")]
    Drop {
        /// Product index.
        i: ProductIndex,
        /// Client sequence number.
        q: u32,
    },
    /// Clock sync request.
    #[serde(rename = "ping")]
    Ping {
        /// Client time, ms.
        c: f64,
    },
}

/// A frame that could not be encoded or decoded.
#[derive(Debug)]
pub struct WireError(String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad frame: {}", self.0)
    }
}

impl std::error::Error for WireError {}

/// Encodes a frame as a MessagePack map with the short keys.
pub fn encode<T: Serialize>(frame: &T) -> Result<Vec<u8>, WireError> {
    rmp_serde::to_vec_named(frame).map_err(|e| WireError(e.to_string()))
}

/// Decodes a frame; any malformed input is an error, never a panic.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    rmp_serde::from_slice(bytes).map_err(|e| WireError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state frame with realistic content: bodies laid out and stepped by the real integrator.
    fn state_frame(products: u32) -> ServerFrame {
        use crate::physics::{initial_body, step, StepScratch, WellParams};
        let params = WellParams::default();
        let count = products as usize;
        let mut bodies: Vec<_> = (0..count).map(|i| initial_body(i, count, 1.0 + (i % 5) as f32, &params)).collect();
        let mut scratch = StepScratch::default();
        for _ in 0..20 {
            step(&mut bodies, &params, &mut scratch);
        }
        ServerFrame::State {
            t: 1_764_000_000_123.5,
            n: 42,
            s: bodies
                .iter()
                .enumerate()
                .map(|(i, b)| BodyState { i: i as u32, p: b.p, v: b.v, m: b.m, c: 4_999 + 37 * i as i64 })
                .collect(),
        }
    }

    #[test]
    fn every_frame_kind_round_trips() {
        let frames = vec![
            state_frame(3),
            ServerFrame::Sync {
                t: 1.0,
                n: 2,
                catalog: vec![CatalogEntry { i: 0, id: "u".into(), slug: "s".into() }],
                s: vec![],
                cart: vec![CartLine { i: 0, qty: 2 }],
            },
            ServerFrame::Ack { q: 7, n: 9 },
            ServerFrame::Err { code: "ERR_BAD_FRAME".into(), q: None, reason: None },
            ServerFrame::Pong { c: 5.0, t: 6.0 },
        ];
        for f in frames {
            assert_eq!(decode::<ServerFrame>(&encode(&f).unwrap()).unwrap(), f);
        }
        let client = vec![
            ClientFrame::Flick { i: 3, v: [0.5, -0.5, 0.0], q: 1 },
            ClientFrame::Beam { i: 3, q: 2 },
            ClientFrame::Drop { i: 3, q: 3 },
            ClientFrame::Ping { c: 99.0 },
        ];
        for f in client {
            assert_eq!(decode::<ClientFrame>(&encode(&f).unwrap()).unwrap(), f);
        }
    }

    #[test]
    fn frames_are_maps_keyed_by_kind() {
        let bytes = encode(&ClientFrame::Ping { c: 1.0 }).unwrap();
        let value: serde_json::Value = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(value["k"], "ping");
    }

    #[test]
    fn a_200_product_state_frame_is_at_least_40_percent_smaller_than_json() {
        let frame = state_frame(200);
        let msgpack = encode(&frame).unwrap().len();
        let json = serde_json::to_vec(&frame).unwrap().len();
        assert!((msgpack as f64) <= 0.6 * json as f64, "msgpack {msgpack} bytes vs json {json} bytes");
    }

    #[test]
    fn garbage_and_unknown_kinds_are_errors() {
        assert!(decode::<ClientFrame>(&[0xc1, 0xff, 0x00]).is_err());
        assert!(decode::<ClientFrame>(&[]).is_err());
        let unknown = rmp_serde::to_vec_named(&serde_json::json!({"k": "warp", "i": 1})).unwrap();
        assert!(decode::<ClientFrame>(&unknown).is_err());
    }
}
