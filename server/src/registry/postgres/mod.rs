//! The PostgreSQL store: one registry shared by any number of `agentkeys serve` nodes.
//!
//! Every node keeps the whole registry in its index, as with the file store, and decides batches
//! with the same rules. What makes that safe across nodes:
//!
//! - **One writer at a time.** A batch that may write opens a transaction and takes the registry's
//!   advisory lock (`pg_advisory_xact_lock`), then reads what other nodes changed since it last
//!   looked (rows whose `version` is newer), applies that to its index, decides, writes its rows and
//!   commits: one transaction per batch, however many agents it holds. Every registration moves the
//!   shared ID counter, so any two batches conflict; serialising them outright costs one lock wait,
//!   where SERIALIZABLE would abort and re-decide whole batches.
//! - **The database has the last word.** Unique indexes on the ID, on the name of active agents and
//!   on the single-host address of active agents refuse anything a bug could let through; such a
//!   batch is refused whole and the next one reads the whole registry again.
//! - **Nothing acknowledged before the commit.** A batch whose begin, write or commit fails is
//!   answered with errors (HTTP 503, `ERROR:` on port 1515), undone in memory, and the next batch
//!   reads what the database really holds (a commit whose outcome was lost is found then).
//!
//! Each change gets a number from `agentkeys_version`; a node's "seen" mark is the newest number
//! it has read. Writers hold the lock, so committed numbers only ever grow and a reader never
//! skips one. LISTEN/NOTIFY (see [`listen`]) tells nodes to look at once; a timer heals a missed
//! notification, and a periodic full read replaces the index outright.

pub mod listen;
pub mod mirror;
pub mod schema;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentkeys::{AgentId, Record};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::{NoTls, Row};
use tracing::{info, warn};

use super::error::StoreError;
use super::index::Index;
use super::store::{Change, Delta, PreparedWrite, Store, StoreFuture, Synced};
use super::{Agent, Duplicate};
use crate::config::StoreConfig;
use crate::tokens::Tokens;
use mirror::{Mirror, MirrorLine};

/// Advisory lock key of the registry (held for one batch transaction).
pub const REGISTRY_LOCK: i64 = 0x6167_656e_7473_0002;

/// The channel other nodes are notified on when a batch commits.
pub const CHANNEL: &str = "agentkeys_registry";

/// An error of the database turned into a store error: a refusal by the database itself
/// (constraint, syntax) is [`StoreError::Database`], anything else (connection lost, server
/// down) is [`StoreError::Unavailable`].
pub(crate) fn db_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Database(format!("{}: {}", db.code().code(), db.message())),
        None => StoreError::Unavailable(error_text(&e)),
    }
}

/// An error with its causes ("error connecting to server: Connection refused (os error 111)").
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_error(e),
        other => StoreError::Unavailable(error_text(&other)),
    }
}

/// How this server talks to the database: plain, or TLS verified against a CA.
#[derive(Clone)]
pub enum DbTls {
    /// No TLS.
    Plain,
    /// TLS (rustls), the database's certificate verified against the configured CA.
    Verified(tokio_postgres_rustls::MakeRustlsConnect),
}

impl DbTls {
    /// The connector for a configuration: TLS when `tls_ca` names a CA file.
    ///
    /// # Errors
    /// The CA file cannot be read or holds no certificate.
    pub fn new(ca: Option<&std::path::Path>) -> Result<DbTls, StoreError> {
        let Some(ca) = ca else { return Ok(DbTls::Plain) };
        let certs = crate::certs::load_certs(ca).map_err(|e| StoreError::Database(format!("store.tls_ca: {e}")))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in certs {
            roots.add(cert).map_err(|e| StoreError::Database(format!("store.tls_ca {}: {e}", ca.display())))?;
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Database(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(DbTls::Verified(tokio_postgres_rustls::MakeRustlsConnect::new(config)))
    }

    /// Once a CA is configured, a URL that leaves TLS to the client (`sslmode=prefer`, the
    /// default) requires it.
    pub fn require_on(&self, pg: &mut tokio_postgres::Config) {
        if matches!(self, DbTls::Verified(_)) && pg.get_ssl_mode() == tokio_postgres::config::SslMode::Prefer {
            pg.ssl_mode(tokio_postgres::config::SslMode::Require);
        }
    }

    /// Opens one connection (outside the pool) and drives it on its own task until `client` is
    /// dropped; notifications and notices go to `messages`.
    ///
    /// # Errors
    /// The database cannot be reached or the TLS handshake fails.
    pub async fn connect(
        &self,
        pg: &tokio_postgres::Config,
        messages: tokio::sync::mpsc::UnboundedSender<Result<tokio_postgres::AsyncMessage, tokio_postgres::Error>>,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        fn drive<S, T>(
            mut connection: tokio_postgres::Connection<S, T>,
            messages: tokio::sync::mpsc::UnboundedSender<Result<tokio_postgres::AsyncMessage, tokio_postgres::Error>>,
        ) where
            S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
            T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        {
            tokio::spawn(async move {
                while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    let failed = message.is_err();
                    if messages.send(message).is_err() || failed {
                        return;
                    }
                }
            });
        }
        match self {
            DbTls::Plain => {
                let (client, connection) = pg.connect(NoTls).await?;
                drive(connection, messages);
                Ok(client)
            }
            DbTls::Verified(tls) => {
                let (client, connection) = pg.connect(tls.clone()).await?;
                drive(connection, messages);
                Ok(client)
            }
        }
    }
}

/// Notifications and notices of a connection opened outside the pool (keep it: the connection
/// runs while it lives).
pub type Notices = tokio::sync::mpsc::UnboundedReceiver<Result<tokio_postgres::AsyncMessage, tokio_postgres::Error>>;

/// One connection outside the pool, for tools (`store migrate`, `serve --check`): the URL's
/// settings, TLS verified against `tls_ca` when given. Returns the client, where it points (for
/// messages) and its notices. Errors name the database, never its password.
///
/// # Errors
/// A bad URL or CA file, or a database that cannot be reached.
pub async fn connect_one(
    url: &str,
    tls_ca: Option<&std::path::Path>,
    timeout: Option<Duration>,
) -> Result<(tokio_postgres::Client, String, Notices), String> {
    let mut pg: tokio_postgres::Config = url.parse().map_err(|e| format!("the database URL: {e}"))?;
    if let Some(timeout) = timeout {
        pg.connect_timeout(timeout);
    }
    let name = describe(&pg);
    let tls = DbTls::new(tls_ca)?;
    tls.require_on(&mut pg);
    let (tx, notices) = tokio::sync::mpsc::unbounded_channel();
    let client = tls.connect(&pg, tx).await.map_err(|e| format!("registry database {name}: {}", error_text(&e)))?;
    Ok((client, name, notices))
}

/// Where a URL points, without its password (for logs).
pub fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or(config.get_user().unwrap_or(""))
    )
}

