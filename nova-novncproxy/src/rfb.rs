//! Nova's RFB security proxy (`nova/console/securityproxy/rfb.py`): the
//! proxy, not the guest's VNC server, negotiates security with the browser.
//! Both sides must speak RFB 3.8; the client is offered only security type
//! None (1), and the proxy authenticates to the server with one of
//! `[vnc] auth_schemes`. After the handshake the bytes are relayed as they are
//! (the server's SecurityResult, ServerInit and everything after).

use std::fmt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const VERSION_3_8: &[u8; 12] = b"RFB 003.008\n";
/// Security type None.
pub const NONE: u8 = 1;
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
        _ => None,
    }
}

/// Run the handshake between `client` (the browser, through the websocket)
/// and `server` (the guest's VNC server). On success both streams are at the
/// server's SecurityResult, ready to be relayed.
pub async fn connect<C, S>(client: &mut C, server: &mut S, auth_schemes: &[String]) -> Result<()>
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

    // The server's SecurityResult; a failure's reason is capped.
    let result = read_exact(server, 4, "server security result").await?;
    if result != [0, 0, 0, 0] {
        let reason = read_reason(server).await.unwrap_or_default();
        fail_client(client, "Unable to negotiate security with server").await;
        return Err(NegotiationFailed(format!("server refused: {reason}")));
    }
    send(client, &result, "client").await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    fn schemes() -> Vec<String> {
        vec!["none".into()]
    }

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
        let (mut sp, ss) = duplex(1 << 16);
        let srv = tokio::spawn(server_side(ss, types, tail));
        let cli = tokio::spawn(client_side(cc, choice));
        let r = connect(&mut cp, &mut sp, &schemes()).await;
        drop(cp);
        drop(sp);
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
        let (mut sp, mut ss) = duplex(64);
        ss.write_all(b"RFB 003.003\n").await.unwrap_or_default();
        let r = connect(&mut cp, &mut sp, &schemes()).await;
        assert!(r.unwrap_err().0.contains("3.8"));
    }
}
