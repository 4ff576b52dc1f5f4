//! Every Redis key name, in one place (naming from the design: `sc:<domain>:<subdomain>:<id>`).
//!
//! A prefix (empty in production) lets tests and several developers share one Redis safely.

use uuid::Uuid;

/// Builds key names under one prefix.
#[derive(Clone, Debug, Default)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (usually empty).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into() }
    }

    /// The prefix of every key (empty in production).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `sc:prod:state:{uuid}`: a product's physics and price hash.
    pub fn product_state(&self, product: Uuid) -> String {
        format!("{}sc:prod:state:{}", self.prefix, product)
    }

    /// `sc:engine:lease`: who steps the engine, as `{node}:{fencing token}`, with a TTL.
    pub fn engine_lease(&self) -> String {
        format!("{}sc:engine:lease", self.prefix)
    }

    /// `sc:engine:fence`: the last fencing token handed out.
    pub fn engine_fence(&self) -> String {
        format!("{}sc:engine:fence", self.prefix)
    }

    /// `sc:engine:tick`: the last tick written, so a new leader knows whose state is newer.
    pub fn engine_tick(&self) -> String {
        format!("{}sc:engine:tick", self.prefix)
    }

    /// `sc:engine:gestures`: the queue of gestures waiting for the engine (any node pushes).
    pub fn engine_gestures(&self) -> String {
        format!("{}sc:engine:gestures", self.prefix)
    }

    /// `sc:engine:state`: the pub/sub channel with one message per tick.
    pub fn engine_channel(&self) -> String {
        format!("{}sc:engine:state", self.prefix)
    }

    /// `sc:engine:open`: the tick that will apply a gesture queued now (the leader moves it on
    /// atomically with reading the queue), so a node can forecast the tick in its event.
    pub fn engine_open_tick(&self) -> String {
        format!("{}sc:engine:open", self.prefix)
    }

    /// `sc:engine:events`: the pub/sub channel on which nodes forward accepted gestures at once.
    pub fn engine_events(&self) -> String {
        format!("{}sc:engine:events", self.prefix)
    }

    /// `sc:auth:revoked:{session}`: a session that ended, while its access tokens could live.
    pub fn revoked_session(&self, session: &str) -> String {
        format!("{}sc:auth:revoked:{}", self.prefix, session)
    }

    /// `sc:user:cart:{sub}`: a shopper's cart orbit.
    pub fn user_cart(&self, sub: &str) -> String {
        format!("{}sc:user:cart:{}", self.prefix, sub)
    }
}

/// The fields of a `sc:prod:state:{uuid}` hash (CONTRACT.md).
pub const PRODUCT_STATE_FIELDS: [&str; 9] = ["p_x", "p_y", "p_z", "v_x", "v_y", "v_z", "m", "g", "price_current"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_contract_and_carry_the_prefix() {
        let id = Uuid::nil();
        assert_eq!(Keys::default().product_state(id), format!("sc:prod:state:{id}"));
        assert_eq!(Keys::new("t1:").user_cart("abc"), "t1:sc:user:cart:abc");
    }
}
