//! The JSON bodies of `POST /enroll`: the request an agent sends, the reply with its key, and the
//! error envelope, with the exact `400` messages Wazuh 5.0 answers for each bad field.

use core::fmt;

use crate::addr::AgentAddr;
use crate::error::{Error, ErrorKind, Field};
use crate::groups::Groups;
use crate::id::AgentId;
use crate::json::{self, JsonStr, Reader, Value};
use crate::key::AgentKey;
use crate::name::AgentName;
use crate::out::SliceWriter;
use crate::record::Record;
use crate::request::{MAX_AGENT_VERSION_LEN, Version};

/// Largest decoded `/enroll` request body.
pub const MAX_ENROLL_BODY: usize = 16 * 1024;
/// Longest agent name.
const MAX_NAME: usize = 128;
/// Longest address text.
const MAX_IP: usize = 64;

/// What the agent asked for its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnrollIp {
    /// `"src"`: the connection's source address.
    Source,
    /// An address (`any`, IPv4 or IPv6, with an optional prefix), validated and normalised.
    Addr(AgentAddr),
}

/// A parsed `/enroll` request body. Unknown members are ignored; `groups`, `ip` and `key_hash`
/// may be absent or `null`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrollRequest<'a> {
    name: heapless::String<MAX_NAME>,
    version: heapless::String<MAX_AGENT_VERSION_LEN>,
    /// The requested groups (syntax checked; existence is the manager's business).
    pub groups: Option<Groups<'a>>,
    /// The requested address.
    pub ip: Option<EnrollIp>,
    key_hash: Option<heapless::String<40>>,
}

fn field(kind: ErrorKind, field: Field, at: usize) -> Error {
    Error::at(kind, field, at)
}

impl<'a> EnrollRequest<'a> {
    /// A request for `name` with agent `version`, nothing else.
    ///
    /// # Errors
    /// `InvalidName`, or `InvalidVersion` for a version that is empty, over 26 bytes, or not
    /// printable ASCII.
    pub fn new(name: &str, version: &str) -> Result<Self, Error> {
        AgentName::new(name)?;
        check_version(version, 0)?;
        Ok(EnrollRequest {
            name: heapless::String::try_from(name).map_err(|_| field(ErrorKind::InvalidName, Field::Name, 0))?,
            version: heapless::String::try_from(version)
                .map_err(|_| field(ErrorKind::InvalidVersion, Field::Version, 0))?,
            groups: None,
            ip: None,
            key_hash: None,
        })
    }

    /// Sets `key_hash` (40 hex characters, see [`crate::key_hash`]).
    ///
    /// # Errors
    /// `InvalidKeyHash`.
    pub fn with_key_hash(mut self, hash: &str) -> Result<Self, Error> {
        check_key_hash(hash, 0)?;
        self.key_hash = heapless::String::try_from(hash).ok();
        Ok(self)
    }

    /// The agent name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The agent version as sent (e.g. `v5.0.0`).
    #[must_use]
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The key hash, if sent.
    #[must_use]
    pub fn key_hash(&self) -> Option<&str> {
        self.key_hash.as_deref()
    }

    /// Whether the agent version is allowed by a manager of version `manager` (major.minor not
    /// newer), as on port 1515.
    #[must_use]
    pub fn version_allowed(&self, manager: Version) -> bool {
        Version::parse_lenient(self.version.as_bytes()) <= manager
    }

