//! Accounts and tokens (CONTRACT.md, "Authentication"): argon2id passwords, 15-minute HS256
//! access tokens, rotating refresh tokens, and the request extractor that checks them.

/// argon2id password hashing, off the async threads.
pub mod passwords;
/// Who is calling: the subject and role of a verified access token.
pub mod principal;
/// Refresh tokens: stored hashed, rotated on use, a reused one revoking its family.
pub mod refresh;
/// Ended sessions, so their access tokens stop before they expire.
pub mod revocation;
/// Throttled guessing: sign-in and registration attempts per address and per account.
pub mod throttle;
/// Access tokens: issuing and verifying JWTs with an explicit algorithm allow-list.
pub mod tokens;
/// Users: registration, login, and the admin subcommand.
pub mod users;

pub use principal::{Principal, Subject};
pub use tokens::{Claims, Role, TokenKeys};