/// The registry in PostgreSQL, with this node's client.keys kept from it.
#[derive(Clone)]
pub struct PgStore {
    shared: Arc<Shared>,
}

struct Shared {
    pool: Pool,
    /// The database settings (the listener connects with them too).
    pg: tokio_postgres::Config,
    tls: DbTls,
    node: String,
    purge: bool,
    reconcile_every: Option<Duration>,
    state: tokio::sync::Mutex<BatchState>,
    mirror: Arc<std::sync::Mutex<Mirror>>,
}

/// What the owner's batch in progress holds.
struct BatchState {
    /// The connection of a batch that may write: transaction open, lock held.
    open: Option<Object>,
    /// Why the batch in progress could not begin.
    failure: Option<StoreError>,
    /// The newest change number read.
    seen: i64,
    /// The token table's change number, as last read.
    tokens_version: i64,
    /// Token documents as the database holds them (to write only what changed).
    tokens_written: HashMap<String, String>,
    /// When the whole registry was last read.
    last_full: Instant,
    /// Read everything again at the next begin (after a refused batch).
    reset_next: bool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("database", &describe(&self.shared.pg)).finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the registry of `config` (migrating its schema) for a node whose client.keys is
    /// `keys`.
    ///
    /// # Errors
    /// No URL, a database that cannot be reached, or a schema that cannot be migrated.
    pub async fn connect(
        config: &StoreConfig,
        tls: DbTls,
        keys: std::path::PathBuf,
        node: String,
        purge: bool,
    ) -> Result<PgStore, StoreError> {
        let url = config.url.as_deref().ok_or_else(|| StoreError::Database("store.url is not set".to_owned()))?;
        let mut pg: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::Database(format!("store.url: {e}")))?;
        pg.connect_timeout(Duration::from_secs(config.connect_timeout.as_secs()));
        if pg.get_application_name().is_none() {
            pg.application_name(format!("agentkeys {node}"));
        }
        let recycling = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        tls.require_on(&mut pg);
        let manager = match &tls {
            DbTls::Plain => Manager::from_config(pg.clone(), NoTls, recycling),
            DbTls::Verified(connector) => Manager::from_config(pg.clone(), connector.clone(), recycling),
        };
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .wait_timeout(Some(Duration::from_secs(config.connect_timeout.as_secs())))
            .create_timeout(Some(Duration::from_secs(config.connect_timeout.as_secs())))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let mut client = pool.get().await.map_err(|e| match pool_error(e) {
            StoreError::Unavailable(why) | StoreError::Database(why) => {
                StoreError::Unavailable(format!("{}: {why}", describe(&pg)))
            }
            other => other,
        })?;
        let applied = schema::migrate(&mut client).await?;
        if !applied.is_empty() {
            info!("registry database {}: schema migrations {applied:?} applied", describe(&pg));
        }
        drop(client);
        Ok(PgStore {
            shared: Arc::new(Shared {
                pool,
                pg,
                tls,
                node,
                purge,
                reconcile_every: (config.reconcile_interval.as_secs() > 0)
                    .then(|| Duration::from_secs(config.reconcile_interval.as_secs())),
                state: tokio::sync::Mutex::new(BatchState {
                    open: None,
                    failure: None,
                    seen: 0,
                    tokens_version: -1,
                    tokens_written: HashMap::new(),
                    last_full: Instant::now(),
                    reset_next: false,
                }),
                mirror: Arc::new(std::sync::Mutex::new(Mirror::new(keys))),
            }),
        })
    }

    /// The database settings (for the listener).
    pub fn pg_config(&self) -> &tokio_postgres::Config {
        &self.shared.pg
    }

    /// How to connect (for the listener).
    pub fn tls(&self) -> &DbTls {
        &self.shared.tls
    }
}

