//! The file store: `etc/client.keys` (upstream layout), `queue/agents-timestamp`, our
//! `etc/agentkeys.state` (highest ID ever issued, groups and re-enrollment secrets per agent), and
//! `etc/enrollment_tokens.json` (upstream's shape).
//!
//! A batch that only adds agents is **appended** to the three files (O(batch), not O(agents)); a
//! batch that removes or replaces agents, or any batch while removed agents' `!` lines are kept
//! (`purge = no`; they must stay last, as upstream writes them), **rewrites** them (temporary file, fsync, rename, fsync of
//! the directory). Appends go state first, then client.keys, then timestamps, so a crash between
//! them never reuses an ID. A crash inside an append can leave a partial last line that was never
//! acknowledged; loading recognises it (unterminated and invalid), logs it and cuts it off.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{Seek, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use agentkeys::{AgentId, ErrorKind, Line, OwnedRecord, parse_keys};

use tracing::error;

use super::error::StoreError;
use super::index::Index;
use super::{Agent, Duplicate};
use crate::atomic::{self, FileError};
use crate::config::Durability;
use crate::home::{Home, SECRET_MODE};
use crate::tokens::Tokens;

/// What a batch changed, as a store needs it.
#[derive(Debug)]
pub struct Change<'a> {
    /// Slots of the agents the batch added.
    pub added: &'a [usize],
    /// Whether it also removed, replaced or re-keyed agents (else it only added).
    pub rewrite: bool,
    /// The enrollment tokens, when the batch changed them (minted, revoked, purged, used).
    pub tokens: Option<&'a Tokens>,
    /// Every agent the batch touched, in order; a removed agent comes with the `!` line kept for
    /// it (None: purged or forgotten). The agent's state now is the index's.
    pub touched: &'a [(AgentId, Option<String>)],
}

/// What other servers changed in a shared registry since this server last looked, to apply to
/// the index before a batch is decided.
#[derive(Debug)]
pub enum Delta {
    /// Changes to some agents, in the order they were made.
    Changes {
        /// Agents changed elsewhere, oldest change first.
        agents: Vec<Synced>,
        /// The whole token table, when it changed.
        tokens: Option<Tokens>,
        /// The highest agent ID issued anywhere.
        highest_id: u32,
    },
    /// The whole registry again (a periodic reconciliation, or a gap that changes cannot fill).
    Reset(Index, Tokens),
}

/// One agent as another server left it.
#[derive(Debug)]
pub enum Synced {
    /// Registered (new, re-keyed, re-enrolled).
    Active(Agent),
    /// Removed; its `!` line is kept.
    Removed(AgentId, String),
    /// Removed without a trace.
    Purged(AgentId),
}

/// A boxed future of a store operation.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Where the registry lives. The rules and the index know nothing of it; the owner loads the index
/// from it once and hands it every decided batch.
pub trait Store: Send + Sync + 'static {
    /// Reads the registry. `purge` drops removed agents (their IDs still count as issued).
    /// Returns warnings worded for the log.
    ///
    /// # Errors
    /// Anything that would make the registry lose or misread agents, worded for the operator.
    fn load(&self, purge: bool) -> StoreFuture<'_, (Index, Vec<String>)>;

    /// Reads the enrollment tokens (none yet: an empty table).
    ///
    /// # Errors
    /// A table that cannot be read, worded for the operator.
    fn load_tokens(&self) -> StoreFuture<'_, Tokens>;

    /// Starts a batch. A registry shared with other servers takes its lock when the batch may
    /// write (`writing`) and answers what changed elsewhere since this server last looked; the
    /// file store, the only writer of its files, has nothing to say. A failure here is reported
    /// by the batch's write.
    fn begin(&self, writing: bool) -> StoreFuture<'_, Option<Delta>> {
        let _ = writing;
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Ends a batch that changed nothing (a shared registry releases its lock).
    fn end_unchanged(&self) -> StoreFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Turns a decided batch into the write that makes it durable. Runs on the owner task: no I/O,
    /// no waiting (rendering only).
    fn prepare(&self, index: &Index, change: &Change<'_>) -> Box<dyn PreparedWrite>;
}

