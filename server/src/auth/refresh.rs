use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// How long a refresh token lives.
pub const REFRESH_TOKEN_TTL_DAYS: i32 = 30;

/// What presenting a refresh token led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live: here is its successor, for this user.
    Rotated {
        /// The user it belongs to.
        user_id: Uuid,
        /// The new refresh token (only ever shown once).
        token: String,
    },
    /// Unknown, expired, or revoked.
    Refused,
    /// Already used: it leaked, so its whole family is now revoked.
    ReuseDetected,
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Issues the first refresh token of a new family for `user_id`.
pub async fn issue(pool: &PgPool, user_id: Uuid) -> Result<String, sqlx::Error> {
    insert(pool, user_id, Uuid::new_v4()).await
}

async fn insert<'e>(executor: impl sqlx::PgExecutor<'e>, user_id: Uuid, family: Uuid) -> Result<String, sqlx::Error> {
    let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(days => $4))",
    )
    .bind(digest(&token))
    .bind(family)
    .bind(user_id)
    .bind(REFRESH_TOKEN_TTL_DAYS)
    .execute(executor)
    .await?;
    Ok(token)
}

/// Uses a refresh token once: marks it used and issues its successor in the same family, all in
/// one transaction. A token presented a second time revokes its family.
pub async fn rotate(pool: &PgPool, presented: &str) -> Result<Rotation, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let row: Option<(Uuid, Uuid, bool, bool, bool)> = sqlx::query_as(
        "SELECT family_id, user_id, used_at IS NOT NULL, revoked_at IS NOT NULL, expires_at < now()
         FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(digest(presented))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((family, user_id, used, revoked, expired)) = row else {
        return Ok(Rotation::Refused);
    };
    if used && !revoked {
        sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL")
            .bind(family)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::warn!(%user_id, "refresh token reused; its family is revoked");
        return Ok(Rotation::ReuseDetected);
    }
    if revoked || expired || used {
        return Ok(Rotation::Refused);
    }
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1")
        .bind(digest(presented))
        .execute(&mut *tx)
        .await?;
    let token = insert(&mut *tx, user_id, family).await?;
    tx.commit().await?;
    Ok(Rotation::Rotated { user_id, token })
}
