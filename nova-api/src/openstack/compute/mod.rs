//! The compute API v2.1 (`osapi_compute`): its routes, its layer stack, and
//! one handler module per Nova controller. Handlers parse and validate
//! input, check policy where Nova's API layer does, call
//! [`compute::api`](crate::compute::api) (or the conductor for plain reads
//! such as flavors and services) and render [`views`].

pub mod admin_actions;
pub mod admin_password;
pub mod aggregates;
pub mod attach_interfaces;
pub mod availability_zone;
pub mod block_device_mapping;
pub mod console_auth_tokens;
pub mod create_backup;
pub mod deferred_delete;
pub mod evacuate;
pub mod extension_info;
pub mod fixed_ips;
pub mod flavor_access;
pub mod flavor_manage;
pub mod flavors;
pub mod flavors_extraspecs;
pub mod floating_ips;
pub mod hosts;
pub mod hypervisors;
pub mod images;
pub mod instance_actions;
pub mod instance_usage_audit_log;
pub mod ips;
pub mod keypairs;
pub mod limits;
pub mod migrations;
pub mod multinic;
pub mod networks;
pub mod query_params;
pub mod quota_classes;
pub mod quota_sets;
pub mod rebuild;
pub mod remote_consoles;
pub mod removed;
pub mod rendered_servers;
pub mod rescue;
pub mod security_groups;
pub mod server_actions;
pub mod server_diagnostics;
pub mod server_external_events;
pub mod server_groups;
pub mod server_metadata;
pub mod server_password;
pub mod server_tags;
pub mod server_topology;
pub mod servers;
pub mod services;
pub mod shelve;
pub mod simple_tenant_usage;
pub mod versions;
pub mod views;
pub mod virtual_interfaces;
pub mod volume_attachments;

use crate::error::ApiError;
use crate::layers::{
    auth, context, fault, legacy_v2, microversion, project_id, reject_nul, request_id, request_log,
    run_to_completion, size_limit,
};
use crate::AppState;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use axum::Router;
use tower::ServiceBuilder;

