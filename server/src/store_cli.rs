//! `agentkeys store migrate`: moves a registry between a home's files and PostgreSQL, in one
//! transaction, verified by counts and a SHA-256 of client.keys on both sides.
//!
//! File → PostgreSQL keeps each client.keys line's place (its line number becomes its position),
//! so PostgreSQL → file gives back the same bytes for any file agentkeys or Wazuh wrote (comments,
//! blank lines and `\r` are not kept: the tool says so when the source has them).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use agentkeys::{Line, parse_keys};
use sha2::{Digest, Sha256};

use crate::config::{Config, Durability};
use crate::home::{self, Home};
use crate::registry::error::StoreError;
use crate::registry::postgres::{self, AgentRows, REGISTRY_LOCK, db_error, schema};
use crate::registry::store::{self, FileStore};

/// `agentkeys store …`.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Debug, clap::Subcommand)]
enum StoreCommand {
    /// Move a registry between a home (its client.keys and state files) and a PostgreSQL
    /// database, in one transaction, checked by counts and a SHA-256 of client.keys. The
    /// destination must be empty; no server may be running on a home involved.
    Migrate {
        /// Where the registry is now: a home directory or postgres://user@host/database.
        #[arg(long)]
        from: String,
        /// Where it goes: postgres://… or a home directory.
        #[arg(long)]
        to: String,
        /// Talk TLS to the database, verifying its certificate against this CA file (PEM).
        #[arg(long, value_name = "FILE")]
        tls_ca: Option<PathBuf>,
    },
}

/// Runs the command; the exit code.
pub fn run(args: &StoreArgs) -> i32 {
    let StoreCommand::Migrate { from, to, tls_ca } = &args.command;
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("agentkeys store: {e}");
            return 1;
        }
    };
    let result = runtime.block_on(async {
        match (is_database(from), is_database(to)) {
            (false, true) => file_to_database(&Home::new(PathBuf::from(from)), to, tls_ca.as_deref()).await,
            (true, false) => database_to_file(from, &Home::new(PathBuf::from(to)), tls_ca.as_deref()).await,
            _ => Err("one side must be a home directory and the other postgres://…".to_owned()),
        }
    });
    match result {
        Ok(summary) => {
            println!("{summary}");
            0
        }
        Err(e) => {
            eprintln!("agentkeys store migrate: {e}");
            1
        }
    }
}

fn is_database(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// Counts and checksum of a registry's client.keys.
#[derive(Debug, PartialEq, Eq)]
struct Tally {
    active: i64,
    removed: i64,
    sha256: String,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} agents, {} removed (`!`) lines, client.keys sha256:{}", self.active, self.removed, self.sha256)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the database holds, computed by the database.
async fn database_tally(client: &impl tokio_postgres::GenericClient) -> Result<Tally, StoreError> {
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE state = 'active'), count(*) FILTER (WHERE state = 'removed'),
                    encode(sha256(convert_to(coalesce(string_agg(line || E'\\n', '' ORDER BY position), ''), 'UTF8')), 'hex')
             FROM (SELECT position, state,
                          CASE state WHEN 'active' THEN id || ' ' || name || ' ' || address || ' ' || key ELSE removed_line END AS line
                   FROM agentkeys_agents WHERE state <> 'purged') AS lines",
            &[],
        )
        .await
        .map_err(db_error)?;
    Ok(Tally { active: row.get(0), removed: row.get(1), sha256: row.get(2) })
}

