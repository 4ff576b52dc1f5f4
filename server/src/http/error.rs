//! The REST API's one error type. Each variant knows its status code and its contract code;
//! internal details are logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Everything a REST handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request itself is malformed (bad JSON, a missing header).
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: valid credentials without the right.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 409: the request conflicts with what exists.
    #[error("{0}")]
    Conflict(&'static str),
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

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection as R;
        match rejection {
            R::JsonDataError(e) => Self::Unprocessable(e.body_text()),
            other => Self::BadRequest(other.body_text()),
        }
    }
}

/// `Json` whose rejections are the API's JSON errors (400 malformed, 422 wrong shape).
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "ERR_BAD_REQUEST"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "ERR_UNAUTHORIZED"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "ERR_FORBIDDEN"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "ERR_CONFLICT"),
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
