//! nova-novncproxy (Nova's `nova/cmd/novncproxy.py` with
//! `nova/console/websocketproxy.py`): listens on
//! `[vnc] novncproxy_host:novncproxy_port`, serves the noVNC web client from
//! `[DEFAULT] web`, and proxies a websocket to the guest's VNC server once
//! its token checks out:
//! - the token comes from the query string (`token=`, or inside `path=`) or a
//!   `token` cookie, and is looked up by its SHA-256 through the conductor;
//! - the compute host confirms the port is still the instance's console
//!   (`validate_console_port`, CVE-2013-0335);
//! - a browser's `Origin` must be the request's Host or one of
//!   `[console] allowed_origins`, with the scheme of the token's URL;
//! - paths starting with `//` are refused (OSSA-2021-002);
//! - the RFB handshake is Nova's security proxy ([`rfb`]);
//! - a token holds at most [`MAX_SESSIONS_PER_TOKEN`] live sessions (OSSN-0008);
//! - TLS on the proxy's port with `[DEFAULT] cert`/`key`/`ssl_only` ([`tls`]).
//!
//! A refused websocket is closed before any data is sent.

pub mod rfb;
mod static_files;
pub mod tls;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::middleware::{from_fn, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;
use nova_common::{NovaConfig, NovaError, RequestContext};
use nova_objects::ConsoleAuthToken;
use nova_rpc::{compute, conductor};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub const BINARY: &str = "nova-novncproxy";

/// What a websocket needs to reach a console.
#[derive(Clone)]
pub struct Proxy {
    pub cfg: Arc<NovaConfig>,
    pub conductor: conductor::Client,
    pub compute: compute::Client,
    /// Live sessions per token hash (OSSN-0008: one token must not open
    /// unlimited sessions).
    pub sessions: Arc<Mutex<HashMap<String, usize>>>,
    /// How to authenticate to the guests' VNC servers.
    pub security: rfb::Security,
}

/// Live sessions one token may hold at once. Nova has no option for it; a
/// browser tab holds one, a reconnect briefly two.
pub const MAX_SESSIONS_PER_TOKEN: usize = 4;

/// One live session of a token; its slot is given back when dropped.
struct SessionSlot {
    sessions: Arc<Mutex<HashMap<String, usize>>>,
    token_hash: String,
}

impl SessionSlot {
    fn take(sessions: &Arc<Mutex<HashMap<String, usize>>>, token_hash: String) -> Option<Self> {
        let mut m = sessions.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(token_hash.clone()).or_default();
        if *n >= MAX_SESSIONS_PER_TOKEN {
            return None;
        }
        *n += 1;
        Some(SessionSlot {
            sessions: sessions.clone(),
            token_hash,
        })
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut m = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.token_hash) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.token_hash);
            }
        }
    }
}

async fn health() -> &'static str {
    "OK\n"
}

/// Refuse `//...` (and `///...`): websockify would redirect to another site.
async fn refuse_double_slash(req: Request<Body>, next: Next) -> Response {
    if req.uri().path().starts_with("//") {
        return (StatusCode::BAD_REQUEST, "URI must not start with //\n").into_response();
    }
    next.run(req).await
}

/// Percent-decoding of a query value (`+` is a space).
fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match u8::from_str_radix(&v[i + 1..i + 3], 16) {
                Ok(x) => {
                    out.push(x);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (unquote(k) == name).then(|| unquote(v))
    })
}

/// The token of a query string: `token=`, or inside noVNC's `path=` (>= 1.1).
fn token_in_query(query: &str) -> Option<String> {
    if let Some(t) = query_param(query, "token").filter(|t| !t.is_empty()) {
        return Some(t);
    }
    let path = query_param(query, "path")?;
    let (_, q) = path.split_once('?')?;
    query_param(q, "token").filter(|t| !t.is_empty())
}

/// The token of a websocket request: in its query string, else in a
/// `token` cookie (Tempest sends the console URL's query as the cookie, so
/// a `path` cookie holding `?token=` counts too).
pub fn find_token(uri: &Uri, headers: &HeaderMap) -> Option<String> {
    if let Some(t) = token_in_query(uri.query().unwrap_or_default()) {
        return Some(t);
    }
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|c| c.to_str().ok())
        .flat_map(|c| c.split(';'))
        .find_map(|kv| token_in_query(kv.trim()))
}