/// The columns every agent query reads, in [`agent_from_row`]'s order.
macro_rules! agent_columns {
    () => {
        "id, name, address, key, groups, date_add, reenroll_secret, state, removed_line, position, version"
    };
}

/// Every agent row, in file order.
const ALL_AGENTS: &str = concat!("SELECT ", agent_columns!(), " FROM agentkeys_agents ORDER BY position");

/// Agents changed since a change number, oldest change first.
const CHANGED_AGENTS: &str =
    concat!("SELECT ", agent_columns!(), " FROM agentkeys_agents WHERE version > $1 ORDER BY version");

/// Every token document, in the table's order.
const ALL_TOKENS: &str = "SELECT id, document FROM agentkeys_tokens ORDER BY position";

/// The highest ID issued and the token table's change number.
const COUNTERS: &str = "SELECT (SELECT last_value FROM agentkeys_agent_id), \
     (SELECT value FROM agentkeys_meta WHERE key = 'tokens_version')";

/// The newest change number.
const NEWEST_CHANGE: &str = "SELECT coalesce(max(version), 0) FROM agentkeys_agents";

/// One row, as the index and the mirror need it.
struct AgentRow {
    synced: Synced,
    mirror: MirrorLine,
    version: i64,
}

/// Reads an agent row; the line is checked by core's parser like any client.keys line.
fn agent_from_row(row: &Row) -> Result<AgentRow, StoreError> {
    let id: &str = row.get(0);
    let state: &str = row.get(7);
    let position: i64 = row.get(9);
    let version: i64 = row.get(10);
    let bad = |what: &str| StoreError::Database(format!("agent row '{id}': {what}"));
    let parsed_id = AgentId::parse(id.as_bytes()).map_err(|e| bad(&e.to_string()))?;
    let (synced, line) = match state {
        "active" => {
            let text = format!("{} {} {} {}", id, row.get::<_, &str>(1), row.get::<_, &str>(2), row.get::<_, &str>(3));
            let record = Record::parse(text.as_bytes()).map_err(|e| bad(&e.to_string()))?;
            let secret: Option<&[u8]> = row.get(6);
            let reenroll = match secret {
                Some(s) => {
                    Some(Box::new(<[u8; 32]>::try_from(s).map_err(|_| bad("re-enrollment secret is not 32 bytes"))?))
                }
                None => None,
            };
            let agent = Agent {
                record: agentkeys::OwnedRecord::from(&record),
                groups: row.get::<_, Option<&str>>(4).map(Into::into),
                date_add: row.get(5),
                reenroll,
            };
            (Synced::Active(agent), Some(text.into_boxed_str()))
        }
        "removed" => {
            let line: &str = row.get(8);
            (Synced::Removed(parsed_id, line.to_owned()), Some(line.into()))
        }
        _ => (Synced::Purged(parsed_id), None),
    };
    Ok(AgentRow { synced, mirror: MirrorLine { id: id.into(), position, line }, version })
}

/// The token table from its rows (documents in order), read with the file's own parser.
fn tokens_from_rows(rows: &[Row]) -> Result<(Tokens, HashMap<String, String>), StoreError> {
    let mut file = String::from(r#"{"version":1,"tokens":["#);
    let mut written = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        let id: &str = row.get(0);
        let document: &str = row.get(1);
        if i > 0 {
            file.push(',');
        }
        file.push_str(document);
        written.insert(id.to_owned(), document.to_owned());
    }
    file.push_str("]}");
    let tokens =
        Tokens::parse(file.as_bytes()).map_err(|e| StoreError::Database(format!("enrollment token rows: {e}")))?;
    Ok((tokens, written))
}

/// The whole registry as one snapshot read it.
pub struct Snapshot {
    /// Every active agent (and the `!` lines unless purged), in file order.
    pub index: Index,
    /// The token table.
    pub tokens: Tokens,
    /// client.keys lines in file order (active and removed agents).
    pub lines: Vec<MirrorLine>,
    /// Rows the index could not take (duplicates), worded for the log.
    pub warnings: Vec<String>,
    token_documents: HashMap<String, String>,
    seen: i64,
    tokens_version: i64,
}

impl Snapshot {
    /// client.keys as the registry orders it.
    pub fn keys_file(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.lines.len() * 80);
        for line in self.lines.iter().filter_map(|l| l.line.as_deref()) {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out
    }
}

