//! The iptables manager, as Nova's `linux_net.IptablesManager`: the project's
//! rules live in chains prefixed with the binary's name (`nova-network-INPUT`,
//! `nova-network-snat`), jumped to from the built-in chains, plus the shared
//! unwrapped chains `nova-filter-top` (top of FORWARD and OUTPUT) and
//! `nova-postrouting-bottom` (POSTROUTING → `$snat` → `$float-snat`).
//!
//! Applying reads each table with `iptables-save -c`, drops what this binary
//! put there before, keeps every other rule (and its counters) as it was, adds
//! this manager's rules, and loads the table back in one `iptables-restore -c`,
//! so the change is atomic and rules that are not the project's are untouched.
//! A rule's text may name a wrapped chain as `$chain`.

use crate::LinuxNetError;
use std::collections::BTreeMap;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Built-in chains that get a wrapped twin, per table (IPv4).
const BUILTINS: &[(&str, &[&str])] = &[
    ("filter", &["INPUT", "OUTPUT", "FORWARD"]),
    ("nat", &["PREROUTING", "OUTPUT", "POSTROUTING"]),
    (
        "mangle",
        &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
    ),
];

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    chain: String,
    rule: String,
    wrap: bool,
    top: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Table {
    /// Chains this manager declares: (name, wrapped).
    chains: Vec<(String, bool)>,
    rules: Vec<Rule>,
}

/// The rules of one binary (`nova-network`, `nova-compute`), per table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IptablesManager {
    binary: String,
    tables: BTreeMap<String, Table>,
}

/// A line of `iptables-save -c` without its leading `[packets:bytes]`.
fn strip_counters(line: &str) -> &str {
    let t = line.trim();
    if t.starts_with('[') {
        if let Some(end) = t.find(']') {
            return t[end + 1..].trim_start();
        }
    }
    t
}

impl IptablesManager {
    /// Nova's layout: wrapped built-ins and `local` in filter, `snat` and
    /// `float-snat` in nat, and the two shared unwrapped chains.
    pub fn new(binary: &str) -> Self {
        // Nova keeps the prefix short enough for iptables' 28-character names.
        let binary: String = binary.chars().take(16).collect();
        let mut m = IptablesManager {
            binary,
            tables: BTreeMap::new(),
        };
        // The shared top chain comes first in FORWARD and OUTPUT, before any
        // binary's own chain, so the instances' filters (compute's `$local`)
        // see the traffic before a network bridge's accepts do.
        m.add_chain("filter", "nova-filter-top", false);
        m.add_rule("filter", "FORWARD", "-j nova-filter-top", false, true);
        m.add_rule("filter", "OUTPUT", "-j nova-filter-top", false, true);
        for (table, chains) in BUILTINS {
            for chain in *chains {
                m.add_chain(table, chain, true);
                m.add_rule(table, chain, &format!("-j ${chain}"), false, true);
            }
        }
        m.add_chain("filter", "local", true);
        m.add_rule("filter", "nova-filter-top", "-j $local", false, false);
        m.add_chain("nat", "nova-postrouting-bottom", false);
        m.add_rule(
            "nat",
            "POSTROUTING",
            "-j nova-postrouting-bottom",
            false,
            false,
        );
        m.add_chain("nat", "snat", true);
        m.add_rule("nat", "nova-postrouting-bottom", "-j $snat", false, false);
        m.add_chain("nat", "float-snat", true);
        m.add_rule("nat", "snat", "-j $float-snat", true, false);
        m
    }

    /// The prefix of this manager's chains (the binary's name, ≤ 16 characters).
    pub fn binary(&self) -> &str {
        &self.binary
    }

    /// `<binary>-<chain>`.
    pub fn wrapped(&self, chain: &str) -> String {
        format!("{}-{chain}", self.binary)
    }

    fn table(&mut self, table: &str) -> &mut Table {
        self.tables.entry(table.to_string()).or_default()
    }

    /// Declare a chain (wrapped: prefixed with the binary's name).
    pub fn add_chain(&mut self, table: &str, chain: &str, wrap: bool) {
        let t = self.table(table);
        if !t.chains.iter().any(|(c, w)| c == chain && *w == wrap) {
            t.chains.push((chain.to_string(), wrap));
        }
    }

