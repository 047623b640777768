//! The owner task: the one place that changes the registry. Connections, the admin socket, key
//! polling and the offline CLI send it commands; it takes every command waiting (up to
//! [`MAX_BATCH`]), decides each in arrival order, writes the batch once (group commit), and only
//! then answers. No lock is held across I/O: while a batch is being written, new commands wait in
//! the channel and form the next batch. If the write fails, every change of the batch is undone in
//! memory (the store has already put the files back as they were) and the batch is answered with
//! errors.

use std::sync::Arc;

use agentkeys::wazuh5::{BearerKind, KeyLabel, TokenId, VerifyPolicy, derive_key, verify_bearer};
use agentkeys::{AgentId, ErrorKind, GeneratedKey};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info};

use super::error::StoreError;
use super::index::{Applied, Index};
use super::rules::{self, Known, Refusal, Rules, Statuses};
use super::store::{Change, Store};
use super::window::{Arriving, CommitWindow};
use super::{Agent, NewAgent, ReenrollSecret};
use crate::status::StatusSource;
use crate::tokens::{Reserved, Token, Tokens};

/// Most commands written in one commit.
pub const MAX_BATCH: usize = 1024;

/// A registered agent, as replies need it: core's owned record, and its re-enrollment secret
/// when it has one.
#[derive(Clone, Debug)]
pub struct Registered {
    /// Its client.keys record.
    pub record: agentkeys::OwnedRecord,
    /// Its re-enrollment secret (agents enrolled or re-enrolled over HTTPS).
    pub reenroll: Option<ReenrollSecret>,
}

impl std::ops::Deref for Registered {
    type Target = agentkeys::OwnedRecord;

    fn deref(&self) -> &agentkeys::OwnedRecord {
        &self.record
    }
}

/// The record of an agent of the registry (its fields were validated when it was added).
fn registered(a: &Agent) -> Registered {
    Registered { record: a.record.clone(), reenroll: a.reenroll.as_deref().copied() }
}

/// Why `POST /enroll/secret` gets no secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretRefusal {
    /// The bearer is refused (`unknown_agent`, `invalid_signature`, `stale_token`, …).
    Bearer(ErrorKind),
    /// The agent has a re-enrollment secret already (it re-enrolls instead).
    AlreadyIssued,
    /// It could not be written.
    Store,
}

type Answer<T> = oneshot::Sender<T>;

/// What the owner is asked.
#[derive(Debug)]
pub enum Command {
    /// Which agent states (wazuh-db) deciding these registrations may need (read only).
    StatusNeeded(Vec<NewAgent>, Answer<Vec<(u32, i64)>>),
    /// Register an agent, with the agent states fetched for it; answered once it is on disk.
    Register(Arc<NewAgent>, Statuses, Answer<Result<Registered, Refusal>>),
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
    /// Check a token or re-enrollment bearer before the request body is read (no use reserved).
    CheckBearer(Vec<u8>, Answer<Result<(), ErrorKind>>),
    /// Keep a minted token (false: the table is full).
    MintToken(Box<Token>, Answer<bool>),
    /// Every token.
    ListTokens(Answer<Vec<Token>>),
    /// Revoke a token: None if unknown, else whether it changed.
    RevokeToken(TokenId, Answer<Option<bool>>),
    /// Drop dead tokens (every token with `all`): how many went, None if it could not be written.
    PurgeTokens { all: bool, answer: Answer<Option<usize>> },
    /// Read the token file again (SIGHUP): how many tokens, or why it cannot be read (the
    /// table in memory stays).
    ReloadTokens(Answer<Result<usize, String>>),
    /// Give an agent without one a re-enrollment secret, proven by a bearer signed with the key of
    /// its client.keys key.
    IssueSecret(AgentId, Vec<u8>, Answer<Result<ReenrollSecret, SecretRefusal>>),
    /// Look at what other servers changed (a shared registry notified a change, or a timer).
    Refresh,
}

