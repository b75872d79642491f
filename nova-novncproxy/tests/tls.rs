//! The RFB security proxy against a real QEMU VNC server with VeNCrypt
//! (x509, the client certificate verified by QEMU), and nova-novncproxy's
//! own TLS listener. Certificates are made with the openssl CLI.

use nova_novncproxy::rfb::{self, Security};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`<ca>-cert.pem`, `<ca>-key.pem`) in `dir`.
fn make_ca(dir: &Path, ca: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={ca}"),
            "-keyout",
            &format!("{ca}-key.pem"),
            "-out",
            &format!("{ca}-cert.pem"),
        ],
    );
}

/// `<name>-cert.pem`/`<name>-key.pem` signed by the CA `ca`, for 127.0.0.1.
fn make_cert(dir: &Path, ca: &str, name: &str, usage: &str) {
    let ext = format!("{name}.ext");
    std::fs::write(
        dir.join(&ext),
        format!("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage={usage}\n"),
    )
    .expect("ext file");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}-key.pem"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-days",
            "2",
            "-CA",
            &format!("{ca}-cert.pem"),
            "-CAkey",
            &format!("{ca}-key.pem"),
            "-CAcreateserial",
            "-extfile",
            &ext,
            "-out",
            &format!("{name}-cert.pem"),
        ],
    );
}

fn free_vnc_port() -> u16 {
    (5990..6900)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port for VNC")
}

