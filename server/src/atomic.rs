//! Replacing a file so that a crash or a full disk leaves either the old file or the new one,
//! never a mix: write a temporary beside it, sync it, rename it over the old one, sync the
//! directory. The one implementation of that procedure; the store also uses its two halves to
//! replace several files together.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A file operation that failed: which file, what was being done, and the OS error.
#[derive(Debug)]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// What was being done (`"cannot write"`, `"cannot append"`, …).
    pub action: &'static str,
    /// The OS error.
    pub source: std::io::Error,
}

impl FileError {
    /// A failure to `action` on `path`.
    pub fn new(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> FileError {
        FileError { path: path.into(), action, source }
    }

    /// The error kind of the OS error (`StorageFull` for a full disk).
    #[allow(dead_code, reason = "for callers that treat a full disk apart")]
    pub fn kind(&self) -> std::io::ErrorKind {
        self.source.kind()
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.path.display(), self.action, self.source)
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl From<FileError> for String {
    fn from(e: FileError) -> String {
        e.to_string()
    }
}

/// Writes `contents` to a temporary file beside `path` with `mode`, synced when `sync`; on failure
/// the temporary is removed. Returns the temporary's path, for [`commit`].
///
/// # Errors
/// I/O errors, naming `path`.
pub fn write_temporary(path: &Path, contents: &[u8], mode: u32, sync: bool) -> Result<PathBuf, FileError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.agentkeys-tmp"));
    let written = (|| {
        let mut file = OpenOptions::new().create(true).truncate(true).write(true).mode(mode).open(&tmp)?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        if sync {
            file.sync_all()?;
        }
        Ok::<_, std::io::Error>(())
    })();
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(FileError::new(path, "cannot write", e))
        }
    }
}

/// Renames the temporary `tmp` over `path` (removing `tmp` if that fails).
///
/// # Errors
/// I/O errors, naming `path`.
pub fn commit(tmp: &Path, path: &Path) -> Result<(), FileError> {
    std::fs::rename(tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(tmp);
        FileError::new(path, "cannot write", e)
    })
}

/// Syncs the directory holding `path`, so a rename into it is durable.
///
/// # Errors
/// I/O errors, naming the directory.
pub fn sync_dir(path: &Path) -> Result<(), FileError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| FileError::new(dir, "cannot sync", e))
}

/// Replaces `path` with `contents` (mode `mode`) durably: temporary, sync, rename, directory sync.
/// On failure the old file, if any, is untouched and no temporary is left.
///
/// # Errors
/// I/O errors, naming `path`.
pub fn replace_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), FileError> {
    let tmp = write_temporary(path, contents, mode, true)?;
    commit(&tmp, path)?;
    sync_dir(path)
}
