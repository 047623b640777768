//! The registry of agents: in-memory state, indexes, and the decisions of a registration
//! (SPEC 3.6 order, SPEC 4.3 force rules). Only the owner task (`owner.rs`) touches it; files are
//! `store.rs`'s job.

pub mod owner;
pub mod store;

use std::fmt::Write as _;
use std::hash::{BuildHasher, Hash};

use hashbrown::{DefaultHashBuilder, HashTable};

use agentkeys::{AgentAddr, AgentId, ErrorKind, GeneratedKey, key_hash};
use tracing::{error, info, warn};

use crate::config::ForceConfig;
use crate::status::{AgentInfo, Connection, StatusSource};

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
    fn removed_line(&self) -> String {
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

/// Why a registration was refused: the kind and the value upstream's reply quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The reason.
    pub kind: ErrorKind,
    /// The value the reply quotes (name, address, …).
    pub subject: String,
    /// See [`Refusal::needs_status`].
    needs_status: bool,
}

impl Refusal {
    /// A refusal of `kind` about `subject`.
    pub fn new(kind: ErrorKind, subject: impl Into<String>) -> Refusal {
        Refusal { kind, subject: subject.into(), needs_status: false }
    }

    /// Not a refusal yet: the decision needs an agent state that was not fetched (the registry
    /// changed since); the caller fetches it and asks again.
    fn needs_status() -> Refusal {
        Refusal { kind: ErrorKind::InternalError, subject: String::new(), needs_status: true }
    }

    /// Whether this is [`Refusal::needs_status`].
    pub fn is_needs_status(&self) -> bool {
        self.needs_status
    }
}

/// Agent states fetched for a decision, by agent ID (an error says why the lookup failed).
pub type Statuses = std::collections::HashMap<u32, Result<AgentInfo, String>>;

/// What a decision knows of existing agents' states.
#[derive(Debug)]
pub struct Known<'s> {
    /// The states fetched before the request reached the owner.
    pub statuses: &'s Statuses,
    /// A state that is needed and missing gives [`Refusal::needs_status`] (the caller fetches it
    /// and asks again); otherwise it counts as a failed lookup (the replacement is refused, as
    /// when wazuh-db cannot answer).
    pub ask_again: bool,
}

/// What the decisions depend on besides the registry.
pub struct Rules {
    /// `<force>`.
    pub force: ForceConfig,
    /// The manager's host name.
    pub hostname: String,
    /// Where agent states come from.
    pub status: StatusSource,
    /// `<purge>`: removed agents leave no `!` line.
    pub purge: bool,
}

/// A decided registration, not applied yet.
#[derive(Debug)]
pub struct Plan {
    victims: Vec<usize>,
    agent: Agent,
    /// The ID was allocated here (not given by the caller).
    allocated: bool,
}

/// The largest agent ID (8 digits).
pub const MAX_ID: u32 = 99_999_999;

/// What applying a plan changed, to undo it if it cannot be written.
#[derive(Debug)]
pub struct Applied {
    /// Where the new agent went.
    pub slot: usize,
    /// The agents it replaced.
    pub removed: Vec<Agent>,
    /// How many `!` lines were added for them.
    pub removed_lines_added: usize,
}

/// All agents, indexed by ID, name and address (stored without suffix, `any` not indexed).
///
/// The indexes hold slot numbers only; each entry's key is read from the agent in its slot, so no
/// name, ID or address is stored twice (DESIGN §10: ≤ 300 bytes per agent).
#[derive(Debug, Default)]
pub struct Registry {
    slots: Vec<Option<Agent>>,
    free: Vec<usize>,
    hasher: DefaultHashBuilder,
    by_id: HashTable<usize>,
    by_name: HashTable<usize>,
    by_addr: HashTable<usize>,
    removed_lines: Vec<String>,
    highest_id: u32,
    /// Once the highest ID is [`MAX_ID`], allocation searches free IDs upwards from here.
    wrapped_floor: u32,
    active: usize,
}

/// Which index.
#[derive(Clone, Copy)]
enum Key {
    Id,
    Name,
    Addr,
}