impl Command {
    /// Whether deciding it may change the registry (a shared registry is locked for the batch).
    fn may_write(&self) -> bool {
        !matches!(
            self,
            Command::StatusNeeded(..)
                | Command::Get(..)
                | Command::CheckBearer(..)
                | Command::ListTokens(..)
                | Command::ReloadTokens(..)
                | Command::Refresh
        )
    }
}

/// A handle to send commands to the owner. Agent states are fetched here, by the caller's task,
/// so the owner never waits for wazuh-db.
#[derive(Clone, Debug)]
pub struct Handle {
    tx: mpsc::Sender<Command>,
    status: Arc<StatusSource>,
    window: CommitWindow,
}

/// How many times a registration is decided again when the registry changed under it.
const STATUS_ROUNDS: usize = 3;

fn gone(name: &str) -> Refusal {
    Refusal::new(ErrorKind::InternalError, name)
}

impl Handle {
    /// Counts a connection just accepted as on its way to a registration, so that a batch being
    /// formed may wait for it (see [`CommitWindow`]); call [`Arriving::arrived`] just before its
    /// registration is handed to the registry (or when it will send none).
    pub fn arriving(&self) -> Arriving {
        self.window.arriving()
    }

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
        // Shared with the owner, not copied, for each round.
        let new = Arc::new(new);
        let mut statuses = Statuses::new();
        if self.status.needs_lookup() {
            let needed = self.ask(|a| Command::StatusNeeded(vec![(*new).clone()], a)).await.unwrap_or_default();
            self.fetch(needed, &mut statuses).await;
        }
        for _ in 0..STATUS_ROUNDS {
            let answer = self.ask(|a| Command::Register(Arc::clone(&new), statuses.clone(), a)).await;
            match answer {
                Some(Err(refusal)) if refusal.is_needs_status() => {
                    let needed = self.ask(|a| Command::StatusNeeded(vec![(*new).clone()], a)).await.unwrap_or_default();
                    self.fetch(needed, &mut statuses).await;
                }
                Some(result) => return result,
                None => return Err(gone(&new.name)),
            }
        }
        Err(gone(&new.name))
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

    /// Asks the owner to look at what other servers changed (never waits: a refresh already
    /// queued does the same).
    pub fn refresh(&self) {
        let _ = self.tx.try_send(Command::Refresh);
    }

    /// Undoes a registration whose reply was not delivered.
    pub async fn rollback(&self, id: AgentId) {
        let _ = self.tx.send(Command::Rollback(id)).await;
    }

    /// Checks a token or re-enrollment bearer (signature, time window, expiry, revocation; no use
    /// reserved), as the HTTPS layer does before it reads the body.
    ///
    /// # Errors
    /// The refusal's kind (its bearer class says the 401).
    pub async fn check_bearer(&self, bearer: Vec<u8>) -> Result<(), ErrorKind> {
        self.ask(|a| Command::CheckBearer(bearer, a)).await.unwrap_or(Err(ErrorKind::InternalError))
    }

    /// Reads the token file again (SIGHUP); how many tokens it holds.
    ///
    /// # Errors
    /// Why it cannot be read (the tokens in memory stay).
    pub async fn reload_tokens(&self) -> Result<usize, String> {
        self.ask(Command::ReloadTokens).await.unwrap_or_else(|| Err("the registry is stopping".to_owned()))
    }

    /// Keeps a minted token, durably; false when the table is full or it cannot be written.
    pub async fn mint_token(&self, token: Token) -> bool {
        self.ask(|a| Command::MintToken(Box::new(token), a)).await.unwrap_or(false)
    }

    /// Every token.
    pub async fn tokens(&self) -> Vec<Token> {
        self.ask(Command::ListTokens).await.unwrap_or_default()
    }

    /// Revokes a token (idempotent): None if unknown, Some(false) if it was revoked already.
    ///
    /// # Errors
    /// When the change cannot be written.
    pub async fn revoke_token(&self, id: TokenId) -> Result<Option<bool>, Refusal> {
        self.ask(|a| Command::RevokeToken(id, a)).await.ok_or_else(|| gone(""))
    }

    /// Drops dead tokens (every token with `all`); how many went.
    ///
    /// # Errors
    /// When the change cannot be written.
    pub async fn purge_tokens(&self, all: bool) -> Result<usize, Refusal> {
        self.ask(|answer| Command::PurgeTokens { all, answer }).await.flatten().ok_or_else(|| gone(""))
    }

