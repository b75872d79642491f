//! `[api]`, and `[wsgi]`'s request size limit, which nova-api applies.

use super::opt::{at_least, choice, config_section, string};

config_section! {
    /// `[api]` and `[wsgi]`.
    pub struct ApiSection in "api" {
        /// How API requests are authenticated.
        auth_strategy: String = "keystone", choice(&["keystone", "noauth2"]);
        /// Maximum number of items a collection resource returns in one response.
        max_limit: usize = "1000", at_least(1);
        /// Base URL that replaces the request host in links.
        compute_link_prefix: String = "", string();
        /// Maximum size (bytes) of an API request body.
        max_request_body_size in "wsgi": usize = "114688", at_least(1);
    }
}
