//! `NovaError`: the exceptions of `nova.exception` that cross a boundary.
//!
//! Each variant keeps Nova's class name and keyword arguments, so that a
//! failure raised in one daemon travels over RPC as
//! `{"class": ..., "module": "nova.exception", "message": ..., "kwargs": {...}}`
//! and comes back to the caller as the same variant. The API maps each to
//! Nova's HTTP code.

use serde_json::{json, Map, Value};

pub type NovaResult<T> = Result<T, NovaError>;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NovaError {
    #[error("Instance {instance_id} could not be found.")]
    InstanceNotFound { instance_id: String },
    #[error("Flavor {flavor_id} could not be found.")]
    FlavorNotFound { flavor_id: String },
    #[error("Flavor with name {name} already exists.")]
    FlavorExists { name: String },
    #[error("Flavor with ID {flavor_id} already exists.")]
    FlavorIdExists { flavor_id: String },
    #[error("Image {image_id} could not be found.")]
    ImageNotFound { image_id: String },
    #[error("Image {image_id} is not active.")]
    ImageNotActive { image_id: String },
    #[error("Connection to glance host {server} failed: {reason}")]
    GlanceConnectionFailed { server: String, reason: String },
    #[error("No valid host was found. {reason}")]
    NoValidHost { reason: String },
    #[error("Compute host {host} could not be found.")]
    ComputeHostNotFound { host: String },
    #[error("Service {service_id} could not be found.")]
    ServiceNotFound { service_id: String },
    #[error("Network {network_id} could not be found.")]
    NetworkNotFound { network_id: String },
    #[error("Zero fixed IPs available.")]
    NoMoreFixedIps { net: String },
    #[error("Instance {instance_uuid} in {attr} {state}. Cannot {method} while the instance is in this state.")]
    InstanceInvalidState {
        attr: String,
        instance_uuid: String,
        state: String,
        method: String,
    },
    #[error("Unexpected task state: expecting {expected} but the actual state is {actual}")]
    UnexpectedTaskStateError {
        instance_uuid: String,
        expected: String,
        actual: String,
    },
    #[error("Instance {instance_uuid} is locked")]
    InstanceIsLocked { instance_uuid: String },
    #[error("Build of instance {instance_uuid} aborted: {reason}")]
    BuildAbortException {
        instance_uuid: String,
        reason: String,
    },
    #[error("Timed out waiting for a reply to message ID {msg_id}")]
    MessagingTimeout { msg_id: String },
    #[error("Invalid input received: {reason}")]
    InvalidInput { reason: String },
    #[error("Unacceptable parameters.")]
    Invalid { reason: String },
    #[error("Policy doesn't allow {action} to be performed.")]
    PolicyNotAuthorized { action: String },
    #[error("Not authorized.")]
    NotAuthorized { reason: String },
    #[error(
        "Quota exceeded for {overs}: Requested {req}, but already used {used} of {allowed} {overs}"
    )]
    QuotaExceeded {
        overs: String,
        req: String,
        used: String,
        allowed: String,
    },
    #[error("Virtualization driver error: {reason}")]
    HypervisorError { reason: String },
    #[error("Instance {instance_name} already exists.")]
    InstanceExists { instance_name: String },
    #[error("Database error: {reason}")]
    DBError { reason: String },
    #[error("Service unavailable: {reason}")]
    ServiceUnavailable { reason: String },
    #[error("Endpoint does not support RPC method {method}")]
    UnsupportedRpcMethod { method: String },
    /// A failure whose class this build does not model; kept verbatim.
    #[error("{message}")]
    Remote {
        class: String,
        module: String,
        message: String,
        kwargs: Value,
    },
}

macro_rules! kw {
    ($($k:ident),*) => {{
        let mut m = Map::new();
        $( m.insert(stringify!($k).to_string(), Value::from($k.clone())); )*
        Value::Object(m)
    }};
}

impl NovaError {
    pub fn internal(message: impl Into<String>) -> Self {
        NovaError::Remote {
            class: "NovaException".into(),
            module: "nova.exception".into(),
            message: message.into(),
            kwargs: json!({}),
        }
    }

    pub fn invalid_input(reason: impl Into<String>) -> Self {
        NovaError::InvalidInput {
            reason: reason.into(),
        }
    }

