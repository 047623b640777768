//! The local admin socket `queue/sockets/auth` (SPEC 5): what the Wazuh API and manage_agents use.
//!
//! Framing: 4-byte little-endian length, then the payload, both ways; one request per connection.
//! A payload starting with `{` is a JSON request (`add`, `remove`, `get`, and our extensions
//! `add-many`, `remove` with `ids`, `rekey`); anything else is a text command (`getconfig auth`).
//! Stricter than upstream (DESIGN §7.1, §7.8): every value is validated, JSON of the wrong type or
//! shape gets Code::Parse (upstream crashes), payloads over 64 KiB are refused.

use std::borrow::Cow;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agentkeys::{AgentAddr, AgentId, AgentKey, AgentName, ErrorKind, Groups};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::atomic::FileError;
use crate::config::{Config, ForceConfig, Interval};
use crate::framing;
use crate::home::Home;
use crate::registry::owner::{Handle, Registered};
use crate::registry::{NewAgent, Refusal};

/// Largest payload accepted (upstream's `OS_MAXSTR`).
pub const MAX_PAYLOAD: usize = 65536;
/// Largest payload of our batch extensions (`add-many`, `remove` with `ids`), which exist to carry
/// thousands of agents in one durable write.
pub const MAX_BATCH_PAYLOAD: usize = 16 << 20;
/// Most admin connections open at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 64;
/// Most payload bytes held at once over every admin connection (two largest batch frames).
pub const MAX_IN_FLIGHT_BYTES: usize = 2 * MAX_BATCH_PAYLOAD;
/// Deadline for reading each part of a frame.
const FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// After a request this large, freed memory is handed back to the operating system.
const RETURN_MEMORY_AFTER: usize = 1 << 20;

/// The admin socket's error codes, with upstream's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Code {
    /// "Internal error".
    Internal = 9001,
    /// "Parsing JSON input".
    Parse = 9002,
    /// "No such function".
    NoFunction = 9003,
    /// "No such argument".
    NoArgument = 9004,
    /// "No such name".
    Name = 9005,
    /// "No such IP".
    Ip = 9006,
    /// "Duplicate IP".
    DuplicateIp = 9007,
    /// "Duplicate name".
    DuplicateName = 9008,
    /// "Issue generating key".
    Key = 9009,
    /// "No such agent ID".
    Id = 9010,
    /// "Agent ID not found".
    NotFound = 9011,
    /// "Duplicate ID".
    DuplicateId = 9012,
    /// "Maximum number of agents reached" (upstream's; never sent: there is no agent limit).
    #[allow(dead_code, reason = "upstream's code, listed so the table is complete")]
    MaxAgents = 9013,
    /// "Invalid Group(s) Name(s)".
    Groups = 9014,
    /// "Cannot execute this request on a worker node" (upstream's; never sent: no cluster mode).
    #[allow(dead_code, reason = "upstream's code, listed so the table is complete")]
    WorkerNode = 9015,
    /// Wazuh 5.0: the enrollment token is unknown or revoked.
    TokenInvalid = 9022,
    /// Wazuh 5.0: the enrollment token has expired.
    TokenExpired = 9023,
    /// Wazuh 5.0: the enrollment token has no uses left.
    TokenExhausted = 9024,
    /// Wazuh 5.0: a token cannot be minted (address not in the listener certificate, loopback,
    /// CA mismatch, table full).
    TokenMint = 9025,
    /// Wazuh 5.0: re-enrollment of an agent the manager does not know.
    UnknownAgent = 9026,
    /// Wazuh 5.0: the re-enrollment bearer's signature does not verify.
    BadSignature = 9027,
    /// Wazuh 5.0: the re-enrollment bearer is outside its time window.
    StaleToken = 9028,
    /// Ours: the token does not allow the agent's source address.
    TokenSource = 9029,
    /// Wazuh 5.0: a re-enrollment of this agent is in progress.
    ReenrollInProgress = 9030,
    /// Ours: the agent has no re-enrollment secret.
    NoSecret = 9031,
    /// Ours: the agent already has a re-enrollment secret.
    SecretExists = 9032,
    /// The shared registry database cannot be reached (ours).
    Unavailable = 9033,
}

