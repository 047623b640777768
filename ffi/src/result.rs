//! `ak_result`: what every fallible function returns.

use core::ffi::c_char;

use agentkeys_core::ErrorKind;

use crate::panic::ffi_panic_boundary;

/// The outcome of a call. `AK_OK` is 0; codes are never renumbered or reused.
///
/// Codes 1 to 99 belong to the C ABI itself; a code 1000 + N is the core error kind N, with the
/// same name as in Rust (`ErrorKind`) and Python (`Error.kind`), e.g. `AK_INVALID_NAME` =
/// `InvalidName`.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ak_result {
    /// Success.
    AK_OK = 0,
    /// A required pointer was NULL (or a NULL input had a non-zero length).
    AK_NULL_PARAMETER = 1,
    /// The output buffer is too small; `*written` holds the capacity needed.
    AK_BUFFER_TOO_SMALL = 2,
    /// A bug in agentkeys: a panic was caught at the boundary. Please report it.
    AK_PANIC = 3,
    /// A text input that must be UTF-8 is not.
    AK_INVALID_UTF8 = 4,
    /// An input that is not about agents is malformed (e.g. the source IP of `ak_request_options`).
    AK_INVALID_PARAMETER = 5,
    /// An iterator has no more items.
    AK_END = 6,
    /// The operating system could not provide random bytes.
    AK_ENTROPY_UNAVAILABLE = 7,
    /// An agent ID is not 1 to 8 ASCII digits.
    AK_INVALID_ID = 1001,
    /// An agent ID is all zeros (`000` is the manager's own ID).
    AK_RESERVED_ID = 1002,
    /// An agent name breaks the name rule (2–128 bytes of `A-Z a-z 0-9 . _ -`, not starting with `.`).
    AK_INVALID_NAME = 1003,
    /// An agent address is not `any`, IPv4 or IPv6 with an optional prefix or netmask.
    AK_INVALID_ADDR = 1004,
    /// An agent key is not 1–128 printable ASCII bytes without space or `'`.
    AK_INVALID_KEY = 1005,
    /// A key-poll script returned an ID with fewer than 3 digits.
    AK_SCRIPT_ID_TOO_SHORT = 1006,
    /// `G:''`: an empty groups string.
    AK_EMPTY_GROUP = 1020,
    /// A single group longer than 255 bytes.
    AK_GROUP_TOO_LARGE = 1021,
    /// A comma-separated groups string longer than 65535 bytes.
    AK_MULTIGROUP_TOO_LARGE = 1022,
    /// A group of a multi-group string contains a space.
    AK_GROUP_WHITE_SPACE = 1023,
    /// Two commas in a row.
    AK_GROUP_CONSECUTIVE_COMMAS = 1024,
    /// A character outside `A-Z a-z 0-9 . : ; _ - = + ! @ ( )` (and `,` between groups).
    AK_GROUP_PROHIBITED_CHARS = 1025,
    /// The groups string starts or ends with a comma.
    AK_GROUP_COMMA_EDGE = 1026,
    /// More than 128 distinct groups.
    AK_TOO_MANY_GROUPS = 1027,
    /// A group name that is not `[A-Za-z0-9_.-]+`, or is `.` or `..` (manager-side check).
    AK_INVALID_GROUP_NAME = 1028,
    /// An empty line in a `client.keys` buffer.
    AK_EMPTY_LINE = 1040,
    /// A required field is missing (see `ak_error.field`).
    AK_MISSING_FIELD = 1041,
    /// A line or field longer than the format allows.
    AK_TOO_LONG = 1042,
    /// The registration request's password prefix does not match the server's password.
    AK_INVALID_PASSWORD = 1060,
    /// The registration request does not start with `OSSEC A:'<name>'`.
    AK_INVALID_REQUEST = 1061,
    /// `V:'…` without its closing quote (or longer than 2048 bytes).
    AK_UNTERMINATED_VERSION = 1062,
    /// The agent's major.minor version is newer than the manager's.
    AK_VERSION_TOO_HIGH = 1063,
    /// `G:'…` without its closing quote (or longer than 65536 bytes).
    AK_UNTERMINATED_GROUPS = 1064,
    /// `IP:'…` not closed by `'` within 46 bytes (or containing a space).
    AK_UNTERMINATED_IP = 1065,
    /// `K:'…` without its closing quote (or longer than 40 bytes).
    AK_UNTERMINATED_KEY_HASH = 1066,
    /// A value cannot be written into a request because it would break the framing.
    AK_INVALID_VERSION = 1067,
    /// A password that cannot be sent (contains a newline or is empty).
    AK_INVALID_PASSWORD_VALUE = 1068,
    /// A key hash that is not 40 hexadecimal characters.
    AK_INVALID_KEY_HASH = 1069,
    /// A server reply that is neither `OSSEC K:'…'` nor `ERROR: …`.
    AK_INVALID_REPLY = 1080,
    /// The server closed the connection without replying.
    AK_EMPTY_REPLY = 1081,
    /// The manager refused the registration (its `ERROR: …` reply).
    AK_SERVER_REFUSED = 1082,
    /// Key-poll output that is not valid JSON (or not an object).
    AK_INVALID_JSON = 1100,
    /// JSON nested deeper than the reader supports.
    AK_JSON_TOO_DEEP = 1101,
    /// A required JSON member is missing (see `ak_error.field`).
    AK_MISSING_MEMBER = 1102,
    /// A JSON member has the wrong type (see `ak_error.field`).
    AK_WRONG_TYPE = 1103,
    /// The same JSON member appears twice.
    AK_DUPLICATE_MEMBER = 1104,
    /// The `error` member is not an integer that fits 32 bits.
    AK_INVALID_ERROR_CODE = 1105,
    /// The key-poll script answered with a non-zero `error` and its message.
    AK_SCRIPT_REFUSED = 1106,
    /// A key request that is not `id:<1–8 digits>` or `ip:<address>`.
    AK_INVALID_KEY_REQUEST = 1107,
    /// Base64 text with a character outside the standard alphabet, or bad padding.
    AK_INVALID_BASE64 = 1120,
    /// A decoded record without the four space-separated fields.
    AK_INVALID_RECORD = 1121,
    /// Registration refused: an active agent has this name.
    AK_DUPLICATE_NAME = 1160,
    /// Registration refused: an active agent has this address.
    AK_DUPLICATE_IP = 1161,
    /// Registration refused: an active agent has this ID.
    AK_DUPLICATE_ID = 1162,
    /// Registration refused: the group directory `etc/shared/<group>` does not exist.
    AK_UNKNOWN_GROUP = 1163,
    /// Registration refused: the name equals the manager's host name.
    AK_MANAGER_NAME = 1164,
    /// The manager could not add the agent (its files could not be written).
    AK_INTERNAL_ERROR = 1165,
    /// An enroll bearer that is not a well-formed enroll JWT (class `invalid_request`).
    AK_INVALID_BEARER = 1180,
    /// An enroll bearer whose signature does not verify (class `invalid_signature`).
    AK_BAD_SIGNATURE = 1181,
    /// An enroll bearer outside its time window (class `stale_token`).
    AK_STALE_BEARER = 1182,
    /// A re-enrollment bearer for an agent the manager does not know (class `unknown_agent`).
    AK_UNKNOWN_AGENT = 1183,
    /// An enrollment token past its expiry (class `token_expired`).
    AK_TOKEN_EXPIRED = 1184,
    /// A revoked enrollment token (class `token_revoked`).
    AK_TOKEN_REVOKED = 1185,
    /// No key to check the bearer with (class `enrollment_key_unavailable`).
    AK_ENROLLMENT_KEY_UNAVAILABLE = 1186,
    /// An enrollment token whose every use is taken (`max_uses` reached).
    AK_TOKEN_EXHAUSTED = 1187,
    /// A re-enrollment of the same agent is already being written.
    AK_REENROLL_IN_PROGRESS = 1188,
    /// The enrollment token does not allow the address the agent connects from.
    AK_TOKEN_SOURCE_REFUSED = 1189,
    /// An enrollment token that is not unpadded base64url of `{ver, adr, pin|ca, key}` in order.
    AK_INVALID_TOKEN = 1190,
    /// An enrollment token of a version other than 1.
    AK_UNSUPPORTED_TOKEN_VERSION = 1191,
    /// A token address that is not `host[:port][/prefix]`.
    AK_INVALID_TOKEN_ADDRESS = 1192,
    /// An enrollment token without exactly one of `pin` and `ca`.
    AK_TOKEN_ANCHOR = 1193,
    /// A CA pin that is not 43 base64url characters (32 bytes).
    AK_INVALID_PIN = 1194,
    /// A token key (credential) that is not 43 base64url characters (32 bytes).
    AK_INVALID_TOKEN_KEY = 1195,
    /// An `/enroll` request body that is not a JSON object.
    AK_INVALID_BODY = 1200,
}

