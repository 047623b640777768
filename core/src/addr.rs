//! [`AgentAddr`]: the address field of a record (SPEC 1.4).

use core::fmt::{self, Write as _};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, ErrorKind, Field};

/// An agent address: `any`, or an IPv4/IPv6 address with an optional `/prefix` (IPv4 also
/// `/dotted.netmask`). IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes plain IPv4.
///
/// It has two text forms, exactly as upstream:
/// - the **canonical** form (`Display`), used in replies and comparisons: IPv4 as typed, IPv6
///   expanded to eight upper-case groups of four digits, suffix kept (`10.1.1.1/32` stays);
/// - the **file** form ([`AgentAddr::file_form`]), written to `client.keys`: the suffix re-derived
///   from the mask, omitted for single hosts (`10.1.1.1/32` → `10.1.1.1`, `10.0.0.0/255.0.0.0` →
///   `10.0.0.0/8`).
///
/// ```
/// use agentkeys::AgentAddr;
/// let a = AgentAddr::parse(b"2001:db8:0:b::1A").unwrap();
/// assert_eq!(a.to_string(), "2001:0DB8:0000:000B:0000:0000:0000:001A");
/// let b = AgentAddr::parse(b"10.0.0.0/255.0.0.0").unwrap();
/// assert_eq!(b.to_string(), "10.0.0.0/255.0.0.0");
/// assert_eq!(b.file_form().to_string(), "10.0.0.0/8");
/// assert!(AgentAddr::parse(b"01.1.1.1").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AgentAddr(Repr);

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Repr {
    Any,
    V4 { addr: [u8; 4], suffix: V4Suffix },
    V6 { addr: [u8; 16], prefix: Option<u8> },
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum V4Suffix {
    None,
    Prefix(u8),
    Mask([u8; 4]),
}

/// Longest canonical or file form: eight groups of four, seven colons and `/128`.
pub const MAX_ADDR_TEXT_LEN: usize = 43;

/// An address rendered as text without allocating.
pub type AddrText = heapless::String<MAX_ADDR_TEXT_LEN>;

impl AgentAddr {
    /// `any`: matches every source address.
    pub const ANY: AgentAddr = AgentAddr(Repr::Any);

    /// Validates and normalises `bytes` as an agent address.
    ///
    /// # Errors
    /// `InvalidAddr` with field `ip`.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        parse_repr(bytes).map(AgentAddr).ok_or(Error::at(ErrorKind::InvalidAddr, Field::Ip, 0))
    }

    /// Validates a `&str` as an agent address.
    ///
    /// # Errors
    /// As [`AgentAddr::parse`].
    pub fn new(s: &str) -> Result<Self, Error> {
        Self::parse(s.as_bytes())
    }

    /// The address of a connection's peer, as upstream renders source IPs: IPv4-mapped IPv6 becomes
    /// IPv4, no suffix.
    #[must_use]
    pub fn from_ip(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => AgentAddr(Repr::V4 { addr: v4.octets(), suffix: V4Suffix::None }),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AgentAddr(Repr::V4 { addr: v4.octets(), suffix: V4Suffix::None }),
                None => AgentAddr(Repr::V6 { addr: v6.octets(), prefix: None }),
            },
        }
    }

    /// `true` for `any`.
    #[must_use]
    pub const fn is_any(&self) -> bool {
        matches!(self.0, Repr::Any)
    }

    /// The IP address without prefix, or `None` for `any`.
    #[must_use]
    pub fn ip(&self) -> Option<IpAddr> {
        match self.0 {
            Repr::Any => None,
            Repr::V4 { addr, .. } => Some(IpAddr::V4(Ipv4Addr::from(addr))),
            Repr::V6 { addr, .. } => Some(IpAddr::V6(Ipv6Addr::from(addr))),
        }
    }

    /// The prefix length the mask stands for (`None` for `any` and for a non-contiguous netmask).
    #[must_use]
    pub fn prefix_len(&self) -> Option<u8> {
        match self.0 {
            Repr::Any => None,
            Repr::V4 { suffix: V4Suffix::None, .. } => Some(32),
            Repr::V4 { suffix: V4Suffix::Prefix(p), .. } => Some(p),
            Repr::V4 { suffix: V4Suffix::Mask(m), .. } => contiguous_prefix(m),
            Repr::V6 { prefix, .. } => Some(prefix.unwrap_or(128)),
        }
    }

    /// `true` when the entry names exactly one IPv4 host (upstream `isSingleHost`): decides whether
    /// an agent prefixes its messages with `!<id>!`. `any` and every IPv6 entry are not single hosts.
    #[must_use]
    pub fn is_single_host(&self) -> bool {
        matches!(self.0, Repr::V4 { .. }) && self.prefix_len() == Some(32)
    }

    /// The same address with its suffix dropped (how upstream stores it for duplicate checks).
    #[must_use]
    pub const fn without_suffix(&self) -> Self {
        match self.0 {
            Repr::Any => *self,
            Repr::V4 { addr, .. } => AgentAddr(Repr::V4 { addr, suffix: V4Suffix::None }),
            Repr::V6 { addr, .. } => AgentAddr(Repr::V6 { addr, prefix: None }),
        }
    }

    /// The form written to `client.keys` (see the type's documentation).
    #[must_use]
    pub const fn file_form(&self) -> FileForm {
        FileForm(*self)
    }

    /// The canonical form as an owned, fixed-capacity string.
    #[must_use]
    pub fn to_text(&self) -> AddrText {
        let mut s = AddrText::new();
        // Every form fits in MAX_ADDR_TEXT_LEN.
        let _ = write!(s, "{self}");
        s
    }

    fn fmt_with(&self, f: &mut dyn fmt::Write, file: bool) -> fmt::Result {
        match self.0 {
            Repr::Any => f.write_str("any"),
            Repr::V4 { addr, suffix } => {
                write_v4(f, addr)?;
                match (suffix, file) {
                    (V4Suffix::None, _) | (V4Suffix::Prefix(32), true) => Ok(()),
                    (V4Suffix::Prefix(p), _) => write!(f, "/{p}"),
                    (V4Suffix::Mask(m), false) => {
                        f.write_char('/')?;
                        write_v4(f, m)
                    }
                    (V4Suffix::Mask(m), true) => match contiguous_prefix(m) {
                        Some(32) => Ok(()),
                        Some(p) => write!(f, "/{p}"),
                        // Upstream drops a non-contiguous mask here (widening nothing, losing the
                        // mask); we keep it in dotted form, which every upstream reader accepts.
                        None => {
                            f.write_char('/')?;
                            write_v4(f, m)
                        }
                    },
                }
            }
            Repr::V6 { addr, prefix } => {
                for (i, pair) in addr.chunks_exact(2).enumerate() {
                    if i > 0 {
                        f.write_char(':')?;
                    }
                    write!(f, "{:04X}", u16::from_be_bytes([pair[0], pair[1]]))?;
                }
                match (prefix, file) {
                    (None, _) | (Some(128), true) => Ok(()),
                    (Some(p), _) => write!(f, "/{p}"),
                }
            }
        }
    }
}

