use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::clock::unix_now;

/// `iss` of every access token.
pub const ISSUER: &str = "swiftcart";
/// `aud` of every access token.
pub const AUDIENCE: &str = "swiftcart.web";
/// Lifetime of an access token, in seconds (15 minutes), unless configured shorter for tests
/// (`SWIFTCART_ACCESS_TOKEN_TTL_SECS`).
pub const ACCESS_TOKEN_TTL_SECS: u64 = 900;

/// How far in the future a token's `iat` may lie (clocks of several nodes differ a little).
pub const CLOCK_SKEW_SECS: u64 = 5;

/// What a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An anonymous shopper: may browse, gesture and fill a cart orbit, not check out.
    Guest,
    /// A shopper with an account.
    Shopper,
    /// May manage the catalog.
    Admin,
}

impl Role {
    /// The role stored in `users.role`.
    pub fn from_db(role: &str) -> Self {
        if role == "admin" {
            Self::Admin
        } else {
            Self::Shopper
        }
    }
}

/// The claims of an access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer, always [`ISSUER`].
    pub iss: String,
    /// Audience, always [`AUDIENCE`].
    pub aud: String,
    /// Subject: the user id, or a random id for a guest. Cart orbits are keyed by it.
    pub sub: String,
    /// What the bearer may do.
    pub role: Role,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Expires at, seconds since the epoch.
    pub exp: u64,
    /// The session (refresh-token family) the token was issued in; a token whose session was
    /// revoked stops working before it expires. Absent on tokens issued outside a session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Why a token was refused (the client only ever sees "invalid or expired token").