/// A batch ready to be written.
pub trait PreparedWrite: Send {
    /// Writes the batch. On error, nothing of it is stored and what was stored before is intact.
    ///
    /// # Errors
    /// Why it could not be written, worded for the log.
    fn write(self: Box<Self>) -> StoreFuture<'static, ()>;
}

/// Bytes for each of the three files (whole contents, or what to append).
#[derive(Debug, Default)]
pub struct Contents {
    /// client.keys.
    pub keys: Vec<u8>,
    /// agents-timestamp.
    pub timestamps: Vec<u8>,
    /// Our state file.
    pub state: Vec<u8>,
}

/// The embedded file store: client.keys (upstream layout), agents-timestamp and our state file
/// under a home. Cheap to clone (the paths are shared).
#[derive(Clone, Debug)]
pub struct FileStore {
    files: Arc<Files>,
}

/// The files of a [`FileStore`].
#[derive(Debug)]
struct Files {
    /// client.keys itself (a symbolic link resolved to its target).
    keys: PathBuf,
    /// client.keys as the home names it (maybe a symbolic link).
    keys_link: PathBuf,
    timestamps: PathBuf,
    state: PathBuf,
    tokens: PathBuf,
    durability: Durability,
    /// Files (and lengths) that a failed append could not be cut back to yet.
    pending_truncations: Mutex<Vec<(PathBuf, u64)>>,
}

pub use crate::localtime::format_local_time;

impl FileStore {
    /// The store of `home`.
    pub fn new(home: &Home, durability: Durability) -> FileStore {
        FileStore { files: Arc::new(Files::new(home, durability)) }
    }

    /// Replaces the three files (see [`Files::rewrite`]).
    ///
    /// # Errors
    /// See [`Files::rewrite`]; on error every file is as it was.
    pub fn rewrite(&self, all: &Contents) -> Result<(), StoreError> {
        self.files.rewrite(all)
    }
}

impl FileStore {
    /// Reads the registry (see [`Store::load`]), on the calling thread.
    ///
    /// # Errors
    /// See [`Store::load`].
    pub fn load_now(&self, purge: bool) -> Result<(Index, Vec<String>), StoreError> {
        self.files.load(purge)
    }

    /// Reads the enrollment tokens, on the calling thread.
    ///
    /// # Errors
    /// See [`Store::load_tokens`].
    pub fn load_tokens_now(&self) -> Result<Tokens, StoreError> {
        let path = &self.files.tokens;
        match std::fs::read(path) {
            Ok(data) => Tokens::parse(&data).map_err(|source| StoreError::Tokens { path: path.clone(), source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Tokens::default()),
            Err(e) => Err(FileError::new(path, "cannot read", e).into()),
        }
    }
}

impl Store for FileStore {
    fn load(&self, purge: bool) -> StoreFuture<'_, (Index, Vec<String>)> {
        Box::pin(std::future::ready(self.load_now(purge)))
    }

    fn load_tokens(&self) -> StoreFuture<'_, Tokens> {
        Box::pin(std::future::ready(self.load_tokens_now()))
    }

    fn prepare(&self, index: &Index, change: &Change<'_>) -> Box<dyn PreparedWrite> {
        let contents = match (change.added.is_empty() && !change.rewrite, change.rewrite) {
            (true, _) => None,
            (false, true) => Some(render(index)),
            (false, false) => Some(render_appends(index, change.added)),
        };
        Box::new(FileWrite {
            files: Arc::clone(&self.files),
            contents,
            rewrite: change.rewrite,
            tokens: change.tokens.map(Tokens::render),
        })
    }
}

/// A batch rendered in the file formats, waiting to be written.
struct FileWrite {
    files: Arc<Files>,
    /// The agent files (None: the batch changed only tokens).
    contents: Option<Contents>,
    rewrite: bool,
    /// The whole token file, when tokens changed.
    tokens: Option<Vec<u8>>,
}

impl PreparedWrite for FileWrite {
    /// On a blocking thread (the files are written with plain system calls).
    fn write(self: Box<Self>) -> StoreFuture<'static, ()> {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || self.write_now())
                .await
                .unwrap_or_else(|e| Err(StoreError::Writer(e.to_string())))
        })
    }
}

