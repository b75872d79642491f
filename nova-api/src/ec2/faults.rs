//! EC2 errors: a code, a message and AWS's HTTP status (Nova's
//! `nova/api/ec2/faults.py` and the exception mapping of its executor), and
//! the `ec2faultwrap` layer that renders them with the request id.

use super::apirequest::render_error;
use crate::layers::request_id::RequestId;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use nova_common::NovaError;
use std::panic::AssertUnwindSafe;

/// An EC2 error response.
#[derive(Clone, Debug, PartialEq)]
pub struct Ec2Error {
    pub code: String,
    pub message: String,
    pub status: u16,
    /// What went wrong underneath (logged for 5xx, never sent).
    pub cause: Option<String>,
}

/// AWS's HTTP status for an error code.
fn status_of(code: &str) -> u16 {
    match code {
        "AuthFailure" | "MissingAuthenticationToken" => 401,
        "UnauthorizedOperation" | "OptInRequired" | "Blocked" => 403,
        "InternalError" | "InternalFailure" => 500,
        "Unavailable" | "ServiceUnavailable" => 503,
        "RequestLimitExceeded" => 503,
        "InsufficientInstanceCapacity" => 500,
        _ => 400,
    }
}

impl Ec2Error {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Ec2Error {
            code: code.to_string(),
            message: message.into(),
            status: status_of(code),
            cause: None,
        }
    }

    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            "MissingParameter",
            format!("The request must contain the parameter {name}"),
        )
    }

    pub fn invalid_value(name: &str, value: &str) -> Self {
        Self::new(
            "InvalidParameterValue",
            format!("Invalid value '{value}' for {name}"),
        )
    }

    pub fn auth_failure(why: &str) -> Self {
        Self::new(
            "AuthFailure",
            format!("AWS was not able to validate the provided access credentials ({why})"),
        )
    }

    pub fn internal(cause: impl Into<String>) -> Self {
        Self::new(
            "InternalError",
            "An internal error has occurred. Please try again later.",
        )
        .with_cause(cause)
    }

    pub fn unsupported(what: &str) -> Self {
        Self::new(
            "UnsupportedOperation",
            format!("{what} is not supported by this cloud yet."),
        )
    }

    /// A Nova exception as the EC2 executor answers it, `id` naming the
    /// EC2 resource the request was about (for not-found messages).
    pub fn from_nova(e: NovaError, id: Option<&str>) -> Self {
        let cause = format!("{}: {e}", e.class());
        let named = |what: &str| match id {
            Some(i) => format!("The {what} '{i}' does not exist"),
            None => format!("The {what} does not exist"),
        };
        let err = match &e {
            NovaError::InstanceNotFound { .. } => {
                Self::new("InvalidInstanceID.NotFound", named("instance ID"))
            }
            NovaError::ImageNotFound { .. } => {
                Self::new("InvalidAMIID.NotFound", named("image id"))
            }
            NovaError::ImageNotActive { .. } => Self::new(
                "InvalidAMIID.Unavailable",
                format!("The image is not available: {e}"),
            ),
            NovaError::KeypairNotFound { name, .. } => Self::new(
                "InvalidKeyPair.NotFound",
                format!("The key pair '{name}' does not exist"),
            ),
            NovaError::KeyPairExists { key_name } => Self::new(
                "InvalidKeyPair.Duplicate",
                format!("The keypair '{key_name}' already exists."),
            ),
            NovaError::InvalidKeypair { .. } => Self::new("InvalidKeyPair.Format", e.to_string()),
            NovaError::SecurityGroupNotFound { security_group_id }
            | NovaError::SecurityGroupNotFoundForProject {
                security_group_id, ..
            } => Self::new(
                "InvalidGroup.NotFound",
                format!(
                    "The security group '{}' does not exist",
                    id.unwrap_or(security_group_id)
                ),
            ),
            NovaError::SecurityGroupExists {
                security_group_name,
                ..
            } => Self::new(
                "InvalidGroup.Duplicate",
                format!("The security group '{security_group_name}' already exists"),
            ),
            NovaError::SecurityGroupRuleExists { .. } => Self::new(
                "InvalidPermission.Duplicate",
                format!("The same permission must not appear multiple times ({e})"),
            ),
            NovaError::SecurityGroupLimitExceeded {} => {
                Self::new("SecurityGroupLimitExceeded", e.to_string())
            }
            NovaError::FloatingIpNotFound { .. }
            | NovaError::FloatingIpNotFoundForAddress { .. } => Self::new(
                "InvalidAddress.NotFound",
                match id {
                    Some(i) => format!("Address '{i}' not found."),
                    None => "The address does not exist.".to_string(),
                },
            ),
            NovaError::FloatingIpLimitExceeded {} => Self::new(
                "AddressLimitExceeded",
                "The maximum number of addresses has been reached.",
            ),
            NovaError::NoMoreFloatingIps {} => Self::new(
                "InsufficientAddressCapacity",
                "There are no more addresses available to allocate.",
            ),
            NovaError::FloatingIpAssociated { .. } => {
                Self::new("InvalidIPAddress.InUse", e.to_string())
            }
            NovaError::FloatingIpNotAssociated { .. } => {
                Self::new("InvalidAssociationID.NotFound", e.to_string())
            }
            NovaError::KeypairLimitExceeded {} => Self::new("ResourceLimitExceeded", e.to_string()),
            NovaError::QuotaExceeded { overs, .. } if overs.contains("metadata_items") => {
                Self::new("TagLimitExceeded", e.to_string())
            }
            NovaError::QuotaExceeded { .. } => Self::new("InstanceLimitExceeded", e.to_string()),
            NovaError::InstanceInvalidState { .. }
            | NovaError::UnexpectedTaskStateError { .. }
            | NovaError::InstanceIsLocked { .. }
            | NovaError::InstanceNotReady { .. } => Self::new("IncorrectState", e.to_string()),
            NovaError::NoValidHost { .. } | NovaError::MaxRetriesExceeded { .. } => {
                Self::new("InsufficientInstanceCapacity", e.to_string())
            }
            NovaError::FlavorNotFound { .. } => Self::new("InvalidParameterValue", e.to_string()),
            NovaError::InvalidBDMSnapshot { id } => Self::new(
                "InvalidSnapshot.NotFound",
                format!("The snapshot '{id}' does not exist."),
            ),
            NovaError::InvalidBDMVolume { id } => Self::new(
                "InvalidVolume.NotFound",
                format!("The volume '{id}' does not exist."),
            ),
            NovaError::InvalidBDMFormat { .. }
            | NovaError::InvalidBDMBootSequence { .. }
            | NovaError::InvalidBDMEphemeralSize { .. }
            | NovaError::InvalidBDMSwapSize { .. } => {
                Self::new("InvalidBlockDeviceMapping", e.to_string())
            }
            NovaError::PolicyNotAuthorized { .. } | NovaError::NotAuthorized { .. } => Self::new(
                "UnauthorizedOperation",
                "You are not authorized to perform this operation.",
            ),
            NovaError::MessagingTimeout { .. }
            | NovaError::DBConnectionError { .. }
            | NovaError::GlanceConnectionFailed { .. }
            | NovaError::ServiceUnavailable { .. } => Self::new(
                "Unavailable",
                "The service is unavailable. Please try again shortly.",
            ),
            _ if e.http_code() < 500 => Self::new("InvalidParameterValue", e.to_string()),
            _ => Self::internal(cause.clone()),
        };
        err.with_cause(cause)
    }
}