impl Key {
    fn hash(self, hasher: &DefaultHashBuilder, agent: &Agent) -> u64 {
        match self {
            Key::Id => hasher.hash_one(agent.id),
            Key::Name => hasher.hash_one(&*agent.name),
            Key::Addr => hasher.hash_one(agent.addr.without_suffix()),
        }
    }
}

fn hash_of<K: Hash + ?Sized>(hasher: &DefaultHashBuilder, key: &K) -> u64 {
    hasher.hash_one(key)
}

/// Why a loaded agent could not be indexed (upstream keeps the first of duplicates).
#[derive(Debug, PartialEq, Eq)]
pub enum Duplicate {
    /// Another agent has this ID.
    Id,
    /// Another agent has this name.
    Name,
    /// Another agent has this single-host address.
    Addr,
}

impl Registry {
    /// Makes room for `n` more agents (loading a big file without rehashing).
    pub fn reserve(&mut self, n: usize) {
        self.slots.reserve(n);
        let (slots, hasher) = (&self.slots, &self.hasher);
        let rehash = |key: Key| move |&s: &usize| slots[s].as_ref().map_or(0, |a| key.hash(hasher, a));
        self.by_id.reserve(n, rehash(Key::Id));
        self.by_name.reserve(n, rehash(Key::Name));
        self.by_addr.reserve(n / 2, rehash(Key::Addr));
    }

    fn table(&self, key: Key) -> &HashTable<usize> {
        match key {
            Key::Id => &self.by_id,
            Key::Name => &self.by_name,
            Key::Addr => &self.by_addr,
        }
    }

    fn slot_by_id(&self, id: &AgentId) -> Option<usize> {
        let hash = hash_of(&self.hasher, id);
        self.table(Key::Id).find(hash, |&s| self.slots[s].as_ref().is_some_and(|a| a.id == *id)).copied()
    }

    fn slot_by_name(&self, name: &str) -> Option<usize> {
        let hash = hash_of(&self.hasher, name);
        self.table(Key::Name).find(hash, |&s| self.slots[s].as_ref().is_some_and(|a| &*a.name == name)).copied()
    }

    fn slot_by_addr(&self, addr: &AgentAddr) -> Option<usize> {
        let hash = hash_of(&self.hasher, addr);
        self.table(Key::Addr)
            .find(hash, |&s| self.slots[s].as_ref().is_some_and(|a| a.addr.without_suffix() == *addr))
            .copied()
    }

    /// Indexes `slot` under `key` unless another slot holds that key; returns whether it did.
    /// (`any` is never indexed by address.)
    fn index(&mut self, key: Key, slot: usize) -> bool {
        let Some(agent) = self.slots[slot].as_ref() else { return false };
        if matches!(key, Key::Addr) && agent.addr.is_any() {
            return false;
        }
        let hash = key.hash(&self.hasher, agent);
        let (slots, hasher) = (&self.slots, &self.hasher);
        let same = |&s: &usize| {
            slots[s].as_ref().is_some_and(|other| match key {
                Key::Id => other.id == agent.id,
                Key::Name => other.name == agent.name,
                Key::Addr => other.addr.without_suffix() == agent.addr.without_suffix(),
            })
        };
        let table = match key {
            Key::Id => &mut self.by_id,
            Key::Name => &mut self.by_name,
            Key::Addr => &mut self.by_addr,
        };
        if table.find(hash, same).is_some() {
            return false;
        }
        table.insert_unique(hash, slot, |&s| slots[s].as_ref().map_or(0, |a| key.hash(hasher, a)));
        true
    }

    /// Removes `slot` from the index of `key` (its agent still in its slot).
    fn unindex(&mut self, key: Key, slot: usize) {
        let Some(agent) = self.slots[slot].as_ref() else { return };
        let hash = key.hash(&self.hasher, agent);
        let table = match key {
            Key::Id => &mut self.by_id,
            Key::Name => &mut self.by_name,
            Key::Addr => &mut self.by_addr,
        };
        if let Ok(entry) = table.find_entry(hash, |&s| s == slot) {
            entry.remove();
        }
    }

    /// Number of active agents.
    pub fn len(&self) -> usize {
        self.active
    }

    /// The highest ID ever issued or seen.
    pub fn highest_id(&self) -> u32 {
        self.highest_id
    }

