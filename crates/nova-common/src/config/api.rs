//! `[api]`, and `[wsgi]`'s request size limit, which nova-api applies; the
//! metadata service's `[neutron]` proxy options.

use super::opt::{at_least, boolean, choice, config_section, list_of, optional_string, string};

config_section! {
    /// `[api]` and `[wsgi]`.
    pub struct ApiSection in "api" {
        /// How API requests are authenticated.
        auth_strategy: String = "keystone", choice(&["keystone", "noauth2"]);
        /// Maximum number of items a collection resource returns in one response.
        max_limit: usize = "1000", at_least(1);
        /// Base URL that replaces the request host in links.
        compute_link_prefix: String = "", string();
        /// Trust the X-Forwarded-For header for the metadata service's client address (only behind a trusted proxy).
        use_forwarded_for: bool = "false", boolean();
        /// Return the admin password in create, rebuild and rescue responses.
        enable_instance_password: bool = "true", boolean();
        /// Seconds an instance's metadata is cached by the metadata service (0 disables the cache).
        metadata_cache_expiration: u64 = "15", at_least(0);
        /// Vendor data providers of the metadata service (`vendor_data.json`, `vendor_data2.json`).
        vendordata_providers: Vec<String> = "StaticJSON", list_of(&["StaticJSON"]);
        /// JSON file served as the StaticJSON vendor data.
        vendordata_jsonfile_path: Option<String> = "", optional_string();
        /// EC2 metadata versions left off config drives (space separated).
        config_drive_skip_versions: String = "1.0 2007-01-19 2007-03-01 2007-08-29 2007-10-10 2007-12-15 2008-02-01 2008-09-01", string();
        /// Domain of the instances' host names (`<hostname>.<dhcp_domain>`: DHCP, the metadata service); empty for none.
        dhcp_domain was "DEFAULT": String = "novalocal", string();
        /// Maximum size (bytes) of an API request body.
        max_request_body_size in "wsgi": usize = "114688", at_least(1);
        /// Accept X-Instance-ID (signed with `metadata_proxy_shared_secret`) from a metadata proxy.
        service_metadata_proxy in "neutron": bool = "false", boolean();
        /// Secret shared with the metadata proxy that signs X-Instance-ID (HMAC-SHA256).
        metadata_proxy_shared_secret in "neutron": String = "", string();
    }
}
