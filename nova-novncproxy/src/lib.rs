//! nova-novncproxy: listens on `[vnc] novncproxy_host:novncproxy_port`.
//! Today it answers a health check and reports itself as a service; the
//! token-checked websocket proxy comes with the console issue.

use axum::routing::get;
use axum::Router;
use nova_common::NovaConfig;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub const BINARY: &str = "nova-novncproxy";

async fn health() -> &'static str {
    "OK\n"
}

pub fn router() -> Router {
    Router::new()
        .route("/", get(health))
        .route("/healthcheck", get(health))
}

pub async fn run(cfg: NovaConfig, shutdown: CancellationToken) -> Result<(), String> {
    let addr = format!("{}:{}", cfg.vnc.novncproxy_host, cfg.vnc.novncproxy_port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let rt = nova_rpc::service::ServiceRuntime::start(&cfg, BINARY, None, &shutdown).await?;
    info!(%addr, "listening");
    let s = shutdown.clone();
    axum::serve(listener, router())
        .with_graceful_shutdown(async move { s.cancelled().await })
        .await
        .map_err(|e| e.to_string())?;
    rt.stop().await;
    Ok(())
}
