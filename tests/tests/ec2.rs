//! The EC2 API on its own port, driven by the real, unmodified clients from
//! PyPI (boto3 and the AWS CLI from the project's venv) with EC2 credentials
//! made in the real Keystone (`openstack ec2 credentials create`): regions,
//! zones, key pairs, two instances with user data and boto3's waiters,
//! filters, tags and pagination, console output, the metadata service's EC2
//! ids, security groups and their rules (both request forms), an instance
//! launched into a group by id with a ClientToken sent twice, addresses over
//! nova-network's floating IPs (allocate within quota, associate, describe,
//! disassociate, release), stop/start/reboot, an image of an instance,
//! terminate; a kernel and ramdisk other than the image's; block device mappings (the instance type's own ephemeral
//! disk and swap by name; no snapshot, volume or other disk); signatures (SigV4 header and presigned, SigV2)
//! checked by Keystone, and refused when wrong, tampered with or expired;
//! another project's instance; malformed requests; Keystone down → 503.

#![allow(clippy::unwrap_used)]

use nova_e2e::{bridge_name, tail, workspace_root, Cloud};
use serde_json::Value;
use std::process::Command;

fn venv() -> String {
    std::env::var("NOVA_VENV").unwrap_or_else(|_| "/opt/nova-rs/venv".into())
}

/// `openstack ec2 credentials create` as one of the cloud's users: (access, secret).
fn ec2_credentials(cloud: &Cloud, user: &str) -> (String, String) {
    let v: Value =
        serde_json::from_str(&cloud.osc(user, &["ec2", "credentials", "create", "-f", "json"]))
            .unwrap();
    (
        v["access"].as_str().unwrap().to_string(),
        v["secret"].as_str().unwrap().to_string(),
    )
}

fn ssh_public_key(cloud: &Cloud) -> String {
    let key = cloud.dir.join("ec2-test-key");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "ec2-e2e", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::read_to_string(key.with_extension("pub"))
        .unwrap()
        .trim()
        .to_string()
}