#[derive(Debug, thiserror::Error)]
#[error("invalid token: {0}")]
pub struct TokenError(#[from] jsonwebtoken::errors::Error);

/// The keys and rules for access tokens: HS256 only, with issuer, audience and expiry checked.
/// Tokens name their key (`kid`); after a rotation the previous key still verifies (never signs)
/// until it is removed from the configuration.
#[derive(Clone)]
pub struct TokenKeys {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    previous: Option<(String, DecodingKey)>,
    validation: Validation,
    lifetime_secs: u64,
}

/// The `kid` of a secret: a short digest that names it without revealing it.
pub fn key_id(secret: &[u8]) -> String {
    let digest = Sha256::new().chain_update(b"swiftcart.kid:").chain_update(secret).finalize();
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

impl TokenKeys {
    /// Keys from the HMAC secret (the configuration has checked it is at least 32 bytes).
    pub fn new(secret: &[u8]) -> Self {
        // The allow-list is exactly HS256: `alg: none`, RS256 and every other algorithm are refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 0;
        validation.validate_nbf = true;
        Self {
            kid: key_id(secret),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            previous: None,
            validation,
            lifetime_secs: ACCESS_TOKEN_TTL_SECS,
        }
    }

    /// The same keys, also accepting tokens signed with `previous` (the secret before a
    /// rotation) until they expire.
    pub fn with_previous(self, previous: &[u8]) -> Self {
        Self { previous: Some((key_id(previous), DecodingKey::from_secret(previous))), ..self }
    }

    fn header(&self) -> Header {
        Header { kid: Some(self.kid.clone()), ..Header::new(Algorithm::HS256) }
    }

    /// The same keys issuing tokens that live `secs` seconds (tests and staging make time short).
    pub fn with_lifetime(self, secs: u64) -> Self {
        Self { lifetime_secs: secs, ..self }
    }

    /// How long an issued token lives, in seconds (the `expiresIn` of every token answer).
    pub fn lifetime_secs(&self) -> u64 {
        self.lifetime_secs
    }

    /// Issues an access token for `sub` outside any session (load tools, tests); returns it with
    /// its claims.
    pub fn issue(&self, sub: &str, role: Role) -> (String, Claims) {
        self.issue_with(sub, role, None)
    }

    /// Issues an access token for `sub` in `session` (its refresh-token family), so revoking the
    /// session ends the token too.
    pub fn issue_in_session(&self, sub: &str, role: Role, session: Uuid) -> (String, Claims) {
        self.issue_with(sub, role, Some(session.to_string()))
    }

    fn issue_with(&self, sub: &str, role: Role, sid: Option<String>) -> (String, Claims) {
        let iat = unix_now();
        let claims = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: sub.into(),
            role,
            iat,
            exp: iat + self.lifetime_secs,
            sid,
        };
        (self.sign(&claims), claims)
    }

    /// Signs arbitrary claims with the current key (tests use it to build expired or foreign
    /// tokens).
    pub fn sign(&self, claims: &Claims) -> String {
        encode(&self.header(), claims, &self.encoding).expect("HS256 signing with an in-memory key cannot fail")
    }

    /// Checks the key it names (the current one, or the previous one after a rotation),
    /// signature, algorithm, issuer, audience, expiry, `nbf` when present, and that the token was
    /// not issued in the future (beyond [`CLOCK_SKEW_SECS`]).
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let key = match decode_header(token)?.kid {
            // Tokens from before keys were named: only the current key.
            None => &self.decoding,
            Some(kid) if kid == self.kid => &self.decoding,
            Some(kid) => match &self.previous {
                Some((previous_kid, previous)) if *previous_kid == kid => previous,
                _ => return Err(TokenError(jsonwebtoken::errors::ErrorKind::InvalidToken.into())),
            },
        };
        let claims = decode::<Claims>(token, key, &self.validation)?.claims;
        if claims.iat > unix_now() + CLOCK_SKEW_SECS {
            return Err(TokenError(jsonwebtoken::errors::ErrorKind::ImmatureSignature.into()));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    fn keys() -> TokenKeys {
        TokenKeys::new(&[7u8; 32])
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() {
        let (token, claims) = keys().issue("abc", Role::Guest);
        assert_eq!(claims.exp - claims.iat, 900);
        assert_eq!(keys().verify(&token).unwrap(), claims);
    }

    #[test]
    fn a_configured_lifetime_sets_exp() {
        let short = keys().with_lifetime(12);
        let (token, claims) = short.issue("abc", Role::Guest);
        assert_eq!((claims.exp - claims.iat, short.lifetime_secs()), (12, 12));
        assert_eq!(keys().verify(&token).unwrap().sub, "abc", "same keys, same verification");
    }

    #[test]
    fn foreign_expired_and_unsigned_tokens_are_refused() {
        let k = keys();
        let (token, claims) = k.issue("abc", Role::Shopper);
        assert!(TokenKeys::new(&[8u8; 32]).verify(&token).is_err(), "another key");
        let expired = Claims { exp: unix_now() - 1, iat: unix_now() - 901, ..claims.clone() };
        assert!(k.verify(&k.sign(&expired)).is_err(), "expired");
        let wrong_aud = Claims { aud: "elsewhere".into(), ..claims.clone() };
        assert!(k.verify(&k.sign(&wrong_aud)).is_err(), "audience");
        let wrong_iss = Claims { iss: "elsewhere".into(), ..claims.clone() };
        assert!(k.verify(&k.sign(&wrong_iss)).is_err(), "issuer");
        let from_the_future = Claims { iat: unix_now() + 3_600, exp: unix_now() + 4_500, ..claims.clone() };
        assert!(k.verify(&k.sign(&from_the_future)).is_err(), "issued in the future");
        #[derive(serde::Serialize)]
        struct WithNbf<'a> {
            #[serde(flatten)]
            claims: &'a Claims,
            nbf: u64,
        }
        let not_yet =
            encode(&Header::new(Algorithm::HS256), &WithNbf { claims: &claims, nbf: unix_now() + 3_600 }, &k.encoding)
                .unwrap();
        assert!(k.verify(&not_yet).is_err(), "not valid before nbf");
        let payload = token.split('.').nth(1).unwrap();
        let none = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#));
        assert!(k.verify(&none).is_err(), "alg none");
        let signature = token.split('.').nth(2).unwrap();
        let rs = format!("{}.{payload}.{signature}", URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#));
        assert!(k.verify(&rs).is_err(), "RS256 header");
    }

    #[test]
    fn after_a_rotation_the_previous_key_verifies_but_never_signs() {
        let (old, new) = (TokenKeys::new(&[1u8; 32]), TokenKeys::new(&[2u8; 32]));
        let (before, _) = old.issue("abc", Role::Shopper);
        let rotated = TokenKeys::new(&[2u8; 32]).with_previous(&[1u8; 32]);
        assert_eq!(rotated.verify(&before).unwrap().sub, "abc", "tokens of the previous key live out their life");
        assert!(new.verify(&before).is_err(), "once the previous key is removed, its tokens are refused");
        let (after, _) = rotated.issue("abc", Role::Shopper);
        assert_eq!(decode_header(&after).unwrap().kid, Some(key_id(&[2u8; 32])), "new tokens name the new key");
        assert!(new.verify(&after).is_ok());
        assert!(old.verify(&after).is_err());
        // A token naming an unknown key is refused even if some configured key would verify it.
        let claims = old.verify(&before).unwrap();
        let unnamed = Header { kid: Some("someone-else".into()), ..Header::new(Algorithm::HS256) };
        let forged = encode(&unnamed, &claims, &EncodingKey::from_secret(&[2u8; 32])).unwrap();
        assert!(rotated.verify(&forged).is_err(), "unknown kid");
        assert_ne!(key_id(&[1u8; 32]), key_id(&[2u8; 32]));
    }

    #[test]
    fn a_session_token_names_its_session() {
        let session = Uuid::new_v4();
        let (token, claims) = keys().issue_in_session("abc", Role::Guest, session);
        assert_eq!(keys().verify(&token).unwrap().sid, Some(session.to_string()));
        assert_eq!(claims.sid, Some(session.to_string()));
        assert_eq!(keys().issue("abc", Role::Guest).1.sid, None);
    }
}
