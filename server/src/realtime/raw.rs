//! The socket underneath `/ws`. The upgrade is hyper's; reading uses tungstenite (masking,
//! fragments, size limits); writing is ours: every server frame is framed once per tick and the
//! same bytes are copied into each socket without waiting and without waking its task.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// The upgraded connection.
pub type Io = TokioIo<hyper::upgrade::Upgraded>;

/// Most bytes a socket may have waiting to be written before it counts as not reading.
pub const MAX_PENDING_BYTES: usize = 1024 * 1024;

/// Checks the WebSocket handshake headers and builds the `101` answer selecting `protocol`;
/// `None` when the request is not a WebSocket upgrade.
pub fn handshake(method: &Method, headers: &HeaderMap, protocol: &'static str) -> Option<Response> {
    let has = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case(token))
    };
    let key = headers.get(header::SEC_WEBSOCKET_KEY);
    let version_ok = headers.get(header::SEC_WEBSOCKET_VERSION).is_some_and(|v| v == "13");
    let (Some(key), true, true, true, true) =
        (key, method == Method::GET, has(header::CONNECTION, "upgrade"), has(header::UPGRADE, "websocket"), version_ok)
    else {
        return None;
    };
    let accept = derive_accept_key(key.as_bytes());
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = response.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, HeaderValue::from_str(&accept).ok()?);
    h.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
    Some(response)
}

/// The opcode of a Ping frame.
pub const OPCODE_PING: u8 = 0x9;
/// The opcode of a Pong frame.
pub const OPCODE_PONG: u8 = 0xA;

/// Frames a payload as one unmasked server frame (`opcode` 2 binary, 8 close, 9 ping, 0xA pong).
pub fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// A close frame with `code` and `reason`.
pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..reason.len().min(120)]);
    frame(8, &payload)
}

/// The read side handed to tungstenite. Its writes (automatic pong and close replies) are
/// dropped: the server writes only through [`Writer`], and closes the connection itself.
pub struct ReadSide<R>(pub R);

impl<R: AsyncRead + Unpin> AsyncRead for ReadSide<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<R: Unpin> AsyncWrite for ReadSide<R> {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The write side: whole frames are appended to `pending` and written as far as the socket takes
/// them, never waiting. Frames never interleave, since each is appended whole.
pub struct Writer {
    half: Pin<Box<dyn AsyncWrite + Send>>,
    pending: Vec<u8>,
}

/// What a non-waiting write achieved.
#[derive(Debug, PartialEq, Eq)]
pub enum Drained {
    /// Everything is written.
    All,
    /// Bytes remain; the socket's buffer is full.
    Partly,
}

impl Writer {
    /// A writer over any byte sink: a socket's write half, or an in-memory pipe in tests.
    pub fn new(half: impl AsyncWrite + Send + 'static) -> Self {
        Self { half: Box::pin(half), pending: Vec::new() }
    }

    /// Appends a whole frame; an error if the client has not been reading for too long.
    pub fn push(&mut self, framed: &[u8]) -> io::Result<()> {
        if self.pending.len() + framed.len() > MAX_PENDING_BYTES {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "client is not reading"));
        }
        self.pending.extend_from_slice(framed);
        Ok(())
    }

    /// Writes what the socket takes now, without waiting; `cx` is woken when it can take more.
    pub fn drain(&mut self, cx: &mut Context<'_>) -> io::Result<Drained> {
        let mut written = 0;
        let result = loop {
            if written == self.pending.len() {
                break Ok(Drained::All);
            }
            match self.half.as_mut().poll_write(cx, &self.pending[written..]) {
                Poll::Ready(Ok(0)) => break Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => written += n,
                Poll::Ready(Err(e)) => break Err(e),
                Poll::Pending => break Ok(Drained::Partly),
            }
        };
        self.pending.drain(..written);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_right_length_encoding() {
        assert_eq!(frame(2, &[1, 2, 3]), vec![0x82, 3, 1, 2, 3]);
        let medium = frame(2, &[0; 300]);
        assert_eq!(&medium[..4], &[0x82, 126, 1, 44]);
        assert_eq!(medium.len(), 304);
        let large = frame(2, &vec![0; 70_000]);
        assert_eq!(&large[..2], &[0x82, 127]);
        assert_eq!(u64::from_be_bytes(large[2..10].try_into().unwrap()), 70_000);
        assert_eq!(close_frame(1009, "big"), vec![0x88, 5, 0x03, 0xf1, b'b', b'i', b'g']);
    }
}