/// Reads the whole registry; run it inside one transaction (REPEATABLE READ or the registry
/// lock) so the three reads agree. `purge` leaves removed agents' `!` lines out of the index.
///
/// # Errors
/// The database fails, or holds a row this build cannot read.
pub async fn read_snapshot(client: &impl tokio_postgres::GenericClient, purge: bool) -> Result<Snapshot, StoreError> {
    let agents = client.query(ALL_AGENTS, &[]).await.map_err(db_error)?;
    let tokens = client.query(ALL_TOKENS, &[]).await.map_err(db_error)?;
    let meta = client.query_one(COUNTERS, &[]).await.map_err(db_error)?;
    let newest: i64 = client.query_one(NEWEST_CHANGE, &[]).await.map_err(db_error)?.get(0);
    let mut index = Index::default();
    index.reserve(agents.len());
    index.note_id(u32::try_from(meta.get::<_, i64>(0)).unwrap_or(0));
    let mut warnings = Vec::new();
    let mut lines = Vec::with_capacity(agents.len());
    for row in &agents {
        let row = agent_from_row(row)?;
        let mut keep_line = true;
        match row.synced {
            Synced::Active(agent) => {
                let id = agent.id();
                if let Some(dup) = index.load(agent) {
                    warnings.push(format!("registry database: agent '{id}': duplicate {dup}"));
                }
            }
            Synced::Removed(id, line) => {
                index.note_id(id.value());
                if purge {
                    keep_line = false;
                } else {
                    index.keep_removed_line(line);
                }
            }
            Synced::Purged(id) => index.note_id(id.value()),
        }
        if keep_line && row.mirror.line.is_some() {
            lines.push(row.mirror);
        }
    }
    let (tokens, token_documents) = tokens_from_rows(&tokens)?;
    Ok(Snapshot { index, tokens, lines, warnings, token_documents, seen: newest, tokens_version: meta.get(1) })
}

impl Shared {
    /// Reads the whole registry (see [`read_snapshot`]) and writes the local client.keys whole.
    async fn read_all(&self, client: &Object, st: &mut BatchState) -> Result<(Index, Tokens, Vec<String>), StoreError> {
        let plain: &tokio_postgres::Client = client;
        let snapshot = read_snapshot(plain, self.purge).await?;
        st.seen = snapshot.seen;
        st.tokens_version = snapshot.tokens_version;
        st.tokens_written = snapshot.token_documents;
        st.last_full = Instant::now();
        st.reset_next = false;
        let write = {
            let mut mirror = self.mirror.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            mirror.clear();
            let _ = mirror.update(snapshot.lines);
            mirror.rewrite()
        };
        write_mirror(write).await;
        Ok((snapshot.index, snapshot.tokens, snapshot.warnings))
    }

    /// What changed since `st.seen` (agents, and tokens when their number moved).
    /// Turns the rows of what changed since `st.seen` (and the counters read with them) into a
    /// delta; reads the token table when its number moved.
    async fn read_changes(
        &self,
        client: &Object,
        st: &mut BatchState,
        agents: Vec<Row>,
        meta: Row,
    ) -> Result<Delta, StoreError> {
        let tokens_version: i64 = meta.get(1);
        let tokens = if tokens_version == st.tokens_version {
            None
        } else {
            let rows = timed(client.query(ALL_TOKENS, &[])).await.map_err(db_error)?;
            let (tokens, written) = tokens_from_rows(&rows)?;
            st.tokens_written = written;
            st.tokens_version = tokens_version;
            Some(tokens)
        };
        let mut synced = Vec::with_capacity(agents.len());
        let mut lines = Vec::with_capacity(agents.len());
        for row in &agents {
            let row = agent_from_row(row)?;
            st.seen = st.seen.max(row.version);
            let keep_line = !(self.purge && matches!(row.synced, Synced::Removed(..)));
            synced.push(match row.synced {
                Synced::Removed(id, _) if self.purge => Synced::Purged(id),
                other => other,
            });
            lines.push(if keep_line { row.mirror } else { MirrorLine { line: None, ..row.mirror } });
        }
        let write = self.mirror.lock().unwrap_or_else(std::sync::PoisonError::into_inner).update(lines);
        if let Some(write) = write {
            write_mirror(write).await;
        }
        Ok(Delta::Changes { agents: synced, tokens, highest_id: u32::try_from(meta.get::<_, i64>(0)).unwrap_or(0) })
    }

    async fn begin(&self, writing: bool) -> Result<Option<Delta>, StoreError> {
        let mut st = self.state.lock().await;
        st.open = None;
        st.failure = None;
        let result = self.begin_locked(&mut st, writing).await;
        if let Err(e) = &result {
            st.open = None;
            st.failure = Some(StoreError::Unavailable(e.to_string()));
        }
        result
    }

