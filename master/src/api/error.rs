//! `ApiError`: every way an API call can fail, mapped to a status code in one place. An
//! [`OpsError`] (what the shared operations answer) becomes the `ApiError` of the same name.
//!
//! Bodies are JSON `{"error": <code>, "message": <text>, "field"?: <name>}`. 5xx bodies stay
//! generic; the detail goes to the log once, here.

use axum::http::header;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Json;
use serde_json::json;

use crate::auth::principal::Forbidden;
use crate::ops::OpsError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad input; `field` names what is wrong.
    #[error("{field}: {message}")]
    BadRequest { field: String, message: String },
    #[error("authentication required")]
    Unauthorized,
    #[error("your role may not do this")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(String),
    /// A version conflict or a write that contradicts the current state.
    #[error("{0}")]
    Conflict(String),
    #[error("payload too large: {0}")]
    TooLarge(String),
    /// No leader right now; retry after the hint.
    #[error("no leader is available; retry in {retry_after_s} s")]
    NoLeader { retry_after_s: u64 },
    /// The write was sent but its fate is unknown.
    #[error("the outcome of the write is unknown: {0}")]
    Indeterminate(String),
    /// A slave refused or did not answer.
    #[error("{0}")]
    Upstream(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn bad(field: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest { field: field.into(), message: message.into() }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NoLeader { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Indeterminate(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge(_) => "too_large",
            ApiError::NoLeader { .. } => "no_leader",
            ApiError::Indeterminate(_) => "indeterminate",
            ApiError::Upstream(_) => "upstream",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> Self {
        match e {
            OpsError::Invalid { field, message } => ApiError::BadRequest { field, message },
            OpsError::Forbidden => ApiError::Forbidden,
            OpsError::NotFound(what) => ApiError::NotFound(what),
            OpsError::Conflict(m) => ApiError::Conflict(m),
            OpsError::TooLarge(m) => ApiError::TooLarge(m),
            OpsError::NoLeader { retry_after_s } => ApiError::NoLeader { retry_after_s },
            OpsError::Indeterminate(m) => ApiError::Indeterminate(m),
            OpsError::Upstream(m) => ApiError::Upstream(m),
            OpsError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<Forbidden> for ApiError {
    fn from(_: Forbidden) -> Self {
        ApiError::Forbidden
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal API error");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        let mut body = json!({ "error": self.code(), "message": message });
        if let ApiError::BadRequest { field, .. } = &self {
            body["field"] = json!(field);
        }
        let mut resp = (status, Json(body)).into_response();
        if let ApiError::NoLeader { retry_after_s } = self {
            if let Ok(v) = retry_after_s.to_string().parse() {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}