    /// Parses a request body (already decompressed).
    ///
    /// # Errors
    /// `TooLong` over [`MAX_ENROLL_BODY`]; `InvalidJson` (malformed JSON); `InvalidBody` (not an
    /// object); `MissingMember`/`WrongType` or the field's own rule (`InvalidName`,
    /// `InvalidVersion`, a groups kind, `InvalidAddr`, `InvalidKeyHash`), with the field and the
    /// byte. [`enroll_error_message`] gives the HTTP 400 message for each.
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        if body.len() > MAX_ENROLL_BODY {
            return Err(Error::new(ErrorKind::TooLong).shifted(MAX_ENROLL_BODY));
        }
        let mut reader = Reader::new(body);
        reader.skip_ws();
        if !body[reader.pos..].starts_with(b"{") {
            // Valid JSON that is not an object, or not JSON at all.
            let mut probe = Reader::new(body);
            return Err(match probe.value() {
                Ok(_) => Error::new(ErrorKind::InvalidBody),
                Err(e) => e,
            });
        }
        let (mut name, mut version) = (None, None);
        let (mut groups, mut ip, mut key_hash) = (None, None, None);
        reader.object(|member, r| {
            let at = r.pos;
            let value = r.value()?;
            let slot = if member.is("name") {
                &mut name
            } else if member.is("version") {
                &mut version
            } else if member.is("groups") {
                &mut groups
            } else if member.is("ip") {
                &mut ip
            } else if member.is("key_hash") {
                &mut key_hash
            } else {
                return Ok(());
            };
            *slot = Some((value, at));
            Ok(())
        })?;
        reader.skip_ws();
        if reader.pos != body.len() {
            return Err(Error::new(ErrorKind::InvalidJson).shifted(reader.pos));
        }
        let name = match name {
            Some((Value::Str(s), at)) => {
                let text: heapless::String<MAX_NAME> =
                    s.decode().ok_or(field(ErrorKind::InvalidName, Field::Name, at))?;
                AgentName::new(&text).map_err(|e| e.with_field(Field::Name).shifted(at))?;
                text
            }
            Some((_, at)) => return Err(field(ErrorKind::WrongType, Field::Name, at)),
            None => return Err(field(ErrorKind::MissingMember, Field::Name, 0)),
        };
        let version = match version {
            Some((Value::Str(s), at)) => {
                let text: heapless::String<MAX_AGENT_VERSION_LEN> =
                    s.decode().ok_or(field(ErrorKind::InvalidVersion, Field::Version, at))?;
                check_version(&text, at)?;
                text
            }
            Some((_, at)) => return Err(field(ErrorKind::WrongType, Field::Version, at)),
            None => return Err(field(ErrorKind::MissingMember, Field::Version, 0)),
        };
        let groups = match groups {
            None | Some((Value::Null, _)) => None,
            Some((Value::Str(s), at)) => {
                // A group never needs an escape: an escaped one is refused, not decoded.
                let plain = s.as_plain().ok_or(field(ErrorKind::GroupProhibitedChars, Field::Groups, at))?;
                Some(Groups::parse(plain.as_bytes()).map_err(|e| e.error().with_field(Field::Groups).shifted(at))?)
            }
            Some((_, at)) => return Err(field(ErrorKind::WrongType, Field::Groups, at)),
        };
        let ip = match ip {
            None | Some((Value::Null, _)) => None,
            Some((Value::Str(s), at)) => {
                let text: heapless::String<MAX_IP> = s.decode().ok_or(field(ErrorKind::InvalidAddr, Field::Ip, at))?;
                if text == "src" {
                    Some(EnrollIp::Source)
                } else {
                    Some(EnrollIp::Addr(AgentAddr::new(&text).map_err(|e| e.with_field(Field::Ip).shifted(at))?))
                }
            }
            Some((_, at)) => return Err(field(ErrorKind::WrongType, Field::Ip, at)),
        };
        let key_hash = match key_hash {
            None | Some((Value::Null, _)) => None,
            Some((Value::Str(s), at)) => {
                let text: heapless::String<40> =
                    s.decode().ok_or(field(ErrorKind::InvalidKeyHash, Field::KeyHash, at))?;
                check_key_hash(&text, at)?;
                Some(text)
            }
            Some((_, at)) => return Err(field(ErrorKind::WrongType, Field::KeyHash, at)),
        };
        Ok(EnrollRequest { name, version, groups, ip, key_hash })
    }

    fn write_json<W: fmt::Write>(&self, w: &mut W) -> fmt::Result {
        w.write_str(r#"{"name":"#)?;
        json::write_string(w, &self.name)?;
        w.write_str(r#","version":"#)?;
        json::write_string(w, &self.version)?;
        if let Some(groups) = &self.groups {
            w.write_str(r#","groups":"#)?;
            json::write_string(w, groups.as_str())?;
        }
        match self.ip {
            Some(EnrollIp::Source) => w.write_str(r#","ip":"src""#)?,
            Some(EnrollIp::Addr(addr)) => write!(w, r#","ip":"{addr}""#)?,
            None => {}
        }
        if let Some(hash) = &self.key_hash {
            write!(w, r#","key_hash":"{hash}""#)?;
        }
        w.write_char('}')
    }

    /// The length of [`EnrollRequest::encode_into`]'s output.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        crate::out::written_len(|w| self.write_json(w))
    }

    /// Writes the body as compact JSON (absent members left out).
    ///
    /// # Errors
    /// `BufferTooSmall` with the needed size.
    pub fn encode_into<'o>(&self, out: &'o mut [u8]) -> Result<&'o str, Error> {
        let mut w = SliceWriter::new(out);
        let _ = self.write_json(&mut w);
        w.finish_str()
    }
}

fn check_version(version: &str, at: usize) -> Result<(), Error> {
    let ok = !version.is_empty()
        && version.len() <= MAX_AGENT_VERSION_LEN
        && version.bytes().all(|b| b.is_ascii_graphic() && b != b'\'' && b != b'"');
    if ok { Ok(()) } else { Err(field(ErrorKind::InvalidVersion, Field::Version, at)) }
}

fn check_key_hash(hash: &str, at: usize) -> Result<(), Error> {
    if hash.len() == 40 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(field(ErrorKind::InvalidKeyHash, Field::KeyHash, at))
    }
}

/// The HTTP 400 message Wazuh 5.0 answers for a request body refused by
/// [`EnrollRequest::parse`] (or for [`ErrorKind::VersionTooHigh`]).
#[must_use]
pub fn enroll_error_message(error: &Error) -> &'static str {
    match (error.kind(), error.field()) {
        (ErrorKind::InvalidBody | ErrorKind::TooLong, _) => "Missing or invalid request body",
        (ErrorKind::InvalidJson | ErrorKind::JsonTooDeep, _) => "Malformed JSON body",
        (ErrorKind::VersionTooHigh, _) => "Agent version is newer than this manager allows",
        (_, Some(Field::Name)) => "Missing or invalid field: name",
        (_, Some(Field::Version)) => "Missing or invalid field: version",
        (_, Some(Field::Groups)) => "Invalid field: groups",
        (_, Some(Field::Ip)) => "Invalid field: ip",
        (_, Some(Field::KeyHash)) => "Invalid field: key_hash",
        _ => "Missing or invalid request body",
    }
}

