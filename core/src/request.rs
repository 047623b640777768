//! The port-1515 registration request: parsing as a manager does (SPEC 3.3) and formatting as an
//! agent does (SPEC 6.3).

use core::cmp::Ordering;
use core::net::IpAddr;

use crate::addr::AgentAddr;
use crate::error::{Error, ErrorKind, Field, RequestError};
use crate::groups::Groups;
use crate::key::ct_eq;
use crate::name::AgentName;
use crate::out::SliceWriter;

const PASS_PREFIX: &[u8] = b"OSSEC PASS: ";
const NAME_PREFIX: &[u8] = b"OSSEC A:'";
const V_PREFIX: &[u8] = b" V:'";
const G_PREFIX: &[u8] = b" G:'";
const IP_PREFIX: &[u8] = b" IP:'";
const K_PREFIX: &[u8] = b" K:'";

/// Longest `V:` value the manager reads.
const MAX_VERSION_FIELD: usize = 2048;
/// Longest `G:` value the manager reads.
const MAX_GROUPS_FIELD: usize = 65536;
/// Longest `IP:` value the manager reads (`INET6_ADDRSTRLEN`).
const MAX_IP_FIELD: usize = 46;
/// Longest `K:` value the manager reads.
const MAX_KEY_HASH_FIELD: usize = 40;
/// Longest version an agent sends (31 bytes including ` V:''`).
pub const MAX_AGENT_VERSION_LEN: usize = 26;

/// What the agent said about its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpField {
    /// No `IP:` field: the manager uses `any`, or the source address with `use_source_ip`.
    Absent,
    /// `IP:'src'`: use the connection's source address.
    Source,
    /// `IP:'<addr>'`, validated and normalised.
    Addr(AgentAddr),
}

/// A version as the manager compares it: major and minor only (SPEC 3.3 rule 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
}

impl Version {
    /// The newest Wazuh release agentkeys is compatible with, used as the default manager version.
    pub const DEFAULT_MANAGER: &'static str = "v4.14.7";

    /// Reads a version the way upstream does: at most 9 bytes, an optional leading `v`, fields
    /// split on `.`, each read like C `atoi` (garbage reads as 0). Never fails: `""` is 0.0.
    ///
    /// ```
    /// use agentkeys::Version;
    /// assert_eq!(Version::parse_lenient(b"v4.14.7"), Version { major: 4, minor: 14 });
    /// assert_eq!(Version::parse_lenient(b""), Version { major: 0, minor: 0 });
    /// ```
    #[must_use]
    pub fn parse_lenient(bytes: &[u8]) -> Version {
        let cut = &bytes[..bytes.len().min(9)];
        let cut = cut.strip_prefix(b"v").unwrap_or(cut);
        let mut fields = cut.split(|&b| b == b'.');
        let major = atoi(fields.next().unwrap_or(b""));
        let minor = atoi(fields.next().unwrap_or(b""));
        Version { major, minor }
    }
}

/// C `atoi`: leading white space, optional sign, digits; stops at the first other byte.
fn atoi(bytes: &[u8]) -> i64 {
    let mut rest = bytes;
    while let [b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c', tail @ ..] = rest {
        rest = tail;
    }
    let negative = matches!(rest.first(), Some(b'-'));
    if matches!(rest.first(), Some(b'-' | b'+')) {
        rest = &rest[1..];
    }
    let mut v: i64 = 0;
    for &b in rest {
        if !b.is_ascii_digit() {
            break;
        }
        v = v.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if negative { -v } else { v }
}

/// The manager-side settings a request is checked against.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestOptions<'p> {
    /// The enrollment password, if the manager requires one (`use_password`).
    pub password: Option<&'p [u8]>,
    /// The manager's version for the `V:` check; `None` accepts any agent version
    /// (`allow_higher_versions`).
    pub manager_version: Option<Version>,
}

/// A registration request: what an agent sends on port 1515.
///
/// ```
/// use agentkeys::{Request, RequestOptions, Version, IpField};
/// let opts = RequestOptions { password: Some(b"pass123"), manager_version: Some(Version::parse_lenient(b"v4.14.7")) };
/// let req = Request::parse(b"OSSEC PASS: pass123 OSSEC A:'web-01' V:'v4.14.7' G:'default'\n", &opts).unwrap();
/// assert_eq!(req.name.as_str(), "web-01");
/// assert_eq!(req.groups.unwrap().as_str(), "default");
/// assert_eq!(req.ip, IpField::Absent);
///
/// let err = Request::parse(b"OSSEC A:'bad name'\n", &RequestOptions::default()).unwrap_err();
/// assert_eq!(err.to_string(), "ERROR: Invalid agent name: bad name");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// `OSSEC PASS: <password> `, when sent (a manager without a password refuses requests that
    /// carry one, as upstream does).
    pub password: Option<&'a [u8]>,
    /// `A:'…'`: the agent name.
    pub name: AgentName<'a>,
    /// `V:'…'`: the agent version, raw.
    pub version: Option<&'a [u8]>,
    /// `G:'…'`: the groups, syntax-checked, not yet de-duplicated.
    pub groups: Option<Groups<'a>>,
    /// `IP:'…'`.
    pub ip: IpField,
    /// `K:'…'`: SHA-1 of the agent's current key record, raw (upstream does not check it is hex).
    pub key_hash: Option<&'a [u8]>,
}

