//! The manager's reply to a registration request (SPEC 3.4, 6.4).

use core::fmt::Write as _;

use crate::error::{Error, ErrorKind, Field, RequestError};
use crate::name::check_name_rule;
use crate::out::SliceWriter;
use crate::record::Record;

const KEY_PREFIX: &[u8] = b"OSSEC K:'";
const ERROR_PREFIX: &[u8] = b"ERROR: ";
const UNABLE_SUFFIX: &[u8] = b". Unable to add agent";
/// The second record of a Wazuh 3.x error reply.
const LEGACY_TRAILER: &[u8] = b"Unable to add agent.";

/// Writes a success reply in the Wazuh 4.x style: `OSSEC K:'ID NAME IP KEY'`, no newline, with the
/// address in canonical form (as received, e.g. `10.1.1.1/32`).
///
/// ```
/// use agentkeys::{encode_key_reply, Record};
/// let rec = Record::parse(b"006 web 10.1.1.1/32 abc").unwrap();
/// let mut buf = [0u8; 512];
/// assert_eq!(encode_key_reply(&rec, &mut buf).unwrap(), "OSSEC K:'006 web 10.1.1.1/32 abc'");
/// ```
///
/// # Errors
/// `BufferTooSmall` (`Record::MAX_LINE_LEN + 10` bytes always suffice).
pub fn encode_key_reply<'b>(record: &Record<'_>, buf: &'b mut [u8]) -> Result<&'b str, Error> {
    let mut w = SliceWriter::new(buf);
    let _ = write!(w, "OSSEC K:'{} {} {} {}'", record.id, record.name, record.addr, record.key.as_str());
    w.finish_str()
}

/// The exact length [`encode_key_reply`] writes for `record`.
#[must_use]
pub fn key_reply_len(record: &Record<'_>) -> usize {
    crate::out::measure(|b| encode_key_reply(record, b).map(str::as_bytes)).unwrap_or(0)
}

/// [`encode_key_reply`] into a `String` of exactly its size.
#[cfg(feature = "alloc")]
#[must_use]
pub fn key_reply_string(record: &Record<'_>) -> alloc::string::String {
    crate::out::to_string(|b| encode_key_reply(record, b).map(str::as_bytes)).unwrap_or_default()
}

/// The exact length [`encode_error_reply`] writes for `error`.
#[must_use]
pub fn error_reply_len(error: &RequestError<'_>) -> usize {
    crate::out::measure(|b| encode_error_reply(error, b)).unwrap_or(0)
}

/// [`encode_error_reply`] into a `Vec` of exactly its size.
#[cfg(feature = "alloc")]
#[must_use]
pub fn error_reply_vec(error: &RequestError<'_>) -> alloc::vec::Vec<u8> {
    crate::out::to_vec(|b| encode_error_reply(error, b)).unwrap_or_default()
}

/// Writes an error reply in the Wazuh 4.x style: `ERROR: <text>. Unable to add agent`.
///
/// ```
/// use agentkeys::{encode_error_reply, ErrorKind, RequestError};
/// let mut buf = [0u8; 128];
/// let reply = encode_error_reply(&RequestError::new(ErrorKind::InvalidPassword, b""), &mut buf).unwrap();
/// assert_eq!(reply, b"ERROR: Invalid password. Unable to add agent");
/// ```
///
/// # Errors
/// `BufferTooSmall`, with the needed size in [`Error::offset`].
pub fn encode_error_reply<'b>(error: &RequestError<'_>, buf: &'b mut [u8]) -> Result<&'b [u8], Error> {
    let needed = error.reply_len() + UNABLE_SUFFIX.len();
    if buf.len() < needed {
        return Err(crate::out::buffer_too_small(needed));
    }
    let text_len = error.reply_into(buf)?.len();
    buf[text_len..needed].copy_from_slice(UNABLE_SUFFIX);
    Ok(&buf[..needed])
}

/// A manager's reply, as an agent reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// The agent was registered.
    Key {
        /// The validated record.
        record: Record<'a>,
        /// The record text exactly as received; agents write it (plus `\n`) as their client.keys.
        text: &'a str,
    },
    /// The manager refused; its message without `ERROR: ` and `. Unable to add agent`.
    Refused(&'a [u8]),
}