    /// Add `rule` to `chain` (wrapped or not), at the top of the table's
    /// rules or after the rules already there. Adding a rule twice keeps one.
    pub fn add_rule(&mut self, table: &str, chain: &str, rule: &str, wrap: bool, top: bool) {
        let r = Rule {
            chain: chain.to_string(),
            rule: rule.to_string(),
            wrap,
            top,
        };
        let t = self.table(table);
        if !t.rules.contains(&r) {
            t.rules.push(r);
        }
    }

    /// Remove a rule added with `add_rule`.
    pub fn remove_rule(&mut self, table: &str, chain: &str, rule: &str, wrap: bool) {
        self.table(table)
            .rules
            .retain(|r| !(r.chain == chain && r.rule == rule && r.wrap == wrap));
    }

    /// Remove every rule of `table` that names `address` as a word of its
    /// own (`<address>`, `<address>/32`; Nova's `remove_rules_regex` with
    /// `.*\s+<address>(/32|\s+|$)`); how many there were.
    pub fn remove_rules_naming(&mut self, table: &str, address: &str) -> usize {
        let names = |rule: &str| {
            rule.split_whitespace()
                .skip(1)
                .any(|w| w == address || w.strip_suffix("/32") == Some(address))
        };
        let t = self.table(table);
        let before = t.rules.len();
        t.rules.retain(|r| !names(&r.rule));
        before - t.rules.len()
    }

    /// Remove a chain with its rules and every rule that jumps to it
    /// (Nova's `remove_chain`); the next `apply` deletes it from the host.
    pub fn remove_chain(&mut self, table: &str, chain: &str, wrap: bool) {
        let jump = if wrap {
            format!("-j ${chain}")
        } else {
            format!("-j {chain}")
        };
        let t = self.table(table);
        t.chains.retain(|(c, w)| !(c == chain && *w == wrap));
        t.rules.retain(|r| {
            let inside = r.chain == chain && r.wrap == wrap;
            let jumps = r.rule == jump || r.rule.ends_with(&format!(" {jump}"));
            !inside && !jumps
        });
    }

    /// Remove every rule of a chain, keeping the chain (Nova's `empty_chain`).
    pub fn empty_chain(&mut self, table: &str, chain: &str, wrap: bool) {
        self.table(table)
            .rules
            .retain(|r| !(r.chain == chain && r.wrap == wrap));
    }

    /// The rules of `chain` as they will be loaded (wrapped names expanded).
    pub fn chain_rules(&self, table: &str, chain: &str, wrap: bool) -> Vec<String> {
        let Some(t) = self.tables.get(table) else {
            return vec![];
        };
        t.rules
            .iter()
            .filter(|r| r.chain == chain && r.wrap == wrap)
            .map(|r| self.expand(t, &r.rule))
            .collect()
    }

    /// Replace `$name` by the wrapped name of each of this table's wrapped chains.
    fn expand(&self, table: &Table, text: &str) -> String {
        let mut names: Vec<&str> = table
            .chains
            .iter()
            .filter(|(_, w)| *w)
            .map(|(c, _)| c.as_str())
            .collect();
        // Longest first, so `$float-snat` is not read as `$float` + "-snat".
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        let mut out = text.to_string();
        for n in names {
            out = out.replace(&format!("${n}"), &self.wrapped(n));
        }
        out
    }

    fn render_rule(&self, table: &Table, r: &Rule) -> String {
        let chain = if r.wrap {
            self.wrapped(&r.chain)
        } else {
            r.chain.clone()
        };
        format!("-A {chain} {}", self.expand(table, &r.rule))
    }

