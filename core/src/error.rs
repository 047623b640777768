//! The one error type of agentkeys: a small `Copy` kind plus where it happened.
//!
//! [`ErrorKind`] names *what* was wrong; [`Error`] adds *where*: the [`Field`], the 1-based line of a
//! `client.keys` buffer and the byte offset. The same kind names are used by the C and Python bindings
//! ([`ErrorKind::name`]). The `Display` wording is for humans and may change; the kind names and the
//! upstream reply texts ([`ErrorKind::reply_text`]) are API.

use core::fmt;
use core::num::NonZeroU32;

/// Defines [`ErrorKind`] with its name, message and list from one table, so that each kind is
/// written once: `Variant = code => "message",` under the variant's doc comment.
macro_rules! error_kinds {
    ($( $(#[$doc:meta])* $kind:ident = $code:literal => $message:literal, )*) => {
        /// What was wrong with an input.
        ///
        /// Kinds are never renumbered or reused; new ones may be added, hence `#[non_exhaustive]`.
        #[non_exhaustive]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum ErrorKind {
            $( $(#[$doc])* $kind = $code, )*
        }

        impl ErrorKind {
            /// The kind's name, identical in Rust, C (`AK_…` codes) and Python (`Error.kind`).
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $( ErrorKind::$kind => stringify!($kind), )*
                }
            }

            /// A one-line English description, used by `Display`. Not API: wording may change.
            #[must_use]
            pub const fn message(self) -> &'static str {
                match self {
                    $( ErrorKind::$kind => $message, )*
                }
            }

            /// Every kind, in code order (for bindings and tests).
            pub const ALL: &'static [ErrorKind] = &[ $( ErrorKind::$kind, )* ];
        }
    };
}