/// The `/v2.1` resources.
fn v21_routes() -> Router<AppState> {
    Router::new()
        .route("/servers", get(servers::index).post(servers::create))
        .route("/servers/detail", get(servers::detail))
        .route("/servers/{id}", get(servers::show).delete(servers::delete))
        .route("/servers/{id}/action", post(server_actions::action))
        .route(
            "/servers/{id}/remote-consoles",
            post(remote_consoles::create),
        )
        .route("/flavors", get(flavors::index).post(flavor_manage::create))
        .route("/flavors/detail", get(flavors::detail))
        .route(
            "/flavors/{id}",
            get(flavors::show).delete(flavor_manage::delete),
        )
        .route("/os-services", get(services::index))
        .route(
            "/os-services/{id}",
            put(services::update).delete(services::delete),
        )
        .route("/os-hypervisors", get(hypervisors::index))
        .route("/os-hypervisors/detail", get(hypervisors::detail))
        .route("/os-hypervisors/statistics", get(hypervisors::statistics))
        .route("/os-hypervisors/{id}", get(hypervisors::show))
        .route("/os-keypairs", get(keypairs::index).post(keypairs::create))
        .route(
            "/os-keypairs/{name}",
            get(keypairs::show).delete(keypairs::delete),
        )
        .route("/limits", get(limits::index))
        .route(
            "/os-quota-sets/{project}",
            get(quota_sets::show)
                .put(quota_sets::update)
                .delete(quota_sets::delete),
        )
        .route(
            "/os-quota-sets/{project}/defaults",
            get(quota_sets::defaults),
        )
        .route("/os-quota-sets/{project}/detail", get(quota_sets::detail))
        .route(
            "/os-console-auth-tokens/{token}",
            get(console_auth_tokens::show),
        )
        .route(
            "/os-security-groups",
            get(security_groups::index).post(security_groups::create),
        )
        .route(
            "/os-security-groups/{id}",
            get(security_groups::show)
                .put(security_groups::update)
                .delete(security_groups::delete),
        )
        .route(
            "/os-security-group-rules",
            post(security_groups::create_rule),
        )
        .route(
            "/os-security-group-rules/{id}",
            axum::routing::delete(security_groups::delete_rule),
        )
        .route(
            "/os-security-group-default-rules",
            get(security_groups::default_rules_index).post(security_groups::default_rules_create),
        )
        .route(
            "/os-security-group-default-rules/{id}",
            get(security_groups::default_rules_show).delete(security_groups::default_rules_delete),
        )
        .route(
            "/servers/{id}/os-security-groups",
            get(security_groups::server_index),
        )
        .route("/os-availability-zone", get(availability_zone::index))
        .route(
            "/os-availability-zone/detail",
            get(availability_zone::detail),
        )
        // nova-network's proxy APIs and the servers' addresses.
        .route("/os-floating-ip-pools", get(floating_ips::pools))
        .route(
            "/os-floating-ips",
            get(floating_ips::index).post(floating_ips::create),
        )
        .route(
            "/os-floating-ips/{id}",
            get(floating_ips::show).delete(floating_ips::delete),
        )
        .route("/os-networks", get(networks::index).post(networks::create))
        .route(
            "/os-networks/{id}",
            get(networks::show).delete(networks::delete),
        )
        .route("/os-networks/add", post(networks::add))
        .route("/os-networks/{id}/action", post(networks::action))
        .route(
            "/os-tenant-networks",
            get(networks::tenant_index).post(networks::tenant_create),
        )
        .route(
            "/os-tenant-networks/{id}",
            get(networks::tenant_show).delete(networks::tenant_delete),
        )
        .route("/os-fixed-ips/{id}", get(fixed_ips::show))
        .route("/os-fixed-ips/{id}/action", post(fixed_ips::action))
        .route(
            "/servers/{id}/os-virtual-interfaces",
            get(virtual_interfaces::index),
        )
        .route(
            "/servers/{id}/os-interface",
            get(attach_interfaces::index).post(attach_interfaces::create),
        )
        .route(
            "/servers/{id}/os-interface/{port}",
            get(attach_interfaces::show).delete(attach_interfaces::delete),
        )
        .route(
            "/servers/{id}/os-volume_attachments",
            get(volume_attachments::index).post(volume_attachments::create),
        )
        .route(
            "/servers/{id}/os-volume_attachments/{volume}",
            get(volume_attachments::show)
                .put(volume_attachments::update)
                .delete(volume_attachments::delete),
        )
        .route("/servers/{id}/ips", get(ips::index))
        .route("/servers/{id}/ips/{network}", get(ips::show))
        .route("/extensions", get(extension_info::index))
        .route("/extensions/{alias}", get(extension_info::show))
        .route(
            "/os-quota-class-sets/{id}",
            get(quota_classes::show).put(quota_classes::update),
        )
        .route(
            "/os-server-external-events",
            post(server_external_events::create),
        )
        .route(
            "/os-instance_usage_audit_log",
            get(instance_usage_audit_log::index),
        )
        .route(
            "/os-instance_usage_audit_log/{before}",
            get(instance_usage_audit_log::show),
        )
        .route("/servers/{id}/diagnostics", get(server_diagnostics::index))
        .route("/servers/{id}/topology", get(server_topology::index))
        .route(
            "/os-server-groups",
            get(server_groups::index).post(server_groups::create),
        )
        .route(
            "/os-server-groups/{id}",
            get(server_groups::show).delete(server_groups::delete),
        )
        .route("/os-migrations", get(migrations::index))
        .route("/servers/{id}/migrations", get(migrations::server_index))
        .route(
            "/servers/{id}/migrations/{mid}",
            get(migrations::server_show).delete(migrations::server_delete),
        )
        .route(
            "/servers/{id}/migrations/{mid}/action",
            post(migrations::server_action),
        )
        .route("/os-hosts", get(hosts::index))
        .route("/os-hosts/{host}", get(hosts::show).put(hosts::update))
        .route("/os-hosts/{host}/{action}", get(hosts::power_action))
        .route("/images", get(images::index))
        .route("/images/detail", get(images::index_detail))
        .route("/images/{id}", get(images::show).delete(images::delete))
        .route(
            "/images/{id}/metadata",
            get(images::metadata_index)
                .post(images::metadata_create)
                .put(images::metadata_update_all),
        )
        .route(
            "/images/{id}/metadata/{key}",
            get(images::metadata_show)
                .put(images::metadata_update)
                .delete(images::metadata_delete),
        )
        .merge(server_and_flavor_extras())
        .merge(volumes_boot())
        .merge(removed_apis())
}