    async fn begin_locked(&self, st: &mut BatchState, writing: bool) -> Result<Option<Delta>, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        match self.begin_on(&client, st, writing).await {
            Ok(delta) => {
                if writing {
                    st.open = Some(client);
                }
                Ok(Some(delta))
            }
            Err(e) => {
                // A connection in an unknown state (maybe inside a transaction) never goes back
                // to the pool.
                drop(Object::take(client));
                Err(e)
            }
        }
    }

    /// Opens the batch's transaction and reads what changed, in one round trip: the statements
    /// are pipelined (PostgreSQL runs them in order, so the reads see everything committed before
    /// the lock was granted).
    async fn begin_on(&self, client: &Object, st: &mut BatchState, writing: bool) -> Result<Delta, StoreError> {
        let full = st.reset_next || self.reconcile_every.is_some_and(|every| st.last_full.elapsed() >= every);
        if full {
            timed(client.batch_execute(if writing { BEGIN_WRITING } else { BEGIN_READING })).await.map_err(db_error)?;
            let (index, tokens, warnings) = self.read_all(client, st).await?;
            for warning in warnings {
                warn!("{warning}");
            }
            if !writing {
                timed(client.batch_execute("COMMIT")).await.map_err(db_error)?;
            }
            return Ok(Delta::Reset(index, tokens));
        }
        let changes = client.prepare_cached(CHANGED_AGENTS).await.map_err(db_error)?;
        let counters = client.prepare_cached(COUNTERS).await.map_err(db_error)?;
        let seen = st.seen;
        let seen_param: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&seen];
        let (agents, meta) = if writing {
            let (_, agents, meta) = timed(async {
                tokio::try_join!(
                    client.batch_execute(BEGIN_WRITING),
                    client.query(&changes, &seen_param),
                    client.query_one(&counters, &[])
                )
            })
            .await
            .map_err(db_error)?;
            (agents, meta)
        } else {
            let (_, agents, meta, ()) = timed(async {
                tokio::try_join!(
                    client.batch_execute(BEGIN_READING),
                    client.query(&changes, &seen_param),
                    client.query_one(&counters, &[]),
                    client.batch_execute("COMMIT")
                )
            })
            .await
            .map_err(db_error)?;
            (agents, meta)
        };
        self.read_changes(client, st, agents, meta).await
    }
}

/// Opens a batch that may write: the transaction and the registry lock.
/// (The number is [`REGISTRY_LOCK`]; a test keeps them equal.)
const BEGIN_WRITING: &str = "BEGIN; SELECT pg_advisory_xact_lock(7018690069354708994)";

/// Opens a read of what changed: one consistent snapshot.
const BEGIN_READING: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

/// Awaits one exchange with the database (pipelined statements count once), counted for
/// `agentkeys_registry_database_round_trips`.
async fn timed<T>(exchange: impl std::future::Future<Output = T>) -> T {
    crate::metrics::COUNTERS.database_round_trip();
    exchange.await
}

/// Writes the local client.keys on a blocking thread; a failure is logged (the registry is the
/// durable copy, and the next full read writes the file whole).
async fn write_mirror(write: mirror::MirrorWrite) {
    match tokio::task::spawn_blocking(move || write.write()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!("cannot update the local client.keys from the registry: {e}"),
        Err(e) => warn!("cannot update the local client.keys from the registry: {e}"),
    }
}

impl Store for PgStore {
    fn load(&self, _purge: bool) -> StoreFuture<'_, (Index, Vec<String>)> {
        Box::pin(async move {
            let mut st = self.shared.state.lock().await;
            let client = self.shared.pool.get().await.map_err(pool_error)?;
            let read = async {
                client.batch_execute(BEGIN_READING).await.map_err(db_error)?;
                let read = self.shared.read_all(&client, &mut st).await?;
                client.batch_execute("COMMIT").await.map_err(db_error)?;
                Ok::<_, StoreError>(read)
            }
            .await;
            match read {
                Ok((index, _tokens, warnings)) => Ok((index, warnings)),
                Err(e) => {
                    drop(Object::take(client));
                    Err(e)
                }
            }
        })
    }

    fn load_tokens(&self) -> StoreFuture<'_, Tokens> {
        Box::pin(async move {
            let client = self.shared.pool.get().await.map_err(pool_error)?;
            let rows = client.query(ALL_TOKENS, &[]).await.map_err(db_error)?;
            Ok(tokens_from_rows(&rows)?.0)
        })
    }

    fn begin(&self, writing: bool) -> StoreFuture<'_, Option<Delta>> {
        Box::pin(self.shared.begin(writing))
    }

    fn end_unchanged(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut st = self.shared.state.lock().await;
            if let Some(client) = st.open.take()
                && let Err(e) = timed(client.batch_execute("ROLLBACK")).await
            {
                drop(Object::take(client));
                return Err(db_error(e));
            }
            st.failure = None;
            Ok(())
        })
    }

    fn prepare(&self, index: &Index, change: &Change<'_>) -> Box<dyn PreparedWrite> {
        // Last state of each agent touched, once each (a row can be written once per statement).
        let mut last: HashMap<AgentId, usize> = HashMap::new();
        for (i, (id, _)) in change.touched.iter().enumerate() {
            last.insert(*id, i);
        }
        let mut rows = AgentRows::default();
        for (i, (id, removed_line)) in change.touched.iter().enumerate() {
            if last.get(id) != Some(&i) {
                continue;
            }
            match (index.get(id), removed_line) {
                (Some(agent), _) => rows.push_active(agent),
                (None, Some(line)) => rows.push_gone(*id, Some(line.clone())),
                (None, None) => rows.push_gone(*id, None),
            }
        }
        let tokens = change.tokens.map(|t| {
            t.snapshot()
                .iter()
                .map(|token| TokenRow {
                    id: token.id.clone(),
                    uses: i32::try_from(token.uses).unwrap_or(i32::MAX),
                    max_uses: i32::try_from(token.max_uses).unwrap_or(i32::MAX),
                    revoked: token.revoked,
                    document: serde_json::to_string(token).unwrap_or_default(),
                })
                .collect()
        });
        Box::new(PgWrite { shared: Arc::clone(&self.shared), rows, tokens, highest: i64::from(index.highest_id()) })
    }
}

