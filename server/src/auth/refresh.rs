use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// How long an account's refresh token lives.
pub const REFRESH_TOKEN_TTL_DAYS: i32 = 30;
/// How long a guest's refresh token lives: a guest cart orbit is worth keeping for a week, not a month.
pub const GUEST_REFRESH_TOKEN_TTL_DAYS: i32 = 7;
/// For this long after a refresh token was used, presenting it again (while no token of its
/// family has been used since) is taken as a lost or unseen answer, not theft: a tab closed
/// mid-renewal, a dropped connection, a request that timed out after the server had answered,
/// or another tab that read the shared storage before the new token reached it (browsers copy
/// `localStorage` between tabs a moment late). It gets a new successor; the first successor
/// stays good too, since some tab may hold it.
pub const REUSE_GRACE_SECS: f64 = 30.0;

/// Whose session a refresh token renews.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// An account.
    User(Uuid),
    /// A guest, by the `sub` of its access tokens (its cart orbit is keyed by it).
    Guest(String),
}

impl Owner {
    fn lifetime_days(&self) -> i32 {
        match self {
            Self::User(_) => REFRESH_TOKEN_TTL_DAYS,
            Self::Guest(_) => GUEST_REFRESH_TOKEN_TTL_DAYS,
        }
    }
}

/// What presenting a refresh token led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live: here is its successor, for this owner.
    Rotated {
        /// Whose session it renews.
        owner: Owner,
        /// The new refresh token (only ever shown once).
        token: String,
        /// The session (refresh-token family) it belongs to.
        family: Uuid,
    },
    /// Unknown, expired, or revoked.
    Refused,
    /// Already used and its family moved on (or the grace passed): it leaked, so this whole
    /// family is now revoked.
    ReuseDetected(Uuid),
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Issues the first refresh token of a new family (a new session) for `owner`; returns it with
/// the family's id.
pub async fn issue(pool: &PgPool, owner: &Owner) -> Result<(String, Uuid), sqlx::Error> {
    let family = Uuid::new_v4();
    Ok((insert(pool, owner, family).await?, family))
}

async fn insert<'e>(executor: impl sqlx::PgExecutor<'e>, owner: &Owner, family: Uuid) -> Result<String, sqlx::Error> {
    let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let (user_id, guest_sub) = match owner {
        Owner::User(id) => (Some(*id), None),
        Owner::Guest(sub) => (None, Some(sub.as_str())),
    };
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, guest_sub, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(days => $5))",
    )
    .bind(digest(&token))
    .bind(family)
    .bind(user_id)
    .bind(guest_sub)
    .bind(owner.lifetime_days())
    .execute(executor)
    .await?;
    Ok(token)
}

/// A presented refresh token as stored.
#[derive(sqlx::FromRow)]
struct Presented {
    family_id: Uuid,
    user_id: Option<Uuid>,
    guest_sub: Option<String>,
    used: bool,
    revoked: bool,
    expired: bool,
    /// Used within [`REUSE_GRACE_SECS`], and no token of its family has been used since.
    answer_maybe_lost: bool,
}

/// Uses a refresh token once: marks it used and issues its successor in the same family, all in
/// one transaction. A token presented a second time revokes its family, unless its answer may
/// have been lost (see [`REUSE_GRACE_SECS`]).
pub async fn rotate(pool: &PgPool, presented: &str) -> Result<Rotation, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let row: Option<Presented> = sqlx::query_as(
        "SELECT t.family_id, t.user_id, t.guest_sub, t.used_at IS NOT NULL AS used,
                t.revoked_at IS NOT NULL AS revoked, t.expires_at < now() AS expired,
                COALESCE(t.used_at > now() - make_interval(secs => $2)
                    AND NOT EXISTS (SELECT 1 FROM refresh_tokens later
                                    WHERE later.family_id = t.family_id AND later.used_at > t.used_at),
                    false) AS answer_maybe_lost
         FROM refresh_tokens t WHERE t.token_hash = $1 FOR UPDATE",
    )
    .bind(digest(presented))
    .bind(REUSE_GRACE_SECS)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(Presented { family_id: family, user_id, guest_sub, used, revoked, expired, answer_maybe_lost }) = row
    else {
        return Ok(Rotation::Refused);
    };
    let owner = match (user_id, guest_sub) {
        (Some(id), _) => Owner::User(id),
        (None, Some(sub)) => Owner::Guest(sub),
        (None, None) => return Ok(Rotation::Refused),
    };
    if used && !revoked && !expired && answer_maybe_lost {
        let token = insert(&mut *tx, &owner, family).await?;
        tx.commit().await?;
        tracing::info!(?owner, "refresh token presented again within the grace; another successor issued");
        return Ok(Rotation::Rotated { owner, token, family });
    }
    if used && !revoked {
        sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL")
            .bind(family)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::warn!(?owner, "refresh token reused; its family is revoked");
        return Ok(Rotation::ReuseDetected(family));
    }
    if revoked || expired || used {
        return Ok(Rotation::Refused);
    }
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1")
        .bind(digest(presented))
        .execute(&mut *tx)
        .await?;
    let token = insert(&mut *tx, &owner, family).await?;
    tx.commit().await?;
    Ok(Rotation::Rotated { owner, token, family })
}

/// Revokes every live refresh token of `owner`: a guest whose cart orbit moved to an account at
/// sign-in, or an account promoted to admin (whoever registered its email first keeps no way in).
/// Returns the sessions (families) that ended.
pub async fn revoke_all<'e>(executor: impl sqlx::PgExecutor<'e>, owner: &Owner) -> Result<Vec<Uuid>, sqlx::Error> {
    let query = match owner {
        Owner::User(id) => sqlx::query_scalar(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL
             RETURNING family_id",
        )
        .bind(*id),
        Owner::Guest(sub) => sqlx::query_scalar(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE guest_sub = $1 AND revoked_at IS NULL
             RETURNING family_id",
        )
        .bind(sub.as_str()),
    };
    let mut families: Vec<Uuid> = query.fetch_all(executor).await?;
    families.sort_unstable();
    families.dedup();
    Ok(families)
}

/// Signs a session out: revokes every token of the presented refresh token's family (a spent
/// one counts: it names the family too) and returns the family. Unknown tokens change nothing.
pub async fn revoke_family(pool: &PgPool, presented: &str) -> Result<Option<Uuid>, sqlx::Error> {
    let family: Option<Uuid> = sqlx::query_scalar("SELECT family_id FROM refresh_tokens WHERE token_hash = $1")
        .bind(digest(presented))
        .fetch_optional(pool)
        .await?;
    if let Some(family) = family {
        sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL")
            .bind(family)
            .execute(pool)
            .await?;
    }
    Ok(family)
}
