//! Who is calling: the subject and role a verified access token names.

use super::revocation::Revocations;
use super::tokens::{Claims, Role, TokenKeys};

/// The verified caller of a request: `Authorization: Bearer <access token>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Token subject (user id, or a guest id).
    pub sub: String,
    /// What they may do.
    pub role: Role,
    /// When their token expires, seconds since the epoch.
    pub exp: u64,
}

impl From<Claims> for Principal {
    fn from(c: Claims) -> Self {
        Self { sub: c.sub, role: c.role, exp: c.exp }
    }
}

impl Principal {
    /// The caller an access token names, if it verifies and its session was not ended.
    pub async fn from_token(tokens: &TokenKeys, revocations: &Revocations, token: &str) -> Option<Self> {
        let claims = tokens.verify(token).ok()?;
        if let Some(sid) = &claims.sid {
            if revocations.is_revoked(sid).await {
                return None;
            }
        }
        Some(claims.into())
    }
}
