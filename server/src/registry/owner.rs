//! The owner task: the one place that changes the registry. Connections, the admin socket, key
//! polling and the offline CLI send it commands; it takes every command waiting (up to
//! [`MAX_BATCH`]), decides each in arrival order, writes the batch once (group commit), and only
//! then answers. No lock is held across I/O: while a batch is being written, new commands wait in
//! the channel and form the next batch. If the write fails, every change of the batch is undone in
//! memory (the store has already put the files back as they were) and the batch is answered with
//! errors.

use std::sync::Arc;

use agentkeys::{AgentId, ErrorKind, GeneratedKey};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info};

use super::error::StoreError;
use super::index::{Applied, Index};
use super::rules::{self, Known, Refusal, Rules, Statuses};
use super::store::{Change, Store};
use super::{Agent, NewAgent};
use crate::status::StatusSource;

/// Most commands written in one commit.
pub const MAX_BATCH: usize = 1024;

/// A registered agent, as replies need it: core's owned record.
pub type Registered = agentkeys::OwnedRecord;

/// The record of an agent of the registry (its fields were validated when it was added).
fn registered(a: &Agent) -> Registered {
    a.record.clone()
}

type Answer<T> = oneshot::Sender<T>;

/// What the owner is asked.
#[derive(Debug)]
pub enum Command {
    /// Which agent states (wazuh-db) deciding these registrations may need (read only).
    StatusNeeded(Vec<NewAgent>, Answer<Vec<(u32, i64)>>),
    /// Register an agent, with the agent states fetched for it; answered once it is on disk.
    Register(NewAgent, Statuses, Answer<Result<Registered, Refusal>>),
    /// Register several agents in one durable write; one answer per agent, in order.
    RegisterMany(Vec<NewAgent>, Statuses, Answer<Vec<Result<Registered, Refusal>>>),
    /// Remove agents (one write); per ID, whether it existed.
    Remove { ids: Vec<AgentId>, purge: bool, answer: Answer<Result<Vec<bool>, Refusal>> },
    /// Give an agent a new key.
    Rekey(AgentId, Answer<Result<Option<Registered>, Refusal>>),
    /// Read one agent.
    Get(AgentId, Answer<Option<Registered>>),
    /// Remove an agent whose `OSSEC K:` reply could not be delivered (as upstream does).
    Rollback(AgentId),
}

/// A handle to send commands to the owner. Agent states are fetched here, by the caller's task,
/// so the owner never waits for wazuh-db.
#[derive(Clone, Debug)]
pub struct Handle {
    tx: mpsc::Sender<Command>,
    status: Arc<StatusSource>,
}

/// How many times a registration is decided again when the registry changed under it.
const STATUS_ROUNDS: usize = 3;

fn gone(name: &str) -> Refusal {
    Refusal::new(ErrorKind::InternalError, name)
}

impl Handle {
    async fn ask<T>(&self, make: impl FnOnce(Answer<T>) -> Command) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Fetches the states of `needed` agents (outside the owner).
    async fn fetch(&self, needed: Vec<(u32, i64)>, into: &mut Statuses) {
        for (id, date_add) in needed {
            if let std::collections::hash_map::Entry::Vacant(slot) = into.entry(id) {
                slot.insert(self.status.agent_info(id, date_add).await);
            }
        }
    }

    /// Registers an agent; `Err` is the refusal to reply with.
    pub async fn register(&self, new: NewAgent) -> Result<Registered, Refusal> {
        let name = new.name.clone();
        let mut statuses = Statuses::new();
        if self.status.needs_lookup() {
            let needed = self.ask(|a| Command::StatusNeeded(vec![new.clone()], a)).await.unwrap_or_default();
            self.fetch(needed, &mut statuses).await;
        }
        for _ in 0..STATUS_ROUNDS {
            let answer = self.ask(|a| Command::Register(new.clone(), statuses.clone(), a)).await;
            match answer {
                Some(Err(refusal)) if refusal.is_needs_status() => {
                    let needed = self.ask(|a| Command::StatusNeeded(vec![new.clone()], a)).await.unwrap_or_default();
                    self.fetch(needed, &mut statuses).await;
                }
                Some(result) => return result,
                None => return Err(gone(&name)),
            }
        }
        Err(gone(&name))
    }

