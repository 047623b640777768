//! The owner task: the one place that changes the registry. Connections send it commands; it takes
//! every command waiting (up to [`MAX_BATCH`]), decides each in arrival order, writes the batch
//! once (group commit), and only then answers. No lock is held across I/O: while a batch is being
//! written, new commands simply wait in the channel and form the next batch.

use std::sync::Arc;

use agentkeys::{AgentAddr, AgentId, ErrorKind};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info};

use super::store::Store;
use super::{NewAgent, Refusal, Registry, Rules};

/// Most commands written in one commit.
pub const MAX_BATCH: usize = 1024;

/// A registered agent, as the reply needs it.
#[derive(Clone, Debug)]
pub struct Registered {
    /// New ID.
    pub id: AgentId,
    /// Name.
    pub name: String,
    /// Address (canonical form).
    pub addr: AgentAddr,
    /// Key.
    pub key: String,
}

/// What connections ask of the owner.
#[derive(Debug)]
pub enum Command {
    /// Register an agent; answered once the change is on disk.
    Register {
        /// The decided request.
        new: NewAgent,
        /// Where the outcome goes.
        reply: oneshot::Sender<Result<Registered, Refusal>>,
    },
    /// Remove an agent whose `OSSEC K:` reply could not be delivered (as upstream does).
    Rollback {
        /// The agent.
        id: AgentId,
    },
}

/// A handle to send commands to the owner.
#[derive(Clone, Debug)]
pub struct Handle {
    tx: mpsc::Sender<Command>,
}

impl Handle {
    /// Registers an agent; `Err` is the refusal to reply with.
    pub async fn register(&self, new: NewAgent) -> Result<Registered, Refusal> {
        let (reply, answer) = oneshot::channel();
        let name = new.name.clone();
        let unavailable = || Refusal::new(ErrorKind::InternalError, name.clone());
        self.tx.send(Command::Register { new, reply }).await.map_err(|_| unavailable())?;
        answer.await.map_err(|_| unavailable())?
    }

    /// Undoes a registration whose reply was not delivered.
    pub async fn rollback(&self, id: AgentId) {
        let _ = self.tx.send(Command::Rollback { id }).await;
    }
}

/// Starts the owner task over `registry`; it ends when every [`Handle`] is dropped, after writing
/// what it was given.
pub fn spawn(registry: Registry, store: Store, rules: Rules) -> (Handle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
    let task = tokio::spawn(run(registry, Arc::new(store), rules, rx));
    (Handle { tx }, task)
}

enum Pending {
    Answer(oneshot::Sender<Result<Registered, Refusal>>, Result<Registered, Refusal>),
}

async fn run(mut registry: Registry, store: Arc<Store>, rules: Rules, mut rx: mpsc::Receiver<Command>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let now = chrono::Utc::now().timestamp();
        let mut pending = Vec::with_capacity(batch.len());
        let mut applied = Vec::new();
        let mut appended = Vec::new();
        let mut rewrite = false;
        for command in batch.drain(..) {
            match command {
                Command::Register { new, reply } => match registry.plan(&new, &rules, now).await {
                    Ok(plan) => {
                        let done = registry.apply(plan, rules.purge);
                        rewrite |= !done.removed.is_empty();
                        appended.push(done.slot);
                        let agent = registry.slot(done.slot).map(|a| Registered {
                            id: a.id,
                            name: a.name.to_string(),
                            addr: a.addr,
                            key: a.key.to_string(),
                        });
                        applied.push(done);
                        match agent {
                            Some(a) => pending.push(Pending::Answer(reply, Ok(a))),
                            None => pending
                                .push(Pending::Answer(reply, Err(Refusal::new(ErrorKind::InternalError, new.name)))),
                        }
                    }
                    Err(refusal) => pending.push(Pending::Answer(reply, Err(refusal))),
                },
                Command::Rollback { id } => {
                    if let Some(agent) = registry.forget(&id) {
                        info!("Agent key not saved for {}", agent.name);
                        rewrite = true;
                    }
                }
            }
        }
        if applied.is_empty() && !rewrite {
            answer_all(pending);
            continue;
        }
        // Appending keeps upstream's layout (agents, then `!` lines) only while there is no `!` line.
        rewrite |= registry.has_removed_lines();
        let contents = if rewrite { registry.render() } else { registry.render_appends(&appended) };
        let writer = Arc::clone(&store);
        let written =
            tokio::task::spawn_blocking(
                move || if rewrite { writer.rewrite(&contents) } else { writer.append(&contents) },
            )
            .await
            .unwrap_or_else(|e| Err(format!("writer task failed: {e}")));
        if let Err(why) = written {
            error!("cannot save client.keys: {why}; refusing {} registration(s)", applied.len());
            for done in applied.into_iter().rev() {
                registry.undo(done);
            }
            // Bring the files back in line with memory (best effort; the next batch retries).
            let all = registry.render();
            let writer = Arc::clone(&store);
            if let Ok(Err(again)) = tokio::task::spawn_blocking(move || writer.rewrite(&all)).await {
                error!("cannot restore client.keys: {again}");
            }
            pending = pending
                .into_iter()
                .map(|Pending::Answer(tx, result)| {
                    let result = result.and_then(|r| Err(Refusal::new(ErrorKind::InternalError, r.name)));
                    Pending::Answer(tx, result)
                })
                .collect();
        }
        answer_all(pending);
    }
}

fn answer_all(pending: Vec<Pending>) {
    for Pending::Answer(tx, result) in pending {
        let _ = tx.send(result);
    }
}
