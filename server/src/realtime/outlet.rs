//! The side of a socket the hub writes to, and what it writes: each tick's frames, gesture
//! events and the requests for a fresh `sync`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};
use std::sync::{Arc, Mutex};
use std::task::Context;

use bytes::Bytes;
use physics_worker::wire::{BodyState, Reason};
use tokio::sync::Notify;

use super::catalog_index::CatalogIndex;
use super::raw::{Drained, Writer};

/// Why a socket must be sent a fresh `sync`.
#[derive(Clone, Debug, PartialEq)]
pub enum Resync {
    /// The engine reset the live state (a Temporal Paradox): announced with an `err` frame first.
    Paradox(Reason),
    /// Products were created or retired, so the indices moved: a quiet `sync`.
    Catalog,
}

/// One tick, ready for every socket of this node.
#[derive(Debug)]
pub struct TickFrames {
    /// The tick.
    pub n: u64,
    /// The `s` frame with only what clients cannot predict, framed for the wire; `None` when
    /// this node missed the previous tick, so every socket needs the keyframe.
    pub delta: Option<Bytes>,
    /// The `s` frame with every product (a keyframe), framed for the wire.
    pub full: Bytes,
    /// Every product's state (for `sync` frames).
    pub state: Arc<Vec<BodyState>>,
    /// Set when the engine reset clients' state: sockets send a paradox, then a fresh `sync`.
    pub paradox: Option<Reason>,
    /// Set on the first tick of a new catalog: sockets get a fresh `sync` with the new indices.
    pub catalog_changed: bool,
    /// The catalog the indices refer to.
    pub catalog: Arc<CatalogIndex>,
}

/// The side of a socket the hub writes to. Each tick the hub writes the shared frame straight
/// into every live socket, without waking the socket's task; a socket that cannot take it at
/// once (its buffer is still full, or its task is writing) skips ticks and gets a keyframe when
/// it catches up; its task flushes it, and drops it if that takes [`super::socket::SEND_TIMEOUT`].
pub struct SocketOutlet {
    /// The write half.
    pub writer: Mutex<Writer>,
    /// Bytes are left in the writer: the task finishes the write, and the hub skips the socket.
    pub needs_flush: AtomicBool,
    /// The last tick written to this socket.
    pub last_n: AtomicU64,
    /// Set once the socket's `sync` is out: from then on the hub writes its ticks.
    pub live: AtomicBool,
    /// The next tick must be a keyframe.
    pub needs_keyframe: AtomicBool,
    /// A write failed: the socket is gone.
    pub broken: AtomicBool,
    /// A fresh `sync` to send, and why.
    pub resync: Mutex<Option<Resync>>,
    /// Wakes the socket's task when any of the above needs it.
    pub wake: Notify,
    /// Staggers keyframes across sockets.
    phase: u64,
}

impl SocketOutlet {
    /// The outlet of a new socket: nothing written yet, a keyframe due first; `phase` staggers
    /// its keyframes against other sockets'.
    pub(super) fn new(writer: Writer, phase: u64) -> Self {
        Self {
            writer: Mutex::new(writer),
            needs_flush: AtomicBool::new(false),
            last_n: AtomicU64::new(0),
            live: AtomicBool::new(false),
            needs_keyframe: AtomicBool::new(true),
            broken: AtomicBool::new(false),
            resync: Mutex::new(None),
            wake: Notify::new(),
            phase,
        }
    }

    /// Writes the ticks this socket has not had, if it can take them now; returns the frames and
    /// bytes written. `window` holds the newest ticks in order. A socket that holds the tick just
    /// before them gets every delta it missed in one write, so a fan-out that fell behind sends
    /// small deltas rather than keyframes; otherwise (or when its keyframe is due) it gets the
    /// newest keyframe.
    ///
    /// The write never waits: what the socket does not take at once is left to the socket's
    /// task, which finishes it (or drops a client that takes nothing for
    /// [`super::socket::SEND_TIMEOUT`]); the socket skips ticks meanwhile.
    pub(super) fn deliver(&self, window: &[Arc<TickFrames>], keyframe_every: u64) -> Option<(u64, usize)> {
        let newest = window.last()?;
        if !self.live.load(Acquire) {
            return None;
        }
        let last = self.last_n.load(Relaxed);
        if newest.n <= last {
            return None;
        }
        // A socket whose task is finishing a write is left to it.
        if self.needs_flush.load(Acquire) {
            return None;
        }
        // The task holds the writer while it queues an answer; this tick is skipped for it.
        let mut writer = self.writer.try_lock().ok()?;
        // `window` is contiguous (the hub clears it when it misses a tick), so the socket can be
        // caught up with deltas when the tick after its last one is still in it.
        let catch_up = window.iter().position(|f| f.n == last + 1).filter(|&start| {
            !self.needs_keyframe.load(Relaxed)
                && window[start..]
                    .iter()
                    .all(|f| f.delta.is_some() && !(f.n + self.phase).is_multiple_of(keyframe_every))
        });
        let mut frames = 0;
        let mut bytes = 0;
        let mut push = |framed: &Bytes| {
            frames += 1;
            bytes += framed.len();
            writer.push(framed)
        };
        let pushed = match catch_up {
            Some(start) => window[start..].iter().filter_map(|f| f.delta.as_ref()).try_for_each(&mut push),
            None => push(&newest.full),
        };
        if pushed.is_err() {
            return self.break_off();
        }
        self.last_n.store(newest.n, Relaxed);
        self.needs_keyframe.store(false, Relaxed);
        if self.drain_without_waiting(&mut writer).is_err() {
            return self.break_off();
        }
        Some((frames, bytes))
    }

    /// Writes a gesture event into this socket if it can take it at once; a busy or lagging
    /// socket skips it (its tick brings the same change a moment later).
    pub(super) fn deliver_event(&self, framed: &Bytes) -> bool {
        if !self.live.load(Acquire) || self.needs_flush.load(Acquire) {
            return false;
        }
        let Ok(mut writer) = self.writer.try_lock() else { return false };
        let written = writer.push(framed).is_ok() && self.drain_without_waiting(&mut writer).is_ok();
        if !written {
            self.break_off::<()>();
        }
        written
    }

    /// Writes what the socket takes now; the rest is left to the socket's task, which has a waker
    /// that knows when the socket is ready. `Err` when the socket is gone.
    fn drain_without_waiting(&self, writer: &mut Writer) -> Result<(), ()> {
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        match writer.drain(&mut cx) {
            Ok(Drained::All) => Ok(()),
            Ok(Drained::Partly) => {
                self.needs_flush.store(true, Release);
                self.wake.notify_one();
                Ok(())
            }
            Err(_) => Err(()),
        }
    }

    fn break_off<T>(&self) -> Option<T> {
        self.broken.store(true, Relaxed);
        self.wake.notify_one();
        None
    }

    /// Asks the task to send a fresh `sync` (after a paradox's `err` frame, if it is one).
    pub(super) fn request_resync(&self, why: Resync) {
        self.live.store(false, Release);
        *self.resync.lock().expect("resync lock") = Some(why);
        self.wake.notify_one();
    }
}