error_kinds! {
    /// An agent ID is not 1 to 8 ASCII digits.
    InvalidId = 1 => "agent ID must be 1 to 8 decimal digits",
    /// An agent ID is all zeros (`000` is the manager's own ID).
    ReservedId = 2 => "agent ID 000 is reserved for the manager",
    /// An agent name breaks the name rule (2–128 bytes of `A-Z a-z 0-9 . _ -`, not starting with `.`).
    InvalidName = 3 => "agent name must be 2 to 128 characters of A-Z a-z 0-9 . _ - and must not start with '.'",
    /// An agent address is not `any`, IPv4 or IPv6 with an optional prefix or netmask.
    InvalidAddr = 4 => "invalid agent address: expected 'any', or IPv4/IPv6 with an optional /prefix or /netmask",
    /// An agent key is not 1–128 printable ASCII bytes without space or `'`.
    InvalidKey = 5 => "agent key must be 1 to 128 printable ASCII characters without space or quote",
    /// A key-poll script returned an ID with fewer than 3 digits.
    ScriptIdTooShort = 6 => "a key-poll script must return an agent ID of 3 to 8 digits",

    /// `G:''`: an empty groups string.
    EmptyGroup = 20 => "empty group name",
    /// A single group longer than 255 bytes.
    GroupTooLarge = 21 => "group name longer than 255 characters",
    /// A comma-separated groups string longer than 65535 bytes.
    MultigroupTooLarge = 22 => "groups string longer than 65535 characters",
    /// A group of a multi-group string contains a space.
    GroupWhiteSpace = 23 => "white space in a group name",
    /// Two commas in a row.
    GroupConsecutiveCommas = 24 => "two consecutive commas in the groups string",
    /// A character outside `A-Z a-z 0-9 . : ; _ - = + ! @ ( )` (and `,` between groups).
    GroupProhibitedChars = 25 => "prohibited character in a group name",
    /// The groups string starts or ends with a comma.
    GroupCommaEdge = 26 => "groups string starts or ends with a comma",
    /// More than 128 distinct groups.
    TooManyGroups = 27 => "more than 128 groups",
    /// A group name that is not `[A-Za-z0-9_.-]+`, or is `.` or `..` (manager-side check).
    InvalidGroupName = 28 => "group name must be [A-Za-z0-9_.-]+ and not '.' or '..'",

    /// An empty line in a `client.keys` buffer.
    EmptyLine = 40 => "empty line",
    /// A required field is missing (see [`Error::field`]).
    MissingField = 41 => "missing field",
    /// A line or field longer than the format allows.
    TooLong = 42 => "value too long",

    /// The registration request's password prefix does not match the server's password.
    InvalidPassword = 60 => "invalid password",
    /// The registration request does not start with `OSSEC A:'<name>'`.
    InvalidRequest = 61 => "invalid registration request: expected OSSEC A:'<name>'",
    /// `V:'…` without its closing quote (or longer than 2048 bytes).
    UnterminatedVersion = 62 => "unterminated V:'…' field",
    /// The agent's major.minor version is newer than the manager's.
    VersionTooHigh = 63 => "agent version is newer than the manager version",
    /// `G:'…` without its closing quote (or longer than 65536 bytes).
    UnterminatedGroups = 64 => "unterminated G:'…' field",
    /// `IP:'…` not closed by `'` within 46 bytes (or containing a space).
    UnterminatedIp = 65 => "unterminated IP:'…' field",
    /// `K:'…` without its closing quote (or longer than 40 bytes).
    UnterminatedKeyHash = 66 => "unterminated K:'…' field",
    /// A value cannot be written into a request because it would break the framing.
    InvalidVersion = 67 => "agent version must be 0 to 26 characters without quote or newline",
    /// A password that cannot be sent (contains a newline or is empty).
    InvalidPasswordValue = 68 => "password must be non-empty and contain no newline",
    /// A key hash that is not 40 hexadecimal characters.
    InvalidKeyHash = 69 => "key hash must be 40 hexadecimal characters",

    /// A server reply that is neither `OSSEC K:'…'` nor `ERROR: …`.
    InvalidReply = 80 => "server reply is neither OSSEC K:'…' nor ERROR: …",
    /// The server closed the connection without replying.
    EmptyReply = 81 => "server closed the connection without a reply",
    /// The manager refused the registration (its `ERROR: …` reply).
    ServerRefused = 82 => "the manager refused the registration",

    /// Key-poll output that is not valid JSON (or not an object).
    InvalidJson = 100 => "not a valid JSON object",
    /// JSON nested deeper than the reader supports.
    JsonTooDeep = 101 => "JSON nested too deeply",
    /// A required JSON member is missing (see [`Error::field`]).
    MissingMember = 102 => "missing JSON member",
    /// A JSON member has the wrong type (see [`Error::field`]).
    WrongType = 103 => "JSON member has the wrong type",
    /// The same JSON member appears twice.
    DuplicateMember = 104 => "duplicate JSON member",
    /// The `error` member is not an integer that fits 32 bits.
    InvalidErrorCode = 105 => "the error member must be an integer that fits in 32 bits",
    /// The key-poll script answered with a non-zero `error` and its message.
    ScriptRefused = 106 => "the key-poll script reported an error",
    /// A key request that is not `id:<1–8 digits>` or `ip:<address>`.
    InvalidKeyRequest = 107 => "key request must be id:<agent ID> or ip:<address>",

    /// Base64 text with a character outside the standard alphabet, or bad padding.
    InvalidBase64 = 120 => "invalid Base64",
    /// A decoded record without the four space-separated fields.
    InvalidRecord = 121 => "expected a record of four fields: ID NAME IP KEY",

    /// An output buffer is too small.
    BufferTooSmall = 140 => "output buffer too small",

    /// Registration refused: an active agent has this name.
    DuplicateName = 160 => "an active agent already has this name",
    /// Registration refused: an active agent has this address.
    DuplicateIp = 161 => "an active agent already has this address",
    /// Registration refused: an active agent has this ID.
    DuplicateId = 162 => "an active agent already has this ID",
    /// Registration refused: the group directory `etc/shared/<group>` does not exist.
    UnknownGroup = 163 => "group does not exist",
    /// Registration refused: the name equals the manager's host name.
    ManagerName = 164 => "agent name equals the manager's host name",
    /// The manager could not add the agent (its files could not be written).
    InternalError = 165 => "the manager could not add the agent",

    /// An enroll bearer that is not a well-formed enroll JWT (class `invalid_request`).
    InvalidBearer = 180 => "not a well-formed enroll JWT",
    /// An enroll bearer whose signature does not verify (class `invalid_signature`).
    BadSignature = 181 => "the bearer's signature does not verify",
    /// An enroll bearer outside its time window (class `stale_token`).
    StaleBearer = 182 => "the bearer is outside its validity window",
    /// A re-enrollment bearer for an agent the manager does not know (class `unknown_agent`).
    UnknownAgent = 183 => "no agent with the bearer's ID",
    /// An enrollment token past its expiry (class `token_expired`).
    TokenExpired = 184 => "the enrollment token has expired",
    /// A revoked enrollment token (class `token_revoked`).
    TokenRevoked = 185 => "the enrollment token was revoked",
    /// No key to check the bearer with (class `enrollment_key_unavailable`).
    EnrollmentKeyUnavailable = 186 => "no key is available to check the bearer",
    /// An enrollment token whose every use is taken (`max_uses` reached).
    TokenExhausted = 187 => "the enrollment token has no uses left",
    /// A re-enrollment of the same agent is already being written.
    ReenrollInProgress = 188 => "a re-enrollment of this agent is in progress",
    /// The enrollment token does not allow the address the agent connects from.
    TokenSourceRefused = 189 => "the enrollment token does not allow this source address",

    /// An enrollment token that is not unpadded base64url of `{ver, adr, pin|ca, key}` in order.
    InvalidToken = 190 => "enrollment token must be unpadded base64url of JSON {ver, adr, pin or ca, key} in that order",
    /// An enrollment token of a version other than 1.
    UnsupportedTokenVersion = 191 => "enrollment token version must be 1",
    /// A token address that is not `host[:port][/prefix]`.
    InvalidTokenAddress = 192 => "token address must be host[:port][/prefix] with a DNS name, IPv4 or [IPv6] host and a port from 1 to 65535",
    /// An enrollment token without exactly one of `pin` and `ca`.
    TokenAnchor = 193 => "enrollment token needs exactly one of pin and ca",
    /// A CA pin that is not 43 base64url characters (32 bytes).
    InvalidPin = 194 => "CA pin must be 43 base64url characters (a SHA-256)",
    /// A token key (credential) that is not 43 base64url characters (32 bytes).
    InvalidTokenKey = 195 => "token key must be 43 base64url characters (16-byte ID and 16-byte secret)",

    /// An `/enroll` request body that is not a JSON object.
    InvalidBody = 200 => "enroll request body must be a JSON object",
}