/// The removed APIs' paths, each answering 410 (see `removed.rs`).
fn removed_apis() -> Router<AppState> {
    removed::REMOVED.iter().fold(Router::new(), |r, path| {
        r.route(path, any(removed::gone))
            .route(&format!("{path}/{{*rest}}"), any(removed::gone))
    })
}

/// Nova's `os-volumes_boot`: the servers again, under the name the
/// boot-from-volume extension gave them (the same controller, bodies and
/// links), until 2.102 (Nova's `volumes_boot`, gone at 2.103).
fn volumes_boot() -> Router<AppState> {
    Router::new()
        .route(
            "/os-volumes_boot",
            get(servers::index).post(servers::create),
        )
        .route("/os-volumes_boot/detail", get(servers::detail))
        .route(
            "/os-volumes_boot/{id}",
            get(servers::show)
                .put(servers::update)
                .delete(servers::delete),
        )
        .route("/os-volumes_boot/{id}/action", post(server_actions::action))
        .route_layer(from_fn(until_2_102))
}

async fn until_2_102(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match req
        .extensions()
        .get::<crate::openstack::api_version_request::ApiVersion>()
        .copied()
    {
        Some(v) if v.at_least(103) => floating_ips::version_not_found().into_response(),
        _ => next.run(req).await,
    }
}

/// Server metadata, tags and actions; `PUT /servers/{id}`; host
/// aggregates; flavor extra specs, access lists and descriptions.
fn server_and_flavor_extras() -> Router<AppState> {
    Router::new()
        .route("/servers/{id}", put(servers::update))
        .route(
            "/servers/{id}/metadata",
            get(server_metadata::index)
                .post(server_metadata::create)
                .put(server_metadata::update_all),
        )
        .route(
            "/servers/{id}/metadata/{key}",
            get(server_metadata::show)
                .put(server_metadata::update)
                .delete(server_metadata::delete),
        )
        .route(
            "/servers/{id}/os-server-password",
            get(server_password::index).delete(server_password::clear),
        )
        .route(
            "/servers/{id}/tags",
            get(server_tags::index)
                .put(server_tags::update_all)
                .delete(server_tags::delete_all),
        )
        .route(
            "/servers/{id}/tags/{tag}",
            get(server_tags::show)
                .put(server_tags::update)
                .delete(server_tags::delete),
        )
        .route(
            "/servers/{id}/os-instance-actions",
            get(instance_actions::index),
        )
        .route(
            "/servers/{id}/os-instance-actions/{request_id}",
            get(instance_actions::show),
        )
        .route(
            "/os-aggregates",
            get(aggregates::index).post(aggregates::create),
        )
        .route(
            "/os-aggregates/{id}",
            get(aggregates::show)
                .put(aggregates::update)
                .delete(aggregates::delete),
        )
        .route("/os-aggregates/{id}/action", post(aggregates::action))
        .route("/os-aggregates/{id}/images", post(aggregates::images))
        .route("/os-hypervisors/{id}/uptime", get(hypervisors::uptime))
        .route("/os-hypervisors/{id}/search", get(hypervisors::search))
        .route("/os-hypervisors/{id}/servers", get(hypervisors::servers))
        .route("/os-simple-tenant-usage", get(simple_tenant_usage::index))
        .route(
            "/os-simple-tenant-usage/{tenant_id}",
            get(simple_tenant_usage::show),
        )
        .route("/flavors/{id}", put(flavor_manage::update))
        .route("/flavors/{id}/action", post(flavor_access::action))
        .route("/flavors/{id}/os-flavor-access", get(flavor_access::index))
        .route(
            "/flavors/{id}/os-extra_specs",
            get(flavors_extraspecs::index).post(flavors_extraspecs::create),
        )
        .route(
            "/flavors/{id}/os-extra_specs/{key}",
            get(flavors_extraspecs::show)
                .put(flavors_extraspecs::update)
                .delete(flavors_extraspecs::delete),
        )
}