    /// Nova's exception class name.
    pub fn class(&self) -> &str {
        match self {
            NovaError::InstanceNotFound { .. } => "InstanceNotFound",
            NovaError::FlavorNotFound { .. } => "FlavorNotFound",
            NovaError::FlavorExists { .. } => "FlavorExists",
            NovaError::FlavorIdExists { .. } => "FlavorIdExists",
            NovaError::ImageNotFound { .. } => "ImageNotFound",
            NovaError::ImageNotActive { .. } => "ImageNotActive",
            NovaError::GlanceConnectionFailed { .. } => "GlanceConnectionFailed",
            NovaError::NoValidHost { .. } => "NoValidHost",
            NovaError::ComputeHostNotFound { .. } => "ComputeHostNotFound",
            NovaError::ServiceNotFound { .. } => "ServiceNotFound",
            NovaError::NetworkNotFound { .. } => "NetworkNotFound",
            NovaError::NoMoreFixedIps { .. } => "NoMoreFixedIps",
            NovaError::InstanceInvalidState { .. } => "InstanceInvalidState",
            NovaError::UnexpectedTaskStateError { .. } => "UnexpectedTaskStateError",
            NovaError::InstanceIsLocked { .. } => "InstanceIsLocked",
            NovaError::BuildAbortException { .. } => "BuildAbortException",
            NovaError::MessagingTimeout { .. } => "MessagingTimeout",
            NovaError::InvalidInput { .. } => "InvalidInput",
            NovaError::Invalid { .. } => "Invalid",
            NovaError::PolicyNotAuthorized { .. } => "PolicyNotAuthorized",
            NovaError::NotAuthorized { .. } => "NotAuthorized",
            NovaError::QuotaExceeded { .. } => "QuotaExceeded",
            NovaError::HypervisorError { .. } => "HypervisorError",
            NovaError::InstanceExists { .. } => "InstanceExists",
            NovaError::DBError { .. } => "DBError",
            NovaError::ServiceUnavailable { .. } => "ServiceUnavailable",
            NovaError::UnsupportedRpcMethod { .. } => "UnsupportedRpcMethod",
            NovaError::Remote { class, .. } => class,
        }
    }

    fn module(&self) -> &str {
        match self {
            NovaError::MessagingTimeout { .. } => "oslo_messaging.exceptions",
            NovaError::Remote { module, .. } => module,
            _ => "nova.exception",
        }
    }

    /// The HTTP code Nova's exception carries (`code` attribute).
    pub fn http_code(&self) -> u16 {
        match self {
            NovaError::InstanceNotFound { .. }
            | NovaError::FlavorNotFound { .. }
            | NovaError::ImageNotFound { .. }
            | NovaError::ComputeHostNotFound { .. }
            | NovaError::ServiceNotFound { .. }
            | NovaError::NetworkNotFound { .. } => 404,
            NovaError::FlavorExists { .. }
            | NovaError::FlavorIdExists { .. }
            | NovaError::InstanceInvalidState { .. }
            | NovaError::UnexpectedTaskStateError { .. }
            | NovaError::InstanceIsLocked { .. }
            | NovaError::InstanceExists { .. } => 409,
            NovaError::ImageNotActive { .. }
            | NovaError::InvalidInput { .. }
            | NovaError::Invalid { .. } => 400,
            NovaError::PolicyNotAuthorized { .. } | NovaError::NotAuthorized { .. } => 403,
            NovaError::QuotaExceeded { .. } => 403,
            NovaError::GlanceConnectionFailed { .. } | NovaError::ServiceUnavailable { .. } => 503,
            _ => 500,
        }
    }

    pub fn kwargs(&self) -> Value {
        match self {
            NovaError::InstanceNotFound { instance_id } => kw!(instance_id),
            NovaError::FlavorNotFound { flavor_id } => kw!(flavor_id),
            NovaError::FlavorExists { name } => kw!(name),
            NovaError::FlavorIdExists { flavor_id } => kw!(flavor_id),
            NovaError::ImageNotFound { image_id } | NovaError::ImageNotActive { image_id } => {
                kw!(image_id)
            }
            NovaError::GlanceConnectionFailed { server, reason } => kw!(server, reason),
            NovaError::NoValidHost { reason } => kw!(reason),
            NovaError::ComputeHostNotFound { host } => kw!(host),
            NovaError::ServiceNotFound { service_id } => kw!(service_id),
            NovaError::NetworkNotFound { network_id } => kw!(network_id),
            NovaError::NoMoreFixedIps { net } => kw!(net),
            NovaError::InstanceInvalidState {
                attr,
                instance_uuid,
                state,
                method,
            } => kw!(attr, instance_uuid, state, method),
            NovaError::UnexpectedTaskStateError {
                instance_uuid,
                expected,
                actual,
            } => kw!(instance_uuid, expected, actual),
            NovaError::InstanceIsLocked { instance_uuid } => kw!(instance_uuid),
            NovaError::BuildAbortException {
                instance_uuid,
                reason,
            } => kw!(instance_uuid, reason),
            NovaError::MessagingTimeout { msg_id } => kw!(msg_id),
            NovaError::InvalidInput { reason }
            | NovaError::Invalid { reason }
            | NovaError::NotAuthorized { reason }
            | NovaError::HypervisorError { reason }
            | NovaError::DBError { reason }
            | NovaError::ServiceUnavailable { reason } => kw!(reason),
            NovaError::PolicyNotAuthorized { action } => kw!(action),
            NovaError::QuotaExceeded {
                overs,
                req,
                used,
                allowed,
            } => kw!(overs, req, used, allowed),
            NovaError::InstanceExists { instance_name } => kw!(instance_name),
            NovaError::UnsupportedRpcMethod { method } => kw!(method),
            NovaError::Remote { kwargs, .. } => kwargs.clone(),
        }
    }

    /// The `failure` object of an RPC reply.
    pub fn to_failure(&self) -> Value {
        json!({
            "class": self.class(),
            "module": self.module(),
            "message": self.to_string(),
            "tb": [],
            "args": [],
            "kwargs": self.kwargs(),
        })
    }

