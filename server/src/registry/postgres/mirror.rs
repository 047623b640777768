//! This server's own client.keys, kept equal to the shared registry for the remoted beside it.
//!
//! Lines are ordered by their registry position, so every server writes the same file. New agents
//! at the end are appended; anything else replaces the file atomically (temporary, rename). The
//! registry is the durable copy: the file is not fsynced, and it is written whole at every start.

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::atomic::{self, FileError};
use crate::home::SECRET_MODE;

/// One registry row as the file shows it.
#[derive(Debug)]
pub struct MirrorLine {
    /// The agent's ID (as written).
    pub id: Box<str>,
    /// Its place in the file.
    pub position: i64,
    /// Its line without the newline (`ID NAME IP KEY` or the `!` line); None: purged.
    pub line: Option<Box<str>>,
}

/// The local client.keys and the lines it holds.
#[derive(Debug)]
pub struct Mirror {
    /// client.keys (a symbolic link resolved to its target).
    path: PathBuf,
    lines: BTreeMap<i64, Box<str>>,
    position_of: HashMap<Box<str>, i64>,
}

impl Mirror {
    /// An empty mirror of `path`.
    pub fn new(path: PathBuf) -> Mirror {
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        Mirror { path, lines: BTreeMap::new(), position_of: HashMap::new() }
    }

    /// Forgets every line (before a whole registry is read again).
    pub fn clear(&mut self) {
        self.lines.clear();
        self.position_of.clear();
    }

    /// Takes changed rows; returns what to write (None: nothing changed).
    pub fn update(&mut self, rows: impl IntoIterator<Item = MirrorLine>) -> Option<MirrorWrite> {
        let end = self.lines.last_key_value().map(|(&p, _)| p);
        let mut appended = String::new();
        let mut only_appends = true;
        let mut changed = false;
        let mut last = end;
        for row in rows {
            let before = self.position_of.get(&row.id).copied();
            let old = before.and_then(|p| self.lines.get(&p));
            if old.map(|l| &**l) == row.line.as_deref() && before == Some(row.position) {
                continue;
            }
            changed = true;
            if let Some(p) = before {
                self.lines.remove(&p);
                self.position_of.remove(&row.id);
                only_appends = false;
            }
            if let Some(line) = row.line {
                if last.is_some_and(|e| row.position <= e) || before.is_some() {
                    only_appends = false;
                }
                last = Some(row.position);
                if only_appends {
                    appended.push_str(&line);
                    appended.push('\n');
                }
                self.lines.insert(row.position, line);
                self.position_of.insert(row.id, row.position);
            }
        }
        if !changed {
            return None;
        }
        Some(if only_appends && end.is_some() {
            MirrorWrite { path: self.path.clone(), bytes: appended.into_bytes(), append: true }
        } else {
            MirrorWrite { path: self.path.clone(), bytes: self.render(), append: false }
        })
    }

    /// The whole file, for a rewrite.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.lines.len() * 80);
        for line in self.lines.values() {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out
    }

    /// A whole rewrite of the file.
    pub fn rewrite(&self) -> MirrorWrite {
        MirrorWrite { path: self.path.clone(), bytes: self.render(), append: false }
    }
}

/// Bytes to append to client.keys, or its whole new contents.
#[derive(Debug)]
pub struct MirrorWrite {
    path: PathBuf,
    bytes: Vec<u8>,
    append: bool,
}

impl MirrorWrite {
    /// Writes it (blocking).
    ///
    /// # Errors
    /// I/O errors, naming the file.
    pub fn write(&self) -> Result<(), FileError> {
        if self.append {
            let mut file = OpenOptions::new()
                .append(true)
                .mode(SECRET_MODE)
                .open(&self.path)
                .map_err(|e| FileError::new(&self.path, "cannot append", e))?;
            file.write_all(&self.bytes).map_err(|e| FileError::new(&self.path, "cannot append", e))
        } else {
            let tmp = atomic::write_temporary(&self.path, &self.bytes, SECRET_MODE, false)?;
            atomic::commit(&tmp, &self.path)
        }
    }
}
