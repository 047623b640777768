//! Enrollment tokens: what an operator hands a Wazuh 5.0 agent so it can find, trust and
//! authenticate to the manager.
//!
//! A token is the unpadded base64url of compact JSON with members in this order and nothing else:
//! `ver` (1), `adr` (`host[:port][/[prefix]]`), `pin` (base64url SHA-256 of the manager CA's
//! SubjectPublicKeyInfo) **or** `ca` (a PEM bundle), and optionally `key` (base64url of a 16-byte
//! token ID followed by a 16-byte secret). There is no signature and no expiry inside: the manager
//! keeps those in its token store.

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::b64;
use super::jwt::TokenId;
use crate::error::{Error, ErrorKind, Field};
use crate::json::{self, Reader, Value};
use crate::out::SliceWriter;

/// The port of the HTTPS enrollment endpoint when a token names none.
pub const DEFAULT_ENROLL_PORT: u16 = 1517;
/// The path prefix of the enrollment endpoint when a token names none.
pub const DEFAULT_ENROLL_PREFIX: &str = "wazuh-manager";
/// Largest `ca` bundle a token may carry.
pub const MAX_TOKEN_CA_LEN: usize = 64 * 1024;
/// Longest token text accepted (a 64 KiB CA, escaped and encoded, with the rest).
pub const MAX_TOKEN_LEN: usize = 4 * (2 * MAX_TOKEN_CA_LEN + 1024) / 3;
/// Longest `adr`.
pub const MAX_ADDRESS_LEN: usize = 512;

/// The host of a token address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenHost<'a> {
    /// A DNS name.
    Name(&'a str),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address (written `[…]`), with an optional zone (`%25eth0` in the token).
    V6 {
        /// The address.
        addr: Ipv6Addr,
        /// The zone, without `%25`.
        zone: Option<&'a str>,
    },
}

/// Where the manager's enrollment endpoint is: `https://<host>:<port>/<prefix>/enroll`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenAddress<'a> {
    /// The host.
    pub host: TokenHost<'a>,
    /// The port (1517 when the token names none).
    pub port: u16,
    /// The path prefix, without slashes (`wazuh-manager` when the token names none; may be empty).
    pub prefix: &'a str,
}

fn bad_address(at: usize) -> Error {
    Error::at(ErrorKind::InvalidTokenAddress, Field::Address, at)
}

fn is_dns_name(host: &str) -> bool {
    let labels_ok = host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    // An all-digit last label is a mistyped IPv4 address, not a name.
    let last_is_numeric = host.rsplit('.').next().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    !host.is_empty() && host.len() <= 253 && labels_ok && !last_is_numeric
}

