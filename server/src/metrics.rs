//! Counters of what the server decided: registrations by protocol and outcome, enrollment-token
//! uses and refusals, re-enrollments. Cheap to bump from any task; read whole by the admin
//! socket's `stats` call (and, later, a Prometheus endpoint).

use std::collections::BTreeMap;
use std::sync::Mutex;

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
    fn label(self) -> &'static str {
        match self {
            Protocol::Legacy => "1515",
            Protocol::Https => "https",
            Protocol::Admin => "admin",
        }
    }
}

/// Every counter, keyed by (family, label, outcome).
#[derive(Debug, Default)]
pub struct Counters {
    counts: Mutex<BTreeMap<(&'static str, &'static str, &'static str), u64>>,
}

/// The server's counters.
pub static COUNTERS: Counters = Counters { counts: Mutex::new(BTreeMap::new()) };

impl Counters {
    fn bump(&self, family: &'static str, label: &'static str, outcome: &'static str) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry((family, label, outcome)).or_default() += 1;
        }
    }

    /// A registration answered: `accepted`, or the refusal's kind name.
    pub fn registration(&self, protocol: Protocol, outcome: Result<(), agentkeys::ErrorKind>) {
        self.bump("registrations", protocol.label(), outcome.err().map_or("accepted", |k| k.name()));
    }

    /// An enrollment token checked: `used`, or the refusal's kind name.
    pub fn token(&self, outcome: Result<(), agentkeys::ErrorKind>) {
        self.bump("tokens", "", outcome.err().map_or("used", |k| k.name()));
    }

    /// A re-enrollment: `rotated`, or the refusal's kind name.
    pub fn reenrollment(&self, outcome: Result<(), agentkeys::ErrorKind>) {
        self.bump("reenrollments", "", outcome.err().map_or("rotated", |k| k.name()));
    }

    /// Everything, as JSON: `{"registrations":{"1515":{"accepted":3,…},…},"tokens":{…},…}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::json!({"registrations": {}, "tokens": {}, "reenrollments": {}});
        if let Ok(counts) = self.counts.lock() {
            for (&(family, label, outcome), &n) in counts.iter() {
                let slot = if label.is_empty() { &mut out[family] } else { &mut out[family][label] };
                if slot.is_null() {
                    *slot = serde_json::json!({});
                }
                slot[outcome] = n.into();
            }
        }
        out
    }
}
