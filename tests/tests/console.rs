//! The guest's console in a browser, as Tempest checks it
//! (`test_novnc.py`): a console URL from the API, the noVNC page behind it,
//! and a websocket through nova-novncproxy to a real QEMU guest's VNC server,
//! with Nova's RFB security proxy in between. Bad tokens and foreign origins
//! are closed without data; a deleted instance's tokens are gone.

#![allow(clippy::unwrap_used)]

use nova_e2e::{start_real_guest_cloud, workspace_root, Cloud};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// POST at a microversion.
async fn post(cloud: &Cloud, path: &str, version: &str, body: Value) -> (u16, Value) {
    let r = cloud
        .http
        .post(format!("{}{path}", cloud.api))
        .header("X-Auth-Token", &cloud.admin)
        .header("OpenStack-API-Version", format!("compute {version}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn novnc_url(cloud: &Cloud, id: &str) -> String {
    let (s, b) = post(
        cloud,
        &format!("/servers/{id}/remote-consoles"),
        "2.6",
        json!({"remote_console": {"protocol": "vnc", "type": "novnc"}}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["remote_console"]["protocol"], "vnc");
    assert_eq!(b["remote_console"]["type"], "novnc");
    b["remote_console"]["url"].as_str().unwrap().to_string()
}

/// `http://127.0.0.1:<port>/vnc_auto.html?path=%3Ftoken%3D<token>` → (port, token).
fn port_and_token(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://127.0.0.1:").unwrap();
    let port = rest.split('/').next().unwrap().parse().unwrap();
    let token = url.split("%3Ftoken%3D").nth(1).unwrap().to_string();
    (port, token)
}

/// A minimal websocket client (as Tempest's): the upgrade, then frames.
struct Ws {
    s: TcpStream,
    pub response: String,
}

impl Ws {
    async fn open(port: u16, path: &str, extra: &[(&str, &str)]) -> Ws {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut req = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: binary\r\n"
        );
        for (k, v) in extra {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut head = vec![];
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut b).await.unwrap() == 0 {
                break;
            }
            head.push(b[0]);
        }
        Ws {
            s,
            response: String::from_utf8_lossy(&head).to_string(),
        }
    }

    /// The next data frame's payload; None when the connection closes (a
    /// close frame or EOF) or nothing comes within 10 s.
    async fn recv(&mut self) -> Option<Vec<u8>> {
        let read = async {
            let mut h = [0u8; 2];
            self.s.read_exact(&mut h).await.ok()?;
            let mut len = (h[1] & 0x7f) as u64;
            if len == 126 {
                let mut l = [0u8; 2];
                self.s.read_exact(&mut l).await.ok()?;
                len = u16::from_be_bytes(l) as u64;
            } else if len == 127 {
                let mut l = [0u8; 8];
                self.s.read_exact(&mut l).await.ok()?;
                len = u64::from_be_bytes(l);
            }
            let mut p = vec![0u8; len as usize];
            self.s.read_exact(&mut p).await.ok()?;
            (h[0] & 0x0f != 0x8).then_some(p)
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .ok()
            .flatten()
    }

    /// Exactly `n` bytes of the stream, across frames.
    async fn recv_bytes(&mut self, n: usize, buf: &mut Vec<u8>) -> Vec<u8> {
        while buf.len() < n {
            let f = self.recv().await.expect("more data");
            buf.extend(f);
        }
        buf.drain(..n).collect()
    }

    async fn send(&mut self, data: &[u8]) {
        // A masked binary frame (the mask of zeros leaves the bytes as they are).
        let mut f = vec![0x82u8];
        assert!(data.len() < 126);
        f.push(0x80 | data.len() as u8);
        f.extend([0, 0, 0, 0]);
        f.extend(data);
        self.s.write_all(&f).await.unwrap();
    }
}

/// Open `url` in headless Chromium (Debian `chromium`, driven by npm
/// `playwright-core` from tests/browser): noVNC's status line and canvas size.
fn browser_connects(url: &str, shot: &std::path::Path) -> (String, (u64, u64)) {
    let dir = workspace_root().join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let ok = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "npm ci in {}", dir.display());
    }
    let out = std::process::Command::new("node")
        .arg(dir.join("novnc.mjs"))
        .arg(url)
        .arg(shot)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap_or(Value::Null);
    assert!(
        out.status.success(),
        "the browser did not connect: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = |i: usize| v["canvas"][i].as_u64().unwrap_or_default();
    (
        v["status"].as_str().unwrap_or_default().to_string(),
        (c(0), c(1)),
    )
}

async fn wait_status(cloud: &Cloud, id: &str, want: &str) {
    cloud
        .wait_for(&format!("{id} {want}"), 120, || async {
            let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            let srv = b["server"].clone();
            assert_ne!(srv["status"], "ERROR", "{srv}");
            (srv["status"] == want && srv["OS-EXT-STS:task_state"].is_null()).then_some(())
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn novnc_console_through_the_proxy_to_a_real_guest() {
    let (cloud, guest) = start_real_guest_cloud(true, "").await;
    let disk = cloud.upload_tiny_disk(&guest).await;
    cloud.create_guest_flavor().await;
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.admin,
            Some(json!({"server": {"name": "console-guest", "imageRef": disk, "flavorRef": "guest"}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    wait_status(&cloud, &id, "ACTIVE").await;

    // The API: 2.6+ remote consoles, the older action, unsupported types.
    let url = novnc_url(&cloud, &id).await;
    assert!(
        url.starts_with("http://127.0.0.1:") && url.contains("/vnc_auto.html?path=%3Ftoken%3D"),
        "{url}"
    );
    let (s, b) = post(
        &cloud,
        &format!("/servers/{id}/action"),
        "2.1",
        json!({"os-getVNCConsole": {"type": "novnc"}}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["console"]["type"], "novnc");
    assert!(b["console"]["url"]
        .as_str()
        .unwrap()
        .contains("%3Ftoken%3D"));
    let (s, _) = post(
        &cloud,
        &format!("/servers/{id}/action"),
        "2.1",
        json!({"os-getVNCConsole": {"type": "spice"}}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = post(
        &cloud,
        &format!("/servers/{id}/remote-consoles"),
        "2.6",
        json!({"remote_console": {"protocol": "rdp", "type": "rdp-html5"}}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = post(
        &cloud,
        &format!("/servers/{id}/remote-consoles"),
        "2.5",
        json!({"remote_console": {"protocol": "vnc", "type": "novnc"}}),
    )
    .await;
    assert_eq!(s, 404);

    // The CLI a user runs.
    let out: Value = serde_json::from_str(&cloud.osc(
        "admin",
        &[
            "console",
            "url",
            "show",
            "--novnc",
            "console-guest",
            "-f",
            "json",
        ],
    ))
    .unwrap();
    let cli_url = out["url"].as_str().unwrap_or_default();
    assert!(cli_url.contains("/vnc_auto.html?path=%3Ftoken%3D"), "{out}");
    // Another project's user cannot see the server at all.
    let r = cloud
        .http
        .post(format!("{}/servers/{id}/remote-consoles", cloud.api))
        .header("X-Auth-Token", &cloud.demo)
        .header("OpenStack-API-Version", "compute 2.6")
        .json(&json!({"remote_console": {"protocol": "vnc", "type": "novnc"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // Admins see where a token leads (2.31+); others may not.
    let (_, token) = port_and_token(&url);
    let show = |who: String, version: &'static str| {
        let r = cloud
            .http
            .get(format!("{}/os-console-auth-tokens/{token}", cloud.api))
            .header("X-Auth-Token", who)
            .header("OpenStack-API-Version", format!("compute {version}"));
        async move {
            let r = r.send().await.unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, b) = show(cloud.admin.clone(), "2.31").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["console"]["instance_uuid"], id.as_str());
    assert_eq!(b["console"]["host"], "127.0.0.1");
    assert!(b["console"]["port"].as_i64().unwrap() >= 5900, "{b}");
    assert_eq!(show(cloud.admin.clone(), "2.30").await.0, 401);
    assert_eq!(show(cloud.demo.clone(), "2.31").await.0, 403);

    // The noVNC page behind the URL.
    let page = cloud.http.get(&url).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    for want in ["<html", "</html>", "noVNC", "<script"] {
        assert!(html.contains(want), "the console page lacks {want}");
    }

    // A websocket with the token: Tempest's RFB checks.
    let (port, token) = port_and_token(&url);
    let mut ws = Ws::open(port, &format!("/?token={token}"), &[]).await;
    assert!(ws.response.starts_with("HTTP/1.1 101"), "{}", ws.response);
    assert!(ws
        .response
        .to_ascii_lowercase()
        .contains("sec-websocket-protocol: binary"));
    let mut buf = vec![];
    assert_eq!(ws.recv_bytes(12, &mut buf).await, b"RFB 003.008\n");
    ws.send(b"RFB 003.008\n").await;
    let n = ws.recv_bytes(1, &mut buf).await[0] as usize;
    let types = ws.recv_bytes(n, &mut buf).await;
    assert!(types.contains(&1), "security types {types:?}");
    ws.send(&[1]).await;
    assert_eq!(
        ws.recv_bytes(4, &mut buf).await,
        [0, 0, 0, 0],
        "SecurityResult"
    );
    ws.send(&[1]).await; // ClientInit, shared
    let init = ws.recv_bytes(24, &mut buf).await;
    let name_len = u32::from_be_bytes(init[20..24].try_into().unwrap()) as usize;
    let name = ws.recv_bytes(name_len, &mut buf).await;
    assert!(!name.is_empty(), "ServerInit carries a desktop name");
    drop(ws);

    // The token inside noVNC's `path` and as a cookie work too.
    for (path, extra) in [
        (format!("/websockify?path=%3Ftoken%3D{token}"), vec![]),
        (
            "/websockify".to_string(),
            vec![("Cookie", format!("token={token}"))],
        ),
    ] {
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut ws = Ws::open(port, &path, &extra).await;
        assert_eq!(
            ws.recv().await.as_deref(),
            Some(&b"RFB 003.008\n"[..]),
            "{path}"
        );
    }

    // The right Origin is accepted, another one is refused without data.
    let own = format!("http://127.0.0.1:{port}");
    let mut ws = Ws::open(
        port,
        &format!("/?token={token}"),
        &[("Origin", own.as_str())],
    )
    .await;
    assert_eq!(ws.recv().await.as_deref(), Some(&b"RFB 003.008\n"[..]));
    let mut ws = Ws::open(
        port,
        &format!("/?token={token}"),
        &[("Origin", "http://evil.example")],
    )
    .await;
    assert_eq!(ws.recv().await, None, "a foreign origin gets no data");

    // A bad token: closed, no data.
    let mut ws = Ws::open(port, "/?token=bad", &[]).await;
    assert_eq!(ws.recv().await, None, "a bad token gets no data");

    // Paths starting with // are refused (no open redirect).
    let r = cloud
        .http
        .get(format!("http://127.0.0.1:{port}//example.com/%2F.."))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    // A real browser: noVNC in headless Chromium connects and draws the guest's screen.
    let shot = cloud.dir.join("console.png");
    let (status, canvas) = browser_connects(&novnc_url(&cloud, &id).await, &shot);
    assert!(status.contains("Connected"), "noVNC status {status:?}");
    assert!(canvas.0 > 0 && canvas.1 > 0, "canvas {canvas:?}");
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000, "screenshot");

    // A stopped guest has no console: 409.
    let (s, _) = post(
        &cloud,
        &format!("/servers/{id}/action"),
        "2.1",
        json!({"os-stop": null}),
    )
    .await;
    assert_eq!(s, 202);
    wait_status(&cloud, &id, "SHUTOFF").await;
    let (s, b) = post(
        &cloud,
        &format!("/servers/{id}/remote-consoles"),
        "2.6",
        json!({"remote_console": {"protocol": "vnc", "type": "novnc"}}),
    )
    .await;
    assert_eq!(s, 409, "{b}");

    // Deleting the instance deletes its tokens.
    let (s, _) = cloud
        .req(
            Method::DELETE,
            &format!("/servers/{id}"),
            &cloud.admin,
            None,
        )
        .await;
    assert_eq!(s, 204);
    cloud
        .wait_for(&format!("{id} gone"), 60, || async {
            let (s, _) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            (s == 404).then_some(())
        })
        .await;
    let mut ws = Ws::open(port, &format!("/?token={token}"), &[]).await;
    assert_eq!(
        ws.recv().await,
        None,
        "a deleted instance's token gets no data"
    );
    let log = cloud.log("nova-novncproxy");
    assert!(log.contains("invalid or has expired"), "{log}");
}
