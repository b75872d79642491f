//! A whole cloud for end-to-end tests: a fresh PostgreSQL database, a fresh
//! RabbitMQ vhost, a real Glance (from the project's venv) holding one
//! image, and the real nova binaries as separate processes from one
//! nova.conf, plus a controller file with the database connection (for
//! nova-conductor and nova-manage only) and a per-compute override file.
//!
//! As deployed, each compute host connects to RabbitMQ as its own broker
//! user, made by `nova-manage rabbit create_compute_user` (and deleted with
//! the cloud), and holds no database credentials; the control plane keeps
//! `guest`.

#![allow(clippy::unwrap_used)]

pub mod guest_marks;
pub mod host_net;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn bin_path(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("NOVA_BIN_DIR") {
        return PathBuf::from(dir).join(name);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let p = target.join("debug").join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        p.display()
    );
    p
}

/// A port for a daemon of a test cloud to listen on. Taken below the
/// kernel's ephemeral range (`ip_local_port_range`, 32768 and up by
/// default): a port the kernel handed out for `:0` can be given again to an
/// outgoing connection (to RabbitMQ, PostgreSQL) before the daemon binds it,
/// which once failed a CI run with "Address already in use". Each call
/// takes the next port of a sequence that starts at a place of its own per
/// process, and skips ports something already listens on.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 10_000;
    const SPAN: u32 = 22_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let seed = || {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        std::process::id().wrapping_mul(7919).wrapping_add(nanos) % SPAN
    };
    let _ = NEXT.compare_exchange(u32::MAX, seed(), Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        // The wildcard conflicts with a listener on any address.
        if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {LOW}..{}", LOW + SPAN)
}

