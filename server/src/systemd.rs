//! systemd's notification protocol, for `Type=notify` units: `READY=1` once every listener is bound
//! and the registry is loaded, `STOPPING=1` when shutdown begins, and watchdog keep-alives
//! (`WATCHDOG=1`, every half `WatchdogSec`) sent only while the registry owner still answers — a
//! wedged server stops them and systemd restarts it. Without `NOTIFY_SOCKET` nothing is sent.

use std::time::Duration;

use sd_notify::NotifyState;
use tracing::{debug, warn};

use crate::registry::owner::Handle;

/// Tells systemd the server is up.
pub fn ready(status: &str) {
    if let Err(e) = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(status)]) {
        warn!("cannot notify systemd that the server is ready: {e}");
    }
}

/// Tells systemd a reload began (systemd 253+ wants the monotonic time with it).
pub fn reloading() {
    let mut states = vec![NotifyState::Reloading];
    if let Ok(now) = NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    let _ = sd_notify::notify(false, &states);
}

/// Tells systemd the server is stopping.
pub fn stopping() {
    let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
}

/// `WATCHDOG_USEC`, as libsystemd reads it: set, non-zero, and meant for this process
/// (`WATCHDOG_PID` unset or equal to our PID).
fn watchdog_usec() -> Option<u64> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok().filter(|&u| u > 0)?;
    match std::env::var("WATCHDOG_PID") {
        Ok(pid) if pid.parse::<u32>().ok() != Some(std::process::id()) => None,
        _ => Some(usec),
    }
}

/// Sends watchdog keep-alives while the owner answers, until `stop` says so; nothing when the
/// unit has no `WatchdogSec`.
pub fn spawn_watchdog(registry: Handle, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Some(usec) = watchdog_usec() else { return };
    let period = Duration::from_micros(usec / 2).max(Duration::from_millis(10));
    debug!("systemd watchdog: a keep-alive every {} ms", period.as_millis());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(period) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            // The owner answering a read is the sign of life: a stuck owner starves the watchdog.
            let alive = tokio::time::timeout(period, registry.tokens()).await.is_ok();
            if alive {
                let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
            } else {
                warn!(
                    "systemd watchdog: the registry did not answer within {} ms; no keep-alive sent",
                    period.as_millis()
                );
            }
        }
    });
}