/// How the upstream reply text for a kind is built: a fixed text, or a fixed text around a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReplyShape {
    /// The text alone.
    Fixed(&'static str),
    /// Text, then the offending value.
    WithValue(&'static str),
    /// Text, the value cut to 255 bytes, then a suffix (group syntax errors, `%.255s`).
    Truncated(&'static str, &'static str),
}

const GROUP: &str = "ERROR: Invalid group name: ";

impl ErrorKind {
    pub(crate) const fn reply_shape(self) -> Option<ReplyShape> {
        use ErrorKind::*;
        use ReplyShape::*;
        Some(match self {
            InvalidPassword => Fixed("ERROR: Invalid password"),
            InvalidRequest => Fixed("ERROR: Invalid request for new agent"),
            InvalidName | ManagerName => WithValue("ERROR: Invalid agent name: "),
            UnterminatedVersion => Fixed("ERROR: Unterminated version field"),
            VersionTooHigh => Fixed("ERROR: Agent version must be lower or equal to manager version"),
            UnterminatedGroups => Fixed("ERROR: Unterminated group field"),
            EmptyGroup => Fixed("ERROR: Invalid group name: Empty Group"),
            GroupTooLarge => Truncated(GROUP, "... group is too large"),
            MultigroupTooLarge => Truncated(GROUP, "... multigroup is too large"),
            GroupWhiteSpace => Truncated(GROUP, "... white spaces are not allowed"),
            GroupConsecutiveCommas => Truncated(GROUP, "... consecutive ',' are not allowed"),
            GroupProhibitedChars => Truncated(GROUP, "... characters '\\/:*?\"<>|,' are prohibited"),
            GroupCommaEdge => Truncated(GROUP, "... cannot start or end with ','"),
            UnterminatedIp => Fixed("ERROR: Unterminated IP field"),
            InvalidAddr => WithValue("ERROR: Invalid IP: "),
            UnterminatedKeyHash => Fixed("ERROR: Unterminated key field"),
            TooManyGroups => Fixed("ERROR: Maximum multigroup reached: Limit is 128"),
            InvalidGroupName => WithValue(GROUP),
            UnknownGroup => WithValue("ERROR: Invalid group: "),
            DuplicateIp => WithValue("ERROR: Duplicate IP: "),
            DuplicateName => WithValue("ERROR: Duplicate agent name: "),
            InternalError => WithValue("ERROR: Internal manager error adding agent: "),
            // Ours: enrollment tokens used as the password of an old agent (no upstream text).
            TokenExpired => Fixed("ERROR: Enrollment token expired"),
            TokenRevoked => Fixed("ERROR: Enrollment token revoked"),
            TokenExhausted => Fixed("ERROR: Enrollment token has no uses left"),
            TokenSourceRefused => WithValue("ERROR: Enrollment token not valid from: "),
            _ => return None,
        })
    }

    /// The text of the upstream port-1515 error reply for this kind, up to where the offending
    /// value goes (`"ERROR: Invalid agent name: "`), or the whole text when it takes no value
    /// (`"ERROR: Invalid password"`). `None` for kinds that are never sent to an agent.
    ///
    /// Use [`crate::RequestError::reply_into`] to get the complete text with the value filled in.
    #[must_use]
    pub const fn reply_text(self) -> Option<&'static str> {
        match self.reply_shape() {
            Some(ReplyShape::Fixed(s) | ReplyShape::WithValue(s) | ReplyShape::Truncated(s, _)) => Some(s),
            None => None,
        }
    }

    /// The class a Wazuh 5.0 manager answers a refused bearer with (`invalid_request`,
    /// `invalid_signature`, `stale_token`, …), for the 401 body and its `WWW-Authenticate` header.
    #[must_use]
    pub const fn bearer_class(self) -> Option<&'static str> {
        use ErrorKind::*;
        Some(match self {
            InvalidBearer => "invalid_request",
            BadSignature => "invalid_signature",
            StaleBearer => "stale_token",
            UnknownAgent => "unknown_agent",
            TokenExpired => "token_expired",
            TokenRevoked => "token_revoked",
            EnrollmentKeyUnavailable => "enrollment_key_unavailable",
            _ => return None,
        })
    }

    /// The kind with this [`ErrorKind::code`], if any.
    #[must_use]
    pub fn from_code(code: u16) -> Option<ErrorKind> {
        ErrorKind::ALL.iter().copied().find(|k| k.code() == code)
    }

    /// The stable numeric code of this kind (the C ABI adds its own base).
    #[must_use]
    pub const fn code(self) -> u16 {
        self as u16
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl core::error::Error for ErrorKind {}

/// The field of a record, request or JSON answer that an error is about.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// Agent ID.
    Id,
    /// Agent name.
    Name,
    /// Agent address.
    Ip,
    /// Agent key.
    Key,
    /// `OSSEC PASS:` password.
    Password,
    /// `V:` agent version.
    Version,
    /// `G:` groups.
    Groups,
    /// `K:` key hash.
    KeyHash,
    /// Key-poll `error` member.
    ErrorCode,
    /// Key-poll `message` member.
    Message,
    /// Key-poll `data` member.
    Data,
    /// An enroll JWT's header.
    Header,
    /// An enroll JWT's `kid`.
    Kid,
    /// An enroll JWT's claims.
    Claims,
    /// An enroll JWT's signature.
    Signature,
    /// An enrollment token as a whole.
    Token,
    /// An enrollment token's `ver`.
    TokenVersion,
    /// An enrollment token's `adr`.
    Address,
    /// An enrollment token's `pin`.
    Pin,
    /// An enrollment token's `ca`.
    Ca,
    /// An enrollment token's `key`.
    TokenKey,
    /// A re-enrollment secret.
    Secret,
}

