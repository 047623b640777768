//! `agentkeys agents …` (manage_agents, SPEC 7) and `agentkeys keys check`.
//!
//! Changes go through the running server's admin socket; when no server runs, the same requests
//! are answered in-process, under the home's lock, by the same code the server uses.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use agentkeys::{Line, export_key, import_key, parse_keys};
use serde_json::Value;

use crate::admin::{self, Admin};
use crate::atomic::replace_file;
use crate::config::Config;
use crate::home::{self, Home, SECRET_MODE};
use crate::registry::window::CommitWindow;
use crate::registry::{Rules, owner};
use crate::status::StatusSource;

/// `agentkeys agents`.
#[derive(Debug, clap::Args)]
pub struct AgentsArgs {
    /// Installation directory.
    #[arg(long, env = "AGENTKEYS_HOME", default_value = "agentkeys-data", global = true)]
    pub home: PathBuf,
    /// JSON output, in manage_agents' shapes.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub action: Action,
}

/// What to do.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List the active agents (manage_agents -l).
    #[command(short_flag = 'l')]
    List,
    /// Add an agent (manage_agents -a/-n).
    Add {
        /// Name.
        #[arg(long)]
        name: String,
        /// Address: `any`, an IP, or a CIDR range.
        #[arg(long, default_value = "any")]
        ip: String,
        /// ID (default: the next one).
        #[arg(long)]
        id: Option<String>,
        /// Key (default: a new random one).
        #[arg(long)]
        key: Option<String>,
        /// Groups, comma-separated.
        #[arg(long)]
        groups: Option<String>,
    },
    /// Remove an agent (manage_agents -r).
    #[command(short_flag = 'r')]
    Remove {
        /// ID.
        id: String,
        /// Leave no `!` line.
        #[arg(long)]
        purge: bool,
    },
    /// Print an agent's key for import on the agent (manage_agents -e).
    #[command(short_flag = 'e')]
    Export {
        /// ID.
        id: String,
        /// Print only the key (for scripts and pipes; `import` also accepts the decorated form).
        #[arg(long)]
        raw: bool,
    },
    /// On an agent: install a key exported by the manager (manage_agents -i).
    #[command(short_flag = 'i')]
    Import {
        /// The exported key (Base64).
        key: String,
        /// The agent's client.keys to replace.
        #[arg(long, default_value = "client.keys")]
        keys: PathBuf,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Add agents from a file of `IP,NAME` lines, in one write (manage_agents -f).
    #[command(short_flag = 'f')]
    BulkAdd {
        /// The file.
        file: PathBuf,
    },
    /// Give an agent a new key (same ID and name).
    Rekey {
        /// ID.
        id: String,
    },
}

/// Runs `agentkeys agents`; returns the exit status.
pub fn run(args: &AgentsArgs) -> i32 {
    let home = Home::new(&args.home);
    if !matches!(args.action, Action::Import { .. }) && !home.join("etc").is_dir() {
        eprintln!(
            "no agentkeys home at {}: give --home (or AGENTKEYS_HOME) the installation directory, e.g. /var/ossec; `agentkeys serve --home DIR` creates one",
            home.root().display()
        );
        return 1;
    }
    let result = match &args.action {
        Action::List => list(&home, args.json),
        Action::Export { id, raw } => export(&home, id, args.json, *raw),
        Action::Import { key, keys, yes } => import(key, keys, *yes),
        Action::Add { name, ip, id, key, groups } => {
            add(&home, args.json, name, ip, id.as_deref(), key.as_deref(), groups.as_deref())
        }
        Action::Remove { id, purge } => remove(&home, args.json, id, *purge),
        Action::BulkAdd { file } => bulk_add(&home, args.json, file),
        Action::Rekey { id } => rekey(&home, args.json, id),
    };
    match result {
        Ok(()) => 0,
        Err(Failure::Reported) => 1,
        Err(Failure::Message(e)) => {
            eprintln!("{e}");
            1
        }
    }
}

/// Why an `agents` action failed (exit status 1).
#[derive(Debug)]
enum Failure {
    /// Already printed on stdout (the JSON answer, or the server's own answer).
    Reported,
    /// A message for stderr.
    Message(String),
}

