//! The registry's tables, as numbered migrations applied at start (never by hand).
//!
//! Each migration runs in its own transaction and is recorded in `agentkeys_schema`; servers that
//! start together take an advisory lock so only one applies them. A database whose schema is newer
//! than this build is refused: an older agentkeys must not write a registry it does not understand.

use tokio_postgres::Client;

use super::db_error;
use crate::registry::error::StoreError;

/// Advisory lock key held while migrations run ("agentkeys" schema lock).
const MIGRATION_LOCK: i64 = 0x6167_656e_7473_0001;

/// The migrations, oldest first; the number is the position + 1. Never edit one that shipped: add
/// the next.
const MIGRATIONS: &[&str] = &[
    // 1: agents (active, removed with their `!` line, purged as tombstones so other servers learn
    // of the purge), the ID counter, the change and file-order sequences, tokens, audit.
    r"
    CREATE SEQUENCE agentkeys_agent_id MINVALUE 0 START 0;
    CREATE SEQUENCE agentkeys_version;
    CREATE SEQUENCE agentkeys_position;
    CREATE TABLE agentkeys_agents (
        id text PRIMARY KEY,
        id_number integer NOT NULL CHECK (id_number BETWEEN 0 AND 99999999),
        name text NOT NULL,
        address text NOT NULL,
        address_key text,
        key text NOT NULL,
        groups text,
        date_add bigint NOT NULL DEFAULT 0,
        reenroll_secret bytea CHECK (octet_length(reenroll_secret) = 32),
        state text NOT NULL CHECK (state IN ('active', 'removed', 'purged')),
        removed_line text CHECK ((state = 'removed') = (removed_line IS NOT NULL)),
        position bigint NOT NULL,
        version bigint NOT NULL
    );
    CREATE UNIQUE INDEX agentkeys_agents_active_name ON agentkeys_agents (name) WHERE state = 'active';
    CREATE UNIQUE INDEX agentkeys_agents_active_address ON agentkeys_agents (address_key)
        WHERE state = 'active' AND address_key IS NOT NULL;
    CREATE INDEX agentkeys_agents_version ON agentkeys_agents (version);
    CREATE TABLE agentkeys_tokens (
        id text PRIMARY KEY,
        position integer NOT NULL,
        uses integer NOT NULL,
        max_uses integer NOT NULL,
        revoked boolean NOT NULL,
        document text NOT NULL
    );
    CREATE TABLE agentkeys_meta (
        key text PRIMARY KEY,
        value bigint NOT NULL
    );
    INSERT INTO agentkeys_meta VALUES ('tokens_version', 0);
    CREATE TABLE agentkeys_audit (
        at timestamptz NOT NULL DEFAULT now(),
        node text NOT NULL,
        action text NOT NULL,
        agent_id text,
        detail text
    );
    CREATE INDEX agentkeys_audit_at ON agentkeys_audit (at);
    ",
];

/// The schema version this build writes.
pub const CURRENT: i32 = MIGRATIONS.len() as i32;

/// Brings the database's schema to [`CURRENT`]; returns the migrations applied.
///
/// # Errors
/// The database cannot be reached, a migration fails (rolled back), or the schema is newer than
/// this build.
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, StoreError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await.map_err(db_error)?;
    let result = migrate_locked(client).await;
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await.map_err(db_error);
    let applied = result?;
    unlocked?;
    Ok(applied)
}

async fn migrate_locked(client: &mut Client) -> Result<Vec<i32>, StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS agentkeys_schema (
                version integer PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(db_error)?;
    let row =
        client.query_one("SELECT coalesce(max(version), 0) FROM agentkeys_schema", &[]).await.map_err(db_error)?;
    let have: i32 = row.get(0);
    if have > CURRENT {
        return Err(StoreError::Database(format!(
            "the registry has schema version {have}, this agentkeys knows up to {CURRENT}: upgrade agentkeys on this server"
        )));
    }
    let mut applied = Vec::new();
    for (number, sql) in (1..).zip(MIGRATIONS.iter()).skip(usize::try_from(have).unwrap_or(0)) {
        let tx = client.transaction().await.map_err(db_error)?;
        tx.batch_execute(sql)
            .await
            .map_err(|e| StoreError::Database(format!("schema migration {number} failed (nothing applied): {e}")))?;
        tx.execute("INSERT INTO agentkeys_schema (version) VALUES ($1)", &[&number]).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        applied.push(number);
    }
    Ok(applied)
}
