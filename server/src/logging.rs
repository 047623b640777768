//! Where logs go and how they look: text (the default) or JSON lines (`--log-format json`), on
//! stderr or in a file (`--log-file`, reopened on SIGHUP so logrotate can move it). Under systemd
//! (`JOURNAL_STREAM` set) text lines carry no timestamp of their own: the journal adds one.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use crate::log_sink::{LogSink, SinkWriter};

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (timestamp, level, fields, message).
    Json,
}

/// Where lines go, and the log file's path when there is one (for [`reopen`]).
static SINK: OnceLock<(LogSink, Option<PathBuf>)> = OnceLock::new();

fn open(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o640).open(path)
}

/// Reopens the log file (after logrotate moved it); nothing without `--log-file`.
pub fn reopen() {
    if let Some((sink, Some(path))) = SINK.get() {
        match open(path) {
            Ok(fresh) => sink.replace(Box::new(fresh)),
            Err(e) => tracing::error!("cannot reopen the log file {}: {e}", path.display()),
        }
    }
}

/// Writes every log line still waiting (see [`crate::log_sink`]); before the process exits.
pub fn flush() {
    if let Some((sink, _)) = SINK.get() {
        sink.flush();
    }
}

/// Installs the global subscriber. With `coalesce` (the server), the lines of a busy moment are
/// written together (see [`crate::log_sink`]); tools write each line at once.
///
/// # Errors
/// The log file cannot be opened.
pub fn init(level: tracing::Level, format: Format, file: Option<PathBuf>, coalesce: bool) -> Result<(), String> {
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt().with_max_level(level).with_target(false);
    let (out, ansi): (Box<dyn std::io::Write + Send>, bool) = match &file {
        Some(path) => (Box::new(open(path).map_err(|e| format!("--log-file {}: {e}", path.display()))?), false),
        None => (Box::new(std::io::stderr()), std::io::IsTerminal::is_terminal(&std::io::stderr())),
    };
    let sink = LogSink::new(out, coalesce);
    let _ = SINK.set((sink.clone(), file.clone()));
    let writer = SinkWriter(sink);
    match format {
        Format::Json => builder.json().with_writer(writer).init(),
        // Under systemd the journal stamps each line.
        Format::Text if journal && file.is_none() => builder.without_time().with_ansi(false).with_writer(writer).init(),
        Format::Text => builder.with_ansi(ansi).with_writer(writer).init(),
    }
    Ok(())
}