impl Code {
    /// Upstream's message for the code.
    pub fn message(self) -> &'static str {
        match self {
            Code::Internal => "Internal error",
            Code::Parse => "Parsing JSON input",
            Code::NoFunction => "No such function",
            Code::NoArgument => "No such argument",
            Code::Name => "No such name",
            Code::Ip => "No such IP",
            Code::DuplicateIp => "Duplicate IP",
            Code::DuplicateName => "Duplicate name",
            Code::Key => "Issue generating key",
            Code::Id => "No such agent ID",
            Code::NotFound => "Agent ID not found",
            Code::DuplicateId => "Duplicate ID",
            Code::MaxAgents => "Maximum number of agents reached",
            Code::Groups => "Invalid Group(s) Name(s)",
            Code::WorkerNode => "Cannot execute this request on a worker node",
            Code::TokenInvalid => "Invalid or revoked enrollment token",
            Code::TokenExpired => "Enrollment token expired",
            Code::TokenExhausted => "Enrollment token has no uses left",
            Code::TokenMint => "Cannot create the enrollment token",
            Code::UnknownAgent => "Unknown agent",
            Code::BadSignature => "Invalid re-enrollment signature",
            Code::StaleToken => "Stale re-enrollment token",
            Code::TokenSource => "Enrollment token not valid from this address",
            Code::ReenrollInProgress => "Re-enrollment in progress",
            Code::NoSecret => "Agent has no re-enrollment secret",
            Code::SecretExists => "Agent already has a re-enrollment secret",
            Code::Unavailable => "Registry database unavailable",
        }
    }

    /// The HTTP status `POST /enroll` answers this code with (Wazuh 5.0's mapping).
    pub fn http_status(self) -> u16 {
        match self as u32 {
            9003..=9006 | 9014 | 9017 | 9019 | 9020 => 400,
            9007 | 9008 | 9012 | 9030 | 9032 => 409,
            9013 | 9015 | 9016 | 9033 => 503,
            9022..=9024 | 9029 => 403,
            9026..=9028 | 9031 => 401,
            _ => 500,
        }
    }
}

fn error_json(code: Code) -> String {
    format!(r#"{{"error":{},"message":"{}"}}"#, code as u32, code.message())
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

fn agent_json(a: &Registered, ip: &str) -> String {
    format!(
        r#"{{"id":{},"name":{},"ip":{},"key":{}}}"#,
        json_str(a.id().as_str()),
        json_str(a.name()),
        json_str(ip),
        json_str(a.key())
    )
}

/// The registry code of a refusal (SPEC 5.2 processing order).
pub fn refusal_code(r: &Refusal) -> Code {
    if r.registry_unavailable {
        return Code::Unavailable;
    }
    match r.kind {
        ErrorKind::DuplicateId => Code::DuplicateId,
        ErrorKind::DuplicateIp => Code::DuplicateIp,
        ErrorKind::DuplicateName | ErrorKind::ManagerName => Code::DuplicateName,
        ErrorKind::UnknownGroup | ErrorKind::InvalidGroupName | ErrorKind::TooManyGroups => Code::Groups,
        ErrorKind::TokenRevoked | ErrorKind::InvalidPassword => Code::TokenInvalid,
        ErrorKind::TokenExpired => Code::TokenExpired,
        ErrorKind::TokenExhausted => Code::TokenExhausted,
        ErrorKind::TokenSourceRefused => Code::TokenSource,
        ErrorKind::UnknownAgent => Code::UnknownAgent,
        ErrorKind::BadSignature | ErrorKind::InvalidBearer => Code::BadSignature,
        ErrorKind::StaleBearer => Code::StaleToken,
        ErrorKind::ReenrollInProgress => Code::ReenrollInProgress,
        ErrorKind::EnrollmentKeyUnavailable => Code::NoSecret,
        _ => Code::Internal,
    }
}

/// Answers admin requests.
pub struct Admin {
    /// The registry owner.
    pub registry: Handle,
    /// The home (groups).
    pub home: Home,
    /// The configuration (`getconfig`, token defaults), swapped by a reload.
    pub config: std::sync::Arc<arc_swap::ArcSwap<Config>>,
}

/// A JSON member of an expected type: missing → `missing`, wrong type → 9002.
fn string<'a>(args: &'a Map<String, Value>, key: &str, missing: Code) -> Result<&'a str, Code> {
    match args.get(key) {
        None => Err(missing),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Code::Parse),
    }
}

fn optional_string<'a>(args: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, Code> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Code::Parse),
    }
}

/// A boolean as upstream reads it (`valueint`): JSON booleans and numbers; anything else is 9002.
fn flag(v: Option<&Value>) -> Result<bool, Code> {
    match v {
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Number(n)) => Ok(n.as_f64().is_some_and(|f| f != 0.0)),
        _ => Err(Code::Parse),
    }
}

fn interval(v: Option<&Value>) -> Result<Interval, Code> {
    match v {
        Some(Value::Number(n)) => n.as_u64().map(Interval::from_secs).ok_or(Code::Parse),
        Some(Value::String(s)) => Interval::parse(s).map_err(|_| Code::Parse),
        _ => Err(Code::Parse),
    }
}