/// Any error becomes its message (the CLI's edge: this is where errors turn into text).
impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::Message(e.to_string())
    }
}

/// Sends an admin request to the running server, or answers it in-process under the lock.
pub(crate) fn send(home: &Home, payload: &str) -> Result<Value, String> {
    let reply = match admin::request(&home.join("queue/sockets/auth"), payload.as_bytes()) {
        Some(reply) => reply?,
        None => offline(home, payload)?,
    };
    serde_json::from_str(&reply).map_err(|e| format!("unreadable answer {reply:?}: {e}"))
}

fn offline(home: &Home, payload: &str) -> Result<String, String> {
    let _lock = home::lock(home).map_err(|e| format!("{e}; is the server running without its admin socket?"))?;
    let (config, _) = Config::load(home.root(), None, None).map_err(|e| e.to_string())?;
    home.prepare()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let (store, _) = crate::registry::open_store(home, &config).await?;
        let (registry, _warnings) = store.load(config.auth.purge).await?;
        let tokens = store.load_tokens().await?;
        let rules = Rules {
            force: config.auth.force.clone(),
            hostname: home::hostname(&config),
            status: StatusSource::None,
            purge: config.auth.purge,
        };
        let (handle, task) = owner::spawn(registry, tokens, store, rules, CommitWindow::default());
        let admin = Admin {
            registry: handle,
            home: home.clone(),
            config: std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(config)),
        };
        let reply = admin.answer(payload.as_bytes()).await;
        drop(admin);
        let _ = task.await;
        Ok(reply)
    })
}

fn code(v: &Value) -> u64 {
    v.get("error").and_then(Value::as_u64).unwrap_or(9001)
}

fn print_json(v: &Value) {
    println!("{v}");
}

/// An admin-socket refusal in words for the operator, naming the value it is about.
fn refusal_text(reply: &Value, name: &str, ip: &str, groups: Option<&str>) -> String {
    match code(reply) {
        9005 => format!("invalid name '{name}': {}", agentkeys::ErrorKind::InvalidName.message()),
        9006 => format!("invalid address '{ip}': {}", agentkeys::ErrorKind::InvalidAddr.message()),
        9007 => format!("duplicate address: an agent already has {ip}"),
        9008 => format!("duplicate name: an agent is already named '{name}'"),
        9009 => "invalid key: 1 to 128 printable characters without space or quote".to_owned(),
        9010 | 9011 => "no agent with this ID".to_owned(),
        9012 => "duplicate ID: an agent already has this ID".to_owned(),
        9014 => format!(
            "invalid groups '{}': each group must exist as a directory etc/shared/<group> of the home",
            groups.unwrap_or("")
        ),
        _ => reply["message"].as_str().unwrap_or("the server refused").to_owned(),
    }
}

/// manage_agents' error for an admin code, as JSON and text.
fn fail(json: bool, code: u64, text: &str) -> Result<(), Failure> {
    if json {
        print_json(&serde_json::json!({"error": code, "message": text}));
        Err(Failure::Reported)
    } else {
        Err(Failure::Message(format!("** {text}")))
    }
}

fn list(home: &Home, json: bool) -> Result<(), Failure> {
    let data = std::fs::read(home.client_keys()).unwrap_or_default();
    let agents: Vec<(String, String, String)> = parse_keys(&data)
        .filter_map(|l| match l.line {
            Line::Agent(r) => Some((
                r.id.as_str().to_owned(),
                r.name.as_str().to_owned(),
                String::from_utf8_lossy(l.text).split(' ').nth(2).unwrap_or("").to_owned(),
            )),
            _ => None,
        })
        .collect();
    if json {
        let data: Vec<Value> =
            agents.iter().map(|(id, name, ip)| serde_json::json!({"id": id, "name": name, "ip": ip})).collect();
        print_json(&serde_json::json!({"error": 0, "data": data}));
    } else if agents.is_empty() {
        print!("\n** No agent available. You need to add one first.\n");
    } else {
        print!("\nAvailable agents: \n");
        for (id, name, ip) in agents {
            println!("   ID: {id}, Name: {name}, IP: {ip}");
        }
    }
    Ok(())
}

