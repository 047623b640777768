//! `agentkeys serve`: the port-1515 listener and the request/reply exchange (SPEC 3.2–3.4).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use agentkeys::{AgentAddr, ErrorKind, Request, RequestError, RequestOptions, error_reply_vec, key_reply_string};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::home::Home;
use crate::registry::NewAgent;
use crate::registry::owner::Handle;
use crate::registry::window::Arriving;

/// Largest request read (upstream's `MAX_SSL_MSG_SIZE`): past it, what arrived is parsed.
pub const MAX_REQUEST: usize = 65536 + 4096;

/// What SIGHUP may change while the listener runs: each connection uses the settings in force
/// when it was accepted.
pub struct Settings {
    /// The enrollment password, if any.
    pub password: Option<Vec<u8>>,
    /// The manager version for `V:`, unless `allow_higher_versions`.
    pub manager_version: Option<agentkeys::Version>,
    /// `use_source_ip`.
    pub use_source_ip: bool,
    /// TLS.
    pub acceptor: TlsAcceptor,
    /// `<ssl_agent_ca>` is set: agents must present a certificate (failures are logged at INFO).
    pub client_auth: bool,
    /// `<ssl_verify_host>`: the agent certificate must name the connection's source address.
    pub verify_host: bool,
}

/// What every connection needs.
pub struct Listener {
    /// The registry owner.
    pub registry: Handle,
    /// The home (for `etc/shared/<group>`).
    pub home: Home,
    /// The reloadable settings.
    pub settings: Arc<arc_swap::ArcSwap<Settings>>,
    /// Deadline for handshake + request.
    pub timeout: Duration,
    /// Deadline for the handshake alone (shorter, so idle connections give their place back soon).
    pub handshake_timeout: Duration,
    /// Open connections per source, bounded.
    pub per_source: Arc<crate::sources::PerSource>,
    /// Most connections at once.
    pub max_connections: usize,
    /// Failure lockout per source address.
    pub lockout: crate::lockout::Lockout,
}

impl Listener {
    /// Accepts connections on `listener` until `shutdown` resolves, then waits (bounded) for the
    /// connections in flight.
    pub async fn run(self, listener: TcpListener, shutdown: impl std::future::Future<Output = ()>) {
        let this = Arc::new(self);
        let bounds = crate::accept::Bounds {
            name: "port 1515",
            max_connections: this.max_connections,
            per_source: Arc::clone(&this.per_source),
            drain: this.timeout + Duration::from_secs(5),
            too_many: "Too many connections. Rejecting.",
        };
        let locked = Arc::clone(&this);
        let refuse = move |ip| {
            let locked_out = locked.lockout.is_locked(ip);
            if locked_out {
                debug!("connection from {ip} refused: locked out after failed attempts");
            }
            locked_out
        };
        crate::accept::serve_bounded(listener, bounds, refuse, shutdown, move |stream, peer| {
            let this = Arc::clone(&this);
            async move { this.connection(stream, peer).await }
        })
        .await;
    }