/// `force`: every member required (else Code::Parse), as upstream.
fn force(v: &Value) -> Result<ForceConfig, Code> {
    let obj = v.as_object().ok_or(Code::Parse)?;
    let dt = obj.get("disconnected_time").and_then(Value::as_object).ok_or(Code::Parse)?;
    let mut force = ForceConfig {
        enabled: flag(obj.get("enabled"))?,
        key_mismatch: flag(obj.get("key_mismatch"))?,
        ..ForceConfig::default()
    };
    force.disconnected_time.enabled = flag(dt.get("enabled"))?;
    force.disconnected_time.value = interval(dt.get("value"))?;
    force.after_registration_time = interval(obj.get("after_registration_time"))?;
    Ok(force)
}

impl Admin {
    /// The reply to one payload. JSON is parsed once; a payload over [`MAX_PAYLOAD`] is refused
    /// unless it is one of the batch functions.
    pub async fn answer(&self, payload: &[u8]) -> String {
        let oversized = || {
            warn!(
                "admin socket: refused a payload of {} bytes (at most {MAX_PAYLOAD} outside the batch functions)",
                payload.len()
            );
            error_json(Code::Parse)
        };
        if payload.first() != Some(&b'{') {
            return if payload.len() > MAX_PAYLOAD { oversized() } else { self.text(payload) };
        }
        if payload.len() > MAX_PAYLOAD
            && let Ok(frame) = serde_json::from_slice::<LargeBatch<'_>>(payload)
            && frame.function == "add-many"
            && let Some(agents) = &frame.arguments.agents
        {
            return self.add_many_large(agents, frame.arguments.force.as_ref()).await;
        }
        let Ok(value) = serde_json::from_slice::<Value>(payload) else {
            return if payload.len() > MAX_PAYLOAD { oversized() } else { error_json(Code::Parse) };
        };
        if payload.len() > MAX_PAYLOAD && !is_batch(&value) {
            return oversized();
        }
        self.json(&value).await.unwrap_or_else(error_json)
    }

