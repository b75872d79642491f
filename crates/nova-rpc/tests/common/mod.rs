//! What the tests against the real RabbitMQ share: a vhost of their own.

#![allow(dead_code, clippy::unwrap_used)]

use nova_common::NovaConfig;
use std::process::Command;

pub fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .arg("-q")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub struct Vhost(pub String);

impl Vhost {
    pub fn new() -> Self {
        let name = format!("nova_rpc_test_{}", uuid::Uuid::new_v4().simple());
        assert!(Command::new("rabbitmqctl")
            .args(["-q", "add_vhost", &name])
            .status()
            .unwrap()
            .success());
        assert!(Command::new("rabbitmqctl")
            .args([
                "-q",
                "set_permissions",
                "-p",
                &name,
                "guest",
                ".*",
                ".*",
                ".*"
            ])
            .status()
            .unwrap()
            .success());
        Vhost(name)
    }
    pub fn config(&self, timeout: u64) -> NovaConfig {
        NovaConfig::parse_text(&format!(
            "[DEFAULT]\nhost = h1\nrpc_response_timeout = {timeout}\ntransport_url = rabbit://guest:guest@127.0.0.1:5672/{}\n",
            self.0
        ))
        .unwrap()
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "delete_vhost", &self.0])
            .status();
    }
}

/// A broker user for the test, deleted when dropped (users are not per vhost).
pub struct BrokerUser {
    pub name: String,
    pub password: String,
}

impl BrokerUser {
    /// `name` with `.*` permissions in `vhost`, or `perms` when given.
    pub fn new(
        name: &str,
        vhost: &Vhost,
        perms: Option<&nova_common::trust::BrokerPermissions>,
    ) -> Self {
        let password = uuid::Uuid::new_v4().simple().to_string();
        rabbitmqctl(&["add_user", name, &password]);
        let user = BrokerUser {
            name: name.to_string(),
            password,
        };
        match perms {
            Some(p) => {
                rabbitmqctl(&[
                    "set_permissions",
                    "-p",
                    &vhost.0,
                    name,
                    &p.configure,
                    &p.write,
                    &p.read,
                ]);
                rabbitmqctl(&[
                    "set_topic_permissions",
                    "-p",
                    &vhost.0,
                    name,
                    &p.exchange,
                    &p.topic_write,
                    &p.topic_read,
                ]);
            }
            None => rabbitmqctl(&["set_permissions", "-p", &vhost.0, name, ".*", ".*", ".*"]),
        }
        user
    }

    pub fn url(&self, vhost: &Vhost) -> String {
        format!(
            "rabbit://{}:{}@127.0.0.1:5672/{}",
            self.name, self.password, vhost.0
        )
    }

    /// A config connecting as this user, on `host`, trusting `guest` as the control plane.
    pub fn config(&self, vhost: &Vhost, host: &str, timeout: u64) -> NovaConfig {
        NovaConfig::parse_text(&format!(
            "[DEFAULT]\nhost = {host}\nrpc_response_timeout = {timeout}\ntransport_url = {}\n\
             [conductor]\ncontrol_plane_rpc_users = guest\n",
            self.url(vhost)
        ))
        .unwrap()
    }
}

impl Drop for BrokerUser {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "delete_user", &self.name])
            .status();
    }
}
