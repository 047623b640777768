//! Key polling (SPEC 8, DESIGN §7.7): when remoted meets an unknown agent it sends `id:<id>` or
//! `ip:<ip>` to `queue/sockets/krequest`; agentkeys asks the operator's script (or socket) for the
//! agent's key and adds it through the registry, with the force rules, durably.
//!
//! Safer than upstream: the ID or address is validated before anything runs (IPv6 sources work),
//! the script gets argv without a shell, its stdout alone is parsed (stderr is logged), answers are
//! validated like registrations, duplicates in flight are merged, and failures are not retried for
//! `negative_cache` seconds.

mod exec;
mod socket;

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentkeys::{ErrorKind, Field, KeyPollAnswer, RecordBuf, parse_keypoll_output};
use tokio::net::UnixDatagram;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::config::KeyRequestConfig;
use crate::registry::NewAgent;
use crate::registry::owner::Handle;

/// Largest datagram read.
const MAX_DATAGRAM: usize = 65536;
/// How long running lookups may go on after a shutdown signal before they are stopped.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What remoted asks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `id:<digits>`.
    Id,
    /// `ip:<address>`.
    Ip,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Id => "id",
            Kind::Ip => "ip",
        }
    }

    fn upper(self) -> &'static str {
        match self {
            Kind::Id => "ID",
            Kind::Ip => "IP",
        }
    }
}

/// A validated request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyRequest {
    /// Kind of lookup.
    pub kind: Kind,
    /// The ID or the address, exactly as sent (validated).
    pub value: String,
}

impl KeyRequest {
    /// `id:<value>` / `ip:<value>`.
    pub fn wire(&self) -> String {
        format!("{}:{}", self.kind.word(), self.value)
    }
}

/// Validates a datagram with core's key-request rules; `Err` is the text upstream logs for it.
///
/// # Errors
/// Not `id:` + 1–8 digits or `ip:` + an IPv4/IPv6 address.
pub fn parse_request(datagram: &[u8]) -> Result<KeyRequest, String> {
    match agentkeys::KeyRequest::parse(datagram) {
        // The value goes to the script as remoted sent it (validated above), so scripts written for
        // upstream keep matching the rows they stored.
        Ok(request) => {
            let kind = if matches!(request, agentkeys::KeyRequest::Id(_)) { Kind::Id } else { Kind::Ip };
            let value = String::from_utf8_lossy(&datagram[3..]).into_owned();
            Ok(KeyRequest { kind, value })
        }
        Err(e) if e.kind() == ErrorKind::TooLong && e.field() == Some(Field::Id) => {
            Err("Agent ID is too long.".to_owned())
        }
        Err(e) if e.kind() == ErrorKind::TooLong => Err("Agent IP is too long.".to_owned()),
        Err(_) => {
            let text = String::from_utf8_lossy(datagram);
            Err(format!(
                "Invalid request '{}' received in Agent key request.",
                text.chars().take(200).collect::<String>()
            ))
        }
    }
}

/// Why a lookup produced no agent, in upstream's log words (already logged).
#[derive(Debug)]
pub struct Failure(pub String);

/// Where lookups go.
#[derive(Clone, Debug)]
pub struct LookupSources {
    exec_path: Option<String>,
    socket: Option<PathBuf>,
    timeout: Duration,
}

impl LookupSources {
    /// Asks the socket (retrying as upstream), falling back to the script when both are set.
    async fn lookup(&self, request: &KeyRequest) -> Result<Vec<u8>, Failure> {
        if let Some(path) = &self.socket {
            match socket::ask(path, request, self.timeout).await {
                Ok(answer) => return Ok(answer),
                Err(Failure(why)) if self.exec_path.is_some() => {
                    info!("{why}. Socket connect fail. Trying to run '{}'", self.exec_path.as_deref().unwrap_or(""));
                }
                Err(failure) => return Err(failure),
            }
        }
        match &self.exec_path {
            Some(command) => exec::run(command, request, self.timeout).await,
            None => Err(Failure("no key source configured".to_owned())),
        }
    }
}

/// Validates an answer as the manager must (SPEC 8.4 + DESIGN §7.7), logging upstream's texts.
fn check_answer(answer: &[u8], request: &KeyRequest) -> Result<RecordBuf, Failure> {
    match parse_keypoll_output(answer) {
        Ok(KeyPollAnswer::Found(record)) => Ok(record),
        Ok(KeyPollAnswer::Refused { message, .. }) => {
            let message = message.to_string();
            let message = if message.is_empty() { "unknown".to_owned() } else { message };
            Err(Failure(format!(
                "Could not get a key from {} {}. Error: '{message}'",
                request.kind.upper(),
                request.value
            )))
        }
        Err(e) => {
            let why = match (e.kind(), e.field()) {
                (ErrorKind::InvalidJson | ErrorKind::JsonTooDeep, _) => format!("Error parsing JSON event ({e})"),
                (ErrorKind::MissingMember, Some(Field::ErrorCode)) => {
                    "Malformed JSON output received. No 'error' field found.".to_owned()
                }
                (ErrorKind::MissingMember, Some(Field::Message)) => {
                    "Malformed JSON output received. No 'message' field found.".to_owned()
                }
                (ErrorKind::MissingMember, Some(Field::Data)) => "Agent data not found.".to_owned(),
                (ErrorKind::MissingMember, Some(Field::Id)) => "Agent ID not found.".to_owned(),
                (ErrorKind::MissingMember, Some(Field::Name)) => "Agent name not found.".to_owned(),
                (ErrorKind::MissingMember, Some(Field::Ip)) => "Agent address not found.".to_owned(),
                (ErrorKind::MissingMember, Some(Field::Key)) => "Agent key not found.".to_owned(),
                _ => format!("Invalid agent data from the key request integration: {e}"),
            };
            Err(Failure(why))
        }
    }
}