impl FileWrite {
    /// Tokens first: a crash between the two files leaves a use counted for an agent that was
    /// never acknowledged (a use lost), never an agent enrolled with a use not counted.
    fn write_now(self) -> Result<(), StoreError> {
        if let Some(tokens) = &self.tokens {
            atomic::replace_file(&self.files.tokens, tokens, SECRET_MODE)?;
        }
        match &self.contents {
            None => Ok(()),
            Some(c) if self.rewrite => self.files.rewrite(c),
            Some(c) => self.files.append(c),
        }
    }
}

impl Files {
    fn new(home: &Home, durability: Durability) -> Files {
        let keys_link = home.client_keys();
        // Follow a symbolic link once, so that rewrites replace the target and keep the link.
        let keys = match std::fs::symlink_metadata(&keys_link) {
            Ok(m) if m.file_type().is_symlink() => {
                std::fs::canonicalize(&keys_link).unwrap_or_else(|_| keys_link.clone())
            }
            _ => keys_link.clone(),
        };
        Files {
            keys,
            keys_link,
            timestamps: home.timestamps(),
            state: home.state(),
            tokens: home.enrollment_tokens(),
            durability,
            pending_truncations: Mutex::new(Vec::new()),
        }
    }

    /// Reads the three files into a registry. `purge` drops removed agents' lines (their IDs still
    /// count for the highest ID). Returns warnings worded for the log.
    ///
    /// # Errors
    /// `client.keys:<line>: <reason>` for a bad line (DESIGN §7.2: never start on a file that
    /// would lose or misread agents), or an I/O error.
    pub fn load(&self, purge: bool) -> Result<(Index, Vec<String>), StoreError> {
        // agents-timestamp is read and parsed on a second thread while client.keys is indexed.
        std::thread::scope(|scope| {
            let stamps = scope.spawn(|| self.read_timestamps());
            let (mut registry, mut warnings) = self.load_keys(purge)?;
            let (dates, stamp_warnings) =
                stamps.join().map_err(|_| StoreError::Writer("reading agents-timestamp failed".to_owned()))??;
            for (id, epoch) in dates {
                registry.set_date_add(&id, epoch);
            }
            warnings.extend(stamp_warnings);
            self.load_state(&mut registry, &mut warnings)?;
            Ok((registry, warnings))
        })
    }

    /// client.keys into an index (see [`Files::load`]).
    fn load_keys(&self, purge: bool) -> Result<(Index, Vec<String>), StoreError> {
        let mut warnings = Vec::new();
        let mut registry = Index::default();
        self.check_keys_file(&mut warnings)?;
        let data =
            read_recovering(&self.keys, &mut warnings, |line| matches!(agentkeys::parse_line(line), Line::Invalid(_)))?;
        registry.reserve(memchr::memchr_iter(b'\n', &data).count() + 1);
        // Lines are parsed on a second thread, a chunk at a time, while this one indexes them in
        // file order.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Parsed>>(4);
        std::thread::scope(|scope| {
            // `tx` moves to the parser: the channel ends when it is done.
            scope.spawn(move || {
                let mut chunk = Vec::with_capacity(PARSE_CHUNK);
                for parsed in parsed_lines(&data, purge) {
                    let stop = matches!(parsed, Parsed::Bad(..));
                    chunk.push(parsed);
                    if stop || chunk.len() == PARSE_CHUNK {
                        let full = std::mem::replace(&mut chunk, Vec::with_capacity(PARSE_CHUNK));
                        let sent = tx.send(full).is_ok();
                        if !sent || stop {
                            return;
                        }
                    }
                }
                let _ = tx.send(chunk);
            });
            self.index_lines(rx.into_iter().flatten(), &mut registry, &mut warnings)
        })?;
        Ok((registry, warnings))
    }

