//! Benchmark (not a test): a real QEMU guest's VNC console through
//! nova-novncproxy's websocket (with Nova's RFB security proxy in between)
//! next to a direct RFB connection to the guest's VNC server. Prints
//! `key=value` lines; run through `bench/run.sh`.
//!
//! Per path, a few runs of: connect, RFB 3.8 handshake (security None,
//! shared ClientInit), SetPixelFormat (32 bpp true colour), SetEncodings
//! (Raw only), one non-incremental FramebufferUpdateRequest for the whole
//! screen; the time from the connect's start to the end of that first full
//! update. Then `UPDATES` more full non-incremental updates, one after the
//! other; the throughput is their bytes over the time from each update's
//! first byte to its last (QEMU answers a request on its display refresh
//! timer, up to 3 s when the guest's screen is idle, so the wait before the
//! first byte is the server's, not the path's; it is reported separately as
//! the round trip).

#![allow(clippy::unwrap_used)]

use nova_e2e::start_real_guest_cloud;
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const RUNS: usize = 5;
const UPDATES: usize = 20;

/// An RFB byte stream: a plain TCP connection or the payload of a
/// websocket's binary frames.
struct Conn {
    s: BufReader<TcpStream>,
    ws: bool,
    /// Payload bytes left in the current websocket frame.
    left: u64,
}

impl Conn {
    async fn direct(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.set_nodelay(true).unwrap();
        Conn {
            s: BufReader::with_capacity(1 << 16, s),
            ws: false,
            left: 0,
        }
    }

