//! Who is calling: the subject and role a verified access token names.

use uuid::Uuid;

use super::revocation::Revocations;
use super::tokens::{Claims, Role, TokenKeys};

/// Whom a verified access token speaks for: an account's user id, or a guest's random id. It is
/// parsed once, when the token is checked (a token whose subject is not one is refused); cart
/// orbits, socket limits and checkout take it as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject(Uuid);

impl Subject {
    /// The subject with this id.
    pub fn new(id: Uuid) -> Self {
        Self(id)
    }

    /// The id: for an account, its user id.
    pub fn id(self) -> Uuid {
        self.0
    }
}

impl std::str::FromStr for Subject {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The verified caller of a request: `Authorization: Bearer <access token>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Token subject (user id, or a guest id).
    pub sub: Subject,
    /// What they may do.
    pub role: Role,
    /// When their token expires, seconds since the epoch.
    pub exp: u64,
}

impl TryFrom<Claims> for Principal {
    type Error = uuid::Error;

    fn try_from(c: Claims) -> Result<Self, Self::Error> {
        Ok(Self { sub: c.sub.parse()?, role: c.role, exp: c.exp })
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
        claims.try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_a_principal_only_when_its_subject_is_an_id() {
        let keys = TokenKeys::new(&[7u8; 32]);
        let id = Uuid::new_v4();
        let (_, claims) = keys.issue(&id.to_string(), Role::Shopper);
        let principal = Principal::try_from(claims).expect("a uuid subject");
        assert_eq!((principal.sub.id(), principal.role), (id, Role::Shopper));
        assert_eq!(principal.sub.to_string(), id.to_string(), "the same spelling as in the token and cart keys");
        let (_, signed_but_odd) = keys.issue("someone-else", Role::Guest);
        assert!(
            Principal::try_from(signed_but_odd).is_err(),
            "a signed token with another kind of subject names nobody"
        );
    }
}
