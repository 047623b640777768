//! Where logs go and how they look: text (the default) or JSON lines (`--log-format json`), on
//! stderr or in a file (`--log-file`, reopened on SIGHUP so logrotate can move it). Under systemd
//! (`JOURNAL_STREAM` set) text lines carry no timestamp of their own: the journal adds one.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (timestamp, level, fields, message).
    Json,
}

/// The log file, shared by every writer and replaced by [`reopen`].
static FILE: OnceLock<(PathBuf, Arc<Mutex<File>>)> = OnceLock::new();

fn open(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o640).open(path)
}

/// Reopens the log file (after logrotate moved it); nothing without `--log-file`.
pub fn reopen() {
    if let Some((path, file)) = FILE.get() {
        match open(path) {
            Ok(fresh) => {
                if let Ok(mut current) = file.lock() {
                    *current = fresh;
                }
            }
            Err(e) => tracing::error!("cannot reopen the log file {}: {e}", path.display()),
        }
    }
}

/// Writes to the current log file.
#[derive(Clone, Debug)]
struct FileWriter(Arc<Mutex<File>>);

impl Write for FileWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("log file lock poisoned"))?.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().map_err(|_| std::io::Error::other("log file lock poisoned"))?.flush()
    }
}

impl<'a> MakeWriter<'a> for FileWriter {
    type Writer = FileWriter;

    fn make_writer(&'a self) -> FileWriter {
        self.clone()
    }
}

/// Installs the global subscriber.
///
/// # Errors
/// The log file cannot be opened.
pub fn init(level: tracing::Level, format: Format, file: Option<PathBuf>) -> Result<(), String> {
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt().with_max_level(level).with_target(false);
    match file {
        Some(path) => {
            let opened = open(&path).map_err(|e| format!("--log-file {}: {e}", path.display()))?;
            let shared = Arc::new(Mutex::new(opened));
            let _ = FILE.set((path, Arc::clone(&shared)));
            let writer = FileWriter(shared);
            match format {
                Format::Json => builder.json().with_writer(writer).init(),
                Format::Text => builder.with_ansi(false).with_writer(writer).init(),
            }
        }
        None => match format {
            Format::Json => builder.json().with_writer(std::io::stderr).init(),
            Format::Text if journal => builder.without_time().with_ansi(false).with_writer(std::io::stderr).init(),
            Format::Text => {
                let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
                builder.with_ansi(ansi).with_writer(std::io::stderr).init();
            }
        },
    }
    Ok(())
}
