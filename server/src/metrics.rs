//! What the server counts and measures, in one place: registrations by protocol and outcome and
//! their latency, agents in the registry, store batches and commit latency, key-poll lookups,
//! admin calls, lockouts, enrollment-token uses, re-enrollments, open connections.
//!
//! The values live in a prometheus-client registry, served as Prometheus text at `/metrics` on a
//! separate listener (`--metrics-bind`, off unless configured), and summed up for the admin
//! socket's `stats` call and `agentkeys status`.

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Where a registration came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    /// Port 1515 (4.x, 3.x, OSSEC agents).
    Legacy,
    /// HTTPS `/enroll` (5.x agents).
    Https,
    /// The admin socket (API, manage_agents, a 5.0 remoted).
    Admin,
}

impl Protocol {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Legacy => "1515",
            Protocol::Https => "https",
            Protocol::Admin => "admin",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    protocol: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolLabel {
    protocol: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FunctionLabel {
    function: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabel {
    listener: &'static str,
}

/// Every metric of the server.
pub struct Metrics {
    registry: Registry,
    registrations: Family<Outcome, Counter>,
    latency: Family<ProtocolLabel, Histogram>,
    agents: Gauge,
    batch_size: Histogram,
    commit_seconds: Histogram,
    keypoll: Family<OutcomeLabel, Counter>,
    admin_calls: Family<FunctionLabel, Counter>,
    lockouts: Counter,
    tokens: Family<OutcomeLabel, Counter>,
    reenrollments: Family<OutcomeLabel, Counter>,
    connections: Family<ListenerLabel, Gauge>,
    database_round_trips: Counter,
    synced: Counter,
    /// The same outcomes, summed for `stats` (family, label, outcome) → count.
    summary: Mutex<BTreeMap<(&'static str, &'static str, &'static str), u64>>,
}

/// The server's metrics.
pub static COUNTERS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

fn latency_buckets() -> Histogram {
    // 0.5 ms … ~8 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("agentkeys");
        let m = Metrics {
            registrations: Family::default(),
            latency: Family::new_with_constructor(latency_buckets),
            agents: Gauge::default(),
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            commit_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            keypoll: Family::default(),
            admin_calls: Family::default(),
            lockouts: Counter::default(),
            tokens: Family::default(),
            reenrollments: Family::default(),
            connections: Family::default(),
            database_round_trips: Counter::default(),
            synced: Counter::default(),
            summary: Mutex::new(BTreeMap::new()),
            registry: Registry::default(),
        };
        registry.register(
            "registrations",
            "Registrations answered, by protocol and outcome (accepted, or the refusal's kind)",
            m.registrations.clone(),
        );
        registry.register(
            "registration_seconds",
            "Time from accepting a connection to the registration's answer, by protocol",
            m.latency.clone(),
        );
        registry.register("agents", "Agents in the registry", m.agents.clone());
        registry.register("store_batch_size", "Changes written per store commit (group commit)", m.batch_size.clone());
        registry.register("store_commit_seconds", "Time to write one batch durably", m.commit_seconds.clone());
        registry.register("keypoll_lookups", "Key-poll lookups, by outcome", m.keypoll.clone());
        registry.register("admin_calls", "Admin socket calls, by function", m.admin_calls.clone());
        registry.register("lockouts", "Sources locked out after failed passwords", m.lockouts.clone());
        registry.register(
            "enrollment_tokens",
            "Enrollment-token checks, by outcome (used, or the refusal)",
            m.tokens.clone(),
        );
        registry.register(
            "reenrollments",
            "Re-enrollments, by outcome (rotated, or the refusal)",
            m.reenrollments.clone(),
        );
        registry.register("open_connections", "Connections open now, by listener", m.connections.clone());
        registry.register(
            "registry_database_round_trips",
            "Exchanges with the shared registry database (pipelined statements count once)",
            m.database_round_trips.clone(),
        );
        registry.register(
            "registry_synced_changes",
            "Agent changes made by other servers and applied here (shared registry)",
            m.synced.clone(),
        );
        Metrics { registry, ..m }
    }

    fn sum(&self, family: &'static str, label: &'static str, outcome: &'static str) {
        if let Ok(mut summary) = self.summary.lock() {
            *summary.entry((family, label, outcome)).or_default() += 1;
        }
    }

    /// A registration answered: `accepted`, or the refusal's kind name.
    pub fn registration(&self, protocol: Protocol, outcome: Result<(), agentkeys::ErrorKind>) {
        let outcome = outcome.err().map_or("accepted", |k| k.name());
        self.registrations.get_or_create(&Outcome { protocol: protocol.label(), outcome }).inc();
        self.sum("registrations", protocol.label(), outcome);
    }

    /// How long a registration took, from accept to answer.
    pub fn registration_latency(&self, protocol: Protocol, elapsed: std::time::Duration) {
        self.latency.get_or_create(&ProtocolLabel { protocol: protocol.label() }).observe(elapsed.as_secs_f64());
    }

    /// An enrollment token checked: `used`, or the refusal's kind name.
    pub fn token(&self, outcome: Result<(), agentkeys::ErrorKind>) {
        let outcome = outcome.err().map_or("used", |k| k.name());
        self.tokens.get_or_create(&OutcomeLabel { outcome }).inc();
        self.sum("tokens", "", outcome);
    }

    /// A re-enrollment: `rotated`, or the refusal's kind name.
    pub fn reenrollment(&self, outcome: Result<(), agentkeys::ErrorKind>) {
        let outcome = outcome.err().map_or("rotated", |k| k.name());
        self.reenrollments.get_or_create(&OutcomeLabel { outcome }).inc();
        self.sum("reenrollments", "", outcome);
    }

    /// A store commit of `changes` changes that took `elapsed`.
    pub fn commit(&self, changes: usize, elapsed: std::time::Duration) {
        self.batch_size.observe(changes as f64);
        self.commit_seconds.observe(elapsed.as_secs_f64());
    }

    /// One exchange with the shared registry database.
    pub fn database_round_trip(&self) {
        self.database_round_trips.inc();
    }

    /// Agent changes of other servers applied.
    pub fn synced(&self, n: usize) {
        self.synced.inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    /// The number of agents in the registry now.
    pub fn set_agents(&self, n: usize) {
        self.agents.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// A key-poll lookup ended: `added`, `failed`, `cached` (negative cache), `discarded`.
    pub fn keypoll(&self, outcome: &'static str) {
        self.keypoll.get_or_create(&OutcomeLabel { outcome }).inc();
        self.sum("keypoll", "", outcome);
    }

    /// An admin socket call.
    pub fn admin_call(&self, function: &str) {
        let known = [
            "add",
            "add-many",
            "remove",
            "get",
            "rekey",
            "token_create",
            "token_list",
            "token_revoke",
            "token_purge",
            "stats",
            "ping",
            "getconfig",
        ];
        let function = if known.contains(&function) { function } else { "other" };
        self.admin_calls.get_or_create(&FunctionLabel { function: function.to_owned() }).inc();
    }

    /// A source was locked out.
    pub fn lockout(&self) {
        self.lockouts.inc();
        self.sum("lockouts", "", "locked");
    }

    /// A connection opened on `listener` (`1515`, `https`, `admin`); the guard closes it.
    pub fn connection(&self, listener: &'static str) -> ConnectionGuard {
        let gauge = self.connections.get_or_create(&ListenerLabel { listener }).clone();
        gauge.inc();
        ConnectionGuard(gauge)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Everything, as JSON: `{"registrations":{"1515":{"accepted":3,…},…},"tokens":{…},…}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut out =
            serde_json::json!({"registrations": {}, "tokens": {}, "reenrollments": {}, "keypoll": {}, "lockouts": {}});
        if let Ok(summary) = self.summary.lock() {
            for (&(family, label, outcome), &n) in summary.iter() {
                let slot = if label.is_empty() { &mut out[family] } else { &mut out[family][label] };
                if slot.is_null() {
                    *slot = serde_json::json!({});
                }
                slot[outcome] = n.into();
            }
        }
        out["agents"] = self.agents.get().into();
        out
    }
}

/// An open connection, counted until dropped.
#[derive(Debug)]
pub struct ConnectionGuard(Gauge);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Serves `/metrics` (Prometheus text) on `listener` until `shutdown`; other paths are 404.
pub async fn serve(listener: tokio::net::TcpListener, shutdown: impl std::future::Future<Output = ()>) {
    use http_body_util::Full;
    use hyper::body::Bytes;
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match crate::accept::or_back_off(accepted, "metrics").await {
                Some(pair) => pair,
                None => continue,
            },
            () = &mut shutdown => break,
        };
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|request: hyper::Request<hyper::body::Incoming>| async move {
                let mut response = if request.uri().path() == "/metrics" {
                    let mut r = hyper::Response::new(Full::new(Bytes::from(COUNTERS.render())));
                    r.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                    );
                    r
                } else {
                    hyper::Response::new(Full::new(Bytes::from_static(b"not found\n")))
                };
                if request.uri().path() != "/metrics" {
                    *response.status_mut() = hyper::StatusCode::NOT_FOUND;
                }
                Ok::<_, std::convert::Infallible>(response)
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(30), connection).await;
        });
    }
}