fn export(home: &Home, id: &str, json: bool, raw: bool) -> Result<(), Failure> {
    let data = std::fs::read(home.client_keys()).unwrap_or_default();
    let record = parse_keys(&data).find_map(|l| match l.line {
        Line::Agent(r) if r.id.as_str() == id => Some(r),
        _ => None,
    });
    let Some(record) = record else {
        return fail(json, 70, &format!("Invalid ID '{id}' given. ID is not present"));
    };
    let mut buf = [0u8; agentkeys::MAX_EXPORT_LEN];
    let b64 = export_key(&record, &mut buf).map_err(|e| e.to_string())?;
    if json {
        print_json(&serde_json::json!({"error": 0, "data": b64}));
    } else if raw {
        println!("{b64}");
    } else {
        print!("\nAgent key information for '{id}' is: \n{b64}\n");
    }
    Ok(())
}

/// The key in what the operator pasted: the key alone, or `export`'s (and manage_agents -e's)
/// decorated output, whose last non-empty line is the key.
fn pasted_key(text: &str) -> &str {
    text.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("")
}

fn import(key: &str, keys: &Path, yes: bool) -> Result<(), Failure> {
    let record = import_key(pasted_key(key).as_bytes())
        .map_err(|e| format!("\n** Invalid authentication key ({e}). Starting over again.\n"))?;
    let rec = record.as_record();
    print!(
        "Agent information:\n   ID:{}\n   Name:{}\n   IP Address:{}\n\n",
        rec.id,
        rec.name.as_str(),
        rec.addr.file_form()
    );
    if !yes {
        print!("Confirm adding it?(y/n): ");
        let _ = std::io::Write::flush(&mut std::io::stdout());
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).map_err(|e| e.to_string())?;
        if !matches!(answer.trim(), "y" | "Y") {
            return Err(Failure::Message("Not added.".to_owned()));
        }
    }
    replace_file(keys, format!("{record}\n").as_bytes(), SECRET_MODE)?;
    println!("Added.");
    Ok(())
}

fn add(
    home: &Home,
    json: bool,
    name: &str,
    ip: &str,
    id: Option<&str>,
    key: Option<&str>,
    groups: Option<&str>,
) -> Result<(), Failure> {
    let mut args = serde_json::json!({"name": name, "ip": ip,
        "force": {"enabled": false, "key_mismatch": true, "disconnected_time": {"enabled": false, "value": 0}, "after_registration_time": 0}});
    for (k, v) in [("id", id), ("key", key), ("groups", groups)] {
        if let Some(v) = v {
            args[k] = Value::from(v);
        }
    }
    let reply = send(home, &serde_json::json!({"function": "add", "arguments": args}).to_string())?;
    match code(&reply) {
        0 => {
            let id = reply["data"]["id"].as_str().unwrap_or("");
            if json {
                print_json(&serde_json::json!({"error": 0, "data": {"id": id, "message": "Agent added"}}));
            } else {
                println!("Agent added with ID {id}.");
            }
            Ok(())
        }
        9005 => fail(json, 76, "Invalid name for agent"),
        9006 => fail(json, 77, "Invalid IP for agent"),
        9007 => fail(json, 79, "Duplicate IP for agent"),
        9008 => fail(json, 75, "Name already present"),
        _ if json => {
            print_json(&reply);
            Err(Failure::Reported)
        }
        _ => Err(Failure::Message(format!("** {}", refusal_text(&reply, name, ip, groups)))),
    }
}

fn remove(home: &Home, json: bool, id: &str, purge: bool) -> Result<(), Failure> {
    let reply =
        send(home, &serde_json::json!({"function": "remove", "arguments": {"id": id, "purge": purge}}).to_string())?;
    match code(&reply) {
        0 if json => {
            print_json(&serde_json::json!({"error": 0, "data": "Agent removed"}));
            Ok(())
        }
        0 => {
            println!("Agent '{id}' removed.");
            Ok(())
        }
        9011 => fail(json, 78, &format!("Invalid ID '{id}' given. ID is not present")),
        _ if json => {
            print_json(&reply);
            Err(Failure::Reported)
        }
        _ => Err(Failure::Message(format!("** {}", refusal_text(&reply, "", "", None)))),
    }
}