    /// Raises the highest ID (from files: removed lines, our state file).
    pub fn note_id(&mut self, id: u32) {
        self.highest_id = self.highest_id.max(id);
    }

    /// Keeps a removed agent's line verbatim (when `purge` is off).
    pub fn keep_removed_line(&mut self, line: String) {
        self.removed_lines.push(line);
    }

    /// Active agents in file order.
    pub fn agents(&self) -> impl Iterator<Item = &Agent> {
        self.slots.iter().flatten()
    }

    /// Removed agents' lines.
    #[cfg(test)]
    pub fn removed_lines(&self) -> &[String] {
        &self.removed_lines
    }

    /// The agent with this ID.
    #[cfg(test)]
    pub fn get(&self, id: &AgentId) -> Option<&Agent> {
        self.slot_by_id(id).and_then(|s| self.slots[s].as_ref())
    }

    /// The slot of an agent with this ID, to read it after `apply`.
    pub fn slot(&self, slot: usize) -> Option<&Agent> {
        self.slots.get(slot).and_then(Option::as_ref)
    }

    /// Sets the groups of a loaded agent (from our state file).
    pub fn set_groups(&mut self, id: &AgentId, groups: Box<str>) {
        if let Some(slot) = self.slot_by_id(id)
            && let Some(agent) = self.slots[slot].as_mut()
        {
            agent.groups = Some(groups);
        }
    }

    /// Sets the registration time of a loaded agent (from agents-timestamp).
    pub fn set_date_add(&mut self, id: &AgentId, date_add: i64) {
        if let Some(slot) = self.slot_by_id(id)
            && let Some(agent) = self.slots[slot].as_mut()
        {
            agent.date_add = date_add;
        }
    }

    /// Adds an agent read from client.keys. Like upstream, a duplicate ID or name stays in the
    /// file but only the first one is found by lookups; the caller is told so it can warn.
    pub fn load(&mut self, agent: Agent) -> Option<Duplicate> {
        let slot = self.slots.len();
        self.highest_id = self.highest_id.max(agent.id.value());
        self.slots.push(Some(agent));
        self.active += 1;
        let new_id = self.index(Key::Id, slot);
        let new_name = self.index(Key::Name, slot);
        let new_addr = self.index(Key::Addr, slot) || self.slots[slot].as_ref().is_none_or(|a| a.addr.is_any());
        if !new_id {
            Some(Duplicate::Id)
        } else if !new_name {
            Some(Duplicate::Name)
        } else if !new_addr {
            Some(Duplicate::Addr)
        } else {
            None
        }
    }

