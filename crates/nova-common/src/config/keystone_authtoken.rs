//! `[keystone_authtoken]`: the keystonemiddleware options nova-api uses to
//! validate tokens and to authenticate itself.

use super::opt::{at_least, choice, config_section, int, string};

config_section! {
    /// `[keystone_authtoken]`.
    pub struct KeystoneAuthtokenSection in "keystone_authtoken" {
        /// Public Keystone URL sent to clients in WWW-Authenticate.
        www_authenticate_uri: String = "", string();
        /// Keystone URL nova-api authenticates itself against and validates tokens with.
        auth_url: String = "", string();
        /// How nova-api authenticates itself to Keystone.
        auth_type: String = "password", choice(&["password"]);
        /// Service user name.
        username: String = "nova", string();
        /// Service user password.
        password: String = "", string();
        /// Service project name.
        project_name: String = "service", string();
        /// Domain of the service user.
        user_domain_name: String = "Default", string();
        /// Domain of the service project.
        project_domain_name: String = "Default", string();
        /// Seconds a validated token is cached (-1 disables the cache).
        token_cache_time: i64 = "300", int(-1, 86400);
        /// Seconds to connect to Keystone.
        http_connect_timeout: u64 = "5", at_least(1);
    }
}
