//! client.keys: one line, a whole buffer, and formatting a record.

use core::ffi::c_char;

use agentkeys_core::{KeysLines, Line, NumberedLine, Record, parse_line};

use crate::io::in_bytes;
use crate::panic::ffi_panic_boundary;
use crate::result::ak_result;
use crate::types::{ak_error, ak_record, ak_str};
#[allow(unused_imports, reason = "each module uses some of the reporters")]
use crate::types::{report, report_details, report_error};

/// What a client.keys line holds.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ak_line_kind {
    /// An active agent: `record` is filled.
    AK_LINE_AGENT = 0,
    /// A removed agent (`ID !NAME …`): `record` holds the ID and, as written (not validated, like
    /// upstream), the name without its `!`, the address and the key; `text` is kept verbatim by
    /// upstream.
    AK_LINE_REMOVED = 1,
    /// A comment (first byte `#` or space).
    AK_LINE_COMMENT = 2,
    /// A line no reader can use: `error` says why (code, field, offset, line).
    AK_LINE_INVALID = 3,
}

/// One classified line. Every `ak_str` borrows from the buffer that was parsed.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ak_line {
    /// What the line holds.
    pub kind: ak_line_kind,
    /// 1-based line number (0 from `ak_keys_parse_line`).
    pub number: u32,
    /// The raw line without `\n`.
    pub text: ak_str,
    /// The fields, for `AK_LINE_AGENT` (validated) and `AK_LINE_REMOVED` (as written).
    pub record: ak_record,
    /// Why the line is invalid, for `AK_LINE_INVALID` (`error.code != AK_OK`).
    pub error: ak_error,
}

fn line_to_c(text: &[u8], number: u32, line: &Line<'_>) -> ak_line {
    let ok = ak_error {
        code: ak_result::AK_OK,
        field: crate::types::ak_field::AK_FIELD_NONE,
        line: 0,
        offset: 0,
        subject: ak_str::NONE,
    };
    let (kind, record, error) = match line {
        Line::Agent(r) => (ak_line_kind::AK_LINE_AGENT, borrowed_record(text, r), ok),
        Line::Removed(r) => {
            let id_len = r.id.as_bytes().len();
            let record = ak_record {
                id: ak_str::from_bytes(&text[..id_len]),
                name: ak_str::from_bytes(r.name.as_bytes()),
                ip: ak_str::from_bytes(r.ip.as_bytes()),
                key: ak_str::from_bytes(r.key.as_bytes()),
            };
            (ak_line_kind::AK_LINE_REMOVED, record, ok)
        }
        Line::Comment => (ak_line_kind::AK_LINE_COMMENT, ak_record::NONE, ok),
        Line::Invalid(e) => (ak_line_kind::AK_LINE_INVALID, ak_record::NONE, ak_error::from_error(e)),
    };
    ak_line { kind, number, text: ak_str::from_bytes(text), record, error }
}

/// The four fields of an agent line as slices of `text` (the line is `ID NAME IP KEY`, single
/// spaces, possibly followed by `\r`).
fn borrowed_record(text: &[u8], r: &Record<'_>) -> ak_record {
    let id_len = r.id.as_bytes().len();
    let name_at = id_len + 1;
    let name_len = r.name.as_str().len();
    let ip_at = name_at + name_len + 1;
    let key_len = r.key.as_str().len();
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    let key_at = text.len() - key_len;
    ak_record {
        id: ak_str::from_bytes(&text[..id_len]),
        name: ak_str::from_bytes(&text[name_at..name_at + name_len]),
        ip: ak_str::from_bytes(&text[ip_at..key_at - 1]),
        key: ak_str::from_bytes(&text[key_at..]),
    }
}

/// Classifies one client.keys line (without its `\n`; a trailing `\r` is ignored). Returns `AK_OK`
/// whatever the line holds (see `out->kind`); `AK_NULL_PARAMETER` for NULL pointers.
///
/// # Safety
/// `line` valid for `len` bytes (or NULL with 0) and kept alive while `*out` is used; `out`
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_keys_parse_line(line: *const c_char, len: usize, out: *mut ak_line) -> ak_result {
    ffi_panic_boundary! {
        let text = try_slice!(line, len);
        let slot = try_mut!(out);
        *slot = line_to_c(text, 0, &parse_line(text));
        ak_result::AK_OK
    }
}

/// Iterator state over a whole client.keys buffer, kept by the caller (no allocation). Initialise
/// with `ak_keys_iter_init`; treat the fields as private.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ak_keys_iter {
    /// Private: the part of the buffer not read yet.
    pub rest: *const u8,
    /// Private: its length.
    pub rest_len: usize,
    /// Private: lines read so far.
    pub lines_read: u32,
}

