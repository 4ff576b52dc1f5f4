//! The socket's protocol decisions, apart from any I/O: what one client message leads to (the
//! flood limit, text and malformed frames, gestures checked against the catalog, clock pings,
//! `auth` frames) and whether a renewed token may take over the socket. The connection task in
//! [`super::socket`] carries the verdicts out; these functions are unit-tested on their own.

use physics_worker::shared::MAX_IMPULSE;
use physics_worker::wire::{self, validate_gesture, ClientFrame, Gesture, Reason, CLOSE_POLICY};
use tokio_tungstenite::tungstenite::Message;

use crate::auth::Principal;
use crate::rate::TokenBucket;

/// What the connection does with one message from the client.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Close the socket with this code and reason.
    Close(u16, &'static str),
    /// The client sent more than its rate allows: close with [`FLOOD`] (and count it).
    Flood,
    /// The client closed the socket.
    Gone,
    /// Nothing to do (a pong, a raw frame).
    Nothing,
    /// Answer a WebSocket ping with the same payload (RFC 6455 §5.5.2).
    Pong(Vec<u8>),
    /// Answer `err` `ERR_BAD_FRAME`, with the gesture's sequence number if it was one.
    BadFrame(Option<u32>, Reason),
    /// Answer a clock-sync `ping` sent at client time `c` (a finite number).
    ClockPing(f64),
    /// Check this token and renew the socket's authentication with it.
    Auth(String),
    /// Apply gesture `q`.
    Gesture(u32, Gesture),
}

/// The close code and reason of a flood.
pub const FLOOD: (u16, &str) = (CLOSE_POLICY, "too many frames; at most 30 per second");

/// What `message` leads to on a socket whose client may still send `bucket`'s frames.
/// `catalog_len` tells how many products the catalog it was sent has; it is asked only for a
/// gesture frame. Every message counts against the rate, control frames included.
pub fn on_message(message: Message, bucket: &mut TokenBucket, catalog_len: impl FnOnce() -> usize) -> Verdict {
    if let Message::Close(_) = message {
        return Verdict::Gone;
    }
    if !bucket.take() {
        return Verdict::Flood;
    }
    let bytes = match message {
        Message::Binary(bytes) => bytes,
        Message::Text(_) => return Verdict::Close(1003, "binary MessagePack frames only"),
        Message::Ping(payload) => return Verdict::Pong(payload.to_vec()),
        Message::Close(_) | Message::Pong(_) | Message::Frame(_) => return Verdict::Nothing,
    };
    let Ok(frame) = wire::decode::<ClientFrame>(&bytes) else {
        return Verdict::BadFrame(None, Reason::Malformed);
    };
    match frame {
        ClientFrame::Ping { c } => Verdict::ClockPing(if c.is_finite() { c } else { 0.0 }),
        ClientFrame::Auth { token } => Verdict::Auth(token),
        gesture => match validate_gesture(&gesture, catalog_len(), MAX_IMPULSE) {
            Some(Ok((q, valid))) => Verdict::Gesture(q, valid),
            Some(Err(reason)) => Verdict::BadFrame(gesture_seq(&gesture), reason),
            None => Verdict::Nothing,
        },
    }
}

/// Whether the caller a fresh token names (`None`: it did not verify, or its session ended)
/// may take over a socket opened by `current`: only the same subject may, so a socket never
/// changes hands; anything else closes it.
pub fn renewal(current: &Principal, renewed: Option<Principal>) -> Result<Principal, (u16, &'static str)> {
    match renewed {
        Some(principal) if principal.sub == current.sub => Ok(principal),
        _ => Err((CLOSE_POLICY, "invalid token in auth frame")),
    }
}

