//! The EC2 API's options (Nova's `nova/api/ec2/`, `[DEFAULT]` until
//! Liberty). Its listener (`ec2_listen`, `ec2_listen_port`) is with the
//! other listeners in `default.rs`.

use super::opt::{at_least, boolean, choice, config_section, list, port, string};
use super::DefaultSection;

config_section! {
    /// The EC2 API's options, which live in `[DEFAULT]`.
    pub struct Ec2Section in "DEFAULT" {
        /// The host name or address the EC2 API is advertised at (DescribeRegions).
        ec2_host: String = "$my_ip", string();
        /// The port the EC2 API is advertised at.
        ec2_port: u16 = "8773", port();
        /// The scheme the EC2 API is advertised with.
        ec2_scheme: String = "http", choice(&["http", "https"]);
        /// The path prefix the EC2 API is advertised with.
        ec2_path: String = "/", string();
        /// Regions DescribeRegions lists, as `name=host` pairs; empty lists this
        /// one (`[keystone_authtoken] region_name` or RegionOne) at ec2_host.
        region_list: Vec<String> = "", list();
        /// Keystone's EC2 signature validation URL (POST
        /// `.../v3/ec2tokens`). Empty: `[keystone_authtoken] auth_url` + `/v3/ec2tokens`.
        keystone_ec2_url: String = "", string();
        /// Seconds a signed request's Timestamp (or X-Amz-Date) stays valid.
        ec2_timestamp_expiry: u64 = "300", at_least(0);
        /// Reject malformed EC2 ids (`i-`, `ami-`, ...) instead of treating them as unknown.
        ec2_strict_validation: bool = "true", boolean();
        /// Show the private IP address as the private DNS name.
        ec2_private_dns_show_ip: bool = "false", boolean();
        /// The flavor RunInstances uses when the request names no InstanceType.
        default_flavor: String = "m1.small", string();
    }
}

impl Ec2Section {
    /// `$my_ip` is known only once `[DEFAULT]` is resolved.
    pub(super) fn resolve(mut self, default: &DefaultSection) -> Self {
        if self.ec2_host.is_empty() {
            self.ec2_host = default.my_ip.clone();
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use crate::NovaConfig;

    #[test]
    fn ec2_host_follows_my_ip() {
        let c = NovaConfig::parse_text("").expect("defaults");
        assert_eq!(c.ec2.ec2_host, c.default.my_ip);
        assert_eq!(c.ec2.ec2_timestamp_expiry, 300);
        assert_eq!(c.ec2.default_flavor, "m1.small");
        let c = NovaConfig::parse_text("[DEFAULT]\nmy_ip = 192.0.2.7\nregion_list = a=h1, b=h2\n")
            .expect("cfg");
        assert_eq!(c.ec2.ec2_host, "192.0.2.7");
        assert_eq!(c.ec2.region_list, ["a=h1", "b=h2"]);
        let c = NovaConfig::parse_text("[DEFAULT]\nec2_host = ec2.example\n").expect("cfg");
        assert_eq!(c.ec2.ec2_host, "ec2.example");
        assert!(NovaConfig::parse_text("[DEFAULT]\nec2_scheme = ftp\n").is_err());
    }
}