    /// Registers several agents in one write. States are fetched once for the batch; an agent
    /// whose state changed in between is refused as when wazuh-db cannot answer.
    pub async fn register_many(&self, many: Vec<NewAgent>) -> Vec<Result<Registered, Refusal>> {
        let names: Vec<String> = many.iter().map(|n| n.name.clone()).collect();
        let mut statuses = Statuses::new();
        if self.status.needs_lookup() {
            let needed = self.ask(|a| Command::StatusNeeded(many.clone(), a)).await.unwrap_or_default();
            self.fetch(needed, &mut statuses).await;
        }
        self.ask(|a| Command::RegisterMany(many, statuses, a))
            .await
            .unwrap_or_else(|| names.iter().map(|n| Err(gone(n))).collect())
    }

    /// Removes agents; per ID, whether it existed.
    pub async fn remove(&self, ids: Vec<AgentId>, purge: bool) -> Result<Vec<bool>, Refusal> {
        self.ask(|answer| Command::Remove { ids, purge, answer }).await.unwrap_or_else(|| Err(gone("")))
    }

    /// A new key for an agent (None: unknown ID).
    pub async fn rekey(&self, id: AgentId) -> Result<Option<Registered>, Refusal> {
        self.ask(|a| Command::Rekey(id, a)).await.unwrap_or_else(|| Err(gone("")))
    }

    /// One agent.
    pub async fn get(&self, id: AgentId) -> Option<Registered> {
        self.ask(|a| Command::Get(id, a)).await.flatten()
    }

    /// Undoes a registration whose reply was not delivered.
    pub async fn rollback(&self, id: AgentId) {
        let _ = self.tx.send(Command::Rollback(id)).await;
    }
}

/// Starts the owner task over `registry`; it ends when every [`Handle`] is dropped, after writing
/// what it was given.
pub fn spawn(registry: Index, store: Arc<dyn Store>, rules: Rules) -> (Handle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
    let status = Arc::new(rules.status.clone());
    let task = tokio::spawn(run(registry, store, rules, rx));
    (Handle { tx, status }, task)
}

/// One change, to undo it if the batch cannot be written.
enum Undo {
    Added(Applied),
    Removed(Agent, bool),
    Rekeyed(agentkeys::OwnedRecord),
    Forgot(Agent),
}

/// An answer waiting for the write; on failure, `fail` turns it into an error.
enum Pending {
    One(Answer<Result<Registered, Refusal>>, Result<Registered, Refusal>),
    Many(Answer<Vec<Result<Registered, Refusal>>>, Vec<Result<Registered, Refusal>>),
    Removed(Answer<Result<Vec<bool>, Refusal>>, Vec<bool>),
    Rekeyed(Answer<Result<Option<Registered>, Refusal>>, Result<Option<Registered>, Refusal>),
}

impl Pending {
    fn send(self, failed: bool) {
        let fail = |r: Result<Registered, Refusal>| {
            r.and_then(|a| if failed { Err(Refusal::new(ErrorKind::InternalError, a.name())) } else { Ok(a) })
        };
        match self {
            Pending::One(tx, r) => drop(tx.send(fail(r))),
            Pending::Many(tx, rs) => drop(tx.send(rs.into_iter().map(fail).collect())),
            Pending::Removed(tx, found) => drop(tx.send(if failed { Err(gone("")) } else { Ok(found) })),
            Pending::Rekeyed(tx, r) => drop(tx.send(if failed { Err(gone("")) } else { r })),
        }
    }
}

struct Batch<'r> {
    registry: &'r mut Index,
    rules: &'r Rules,
    now: i64,
    undo: Vec<Undo>,
    appended: Vec<usize>,
    rewrite: bool,
}

impl Batch<'_> {
    fn register(&mut self, new: &NewAgent, statuses: &Statuses, ask_again: bool) -> Result<Registered, Refusal> {
        let plan = rules::plan(self.registry, new, self.rules, &Known { statuses, ask_again }, self.now)?;
        let done = self.registry.apply(plan, self.rules.purge);
        self.rewrite |= !done.removed.is_empty();
        self.appended.push(done.slot);
        let agent = self.registry.slot(done.slot).map(registered).ok_or_else(|| gone(&new.name));
        if let Ok(a) = &agent {
            info!("audit: agent '{}' ({}) added with address {}", a.id(), a.name(), a.addr());
        }
        self.undo.push(Undo::Added(done));
        agent
    }
}