/// Agent rows of a batch, column by column (sent with UNNEST: one statement for the batch).
#[derive(Default)]
pub struct AgentRows {
    id: Vec<String>,
    id_number: Vec<i32>,
    name: Vec<String>,
    address: Vec<String>,
    address_key: Vec<Option<String>>,
    key: Vec<String>,
    groups: Vec<Option<String>>,
    date_add: Vec<i64>,
    secret: Vec<Option<Vec<u8>>>,
    state: Vec<&'static str>,
    removed_line: Vec<Option<String>>,
}

impl AgentRows {
    /// How many rows.
    #[allow(clippy::len_without_is_empty, reason = "built to be written, never tested for emptiness")]
    pub fn len(&self) -> usize {
        self.id.len()
    }

    /// Row `i`'s client.keys line (None: purged).
    pub fn line(&self, i: usize) -> String {
        match self.state[i] {
            "active" => format!("{} {} {} {}", self.id[i], self.name[i], self.address[i], self.key[i]),
            _ => self.removed_line[i].clone().unwrap_or_default(),
        }
    }

    /// An active agent.
    pub fn push_active(&mut self, agent: &Agent) {
        let addr = agent.addr();
        self.id.push(agent.id().as_str().to_owned());
        self.id_number.push(i32::try_from(agent.id().value()).unwrap_or(i32::MAX));
        self.name.push(agent.name().to_owned());
        self.address.push(addr.file_form().to_string());
        self.address_key.push((!addr.is_any()).then(|| addr.without_suffix().to_string()));
        self.key.push(agent.key().to_owned());
        self.groups.push(agent.groups.as_deref().map(str::to_owned));
        self.date_add.push(agent.date_add);
        self.secret.push(agent.reenroll.as_deref().map(|s| s.to_vec()));
        self.state.push("active");
        self.removed_line.push(None);
    }

    /// Keeps the last row's address in the form its line was written in (same meaning).
    pub fn set_last_address(&mut self, written: &str) {
        if let Some(last) = self.address.last_mut() {
            written.clone_into(last);
        }
    }

    /// A removed (with its `!` line) or purged agent: the row keeps its last fields.
    pub fn push_gone(&mut self, id: AgentId, line: Option<String>) {
        self.id.push(id.as_str().to_owned());
        self.id_number.push(i32::try_from(id.value()).unwrap_or(i32::MAX));
        self.name.push(String::new());
        self.address.push(String::new());
        self.address_key.push(None);
        self.key.push(String::new());
        self.groups.push(None);
        self.date_add.push(0);
        self.secret.push(None);
        self.state.push(if line.is_some() { "removed" } else { "purged" });
        self.removed_line.push(line);
    }
}