    /// A re-enrollment secret for an agent that has none (`POST /enroll/secret`).
    ///
    /// # Errors
    /// Why it gets none.
    pub async fn issue_secret(&self, id: AgentId, bearer: Vec<u8>) -> Result<ReenrollSecret, SecretRefusal> {
        self.ask(|a| Command::IssueSecret(id, bearer, a)).await.unwrap_or(Err(SecretRefusal::Store))
    }
}

/// Checks a re-enrollment bearer for agent `id` against its secret; the agent's slot.
fn check_reenroll_bearer(registry: &Index, id: &AgentId, bearer: &[u8], now: i64) -> Result<usize, ErrorKind> {
    let slot = registry.slot_by_id(id).ok_or(ErrorKind::UnknownAgent)?;
    let agent = registry.slot(slot).ok_or(ErrorKind::UnknownAgent)?;
    let secret = agent.reenroll.as_deref().ok_or(ErrorKind::EnrollmentKeyUnavailable)?;
    verify_bearer(
        bearer,
        |kind| match kind {
            BearerKind::Reenroll(kid) if kid == id => Ok(derive_key(KeyLabel::Reenroll, secret)),
            _ => Err(agentkeys::Error::new(ErrorKind::InvalidBearer)),
        },
        &VerifyPolicy::at(now),
    )
    .map_err(|e| e.kind())?;
    Ok(slot)
}

/// Starts the owner task over `registry`; it ends when every [`Handle`] is dropped, after writing
/// what it was given.
pub fn spawn(
    registry: Index,
    tokens: Tokens,
    store: Arc<dyn Store>,
    rules: Rules,
    window: CommitWindow,
) -> (Handle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
    let status = Arc::new(rules.status.clone());
    let task = tokio::spawn(run(registry, tokens, store, rules, rx, window.clone()));
    (Handle { tx, status, window }, task)
}

/// One change, to undo it if the batch cannot be written.
enum Undo {
    Added(Applied),
    Removed(Agent, bool),
    Rekeyed(agentkeys::OwnedRecord),
    Forgot(Agent),
    /// A token use reserved.
    TokenUse(Reserved),
    /// The token table before a mint, revocation or purge.
    Tokens(Vec<Token>),
    /// An agent before it got a re-enrollment secret.
    SecretIssued(AgentId),
}

/// An answer waiting for the write; on failure, `fail` turns it into an error.
enum Pending {
    One(Answer<Result<Registered, Refusal>>, Result<Registered, Refusal>),
    Many(Answer<Vec<Result<Registered, Refusal>>>, Vec<Result<Registered, Refusal>>),
    Removed(Answer<Result<Vec<bool>, Refusal>>, Vec<bool>),
    Rekeyed(Answer<Result<Option<Registered>, Refusal>>, Result<Option<Registered>, Refusal>),
    Minted(Answer<bool>, bool),
    Revoked(Answer<Option<bool>>, Option<bool>),
    Purged(Answer<Option<usize>>, usize),
    Secret(Answer<Result<ReenrollSecret, SecretRefusal>>, Result<ReenrollSecret, SecretRefusal>),
}

impl Pending {
    /// Answers; `failed` when the batch could not be written (`unavailable`: because the shared
    /// registry could not be reached).
    fn send(self, failed: bool, unavailable: bool) {
        let fail = |r: Result<Registered, Refusal>| {
            r.and_then(|a| {
                if failed {
                    Err(Refusal::new(ErrorKind::InternalError, a.name()).unavailable(unavailable))
                } else {
                    Ok(a)
                }
            })
        };
        match self {
            Pending::One(tx, r) => drop(tx.send(fail(r))),
            Pending::Many(tx, rs) => drop(tx.send(rs.into_iter().map(fail).collect())),
            Pending::Removed(tx, found) => drop(tx.send(if failed { Err(gone("")) } else { Ok(found) })),
            Pending::Rekeyed(tx, r) => drop(tx.send(if failed { Err(gone("")) } else { r })),
            Pending::Minted(tx, ok) => drop(tx.send(ok && !failed)),
            // A revocation that cannot be written is not answered: the caller reports a failure.
            Pending::Revoked(tx, r) => {
                if !failed {
                    let _ = tx.send(r);
                }
            }
            Pending::Purged(tx, n) => drop(tx.send((!failed).then_some(n))),
            Pending::Secret(tx, r) => drop(tx.send(if failed { Err(SecretRefusal::Store) } else { r })),
        }
    }
}

