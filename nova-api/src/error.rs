//! API faults in Nova's body format: `{"itemNotFound": {"code": 404, "message": "..."}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nova_common::NovaError;
use serde_json::json;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: u16, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }
    pub fn forbidden_policy(action: &str) -> Self {
        Self::new(
            403,
            format!("Policy doesn't allow {action} to be performed."),
        )
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, message)
    }

    /// Nova's fault names by status code (`nova.api.openstack.wsgi.Fault`).
    pub fn fault_name(code: u16) -> &'static str {
        match code {
            400 => "badRequest",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "itemNotFound",
            405 => "badMethod",
            409 => "conflictingRequest",
            413 | 429 => "overLimit",
            415 => "badMediaType",
            501 => "notImplemented",
            503 => "serviceUnavailable",
            _ => "computeFault",
        }
    }
}

impl From<NovaError> for ApiError {
    fn from(e: NovaError) -> Self {
        match &e {
            NovaError::MessagingTimeout { .. } => ApiError::new(
                503,
                "The compute service did not answer in time (RPC MessagingTimeout); try again later.",
            ),
            // Transient (the conductor already retried reads): the client may try again.
            NovaError::DBConnectionError { .. } => ApiError::new(
                503,
                "The database is unavailable at the moment (DBConnectionError); try again later.",
            ),
            NovaError::DBError { .. } => ApiError::new(
                500,
                "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.\n<class 'oslo_db.exception.DBError'>",
            ),
            _ => {
                let code = e.http_code();
                if code >= 500 && !matches!(e, NovaError::GlanceConnectionFailed { .. } | NovaError::ServiceUnavailable { .. }) {
                    tracing::error!("unexpected error: {e}");
                    ApiError::new(
                        500,
                        format!(
                            "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.\n<class 'nova.exception.{}'>",
                            e.class()
                        ),
                    )
                } else {
                    ApiError::new(code, e.to_string())
                }
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body =
            json!({ Self::fault_name(self.code): { "code": self.code, "message": self.message } });
        (status, Json(body)).into_response()
    }
}