    async fn connection(&self, stream: TcpStream, peer: SocketAddr) {
        let _open = crate::metrics::COUNTERS.connection("1515");
        let arriving = self.registry.arriving();
        let accepted = std::time::Instant::now();
        let settings = self.settings.load_full();
        let s = &*settings;
        let source = AgentAddr::from_ip(peer.ip()).ip().unwrap_or(peer.ip());
        let _ = stream.set_nodelay(true);
        let received = tokio::time::timeout(self.timeout, async {
            let mut tls = match tokio::time::timeout(self.handshake_timeout, s.acceptor.accept(stream)).await {
                Ok(accepted) => accepted.map_err(Closed::Handshake)?,
                Err(_) => return Err(Closed::HandshakeTimeout(self.handshake_timeout)),
            };
            if s.verify_host {
                self.check_host(&tls, source).map_err(Closed::Host)?;
            }
            let request = read_request(&mut tls).await?;
            Ok::<_, Closed>((tls, request))
        })
        .await;
        let (mut tls, request) = match received {
            Ok(Ok(pair)) => pair,
            Ok(Err(Closed::Host(why))) => {
                info!("Unable to verify client certificate. Connection from {source} closed: {why}");
                return;
            }
            Ok(Err(why @ (Closed::Handshake(_) | Closed::HandshakeTimeout(_)))) if s.client_auth => {
                info!("TLS handshake with {source} failed, connection closed: {why}");
                return;
            }
            Ok(Err(why)) => {
                debug!("connection from {source} closed: {why}");
                return;
            }
            Err(_) => {
                debug!("connection from {source} closed: no request within {} s", self.timeout.as_secs());
                return;
            }
        };
        let answered = self.answer(s, &request, source, &arriving).await;
        arriving.arrived();
        let Some((reply, registered)) = answered else {
            debug!("connection from {source} closed: locked out after failed password attempts");
            return;
        };
        // Delivery is decided by the reply write alone: once every byte of the reply has been
        // handed to the kernel (written and flushed), the agent counts as registered. What happens
        // after (close_notify, TCP shutdown, a reset by a client that already read its key) only
        // gets a debug line.
        let written = async {
            tls.write_all(&reply).await?;
            tls.flush().await
        };
        let result = tokio::time::timeout(self.timeout, written)
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()));
        crate::metrics::COUNTERS.registration_latency(crate::metrics::Protocol::Legacy, accepted.elapsed());
        match (result, registered) {
            (Err(e), Some((id, name))) => {
                warn!("reply to {source} not delivered ({e}); removing agent '{name}' (id '{id}') again");
                self.registry.rollback(id).await;
            }
            (Err(e), None) => debug!("reply to {source} not delivered: {e}"),
            (Ok(()), _) => {
                if let Ok(Err(e)) = tokio::time::timeout(self.timeout, tls.shutdown()).await {
                    debug!("closing the connection from {source} after the reply: {e}");
                }
            }
        }
    }

    /// SPEC 4.4 host validation: the agent certificate's SAN DNS/IP entries, then its CN, must match
    /// the source address as upstream writes it (IPv4 dotted, IPv6 expanded upper case).
    fn check_host(&self, tls: &tokio_rustls::server::TlsStream<TcpStream>, source: IpAddr) -> Result<(), HostMismatch> {
        let expected = AgentAddr::from_ip(source).to_text();
        let Some(cert) = tls.get_ref().1.peer_certificates().and_then(<[_]>::first) else {
            return Err(HostMismatch::NoCertificate);
        };
        match crate::certs::matches(cert, &expected) {
            Ok(true) => Ok(()),
            Ok(false) => Err(HostMismatch::NotNamed {
                certificate: crate::certs::describe(cert),
                expected: expected.to_string(),
            }),
            Err(e) => Err(HostMismatch::Unreadable(e)),
        }
    }

    /// The reply to a request, and the agent registered, if any; `None` when the source is locked
    /// out (the connection is closed without a reply, as at accept).
    async fn answer(
        &self,
        s: &Settings,
        request: &[u8],
        source: IpAddr,
        arriving: &Arriving,
    ) -> Option<(Vec<u8>, Option<(agentkeys::AgentId, String)>)> {
        // The guess is reserved before the password is evaluated, so attempts fired together
        // cannot get more guesses evaluated than the lockout allows.
        let credential = token_credential(request);
        let attempt = match (&s.password, credential) {
            (None, None) => None,
            _ => Some(self.lockout.begin(source)?),
        };
        let opts = RequestOptions { password: s.password.as_deref(), manager_version: s.manager_version };
        let mut parsed = Request::parse(request, &opts);
        // Ours: an enrollment token's credential sent for the password. It is tried when the
        // password does not match (or none is configured); the registry checks it.
        let mut token = None;
        if let Some((credential, text)) = credential
            && match &parsed {
                Err(e) => matches!(e.kind(), ErrorKind::InvalidPassword | ErrorKind::InvalidRequest),
                Ok(_) => false,
            }
        {
            let opts = RequestOptions { password: Some(text), manager_version: s.manager_version };
            parsed = Request::parse(request, &opts);
            token = Some(credential);
        }
        let password_refused = |parsed: &Result<Request<'_>, RequestError<'_>>| matches!(parsed, Err(e) if e.kind() == ErrorKind::InvalidPassword);
        if token.is_none()
            && let Some(attempt) = attempt
        {
            // The password is checked first: any other outcome means it was right.
            if password_refused(&parsed) {
                failed_attempt(attempt, source);
            } else {
                attempt.succeeded();
            }
            return Some(self.answer_parsed(s, parsed, source, None, arriving).await);
        }
        let answered = self.answer_parsed(s, parsed, source, token, arriving).await;
        if let Some(attempt) = attempt {
            // A token's secret is judged by the registry: "Invalid password" means it was wrong.
            if answered.0.starts_with(b"ERROR: Invalid password") {
                failed_attempt(attempt, source);
            } else {
                attempt.succeeded();
            }
        }
        Some(answered)
    }

    async fn answer_parsed(
        &self,
        s: &Settings,
        parsed: Result<Request<'_>, RequestError<'_>>,
        source: IpAddr,
        token: Option<agentkeys::wazuh5::TokenCredential>,
        arriving: &Arriving,
    ) -> (Vec<u8>, Option<(agentkeys::AgentId, String)>) {
        let started = std::time::Instant::now();
        let req = match parsed {
            Ok(r) => r,
            Err(e) => {
                crate::metrics::COUNTERS.registration(crate::metrics::Protocol::Legacy, Err(e.kind()));
                log_refusal(&e, source);
                return (error_reply(&e), None);
            }
        };
        let name = req.name.as_str();
        debug!("Received request for a new agent ({name}) from: {source}");
        let method = if token.is_some() { "1515 token" } else { "1515" };
        let groups = match req.groups.map(|g| self.home.check_groups(g)).transpose() {
            Ok(groups) => groups,
            Err(e) => {
                refused(name, source, method, started, &e.to_string());
                return (error_reply(&e), None);
            }
        };
        let addr = req.decide_addr(source, s.use_source_ip);
        let new = NewAgent {
            groups,
            key_hash: req.key_hash.map(<[u8]>::to_vec),
            token: token.map(crate::tokens::Presented::Credential),
            source: Some(source),
            ..NewAgent::new(name.to_owned(), addr)
        };
        arriving.arrived();
        match self.registry.register(new).await {
            Ok(agent) => {
                crate::metrics::COUNTERS.registration(crate::metrics::Protocol::Legacy, Ok(()));
                let reply = key_reply_string(&agent.as_record()).into_bytes();
                info!(
                    agent = name,
                    source = %source,
                    method,
                    latency_ms = started.elapsed().as_millis() as u64,
                    "registration: registered as agent '{}' with address {}",
                    agent.id(),
                    agent.addr()
                );
                (reply, Some((agent.id(), agent.name().to_owned())))
            }
            Err(refusal) => {
                crate::metrics::COUNTERS.registration(crate::metrics::Protocol::Legacy, Err(refusal.kind));
                let e = RequestError::new(refusal.kind, refusal.subject.as_bytes());
                refused(name, source, method, started, &e.to_string());
                (error_reply(&e), None)
            }
        }
    }
}

