use sqlx::PgPool;
use uuid::Uuid;

use super::passwords;
use super::tokens::Role;

/// A stored account.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct User {
    /// The user id (the `sub` of their tokens).
    pub id: Uuid,
    /// Normalised email.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// `shopper` or `admin`.
    pub role: String,
}

impl User {
    /// The role their tokens carry.
    pub fn role(&self) -> Role {
        Role::from_db(&self.role)
    }
}

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// Not an email address.
    #[error("{0}")]
    InvalidEmail(&'static str),
    /// Too weak.
    #[error("{0}")]
    WeakPassword(&'static str),
    /// Someone has it already.
    #[error("an account with this email exists")]
    Taken,
    /// A backing service failed.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Lower-cases and checks an email address; returns why it is invalid.
pub fn normalise_email(raw: &str) -> Result<String, &'static str> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email)
    } else {
        Err("email must be an address such as ana@example.com")
    }
}

/// Creates an account.
pub async fn create(pool: &PgPool, email: &str, password: &str, role: Role) -> Result<User, RegisterError> {
    let email = normalise_email(email).map_err(RegisterError::InvalidEmail)?;
    if let Some(why) = passwords::weakness(password) {
        return Err(RegisterError::WeakPassword(why));
    }
    let hash = passwords::hash(password.to_string()).await?;
    let role = if role == Role::Admin { "admin" } else { "shopper" };
    sqlx::query_as::<_, User>(
        "INSERT INTO users (email, password_hash, role) VALUES ($1, $2, $3)
         ON CONFLICT (email) DO NOTHING RETURNING id, email, password_hash, role",
    )
    .bind(&email)
    .bind(hash)
    .bind(role)
    .fetch_optional(pool)
    .await
    .map_err(|e| RegisterError::Other(e.into()))?
    .ok_or(RegisterError::Taken)
}

/// The user with this email and password, or `None` (the same for an unknown email and a wrong
/// password, in about the same time).
pub async fn authenticate(pool: &PgPool, email: &str, password: &str) -> Result<Option<User>, sqlx::Error> {
    let user = match normalise_email(email) {
        Ok(email) => {
            sqlx::query_as::<_, User>("SELECT id, email, password_hash, role FROM users WHERE email = $1")
                .bind(email)
                .fetch_optional(pool)
                .await?
        }
        Err(_) => None,
    };
    let ok = passwords::verify(password.to_string(), user.as_ref().map(|u| u.password_hash.clone())).await;
    Ok(user.filter(|_| ok))
}

/// The user with this id.
pub async fn by_id(pool: &PgPool, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as("SELECT id, email, password_hash, role FROM users WHERE id = $1").bind(id).fetch_optional(pool).await
}

/// Creates an admin, or makes an existing account with this email an admin with this password
/// (the `server create-admin` subcommand), revoking every session the account had; returns the
/// admin and those sessions (for the access-token deny-list).
pub async fn upsert_admin(pool: &PgPool, email: &str, password: &str) -> Result<(User, Vec<Uuid>), RegisterError> {
    let email = normalise_email(email).map_err(RegisterError::InvalidEmail)?;
    if let Some(why) = passwords::weakness(password) {
        return Err(RegisterError::WeakPassword(why));
    }
    let hash = passwords::hash(password.to_string()).await?;
    let mut tx = pool.begin().await.map_err(|e| RegisterError::Other(e.into()))?;
    let user = sqlx::query_as::<_, User>(
        "INSERT INTO users (email, password_hash, role) VALUES ($1, $2, 'admin')
         ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = 'admin'
         RETURNING id, email, password_hash, role",
    )
    .bind(&email)
    .bind(hash)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| RegisterError::Other(e.into()))?;
    // Whoever registered this email before (emails are not verified) keeps no way in: every
    // refresh token of the account is revoked, so only the new password signs in as the admin.
    let ended = super::refresh::revoke_all(&mut *tx, &super::refresh::Owner::User(user.id))
        .await
        .map_err(|e| RegisterError::Other(e.into()))?;
    tx.commit().await.map_err(|e| RegisterError::Other(e.into()))?;
    Ok((user, ended))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(normalise_email("  Ana@Example.COM ").unwrap(), "ana@example.com");
        for bad in ["", "ana", "@example.com", "ana@", "ana@example", "a b@example.com", "a@b@c.com", "ana@.com"] {
            assert!(normalise_email(bad).is_err(), "{bad:?}");
        }
    }
}
