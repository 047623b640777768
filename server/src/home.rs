//! The installation directory, laid out as Wazuh's (`/var/ossec`), and what lives in it.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use agentkeys::{ErrorKind, Groups, RequestError};

use crate::atomic::FileError;
use crate::config::Config;

/// Mode of files agentkeys creates that hold secrets or keys (upstream: 0640 root:wazuh).
pub const SECRET_MODE: u32 = 0o640;

/// Paths of a home directory.
#[derive(Clone, Debug)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// A home rooted at `root` (not created yet).
    pub fn new(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path relative to the home (absolute paths are kept).
    pub fn join(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.root.join(relative)
    }

    /// `etc/client.keys`.
    pub fn client_keys(&self) -> PathBuf {
        self.join("etc/client.keys")
    }

    /// `queue/agents-timestamp`.
    pub fn timestamps(&self) -> PathBuf {
        self.join("queue/agents-timestamp")
    }

    /// `etc/enrollment_tokens.json`: enrollment tokens, in upstream's shape (mode 0640).
    pub fn enrollment_tokens(&self) -> PathBuf {
        self.join("etc/enrollment_tokens.json")
    }

    /// `etc/agentkeys.state`: ours (highest ID ever issued, groups and re-enrollment secrets per
    /// agent).
    pub fn state(&self) -> PathBuf {
        self.join("etc/agentkeys.state")
    }

    /// `etc/authd.pass`.
    pub fn password_file(&self) -> PathBuf {
        self.join("etc/authd.pass")
    }

    /// `etc/shared/<group>`: a group exists when this directory does.
    pub fn group_dir(&self, group: &str) -> PathBuf {
        self.join("etc/shared").join(group)
    }

    /// Applies the manager's rules to requested `groups` (the core rules, and each group must exist
    /// here) and returns them de-duplicated, in request order, as they are stored.
    ///
    /// # Errors
    /// The first rule broken, naming the offending group.
    pub fn check_groups<'a>(&self, groups: Groups<'a>) -> Result<String, RequestError<'a>> {
        groups.check_manager_rules(|group| {
            if self.group_dir(group).is_dir() {
                Ok(())
            } else {
                Err(RequestError::new(ErrorKind::UnknownGroup, group.as_bytes()))
            }
        })?;
        let mut buf = vec![0u8; groups.as_str().len()];
        groups.dedup_into(&mut buf).map(str::to_owned)
    }

    /// Creates the directories of the Wazuh layout that agentkeys uses, an empty `client.keys`
    /// (0640) and the `default` group, leaving whatever exists alone.
    ///
    /// # Errors
    /// I/O errors, with the path.
    pub fn prepare(&self) -> Result<(), FileError> {
        for dir in ["etc/shared/default", "queue/sockets", "queue/db", "logs"] {
            let path = self.join(dir);
            std::fs::create_dir_all(&path).map_err(|e| FileError::new(&path, "cannot create", e))?;
        }
        let keys = self.client_keys();
        // A symbolic link (even a dangling one) is the store's to judge, not replaced here.
        let is_link = std::fs::symlink_metadata(&keys).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link && !keys.exists() {
            std::fs::OpenOptions::new()
                .create_new(true)
                .write(true)
                .mode(SECRET_MODE)
                .open(&keys)
                .map_err(|e| FileError::new(&keys, "cannot create", e))?;
        }
        Ok(())
    }
}

