use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Password hashes computed at once; more wait their turn, so a flood of bogus sign-ins queues
/// instead of filling every blocking thread and starving the rest of the server.
const CONCURRENT_HASHES: usize = 2;
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_HASHES);

/// Hashes a password with argon2id (the crate's default parameters), on a blocking thread.
pub async fn hash(password: String) -> anyhow::Result<String> {
    let _turn = HASHING.acquire().await?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))
    })
    .await?
}

/// Checks a password against a stored PHC string, on a blocking thread. A missing user is
/// checked against a fixed hash so that both cases take the same time.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    let Ok(_turn) = HASHING.acquire().await else { return false };
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        PasswordHash::new(&stored)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(b"not a real password", &salt).map(|h| h.to_string()).unwrap_or_default()
});

/// Why a password is not acceptable, or `None`.
pub fn weakness(password: &str) -> Option<&'static str> {
    let kinds = [
        password.chars().any(|c| c.is_alphabetic()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if password.chars().count() < 10 {
        Some("password must be at least 10 characters")
    } else if password.len() > 256 {
        Some("password must be at most 256 bytes")
    } else if kinds.iter().filter(|k| **k).count() < 2 {
        Some("password must mix at least two of letters, digits and symbols")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_is_argon2id_and_verifies_only_its_password() {
        let h = hash("correct horse 9".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse 9".into(), Some(h.clone())).await);
        assert!(!verify("wrong horse 9".into(), Some(h)).await);
        assert!(!verify("anything".into(), None).await);
    }

    #[test]
    fn weak_passwords_are_named() {
        assert!(weakness("short1").is_some());
        assert!(weakness("onlyletterslong").is_some());
        assert!(weakness("letters and 123").is_none());
    }
}