    /// The table names this manager has rules for.
    pub fn table_names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }

    /// The `iptables-restore` input for `table`, from the current
    /// `iptables-save -c` text of the host (any tables; only `table` is read).
    pub fn modify_table(&self, table: &str, current: &str) -> String {
        let empty = Table::default();
        let t = self.tables.get(table).unwrap_or(&empty);
        let prefix = format!("{}-", self.binary);
        let ours: Vec<String> = t.rules.iter().map(|r| self.render_rule(t, r)).collect();
        let mine = |l: &str| {
            let toks: Vec<&str> = l.split_whitespace().collect();
            toks.windows(2)
                .any(|w| matches!(w[0], "-A" | "-I" | "-j" | "-g") && w[1].starts_with(&prefix))
                || ours.iter().any(|o| o == l)
        };

        // The table's section of the dump.
        let mut in_table = false;
        let mut decls: Vec<String> = Vec::new();
        let mut kept: Vec<String> = Vec::new();
        for line in current.lines() {
            let l = line.trim();
            if l == format!("*{table}") {
                in_table = true;
                continue;
            }
            if !in_table {
                continue;
            }
            if l == "COMMIT" {
                break;
            }
            if let Some(decl) = l.strip_prefix(':') {
                let name = decl.split_whitespace().next().unwrap_or_default();
                if !name.starts_with(&prefix) {
                    decls.push(l.to_string());
                }
            } else if l.starts_with('#') || l.is_empty() {
                continue;
            } else if !mine(strip_counters(l)) {
                kept.push(l.to_string());
            }
        }

        let mut out = vec![format!("*{table}")];
        out.extend(decls.iter().cloned());
        for (chain, wrap) in &t.chains {
            let name = if *wrap {
                self.wrapped(chain)
            } else {
                chain.clone()
            };
            let declared = decls
                .iter()
                .any(|d| d[1..].split_whitespace().next() == Some(name.as_str()));
            let builtin = BUILTINS
                .iter()
                .any(|(tb, cs)| *tb == table && cs.contains(&name.as_str()));
            if !declared && !builtin {
                out.push(format!(":{name} - [0:0]"));
            }
        }
        out.extend(
            t.rules
                .iter()
                .filter(|r| r.top)
                .map(|r| self.render_rule(t, r)),
        );
        out.extend(kept);
        out.extend(
            t.rules
                .iter()
                .filter(|r| !r.top)
                .map(|r| self.render_rule(t, r)),
        );
        out.push("COMMIT".into());
        let mut s = out.join("\n");
        s.push('\n');
        s
    }

    /// Apply every table: `iptables-save -c -t <table>`, `modify_table`,
    /// `iptables-restore -c` (Nova's `IptablesManager.apply`), under the
    /// host-wide iptables lock so that two binaries never interleave a
    /// save and a restore (Nova's external `iptables` lock).
    pub async fn apply(&self) -> Result<(), LinuxNetError> {
        let _lock = host_lock().await?;
        for table in self.table_names() {
            let current = crate::execute("iptables-save", ["-c", "-t", table.as_str()]).await?;
            let new = self.modify_table(&table, &current);
            restore(&new).await?;
        }
        tracing::debug!(binary = %self.binary, "iptables rules applied");
        Ok(())
    }
}

