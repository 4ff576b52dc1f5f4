//! The code that must behave identically on the server and in the browser.
//!
//! Nothing here touches a clock, a socket, tokio or web-sys: callers pass time in and get state
//! out, so the server engine, the Web Worker and the tests all run the very same functions.

/// The bridge's codec: bincode envelopes, positions as a `Float32Array` beside them.
#[cfg(feature = "worker")]
pub mod codec;
/// Which products a client cannot predict this tick: the rule of `s` frames.
pub mod delta;
/// The lag-compensating manifold: clock sync, jitter buffer, interpolation, capped
/// extrapolation, prediction of the shopper's own gestures and soft reconciliation.
pub mod manifold;
/// The well's painter in the worker (canvas cards, level of detail, focus ring).
#[cfg(feature = "worker")]
pub mod paint;
/// The gravity well: bodies, the fixed-step integrator, impulses and the initial layout.
pub mod physics;
/// The live price of a product as a pure function of its situation.
pub mod price;
/// Facts every side agrees on: tick length, largest impulse, cart cap, keyframe interval.
pub mod shared;
/// How the well looks: projection, level of detail, hit tests and the Redshift glitch.
pub mod view;
/// The real-time frames exchanged over `/ws`, and their one MessagePack encode/decode path.
pub mod wire;
/// The Web Worker that will own the WebSocket and the lag-compensating manifold in the browser.
#[cfg(feature = "worker")]
pub mod worker;