    /// Decides a registration in upstream's order (SPEC 3.6): explicit ID, address, host name,
    /// name; each collision goes through the force rules. Unlike upstream, nothing is changed
    /// until every check has passed (upstream keeps an address replacement even when the name is
    /// then refused).
    ///
    /// Synchronous: the states of existing agents come from `known`, fetched before the request
    /// reached the owner (see [`Registry::status_needed`]).
    pub fn plan(&self, new: &NewAgent, rules: &Rules, known: &Known<'_>, now: i64) -> Result<Plan, Refusal> {
        let hash = new.key_hash.as_deref();
        let mut victims = Vec::new();
        if let Some(id) = new.id
            && let Some(slot) = self.slot_by_id(&id)
        {
            let old = self.slots[slot].as_ref().ok_or_else(|| Refusal::new(ErrorKind::DuplicateId, id.as_str()))?;
            match self.may_replace(old, hash, new.force.as_ref().unwrap_or(&rules.force), rules, known, now)? {
                Ok(msg) => {
                    info!("Duplicate ID. {msg}");
                    victims.push(slot);
                }
                Err(msg) => {
                    warn!("Duplicate ID, rejecting enrollment. {msg}");
                    return Err(Refusal::new(ErrorKind::DuplicateId, id.as_str()));
                }
            }
        }
        let ip_text = new.addr.to_string();
        // Upstream compares strings: a stored address loses its suffix, a requested one keeps it.
        if !new.addr.is_any()
            && !ip_text.contains('/')
            && let Some(slot) = self.slot_by_addr(&new.addr)
            && !victims.contains(&slot)
            && let Some(old) = self.slots[slot].as_ref()
        {
            match self.may_replace(old, hash, new.force.as_ref().unwrap_or(&rules.force), rules, known, now)? {
                Ok(msg) => {
                    info!("Duplicate IP '{ip_text}'. {msg}");
                    victims.push(slot);
                }
                Err(msg) => {
                    warn!("Duplicate IP '{ip_text}', rejecting enrollment. {msg}");
                    return Err(Refusal::new(ErrorKind::DuplicateIp, ip_text));
                }
            }
        }
        if new.name == rules.hostname {
            info!("Invalid agent name {} (same as manager)", new.name);
            return Err(Refusal::new(ErrorKind::ManagerName, new.name.clone()));
        }
        if let Some(slot) = self.slot_by_name(&new.name)
            && !victims.contains(&slot)
            && let Some(old) = self.slots[slot].as_ref()
        {
            match self.may_replace(old, hash, new.force.as_ref().unwrap_or(&rules.force), rules, known, now)? {
                Ok(msg) => {
                    info!("Duplicate name. {msg}");
                    victims.push(slot);
                }
                Err(msg) => {
                    warn!("Duplicate name '{}', rejecting enrollment. {msg}", new.name);
                    return Err(Refusal::new(ErrorKind::DuplicateName, new.name.clone()));
                }
            }
        }
        let id = match new.id {
            Some(id) => id,
            None => self.next_id().ok_or_else(|| {
                error!("agent ID space exhausted: every ID from 001 to {MAX_ID} is in use; cannot add '{}'", new.name);
                Refusal::new(ErrorKind::InternalError, new.name.clone())
            })?,
        };
        let key = match &new.key {
            Some(k) => k.clone().into_boxed_str(),
            None => GeneratedKey::from_os()
                .map_err(|_| Refusal::new(ErrorKind::InternalError, new.name.clone()))?
                .as_str()
                .into(),
        };
        let agent = Agent {
            id,
            name: new.name.clone().into_boxed_str(),
            addr: new.addr,
            key,
            groups: new.groups.clone().map(String::into_boxed_str),
            date_add: now,
        };
        Ok(Plan { victims, agent, allocated: new.id.is_none() })
    }

    /// The ID for a new agent: one above the highest ever issued while that fits in 8 digits;
    /// after that (someone added `99999999` by hand), the lowest number not held by any agent or
    /// `!` line, searching upwards from the last one handed out that way. `None`: every 8-digit ID
    /// is taken.
    fn next_id(&self) -> Option<AgentId> {
        if self.highest_id < MAX_ID {
            return AgentId::from_number(self.highest_id + 1).ok();
        }
        // Rare (the top of the space was taken): one sorted scan per allocation is fine here.
        let floor = self.wrapped_floor.max(1);
        let removed_ids = self.removed_lines.iter().filter_map(|l| l.split(' ').next()?.parse::<u32>().ok());
        let mut taken: Vec<u32> =
            self.agents().map(|a| a.id.value()).chain(removed_ids).filter(|&n| n >= floor).collect();
        taken.sort_unstable();
        taken.dedup();
        let mut candidate = floor;
        for n in taken {
            if n > candidate {
                break;
            }
            candidate = n + 1;
        }
        AgentId::from_number(candidate).ok()
    }

    /// The force rules (SPEC 4.3) for replacing `old`: `Ok(Ok(log text))` or `Ok(Err(log text))`;
    /// `Err` when the agent's state is needed and not in `statuses`.
    fn may_replace(
        &self,
        old: &Agent,
        hash: Option<&[u8]>,
        force: &ForceConfig,
        rules: &Rules,
        known: &Known<'_>,
        now: i64,
    ) -> Result<Result<String, String>, Refusal> {
        let id = old.id;
        if !force.enabled {
            return Ok(Err(format!("Agent '{id}' won't be removed because the force option is disabled.")));
        }
        let info =
            match rules.status.known(id.value(), old.date_add).or_else(|| known.statuses.get(&id.value()).cloned()) {
                Some(Ok(info)) => info,
                Some(Err(why)) => {
                    warn!("agent status of '{id}': {why}");
                    return Ok(Err(format!("Failed to get agent-info for agent '{id}'")));
                }
                None if known.ask_again => return Err(Refusal::needs_status()),
                None => {
                    warn!("agent status of '{id}': changed while it was fetched");
                    return Ok(Err(format!("Failed to get agent-info for agent '{id}'")));
                }
            };
        Ok(self.force_rules(old, &info, hash, force, now))
    }

