//! The REST API's one error type. Each variant knows its status code and its contract code;
//! internal details are logged, never sent.

use app::api::ErrorBody;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use physics_worker::wire::ErrCode;

use crate::catalog::admin;
use crate::checkout::error::Paradox;
use crate::checkout::CheckoutError;

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
    /// 409 `ERR_TEMPORAL_PARADOX`: a critical moment failed and was undone; the client rewinds.
    #[error(transparent)]
    Paradox(Paradox),
    /// 409 `ERR_REFUSED`: a service the request depends on (Stripe) refused it, in its words.
    #[error("{0}")]
    Refused(String),
    /// 409: the same Idempotency-Key is still being worked on; retry shortly.
    #[error("{0}")]
    InProgress(&'static str),
    /// 413: the body is larger than this route reads.
    #[error("the request body is too large")]
    TooLarge,
    /// 429: too many attempts; retry after this many seconds.
    #[error("too many attempts; try again in {0} s")]
    TooManyRequests(u64),
    /// 503: a backing service failed; the details go to the log only.
    #[error("service unavailable")]
    Unavailable(#[from] anyhow::Error),
}

impl From<CheckoutError> for ApiError {
    fn from(e: CheckoutError) -> Self {
        match e {
            CheckoutError::NotFound(what) => Self::NotFound(what),
            CheckoutError::Invalid(why) => Self::Unprocessable(why),
            CheckoutError::Conflict(why) => Self::Conflict(why),
            CheckoutError::Paradox(paradox) => Self::Paradox(paradox),
            CheckoutError::Refused(why) => Self::Refused(why),
            CheckoutError::RateLimited(wait) => Self::rate_limited(wait),
            CheckoutError::Unavailable(inner) => Self::Unavailable(inner),
        }
    }
}

impl From<admin::ChangeError> for ApiError {
    fn from(e: admin::ChangeError) -> Self {
        match e {
            admin::ChangeError::SlugTaken => Self::Conflict("a product with this slug already exists"),
            admin::ChangeError::OutOfRange => Self::Unprocessable(e.to_string()),
            admin::ChangeError::Database(e) => e.into(),
        }
    }
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
            R::JsonDataError(e) => Self::Unprocessable(without_values(&e.body_text())),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::TooLarge,
            other => Self::BadRequest(other.body_text()),
        }
    }
}

/// A JSON error message with the submitted values taken out (serde quotes them in backticks:
/// ``invalid type: integer `4242…`, expected a string``), so a 422 never echoes what was sent,
/// a card number typed into the wrong field included. Field names (``unknown field `x` ``) stay:
/// only what follows "invalid …" in a clause is the client's value.
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find('`') {
        let Some(len) = rest[start + 1..].find('`') else { break };
        let (before, quoted) = (&rest[..start], &rest[start..start + len + 2]);
        out.push_str(before);
        let clause = before.rsplit(',').next().unwrap_or(before);
        out.push_str(if clause.contains("invalid") { "a value" } else { quoted });
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
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
            Self::Paradox(_) => (StatusCode::CONFLICT, ErrCode::TemporalParadox.as_str()),
            Self::InProgress(_) => (StatusCode::CONFLICT, "ERR_IN_PROGRESS"),
            Self::Refused(_) => (StatusCode::CONFLICT, "ERR_REFUSED"),
            Self::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "ERR_RATE_LIMITED"),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "ERR_TOO_LARGE"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE"),
        }
    }
}

impl ApiError {
    /// The status and JSON body this error answers with (also stored for idempotent replays).
    pub fn to_parts(&self) -> (StatusCode, serde_json::Value) {
        let (status, code) = self.status_and_code();
        let message = match self {
            Self::Unavailable(inner) => {
                tracing::error!(error = ?inner, "request failed on a backing service");
                "a backing service is unavailable; please retry shortly".to_string()
            }
            other => other.to_string(),
        };
        let reason = match self {
            Self::Paradox(paradox) => Some(paradox.reason),
            _ => None,
        };
        let body = ErrorBody { error: code.to_string(), message, reason };
        (status, serde_json::to_value(body).unwrap_or_default())
    }
}

impl ApiError {
    /// 429 with `Retry-After`: whole seconds to wait, at least one.
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        Self::TooManyRequests(wait.as_secs().max(1))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = self.to_parts();
        let mut response = (status, Json(body)).into_response();
        let retry_after = match self {
            Self::InProgress(_) => Some(1),
            Self::TooManyRequests(secs) => Some(secs),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::without_values;

    #[test]
    fn json_errors_name_fields_but_never_echo_values() {
        assert_eq!(
            without_values("invalid type: integer `4242424242424242`, expected a string at line 1 column 30"),
            "invalid type: integer a value, expected a string at line 1 column 30"
        );
        assert_eq!(
            without_values("unknown field `cardNumber`, expected `quoteId`"),
            "unknown field `cardNumber`, expected `quoteId`"
        );
        assert_eq!(
            without_values("invalid value: string `4242 4242`, expected x"),
            "invalid value: string a value, expected x"
        );
        assert_eq!(without_values("missing field `quoteId`"), "missing field `quoteId`");
    }
}
