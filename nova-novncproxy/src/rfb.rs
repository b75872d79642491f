//! Nova's RFB security proxy (`nova/console/securityproxy/rfb.py`): the
//! proxy, not the guest's VNC server, negotiates security with the browser.
//! Both sides must speak RFB 3.8; the client is offered only security type
//! None (1), and the proxy authenticates to the server with one of
//! `[vnc] auth_schemes`: `none`, or `vencrypt` (VeNCrypt 0.2 with the
//! X509None subtype: TLS with the proxy's client certificate, the server's
//! certificate checked against `vencrypt_ca_certs` and the address the proxy
//! dialled). After the handshake the bytes are relayed as they are (the
//! server's SecurityResult, ServerInit and everything after), over TLS when
//! VeNCrypt was negotiated.

use std::fmt;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::rustls;

pub const VERSION_3_8: &[u8; 12] = b"RFB 003.008\n";
/// Security type None.
pub const NONE: u8 = 1;
/// Security type VeNCrypt.
pub const VENCRYPT: u8 = 19;
/// The VeNCrypt subtype Nova speaks: TLS with x509 certificates, no further
/// authentication inside.
pub const X509_NONE: u32 = 260;
/// The longest failure reason read from a server (a hostile server could
/// announce 4 GiB, Nova bug 2155052).
pub const MAX_REASON: usize = 256;

#[derive(Debug, PartialEq)]
pub struct NegotiationFailed(pub String);

impl fmt::Display for NegotiationFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Failed to negotiate security type with server: {}",
            self.0
        )
    }
}

type Result<T> = std::result::Result<T, NegotiationFailed>;

fn io(what: &str) -> impl Fn(std::io::Error) -> NegotiationFailed + '_ {
    move |e| NegotiationFailed(format!("{what}: {e}"))
}

async fn read_exact<R: AsyncRead + Unpin>(r: &mut R, n: usize, what: &str) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    r.read_exact(&mut buf).await.map_err(io(what))?;
    Ok(buf)
}

async fn send<W: AsyncWrite + Unpin>(w: &mut W, data: &[u8], what: &str) -> Result<()> {
    w.write_all(data).await.map_err(io(what))?;
    w.flush().await.map_err(io(what))
}

/// Tell the client the handshake failed (SecurityResult 1 with a reason).
async fn fail_client<C: AsyncWrite + Unpin>(client: &mut C, reason: &str) {
    let mut msg = 1u32.to_be_bytes().to_vec();
    msg.extend((reason.len() as u32).to_be_bytes());
    msg.extend(reason.as_bytes());
    let _ = send(client, &msg, "client").await;
}

/// A failure reason from the server: its length, then at most [`MAX_REASON`] bytes of it.
async fn read_reason<S: AsyncRead + Unpin>(server: &mut S) -> Result<String> {
    let len = u32::from_be_bytes(
        read_exact(server, 4, "server")
            .await?
            .try_into()
            .unwrap_or_default(),
    ) as usize;
    let reason = read_exact(server, len.min(MAX_REASON), "server").await?;
    Ok(String::from_utf8_lossy(&reason).to_string())
}

fn check_version(v: &[u8], side: &str) -> Result<()> {
    if v != VERSION_3_8 {
        return Err(NegotiationFailed(format!(
            "Security proxying requires RFB protocol version 3.8, but {side} sent {:?}",
            String::from_utf8_lossy(v)
        )));
    }
    Ok(())
}

/// The security type of a `[vnc] auth_schemes` name.
fn scheme_type(name: &str) -> Option<u8> {
    match name {
        "none" => Some(NONE),
        "vencrypt" => Some(VENCRYPT),
        _ => None,
    }
}

/// A byte stream to the VNC server: the TCP connection, or TLS over it.
pub trait ServerStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ServerStream for T {}

/// How the proxy authenticates to VNC servers (`[vnc] auth_schemes`, in
/// order of preference, and the VeNCrypt client credentials).
#[derive(Clone)]
pub struct Security {
    pub auth_schemes: Vec<String>,
    /// Set when `vencrypt` is among the schemes.
    pub vencrypt: Option<Arc<rustls::ClientConfig>>,
}

impl Security {
    /// Only the `none` scheme.
    pub fn none() -> Self {
        Security {
            auth_schemes: vec!["none".into()],
            vencrypt: None,
        }
    }
}

