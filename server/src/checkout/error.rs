//! What checkout and refunds fail with, in the domain's words; `http::error` decides the status
//! codes and bodies.

use std::time::Duration;

use physics_worker::wire::Reason;

/// Why a checkout or refund step did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// No such order or quote, for this shopper.
    #[error("{0}")]
    NotFound(&'static str),
    /// The request's values are not acceptable (too many units, a bad amount).
    #[error("{0}")]
    Invalid(String),
    /// The order's state does not allow it (refunded already, not paid).
    #[error("{0}")]
    Conflict(&'static str),
    /// A Temporal Paradox: a critical moment failed and was undone; the shopper rewinds.
    #[error(transparent)]
    Paradox(Paradox),
    /// Stripe refused the request, in its words.
    #[error("{0}")]
    Refused(String),
    /// Too many attempts by this shopper; retry after this long.
    #[error("too many attempts")]
    RateLimited(Duration),
    /// A backing service (PostgreSQL, Redis, Stripe) failed; details go to the log only.
    #[error("service unavailable")]
    Unavailable(#[from] anyhow::Error),
}

/// A Temporal Paradox: which kind (the contract's `reason`) and what happened, in plain words.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Paradox {
    /// Which kind of paradox.
    pub reason: Reason,
    /// What happened.
    pub message: String,
}

impl CheckoutError {
    /// A Temporal Paradox for this reason, with its plain-words message.
    pub fn paradox(reason: Reason, message: impl Into<String>) -> Self {
        Self::Paradox(Paradox { reason, message: message.into() })
    }
}

impl From<sqlx::Error> for CheckoutError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unavailable(e.into())
    }
}
