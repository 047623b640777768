//! The Wazuh 5.0 HTTPS enrollment listener (default port 1517): `POST /<prefix>/enroll`,
//! `POST /<prefix>/enroll/secret` and `GET /<prefix>/cacerts`, over TLS 1.3, with hyper doing the
//! HTTP. One request per connection (agents connect, enroll and leave), each connection bounded in
//! time, the number of connections bounded, and every answer decided by [`enroll`].

pub mod enroll;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

pub use enroll::Enrollment;

/// What SIGHUP may change while the listener runs (each connection uses the settings in force
/// when it was accepted).
pub struct Settings {
    /// TLS 1.3, the enrollment certificate.
    pub acceptor: TlsAcceptor,
    /// What answers requests.
    pub enrollment: Arc<Enrollment>,
}

/// The listener: TLS, the limits, and what answers requests.
pub struct Listener {
    /// The reloadable settings.
    pub settings: Arc<arc_swap::ArcSwap<Settings>>,
    /// Deadline for the handshake, the request and the answer together.
    pub timeout: Duration,
    /// Deadline for the handshake alone.
    pub handshake_timeout: Duration,
    /// Most connections at once; more are closed at once.
    pub max_connections: usize,
    /// Open connections per source, bounded.
    pub per_source: Arc<crate::sources::PerSource>,
}

impl Listener {
    /// Accepts connections until `shutdown` resolves, then waits (bounded) for those in flight.
    pub async fn run(self, listener: TcpListener, shutdown: impl std::future::Future<Output = ()>) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(this.max_connections));
        tokio::pin!(shutdown);
        let mut refused_logged = false;
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match crate::accept::or_back_off(accepted, "HTTPS enrollment").await {
                    Some(pair) => pair,
                    None => continue,
                },
                () = &mut shutdown => break,
            };
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                if !refused_logged {
                    warn!("HTTPS enrollment: too many connections; rejecting");
                    refused_logged = true;
                }
                drop(stream);
                continue;
            };
            refused_logged = false;
            let Some(source_slot) = this.per_source.acquire(peer.ip()) else {
                debug!("HTTPS connection from {} refused: too many connections from that source", peer.ip());
                drop((stream, permit));
                continue;
            };
            let this = Arc::clone(&this);
            tokio::spawn(async move {
                this.connection(stream, peer).await;
                drop((permit, source_slot));
            });
        }
        info!("HTTPS enrollment: no new connections; finishing the ones in flight");
        let all = u32::try_from(this.max_connections).unwrap_or(u32::MAX);
        if tokio::time::timeout(this.timeout + Duration::from_secs(5), slots.acquire_many(all)).await.is_err() {
            warn!("HTTPS enrollment: some connections did not finish in time");
        }
    }

    async fn connection(&self, stream: TcpStream, peer: SocketAddr) {
        let _open = crate::metrics::COUNTERS.connection("https");
        let _ = stream.set_nodelay(true);
        let settings = self.settings.load_full();
        let served = tokio::time::timeout(self.timeout, async {
            let tls = match tokio::time::timeout(self.handshake_timeout, settings.acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => return Err(format!("TLS handshake failed: {e}")),
                Err(_) => return Err(format!("no TLS handshake within {} s", self.handshake_timeout.as_secs())),
            };
            let enrollment = Arc::clone(&settings.enrollment);
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let enrollment = Arc::clone(&enrollment);
                async move { Ok::<Response<Full<Bytes>>, Infallible>(enrollment.answer(request, peer).await) }
            });
            hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(self.handshake_timeout)
                .max_buf_size(64 * 1024)
                .keep_alive(false)
                .serve_connection(TokioIo::new(tls), service)
                .await
                .map_err(|e| format!("HTTP: {e}"))
        })
        .await;
        match served {
            Ok(Ok(())) => {}
            Ok(Err(why)) => debug!("HTTPS connection from {} closed: {why}", peer.ip()),
            Err(_) => {
                debug!("HTTPS connection from {} closed: not done within {} s", peer.ip(), self.timeout.as_secs())
            }
        }
    }
}
