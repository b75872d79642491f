//! Which query-string parameters each API takes once Nova's query schemas
//! refuse unknown ones (`additionalProperties: False`): some APIs from the
//! microversion that tightened them (2.53, 2.58, 2.75, 2.99), every `GET`
//! from 2.102. One row per route; the layer answers 400 before the handler
//! runs, as Nova's validation does.

use crate::error::ApiError;
use crate::openstack::api_version_request::ApiVersion;
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// A route's rule: strict from `2.<since>`; each parameter from `2.<n>`.
struct Rule {
    method: Method,
    path: &'static str,
    since: u32,
    allowed: &'static [(&'static str, u32)],
}

/// `GET /servers` and `/servers/detail` (2.75's list, with 2.26's tags,
/// 2.66's changes-before and 2.73's locked).
const SERVERS: &[(&str, u32)] = &[
    ("user_id", 1),
    ("project_id", 1),
    ("tenant_id", 1),
    ("launch_index", 1),
    ("image_ref", 1),
    ("image", 1),
    ("kernel_id", 1),
    ("ramdisk_id", 1),
    ("hostname", 1),
    ("key_name", 1),
    ("power_state", 1),
    ("vm_state", 1),
    ("task_state", 1),
    ("host", 1),
    ("node", 1),
    ("flavor", 1),
    ("reservation_id", 1),
    ("launched_at", 1),
    ("terminated_at", 1),
    ("availability_zone", 1),
    ("name", 1),
    ("display_name", 1),
    ("description", 1),
    ("display_description", 1),
    ("locked_by", 1),
    ("uuid", 1),
    ("root_device_name", 1),
    ("config_drive", 1),
    ("access_ip_v4", 1),
    ("access_ip_v6", 1),
    ("auto_disk_config", 1),
    ("progress", 1),
    ("sort_key", 1),
    ("sort_dir", 1),
    ("all_tenants", 1),
    ("soft_deleted", 1),
    ("deleted", 1),
    ("status", 1),
    ("changes-since", 1),
    ("ip", 1),
    ("ip6", 1),
    ("created_at", 1),
    ("block_device_mapping", 1),
    ("services", 1),
    ("metadata", 1),
    ("system_metadata", 1),
    ("info_cache", 1),
    ("security_groups", 1),
    ("pci_devices", 1),
    ("limit", 1),
    ("marker", 1),
    ("tags", 26),
    ("tags-any", 26),
    ("not-tags", 26),
    ("not-tags-any", 26),
    ("changes-before", 66),
    ("locked", 73),
];

const FLAVORS: &[(&str, u32)] = &[
    ("limit", 1),
    ("marker", 1),
    ("is_public", 1),
    ("minRam", 1),
    ("minDisk", 1),
    ("sort_key", 1),
    ("sort_dir", 1),
    ("name", 102),
];

const USER_ID: &[(&str, u32)] = &[("user_id", 1)];
const HYPERVISORS: &[(&str, u32)] = &[
    ("limit", 1),
    ("marker", 1),
    ("hypervisor_hostname_pattern", 1),
    ("with_servers", 1),
];
const USAGE_INDEX: &[(&str, u32)] = &[
    ("start", 1),
    ("end", 1),
    ("detailed", 1),
    ("limit", 40),
    ("marker", 40),
];
const USAGE_SHOW: &[(&str, u32)] = &[("start", 1), ("end", 1), ("limit", 40), ("marker", 40)];
const ACTIONS: &[(&str, u32)] = &[
    ("limit", 1),
    ("marker", 1),
    ("changes-since", 1),
    ("changes-before", 66),
];

/// Nova's `index_query_v259`/`v266`/`v280` of `/os-migrations`.
const MIGRATIONS: &[(&str, u32)] = &[
    ("hidden", 1),
    ("host", 1),
    ("instance_uuid", 1),
    ("source_compute", 1),
    ("status", 1),
    ("migration_type", 1),
    ("limit", 59),
    ("marker", 59),
    ("changes-since", 59),
    ("changes-before", 66),
    ("user_id", 80),
    ("project_id", 80),
];

fn rules() -> [Rule; 23] {
    let r = |method: Method, path, since, allowed| Rule {
        method,
        path,
        since,
        allowed,
    };
    [
        r(Method::GET, "/servers", 75, SERVERS),
        r(Method::GET, "/servers/detail", 75, SERVERS),
        r(Method::GET, "/flavors", 75, FLAVORS),
        r(Method::GET, "/flavors/detail", 75, FLAVORS),
        r(
            Method::GET,
            "/os-keypairs",
            75,
            &[("user_id", 1), ("limit", 35), ("marker", 35)],
        ),
        r(Method::GET, "/os-keypairs/{name}", 75, USER_ID),
        r(Method::DELETE, "/os-keypairs/{name}", 75, USER_ID),
        r(Method::GET, "/limits", 75, &[("tenant_id", 1)]),
        r(
            Method::GET,
            "/servers/{id}/os-volume_attachments",
            75,
            &[("limit", 1), ("offset", 1)],
        ),
        r(Method::GET, "/os-quota-sets/{project}", 75, USER_ID),
        r(Method::PUT, "/os-quota-sets/{project}", 75, USER_ID),
        r(Method::DELETE, "/os-quota-sets/{project}", 75, USER_ID),
        r(Method::GET, "/os-quota-sets/{project}/detail", 75, USER_ID),
        r(Method::GET, "/os-simple-tenant-usage", 75, USAGE_INDEX),
        r(
            Method::GET,
            "/os-simple-tenant-usage/{tenant_id}",
            75,
            USAGE_SHOW,
        ),
        r(Method::GET, "/os-hypervisors", 53, HYPERVISORS),
        r(Method::GET, "/os-hypervisors/detail", 53, HYPERVISORS),
        r(
            Method::GET,
            "/os-hypervisors/{id}",
            53,
            &[("with_servers", 1)],
        ),
        r(
            Method::GET,
            "/os-services",
            75,
            &[("host", 1), ("binary", 1)],
        ),
        r(
            Method::GET,
            "/servers/{id}/os-instance-actions",
            58,
            ACTIONS,
        ),
        r(Method::GET, "/os-console-auth-tokens/{token}", 99, &[]),
        r(Method::GET, "/os-migrations", 59, MIGRATIONS),
        r(
            Method::GET,
            "/os-server-groups",
            75,
            &[("all_projects", 1), ("limit", 1), ("offset", 1)],
        ),
    ]
}