/// A job, and who asked (`agentkeys poll` binds an address to hear the outcome; remoted does not).
struct Job {
    request: KeyRequest,
    reply_to: Option<PathBuf>,
}

/// Shared state of the service.
struct Service {
    sources: LookupSources,
    registry: Handle,
    in_flight: Mutex<HashSet<KeyRequest>>,
    failed: Mutex<HashMap<KeyRequest, Instant>>,
    negative_cache: Duration,
    socket: Arc<UnixDatagram>,
}

/// Binds `queue/sockets/krequest` (mode 0660), replacing a stale socket file.
///
/// # Errors
/// The socket cannot be bound.
pub fn bind(path: &std::path::Path) -> Result<UnixDatagram, crate::atomic::FileError> {
    use crate::atomic::FileError;
    let _ = std::fs::remove_file(path);
    let socket = UnixDatagram::bind(path).map_err(|e| FileError::new(path, "cannot bind", e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| FileError::new(path, "cannot set the mode of", e))?;
    Ok(socket)
}

/// Serves key requests on `socket` until `shutdown` resolves, then removes it. Receive errors
/// are logged, never fatal.
pub async fn serve(
    config: &KeyRequestConfig,
    socket: UnixDatagram,
    path: PathBuf,
    registry: Handle,
    shutdown: impl std::future::Future<Output = ()>,
) {
    info!(
        "key polling: listening on {} ({} worker(s), queue of {})",
        path.display(),
        config.threads,
        config.queue_size
    );
    let service = Arc::new(Service {
        sources: LookupSources {
            exec_path: config.exec_path.clone(),
            socket: config.socket.clone(),
            timeout: Duration::from_secs(config.timeout.as_secs()),
        },
        registry,
        in_flight: Mutex::new(HashSet::new()),
        failed: Mutex::new(HashMap::new()),
        negative_cache: Duration::from_secs(config.negative_cache.as_secs()),
        socket: Arc::new(socket),
    });
    let (tx, rx) = mpsc::channel::<Job>(config.queue_size);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let (stop_tx, stop_rx) = watch::channel(false);
    let workers: Vec<_> = (0..config.threads)
        .map(|_| {
            let (service, rx, mut stop) = (Arc::clone(&service), Arc::clone(&rx), stop_rx.clone());
            tokio::spawn(async move {
                loop {
                    let job = {
                        let mut rx = rx.lock().await;
                        tokio::select! {
                            biased;
                            _ = stop.wait_for(|s| *s) => None,
                            job = rx.recv() => job,
                        }
                    };
                    let Some(job) = job else { break };
                    let what = job.request.wire();
                    // At shutdown a running lookup gets SHUTDOWN_GRACE to finish; then it is
                    // dropped, which kills its script's whole process group.
                    let grace = async {
                        let _ = stop.wait_for(|s| *s).await;
                        tokio::time::sleep(SHUTDOWN_GRACE).await;
                    };
                    tokio::select! {
                        () = service.handle(job) => {}
                        () = grace => {
                            warn!("key polling: shutting down: lookup '{what}' stopped after {} s", SHUTDOWN_GRACE.as_secs());
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    tokio::pin!(shutdown);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, from) = tokio::select! {
            received = service.socket.recv_from(&mut buf) => match crate::accept::or_back_off(received, "key polling").await {
                Some(pair) => pair,
                None => continue,
            },
            () = &mut shutdown => break,
        };
        let reply_to = from.as_pathname().map(PathBuf::from);
        let request = match parse_request(&buf[..n]) {
            Ok(r) => r,
            Err(why) => {
                warn!("{why}");
                service.tell(reply_to.as_ref(), &format!("rejected: {why}")).await;
                continue;
            }
        };
        if let Some(when) = service.failed.lock().map(|f| f.get(&request).copied()).unwrap_or(None)
            && when.elapsed() < service.negative_cache
        {
            debug!("Request '{}' failed {} s ago; not retried yet.", request.wire(), when.elapsed().as_secs());
            crate::metrics::COUNTERS.keypoll("cached");
            service.tell(reply_to.as_ref(), "failed: an earlier lookup failed recently (negative cache)").await;
            continue;
        }
        let fresh = service.in_flight.lock().map(|mut f| f.insert(request.clone())).unwrap_or(false);
        if !fresh {
            debug!("Request '{}' already being processed. Discarding request.", request.wire());
            crate::metrics::COUNTERS.keypoll("discarded");
            service.tell(reply_to.as_ref(), "discarded: already being processed").await;
            continue;
        }
        if let Err(mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job)) =
            tx.try_send(Job { request, reply_to })
        {
            warn!("Request queue is full. Discarding request.");
            if let Ok(mut f) = service.in_flight.lock() {
                f.remove(&job.request);
            }
            crate::metrics::COUNTERS.keypoll("discarded");
            service.tell(job.reply_to.as_ref(), "discarded: request queue is full").await;
        }
    }
    // Bounded shutdown: queued lookups are dropped (their requesters told), running ones get
    // SHUTDOWN_GRACE.
    let _ = stop_tx.send(true);
    drop(tx);
    for worker in workers {
        let _ = worker.await;
    }
    let mut dropped = 0usize;
    {
        let mut rx = rx.lock().await;
        while let Ok(job) = rx.try_recv() {
            dropped += 1;
            service.tell(job.reply_to.as_ref(), "discarded: the server is shutting down").await;
        }
    }
    if dropped > 0 {
        warn!("key polling: shutting down: {dropped} queued lookup(s) dropped");
    }
    let _ = std::fs::remove_file(&path);
}

impl Service {
    async fn handle(&self, job: Job) {
        let request = job.request;
        let outcome = self.lookup_and_add(&request).await;
        if let Ok(mut f) = self.in_flight.lock() {
            f.remove(&request);
        }
        match outcome {
            Ok(text) => {
                crate::metrics::COUNTERS.keypoll("added");
                info!("key polling: {} {}: {text}", request.kind.word(), request.value);
                self.tell(job.reply_to.as_ref(), &format!("added: {text}")).await;
            }
            Err(Failure(why)) => {
                crate::metrics::COUNTERS.keypoll("failed");
                info!("key polling: {} {}: {why}", request.kind.word(), request.value);
                debug!("Error getting external key.");
                if !self.negative_cache.is_zero()
                    && let Ok(mut f) = self.failed.lock()
                {
                    f.retain(|_, t| t.elapsed() < self.negative_cache);
                    f.insert(request.clone(), Instant::now());
                }
                self.tell(job.reply_to.as_ref(), &format!("failed: {why}")).await;
            }
        }
    }

    async fn lookup_and_add(&self, request: &KeyRequest) -> Result<String, Failure> {
        let answer = self.sources.lookup(request).await?;
        let record = check_answer(&answer, request)?;
        let rec = record.as_record();
        debug!("Requesting local addition for agent '{}' from the agent key request.", rec.id);
        let new = NewAgent {
            id: Some(rec.id),
            key: Some(rec.key.as_str().to_owned()),
            ..NewAgent::new(rec.name.as_str().to_owned(), rec.addr)
        };
        match self.registry.register(new).await {
            Ok(agent) => Ok(format!("agent '{}' ({}) added with address {}", agent.id(), agent.name(), agent.addr())),
            Err(refusal) if refusal.kind == agentkeys::ErrorKind::DuplicateId => Err(Failure(format!(
                "agent '{}' is already registered (its ID is in client.keys); nothing to add",
                rec.id
            ))),
            Err(refusal) => {
                let e = agentkeys::RequestError::new(refusal.kind, refusal.subject.as_bytes());
                Err(Failure(format!("agent '{}' not added: {e}", rec.id)))
            }
        }
    }

    /// Reports an outcome to a requester that bound an address (best effort). Never waits: a
    /// requester that does not read its replies gets them dropped, and the service goes on.
    ///
    /// Each reply goes out from a fresh unbound socket: an unread datagram stays charged to the
    /// socket that sent it, so replies piling up at one deaf requester would otherwise fill the
    /// service socket's send buffer and drop everyone else's replies too.
    async fn tell(&self, to: Option<&PathBuf>, text: &str) {
        let Some(path) = to else { return };
        let sent = std::os::unix::net::UnixDatagram::unbound().and_then(|socket| {
            socket.set_nonblocking(true)?;
            socket.send_to(text.as_bytes(), path)
        });
        if let Err(e) = sent {
            debug!("key polling: reply to {} dropped: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_validated_before_anything_runs() {
        assert_eq!(parse_request(b"id:001").unwrap(), KeyRequest { kind: Kind::Id, value: "001".into() });
        assert_eq!(parse_request(b"ip:::1").unwrap().value, "::1");
        assert_eq!(parse_request(b"ip:2001:DB8::5").unwrap().value, "2001:DB8::5");
        assert_eq!(parse_request(b"id:123456789").unwrap_err(), "Agent ID is too long.");
        for bad in
            [&b"id:1 2"[..], b"id:../x", b"ip:1.2.3.4;rm", b"id:", b"ip:", b"name:x", b"ip:10.0.0.0/8", b"id:000"]
        {
            assert!(parse_request(bad).unwrap_err().starts_with("Invalid request '"), "{bad:?}");
        }
    }
}
