//! The real-time pipe (CONTRACT.md, "WebSocket `GET /ws`").
//!
//! Each node runs one [`hub::Hub`]: it subscribes once to the engine's pub/sub channel, turns
//! every tick into two encoded frames (the delta everyone gets, and a full keyframe) and hands the
//! same bytes straight into every socket's [`outlet::SocketOutlet`], so a slow socket simply
//! skips to the newest tick; [`catalog_index`] is what the indices in those frames mean.
//! [`socket`] is the handshake (Origin, token) and one task per connection.

/// Socket limits per subject and per node.
pub mod admission;
/// The products a node's sockets index.
pub mod catalog_index;
/// The node's fan-out: subscription, per-tick frames, gesture answers.
pub mod hub;
/// Counters exported on `/metrics`.
pub mod metrics;
/// The side of a socket the hub writes to.
pub mod outlet;
/// The socket's protocol decisions, apart from I/O.
pub mod protocol;
/// The upgrade, tungstenite's read side, and the non-waiting write side.
pub mod raw;
/// `GET /ws`: the handshake and the per-connection loop.
pub mod socket;

/// Frames a client may send per second, sustained; more closes the socket with 1008.
pub const CLIENT_FRAMES_PER_SEC: f64 = 30.0;
/// Frames a client may send in a burst above the sustained rate.
pub const CLIENT_FRAME_BURST: f64 = 60.0;
