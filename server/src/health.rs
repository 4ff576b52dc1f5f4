//! `GET /healthz`: 200 when Redis and PostgreSQL both answer, 503 naming whichever does not.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::state::AppState;

/// How long each check may take before its service counts as down.
pub const CHECK_TIMEOUT: Duration = Duration::from_millis(1_000);

/// The outcome of one check: `"ok"` or `"down"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// The service answered.
    Ok,
    /// The service did not answer in time, or answered with an error.
    Down,
}

/// The body of `/healthz`.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `"ok"` or `"unavailable"`.
    pub status: &'static str,
    /// One entry per backing service.
    pub checks: Checks,
}

/// Per-service results.
#[derive(Debug, Serialize)]
pub struct Checks {
    /// Redis.
    pub redis: Check,
    /// PostgreSQL.
    pub postgres: Check,
}

/// Pings both services concurrently.
pub async fn check(state: &AppState) -> Health {
    let redis = async {
        let mut conn = state.redis.conn().await?;
        deadpool_redis::redis::cmd("PING").query_async::<String>(&mut conn).await?;
        anyhow::Ok(())
    };
    let postgres = async { sqlx::query("SELECT 1").execute(&state.pool).await.map(|_| ()) };
    let (redis, postgres) =
        tokio::join!(tokio::time::timeout(CHECK_TIMEOUT, redis), tokio::time::timeout(CHECK_TIMEOUT, postgres));
    let redis = if matches!(redis, Ok(Ok(()))) { Check::Ok } else { Check::Down };
    let postgres = if matches!(postgres, Ok(Ok(()))) { Check::Ok } else { Check::Down };
    let status = if redis == Check::Ok && postgres == Check::Ok { "ok" } else { "unavailable" };
    Health { status, checks: Checks { redis, postgres } }
}

/// The handler.
pub async fn healthz(State(state): State<AppState>) -> Response {
    let health = check(&state).await;
    let code = if health.status == "ok" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    if code != StatusCode::OK {
        tracing::warn!(redis = ?health.checks.redis, postgres = ?health.checks.postgres, "health check failing");
    }
    (code, Json(health)).into_response()
}