impl From<ErrorKind> for ak_result {
    /// Kind N is code 1000 + N (`BufferTooSmall` is the ABI's own `AK_BUFFER_TOO_SMALL`). A kind
    /// added to core without a code here is still an error, never `AK_OK`.
    fn from(kind: ErrorKind) -> Self {
        if kind == ErrorKind::BufferTooSmall {
            return ak_result::AK_BUFFER_TOO_SMALL;
        }
        ak_result::from_u32(1000 + u32::from(kind.code())).unwrap_or(ak_result::AK_PANIC)
    }
}

impl ak_result {
    /// The core kind behind this code, if it is one.
    pub(crate) fn kind(self) -> Option<ErrorKind> {
        let code = self as u32;
        if self == ak_result::AK_BUFFER_TOO_SMALL {
            return Some(ErrorKind::BufferTooSmall);
        }
        code.checked_sub(1000).and_then(|c| u16::try_from(c).ok()).and_then(ErrorKind::from_code)
    }

    /// Writes the code's name as spelled in the header (`AK_INVALID_NAME`): the ABI's own codes by
    /// name, the others from their core kind (`InvalidName` → `AK_INVALID_NAME`).
    pub(crate) fn write_name<W: core::fmt::Write>(self, out: &mut W) -> core::fmt::Result {
        use ak_result::*;
        let abi = match self {
            AK_OK => "AK_OK",
            AK_NULL_PARAMETER => "AK_NULL_PARAMETER",
            AK_BUFFER_TOO_SMALL => "AK_BUFFER_TOO_SMALL",
            AK_PANIC => "AK_PANIC",
            AK_INVALID_UTF8 => "AK_INVALID_UTF8",
            AK_INVALID_PARAMETER => "AK_INVALID_PARAMETER",
            AK_END => "AK_END",
            AK_ENTROPY_UNAVAILABLE => "AK_ENTROPY_UNAVAILABLE",
            other => {
                out.write_str("AK_")?;
                let name = other.kind().map_or("Unknown", ErrorKind::name);
                for (i, c) in name.chars().enumerate() {
                    if c.is_ascii_uppercase() && i > 0 {
                        out.write_char('_')?;
                    }
                    out.write_char(c.to_ascii_uppercase())?;
                }
                return Ok(());
            }
        };
        out.write_str(abi)
    }