    /// The websocket upgrade (as console.rs's client does).
    async fn websocket(port: u16, token: &str) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.set_nodelay(true).unwrap();
        let mut s = BufReader::with_capacity(1 << 16, s);
        let req = format!(
            "GET /?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut head = vec![];
        while !head.ends_with(b"\r\n\r\n") {
            head.push(s.read_u8().await.unwrap());
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        Conn {
            s,
            ws: true,
            left: 0,
        }
    }

    async fn read_exact(&mut self, buf: &mut [u8]) {
        if !self.ws {
            self.s.read_exact(buf).await.unwrap();
            return;
        }
        let mut off = 0;
        while off < buf.len() {
            if self.left == 0 {
                let mut h = [0u8; 2];
                self.s.read_exact(&mut h).await.unwrap();
                let mut len = (h[1] & 0x7f) as u64;
                if len == 126 {
                    len = self.s.read_u16().await.unwrap() as u64;
                } else if len == 127 {
                    len = self.s.read_u64().await.unwrap();
                }
                match h[0] & 0x0f {
                    0x8 => panic!("the proxy closed the websocket"),
                    0x9 | 0xa => {
                        // ping/pong: skip the payload
                        let mut p = vec![0u8; len as usize];
                        self.s.read_exact(&mut p).await.unwrap();
                    }
                    _ => self.left = len,
                }
                continue;
            }
            let n = (self.left as usize).min(buf.len() - off);
            self.s.read_exact(&mut buf[off..off + n]).await.unwrap();
            off += n;
            self.left -= n as u64;
        }
    }

    async fn read_vec(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.read_exact(&mut v).await;
        v
    }

    async fn send(&mut self, data: &[u8]) {
        if !self.ws {
            self.s.write_all(data).await.unwrap();
            return;
        }
        // A masked binary frame (a zero mask leaves the bytes as they are).
        assert!(data.len() < 126);
        let mut f = vec![0x82u8, 0x80 | data.len() as u8, 0, 0, 0, 0];
        f.extend(data);
        self.s.write_all(&f).await.unwrap();
    }
}

/// The handshake up to ServerInit; returns the screen's width and height.
async fn handshake(c: &mut Conn) -> (u16, u16) {
    assert_eq!(c.read_vec(12).await, b"RFB 003.008\n");
    c.send(b"RFB 003.008\n").await;
    let n = c.read_vec(1).await[0] as usize;
    assert!(n > 0, "the server refused the connection");
    let types = c.read_vec(n).await;
    assert!(types.contains(&1), "security types {types:?}");
    c.send(&[1]).await;
    assert_eq!(c.read_vec(4).await, [0, 0, 0, 0], "SecurityResult");
    c.send(&[1]).await; // ClientInit, shared
    let init = c.read_vec(24).await;
    let w = u16::from_be_bytes([init[0], init[1]]);
    let h = u16::from_be_bytes([init[2], init[3]]);
    let name_len = u32::from_be_bytes(init[20..24].try_into().unwrap()) as usize;
    c.read_vec(name_len).await;
    // SetPixelFormat: 32 bpp, depth 24, little endian, true colour, 8 bits each.
    c.send(&[
        0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0,
    ])
    .await;
    // SetEncodings: Raw only.
    c.send(&[2, 0, 0, 1, 0, 0, 0, 0]).await;
    (w, h)
}

fn update_request(w: u16, h: u16) -> Vec<u8> {
    let mut m = vec![3u8, 0, 0, 0, 0, 0];
    m.extend(w.to_be_bytes());
    m.extend(h.to_be_bytes());
    m
}

/// Reads server messages until FramebufferUpdates covering the whole
/// screen have arrived. Returns (bytes read, the instant of the first byte
/// of the first FramebufferUpdate).
async fn full_update(c: &mut Conn, w: u16, h: u16) -> (u64, Instant) {
    let want = w as u64 * h as u64;
    let mut area = 0u64;
    let mut bytes = 0u64;
    let mut first = None;
    let mut pixels = vec![];
    while area < want {
        let t = c.read_vec(1).await[0];
        first.get_or_insert_with(Instant::now);
        bytes += 1;
        match t {
            0 => {
                let hd = c.read_vec(3).await;
                let n = u16::from_be_bytes([hd[1], hd[2]]);
                bytes += 3;
                for _ in 0..n {
                    let r = c.read_vec(12).await;
                    bytes += 12;
                    let rw = u16::from_be_bytes([r[4], r[5]]) as u64;
                    let rh = u16::from_be_bytes([r[6], r[7]]) as u64;
                    let enc = i32::from_be_bytes(r[8..12].try_into().unwrap());
                    assert_eq!(enc, 0, "only Raw was asked for");
                    pixels.resize((rw * rh * 4) as usize, 0);
                    c.read_exact(&mut pixels).await;
                    bytes += rw * rh * 4;
                    area += rw * rh;
                }
            }
            2 => {} // Bell
            1 => {
                // SetColourMapEntries
                let hd = c.read_vec(5).await;
                let n = u16::from_be_bytes([hd[3], hd[4]]) as usize;
                c.read_vec(n * 6).await;
                bytes += 5 + n as u64 * 6;
            }
            3 => {
                // ServerCutText
                let hd = c.read_vec(7).await;
                let n = u32::from_be_bytes(hd[3..7].try_into().unwrap()) as usize;
                c.read_vec(n).await;
                bytes += 7 + n as u64;
            }
            t => panic!("unexpected server message {t}"),
        }
    }
    (bytes, first.unwrap())
}

struct Figures {
    first_ms: Vec<f64>,
    round_trip_ms: Vec<f64>,
    mbps: Vec<f64>,
    frame: (u16, u16),
}

/// `RUNS` connections through `open`; each: the first full update, then
/// `UPDATES` more.
async fn measure<F, Fut>(open: F) -> Figures
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Conn>,
{
    let mut f = Figures {
        first_ms: vec![],
        round_trip_ms: vec![],
        mbps: vec![],
        frame: (0, 0),
    };
    for _ in 0..RUNS {
        let t = Instant::now();
        let mut c = open().await;
        let (w, h) = handshake(&mut c).await;
        f.frame = (w, h);
        c.send(&update_request(w, h)).await;
        tokio::time::timeout(Duration::from_secs(30), full_update(&mut c, w, h))
            .await
            .expect("a first framebuffer update");
        f.first_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let (mut bytes, mut transfer) = (0u64, Duration::ZERO);
        let mut rtt = vec![];
        for _ in 0..UPDATES {
            let sent = Instant::now();
            c.send(&update_request(w, h)).await;
            let (b, first) =
                tokio::time::timeout(Duration::from_secs(30), full_update(&mut c, w, h))
                    .await
                    .expect("a framebuffer update");
            bytes += b;
            transfer += first.elapsed();
            rtt.push(sent.elapsed().as_secs_f64() * 1e3);
        }
        f.mbps.push(bytes as f64 / 1e6 / transfer.as_secs_f64());
        f.round_trip_ms.push(median(&mut rtt));
    }
    f
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn runs(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.1}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (cloud, guest) = start_real_guest_cloud(false, "").await;
    let image = cloud.upload_tiny_disk(&guest).await;
    cloud.create_guest_flavor().await;
    let (s, b) = cloud
        .req(Method::POST, "/servers", &cloud.admin, Some(json!({"server": {"name": "console-bench", "imageRef": image, "flavorRef": "guest"}})))
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let name = cloud
        .wait_for("ACTIVE", 120, || async {
            let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            let srv = &b["server"];
            assert_ne!(srv["status"], "ERROR", "{srv}");
            (srv["status"] == "ACTIVE" && srv["OS-EXT-STS:task_state"].is_null()).then(|| {
                srv["OS-EXT-SRV-ATTR:instance_name"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
        })
        .await;
    // Let the guest reach its prompt, so the screen is the same for both paths.
    let log = cloud
        .dir
        .join("state/instances")
        .join(&id)
        .join("console.log");
    cloud
        .wait_for("GUEST-INIT", 120, || async {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("GUEST-INIT")
                .then_some(())
        })
        .await;

    // The console URL and token, as a user gets them.
    let r = cloud
        .http
        .post(format!("{}/servers/{id}/remote-consoles", cloud.api))
        .header("X-Auth-Token", &cloud.admin)
        .header("OpenStack-API-Version", "compute 2.6")
        .json(&json!({"remote_console": {"protocol": "vnc", "type": "novnc"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let b: serde_json::Value = r.json().await.unwrap();
    let url = b["remote_console"]["url"].as_str().unwrap().to_string();
    let proxy_port: u16 = url
        .strip_prefix("http://127.0.0.1:")
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let token = url.split("%3Ftoken%3D").nth(1).unwrap().to_string();

    // The guest's own VNC server, from libvirt.
    let out = std::process::Command::new("virsh")
        .args(["-q", "-c", "qemu:///system", "vncdisplay", &name])
        .output()
        .unwrap();
    let display = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let vnc_port: u16 = 5900
        + display
            .rsplit(':')
            .next()
            .unwrap()
            .parse::<u16>()
            .unwrap_or_else(|_| panic!("vncdisplay {display:?}"));

    let direct = measure(|| Conn::direct(vnc_port)).await;
    let console = measure(|| Conn::websocket(proxy_port, &token)).await;

    // The guest goes with the benchmark (the harness stops only the daemons).
    cloud
        .req(
            Method::DELETE,
            &format!("/servers/{id}"),
            &cloud.admin,
            None,
        )
        .await;
    cloud
        .wait_for("deleted", 60, || async {
            (cloud.get(&format!("/servers/{id}"), &cloud.admin).await.0 == 404).then_some(())
        })
        .await;

    for (key, f) in [("console", console), ("direct", direct)] {
        let Figures {
            mut first_ms,
            mut round_trip_ms,
            mut mbps,
            frame,
        } = f;
        println!("{key}_first_update_runs_ms={}", runs(&first_ms));
        println!("{key}_first_update_ms={:.1}", median(&mut first_ms));
        println!(
            "{key}_update_round_trip_ms={:.1}",
            median(&mut round_trip_ms)
        );
        println!("{key}_mbps_runs={}", runs(&mbps));
        println!("{key}_mbps={:.1}", median(&mut mbps));
        println!("{key}_frame={}x{}", frame.0, frame.1);
    }
    println!("updates_per_run={UPDATES}");
    println!("runs={RUNS}");
}
