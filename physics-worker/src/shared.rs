//! Facts every side of the well must agree on, said once: the server's engine, the socket, the
//! Web Worker and the page all read them from here.

use std::ops::RangeInclusive;

/// The engine's tick length when `SWIFTCART_TICK_MS` is not set, in milliseconds.
pub const DEFAULT_TICK_MS: u32 = 50;

/// Tick lengths an operator may configure. One tick steps the well by exactly its own length of
/// physics time, so a longer tick is a coarser step; beyond 200 ms the integrator's springs are
/// no longer stable enough to look smooth.
pub const TICK_MS_RANGE: RangeInclusive<u32> = 10..=200;

/// Largest impulse of one flick, in well units per second. The page clamps the drag to it, the
/// socket scales longer vectors down to it and the physics clamps once more.
pub const MAX_IMPULSE: f32 = 1.5;

/// Most units of one product in a cart orbit (the server refuses more; the page shows no more).
pub const MAX_CART_QUANTITY: u32 = 99;

/// A full keyframe reaches every client at least this often, in milliseconds.
pub const KEYFRAME_INTERVAL_MS: u32 = 1_000;

/// How many ticks of `tick_ms` make one keyframe interval (at least one).
pub fn ticks_per_keyframe(tick_ms: u32) -> u64 {
    u64::from((KEYFRAME_INTERVAL_MS / tick_ms.max(1)).max(1))
}

/// The tick length a `sync` frame from an older server (without `dt`) implies.
pub fn default_tick_ms() -> u32 {
    DEFAULT_TICK_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyframe_interval_is_whole_ticks_and_never_zero() {
        assert_eq!(ticks_per_keyframe(DEFAULT_TICK_MS), 20);
        assert_eq!(ticks_per_keyframe(100), 10);
        assert_eq!(ticks_per_keyframe(200), 5);
        assert_eq!(ticks_per_keyframe(0), 1_000);
        assert_eq!(ticks_per_keyframe(5_000), 1);
    }

    #[test]
    fn the_default_tick_is_one_an_operator_may_choose() {
        assert!(TICK_MS_RANGE.contains(&DEFAULT_TICK_MS));
    }
}
