//! A token bucket: the one rate limiter of the realtime side (client frames per socket, gesture
//! events per node).

use std::time::Instant;

/// Allows `rate` events per second on average, in bursts of up to `burst`.
pub struct TokenBucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: f64) -> Self {
        Self { tokens: burst, rate, burst, last: Instant::now() }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self) -> bool {
        self.take_n(1.0)
    }

    /// Takes `n` tokens if there are that many (an event that costs `n` writes, say).
    pub fn take_n(&mut self, n: f64) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_what_it_cannot_cover() {
        let mut bucket = TokenBucket::new(0.001, 10.0);
        assert!(bucket.take_n(6.0));
        assert!(!bucket.take_n(6.0), "only 4 left");
        assert!(bucket.take_n(4.0));
        assert!(!bucket.take(), "empty");
        assert!(!TokenBucket::new(1_000.0, 10.0).take_n(11.0), "never more than the burst at once");
    }
}
