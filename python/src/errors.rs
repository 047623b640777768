//! The exception hierarchy: `agentkeys.Error` and its subclasses, carrying the core error's kind
//! name, field, line and byte offset as attributes.

use agentkeys::{Error as CoreError, ErrorKind, RequestError};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

create_exception!(
    _native,
    Error,
    PyValueError,
    "Base class of every agentkeys error.\n\n``kind`` is the rule that failed, named as in Rust (``ErrorKind``) and C (``AK_…``):\n``\"InvalidName\"``, ``\"InvalidAddr\"``, ``\"UnterminatedIp\"``, … ``field`` is the field concerned\n(``\"name\"``, ``\"ip\"``, …) or None, ``line`` the 1-based client.keys line or None, ``offset`` the\nbyte offset in the input (in the line, for client.keys)."
);
create_exception!(_native, ValidationError, Error, "A value breaks an agent rule: ID, name, address, key or groups.");
create_exception!(
    _native,
    ParseError,
    Error,
    "Malformed input: a client.keys line, key-poll JSON, a manager reply, Base64."
);
create_exception!(
    _native,
    RequestRefused,
    Error,
    "A registration request a manager refuses. ``str(e)`` is upstream's error text\n(``\"ERROR: Invalid agent name: x y\"``) and ``reply`` the exact bytes-on-the-wire reply\n(``\"… . Unable to add agent\"``); ``subject`` is the value the reply quotes."
);
create_exception!(
    _native,
    ServerRefused,
    Error,
    "The manager refused a registration; ``server_message`` is its text without ``ERROR: ``."
);
create_exception!(
    _native,
    ScriptRefused,
    Error,
    "A key-poll script answered ``{\"error\": code, \"message\": script_message}``."
);

create_exception!(
    _native,
    BearerRefused,
    Error,
    "An enroll bearer a Wazuh 5.0 manager refuses. ``bearer_class`` is the class it answers\nwith: ``\"invalid_request\"``, ``\"invalid_signature\"``, ``\"stale_token\"``, ``\"unknown_agent\"``,\n``\"token_expired\"``, ``\"token_revoked\"`` or ``\"enrollment_key_unavailable\"``."
);

/// Which exception class a kind belongs to.
fn class_for(py: Python<'_>, kind: ErrorKind) -> Bound<'_, pyo3::types::PyType> {
    use ErrorKind::*;
    match kind {
        EmptyLine | MissingField | TooLong | InvalidReply | EmptyReply | InvalidJson | JsonTooDeep | MissingMember
        | WrongType | DuplicateMember | InvalidErrorCode | InvalidBase64 | InvalidRecord | BufferTooSmall => {
            py.get_type::<ParseError>()
        }
        ServerRefused => py.get_type::<self::ServerRefused>(),
        ScriptRefused => py.get_type::<self::ScriptRefused>(),
        InvalidBearer
        | BadSignature
        | StaleBearer
        | UnknownAgent
        | TokenExpired
        | TokenRevoked
        | EnrollmentKeyUnavailable => py.get_type::<BearerRefused>(),
        InvalidToken
        | UnsupportedTokenVersion
        | InvalidTokenAddress
        | TokenAnchor
        | InvalidPin
        | InvalidTokenKey
        | InvalidBody
        | InvalidKeyRequest => py.get_type::<ParseError>(),
        _ => py.get_type::<ValidationError>(),
    }
}

/// Builds an exception of `class` with `message` and the attributes of `e`.
fn build(py: Python<'_>, class: Bound<'_, pyo3::types::PyType>, message: String, e: &CoreError) -> PyErr {
    let err = PyErr::from_type(class, message);
    let value = err.value(py);
    // Setting attributes on a fresh exception instance cannot fail.
    let _ = value.setattr("kind", e.kind().name());
    let _ = value.setattr("field", e.field().map(|f| f.name()));
    let _ = value.setattr("line", e.line());
    let _ = value.setattr("offset", e.offset());
    err
}

/// The Python exception for a core error.
pub(crate) fn to_py(e: CoreError) -> PyErr {
    Python::attach(|py| build(py, class_for(py, e.kind()), e.to_string(), &e))
}

/// `ParseError` for anything found while parsing input text (a client.keys line, a reply, a
/// key-poll answer, an export), whatever the kind: the input is what is wrong.
pub(crate) fn parse_error(e: CoreError) -> PyErr {
    match e.kind() {
        ErrorKind::ServerRefused | ErrorKind::ScriptRefused => to_py(e),
        _ => Python::attach(|py| build(py, py.get_type::<ParseError>(), e.to_string(), &e)),
    }
}

/// `ValidationError` for a value the caller asked us to encode (whatever the kind's usual class).
pub(crate) fn invalid_value(e: CoreError) -> PyErr {
    Python::attach(|py| build(py, py.get_type::<ValidationError>(), e.to_string(), &e))
}

/// `RequestRefused` for a refused registration request, with `.reply` = the exact wire reply.
pub(crate) fn refused(e: &RequestError<'_>) -> PyErr {
    Python::attach(|py| {
        let text = e.to_string();
        let err = build(py, py.get_type::<RequestRefused>(), text.clone(), &e.error());
        let value = err.value(py);
        let _ = value.setattr("reply", format!("{text}. Unable to add agent"));
        let _ = value.setattr("subject", String::from_utf8_lossy(e.subject()).into_owned());
        err
    })
}

/// `TypeError` naming what was expected and what came.
pub(crate) fn type_error(what: &str, got: &Bound<'_, PyAny>) -> PyErr {
    let type_name = got.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "object".into());
    pyo3::exceptions::PyTypeError::new_err(format!("{what} must be str or bytes, not {type_name}"))
}