impl Field {
    /// The field's name as it appears in messages (`"name"`, `"ip"`, …).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Name => "name",
            Field::Ip => "ip",
            Field::Key => "key",
            Field::Password => "password",
            Field::Version => "version",
            Field::Groups => "groups",
            Field::KeyHash => "key hash",
            Field::ErrorCode => "error",
            Field::Message => "message",
            Field::Data => "data",
            Field::Header => "header",
            Field::Kid => "kid",
            Field::Claims => "claims",
            Field::Signature => "signature",
            Field::Token => "token",
            Field::TokenVersion => "ver",
            Field::Address => "adr",
            Field::Pin => "pin",
            Field::Ca => "ca",
            Field::TokenKey => "key",
            Field::Secret => "reenroll_secret",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error: its [`ErrorKind`] plus where it happened.
///
/// `Copy`, `'static` and 16 bytes, so it can be returned from any parser and stored freely.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Error {
    kind: ErrorKind,
    field: Option<Field>,
    line: Option<NonZeroU32>,
    offset: u32,
}

impl Error {
    /// An error of `kind` with no location.
    #[must_use]
    pub const fn new(kind: ErrorKind) -> Self {
        Error { kind, field: None, line: None, offset: 0 }
    }

    /// `BufferTooSmall`, reporting in [`Error::offset`] the buffer length that would suffice.
    #[must_use]
    pub const fn buffer_too_small(needed: usize) -> Self {
        Error { kind: ErrorKind::BufferTooSmall, field: None, line: None, offset: clamp_u32(needed) }
    }