    /// One-line English description.
    pub(crate) fn message(self) -> &'static str {
        use ak_result::*;
        match self {
            AK_OK => "success",
            AK_NULL_PARAMETER => "a required pointer was NULL",
            AK_BUFFER_TOO_SMALL => "output buffer too small",
            AK_PANIC => "internal error in agentkeys (a caught panic); please report it",
            AK_INVALID_UTF8 => "text input is not valid UTF-8",
            AK_INVALID_PARAMETER => "malformed parameter",
            AK_END => "no more items",
            AK_ENTROPY_UNAVAILABLE => "the operating system could not provide random bytes",
            other => other.kind().map_or("unknown error", ErrorKind::message),
        }
    }

    /// Converts a raw code from C, if it is one of ours.
    pub(crate) fn from_u32(code: u32) -> Option<ak_result> {
        ALL_RESULTS.iter().copied().find(|r| *r as u32 == code)
    }
}

/// Every code (the header's enum, for converting raw codes from C).
pub(crate) const ALL_RESULTS: &[ak_result] = &[
    ak_result::AK_OK,
    ak_result::AK_NULL_PARAMETER,
    ak_result::AK_BUFFER_TOO_SMALL,
    ak_result::AK_PANIC,
    ak_result::AK_INVALID_UTF8,
    ak_result::AK_INVALID_PARAMETER,
    ak_result::AK_END,
    ak_result::AK_ENTROPY_UNAVAILABLE,
    ak_result::AK_INVALID_ID,
    ak_result::AK_RESERVED_ID,
    ak_result::AK_INVALID_NAME,
    ak_result::AK_INVALID_ADDR,
    ak_result::AK_INVALID_KEY,
    ak_result::AK_SCRIPT_ID_TOO_SHORT,
    ak_result::AK_EMPTY_GROUP,
    ak_result::AK_GROUP_TOO_LARGE,
    ak_result::AK_MULTIGROUP_TOO_LARGE,
    ak_result::AK_GROUP_WHITE_SPACE,
    ak_result::AK_GROUP_CONSECUTIVE_COMMAS,
    ak_result::AK_GROUP_PROHIBITED_CHARS,
    ak_result::AK_GROUP_COMMA_EDGE,
    ak_result::AK_TOO_MANY_GROUPS,
    ak_result::AK_INVALID_GROUP_NAME,
    ak_result::AK_EMPTY_LINE,
    ak_result::AK_MISSING_FIELD,
    ak_result::AK_TOO_LONG,
    ak_result::AK_INVALID_PASSWORD,
    ak_result::AK_INVALID_REQUEST,
    ak_result::AK_UNTERMINATED_VERSION,
    ak_result::AK_VERSION_TOO_HIGH,
    ak_result::AK_UNTERMINATED_GROUPS,
    ak_result::AK_UNTERMINATED_IP,
    ak_result::AK_UNTERMINATED_KEY_HASH,
    ak_result::AK_INVALID_VERSION,
    ak_result::AK_INVALID_PASSWORD_VALUE,
    ak_result::AK_INVALID_KEY_HASH,
    ak_result::AK_INVALID_REPLY,
    ak_result::AK_EMPTY_REPLY,
    ak_result::AK_SERVER_REFUSED,
    ak_result::AK_INVALID_JSON,
    ak_result::AK_JSON_TOO_DEEP,
    ak_result::AK_MISSING_MEMBER,
    ak_result::AK_WRONG_TYPE,
    ak_result::AK_DUPLICATE_MEMBER,
    ak_result::AK_INVALID_ERROR_CODE,
    ak_result::AK_SCRIPT_REFUSED,
    ak_result::AK_INVALID_KEY_REQUEST,
    ak_result::AK_INVALID_BASE64,
    ak_result::AK_INVALID_RECORD,
    ak_result::AK_DUPLICATE_NAME,
    ak_result::AK_DUPLICATE_IP,
    ak_result::AK_DUPLICATE_ID,
    ak_result::AK_UNKNOWN_GROUP,
    ak_result::AK_MANAGER_NAME,
    ak_result::AK_INTERNAL_ERROR,
    ak_result::AK_INVALID_BEARER,
    ak_result::AK_BAD_SIGNATURE,
    ak_result::AK_STALE_BEARER,
    ak_result::AK_UNKNOWN_AGENT,
    ak_result::AK_TOKEN_EXPIRED,
    ak_result::AK_TOKEN_REVOKED,
    ak_result::AK_ENROLLMENT_KEY_UNAVAILABLE,
    ak_result::AK_TOKEN_EXHAUSTED,
    ak_result::AK_REENROLL_IN_PROGRESS,
    ak_result::AK_TOKEN_SOURCE_REFUSED,
    ak_result::AK_INVALID_TOKEN,
    ak_result::AK_UNSUPPORTED_TOKEN_VERSION,
    ak_result::AK_INVALID_TOKEN_ADDRESS,
    ak_result::AK_TOKEN_ANCHOR,
    ak_result::AK_INVALID_PIN,
    ak_result::AK_INVALID_TOKEN_KEY,
    ak_result::AK_INVALID_BODY,
];