fn rekey(home: &Home, json: bool, id: &str) -> Result<(), Failure> {
    let reply = send(home, &serde_json::json!({"function": "rekey", "arguments": {"id": id}}).to_string())?;
    match code(&reply) {
        0 if json => {
            print_json(&reply);
            Ok(())
        }
        0 => {
            println!("Agent '{id}' has a new key; export it again for the agent.");
            Ok(())
        }
        9011 => fail(json, 78, &format!("Invalid ID '{id}' given. ID is not present")),
        _ if json => {
            print_json(&reply);
            Err(Failure::Reported)
        }
        _ => Err(Failure::Message(format!("** {}", refusal_text(&reply, "", "", None)))),
    }
}

fn bulk_add(home: &Home, json: bool, file: &Path) -> Result<(), Failure> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut agents = Vec::new();
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((ip, name)) = line.split_once(',') else {
            return Err(Failure::Message(format!("{}:{}: expected IP,NAME", file.display(), n + 1)));
        };
        agents.push(serde_json::json!({"name": name.trim(), "ip": ip.trim()}));
        lines.push((n + 1, name.trim().to_owned(), ip.trim().to_owned()));
    }
    let force = serde_json::json!({"enabled": false, "key_mismatch": true, "disconnected_time": {"enabled": false, "value": 0}, "after_registration_time": 0});
    let reply = send(
        home,
        &serde_json::json!({"function": "add-many", "arguments": {"agents": agents, "force": force}}).to_string(),
    )?;
    let results = reply["data"].as_array().cloned().unwrap_or_default();
    let mut failed = 0;
    for ((line, name, ip), result) in lines.iter().zip(&results) {
        if code(result) == 0 {
            if !json {
                println!(
                    "{}:{line}: agent '{}' added with ID {}",
                    file.display(),
                    result["data"]["name"].as_str().unwrap_or(""),
                    result["data"]["id"].as_str().unwrap_or("")
                );
            }
        } else {
            failed += 1;
            eprintln!("{}:{line}: {}", file.display(), refusal_text(result, name, ip, None));
        }
    }
    if json {
        print_json(&reply);
    }
    if failed == 0 && results.len() == lines.len() {
        Ok(())
    } else {
        Err(Failure::Message(format!("{failed} of {} agents not added", lines.len())))
    }
}

/// `agentkeys keys check FILE`: every problem of a client.keys, with its line; exit 0 only if clean.
pub fn check(file: &Path) -> i32 {
    let data = match std::fs::read(file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            return 1;
        }
    };
    let name = file.display();
    let (mut problems, mut agents) = (0, 0);
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut names: HashMap<String, u32> = HashMap::new();
    let mut ips: HashMap<String, u32> = HashMap::new();
    for line in parse_keys(&data) {
        match line.line {
            Line::Invalid(e) => {
                problems += 1;
                println!("{name}:{}: {}", line.number, e.without_line());
            }
            Line::Agent(r) => {
                agents += 1;
                let mut dup = |map: &mut HashMap<String, u32>, key: String, what: &str| {
                    if let Some(first) = map.get(&key) {
                        problems += 1;
                        println!("{name}:{}: duplicate {what} {key} (first on line {first})", line.number);
                    } else {
                        map.insert(key, line.number);
                    }
                };
                dup(&mut ids, r.id.as_str().to_owned(), "ID");
                dup(&mut names, r.name.as_str().to_owned(), "name");
                if !r.addr.is_any() {
                    dup(&mut ips, r.addr.without_suffix().to_string(), "address");
                }
            }
            Line::Removed(r) => {
                if let Some(first) = ids.get(r.id.as_str()) {
                    problems += 1;
                    println!("{name}:{}: duplicate ID {} (first on line {first})", line.number, r.id);
                }
            }
            Line::Comment => {}
        }
    }
    if problems == 0 {
        println!("{name}: {agents} agents, no problems");
        0
    } else {
        eprintln!("{name}: {problems} problem(s)");
        1
    }
}