impl From<NovaError> for Ec2Error {
    fn from(e: NovaError) -> Self {
        Ec2Error::from_nova(e, None)
    }
}

impl From<crate::error::ApiError> for Ec2Error {
    /// A policy refusal (403) from the shared policy checks.
    fn from(e: crate::error::ApiError) -> Self {
        match e.code {
            403 => Ec2Error::new(
                "UnauthorizedOperation",
                "You are not authorized to perform this operation.",
            )
            .with_cause(e.message),
            c if c < 500 => Ec2Error::new("InvalidParameterValue", e.message),
            _ => Ec2Error::internal(e.message),
        }
    }
}

/// Handed from the handler to the fault layer, which adds the request id.
#[derive(Clone, Debug)]
struct PendingError(Ec2Error);

impl IntoResponse for Ec2Error {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut resp = status.into_response();
        resp.extensions_mut().insert(PendingError(self));
        resp
    }
}

fn xml_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    resp
}

/// `ec2faultwrap`: errors become EC2's XML with the request id; a panic is
/// an `InternalError` (500); the generic layers' JSON faults (body too
/// large) are rewritten as EC2 errors; every 5xx is logged with its cause.
pub async fn ec2_fault_wrap(req: Request, next: Next) -> Response {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.id.clone())
        .unwrap_or_default();
    let action = req.uri().query().unwrap_or_default().to_string();
    let resp = match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(resp) => resp,
        Err(_) => Ec2Error::internal("handler panicked").into_response(),
    };
    let pending = resp.extensions().get::<PendingError>().cloned();
    let err = match pending {
        Some(PendingError(e)) => e,
        None if resp.status().is_client_error() || resp.status().is_server_error() => {
            let st = resp.status().as_u16();
            let code = match st {
                413 => "RequestEntityTooLarge",
                s if s >= 500 => "InternalError",
                _ => "InvalidRequest",
            };
            let mut e = Ec2Error::new(code, format!("The request was refused ({st})."));
            e.status = st;
            e
        }
        None => return resp,
    };
    if err.status >= 500 {
        tracing::error!(
            request_id = %request_id,
            status = err.status,
            code = %err.code,
            "EC2 request {action:.200} failed: {}",
            err.cause.as_deref().unwrap_or(&err.message)
        );
    }
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut out = xml_response(status, render_error(&err.code, &err.message, &request_id));
    // Keep the request id headers the request id layer set.
    for (k, v) in resp.headers() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// A rendered success.
