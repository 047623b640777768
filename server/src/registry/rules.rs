//! The decision of a registration: pure and synchronous, over the index, the request, the states
//! of existing agents (fetched before the request reached the owner) and the clock. SPEC 3.6 gives
//! the order of the checks, SPEC 4.3 the force rules that say when an existing agent may be
//! replaced.

use agentkeys::{AgentKey, AgentName, ErrorKind, GeneratedKey, OwnedRecord, key_hash};
use tracing::{error, info, warn};

use super::index::{Index, MAX_ID, Plan};
use super::{Agent, NewAgent};
use crate::config::ForceConfig;
use crate::status::{AgentInfo, Connection, StatusError, StatusSource};

/// Why a registration was refused: the kind and the value upstream's reply quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The reason.
    pub kind: ErrorKind,
    /// The value the reply quotes (name, address, …).
    pub subject: String,
    /// See [`Refusal::needs_status`].
    needs_status: bool,
    /// The shared registry could not be reached (nothing was decided against it).
    pub registry_unavailable: bool,
}

impl Refusal {
    /// A refusal of `kind` about `subject`.
    pub fn new(kind: ErrorKind, subject: impl Into<String>) -> Refusal {
        Refusal { kind, subject: subject.into(), needs_status: false, registry_unavailable: false }
    }

    /// Marks (or not) a refusal as caused by an unreachable shared registry.
    #[must_use]
    pub fn unavailable(mut self, unavailable: bool) -> Refusal {
        self.registry_unavailable = unavailable;
        self
    }

    /// Not a refusal yet: the decision needs an agent state that was not fetched (the registry
    /// changed since); the caller fetches it and asks again.
    fn needs_status() -> Refusal {
        Refusal {
            kind: ErrorKind::InternalError,
            subject: String::new(),
            needs_status: true,
            registry_unavailable: false,
        }
    }

    /// Whether this is [`Refusal::needs_status`].
    pub fn is_needs_status(&self) -> bool {
        self.needs_status
    }
}

/// Agent states fetched for a decision, by agent ID (an error says why the lookup failed).
pub type Statuses = std::collections::HashMap<u32, Result<AgentInfo, StatusError>>;

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

/// Whether the force rules let a new registration replace an agent it collides with, with the
/// reason in upstream's log words.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// The old agent goes.
    Replace(String),
    /// The old agent stays; the registration is refused.
    Keep(String),
}