struct Batch<'r> {
    registry: &'r mut Index,
    tokens: &'r mut Tokens,
    rules: &'r Rules,
    now: i64,
    /// Now for bearers and token lifetimes (see [`crate::clock`]).
    bearer_now: i64,
    undo: Vec<Undo>,
    appended: Vec<usize>,
    rewrite: bool,
    /// The batch changed the token table (it is written with the batch).
    tokens_changed: bool,
    /// Agents re-enrolled in this batch (a second re-enrollment waits for the first to be written).
    rotating: Vec<AgentId>,
}

impl Batch<'_> {
    fn register(&mut self, new: &NewAgent, statuses: &Statuses, ask_again: bool) -> Result<Registered, Refusal> {
        // A use is reserved before anything else is decided, and given back if the agent is not
        // added, so parallel enrollments can never use a token more than its `max_uses`.
        let grant = match &new.token {
            Some(presented) => {
                let grant = self.tokens.reserve(presented, new.source, self.bearer_now).map_err(|kind| {
                    let subject = new.source.map(|ip| ip.to_string()).unwrap_or_default();
                    info!(agent = new.name.as_str(), "audit: enrollment token refused: {kind}");
                    crate::metrics::COUNTERS.token(Err(kind));
                    Refusal::new(kind, subject)
                })?;
                self.tokens_changed = true;
                Some(grant)
            }
            None => None,
        };
        let imposed;
        let new = match grant.as_ref().and_then(|g| g.groups.clone()) {
            Some(groups) => {
                imposed = NewAgent { groups: Some(groups), ..new.clone() };
                &imposed
            }
            None => new,
        };
        let decided = match &new.reenroll {
            Some(re) => self.reenroll_plan(new, re),
            None => rules::plan(self.registry, new, self.rules, &Known { statuses, ask_again }, self.now),
        };
        let plan = match decided {
            Ok(plan) => plan,
            Err(refusal) => {
                if let Some(g) = grant {
                    self.tokens.release(g.reserved);
                }
                if new.reenroll.is_some() {
                    crate::metrics::COUNTERS.reenrollment(Err(refusal.kind));
                }
                return Err(refusal);
            }
        };
        let purge = self.rules.purge || new.reenroll.is_some();
        let done = self.registry.apply(plan, purge);
        self.rewrite |= !done.removed.is_empty();
        self.appended.push(done.slot);
        let agent = self.registry.slot(done.slot).map(registered).ok_or_else(|| gone(&new.name));
        if let Ok(a) = &agent {
            match (&new.reenroll, &grant) {
                (Some(_), _) => {
                    info!("audit: agent '{}' ({}) re-enrolled: new key and re-enrollment secret", a.id(), a.name());
                    crate::metrics::COUNTERS.reenrollment(Ok(()));
                    self.rotating.push(a.id());
                }
                (None, Some(g)) => {
                    info!(
                        "audit: agent '{}' ({}) added with address {} using enrollment token {}",
                        a.id(),
                        a.name(),
                        a.addr(),
                        TokenId(g.reserved.0).to_text()
                    );
                    crate::metrics::COUNTERS.token(Ok(()));
                }
                (None, None) => info!("audit: agent '{}' ({}) added with address {}", a.id(), a.name(), a.addr()),
            }
        }
        if let Some(g) = grant {
            self.undo.push(Undo::TokenUse(g.reserved));
        }
        self.undo.push(Undo::Added(done));
        agent
    }

    /// Checks a re-enrollment's bearer against the agent's secret and decides the rotation.
    fn reenroll_plan(&self, new: &NewAgent, re: &super::Reenroll) -> Result<super::index::Plan, Refusal> {
        let refuse = |kind: ErrorKind| {
            info!("audit: re-enrollment of agent '{}' refused: {kind}", re.id);
            Refusal::new(kind, re.id.as_str())
        };
        if self.rotating.contains(&re.id) {
            return Err(refuse(ErrorKind::ReenrollInProgress));
        }
        let slot = check_reenroll_bearer(self.registry, &re.id, &re.bearer, self.bearer_now).map_err(refuse)?;
        rules::plan_reenroll(self.registry, slot, new, self.rules, self.now)
    }

    fn issue_secret(&mut self, id: &AgentId, bearer: &[u8]) -> Result<ReenrollSecret, SecretRefusal> {
        let agent = self.registry.get(id).ok_or(SecretRefusal::Bearer(ErrorKind::UnknownAgent))?;
        if agent.reenroll.is_some() {
            return Err(SecretRefusal::AlreadyIssued);
        }
        verify_bearer(
            bearer,
            |kind| match kind {
                BearerKind::Reenroll(kid) if kid == id => Ok(derive_key(KeyLabel::Reenroll, agent.key().as_bytes())),
                _ => Err(agentkeys::Error::new(ErrorKind::InvalidBearer)),
            },
            &VerifyPolicy::at(self.bearer_now),
        )
        .map_err(|e| SecretRefusal::Bearer(e.kind()))?;
        let secret = super::new_reenroll_secret().map_err(|_| SecretRefusal::Store)?;
        self.registry.set_reenroll(id, secret);
        self.undo.push(Undo::SecretIssued(*id));
        self.rewrite = true;
        info!("audit: agent '{id}' got a re-enrollment secret");
        Ok(secret)
    }

    /// Notes the token table as it is, before a mint, revocation or purge changes it.
    fn tokens_before_change(&mut self) {
        self.undo.push(Undo::Tokens(self.tokens.snapshot()));
        self.tokens_changed = true;
    }
}

