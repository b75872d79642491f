//! Microversion negotiation (`nova.api.openstack.api_version_request`).

use crate::error::ApiError;
use axum::http::HeaderMap;
use std::fmt;

/// A `major.minor` API version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

pub const MIN_VERSION: ApiVersion = ApiVersion { major: 2, minor: 1 };
/// The newest microversion served (2026.1's maximum). Every version-gated
/// rule asks [`ApiVersion::at_least`]; `GET /`, `GET /v2.1` and `latest`
/// read this constant.
pub const MAX_VERSION: ApiVersion = ApiVersion {
    major: 2,
    minor: 103,
};

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl ApiVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        ApiVersion { major, minor }
    }

    /// True when the request is at `2.<minor>` or later.
    pub fn at_least(&self, minor: u32) -> bool {
        *self >= ApiVersion::new(2, minor)
    }

    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("latest") {
            return Ok(MAX_VERSION);
        }
        let bad = || {
            ApiError::bad_request(format!(
                "API Version String {s} is of invalid format. Must be of format MajorNum.MinorNum."
            ))
        };
        let (a, b) = s.split_once('.').ok_or_else(bad)?;
        let major: u32 = a.parse().map_err(|_| bad())?;
        let minor: u32 = b.parse().map_err(|_| bad())?;
        if a.starts_with('0') && a != "0" || b.len() > 1 && b.starts_with('0') {
            return Err(bad());
        }
        Ok(ApiVersion { major, minor })
    }

    /// The request's version: `OpenStack-API-Version: compute X.Y` wins over
    /// `X-OpenStack-Nova-API-Version`; none means the minimum.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        let mut requested = None;
        for v in headers.get_all("openstack-api-version") {
            let Ok(v) = v.to_str() else { continue };
            for item in v.split(',') {
                let mut parts = item.split_whitespace();
                if let (Some(service), Some(ver)) = (parts.next(), parts.next()) {
                    if service.eq_ignore_ascii_case("compute") {
                        requested = Some(ver.to_string());
                    }
                }
            }
        }
        if requested.is_none() {
            requested = headers
                .get("x-openstack-nova-api-version")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
        }
        let Some(req) = requested else {
            return Ok(MIN_VERSION);
        };
        let v = Self::parse(&req)?;
        if v < MIN_VERSION || v > MAX_VERSION {
            return Err(ApiError::new(
                406,
                format!(
                    "Version {v} is not supported by the API. Minimum is {MIN_VERSION} and maximum is {MAX_VERSION}."
                ),
            ));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn negotiation() {
        assert_eq!(ApiVersion::from_headers(&h(&[])).ok(), Some(MIN_VERSION));
        assert_eq!(
            ApiVersion::from_headers(&h(&[("openstack-api-version", "compute 2.10")])).ok(),
            Some(ApiVersion::new(2, 10))
        );
        assert_eq!(
            ApiVersion::from_headers(&h(&[("x-openstack-nova-api-version", "2.5")])).ok(),
            Some(ApiVersion::new(2, 5))
        );
        assert_eq!(
            ApiVersion::from_headers(&h(&[("openstack-api-version", "compute latest")])).ok(),
            Some(MAX_VERSION)
        );
        assert_eq!(
            ApiVersion::from_headers(&h(&[("openstack-api-version", "compute 2.103")])).ok(),
            Some(ApiVersion::new(2, 103))
        );
        assert_eq!(MAX_VERSION, ApiVersion::new(2, 103));
        let e = ApiVersion::from_headers(&h(&[("openstack-api-version", "compute 2.104")]))
            .expect_err("too new");
        assert_eq!(e.code, 406);
        let e = ApiVersion::from_headers(&h(&[("x-openstack-nova-api-version", "two")]))
            .expect_err("bad");
        assert_eq!(e.code, 400);
        // Other services' versions are ignored.
        assert_eq!(
            ApiVersion::from_headers(&h(&[("openstack-api-version", "image 2.9")])).ok(),
            Some(MIN_VERSION)
        );
    }
}
