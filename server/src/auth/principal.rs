use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::tokens::{Claims, Role};
use crate::http::error::ApiError;
use crate::startup::AppState;

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
    pub async fn from_token(state: &AppState, token: &str) -> Option<Self> {
        let claims = state.tokens.verify(token).ok()?;
        if let Some(sid) = &claims.sid {
            if state.revocations.is_revoked(sid).await {
                return None;
            }
        }
        Some(claims.into())
    }

    /// The bearer token of these headers, verified; `Ok(None)` when there is none.
    pub async fn from_headers(state: &AppState, headers: &HeaderMap) -> Result<Option<Self>, ApiError> {
        let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(None);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::Unauthorized("expected Authorization: Bearer <token>".into()))?;
        match Self::from_token(state, token.trim()).await {
            Some(principal) => Ok(Some(principal)),
            None => Err(ApiError::Unauthorized("invalid or expired token, or its session ended; sign in again".into())),
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Self::from_headers(state, &parts.headers)
            .await?
            .ok_or_else(|| ApiError::Unauthorized("sign in or get a guest token first (Authorization: Bearer)".into()))
    }
}