fn is_prefix(prefix: &str) -> bool {
    prefix.is_empty()
        || (!prefix.starts_with('/')
            && !prefix.ends_with('/')
            && !prefix.contains("//")
            && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-' | b'/')))
}

impl<'a> TokenAddress<'a> {
    /// The address of `host` with the default port and prefix.
    #[must_use]
    pub const fn new(host: TokenHost<'a>) -> Self {
        TokenAddress { host, port: DEFAULT_ENROLL_PORT, prefix: DEFAULT_ENROLL_PREFIX }
    }

    /// Parses `host[:port][/[prefix]]`: a DNS name, an IPv4 address or `[IPv6]` (with an optional
    /// `%25zone`), a port from 1 to 65535 (default 1517), and a path prefix (default
    /// `wazuh-manager`; `host/` means an empty prefix).
    ///
    /// # Errors
    /// `InvalidTokenAddress` at the offending byte.
    pub fn parse(text: &'a str) -> Result<Self, Error> {
        if text.len() > MAX_ADDRESS_LEN {
            return Err(bad_address(MAX_ADDRESS_LEN));
        }
        let (host, rest, at) = if let Some(inner) = text.strip_prefix('[') {
            let close = inner.find(']').ok_or(bad_address(0))?;
            let bracketed = &inner[..close];
            let (addr, zone) = match bracketed.split_once("%25") {
                Some((addr, zone)) => (addr, Some(zone)),
                None => (bracketed, None),
            };
            let addr: Ipv6Addr = addr.parse().map_err(|_| bad_address(1))?;
            if let Some(zone) = zone
                && (zone.is_empty()
                    || !zone.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
            {
                return Err(bad_address(1 + addr_len(bracketed)));
            }
            (TokenHost::V6 { addr, zone }, &inner[close + 1..], close + 2)
        } else {
            let end = text.find([':', '/']).unwrap_or(text.len());
            let name = &text[..end];
            let host = match name.parse::<Ipv4Addr>() {
                Ok(v4) => TokenHost::V4(v4),
                Err(_) if is_dns_name(name) => TokenHost::Name(name),
                Err(_) => {
                    let at = name.bytes().position(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
                    return Err(bad_address(at.unwrap_or(0)));
                }
            };
            (host, &text[end..], end)
        };
        let (port, rest, at) = match rest.strip_prefix(':') {
            Some(after) => {
                let end = after.find('/').unwrap_or(after.len());
                let digits = &after[..end];
                let port = (!digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| digits.parse::<u16>().ok())
                    .flatten()
                    .filter(|&p| p != 0)
                    .ok_or(bad_address(at + 1))?;
                (port, &after[end..], at + 1 + end)
            }
            None => (DEFAULT_ENROLL_PORT, rest, at),
        };
        let prefix = match rest.strip_prefix('/') {
            Some(prefix) if is_prefix(prefix) => prefix,
            Some(_) => return Err(bad_address(at + 1)),
            None if rest.is_empty() => DEFAULT_ENROLL_PREFIX,
            None => return Err(bad_address(at)),
        };
        Ok(TokenAddress { host, port, prefix })
    }

    /// Writes the address as a token holds it (default port and prefix left out).
    ///
    /// # Errors
    /// Those of the writer.
    pub fn write_to<W: fmt::Write + ?Sized>(&self, w: &mut W) -> fmt::Result {
        match self.host {
            TokenHost::Name(name) => w.write_str(name)?,
            TokenHost::V4(v4) => write!(w, "{v4}")?,
            TokenHost::V6 { addr, zone: None } => write!(w, "[{addr}]")?,
            TokenHost::V6 { addr, zone: Some(zone) } => write!(w, "[{addr}%25{zone}]")?,
        }
        if self.port != DEFAULT_ENROLL_PORT {
            write!(w, ":{}", self.port)?;
        }
        if self.prefix != DEFAULT_ENROLL_PREFIX {
            write!(w, "/{}", self.prefix)?;
        }
        Ok(())
    }
}

fn addr_len(bracketed: &str) -> usize {
    bracketed.find("%25").unwrap_or(bracketed.len()) + 3
}

impl fmt::Display for TokenAddress<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

/// How the agent recognises the manager's CA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustAnchor<'a> {
    /// SHA-256 of the CA certificate's DER SubjectPublicKeyInfo (see [`super::spki_pin`]).
    Pin([u8; 32]),
    /// The CA certificates themselves, PEM.
    Ca(&'a str),
}

/// The credential part of a token: the token's ID and its secret (from which the bearer key is
/// derived with [`super::KeyLabel::Token`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenCredential {
    /// The ID (its base64url text is the bearer `kid`).
    pub id: TokenId,
    /// The secret.
    pub secret: [u8; 16],
}

impl fmt::Debug for TokenCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCredential").field("id", &self.id).field("secret", &"<redacted>").finish()
    }
}

impl TokenCredential {
    /// The 43-character base64url text of ID ‖ secret, as the token's `key` member and as the
    /// password an old agent sends on port 1515.
    #[must_use]
    pub fn to_text(&self) -> heapless::String<43> {
        let mut raw = [0u8; 32];
        raw[..16].copy_from_slice(&self.id.0);
        raw[16..].copy_from_slice(&self.secret);
        let mut buf = [0u8; 43];
        let mut text = heapless::String::new();
        if let Ok(s) = b64::encode(&raw, &mut buf) {
            let _ = text.push_str(s);
        }
        text
    }