    /// Indexes parsed client.keys lines in order; stops at the first bad one.
    fn index_lines(
        &self,
        lines: impl Iterator<Item = Parsed>,
        registry: &mut Index,
        warnings: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        let name = self.keys.display();
        for parsed in lines {
            match parsed {
                Parsed::Agent(number, record) => {
                    let (id, addr) = (record.id(), record.addr());
                    let agent = Agent { record, groups: None, date_add: 0, reenroll: None };
                    match registry.load(agent) {
                        Some(Duplicate::Id) => {
                            warnings.push(format!(
                                "{name}:{number}: duplicate ID {id}: only the first agent with it is used"
                            ));
                        }
                        Some(Duplicate::Name) => warnings.push(format!(
                            "{name}:{number}: duplicate name {}: only the first agent with it is used",
                            registry.last_loaded().map_or("", Agent::name)
                        )),
                        Some(Duplicate::Addr) => warnings.push(format!(
                            "{name}:{number}: duplicate address {} (agent '{id}'): lookups by address find the first agent with it",
                            addr.file_form(),
                        )),
                        None => {}
                    }
                }
                Parsed::Removed(id, line) => {
                    registry.note_id(id.value());
                    if let Some(line) = line {
                        registry.keep_removed_line(line);
                    }
                }
                Parsed::Empty(number) => warnings.push(format!("{name}:{number}: empty line ignored")),
                Parsed::Bad(number, error) => {
                    return Err(StoreError::BadLine { path: self.keys.clone(), line: number, error });
                }
            }
        }
        Ok(())
    }

