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

/// The `code` of an `err` frame (and of the REST API's paradox answers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrCode {
    /// A malformed, unknown or refused client frame; the socket stays usable.
    #[serde(rename = "ERR_BAD_FRAME")]
    BadFrame,
    /// A critical moment failed and was undone: the client rewinds to its last confirmed
    /// snapshot and resyncs.
    #[serde(rename = "ERR_TEMPORAL_PARADOX")]
    TemporalParadox,
}

impl ErrCode {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadFrame => "ERR_BAD_FRAME",
            Self::TemporalParadox => "ERR_TEMPORAL_PARADOX",
        }
    }
}

/// Why a frame was refused or a Temporal Paradox happened: the `reason` of `err` frames and of
/// the checkout's paradox answers, one spelling for each (CONTRACT.md and contract-notes.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A frame that is not MessagePack of a known kind.
    Malformed,
    /// A product index outside the catalog the client was sent.
    UnknownProduct,
    /// An impulse with a NaN or infinite component.
    InvalidVector,
    /// A gesture the engine already applied.
    Duplicate,
    /// The product is already at [`crate::shared::MAX_CART_QUANTITY`] in the cart orbit.
    CartFull,
    /// A backing service did not answer; the gesture changed nothing.
    Unavailable,
    /// Not enough units left.
    OutOfStock,
    /// The quote's frozen prices ran out.
    QuoteExpired,
    /// Stripe refused or could not take the payment.
    PaymentFailed,
    /// Live state (Redis) or the record (PostgreSQL) was lost at the critical moment.
    StateLost,
    /// Something changed concurrently; retrying may work.
    Conflict,
    /// The connection dropped before a gesture was answered (said by the worker, not the server).
    Disconnected,
    /// A reason this build does not know yet (from a newer server).
    #[serde(other)]
    Other,
}

impl Reason {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownProduct => "unknown_product",
            Self::InvalidVector => "invalid_vector",
            Self::Duplicate => "duplicate",
            Self::CartFull => "cart_full",
            Self::Unavailable => "unavailable",
            Self::OutOfStock => "out_of_stock",
            Self::QuoteExpired => "quote_expired",
            Self::PaymentFailed => "payment_failed",
            Self::StateLost => "state_lost",
            Self::Conflict => "conflict",
            Self::Disconnected => "disconnected",
            Self::Other => "other",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
/// Close code of a socket whose token expired (send `auth` with a fresh token before `exp`).
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
/// Close code of a policy violation: a flood, or an `auth` frame with a bad or foreign token.
pub const CLOSE_POLICY: u16 = 1008;

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
    /// Base mass, which a body's mass relaxes toward: clients need it to predict motion.
    #[serde(default = "default_base_mass")]
    pub b: f32,
}

fn default_base_mass() -> f32 {
    1.0
}

/// One line of the shopper's cart orbit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CartLine {
    /// Product index.
    pub i: ProductIndex,
    /// Quantity.
    pub qty: u32,
}

/// One product's units available, in a `stock` frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StockLevel {
    /// Product index.
    pub i: ProductIndex,
    /// Units available (stock minus reservations).
    pub q: i64,
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
        /// Tick length in ms: one tick steps this much physics time (50 when absent).
        #[serde(default = "crate::shared::default_tick_ms")]
        dt: u32,
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
        code: ErrCode,
        /// The client's sequence number, when the error answers a gesture.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        q: Option<u32>,
        /// Why, in a word.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<Reason>,
    },
    /// The socket's token was renewed by an `auth` frame; it now closes at `exp`.
    #[serde(rename = "authed")]
    Authed {
        /// The new expiry, ms since the epoch.
        exp: f64,
    },
    /// Units available changed (purchases, reservations, an admin): the products whose stock
    /// changed; right after a `sync`, every product.
    #[serde(rename = "stock")]
    Stock {
        /// The new levels.
        s: Vec<StockLevel>,
    },
    /// Another shopper's gesture, forwarded the moment a node accepted it: a forecast of what
    /// tick `n` will apply to product `i`. The tick stays the truth: a client applies the
    /// forecast to what it shows and lets the tick confirm or correct it.
    #[serde(rename = "ev")]
    Event {
        /// Product index.
        i: ProductIndex,
        /// The tick that will apply it.
        n: u64,
        /// A flick's impulse (already clamped); absent for a beam, which only adds communal mass.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        v: Option<Vec3>,
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

impl ServerFrame {
    /// `{"k":"err","code":"ERR_TEMPORAL_PARADOX",…}`, answering gesture `q` if given.
    pub fn paradox(q: Option<u32>, reason: Reason) -> Self {
        Self::Err { code: ErrCode::TemporalParadox, q, reason: Some(reason) }
    }

    /// `{"k":"err","code":"ERR_BAD_FRAME",…}`, answering gesture `q` if given.
    pub fn bad_frame(q: Option<u32>, reason: Reason) -> Self {
        Self::Err { code: ErrCode::BadFrame, q, reason: Some(reason) }
    }
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
    /// Renews the socket's authentication with a fresh access token of the same subject, so the
    /// socket stays open past the first token's expiry.
    #[serde(rename = "auth")]
    Auth {
        /// A new access token.
        token: String,
    },
}

/// What a gesture does to its product.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum GestureKind {
    /// Flick-to-orbit: an impulse (well units per second), which also adds communal mass.
    Flick(Vec3),
    /// Tractor beam into the cart orbit (adds communal mass).
    Beam,
    /// Out of the cart orbit.
    Drop,
}