impl<'a> Request<'a> {
    /// Parses a request exactly as a Wazuh 4.x manager does, with its error replies.
    ///
    /// Everything from the first `\n` on is ignored; a request without `\n` is accepted too.
    /// Fields are read only in the order `V`, `G`, `IP`, `K`; anything else ends the parse
    /// silently, as upstream. The password is compared in constant time.
    ///
    /// # Errors
    /// A [`RequestError`] whose [`RequestError::reply_into`] is upstream's exact text.
    pub fn parse(input: &'a [u8], opts: &RequestOptions<'_>) -> Result<Self, RequestError<'a>> {
        let line = match input.iter().position(|&b| b == b'\n') {
            Some(nl) => &input[..nl],
            None => input,
        };
        let fail = |kind, field, at| RequestError::from_error(Error::at(kind, field, at), b"");

        let mut password = None;
        let mut pos = 0;
        if let Some(expected) = opts.password {
            let invalid = fail(ErrorKind::InvalidPassword, Field::Password, 0);
            let sent = line.strip_prefix(PASS_PREFIX).ok_or(invalid)?;
            let matches =
                sent.len() > expected.len() && ct_eq(&sent[..expected.len()], expected) && sent[expected.len()] == b' ';
            if !matches {
                return Err(invalid);
            }
            password = Some(&sent[..expected.len()]);
            pos = PASS_PREFIX.len() + expected.len() + 1;
        }

        let name_start = pos + NAME_PREFIX.len();
        if !line[pos..].starts_with(NAME_PREFIX) {
            return Err(fail(ErrorKind::InvalidRequest, Field::Name, pos));
        }
        let name_len = line[name_start..].iter().position(|&b| b == b'\'').ok_or(fail(
            ErrorKind::InvalidRequest,
            Field::Name,
            name_start,
        ))?;
        let name_bytes = &line[name_start..name_start + name_len];
        let name =
            AgentName::parse(name_bytes).map_err(|e| RequestError::from_error(e.shifted(name_start), name_bytes))?;
        let mut cursor = Cursor { line, pos: name_start + name_len + 1 };

        let version = cursor.quoted(V_PREFIX, MAX_VERSION_FIELD, ErrorKind::UnterminatedVersion, Field::Version)?;
        if let (Some(v), Some(manager)) = (version, opts.manager_version)
            && Version::parse_lenient(v).cmp(&manager) == Ordering::Greater
        {
            return Err(fail(ErrorKind::VersionTooHigh, Field::Version, 0));
        }

        let groups_at = cursor.pos + G_PREFIX.len();
        let groups = match cursor.quoted(G_PREFIX, MAX_GROUPS_FIELD, ErrorKind::UnterminatedGroups, Field::Groups)? {
            Some(g) => Some(Groups::parse(g).map_err(|e| e.shifted(groups_at))?),
            None => None,
        };

        let ip = cursor.ip_field()?;
        let key_hash = cursor.quoted(K_PREFIX, MAX_KEY_HASH_FIELD, ErrorKind::UnterminatedKeyHash, Field::KeyHash)?;