    /// Rebuild the typed error from an RPC reply's `failure`.
    pub fn from_failure(failure: &Value) -> Self {
        let class = failure["class"].as_str().unwrap_or("NovaException");
        let module = failure["module"].as_str().unwrap_or("nova.exception");
        let message = failure["message"].as_str().unwrap_or("").to_string();
        let kwargs = failure.get("kwargs").cloned().unwrap_or_else(|| json!({}));
        let k = |name: &str| kwargs[name].as_str().unwrap_or_default().to_string();
        match class {
            "InstanceNotFound" => NovaError::InstanceNotFound {
                instance_id: k("instance_id"),
            },
            "FlavorNotFound" => NovaError::FlavorNotFound {
                flavor_id: k("flavor_id"),
            },
            "FlavorExists" => NovaError::FlavorExists { name: k("name") },
            "FlavorIdExists" => NovaError::FlavorIdExists {
                flavor_id: k("flavor_id"),
            },
            "ImageNotFound" => NovaError::ImageNotFound {
                image_id: k("image_id"),
            },
            "ImageNotActive" => NovaError::ImageNotActive {
                image_id: k("image_id"),
            },
            "GlanceConnectionFailed" => NovaError::GlanceConnectionFailed {
                server: k("server"),
                reason: k("reason"),
            },
            "NoValidHost" => NovaError::NoValidHost {
                reason: k("reason"),
            },
            "ComputeHostNotFound" => NovaError::ComputeHostNotFound { host: k("host") },
            "ServiceNotFound" => NovaError::ServiceNotFound {
                service_id: k("service_id"),
            },
            "NetworkNotFound" => NovaError::NetworkNotFound {
                network_id: k("network_id"),
            },
            "NoMoreFixedIps" => NovaError::NoMoreFixedIps { net: k("net") },
            "InstanceInvalidState" => NovaError::InstanceInvalidState {
                attr: k("attr"),
                instance_uuid: k("instance_uuid"),
                state: k("state"),
                method: k("method"),
            },
            "UnexpectedTaskStateError" => NovaError::UnexpectedTaskStateError {
                instance_uuid: k("instance_uuid"),
                expected: k("expected"),
                actual: k("actual"),
            },
            "InstanceIsLocked" => NovaError::InstanceIsLocked {
                instance_uuid: k("instance_uuid"),
            },
            "BuildAbortException" => NovaError::BuildAbortException {
                instance_uuid: k("instance_uuid"),
                reason: k("reason"),
            },
            "MessagingTimeout" => NovaError::MessagingTimeout {
                msg_id: k("msg_id"),
            },
            "InvalidInput" => NovaError::InvalidInput {
                reason: k("reason"),
            },
            "Invalid" => NovaError::Invalid {
                reason: k("reason"),
            },
            "PolicyNotAuthorized" => NovaError::PolicyNotAuthorized {
                action: k("action"),
            },
            "NotAuthorized" => NovaError::NotAuthorized {
                reason: k("reason"),
            },
            "QuotaExceeded" => NovaError::QuotaExceeded {
                overs: k("overs"),
                req: k("req"),
                used: k("used"),
                allowed: k("allowed"),
            },
            "HypervisorError" => NovaError::HypervisorError {
                reason: k("reason"),
            },
            "InstanceExists" => NovaError::InstanceExists {
                instance_name: k("instance_name"),
            },
            "DBError" => NovaError::DBError {
                reason: k("reason"),
            },
            "ServiceUnavailable" => NovaError::ServiceUnavailable {
                reason: k("reason"),
            },
            "UnsupportedRpcMethod" => NovaError::UnsupportedRpcMethod {
                method: k("method"),
            },
            _ => NovaError::Remote {
                class: class.to_string(),
                module: module.to_string(),
                message,
                kwargs,
            },
        }
    }
}

impl From<serde_json::Error> for NovaError {
    fn from(e: serde_json::Error) -> Self {
        NovaError::internal(format!("Malformed message: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_round_trip_keeps_the_variant() {
        let errs = vec![
            NovaError::InstanceNotFound {
                instance_id: "abc".into(),
            },
            NovaError::NoValidHost {
                reason: "RamFilter".into(),
            },
            NovaError::MessagingTimeout { msg_id: "m".into() },
            NovaError::UnexpectedTaskStateError {
                instance_uuid: "u".into(),
                expected: "spawning".into(),
                actual: "deleting".into(),
            },
            NovaError::internal("boom"),
        ];
        for e in errs {
            let f = e.to_failure();
            assert_eq!(NovaError::from_failure(&f), e, "{f}");
        }
    }

    #[test]
    fn golden_failure() {
        let f = NovaError::InstanceNotFound {
            instance_id: "abc".into(),
        }
        .to_failure();
        assert_eq!(
            f,
            json!({"class": "InstanceNotFound", "module": "nova.exception",
                   "message": "Instance abc could not be found.", "tb": [], "args": [],
                   "kwargs": {"instance_id": "abc"}})
        );
    }
}