/// The name Nova gives a process's wrapped chains: the basename of the
/// program it was started as (`argv[0]`), at most 16 characters, so a
/// binary started through a symlink of another name owns other chains.
pub fn binary_name() -> String {
    let arg0 = std::env::args_os().next().unwrap_or_default();
    let base = std::path::Path::new(&arg0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    base.chars().take(16).collect()
}

/// The shared unwrapped chains: jumped to by every binary, so each binary
/// removes only its own rules in them; the chain itself goes when empty.
const SHARED: &[(&str, &str)] = &[
    ("filter", "nova-filter-top"),
    ("nat", "nova-postrouting-bottom"),
];

/// `current` (one table of `iptables-save -c`) without any trace of
/// `binary`: its chains, the rules in them and every rule jumping to them.
/// A shared chain left empty is dropped with the jumps to it. Rules of
/// other binaries and of other programs stay, counters included.
pub fn remove_binary_from_table(binary: &str, table: &str, current: &str) -> String {
    let binary: String = binary.chars().take(16).collect();
    let prefix = format!("{binary}-");
    let names = |l: &str| -> Vec<String> {
        let toks: Vec<&str> = strip_counters(l).split_whitespace().collect();
        toks.windows(2)
            .filter(|w| matches!(w[0], "-A" | "-I" | "-j" | "-g"))
            .map(|w| w[1].to_string())
            .collect()
    };
    let mut in_table = false;
    let mut lines: Vec<String> = Vec::new();
    for line in current.lines() {
        let l = line.trim();
        if l == format!("*{table}") {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        if l == "COMMIT" {
            break;
        }
        if l.starts_with('#') || l.is_empty() {
            continue;
        }
        if let Some(decl) = l.strip_prefix(':') {
            if decl
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .starts_with(&prefix)
            {
                continue;
            }
        } else if names(l).iter().any(|n| n.starts_with(&prefix)) {
            continue;
        }
        lines.push(l.to_string());
    }
    for (t, shared) in SHARED {
        if *t != table {
            continue;
        }
        let used = lines
            .iter()
            .any(|l| !l.starts_with(':') && names(l).first().map(String::as_str) == Some(shared));
        if !used {
            lines.retain(|l| {
                let declared = l
                    .strip_prefix(':')
                    .is_some_and(|d| d.split_whitespace().next() == Some(shared));
                !declared && !names(l).iter().any(|n| n == shared)
            });
        }
    }
    let mut out = vec![format!("*{table}")];
    out.extend(lines);
    out.push("COMMIT".into());
    let mut s = out.join("\n");
    s.push('\n');
    s
}

/// Remove every rule and chain of `binary` from the host (what a test
/// cloud leaves behind when it goes, or an operator's clean-up), under the
/// host-wide lock. Blocking: it is meant for clean-up paths (`Drop`).
pub fn remove_binary(binary: &str) -> Result<(), LinuxNetError> {
    use std::io::Write;
    let _lock = lock_blocking(&lock_file()).map_err(|source| LinuxNetError::Spawn {
        cmd: format!("lock {}", lock_file().display()),
        source,
    })?;
    for (table, _) in BUILTINS {
        let cmd = format!("iptables-save -c -t {table}");
        let out = std::process::Command::new("iptables-save")
            .args(["-c", "-t", table])
            .output()
            .map_err(|source| LinuxNetError::Spawn {
                cmd: cmd.clone(),
                source,
            })?;
        let current = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !current.contains(&format!("*{table}")) {
            continue;
        }
        let text = remove_binary_from_table(binary, table, &current);
        let cmd = "iptables-restore -c".to_string();
        let spawn_err = |source| LinuxNetError::Spawn {
            cmd: cmd.clone(),
            source,
        };
        let mut child = std::process::Command::new("iptables-restore")
            .arg("-c")
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(spawn_err)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(text.as_bytes()).map_err(spawn_err)?;
        }
        let out = child.wait_with_output().map_err(spawn_err)?;
        if !out.status.success() {
            return Err(LinuxNetError::Failed {
                cmd,
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
    }
    Ok(())
}

fn lock_blocking(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    f.lock()?;
    Ok(f)
}

/// Where the host-wide lock lives (Nova's `lock_path`/`nova-iptables`).
fn lock_file() -> std::path::PathBuf {
    let run = std::path::Path::new("/run/lock");
    let dir = if run.is_dir() {
        run.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    dir.join("nova-iptables.lock")
}

/// Hold the host-wide iptables lock until the file is dropped.
async fn host_lock() -> Result<std::fs::File, LinuxNetError> {
    let path = lock_file();
    let cmd = format!("lock {}", path.display());
    tokio::task::spawn_blocking(move || lock_blocking(&path))
        .await
        .map_err(|e| LinuxNetError::Spawn {
            cmd: cmd.clone(),
            source: std::io::Error::other(e.to_string()),
        })?
        .map_err(|source| LinuxNetError::Spawn { cmd, source })
}

/// `iptables-restore -c` with `text` on its standard input.
async fn restore(text: &str) -> Result<(), LinuxNetError> {
    let cmd = "iptables-restore -c".to_string();
    let mut child = Command::new("iptables-restore")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|source| LinuxNetError::Spawn {
            cmd: cmd.clone(),
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .await
            .map_err(|source| LinuxNetError::Spawn {
                cmd: cmd.clone(),
                source,
            })?;
    }
    let out = child
        .wait_with_output()
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
    Ok(())
}

/// SNAT of the fixed range to `routing_source_ip` (Nova's `add_snat_rule`),
/// out of `public_interface` when one is given.
pub fn add_snat_rule(
    m: &mut IptablesManager,
    ip_range: &str,
    routing_source_ip: &str,
    public_interface: Option<&str>,
) {
    let mut rule = format!("-s {ip_range} -j SNAT --to-source {routing_source_ip}");
    if let Some(i) = public_interface.filter(|i| !i.is_empty()) {
        rule.push_str(&format!(" -o {i}"));
    }
    m.add_rule("nat", "snat", &rule, true, false);
}

/// The metadata service's DNAT from 169.254.169.254:80 (Nova's
/// `metadata_forward`): REDIRECT to the port when the host is 127.0.0.1.
///
/// Unlike Nova's rule (any source interface), the rule only catches what
/// comes in on `interface`, the network's bridge: several clouds on one
/// host (test clouds beside an all-in-one) each forward their own guests'
/// metadata requests to their own metadata service and never steal
/// another cloud's. With no interface it is Nova's rule.
pub fn metadata_forward(
    m: &mut IptablesManager,
    metadata_host: &str,
    metadata_port: u16,
    interface: Option<&str>,
) {
    let target = if metadata_host == "127.0.0.1" {
        format!("REDIRECT --to-ports {metadata_port}")
    } else {
        format!("DNAT --to-destination {metadata_host}:{metadata_port}")
    };
    let input = interface
        .filter(|i| !i.is_empty())
        .map(|i| format!("-i {i} "))
        .unwrap_or_default();
    m.add_rule(
        "nat",
        "PREROUTING",
        &format!("{input}-s 0.0.0.0/0 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j {target}"),
        true,
        false,
    );
}

/// Accept the metadata port on the metadata host (Nova's `metadata_accept`;
/// 127.0.0.1 means any local address, where REDIRECT sends it).
pub fn metadata_accept(m: &mut IptablesManager, metadata_host: &str, metadata_port: u16) {
    let dest = if metadata_host == "127.0.0.1" {
        "-m addrtype --dst-type LOCAL".to_string()
    } else {
        format!("-d {metadata_host}")
    };
    m.add_rule(
        "filter",
        "INPUT",
        &format!("-p tcp -m tcp --dport {metadata_port} {dest} -j ACCEPT"),
        true,
        false,
    );
}

/// The POSTROUTING exceptions to the SNAT of a fixed range (Nova's
/// `init_host`): traffic to the metadata host, to each `dmz_cidr`, and
/// inside the range unless it was DNATed keeps its source address.
pub fn init_host_rules(
    m: &mut IptablesManager,
    ip_range: &str,
    metadata_host: &str,
    dmz_cidr: &[String],
) {
    m.add_rule(
        "nat",
        "POSTROUTING",
        &format!("-s {ip_range} -d {metadata_host}/32 -j ACCEPT"),
        true,
        false,
    );
    for dmz in dmz_cidr.iter().filter(|d| !d.is_empty()) {
        m.add_rule(
            "nat",
            "POSTROUTING",
            &format!("-s {ip_range} -d {dmz} -j ACCEPT"),
            true,
            false,
        );
    }
    m.add_rule(
        "nat",
        "POSTROUTING",
        &format!("-s {ip_range} -d {ip_range} -m conntrack ! --ctstate DNAT -j ACCEPT"),
        true,
        false,
    );
}

/// A gateway bridge's FORWARD rules (Nova's `get_gateway_rules`): with
/// `forward_bridge_interface = all` anything in or out of the bridge,
/// otherwise only to and from the listed interfaces and within the bridge,
/// the rest dropped with `drop_action`.
pub fn gateway_rules(
    m: &mut IptablesManager,
    bridge: &str,
    forward_bridge_interface: &[String],
    drop_action: &str,
) {
    let mut rules = Vec::new();
    if forward_bridge_interface.iter().any(|i| i == "all") {
        rules.push(format!("-i {bridge} -j ACCEPT"));
        rules.push(format!("-o {bridge} -j ACCEPT"));
    } else {
        for iface in forward_bridge_interface.iter().filter(|i| !i.is_empty()) {
            rules.push(format!("-i {bridge} -o {iface} -j ACCEPT"));
            rules.push(format!("-i {iface} -o {bridge} -j ACCEPT"));
        }
        rules.push(format!("-i {bridge} -o {bridge} -j ACCEPT"));
        rules.push(format!("-i {bridge} -j {drop_action}"));
        rules.push(format!("-o {bridge} -j {drop_action}"));
    }
    for r in rules {
        m.add_rule("filter", "FORWARD", &r, true, false);
    }
}

/// DHCP and DNS to the network's dnsmasq, and the DHCP replies' checksum
/// filled in (Nova's `_add_dnsmasq_accept_rules` and `_add_dhcp_mangle_rule`).
pub fn dnsmasq_rules(m: &mut IptablesManager, dev: &str) {
    for port in [67, 53] {
        for proto in ["udp", "tcp"] {
            m.add_rule(
                "filter",
                "INPUT",
                &format!("-i {dev} -p {proto} -m {proto} --dport {port} -j ACCEPT"),
                true,
                false,
            );
        }
    }
    m.add_rule(
        "mangle",
        "POSTROUTING",
        &format!("-o {dev} -p udp -m udp --dport 68 -j CHECKSUM --checksum-fill"),
        true,
        false,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVED: &str = "# Generated by iptables-save\n\
*nat\n\
:PREROUTING ACCEPT [0:0]\n\
:OUTPUT ACCEPT [0:0]\n\
:POSTROUTING ACCEPT [0:0]\n\
:DOCKER - [0:0]\n\
:nova-network-snat - [0:0]\n\
:nova-postrouting-bottom - [0:0]\n\
[5:300] -A PREROUTING -j nova-network-PREROUTING\n\
[7:420] -A POSTROUTING -s 172.17.0.0/16 -j MASQUERADE\n\
[0:0] -A POSTROUTING -j nova-postrouting-bottom\n\
[0:0] -A nova-network-snat -s 10.9.9.0/24 -j SNAT --to-source 1.2.3.4\n\
[0:0] -A nova-postrouting-bottom -j nova-network-snat\n\
[0:0] -A nova-postrouting-bottom -j nova-compute-snat\n\
COMMIT\n\
*filter\n\
:INPUT ACCEPT [0:0]\n\
[1:1] -A INPUT -j ACCEPT\n\
COMMIT\n";

    fn nat() -> String {
        let mut m = IptablesManager::new("nova-network");
        add_snat_rule(&mut m, "10.0.0.0/24", "192.0.2.10", None);
        metadata_forward(&mut m, "192.0.2.10", 8775, None);
        m.modify_table("nat", SAVED)
    }

    #[test]
    fn other_rules_and_their_counters_stay_ours_are_replaced() {
        let out = nat();
        // Only the nat table, atomically.
        assert!(
            out.starts_with("*nat\n") && out.ends_with("COMMIT\n"),
            "{out}"
        );
        assert!(!out.contains("-A INPUT -j ACCEPT"), "{out}");
        // Not the project's: kept as they were.
        assert!(out.contains(":DOCKER - [0:0]\n"), "{out}");
        assert!(out.contains("[7:420] -A POSTROUTING -s 172.17.0.0/16 -j MASQUERADE\n"));
        assert!(out.contains("-A nova-postrouting-bottom -j nova-compute-snat\n"));
        // The old SNAT is gone, the new one is there, each line once.
        assert!(!out.contains("10.9.9.0/24"), "{out}");
        for line in [
            "-A nova-network-snat -s 10.0.0.0/24 -j SNAT --to-source 192.0.2.10",
            "-A nova-network-PREROUTING -s 0.0.0.0/0 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 192.0.2.10:8775",
            "-A PREROUTING -j nova-network-PREROUTING",
            "-A POSTROUTING -j nova-network-POSTROUTING",
            "-A POSTROUTING -j nova-postrouting-bottom",
            "-A nova-postrouting-bottom -j nova-network-snat",
            "-A nova-network-snat -j nova-network-float-snat",
            ":nova-network-snat - [0:0]",
            ":nova-network-float-snat - [0:0]",
            ":nova-postrouting-bottom - [0:0]",
        ] {
            assert_eq!(out.lines().filter(|l| strip_counters(l) == line).count(), 1, "{line}\n{out}");
        }
        // Applying again changes nothing.
        let m = {
            let mut m = IptablesManager::new("nova-network");
            add_snat_rule(&mut m, "10.0.0.0/24", "192.0.2.10", None);
            metadata_forward(&mut m, "192.0.2.10", 8775, None);
            m
        };
        assert_eq!(m.modify_table("nat", &out), out);
    }

    #[test]
    fn built_in_jumps_come_first_the_bottom_chain_last() {
        let out = nat();
        let pos = |s: &str| out.find(s).unwrap_or_else(|| panic!("{s} in {out}"));
        assert!(pos("-A PREROUTING -j nova-network-PREROUTING") < pos("MASQUERADE"));
        assert!(pos("MASQUERADE") < pos("-A POSTROUTING -j nova-postrouting-bottom"));
    }

    #[test]
    fn filter_table_has_the_shared_top_chain_and_the_metadata_accept() {
        let mut m = IptablesManager::new("nova-network");
        metadata_accept(&mut m, "192.0.2.10", 8775);
        let out = m.modify_table("filter", SAVED);
        for line in [
            "-A FORWARD -j nova-filter-top",
            "-A OUTPUT -j nova-filter-top",
            "-A nova-filter-top -j nova-network-local",
            "-A nova-network-INPUT -p tcp -m tcp --dport 8775 -d 192.0.2.10 -j ACCEPT",
            "[1:1] -A INPUT -j ACCEPT",
            ":nova-filter-top - [0:0]",
        ] {
            assert!(out.lines().any(|l| l == line), "{line}\n{out}");
        }
        // A table missing from the dump is made.
        assert!(m
            .modify_table("mangle", "")
            .contains("-A POSTROUTING -j nova-network-POSTROUTING"));
        // Localhost metadata is a REDIRECT.
        let mut m = IptablesManager::new("nova-network");
        metadata_forward(&mut m, "127.0.0.1", 8775, Some("br100"));
        assert!(m.modify_table("nat", "").contains(
            "-A nova-network-PREROUTING -i br100 -s 0.0.0.0/0 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 8775"
        ));
        // Accepted on any local address, where REDIRECT sends it.
        metadata_accept(&mut m, "127.0.0.1", 8775);
        assert!(m
            .modify_table("filter", "")
            .contains("--dport 8775 -m addrtype --dst-type LOCAL -j ACCEPT"));
    }

    #[test]
    fn the_shared_top_chain_comes_before_the_binarys_own() {
        let out = IptablesManager::new("nova-network").modify_table("filter", "");
        let pos = |s: &str| out.find(s).unwrap_or_else(|| panic!("{s} in {out}"));
        assert!(pos("-A FORWARD -j nova-filter-top") < pos("-A FORWARD -j nova-network-FORWARD"));
    }

    #[test]
    fn removing_a_binary_keeps_the_others_and_drops_shared_chains_only_when_empty() {
        // Two clouds' network binaries and an unrelated rule.
        let mut a = IptablesManager::new("e2eaaaa-net");
        add_snat_rule(&mut a, "10.1.0.0/24", "192.0.2.1", None);
        let mut b = IptablesManager::new("e2ebbbb-net");
        add_snat_rule(&mut b, "10.2.0.0/24", "192.0.2.1", None);
        let base = "*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n[3:4] -A POSTROUTING -s 172.17.0.0/16 -j MASQUERADE\nCOMMIT\n";
        let with_a = a.modify_table("nat", base);
        let both = b.modify_table("nat", &with_a);
        let without_a = remove_binary_from_table("e2eaaaa-net", "nat", &both);
        assert!(!without_a.contains("e2eaaaa-net"), "{without_a}");
        assert!(
            without_a.contains("-A nova-postrouting-bottom -j e2ebbbb-net-snat"),
            "{without_a}"
        );
        assert!(
            without_a.contains(":nova-postrouting-bottom"),
            "{without_a}"
        );
        assert!(without_a.contains("[3:4] -A POSTROUTING -s 172.17.0.0/16 -j MASQUERADE"));
        // The last one out takes the shared chain with it: back to the start.
        let none = remove_binary_from_table("e2ebbbb-net", "nat", &without_a);
        assert!(!none.contains("nova-"), "{none}");
        assert_eq!(none, base);
    }
}
