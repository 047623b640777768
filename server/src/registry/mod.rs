//! The registry of agents, in three layers with data flowing one way:
//!
//! - [`index`]: every agent in memory, in slots, with hash indexes by ID, name and address — no I/O;
//! - [`rules`]: the decision of a registration over the index, the request, agent states and the
//!   clock (SPEC 3.6 order, SPEC 4.3 force rules) — pure and synchronous;
//! - [`store`]: where the registry lives — every file format, both ways, behind the [`store::Store`]
//!   trait (the file store is the one implementation).
//!
//! The owner task ([`owner`]) is the only glue: it asks the rules, applies the plan to the index,
//! has the store write the batch, and answers.

pub mod error;
pub mod index;
pub mod owner;
pub mod rules;
pub mod store;

use agentkeys::{AgentAddr, AgentId};

pub use index::Duplicate;
pub use rules::{Refusal, Rules};

use crate::config::ForceConfig;

/// One registered agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    /// Its ID, as written.
    pub id: AgentId,
    /// Its name.
    pub name: Box<str>,
    /// Its address (canonical form kept; written in file form).
    pub addr: AgentAddr,
    /// Its key.
    pub key: Box<str>,
    /// Its groups, de-duplicated, if it registered with some.
    pub groups: Option<Box<str>>,
    /// When it was registered (epoch seconds), 0 if unknown.
    pub date_add: i64,
}

impl Agent {
    /// The client.keys line, without newline.
    pub fn line(&self) -> String {
        format!("{} {} {} {}", self.id, self.name, self.addr.file_form(), self.key)
    }

    /// The line upstream keeps for a removed agent when `purge` is off.
    pub(crate) fn removed_line(&self) -> String {
        format!("{} !{} {} {}", self.id, self.name, self.addr.file_form(), self.key)
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
}