async fn file_to_database(home: &Home, url: &str, tls_ca: Option<&Path>) -> Result<String, String> {
    let _lock = home::lock(home).map_err(|e| format!("{e}; stop the server of this home first"))?;
    // A configuration that does not load is reported before anything moves.
    Config::load(home.root(), None, None).map_err(|e| e.to_string())?;
    let files = FileStore::new(home, Durability::Durable);
    let (index, warnings) = files.load_now(false)?;
    let duplicates: Vec<&String> = warnings.iter().filter(|w| w.contains("duplicate")).collect();
    if !duplicates.is_empty() {
        return Err(format!(
            "a registry holds one agent per ID, name and address; fix these lines first (see `agentkeys keys check`):\n{}",
            duplicates.iter().take(20).map(|w| w.as_str()).collect::<Vec<_>>().join("\n")
        ) + &if duplicates.len() > 20 {
            format!("\n… and {} more", duplicates.len() - 20)
        } else {
            String::new()
        });
    }
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    let tokens = files.load_tokens_now()?;
    let path = home.client_keys();
    let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;

    // One row per line, in file order; every ID once.
    let mut rows = AgentRows::default();
    let mut positions = Vec::new();
    let mut first_line: HashMap<u32, u32> = HashMap::new();
    let mut rendered = Vec::with_capacity(data.len());
    let mut dropped = 0usize;
    for numbered in parse_keys(&data) {
        let id = match &numbered.line {
            Line::Agent(r) => r.id,
            Line::Removed(r) => r.id,
            _ => {
                dropped += 1;
                continue;
            }
        };
        if let Some(earlier) = first_line.insert(id.value(), numbered.number) {
            return Err(format!(
                "{}:{}: ID {id} is on line {earlier} too; a registry holds one agent per ID (see `agentkeys keys check`)",
                path.display(),
                numbered.number
            ));
        }
        match numbered.line {
            Line::Agent(_) => {
                let agent = index
                    .get(&id)
                    .ok_or_else(|| format!("{}:{}: agent {id} unreadable", path.display(), numbered.number))?;
                rows.push_active(agent);
                // The address as written (`/32`, a compressed IPv6 address), so the way back
                // gives the same bytes.
                let text = numbered.text.strip_suffix(b"\r").unwrap_or(numbered.text);
                if let Some(written) = std::str::from_utf8(text).ok().and_then(|t| t.split(' ').nth(2)) {
                    rows.set_last_address(written);
                }
            }
            Line::Removed(r) => rows.push_gone(id, Some(r.text.to_owned())),
            _ => {}
        }
        let line = rows.line(rows.len() - 1);
        rendered.extend_from_slice(line.as_bytes());
        rendered.push(b'\n');
        positions.push(i64::from(numbered.number));
    }
    let expected = Tally {
        active: i64::try_from(index.len()).unwrap_or(i64::MAX),
        removed: i64::try_from(rows.len() - index.len()).unwrap_or(0),
        sha256: hex(&Sha256::digest(&rendered)),
    };

    let (mut client, name, _notices) = postgres::connect_one(url, tls_ca, None).await?;
    schema::migrate(&mut client).await?;
    let tx = client.transaction().await.map_err(|e| format!("{name}: {e}"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&REGISTRY_LOCK]).await.map_err(db_error)?;
    let held: i64 = tx.query_one("SELECT count(*) FROM agentkeys_agents", &[]).await.map_err(db_error)?.get(0);
    let held_tokens: i64 = tx.query_one("SELECT count(*) FROM agentkeys_tokens", &[]).await.map_err(db_error)?.get(0);
    if held > 0 || held_tokens > 0 {
        return Err(format!(
            "{name} already holds a registry ({held} agent rows, {held_tokens} tokens); migrate into an empty one"
        ));
    }
    postgres::insert_rows(&tx, &rows, &positions).await?;
    let last_position = positions.last().copied().unwrap_or(0);
    let highest = i64::from(index.highest_id());
    tx.execute(
        "SELECT setval('agentkeys_position', GREATEST($1::int8, 1)), setval('agentkeys_version', GREATEST($2::int8, 1)), setval('agentkeys_agent_id', $3::int8)",
        &[&last_position, &i64::try_from(rows.len()).unwrap_or(0), &highest],
    )
    .await
    .map_err(db_error)?;
    postgres::insert_tokens(&tx, &tokens).await?;
    let got = database_tally(&tx).await?;
    if got != expected {
        return Err(format!("verification failed, nothing migrated: the file has {expected}; the database got {got}"));
    }
    tx.execute(
        "INSERT INTO agentkeys_audit (node, action, detail) VALUES ($1, 'migrated', $2)",
        &[&"agentkeys store migrate", &format!("from {}", home.root().display())],
    )
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(|e| format!("{name}: commit failed, nothing migrated: {e}"))?;
    let normalized = if rendered == data {
        String::new()
    } else {
        format!(
            "\nnote: {dropped} comment or blank line(s) and any \\r were not kept; client.keys comes back without them"
        )
    };
    Ok(format!(
        "migrated {} to {name}: {got}, {} enrollment token(s), highest ID {highest}{normalized}",
        home.root().display(),
        tokens.snapshot().len()
    ))
}

async fn database_to_file(url: &str, home: &Home, tls_ca: Option<&Path>) -> Result<String, String> {
    home.prepare()?;
    let _lock = home::lock(home).map_err(|e| format!("{e}; stop the server of this home first"))?;
    let files = FileStore::new(home, Durability::Durable);
    let (existing, _) = files.load_now(false)?;
    if existing.len() > 0 || !existing.removed_lines().is_empty() || existing.highest_id() > 0 {
        return Err(format!("{} already holds a registry; migrate into an empty home", home.root().display()));
    }
    let (mut client, name, _notices) = postgres::connect_one(url, tls_ca, None).await?;
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| format!("{name}: {e}"))?;
    let exists: bool =
        tx.query_one("SELECT to_regclass('agentkeys_agents') IS NOT NULL", &[]).await.map_err(db_error)?.get(0);
    if !exists {
        return Err(format!("{name} holds no agentkeys registry"));
    }
    let snapshot = postgres::read_snapshot(&tx, false).await?;
    let expected = database_tally(&tx).await?;
    tx.commit().await.map_err(|e| format!("{name}: {e}"))?;
    for warning in &snapshot.warnings {
        eprintln!("warning: {warning}");
    }
    let keys = snapshot.keys_file();
    let mut contents = store::render(&snapshot.index);
    contents.keys = keys;
    files.rewrite(&contents)?;
    if !snapshot.tokens.snapshot().is_empty() {
        crate::atomic::replace_file(&home.enrollment_tokens(), &snapshot.tokens.render(), crate::home::SECRET_MODE)
            .map_err(|e| e.to_string())?;
    }
    // Read back what was written, as a server would.
    let (back, _) = files.load_now(false)?;
    let written = std::fs::read(home.client_keys()).map_err(|e| e.to_string())?;
    let got = Tally {
        active: i64::try_from(back.len()).unwrap_or(i64::MAX),
        removed: i64::try_from(back.removed_lines().len()).unwrap_or(0),
        sha256: hex(&Sha256::digest(&written)),
    };
    if got != expected {
        return Err(format!("verification failed: the database has {expected}; the files read back {got}"));
    }
    Ok(format!(
        "migrated {name} to {}: {got}, {} enrollment token(s), highest ID {}",
        home.root().display(),
        snapshot.tokens.snapshot().len(),
        back.highest_id()
    ))
}