    /// Where client.keys really is (a symbolic link is followed, so it stays a link), and a
    /// warning-and-fix for a mode that lets other users read the keys.
    fn check_keys_file(&self, warnings: &mut Vec<String>) -> Result<(), StoreError> {
        let given = &self.keys_link;
        if std::fs::symlink_metadata(given).is_ok_and(|m| m.file_type().is_symlink()) {
            let target = std::fs::canonicalize(given)
                .map_err(|source| StoreError::DanglingLink { path: given.clone(), source })?;
            warnings.push(format!(
                "{}: a symbolic link to {}; agentkeys writes through it",
                given.display(),
                target.display()
            ));
        }
        let path = &self.keys;
        if !path.exists() {
            return Ok(());
        }
        let meta = std::fs::metadata(path).map_err(|e| FileError::new(path, "cannot read", e))?;
        let mode = meta.permissions().mode() & 0o7777;
        if safe_keys_mode(mode) != mode {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(SECRET_MODE)).map_err(|e| {
                FileError::new(path, "lets other users read agent keys and its mode cannot be changed", e)
            })?;
            warnings
                .push(format!("{}: mode {mode:04o} let other users read agent keys; changed to 0640", path.display()));
        }
        Ok(())
    }

    /// Every registration time agents-timestamp holds, and warnings about its lines.
    #[allow(clippy::type_complexity, reason = "a private pair of lists")]
    fn read_timestamps(&self) -> Result<(Vec<(AgentId, i64)>, Vec<String>), StoreError> {
        let mut warnings = Vec::new();
        let data = read_recovering(&self.timestamps, &mut warnings, |line| {
            parse_timestamp_line(line, &mut crate::localtime::LocalTimeReader::default()).is_none()
        })?;
        let mut dates = Vec::with_capacity(memchr::memchr_iter(b'\n', &data).count());
        let mut reader = crate::localtime::LocalTimeReader::default();
        for (i, line) in data.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            match parse_timestamp_line(line, &mut reader) {
                Some(date) => dates.push(date),
                None => warnings.push(format!("{}:{}: unreadable line ignored", self.timestamps.display(), i + 1)),
            }
        }
        Ok((dates, warnings))
    }

    fn load_state(&self, registry: &mut Index, warnings: &mut Vec<String>) -> Result<(), StoreError> {
        let data = read_recovering(&self.state, warnings, |line| parse_state_line(line).is_none())?;
        for (i, line) in data.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            match parse_state_line(line) {
                Some(StateLine::Comment) => {}
                Some(StateLine::HighestId(n)) => registry.note_id(n),
                Some(StateLine::Groups(id, groups)) => registry.set_groups(&id, groups.into()),
                Some(StateLine::Reenroll(id, secret)) => registry.set_reenroll(&id, secret),
                None => return Err(StoreError::Unreadable { path: self.state.clone(), line: i + 1 }),
            }
        }
        Ok(())
    }

    /// Appends `add` to the three files (state, client.keys, timestamps), fsyncing each unless
    /// durability is `fast`. A file whose last byte is not `\n` (a hand edit, another tool) gets one
    /// first, so an appended line is never glued onto it.
    ///
    /// All or nothing: if any write or fsync fails (a full disk), every file appended to so far is
    /// truncated back to its length before the batch, so no line of the failed batch survives,
    /// complete or partial. A truncation that fails too is remembered and retried before the next
    /// write, which is refused until it succeeds.
    ///
    /// # Errors
    /// I/O errors, with the path.
    pub fn append(&self, add: &Contents) -> Result<(), StoreError> {
        self.repair_pending()?;
        let mut done: Vec<(File, &Path, u64)> = Vec::with_capacity(3);
        // agents-timestamp is not synced (upstream never syncs it): after a power cut an agent may
        // lose its registration time, never its key, ID, groups or re-enrollment secret.
        for (path, bytes, mode, sync) in [
            (self.state.as_path(), &add.state, 0o640, true),
            (self.keys.as_path(), &add.keys, SECRET_MODE, true),
            (self.timestamps.as_path(), &add.timestamps, 0o640, false),
        ] {
            if bytes.is_empty() {
                continue;
            }
            match self.append_one(path, bytes, mode, sync) {
                Ok(step) => done.push((step.0, path, step.1)),
                Err((e, partial)) => {
                    if let Some(step) = partial {
                        done.push((step.0, path, step.1));
                    }
                    self.roll_back(done);
                    return Err(FileError::new(path, "cannot append", e).into());
                }
            }
        }
        Ok(())
    }

    /// Appends to one file; on failure also returns the open file and its old length when the file
    /// may already hold part of the bytes.
    #[allow(clippy::type_complexity)]
    fn append_one(
        &self,
        path: &Path,
        bytes: &[u8],
        mode: u32,
        sync: bool,
    ) -> Result<(File, u64), (std::io::Error, Option<(File, u64)>)> {
        let mut file =
            OpenOptions::new().create(true).read(true).append(true).mode(mode).open(path).map_err(|e| (e, None))?;
        let before = file.metadata().map_err(|e| (e, None))?.len();
        let written = (|| {
            if before > 0 {
                let mut last = [0u8; 1];
                file.read_exact_at(&mut last, before - 1)?;
                if last[0] != b'\n' {
                    file.write_all(b"\n")?;
                }
            }
            file.write_all(bytes)?;
            if sync && self.durability == Durability::Durable {
                file.sync_data()?;
            }
            Ok(())
        })();
        match written {
            Ok(()) => Ok((file, before)),
            Err(e) => Err((e, Some((file, before)))),
        }
    }

    /// Truncates every file of a failed append back to its old length; what cannot be truncated now
    /// is retried before the next write.
    fn roll_back(&self, done: Vec<(File, &Path, u64)>) {
        for (file, path, len) in done {
            let undone = file.set_len(len).and_then(|()| file.sync_data());
            if let Err(e) = undone {
                error!(
                    "{}: cannot cut the failed append back to {len} bytes: {e}; retrying before the next write",
                    path.display()
                );
                if let Ok(mut pending) = self.pending_truncations.lock() {
                    pending.push((path.to_owned(), len));
                }
            }
        }
    }

    /// Retries the truncations of earlier failed appends.
    fn repair_pending(&self) -> Result<(), StoreError> {
        let Ok(mut pending) = self.pending_truncations.lock() else {
            return Err(StoreError::Writer("store state poisoned".into()));
        };
        while let Some((path, len)) = pending.last() {
            let undone = OpenOptions::new().write(true).open(path).and_then(|f| {
                f.set_len(*len)?;
                f.sync_data()
            });
            undone.map_err(|source| StoreError::PendingRepair { path: path.clone(), source })?;
            pending.pop();
        }
        Ok(())
    }

    /// Replaces the three files with `all`. Every temporary file is written and synced first; only
    /// when all three are complete are they renamed over the old files (then the directories are
    /// synced), so a full disk leaves every old file as it was and no temporary behind. The mode of
    /// an existing client.keys is kept unless other users could read it (then 0640).
    ///
    /// # Errors
    /// I/O errors, with the path.
    pub fn rewrite(&self, all: &Contents) -> Result<(), StoreError> {
        self.repair_pending()?;
        let keys_mode =
            std::fs::metadata(&self.keys).map(|m| safe_keys_mode(m.permissions().mode())).unwrap_or(SECRET_MODE);
        let files = [
            (self.state.as_path(), &all.state, 0o640),
            (self.timestamps.as_path(), &all.timestamps, 0o640),
            (self.keys.as_path(), &all.keys, keys_mode),
        ];
        let sync = self.durability == Durability::Durable;
        let mut temporaries = Vec::with_capacity(files.len());
        for (path, contents, mode) in files {
            match atomic::write_temporary(path, contents, mode, sync) {
                Ok(tmp) => temporaries.push((tmp, path)),
                Err(e) => {
                    for (tmp, _) in &temporaries {
                        let _ = std::fs::remove_file(tmp);
                    }
                    return Err(e.into());
                }
            }
        }
        for (renamed, (tmp, path)) in temporaries.iter().enumerate() {
            if let Err(e) = atomic::commit(tmp, path) {
                for (left, _) in &temporaries[renamed + 1..] {
                    let _ = std::fs::remove_file(left);
                }
                return Err(e.into());
            }
        }
        if sync {
            for (_, path) in &temporaries {
                atomic::sync_dir(path)?;
            }
        }
        Ok(())
    }
}