    /// An error of `kind` about `field`, at byte `offset` of the input.
    #[must_use]
    pub(crate) const fn at(kind: ErrorKind, field: Field, offset: usize) -> Self {
        Error { kind, field: Some(field), line: None, offset: clamp_u32(offset) }
    }

    /// What was wrong.
    #[must_use]
    pub const fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The field the error is about, when there is one.
    #[must_use]
    pub const fn field(&self) -> Option<Field> {
        self.field
    }

    /// The 1-based line of a `client.keys` buffer, when the error came from one.
    #[must_use]
    pub const fn line(&self) -> Option<u32> {
        match self.line {
            Some(n) => Some(n.get()),
            None => None,
        }
    }

    /// The 0-based byte offset in the parsed input (in the line, for `client.keys` lines); for
    /// `BufferTooSmall`, the buffer length needed.
    #[must_use]
    pub const fn offset(&self) -> usize {
        self.offset as usize
    }

    /// The same error, about `field`.
    #[must_use]
    pub const fn with_field(mut self, field: Field) -> Self {
        self.field = Some(field);
        self
    }

    /// The same error without its line number, for callers that print the location themselves
    /// (`client.keys:7: agent name must be …`).
    #[must_use]
    pub const fn without_line(mut self) -> Self {
        self.line = None;
        self
    }

    pub(crate) const fn shifted(mut self, by: usize) -> Self {
        self.offset = clamp_u32(self.offset as usize + by);
        self
    }

    pub(crate) const fn on_line(mut self, line: u32) -> Self {
        self.line = NonZeroU32::new(line);
        self
    }
}

const fn clamp_u32(n: usize) -> u32 {
    if n > u32::MAX as usize { u32::MAX } else { n as u32 }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        f.write_str(self.kind.message())?;
        match self.field {
            Some(field) => write!(f, " (field {field}, byte {})", self.offset),
            None if self.offset != 0 => write!(f, " (byte {})", self.offset),
            None => Ok(()),
        }
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_names_match_debug() {
        for (i, a) in ErrorKind::ALL.iter().enumerate() {
            for b in &ErrorKind::ALL[i + 1..] {
                assert_ne!(a.code(), b.code(), "{a:?} and {b:?} share a code");
            }
            let debug = alloc_free_debug(*a);
            assert_eq!(a.name(), debug.as_str());
        }
    }

    fn alloc_free_debug(kind: ErrorKind) -> heapless::String<64> {
        use core::fmt::Write;
        let mut s = heapless::String::new();
        write!(s, "{kind:?}").unwrap();
        s
    }

    #[test]
    fn display_names_field_line_and_byte() {
        let e = Error::at(ErrorKind::InvalidName, Field::Name, 4).on_line(7);
        let mut s = heapless::String::<200>::new();
        core::fmt::write(&mut s, format_args!("{e}")).unwrap();
        assert!(s.starts_with("line 7: agent name must be"));
        assert!(s.ends_with("(field name, byte 4)"));
        let mut bare = heapless::String::<200>::new();
        core::fmt::write(&mut bare, format_args!("{}", e.without_line())).unwrap();
        assert_eq!(bare.as_str(), &s["line 7: ".len()..]);
        assert_eq!(e.without_line().line(), None);
    }
}

