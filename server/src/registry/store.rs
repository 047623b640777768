//! The file store: `etc/client.keys` (upstream layout), `queue/agents-timestamp`, and our
//! `etc/agentkeys.state` (highest ID ever issued, groups per agent).
//!
//! A batch that only adds agents is **appended** to the three files (O(batch), not O(agents)); a
//! batch that removes or replaces agents, or any batch while removed agents' `!` lines are kept
//! (`purge = no`; they must stay last, as upstream writes them), **rewrites** them (temporary file, fsync, rename, fsync of
//! the directory). Appends go state first, then client.keys, then timestamps, so a crash between
//! them never reuses an ID. A crash inside an append can leave a partial last line that was never
//! acknowledged; loading recognises it (unterminated and invalid), logs it and cuts it off.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use agentkeys::{AgentId, ErrorKind, Line, parse_keys};
use chrono::{Local, NaiveDateTime, TimeZone};

use super::{Agent, Duplicate, Registry};
use crate::config::Durability;
use crate::home::{Home, SECRET_MODE};

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

/// Where and how the registry is written.
#[derive(Clone, Debug)]
pub struct Store {
    keys: PathBuf,
    timestamps: PathBuf,
    state: PathBuf,
    durability: Durability,
}

/// `YYYY-MM-DD HH:MM:SS` in local time, as agents-timestamp holds it.
pub fn format_local_time(epoch: i64) -> String {
    match Local.timestamp_opt(epoch, 0).earliest() {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => "1970-01-01 00:00:00".to_owned(),
    }
}

fn parse_local_time(text: &str) -> Option<i64> {
    let naive = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    Local.from_local_datetime(&naive).earliest().map(|t| t.timestamp())
}

impl Store {
    /// The store of `home`.
    pub fn new(home: &Home, durability: Durability) -> Store {
        Store { keys: home.client_keys(), timestamps: home.timestamps(), state: home.state(), durability }
    }

    /// Reads the three files into a registry. `purge` drops removed agents' lines (their IDs still
    /// count for the highest ID). Returns warnings worded for the log.
    ///
    /// # Errors
    /// `client.keys:<line>: <reason>` for a bad line (DESIGN §7.2: never start on a file that
    /// would lose or misread agents), or an I/O error.
    pub fn load(&self, purge: bool) -> Result<(Registry, Vec<String>), String> {
        let mut warnings = Vec::new();
        let mut registry = Registry::default();
        let data =
            read_recovering(&self.keys, &mut warnings, |line| matches!(agentkeys::parse_line(line), Line::Invalid(_)))?;
        let name = self.keys.display();
        registry.reserve(data.iter().filter(|&&b| b == b'\n').count() + 1);
        for line in parse_keys(&data) {
            match line.line {
                Line::Agent(r) => {
                    let agent = Agent {
                        id: r.id,
                        name: r.name.as_str().into(),
                        addr: r.addr,
                        key: r.key.as_str().into(),
                        groups: None,
                        date_add: 0,
                    };
                    match registry.load(agent) {
                        Some(Duplicate::Id) => {
                            warnings.push(format!(
                                "{name}:{}: duplicate ID {}: only the first agent with it is used",
                                line.number, r.id
                            ));
                        }
                        Some(Duplicate::Name) => warnings.push(format!(
                            "{name}:{}: duplicate name {}: only the first agent with it is used",
                            line.number,
                            r.name.as_str()
                        )),
                        None => {}
                    }
                }
                Line::Removed(r) => {
                    registry.note_id(r.id.value());
                    if !purge {
                        registry.keep_removed_line(r.text.to_owned());
                    }
                }
                Line::Comment => {}
                Line::Invalid(e) if e.kind() == ErrorKind::EmptyLine => {
                    warnings.push(format!("{name}:{}: empty line ignored", line.number));
                }
                Line::Invalid(e) => {
                    return Err(format!("{name}:{}: {}", line.number, e.without_line()));
                }
            }
        }
        self.load_timestamps(&mut registry, &mut warnings)?;
        self.load_state(&mut registry, &mut warnings)?;
        Ok((registry, warnings))
    }

