//! Every agent in memory: slots, and hash indexes by ID, name and address that hold slot numbers
//! only. No I/O and no decisions: the rules decide, the store writes.

use std::hash::{BuildHasher, Hash};

use hashbrown::{DefaultHashBuilder, HashTable};

use agentkeys::{AgentAddr, AgentId, AgentKey, OwnedRecord};

use super::Agent;

/// A decided registration, not applied yet.
#[derive(Debug)]
pub struct Plan {
    /// Slots of the agents it replaces.
    pub(super) victims: Vec<usize>,
    /// The new agent.
    pub(super) agent: Agent,
    /// The ID was allocated here (not given by the caller).
    pub(super) allocated: bool,
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
pub struct Index {
    slots: Vec<Option<Agent>>,
    free: Vec<usize>,
    hasher: DefaultHashBuilder,
    // Slot numbers as u32 (IDs have 8 digits, so slots never outgrow them): 4 bytes per entry.
    by_id: HashTable<u32>,
    by_name: HashTable<u32>,
    by_addr: HashTable<u32>,
    removed_lines: Vec<String>,
    highest_id: u32,
    /// Once the highest ID is [`MAX_ID`], allocation searches free IDs upwards from here.
    wrapped_floor: u32,
    active: usize,
}

/// Which of the three indexes.
#[derive(Clone, Copy)]
enum IndexedBy {
    Id,
    Name,
    Addr,
}

impl IndexedBy {
    fn hash(self, hasher: &DefaultHashBuilder, agent: &Agent) -> u64 {
        match self {
            IndexedBy::Id => hasher.hash_one(agent.id()),
            IndexedBy::Name => hasher.hash_one(agent.name()),
            IndexedBy::Addr => hasher.hash_one(agent.addr().without_suffix()),
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

impl Index {
    /// Makes room for `n` more agents (loading a big file without rehashing).
    pub fn reserve(&mut self, n: usize) {
        self.slots.reserve(n);
        let (slots, hasher) = (&self.slots, &self.hasher);
        let rehash = |key: IndexedBy| move |&s: &u32| slots[s as usize].as_ref().map_or(0, |a| key.hash(hasher, a));
        self.by_id.reserve(n, rehash(IndexedBy::Id));
        self.by_name.reserve(n, rehash(IndexedBy::Name));
        // Most fleets register with addresses; a table too small would be rebuilt while loading.
        self.by_addr.reserve(n, rehash(IndexedBy::Addr));
    }

    fn table(&self, key: IndexedBy) -> &HashTable<u32> {
        match key {
            IndexedBy::Id => &self.by_id,
            IndexedBy::Name => &self.by_name,
            IndexedBy::Addr => &self.by_addr,
        }
    }

    pub(super) fn slot_by_id(&self, id: &AgentId) -> Option<usize> {
        let hash = hash_of(&self.hasher, id);
        self.table(IndexedBy::Id)
            .find(hash, |&s| self.slots[s as usize].as_ref().is_some_and(|a| a.id() == *id))
            .map(|&s| s as usize)
    }

    pub(super) fn slot_by_name(&self, name: &str) -> Option<usize> {
        let hash = hash_of(&self.hasher, name);
        self.table(IndexedBy::Name)
            .find(hash, |&s| self.slots[s as usize].as_ref().is_some_and(|a| a.name() == name))
            .map(|&s| s as usize)
    }

    pub(super) fn slot_by_addr(&self, addr: &AgentAddr) -> Option<usize> {
        let hash = hash_of(&self.hasher, addr);
        self.table(IndexedBy::Addr)
            .find(hash, |&s| self.slots[s as usize].as_ref().is_some_and(|a| a.addr().without_suffix() == *addr))
            .map(|&s| s as usize)
    }

    /// Indexes `slot` under `key` unless another slot holds that key; returns whether it did.
    /// (`any` is never indexed by address.)
    fn index(&mut self, key: IndexedBy, slot: usize) -> bool {
        let Some(agent) = self.slots[slot].as_ref() else { return false };
        if matches!(key, IndexedBy::Addr) && agent.addr().is_any() {
            return false;
        }
        let hash = key.hash(&self.hasher, agent);
        let (slots, hasher) = (&self.slots, &self.hasher);
        let same = |&s: &u32| {
            slots[s as usize].as_ref().is_some_and(|other| match key {
                IndexedBy::Id => other.id() == agent.id(),
                IndexedBy::Name => other.name() == agent.name(),
                IndexedBy::Addr => other.addr().without_suffix() == agent.addr().without_suffix(),
            })
        };
        let table = match key {
            IndexedBy::Id => &mut self.by_id,
            IndexedBy::Name => &mut self.by_name,
            IndexedBy::Addr => &mut self.by_addr,
        };
        if table.find(hash, same).is_some() {
            return false;
        }
        let Ok(entry) = u32::try_from(slot) else { return false };
        table.insert_unique(hash, entry, |&s| slots[s as usize].as_ref().map_or(0, |a| key.hash(hasher, a)));
        true
    }

    /// Removes `slot` from the index of `key` (its agent still in its slot).
    fn unindex(&mut self, key: IndexedBy, slot: usize) {
        let Some(agent) = self.slots[slot].as_ref() else { return };
        let hash = key.hash(&self.hasher, agent);
        let table = match key {
            IndexedBy::Id => &mut self.by_id,
            IndexedBy::Name => &mut self.by_name,
            IndexedBy::Addr => &mut self.by_addr,
        };
        if let Ok(entry) = table.find_entry(hash, |&s| s as usize == slot) {
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

    /// Removed agents' lines (`purge = no`), in the order they were removed.
    pub fn removed_lines(&self) -> &[String] {
        &self.removed_lines
    }

    /// The agent with this ID.
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

    /// Sets the re-enrollment secret of a loaded agent (from our state file).
    pub fn set_reenroll(&mut self, id: &AgentId, secret: super::ReenrollSecret) {
        if let Some(slot) = self.slot_by_id(id)
            && let Some(agent) = self.slots[slot].as_mut()
        {
            agent.reenroll = Some(Box::new(secret));
        }
    }

    /// Takes an agent's re-enrollment secret away (undo of issuing one).
    pub fn clear_reenroll(&mut self, id: &AgentId) {
        if let Some(slot) = self.slot_by_id(id)
            && let Some(agent) = self.slots[slot].as_mut()
        {
            agent.reenroll = None;
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
        self.highest_id = self.highest_id.max(agent.id().value());
        self.slots.push(Some(agent));
        self.active += 1;
        let new_id = self.index(IndexedBy::Id, slot);
        let new_name = self.index(IndexedBy::Name, slot);
        let new_addr = self.index(IndexedBy::Addr, slot) || self.slots[slot].as_ref().is_none_or(|a| a.addr().is_any());
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

    /// The agent added last by [`Index::load`] (to word a duplicate warning).
    pub fn last_loaded(&self) -> Option<&Agent> {
        self.slots.last().and_then(Option::as_ref)
    }

    /// The ID for a new agent: one above the highest ever issued while that fits in 8 digits;
    /// after that (someone added `99999999` by hand), the lowest number not held by any agent or
    /// `!` line, searching upwards from the last one handed out that way. `None`: every 8-digit ID
    /// is taken.
    pub(super) fn next_id(&self) -> Option<AgentId> {
        if self.highest_id < MAX_ID {
            return AgentId::from_number(self.highest_id + 1).ok();
        }
        // Rare (the top of the space was taken): one sorted scan per allocation is fine here.
        let floor = self.wrapped_floor.max(1);
        let removed_ids = self.removed_lines.iter().filter_map(|l| match agentkeys::parse_line(l.as_bytes()) {
            agentkeys::Line::Removed(r) => Some(r.id.value()),
            _ => None,
        });
        let mut taken: Vec<u32> =
            self.agents().map(|a| a.id().value()).chain(removed_ids).filter(|&n| n >= floor).collect();
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

    /// Applies a plan: removes the replaced agents (keeping `!` lines unless `purge`) and adds the
    /// new one.
    pub fn apply(&mut self, plan: Plan, purge: bool) -> Applied {
        if plan.allocated && self.highest_id >= MAX_ID {
            self.wrapped_floor = plan.agent.id().value().saturating_add(1);
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

    /// Gives an agent another key; returns its record before.
    pub fn rekey(&mut self, id: &AgentId, key: AgentKey<'_>) -> Option<OwnedRecord> {
        let slot = self.slot_by_id(id)?;
        let agent = self.slots[slot].as_mut()?;
        let rekeyed = agent.record.with_key(key);
        Some(std::mem::replace(&mut agent.record, rekeyed))
    }

    /// Puts back the record a [`Index::rekey`] returned (same ID, name and address).
    pub fn undo_rekey(&mut self, before: OwnedRecord) {
        if let Some(agent) = self.slot_by_id(&before.id()).and_then(|slot| self.slots[slot].as_mut()) {
            agent.record = before;
        }
    }

    /// A copy of an agent.
    pub fn find(&self, id: &AgentId) -> Option<Agent> {
        self.slot_by_id(id).and_then(|s| self.slots[s].clone())
    }

    /// Applies another server's change to one agent (shared registries). The registry that sent it
    /// enforces uniqueness; a change here only mirrors it.
    pub fn sync(&mut self, change: super::store::Synced) {
        use super::store::Synced;
        let id = match &change {
            Synced::Active(agent) => agent.id(),
            Synced::Removed(id, _) | Synced::Purged(id) => *id,
        };
        self.note_id(id.value());
        if let Some(slot) = self.slot_by_id(&id) {
            self.take(slot);
        }
        match change {
            Synced::Active(agent) => {
                self.insert(agent);
            }
            Synced::Removed(_, line) => {
                if !self.removed_lines.contains(&line) {
                    self.removed_lines.push(line);
                }
            }
            Synced::Purged(_) => {}
        }
    }

    /// Removes an agent whose registration was never delivered (no `!` line; its ID stays used).
    pub fn forget(&mut self, id: &AgentId) -> Option<Agent> {
        let slot = self.slot_by_id(id)?;
        self.take(slot)
    }

    fn insert(&mut self, agent: Agent) -> usize {
        self.highest_id = self.highest_id.max(agent.id().value());
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        // A new agent takes over the index entries of its keys (upstream: the newest wins).
        for key in [IndexedBy::Id, IndexedBy::Name, IndexedBy::Addr] {
            let existing = match key {
                IndexedBy::Id => self.slot_by_id(&agent.id()),
                IndexedBy::Name => self.slot_by_name(agent.name()),
                IndexedBy::Addr => {
                    (!agent.addr().is_any()).then(|| self.slot_by_addr(&agent.addr().without_suffix())).flatten()
                }
            };
            if let Some(old) = existing {
                self.unindex(key, old);
            }
        }
        self.slots[slot] = Some(agent);
        self.active += 1;
        for key in [IndexedBy::Id, IndexedBy::Name, IndexedBy::Addr] {
            self.index(key, slot);
        }
        slot
    }

    fn take(&mut self, slot: usize) -> Option<Agent> {
        self.slots.get(slot)?.as_ref()?;
        for key in [IndexedBy::Id, IndexedBy::Name, IndexedBy::Addr] {
            self.unindex(key, slot);
        }
        let agent = self.slots[slot].take()?;
        self.free.push(slot);
        self.active -= 1;
        Some(agent)
    }
}