struct Qemu(Child);
impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// QEMU with no guest, only a VNC server requiring VeNCrypt x509 and a
/// client certificate signed by the CA in `creds`.
async fn qemu_vnc(creds: &Path) -> (Qemu, u16) {
    let port = free_vnc_port();
    let child = Command::new("qemu-system-x86_64")
        .args([
            "-machine",
            "none",
            "-nodefaults",
            "-name",
            "vencrypt-test",
            "-object",
            &format!(
                "tls-creds-x509,id=tls0,dir={},endpoint=server,verify-peer=yes",
                creds.display()
            ),
            "-vnc",
            &format!("127.0.0.1:{},tls-creds=tls0", port - 5900),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu-system-x86_64 starts");
    let q = Qemu(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (q, port);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("QEMU's VNC server did not listen on {port}");
}

/// Certificates for QEMU (its dir layout) and for the proxy.
fn credentials(dir: &Path) {
    make_ca(dir, "ca");
    make_cert(dir, "ca", "server", "serverAuth");
    make_cert(dir, "ca", "client", "clientAuth");
    make_ca(dir, "rogue");
    make_cert(dir, "rogue", "rogueclient", "clientAuth");
    let qemu = dir.join("qemu");
    std::fs::create_dir_all(&qemu).expect("qemu dir");
    for f in ["ca-cert.pem", "server-cert.pem", "server-key.pem"] {
        std::fs::copy(dir.join(f), qemu.join(f)).expect("copy cert");
    }
}

fn security(dir: &Path, client: &str, ca: &str) -> Security {
    let p = |f: String| dir.join(f).display().to_string();
    let config = rfb::vencrypt_client_config(
        &p(format!("{client}-cert.pem")),
        &p(format!("{client}-key.pem")),
        &p(format!("{ca}-cert.pem")),
    )
    .expect("client config");
    Security {
        auth_schemes: vec!["vencrypt".into()],
        vencrypt: Some(Arc::new(config)),
    }
}

/// noVNC's side: version, security type None, SecurityResult, ClientInit,
/// and the ServerInit's desktop name.
async fn browser(mut c: tokio::io::DuplexStream) -> Result<String, String> {
    let mut v = [0u8; 12];
    c.read_exact(&mut v).await.map_err(|e| e.to_string())?;
    assert_eq!(&v, rfb::VERSION_3_8);
    c.write_all(&v).await.map_err(|e| e.to_string())?;
    let mut types = [0u8; 2];
    c.read_exact(&mut types).await.map_err(|e| e.to_string())?;
    assert_eq!(types, [1, rfb::NONE], "the browser is offered None only");
    c.write_all(&[rfb::NONE]).await.map_err(|e| e.to_string())?;
    let mut result = [0u8; 4];
    c.read_exact(&mut result).await.map_err(|e| e.to_string())?;
    if result != [0, 0, 0, 0] {
        return Err(format!("SecurityResult {result:?}"));
    }
    c.write_all(&[1]).await.map_err(|e| e.to_string())?;
    let mut init = [0u8; 24];
    c.read_exact(&mut init).await.map_err(|e| e.to_string())?;
    let len = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
    let mut name = vec![0u8; len];
    c.read_exact(&mut name).await.map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&name).to_string())
}

/// The proxy between a browser and QEMU; returns (proxy result, browser result).
async fn through_proxy(port: u16, sec: Security) -> (Result<(), String>, Result<String, String>) {
    let (mut proxy_side, browser_side) = tokio::io::duplex(1 << 16);
    let b = tokio::spawn(browser(browser_side));
    let server = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to QEMU");
    let proxied = async {
        match rfb::connect(&mut proxy_side, server, "127.0.0.1", &sec).await {
            Ok(mut server) => {
                // Relay until the browser has its ServerInit.
                let relay = tokio::io::copy_bidirectional(&mut proxy_side, &mut server);
                let _ = tokio::time::timeout(Duration::from_secs(5), relay).await;
                Ok(())
            }
            Err(e) => {
                drop(proxy_side);
                Err(e.0)
            }
        }
    };
    let (p, b) = tokio::join!(proxied, async {
        tokio::time::timeout(Duration::from_secs(20), b)
            .await
            .map_err(|_| "browser timed out".to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
            .and_then(|r| r)
    });
    (p, b)
}

#[tokio::test]
async fn vencrypt_x509_to_a_real_qemu_vnc_server() {
    let dir = tempdir();
    credentials(&dir);
    let (_qemu, port) = qemu_vnc(&dir.join("qemu")).await;

    // The proxy's certificate is signed by QEMU's CA: the browser gets the
    // desktop, over TLS between proxy and QEMU.
    let (p, b) = through_proxy(port, security(&dir, "client", "ca")).await;
    assert_eq!(p, Ok(()));
    assert_eq!(b.as_deref(), Ok("QEMU (vencrypt-test)"));

    // A client certificate from another CA: QEMU refuses the TLS handshake.
    let (p, b) = through_proxy(port, security(&dir, "rogueclient", "ca")).await;
    assert!(p.is_err(), "QEMU must refuse an unknown client certificate");
    assert!(b.is_err());

    // A server whose certificate does not chain to vencrypt_ca_certs.
    let (p, _) = through_proxy(port, security(&dir, "client", "rogue")).await;
    let e = p.expect_err("an untrusted server certificate is refused");
    assert!(e.contains("TLS"), "{e}");

    // Only `none` configured while the server demands VeNCrypt.
    let (p, b) = through_proxy(port, Security::none()).await;
    assert!(p
        .expect_err("no common scheme")
        .contains("No matching auth scheme"));
    assert!(b.is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "nova-vencrypt-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// `GET /healthcheck` over `stream`; the status line, or what went wrong.
async fn get<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut s: S) -> String {
    if s.write_all(b"GET /healthcheck HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .is_err()
    {
        return "write failed".into();
    }
    let mut out = vec![];
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

async fn serve(tls: nova_novncproxy::tls::TlsSettings) -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    let listener = nova_novncproxy::tls::ProxyListener::start(l, tls).expect("listener");
    let app = axum::Router::new().route("/healthcheck", axum::routing::get(|| async { "OK\n" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

async fn tls_get(dir: &Path, port: u16) -> String {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(dir.join("ca-cert.pem"))
        .expect("ca")
        .flatten()
    {
        roots.add(c).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    match tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
    {
        Ok(s) => get(s).await,
        Err(e) => format!("TLS failed: {e}"),
    }
}

#[tokio::test]
async fn the_proxy_port_speaks_tls_when_a_cert_is_configured() {
    use nova_novncproxy::tls::TlsSettings;
    let dir = tempdir();
    make_ca(&dir, "ca");
    make_cert(&dir, "ca", "server", "serverAuth");
    let cert = dir.join("server-cert.pem").display().to_string();
    let key = dir.join("server-key.pem").display().to_string();
    let plain = |port| async move {
        get(tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect"))
        .await
    };

    // cert present: TLS and clear both answer (websockify's behaviour).
    let port = serve(TlsSettings::load(false, &cert, Some(&key)).expect("tls")).await;
    assert_eq!(tls_get(&dir, port).await, "HTTP/1.1 200 OK");
    assert_eq!(plain(port).await, "HTTP/1.1 200 OK");

    // A client that connects and says nothing holds up nobody.
    let _silent = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    assert_eq!(tls_get(&dir, port).await, "HTTP/1.1 200 OK");

    // ssl_only: clear connections are closed unanswered.
    let port = serve(TlsSettings::load(true, &cert, Some(&key)).expect("tls")).await;
    assert_eq!(tls_get(&dir, port).await, "HTTP/1.1 200 OK");
    assert_eq!(plain(port).await, "");

    // ssl_only without the certificate file is a start-up error naming it.
    let missing = dir.join("nope.pem").display().to_string();
    let e = TlsSettings::load(true, &missing, None)
        .err()
        .unwrap_or_default();
    assert!(e.contains("nope.pem"), "{e}");
    // A key that is not the certificate's is refused at start-up.
    make_cert(&dir, "ca", "other", "serverAuth");
    let other_key = dir.join("other-key.pem").display().to_string();
    assert!(TlsSettings::load(false, &cert, Some(&other_key)).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
