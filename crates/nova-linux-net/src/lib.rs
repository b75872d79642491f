//! Linux networking, the role of Nova's `nova/network/linux_net.py`: the
//! host-side plumbing that nova-compute (plugging a guest's VIF into its
//! network's bridge) and nova-network (bridges, gateway addresses, dnsmasq,
//! iptables NAT and filtering) share.
//!
//! Every change to the host goes through [`execute`], which runs one command
//! and turns a failure into a [`LinuxNetError`] naming the command and its
//! stderr. Modules:
//! - [`bridge`]: Linux bridges (`ensure_bridge`, as `LinuxBridgeInterfaceDriver`)
//!   and the gateway address on them (`initialize_gateway_device`).
//! - [`dnsmasq`]: one dnsmasq per network with static leases (`restart_dhcp`).
//! - [`iptables`]: the iptables manager (wrapped `<binary>-*` chains, the
//!   shared `nova-filter-top`/`nova-postrouting-bottom`, applied atomically with
//!   iptables-save/restore under a host-wide lock) and Nova's SNAT, metadata,
//!   gateway and dnsmasq rules; nova-network applies its own at start and
//!   after each change.
//! - [`floating`]: floating IPs (`bind_floating_ip`, `ensure_floating_forward`).
//! - [`host`]: host-wide settings (IPv4 forwarding, the metadata address on `lo`).

pub mod bridge;
pub mod dnsmasq;
pub mod floating;
pub mod host;
pub mod iptables;

use std::ffi::OsStr;
use tokio::process::Command;

/// A host networking command that could not be run or failed.
#[derive(Debug, thiserror::Error)]
pub enum LinuxNetError {
    #[error("cannot run {cmd}: {source}")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{cmd} failed ({status}): {stderr}")]
    Failed {
        cmd: String,
        status: String,
        stderr: String,
    },
}

impl From<LinuxNetError> for nova_common::NovaError {
    fn from(e: LinuxNetError) -> Self {
        nova_common::NovaError::internal(e.to_string())
    }
}

fn render<I, S>(program: &str, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut s = program.to_string();
    for a in args {
        s.push(' ');
        s.push_str(&a.as_ref().to_string_lossy());
    }
    s
}

/// Run `program args...` (Nova's `utils.execute`); stdout on success.
pub async fn execute<I, S>(program: &str, args: I) -> Result<String, LinuxNetError>
where
    I: IntoIterator<Item = S> + Clone,
    S: AsRef<OsStr>,
{
    let cmd = render(program, args.clone());
    tracing::debug!(%cmd, "running");
    let out = Command::new(program)
        .args(args)
        .output()
        .await
        .map_err(|source| LinuxNetError::Spawn {
            cmd: cmd.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(LinuxNetError::Failed {
            cmd,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn execute_reports_the_command_and_its_stderr() {
        assert_eq!(execute("echo", ["a", "b"]).await.unwrap(), "a b\n");
        let e = execute("sh", ["-c", "echo nope >&2; exit 3"])
            .await
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("sh -c"), "{msg}");
        assert!(msg.contains("nope"), "{msg}");
        assert!(matches!(
            execute("/nonexistent/tool", ["x"]).await,
            Err(LinuxNetError::Spawn { .. })
        ));
    }
}
