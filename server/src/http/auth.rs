//! `/api/auth/guest|register|login|refresh` (CONTRACT.md, REST).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiJson};
use crate::auth::refresh::{self, Rotation};
use crate::auth::tokens::ACCESS_TOKEN_TTL_SECS;
use crate::auth::users::{self, RegisterError, User};
use crate::auth::{Principal, Role};
use crate::startup::AppState;

/// The routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/guest", post(guest))
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh_pair))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GuestToken {
    token: String,
    expires_in: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenPair {
    token: String,
    refresh_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshRequest {
    refresh_token: String,
}

async fn guest(State(state): State<AppState>) -> Json<GuestToken> {
    let sub = uuid::Uuid::new_v4().to_string();
    let (token, _) = state.tokens.issue(&sub, Role::Guest);
    Json(GuestToken { token, expires_in: ACCESS_TOKEN_TTL_SECS })
}

async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<(StatusCode, Json<TokenPair>), ApiError> {
    let user = users::create(&state.pool, &body.email, &body.password, Role::Shopper).await.map_err(|e| match e {
        RegisterError::InvalidEmail(m) | RegisterError::WeakPassword(m) => ApiError::Unprocessable(m.into()),
        RegisterError::Taken => ApiError::Conflict("an account with this email exists; sign in instead"),
        RegisterError::Other(e) => ApiError::Unavailable(e),
    })?;
    let pair = sign_in(&state, &headers, &user).await?;
    Ok((StatusCode::CREATED, Json(pair)))
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Json<TokenPair>, ApiError> {
    let user = users::authenticate(&state.pool, &body.email, &body.password)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("email or password is wrong".into()))?;
    Ok(Json(sign_in(&state, &headers, &user).await?))
}

/// Issues a token pair for `user`, handing over the cart orbit of the guest token the request
/// carried, if any.
async fn sign_in(state: &AppState, headers: &HeaderMap, user: &User) -> Result<TokenPair, ApiError> {
    let sub = user.id.to_string();
    // A stale or invalid guest token must not stop a sign-in: its cart simply stays where it is.
    if let Ok(Some(guest)) = Principal::from_headers(state, headers) {
        if guest.role == Role::Guest {
            state.carts.merge(&guest.sub, &sub).await?;
        }
    }
    let (token, _) = state.tokens.issue(&sub, user.role());
    let refresh_token = refresh::issue(&state.pool, user.id).await?;
    Ok(TokenPair { token, refresh_token, expires_in: ACCESS_TOKEN_TTL_SECS })
}

async fn refresh_pair(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let refused = || ApiError::Unauthorized("refresh token invalid, expired or already used; sign in again".into());
    match refresh::rotate(&state.pool, &body.refresh_token).await? {
        Rotation::Rotated { user_id, token: refresh_token } => {
            let user = users::by_id(&state.pool, user_id).await?.ok_or_else(refused)?;
            let (token, _) = state.tokens.issue(&user.id.to_string(), user.role());
            Ok(Json(TokenPair { token, refresh_token, expires_in: ACCESS_TOKEN_TTL_SECS }))
        }
        Rotation::Refused | Rotation::ReuseDetected => Err(refused()),
    }
}