/// A refusal of a registration request: the [`Error`] plus the value upstream echoes in its
/// reply (the name, the IP, the groups string or the offending group).
///
/// ```
/// use agentkeys::{ErrorKind, RequestError};
/// let e = RequestError::new(ErrorKind::DuplicateName, b"web-01");
/// let mut buf = [0u8; 64];
/// assert_eq!(e.reply_into(&mut buf).unwrap(), b"ERROR: Duplicate agent name: web-01");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestError<'a> {
    error: Error,
    subject: &'a [u8],
}

/// Bytes of a group value that upstream quotes in a group-syntax error (`%.255s`).
const GROUP_SUBJECT_MAX: usize = 255;

impl<'a> RequestError<'a> {
    /// A refusal of `kind` about `subject` (use `b""` when the reply takes no value).
    #[must_use]
    pub const fn new(kind: ErrorKind, subject: &'a [u8]) -> Self {
        RequestError { error: Error::new(kind), subject }
    }

    pub(crate) const fn from_error(error: Error, subject: &'a [u8]) -> Self {
        RequestError { error, subject }
    }

    /// What was wrong.
    #[must_use]
    pub const fn kind(&self) -> ErrorKind {
        self.error.kind()
    }

    /// The error with its field and byte offset (offset within the whole request).
    #[must_use]
    pub const fn error(&self) -> Error {
        self.error
    }

    /// The offending value, as the reply quotes it.
    #[must_use]
    pub const fn subject(&self) -> &'a [u8] {
        self.subject
    }

    pub(crate) const fn shifted(mut self, by: usize) -> Self {
        self.error = self.error.shifted(by);
        self
    }

    fn reply_pieces(&self) -> [&'a [u8]; 3] {
        match self.kind().reply_shape() {
            Some(ReplyShape::Fixed(s)) => [s.as_bytes(), b"", b""],
            Some(ReplyShape::WithValue(s)) => [s.as_bytes(), self.subject, b""],
            Some(ReplyShape::Truncated(s, suffix)) => {
                let cut = self.subject.len().min(GROUP_SUBJECT_MAX);
                [s.as_bytes(), &self.subject[..cut], suffix.as_bytes()]
            }
            None => [b"ERROR: Internal validation error", b"", b""],
        }
    }

    /// Length of the upstream error text (without `. Unable to add agent`).
    #[must_use]
    pub fn reply_len(&self) -> usize {
        self.reply_pieces().iter().map(|p| p.len()).sum()
    }

    /// Writes the upstream error text, e.g. `ERROR: Invalid agent name: x y`, without the
    /// `. Unable to add agent` suffix that [`crate::encode_error_reply`] adds.
    ///
    /// # Errors
    /// `BufferTooSmall` (the needed size is in [`Error::offset`]).
    pub fn reply_into<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], Error> {
        let mut w = crate::out::SliceWriter::new(buf);
        for piece in self.reply_pieces() {
            w.push(piece);
        }
        w.finish()
    }
}

impl fmt::Display for RequestError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for piece in self.reply_pieces() {
            for chunk in piece.utf8_chunks() {
                f.write_str(chunk.valid())?;
                if !chunk.invalid().is_empty() {
                    f.write_str("\u{FFFD}")?;
                }
            }
        }
        Ok(())
    }
}

impl core::error::Error for RequestError<'_> {}
