//! The registry of agents, in three layers with data flowing one way:
//!
//! - [`index`]: every agent in memory, in slots, with hash indexes by ID, name and address — no I/O;
//! - [`rules`]: the decision of a registration over the index, the request, agent states and the
//!   clock (SPEC 3.6 order, SPEC 4.3 force rules) — pure and synchronous;
//! - [`store`]: where the registry lives, behind the [`store::Store`] trait: the file store (every
//!   file format, both ways; the default) or [`postgres`] (one registry shared by several servers).
//!
//! The owner task ([`owner`]) is the only glue: it asks the rules, applies the plan to the index,
//! has the store write the batch, and answers.

pub mod error;
pub mod index;
pub mod owner;
pub mod postgres;
pub mod rules;
pub mod store;
pub mod window;

use agentkeys::{AgentAddr, AgentId, OwnedRecord};

pub use index::Duplicate;
pub use rules::{Refusal, Rules};

use crate::config::{Config, ForceConfig, StoreKind};
use crate::home::Home;

/// The store a configuration names. For PostgreSQL, also the store itself (its listener keeps
/// this server current).
///
/// # Errors
/// A database that cannot be reached or migrated.
pub async fn open_store(
    home: &Home,
    config: &Config,
) -> Result<(std::sync::Arc<dyn store::Store>, Option<postgres::PgStore>), error::StoreError> {
    match config.store.kind {
        StoreKind::File => Ok((std::sync::Arc::new(store::FileStore::new(home, config.server.durability)), None)),
        StoreKind::Postgres => {
            let node = config.store.node.clone().unwrap_or_else(|| crate::home::hostname(config));
            let tls = postgres::DbTls::new(config.store.tls_ca.as_deref().map(|ca| home.join(ca)).as_deref())?;
            let pg =
                postgres::PgStore::connect(&config.store, tls, home.client_keys(), node, config.auth.purge).await?;
            Ok((std::sync::Arc::new(pg.clone()), Some(pg)))
        }
    }
}

/// One registered agent: core's record (ID, name, address, key) and what the registry keeps
/// beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    /// Its client.keys record.
    pub record: OwnedRecord,
    /// Its groups, de-duplicated, if it registered with some.
    pub groups: Option<Box<str>>,
    /// When it was registered (epoch seconds), 0 if unknown.
    pub date_add: i64,
    /// Its re-enrollment secret (agents enrolled over HTTPS), never written to client.keys.
    pub reenroll: Option<Box<ReenrollSecret>>,
}

/// A re-enrollment secret: 32 random bytes (64 hex characters on the wire and in our state file).
pub type ReenrollSecret = [u8; 32];

/// A new re-enrollment secret from the operating system.
///
/// # Errors
/// When the operating system gives no random bytes.
pub fn new_reenroll_secret() -> Result<ReenrollSecret, getrandom::Error> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)?;
    Ok(secret)
}

/// A secret in lowercase hexadecimal (core's 32-byte hex, as the enroll reply writes it).
pub fn secret_hex(secret: &ReenrollSecret) -> String {
    agentkeys::wazuh5::pin_hex(secret).to_string()
}

/// Parses 64 hexadecimal characters.
pub fn parse_secret_hex(text: &str) -> Option<ReenrollSecret> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hex = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(hex, 16).ok()?;
    }
    Some(out)
}

impl Agent {
    /// Its ID.
    pub fn id(&self) -> AgentId {
        self.record.id()
    }

    /// Its name.
    pub fn name(&self) -> &str {
        self.record.name()
    }

    /// Its address (canonical form kept; written in file form).
    pub fn addr(&self) -> AgentAddr {
        self.record.addr()
    }

    /// Its key.
    pub fn key(&self) -> &str {
        self.record.key()
    }

    /// The line upstream keeps for a removed agent when `purge` is off (core writes it).
    pub(crate) fn removed_line(&self) -> String {
        let mut line = String::new();
        let _ = self.record.as_record().write_removed_line(&mut line);
        line
    }
}

/// A registration to decide: from port 1515, the admin socket or key polling.
#[derive(Clone, Debug)]
pub struct NewAgent {
    /// The name (validated).
    pub name: String,
    /// The address decided for it.
    pub addr: AgentAddr,
    /// Its groups, de-duplicated and checked.
    pub groups: Option<String>,
    /// `K:` of the request, for the `key_mismatch` rule.
    pub key_hash: Option<Vec<u8>>,
    /// An explicit ID (admin socket, key polling); None allocates the next one.
    pub id: Option<AgentId>,
    /// An explicit key; None generates one.
    pub key: Option<String>,
    /// Force rules for this request (admin socket `force`); None uses the configured ones.
    pub force: Option<ForceConfig>,
    /// The enrollment token it enrolls with, if any (a use is reserved before it is added).
    pub token: Option<crate::tokens::Presented>,
    /// The address it connects from (for the token's allowed sources); None from local callers.
    pub source: Option<std::net::IpAddr>,
    /// A re-enrollment: the agent it rotates, and the bearer proving it (checked by the owner).
    pub reenroll: Option<Reenroll>,
    /// Give it a re-enrollment secret (agents enrolling over HTTPS).
    pub issue_secret: bool,
}

/// A re-enrollment request: the agent's ID (the bearer `kid`) and the bearer signed with the key of
/// its re-enrollment secret.
#[derive(Clone, Debug)]
pub struct Reenroll {
    /// The agent.
    pub id: AgentId,
    /// The bearer.
    pub bearer: Vec<u8>,
}

impl NewAgent {
    /// A registration of `name` at `addr` with nothing else given: a new ID, a new key, the
    /// configured force rules, no token.
    pub fn new(name: String, addr: AgentAddr) -> NewAgent {
        NewAgent {
            name,
            addr,
            groups: None,
            key_hash: None,
            id: None,
            key: None,
            force: None,
            token: None,
            source: None,
            reenroll: None,
            issue_secret: false,
        }
    }
}
