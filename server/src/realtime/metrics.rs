use crate::engine::metrics::write_metric;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Counters of the WebSocket side of a node.
#[derive(Debug, Default)]
pub struct RealtimeMetrics {
    /// Open sockets.
    pub connections: AtomicI64,
    /// Frames written to sockets.
    pub frames_sent: AtomicU64,
    /// Bytes written to sockets (WebSocket payloads).
    pub bytes_sent: AtomicU64,
    /// Ticks received from the engine's channel.
    pub ticks_received: AtomicU64,
    /// Client frames refused as malformed.
    pub bad_frames: AtomicU64,
    /// Sockets closed for sending too fast.
    pub flood_closes: AtomicU64,
    /// Sockets dropped for not reading.
    pub slow_drops: AtomicU64,
    /// Gesture events forwarded to this node's sockets.
    pub events_forwarded: AtomicU64,
    /// Gesture events not forwarded: unknown product, late, over the rate, or undecodable.
    pub events_dropped: AtomicU64,
}

impl RealtimeMetrics {
    /// Counts one frame of `bytes` written.
    pub fn sent(&self, bytes: usize) {
        self.frames_sent.fetch_add(1, Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Relaxed);
    }

    /// Appends the Prometheus text of these counters.
    pub fn render_into(&self, out: &mut String) {
        let connections = self.connections.load(Relaxed);
        write_metric(out, "swiftcart_ws_connections", "gauge", "Open WebSocket connections.", connections);
        let counters = [
            ("swiftcart_ws_frames_sent_total", "Frames written to sockets.", &self.frames_sent),
            ("swiftcart_ws_bytes_sent_total", "Payload bytes written to sockets.", &self.bytes_sent),
            ("swiftcart_ws_ticks_received_total", "Engine ticks received by this node.", &self.ticks_received),
            ("swiftcart_ws_bad_frames_total", "Client frames refused as malformed.", &self.bad_frames),
            ("swiftcart_ws_flood_closes_total", "Sockets closed for flooding.", &self.flood_closes),
            ("swiftcart_ws_slow_drops_total", "Sockets dropped for not reading.", &self.slow_drops),
            ("swiftcart_ws_events_forwarded_total", "Gesture events forwarded to sockets.", &self.events_forwarded),
            ("swiftcart_ws_events_dropped_total", "Gesture events not forwarded.", &self.events_dropped),
        ];
        for (name, help, counter) in counters {
            write_metric(out, name, "counter", help, counter.load(Relaxed));
        }
    }
}