/// Decides a registration in upstream's order (SPEC 3.6): explicit ID, address, host name, name;
/// each collision goes through the force rules. Unlike upstream, nothing is changed until every
/// check has passed (upstream keeps an address replacement even when the name is then refused).
///
/// Synchronous: the states of existing agents come from `known`, fetched before the request
/// reached the owner (see [`status_needed`]).
///
/// # Errors
/// The refusal to answer with, or [`Refusal::needs_status`].
pub fn plan(index: &Index, new: &NewAgent, rules: &Rules, known: &Known<'_>, now: i64) -> Result<Plan, Refusal> {
    let hash = new.key_hash.as_deref();
    let mut victims = Vec::new();
    if let Some(id) = new.id
        && let Some(slot) = index.slot_by_id(&id)
    {
        let old = index.slot(slot).ok_or_else(|| Refusal::new(ErrorKind::DuplicateId, id.as_str()))?;
        match may_replace(old, hash, new.force.as_ref().unwrap_or(&rules.force), rules, known, now)? {
            Verdict::Replace(msg) => {
                info!("Duplicate ID. {msg}");
                victims.push(slot);
            }
            Verdict::Keep(msg) => {
                warn!("Duplicate ID, rejecting enrollment. {msg}");
                return Err(Refusal::new(ErrorKind::DuplicateId, id.as_str()));
            }
        }
    }
    let ip_text = new.addr.to_string();
    // Upstream compares strings: a stored address loses its suffix, a requested one keeps it.
    if !new.addr.is_any()
        && !ip_text.contains('/')
        && let Some(slot) = index.slot_by_addr(&new.addr)
        && !victims.contains(&slot)
        && let Some(old) = index.slot(slot)
    {
        match may_replace(old, hash, new.force.as_ref().unwrap_or(&rules.force), rules, known, now)? {
            Verdict::Replace(msg) => {
                info!("Duplicate IP '{ip_text}'. {msg}");
                victims.push(slot);
            }
            Verdict::Keep(msg) => {
                warn!("Duplicate IP '{ip_text}', rejecting enrollment. {msg}");
                return Err(Refusal::new(ErrorKind::DuplicateIp, ip_text));
            }
        }
    }
    if new.name == rules.hostname {
        info!("Invalid agent name {} (same as manager)", new.name);
        return Err(Refusal::new(ErrorKind::ManagerName, new.name.clone()));
    }
    if let Some(slot) = index.slot_by_name(&new.name)
        && !victims.contains(&slot)
        && let Some(old) = index.slot(slot)
    {
        match may_replace(old, hash, new.force.as_ref().unwrap_or(&rules.force), rules, known, now)? {
            Verdict::Replace(msg) => {
                info!("Duplicate name. {msg}");
                victims.push(slot);
            }
            Verdict::Keep(msg) => {
                warn!("Duplicate name '{}', rejecting enrollment. {msg}", new.name);
                return Err(Refusal::new(ErrorKind::DuplicateName, new.name.clone()));
            }
        }
    }
    let id = match new.id {
        Some(id) => id,
        None => index.next_id().ok_or_else(|| {
            error!("agent ID space exhausted: every ID from 001 to {MAX_ID} is in use; cannot add '{}'", new.name);
            Refusal::new(ErrorKind::InternalError, new.name.clone())
        })?,
    };
    let refused = || Refusal::new(ErrorKind::InternalError, new.name.clone());
    let generated;
    let key = match &new.key {
        Some(k) => AgentKey::new(k).map_err(|_| refused())?,
        None => {
            generated = GeneratedKey::from_os().map_err(|_| refused())?;
            generated.as_key()
        }
    };
    let name = AgentName::new(&new.name).map_err(|_| refused())?;
    let reenroll =
        if new.issue_secret { Some(Box::new(super::new_reenroll_secret().map_err(|_| refused())?)) } else { None };
    let agent = Agent {
        record: OwnedRecord::new(id, name, new.addr, key),
        groups: new.groups.clone().map(String::into_boxed_str),
        date_add: now,
        reenroll,
    };
    Ok(Plan { victims, agent, allocated: new.id.is_none() })
}

/// Decides a re-enrollment of the agent in `slot` (its bearer already checked): same ID, a new key
/// and secret, the groups kept unless new ones are given, the name and address as now asked. The
/// force rules do not apply to the agent itself; another agent's name or address is never taken
/// (`DuplicateName`, `DuplicateIp`).
///
/// # Errors
/// The refusal to answer with.
pub fn plan_reenroll(index: &Index, slot: usize, new: &NewAgent, rules: &Rules, now: i64) -> Result<Plan, Refusal> {
    let old = index.slot(slot).ok_or_else(|| Refusal::new(ErrorKind::UnknownAgent, ""))?;
    let ip_text = new.addr.to_string();
    if !new.addr.is_any() && !ip_text.contains('/') && index.slot_by_addr(&new.addr).is_some_and(|other| other != slot)
    {
        warn!("Duplicate IP '{ip_text}', rejecting re-enrollment of agent '{}'", old.id());
        return Err(Refusal::new(ErrorKind::DuplicateIp, ip_text));
    }
    if new.name == rules.hostname {
        return Err(Refusal::new(ErrorKind::ManagerName, new.name.clone()));
    }
    if index.slot_by_name(&new.name).is_some_and(|other| other != slot) {
        warn!("Duplicate name '{}', rejecting re-enrollment of agent '{}'", new.name, old.id());
        return Err(Refusal::new(ErrorKind::DuplicateName, new.name.clone()));
    }
    let refused = || Refusal::new(ErrorKind::InternalError, new.name.clone());
    let key = GeneratedKey::from_os().map_err(|_| refused())?;
    let secret = super::new_reenroll_secret().map_err(|_| refused())?;
    let name = AgentName::new(&new.name).map_err(|_| refused())?;
    let agent = Agent {
        record: OwnedRecord::new(old.id(), name, new.addr, key.as_key()),
        groups: new.groups.clone().map(String::into_boxed_str).or_else(|| old.groups.clone()),
        date_add: if old.date_add > 0 { old.date_add } else { now },
        reenroll: Some(Box::new(secret)),
    };
    Ok(Plan { victims: vec![slot], agent, allocated: false })
}