async fn run(
    mut registry: Index,
    mut tokens: Tokens,
    store: Arc<dyn Store>,
    rules: Rules,
    mut rx: mpsc::Receiver<Command>,
    window: CommitWindow,
) {
    let mut commands = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut commands, MAX_BATCH).await > 0 {
        let may_write = commands.iter().any(Command::may_write);
        window.gather(&mut rx, &mut commands, may_write, MAX_BATCH).await;
        let writing = commands.iter().any(Command::may_write);
        match store.begin(writing).await {
            Ok(Some(delta)) => apply_delta(&mut registry, &mut tokens, delta),
            Ok(None) => {}
            // The batch's write reports it (and refuses the batch) if the batch writes.
            Err(why) => tracing::warn!("cannot read the shared registry: {why}"),
        }
        let mut batch = Batch {
            registry: &mut registry,
            tokens: &mut tokens,
            rules: &rules,
            now: crate::localtime::now(),
            bearer_now: crate::clock::bearer_now(),
            undo: Vec::new(),
            appended: Vec::new(),
            rewrite: false,
            tokens_changed: false,
            rotating: Vec::new(),
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
                Command::MintToken(token, tx) => {
                    batch.tokens_before_change();
                    let id = token.id.clone();
                    let ok = batch.tokens.insert(*token).is_ok();
                    if ok {
                        info!("audit: enrollment token {id} created");
                    }
                    pending.push(Pending::Minted(tx, ok));
                }
                Command::ListTokens(tx) => drop(tx.send(batch.tokens.snapshot())),
                Command::CheckBearer(bearer, tx) => {
                    let result = match agentkeys::wazuh5::peek_bearer(&bearer) {
                        Ok(BearerKind::Token(_)) => batch.tokens.check_bearer(&bearer, batch.bearer_now),
                        Ok(BearerKind::Reenroll(id)) => {
                            check_reenroll_bearer(batch.registry, &id, &bearer, batch.bearer_now).map(|_| ())
                        }
                        Ok(BearerKind::Password) => Err(ErrorKind::EnrollmentKeyUnavailable),
                        Err(e) => Err(e.kind()),
                    };
                    let _ = tx.send(result);
                }
                Command::RevokeToken(id, tx) => {
                    batch.tokens_before_change();
                    let result = batch.tokens.revoke(&id);
                    if result == Some(true) {
                        info!("audit: enrollment token {} revoked", id.to_text());
                    }
                    pending.push(Pending::Revoked(tx, result));
                }
                Command::PurgeTokens { all, answer } => {
                    batch.tokens_before_change();
                    let n = batch.tokens.purge(batch.bearer_now, all);
                    info!("audit: {n} enrollment token(s) purged");
                    pending.push(Pending::Purged(answer, n));
                }
                Command::ReloadTokens(tx) => {
                    let result = match store.load_tokens().await {
                        Ok(fresh) => {
                            let n = fresh.snapshot().len();
                            *batch.tokens = fresh;
                            Ok(n)
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    let _ = tx.send(result);
                }
                Command::IssueSecret(id, bearer, tx) => {
                    let result = batch.issue_secret(&id, &bearer);
                    pending.push(Pending::Secret(tx, result));
                }
                Command::Refresh => {}
            }
        }
        if batch.undo.is_empty() {
            if writing && let Err(why) = store.end_unchanged().await {
                tracing::warn!("shared registry: {why}");
            }
            crate::metrics::COUNTERS.set_agents(registry.len());
            pending.into_iter().for_each(|p| p.send(false, false));
            continue;
        }
        let touched = touched(&batch.undo, batch.registry);
        // New agents are appended whatever the file holds (upstream loads `!` lines anywhere; a
        // rewrite puts them back at the end); removals, replacements and new keys rewrite.
        let change = Change {
            added: &batch.appended,
            rewrite: batch.rewrite,
            tokens: batch.tokens_changed.then_some(&*batch.tokens),
            touched: &touched,
        };
        let write = store.prepare(batch.registry, &change);
        let undo = std::mem::take(&mut batch.undo);
        let committing = std::time::Instant::now();
        let written = write.write().await;
        crate::metrics::COUNTERS.commit(undo.len(), committing.elapsed());
        let failed = written.is_err();
        let unavailable = matches!(written, Err(StoreError::Unavailable(_)));
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
                    Undo::TokenUse(reserved) => tokens.release(reserved),
                    Undo::Tokens(before) => tokens.replace_all(before),
                    Undo::SecretIssued(id) => registry.clear_reenroll(&id),
                }
            }
        }
        crate::metrics::COUNTERS.set_agents(registry.len());
        pending.into_iter().for_each(|p| p.send(failed, unavailable));
    }
}

