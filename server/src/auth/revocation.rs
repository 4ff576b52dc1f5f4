//! Ended sessions, for the access tokens issued in them: revoking a session (sign-out, a reused
//! refresh token, a promotion to admin, a guest signing in) stops its refresh tokens in
//! PostgreSQL at once, and its access tokens, which live on for up to their lifetime, through a
//! short deny-list in Redis that every node reads (`sc:auth:revoked:{session}`, kept as long as
//! an access token lives).
//!
//! If Redis cannot be asked, a token is let through (and a warning logged): the session's refresh
//! tokens are revoked for good, so such a token still ends at its expiry.

use deadpool_redis::redis;
use uuid::Uuid;

use crate::redis_pool::RedisStore;

/// The deny-list of ended sessions.
#[derive(Clone)]
pub struct Revocations {
    redis: RedisStore,
    /// How long an entry is kept: the access-token lifetime, after which every token of the
    /// session has expired anyway.
    keep_secs: u64,
}

impl Revocations {
    /// A deny-list in this Redis, whose entries outlive access tokens of `token_lifetime_secs`.
    pub fn new(redis: RedisStore, token_lifetime_secs: u64) -> Self {
        Self { redis, keep_secs: token_lifetime_secs + super::tokens::CLOCK_SKEW_SECS }
    }

    /// Ends the access tokens of these sessions (their refresh tokens are already revoked).
    pub async fn revoke(&self, sessions: &[Uuid]) -> anyhow::Result<()> {
        if sessions.is_empty() {
            return Ok(());
        }
        let mut conn = self.redis.conn().await?;
        let mut pipe = redis::pipe();
        for session in sessions {
            pipe.set_ex(self.redis.keys.revoked_session(&session.to_string()), 1, self.keep_secs).ignore();
        }
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    /// Whether the session `sid` was ended. `false` when Redis cannot be asked (see above).
    pub async fn is_revoked(&self, sid: &str) -> bool {
        let asked = async {
            let mut conn = self.redis.conn().await.map_err(|e| e.to_string())?;
            redis::cmd("EXISTS")
                .arg(self.redis.keys.revoked_session(sid))
                .query_async::<bool>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        };
        match asked.await {
            Ok(revoked) => revoked,
            Err(e) => {
                tracing::warn!(error = %e, "revocations: Redis unavailable; the token is let through");
                false
            }
        }
    }
}