/// The TLS client of `vencrypt`: the proxy's certificate and key, and the
/// CAs the servers' certificates must chain to.
pub fn vencrypt_client_config(
    client_cert: &str,
    client_key: &str,
    ca_certs: &str,
) -> std::result::Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read_certs = |path: &str| -> std::result::Result<Vec<CertificateDer<'static>>, String> {
        CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read certificates from {path}: {e}"))
    };
    let mut roots = rustls::RootCertStore::empty();
    for ca in read_certs(ca_certs)? {
        roots
            .add(ca)
            .map_err(|e| format!("bad CA certificate in {ca_certs}: {e}"))?;
    }
    let chain = read_certs(client_cert)?;
    let key = PrivateKeyDer::from_pem_file(client_key)
        .map_err(|e| format!("cannot read the private key {client_key}: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("the VeNCrypt client certificate and key do not match: {e}"))
}

/// VeNCrypt 0.2 after the server accepted security type 19: agree on the
/// version, pick X509None, and start TLS as `server_name`.
async fn vencrypt<S>(
    mut server: S,
    config: Arc<rustls::ClientConfig>,
    server_name: &str,
) -> Result<tokio_rustls::client::TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let version = read_exact(&mut server, 2, "VeNCrypt version").await?;
    if version != [0, 2] {
        return Err(NegotiationFailed(format!(
            "Only VeNCrypt version 0.2 is supported, the server offered {}.{}",
            version[0], version[1]
        )));
    }
    send(&mut server, &[0, 2], "server").await?;
    if read_exact(&mut server, 1, "VeNCrypt version answer").await?[0] != 0 {
        return Err(NegotiationFailed(
            "The server refused VeNCrypt version 0.2".into(),
        ));
    }
    let count = read_exact(&mut server, 1, "VeNCrypt subtypes").await?[0] as usize;
    let subtypes: Vec<u32> = read_exact(&mut server, count * 4, "VeNCrypt subtypes")
        .await?
        .chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if !subtypes.contains(&X509_NONE) {
        return Err(NegotiationFailed(format!(
            "The server does not offer VeNCrypt X509None ({X509_NONE}); it offered {subtypes:?}"
        )));
    }
    send(&mut server, &X509_NONE.to_be_bytes(), "server").await?;
    if read_exact(&mut server, 1, "VeNCrypt subtype answer").await?[0] != 1 {
        return Err(NegotiationFailed(
            "The server refused the VeNCrypt subtype X509None".into(),
        ));
    }
    let name = rustls::pki_types::ServerName::try_from(server_name.to_string())
        .map_err(|e| NegotiationFailed(format!("bad VNC server name {server_name:?}: {e}")))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, server)
        .await
        .map_err(|e| NegotiationFailed(format!("VeNCrypt TLS handshake failed: {e}")))
}

/// Run the handshake between `client` (the browser, through the websocket)
/// and `server` (the guest's VNC server at `server_name`). On success the
/// client has the server's SecurityResult and the returned stream to the
/// server (over TLS after VeNCrypt) is ready to be relayed.
pub async fn connect<C, S>(
    client: &mut C,
    mut server: S,
    server_name: &str,
    security: &Security,
) -> Result<Box<dyn ServerStream>>
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let scheme = negotiate(client, &mut server, &security.auth_schemes).await?;
    let mut server: Box<dyn ServerStream> = if scheme == VENCRYPT {
        let Some(config) = security.vencrypt.clone() else {
            fail_client(client, "Unable to negotiate security with server").await;
            return Err(NegotiationFailed(
                "vencrypt is in auth_schemes but no VeNCrypt client certificate is configured"
                    .into(),
            ));
        };
        match vencrypt(server, config, server_name).await {
            Ok(tls) => Box::new(tls),
            Err(e) => {
                fail_client(client, "Unable to negotiate security with server").await;
                return Err(e);
            }
        }
    } else {
        Box::new(server)
    };

    // The server's SecurityResult; a failure's reason is capped.
    let result = read_exact(&mut server, 4, "server security result").await?;
    if result != [0, 0, 0, 0] {
        let reason = read_reason(&mut server).await.unwrap_or_default();
        fail_client(client, "Unable to negotiate security with server").await;
        return Err(NegotiationFailed(format!("server refused: {reason}")));
    }
    send(client, &result, "client").await?;
    Ok(server)
}