/// Every agent a batch touched, in order, with the `!` line kept for a removed one.
fn touched(undo: &[Undo], registry: &Index) -> Vec<(AgentId, Option<String>)> {
    let mut out = Vec::new();
    let removed = |agent: &Agent, line: bool| (agent.id(), line.then(|| agent.removed_line()));
    for change in undo {
        match change {
            Undo::Added(done) => {
                out.extend(done.removed.iter().map(|a| removed(a, done.removed_lines_added > 0)));
                if let Some(agent) = registry.slot(done.slot) {
                    out.push((agent.id(), None));
                }
            }
            Undo::Removed(agent, line) => out.push(removed(agent, *line)),
            Undo::Forgot(agent) => out.push((agent.id(), None)),
            Undo::Rekeyed(before) => out.push((before.id(), None)),
            Undo::SecretIssued(id) => out.push((*id, None)),
            Undo::TokenUse(_) | Undo::Tokens(_) => {}
        }
    }
    out
}

/// Applies what other servers changed to the index and the token table.
fn apply_delta(registry: &mut Index, tokens: &mut Tokens, delta: super::store::Delta) {
    match delta {
        super::store::Delta::Changes { agents, tokens: fresh, highest_id } => {
            crate::metrics::COUNTERS.synced(agents.len());
            for synced in agents {
                registry.sync(synced);
            }
            registry.note_id(highest_id);
            if let Some(fresh) = fresh {
                *tokens = fresh;
            }
        }
        super::store::Delta::Reset(index, fresh) => {
            *registry = index;
            *tokens = fresh;
        }
    }
}