        Ok(Request { password, name, version, groups, ip, key_hash })
    }

    /// The address the manager records (SPEC 3.3 rules 6, 7 and 9): the `IP:` value, else the
    /// source address for `IP:'src'` or with `use_source_ip`, else `any`.
    #[must_use]
    pub fn decide_addr(&self, source: IpAddr, use_source_ip: bool) -> AgentAddr {
        match self.ip {
            IpField::Addr(addr) => addr,
            IpField::Source => AgentAddr::from_ip(source),
            IpField::Absent if use_source_ip => AgentAddr::from_ip(source),
            IpField::Absent => AgentAddr::ANY,
        }
    }

    /// Writes the request as a Wazuh 4.x agent sends it, `\n` included:
    /// `[OSSEC PASS: <pw> ]OSSEC A:'<name>'[ V:'…'][ G:'…'][ IP:'…'][ K:'…']\n`.
    ///
    /// # Errors
    /// `InvalidPasswordValue` (empty or containing `\n`), `InvalidVersion` (over 26 bytes or
    /// containing `'` or `\n`), `InvalidKeyHash` (not 40 hex digits), or `BufferTooSmall`.
    pub fn encode_into<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], Error> {
        if let Some(pw) = self.password
            && (pw.is_empty() || pw.contains(&b'\n'))
        {
            return Err(Error::at(ErrorKind::InvalidPasswordValue, Field::Password, 0));
        }
        if let Some(v) = self.version
            && (v.len() > MAX_AGENT_VERSION_LEN || v.iter().any(|&b| b == b'\'' || b == b'\n'))
        {
            return Err(Error::at(ErrorKind::InvalidVersion, Field::Version, 0));
        }
        if let Some(k) = self.key_hash
            && (k.len() != 40 || !k.iter().all(u8::is_ascii_hexdigit))
        {
            return Err(Error::at(ErrorKind::InvalidKeyHash, Field::KeyHash, 0));
        }
        let mut w = SliceWriter::new(buf);
        if let Some(pw) = self.password {
            w.push(PASS_PREFIX);
            w.push(pw);
            w.push(b" ");
        }
        w.push(NAME_PREFIX);
        w.push(self.name.as_str().as_bytes());
        w.push(b"'");
        if let Some(v) = self.version {
            push_quoted(&mut w, V_PREFIX, v);
        }
        if let Some(g) = self.groups {
            push_quoted(&mut w, G_PREFIX, g.as_str().as_bytes());
        }
        match self.ip {
            IpField::Absent => {}
            IpField::Source => push_quoted(&mut w, IP_PREFIX, b"src"),
            IpField::Addr(addr) => push_quoted(&mut w, IP_PREFIX, addr.to_text().as_bytes()),
        }
        if let Some(k) = self.key_hash {
            push_quoted(&mut w, K_PREFIX, k);
        }
        w.push(b"\n");
        w.finish()
    }

    /// The exact length [`Request::encode_into`] writes.
    ///
    /// # Errors
    /// As [`Request::encode_into`], but never `BufferTooSmall`.
    pub fn encoded_len(&self) -> Result<usize, Error> {
        crate::out::measure(|b| self.encode_into(b))
    }

    /// The request as bytes, in a buffer of exactly its size.
    ///
    /// # Errors
    /// As [`Request::encode_into`], but never `BufferTooSmall`.
    #[cfg(feature = "alloc")]
    pub fn to_vec(&self) -> Result<alloc::vec::Vec<u8>, Error> {
        crate::out::to_vec(|b| self.encode_into(b))
    }
}

fn push_quoted(w: &mut SliceWriter<'_>, prefix: &[u8], value: &[u8]) {
    w.push(prefix);
    w.push(value);
    w.push(b"'");
}

