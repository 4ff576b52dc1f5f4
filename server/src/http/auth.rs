//! `/api/auth/guest|register|login|refresh|logout|session` (CONTRACT.md, REST; docs/contract-notes.md).
//!
//! Every token answer carries a refresh token, guests' included, so a page renews its session
//! before the access token expires and keeps its subject (and so its cart orbit).

use std::net::SocketAddr;

use app::api::TokenPair;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiJson};
use crate::auth::refresh::{self, Owner, Rotation};
use crate::auth::users::{self, RegisterError, User};
use crate::auth::{Principal, Role, Subject};
use crate::state::AppState;

/// The routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/guest", post(guest))
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh_pair))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/session", get(session))
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

/// What `GET /api/auth/session` says of the caller's access token.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionInfo {
    role: Role,
    expires_at: chrono::DateTime<chrono::Utc>,
}

/// An access token for `sub` with `role` in `session`, beside that session's refresh token.
fn token_pair(state: &AppState, sub: &str, role: Role, (refresh_token, session): (String, uuid::Uuid)) -> TokenPair {
    let (token, _) = state.tokens.issue_in_session(sub, role, session);
    TokenPair { token, refresh_token, expires_in: state.tokens.lifetime_secs() }
}

/// Ends the access tokens of sessions whose refresh tokens were just revoked. If Redis cannot
/// take it, the tokens run out at their expiry (the refresh tokens are revoked for good).
async fn end_sessions(state: &AppState, sessions: &[uuid::Uuid]) {
    if let Err(e) = state.revocations.revoke(sessions).await {
        tracing::warn!(error = %e, "auth: ended sessions could not be put on the deny-list");
    }
}

/// A new guest: a random subject, its access token and a (shorter-lived) refresh token, so the
/// guest keeps its subject and cart orbit when the access token expires.
async fn guest(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
) -> Result<Json<TokenPair>, ApiError> {
    state.throttle.mint_guest(client.ip()).map_err(ApiError::rate_limited)?;
    let sub = uuid::Uuid::new_v4().to_string();
    let session = refresh::issue(&state.pool, &Owner::Guest(sub.clone())).await?;
    Ok(Json(token_pair(&state, &sub, Role::Guest, session)))
}

/// Whether the caller's access token is good (a page asks after its socket was refused, to tell
/// an expired or foreign token, 401, from a network failure).
async fn session(who: Principal) -> Json<SessionInfo> {
    let expires_at = chrono::DateTime::from_timestamp(who.exp as i64, 0).unwrap_or_default();
    Json(SessionInfo { role: who.role, expires_at })
}

/// Takes one sign-in or registration attempt from `client` (and for `email`, when signing in).
fn throttle(state: &AppState, client: SocketAddr, email: Option<&str>) -> Result<(), ApiError> {
    state.throttle.attempt(client.ip(), email).map_err(ApiError::rate_limited)
}

async fn register(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<(StatusCode, Json<TokenPair>), ApiError> {
    throttle(&state, client, None)?;
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
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Json<TokenPair>, ApiError> {
    throttle(&state, client, Some(&body.email))?;
    let user = users::authenticate(&state.pool, &body.email, &body.password)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("email or password is wrong".into()))?;
    Ok(Json(sign_in(&state, &headers, &user).await?))
}

/// Issues a token pair for `user`, handing over the cart orbit of the guest token the request
/// carried, if any.
async fn sign_in(state: &AppState, headers: &HeaderMap, user: &User) -> Result<TokenPair, ApiError> {
    let account = Subject::new(user.id);
    // A stale or invalid guest token must not stop a sign-in: its cart simply stays where it is.
    if let Ok(Some(guest)) = super::principal::from_headers(state, headers).await {
        if guest.role == Role::Guest {
            state.carts.merge(guest.sub, account).await?;
            // The guest session ends here: its cart orbit now belongs to the account.
            let ended = refresh::revoke_all(&state.pool, &Owner::Guest(guest.sub.to_string())).await?;
            end_sessions(state, &ended).await;
        }
    }
    let session = refresh::issue(&state.pool, &Owner::User(user.id)).await?;
    Ok(token_pair(state, &account.to_string(), user.role(), session))
}

async fn refresh_pair(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let refused = || ApiError::Unauthorized("refresh token invalid, expired or already used; sign in again".into());
    match refresh::rotate(&state.pool, &body.refresh_token).await? {
        Rotation::Rotated { owner: Owner::User(user_id), token, family } => {
            let user = users::by_id(&state.pool, user_id).await?.ok_or_else(refused)?;
            Ok(Json(token_pair(&state, &user.id.to_string(), user.role(), (token, family))))
        }
        Rotation::Rotated { owner: Owner::Guest(sub), token, family } => {
            Ok(Json(token_pair(&state, &sub, Role::Guest, (token, family))))
        }
        Rotation::ReuseDetected(family) => {
            end_sessions(&state, &[family]).await;
            Err(refused())
        }
        Rotation::Refused => Err(refused()),
    }
}

/// `POST /api/auth/logout` `{"refreshToken"}`: the session's refresh tokens and access tokens
/// stop working. 204 whether or not the token was known, so the answer tells nothing about it.
async fn logout(State(state): State<AppState>, ApiJson(body): ApiJson<RefreshRequest>) -> Result<StatusCode, ApiError> {
    if let Some(session) = refresh::revoke_family(&state.pool, &body.refresh_token).await? {
        end_sessions(&state, &[session]).await;
    }
    Ok(StatusCode::NO_CONTENT)
}