/// The mode client.keys is written with: its current mode, unless other users may read or write it
/// (then 0640, upstream's).
fn safe_keys_mode(mode: u32) -> u32 {
    let mode = mode & 0o7777;
    if mode & 0o007 != 0 { SECRET_MODE } else { mode }
}

/// The three files' full contents: client.keys, agents-timestamp, our state.
pub fn render(index: &Index) -> Contents {
    let mut keys = String::with_capacity(index.len() * 100);
    let mut timestamps = String::new();
    let mut state =
        format!("# agentkeys state: written by agentkeys, do not edit\nhighest_id {}\n", index.highest_id());
    let records = index.agents().map(|agent| agent.record.as_record());
    let _ = agentkeys::write_keys(&mut keys, records, index.removed_lines().iter().map(String::as_str));
    for agent in index.agents() {
        push_timestamp(&mut timestamps, agent);
        push_groups(&mut state, agent);
    }
    Contents { keys: keys.into_bytes(), timestamps: timestamps.into_bytes(), state: state.into_bytes() }
}

/// What appending the agents in `slots` adds to each file.
pub fn render_appends(index: &Index, slots: &[usize]) -> Contents {
    let (mut keys, mut timestamps, mut state) = (String::new(), String::new(), String::new());
    // The appended lines carry their IDs: the highest ID needs a line of its own only when it is
    // above them (IDs of a failed batch are never handed out again).
    let appended_max = slots.iter().filter_map(|&s| index.slot(s)).map(|a| a.id().value()).max().unwrap_or(0);
    if index.highest_id() > appended_max {
        let _ = writeln!(state, "highest_id {}", index.highest_id());
    }
    for agent in slots.iter().filter_map(|&s| index.slot(s)) {
        let _ = writeln!(keys, "{}", agent.record);
        push_timestamp(&mut timestamps, agent);
        push_groups(&mut state, agent);
    }
    Contents { keys: keys.into_bytes(), timestamps: timestamps.into_bytes(), state: state.into_bytes() }
}
fn push_timestamp(out: &mut String, agent: &Agent) {
    if agent.date_add > 0 {
        let _ = writeln!(
            out,
            "{} {} {} {}",
            agent.id(),
            agent.name(),
            agent.addr().file_form(),
            format_local_time(agent.date_add)
        );
    }
}

fn push_groups(out: &mut String, agent: &Agent) {
    if let Some(groups) = &agent.groups {
        let _ = writeln!(out, "groups {} {groups}", agent.id());
    }
    if let Some(secret) = &agent.reenroll {
        let _ = writeln!(out, "reenroll {} {}", agent.id(), super::secret_hex(secret));
    }
}

