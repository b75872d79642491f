//! Helpers every handler shares (Nova's `nova/api/openstack/common.py`).

use crate::error::{ApiError, ApiResult};
use crate::layers::legacy_v2::LegacyV2;
use crate::layers::project_id::UrlProjectId;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use nova_common::NovaError;
use serde_json::Value;
use std::convert::Infallible;

/// Where links point (Nova's `ViewBuilder` prefixes): the public base URL
/// (`[api] compute_link_prefix`, or the request's scheme (`X-Forwarded-Proto`)
/// and `Host`), and the project id when the request's URL named one
/// (`/v2.1/{project_id}/servers`): Nova's links repeat it
/// (`_get_project_id`), so that a client of a catalog that registers the
/// endpoint with the project id can follow them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BaseUrl {
    /// The base URL alone (version documents, the noauth management URL).
    pub root: String,
    /// `{root}/v2.1[/{project_id}]`: what self and next links start with.
    pub versioned: String,
    /// `{root}[/{project_id}]`: what bookmark links start with.
    pub bookmark: String,
}

impl BaseUrl {
    pub fn new(root: &str, project: Option<&str>) -> Self {
        Self::under(root, "v2.1", project)
    }

    /// Links under `version` (`v2.1`, or `v2` for a request that came in
    /// under `/v2`).
    fn under(root: &str, version: &str, project: Option<&str>) -> Self {
        let root = root.trim_end_matches('/').to_string();
        let (versioned, bookmark) = match project {
            Some(p) => (format!("{root}/{version}/{p}"), format!("{root}/{p}")),
            None => (format!("{root}/{version}"), root.clone()),
        };
        BaseUrl {
            root,
            versioned,
            bookmark,
        }
    }

    pub fn from_headers(
        compute_link_prefix: &str,
        headers: &HeaderMap,
        project: Option<&str>,
    ) -> Self {
        Self::from_request(compute_link_prefix, headers, "v2.1", project)
    }

    fn from_request(
        compute_link_prefix: &str,
        headers: &HeaderMap,
        version: &str,
        project: Option<&str>,
    ) -> Self {
        if !compute_link_prefix.is_empty() {
            return BaseUrl::under(compute_link_prefix, version, project);
        }
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let host = get("host").unwrap_or("localhost");
        let proto = get("x-forwarded-proto").unwrap_or("http");
        BaseUrl::under(&format!("{proto}://{host}"), version, project)
    }
}

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let project = parts.extensions.get::<UrlProjectId>().map(|p| p.0.as_str());
        let version = match parts.extensions.get::<LegacyV2>() {
            Some(_) => "v2",
            None => "v2.1",
        };
        Ok(BaseUrl::from_request(
            &state.cfg.api.compute_link_prefix,
            &parts.headers,
            version,
            project,
        ))
    }
}

/// The JSON body of a request, or Nova's 400 for one that does not parse.
/// A string anywhere in it holding NUL (which nothing can store) is a 400
/// naming the field.
pub fn json_body(body: &Bytes) -> ApiResult<Value> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::bad_request("Malformed request body"))?;
    if let Some(field) = nul_field(&v, "") {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value contains a NUL character."
        )));
    }
    Ok(v)
}

/// The one action an action body names, and its argument (Nova's
/// `action_peek`): a body that is not an object of exactly one key is
/// "Malformed request body".
pub fn the_action(body: &Value) -> ApiResult<(&str, &Value)> {
    let mut keys = body.as_object().into_iter().flat_map(|o| o.iter());
    match (keys.next(), keys.next()) {
        (Some((name, args)), None) => Ok((name.as_str(), args)),
        _ => Err(ApiError::bad_request("Malformed request body")),
    }
}

/// The dotted path of the first key or string value holding NUL.
fn nul_field(v: &Value, path: &str) -> Option<String> {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::String(s) if s.contains('\0') => Some(path.to_string()),
        Value::Object(m) => m.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(join(&k.replace('\0', "\\u0000")))
            } else {
                nul_field(v, &join(k))
            }
        }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_field(v, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// Nova's message for input that fails the request schema.
pub fn invalid(field: &str, value: &Value, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid input for field/attribute {field}. Value: {value}. {why}"
    ))
}