/// Parses everything a manager sent, accepting the Wazuh 4.x style (one message, no newline), the
/// Wazuh 3.x style (`ERROR: …\n\n` then `ERROR: Unable to add agent.\n\n`) and the OSSEC style
/// (`OSSEC K:'…'\n\n`). A key record wins over earlier error messages, as agents keep reading.
///
/// The record is checked as a Wazuh 4.x agent checks it: four fields, a valid ID, name and address,
/// and a key that passes the *name* rule (2–128 bytes of `A-Z a-z 0-9 . _ -`).
///
/// ```
/// use agentkeys::{parse_reply, Reply};
/// let Reply::Key { record, .. } = parse_reply(b"OSSEC K:'006 web any 95fefb8f'\n\n").unwrap() else { panic!() };
/// assert_eq!(record.id.as_str(), "006");
/// assert_eq!(parse_reply(b"ERROR: Invalid password. Unable to add agent").unwrap(), Reply::Refused(b"Invalid password"));
/// ```
///
/// # Errors
/// `EmptyReply`, `InvalidReply` (neither style, or an unterminated record), or the failing field's
/// error.
pub fn parse_reply(input: &[u8]) -> Result<Reply<'_>, Error> {
    if input.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::new(ErrorKind::EmptyReply));
    }
    let mut refused: Option<&[u8]> = None;
    let mut offset = 0;
    for chunk in split_messages(input) {
        let at = offset;
        offset += chunk.len() + 2;
        if chunk.is_empty() {
            continue;
        }
        if let Some(rest) = chunk.strip_prefix(KEY_PREFIX) {
            let len =
                rest.iter().position(|&b| b == b'\'').ok_or(Error::at(ErrorKind::InvalidReply, Field::Key, at))?;
            return parse_key_record(&rest[..len]).map_err(|e| e.shifted(at + KEY_PREFIX.len()));
        }
        let Some(message) = chunk.strip_prefix(ERROR_PREFIX) else {
            return Err(Error::new(ErrorKind::InvalidReply).shifted(at));
        };
        let message = message.strip_suffix(UNABLE_SUFFIX).unwrap_or(message);
        if message != LEGACY_TRAILER && refused.is_none() {
            refused = Some(message);
        }
    }
    refused.map(Reply::Refused).ok_or(Error::new(ErrorKind::InvalidReply))
}

/// Splits on `\n\n` (the 3.x/OSSEC record separator).
fn split_messages(input: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(input);
    core::iter::from_fn(move || {
        let r = rest?;
        match r.windows(2).position(|w| w == b"\n\n") {
            Some(i) => {
                rest = Some(&r[i + 2..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

fn parse_key_record(text: &[u8]) -> Result<Reply<'_>, Error> {
    let record = Record::parse(text)?;
    let key = record.key.as_str().as_bytes();
    if let Err(at) = check_name_rule(key) {
        let key_at = text.len() - key.len();
        return Err(Error::at(ErrorKind::InvalidKey, Field::Key, key_at + at));
    }
    let text = core::str::from_utf8(text).map_err(|_| Error::new(ErrorKind::InvalidReply))?;
    Ok(Reply::Key { record, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles() {
        let legacy = b"ERROR: Duplicated agent name: x\n\nERROR: Unable to add agent.\n\n";
        assert_eq!(parse_reply(legacy).unwrap(), Reply::Refused(b"Duplicated agent name: x"));
        let then_key = b"ERROR: warn\n\nOSSEC K:'001 ab any k1k2'";
        assert!(matches!(parse_reply(then_key).unwrap(), Reply::Key { .. }));
        assert_eq!(parse_reply(b"").unwrap_err().kind(), ErrorKind::EmptyReply);
        assert_eq!(parse_reply(b"OSSEC K:'001 ab any k").unwrap_err().kind(), ErrorKind::InvalidReply);
        let bad_key = parse_reply(b"OSSEC K:'001 ab any k+y'").unwrap_err();
        assert_eq!((bad_key.kind(), bad_key.offset()), (ErrorKind::InvalidKey, 9 + 11 + 1));
    }

    #[test]
    fn error_reply_buffer_size() {
        let e = RequestError::new(ErrorKind::DuplicateName, b"web");
        let mut small = [0u8; 10];
        let err = encode_error_reply(&e, &mut small).unwrap_err();
        assert_eq!(err.offset(), "ERROR: Duplicate agent name: web. Unable to add agent".len());
    }
}