/// Starts iterating over `buf`, which must stay alive and unchanged while the iterator and the
/// lines it returns are used. Returns `AK_OK` or `AK_NULL_PARAMETER`.
///
/// # Safety
/// `buf` valid for `len` bytes (or NULL with 0); `iter` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_keys_iter_init(iter: *mut ak_keys_iter, buf: *const c_char, len: usize) -> ak_result {
    ffi_panic_boundary! {
        let bytes = try_slice!(buf, len);
        let slot = try_mut!(iter);
        *slot = ak_keys_iter { rest: bytes.as_ptr(), rest_len: bytes.len(), lines_read: 0 };
        ak_result::AK_OK
    }
}

/// Reads the next line into `*out` (with its 1-based number). Returns `AK_OK`, `AK_END` when the
/// buffer is exhausted (a final line without `\n` counts; the empty tail after the last `\n` does
/// not), or `AK_NULL_PARAMETER`.
///
/// # Safety
/// `iter` initialised by `ak_keys_iter_init` over a buffer that is still alive; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_keys_iter_next(iter: *mut ak_keys_iter, out: *mut ak_line) -> ak_result {
    ffi_panic_boundary! {
        let state = try_mut!(iter);
        let slot = try_mut!(out);
        // SAFETY: `rest`/`rest_len` were set by ak_keys_iter_init or by this function from a live
        // buffer the caller keeps alive.
        let rest = match unsafe { in_bytes(state.rest, state.rest_len) } {
            Ok(r) => r,
            Err(code) => return code,
        };
        let mut lines = KeysLines::resume(rest, state.lines_read);
        let Some(NumberedLine { number, text, line }) = lines.next() else {
            return ak_result::AK_END;
        };
        let remaining = lines.remaining();
        state.rest = remaining.as_ptr();
        state.rest_len = remaining.len();
        state.lines_read = lines.lines_read();
        *slot = line_to_c(text, number, &line);
        ak_result::AK_OK
    }
}

/// Validates the four fields of `record`, a struct input of an exported function, into a core
/// record.
pub(crate) fn record_from_c<'a>(record: &'a ak_record) -> Result<Record<'a>, agentkeys_core::Error> {
    use agentkeys_core::{AgentAddr, AgentId, AgentKey, AgentName, Field};
    let missing = |f| agentkeys_core::Error::new(agentkeys_core::ErrorKind::MissingField).with_field(f);
    let (id, name, ip, key) =
        (str_field!(record.id), str_field!(record.name), str_field!(record.ip), str_field!(record.key));
    Ok(Record::new(
        AgentId::parse(id.ok_or(missing(Field::Id))?)?,
        AgentName::parse(name.ok_or(missing(Field::Name))?)?,
        AgentAddr::parse(ip.ok_or(missing(Field::Ip))?)?,
        AgentKey::parse(key.ok_or(missing(Field::Key))?)?,
    ))
}

/// Validates `record` and writes what `encode` makes of it; a record the encoder refuses (e.g. a
/// key-poll answer with a 2-digit ID) is reported with its field, like one that fails validation.
pub(crate) fn encode_record<F>(
    record: &ak_record,
    out: crate::io::TextOut<'_>,
    err: &mut Option<&mut ak_error>,
    encode: F,
) -> ak_result
where
    F: for<'b> Fn(&Record<'_>, &'b mut [u8]) -> Result<&'b [u8], agentkeys_core::Error>,
{
    let rec = match record_from_c(record) {
        Ok(r) => r,
        Err(e) => return report_error(err, &e),
    };
    if let Err(e) = encode(&rec, &mut [])
        && e.kind() != agentkeys_core::ErrorKind::BufferTooSmall
    {
        return report_error(err, &e);
    }
    out.write(|dst| encode(&rec, dst))
}

/// Writes `record` as a client.keys line, `ID NAME IP KEY` (no newline; address in file form),
/// after validating every field. Returns `AK_OK`, a field code (`AK_INVALID_NAME`, …,
/// `AK_MISSING_FIELD`), `AK_BUFFER_TOO_SMALL` (needed capacity in `*written`; 311 always suffices)
/// or `AK_NULL_PARAMETER`.
///
/// # Safety
/// `record` readable with valid fields; `buf` valid for `cap` bytes; `written` writable; `err`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_record_format(
    record: *const ak_record,
    buf: *mut c_char,
    cap: usize,
    written: *mut usize,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        format_record!(record, buf, cap, written, err, |rec, dst| rec.encode_into(dst).map(str::as_bytes))
    }
}
