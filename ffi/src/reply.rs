//! The manager's reply: formatting (success and error) and parsing (agent side).

use core::ffi::c_char;

use agentkeys_core::{Reply, encode_error_reply, encode_key_reply, parse_reply};

use crate::panic::ffi_panic_boundary;
use crate::result::ak_result;
use crate::types::{ak_error, ak_record, ak_str};
#[allow(unused_imports, reason = "each module uses some of the reporters")]
use crate::types::{report, report_details, report_error};

/// Writes upstream's exact error reply for a refusal, `ERROR: <text>. Unable to add agent`, from
/// the `ak_error` a parse or validation function filled (its `code` and `subject`). Codes that
/// upstream never sends to an agent give `ERROR: Internal validation error. Unable to add agent`.
/// A server can also build one itself: `code = AK_DUPLICATE_NAME`, `subject = <name>`.
/// Returns `AK_OK`, `AK_INVALID_PARAMETER` (not an agent error code), `AK_BUFFER_TOO_SMALL` or
/// `AK_NULL_PARAMETER`.
///
/// # Safety
/// `err` readable, its `subject` valid for its length; `buf` valid for `cap` bytes; `written`
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_error_reply(
    err: *const ak_error,
    buf: *mut c_char,
    cap: usize,
    written: *mut usize,
) -> ak_result {
    ffi_panic_boundary! {
        let details = try_ref!(err);
        let Some(kind) = details.code.kind() else { return ak_result::AK_INVALID_PARAMETER };
        let refusal = agentkeys_core::RequestError::new(kind, str_field!(details.subject).unwrap_or(b""));
        try_text_out!(buf, cap, written).write(|dst| encode_error_reply(&refusal, dst))
    }
}

/// Writes a success reply, `OSSEC K:'ID NAME IP KEY'` (no newline; address in canonical form),
/// after validating the record. Returns `AK_OK`, a field code, `AK_BUFFER_TOO_SMALL` or
/// `AK_NULL_PARAMETER`.
///
/// # Safety
/// `record` readable with valid strings; `buf` valid for `cap` bytes; `written` writable; `err`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_reply_format_key(
    record: *const ak_record,
    buf: *mut c_char,
    cap: usize,
    written: *mut usize,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        format_record!(record, buf, cap, written, err, |rec, dst| encode_key_reply(rec, dst).map(str::as_bytes))
    }
}

/// What a manager answered.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ak_reply_kind {
    /// Registered: `record` and `text` are filled.
    AK_REPLY_KEY = 0,
    /// Refused: `server_error` holds the manager's message.
    AK_REPLY_REFUSED = 1,
}

/// A parsed reply; every `ak_str` borrows from the parsed input.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ak_reply {
    /// Key or refusal.
    pub kind: ak_reply_kind,
    /// The validated record (for `AK_REPLY_KEY`).
    pub record: ak_record,
    /// The record text exactly as received: an agent writes it plus `\n` as its client.keys.
    pub text: ak_str,
    /// The manager's message without `ERROR: ` and `. Unable to add agent` (for
    /// `AK_REPLY_REFUSED`).
    pub server_error: ak_str,
}

/// Parses everything a manager sent, in the Wazuh 4.x, 3.x or OSSEC style, and validates the record
/// as a Wazuh 4.x agent does. Returns `AK_OK` (see `out->kind`), `AK_EMPTY_REPLY`,
/// `AK_INVALID_REPLY`, a field code or `AK_NULL_PARAMETER`.
///
/// # Safety
/// `input` valid for `len` bytes and alive while `*out` is used; `out` writable; `err` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_reply_parse(
    data: *const c_char,
    len: usize,
    out: *mut ak_reply,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        let mut err = err_out!(err);
        let bytes = try_slice!(data, len, err);
        let slot = try_mut!(out, err);
        *slot = match parse_reply(bytes) {
            Ok(Reply::Key { text, .. }) => {
                // The record text is `ID NAME IP KEY`, single spaces, all validated.
                let mut parts = text.as_bytes().splitn(4, |&b| b == b' ').map(ak_str::from_bytes);
                let mut next = || parts.next().unwrap_or(ak_str::NONE);
                let record = ak_record { id: next(), name: next(), ip: next(), key: next() };
                ak_reply { kind: ak_reply_kind::AK_REPLY_KEY, record, text: ak_str::from_bytes(text.as_bytes()), server_error: ak_str::NONE }
            }
            Ok(Reply::Refused(message)) => ak_reply {
                kind: ak_reply_kind::AK_REPLY_REFUSED,
                record: ak_record::NONE,
                text: ak_str::NONE,
                server_error: ak_str::from_bytes(message),
            },
            Err(e) => return report_error(&mut err, &e),
        };
        ak_result::AK_OK
    }
}