    fn load_timestamps(&self, registry: &mut Registry, warnings: &mut Vec<String>) -> Result<(), String> {
        let data = read_recovering(&self.timestamps, warnings, |line| parse_timestamp_line(line).is_none())?;
        for (i, line) in data.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            match parse_timestamp_line(line) {
                Some((id, epoch)) => registry.set_date_add(&id, epoch),
                None => warnings.push(format!("{}:{}: unreadable line ignored", self.timestamps.display(), i + 1)),
            }
        }
        Ok(())
    }

    fn load_state(&self, registry: &mut Registry, warnings: &mut Vec<String>) -> Result<(), String> {
        let data = read_recovering(&self.state, warnings, |line| parse_state_line(line).is_none())?;
        for (i, line) in data.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            match parse_state_line(line) {
                Some(StateLine::Comment) => {}
                Some(StateLine::HighestId(n)) => registry.note_id(n),
                Some(StateLine::Groups(id, groups)) => registry.set_groups(&id, groups.into()),
                None => return Err(format!("{}:{}: unreadable line", self.state.display(), i + 1)),
            }
        }
        Ok(())
    }

    /// Appends `add` to the three files (state, client.keys, timestamps), fsyncing each unless
    /// durability is `fast`.
    ///
    /// # Errors
    /// I/O errors, with the path.
    pub fn append(&self, add: &Contents) -> Result<(), String> {
        for (path, bytes, mode) in [
            (&self.state, &add.state, 0o640),
            (&self.keys, &add.keys, SECRET_MODE),
            (&self.timestamps, &add.timestamps, 0o640),
        ] {
            if bytes.is_empty() {
                continue;
            }
            let fail = |e: std::io::Error| format!("{}: cannot append: {e}", path.display());
            let mut file = OpenOptions::new().create(true).append(true).mode(mode).open(path).map_err(fail)?;
            file.write_all(bytes).map_err(fail)?;
            if self.durability == Durability::Durable {
                file.sync_data().map_err(fail)?;
            }
        }
        Ok(())
    }

    /// Replaces the three files with `all`, each through a temporary file and a rename; the mode
    /// of an existing client.keys is kept (a new one gets 0640).
    ///
    /// # Errors
    /// I/O errors, with the path.
    pub fn rewrite(&self, all: &Contents) -> Result<(), String> {
        replace_file(&self.state, &all.state, 0o640, self.durability)?;
        let keys_mode = std::fs::metadata(&self.keys).map(|m| m.permissions().mode() & 0o7777).unwrap_or(SECRET_MODE);
        replace_file(&self.keys, &all.keys, keys_mode, self.durability)?;
        replace_file(&self.timestamps, &all.timestamps, 0o640, self.durability)
    }
}

/// Reads `path` (missing = empty). If its last line has no `\n` and `is_bad` says it cannot be
/// read, it is the remains of an interrupted append: cut it off, in the file too, and warn.
fn read_recovering(path: &Path, warnings: &mut Vec<String>, is_bad: impl Fn(&[u8]) -> bool) -> Result<Vec<u8>, String> {
    let mut data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
    };
    if data.is_empty() || data.ends_with(b"\n") {
        return Ok(data);
    }
    let start = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if is_bad(&data[start..]) {
        let lines = data[..start].iter().filter(|&&b| b == b'\n').count() + 1;
        warnings.push(format!(
            "{}:{lines}: cut off a partial last line left by an interrupted write ({} bytes, never acknowledged)",
            path.display(),
            data.len() - start
        ));
        let file =
            OpenOptions::new().write(true).open(path).map_err(|e| format!("{}: cannot repair: {e}", path.display()))?;
        file.set_len(start as u64).map_err(|e| format!("{}: cannot repair: {e}", path.display()))?;
        file.sync_all().map_err(|e| format!("{}: cannot repair: {e}", path.display()))?;
        data.truncate(start);
    }
    Ok(data)
}

