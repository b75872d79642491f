//! `[vnc]`: guest VNC servers and nova-novncproxy.

use super::opt::{boolean, config_section, port, string};

config_section! {
    /// `[vnc]`.
    pub struct VncSection in "vnc" {
        /// Enable VNC consoles.
        enabled: bool = "true", boolean();
        /// Address the instance VNC servers listen on.
        server_listen: String = "127.0.0.1", string();
        /// Address of this compute host that nova-novncproxy connects to for guest
        /// consoles. Not used yet: nova-novncproxy does not proxy consoles.
        server_proxyclient_address: String = "127.0.0.1", string();
        /// Address nova-novncproxy listens on.
        novncproxy_host: String = "0.0.0.0", string();
        /// Port nova-novncproxy listens on.
        novncproxy_port: u16 = "6080", port();
        /// Public URL of the noVNC page that console URLs point to. Not used yet:
        /// the API does not hand out console URLs.
        novncproxy_base_url: String = "http://127.0.0.1:6080/vnc_auto.html", string();
    }
}