/// The manager's host name (agents may not register under it): `server.hostname`, else the
/// kernel's, else `localhost` (as upstream falls back).
pub fn hostname(config: &Config) -> String {
    if let Some(name) = &config.server.hostname {
        return name.clone();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Loads or creates the enrollment password (`use_password`, DESIGN §7.5).
///
/// An existing `etc/authd.pass` must hold a password of at least 3 characters on its first line
/// that is not only white space (upstream silently runs without a password for 1–2 byte files).
/// A trailing `\r\n` or `\n` is removed. A missing file gets a random 32-hex password, written
/// with mode 0640 and never logged.
///
/// # Errors
/// A bad or unreadable file.
pub fn load_or_create_password(path: &Path) -> Result<(Vec<u8>, bool), String> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let first = bytes.split(|&b| b == b'\n').next().unwrap_or(b"");
            let first = first.strip_suffix(b"\r").unwrap_or(first);
            if first.len() < 3 || first.iter().all(u8::is_ascii_whitespace) {
                return Err(format!(
                    "{}: the password must be at least 3 characters on the first line and not only white space",
                    path.display()
                ));
            }
            Ok((first.to_vec(), false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = agentkeys::GeneratedKey::from_os().map_err(|e| format!("no entropy for a password: {e}"))?;
            let password = key.as_str().as_bytes()[..32].to_vec();
            let mut contents = password.clone();
            contents.push(b'\n');
            crate::atomic::replace_file(path, &contents, SECRET_MODE)?;
            Ok((password, true))
        }
        Err(e) => Err(format!("{}: cannot read: {e}", path.display())),
    }
}

/// An exclusive lock on the home (`etc/agentkeys.lock`), held by a running server for its whole
/// life and by `agentkeys agents` while it edits the files offline, so the two never write at once.
pub type HomeLock = nix::fcntl::Flock<std::fs::File>;

/// Takes the home's lock without waiting.
///
/// # Errors
/// Another agentkeys process holds it, or the file cannot be opened.
pub fn lock(home: &Home) -> Result<HomeLock, LockError> {
    let path = home.join("etc/agentkeys.lock");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| FileError::new(dir, "cannot create", e))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o640)
        .open(&path)
        .map_err(|e| FileError::new(&path, "cannot open", e))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, source)| LockError::Busy {
        home: home.root().to_owned(),
        path,
        source,
    })
}

/// Why the home's lock cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The lock file cannot be created or opened.
    #[error(transparent)]
    File(#[from] FileError),
    /// Another agentkeys process (a server, or `agents` editing offline) holds it.
    #[error("another agentkeys process is using {} ({}: {source})", home.display(), path.display())]
    Busy {
        /// The home.
        home: PathBuf,
        /// The lock file.
        path: PathBuf,
        /// The lock's error.
        source: nix::Error,
    },
}

impl From<LockError> for String {
    fn from(e: LockError) -> String {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("agentkeys-home-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn password_rules() {
        let dir = tmp("pw");
        let path = dir.join("authd.pass");
        for bad in [&b""[..], b"a", b"ab\n", b"   \n", b"\t\t\t"] {
            std::fs::write(&path, bad).unwrap();
            assert!(load_or_create_password(&path).is_err(), "{bad:?}");
        }
        std::fs::write(&path, b"top secret\r\nsecond line\n").unwrap();
        assert_eq!(load_or_create_password(&path).unwrap(), (b"top secret".to_vec(), false));
        std::fs::remove_file(&path).unwrap();
        let (generated, created) = load_or_create_password(&path).unwrap();
        assert!(created && generated.len() == 32);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        assert_eq!(load_or_create_password(&path).unwrap(), (generated, false));
    }

    #[test]
    fn new_file_replaces_or_leaves_nothing_behind() {
        let dir = tmp("write");
        let path = dir.join("client.keys");
        crate::atomic::replace_file(&path, b"old\n", 0o640).unwrap();
        crate::atomic::replace_file(&path, b"new\n", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new\n");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        // A destination that cannot be replaced (a non-empty directory): the error names it and
        // the temporary file is gone.
        let blocked = dir.join("blocked");
        std::fs::create_dir_all(blocked.join("inside")).unwrap();
        let e = crate::atomic::replace_file(&blocked, b"x", 0o640).unwrap_err().to_string();
        assert!(e.contains("blocked: cannot write"), "{e}");
        assert!(blocked.join("inside").is_dir());
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }

    #[test]
    fn certificate_is_written() {
        let dir = tmp("cert");
        crate::certs::self_signed(
            &dir.join("etc/sslmanager.cert"),
            &dir.join("etc/sslmanager.key"),
            &["manager".into()],
        )
        .unwrap();
        let cert = std::fs::read_to_string(dir.join("etc/sslmanager.cert")).unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        let mode = std::fs::metadata(dir.join("etc/sslmanager.key")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }
}
