//! The real-time pipe (CONTRACT.md, "WebSocket `GET /ws`").
//!
//! Each node runs one [`hub::Hub`]: it subscribes once to the engine's pub/sub channel, turns
//! every tick into two encoded frames (the delta everyone gets, and a full keyframe) and hands the
//! same bytes to every socket through a `watch` channel, so a slow socket simply skips to the
//! newest tick. [`socket`] is the handshake (Origin, token) and one task per connection.

/// Socket limits per subject and per node.
pub mod admission;
/// The node's fan-out: subscription, per-tick frames, gesture answers.
pub mod hub;
/// Counters exported on `/metrics`.
pub mod metrics;
/// The upgrade, tungstenite's read side, and the non-waiting write side.
pub mod raw;
/// `GET /ws`: the handshake and the per-connection loop.
pub mod socket;

/// Frames a client may send per second, sustained; more closes the socket with 1008.
pub const CLIENT_FRAMES_PER_SEC: f64 = 30.0;
/// Frames a client may send in a burst above the sustained rate.
pub const CLIENT_FRAME_BURST: f64 = 60.0;
