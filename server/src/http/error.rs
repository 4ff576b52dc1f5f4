//! The REST API's one error type. Each variant knows its status code and its contract code;
//! internal details are logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Everything a REST handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(&'static str),
    /// 422: the request is well-formed but its values are not acceptable.
    #[error("{0}")]
    Unprocessable(String),
    /// 503: a backing service failed; the details go to the log only.
    #[error("service unavailable")]
    Unavailable(#[from] anyhow::Error),
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unavailable(e.into())
    }
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "ERR_NOT_FOUND"),
            Self::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "ERR_INVALID"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            Self::Unavailable(inner) => {
                tracing::error!(error = ?inner, "request failed on a backing service");
                "a backing service is unavailable; please retry shortly".to_string()
            }
            other => other.to_string(),
        };
        (status, Json(json!({ "error": code, "message": message }))).into_response()
    }
}