    /// The time and key rules of SPEC 4.3 for an agent whose state is known.
    fn force_rules(
        &self,
        old: &Agent,
        info: &AgentInfo,
        hash: Option<&[u8]>,
        force: &ForceConfig,
        now: i64,
    ) -> Result<String, String> {
        let id = old.id;
        let threshold = i64::try_from(force.disconnected_time.value.as_secs()).unwrap_or(i64::MAX);
        if force.disconnected_time.enabled && info.connection != Connection::NeverConnected {
            if info.connection == Connection::Disconnected
                && info.disconnection_time > 0
                && now.saturating_sub(info.disconnection_time) < threshold
            {
                return Err(format!("Agent '{id}' has not been disconnected long enough to be replaced."));
            } else if info.disconnection_time == 0 {
                return Err(format!("Agent '{id}' can't be replaced since it is not disconnected."));
            }
        }
        let after = i64::try_from(force.after_registration_time.as_secs()).unwrap_or(i64::MAX);
        if after > 0 && now.saturating_sub(info.date_add) < after {
            return Err(format!("Agent '{id}' doesn't comply with the registration time to be removed."));
        }
        if let Some(sent) = hash
            && force.key_mismatch
            && key_hash(old.id.as_str(), &*old.name, &*old.key).matches(sent)
        {
            return Err(format!("Agent '{id}' key already exists on the manager."));
        }
        Ok(format!("Removing old agent '{}' (id '{id}').", old.name))
    }

    /// The existing agents whose state (from wazuh-db) deciding `new` may need: those it collides
    /// with by ID, address or name, when the force rules may replace them. Empty when the state
    /// source answers without I/O.
    pub fn status_needed(&self, new: &NewAgent, rules: &Rules) -> Vec<(u32, i64)> {
        if !rules.status.needs_lookup() || !new.force.as_ref().unwrap_or(&rules.force).enabled {
            return Vec::new();
        }
        let by_id = new.id.and_then(|id| self.slot_by_id(&id));
        let by_addr = (!new.addr.is_any()).then(|| self.slot_by_addr(&new.addr)).flatten();
        let by_name = self.slot_by_name(&new.name);
        let mut needed: Vec<(u32, i64)> = [by_id, by_addr, by_name]
            .into_iter()
            .flatten()
            .filter_map(|slot| self.slots[slot].as_ref())
            .map(|a| (a.id.value(), a.date_add))
            .collect();
        needed.dedup();
        needed
    }

    /// Applies a plan: removes the replaced agents (keeping `!` lines unless `purge`) and adds the
    /// new one.
    pub fn apply(&mut self, plan: Plan, purge: bool) -> Applied {
        if plan.allocated && self.highest_id >= MAX_ID {
            self.wrapped_floor = plan.agent.id.value().saturating_add(1);
        }
        let mut removed = Vec::new();
        let mut removed_lines_added = 0;
        for slot in plan.victims {
            if let Some(agent) = self.take(slot) {
                if !purge {
                    self.removed_lines.push(agent.removed_line());
                    removed_lines_added += 1;
                }
                removed.push(agent);
            }
        }
        let slot = self.insert(plan.agent);
        Applied { slot, removed, removed_lines_added }
    }

    /// Reverts `apply` (the change could not be written). The highest ID is left where it is: an
    /// ID handed out in a failed batch is never handed out again.
    pub fn undo(&mut self, applied: Applied) {
        self.take(applied.slot);
        let keep = self.removed_lines.len() - applied.removed_lines_added;
        self.removed_lines.truncate(keep);
        for agent in applied.removed {
            self.insert(agent);
        }
    }

    /// Removes an agent (admin request). Unless `purge` (or the configured `purge`), its line stays
    /// as a `!` line. Returns it and whether a `!` line was added.
    pub fn remove(&mut self, id: &AgentId, purge: bool) -> Option<(Agent, bool)> {
        let slot = self.slot_by_id(id)?;
        let agent = self.take(slot)?;
        if !purge {
            self.removed_lines.push(agent.removed_line());
        }
        Some((agent, !purge))
    }