    /// Parses the 43-character text.
    ///
    /// # Errors
    /// `InvalidTokenKey` unless it is exactly 32 bytes in canonical base64url.
    pub fn parse(text: &[u8]) -> Result<TokenCredential, Error> {
        let raw: [u8; 32] = b64::decode_array(text, ErrorKind::InvalidTokenKey, Field::TokenKey)?;
        let (mut id, mut secret) = ([0u8; 16], [0u8; 16]);
        id.copy_from_slice(&raw[..16]);
        secret.copy_from_slice(&raw[16..]);
        Ok(TokenCredential { id: TokenId(id), secret })
    }
}

/// A decoded enrollment token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnrollmentToken<'a> {
    /// The enrollment endpoint.
    pub address: TokenAddress<'a>,
    /// How to trust the manager.
    pub anchor: TrustAnchor<'a>,
    /// The credential, if the token carries one.
    pub credential: Option<TokenCredential>,
}

fn bad_token(field: Field, at: usize) -> Error {
    Error::at(ErrorKind::InvalidToken, field, at)
}

/// Member positions in the fixed order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Seen {
    Nothing,
    Ver,
    Adr,
    Anchor,
    Key,
}

impl<'a> EnrollmentToken<'a> {
    /// Decodes `token` (its text, surrounding white space ignored), using `buf` for the decoded
    /// JSON; the result borrows from `buf`. `buf` needs about three quarters of the token's
    /// length ([`MAX_TOKEN_LEN`] is always enough).
    ///
    /// # Errors
    /// `InvalidToken` (not canonical base64url of a JSON object, a member out of order, unknown
    /// or repeated), `UnsupportedTokenVersion`, `InvalidTokenAddress`, `TokenAnchor` (not exactly
    /// one of `pin` and `ca`), `InvalidPin`, `InvalidTokenKey`, `TooLong` (a `ca` over 64 KiB),
    /// each with the member and the byte; `BufferTooSmall`.
    pub fn decode(token: &[u8], buf: &'a mut [u8]) -> Result<EnrollmentToken<'a>, Error> {
        let token = token.trim_ascii();
        if token.len() > MAX_TOKEN_LEN {
            return Err(Error::new(ErrorKind::TooLong).shifted(MAX_TOKEN_LEN));
        }
        let len = b64::decode(token, buf, ErrorKind::InvalidToken, Field::Token)?.len();
        // First pass over the JSON: positions only, so the `ca` text can then be unescaped in place.
        let mut adr = None;
        let mut pin = None;
        let mut ca = None;
        let mut key = None;
        {
            let json = &buf[..len];
            let mut reader = Reader::new(json);
            let mut seen = Seen::Nothing;
            reader.object(|name, r| {
                let at = r.pos;
                let (field, next) = if name.is("ver") {
                    (Field::TokenVersion, Seen::Ver)
                } else if name.is("adr") {
                    (Field::Address, Seen::Adr)
                } else if name.is("pin") {
                    (Field::Pin, Seen::Anchor)
                } else if name.is("ca") {
                    (Field::Ca, Seen::Anchor)
                } else if name.is("key") {
                    (Field::TokenKey, Seen::Key)
                } else {
                    return Err(bad_token(Field::Token, at));
                };
                if next <= seen {
                    let both = next == Seen::Anchor && seen == Seen::Anchor;
                    return Err(if both { Error::at(ErrorKind::TokenAnchor, field, at) } else { bad_token(field, at) });
                }
                seen = next;
                let value = r.value()?;
                match (field, value) {
                    (Field::TokenVersion, Value::Int(1)) => Ok(()),
                    (Field::TokenVersion, Value::Int(_)) => {
                        Err(Error::at(ErrorKind::UnsupportedTokenVersion, field, at))
                    }
                    (Field::Address, Value::Str(s)) => {
                        adr = Some(s.as_plain().ok_or(bad_address(at))?);
                        Ok(())
                    }
                    (Field::Pin, Value::Str(s)) => {
                        pin = Some(
                            b64::decode_array::<32>(s.raw().as_bytes(), ErrorKind::InvalidPin, Field::Pin)
                                .map_err(|e| e.shifted(at))?,
                        );
                        Ok(())
                    }
                    (Field::Ca, Value::Str(s)) => {
                        let start = at + 1;
                        ca = Some((start, start + s.raw().len()));
                        Ok(())
                    }
                    (Field::TokenKey, Value::Str(s)) => {
                        key = Some(TokenCredential::parse(s.raw().as_bytes()).map_err(|e| e.shifted(at))?);
                        Ok(())
                    }
                    (field, _) => Err(bad_token(field, at)),
                }
            })?;
            if reader.pos != json.len() {
                return Err(bad_token(Field::Token, reader.pos));
            }
            if seen < Seen::Ver {
                return Err(bad_token(Field::TokenVersion, 0));
            }
        }
        let adr_range = adr.map(|a: &str| {
            let start = a.as_ptr() as usize - buf.as_ptr() as usize;
            (start, start + a.len())
        });
        let Some((adr_start, adr_end)) = adr_range else {
            return Err(bad_token(Field::Address, 0));
        };
        let ca_range = match ca {
            Some((start, end)) => {
                let decoded_end = json::unescape_in_place(buf, start, end);
                if decoded_end - start > MAX_TOKEN_CA_LEN {
                    return Err(Error::at(ErrorKind::TooLong, Field::Ca, start));
                }
                Some((start, decoded_end))
            }
            None => None,
        };
        let buf: &'a [u8] = buf;
        let text = |start: usize, end: usize| {
            core::str::from_utf8(&buf[start..end]).map_err(|_| bad_token(Field::Token, start))
        };
        let address = TokenAddress::parse(text(adr_start, adr_end)?).map_err(|e| e.shifted(adr_start))?;
        let anchor = match (pin, ca_range) {
            (Some(pin), None) => TrustAnchor::Pin(pin),
            (None, Some((start, end))) => TrustAnchor::Ca(text(start, end)?),
            _ => return Err(Error::at(ErrorKind::TokenAnchor, Field::Pin, 0)),
        };
        Ok(EnrollmentToken { address, anchor, credential: key })
    }

    /// The token ID (the bearer `kid`), if the token carries a credential.
    #[must_use]
    pub fn token_id(&self) -> Option<TokenId> {
        self.credential.map(|c| c.id)
    }

    fn write_json<W: fmt::Write>(&self, w: &mut W) -> fmt::Result {
        w.write_str(r#"{"ver":1,"adr":""#)?;
        self.address.write_to(w)?;
        w.write_char('"')?;
        match self.anchor {
            TrustAnchor::Pin(pin) => {
                let mut buf = [0u8; 43];
                let text = b64::encode(&pin, &mut buf).map_err(|_| fmt::Error)?;
                write!(w, r#","pin":"{text}""#)?;
            }
            TrustAnchor::Ca(pem) => {
                w.write_str(r#","ca":"#)?;
                json::write_string(w, pem)?;
            }
        }
        if let Some(credential) = self.credential {
            write!(w, r#","key":"{}""#, credential.to_text())?;
        }
        w.write_char('}')
    }

    /// The length of the compact JSON.
    fn json_len(&self) -> usize {
        crate::out::written_len(|w| self.write_json(w))
    }

    /// The length of [`EnrollmentToken::encode_into`]'s output.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        b64::encoded_len(self.json_len())
    }

    /// The buffer [`EnrollmentToken::encode_into`] needs: the encoded length plus the JSON's
    /// (the JSON is assembled in the same buffer).
    #[must_use]
    pub fn encode_buffer_len(&self) -> usize {
        let json_len = self.json_len();
        b64::encoded_len(json_len) + json_len
    }

    /// The token's text, in a string of exactly its length.
    ///
    /// # Errors
    /// As [`EnrollmentToken::encode_into`] (never `BufferTooSmall`).
    #[cfg(feature = "alloc")]
    pub fn to_text_string(&self) -> Result<alloc::string::String, Error> {
        let mut buf = alloc::vec![0u8; self.encode_buffer_len()];
        self.encode_into(&mut buf).map(alloc::string::String::from)
    }

    /// Encodes the token into `out`. The JSON is assembled at the end of `out` and encoded in
    /// front of it, so `out` needs [`EnrollmentToken::encode_buffer_len`] bytes.
    ///
    /// # Errors
    /// `InvalidTokenAddress` for an address that would not parse back; `BufferTooSmall` with
    /// the needed size.
    pub fn encode_into<'o>(&self, out: &'o mut [u8]) -> Result<&'o str, Error> {
        let mut check = heapless::String::<MAX_ADDRESS_LEN>::new();
        self.address.write_to(&mut check).map_err(|_| bad_address(MAX_ADDRESS_LEN))?;
        if TokenAddress::parse(&check).ok() != Some(self.address) {
            return Err(bad_address(0));
        }
        let json_len = self.json_len();
        let needed = self.encode_buffer_len();
        if out.len() < needed {
            return Err(Error::buffer_too_small(needed));
        }
        let (front, back) = out.split_at_mut(needed - json_len);
        let mut w = SliceWriter::new(back);
        let _ = self.write_json(&mut w);
        let json = w.finish()?;
        b64::encode(json, front)
    }

    /// Writes the token as `--show-token` prints it: `ver: 1`, `adr: …`, `pin: <64 hex>` (or
    /// `ca: PEM bundle, N bytes`), `credential: present|absent` (never the secret), one per line.
    ///
    /// # Errors
    /// Those of the writer.
    pub fn write_text<W: fmt::Write + ?Sized>(&self, w: &mut W) -> fmt::Result {
        w.write_str("ver: 1\nadr: ")?;
        self.address.write_to(w)?;
        w.write_char('\n')?;
        match self.anchor {
            TrustAnchor::Pin(pin) => {
                w.write_str("pin: ")?;
                for b in pin {
                    write!(w, "{b:02x}")?;
                }
                w.write_char('\n')?;
            }
            TrustAnchor::Ca(pem) => writeln!(w, "ca: PEM bundle, {} bytes", pem.len())?,
        }
        writeln!(w, "credential: {}", if self.credential.is_some() { "present" } else { "absent" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = TokenAddress::parse("siem.example.local").unwrap();
        assert_eq!((a.host, a.port, a.prefix), (TokenHost::Name("siem.example.local"), 1517, "wazuh-manager"));
        let a = TokenAddress::parse("[fe80::1%25eth0]:443/").unwrap();
        assert_eq!(a.host, TokenHost::V6 { addr: "fe80::1".parse().unwrap(), zone: Some("eth0") });
        assert_eq!((a.port, a.prefix), (443, ""));
        let mut s = heapless::String::<64>::new();
        a.write_to(&mut s).unwrap();
        assert_eq!(s, "[fe80::1%25eth0]:443/");
        for bad in
            ["", "m example", "m.example:0", "m.example:70000", "m.example:", "[::1", "999.1.1.1", "a//b", "h/x//y"]
        {
            assert!(TokenAddress::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(TokenAddress::parse("m.example:x").unwrap_err().kind(), ErrorKind::InvalidTokenAddress);
    }

    #[test]
    fn round_trip_with_a_ca() {
        let token = EnrollmentToken {
            address: TokenAddress::new(TokenHost::V4(Ipv4Addr::new(10, 0, 0, 5))),
            anchor: TrustAnchor::Ca("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"),
            credential: Some(TokenCredential { id: TokenId([1; 16]), secret: [2; 16] }),
        };
        let mut out = [0u8; 1024];
        let text = token.encode_into(&mut out).unwrap();
        assert_eq!(text.len(), token.encoded_len());
        let owned: heapless::String<1024> = heapless::String::try_from(text).unwrap();
        let mut buf = [0u8; 1024];
        assert_eq!(EnrollmentToken::decode(owned.as_bytes(), &mut buf).unwrap(), token);
    }
}
