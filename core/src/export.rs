//! Base64 export and import of a record, as `manage_agents -e/-i` and the Wazuh API do (SPEC 7).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::{Error, ErrorKind};
use crate::out::buffer_too_small;
use crate::record::{Record, RecordBuf};

/// Longest decoded text `manage_agents -i` accepts.
pub const MAX_IMPORT_LEN: usize = 256;

/// Longest Base64 text [`export_key`] produces.
pub const MAX_EXPORT_LEN: usize = Record::MAX_LINE_LEN.div_ceil(3) * 4;

/// Writes the standard Base64 (with `=` padding, no wrapping) of the record line `ID NAME IP KEY`.
///
/// ```
/// let rec = agentkeys::Record::parse(b"001 server1 any e20e0394dca71bacdea57d4ca25d203f836eca12eeca1ec150c2e5f4309a653a").unwrap();
/// let mut buf = [0u8; agentkeys::MAX_EXPORT_LEN];
/// assert!(agentkeys::export_key(&rec, &mut buf).unwrap().starts_with("MDAxIHNlcnZlcjEg"));
/// ```
///
/// # Errors
/// `BufferTooSmall`; [`MAX_EXPORT_LEN`] bytes always suffice.
pub fn export_key<'b>(record: &Record<'_>, buf: &'b mut [u8]) -> Result<&'b str, Error> {
    let mut line = [0u8; Record::MAX_LINE_LEN];
    let line = record.encode_into(&mut line)?;
    let needed = line.len().div_ceil(3) * 4;
    let n = STANDARD.encode_slice(line, buf).map_err(|_| buffer_too_small(needed))?;
    core::str::from_utf8(&buf[..n]).map_err(|_| Error::new(ErrorKind::InvalidBase64))
}

/// The exact length [`export_key`] writes for `record`.
#[must_use]
pub fn export_key_len(record: &Record<'_>) -> usize {
    crate::out::measure(|b| export_key(record, b).map(str::as_bytes)).unwrap_or(0)
}

/// [`export_key`] into a `String` of exactly its size.
#[cfg(feature = "alloc")]
#[must_use]
pub fn export_key_string(record: &Record<'_>) -> alloc::string::String {
    crate::out::to_string(|b| export_key(record, b).map(str::as_bytes)).unwrap_or_default()
}

/// Decodes an exported key and validates the record in it.
///
/// Stricter than upstream: ASCII white space (line wrapping from copy and paste) is skipped, but
/// any other character outside the Base64 alphabet is an error naming its offset, and every field
/// is validated.
///
/// ```
/// let b64 = "MDAxIHNlcnZlcjEgYW55IGUyMGUwMzk0ZGNhNzFiYWNkZWE1N2Q0Y2EyNWQyMDNmODM2ZWNhMTJlZWNhMWVjMTUwYzJlNWY0MzA5YTY1M2E=";
/// let rec = agentkeys::import_key(b64.as_bytes()).unwrap();
/// assert_eq!(rec.as_record().name.as_str(), "server1");
/// ```
///
/// # Errors
/// `InvalidBase64` (offset of the bad character), `TooLong` (decoded text over 256 bytes),
/// `InvalidRecord` (fewer than four fields), or the failing field's error.
pub fn import_key(text: &[u8]) -> Result<RecordBuf, Error> {
    let mut compact = [0u8; (MAX_IMPORT_LEN / 3 + 1) * 4 + 4];
    let mut n = 0;
    for (i, &b) in text.iter().enumerate() {
        if b.is_ascii_whitespace() {
            continue;
        }
        if !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')) {
            return Err(Error::new(ErrorKind::InvalidBase64).shifted(i));
        }
        let slot = compact.get_mut(n).ok_or(Error::new(ErrorKind::TooLong).shifted(i))?;
        *slot = b;
        n += 1;
    }
    let mut decoded = [0u8; MAX_IMPORT_LEN + 3];
    let len = STANDARD.decode_slice(&compact[..n], &mut decoded).map_err(|_| Error::new(ErrorKind::InvalidBase64))?;
    if len > MAX_IMPORT_LEN {
        return Err(Error::new(ErrorKind::TooLong));
    }
    let line = &decoded[..len];
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    Record::parse(line).map(|r| RecordBuf::from_record(&r))
}
