//! TLS on nova-novncproxy's own port, as websockify does it: when the
//! `[DEFAULT] cert` file exists, a connection whose first byte is a TLS
//! handshake is served over TLS and any other one in the clear, unless
//! `[DEFAULT] ssl_only` refuses the clear ones. The key is in `key`, or in
//! the `cert` file itself.
//!
//! Connections are accepted and their TLS handshakes run in tasks of their
//! own, so a slow or silent client never holds up the others; axum takes the
//! finished connections from [`ProxyListener`].

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info};

/// The first byte of a TLS ClientHello record.
const TLS_HANDSHAKE: u8 = 0x16;
/// How long a new connection may take to send its first byte and finish TLS.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The listener's TLS settings: the acceptor when `cert` exists, and whether
/// clear connections are refused.
#[derive(Clone)]
pub struct TlsSettings {
    pub acceptor: Option<TlsAcceptor>,
    pub ssl_only: bool,
}

impl TlsSettings {
    /// From `[DEFAULT] ssl_only`, `cert` and `key`. A missing `cert` means
    /// no TLS, which is an error only with `ssl_only`.
    pub fn load(ssl_only: bool, cert: &str, key: Option<&str>) -> Result<Self, String> {
        if !std::path::Path::new(cert).exists() {
            if ssl_only {
                return Err(format!(
                    "ssl_only is set but the certificate {cert} (the cert option) does not exist"
                ));
            }
            return Ok(TlsSettings {
                acceptor: None,
                ssl_only,
            });
        }
        let config = server_config(cert, key.unwrap_or(cert))?;
        Ok(TlsSettings {
            acceptor: Some(TlsAcceptor::from(Arc::new(config))),
            ssl_only,
        })
    }
}

fn server_config(cert: &str, key: &str) -> Result<rustls::ServerConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {cert}: {e}"))?;
    if chain.is_empty() {
        return Err(format!("no certificate in {cert}"));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the private key from {key}: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate {cert} and its key do not match: {e}"))
}

/// A client connection: clear or TLS.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// What axum serves: connections whose TLS (if any) is already set up.
pub struct ProxyListener {
    rx: mpsc::Receiver<(Conn, SocketAddr)>,
    local: SocketAddr,
}

impl ProxyListener {
    /// Accept on `listener` in the background. The task ends when the
    /// returned listener is dropped.
    pub fn start(listener: TcpListener, tls: TlsSettings) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    _ = tx.closed() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of file descriptors and the like: back off.
                            debug!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let tx = tx.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, classify(stream, &tls)).await {
                        Ok(Ok(conn)) => {
                            let _ = tx.send((conn, peer)).await;
                        }
                        Ok(Err(e)) => info!(%peer, "connection refused: {e}"),
                        Err(_) => debug!(%peer, "no TLS handshake or request in time"),
                    }
                });
            }
        });
        Ok(ProxyListener { rx, local })
    }
}

/// Clear or TLS, by the connection's first byte.
async fn classify(stream: TcpStream, tls: &TlsSettings) -> io::Result<Conn> {
    let Some(acceptor) = &tls.acceptor else {
        return Ok(Conn::Plain(stream));
    };
    let mut first = [0u8; 1];
    let n = stream.peek(&mut first).await?;
    if n == 1 && first[0] == TLS_HANDSHAKE {
        return Ok(Conn::Tls(Box::new(acceptor.accept(stream).await?)));
    }
    if tls.ssl_only {
        return Err(io::Error::other(
            "non-TLS connection received but ssl_only is set",
        ));
    }
    Ok(Conn::Plain(stream))
}

impl axum::serve::Listener for ProxyListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept task is gone (it only stops with this listener).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}
