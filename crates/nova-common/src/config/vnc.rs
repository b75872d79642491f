//! `[vnc]`, `[consoleauth]` and `[console]`:
//! guest VNC servers, console tokens and nova-novncproxy.

use super::opt::{at_least, boolean, config_section, list, list_of, optional_string, port, string};

/// The RFB authentication schemes the security proxy can speak to a guest's
/// VNC server: `none`, and `vencrypt` (VeNCrypt with the X509None subtype:
/// TLS with a client certificate, `vencrypt_client_*`).
pub const AUTH_SCHEMES: &[&str] = &["none", "vencrypt"];

config_section! {
    /// `[vnc]`, with the console options of `[consoleauth]` and `[console]`.
    pub struct VncSection in "vnc" {
        /// Enable VNC consoles.
        enabled: bool = "true", boolean();
        /// Address the instance VNC servers listen on.
        server_listen: String = "127.0.0.1", string();
        /// Address of this compute host that nova-novncproxy connects to for guest
        /// consoles.
        server_proxyclient_address: String = "127.0.0.1", string();
        /// Address nova-novncproxy listens on.
        novncproxy_host: String = "0.0.0.0", string();
        /// Port nova-novncproxy listens on.
        novncproxy_port: u16 = "6080", port();
        /// Public URL of the noVNC page that console URLs point to (with noVNC >= 1.0,
        /// `vnc_lite.html` is the simpler page; `vnc_auto.html` is kept as a link).
        novncproxy_base_url: String = "http://127.0.0.1:6080/vnc_auto.html", string();
        /// Authentication schemes the proxy offers the guest's VNC server, in order.
        auth_schemes: Vec<String> = "none", list_of(AUTH_SCHEMES);
        /// The client key (PEM) the proxy presents to VeNCrypt VNC servers.
        vencrypt_client_key: Option<String> = "", optional_string();
        /// The client certificate (PEM) matching `vencrypt_client_key`.
        vencrypt_client_cert: Option<String> = "", optional_string();
        /// The CA certificates (PEM) that VeNCrypt VNC servers' certificates must
        /// chain to.
        vencrypt_ca_certs: Option<String> = "", optional_string();
        /// Seconds a console token stays valid.
        token_ttl in "consoleauth": u64 = "600", at_least(0);
        /// Close a console session when its token expires (otherwise a session
        /// opened with a valid token lasts until either side closes it).
        enforce_session_timeout in "consoleauth": bool = "false", boolean();
        /// Origins (host names) allowed to open a console websocket besides the
        /// request's own Host.
        allowed_origins in "console": Vec<String> = "", list();
    }
}