/// `scheme://host[:port]/...` → (scheme, host name).
fn scheme_and_host(url: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    Some((scheme.to_ascii_lowercase(), host_name(authority)))
}

/// The host name of `host[:port]` or `[v6]:port`.
fn host_name(authority: &str) -> String {
    let h = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    h.to_ascii_lowercase()
}

/// Nova's origin check: only when the request has an `Origin`. Its host must
/// be the request's Host or one of `allowed_origins` (a copy per request:
/// the configured list is never extended, Nova bug 2158919), and its scheme
/// must be the one of the token's URL (`X-Forwarded-Proto` wins over the
/// Origin's own, as behind a TLS-terminating proxy).
pub fn check_origin(
    headers: &HeaderMap,
    allowed_origins: &[String],
    access_url_base: &str,
) -> Result<(), String> {
    let Some(origin) = headers.get("origin").and_then(|o| o.to_str().ok()) else {
        return Ok(());
    };
    let Some((origin_scheme, origin_host)) = scheme_and_host(origin) else {
        return Err("Origin header not valid.".into());
    };
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(host_name)
        .unwrap_or_default();
    let mut expected: Vec<String> = allowed_origins
        .iter()
        .map(|o| o.to_ascii_lowercase())
        .collect();
    expected.push(host);
    if !expected.contains(&origin_host) {
        return Err("Origin header does not match this host.".into());
    }
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|p| p.to_str().ok())
        .map(str::to_ascii_lowercase)
        .unwrap_or(origin_scheme);
    let base_scheme = scheme_and_host(access_url_base)
        .map(|(s, _)| s)
        .unwrap_or_default();
    let same = |a: &str, b: &str| {
        let norm = |s: &str| match s {
            "ws" => "http".to_string(),
            "wss" => "https".to_string(),
            o => o.to_string(),
        };
        norm(a) == norm(b)
    };
    if !same(&scheme, &base_scheme) {
        return Err("Origin header protocol does not match this host.".into());
    }
    Ok(())
}

impl Proxy {
    /// The token's authorization, once the compute host confirms its port.
    async fn connect_info(&self, token: &str) -> Result<ConsoleAuthToken, NovaError> {
        let ctx = RequestContext::admin();
        let auth = self
            .conductor
            .console_auth_token_validate(&ctx, ConsoleAuthToken::hash(token))
            .await?;
        let inst = self
            .conductor
            .instance_get_by_uuid(&ctx, auth.instance_uuid)
            .await?;
        let host = inst.host.clone().ok_or(NovaError::InvalidToken {
            token: "***".into(),
        })?;
        let valid = self
            .compute
            .to_server(&host)
            .validate_console_port(&ctx, inst, auth.port, auth.console_type.clone())
            .await?;
        if !valid {
            return Err(NovaError::InvalidToken {
                token: "***".into(),
            });
        }
        Ok(auth)
    }