async fn not_found() -> Response {
    ApiError::not_found("The resource could not be found.").into_response()
}

/// The `osapi_compute` application with its middleware, as Nova's
/// api-paste pipeline composes it: the version documents are public, every
/// other path is authenticated and microversioned.
pub fn app(state: AppState) -> Router {
    let authenticated = Router::new()
        .nest(
            "/v2.1",
            v21_routes().route_layer(from_fn(query_params::strict_query)),
        )
        .fallback(not_found)
        .layer(
            ServiceBuilder::new()
                .layer(from_fn_with_state(state.auth.clone(), auth::auth))
                .layer(from_fn_with_state(state.policy.clone(), context::context))
                .layer(from_fn(microversion::microversion))
                .layer(from_fn(project_id::check)),
        )
        .with_state(state.clone());
    // `/v2.1/{project_id}/...` is routed as `/v2.1/...` (the rewrite comes
    // before routing, so it wraps the router).
    let authenticated = tower::Layer::layer(&from_fn(project_id::strip), authenticated);
    // `/v2/...` is `/v2.1/...` at the base version (before the project id
    // is taken out of it).
    let authenticated = tower::Layer::layer(&from_fn(legacy_v2::legacy_v2), authenticated);
    Router::new()
        .route("/", get(versions::root))
        .route("/v2", get(versions::v20))
        .route("/v2/", get(versions::v20))
        .route("/v2.1", get(versions::v21))
        .route("/v2.1/", get(versions::v21))
        .fallback_service(authenticated)
        .layer(
            ServiceBuilder::new()
                .layer(from_fn(request_id::request_id))
                .layer(from_fn(run_to_completion::run_to_completion))
                .layer(from_fn(fault::fault_wrap))
                .layer(from_fn(request_log::request_log))
                .layer(from_fn_with_state(
                    state.cfg.api.max_request_body_size,
                    size_limit::size_limit,
                ))
                .layer(from_fn(reject_nul::reject_nul)),
        )
        .with_state(state)
}

#[cfg(test)]
mod tests {
    //! The stack's external behaviour over HTTP, on routes that need no RPC.

    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use nova_common::NovaConfig;
    use serde_json::{json, Value};
    use tower::ServiceExt;