pub fn ok_xml(body: String) -> Response {
    xml_response(StatusCode::OK, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nova_errors_map_to_ec2_codes() {
        let e = Ec2Error::from_nova(
            NovaError::InstanceNotFound {
                instance_id: "x".into(),
            },
            Some("i-00000001"),
        );
        assert_eq!(e.code, "InvalidInstanceID.NotFound");
        assert_eq!(e.message, "The instance ID 'i-00000001' does not exist");
        assert_eq!(e.status, 400);
        let e: Ec2Error = NovaError::DBError {
            reason: "boom".into(),
        }
        .into();
        assert_eq!((e.code.as_str(), e.status), ("InternalError", 500));
        assert!(!e.message.contains("boom"));
        let e: Ec2Error = NovaError::MessagingTimeout { msg_id: "1".into() }.into();
        assert_eq!((e.code.as_str(), e.status), ("Unavailable", 503));
        assert_eq!(Ec2Error::auth_failure("x").status, 401);
        let e = Ec2Error::from_nova(
            NovaError::SecurityGroupNotFoundForProject {
                security_group_id: "web".into(),
                project_id: "p".into(),
            },
            Some("sg-00000009"),
        );
        assert_eq!(e.code, "InvalidGroup.NotFound");
        assert_eq!(e.message, "The security group 'sg-00000009' does not exist");
        let e: Ec2Error = NovaError::FloatingIpLimitExceeded {}.into();
        assert_eq!((e.code.as_str(), e.status), ("AddressLimitExceeded", 400));
        let e: Ec2Error = NovaError::SecurityGroupExists {
            security_group_name: "web".into(),
            project_id: "p".into(),
        }
        .into();
        assert_eq!(e.code, "InvalidGroup.Duplicate");
    }
}