/// Inserts rows at the given file positions (a migration into an empty registry); row `i`'s
/// version is `i + 1`.
///
/// # Errors
/// What the database refuses (a duplicate name or address among active agents, …).
pub async fn insert_rows(
    client: &impl tokio_postgres::GenericClient,
    rows: &AgentRows,
    positions: &[i64],
) -> Result<(), StoreError> {
    const CHUNK: usize = 10_000;
    for start in (0..rows.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(rows.len());
        let versions: Vec<i64> = (start..end).map(|i| i64::try_from(i + 1).unwrap_or(i64::MAX)).collect();
        client
            .execute(
                "INSERT INTO agentkeys_agents
                    (id, id_number, name, address, address_key, key, groups, date_add, reenroll_secret, state, removed_line, position, version)
                 SELECT * FROM UNNEST($1::text[], $2::int4[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                      $8::int8[], $9::bytea[], $10::text[], $11::text[], $12::int8[], $13::int8[])",
                &[
                    &&rows.id[start..end],
                    &&rows.id_number[start..end],
                    &&rows.name[start..end],
                    &&rows.address[start..end],
                    &&rows.address_key[start..end],
                    &&rows.key[start..end],
                    &&rows.groups[start..end],
                    &&rows.date_add[start..end],
                    &&rows.secret[start..end],
                    &&rows.state[start..end],
                    &&rows.removed_line[start..end],
                    &&positions[start..end],
                    &versions,
                ],
            )
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

/// Inserts a whole token table into an empty one and moves the token number.
///
/// # Errors
/// What the database refuses.
pub async fn insert_tokens(client: &impl tokio_postgres::GenericClient, tokens: &Tokens) -> Result<(), StoreError> {
    for (position, token) in (0i32..).zip(tokens.snapshot().iter()) {
        let document = serde_json::to_string(token).map_err(|e| StoreError::Database(e.to_string()))?;
        client
            .execute(
                "INSERT INTO agentkeys_tokens (id, position, uses, max_uses, revoked, document) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &token.id,
                    &position,
                    &i32::try_from(token.uses).unwrap_or(i32::MAX),
                    &i32::try_from(token.max_uses).unwrap_or(i32::MAX),
                    &token.revoked,
                    &document,
                ],
            )
            .await
            .map_err(db_error)?;
    }
    client
        .execute("UPDATE agentkeys_meta SET value = nextval('agentkeys_version') WHERE key = 'tokens_version'", &[])
        .await
        .map_err(db_error)?;
    Ok(())
}

struct TokenRow {
    id: String,
    uses: i32,
    max_uses: i32,
    revoked: bool,
    document: String,
}

/// A decided batch for the database.
struct PgWrite {
    shared: Arc<Shared>,
    rows: AgentRows,
    tokens: Option<Vec<TokenRow>>,
    highest: i64,
}

/// Writes the rows: new agents get the next file position; a re-keyed or re-enrolled agent keeps
/// its place; a removed agent's `!` line moves to the end (as a file rewrite puts it); a removed
/// or purged agent keeps its name and address columns for the audit trail only.
const UPSERT_AGENTS: &str = "
INSERT INTO agentkeys_agents AS a
    (id, id_number, name, address, address_key, key, groups, date_add, reenroll_secret, state, removed_line, position, version)
SELECT u.id, u.id_number, u.name, u.address, u.address_key, u.key, u.groups, u.date_add, u.secret, u.state, u.removed_line,
       nextval('agentkeys_position'), nextval('agentkeys_version')
FROM UNNEST($1::text[], $2::int4[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int8[], $9::bytea[],
            $10::text[], $11::text[])
     AS u(id, id_number, name, address, address_key, key, groups, date_add, secret, state, removed_line)
ON CONFLICT (id) DO UPDATE SET
    name = CASE WHEN excluded.state = 'active' THEN excluded.name ELSE a.name END,
    address = CASE WHEN excluded.state = 'active' THEN excluded.address ELSE a.address END,
    address_key = CASE WHEN excluded.state = 'active' THEN excluded.address_key ELSE NULL END,
    key = CASE WHEN excluded.state = 'active' THEN excluded.key ELSE a.key END,
    groups = CASE WHEN excluded.state = 'active' THEN excluded.groups ELSE a.groups END,
    date_add = CASE WHEN excluded.state = 'active' THEN excluded.date_add ELSE a.date_add END,
    reenroll_secret = CASE WHEN excluded.state = 'active' THEN excluded.reenroll_secret ELSE NULL END,
    state = excluded.state,
    removed_line = excluded.removed_line,
    position = CASE WHEN a.state = 'active' AND excluded.state = 'active' THEN a.position ELSE excluded.position END,
    version = excluded.version
RETURNING id, state, removed_line, position, version, name, address, key";

/// One audit row per agent written.
const AUDIT: &str = "INSERT INTO agentkeys_audit (node, action, agent_id) \
     SELECT $1, a, i FROM UNNEST($2::text[], $3::text[]) AS u(a, i)";

/// Raises the ID counter to the highest ID this batch knows of (never lowers it).
const RAISE_ID_COUNTER: &str =
    "SELECT setval('agentkeys_agent_id', GREATEST($1::int8, (SELECT last_value FROM agentkeys_agent_id)))";

impl PreparedWrite for PgWrite {
    fn write(self: Box<Self>) -> StoreFuture<'static, ()> {
        Box::pin(async move {
            let shared = Arc::clone(&self.shared);
            let mut st = shared.state.lock().await;
            let Some(client) = st.open.take() else {
                return Err(st
                    .failure
                    .take()
                    .unwrap_or_else(|| StoreError::Unavailable("the batch could not begin".to_owned())));
            };
            match self.write_in(&client, &mut st).await {
                Ok(lines) => {
                    let write = shared.mirror.lock().unwrap_or_else(std::sync::PoisonError::into_inner).update(lines);
                    drop(st);
                    if let Some(write) = write {
                        write_mirror(write).await;
                    }
                    Ok(())
                }
                Err(e) => {
                    // The transaction is abandoned with its connection; the next batch reads the
                    // whole registry (whatever the database holds is the truth).
                    drop(Object::take(client));
                    st.reset_next = true;
                    Err(e)
                }
            }
        })
    }
}

impl PgWrite {
    /// Writes the batch and commits, in one round trip after the token rows (rare): the agent
    /// rows, the audit rows, the ID counter, the notification and COMMIT are pipelined. If a
    /// statement fails, PostgreSQL turns the COMMIT into a rollback.
    async fn write_in(&self, client: &Object, st: &mut BatchState) -> Result<Vec<MirrorLine>, StoreError> {
        if let Some(tokens) = &self.tokens {
            self.write_tokens(client, st, tokens).await?;
        }
        let r = &self.rows;
        let actions: Vec<&str> = r
            .state
            .iter()
            .map(|s| match *s {
                "active" => "registered",
                "removed" => "removed",
                _ => "purged",
            })
            .collect();
        let upsert = client.prepare_cached(UPSERT_AGENTS).await.map_err(db_error)?;
        let audit = client.prepare_cached(AUDIT).await.map_err(db_error)?;
        let counter = client.prepare_cached(RAISE_ID_COUNTER).await.map_err(db_error)?;
        let notify = client.prepare_cached("SELECT pg_notify($1, $2)").await.map_err(db_error)?;
        type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);
        let row_params: [Param<'_>; 11] = [
            &r.id,
            &r.id_number,
            &r.name,
            &r.address,
            &r.address_key,
            &r.key,
            &r.groups,
            &r.date_add,
            &r.secret,
            &r.state,
            &r.removed_line,
        ];
        let audit_params: [Param<'_>; 3] = [&self.shared.node, &actions, &r.id];
        let counter_params: [Param<'_>; 1] = [&self.highest];
        let notify_params: [Param<'_>; 2] = [&CHANNEL, &self.shared.node];
        let (written, _, _, _, ()) = timed(async {
            tokio::try_join!(
                client.query(&upsert, &row_params),
                client.execute(&audit, &audit_params),
                client.execute(&counter, &counter_params),
                client.execute(&notify, &notify_params),
                client.batch_execute("COMMIT"),
            )
        })
        .await
        .map_err(db_error)?;
        let mut lines = Vec::with_capacity(written.len());
        for row in &written {
            let id: &str = row.get(0);
            let state: &str = row.get(1);
            let version: i64 = row.get(4);
            st.seen = st.seen.max(version);
            let line = match state {
                "active" => Some(
                    format!("{id} {} {} {}", row.get::<_, &str>(5), row.get::<_, &str>(6), row.get::<_, &str>(7))
                        .into_boxed_str(),
                ),
                "removed" if !self.shared.purge => row.get::<_, Option<&str>>(2).map(Into::into),
                _ => None,
            };
            lines.push(MirrorLine { id: id.into(), position: row.get(3), line });
        }
        Ok(lines)
    }

    /// Writes the tokens that changed and drops the ones that went; moves the token number.
    async fn write_tokens(&self, client: &Object, st: &mut BatchState, tokens: &[TokenRow]) -> Result<(), StoreError> {
        let ids: Vec<&str> = tokens.iter().map(|t| t.id.as_str()).collect();
        timed(client.execute("DELETE FROM agentkeys_tokens WHERE NOT (id = ANY($1))", &[&ids]))
            .await
            .map_err(db_error)?;
        let changed: Vec<(i32, &TokenRow)> =
            (0..).zip(tokens.iter()).filter(|(_, t)| st.tokens_written.get(&t.id) != Some(&t.document)).collect();
        if !changed.is_empty() {
            let id: Vec<&str> = changed.iter().map(|(_, t)| t.id.as_str()).collect();
            let position: Vec<i32> = changed.iter().map(|(p, _)| *p).collect();
            let uses: Vec<i32> = changed.iter().map(|(_, t)| t.uses).collect();
            let max_uses: Vec<i32> = changed.iter().map(|(_, t)| t.max_uses).collect();
            let revoked: Vec<bool> = changed.iter().map(|(_, t)| t.revoked).collect();
            let document: Vec<&str> = changed.iter().map(|(_, t)| t.document.as_str()).collect();
            timed(client.execute(
                "INSERT INTO agentkeys_tokens (id, position, uses, max_uses, revoked, document)
                     SELECT * FROM UNNEST($1::text[], $2::int4[], $3::int4[], $4::int4[], $5::bool[], $6::text[])
                     ON CONFLICT (id) DO UPDATE SET position = excluded.position, uses = excluded.uses,
                         max_uses = excluded.max_uses, revoked = excluded.revoked, document = excluded.document",
                &[&id, &position, &uses, &max_uses, &revoked, &document],
            ))
            .await
            .map_err(db_error)?;
        }
        let row = timed(client.query_one(
            "UPDATE agentkeys_meta SET value = nextval('agentkeys_version') WHERE key = 'tokens_version' RETURNING value",
            &[],
        ))
        .await
            .map_err(db_error)?;
        st.tokens_version = row.get(0);
        st.tokens_written = tokens.iter().map(|t| (t.id.clone(), t.document.clone())).collect();
        Ok(())
    }
}

/// Reports a duplicate found while reading (kept for the log's wording).
impl std::fmt::Display for Duplicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Duplicate::Id => "ID",
            Duplicate::Name => "name",
            Duplicate::Addr => "address",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_lock_is_the_registry_lock() {
        assert!(BEGIN_WRITING.contains(&format!("pg_advisory_xact_lock({REGISTRY_LOCK})")));
    }
}