/// Run a command (program first): whether it succeeded, and its stdout and stderr.
pub fn sh(args: &[&str]) -> (bool, String) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Run a command that must succeed.
pub fn must(args: &[&str]) {
    let (ok, out) = sh(args);
    assert!(ok, "{args:?}: {out}");
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub struct Daemon {
    pub name: String,
    pub child: Child,
    binary: String,
    /// What it is started as: the binary, or this cloud's symlink to it.
    program: PathBuf,
    extra_conf: Vec<PathBuf>,
}

pub struct Cloud {
    pub id: String,
    /// Keystone's URL (`.../v3`) when the cloud authenticates with Keystone.
    pub keystone: Option<String>,
    /// Tokens (or `user:project` with noauth2) of the admin, demo and alt_demo users.
    pub admin: String,
    pub demo: String,
    pub alt: String,
    pub admin_project: String,
    pub demo_project: String,
    pub dir: PathBuf,
    pub api: String,
    /// The metadata service's URL (`http://127.0.0.1:<metadata_listen_port>`).
    pub metadata: String,
    /// The EC2 API's endpoint (`http://127.0.0.1:<port>`; `enabled_apis` has `ec2`).
    pub ec2: String,
    pub glance: String,
    pub image_id: String,
    pub db: String,
    pub vhost: String,
    /// The nova.conf every daemon reads.
    pub conf: PathBuf,
    /// `[database] connection`: read by nova-conductor and nova-manage only.
    pub controller_conf: PathBuf,
    /// Compute hosts' broker users, deleted with the cloud.
    broker_users: Vec<String>,
    pub daemons: Vec<Daemon>,
    pub http: reqwest::Client,
}

/// A compute host of a test cloud: its name, `compute_driver` and extra config (INI text).
#[derive(Clone, Debug)]
pub struct ComputeHost {
    pub host: String,
    pub driver: &'static str,
    pub conf: String,
}

impl ComputeHost {
    pub fn fake(host: String, conf: &str) -> Self {
        ComputeHost {
            host,
            driver: "fake.FakeDriver",
            conf: conf.to_string(),
        }
    }
}

/// The compute hosts a test cloud runs: (host name, compute_driver).
pub fn compute_hosts(id: &str) -> Vec<(String, &'static str)> {
    vec![
        (format!("e2e-fake-{id}"), "fake.FakeDriver"),
        (format!("e2e-libvirt-{id}"), "libvirt.LibvirtDriver"),
    ]
}

impl Cloud {
    /// The standard test cloud: Keystone, one fake and one libvirt (test driver) compute.
    pub async fn start() -> Cloud {
        Cloud::start_with(compute_hosts, true).await
    }

    /// A cloud with the given compute hosts (host name, compute_driver), with
    /// Keystone (and a Keystone-protected Glance) or with noauth2.
    pub async fn start_with(
        computes: impl Fn(&str) -> Vec<(String, &'static str)>,
        with_keystone: bool,
    ) -> Cloud {
        Cloud::start_full(computes, with_keystone, "").await
    }

    /// As `start_with`, adding `extra_compute_conf` (INI text) to every compute's config.
    pub async fn start_full(
        computes: impl Fn(&str) -> Vec<(String, &'static str)>,
        with_keystone: bool,
        extra_compute_conf: &str,
    ) -> Cloud {
        Cloud::start_hosts(
            |id| {
                computes(id)
                    .into_iter()
                    .map(|(host, driver)| ComputeHost {
                        host,
                        driver,
                        conf: extra_compute_conf.to_string(),
                    })
                    .collect()
            },
            with_keystone,
        )
        .await
    }

    /// A cloud with the given compute hosts, each with its own extra config.
    /// Returns once nova-api answers and nova-scheduler knows every compute node.
    pub async fn start_hosts(
        computes: impl Fn(&str) -> Vec<ComputeHost>,
        with_keystone: bool,
    ) -> Cloud {
        let id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        let dir = std::env::temp_dir().join(format!("nova-e2e-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let db = format!("nova_e2e_{id}");
        let vhost = format!("nova_e2e_{id}");
        psql(&format!("CREATE DATABASE {db}"));
        run(Command::new("rabbitmqctl").args(["-q", "add_vhost", &vhost]));
        run(Command::new("rabbitmqctl").args([
            "-q",
            "set_permissions",
            "-p",
            &vhost,
            "guest",
            ".*",
            ".*",
            ".*",
        ]));

        let gport = free_port();
        let api_port = free_port();
        // The metadata service: guests on this cloud's bridge reach it
        // through nova-network's REDIRECT of 169.254.169.254:80 to this port.
        let meta_port = free_port();
        let ec2_port = free_port();
        let glance = format!("http://127.0.0.1:{gport}");
        let http = reqwest::Client::new();
        // Keystone first (the services' users must exist before Glance validates tokens).
        let keystone = with_keystone.then(|| {
            let kport = free_port();
            let url = format!("http://127.0.0.1:{kport}/v3");
            run(Command::new("bash")
                .env("KEYSTONE_PASSWORD_HASH_ROUNDS", "4")
                // Its own PostgreSQL database, dropped with the cloud (keystone.sh destroy).
                .env("KEYSTONE_DB_NAME", format!("keystone_e2e_{id}"))
                .arg(workspace_root().join("deploy/lib/keystone.sh"))
                .args([
                    "start",
                    dir.join("keystone").to_str().unwrap(),
                    &kport.to_string(),
                ]));
            run(Command::new("bash")
                .env("CLOUDS_YAML", dir.join("clouds.yaml"))
                .arg(workspace_root().join("deploy/lib/cloud-setup.sh"))
                .args([&url, &format!("http://127.0.0.1:{api_port}/v2.1"), &glance]));
            url
        });
        // Glance, from the venv made by deploy/install.sh.
        let mut g = Command::new("bash");
        if let Some(k) = &keystone {
            g.env("GLANCE_KEYSTONE_URL", k);
        }
        run(g.arg(workspace_root().join("deploy/lib/glance.sh")).args([
            "start",
            dir.join("glance").to_str().unwrap(),
            &gport.to_string(),
        ]));
        let (admin, admin_project, demo, demo_project, alt) = match &keystone {
            Some(k) => {
                let (a, ap) = keystone_token(&http, k, "admin", "admin", "admin").await;
                let (d, dp) = keystone_token(&http, k, "demo", "demo", "demo").await;
                let (t, _) = keystone_token(&http, k, "alt_demo", "alt_demo", "alt_demo").await;
                (a, ap, d, dp, t)
            }
            None => (
                "admin:admin".to_string(),
                "admin".to_string(),
                "demo:demo".to_string(),
                "demo".to_string(),
                "alt_demo:alt_demo".to_string(),
            ),
        };
        let image_id = upload_image(
            &http,
            &glance,
            "e2e-image",
            keystone.as_ref().map(|_| admin.as_str()),
        )
        .await;
        let auth = match &keystone {
            Some(k) => format!(
                "[api]\nauth_strategy = keystone\n[keystone_authtoken]\nwww_authenticate_uri = {k}\nauth_url = {k}\n\
                 username = nova\npassword = nova\nproject_name = service\ntoken_cache_time = 3\n"
            ),
            None => "[api]\nauth_strategy = noauth2\n".to_string(),
        };
        // The metadata tests ask for other addresses with X-Forwarded-For.
        let auth = format!("{auth}[api]\nuse_forwarded_for = true\n");

        let conf = dir.join("nova.conf");
        std::fs::write(
            &conf,
            format!(
                "[DEFAULT]\nhost = e2e-ctl-{id}\nstate_path = {state}\ntransport_url = rabbit://guest:guest@127.0.0.1:5672/{vhost}\n\
                 report_interval = 1\nservice_down_time = 6\ndebug = {debug}\nrpc_response_timeout = 30\ngraceful_shutdown_timeout = 10\n\
                 update_resources_interval = 5\nosapi_compute_listen = 127.0.0.1\nosapi_compute_listen_port = {api_port}\n\
                 metadata_listen_port = {meta_port}\nmetadata_host = 127.0.0.1\nmetadata_port = {meta_port}\n\
                 enabled_apis = osapi_compute,metadata,ec2\nec2_listen = 127.0.0.1\nec2_listen_port = {ec2_port}\n\
                 compute_driver = fake.FakeDriver\nflat_network_bridge = {bridge}\n\
                 instance_name_template = {prefix}-%08x\n\
                 {auth}\
                 [glance]\napi_servers = {glance}\nnum_retries = 0\n\
                 [libvirt]\nvirt_type = qemu\nconnection_uri = test:///default\n\
                 [scheduler]\nperiodic_task_interval = 1\n\
                 [filter_scheduler]\nenabled_filters = {filters}\n\
                 [vnc]\nnovncproxy_host = 127.0.0.1\nnovncproxy_port = {vnc}\n\
                 novncproxy_base_url = http://127.0.0.1:{vnc}/vnc_auto.html\n",
                state = dir.join("state").display(),
                bridge = bridge_name(&id),
                prefix = instance_name_prefix(&id),
                debug = std::env::var("NOVA_E2E_DEBUG").is_ok(),
                vnc = free_port(),
                // The default chain and the hints' filters, as DevStack enables them.
                filters = E2E_ENABLED_FILTERS,
            ),
        )
        .unwrap();
        let controller_conf = dir.join("controller.conf");
        std::fs::write(
            &controller_conf,
            format!("[database]\nconnection = {}\n", db_url(&db)),
        )
        .unwrap();
        let manage = |args: &[&str]| {
            run(Command::new(bin_path("nova-manage"))
                .arg("--config-file")
                .arg(&conf)
                .arg("--config-file")
                .arg(&controller_conf)
                .args(args))
        };
        manage(&["db", "sync"]);
        // NOVA_E2E_FIXED_RANGE: a larger range for benchmarks (a /24 holds 253 guests);
        // otherwise the cloud's own /24 (fixed_range).
        let range = std::env::var("NOVA_E2E_FIXED_RANGE").unwrap_or_else(|_| fixed_range(&id));
        let prefix: u32 = range
            .rsplit('/')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("NOVA_E2E_FIXED_RANGE is a CIDR");
        let size = (1u64 << (32 - prefix)).to_string();
        manage(&[
            "network",
            "create",
            "--label",
            "private",
            "--fixed_range_v4",
            &range,
            "--network_size",
            &size,
        ]);

        let mut cloud = Cloud {
            id: id.clone(),
            keystone,
            admin,
            demo,
            alt,
            admin_project,
            demo_project,
            api: format!("http://127.0.0.1:{api_port}/v2.1"),
            metadata: format!("http://127.0.0.1:{meta_port}"),
            ec2: format!("http://127.0.0.1:{ec2_port}"),
            glance,
            image_id,
            db,
            vhost,
            conf: conf.clone(),
            controller_conf: controller_conf.clone(),
            broker_users: vec![],
            dir,
            daemons: vec![],
            http,
        };
        cloud.spawn(
            "nova-conductor",
            "nova-conductor",
            std::slice::from_ref(&controller_conf),
        );
        for d in ["nova-scheduler", "nova-api", "nova-novncproxy"] {
            cloud.spawn(d, d, &[]);
        }
        // nova-network turns IPv4 forwarding on and puts 169.254.169.254 on
        // lo; the last cloud to go puts back what was off (host_net).
        host_net::hold(&id);
        let network = cloud.iptables_binary("nova-network", None);
        cloud.spawn_as("nova-network", "nova-network", &network, &[]);
        let mut hosts = vec![];
        for (n, c) in computes(&id).into_iter().enumerate() {
            let over = cloud.compute_conf(&c.host, c.driver, &c.conf);
            let program = cloud.iptables_binary("nova-compute", Some(n));
            cloud.spawn_as(
                &format!("nova-compute@{}", c.host),
                "nova-compute",
                &program,
                &[over],
            );
            hosts.push(c.host);
        }
        cloud.wait_for_api().await;
        cloud.wait_for_scheduler_hosts(&hosts).await;
        cloud
    }

    /// Compute host `host`'s override file: its name and driver, `extra`, and
    /// the lines `nova-manage rabbit create_compute_user` prints (its own
    /// broker user in this cloud's vhost). No database connection. Written
    /// again (with a new broker password) for a host that has one: a restart
    /// of that compute reads it.
    pub fn compute_conf(&mut self, host: &str, driver: &str, extra: &str) -> PathBuf {
        let lines = run(Command::new(bin_path("nova-manage"))
            .arg("--config-file")
            .arg(&self.conf)
            .args(["rabbit", "create_compute_user", host]));
        let user = nova_common::trust::compute_user(host);
        if !self.broker_users.contains(&user) {
            self.broker_users.push(user);
        }
        let over = self.dir.join(format!("{host}.conf"));
        std::fs::write(
            &over,
            format!("[DEFAULT]\nhost = {host}\ncompute_driver = {driver}\n{extra}\n{lines}"),
        )
        .unwrap();
        over
    }

    /// Wait until nova-scheduler has these compute hosts in its host states
    /// (it logs each compute node it adds).
    pub async fn wait_for_scheduler_hosts(&self, hosts: &[String]) {
        self.wait_for("nova-scheduler to know every compute host", 60, || async {
            let log = self.log("nova-scheduler");
            hosts
                .iter()
                .all(|h| log.contains(&format!("node={h}/")))
                .then_some(())
        })
        .await;
    }

    /// The program nova-network (`compute: None`) or the `n`th nova-compute
    /// of this cloud runs as: a symlink in the cloud's directory named
    /// `e2e<id>-net` / `e2e<id>-c<n>` (≤ 16 characters). Nova names its
    /// iptables chains after the program (`<name>-PREROUTING`, ...), so each
    /// test cloud's daemons own their own chains and never rewrite those of
    /// another cloud or of an all-in-one's `nova-network-*` on this host.
    fn iptables_binary(&self, binary: &str, compute: Option<usize>) -> PathBuf {
        let name = iptables_binary_name(&self.id, compute);
        let bin = self.dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let link = bin.join(&name);
        if !link.exists() {
            std::os::unix::fs::symlink(bin_path(binary), &link).unwrap();
        }
        link
    }

    fn spawn(&mut self, name: &str, binary: &str, extra_conf: &[PathBuf]) {
        self.spawn_as(name, binary, &bin_path(binary), extra_conf)
    }

    fn spawn_as(&mut self, name: &str, binary: &str, program: &Path, extra_conf: &[PathBuf]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{name}.log")))
            .unwrap();
        let mut cmd = Command::new(program);
        cmd.arg("--config-file").arg(&self.conf);
        for c in extra_conf {
            cmd.arg("--config-file").arg(c);
        }
        let child = cmd
            .env(
                "RUST_LOG",
                // The harness waits for the scheduler's "compute node added" line,
                // whatever level the caller asked for.
                format!(
                    "{},nova_scheduler::host_manager=info",
                    std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into())
                ),
            )
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.daemons.push(Daemon {
            name: name.to_string(),
            child,
            binary: binary.to_string(),
            program: program.to_path_buf(),
            extra_conf: extra_conf.to_vec(),
        });
    }

    /// Start another process of `binary` as daemon `name`, with `extra`
    /// (INI text) after the cloud's configuration (a second nova-api on a
    /// port of its own, say).
    pub fn spawn_extra(&mut self, name: &str, binary: &str, extra: &str) {
        let file = self.dir.join(format!("{name}.extra.conf"));
        std::fs::write(&file, extra).unwrap();
        self.spawn(name, binary, &[file]);
    }

    /// Start a second nova-api (daemon `nova-api-2`, the compute API only, on
    /// a port of its own) on the same conductor, and wait until it answers;
    /// its `/v2.1` base URL.
    pub async fn spawn_second_api(&mut self) -> String {
        let port = free_port();
        self.spawn_extra(
            "nova-api-2",
            "nova-api",
            &format!(
                "[DEFAULT]\nenabled_apis = osapi_compute\nosapi_compute_listen_port = {port}\n"
            ),
        );
        let api = format!("http://127.0.0.1:{port}/v2.1");
        self.wait_for("the second nova-api", 30, || async {
            let r = self
                .http
                .get(format!("{api}/flavors"))
                .header("X-Auth-Token", &self.admin)
                .send()
                .await;
            r.is_ok_and(|r| r.status().is_success()).then_some(())
        })
        .await;
        api
    }

    /// SIGKILL a daemon and start it again with the same configuration.
    pub fn restart(&mut self, name: &str) {
        let pos = self.daemons.iter().position(|d| d.name == name).unwrap();
        let mut d = self.daemons.remove(pos);
        d.child.kill().unwrap();
        d.child.wait().unwrap();
        self.spawn_as(name, &d.binary, &d.program, &d.extra_conf);
    }

    /// Stop daemon `name` and start it again with `extra` (INI text) as one
    /// more config file after its own, e.g. nova-network with its own
    /// `public_interface`.
    pub fn restart_with_conf(&mut self, name: &str, extra: &str) {
        let file = self.dir.join(format!("{name}.extra.conf"));
        std::fs::write(&file, extra).unwrap();
        let pos = self.daemons.iter().position(|d| d.name == name).unwrap();
        let mut d = self.daemons.remove(pos);
        let _ = d.child.kill();
        d.child.wait().unwrap();
        let mut confs = d.extra_conf.clone();
        if !confs.contains(&file) {
            confs.push(file);
        }
        self.spawn_as(name, &d.binary, &d.program, &confs);
    }

    /// `nova-manage <args>` against this cloud's database: (success, stdout, stderr).
    pub fn nova_manage(&self, args: &[&str]) -> (bool, String, String) {
        let (code, out, err) = self.nova_manage_code(args);
        (code == 0, out, err)
    }

    /// `nova-manage <args>`: (exit code, stdout, stderr).
    pub fn nova_manage_code(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(bin_path("nova-manage"))
            .arg("--config-file")
            .arg(&self.conf)
            .arg("--config-file")
            .arg(&self.controller_conf)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    /// The iptables chain prefixes of this cloud's daemons (the names they run as).
    pub fn iptables_binaries(&self) -> Vec<String> {
        self.daemons
            .iter()
            .filter_map(|d| d.program.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!("e2e{}", self.id)))
            .collect()
    }

    pub async fn wait_for_api(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self.http.get(self.api.clone()).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "nova-api did not come up; see {}",
                self.dir.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `openstack/latest/meta_data.json` of the server holding `fixed_ip`,
    /// from this cloud's metadata service as that guest would read it
    /// (found by `X-Forwarded-For`).
    pub async fn guest_meta_data(&self, fixed_ip: &str) -> Value {
        self.http
            .get(format!("{}/openstack/latest/meta_data.json", self.metadata))
            .header("X-Forwarded-For", fixed_ip)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// A request as `user:project` (noauth2), optionally at a microversion.
    pub async fn req(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, _, body) = send(self, method, path, token, None, body).await;
        (status, body)
    }

    /// `requests` POSTs of `per_request` servers each (flavor 1, no network,
    /// microversion 2.37), all at once, as the admin: their (status, body).
    pub fn boot_concurrently(
        &self,
        name: &str,
        requests: usize,
        per_request: usize,
    ) -> Vec<tokio::task::JoinHandle<(u16, Value)>> {
        (0..requests)
            .map(|r| {
                let http = self.http.clone();
                let url = format!("{}/servers", self.api);
                let token = self.admin.clone();
                let body = json!({"server": {"name": format!("{name}-{r}"), "imageRef": self.image_id,
                    "flavorRef": "1", "networks": "none", "min_count": per_request, "max_count": per_request}});
                tokio::spawn(async move {
                    let resp = http
                        .post(url)
                        .header("X-Auth-Token", token)
                        .header("OpenStack-API-Version", "compute 2.37")
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    let status = resp.status().as_u16();
                    let text = resp.text().await.unwrap_or_default();
                    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
                })
            })
            .collect()
    }

    /// Lift the project's instance, core and RAM quotas (as admin).
    pub async fn unlimited_quota(&self, project: &str) {
        let (s, b) = self
            .req(
                reqwest::Method::PUT,
                &format!("/os-quota-sets/{project}"),
                &self.admin,
                Some(json!({"quota_set": {"instances": -1, "cores": -1, "ram": -1}})),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }

    /// Every server the admin sees, with details (`all_tenants`).
    pub async fn all_servers(&self) -> Vec<Value> {
        let (s, b) = self
            .get("/servers/detail?all_tenants=1&limit=1000", &self.admin)
            .await;
        assert_eq!(s, 200, "{b}");
        b["servers"].as_array().cloned().unwrap_or_default()
    }

    /// Wait until none of the `expected` servers is building any more; all of them.
    pub async fn wait_for_builds(&self, expected: usize, secs: u64) -> Vec<Value> {
        self.wait_for(
            &format!("{expected} servers to finish building"),
            secs,
            || async {
                let all = self.all_servers().await;
                let settled = all.len() == expected
                    && all
                        .iter()
                        .all(|s| s["status"] != "BUILD" && s["OS-EXT-STS:task_state"].is_null());
                settled.then_some(all)
            },
        )
        .await
    }

    /// The latest instance action of server `id` named `name` (as
    /// `os-instance-actions` lists it): its events, each as (event name,
    /// whether it has finished). Empty if there is no such action yet.
    pub async fn action_events(&self, id: &str, name: &str) -> Vec<(String, bool)> {
        let (s, b) = self
            .get(&format!("/servers/{id}/os-instance-actions"), &self.admin)
            .await;
        assert_eq!(s, 200, "{b}");
        let Some(req) = b["instanceActions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["action"] == name)
            .and_then(|a| a["request_id"].as_str())
        else {
            return vec![];
        };
        let (s, b) = self
            .get(
                &format!("/servers/{id}/os-instance-actions/{req}"),
                &self.admin,
            )
            .await;
        assert_eq!(s, 200, "{b}");
        b["instanceAction"]["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| {
                (
                    e["event"].as_str().unwrap_or_default().to_string(),
                    !e["finish_time"].is_null(),
                )
            })
            .collect()
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.req(reqwest::Method::GET, path, token, None).await
    }

    /// Poll until `f` gives Some, or fail after `secs`.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, secs: u64, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = f().await {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; logs in {}",
                self.dir.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The process id of a running daemon.
    pub fn pid(&self, name: &str) -> u32 {
        self.daemons
            .iter()
            .find(|d| d.name == name)
            .unwrap()
            .child
            .id()
    }

    /// Resident memory of a running daemon, in KiB.
    pub fn rss_kib(&self, name: &str) -> u64 {
        let d = self.daemons.iter().find(|d| d.name == name).unwrap();
        std::fs::read_to_string(format!("/proc/{}/status", d.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Run the `openstack` CLI (python-openstackclient from the project's venv)
    /// as one of the clouds of the generated clouds.yaml: (success, stdout, stderr).
    pub fn openstack(&self, cloud: &str, args: &[&str]) -> (bool, String, String) {
        let venv = std::env::var("NOVA_VENV").unwrap_or_else(|_| "/opt/nova-rs/venv".into());
        let out = Command::new(format!("{venv}/bin/openstack"))
            .env("OS_CLIENT_CONFIG_FILE", self.dir.join("clouds.yaml"))
            .env("OS_CLOUD", cloud)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    /// `openstack ...` that must succeed; its stdout.
    pub fn osc(&self, cloud: &str, args: &[&str]) -> String {
        let (ok, out, err) = self.openstack(cloud, args);
        assert!(
            ok,
            "openstack {args:?} as {cloud} failed:\n{out}\n{err}\napi log tail: {}",
            tail(&self.log("nova-api"), 30)
        );
        out
    }

    /// Stop or start this cloud's Keystone.
    pub fn keystone_ctl(&self, action: &str) {
        let mut args = vec![
            action.to_string(),
            self.dir.join("keystone").display().to_string(),
        ];
        if action == "start" {
            let port = self
                .keystone
                .as_ref()
                .unwrap()
                .trim_end_matches("/v3")
                .rsplit(':')
                .next()
                .unwrap()
                .to_string();
            args.push(port);
        }
        run(Command::new("bash")
            .arg(workspace_root().join("deploy/lib/keystone.sh"))
            .args(&args));
    }

    pub fn kill(&mut self, name: &str) {
        let d = self.daemons.iter_mut().find(|d| d.name == name).unwrap();
        d.child.kill().unwrap();
        d.child.wait().unwrap();
    }

    /// SIGTERM every daemon still running; their exit statuses.
    pub fn terminate_all(&mut self) -> Vec<(String, ExitStatus)> {
        for d in &self.daemons {
            let _ = Command::new("kill")
                .args(["-TERM", &d.child.id().to_string()])
                .status();
        }
        let mut out = vec![];
        for d in &mut self.daemons {
            let deadline = Instant::now() + Duration::from_secs(30);
            let status = loop {
                match d.child.try_wait() {
                    Ok(Some(s)) => break s,
                    _ if Instant::now() > deadline => {
                        let _ = d.child.kill();
                        break d.child.wait().unwrap();
                    }
                    _ => std::thread::sleep(Duration::from_millis(50)),
                }
            };
            out.push((d.name.clone(), status));
        }
        out
    }
}

/// The cloud Tempest runs against (tests/tests/tempest.rs,
/// `--example tempest_cloud`): Keystone (on PostgreSQL) and Glance, every
/// daemon, two compute hosts with the fake driver (servers are cheap; two
/// hosts give the host, hypervisor and migration APIs something to list).
/// `[filter_scheduler] enabled_filters` of every test cloud: the default
/// chain and the filters of the `same_host`/`different_host` hints.
pub const E2E_ENABLED_FILTERS: &str = "RetryFilter,AvailabilityZoneFilter,ComputeFilter,RamFilter,CoreFilter,DiskFilter,ComputeCapabilitiesFilter,ImagePropertiesFilter,ServerGroupAntiAffinityFilter,ServerGroupAffinityFilter,DifferentHostFilter,SameHostFilter";

pub async fn start_tempest_cloud() -> Cloud {
    Cloud::start_with(
        |id| {
            vec![
                (format!("tempest-a-{id}"), "fake.FakeDriver"),
                (format!("tempest-b-{id}"), "fake.FakeDriver"),
            ]
        },
        true,
    )
    .await
}

/// `bash tests/tempest/run.sh --auth-url <Keystone> --image-ref <image>
/// --workspace <dir> <extra...>` against `cloud`: (exit code, stdout+stderr).
pub fn run_tempest(cloud: &Cloud, workspace: &Path, extra: &[&str]) -> (i32, String) {
    let keystone = cloud.keystone.as_deref().expect("Tempest needs Keystone");
    let out = Command::new("bash")
        .arg(workspace_root().join("tests/tempest/run.sh"))
        .args(["--auth-url", keystone, "--image-ref", &cloud.image_id])
        .args(["--scheduler-filters", E2E_ENABLED_FILTERS])
        .arg("--workspace")
        .arg(workspace)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A project-scoped password token: (token, project id).
pub async fn keystone_token(
    http: &reqwest::Client,
    keystone: &str,
    user: &str,
    password: &str,
    project: &str,
) -> (String, String) {
    let resp = http
        .post(format!("{keystone}/auth/tokens?nocatalog"))
        .json(&json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201, "token for {user}");
    let token = resp.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = resp.json().await.unwrap();
    (
        token,
        body["token"]["project"]["id"].as_str().unwrap().to_string(),
    )
}

pub async fn upload_image(
    http: &reqwest::Client,
    glance: &str,
    name: &str,
    token: Option<&str>,
) -> String {
    upload_image_as(http, glance, name, token, "raw", "bare").await
}

/// A public 64 KiB image of the given disk and container formats (an AMI
/// kernel is `aki`/`aki`, its ramdisk `ari`/`ari`); its id.
pub async fn upload_image_as(
    http: &reqwest::Client,
    glance: &str,
    name: &str,
    token: Option<&str>,
    disk_format: &str,
    container_format: &str,
) -> String {
    let auth = |r: reqwest::RequestBuilder| match token {
        Some(t) => r.header("X-Auth-Token", t),
        None => r,
    };
    let r: Value = auth(http.post(format!("{glance}/v2/images")))
        .json(&json!({"name": name, "disk_format": disk_format,
            "container_format": container_format, "visibility": "public"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = r["id"].as_str().unwrap().to_string();
    let resp = auth(http.put(format!("{glance}/v2/images/{id}/file")))
        .header("Content-Type", "application/octet-stream")
        .body(vec![0u8; 65536])
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "image upload: {}",
        resp.status()
    );
    id
}

impl Drop for Cloud {
    fn drop(&mut self) {
        for d in &mut self.daemons {
            let _ = d.child.kill();
            let _ = d.child.wait();
        }
        let _ = Command::new("bash")
            .arg(workspace_root().join("deploy/lib/glance.sh"))
            .args(["stop", self.dir.join("glance").to_str().unwrap_or_default()])
            .output();
        kill_dnsmasqs(&self.dir.join("state"));
        // Guests a failed test left running on the host's libvirtd.
        destroy_guests(&instance_name_prefix(&self.id));
        // The iptables rules and chains of this cloud's daemons (the shared
        // nova-filter-top / nova-postrouting-bottom go only when no one else
        // has rules in them).
        for binary in self.iptables_binaries() {
            if let Err(e) = nova_linux_net::iptables::remove_binary(&binary) {
                eprintln!("cannot remove the iptables rules of {binary}: {e}");
            }
        }
        host_net::release(&self.id);
        // The bridge nova-network (and a real-guest compute) made for this run's network.
        let _ = Command::new("ip")
            .args(["link", "del", &bridge_name(&self.id)])
            .output();
        if self.keystone.is_some() {
            let _ = Command::new("bash")
                .arg(workspace_root().join("deploy/lib/keystone.sh"))
                .args([
                    "destroy",
                    self.dir.join("keystone").to_str().unwrap_or_default(),
                ])
                .output();
        }
        let _ = psql_command(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db)).output();
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "delete_vhost", &self.vhost])
            .output();
        for user in &self.broker_users {
            let _ = Command::new("rabbitmqctl")
                .args(["-q", "delete_user", user])
                .output();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The URL of database `db` for the project's own PostgreSQL role
/// (`deploy/lib/postgres.sh`, set up by `deploy/install.sh`), or under
/// `NOVA_TEST_DB_URL` (a server URL without the database, e.g.
/// `postgresql://nova:secret@127.0.0.1:5432`) when set.
pub fn db_url(db: &str) -> String {
    static BASE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let base = BASE.get_or_init(|| match std::env::var("NOVA_TEST_DB_URL") {
        Ok(u) => u.trim_end_matches('/').to_string(),
        Err(_) => {
            let url = run_script("deploy/lib/postgres.sh", &["url", "postgres"]);
            url.trim().trim_end_matches("/postgres").to_string()
        }
    });
    format!("{base}/{db}")
}

/// psql as the project's role, running one SQL command against the `postgres` database.
fn psql_command(sql: &str) -> Command {
    let mut c = Command::new("psql");
    c.args(["-X", "-q", "-d", &db_url("postgres"), "-c", sql]);
    c
}

fn psql(sql: &str) {
    run(&mut psql_command(sql));
}

/// Hypervisor names of this cloud's guests (`instance_name_template`), unique per
/// run so that tests never collide with another cloud on the same libvirtd.
pub fn instance_name_prefix(id: &str) -> String {
    format!("e2e{id}")
}

/// A cloud with one real QEMU compute host (`qemu:///system`; libvirtd
/// started and the project's tiny guest built by the deploy scripts), its
/// compute config extended by `extra_compute_conf`, returned once the host
/// is up; with the tiny guest's files (`disk.qcow2`, `vmlinuz`, `initrd.gz`).
pub async fn start_real_guest_cloud(
    with_keystone: bool,
    extra_compute_conf: &str,
) -> (Cloud, PathBuf) {
    start_real_guest_cloud_hosts(1, with_keystone, extra_compute_conf).await
}

/// As [`start_real_guest_cloud`], with `hosts` real compute hosts
/// (`qemu-<id>`, `qemu2-<id>`, ...) sharing `qemu:///system` and the
/// cloud's bridge, each with its own `instances_path` (for resize and
/// migration between them); returned once every one is up.
pub async fn start_real_guest_cloud_hosts(
    hosts: usize,
    with_keystone: bool,
    extra_compute_conf: &str,
) -> (Cloud, PathBuf) {
    let conf = format!(
        "{extra_compute_conf}\n[libvirt]\nvirt_type = qemu\nconnection_uri = qemu:///system\n"
    );
    start_real_guest_cloud_confs(&vec![conf; hosts], with_keystone).await
}

/// Two real compute hosts on two hypervisors: `qemu-<id>` on
/// `qemu:///system`, `qemu2-<id>` on the second libvirtd of this machine
/// (`tests/second-libvirt.sh`), each one's live migrations sent to the
/// other's socket (`live_migration_uri`) with the migration stream on
/// 127.0.0.1 (`live_migration_inbound_addr`); `extra_libvirt_conf` added to
/// both hosts' `[libvirt]`.
pub async fn start_two_hypervisor_cloud(
    with_keystone: bool,
    extra_libvirt_conf: &str,
) -> (Cloud, PathBuf) {
    start_two_hypervisor_cloud_with(with_keystone, extra_libvirt_conf, ["", ""]).await
}

/// As [`start_two_hypervisor_cloud`], with `extra_confs` (INI text) added
/// to the first and the second host's nova.conf.
pub async fn start_two_hypervisor_cloud_with(
    with_keystone: bool,
    extra_libvirt_conf: &str,
    extra_confs: [&str; 2],
) -> (Cloud, PathBuf) {
    run_script("deploy/lib/libvirt.sh", &["start"]);
    run_script("tests/second-libvirt.sh", &["start"]);
    let conf = |uri: &str, peer: &str, extra: &str| {
        format!(
            "[libvirt]\nvirt_type = qemu\nconnection_uri = {uri}\n\
             live_migration_uri = {peer}\nlive_migration_inbound_addr = 127.0.0.1\n\
             {extra_libvirt_conf}\n{extra}\n"
        )
    };
    start_real_guest_cloud_confs(
        &[
            conf("qemu:///system", SECOND_LIBVIRT_URI, extra_confs[0]),
            conf(
                SECOND_LIBVIRT_URI,
                FIRST_LIBVIRT_URI_FROM_SECOND,
                extra_confs[1],
            ),
        ],
        with_keystone,
    )
    .await
}

/// Real compute hosts (`qemu-<id>`, `qemu2-<id>`, ...), one per entry of
/// `confs` (its nova.conf additions, `[libvirt]` included), each with its
/// own `instances_path`, on the cloud's bridge; returned once every one is up.
async fn start_real_guest_cloud_confs(confs: &[String], with_keystone: bool) -> (Cloud, PathBuf) {
    run_script("deploy/lib/libvirt.sh", &["start"]);
    let guest = workspace_root().join("target/guest");
    run_script("deploy/lib/guest-image.sh", &[guest.to_str().unwrap()]);
    let hosts = confs.len();
    let cloud = Cloud::start_hosts(
        |id| {
            confs
                .iter()
                .enumerate()
                .map(|(n, conf)| {
                    let host = if n == 0 {
                        format!("qemu-{id}")
                    } else {
                        format!("qemu{}-{id}", n + 1)
                    };
                    let path = std::env::temp_dir()
                        .join(format!("nova-e2e-{id}"))
                        .join(format!("instances-{host}"));
                    ComputeHost {
                        conf: format!("[DEFAULT]\ninstances_path = {}\n{conf}", path.display()),
                        host,
                        driver: "libvirt.LibvirtDriver",
                    }
                })
                .collect()
        },
        with_keystone,
    )
    .await;
    cloud
        .wait_for("the compute hosts to be up", 60, || async {
            let (_, b) = cloud.get("/os-hypervisors", &cloud.admin).await;
            let up = b["hypervisors"]
                .as_array()
                .map(|h| h.iter().filter(|h| h["state"] == "up").count())
                .unwrap_or(0);
            (up == hosts).then_some(())
        })
        .await;
    (cloud, guest)
}

impl Cloud {
    /// Upload the tiny guest's qcow2 disk as a public image; its id.
    pub async fn upload_tiny_disk(&self, guest: &Path) -> String {
        upload_file(
            &self.http,
            &self.glance,
            &self.admin,
            json!({"name": "tiny-disk", "disk_format": "qcow2", "container_format": "bare", "visibility": "public"}),
            std::fs::read(guest.join("disk.qcow2")).unwrap(),
        )
        .await
    }

    /// The flavor `guest` the 128 MiB tiny guest fits (admin).
    pub async fn create_guest_flavor(&self) {
        let (s, b) = self
            .req(
                reqwest::Method::POST,
                "/flavors",
                &self.admin,
                Some(json!({"flavor": {"name": "guest", "id": "guest", "ram": 128, "vcpus": 1, "disk": 1}})),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
}

/// Run one of the project's scripts (path relative to the workspace), which must succeed.
pub fn run_script(script: &str, args: &[&str]) -> String {
    run(Command::new("bash")
        .arg(workspace_root().join(script))
        .args(args))
}

/// The name (≤ 16 characters, so `<name>-POSTROUTING` fits iptables' 28)
/// a test cloud's nova-network (`None`) or `n`th nova-compute runs as.
pub fn iptables_binary_name(id: &str, compute: Option<usize>) -> String {
    match compute {
        None => format!("e2e{id}-net"),
        Some(n) => format!("e2e{id}-c{n}"),
    }
}

/// The run's bridge (unique, so tests never touch a real host's br100).
pub fn bridge_name(id: &str) -> String {
    format!("nrs{}", &id[..6])
}

/// The first three octets of the run's fixed network, `10.20.<n>.`: each
/// cloud has its own /24 (from its id), so the clouds on one host never
/// share a gateway address or a dnsmasq listen address (unless
/// `NOVA_E2E_FIXED_RANGE` sets one range for the benchmarks).
pub fn fixed_prefix(id: &str) -> String {
    let n = u8::from_str_radix(&id[..2], 16).unwrap_or(0);
    format!("10.20.{n}.")
}

/// The run's fixed network (`nova-manage network create --fixed_range_v4`).
pub fn fixed_range(id: &str) -> String {
    format!("{}0/24", fixed_prefix(id))
}

/// Destroy and undefine the domains named `<prefix>-*` (this cloud's
/// `instance_name_template`) of `qemu:///system` and, when it runs, of the
/// second hypervisor ([`SECOND_LIBVIRT_URI`]): a test that fails before
/// deleting its servers must not leave QEMU running.
fn destroy_guests(prefix: &str) {
    let mut uris = vec!["qemu:///system".to_string()];
    if Path::new(SECOND_LIBVIRT_SOCKET).exists() {
        uris.push(SECOND_LIBVIRT_URI.to_string());
    }
    for uri in uris {
        let Ok(out) = Command::new("virsh")
            .args(["-c", &uri, "list", "--all", "--name"])
            .output()
        else {
            continue;
        };
        for name in String::from_utf8_lossy(&out.stdout).lines() {
            if name.starts_with(&format!("{prefix}-")) {
                for action in ["destroy", "undefine"] {
                    let _ = Command::new("virsh")
                        .args(["-c", &uri, action, name])
                        .output();
                }
            }
        }
    }
}

/// The socket of the second hypervisor `tests/second-libvirt.sh` runs.
pub const SECOND_LIBVIRT_SOCKET: &str = "/var/tmp/nova-rs-libvirt2/run/libvirt-sock";
/// Its URI.
pub const SECOND_LIBVIRT_URI: &str =
    "qemu+unix:///system?socket=/var/tmp/nova-rs-libvirt2/run/libvirt-sock";
/// The first hypervisor's URI as the second one reaches it (for a
/// migration back: the second runs in a mount namespace of its own).
pub const FIRST_LIBVIRT_URI_FROM_SECOND: &str =
    "qemu+unix:///system?socket=/var/tmp/nova-rs-libvirt2/host-run/libvirt-sock";

/// Stop the dnsmasq processes nova-network started for this cloud: their
/// pid files are in the cloud's `networks_path` (nova-network leaves
/// dnsmasq running when it stops, as Nova does).
fn kill_dnsmasqs(state: &Path) {
    let Ok(dir) = std::fs::read_dir(state.join("networks")) else {
        return;
    };
    for entry in dir.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "pid") {
            if let Ok(pid) = std::fs::read_to_string(&path) {
                let pid = pid.trim();
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains("dnsmasq") {
                    let _ = Command::new("kill").args(["-9", pid]).output();
                }
            }
        }
    }
}

/// Upload a file to Glance: (image id).
pub async fn upload_file(
    http: &reqwest::Client,
    glance: &str,
    token: &str,
    meta: Value,
    data: Vec<u8>,
) -> String {
    let r = http
        .post(format!("{glance}/v2/images"))
        .header("X-Auth-Token", token)
        .json(&meta)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "create image {meta}");
    let v: Value = r.json().await.unwrap();
    let id = v["id"].as_str().unwrap().to_string();
    let resp = http
        .put(format!("{glance}/v2/images/{id}/file"))
        .header("X-Auth-Token", token)
        .header("Content-Type", "application/octet-stream")
        .body(data)
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "upload {meta}: {}",
        resp.status()
    );
    id
}

pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A request at microversion `mv` ("2.1", "latest", ...): its status and
/// JSON body (`Null` when the body is not JSON).
pub async fn call(
    cloud: &Cloud,
    method: reqwest::Method,
    path: &str,
    token: &str,
    mv: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, _, body) = send(cloud, method, path, token, Some(mv), body).await;
    (status, body)
}

/// [`call`], with the answer's `Location` header.
pub async fn call_with_location(
    cloud: &Cloud,
    method: reqwest::Method,
    path: &str,
    token: &str,
    mv: &str,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    send(cloud, method, path, token, Some(mv), body).await
}

async fn send(
    cloud: &Cloud,
    method: reqwest::Method,
    path: &str,
    token: &str,
    mv: Option<&str>,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let mut r = cloud
        .http
        .request(method, format!("{}{path}", cloud.api))
        .header("X-Auth-Token", token);
    if let Some(mv) = mv {
        r = r.header("OpenStack-API-Version", format!("compute {mv}"));
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        location,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}
