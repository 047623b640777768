//! The accept (or receive) step of every listener: on an error such as EMFILE, log it and pause
//! briefly instead of spinning, and keep serving.

use std::time::Duration;

use tracing::warn;

/// Pause after a failed accept.
const BACK_OFF: Duration = Duration::from_millis(50);

/// The accepted value, or `None` after logging the error (`what: accept failed: …`) and pausing.
pub async fn or_back_off<T>(accepted: std::io::Result<T>, what: &str) -> Option<T> {
    match accepted {
        Ok(value) => Some(value),
        Err(e) => {
            warn!("{what}: accept failed: {e}");
            tokio::time::sleep(BACK_OFF).await;
            None
        }
    }
}

/// The limits and words of a TCP listener's accept loop.
#[derive(Debug)]
pub struct Bounds {
    /// The listener's name in log lines (`port 1515`, `HTTPS enrollment`).
    pub name: &'static str,
    /// Most connections at once; more are closed at once.
    pub max_connections: usize,
    /// Open connections per source, bounded.
    pub per_source: std::sync::Arc<crate::sources::PerSource>,
    /// How long shutdown waits for the connections in flight.
    pub drain: Duration,
    /// The WARN line when the connection bound is reached (logged once per burst).
    pub too_many: &'static str,
}

/// Accepts connections until `shutdown` resolves, within `bounds` (a source `refuse` names is
/// closed at once), handing each to `handle` on a task of its own; then waits, bounded, for the
/// connections in flight.
pub async fn serve_bounded<H, F>(
    listener: tokio::net::TcpListener,
    bounds: Bounds,
    refuse: impl Fn(std::net::IpAddr) -> bool,
    shutdown: impl std::future::Future<Output = ()>,
    handle: H,
) where
    H: Fn(tokio::net::TcpStream, std::net::SocketAddr) -> F,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    use std::sync::Arc;
    let slots = Arc::new(tokio::sync::Semaphore::new(bounds.max_connections));
    tokio::pin!(shutdown);
    let mut refused_logged = false;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match or_back_off(accepted, bounds.name).await {
                Some(pair) => pair,
                None => continue,
            },
            () = &mut shutdown => break,
        };
        if refuse(peer.ip()) {
            drop(stream);
            continue;
        }
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            if !refused_logged {
                warn!("{}", bounds.too_many);
                refused_logged = true;
            }
            drop(stream);
            continue;
        };
        refused_logged = false;
        let Some(source_slot) = bounds.per_source.acquire(peer.ip()) else {
            tracing::debug!(
                "{}: connection from {} refused: too many connections from that source",
                bounds.name,
                peer.ip()
            );
            drop((stream, permit));
            continue;
        };
        let connection = handle(stream, peer);
        tokio::spawn(async move {
            connection.await;
            drop((permit, source_slot));
        });
    }
    tracing::info!("{}: no new connections; finishing the ones in flight", bounds.name);
    let all = u32::try_from(bounds.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(bounds.drain, slots.acquire_many(all)).await.is_err() {
        warn!("{}: some connections did not finish in time", bounds.name);
    }
}