    /// Puts back an agent removed by `remove` (its write failed).
    pub fn restore(&mut self, agent: Agent, removed_line_added: bool) {
        if removed_line_added {
            self.removed_lines.pop();
        }
        self.insert(agent);
    }

    /// Replaces an agent's key; returns the old one.
    pub fn rekey(&mut self, id: &AgentId, key: Box<str>) -> Option<Box<str>> {
        let slot = self.slot_by_id(id)?;
        let agent = self.slots[slot].as_mut()?;
        Some(std::mem::replace(&mut agent.key, key))
    }

    /// A copy of an agent.
    pub fn find(&self, id: &AgentId) -> Option<Agent> {
        self.slot_by_id(id).and_then(|s| self.slots[s].clone())
    }

    /// Removes an agent whose registration was never delivered (no `!` line; its ID stays used).
    pub fn forget(&mut self, id: &AgentId) -> Option<Agent> {
        let slot = self.slot_by_id(id)?;
        self.take(slot)
    }

    fn insert(&mut self, agent: Agent) -> usize {
        self.highest_id = self.highest_id.max(agent.id.value());
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        // A new agent takes over the index entries of its keys (upstream: the newest wins).
        for key in [Key::Id, Key::Name, Key::Addr] {
            let existing = match key {
                Key::Id => self.slot_by_id(&agent.id),
                Key::Name => self.slot_by_name(&agent.name),
                Key::Addr => (!agent.addr.is_any()).then(|| self.slot_by_addr(&agent.addr.without_suffix())).flatten(),
            };
            if let Some(old) = existing {
                self.unindex(key, old);
            }
        }
        self.slots[slot] = Some(agent);
        self.active += 1;
        for key in [Key::Id, Key::Name, Key::Addr] {
            self.index(key, slot);
        }
        slot
    }

    fn take(&mut self, slot: usize) -> Option<Agent> {
        self.slots.get(slot)?.as_ref()?;
        for key in [Key::Id, Key::Name, Key::Addr] {
            self.unindex(key, slot);
        }
        let agent = self.slots[slot].take()?;
        self.free.push(slot);
        self.active -= 1;
        Some(agent)
    }

    /// The three files' full contents: client.keys, agents-timestamp, our state.
    pub fn render(&self) -> store::Contents {
        let mut keys = String::with_capacity(self.slots.len() * 100);
        let mut timestamps = String::new();
        let mut state =
            format!("# agentkeys state: written by agentkeys, do not edit\nhighest_id {}\n", self.highest_id);
        for agent in self.agents() {
            keys.push_str(&agent.line());
            keys.push('\n');
            push_timestamp(&mut timestamps, agent);
            push_groups(&mut state, agent);
        }
        for line in &self.removed_lines {
            keys.push_str(line);
            keys.push('\n');
        }
        store::Contents { keys: keys.into_bytes(), timestamps: timestamps.into_bytes(), state: state.into_bytes() }
    }

    /// What appending the agents in `slots` adds to each file.
    pub fn render_appends(&self, slots: &[usize]) -> store::Contents {
        let (mut keys, mut timestamps, mut state) = (String::new(), String::new(), String::new());
        let _ = writeln!(state, "highest_id {}", self.highest_id);
        for agent in slots.iter().filter_map(|&s| self.slot(s)) {
            keys.push_str(&agent.line());
            keys.push('\n');
            push_timestamp(&mut timestamps, agent);
            push_groups(&mut state, agent);
        }
        store::Contents { keys: keys.into_bytes(), timestamps: timestamps.into_bytes(), state: state.into_bytes() }
    }
}

fn push_timestamp(out: &mut String, agent: &Agent) {
    if agent.date_add > 0 {
        let _ = writeln!(
            out,
            "{} {} {} {}",
            agent.id,
            agent.name,
            agent.addr.file_form(),
            store::format_local_time(agent.date_add)
        );
    }
}

fn push_groups(out: &mut String, agent: &Agent) {
    if let Some(groups) = &agent.groups {
        let _ = writeln!(out, "groups {} {groups}", agent.id);
    }
}