    async fn call(cfg: &str, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
        let cfg = NovaConfig::parse_text(cfg).expect("cfg");
        let transport = nova_rpc::Transport::start(&cfg, "test").expect("transport");
        let resp = app(crate::test_state(&cfg, &transport))
            .oneshot(req)
            .await
            .expect("infallible");
        transport.close().await;
        let (parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.expect("body");
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (parts.status, parts.headers, json)
    }

    const NOAUTH: &str = "[api]\nauth_strategy = noauth2\n";

    fn get(path: &str) -> axum::http::request::Builder {
        Request::get(path).header("host", "api.example:8774")
    }

    #[tokio::test]
    async fn versions_are_public_and_carry_request_ids() {
        let (s, h, b) = call(NOAUTH, get("/").body(Body::empty()).expect("req")).await;
        assert_eq!(s, StatusCode::OK);
        // Nova lists the legacy v2.0 first (Tempest's test_list_api_versions).
        assert_eq!(b["versions"][0]["id"], "v2.0");
        assert_eq!(b["versions"][0]["status"], "SUPPORTED");
        assert_eq!(b["versions"][1]["id"], "v2.1");
        assert_eq!(
            b["versions"][1]["links"],
            json!([{"rel": "self", "href": "http://api.example:8774/v2.1/"}])
        );
        // Every self link leads to its version document with the same self link.
        let (s, _, b) = call(NOAUTH, get("/v2/").body(Body::empty()).expect("req")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["version"]["id"], "v2.0");
        assert_eq!(
            b["version"]["links"][0]["href"],
            "http://api.example:8774/v2/"
        );
        let id = h["x-openstack-request-id"].to_str().expect("ascii");
        assert!(id.starts_with("req-"));
        assert_eq!(h["x-compute-request-id"], id);
        assert!(h.get("openstack-api-version").is_none());
        let (s, _, b) = call(NOAUTH, get("/v2.1/").body(Body::empty()).expect("req")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["version"]["version"], crate::MAX_VERSION.to_string());
    }

    #[tokio::test]
    async fn noauth2_hands_out_tokens() {
        let req = get("/v2.1/flavors")
            .header("x-auth-user", "alice")
            .header("x-auth-project-id", "p1")
            .body(Body::empty())
            .expect("req");
        let (s, h, _) = call(NOAUTH, req).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        assert_eq!(h["x-auth-token"], "alice:p1");
        assert_eq!(h["x-server-management-url"], "http://api.example:8774/v2.1");
    }

    #[tokio::test]
    async fn removed_apis_are_gone() {
        for (method, path) in [
            ("GET", "/v2.1/os-cells"),
            ("POST", "/v2.1/os-certificates"),
            ("GET", "/v2.1/os-fping/abc"),
            ("PUT", "/v2.1/os-floating-ips-bulk/delete"),
            ("DELETE", "/v2.1/os-floating-ip-dns/example.org/entries/a"),
        ] {
            let req = Request::builder()
                .method(method)
                .uri(path)
                .header("host", "api.example:8774")
                .header("x-auth-token", "admin:admin")
                .body(Body::empty())
                .expect("req");
            let (s, _, b) = call(NOAUTH, req).await;
            assert_eq!(s, StatusCode::GONE, "{method} {path}");
            assert_eq!(
                b["computeFault"]["message"],
                "This resource is no longer available.  No forwarding address is given.",
                "{method} {path}: {b}"
            );
        }
    }

    #[tokio::test]
    async fn the_routers_own_refusals_are_fault_bodies() {
        // A method the path does not take: 405 with its Allow header.
        let req = Request::delete("/v2.1/flavors/detail")
            .header("host", "api.example:8774")
            .header("x-auth-token", "admin:admin")
            .body(Body::empty())
            .expect("req");
        let (s, h, b) = call(NOAUTH, req).await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            b,
            json!({"badMethod": {"code": 405,
                "message": "The method DELETE is not allowed for this resource."}})
        );
        assert!(h.contains_key("allow"), "{h:?}");
        // A path segment that is not UTF-8.
        let req = get("/v2.1/flavors/%FF")
            .header("x-auth-token", "admin:admin")
            .body(Body::empty())
            .expect("req");
        let (s, _, b) = call(NOAUTH, req).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(b["badRequest"]["code"], 400, "{b}");
        assert!(
            b["badRequest"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("UTF-8")),
            "{b}"
        );
    }

    #[tokio::test]
    async fn microversions_are_negotiated_and_echoed() {
        let req = get("/v2.1/no-such-thing")
            .header("x-auth-token", "admin:admin")
            .header("openstack-api-version", "compute 2.25")
            .body(Body::empty())
            .expect("req");
        let (s, h, b) = call(NOAUTH, req).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(b["itemNotFound"]["code"], 404);
        assert_eq!(h["openstack-api-version"], "compute 2.25");
        assert_eq!(h["x-openstack-nova-api-version"], "2.25");
        assert!(h["vary"]
            .to_str()
            .expect("ascii")
            .contains("OpenStack-API-Version"));
        let req = get("/v2.1/flavors")
            .header("x-auth-token", "admin:admin")
            .header("openstack-api-version", "compute 2.999")
            .body(Body::empty())
            .expect("req");
        let (s, h, _) = call(NOAUTH, req).await;
        assert_eq!(s, StatusCode::NOT_ACCEPTABLE);
        assert!(h.get("x-openstack-request-id").is_some());
        let req = get("/v2.1/flavors")
            .header("x-auth-token", "admin:admin")
            .header("x-openstack-nova-api-version", "two")
            .body(Body::empty())
            .expect("req");
        let (s, _, b) = call(NOAUTH, req).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(b["badRequest"]["code"], 400);
    }