/// Reads `path` (missing = empty). If its last line has no `\n` and `is_bad` says it cannot be
/// read, it is the remains of an interrupted append: cut it off, in the file too, and warn. If it
/// can be read (a hand edit, another tool), the missing `\n` is added, durably, so the next append
/// starts on a line of its own (appends also check, should this repair fail).
fn read_recovering(
    path: &Path,
    warnings: &mut Vec<String>,
    is_bad: impl Fn(&[u8]) -> bool,
) -> Result<Vec<u8>, StoreError> {
    let mut data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(FileError::new(path, "cannot read", e).into()),
    };
    if data.is_empty() || data.ends_with(b"\n") {
        return Ok(data);
    }
    let start = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let lines = data[..start].iter().filter(|&&b| b == b'\n').count() + 1;
    let repair = |change: &dyn Fn(&mut File) -> std::io::Result<()>| {
        OpenOptions::new().write(true).open(path).and_then(|mut f| {
            change(&mut f)?;
            f.sync_all()
        })
    };
    if is_bad(&data[start..]) {
        warnings.push(format!(
            "{}:{lines}: cut off a partial last line left by an interrupted write ({} bytes, never acknowledged)",
            path.display(),
            data.len() - start
        ));
        repair(&|f: &mut File| f.set_len(start as u64)).map_err(|e| FileError::new(path, "cannot repair", e))?;
        data.truncate(start);
    } else {
        match repair(&|f: &mut File| {
            f.seek(std::io::SeekFrom::End(0))?;
            f.write_all(b"\n")
        }) {
            Ok(()) => warnings.push(format!("{}:{lines}: the last line had no newline; added one", path.display())),
            Err(e) => warnings.push(format!(
                "{}:{lines}: the last line has no newline and it cannot be added now ({e}); the next append adds it",
                path.display()
            )),
        }
        data.push(b'\n');
    }
    Ok(data)
}

/// Lines handed from the parsing thread to the indexing one at a time.
const PARSE_CHUNK: usize = 4096;

/// One client.keys line as loading needs it.
enum Parsed {
    /// An agent, with its line number.
    Agent(u32, OwnedRecord),
    /// A removed agent's ID, and its line unless purged.
    Removed(AgentId, Option<String>),
    /// An empty line (warned about).
    Empty(u32),
    /// A line that stops the start.
    Bad(u32, agentkeys::Error),
}

/// The lines of `data` as loading needs them (the caller stops at the first bad one).
fn parsed_lines(data: &[u8], purge: bool) -> impl Iterator<Item = Parsed> + '_ {
    parse_keys(data).filter_map(move |line| match line.line {
        Line::Agent(r) => Some(Parsed::Agent(line.number, OwnedRecord::from(&r))),
        Line::Removed(r) => Some(Parsed::Removed(r.id, (!purge).then(|| r.text.to_owned()))),
        Line::Comment => None,
        Line::Invalid(e) if e.kind() == ErrorKind::EmptyLine => Some(Parsed::Empty(line.number)),
        Line::Invalid(e) => Some(Parsed::Bad(line.number, e.without_line())),
    })
}

fn parse_timestamp_line(line: &[u8], reader: &mut crate::localtime::LocalTimeReader) -> Option<(AgentId, i64)> {
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.splitn(4, ' ');
    let id = AgentId::parse(parts.next()?.as_bytes()).ok()?;
    let (_name, _ip, when) = (parts.next()?, parts.next()?, parts.next()?);
    Some((id, reader.read(when)?))
}

enum StateLine<'a> {
    Comment,
    HighestId(u32),
    Groups(AgentId, &'a str),
    Reenroll(AgentId, super::ReenrollSecret),
}

