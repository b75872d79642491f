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
        self.recv_within(Duration::from_secs(10)).await
    }

    /// As `recv`, waiting at most `wait`.
    async fn recv_within(&mut self, wait: Duration) -> Option<Vec<u8>> {
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
        tokio::time::timeout(wait, read).await.ok().flatten()
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
/// `playwright-core` from tests/browser), then type `line` into the console:
/// noVNC's status line, the canvas size and its number of colours.
fn browser_connects(url: &str, shot: &std::path::Path, line: &str) -> (String, (u64, u64), u64) {
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
        .arg(line)
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
        v["colors"].as_u64().unwrap_or_default(),
    )
}

/// The guest's serial console log, through the API.
async fn console_output(cloud: &Cloud, id: &str) -> String {
    let (s, b) = post(
        cloud,
        &format!("/servers/{id}/action"),
        "2.1",
        json!({"os-getConsoleOutput": {}}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    b["output"].as_str().unwrap_or_default().to_string()
}

/// Open files of a process.
fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Read frames into `buf` until it holds `n` bytes (a loaded machine may
/// take a while to check many tokens at once: up to 60 s per step).
async fn fill(ws: &mut Ws, buf: &mut Vec<u8>, n: usize, what: &str) -> Result<(), String> {
    while buf.len() < n {
        let frame = ws.recv_within(Duration::from_secs(60)).await;
        buf.extend(frame.ok_or(format!("no {what}"))?);
    }
    Ok(())
}

/// A websocket through the proxy, handshaken up to the ServerInit; or the
/// step that failed.
async fn rfb_session(port: u16, token: &str) -> Result<Ws, String> {
    let mut ws = Ws::open(port, &format!("/?token={token}"), &[]).await;
    let mut buf = vec![];
    fill(&mut ws, &mut buf, 12, "version").await?;
    if buf.drain(..12).collect::<Vec<_>>() != b"RFB 003.008\n" {
        return Err("not RFB 3.8".into());
    }
    ws.send(b"RFB 003.008\n").await;
    fill(&mut ws, &mut buf, 1, "security types").await?;
    let n = buf[0] as usize;
    fill(&mut ws, &mut buf, 1 + n, "security types").await?;
    buf.drain(..1 + n);
    ws.send(&[1]).await;
    fill(&mut ws, &mut buf, 4, "SecurityResult").await?;
    if buf.drain(..4).collect::<Vec<_>>() != [0, 0, 0, 0] {
        return Err("SecurityResult is a failure".into());
    }
    ws.send(&[1]).await;
    fill(&mut ws, &mut buf, 24, "ServerInit").await?;
    let name_len = u32::from_be_bytes([buf[20], buf[21], buf[22], buf[23]]) as usize;
    fill(&mut ws, &mut buf, 24 + name_len, "desktop name").await?;
    Ok(ws)
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
    let (mut cloud, guest) = start_real_guest_cloud(true, "").await;
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
    // The other console actions: Nova's schemas, then the 400 of a
    // deployment without their proxies; gone from 2.6.
    for (action, kind) in [
        ("os-getSPICEConsole", "spice-html5"),
        ("os-getSerialConsole", "serial"),
        ("os-getRDPConsole", "rdp-html5"),
    ] {
        let path = format!("/servers/{id}/action");
        let (s, b) = post(&cloud, &path, "2.5", json!({action: {"type": kind}})).await;
        assert_eq!(s, 400, "{action}: {b}");
        assert_eq!(
            b["badRequest"]["message"],
            format!("Unavailable console type {kind}."),
            "{action}: {b}"
        );
        let (s, b) = post(&cloud, &path, "2.5", json!({action: {"type": "novnc"}})).await;
        assert_eq!(s, 400, "{action}: {b}");
        assert!(
            b["badRequest"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Invalid input for field/attribute type."),
            "{action}: {b}"
        );
        let (s, b) = post(&cloud, &path, "2.6", json!({action: {"type": kind}})).await;
        assert_eq!(s, 404, "{action}: {b}");
    }
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
    // What the user types in the browser reaches the guest (its console
    // repeats it on the serial log).
    cloud
        .wait_for("the guest's init", 120, || async {
            console_output(&cloud, &id)
                .await
                .contains("GUEST-INIT")
                .then_some(())
        })
        .await;
    let shot = cloud.dir.join("console.png");
    let typed = format!("typed-in-novnc-{}", std::process::id());
    let (status, canvas, colors) = browser_connects(&novnc_url(&cloud, &id).await, &shot, &typed);
    assert!(status.contains("Connected"), "noVNC status {status:?}");
    assert!(canvas.0 > 0 && canvas.1 > 0, "canvas {canvas:?}");
    assert!(
        colors >= 2,
        "the console shows text, not a blank screen ({colors} colours)"
    );
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000, "screenshot");
    // Kept as the test's artifact.
    let artifacts = workspace_root().join("target/test-artifacts");
    let _ = std::fs::create_dir_all(&artifacts);
    let _ = std::fs::copy(&shot, artifacts.join("novnc-console.png"));
    let want = format!("GUEST-TYPED {typed}");
    cloud
        .wait_for("the typed line on the serial console", 30, || async {
            console_output(&cloud, &id)
                .await
                .contains(&want)
                .then_some(())
        })
        .await;

    // Many sessions at once (MAX_SESSIONS_PER_TOKEN on each of several
    // tokens), closed by the client abruptly or politely: the proxy gives
    // back every socket and still serves.
    let proxy = cloud.pid("nova-novncproxy");
    let before = fd_count(proxy);
    let mut tokens = vec![];
    for _ in 0..6 {
        tokens.push(port_and_token(&novnc_url(&cloud, &id).await).1);
    }
    // Opened one after another: QEMU accepts VNC connections with a listen
    // backlog of 1, so a burst of connects can leave some unanswered; once
    // open, all 24 are live at the same time.
    let mut live = vec![];
    let mut failed = vec![];
    for t in tokens
        .iter()
        .flat_map(|t| std::iter::repeat_n(t.clone(), 4))
    {
        match rfb_session(port, &t).await {
            Ok(ws) => live.push(ws),
            Err(e) => failed.push(e),
        }
    }
    assert!(
        failed.is_empty(),
        "every session reaches the ServerInit: {failed:?}"
    );
    assert_eq!(live.len(), 24);
    // A fifth session on a token is refused.
    let mut ws = Ws::open(port, &format!("/?token={}", tokens[0]), &[]).await;
    assert_eq!(
        ws.recv().await,
        None,
        "a token's fifth session gets no data"
    );
    for (i, mut ws) in live.into_iter().enumerate() {
        if i % 2 == 0 {
            // A close frame, as a browser tab closing.
            let _ = ws.s.write_all(&[0x88, 0x80, 0, 0, 0, 0]).await;
        }
        drop(ws);
    }
    cloud
        .wait_for("the proxy's sockets given back", 30, || async {
            (fd_count(proxy) <= before + 2).then_some(())
        })
        .await;
    rfb_session(port, &tokens[0]).await.expect("still serving");

    // Short-lived tokens with enforce_session_timeout: a live session is
    // closed when its token expires, and the token opens nothing after.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(cloud.dir.join("nova.conf"))
            .unwrap();
        writeln!(
            f,
            "[consoleauth]\ntoken_ttl = 8\nenforce_session_timeout = true"
        )
        .unwrap();
    }
    cloud.restart("nova-api");
    cloud.restart("nova-novncproxy");
    let url = cloud
        .wait_for("nova-api back", 30, || async {
            let r = cloud
                .http
                .post(format!("{}/servers/{id}/remote-consoles", cloud.api))
                .header("X-Auth-Token", &cloud.admin)
                .header("OpenStack-API-Version", "compute 2.6")
                .json(&json!({"remote_console": {"protocol": "vnc", "type": "novnc"}}))
                .send()
                .await
                .ok()?;
            let b: Value = r.json().await.ok()?;
            Some(b["remote_console"]["url"].as_str()?.to_string())
        })
        .await;
    let (port, short) = port_and_token(&url);
    let issued = std::time::Instant::now();
    let mut live = cloud
        .wait_for("nova-novncproxy back", 30, || async {
            rfb_session(port, &short).await.ok()
        })
        .await;
    let mut b = [0u8; 4096];
    let ended = loop {
        match tokio::time::timeout(Duration::from_secs(30), live.s.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(_)) if b[0] == 0x88 => break true,
            Ok(Ok(_)) => {}
            Err(_) => break false,
        }
    };
    assert!(ended, "the session outlived its token");
    assert!(
        issued.elapsed() >= Duration::from_secs(5),
        "closed before the token expired ({:?})",
        issued.elapsed()
    );
    assert!(
        rfb_session(port, &short).await.is_err(),
        "an expired token opens nothing"
    );
    assert!(cloud.log("nova-novncproxy").contains("its token expired"));

    // The server side closing (the guest stops) closes the browser's session.
    let mut open = rfb_session(port, &tokens[1]).await.expect("a session");

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
    // No update was requested, so the only thing that may come is the end:
    // a close frame or EOF (silence until the timeout is a failure).
    let closed = async {
        let mut b = [0u8; 4096];
        loop {
            match open.s.read(&mut b).await {
                Ok(0) | Err(_) => break,
                Ok(_) if b[0] == 0x88 => break,
                Ok(_) => {}
            }
        }
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(30), closed)
            .await
            .is_ok(),
        "the session ends when the guest's VNC server goes away"
    );
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