fn parse_timestamp_line(line: &[u8]) -> Option<(AgentId, i64)> {
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.splitn(4, ' ');
    let id = AgentId::parse(parts.next()?.as_bytes()).ok()?;
    let (_name, _ip, when) = (parts.next()?, parts.next()?, parts.next()?);
    Some((id, parse_local_time(when)?))
}

enum StateLine<'a> {
    Comment,
    HighestId(u32),
    Groups(AgentId, &'a str),
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
        _ => None,
    }
}

fn replace_file(path: &Path, contents: &[u8], mode: u32, durability: Durability) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.agentkeys-tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("file")));
    let fail = |e: std::io::Error| format!("{}: cannot write: {e}", path.display());
    let mut file = OpenOptions::new().create(true).truncate(true).write(true).mode(mode).open(&tmp).map_err(fail)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(fail)?;
    file.write_all(contents).map_err(fail)?;
    if durability == Durability::Durable {
        file.sync_all().map_err(fail)?;
    }
    drop(file);
    std::fs::rename(&tmp, path).map_err(fail)?;
    if durability == Durability::Durable {
        File::open(dir).and_then(|d| d.sync_all()).map_err(fail)?;
    }
    Ok(())
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
    fn loads_a_wazuh_file_and_refuses_bad_lines() {
        let home = home("load");
        std::fs::write(
            home.client_keys(),
            "001 a1 any k1\n002 !gone any k2\n1026 raw 10.0.0.0/24 k3\n005 v6 2001:0DB8:0000:000B:0000:0000:0000:001A k5\n",
        )
        .unwrap();
        let store = Store::new(&home, Durability::Durable);
        let (reg, warnings) = store.load(false).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!((reg.len(), reg.highest_id(), reg.removed_lines().len()), (3, 1026, 1));
        let (reg, _) = store.load(true).unwrap();
        assert!(reg.removed_lines().is_empty());

        std::fs::write(home.client_keys(), "001 a1 any k1\n002 bad 300.1.1.1 k2\n003 a3 any k3\n").unwrap();
        let err = store.load(false).unwrap_err();
        assert!(err.ends_with("client.keys:2: invalid agent address: expected 'any', or IPv4/IPv6 with an optional /prefix or /netmask (field ip, byte 8)"), "{err}");
    }

    #[test]
    fn a_torn_append_is_cut_off_but_a_valid_unterminated_line_is_kept() {
        let home = home("torn");
        let store = Store::new(&home, Durability::Durable);
        std::fs::write(home.client_keys(), "001 a1 any k1\n002 a2 an").unwrap();
        let (reg, warnings) = store.load(false).unwrap();
        assert_eq!(reg.len(), 1);
        assert!(warnings[0].contains("client.keys:2: cut off a partial last line"), "{warnings:?}");
        assert_eq!(std::fs::read_to_string(home.client_keys()).unwrap(), "001 a1 any k1\n");
        std::fs::write(home.client_keys(), "001 a1 any k1\n002 a2 any k2").unwrap();
        assert_eq!(store.load(false).unwrap().0.len(), 2);
    }

    #[test]
    fn state_and_timestamps_round_trip() {
        let home = home("state");
        let store = Store::new(&home, Durability::Durable);
        let mut reg = Registry::default();
        reg.load(Agent {
            id: AgentId::parse(b"007").unwrap(),
            name: "a7".into(),
            addr: agentkeys::AgentAddr::new("10.1.1.1/32").unwrap(),
            key: "k7".into(),
            groups: Some("default,web".into()),
            date_add: 1_700_000_000,
        });
        reg.note_id(4242);
        store.rewrite(&reg.render()).unwrap();
        let (back, warnings) = store.load(true).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(back.highest_id(), 4242);
        let agent = back.get(&AgentId::parse(b"007").unwrap()).unwrap();
        assert_eq!((agent.groups.as_deref(), agent.date_add), (Some("default,web"), 1_700_000_000));
        assert_eq!(std::fs::read_to_string(home.client_keys()).unwrap(), "007 a7 10.1.1.1 k7\n");
        let mode = std::fs::metadata(home.client_keys()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }
}
