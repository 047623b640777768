//! Key-poll answers: the JSON a key-poll script prints (or a key-poll socket sends).
//!
//! Contract (seed document "Key polling", SPEC 8.4, DESIGN §7.7):
//! `{"error":0,"data":{"id":"001","name":"…","ip":"…","key":"…"}}` on success,
//! `{"error":N,"message":"…"}` (N ≠ 0) on failure. Stricter than upstream: `error` must be a JSON
//! integer, the four data members must be strings, duplicate members are refused, and the record is
//! validated like a registration (ID of 3–8 digits, name rule, address rule, key rule). White space
//! around the value and any bytes after it are tolerated, as upstream does.

use core::fmt::Write as _;

use crate::addr::AgentAddr;
use crate::error::{Error, ErrorKind, Field};
use crate::id::AgentId;
use crate::json::{self, JsonStr, Reader, Value};
use crate::key::AgentKey;
use crate::name::AgentName;
use crate::out::SliceWriter;
use crate::record::{Record, RecordBuf};

/// The shortest ID a script may return.
pub const MIN_SCRIPT_ID_LEN: usize = 3;

/// Validates an agent ID as the key-poll contract requires: a valid [`AgentId`] of 3 to 8 digits.
///
/// ```
/// assert!(agentkeys::validate_script_id(b"001").is_ok());
/// assert_eq!(agentkeys::validate_script_id(b"42").unwrap_err().kind(), agentkeys::ErrorKind::ScriptIdTooShort);
/// ```
///
/// # Errors
/// `InvalidId`, `ReservedId` or `ScriptIdTooShort`.
pub fn validate_script_id(id: &[u8]) -> Result<AgentId, Error> {
    let parsed = AgentId::parse(id)?;
    if parsed.as_bytes().len() < MIN_SCRIPT_ID_LEN {
        return Err(Error::at(ErrorKind::ScriptIdTooShort, Field::Id, 0));
    }
    Ok(parsed)
}

/// What a key-poll script answered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant, reason = "no_std: the record is owned in place, without a heap")]
pub enum KeyPollAnswer<'a> {
    /// `error` 0: the agent's record, validated and decoded.
    Found(RecordBuf),
    /// `error` ≠ 0: the script's code and message.
    Refused {
        /// The `error` member.
        code: i32,
        /// The `message` member, decoded lazily (`Display` or [`JsonStr::chars`]).
        message: JsonStr<'a>,
    },
}