    async fn json(&self, value: &Value) -> Result<String, Code> {
        let obj = value.as_object().ok_or(Code::Parse)?;
        let function = string(obj, "function", Code::NoFunction)?;
        let empty = Map::new();
        let args = match obj.get("arguments") {
            // Listing and purging need no arguments (remoted's token verbs may send none).
            None if matches!(function, "token_list" | "token_purge" | "stats" | "ping") => &empty,
            None => return Err(Code::NoArgument),
            Some(Value::Object(m)) => m,
            Some(_) => return Err(Code::Parse),
        };
        crate::metrics::COUNTERS.admin_call(function);
        match function {
            "ping" => Ok(r#"{"error":0,"data":"pong"}"#.to_owned()),
            "add" => self.add(args).await,
            "add-many" => self.add_many(args).await,
            "remove" => self.remove(args).await,
            "get" => self.get(args).await,
            "rekey" => self.rekey(args).await,
            "token_create" => self.token_create(args).await,
            "token_list" => self.token_list().await,
            "token_revoke" => self.token_revoke(args).await,
            "token_purge" => self.token_purge(args).await,
            "stats" => Ok(serde_json::json!({"error": 0, "data": crate::metrics::COUNTERS.to_json()}).to_string()),
            _ => Err(Code::Internal),
        }
    }

    /// Validates an `add` request into a registration (SPEC 5.2, plus value checks).
    fn new_agent(&self, args: &Map<String, Value>, default_force: Option<&Value>) -> Result<NewAgent, Code> {
        let name = string(args, "name", Code::Name)?;
        let ip = string(args, "ip", Code::Ip)?;
        let id = optional_string(args, "id")?;
        let key = optional_string(args, "key")?;
        let groups = optional_string(args, "groups")?;
        let key_hash = optional_string(args, "key_hash")?;
        let force = match args.get("force").or(default_force) {
            Some(v) => Some(force(v)?),
            None => None,
        };
        let addr = AgentAddr::new(ip).map_err(|_| Code::Ip)?;
        AgentName::new(name).map_err(|_| Code::Name)?;
        let id = id.map(|i| AgentId::parse(i.as_bytes())).transpose().map_err(|_| Code::Id)?;
        if let Some(k) = key {
            AgentKey::new(k).map_err(|_| Code::Key)?;
        }
        let groups = groups
            .map(|g| Groups::parse(g.as_bytes()).and_then(|parsed| self.home.check_groups(parsed)))
            .transpose()
            .map_err(|_| Code::Groups)?;
        Ok(NewAgent {
            groups,
            key_hash: key_hash.map(|h| h.as_bytes().to_vec()),
            id,
            key: key.map(str::to_owned),
            force,
            ..NewAgent::new(name.to_owned(), addr)
        })
    }

    /// `add`, with Wazuh 5.0's `token_id` (a token whose bearer remoted checked: a use is
    /// reserved) and `reenroll` (`{"kid","bearer"}`: rotate that agent). Those, and our
    /// `"reenroll_secret": true`, give the agent a re-enrollment secret, returned in the answer.
    async fn add(&self, args: &Map<String, Value>) -> Result<String, Code> {
        let mut new = self.new_agent(args, None)?;
        if let Some(id) = optional_string(args, "token_id")? {
            let id = agentkeys::wazuh5::TokenId::parse(id.as_bytes()).map_err(|_| Code::TokenInvalid)?;
            new.token = Some(crate::tokens::Presented::Id(id));
            new.issue_secret = true;
        }
        match args.get("reenroll") {
            None | Some(Value::Null) => {}
            Some(Value::Object(re)) => {
                let kid = string(re, "kid", Code::Parse)?;
                let bearer = string(re, "bearer", Code::Parse)?;
                let id = AgentId::parse(kid.as_bytes()).map_err(|_| Code::UnknownAgent)?;
                new.reenroll = Some(crate::registry::Reenroll { id, bearer: bearer.as_bytes().to_vec() });
                new.issue_secret = true;
            }
            Some(_) => return Err(Code::Parse),
        }
        if matches!(args.get("reenroll_secret"), Some(Value::Bool(true))) {
            new.issue_secret = true;
        }
        let registered = self.registry.register(new).await;
        crate::metrics::COUNTERS
            .registration(crate::metrics::Protocol::Admin, registered.as_ref().map(|_| ()).map_err(|r| r.kind));
        match registered {
            Ok(agent) => {
                let mut data = agent_json(&agent, &agent.addr().to_string());
                if let Some(secret) = &agent.reenroll {
                    data.pop();
                    data.push_str(&format!(r#","reenroll_secret":"{}"}}"#, crate::registry::secret_hex(secret)));
                }
                Ok(format!(r#"{{"error":0,"data":{data}}}"#))
            }
            Err(refusal) => Err(refusal_code(&refusal)),
        }
    }

    /// Wazuh 5.0 `token_create` (`address`, `port`, `prefix`, `ttl`, `max_uses`, `description`,
    /// `embed_ca`, `no_credential`; ours: `groups`, `sources`, `allow_loopback`) →
    /// `{"token","id","adr","expires","pin_hex"}`.
    async fn token_create(&self, args: &Map<String, Value>) -> Result<String, Code> {
        let address = string(args, "address", Code::NoArgument)?;
        let port = match args.get("port") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().and_then(|p| u16::try_from(p).ok()).filter(|&p| p > 0).ok_or(Code::Parse)?),
        };
        let ttl = match args.get("ttl") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(n.as_u64().ok_or(Code::Parse)?),
            Some(Value::String(s)) => Some(crate::tokens::parse_ttl(s).map_err(|e| {
                warn!("token_create: {e}");
                Code::TokenMint
            })?),
            Some(_) => return Err(Code::Parse),
        };
        let max_uses = match args.get("max_uses") {
            None | Some(Value::Null) => 0,
            Some(v) => v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or(Code::Parse)?,
        };
        let groups = optional_string(args, "groups")?
            .map(|g| Groups::parse(g.as_bytes()).and_then(|parsed| self.home.check_groups(parsed)))
            .transpose()
            .map_err(|_| Code::Groups)?;
        let sources = match args.get("sources") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list
                .iter()
                .map(|v| v.as_str().and_then(|s| s.parse::<crate::sources::Cidr>().ok()).ok_or(Code::Parse))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(Code::Parse),
        };
        let request = crate::tokens::MintRequest {
            address: address.to_owned(),
            port,
            prefix: optional_string(args, "prefix")?.map(str::to_owned),
            ttl,
            max_uses,
            description: optional_string(args, "description")?.unwrap_or("").to_owned(),
            embed_ca: args.get("embed_ca").map(|v| flag(Some(v))).transpose()?.unwrap_or(false),
            no_credential: args.get("no_credential").map(|v| flag(Some(v))).transpose()?.unwrap_or(false),
            groups,
            sources,
        };
        let config = self.config.load();
        let e = &config.enrollment;
        let (cert, ca) = (self.home.join(&e.ssl_cert), self.home.join(&e.ssl_ca));
        let allow_loopback = e.allow_loopback_tokens || matches!(args.get("allow_loopback"), Some(Value::Bool(true)));
        let ctx = crate::tokens::MintContext {
            cert: &cert,
            ca: &ca,
            port: e.port,
            prefix: &e.prefix,
            allow_loopback,
            now: crate::clock::bearer_now(),
        };
        let minted = crate::tokens::mint(&request, &ctx).map_err(|e| {
            warn!("token_create: {e}");
            Code::TokenMint
        })?;
        let (id, adr, expires) = (minted.token.id.clone(), minted.token.adr.clone(), minted.token.expires);
        if !self.registry.mint_token(minted.token).await {
            warn!("token_create: the token table is full ({} tokens) or cannot be written", crate::tokens::MAX_TOKENS);
            return Err(Code::TokenMint);
        }
        let data = serde_json::json!({"token": minted.text, "id": id, "adr": adr, "expires": expires, "pin_hex": minted.pin_hex});
        Ok(format!(r#"{{"error":0,"data":{data}}}"#))
    }

    /// Wazuh 5.0 `token_list`: every token, without its secret, with its status.
    async fn token_list(&self) -> Result<String, Code> {
        let now = crate::clock::bearer_now();
        let data: Vec<Value> = self
            .registry
            .tokens()
            .await
            .iter()
            .map(|t| {
                let mut item = serde_json::json!({
                    "id": t.id, "adr": t.adr, "created": t.created, "expires": t.expires,
                    "max_uses": t.max_uses, "uses": t.uses, "revoked": t.revoked,
                    "description": t.description, "status": t.status(now),
                    "credential": t.credential,
                });
                if let Some(groups) = &t.groups {
                    item["groups"] = Value::from(groups.as_str());
                }
                if !t.sources.is_empty() {
                    item["sources"] = Value::from(t.sources.iter().map(ToString::to_string).collect::<Vec<_>>());
                }
                item
            })
            .collect();
        Ok(serde_json::json!({"error": 0, "data": data}).to_string())
    }

    /// Wazuh 5.0 `token_revoke` (`id`), idempotent: `{"id","revoked":true,"changed"}`.
    async fn token_revoke(&self, args: &Map<String, Value>) -> Result<String, Code> {
        let id = string(args, "id", Code::NoArgument)?;
        let parsed = agentkeys::wazuh5::TokenId::parse(id.as_bytes()).map_err(|_| Code::TokenInvalid)?;
        match self.registry.revoke_token(parsed).await.map_err(|_| Code::Internal)? {
            None => Err(Code::TokenInvalid),
            Some(changed) => {
                Ok(serde_json::json!({"error": 0, "data": {"id": id, "revoked": true, "changed": changed}}).to_string())
            }
        }
    }

    /// Wazuh 5.0 `token_purge` (`status`: `dead`, the default, or `all`): `{"purged":N}`.
    async fn token_purge(&self, args: &Map<String, Value>) -> Result<String, Code> {
        let all = match optional_string(args, "status")? {
            None | Some("dead") => false,
            Some("all") => true,
            Some(_) => return Err(Code::Parse),
        };
        let n = self.registry.purge_tokens(all).await.map_err(|_| Code::Internal)?;
        Ok(serde_json::json!({"error": 0, "data": {"purged": n}}).to_string())
    }

    /// Ours: `{"function":"add-many","arguments":{"agents":[{…add arguments…}],"force":{…}}}` —
    /// one durable write, one answer per agent.
    async fn add_many(&self, args: &Map<String, Value>) -> Result<String, Code> {
        let items = args.get("agents").and_then(Value::as_array).ok_or(Code::Parse)?;
        let force = args.get("force");
        let checked =
            items.iter().map(|item| item.as_object().ok_or(Code::Parse).and_then(|a| self.new_agent(a, force)));
        Ok(self.add_checked(checked).await)
    }

    /// A large `add-many` frame: each agent is parsed on its own from the raw frame, so the frame
    /// is never held as one JSON tree (about twenty times its size).
    async fn add_many_large(&self, agents: &[&RawValue], force: Option<&Value>) -> String {
        let checked = agents.iter().map(|raw| {
            let item: Value = serde_json::from_str(raw.get()).map_err(|_| Code::Parse)?;
            item.as_object().ok_or(Code::Parse).and_then(|a| self.new_agent(a, force))
        });
        self.add_checked(checked).await
    }

    /// Registers the valid agents of a batch in one write and answers each item in order.
    async fn add_checked(&self, checked: impl Iterator<Item = Result<NewAgent, Code>>) -> String {
        let mut invalid: Vec<Option<Code>> = Vec::new();
        let mut valid = Vec::new();
        for item in checked {
            match item {
                Ok(new) => {
                    valid.push(new);
                    invalid.push(None);
                }
                Err(code) => invalid.push(Some(code)),
            }
        }
        let mut results = self.registry.register_many(valid).await.into_iter();
        let mut out = String::with_capacity(invalid.len() * 40 + 32);
        out.push_str(r#"{"error":0,"data":["#);
        for (i, code) in invalid.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let answer = match (code, code.is_none().then(|| results.next()).flatten()) {
                (Some(code), _) => error_json(code),
                (None, Some(Ok(agent))) => {
                    format!(r#"{{"error":0,"data":{}}}"#, agent_json(&agent, &agent.addr().to_string()))
                }
                (None, Some(Err(refusal))) => error_json(refusal_code(&refusal)),
                (None, None) => error_json(Code::Internal),
            };
            out.push_str(&answer);
        }
        out.push_str("]}");
        out
    }

    async fn remove(&self, args: &Map<String, Value>) -> Result<String, Code> {
        // Upstream honours only JSON `true` (the C cluster client's `1` means false).
        let purge = matches!(args.get("purge"), Some(Value::Bool(true)));
        if let Some(list) = args.get("ids") {
            let list = list.as_array().ok_or(Code::Parse)?;
            let mut parsed = Vec::with_capacity(list.len());
            for v in list {
                let text = v.as_str().ok_or(Code::Parse)?;
                parsed.push((text.to_owned(), AgentId::parse(text.as_bytes()).ok()));
            }
            let ids: Vec<AgentId> = parsed.iter().filter_map(|(_, id)| *id).collect();
            let found = self.registry.remove(ids, purge).await.map_err(|_| Code::Internal)?;
            let mut found = found.into_iter();
            let items: Vec<String> = parsed
                .iter()
                .map(|(text, id)| match id.map(|_| found.next().unwrap_or(false)) {
                    None => format!(
                        r#"{{"id":{},"error":{},"message":"{}"}}"#,
                        json_str(text),
                        Code::Id as u32,
                        Code::Id.message()
                    ),
                    Some(true) => format!(r#"{{"id":{},"error":0}}"#, json_str(text)),
                    Some(false) => format!(
                        r#"{{"id":{},"error":{},"message":"{}"}}"#,
                        json_str(text),
                        Code::NotFound as u32,
                        Code::NotFound.message()
                    ),
                })
                .collect();
            return Ok(format!(r#"{{"error":0,"data":[{}]}}"#, items.join(",")));
        }
        let id = string(args, "id", Code::Id)?;
        let id = AgentId::parse(id.as_bytes()).map_err(|_| Code::NotFound)?;
        match self.registry.remove(vec![id], purge).await {
            Ok(found) if found.first() == Some(&true) => {
                Ok(r#"{"error":0,"data":"Agent deleted successfully."}"#.to_owned())
            }
            Ok(_) => Err(Code::NotFound),
            Err(_) => Err(Code::Internal),
        }
    }

    async fn get(&self, args: &Map<String, Value>) -> Result<String, Code> {
        let id = string(args, "id", Code::Id)?;
        let id = AgentId::parse(id.as_bytes()).map_err(|_| Code::NotFound)?;
        match self.registry.get(id).await {
            Some(agent) => Ok(format!(
                r#"{{"error":0,"data":{}}}"#,
                agent_json(&agent, &agent.addr().without_suffix().to_string())
            )),
            None => Err(Code::NotFound),
        }
    }

    /// Ours: `{"function":"rekey","arguments":{"id":"001"}}` — a new key, same ID and name.
    async fn rekey(&self, args: &Map<String, Value>) -> Result<String, Code> {
        let id = string(args, "id", Code::Id)?;
        let id = AgentId::parse(id.as_bytes()).map_err(|_| Code::NotFound)?;
        match self.registry.rekey(id).await {
            Ok(Some(agent)) => Ok(format!(r#"{{"error":0,"data":{}}}"#, agent_json(&agent, &agent.addr().to_string()))),
            Ok(None) => Err(Code::NotFound),
            // No random bytes for the key, or the batch could not be written (both logged).
            Err(_) => Err(Code::Internal),
        }
    }

    /// Text commands (SPEC 5.4).
    fn text(&self, payload: &[u8]) -> String {
        let text = String::from_utf8_lossy(payload);
        let mut words = text.split_whitespace();
        match (words.next(), words.next()) {
            (Some("getconfig"), None) => "err AUTHCOM getconfig needs arguments".to_owned(),
            (Some("getconfig"), Some("auth")) => format!("ok {}", self.getconfig()),
            (Some("getconfig"), Some(_)) => "err Could not get requested section".to_owned(),
            _ => "err Unrecognized command".to_owned(),
        }
    }

    /// `{"auth":{…}}` in upstream's member order; numeric members omitted when 0.
    fn getconfig(&self) -> String {
        let config = self.config.load();
        let a = &config.auth;
        let kr = &config.key_request;
        let f = &a.force;
        let view = GetConfig {
            auth: AuthView {
                port: a.port,
                disabled: YesNo(a.disabled),
                remote_enrollment: YesNo(a.remote_enrollment),
                ipv6: YesNo(a.ipv6),
                use_source_ip: YesNo(a.use_source_ip),
                purge: YesNo(a.purge),
                use_password: YesNo(a.use_password),
                ssl_verify_host: YesNo(a.ssl_verify_host),
                ssl_auto_negotiate: YesNo(a.ssl_auto_negotiate),
                ciphers: &a.ciphers,
                ssl_agent_ca: a.ssl_agent_ca.as_deref().map(Path::to_string_lossy),
                ssl_manager_cert: a.ssl_manager_cert.to_string_lossy(),
                ssl_manager_key: a.ssl_manager_key.to_string_lossy(),
                // Upstream prints only `enabled` when key polling is off.
                key_request: if kr.enabled {
                    KeyRequestView {
                        enabled: YesNo(true),
                        exec_path: kr.exec_path.as_deref(),
                        socket: kr.socket.as_deref().map(Path::to_string_lossy),
                        timeout: kr.timeout.as_secs(),
                        threads: kr.threads as u64,
                        queue_size: kr.queue_size as u64,
                    }
                } else {
                    KeyRequestView {
                        enabled: YesNo(false),
                        exec_path: None,
                        socket: None,
                        timeout: 0,
                        threads: 0,
                        queue_size: 0,
                    }
                },
                force: ForceView {
                    enabled: YesNo(f.enabled),
                    key_mismatch: YesNo(f.key_mismatch),
                    disconnected_time: DisconnectedView {
                        enabled: YesNo(f.disconnected_time.enabled),
                        value: f.disconnected_time.value.as_secs(),
                    },
                    after_registration_time: f.after_registration_time.as_secs(),
                },
                agents: AgentsView { allow_higher_versions: YesNo(a.agents.allow_higher_versions) },
            },
        };
        serde_json::to_string(&view).unwrap_or_else(|_| error_json(Code::Internal))
    }
}

/// `getconfig auth` as upstream prints it: members in this order, booleans as `"yes"`/`"no"`,
/// numbers left out when 0, paths only when set.
#[derive(Serialize)]
struct GetConfig<'a> {
    auth: AuthView<'a>,
}

#[derive(Serialize)]
struct AuthView<'a> {
    port: u16,
    disabled: YesNo,
    remote_enrollment: YesNo,
    ipv6: YesNo,
    use_source_ip: YesNo,
    purge: YesNo,
    use_password: YesNo,
    ssl_verify_host: YesNo,
    ssl_auto_negotiate: YesNo,
    ciphers: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ssl_agent_ca: Option<Cow<'a, str>>,
    ssl_manager_cert: Cow<'a, str>,
    ssl_manager_key: Cow<'a, str>,
    key_request: KeyRequestView<'a>,
    force: ForceView,
    agents: AgentsView,
}

#[derive(Serialize)]
struct KeyRequestView<'a> {
    enabled: YesNo,
    #[serde(skip_serializing_if = "Option::is_none")]
    exec_path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    socket: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "is_zero")]
    timeout: u64,
    #[serde(skip_serializing_if = "is_zero")]
    threads: u64,
    #[serde(skip_serializing_if = "is_zero")]
    queue_size: u64,
}

#[derive(Serialize)]
struct ForceView {
    enabled: YesNo,
    key_mismatch: YesNo,
    disconnected_time: DisconnectedView,
    #[serde(skip_serializing_if = "is_zero")]
    after_registration_time: u64,
}

#[derive(Serialize)]
struct DisconnectedView {
    enabled: YesNo,
    #[serde(skip_serializing_if = "is_zero")]
    value: u64,
}

#[derive(Serialize)]
struct AgentsView {
    allow_higher_versions: YesNo,
}

/// A boolean as upstream prints it.
struct YesNo(bool);

impl Serialize for YesNo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0 { "yes" } else { "no" })
    }
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "serde's skip_serializing_if passes a reference")]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The parts of a large batch frame, borrowed from it: each agent stays raw JSON until its turn.
#[derive(Deserialize)]
struct LargeBatch<'a> {
    #[serde(borrow)]
    function: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    arguments: LargeBatchArguments<'a>,
}