/// The force rules (SPEC 4.3) for replacing `old`; `Err` when the agent's state is needed and not
/// in `statuses`.
fn may_replace(
    old: &Agent,
    hash: Option<&[u8]>,
    force: &ForceConfig,
    rules: &Rules,
    known: &Known<'_>,
    now: i64,
) -> Result<Verdict, Refusal> {
    let id = old.id();
    if !force.enabled {
        return Ok(Verdict::Keep(format!("Agent '{id}' won't be removed because the force option is disabled.")));
    }
    let info = match rules.status.known(id.value(), old.date_add).or_else(|| known.statuses.get(&id.value()).cloned()) {
        Some(Ok(info)) => info,
        Some(Err(why)) => {
            warn!("agent status of '{id}': {why}");
            return Ok(Verdict::Keep(format!("Failed to get agent-info for agent '{id}'")));
        }
        None if known.ask_again => return Err(Refusal::needs_status()),
        None => {
            warn!("agent status of '{id}': changed while it was fetched");
            return Ok(Verdict::Keep(format!("Failed to get agent-info for agent '{id}'")));
        }
    };
    Ok(force_rules(old, &info, hash, force, now))
}

/// The time and key rules of SPEC 4.3 for an agent whose state is known.
fn force_rules(old: &Agent, info: &AgentInfo, hash: Option<&[u8]>, force: &ForceConfig, now: i64) -> Verdict {
    let id = old.id();
    let threshold = i64::try_from(force.disconnected_time.value.as_secs()).unwrap_or(i64::MAX);
    if force.disconnected_time.enabled && info.connection != Connection::NeverConnected {
        if info.connection == Connection::Disconnected
            && info.disconnection_time > 0
            && now.saturating_sub(info.disconnection_time) < threshold
        {
            return Verdict::Keep(format!("Agent '{id}' has not been disconnected long enough to be replaced."));
        } else if info.disconnection_time == 0 {
            return Verdict::Keep(format!("Agent '{id}' can't be replaced since it is not disconnected."));
        }
    }
    let after = i64::try_from(force.after_registration_time.as_secs()).unwrap_or(i64::MAX);
    if after > 0 && now.saturating_sub(info.date_add) < after {
        return Verdict::Keep(format!("Agent '{id}' doesn't comply with the registration time to be removed."));
    }
    if let Some(sent) = hash
        && force.key_mismatch
        && key_hash(old.id().as_str(), old.name(), old.key()).matches(sent)
    {
        return Verdict::Keep(format!("Agent '{id}' key already exists on the manager."));
    }
    Verdict::Replace(format!("Removing old agent '{}' (id '{id}').", old.name()))
}

/// The existing agents whose state (from wazuh-db) deciding `new` may need: those it collides
/// with by ID, address or name, when the force rules may replace them. Empty when the state
/// source answers without I/O.
pub fn status_needed(index: &Index, new: &NewAgent, rules: &Rules) -> Vec<(u32, i64)> {
    if !rules.status.needs_lookup() || !new.force.as_ref().unwrap_or(&rules.force).enabled {
        return Vec::new();
    }
    let by_id = new.id.and_then(|id| index.slot_by_id(&id));
    let by_addr = (!new.addr.is_any()).then(|| index.slot_by_addr(&new.addr)).flatten();
    let by_name = index.slot_by_name(&new.name);
    let mut needed: Vec<(u32, i64)> = [by_id, by_addr, by_name]
        .into_iter()
        .flatten()
        .filter_map(|slot| index.slot(slot))
        .map(|a| (a.id().value(), a.date_add))
        .collect();
    needed.dedup();
    needed
}
