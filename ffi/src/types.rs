//! The `#[repr(C)]` types of the C ABI.

use core::ffi::c_char;

use agentkeys_core::{Error, Field, RecordBuf, RequestError};

use crate::io::copy_into;
use crate::result::ak_result;

/// A borrowed byte string: `ptr` points into an input the caller owns; it is **not**
/// NUL-terminated. An absent optional value has `ptr == NULL` and `len == 0`.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ak_str {
    /// First byte, or NULL when absent.
    pub ptr: *const c_char,
    /// Length in bytes.
    pub len: usize,
}

impl ak_str {
    pub(crate) const NONE: ak_str = ak_str { ptr: core::ptr::null(), len: 0 };

    pub(crate) fn from_bytes(bytes: &[u8]) -> ak_str {
        ak_str { ptr: bytes.as_ptr().cast(), len: bytes.len() }
    }

    pub(crate) fn from_opt(bytes: Option<&[u8]>) -> ak_str {
        bytes.map_or(ak_str::NONE, ak_str::from_bytes)
    }

    /// The bytes, or `None` when absent.
    ///
    /// # Safety
    /// A non-NULL `ptr` must be valid for `len` bytes for `'a`.
    pub(crate) unsafe fn as_opt<'a>(&self) -> Option<&'a [u8]> {
        // SAFETY: forwarded contract.
        unsafe { crate::io::optional_input(self.ptr.cast::<u8>(), self.len) }
    }
}

/// Which field an error is about.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ak_field {
    /// Not about one field.
    AK_FIELD_NONE = 0,
    /// Agent ID.
    AK_FIELD_ID = 1,
    /// Agent name.
    AK_FIELD_NAME = 2,
    /// Agent address.
    AK_FIELD_IP = 3,
    /// Agent key.
    AK_FIELD_KEY = 4,
    /// `OSSEC PASS:` password.
    AK_FIELD_PASSWORD = 5,
    /// `V:` version.
    AK_FIELD_VERSION = 6,
    /// `G:` groups.
    AK_FIELD_GROUPS = 7,
    /// `K:` key hash.
    AK_FIELD_KEY_HASH = 8,
    /// Key-poll `error` member.
    AK_FIELD_ERROR_CODE = 9,
    /// Key-poll `message` member.
    AK_FIELD_MESSAGE = 10,
    /// Key-poll `data` member.
    AK_FIELD_DATA = 11,
    /// An enroll JWT's header.
    AK_FIELD_HEADER = 12,
    /// An enroll JWT's `kid`.
    AK_FIELD_KID = 13,
    /// An enroll JWT's claims.
    AK_FIELD_CLAIMS = 14,
    /// An enroll JWT's signature.
    AK_FIELD_SIGNATURE = 15,
    /// An enrollment token as a whole.
    AK_FIELD_TOKEN = 16,
    /// An enrollment token's `ver`.
    AK_FIELD_TOKEN_VERSION = 17,
    /// An enrollment token's `adr`.
    AK_FIELD_ADDRESS = 18,
    /// An enrollment token's `pin`.
    AK_FIELD_PIN = 19,
    /// An enrollment token's `ca`.
    AK_FIELD_CA = 20,
    /// An enrollment token's `key`.
    AK_FIELD_TOKEN_KEY = 21,
    /// A re-enrollment secret.
    AK_FIELD_SECRET = 22,
}

/// Every field with its C code, both ways.
const FIELDS: [(Field, ak_field); 22] = [
    (Field::Id, ak_field::AK_FIELD_ID),
    (Field::Name, ak_field::AK_FIELD_NAME),
    (Field::Ip, ak_field::AK_FIELD_IP),
    (Field::Key, ak_field::AK_FIELD_KEY),
    (Field::Password, ak_field::AK_FIELD_PASSWORD),
    (Field::Version, ak_field::AK_FIELD_VERSION),
    (Field::Groups, ak_field::AK_FIELD_GROUPS),
    (Field::KeyHash, ak_field::AK_FIELD_KEY_HASH),
    (Field::ErrorCode, ak_field::AK_FIELD_ERROR_CODE),
    (Field::Message, ak_field::AK_FIELD_MESSAGE),
    (Field::Data, ak_field::AK_FIELD_DATA),
    (Field::Header, ak_field::AK_FIELD_HEADER),
    (Field::Kid, ak_field::AK_FIELD_KID),
    (Field::Claims, ak_field::AK_FIELD_CLAIMS),
    (Field::Signature, ak_field::AK_FIELD_SIGNATURE),
    (Field::Token, ak_field::AK_FIELD_TOKEN),
    (Field::TokenVersion, ak_field::AK_FIELD_TOKEN_VERSION),
    (Field::Address, ak_field::AK_FIELD_ADDRESS),
    (Field::Pin, ak_field::AK_FIELD_PIN),
    (Field::Ca, ak_field::AK_FIELD_CA),
    (Field::TokenKey, ak_field::AK_FIELD_TOKEN_KEY),
    (Field::Secret, ak_field::AK_FIELD_SECRET),
];