async fn run(mut registry: Index, store: Arc<dyn Store>, rules: Rules, mut rx: mpsc::Receiver<Command>) {
    let mut commands = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut commands, MAX_BATCH).await > 0 {
        let mut batch = Batch {
            registry: &mut registry,
            rules: &rules,
            now: chrono::Utc::now().timestamp(),
            undo: Vec::new(),
            appended: Vec::new(),
            rewrite: false,
        };
        let mut pending = Vec::with_capacity(commands.len());
        for command in commands.drain(..) {
            match command {
                Command::StatusNeeded(many, tx) => {
                    let mut needed: Vec<(u32, i64)> =
                        many.iter().flat_map(|new| rules::status_needed(batch.registry, new, &rules)).collect();
                    needed.sort_unstable();
                    needed.dedup();
                    drop(tx.send(needed));
                }
                Command::Register(new, statuses, tx) => {
                    let result = batch.register(&new, &statuses, true);
                    pending.push(Pending::One(tx, result));
                }
                Command::RegisterMany(many, statuses, tx) => {
                    let results = many.iter().map(|new| batch.register(new, &statuses, false)).collect();
                    pending.push(Pending::Many(tx, results));
                }
                Command::Remove { ids, purge, answer } => {
                    let purge = purge || rules.purge;
                    let found = ids
                        .iter()
                        .map(|id| match batch.registry.remove(id, purge) {
                            Some((agent, line)) => {
                                info!(
                                    "audit: agent '{}' ({}) removed{}",
                                    agent.id(),
                                    agent.name(),
                                    if purge { " and purged" } else { "" }
                                );
                                batch.undo.push(Undo::Removed(agent, line));
                                batch.rewrite = true;
                                true
                            }
                            None => false,
                        })
                        .collect();
                    pending.push(Pending::Removed(answer, found));
                }
                Command::Rekey(id, tx) => {
                    let result = match GeneratedKey::from_os() {
                        Ok(key) => match batch.registry.rekey(&id, key.as_key()) {
                            Some(old) => {
                                info!("audit: agent '{id}' got a new key");
                                batch.undo.push(Undo::Rekeyed(old));
                                batch.rewrite = true;
                                Ok(batch.registry.find(&id).as_ref().map(registered))
                            }
                            None => Ok(None),
                        },
                        // Not "agent not found": the agent exists, the key could not be made.
                        Err(e) => {
                            error!(
                                "cannot give agent '{id}' a new key: the operating system gave no random bytes: {e}"
                            );
                            Err(Refusal::new(ErrorKind::InternalError, id.as_str()))
                        }
                    };
                    pending.push(Pending::Rekeyed(tx, result));
                }
                Command::Get(id, tx) => drop(tx.send(batch.registry.find(&id).as_ref().map(registered))),
                Command::Rollback(id) => {
                    if let Some(agent) = batch.registry.forget(&id) {
                        info!("Agent key not saved for {}", agent.name());
                        batch.undo.push(Undo::Forgot(agent));
                        batch.rewrite = true;
                    }
                }
            }
        }
        if batch.undo.is_empty() {
            pending.into_iter().for_each(|p| p.send(false));
            continue;
        }
        // New agents are appended whatever the file holds (upstream loads `!` lines anywhere; a
        // rewrite puts them back at the end); removals, replacements and new keys rewrite.
        let write = store.prepare(batch.registry, &Change { added: &batch.appended, rewrite: batch.rewrite });
        let undo = std::mem::take(&mut batch.undo);
        let written = tokio::task::spawn_blocking(move || write.write())
            .await
            .unwrap_or_else(|e| Err(StoreError::Writer(e.to_string())));
        let failed = written.is_err();
        if let Err(why) = written {
            // The store left every file as it was before the batch; memory follows. The highest ID
            // stays raised, so no ID of the failed batch is issued again.
            error!("cannot save client.keys: {why}; {} change(s) refused and undone", undo.len());
            for change in undo.into_iter().rev() {
                match change {
                    Undo::Added(done) => registry.undo(done),
                    Undo::Removed(agent, line) => registry.restore(agent, line),
                    Undo::Rekeyed(before) => registry.undo_rekey(before),
                    Undo::Forgot(agent) => registry.restore(agent, false),
                }
            }
        }
        pending.into_iter().for_each(|p| p.send(failed));
    }
}
