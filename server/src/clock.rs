//! The server's one clock: wall time since the Unix epoch, in the two units the code speaks
//! (milliseconds for frames and ticks, whole seconds for tokens).

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (frames' `t`, the engine's ticks, the lease's token).
pub fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1_000.0).unwrap_or(0.0)
}

/// Whole seconds since the Unix epoch (tokens' `iat` and `exp`).
pub fn unix_now() -> u64 {
    (now_ms() / 1_000.0) as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_units_read_the_same_clock() {
        let (ms, s) = (super::now_ms(), super::unix_now());
        assert!((ms / 1_000.0 - s as f64).abs() < 2.0, "{ms} ms vs {s} s");
        assert!(s > 1_700_000_000, "a date after 2023: {s}");
    }
}