/// Run the boto3 script in `mode`; its stdout (one JSON line of facts).
fn boto3(cloud: &Cloud, mode: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(format!("{}/bin/python", venv()))
        .arg(workspace_root().join("tests/ec2/boto3_client.py"))
        .arg(mode)
        .env("EC2_URL", &cloud.ec2)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The AWS CLI with a `~/.aws/credentials`-style file, as the README shows.
fn aws(cloud: &Cloud, creds: &std::path::Path, args: &[&str]) -> Value {
    let out = Command::new(format!("{}/bin/aws", venv()))
        .env("AWS_SHARED_CREDENTIALS_FILE", creds)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_DEFAULT_REGION", "nova")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["--endpoint-url", &cloud.ec2, "--output", "json", "ec2"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aws ec2 {args:?}: {}\n{}\napi log: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        tail(&cloud.log("nova-api"), 30)
    );
    if out.stdout.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_and_the_aws_cli_through_keystone_ec2_credentials() {
    let mut cloud = Cloud::start_with(
        |id| vec![(format!("ec2-fake-{id}"), "fake.FakeDriver")],
        true,
    )
    .await;
    let (access, secret) = ec2_credentials(&cloud, "demo");
    let (alt_access, alt_secret) = ec2_credentials(&cloud, "alt_demo");
    let (admin_access, admin_secret) = ec2_credentials(&cloud, "admin");
    let key = ssh_public_key(&cloud);
    // A floating range on this cloud's own bridge (never the host's), and
    // room for two addresses in the demo project.
    let bridge = bridge_name(&cloud.id);
    cloud.restart_with_conf(
        "nova-network",
        &format!("[DEFAULT]\npublic_interface = {bridge}\ndefault_floating_pool = public\n"),
    );
    let n = u8::from_str_radix(&cloud.id[..2], 16).unwrap();
    let prefix = format!("198.19.{n}.");
    let (ok, _, err) = cloud.nova_manage(&[
        "floating",
        "create",
        "--ip_range",
        &format!("{prefix}0/29"),
        "--pool",
        "public",
        "--interface",
        &bridge,
    ]);
    assert!(ok, "{err}");
    let (s, b) = cloud
        .req(
            reqwest::Method::PUT,
            &format!("/os-quota-sets/{}", cloud.demo_project),
            &cloud.admin,
            Some(serde_json::json!({"quota_set": {"floating_ips": 2}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    // A kernel and a ramdisk for RunInstances' KernelId and RamdiskId.
    let mut boot_with = vec![];
    for (name, format) in [("e2e-kernel", "aki"), ("e2e-ramdisk", "ari")] {
        let token = Some(cloud.admin.as_str());
        boot_with.push(
            nova_e2e::upload_image_as(&cloud.http, &cloud.glance, name, token, format, format)
                .await,
        );
    }
    let env = [
        ("EC2_ACCESS", access.as_str()),
        ("EC2_SECRET", secret.as_str()),
        ("ALT_ACCESS", alt_access.as_str()),
        ("ALT_SECRET", alt_secret.as_str()),
        ("ADMIN_ACCESS", admin_access.as_str()),
        ("ADMIN_SECRET", admin_secret.as_str()),
        ("SSH_PUBLIC_KEY", key.as_str()),
        ("METADATA_URL", cloud.metadata.as_str()),
        ("FLOATING_PREFIX", prefix.as_str()),
    ];

    let (ok, out, err) = boto3(&cloud, "full", &env);
    assert!(
        ok,
        "boto3 run failed:\n{out}\n{err}\napi log:\n{}",
        tail(&cloud.log("nova-api"), 60)
    );
    let facts: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let ami = facts["ami"].as_str().unwrap().to_string();
    assert_eq!(facts["tag_pages"], 2);
    // What EC2 did is what the compute API and nova-network see.
    let (s, groups) = cloud.get("/os-security-groups", &cloud.demo).await;
    assert_eq!(s, 200);
    let names: Vec<&str> = groups["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default"], "{groups}");
    let (s, fips) = cloud.get("/os-floating-ips", &cloud.demo).await;
    assert_eq!(
        (s, fips["floating_ips"].clone()),
        (200, serde_json::json!([]))
    );
    let address = facts["address"].as_str().unwrap();
    let (_, list, _) = cloud.nova_manage(&["floating", "list"]);
    assert!(
        list.contains(&format!("None\t{address}\tNone\tpublic\t")),
        "{address} is free again: {list}"
    );

    // The instance booted with KernelId and RamdiskId kept those images
    // (an admin's listing of deleted servers, filtered by kernel, 2.3).
    let (s, b) = nova_e2e::call(
        &cloud,
        reqwest::Method::GET,
        &format!(
            "/servers/detail?all_tenants=1&deleted=true&kernel_id={}",
            boot_with[0]
        ),
        &cloud.admin,
        "2.3",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let kept: Vec<_> = b["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["OS-EXT-SRV-ATTR:kernel_id"].as_str().unwrap(),
                v["OS-EXT-SRV-ATTR:ramdisk_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [(boot_with[0].as_str(), boot_with[1].as_str())],
        "{b}"
    );

    // The instances boto3 made are the compute API's servers: terminated, gone.
    let (s, servers) = cloud.get("/servers", &cloud.demo).await;
    assert_eq!(s, 200);
    assert_eq!(servers["servers"], serde_json::json!([]), "{servers}");

    // The AWS CLI, with the keys in a credentials file.
    let creds = cloud.dir.join("aws-credentials");
    std::fs::write(
        &creds,
        format!("[default]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\n"),
    )
    .unwrap();
    let regions = aws(&cloud, &creds, &["describe-regions"]);
    assert_eq!(regions["Regions"][0]["RegionName"], "nova", "{regions}");
    let sg = aws(
        &cloud,
        &creds,
        &["describe-security-groups", "--group-names", "default"],
    );
    assert!(
        sg["SecurityGroups"][0]["GroupId"]
            .as_str()
            .unwrap()
            .starts_with("sg-"),
        "{sg}"
    );
    // An instance type with an ephemeral disk and swap, both mapped by
    // name (`ephemeral0`, `swap`): the flavor's own disks, accepted.
    let (s, b) = cloud
        .req(
            reqwest::Method::POST,
            "/flavors",
            &cloud.admin,
            Some(
                serde_json::json!({"flavor": {"name": "m1.eph", "ram": 64, "vcpus": 1,
                "disk": 1, "swap": 64, "OS-FLV-EXT-DATA:ephemeral": 1, "id": "eph"}}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let run = aws(
        &cloud,
        &creds,
        &[
            "run-instances",
            "--image-id",
            &ami,
            "--count",
            "1",
            "--instance-type",
            "m1.eph",
            "--key-name",
            "ec2key",
            "--block-device-mappings",
            r#"[{"DeviceName": "/dev/vdb", "VirtualName": "ephemeral0"}, {"DeviceName": "/dev/vdc", "VirtualName": "swap"}]"#,
        ],
    );
    let id = run["Instances"][0]["InstanceId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(id.starts_with("i-"), "{run}");
    // Ids are never reused: this one comes after boto3's two.
    let earlier: Vec<&str> = facts["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(!earlier.contains(&id.as_str()), "{id} reused");
    aws(
        &cloud,
        &creds,
        &["wait", "instance-running", "--instance-ids", &id],
    );
    let desc = aws(
        &cloud,
        &creds,
        &["describe-instances", "--instance-ids", &id],
    );
    let inst = &desc["Reservations"][0]["Instances"][0];
    assert_eq!(inst["State"]["Name"], "running", "{desc}");
    assert_eq!(inst["ImageId"], ami.as_str(), "{desc}");
    assert_eq!(inst["InstanceType"], "m1.eph", "{desc}");
    let (s, servers) = cloud.get("/servers", &cloud.demo).await;
    assert_eq!(s, 200);
    assert_eq!(servers["servers"].as_array().unwrap().len(), 1, "{servers}");
    let term = aws(
        &cloud,
        &creds,
        &["terminate-instances", "--instance-ids", &id],
    );
    assert_eq!(term["TerminatingInstances"][0]["InstanceId"], id.as_str());
    aws(
        &cloud,
        &creds,
        &["wait", "instance-terminated", "--instance-ids", &id],
    );

    // Keystone down: the EC2 API answers 503 Unavailable, never lets anyone in.
    cloud.keystone_ctl("stop");
    let (ok, out, err) = boto3(&cloud, "keystone-down", &env);
    assert!(ok, "keystone-down run failed:\n{out}\n{err}");
    assert!(
        cloud
            .log("nova-api")
            .contains("cannot validate an EC2 signature"),
        "the 503 is logged with its cause"
    );
    let statuses = cloud.terminate_all();
    for (name, st) in statuses {
        assert!(st.success(), "{name} exited with {st}");
    }
}