    /// The websocket's life: checks, the guest's VNC server, the RFB
    /// security proxy, then bytes both ways until one side closes.
    async fn session(self, mut ws: WebSocket, token: Option<String>, headers: HeaderMap) {
        let Some(token) = token else {
            info!("console refused: no token");
            return close(ws).await;
        };
        let Some(_slot) = SessionSlot::take(&self.sessions, ConsoleAuthToken::hash(&token)) else {
            info!("console refused: the token already has {MAX_SESSIONS_PER_TOKEN} sessions");
            return close(ws).await;
        };
        let auth = match self.connect_info(&token).await {
            Ok(a) => a,
            Err(e) => {
                info!("console refused: {e}");
                return close(ws).await;
            }
        };
        if let Err(e) = check_origin(
            &headers,
            &self.cfg.vnc.allowed_origins,
            &auth.access_url_base,
        ) {
            info!(instance = %auth.instance_uuid, "console refused: {e}");
            return close(ws).await;
        }
        let addr = format!("{}:{}", auth.host, auth.port);
        let mut server = match tokio::net::TcpStream::connect(&addr).await {
            Ok(s) => s,
            Err(e) => {
                warn!(instance = %auth.instance_uuid, "cannot reach the console at {addr}: {e}");
                return close(ws).await;
            }
        };
        if let Some(path) = &auth.internal_access_path {
            if let Err(e) = http_connect(&mut server, path).await {
                warn!(instance = %auth.instance_uuid, "console CONNECT {path} failed: {e}");
                return close(ws).await;
            }
        }
        info!(instance = %auth.instance_uuid, %addr, "console session starts");
        // The websocket as a byte stream for the RFB proxy.
        let (mut client, pipe) = tokio::io::duplex(64 * 1024);
        let (mut pipe_r, mut pipe_w) = tokio::io::split(pipe);
        let pump = async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                tokio::select! {
                    msg = ws.next() => match msg {
                        Some(Ok(Message::Binary(b))) => {
                            if pipe_w.write_all(&b).await.is_err() { break; }
                        }
                        Some(Ok(Message::Text(t))) => {
                            if pipe_w.write_all(t.as_bytes()).await.is_err() { break; }
                        }
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                        Some(Ok(_)) => {}
                    },
                    n = pipe_r.read(&mut buf) => match n {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if ws.send(Message::Binary(buf[..n].to_vec().into())).await.is_err() { break; }
                        }
                    },
                }
            }
            let _ = ws.send(Message::Close(None)).await;
        };
        let security = self.security.clone();
        let uuid = auth.instance_uuid;
        let server_name = auth.host.clone();
        let relay = async move {
            match rfb::connect(&mut client, server, &server_name, &security).await {
                Ok(mut server) => {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
                Err(e) => warn!(instance = %uuid, "{e}"),
            }
            // Dropping `client` ends the pump.
        };
        let both = async {
            tokio::join!(pump, relay);
        };
        if self.cfg.vnc.enforce_session_timeout {
            let left = (auth.expires - unix_now()).max(0) as u64;
            tokio::select! {
                _ = both => {}
                _ = tokio::time::sleep(std::time::Duration::from_secs(left)) => {
                    info!(instance = %uuid, "console session closed: its token expired");
                }
            }
        } else {
            both.await;
        }
        info!(instance = %uuid, "console session ends");
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

async fn close(mut ws: WebSocket) {
    let _ = ws.send(Message::Close(None)).await;
}

/// `CONNECT <path> HTTP/1.1`, expecting a 200 (an `internal_access_path`).
async fn http_connect(s: &mut tokio::net::TcpStream, path: &str) -> std::io::Result<()> {
    s.write_all(format!("CONNECT {path} HTTP/1.1\r\n\r\n").as_bytes())
        .await?;
    let mut head = vec![];
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 4096 {
        if s.read(&mut b).await? == 0 {
            break;
        }
        head.push(b[0]);
    }
    let line = String::from_utf8_lossy(&head);
    if line.split_whitespace().nth(1) != Some("200") {
        return Err(std::io::Error::other(format!(
            "unexpected answer {:?}",
            line.lines().next().unwrap_or_default()
        )));
    }
    Ok(())
}

/// Every request: a websocket upgrade is a console session, anything else
/// a file of the noVNC client.
async fn handle(State(proxy): State<Proxy>, req: Request<Body>) -> Response {
    let (mut parts, _body) = req.into_parts();
    let is_upgrade = parts
        .headers
        .get("upgrade")
        .and_then(|u| u.to_str().ok())
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    if !is_upgrade {
        return static_files::serve(&proxy.cfg.default.web, &parts.method, parts.uri.path()).await;
    }
    let token = find_token(&parts.uri, &parts.headers);
    let headers = parts.headers.clone();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    // websockify answers `binary` when the client offers it.
    upgrade
        .protocols(["binary"])
        .on_upgrade(move |ws| proxy.session(ws, token, headers))
}

pub fn router(proxy: Proxy) -> Router {
    Router::new()
        .route("/healthcheck", get(health))
        .fallback(handle)
        .with_state(proxy)
        .layer(from_fn(refuse_double_slash))
}

/// The VeNCrypt client of `[vnc] vencrypt_client_*`, when `auth_schemes`
/// names `vencrypt`.
pub fn security(cfg: &NovaConfig) -> Result<rfb::Security, String> {
    let v = &cfg.vnc;
    let vencrypt = if v.auth_schemes.iter().any(|s| s == "vencrypt") {
        let (Some(cert), Some(key), Some(ca)) = (
            &v.vencrypt_client_cert,
            &v.vencrypt_client_key,
            &v.vencrypt_ca_certs,
        ) else {
            return Err("[vnc] auth_schemes includes vencrypt: set vencrypt_client_cert, vencrypt_client_key and vencrypt_ca_certs".into());
        };
        Some(Arc::new(rfb::vencrypt_client_config(cert, key, ca)?))
    } else {
        None
    };
    Ok(rfb::Security {
        auth_schemes: v.auth_schemes.clone(),
        vencrypt,
    })
}

pub async fn run(cfg: NovaConfig, shutdown: CancellationToken) -> Result<(), String> {
    let addr = format!("{}:{}", cfg.vnc.novncproxy_host, cfg.vnc.novncproxy_port);
    let security = security(&cfg)?;
    let tls = tls::TlsSettings::load(
        cfg.default.ssl_only,
        &cfg.default.cert,
        cfg.default.key.as_deref(),
    )?;
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let tls_on = tls.acceptor.is_some();
    let listener = tls::ProxyListener::start(listener, tls)
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let rt = nova_rpc::service::ServiceRuntime::start(&cfg, BINARY, None, &shutdown).await?;
    let proxy = Proxy {
        cfg: Arc::new(cfg.clone()),
        conductor: rt.conductor.clone(),
        compute: compute::Client::new(rt.transport.clone()),
        sessions: Arc::default(),
        security,
    };
    info!(%addr, web = %cfg.default.web, tls = tls_on, ssl_only = cfg.default.ssl_only, "listening");
    let s = shutdown.clone();
    axum::serve(listener, router(proxy))
        .with_graceful_shutdown(async move { s.cancelled().await })
        .await
        .map_err(|e| e.to_string())?;
    rt.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                *k,
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            );
        }
        h
    }

    #[test]
    fn tokens_come_from_the_query_its_path_or_a_cookie() {
        let none = HeaderMap::new();
        let uri = |s: &str| s.parse::<Uri>().unwrap_or_default();
        assert_eq!(
            find_token(&uri("/?token=abc"), &none).as_deref(),
            Some("abc")
        );
        assert_eq!(
            find_token(&uri("/websockify?path=%3Ftoken%3Dxyz"), &none).as_deref(),
            Some("xyz")
        );
        let cookie = headers(&[("cookie", "a=b; token=c00k")]);
        assert_eq!(find_token(&uri("/"), &cookie).as_deref(), Some("c00k"));
        let cookie = headers(&[("cookie", "path=%3Ftoken%3Dp4th")]);
        assert_eq!(find_token(&uri("/"), &cookie).as_deref(), Some("p4th"));
        assert_eq!(find_token(&uri("/?x=1"), &none), None);
    }

    #[test]
    fn origins_must_match_the_host_or_the_allowed_list_and_the_scheme() {
        let base = "http://console.example:6080/vnc_auto.html";
        let ok = |h: &[(&'static str, &str)], allowed: &[&str]| {
            let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
            check_origin(&headers(h), &allowed, base).is_ok()
        };
        assert!(
            ok(&[("host", "127.0.0.1:6080")], &[]),
            "no Origin: accepted"
        );
        assert!(ok(
            &[
                ("host", "127.0.0.1:6080"),
                ("origin", "http://127.0.0.1:6080")
            ],
            &[]
        ));
        assert!(!ok(
            &[
                ("host", "127.0.0.1:6080"),
                ("origin", "http://evil.example")
            ],
            &[]
        ));
        assert!(ok(
            &[
                ("host", "127.0.0.1:6080"),
                ("origin", "http://good.example")
            ],
            &["good.example"]
        ));
        assert!(!ok(
            &[
                ("host", "127.0.0.1:6080"),
                ("origin", "https://127.0.0.1:6080")
            ],
            &[]
        ));
        assert!(!ok(
            &[
                ("host", "h"),
                ("origin", "http://h"),
                ("x-forwarded-proto", "https")
            ],
            &[]
        ));
        assert!(!ok(&[("host", "h"), ("origin", "null")], &[]));
    }

    #[test]
    fn a_token_holds_a_bounded_number_of_sessions() {
        let sessions = Arc::default();
        let slots: Vec<_> = (0..MAX_SESSIONS_PER_TOKEN)
            .filter_map(|_| SessionSlot::take(&sessions, "h".into()))
            .collect();
        assert_eq!(slots.len(), MAX_SESSIONS_PER_TOKEN);
        assert!(SessionSlot::take(&sessions, "h".into()).is_none());
        assert!(SessionSlot::take(&sessions, "other".into()).is_some());
        drop(slots);
        assert!(SessionSlot::take(&sessions, "h".into()).is_some());
        assert!(sessions
            .lock()
            .map(|m| m.get("h").is_none())
            .unwrap_or(false));
    }

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(unquote("%3Ftoken%3Da+b"), "?token=a b");
        assert_eq!(unquote("100%"), "100%");
    }
}
