//! The HTTP server under each of nova-api's listeners: one accept loop over
//! hyper's HTTP/1 connections, with the peer's address for the metadata
//! service and graceful shutdown.
//!
//! A client may close its sending side once its request is out and still
//! read the answer (`shutdown(SHUT_WR)`, what `nc` does at the end of its
//! input and what HTTP/1.0 allows; eventlet's WSGI server, under upstream
//! Nova, answers such a client). `axum::serve` takes that FIN for a hang-up
//! and drops the answer: every guest's first metadata request, which waits
//! for a conductor round trip, came back empty, and only the cached retry
//! two seconds later beat the FIN. Here hyper's `half_close` is on.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::Service;
use tracing::{debug, warn};

/// Serve `app` on `listener` until `shutdown`, then wait for the requests in
/// flight (the caller bounds that wait with `graceful_shutdown_timeout`).
pub async fn serve(listener: TcpListener, app: Router, shutdown: CancellationToken) {
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off, go on.
                    warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let svc = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            // A Router is always ready; no poll_ready needed.
            let mut app = app.clone();
            async move { app.call(req).await }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .half_close(true)
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(stream), svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                debug!(%peer, "connection ended: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A client that half-closes after its request still gets the answer of
    /// a handler that takes a while (the guest's `nc` against the metadata
    /// service), and the handler sees the client's address.
    #[tokio::test]
    async fn half_closed_client_gets_its_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().route(
            "/slow",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                format!("hello {}", peer.ip())
            }),
        );
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(listener, app, stop.clone()));
        let mut c = tokio::net::TcpStream::connect(addr).await.expect("connect");
        c.write_all(b"GET /slow HTTP/1.0\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        c.shutdown().await.expect("half-close");
        let mut answer = String::new();
        c.read_to_string(&mut answer).await.expect("read");
        assert!(answer.starts_with("HTTP/1.0 200"), "{answer:?}");
        assert!(answer.ends_with("hello 127.0.0.1"), "{answer:?}");
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("server stops on shutdown")
            .expect("join");
    }
}