/// The enrollment-token credential an old agent sends for its password (`OSSEC PASS: <43
/// base64url characters> OSSEC A:…`), and its text.
fn token_credential(request: &[u8]) -> Option<(agentkeys::wazuh5::TokenCredential, &[u8])> {
    let rest = request.strip_prefix(b"OSSEC PASS: ")?;
    let text = rest.get(..43)?;
    if rest.get(43) != Some(&b' ') {
        return None;
    }
    agentkeys::wazuh5::TokenCredential::parse(text).ok().map(|c| (c, text))
}

/// Why a connection ended before its request was answered.
/// Why a connection closed before its request was read (logged, never answered).
#[derive(Debug, thiserror::Error)]
enum Closed {
    #[error("{0}")]
    Handshake(std::io::Error),
    #[error("no TLS handshake within {} s", .0.as_secs())]
    HandshakeTimeout(Duration),
    #[error(transparent)]
    Host(HostMismatch),
    #[error("read: {0}")]
    Read(std::io::Error),
    #[error("no request")]
    NoRequest,
}

/// Why an agent certificate does not name the address it connects from (`ssl_verify_host`).
#[derive(Debug, thiserror::Error)]
enum HostMismatch {
    #[error("no client certificate")]
    NoCertificate,
    #[error("its certificate ({certificate}) does not name {expected}")]
    NotNamed { certificate: String, expected: String },
    #[error(transparent)]
    Unreadable(crate::certs::CertError),
}

/// A wrong password (or token credential) from `source`: counted, and said once it locks it out.
fn failed_attempt(attempt: crate::lockout::Attempt<'_>, source: IpAddr) {
    if attempt.failed() {
        crate::metrics::COUNTERS.lockout();
        warn!("Too many failed registration attempts from {source}: its connections are refused for a while");
    }
}

/// The one WARN line of a refused registration (never a password or key).
fn refused(name: &str, source: IpAddr, method: &str, started: std::time::Instant, result: &str) {
    warn!(
        agent = name,
        source = %source,
        method,
        latency_ms = started.elapsed().as_millis() as u64,
        "registration refused: {result}"
    );
}

/// A request refused before it named an agent, in upstream's words, at WARN.
fn log_refusal(e: &RequestError<'_>, source: IpAddr) {
    match e.kind() {
        ErrorKind::InvalidPassword => warn!("Invalid password provided by {source}. Closing connection."),
        ErrorKind::InvalidRequest => warn!("Invalid request for new agent from: {source}"),
        ErrorKind::VersionTooHigh => warn!("Incompatible version for new agent from: {source}"),
        _ => warn!(source = %source, method = "1515", "registration refused: {e}"),
    }
}

fn error_reply(e: &RequestError<'_>) -> Vec<u8> {
    error_reply_vec(e)
}

/// Reads until `\n`, EOF or [`MAX_REQUEST`] bytes.
async fn read_request<S: AsyncReadExt + Unpin>(tls: &mut S) -> Result<Vec<u8>, Closed> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = tls.read(&mut chunk).await.map_err(Closed::Read)?;
        if n == 0 {
            break;
        }
        let seen = buf.len();
        buf.extend_from_slice(&chunk[..n]);
        if buf[seen..].contains(&b'\n') || buf.len() >= MAX_REQUEST {
            break;
        }
    }
    if buf.is_empty() {
        return Err(Closed::NoRequest);
    }
    buf.truncate(MAX_REQUEST);
    Ok(buf)
}
