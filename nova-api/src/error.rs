//! API faults in Nova's body format: `{"itemNotFound": {"code": 404, "message": "..."}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nova_common::NovaError;
use serde_json::json;

/// The message of a 500 that does not reveal internals, as Nova's FaultWrapper words it.
pub const UNEXPECTED: &str = "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.";

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub message: String,
    /// What went wrong underneath, for the log (never in the response body).
    cause: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Why a response is a 5xx, carried in the response's extensions so that the
/// fault layer can log it with the request id.
#[derive(Clone, Debug)]
pub struct ErrorCause(pub String);

impl ApiError {
    pub fn new(code: u16, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            cause: None,
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

    /// Record what caused this fault (logged, not returned).
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
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
        let cause = format!("{}: {e}", e.class());
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
                format!("{UNEXPECTED}\n<class 'oslo_db.exception.DBError'>"),
            ),
            _ => {
                let code = e.http_code();
                if code >= 500
                    && !matches!(
                        e,
                        NovaError::GlanceConnectionFailed { .. }
                            | NovaError::ServiceUnavailable { .. }
                    )
                {
                    ApiError::new(
                        500,
                        format!("{UNEXPECTED}\n<class 'nova.exception.{}'>", e.class()),
                    )
                } else {
                    ApiError::new(code, e.to_string())
                }
            }
        }
        .with_cause(cause)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body =
            json!({ Self::fault_name(self.code): { "code": self.code, "message": self.message } });
        let mut resp = (status, Json(body)).into_response();
        if status.is_server_error() {
            let cause = self.cause.unwrap_or(self.message);
            resp.extensions_mut().insert(ErrorCause(cause));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_carry_their_cause_and_hide_it() {
        let e: ApiError = NovaError::DBError {
            reason: "connection refused".into(),
        }
        .into();
        assert_eq!(e.code, 500);
        assert!(!e.message.contains("connection refused"));
        let resp = e.into_response();
        let cause = resp.extensions().get::<ErrorCause>().map(|c| c.0.clone());
        assert_eq!(
            cause.as_deref(),
            Some("DBError: Database error: connection refused")
        );
        let resp = ApiError::bad_request("no").into_response();
        assert!(resp.extensions().get::<ErrorCause>().is_none());
    }
}
