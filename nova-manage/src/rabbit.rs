//! `nova-manage rabbit`: compute hosts' own broker users (not in upstream
//! Nova, whose compute hosts share the control plane's).
//!
//! `create_compute_user <host>` makes (or updates) the RabbitMQ user
//! `nova-compute.<host>` in the vhost of this nova.conf's `transport_url`,
//! with the narrow permissions of [`compute_permissions`] and no tags (so it
//! can never publish under another `user_id`), sets a new random password,
//! and prints the lines of that host's nova.conf. Running it again puts the
//! user back in exactly that state, with a new password (`--password` keeps
//! a given one). It runs `rabbitmqctl` (`$RABBITMQCTL` if set) on this
//! machine, which must be able to reach the broker's node.

use nova_common::config::parse_transport_url;
use nova_common::trust::{check_host_name, compute_permissions, compute_user, TrustPolicy};
use nova_common::NovaConfig;
use std::io::Write;
use std::process::{Command, Stdio};

fn rabbitmqctl() -> String {
    std::env::var("RABBITMQCTL").unwrap_or_else(|_| "rabbitmqctl".into())
}

/// Run `rabbitmqctl args`, with `stdin` on its standard input: (success, stderr).
fn ctl(args: &[&str], stdin: Option<&str>) -> Result<(bool, String), String> {
    let mut child = Command::new(rabbitmqctl())
        .arg("-q")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", rabbitmqctl()))?;
    if let Some(mut pipe) = child.stdin.take() {
        if let Some(text) = stdin {
            pipe.write_all(format!("{text}\n").as_bytes())
                .map_err(|e| format!("rabbitmqctl {}: {e}", args[0]))?;
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("rabbitmqctl {}: {e}", args[0]))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    ))
}

/// `rabbitmqctl args`, which must succeed.
fn must(args: &[&str]) -> Result<(), String> {
    match ctl(args, None)? {
        (true, _) => Ok(()),
        (false, err) => Err(format!("rabbitmqctl {} failed: {err}", args[0])),
    }
}

/// A password with 122 random bits, safe in a URL as it is.
fn new_password() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// What `create_compute_user` prints: the compute host's nova.conf lines.
pub fn compute_conf(
    cfg: &NovaConfig,
    host: &str,
    password: &str,
    trust: &TrustPolicy,
) -> Result<String, String> {
    let t = parse_transport_url(&cfg.default.transport_url)?;
    let vhost = if t.vhost == "/" { "" } else { &t.vhost };
    let users: Vec<&str> = trust.control_plane_users().collect();
    Ok(format!(
        "# nova.conf of compute host {host}: its own broker user\n\
         [DEFAULT]\n\
         transport_url = rabbit://{}:{password}@{}:{}/{vhost}\n\
         [conductor]\n\
         control_plane_rpc_users = {}\n",
        compute_user(host),
        t.host,
        t.port,
        users.join(",")
    ))
}

pub fn create_compute_user(
    cfg: &NovaConfig,
    host: &str,
    password: Option<String>,
) -> Result<(), String> {
    check_host_name(host)?;
    let t = parse_transport_url(&cfg.default.transport_url)?;
    let vhost = t.vhost_name();
    let perms = compute_permissions(host, &cfg.default.control_exchange)?;
    let user = compute_user(host);
    let password = password.unwrap_or_else(new_password);
    if password.is_empty()
        || !password
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
    {
        return Err("--password: use letters, digits and -._~ only (it goes into a URL)".into());
    }
    match ctl(&["add_user", &user], Some(&password))? {
        (true, _) => eprintln!("Created broker user {user}."),
        (false, err) if err.contains("already exists") => {
            must_with_stdin(&["change_password", &user], &password)?;
            // No tags: neither management access nor `impersonator`, which
            // would let it publish under another user_id. (A new user has none.)
            must(&["set_user_tags", &user])?;
            eprintln!("Broker user {user} exists: set a new password and its permissions again.");
        }
        (false, err) => return Err(format!("rabbitmqctl add_user failed: {err}")),
    }
    must(&[
        "set_permissions",
        "-p",
        &vhost,
        &user,
        &perms.configure,
        &perms.write,
        &perms.read,
    ])?;
    must(&[
        "set_topic_permissions",
        "-p",
        &vhost,
        &user,
        &perms.exchange,
        &perms.topic_write,
        &perms.topic_read,
    ])?;
    print!(
        "{}",
        compute_conf(cfg, host, &password, &TrustPolicy::from_config(cfg))?
    );
    Ok(())
}

fn must_with_stdin(args: &[&str], stdin: &str) -> Result<(), String> {
    match ctl(args, Some(stdin))? {
        (true, _) => Ok(()),
        (false, err) => Err(format!("rabbitmqctl {} failed: {err}", args[0])),
    }
}

/// Remove a compute host's broker user (a host taken out of service); done
/// when it does not exist.
pub fn delete_compute_user(host: &str) -> Result<(), String> {
    check_host_name(host)?;
    let user = compute_user(host);
    match ctl(&["delete_user", &user], None)? {
        (true, _) => eprintln!("Deleted broker user {user}."),
        (false, err) if err.contains("does not exist") => {
            eprintln!("Broker user {user} does not exist.")
        }
        (false, err) => return Err(format!("rabbitmqctl delete_user failed: {err}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_lines_are_a_compute_hosts_config() {
        let cfg = NovaConfig::parse_text(
            "[DEFAULT]\ntransport_url = rabbit://nova:secret@ctl.example:5673/nova\n\
             [conductor]\ncontrol_plane_rpc_users = nova,nova-api\n",
        )
        .expect("valid");
        let text = compute_conf(&cfg, "c1", "pw", &TrustPolicy::from_config(&cfg)).expect("conf");
        let compute = NovaConfig::parse_text(&text).expect("the lines parse");
        assert_eq!(
            compute.default.transport_url,
            "rabbit://nova-compute.c1:pw@ctl.example:5673/nova"
        );
        assert_eq!(compute.default.transport_user(), "nova-compute.c1");
        assert_eq!(
            compute.conductor.control_plane_rpc_users,
            ["nova", "nova-api"]
        );
        let cfg = NovaConfig::parse_text("").expect("defaults");
        let text = compute_conf(&cfg, "c1", "pw", &TrustPolicy::from_config(&cfg)).expect("conf");
        assert!(text.contains("@127.0.0.1:5672/\n"), "{text}");
        assert!(text.contains("control_plane_rpc_users = guest\n"), "{text}");
    }

    #[test]
    fn passwords_need_no_quoting() {
        let p = new_password();
        assert_eq!(p.len(), 32);
        assert!(p.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