fn parse_state_line(line: &[u8]) -> Option<StateLine<'_>> {
    let text = std::str::from_utf8(line).ok()?;
    if text.starts_with('#') {
        return Some(StateLine::Comment);
    }
    let (word, rest) = text.split_once(' ')?;
    match word {
        "highest_id" => rest.parse().ok().map(StateLine::HighestId),
        "groups" => {
            let (id, groups) = rest.split_once(' ')?;
            agentkeys::Groups::parse(groups.as_bytes()).ok()?;
            Some(StateLine::Groups(AgentId::parse(id.as_bytes()).ok()?, groups))
        }
        "reenroll" => {
            let (id, secret) = rest.split_once(' ')?;
            Some(StateLine::Reenroll(AgentId::parse(id.as_bytes()).ok()?, super::parse_secret_hex(secret)?))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home(name: &str) -> Home {
        let dir = std::env::temp_dir().join(format!("agentkeys-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let home = Home::new(dir);
        home.prepare().unwrap();
        home
    }

    #[test]
    fn a_big_file_is_loaded_in_order_and_its_first_bad_line_is_named() {
        let h = home("big");
        let line = |i: usize| format!("{i:03} agent-{i} any {}\n", "ab".repeat(32));
        let good: String = (1..=10_000).map(line).collect();
        std::fs::write(h.client_keys(), &good).unwrap();
        let store = FileStore::new(&h, Durability::Durable);
        let (index, warnings) = store.load_now(false).unwrap();
        assert_eq!((index.len(), index.highest_id()), (10_000, 10_000), "{warnings:?}");
        let names: Vec<&str> = index.agents().map(Agent::name).take(3).collect();
        assert_eq!(names, ["agent-1", "agent-2", "agent-3"], "file order");
        // Bad lines far into the file (a later chunk) and at its start: the first one is named,
        // and loading returns (no thread is left waiting).
        for bad_at in [9_000, 5_000, 2] {
            let mut lines: Vec<String> = (1..=10_000).map(line).collect();
            lines[bad_at - 1] = "not a line\n".to_owned();
            lines[bad_at + 100] = "also bad\n".to_owned();
            std::fs::write(h.client_keys(), lines.concat()).unwrap();
            let err = store.load_now(false).unwrap_err().to_string();
            assert!(err.contains(&format!("client.keys:{bad_at}:")), "{err}");
        }
    }

    #[test]
    fn loads_a_wazuh_file_and_refuses_bad_lines() {
        let home = home("load");
        std::fs::write(
            home.client_keys(),
            "001 a1 any k1\n002 !gone any k2\n1026 raw 10.0.0.0/24 k3\n005 v6 2001:0DB8:0000:000B:0000:0000:0000:001A k5\n",
        )
        .unwrap();
        let store = FileStore::new(&home, Durability::Durable);
        let (reg, warnings) = store.load_now(false).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!((reg.len(), reg.highest_id(), reg.removed_lines().len()), (3, 1026, 1));
        let (reg, _) = store.load_now(true).unwrap();
        assert!(reg.removed_lines().is_empty());

        std::fs::write(home.client_keys(), "001 a1 any k1\n002 bad 300.1.1.1 k2\n003 a3 any k3\n").unwrap();
        let err = store.load_now(false).unwrap_err().to_string();
        assert!(err.ends_with("client.keys:2: invalid agent address: expected 'any', or IPv4/IPv6 with an optional /prefix or /netmask (field ip, byte 8)"), "{err}");
    }

    #[test]
    fn a_torn_append_is_cut_off_but_a_valid_unterminated_line_is_kept() {
        let home = home("torn");
        let store = FileStore::new(&home, Durability::Durable);
        std::fs::write(home.client_keys(), "001 a1 any k1\n002 a2 an").unwrap();
        let (reg, warnings) = store.load_now(false).unwrap();
        assert_eq!(reg.len(), 1);
        assert!(warnings[0].contains("client.keys:2: cut off a partial last line"), "{warnings:?}");
        assert_eq!(std::fs::read_to_string(home.client_keys()).unwrap(), "001 a1 any k1\n");
        std::fs::write(home.client_keys(), "001 a1 any k1\n002 a2 any k2").unwrap();
        assert_eq!(store.load_now(false).unwrap().0.len(), 2);
    }

    #[test]
    fn state_and_timestamps_round_trip() {
        let home = home("state");
        let store = FileStore::new(&home, Durability::Durable);
        let mut reg = Index::default();
        reg.load(Agent {
            record: OwnedRecord::from(&agentkeys::Record::parse(b"007 a7 10.1.1.1/32 k7").unwrap()),
            groups: Some("default,web".into()),
            date_add: 1_700_000_000,
            reenroll: Some(Box::new([0xab; 32])),
        });
        reg.note_id(4242);
        store.rewrite(&render(&reg)).unwrap();
        let (back, warnings) = store.load_now(true).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(back.highest_id(), 4242);
        let agent = back.get(&AgentId::parse(b"007").unwrap()).unwrap();
        assert_eq!((agent.groups.as_deref(), agent.date_add), (Some("default,web"), 1_700_000_000));
        assert_eq!(agent.reenroll.as_deref(), Some(&[0xab; 32]));
        assert!(!std::fs::read_to_string(home.client_keys()).unwrap().contains("abab"));
        assert_eq!(std::fs::read_to_string(home.client_keys()).unwrap(), "007 a7 10.1.1.1 k7\n");
        let mode = std::fs::metadata(home.client_keys()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }
}
