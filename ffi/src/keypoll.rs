//! Key-poll answers: the JSON a key-poll script prints.

use core::ffi::c_char;
use core::fmt::Write as _;

use agentkeys_core::{JsonStr, KeyPollAnswer, encode_keypoll_error, encode_keypoll_success, parse_keypoll_output};

use crate::panic::ffi_panic_boundary;
use crate::result::ak_result;
use crate::types::{ak_error, ak_record, ak_record_buf, ak_str};
#[allow(unused_imports, reason = "each module uses some of the reporters")]
use crate::types::{report, report_details, report_error};

/// What a key-poll script answered.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ak_keypoll_kind {
    /// `error` 0: `record` holds the agent.
    AK_KEYPOLL_FOUND = 0,
    /// `error` ≠ 0: `code` and `message_json` hold the script's refusal.
    AK_KEYPOLL_REFUSED = 1,
}

/// A parsed key-poll answer.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ak_keypoll_answer {
    /// Found or refused.
    pub kind: ak_keypoll_kind,
    /// The agent (decoded, validated, NUL-terminated), for `AK_KEYPOLL_FOUND`.
    pub record: ak_record_buf,
    /// The script's `error` code, for `AK_KEYPOLL_REFUSED` (0 otherwise).
    pub code: i32,
    /// The `message` member still JSON-escaped, borrowed from the input; decode it with
    /// `ak_keypoll_message`.
    pub message_json: ak_str,
}

/// Parses a key-poll script's output (strict contract: integer `error`, string members, script IDs
/// of 3–8 digits; white space and trailing bytes tolerated). Returns `AK_OK` (see `out->kind`),
/// `AK_INVALID_JSON`, `AK_MISSING_MEMBER`, `AK_WRONG_TYPE`, `AK_DUPLICATE_MEMBER`,
/// `AK_INVALID_ERROR_CODE`, a field code, or `AK_NULL_PARAMETER`; `err->field` names the member.
///
/// # Safety
/// `input` valid for `len` bytes and alive while `out->message_json` is used; `out` writable; `err`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_keypoll_parse(
    data: *const c_char,
    len: usize,
    out: *mut ak_keypoll_answer,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        let mut err = err_out!(err);
        let bytes = try_slice!(data, len, err);
        let slot = try_mut!(out, err);
        let empty = ak_record_buf { id: [0; 9], name: [0; 129], ip: [0; 48], key: [0; 129] };
        *slot = match parse_keypoll_output(bytes) {
            Ok(KeyPollAnswer::Found(record)) => ak_keypoll_answer {
                kind: ak_keypoll_kind::AK_KEYPOLL_FOUND,
                record: ak_record_buf::from_record(&record),
                code: 0,
                message_json: ak_str::NONE,
            },
            Ok(KeyPollAnswer::Refused { code, message }) => ak_keypoll_answer {
                kind: ak_keypoll_kind::AK_KEYPOLL_REFUSED,
                record: empty,
                code,
                message_json: ak_str::from_bytes(message.raw().as_bytes()),
            },
            Err(e) => return report_error(&mut err, &e),
        };
        ak_result::AK_OK
    }
}

/// Writes the decoded `message` of a refused answer (UTF-8, NUL-terminated). Returns `AK_OK`,
/// `AK_INVALID_JSON` (not a valid escaped string), `AK_BUFFER_TOO_SMALL` or `AK_NULL_PARAMETER`.
///
/// # Safety
/// `answer` readable, its `message_json` still valid; `buf` valid for `cap` bytes; `written`
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_keypoll_message(
    answer: *const ak_keypoll_answer,
    buf: *mut c_char,
    cap: usize,
    written: *mut usize,
) -> ak_result {
    ffi_panic_boundary! {
        let answer = try_ref!(answer);
        let raw = str_field!(answer.message_json).unwrap_or(b"");
        let message = match JsonStr::from_raw(raw) {
            Ok(m) => m,
            Err(e) => return ak_result::from(e.kind()),
        };
        try_text_out!(buf, cap, written).write(|dst| {
            let mut w = agentkeys_core::SliceWriter::new(dst);
            let _ = write!(w, "{message}");
            w.finish()
        })
    }
}

/// Writes a success answer, `{"error":0,"data":{"id":…,"name":…,"ip":…,"key":…}}`, after
/// validating the record. Returns `AK_OK`, a field code, `AK_BUFFER_TOO_SMALL` or
/// `AK_NULL_PARAMETER`.
///
/// # Safety
/// `record` readable with valid strings; `buf` valid for `cap` bytes; `written` writable; `err`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_keypoll_format_success(
    record: *const ak_record,
    buf: *mut c_char,
    cap: usize,
    written: *mut usize,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        format_record!(record, buf, cap, written, err, |rec, dst| encode_keypoll_success(rec, dst).map(str::as_bytes))
    }
}

/// Writes an error answer, `{"error":<code>,"message":"…"}` (message JSON-escaped). Returns
/// `AK_OK`, `AK_INVALID_ERROR_CODE` (code 0 means success), `AK_INVALID_UTF8`,
/// `AK_BUFFER_TOO_SMALL` or `AK_NULL_PARAMETER`.
///
/// # Safety
/// `message` valid for `len` bytes; `buf` valid for `cap` bytes; `written` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_keypoll_format_error(
    code: i32,
    message: *const c_char,
    len: usize,
    buf: *mut c_char,
    cap: usize,
    written: *mut usize,
) -> ak_result {
    ffi_panic_boundary! {
        let text = try_str!(message, len);
        try_text_out!(buf, cap, written).write(|dst| encode_keypoll_error(code, text, dst).map(str::as_bytes))
    }
}