/// The core field of a C field code.
pub(crate) fn field_from_c(field: ak_field) -> Option<Field> {
    FIELDS.iter().find(|(_, c)| *c == field).map(|(f, _)| *f)
}

impl From<Option<Field>> for ak_field {
    fn from(field: Option<Field>) -> Self {
        field.and_then(|f| FIELDS.iter().find(|(core, _)| *core == f)).map_or(ak_field::AK_FIELD_NONE, |(_, c)| *c)
    }
}

/// Details of a failure: filled (when the caller passes a non-NULL `ak_error *`) only when a
/// function fails with an agent-related code.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ak_error {
    /// The same code the function returned.
    pub code: ak_result,
    /// The field concerned.
    pub field: ak_field,
    /// 1-based line of a client.keys buffer, or 0.
    pub line: u32,
    /// Byte offset in the input (in the line, for client.keys).
    pub offset: usize,
    /// The value upstream quotes in its error reply (borrowed from the input), or absent.
    pub subject: ak_str,
}

impl ak_error {
    pub(crate) fn from_error(e: &Error) -> ak_error {
        ak_error {
            code: ak_result::from(e.kind()),
            field: e.field().into(),
            line: e.line().unwrap_or(0),
            offset: e.offset(),
            subject: ak_str::NONE,
        }
    }

    pub(crate) fn from_request_error(e: &RequestError<'_>) -> ak_error {
        let mut out = ak_error::from_error(&e.error());
        out.subject = ak_str::from_bytes(e.subject());
        out
    }
}

/// Stores `details` in the caller's optional `ak_error` (already checked) and returns the code.
pub(crate) fn report_details(err: &mut Option<&mut ak_error>, details: ak_error) -> ak_result {
    if let Some(slot) = err.as_deref_mut() {
        *slot = details;
    }
    details.code
}

/// Reports a C-ABI-level problem (NULL pointer, bad UTF-8) through the optional `err` too.
pub(crate) fn report(err: &mut Option<&mut ak_error>, code: ak_result) -> ak_result {
    report_details(err, ak_error { code, field: ak_field::AK_FIELD_NONE, line: 0, offset: 0, subject: ak_str::NONE })
}

/// Maps a core error to its code and reports it through the optional `err`.
pub(crate) fn report_error(err: &mut Option<&mut ak_error>, e: &Error) -> ak_result {
    report_details(err, ak_error::from_error(e))
}

/// A record whose fields borrow from the caller's input or strings: `ID NAME IP KEY`.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ak_record {
    /// Agent ID.
    pub id: ak_str,
    /// Agent name.
    pub name: ak_str,
    /// Agent address, as written in the input.
    pub ip: ak_str,
    /// Agent key.
    pub key: ak_str,
}

impl ak_record {
    pub(crate) const NONE: ak_record =
        ak_record { id: ak_str::NONE, name: ak_str::NONE, ip: ak_str::NONE, key: ak_str::NONE };
}

/// Longest ID plus NUL.
pub const AK_ID_BUF: usize = 9;
/// Longest name plus NUL.
pub const AK_NAME_BUF: usize = 129;
/// Longest address text plus NUL (rounded up).
pub const AK_ADDR_BUF: usize = 48;
/// Longest key plus NUL.
pub const AK_KEY_BUF: usize = 129;

/// An owned record in fixed NUL-terminated arrays, for values that had to be decoded (key-poll
/// answers, imported keys). `ip` is in canonical form.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ak_record_buf {
    /// Agent ID.
    pub id: [c_char; AK_ID_BUF],
    /// Agent name.
    pub name: [c_char; AK_NAME_BUF],
    /// Agent address (canonical form).
    pub ip: [c_char; AK_ADDR_BUF],
    /// Agent key.
    pub key: [c_char; AK_KEY_BUF],
}

impl ak_record_buf {
    pub(crate) fn from_record(r: &RecordBuf) -> ak_record_buf {
        let rec = r.as_record();
        let mut out =
            ak_record_buf { id: [0; AK_ID_BUF], name: [0; AK_NAME_BUF], ip: [0; AK_ADDR_BUF], key: [0; AK_KEY_BUF] };
        copy_into(&mut out.id, rec.id.as_bytes());
        copy_into(&mut out.name, rec.name.as_str().as_bytes());
        copy_into(&mut out.ip, rec.addr.to_text().as_bytes());
        copy_into(&mut out.key, rec.key.as_str().as_bytes());
        out
    }
}

/// A validated address in both text forms.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ak_addr {
    /// Canonical form, used in replies and comparisons (`10.1.1.1/32`, expanded upper-case IPv6).
    pub canonical: [c_char; AK_ADDR_BUF],
    /// client.keys form (`10.1.1.1`, `10.0.0.0/8`).
    pub file_form: [c_char; AK_ADDR_BUF],
    /// 0 for `any`, 4 or 6.
    pub family: u8,
    /// Prefix length the mask stands for; 0 for `any` and for a non-contiguous netmask.
    pub prefix_len: u8,
    /// Exactly one IPv4 host (decides the agent's `!id!` message header).
    pub single_host: bool,
}