/// A schema's `{"type": "object", "additionalProperties": false}`: the
/// members of `value`, or jsonschema's 400 for a value that is not an object
/// or for the first key `allowed` refuses.
pub fn object_of<'a>(
    field: &str,
    value: &'a Value,
    allowed: impl Fn(&str) -> bool,
) -> ApiResult<&'a serde_json::Map<String, Value>> {
    let Some(o) = value.as_object() else {
        return Err(invalid(
            field,
            value,
            &format!("{value} is not of type 'object'"),
        ));
    };
    match o.keys().find(|k| !allowed(k)) {
        Some(k) => Err(invalid(
            field,
            value,
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
        )),
        None => Ok(o),
    }
}

/// Nova's `parameter_types.boolean`: a JSON boolean or one of its spellings.
pub fn parse_boolean(field: &str, v: &Value) -> ApiResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.as_str() {
            "True" | "TRUE" | "true" | "1" | "ON" | "On" | "on" | "YES" | "Yes" | "yes" => Ok(true),
            "False" | "FALSE" | "false" | "0" | "OFF" | "Off" | "off" | "NO" | "No" | "no" => {
                Ok(false)
            }
            _ => Err(invalid(
                field,
                v,
                &format!("{v} is not one of the boolean values"),
            )),
        },
        _ => Err(invalid(
            field,
            v,
            &format!("{v} is not of type 'boolean', 'string'"),
        )),
    }
}

/// `OS-DCF:diskConfig` of a create, rebuild, resize or update body:
/// `AUTO` is `Some(true)`, `MANUAL` `Some(false)`, absent `None`.
pub fn disk_config(d: Option<&Value>) -> ApiResult<Option<bool>> {
    match d {
        None => Ok(None),
        Some(Value::String(s)) if s == "AUTO" => Ok(Some(true)),
        Some(Value::String(s)) if s == "MANUAL" => Ok(Some(false)),
        Some(other) => Err(invalid(
            "OS-DCF:diskConfig",
            other,
            &format!("{other} is not one of ['AUTO', 'MANUAL']"),
        )),
    }
}

/// The value of a query parameter (the first, if repeated).
pub fn param<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

/// Nova's `raise_http_conflict_for_instance_invalid_state`: the 409 for an
/// action the instance's state does not allow.
pub fn instance_invalid_state(e: NovaError, action: &str) -> ApiError {
    match e {
        NovaError::InstanceInvalidState {
            attr,
            instance_uuid,
            state,
            ..
        } => ApiError::conflict(format!(
            "Cannot '{action}' instance {instance_uuid} while it is in {attr} {state}"
        )),
        // The compare-and-set lost against another request.
        NovaError::UnexpectedTaskStateError { instance_uuid, .. } => ApiError::conflict(format!(
            "Cannot '{action}' instance {instance_uuid}: its state changed meanwhile"
        )),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_in_any_field_is_a_400_naming_it() {
        let body =
            Bytes::from_static(br#"{"server": {"name": "ok", "metadata": {"k": "a\u0000b"}}}"#);
        let e = json_body(&body).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("server.metadata.k"), "{}", e.message);
        let body = Bytes::from_static(br#"{"a": [1, "x\u0000"]}"#);
        assert!(json_body(&body).unwrap_err().message.contains("a[1]"));
        assert!(json_body(&Bytes::from_static(br#"{"server": {"name": "fine"}}"#)).is_ok());
    }

    #[test]
    fn an_action_body_names_exactly_one_action() {
        let body = serde_json::json!({"os-stop": null});
        let (name, args) = the_action(&body).expect("one action");
        assert_eq!((name, args), ("os-stop", &Value::Null));
        for bad in [
            serde_json::json!({"removeFloatingIp": {}, "addFloatingIp": {}}),
            serde_json::json!({}),
            serde_json::json!(["os-stop"]),
        ] {
            let e = the_action(&bad).expect_err("malformed");
            assert_eq!(
                (e.code, e.message.as_str()),
                (400, "Malformed request body")
            );
        }
    }
}