fn write_v4(f: &mut dyn fmt::Write, o: [u8; 4]) -> fmt::Result {
    write!(f, "{}.{}.{}.{}", o[0], o[1], o[2], o[3])
}

fn contiguous_prefix(mask: [u8; 4]) -> Option<u8> {
    let m = u32::from_be_bytes(mask);
    let ones = m.leading_ones();
    (m.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

impl fmt::Display for AgentAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_with(f, false)
    }
}

impl fmt::Debug for AgentAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgentAddr({self})")
    }
}

impl core::str::FromStr for AgentAddr {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        AgentAddr::parse(s.as_bytes())
    }
}

/// The `client.keys` form of an [`AgentAddr`], for `Display`.
#[derive(Clone, Copy, Debug)]
pub struct FileForm(AgentAddr);

impl FileForm {
    /// The file form as an owned, fixed-capacity string.
    #[must_use]
    pub fn to_text(&self) -> AddrText {
        let mut s = AddrText::new();
        let _ = write!(s, "{self}");
        s
    }
}

impl fmt::Display for FileForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_with(f, true)
    }
}

fn parse_repr(bytes: &[u8]) -> Option<Repr> {
    if bytes == b"any" {
        return Some(Repr::Any);
    }
    let v4_body = bytes.strip_prefix(b"::ffff:").or_else(|| bytes.strip_prefix(b"::FFFF:")).unwrap_or(bytes);
    if let Some(repr) = parse_v4_with_suffix(v4_body) {
        return Some(repr);
    }
    parse_v6_with_prefix(bytes)
}

fn parse_v4_with_suffix(bytes: &[u8]) -> Option<Repr> {
    let (addr_part, suffix_part) = match bytes.iter().position(|&b| b == b'/') {
        Some(slash) => (&bytes[..slash], Some(&bytes[slash + 1..])),
        None => (bytes, None),
    };
    let addr = parse_dotted_quad(addr_part)?;
    let suffix = match suffix_part {
        None => V4Suffix::None,
        Some(s) if s.contains(&b'.') => V4Suffix::Mask(parse_dotted_quad(s)?),
        Some(s) => V4Suffix::Prefix(parse_v4_prefix(s)?),
    };
    Some(Repr::V4 { addr, suffix })
}