/// The sequence number of a gesture frame.
fn gesture_seq(frame: &ClientFrame) -> Option<u32> {
    match frame {
        ClientFrame::Flick { q, .. } | ClientFrame::Beam { q, .. } | ClientFrame::Drop { q, .. } => Some(*q),
        ClientFrame::Ping { .. } | ClientFrame::Auth { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use physics_worker::wire::GestureKind;

    use super::*;
    use crate::auth::{Role, Subject};
    use crate::realtime::{CLIENT_FRAMES_PER_SEC, CLIENT_FRAME_BURST};

    fn binary(frame: &ClientFrame) -> Message {
        Message::Binary(wire::encode(frame).unwrap().into())
    }

    fn bucket() -> TokenBucket {
        TokenBucket::new(CLIENT_FRAMES_PER_SEC, CLIENT_FRAME_BURST)
    }

    #[test]
    fn a_flood_closes_the_socket_once_the_burst_is_spent() {
        let mut bucket = bucket();
        let ping = binary(&ClientFrame::Ping { c: 1.0 });
        let answered = (0..200).take_while(|_| on_message(ping.clone(), &mut bucket, || 10) == Verdict::ClockPing(1.0));
        let allowed = answered.count();
        assert!((CLIENT_FRAME_BURST as usize..CLIENT_FRAME_BURST as usize + 5).contains(&allowed), "{allowed}");
        assert_eq!(on_message(ping, &mut bucket, || 10), Verdict::Flood);
        // Control frames count too: a ping flood is a flood.
        let mut bucket = super::tests::bucket();
        let pings = (0..200).map(|_| on_message(Message::Ping(vec![1].into()), &mut bucket, || 10));
        assert!(pings.into_iter().any(|v| v == Verdict::Flood));
    }

    #[test]
    fn bad_frames_are_answered_and_leave_the_socket_open() {
        let mut bucket = bucket();
        let mut verdict = |m| on_message(m, &mut bucket, || 3);
        assert_eq!(verdict(Message::Binary(vec![0xc1, 0x00].into())), Verdict::BadFrame(None, Reason::Malformed));
        let unknown = rmp_serde::to_vec_named(&serde_json::json!({"k": "warp", "i": 1})).unwrap();
        assert_eq!(verdict(Message::Binary(unknown.into())), Verdict::BadFrame(None, Reason::Malformed));
        let nan = ClientFrame::Flick { i: 1, v: [f32::NAN, 0.0, 0.0], q: 5 };
        assert_eq!(verdict(binary(&nan)), Verdict::BadFrame(Some(5), Reason::InvalidVector));
        assert_eq!(
            verdict(binary(&ClientFrame::Beam { i: 3, q: 6 })),
            Verdict::BadFrame(Some(6), Reason::UnknownProduct)
        );
        assert_eq!(verdict(Message::Text("{}".into())), Verdict::Close(1003, "binary MessagePack frames only"));
        assert_eq!(verdict(Message::Close(None)), Verdict::Gone);
    }

    #[test]
    fn good_frames_become_gestures_pongs_and_renewals() {
        let mut bucket = bucket();
        let mut verdict = |m| on_message(m, &mut bucket, || 3);
        let beam = Gesture { i: 2, kind: GestureKind::Beam };
        assert_eq!(verdict(binary(&beam.frame(9))), Verdict::Gesture(9, beam));
        assert_eq!(verdict(binary(&ClientFrame::Ping { c: f64::NAN })), Verdict::ClockPing(0.0));
        assert_eq!(verdict(binary(&ClientFrame::Auth { token: "t".into() })), Verdict::Auth("t".into()));
        assert_eq!(verdict(Message::Ping(vec![7, 7].into())), Verdict::Pong(vec![7, 7]));
    }

    #[test]
    fn only_a_fresh_token_of_the_same_subject_renews_a_socket() {
        let (a, b) = (Subject::new(uuid::Uuid::new_v4()), Subject::new(uuid::Uuid::new_v4()));
        let shopper = |sub, exp| Principal { sub, role: Role::Guest, exp };
        let current = shopper(a, 100);
        assert_eq!(renewal(&current, Some(shopper(a, 1_000))), Ok(shopper(a, 1_000)));
        assert_eq!(renewal(&current, Some(shopper(b, 1_000))), Err((CLOSE_POLICY, "invalid token in auth frame")));
        assert_eq!(renewal(&current, None), Err((CLOSE_POLICY, "invalid token in auth frame")));
    }
}