/// Versions and security types on both sides; returns the type sent to the
/// server.
async fn negotiate<C, S>(client: &mut C, server: &mut S, auth_schemes: &[String]) -> Result<u8>
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Versions: the server's, ours to the client, the client's, ours to the server.
    let v = read_exact(server, 12, "server version").await?;
    check_version(&v, "server")?;
    send(client, VERSION_3_8, "client").await?;
    let v = read_exact(client, 12, "client version").await?;
    check_version(&v, "client")?;
    send(server, VERSION_3_8, "server").await?;

    // The server's security types (none: a failure with its reason).
    let count = read_exact(server, 1, "server security types").await?[0] as usize;
    if count == 0 {
        let reason = read_reason(server).await?;
        let mut msg = vec![0u8];
        msg.extend((reason.len() as u32).to_be_bytes());
        msg.extend(reason.as_bytes());
        let _ = send(client, &msg, "client").await;
        return Err(NegotiationFailed(reason));
    }
    let offered = read_exact(server, count, "server security types").await?;

    // The client gets None only.
    send(client, &[1, NONE], "client").await?;
    let chosen = read_exact(client, 1, "client security type").await?[0];
    if chosen != NONE {
        let reason = format!("Only the security type None ({NONE}) is supported");
        fail_client(client, &reason).await;
        return Err(NegotiationFailed(reason));
    }

    // The server gets the first configured scheme it offers.
    let Some(scheme) = auth_schemes
        .iter()
        .filter_map(|s| scheme_type(s))
        .find(|t| offered.contains(t))
    else {
        // The client is not told what the server offered.
        fail_client(client, "Unable to negotiate security with server").await;
        return Err(NegotiationFailed(format!(
            "No matching auth scheme: allowed types: {auth_schemes:?}, server offered: {offered:?}"
        )));
    };
    send(server, &[scheme], "server").await?;
    Ok(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    /// A VNC server offering `types`, then answering `result`.
    async fn server_side(mut s: tokio::io::DuplexStream, types: Vec<u8>, tail: Vec<u8>) -> Vec<u8> {
        s.write_all(VERSION_3_8).await.unwrap_or_default();
        let mut v = [0u8; 12];
        s.read_exact(&mut v).await.unwrap_or_default();
        s.write_all(&types).await.unwrap_or_default();
        let mut got = vec![];
        if types.first() != Some(&0) {
            let mut c = [0u8; 1];
            s.read_exact(&mut c).await.unwrap_or_default();
            got.push(c[0]);
        }
        s.write_all(&tail).await.unwrap_or_default();
        got
    }

    async fn client_side(mut c: tokio::io::DuplexStream, choice: u8) -> Vec<u8> {
        let mut v = [0u8; 12];
        c.read_exact(&mut v).await.unwrap_or_default();
        c.write_all(VERSION_3_8).await.unwrap_or_default();
        let mut all = v.to_vec();
        let mut types = [0u8; 2];
        if c.read_exact(&mut types).await.is_err() {
            return all;
        }
        all.extend(types);
        c.write_all(&[choice]).await.unwrap_or_default();
        let mut rest = vec![];
        let _ = c.read_to_end(&mut rest).await;
        all.extend(rest);
        all
    }

    async fn run(types: Vec<u8>, tail: Vec<u8>, choice: u8) -> (Result<()>, Vec<u8>, Vec<u8>) {
        let (mut cp, cc) = duplex(1 << 16);
        let (sp, ss) = duplex(1 << 16);
        let srv = tokio::spawn(server_side(ss, types, tail));
        let cli = tokio::spawn(client_side(cc, choice));
        let r = connect(&mut cp, sp, "localhost", &Security::none())
            .await
            .map(drop);
        drop(cp);
        (
            r,
            srv.await.unwrap_or_default(),
            cli.await.unwrap_or_default(),
        )
    }

    #[tokio::test]
    async fn the_client_gets_none_and_the_servers_result() {
        let (r, server_got, client_got) = run(vec![2, 2, 1], vec![0, 0, 0, 0], 1).await;
        assert_eq!(r, Ok(()));
        assert_eq!(server_got, vec![NONE]);
        let mut want = VERSION_3_8.to_vec();
        want.extend([1, NONE, 0, 0, 0, 0]);
        assert_eq!(client_got, want);
    }

    #[tokio::test]
    async fn a_server_without_none_is_refused() {
        let (r, _, client_got) = run(vec![1, 2], vec![], 1).await;
        assert!(r.is_err());
        assert_eq!(&client_got[14..18], &[0, 0, 0, 1]);
    }

    #[tokio::test]
    async fn a_client_choosing_another_type_is_refused() {
        let (r, _, _) = run(vec![1, 1], vec![0, 0, 0, 0], 2).await;
        assert!(r.unwrap_err().0.contains("Only the security type None"));
    }

    #[tokio::test]
    async fn a_huge_failure_reason_is_not_read_whole() {
        let mut types = vec![0u8];
        types.extend(u32::MAX.to_be_bytes());
        types.extend(vec![b'x'; 1000]);
        let (r, _, _) = run(types, vec![], 1).await;
        assert_eq!(r.unwrap_err().0.len(), MAX_REASON);
    }

    #[tokio::test]
    async fn other_rfb_versions_are_refused() {
        let (mut cp, _cc) = duplex(64);
        let (sp, mut ss) = duplex(64);
        ss.write_all(b"RFB 003.003\n").await.unwrap_or_default();
        let r = connect(&mut cp, sp, "localhost", &Security::none()).await;
        assert!(r.err().map(|e| e.0).unwrap_or_default().contains("3.8"));
    }
}