#[derive(Deserialize)]
struct LargeBatchArguments<'a> {
    #[serde(borrow, default)]
    agents: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    force: Option<Value>,
}

/// Whether a payload is one of our batch requests (which may exceed [`MAX_PAYLOAD`]).
fn is_batch(value: &Value) -> bool {
    match value.get("function").and_then(Value::as_str) {
        Some("add-many") => true,
        Some("remove") => value.get("arguments").and_then(|a| a.get("ids")).is_some(),
        _ => false,
    }
}

/// Binds `queue/sockets/auth` (mode 0660), replacing a stale socket file.
///
/// # Errors
/// The socket cannot be bound.
pub fn bind(path: &Path) -> Result<UnixListener, FileError> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(|e| FileError::new(path, "cannot bind", e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| FileError::new(path, "cannot set the mode of", e))?;
    info!("admin socket: listening on {}", path.display());
    Ok(listener)
}

/// Makes `alias` (Wazuh 5.0's `queue/sockets/auth.sock`) a symbolic link to the admin socket, so
/// callers written for either name reach it. A failure is logged, never fatal.
pub fn link_alias(socket: &Path, alias: &Path) {
    let _ = std::fs::remove_file(alias);
    let target = socket.file_name().map_or_else(|| socket.to_owned(), PathBuf::from);
    if let Err(e) = std::os::unix::fs::symlink(&target, alias) {
        warn!("admin socket: cannot create the alias {}: {e}", alias.display());
    }
}

