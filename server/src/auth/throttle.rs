//! Throttled guessing and minting: sign-in attempts are limited per client address and per
//! account, registrations per client address, and new guest sessions per client address (GCRA
//! through `governor`). A refused attempt answers 429 with `Retry-After` before any password is
//! hashed or any row written, so a flood costs the server almost nothing.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// Sign-in and registration attempts one address may make at once…
pub const ATTEMPTS_PER_ADDRESS_BURST: u32 = 20;
/// …then one more every this long.
pub const ADDRESS_REFILL: Duration = Duration::from_secs(3);
/// Sign-in attempts on one account at once…
pub const ATTEMPTS_PER_ACCOUNT_BURST: u32 = 5;
/// …then one more every this long (5 a minute).
pub const ACCOUNT_REFILL: Duration = Duration::from_secs(12);
/// New guest sessions one address may start at once (a household, an office, a carrier's NAT)…
pub const GUESTS_PER_ADDRESS_BURST: u32 = 60;
/// …then one more every this long (3,600 an hour).
pub const GUEST_REFILL: Duration = Duration::from_secs(1);
/// Past this many remembered keys, idle ones are forgotten (bounded memory under a flood).
const MAX_KEYS: usize = 100_000;

/// One rate limit kept per key (an address, an account, a shopper): a burst at once, then one
/// more every `refill`; keys idle long enough are forgotten once there are many.
pub struct KeyedLimit<K: std::hash::Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    clock: DefaultClock,
}

impl<K: std::hash::Hash + Eq + Clone> KeyedLimit<K> {
    /// `burst` at once, then one more every `refill`.
    pub fn new(burst: u32, refill: Duration) -> Self {
        let quota = Quota::with_period(refill)
            .expect("a non-zero period")
            .allow_burst(NonZeroU32::new(burst).expect("a non-zero burst"));
        Self { limiter: DefaultKeyedRateLimiter::keyed(quota), clock: DefaultClock::default() }
    }

    /// Takes one for `key`; `Err` holds how long to wait.
    pub fn take(&self, key: &K) -> Result<(), Duration> {
        if self.limiter.len() > MAX_KEYS {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(key).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// The limits of one node.
pub struct AuthThrottle {
    by_address: KeyedLimit<IpAddr>,
    by_account: KeyedLimit<String>,
    guests_by_address: KeyedLimit<IpAddr>,
}

impl Default for AuthThrottle {
    fn default() -> Self {
        Self {
            by_address: KeyedLimit::new(ATTEMPTS_PER_ADDRESS_BURST, ADDRESS_REFILL),
            by_account: KeyedLimit::new(ATTEMPTS_PER_ACCOUNT_BURST, ACCOUNT_REFILL),
            guests_by_address: KeyedLimit::new(GUESTS_PER_ADDRESS_BURST, GUEST_REFILL),
        }
    }
}

impl AuthThrottle {
    /// Takes one attempt for `address` and, when signing in, for the account `email` (any
    /// spelling: it is lower-cased). `Err` holds how long to wait.
    pub fn attempt(&self, address: IpAddr, email: Option<&str>) -> Result<(), Duration> {
        if let Some(email) = email {
            self.by_account.take(&email.trim().to_lowercase())?;
        }
        self.by_address.take(&address)
    }

    /// Takes one new guest session for `address`. `Err` holds how long to wait.
    pub fn mint_guest(&self, address: IpAddr) -> Result<(), Duration> {
        self.guests_by_address.take(&address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_takes_five_quick_attempts_then_waits() {
        let throttle = AuthThrottle::default();
        let here: IpAddr = "192.0.2.1".parse().unwrap();
        for n in 0..ATTEMPTS_PER_ACCOUNT_BURST {
            assert!(throttle.attempt(here, Some("Ana@Example.com")).is_ok(), "attempt {n}");
        }
        let wait = throttle.attempt(here, Some("ana@example.com")).unwrap_err();
        assert!(wait > Duration::from_secs(5) && wait <= ACCOUNT_REFILL, "{wait:?}");
        assert!(throttle.attempt(here, Some("bo@example.com")).is_ok(), "another account is not held back");
    }

    #[test]
    fn an_address_takes_its_burst_then_waits() {
        let throttle = AuthThrottle::default();
        let there: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..ATTEMPTS_PER_ADDRESS_BURST {
            assert!(throttle.attempt(there, None).is_ok());
        }
        assert!(throttle.attempt(there, None).is_err());
        assert!(throttle.attempt("192.0.2.3".parse().unwrap(), None).is_ok(), "other addresses are not held back");
    }

    #[test]
    fn guest_sessions_are_minted_per_address_within_a_burst() {
        let throttle = AuthThrottle::default();
        let there: IpAddr = "192.0.2.4".parse().unwrap();
        for _ in 0..GUESTS_PER_ADDRESS_BURST {
            assert!(throttle.mint_guest(there).is_ok());
        }
        let wait = throttle.mint_guest(there).unwrap_err();
        assert!(wait <= GUEST_REFILL, "{wait:?}");
        assert!(throttle.attempt(there, None).is_ok(), "sign-in has its own budget");
        assert!(throttle.mint_guest("192.0.2.5".parse().unwrap()).is_ok(), "other addresses are not held back");
    }
}