impl GestureKind {
    /// What the gesture does to its body: `Some(Some(impulse))` for a flick, `Some(None)` for a
    /// beam's mass, `None` for a drop, which moves nothing. The engine applies exactly this and
    /// every node forecasts it to its clients.
    pub fn effect(&self) -> Option<Option<Vec3>> {
        match self {
            Self::Flick(v) => Some(Some(*v)),
            Self::Beam => Some(None),
            Self::Drop => None,
        }
    }
}

/// A shopper's gesture on the product at catalog index `i`: what the page asks of the worker,
/// what a checked `flick`/`beam`/`drop` frame is on the server.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gesture {
    /// Product index.
    pub i: ProductIndex,
    /// What it does.
    pub kind: GestureKind,
}

impl Gesture {
    /// The client frame carrying this gesture with sequence number `q`.
    pub fn frame(self, q: u32) -> ClientFrame {
        let i = self.i;
        match self.kind {
            GestureKind::Flick(v) => ClientFrame::Flick { i, v, q },
            GestureKind::Beam => ClientFrame::Beam { i, q },
            GestureKind::Drop => ClientFrame::Drop { i, q },
        }
    }
}

/// Checks a client frame that is a gesture against a catalog of `catalog_len` products: `None`
/// for frames that are not gestures (`ping`, `auth`), else the gesture with its sequence number
/// or why it is refused ([`Reason::InvalidVector`], [`Reason::UnknownProduct`]). Impulses longer
/// than `max_impulse` are scaled down to it, keeping their direction.
pub fn validate_gesture(
    frame: &ClientFrame,
    catalog_len: usize,
    max_impulse: f32,
) -> Option<Result<(u32, Gesture), Reason>> {
    let (i, q, kind) = match frame {
        ClientFrame::Flick { i, v, q } => {
            if !v.iter().all(|x| x.is_finite()) {
                return Some(Err(Reason::InvalidVector));
            }
            let length = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            let v = if length > f64::from(max_impulse) {
                let scale = f64::from(max_impulse) / length;
                v.map(|x| (f64::from(x) * scale) as f32)
            } else {
                *v
            };
            (*i, *q, GestureKind::Flick(v))
        }
        ClientFrame::Beam { i, q } => (*i, *q, GestureKind::Beam),
        ClientFrame::Drop { i, q } => (*i, *q, GestureKind::Drop),
        ClientFrame::Ping { .. } | ClientFrame::Auth { .. } => return None,
    };
    if (i as usize) >= catalog_len {
        return Some(Err(Reason::UnknownProduct));
    }
    Some(Ok((q, Gesture { i, kind })))
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
                dt: 100,
                catalog: vec![CatalogEntry { i: 0, id: "u".into(), slug: "s".into(), b: 2.0 }],
                s: vec![],
                cart: vec![CartLine { i: 0, qty: 2 }],
            },
            ServerFrame::Ack { q: 7, n: 9 },
            ServerFrame::Err { code: ErrCode::BadFrame, q: None, reason: None },
            ServerFrame::paradox(Some(3), Reason::CartFull),
            ServerFrame::Pong { c: 5.0, t: 6.0 },
            ServerFrame::Authed { exp: 7.0 },
            ServerFrame::Event { i: 4, n: 11, v: Some([0.5, 0.0, -0.25]) },
            ServerFrame::Event { i: 4, n: 12, v: None },
        ];
        for f in frames {
            assert_eq!(decode::<ServerFrame>(&encode(&f).unwrap()).unwrap(), f);
        }
        let client = vec![
            ClientFrame::Flick { i: 3, v: [0.5, -0.5, 0.0], q: 1 },
            ClientFrame::Beam { i: 3, q: 2 },
            ClientFrame::Drop { i: 3, q: 3 },
            ClientFrame::Ping { c: 99.0 },
            ClientFrame::Auth { token: "t".into() },
        ];
        for f in client {
            assert_eq!(decode::<ClientFrame>(&encode(&f).unwrap()).unwrap(), f);
        }
    }

    #[test]
    fn a_sync_without_a_tick_length_means_the_default_tick() {
        let old = serde_json::json!({"k": "sync", "t": 1.0, "n": 2, "catalog": [], "s": [], "cart": []});
        let Ok(ServerFrame::Sync { dt, .. }) = decode::<ServerFrame>(&rmp_serde::to_vec_named(&old).unwrap()) else {
            panic!("an older sync frame still decodes");
        };
        assert_eq!(dt, crate::shared::DEFAULT_TICK_MS);
    }

    #[test]
    fn reasons_and_codes_have_the_contracts_spelling_and_unknown_reasons_still_decode() {
        let err = ServerFrame::bad_frame(Some(2), Reason::InvalidVector);
        let value: serde_json::Value = rmp_serde::from_slice(&encode(&err).unwrap()).unwrap();
        assert_eq!(value, serde_json::json!({"k": "err", "code": "ERR_BAD_FRAME", "q": 2, "reason": "invalid_vector"}));
        for reason in [Reason::Malformed, Reason::CartFull, Reason::OutOfStock, Reason::StateLost] {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
        let newer = serde_json::json!({"k": "err", "code": "ERR_TEMPORAL_PARADOX", "reason": "wormhole"});
        let decoded = decode::<ServerFrame>(&rmp_serde::to_vec_named(&newer).unwrap()).unwrap();
        assert_eq!(decoded, ServerFrame::paradox(None, Reason::Other));
    }

    #[test]
    fn frames_are_maps_keyed_by_kind() {
        let bytes = encode(&ClientFrame::Ping { c: 1.0 }).unwrap();
        let value: serde_json::Value = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(value["k"], "ping");
    }

    #[test]
    fn an_event_frame_has_the_contract_keys_and_a_beam_carries_no_impulse() {
        let flick: serde_json::Value =
            rmp_serde::from_slice(&encode(&ServerFrame::Event { i: 2, n: 40, v: Some([1.0, 0.0, 0.0]) }).unwrap())
                .unwrap();
        assert_eq!(flick, serde_json::json!({"k": "ev", "i": 2, "n": 40, "v": [1.0, 0.0, 0.0]}));
        let beam: serde_json::Value =
            rmp_serde::from_slice(&encode(&ServerFrame::Event { i: 2, n: 40, v: None }).unwrap()).unwrap();
        assert_eq!(beam, serde_json::json!({"k": "ev", "i": 2, "n": 40}));
    }

    #[test]
    fn a_200_product_state_frame_is_at_least_40_percent_smaller_than_json() {
        let frame = state_frame(200);
        let msgpack = encode(&frame).unwrap().len();
        let json = serde_json::to_vec(&frame).unwrap().len();
        assert!((msgpack as f64) <= 0.6 * json as f64, "msgpack {msgpack} bytes vs json {json} bytes");
    }

    #[test]
    fn gestures_are_checked_and_impulses_clamped() {
        let flick = |v| ClientFrame::Flick { i: 1, v, q: 4 };
        assert_eq!(validate_gesture(&ClientFrame::Ping { c: 1.0 }, 3, 5.0), None);
        assert_eq!(validate_gesture(&flick([f32::NAN, 0.0, 0.0]), 3, 5.0), Some(Err(Reason::InvalidVector)));
        assert_eq!(validate_gesture(&flick([0.0, f32::INFINITY, 0.0]), 3, 5.0), Some(Err(Reason::InvalidVector)));
        assert_eq!(validate_gesture(&ClientFrame::Beam { i: 3, q: 1 }, 3, 5.0), Some(Err(Reason::UnknownProduct)));
        let Some(Ok((4, Gesture { kind: GestureKind::Flick(v), .. }))) =
            validate_gesture(&flick([30.0, 40.0, 0.0]), 3, 5.0)
        else {
            panic!("a long flick is clamped, not refused");
        };
        assert!((v[0] - 3.0).abs() < 1e-5 && (v[1] - 4.0).abs() < 1e-5, "{v:?}");
        let small = Gesture { i: 1, kind: GestureKind::Flick([0.3, 0.4, 0.0]) };
        assert_eq!(validate_gesture(&flick([0.3, 0.4, 0.0]), 3, 5.0), Some(Ok((4, small))));
        assert_eq!(
            validate_gesture(&small.frame(4), 3, 5.0),
            Some(Ok((4, small))),
            "a gesture's frame checks as itself"
        );
    }

    #[test]
    fn garbage_and_unknown_kinds_are_errors() {
        assert!(decode::<ClientFrame>(&[0xc1, 0xff, 0x00]).is_err());
        assert!(decode::<ClientFrame>(&[]).is_err());
        let unknown = rmp_serde::to_vec_named(&serde_json::json!({"k": "warp", "i": 1})).unwrap();
        assert!(decode::<ClientFrame>(&unknown).is_err());
    }
}