/// Reads the optional fields after the name, in order.
struct Cursor<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a [u8] {
        &self.line[self.pos..]
    }

    /// `<prefix><value>'` with `value` at most `max` bytes; `None` if the prefix is not next.
    fn quoted(
        &mut self,
        prefix: &[u8],
        max: usize,
        unterminated: ErrorKind,
        field: Field,
    ) -> Result<Option<&'a [u8]>, RequestError<'a>> {
        let Some(after) = self.rest().strip_prefix(prefix) else {
            return Ok(None);
        };
        let start = self.pos + prefix.len();
        let window = &after[..after.len().min(max + 1)];
        match window.iter().position(|&b| b == b'\'') {
            Some(len) => {
                self.pos = start + len + 1;
                Ok(Some(&after[..len]))
            }
            None => Err(RequestError::from_error(Error::at(unterminated, field, start), b"")),
        }
    }

    /// `IP:'…'`: scanned up to `'` or space (at most 46 bytes), then `'` must follow.
    fn ip_field(&mut self) -> Result<IpField, RequestError<'a>> {
        let Some(after) = self.rest().strip_prefix(IP_PREFIX) else {
            return Ok(IpField::Absent);
        };
        let start = self.pos + IP_PREFIX.len();
        let window = &after[..after.len().min(MAX_IP_FIELD + 1)];
        let unterminated = RequestError::from_error(Error::at(ErrorKind::UnterminatedIp, Field::Ip, start), b"");
        let len = window.iter().position(|&b| b == b'\'' || b == b' ').ok_or(unterminated)?;
        if after[len] != b'\'' {
            return Err(unterminated);
        }
        let value = &after[..len];
        self.pos = start + len + 1;
        if value.starts_with(b"src") {
            return Ok(IpField::Source);
        }
        AgentAddr::parse(value).map(IpField::Addr).map_err(|e| RequestError::from_error(e.shifted(start), value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: RequestOptions<'static> = RequestOptions { password: None, manager_version: None };

    fn kind(req: &[u8], opts: &RequestOptions<'_>) -> ErrorKind {
        Request::parse(req, opts).unwrap_err().kind()
    }

    #[test]
    fn password_must_be_an_exact_prefix_followed_by_space() {
        let opts = RequestOptions { password: Some(b"p w"), manager_version: None };
        assert!(Request::parse(b"OSSEC PASS: p w OSSEC A:'ab'\n", &opts).is_ok());
        assert_eq!(kind(b"OSSEC PASS: p w", &opts), ErrorKind::InvalidPassword);
        assert_eq!(kind(b"OSSEC PASS: p wX OSSEC A:'ab'", &opts), ErrorKind::InvalidPassword);
        assert_eq!(kind(b"OSSEC PASS:p w OSSEC A:'ab'", &opts), ErrorKind::InvalidPassword);
    }

    #[test]
    fn limits() {
        let mut req = heapless::Vec::<u8, 200>::new();
        req.extend_from_slice(b"OSSEC A:'ab' IP:'").unwrap();
        req.extend_from_slice(&[b'1'; 46]).unwrap();
        req.extend_from_slice(b"'").unwrap();
        assert_eq!(kind(&req, &NONE), ErrorKind::InvalidAddr);
        req.truncate(req.len() - 1);
        req.extend_from_slice(b"1'").unwrap();
        assert_eq!(kind(&req, &NONE), ErrorKind::UnterminatedIp);
        assert_eq!(
            kind(b"OSSEC A:'ab' K:'01234567890123456789012345678901234567890'", &NONE),
            ErrorKind::UnterminatedKeyHash
        );
        assert!(Request::parse(b"OSSEC A:'ab' K:'0123456789012345678901234567890123456789'", &NONE).is_ok());
        assert_eq!(kind(b"OSSEC A:'ab", &NONE), ErrorKind::InvalidRequest);
        assert_eq!(kind(b"OSSEC A:'ab' IP:''", &NONE), ErrorKind::InvalidAddr);
    }

    #[test]
    fn version_check_uses_major_minor() {
        let opts = RequestOptions { password: None, manager_version: Some(Version::parse_lenient(b"v4.5.0")) };
        assert!(Request::parse(b"OSSEC A:'ab' V:'v4.5.9'", &opts).is_ok());
        assert!(Request::parse(b"OSSEC A:'ab' V:''", &opts).is_ok());
        assert_eq!(kind(b"OSSEC A:'ab' V:'v4.6.0'", &opts), ErrorKind::VersionTooHigh);
        assert_eq!(kind(b"OSSEC A:'ab' V:'v5.0.0'", &opts), ErrorKind::VersionTooHigh);
        assert_eq!(Version::parse_lenient(b"v10.100.15"), Version { major: 10, minor: 100 });
        assert_eq!(Version::parse_lenient(b"4.x"), Version { major: 4, minor: 0 });
    }

    #[test]
    fn src_prefix_and_decision() {
        let src: IpAddr = "::1".parse().unwrap();
        let r = Request::parse(b"OSSEC A:'ab' IP:'srcXYZ'", &NONE).unwrap();
        assert_eq!(r.ip, IpField::Source);
        assert_eq!(r.decide_addr(src, false).to_text(), "0000:0000:0000:0000:0000:0000:0000:0001");
        let r = Request::parse(b"OSSEC A:'ab'", &NONE).unwrap();
        assert!(r.decide_addr(src, false).is_any());
    }

    #[test]
    fn encode_rejects_values_that_break_framing() {
        let name = AgentName::new("ab").unwrap();
        let mut r =
            Request { password: None, name, version: Some(b"v'1"), groups: None, ip: IpField::Absent, key_hash: None };
        let mut buf = [0u8; 128];
        assert_eq!(r.encode_into(&mut buf).unwrap_err().kind(), ErrorKind::InvalidVersion);
        r.version = None;
        r.password = Some(b"a\nb");
        assert_eq!(r.encode_into(&mut buf).unwrap_err().kind(), ErrorKind::InvalidPasswordValue);
        r.password = None;
        r.key_hash = Some(b"abc");
        assert_eq!(r.encode_into(&mut buf).unwrap_err().kind(), ErrorKind::InvalidKeyHash);
        r.key_hash = None;
        assert_eq!(r.encode_into(&mut buf[..5]).unwrap_err().kind(), ErrorKind::BufferTooSmall);
        assert_eq!(r.encode_into(&mut buf[..5]).unwrap_err().offset(), 13);
    }
}
