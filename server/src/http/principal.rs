//! The request extractor: `Authorization: Bearer <access token>`, verified, as a [`Principal`].

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::error::ApiError;
use crate::auth::Principal;
use crate::state::AppState;

/// The bearer token of these headers, verified; `Ok(None)` when there is none.
pub async fn from_headers(state: &AppState, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::Unauthorized("expected Authorization: Bearer <token>".into()))?;
    match Principal::from_token(&state.tokens, &state.revocations, token.trim()).await {
        Some(principal) => Ok(Some(principal)),
        None => Err(ApiError::Unauthorized("invalid or expired token, or its session ended; sign in again".into())),
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        from_headers(state, &parts.headers)
            .await?
            .ok_or_else(|| ApiError::Unauthorized("sign in or get a guest token first (Authorization: Bearer)".into()))
    }
}
