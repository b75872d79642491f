//! systemd's service notification protocol (`sd_notify(3)`), for units with
//! `Type=notify`: `READY=1` once the service has checked in, `WATCHDOG=1`
//! from the running runtime every half `WatchdogSec`, `STOPPING=1` when the
//! drain starts. Without `$NOTIFY_SOCKET` (not started by systemd) every call
//! does nothing.

use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Send one notification; errors are logged, never fatal.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = (|| -> std::io::Result<()> {
        let sock = UnixDatagram::unbound()?;
        let bytes = path.as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)?;
        } else {
            sock.send_to(state.as_bytes(), &path)?;
        }
        Ok(())
    })();
    if let Err(e) = sent {
        tracing::warn!("cannot notify systemd ({state}): {e}");
    }
}

static READY: AtomicBool = AtomicBool::new(false);

/// `READY=1`, once per process (later calls are no-ops).
pub fn ready(status: &str) {
    if !READY.swap(true, Ordering::SeqCst) {
        notify(&format!("READY=1\nSTATUS={status}"));
    }
}

/// `STOPPING=1`: the service has begun to drain.
pub fn stopping() {
    notify("STOPPING=1\nSTATUS=draining");
}

/// The watchdog interval systemd asked for (`$WATCHDOG_USEC`, for this process).
fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// Ping the watchdog from the runtime until `shutdown`: a daemon whose
/// runtime stalls stops pinging and systemd restarts it.
pub fn spawn_watchdog(shutdown: CancellationToken) {
    let Some(every) = watchdog_interval() else {
        return;
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => notify("WATCHDOG=1"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_reach_the_socket() {
        let dir = std::env::temp_dir().join(format!("nova-sd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        // The only test in this crate that sets NOTIFY_SOCKET.
        std::env::set_var("NOTIFY_SOCKET", &path);
        ready("checked in");
        ready("twice");
        stopping();
        std::env::remove_var("NOTIFY_SOCKET");
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=checked in");
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1\nSTATUS=draining");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