    #[tokio::test]
    async fn v2_is_the_base_version_without_microversion_headers() {
        let p = "0123456789abcdef0123456789abcdef";
        for path in [
            "/v2/no-such-thing".to_string(),
            format!("/v2/{p}/no-such-thing"),
        ] {
            let req = get(&path)
                .header("x-auth-token", format!("admin:{p}"))
                .header("openstack-api-version", "compute 2.999")
                .body(Body::empty())
                .expect("req");
            let (s, h, b) = call(NOAUTH, req).await;
            // Not 406: the header is not read under /v2.
            assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {b}");
            assert_eq!(b["itemNotFound"]["code"], 404);
            for gone in [
                "openstack-api-version",
                "x-openstack-nova-api-version",
                "vary",
            ] {
                assert!(h.get(gone).is_none(), "{path}: {gone} {h:?}");
            }
            assert!(h.get("x-openstack-request-id").is_some());
        }
        // The URL's project is still checked.
        let req = get(&format!("/v2/{p}/flavors"))
            .header("x-auth-token", "admin:other")
            .body(Body::empty())
            .expect("req");
        let (s, _, b) = call(NOAUTH, req).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        let (s, _, b) = call(NOAUTH, get("/v2").body(Body::empty()).expect("req")).await;
        assert_eq!((s, &b["version"]["id"]), (StatusCode::OK, &json!("v2.0")));
    }

    #[tokio::test]
    async fn unknown_query_parameters_are_refused_from_their_microversion() {
        let req = |mv: &str, path: &str| {
            get(path)
                .header("x-auth-token", "admin:admin")
                .header("openstack-api-version", format!("compute {mv}"))
                .body(Body::empty())
                .expect("req")
        };
        let (s, h, b) = call(NOAUTH, req("2.75", "/v2.1/flavors/detail?foo=1")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(b["badRequest"]["message"]
            .as_str()
            .expect("message")
            .contains("'foo' was unexpected"));
        assert_eq!(h["openstack-api-version"], "compute 2.75");
        let (s, _, _) = call(NOAUTH, req("2.102", "/v2.1/os-availability-zone?x=1")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, _, _) = call(NOAUTH, req("latest", "/v2.1/servers/detail?bogus=1")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn large_bodies_are_refused() {
        let req = Request::post("/v2.1/servers")
            .header("x-auth-token", "admin:admin")
            .header("content-length", "200000")
            .body(Body::empty())
            .expect("req");
        let (s, _, b) = call(NOAUTH, req).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(b["overLimit"]["message"], "Request is too large.");
    }

    #[tokio::test]
    async fn keystone_401_and_503() {
        // Nothing listens on port 1: Keystone is down.
        let cfg = "[keystone_authtoken]\nauth_url = http://127.0.0.1:1/identity\n";
        let (s, h, b) = call(cfg, get("/v2.1/flavors").body(Body::empty()).expect("req")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(b["error"]["code"], 401);
        assert_eq!(
            h["www-authenticate"],
            "Keystone uri=\"http://127.0.0.1:1/identity\""
        );
        let req = get("/v2.1/flavors")
            .header("x-auth-token", "some-token")
            .body(Body::empty())
            .expect("req");
        let (s, _, b) = call(cfg, req).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(b["serviceUnavailable"]["code"], 503);
        // The version documents need no token.
        let (s, _, _) = call(cfg, get("/").body(Body::empty()).expect("req")).await;
        assert_eq!(s, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_panic_is_a_compute_fault() {
        async fn boom() -> &'static str {
            panic!("kaboom")
        }
        let app = Router::new().route("/", axum::routing::get(boom)).layer(
            ServiceBuilder::new()
                .layer(from_fn(request_id::request_id))
                .layer(from_fn(fault::fault_wrap)),
        );
        let resp = app
            .oneshot(Request::get("/").body(Body::empty()).expect("req"))
            .await
            .expect("infallible");
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(resp.headers().get("x-compute-request-id").is_some());
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        let b: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(b["computeFault"]["code"], 500);
    }
}