/// The `200` reply of `/enroll`: the agent's record and, for agents that get one, its
/// re-enrollment secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnrollReply<'a> {
    /// The record to write to the agent's client.keys.
    pub record: Record<'a>,
    /// The 32-byte re-enrollment secret, if the manager issued one.
    pub reenroll_secret: Option<[u8; 32]>,
}

impl<'a> EnrollReply<'a> {
    /// Parses the reply body. The address may use `\/`; the other strings must be plain.
    ///
    /// # Errors
    /// `InvalidJson`, `InvalidBody`, `MissingMember`/`WrongType`, or the rule a field breaks
    /// (`InvalidId`, `InvalidName`, `InvalidAddr`, `InvalidKey`, `InvalidKeyHash` for a secret that
    /// is not 64 hex characters), with the field and byte.
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut reader = Reader::new(body);
        let (mut id, mut name, mut ip, mut key, mut secret) = (None, None, None, None, None);
        reader.object(|member, r| {
            let at = r.pos;
            let value = r.value()?;
            let slot: &mut Option<(JsonStr<'a>, usize)> = if member.is("id") {
                &mut id
            } else if member.is("name") {
                &mut name
            } else if member.is("ip") {
                &mut ip
            } else if member.is("key") {
                &mut key
            } else if member.is("reenroll_secret") {
                if matches!(value, Value::Null) {
                    return Ok(());
                }
                &mut secret
            } else {
                return Ok(());
            };
            match value {
                Value::Str(s) => {
                    *slot = Some((s, at));
                    Ok(())
                }
                _ => Err(Error::at(ErrorKind::WrongType, member_field(member), at)),
            }
        })?;
        let need = |v: Option<(JsonStr<'a>, usize)>, f: Field| v.ok_or(Error::at(ErrorKind::MissingMember, f, 0));
        let plain = |(s, at): (JsonStr<'a>, usize), kind: ErrorKind, f: Field| {
            s.as_plain().map(|p| (p, at)).ok_or(Error::at(kind, f, at))
        };
        let (id, at) = plain(need(id, Field::Id)?, ErrorKind::InvalidId, Field::Id)?;
        let id = AgentId::parse(id.as_bytes()).map_err(|e| e.shifted(at))?;
        let (name, at) = plain(need(name, Field::Name)?, ErrorKind::InvalidName, Field::Name)?;
        let name = AgentName::new(name).map_err(|e| e.shifted(at))?;
        let (ip_text, at) = need(ip, Field::Ip)?;
        let ip_text: heapless::String<MAX_IP> =
            ip_text.decode().ok_or(Error::at(ErrorKind::InvalidAddr, Field::Ip, at))?;
        let addr = AgentAddr::new(&ip_text).map_err(|e| e.shifted(at))?;
        let (key, at) = plain(need(key, Field::Key)?, ErrorKind::InvalidKey, Field::Key)?;
        let key = AgentKey::new(key).map_err(|e| e.shifted(at))?;
        let reenroll_secret = match secret {
            Some((s, at)) => {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(s.raw(), &mut bytes)
                    .map_err(|_| Error::at(ErrorKind::InvalidKeyHash, Field::Secret, at))?;
                Some(bytes)
            }
            None => None,
        };
        Ok(EnrollReply { record: Record::new(id, name, addr, key), reenroll_secret })
    }