/// Serves the admin socket until `shutdown` resolves, then removes it. Accept errors are logged
/// and backed off from, never fatal.
pub async fn serve(
    admin: Admin,
    listener: UnixListener,
    path: PathBuf,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let admin = Arc::new(admin);
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let budget = Arc::new(Semaphore::new(MAX_IN_FLIGHT_BYTES));
    tokio::pin!(shutdown);
    let mut refused_logged = false;
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match crate::accept::or_back_off(accepted, "admin socket").await {
                Some((s, _)) => s,
                None => continue,
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            if !refused_logged {
                warn!("admin socket: {MAX_CONNECTIONS} connections open; closing new ones until some end");
                refused_logged = true;
            }
            drop(stream);
            continue;
        };
        refused_logged = false;
        let (admin, budget) = (Arc::clone(&admin), Arc::clone(&budget));
        tokio::spawn(async move {
            if let Err(e) = connection(&admin, stream, &budget).await {
                debug!("admin socket: {e}");
            }
            drop(permit);
        });
    }
    let _ = std::fs::remove_file(&path);
}

async fn connection(admin: &Admin, mut stream: UnixStream, budget: &Semaphore) -> std::io::Result<()> {
    let len = tokio::time::timeout(FRAME_TIMEOUT, framing::read_len(&mut stream))
        .await
        .map_err(|_| std::io::ErrorKind::TimedOut)??;
    if len > MAX_BATCH_PAYLOAD {
        warn!("admin socket: refused a payload of {len} bytes (at most {MAX_BATCH_PAYLOAD})");
        return write_frame(&mut stream, error_json(Code::Parse).as_bytes()).await;
    }
    // Payload bytes held at once, over every connection, are bounded: a large frame waits for room.
    let permits = u32::try_from(len.max(1)).unwrap_or(u32::MAX);
    let Ok(Ok(_room)) = tokio::time::timeout(FRAME_TIMEOUT, budget.acquire_many(permits)).await else {
        warn!("admin socket: refused a payload of {len} bytes: too many large requests in flight");
        return write_frame(&mut stream, error_json(Code::Internal).as_bytes()).await;
    };
    let payload = tokio::time::timeout(FRAME_TIMEOUT, framing::read_payload(&mut stream, len))
        .await
        .map_err(|_| std::io::ErrorKind::TimedOut)??;
    let reply = admin.answer(&payload).await;
    drop(payload);
    let written = write_frame(&mut stream, reply.as_bytes()).await;
    drop(reply);
    if len > RETURN_MEMORY_AFTER || written.is_err() {
        crate::memory::return_to_os();
    }
    written
}

async fn write_frame(stream: &mut UnixStream, payload: &[u8]) -> std::io::Result<()> {
    framing::write_frame(stream, payload).await?;
    stream.shutdown().await
}

/// One request to a running server's admin socket; None when no server answers there.
pub fn request(path: &Path, payload: &[u8]) -> Option<Result<String, String>> {
    let mut stream = std::os::unix::net::UnixStream::connect(path).ok()?;
    let reply = stream
        .set_read_timeout(Some(framing::CLIENT_TIMEOUT))
        .and_then(|()| framing::exchange(&mut stream, payload))
        .map(|reply| String::from_utf8_lossy(&reply).into_owned());
    Some(reply.map_err(|e| format!("admin socket {}: {e}", path.display())))
}
