//! `[vnc]`: guest VNC servers and nova-novncproxy.

use super::opt::{boolean, config_section, port, string};

config_section! {
    /// `[vnc]`.
    pub struct VncSection in "vnc" {
        /// Enable VNC consoles.
        enabled: bool = "true", boolean();
        /// Address the instance VNC servers listen on.
        server_listen: String = "127.0.0.1", string();
        /// Address the console proxy connects to.
        server_proxyclient_address: String = "127.0.0.1", string();
        /// Address nova-novncproxy listens on.
        novncproxy_host: String = "0.0.0.0", string();
        /// Port nova-novncproxy listens on.
        novncproxy_port: u16 = "6080", port();
        /// Public URL of the noVNC console.
        novncproxy_base_url: String = "http://127.0.0.1:6080/vnc_auto.html", string();
    }
}
