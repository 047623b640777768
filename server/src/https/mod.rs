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
use tokio_rustls::TlsAcceptor;
use tracing::debug;

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
        let bounds = crate::accept::Bounds {
            name: "HTTPS enrollment",
            max_connections: this.max_connections,
            per_source: Arc::clone(&this.per_source),
            drain: this.timeout + Duration::from_secs(5),
            too_many: "HTTPS enrollment: too many connections; rejecting",
        };
        crate::accept::serve_bounded(
            listener,
            bounds,
            |_| false,
            shutdown,
            move |stream, peer| {
                let this = Arc::clone(&this);
                async move { this.connection(stream, peer).await }
            },
        )
        .await;
    }

    async fn connection(&self, stream: TcpStream, peer: SocketAddr) {
        let _open = crate::metrics::COUNTERS.connection("https");
        let _ = stream.set_nodelay(true);
        let settings = self.settings.load_full();
        let arriving = Arc::new(settings.enrollment.registry.arriving());
        let served = tokio::time::timeout(self.timeout, async {
            let tls = match tokio::time::timeout(self.handshake_timeout, settings.acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => return Err(format!("TLS handshake failed: {e}")),
                Err(_) => return Err(format!("no TLS handshake within {} s", self.handshake_timeout.as_secs())),
            };
            let enrollment = Arc::clone(&settings.enrollment);
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let (enrollment, arriving) = (Arc::clone(&enrollment), Arc::clone(&arriving));
                async move {
                    let reply = enrollment.answer(request, peer, &arriving).await;
                    arriving.arrived();
                    Ok::<Response<Full<Bytes>>, Infallible>(reply)
                }
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
