//! Why the registry could not be read or written, typed so callers can tell a full disk from a
//! bad line (and a future database store can add its own cases).

use std::path::PathBuf;

use crate::atomic::FileError;

/// A store failure, worded for the operator by `Display`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read, written, synced or replaced.
    #[error(transparent)]
    File(#[from] FileError),
    /// A client.keys line that would lose or misread agents: the start is refused.
    #[error("{}:{line}: {error}", path.display())]
    BadLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u32,
        /// What is wrong with it (without its line number).
        error: agentkeys::Error,
    },
    /// A line of one of our own files (state) that cannot be read.
    #[error("{}:{line}: unreadable line", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// The enrollment token file cannot be read.
    #[error("{}: {source}", path.display())]
    Tokens {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: crate::tokens::TokenFileError,
    },
    /// client.keys is a symbolic link whose target cannot be opened.
    #[error("{}: a symbolic link whose target cannot be opened ({source}); fix or remove the link", path.display())]
    DanglingLink {
        /// The link.
        path: PathBuf,
        /// Why its target cannot be opened.
        source: std::io::Error,
    },
    /// An earlier failed write is not cut off yet: writes are refused until it is.
    #[error("{}: a failed write is not cut off yet ({source}); refusing to write", path.display())]
    PendingRepair {
        /// The file.
        path: PathBuf,
        /// Why the cut-back failed again.
        source: std::io::Error,
    },
    /// The shared registry (PostgreSQL) cannot be reached or refused the batch; nothing of it was
    /// committed.
    #[error("registry database: {0}")]
    Unavailable(String),
    /// The shared registry holds something this server cannot read.
    #[error("registry database: {0}")]
    Database(String),
    /// The writer task itself failed (a bug).
    #[error("writer task failed: {0}")]
    Writer(String),
}

impl From<StoreError> for String {
    /// The operator's wording, for the command-line edges that report errors as text.
    fn from(e: StoreError) -> String {
        e.to_string()
    }
}