/// Parses a key-poll script's output.
///
/// ```
/// use agentkeys::{parse_keypoll_output, KeyPollAnswer};
/// let out = br#"{"error":0,"data":{"id":"001","name":"web","ip":"10.0.0.0\/24","key":"k1"}}"#;
/// let KeyPollAnswer::Found(rec) = parse_keypoll_output(out).unwrap() else { panic!() };
/// assert_eq!(rec.to_string(), "001 web 10.0.0.0/24 k1");
///
/// let out = br#"{"error": 4, "message": "No agent key found"}"#;
/// let KeyPollAnswer::Refused { code, message } = parse_keypoll_output(out).unwrap() else { panic!() };
/// assert_eq!((code, message.to_string().as_str()), (4, "No agent key found"));
/// ```
///
/// # Errors
/// `InvalidJson`/`JsonTooDeep` (with the byte offset), `MissingMember`/`WrongType`/
/// `DuplicateMember`/`InvalidErrorCode` (with the [`Field`]), or the record field's own error
/// (offset = where that string starts).
pub fn parse_keypoll_output(input: &[u8]) -> Result<KeyPollAnswer<'_>, Error> {
    let mut reader = Reader::new(input);
    reader.skip_ws();
    if !matches!(input.get(reader.pos), Some(b'{')) {
        return Err(Error::new(ErrorKind::InvalidJson).shifted(reader.pos));
    }
    let mut error: Option<(Value<'_>, usize)> = None;
    let mut message: Option<(Value<'_>, usize)> = None;
    let mut data: Option<usize> = None;
    reader.object(|name, r| {
        let at = r.pos;
        let slot = if name.is("error") {
            &mut error
        } else if name.is("message") {
            &mut message
        } else if name.is("data") {
            if data.replace(at).is_some() {
                return Err(Error::at(ErrorKind::DuplicateMember, Field::Data, at));
            }
            return r.value().map(drop);
        } else {
            return r.value().map(drop);
        };
        let value = r.value()?;
        if slot.replace((value, at)).is_some() {
            let field = if name.is("error") { Field::ErrorCode } else { Field::Message };
            return Err(Error::at(ErrorKind::DuplicateMember, field, at));
        }
        Ok(())
    })?;

    let (code, code_at) = error.ok_or(Error::at(ErrorKind::MissingMember, Field::ErrorCode, 0))?;
    let code = match code {
        Value::Int(v) => {
            i32::try_from(v).map_err(|_| Error::at(ErrorKind::InvalidErrorCode, Field::ErrorCode, code_at))?
        }
        _ => return Err(Error::at(ErrorKind::WrongType, Field::ErrorCode, code_at)),
    };
    if code != 0 {
        return match message {
            Some((Value::Str(message), _)) => Ok(KeyPollAnswer::Refused { code, message }),
            Some((_, at)) => Err(Error::at(ErrorKind::WrongType, Field::Message, at)),
            None => Err(Error::at(ErrorKind::MissingMember, Field::Message, 0)),
        };
    }
    let data_at = data.ok_or(Error::at(ErrorKind::MissingMember, Field::Data, 0))?;
    parse_data(input, data_at).map(KeyPollAnswer::Found)
}

fn parse_data(input: &[u8], at: usize) -> Result<RecordBuf, Error> {
    let mut reader = Reader::new(input);
    reader.pos = at;
    if input.get(at) != Some(&b'{') {
        return Err(Error::at(ErrorKind::WrongType, Field::Data, at));
    }
    let mut fields: [Option<(JsonStr<'_>, usize)>; 4] = [None; 4];
    const NAMES: [(&str, Field); 4] =
        [("id", Field::Id), ("name", Field::Name), ("ip", Field::Ip), ("key", Field::Key)];
    reader.object(|name, r| {
        let value_at = r.pos;
        let Some(i) = NAMES.iter().position(|(n, _)| name.is(n)) else {
            return r.value().map(drop);
        };
        let field = NAMES[i].1;
        let Value::Str(s) = r.value()? else {
            return Err(Error::at(ErrorKind::WrongType, field, value_at));
        };
        if fields[i].replace((s, value_at)).is_some() {
            return Err(Error::at(ErrorKind::DuplicateMember, field, value_at));
        }
        Ok(())
    })?;
    let get = |i: usize| fields[i].ok_or(Error::at(ErrorKind::MissingMember, NAMES[i].1, at));
    let (id, id_at) = get(0)?;
    let (name, name_at) = get(1)?;
    let (ip, ip_at) = get(2)?;
    let (key, key_at) = get(3)?;

    let id_text = decode::<{ AgentId::MAX_LEN }>(id, ErrorKind::InvalidId, Field::Id, id_at)?;
    let id = validate_script_id(id_text.as_bytes()).map_err(|e| e.shifted(id_at + 1))?;
    let name_text = decode::<{ AgentName::MAX_LEN }>(name, ErrorKind::InvalidName, Field::Name, name_at)?;
    let name = AgentName::parse(name_text.as_bytes()).map_err(|e| e.shifted(name_at + 1))?;
    let ip_text = decode::<64>(ip, ErrorKind::InvalidAddr, Field::Ip, ip_at)?;
    let addr = AgentAddr::parse(ip_text.as_bytes()).map_err(|e| e.shifted(ip_at + 1))?;
    let key_text = decode::<{ AgentKey::MAX_LEN }>(key, ErrorKind::InvalidKey, Field::Key, key_at)?;
    let key = AgentKey::parse(key_text.as_bytes()).map_err(|e| e.shifted(key_at + 1))?;
    Ok(RecordBuf::from_record(&Record::new(id, name, addr, key)))
}

fn decode<const N: usize>(
    s: JsonStr<'_>,
    too_long: ErrorKind,
    field: Field,
    at: usize,
) -> Result<heapless::String<N>, Error> {
    s.decode::<N>().ok_or(Error::at(too_long, field, at))
}

/// Writes a success answer: `{"error":0,"data":{"id":…,"name":…,"ip":…,"key":…}}`, the address in
/// canonical form.
///
/// ```
/// use agentkeys::{encode_keypoll_success, Record};
/// let rec = Record::parse(b"001 web any k1").unwrap();
/// let mut buf = [0u8; 512];
/// assert_eq!(
///     encode_keypoll_success(&rec, &mut buf).unwrap(),
///     r#"{"error":0,"data":{"id":"001","name":"web","ip":"any","key":"k1"}}"#
/// );
/// ```
///
/// # Errors
/// `ScriptIdTooShort` for an ID of 1 or 2 digits (the manager refuses those from scripts, so the
/// answer is never written), or `BufferTooSmall` (1024 bytes always suffice).
pub fn encode_keypoll_success<'b>(record: &Record<'_>, buf: &'b mut [u8]) -> Result<&'b str, Error> {
    // The manager refuses script IDs of fewer than 3 digits: never write an answer it would refuse.
    validate_script_id(record.id.as_bytes())?;
    let mut w = SliceWriter::new(buf);
    // Names, IDs and addresses are plain ASCII, but keys may hold `"` or `\`: escape every value.
    let put = |w: &mut SliceWriter<'_>, member: &str, value: &str| {
        let _ = write!(w, "\"{member}\":");
        let _ = json::write_string(w, value);
    };
    w.push(br#"{"error":0,"data":{"#);
    put(&mut w, "id", record.id.as_str());
    w.push(b",");
    put(&mut w, "name", record.name.as_str());
    w.push(b",");
    put(&mut w, "ip", &record.addr.to_text());
    w.push(b",");
    put(&mut w, "key", record.key.as_str());
    w.push(b"}}");
    w.finish_str()
}

/// The exact length [`encode_keypoll_success`] writes for `record`.
///
/// # Errors
/// As [`encode_keypoll_success`], but never `BufferTooSmall`.
pub fn keypoll_success_len(record: &Record<'_>) -> Result<usize, Error> {
    crate::out::measure(|b| encode_keypoll_success(record, b).map(str::as_bytes))
}

/// [`encode_keypoll_success`] into a `String` of exactly its size.
///
/// # Errors
/// As [`encode_keypoll_success`], but never `BufferTooSmall`.
#[cfg(feature = "alloc")]
pub fn keypoll_success_string(record: &Record<'_>) -> Result<alloc::string::String, Error> {
    crate::out::to_string(|b| encode_keypoll_success(record, b).map(str::as_bytes))
}

/// The exact length [`encode_keypoll_error`] writes.
///
/// # Errors
/// As [`encode_keypoll_error`], but never `BufferTooSmall`.
pub fn keypoll_error_len(code: i32, message: &str) -> Result<usize, Error> {
    crate::out::measure(|b| encode_keypoll_error(code, message, b).map(str::as_bytes))
}

/// [`encode_keypoll_error`] into a `String` of exactly its size.
///
/// # Errors
/// As [`encode_keypoll_error`], but never `BufferTooSmall`.
#[cfg(feature = "alloc")]
pub fn keypoll_error_string(code: i32, message: &str) -> Result<alloc::string::String, Error> {
    crate::out::to_string(|b| encode_keypoll_error(code, message, b).map(str::as_bytes))
}

/// Writes an error answer: `{"error":N,"message":"…"}`, the message JSON-escaped.
///
/// ```
/// let mut buf = [0u8; 128];
/// assert_eq!(
///     agentkeys::encode_keypoll_error(4, "No \"agent\"", &mut buf).unwrap(),
///     r#"{"error":4,"message":"No \"agent\""}"#
/// );
/// ```
///
/// # Errors
/// `InvalidErrorCode` for code 0 (that means success), or `BufferTooSmall`.
pub fn encode_keypoll_error<'b>(code: i32, message: &str, buf: &'b mut [u8]) -> Result<&'b str, Error> {
    if code == 0 {
        return Err(Error::at(ErrorKind::InvalidErrorCode, Field::ErrorCode, 0));
    }
    let mut w = SliceWriter::new(buf);
    let _ = write!(w, r#"{{"error":{code},"message":"#);
    let _ = json::write_string(&mut w, message);
    w.push(b"}");
    w.finish_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> Error {
        parse_keypoll_output(s.as_bytes()).unwrap_err()
    }

    #[test]
    fn strictness() {
        assert_eq!(err(r#"{"error":0,"error":0,"data":{}}"#).kind(), ErrorKind::DuplicateMember);
        let e = err(r#"{"error":0,"data":{"id":"001","name":"ab","ip":"any","key":"k","id":"002"}}"#);
        assert_eq!((e.kind(), e.field()), (ErrorKind::DuplicateMember, Some(Field::Id)));
        assert_eq!(err(r#"{"error":0,"data":[]}"#).kind(), ErrorKind::WrongType);
        assert_eq!(err(r#"{"error":1.5,"message":"x"}"#).kind(), ErrorKind::WrongType);
        assert_eq!(err(r#"{"error":4294967296,"message":"x"}"#).kind(), ErrorKind::InvalidErrorCode);
        assert_eq!(err(r#"{"error":1}"#).field(), Some(Field::Message));
        assert_eq!(err(r#"{"error":1,"message":null}"#).kind(), ErrorKind::WrongType);
        assert_eq!(err("[1]").kind(), ErrorKind::InvalidJson);
        assert_eq!(err("").kind(), ErrorKind::InvalidJson);
        let e = err(r#"{"error":0,"data":{"id":"001","name":"a b","ip":"any","key":"k"}}"#);
        assert_eq!((e.kind(), e.offset()), (ErrorKind::InvalidName, 37 + 1 + 1));
    }

    #[test]
    fn tolerates_whitespace_trailing_bytes_and_unknown_members() {
        let out = " \n{\"x\":[1,{\"y\":2}],\"error\":-3,\"message\":\"m\"}\ngarbage";
        assert!(matches!(parse_keypoll_output(out.as_bytes()).unwrap(), KeyPollAnswer::Refused { code: -3, .. }));
    }

    #[test]
    fn error_with_zero_code_is_refused() {
        let mut buf = [0u8; 64];
        assert_eq!(encode_keypoll_error(0, "x", &mut buf).unwrap_err().kind(), ErrorKind::InvalidErrorCode);
    }
}