    fn write_json<W: fmt::Write>(&self, w: &mut W) -> fmt::Result {
        let r = &self.record;
        write!(w, r#"{{"id":"{}","name":"{}","ip":"{}","key":"{}""#, r.id, r.name.as_str(), r.addr, r.key.as_str())?;
        if let Some(secret) = self.reenroll_secret {
            w.write_str(r#","reenroll_secret":""#)?;
            for b in secret {
                write!(w, "{b:02x}")?;
            }
            w.write_char('"')?;
        }
        w.write_char('}')
    }

    /// The length of [`EnrollReply::encode_into`]'s output.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        crate::out::written_len(|w| self.write_json(w))
    }

    /// Writes the reply body (the address in its canonical form, as 4.x replies carry it).
    ///
    /// # Errors
    /// `BufferTooSmall` with the needed size.
    pub fn encode_into<'o>(&self, out: &'o mut [u8]) -> Result<&'o str, Error> {
        let mut w = SliceWriter::new(out);
        let _ = self.write_json(&mut w);
        w.finish_str()
    }
}

fn member_field(member: JsonStr<'_>) -> Field {
    if member.is("id") {
        Field::Id
    } else if member.is("name") {
        Field::Name
    } else if member.is("ip") {
        Field::Ip
    } else if member.is("key") {
        Field::Key
    } else {
        Field::Secret
    }
}

/// The `code` of an `/enroll` error envelope: a class string (`"invalid_signature"`) or a
/// number (0, an authd code, or -1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnrollErrorCode<'a> {
    /// A class, e.g. the bearer class of a 401.
    Class(&'a str),
    /// A number.
    Number(i64),
}

/// An `/enroll` error body: `{"error":{"code":…,"message":"…"}}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnrollError<'a> {
    /// The code.
    pub code: EnrollErrorCode<'a>,
    /// The message (JSON-escaped text; see [`JsonStr`]).
    pub message: JsonStr<'a>,
}

impl<'a> EnrollError<'a> {
    /// Parses an error body.
    ///
    /// # Errors
    /// `InvalidJson`, or `MissingMember`/`WrongType` for `error`, `code` or `message`.
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut reader = Reader::new(body);
        let mut found = None;
        reader.object(|member, r| {
            if !member.is("error") {
                return r.value().map(|_| ());
            }
            let at = r.pos;
            let (mut code, mut message) = (None, None);
            r.object(|inner, r| {
                let value = r.value()?;
                if inner.is("code") {
                    code = Some(match value {
                        Value::Str(s) => EnrollErrorCode::Class(s.as_plain().unwrap_or("")),
                        Value::Int(n) => EnrollErrorCode::Number(n),
                        _ => return Err(Error::at(ErrorKind::WrongType, Field::ErrorCode, at)),
                    });
                } else if inner.is("message") {
                    let Value::Str(s) = value else {
                        return Err(Error::at(ErrorKind::WrongType, Field::Message, at));
                    };
                    message = Some(s);
                }
                Ok(())
            })?;
            found = Some((code, message, at));
            Ok(())
        })?;
        let (code, message, at) = found.ok_or(Error::at(ErrorKind::MissingMember, Field::Data, 0))?;
        Ok(EnrollError {
            code: code.ok_or(Error::at(ErrorKind::MissingMember, Field::ErrorCode, at))?,
            message: message.ok_or(Error::at(ErrorKind::MissingMember, Field::Message, at))?,
        })
    }
}

/// Writes an `/enroll` error body for `code` and `message`.
///
/// # Errors
/// `BufferTooSmall` with the needed size.
pub fn encode_enroll_error<'o>(code: EnrollErrorCode<'_>, message: &str, out: &'o mut [u8]) -> Result<&'o str, Error> {
    let mut w = SliceWriter::new(out);
    let _ = write_error(&mut w, code, message);
    w.finish_str()
}

/// The length of [`encode_enroll_error`]'s output.
#[must_use]
pub fn enroll_error_len(code: EnrollErrorCode<'_>, message: &str) -> usize {
    crate::out::written_len(|w| write_error(w, code, message))
}

fn write_error<W: fmt::Write>(w: &mut W, code: EnrollErrorCode<'_>, message: &str) -> fmt::Result {
    w.write_str(r#"{"error":{"code":"#)?;
    match code {
        EnrollErrorCode::Class(class) => json::write_string(w, class)?,
        EnrollErrorCode::Number(n) => write!(w, "{n}")?,
    }
    w.write_str(r#","message":"#)?;
    json::write_string(w, message)?;
    w.write_str("}}")
}