/// The first parameter this route does not take at `v`, if any.
fn unexpected<'a>(
    method: &Method,
    path: &str,
    v: ApiVersion,
    keys: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let rules = rules();
    let rule = rules.iter().find(|r| r.method == method && r.path == path);
    let allowed: &[(&str, u32)] = match rule {
        Some(r) if v.at_least(r.since) => r.allowed,
        Some(_) => return None,
        // Every other GET takes none from 2.102; other methods are not checked.
        None if *method == Method::GET && v.at_least(102) => &[],
        None => return None,
    };
    let servers_list = matches!(path, "/servers" | "/servers/detail");
    keys.into_iter().find(|k| {
        !(allowed
            .iter()
            .any(|(name, from)| name == k && v.at_least(*from))
            || (servers_list && k.starts_with('_')))
    })
}

pub async fn strict_query(req: Request, next: Next) -> Response {
    let v = req.extensions().get::<ApiVersion>().copied();
    let path = req.extensions().get::<MatchedPath>().map(|m| {
        let path = m.as_str().strip_prefix("/v2.1").unwrap_or(m.as_str());
        // `os-volumes_boot` is the servers' controller under another name.
        match path.strip_prefix("/os-volumes_boot") {
            Some(rest) => format!("/servers{rest}"),
            None => path.to_string(),
        }
    });
    if let (Some(v), Some(path), Some(q)) = (v, path, req.uri().query()) {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
            .map(|(k, val)| (k.into_owned(), val.into_owned()))
            .collect();
        if let Some(k) = unexpected(
            req.method(),
            &path,
            v,
            pairs.iter().map(|(k, _)| k.as_str()),
        ) {
            let val = pairs
                .iter()
                .find(|(x, _)| x == k)
                .map(|(_, val)| val.as_str())
                .unwrap_or_default();
            return ApiError::bad_request(format!(
                "Invalid input for query parameters {k}. Value: {val}. Additional properties are not allowed ('{k}' was unexpected)"
            ))
            .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        method: Method,
        path: &str,
        minor: u32,
        keys: &[&'static str],
    ) -> Option<&'static str> {
        unexpected(
            &method,
            path,
            ApiVersion::new(2, minor),
            keys.iter().copied(),
        )
    }

    #[test]
    fn strict_from_their_microversions() {
        assert_eq!(check(Method::GET, "/servers/detail", 74, &["foo"]), None);
        assert_eq!(
            check(Method::GET, "/servers/detail", 75, &["foo"]),
            Some("foo")
        );
        assert_eq!(
            check(Method::GET, "/servers/detail", 75, &["deleted", "_x"]),
            None
        );
        assert_eq!(
            check(Method::GET, "/flavors/detail", 101, &["name"]),
            Some("name")
        );
        assert_eq!(
            check(Method::GET, "/flavors/detail", 102, &["name", "is_public"]),
            None
        );
        assert_eq!(check(Method::GET, "/os-hypervisors", 52, &["x"]), None);
        assert_eq!(
            check(Method::GET, "/os-hypervisors", 53, &["with_servers", "x"]),
            Some("x")
        );
        // Any other GET from 2.102; other methods never.
        assert_eq!(check(Method::GET, "/flavors/{id}", 101, &["x"]), None);
        assert_eq!(check(Method::GET, "/flavors/{id}", 102, &["x"]), Some("x"));
        assert_eq!(check(Method::POST, "/servers", 103, &["x"]), None);
    }

    #[test]
    fn migrations_take_their_filters_at_every_version() {
        let filters = ["status", "host", "limit", "marker", "changes-before"];
        assert_eq!(check(Method::GET, "/os-migrations", 58, &["x"]), None);
        assert_eq!(check(Method::GET, "/os-migrations", 66, &filters), None);
        assert_eq!(check(Method::GET, "/os-migrations", 103, &filters), None);
        assert_eq!(
            check(
                Method::GET,
                "/os-migrations",
                103,
                &["project_id", "user_id"]
            ),
            None
        );
        assert_eq!(
            check(Method::GET, "/os-migrations", 79, &["user_id"]),
            Some("user_id")
        );
        assert_eq!(check(Method::GET, "/os-migrations", 59, &["x"]), Some("x"));
    }
}