/// Writes the description of `code` (e.g. "agent name must be 2 to 128 characters …") into
/// `buf`, NUL-terminated. Unknown codes get "unknown error".
///
/// Returns `AK_OK`, `AK_BUFFER_TOO_SMALL` (with the needed capacity in `*written`) or
/// `AK_NULL_PARAMETER`.
///
/// # Safety
/// `buf` must be valid for `cap` bytes of writes (or NULL with `cap` 0); `written` must be valid
/// for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_result_message(code: u32, buf: *mut c_char, cap: usize, written: *mut usize) -> ak_result {
    ffi_panic_boundary! {
        let text = ak_result::from_u32(code).map_or("unknown error", ak_result::message);
        try_text_out!(buf, cap, written).write(|dst| copy_text(dst, text.as_bytes()))
    }
}

/// Writes the name of `code` as spelled in this header (e.g. "AK_INVALID_NAME").
///
/// # Safety
/// As `ak_result_message`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_result_name(code: u32, buf: *mut c_char, cap: usize, written: *mut usize) -> ak_result {
    ffi_panic_boundary! {
        let name = ak_result::from_u32(code);
        try_text_out!(buf, cap, written).write(|dst| {
            let mut w = agentkeys_core::SliceWriter::new(dst);
            let _ = match name {
                Some(code) => code.write_name(&mut w),
                None => core::fmt::Write::write_str(&mut w, "AK_UNKNOWN"),
            };
            w.finish()
        })
    }
}

