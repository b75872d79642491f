//! The metadata service over HTTP against a fake-driver cloud: the EC2 and
//! OpenStack trees of a server found by its fixed IP (`X-Forwarded-For`,
//! which the test clouds trust), its user data and key, 404 for an address
//! no instance has, and the metadata proxy's signed `X-Instance-ID`.
//! (tests/tests/real_guest.rs has a real guest read its own metadata.)

#![allow(clippy::unwrap_used)]

use base64::Engine;
use nova_e2e::{compute_hosts, Cloud};
use reqwest::Method;
use serde_json::{json, Value};

async fn md(cloud: &Cloud, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut r = cloud.http.get(format!("{}{path}", cloud.metadata));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ctype, resp.text().await.unwrap())
}

/// HMAC-SHA256 as hex, computed by Python's hmac (as neutron's metadata agent signs).
fn sign(secret: &str, msg: &str) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())",
            secret,
            msg,
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metadata_trees_of_a_server_found_by_its_address() {
    let mut cloud = Cloud::start_with(compute_hosts, false).await;
    let (s, kp) = cloud
        .req(
            Method::POST,
            "/os-keypairs",
            &cloud.demo,
            Some(json!({"keypair": {"name": "mdkey"}})),
        )
        .await;
    assert_eq!(s, 200, "{kp}");
    let public_key = kp["keypair"]["public_key"].as_str().unwrap().to_string();
    let user_data = "#!/bin/sh\necho hello metadata\n";
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.demo,
            Some(
                json!({"server": {"name": "md-one", "imageRef": cloud.image_id, "flavorRef": "1",
                "key_name": "mdkey", "metadata": {"role": "web"},
                "user_data": base64::engine::general_purpose::STANDARD.encode(user_data)}}),
            ),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let srv: Value = cloud
        .wait_for("md-one ACTIVE", 60, || async {
            let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.demo).await;
            assert_ne!(b["server"]["status"], "ERROR", "{b}");
            (b["server"]["status"] == "ACTIVE").then(|| b["server"].clone())
        })
        .await;
    let vif = &srv["addresses"]["private"][0];
    let ip = vif["addr"].as_str().unwrap().to_string();
    let mac = vif["OS-EXT-IPS-MAC:mac_addr"].as_str().unwrap().to_string();
    let xff = [("X-Forwarded-For", ip.as_str())];

    // The root lists the EC2 versions, for anyone.
    let (s, ctype, body) = md(&cloud, "/", &[]).await;
    assert_eq!((s, ctype.as_str()), (200, "text/plain; charset=UTF-8"));
    assert!(
        body.starts_with("1.0\n2007-01-19\n") && body.ends_with("2009-04-04\nlatest"),
        "{body}"
    );

    // EC2 tree.
    let (s, _, listing) = md(&cloud, "/latest/meta-data/", &xff).await;
    assert_eq!(s, 200, "{listing}");
    for entry in [
        "ami-id",
        "ami-launch-index",
        "hostname",
        "instance-id",
        "instance-type",
        "local-hostname",
        "local-ipv4",
        "placement/",
        "public-ipv4",
        "public-keys/",
        "reservation-id",
        "security-groups",
    ] {
        assert!(listing.lines().any(|l| l == entry), "{entry} in {listing}");
    }
    let get = |path: &'static str| {
        let cloud = &cloud;
        async move {
            let (s, _, b) = md(cloud, path, &xff).await;
            assert_eq!(s, 200, "{path}: {b}");
            b
        }
    };
    assert_eq!(get("/2009-04-04/meta-data/local-ipv4").await, ip);
    assert_eq!(get("/latest/meta-data/hostname").await, "md-one.novalocal");
    assert_eq!(
        get("/latest/meta-data/local-hostname").await,
        "md-one.novalocal"
    );
    assert_eq!(get("/latest/meta-data/instance-type").await, "m1.tiny");
    assert_eq!(get("/latest/meta-data/ami-launch-index").await, "0");
    assert_eq!(
        get("/latest/meta-data/placement/availability-zone").await,
        "nova"
    );
    assert_eq!(get("/latest/meta-data/public-ipv4").await, "");
    assert_eq!(get("/latest/meta-data/security-groups").await, "default");
    let iid = get("/latest/meta-data/instance-id").await;
    assert!(
        iid.len() == 10 && iid.starts_with("i-") && iid[2..].chars().all(|c| c.is_ascii_hexdigit()),
        "{iid}"
    );
    assert!(get("/latest/meta-data/ami-id").await.starts_with("ami-"));
    assert!(get("/latest/meta-data/reservation-id")
        .await
        .starts_with("r-"));
    assert_eq!(get("/latest/meta-data/public-keys/").await, "0=mdkey");
    assert_eq!(
        get("/latest/meta-data/public-keys/0/openssh-key").await,
        public_key
    );
    assert_eq!(get("/latest/user-data").await, user_data);

    // OpenStack tree.
    let versions = get("/openstack").await;
    assert!(
        versions.starts_with("2012-08-10\n") && versions.ends_with("\nlatest"),
        "{versions}"
    );
    let files = get("/openstack/latest").await;
    for f in [
        "meta_data.json",
        "user_data",
        "vendor_data.json",
        "network_data.json",
        "vendor_data2.json",
    ] {
        assert!(files.lines().any(|l| l == f), "{f} in {files}");
    }
    let (s, ctype, body) = md(&cloud, "/openstack/latest/meta_data.json", &xff).await;
    assert_eq!((s, ctype.as_str()), (200, "application/json"), "{body}");
    let j: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["uuid"], id.as_str());
    assert_eq!(j["name"], "md-one");
    assert_eq!(j["hostname"], "md-one.novalocal");
    assert_eq!(j["launch_index"], 0);
    assert_eq!(j["availability_zone"], "nova");
    assert_eq!(j["project_id"], cloud.demo_project.as_str());
    assert_eq!(j["meta"], json!({"role": "web"}));
    assert_eq!(j["public_keys"], json!({"mdkey": public_key}));
    assert_eq!(
        j["keys"],
        json!([{"name": "mdkey", "type": "ssh", "data": public_key}])
    );
    assert_eq!(j["devices"], json!([]));
    assert!(j["random_seed"].is_string());
    // A dated version cloud-init picks.
    let (s, _, body) = md(&cloud, "/openstack/2018-08-27/meta_data.json", &xff).await;
    assert_eq!(s, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["uuid"],
        id.as_str()
    );
    assert_eq!(get("/openstack/latest/user_data").await, user_data);
    assert_eq!(get("/openstack/latest/vendor_data.json").await, "{}");
    assert_eq!(
        get("/openstack/latest/vendor_data2.json").await,
        r#"{"static":{}}"#
    );
    let nd: Value =
        serde_json::from_str(&get("/openstack/latest/network_data.json").await).unwrap();
    assert_eq!(nd["links"][0]["ethernet_mac_address"], mac.as_str());
    assert_eq!(nd["links"][0]["id"], "interface0", "{nd}");
    assert_eq!(nd["networks"][0]["type"], "ipv4_dhcp");
    assert_eq!(nd["networks"][0]["link"], "interface0", "{nd}");
    // The network's dns1 ([DEFAULT] flat_network_dns when made).
    assert_eq!(
        nd["services"],
        json!([{"type": "dns", "address": "8.8.4.4"}]),
        "{nd}"
    );

    // Unknown paths and addresses: 404, with webob's body.
    let (s, _, _) = md(&cloud, "/latest/meta-data/nope", &xff).await;
    assert_eq!(s, 404);
    let (s, _, _) = md(&cloud, "/openstack/2011-01-01/meta_data.json", &xff).await;
    assert_eq!(s, 404);
    let (s, ctype, body) = md(
        &cloud,
        "/latest/meta-data/instance-id",
        &[
            ("X-Forwarded-For", "10.255.255.254"),
            ("Accept", "text/plain"),
        ],
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(ctype, "text/plain; charset=UTF-8");
    assert_eq!(
        body,
        "404 Not Found\n\nThe resource could not be found.\n\n   "
    );
    // A client accepting anything (curl, cloud-init's requests) gets webob's HTML.
    let (s, ctype, body) = md(
        &cloud,
        "/latest/meta-data/instance-id",
        &[("X-Forwarded-For", "10.255.255.254")],
    )
    .await;
    assert_eq!((s, ctype.as_str()), (404, "text/html; charset=UTF-8"));
    assert!(body.contains("<h1>404 Not Found</h1>"), "{body}");
    // The request's own address (127.0.0.1) is no instance's either.
    let (s, _, _) = md(&cloud, "/latest/meta-data/instance-id", &[]).await;
    assert_eq!(s, 404);
    // Without service_metadata_proxy an X-Instance-ID is ignored.
    let (s, _, _) = md(
        &cloud,
        "/openstack/latest/meta_data.json",
        &[("X-Instance-ID", id.as_str())],
    )
    .await;
    assert_eq!(s, 404);

    // Behind a metadata proxy: the signed X-Instance-ID of the instance's project.
    let mut conf = std::fs::read_to_string(&cloud.conf).unwrap();
    conf.push_str(
        "[neutron]\nservice_metadata_proxy = true\nmetadata_proxy_shared_secret = s3cret\n",
    );
    std::fs::write(&cloud.conf, conf).unwrap();
    cloud.restart("nova-api");
    let sig = sign("s3cret", &id);
    let proxy = |sig: String, tenant: Option<String>| {
        let mut h = vec![
            ("X-Instance-ID".to_string(), id.clone()),
            ("X-Instance-ID-Signature".to_string(), sig),
            ("X-Forwarded-For".to_string(), ip.clone()),
        ];
        if let Some(t) = tenant {
            h.push(("X-Tenant-ID".to_string(), t));
        }
        h
    };
    let call = |h: Vec<(String, String)>| {
        let cloud = &cloud;
        async move {
            let hs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            md(cloud, "/openstack/latest/meta_data.json", &hs).await
        }
    };
    let (s, _, body) = cloud
        .wait_for("nova-api back with the proxy settings", 30, || async {
            cloud
                .http
                .get(format!("{}/", cloud.metadata))
                .send()
                .await
                .ok()?;
            Some(call(proxy(sig.clone(), Some(cloud.demo_project.clone()))).await)
        })
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["uuid"],
        id.as_str()
    );
    let (s, _, body) = call(proxy(sign("wrong", &id), Some(cloud.demo_project.clone()))).await;
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("Invalid proxy request signature."), "{body}");
    let (s, _, body) = call(proxy(sig.clone(), None)).await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body.contains("X-Tenant-ID header is missing from request."),
        "{body}"
    );
    let (s, _, _) = call(proxy(sig.clone(), Some("someone-else".into()))).await;
    assert_eq!(s, 404);

    // StaticJSON vendor data from [api] vendordata_jsonfile_path, read as
    // each instance's metadata is built (no cache here): an edit shows at
    // once; a file that is not JSON is a 500. [api] dhcp_domain names the
    // hosts.
    let vendor = cloud.dir.join("vendor.json");
    std::fs::write(&vendor, r#"{"site": "one"}"#).unwrap();
    cloud.restart_with_conf(
        "nova-api",
        &format!(
            "[api]\nvendordata_jsonfile_path = {}\nmetadata_cache_expiration = 0\ndhcp_domain = example.test\n\
             [neutron]\nservice_metadata_proxy = false\n",
            vendor.display()
        ),
    );
    let vendor_json = || {
        let (cloud, xff) = (&cloud, &xff);
        async move {
            let (s, _, body) = md(cloud, "/openstack/latest/vendor_data.json", xff).await;
            (s, body)
        }
    };
    cloud
        .wait_for("nova-api back", 30, || async {
            let url = format!("{}/", cloud.metadata);
            cloud.http.get(url).send().await.ok().map(|_| ())
        })
        .await;
    assert_eq!(vendor_json().await, (200, r#"{"site":"one"}"#.to_string()));
    let (s, _, body) = md(&cloud, "/openstack/latest/vendor_data2.json", &xff).await;
    assert_eq!((s, body.as_str()), (200, r#"{"static":{"site":"one"}}"#));
    std::fs::write(&vendor, r#"{"site": "two"}"#).unwrap();
    assert_eq!(vendor_json().await, (200, r#"{"site":"two"}"#.to_string()));
    std::fs::write(&vendor, "not json").unwrap();
    assert_eq!(vendor_json().await.0, 500);
    std::fs::write(&vendor, "{}").unwrap();
    let (s, _, host) = md(&cloud, "/latest/meta-data/hostname", &xff).await;
    assert_eq!((s, host.as_str()), (200, "md-one.example.test"));
}

async fn md_post(cloud: &Cloud, path: &str, ip: &str, body: String) -> u16 {
    cloud
        .http
        .post(format!("{}{path}", cloud.metadata))
        .header("X-Forwarded-For", ip)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The guest's password (Nova's `password.py`): POSTed once to
/// `/openstack/<version>/password` (from 2013-04-04), kept as
/// `password_0..3` system metadata, read back by the guest and through the
/// Compute API's `os-server-password`, whose DELETE clears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_posts_its_password_once_and_the_owner_reads_it() {
    let cloud = Cloud::start_with(compute_hosts, false).await;
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.demo,
            Some(
                json!({"server": {"name": "pw-one", "imageRef": cloud.image_id, "flavorRef": "1"}}),
            ),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let ip = cloud
        .wait_for("pw-one ACTIVE", 60, || async {
            let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.demo).await;
            assert_ne!(b["server"]["status"], "ERROR", "{b}");
            (b["server"]["status"] == "ACTIVE")
                .then(|| b["server"]["addresses"]["private"][0]["addr"].clone())
        })
        .await;
    let ip = ip.as_str().unwrap().to_string();
    let xff = [("X-Forwarded-For", ip.as_str())];
    let api_path = format!("/servers/{id}/os-server-password");

    // Nothing yet: empty through both.
    let (s, _, body) = md(&cloud, "/openstack/latest/password", &xff).await;
    assert_eq!((s, body.as_str()), (200, ""));
    let (s, b) = cloud.get(&api_path, &cloud.demo).await;
    assert_eq!((s, &b), (200, &json!({"password": ""})));
    // Not in the oldest version.
    let (s, _, _) = md(&cloud, "/openstack/2012-08-10/password", &xff).await;
    assert_eq!(s, 404);
    assert_eq!(
        md_post(&cloud, "/openstack/2012-08-10/password", &ip, "x".into()).await,
        404
    );
    // Too long: 400, nothing stored.
    assert_eq!(
        md_post(
            &cloud,
            "/openstack/2013-04-04/password",
            &ip,
            "p".repeat(1021)
        )
        .await,
        400
    );
    // Another address has no instance.
    assert_eq!(
        md_post(
            &cloud,
            "/openstack/latest/password",
            "10.254.254.254",
            "x".into()
        )
        .await,
        404
    );
    // 1020 characters (4 × 255) are stored, once.
    let password: String = (0..1020).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    assert_eq!(
        md_post(
            &cloud,
            "/openstack/2013-04-04/password",
            &ip,
            password.clone()
        )
        .await,
        200
    );
    assert_eq!(
        md_post(&cloud, "/openstack/latest/password", &ip, "again".into()).await,
        409
    );
    let (s, _, body) = md(&cloud, "/openstack/latest/password", &xff).await;
    assert_eq!(s, 200);
    assert_eq!(body, password);
    let (s, b) = cloud.get(&api_path, &cloud.demo).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["password"], json!(password));
    // Another project cannot read or clear it.
    let (s, _) = cloud.get(&api_path, &cloud.alt).await;
    assert_eq!(s, 404);
    let (s, _) = cloud.req(Method::DELETE, &api_path, &cloud.alt, None).await;
    assert_eq!(s, 404);
    // The owner clears it; the guest may set a new one.
    let (s, _) = cloud
        .req(Method::DELETE, &api_path, &cloud.demo, None)
        .await;
    assert_eq!(s, 204);
    let (_, b) = cloud.get(&api_path, &cloud.demo).await;
    assert_eq!(b, json!({"password": ""}));
    cloud
        .wait_for("the cleared password in the metadata", 60, || async {
            let (_, _, body) = md(&cloud, "/openstack/latest/password", &xff).await;
            body.is_empty().then_some(())
        })
        .await;
    assert_eq!(
        md_post(&cloud, "/openstack/latest/password", &ip, "second".into()).await,
        200
    );
    let (_, b) = cloud.get(&api_path, &cloud.demo).await;
    assert_eq!(b, json!({"password": "second"}));
    // Other methods on the password: Nova's 400; elsewhere the method does
    // not matter (Nova's handler never looks at it).
    for method in [reqwest::Method::PUT, reqwest::Method::DELETE] {
        let resp = cloud
            .http
            .request(
                method,
                format!("{}/openstack/latest/password", cloud.metadata),
            )
            .header("X-Forwarded-For", &ip)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert!(resp
            .text()
            .await
            .unwrap()
            .contains("GET and POST only are supported."));
    }
    assert_eq!(
        md_post(&cloud, "/openstack/latest/meta_data.json", &ip, "x".into()).await,
        200
    );
    let (s, _) = cloud
        .req(Method::DELETE, &format!("/servers/{id}"), &cloud.demo, None)
        .await;
    assert_eq!(s, 204);
}