/// `25[0-5] | 2[0-4][0-9] | 1[0-9][0-9] | [1-9]?[0-9]`, four times, dot-separated.
fn parse_dotted_quad(bytes: &[u8]) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = bytes.split(|&b| b == b'.');
    for slot in &mut out {
        *slot = parse_decimal_no_leading_zero(parts.next()?, 255)? as u8;
    }
    parts.next().is_none().then_some(out)
}

/// `3[0-2] | [1-2]?[0-9]`.
fn parse_v4_prefix(bytes: &[u8]) -> Option<u8> {
    parse_decimal_no_leading_zero(bytes, 32).map(|v| v as u8)
}

fn parse_decimal_no_leading_zero(bytes: &[u8], max: u16) -> Option<u16> {
    if bytes.is_empty() || bytes.len() > 3 || (bytes.len() > 1 && bytes[0] == b'0') {
        return None;
    }
    let mut v: u16 = 0;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u16::from(b - b'0');
    }
    (v <= max).then_some(v)
}

fn parse_v6_with_prefix(bytes: &[u8]) -> Option<Repr> {
    let (addr_part, prefix) = match bytes.iter().position(|&b| b == b'/') {
        Some(slash) => (&bytes[..slash], Some(parse_v6_prefix(&bytes[slash + 1..])?)),
        None => (bytes, None),
    };
    // The upstream grammar has only hex groups and colons: no embedded IPv4, no zone index.
    if addr_part.is_empty() || !addr_part.iter().all(|&b| b.is_ascii_hexdigit() || b == b':') {
        return None;
    }
    let text = core::str::from_utf8(addr_part).ok()?;
    let v6: Ipv6Addr = text.parse().ok()?;
    Some(Repr::V6 { addr: v6.octets(), prefix })
}

/// `12[0-8] | 1[0-1][0-9] | [0-9]?[0-9]` (so `05` is accepted, as upstream does).
fn parse_v6_prefix(bytes: &[u8]) -> Option<u8> {
    if bytes.is_empty() || bytes.len() > 3 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if bytes.len() == 3 && bytes[0] != b'1' {
        return None;
    }
    let v = bytes.iter().fold(0u16, |acc, &b| acc * 10 + u16::from(b - b'0'));
    (v <= 128).then_some(v as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> AddrText {
        AgentAddr::new(s).unwrap().to_text()
    }
    fn file(s: &str) -> AddrText {
        AgentAddr::new(s).unwrap().file_form().to_text()
    }

    #[test]
    fn forms() {
        assert_eq!(canon("10.10.10.1/32"), "10.10.10.1/32");
        assert_eq!(file("10.10.10.1/32"), "10.10.10.1");
        assert_eq!(file("10.0.0.0/255.255.255.255"), "10.0.0.0");
        assert_eq!(file("10.0.0.0/255.0.255.0"), "10.0.0.0/255.0.255.0");
        assert_eq!(file("10.1.1.1/0"), "10.1.1.1/0");
        assert_eq!(canon("::FFFF:10.1.1.1/24"), "10.1.1.1/24");
        assert_eq!(file("::1/128"), "0000:0000:0000:0000:0000:0000:0000:0001");
        assert_eq!(canon("::1/128"), "0000:0000:0000:0000:0000:0000:0000:0001/128");
        assert_eq!(canon("::"), "0000:0000:0000:0000:0000:0000:0000:0000");
        assert_eq!(canon("1:2:3:4:5:6:7::"), "0001:0002:0003:0004:0005:0006:0007:0000");
        assert_eq!(canon("fe80::/05"), "FE80:0000:0000:0000:0000:0000:0000:0000/5");
    }

    #[test]
    fn rejects() {
        for bad in [
            "ANY",
            "!10.1.1.1",
            "1.2.3.4/033",
            "1.2.3.4/-1",
            "1.2.3.4/1/2",
            "::1.2.3.4",
            "::ffff:01.2.3.4",
            "fe80::1%eth0",
            "::/129",
            "::/0128",
            "12345::",
            "1.2.3.4.",
            " 1.2.3.4",
            "1.2.3.4 ",
            ":",
            "1.2.3.4/255.255.255.256",
        ] {
            assert!(AgentAddr::new(bad).is_err(), "{bad} should be invalid");
        }
    }

    #[test]
    fn single_host_and_source() {
        assert!(AgentAddr::new("1.2.3.4").unwrap().is_single_host());
        assert!(AgentAddr::new("1.2.3.4/255.255.255.255").unwrap().is_single_host());
        assert!(!AgentAddr::new("1.2.3.4/31").unwrap().is_single_host());
        assert!(!AgentAddr::new("::1").unwrap().is_single_host());
        assert!(!AgentAddr::ANY.is_single_host());
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(AgentAddr::from_ip(mapped).to_text(), "192.0.2.1");
    }
}
