//! Accepting connections: HTTP/1.1 (with WebSocket upgrades) through hyper, within limits a slow
//! or greedy client cannot stretch. (TLS and HTTP/2 end at the proxy in front, if any.)
//!
//! - A client has [`ConnectionLimits::header_timeout`] to send a request's headers, on a new
//!   connection and between keep-alive requests alike (hyper's header-read timeout), so idle and
//!   slowloris connections are closed. The router bounds each whole request by
//!   [`ConnectionLimits::request_timeout`] (a trickling body gets 408).
//! - A node holds at most [`ConnectionLimits::per_node`] HTTP connections and one client address
//!   at most [`ConnectionLimits::per_address`]; past that, new connections are closed at once.
//!   (Upgraded WebSockets leave this count; `realtime::admission` counts those.)
//! - Shutdown stops accepting, then lets every connection finish its request.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt as _;

/// Send buffer of every connection, in bytes (Linux doubles it for bookkeeping).
pub const SOCKET_SEND_BUFFER: usize = 128 * 1024;
/// How long shutdown waits for open requests to finish.
const DRAIN_FOR: Duration = Duration::from_secs(10);

/// How many connections, from whom, for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// HTTP connections one node holds at once.
    pub per_node: usize,
    /// HTTP connections one client address holds at once; `None`: no limit (behind a proxy that
    /// limits, every client shares the proxy's address).
    pub per_address: Option<usize>,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long a whole request may take, body and answer included (applied by the router).
    pub request_timeout: Duration,
    /// A WebSocket client silent this long gets a Ping; silent twice as long, it is closed
    /// (applied by `realtime::socket`).
    pub socket_idle: Duration,
}

/// The open connections of a node, per client address.
#[derive(Default)]
struct OpenConnections {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// One admitted connection's place; freed on drop.
struct Place {
    open: Arc<Mutex<OpenConnections>>,
    address: IpAddr,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("connections lock");
        open.total -= 1;
        crate::realtime::admission::release(&mut open.by_address, &self.address);
    }
}

fn admit(open: &Arc<Mutex<OpenConnections>>, limits: &ConnectionLimits, address: IpAddr) -> Option<Place> {
    let mut counts = open.lock().expect("connections lock");
    if counts.total >= limits.per_node {
        return None;
    }
    let held = counts.by_address.get(&address).copied().unwrap_or(0);
    if limits.per_address.is_some_and(|max| held >= max) {
        return None;
    }
    counts.total += 1;
    *counts.by_address.entry(address).or_default() += 1;
    Some(Place { open: open.clone(), address })
}

/// Tunes an accepted TCP connection. Frames are small and latency-bound: no Nagle delay. A fixed
/// send buffer bounds the kernel memory a client that stops reading can hold (autotuning would
/// let it grow to 4 MiB), so such a client is noticed and dropped.
fn tune(tcp: &TcpStream) {
    let _ = tcp.set_nodelay(true);
    let _ = socket2::SockRef::from(tcp).set_send_buffer_size(SOCKET_SEND_BUFFER);
}

/// Serves `router` on `listener` until `shutdown` resolves; handlers see the client's address as
/// `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    // Every connection holds a receiver; a `true` asks it to finish its request and close, and
    // the sender's `closed()` tells when the last one did.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let open = Arc::new(Mutex::new(OpenConnections::default()));
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(place) = admit(&open, &limits, peer.ip()) else {
            tracing::debug!(%peer, "connection refused: too many open");
            continue;
        };
        tune(&tcp);
        let service = router.clone().map_request(move |request: axum::http::Request<hyper::body::Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            request
        });
        let connection = builder.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service)).with_upgrades();
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            // Errors here are the client's (reset, timed out, bad request): nothing to report.
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = async { stopping.wait_for(|stop| *stop).await.map(|_| ()) } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(place);
        });
    }
    drop(listener);
    drop(stopping);
    let _ = stop.send(true);
    if tokio::time::timeout(DRAIN_FOR, stop.closed()).await.is_err() {
        tracing::warn!("shutdown: some connections were still open after {DRAIN_FOR:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_limited_per_address_and_per_node_and_come_back() {
        let limits = ConnectionLimits {
            per_node: 3,
            per_address: Some(2),
            header_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            socket_idle: Duration::from_secs(1),
        };
        let open = Arc::new(Mutex::new(OpenConnections::default()));
        let (a, b, c) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap(), "192.0.2.3".parse().unwrap());
        let first = admit(&open, &limits, a).unwrap();
        let _second = admit(&open, &limits, a).unwrap();
        assert!(admit(&open, &limits, a).is_none(), "an address gets its share");
        let _third = admit(&open, &limits, b).unwrap();
        assert!(admit(&open, &limits, c).is_none(), "the node is full");
        drop(first);
        assert!(admit(&open, &limits, c).is_some(), "a closed connection frees its place");
        let unlimited = ConnectionLimits { per_address: None, ..limits };
        let open = Arc::new(Mutex::new(OpenConnections::default()));
        let held: Vec<Place> = (0..3).map(|_| admit(&open, &unlimited, a).unwrap()).collect();
        assert_eq!(held.len(), 3);
    }
}