/// An `encode_into`-style producer for a fixed text.
pub(crate) fn copy_text<'b>(dst: &'b mut [u8], text: &[u8]) -> Result<&'b [u8], agentkeys_core::Error> {
    match dst.get_mut(..text.len()) {
        Some(d) => {
            d.copy_from_slice(text);
            Ok(d)
        }
        None => Err(crate::io::too_small(text.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screaming(name: &str) -> String {
        let mut out = String::from("AK_");
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    #[test]
    fn every_core_kind_has_its_code_and_name() {
        for &kind in ErrorKind::ALL {
            let code = ak_result::from(kind);
            if kind == ErrorKind::BufferTooSmall {
                assert_eq!(code, ak_result::AK_BUFFER_TOO_SMALL);
                continue;
            }
            assert_eq!(code as u32, 1000 + u32::from(kind.code()), "{kind:?}");
            let mut name = String::new();
            code.write_name(&mut name).unwrap();
            assert_eq!(name, screaming(kind.name()), "{kind:?}");
            assert_eq!(code.kind(), Some(kind));
            assert_eq!(ak_result::from_u32(code as u32), Some(code));
        }
    }

    #[test]
    fn codes_are_unique() {
        for (i, a) in ALL_RESULTS.iter().enumerate() {
            for b in &ALL_RESULTS[i + 1..] {
                assert_ne!(*a as u32, *b as u32);
            }
        }
    }
}
