//! Replacing a file so that a crash or a full disk leaves either the old file or the new one,
//! never a mix: write a temporary beside it, sync it, rename it over the old one, sync the
//! directory. The one implementation of that procedure; the store also uses its two halves to
//! replace several files together.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes `contents` to a temporary file beside `path` with `mode`, synced when `sync`; on failure
/// the temporary is removed. Returns the temporary's path, for [`commit`].
///
/// # Errors
/// I/O errors, naming `path`.
pub fn write_temporary(path: &Path, contents: &[u8], mode: u32, sync: bool) -> Result<PathBuf, String> {
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
            Err(format!("{}: cannot write: {e}", path.display()))
        }
    }
}

/// Renames the temporary `tmp` over `path` (removing `tmp` if that fails).
///
/// # Errors
/// I/O errors, naming `path`.
pub fn commit(tmp: &Path, path: &Path) -> Result<(), String> {
    std::fs::rename(tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(tmp);
        format!("{}: cannot write: {e}", path.display())
    })
}

/// Syncs the directory holding `path`, so a rename into it is durable.
///
/// # Errors
/// I/O errors, naming the directory.
pub fn sync_dir(path: &Path) -> Result<(), String> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| format!("{}: cannot sync: {e}", dir.display()))
}

/// Replaces `path` with `contents` (mode `mode`) durably: temporary, sync, rename, directory sync.
/// On failure the old file, if any, is untouched and no temporary is left.
///
/// # Errors
/// I/O errors, naming `path`.
pub fn replace_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), String> {
    let tmp = write_temporary(path, contents, mode, true)?;
    commit(&tmp, path)?;
    sync_dir(path)
}
