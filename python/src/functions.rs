//! Module-level functions: client.keys, values, derived values, replies and key-poll answers.

use agentkeys::{
    AgentAddr, AgentId, AgentKey, AgentName, Error, ErrorKind, GeneratedKey, Groups, KeyPollAnswer, Line, Reply,
    encryption_key as core_encryption_key, import_key as core_import_key, key_hash as core_key_hash,
    parse_keypoll_output as core_parse_keypoll, parse_keys as core_parse_keys, parse_reply as core_parse_reply,
};
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};

use crate::errors::{ScriptRefused, ServerRefused, invalid_value, parse_error, to_py, type_error};
use crate::record::Record;

/// Inputs above this size are parsed with the GIL released.
const DETACH_THRESHOLD: usize = 64 * 1024;

/// The bytes of a `bytes`, `bytearray` or `str` argument (str as UTF-8).
pub(crate) fn bytes_of(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_cow()?.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    Err(type_error(what, obj))
}

/// What one line parsed to, owned, so lines can be parsed with the GIL released.
enum Parsed {
    Record(Record),
    Problem(Error),
    Skip,
}

fn parse_all(data: &[u8], stop_at_first_error: bool) -> Vec<Parsed> {
    let mut out = Vec::new();
    for line in core_parse_keys(data) {
        let parsed = match line.line {
            Line::Agent(r) => Parsed::Record(Record::from_core(&r)),
            Line::Removed(r) => Parsed::Record(Record::from_removed(&r)),
            Line::Comment => Parsed::Skip,
            Line::Invalid(e) => Parsed::Problem(e),
        };
        let stop = stop_at_first_error && matches!(parsed, Parsed::Problem(_));
        out.push(parsed);
        if stop {
            break;
        }
    }
    out
}

fn parse_maybe_detached(py: Python<'_>, data: Vec<u8>, stop: bool) -> Vec<Parsed> {
    if data.len() >= DETACH_THRESHOLD { py.detach(move || parse_all(&data, stop)) } else { parse_all(&data, stop) }
}

/// Parses a whole client.keys (``bytes`` or ``str``) into records, in file order. Comments are
/// skipped; removed agents come back with ``removed=True``. Raises ``ParseError`` (with ``.line``,
/// 1-based, and ``.kind`` naming the rule) at the first invalid line. The GIL is released while large inputs are parsed.
#[pyfunction]
pub(crate) fn parse_keys(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Vec<Record>> {
    let data = bytes_of(data, "data")?;
    let mut records = Vec::new();
    for parsed in parse_maybe_detached(py, data, true) {
        match parsed {
            Parsed::Record(r) => records.push(r),
            Parsed::Problem(e) => return Err(parse_error(e)),
            Parsed::Skip => {}
        }
    }
    Ok(records)
}

/// Parses a whole client.keys without stopping: returns ``(records, problems)`` where every
/// problem is a ``ParseError`` instance with ``.line`` set.
#[pyfunction]
pub(crate) fn scan_keys(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<(Vec<Record>, Vec<PyErr>)> {
    let data = bytes_of(data, "data")?;
    let (mut records, mut problems) = (Vec::new(), Vec::new());
    for parsed in parse_maybe_detached(py, data, false) {
        match parsed {
            Parsed::Record(r) => records.push(r),
            Parsed::Problem(e) => problems.push(parse_error(e)),
            Parsed::Skip => {}
        }
    }
    Ok((records, problems))
}

/// Returns ``id`` if it is a valid agent ID (1–8 digits, not all zeros), else raises
/// ``ValidationError``.
#[pyfunction]
pub(crate) fn validate_id(id: &str) -> PyResult<String> {
    AgentId::parse(id.as_bytes()).map(|i| i.as_str().to_owned()).map_err(to_py)
}

/// Returns ``id`` if it is a valid ID for a key-poll answer (3–8 digits), else raises
/// ``ValidationError``.
#[pyfunction]
pub(crate) fn validate_script_id(id: &str) -> PyResult<String> {
    agentkeys::validate_script_id(id.as_bytes()).map(|i| i.as_str().to_owned()).map_err(to_py)
}

/// Returns ``name`` if it is a valid agent name, else raises ``ValidationError``.
#[pyfunction]
pub(crate) fn validate_name(name: &str) -> PyResult<String> {
    AgentName::new(name).map(|n| n.as_str().to_owned()).map_err(to_py)
}

/// Returns the canonical form of a valid agent address, else raises ``ValidationError``.
#[pyfunction]
pub(crate) fn validate_ip(ip: &str) -> PyResult<String> {
    normalize_ip(ip)
}

/// Returns ``key`` if it is a valid agent key, else raises ``ValidationError``.
#[pyfunction]
pub(crate) fn validate_key(key: &str) -> PyResult<String> {
    AgentKey::new(key).map(|k| k.as_str().to_owned()).map_err(to_py)
}

/// Checks a groups string as a manager checks ``G:'…'`` and returns it de-duplicated. Raises
/// ``ValidationError`` whose ``str()`` is upstream's exact reply text.
#[pyfunction]
pub(crate) fn validate_groups(groups: &str) -> PyResult<String> {
    let parsed = Groups::parse(groups.as_bytes()).map_err(|e| refused_as_validation(&e))?;
    let mut buf = vec![0u8; groups.len()];
    parsed.dedup_into(&mut buf).map(str::to_owned).map_err(|e| refused_as_validation(&e))
}

fn refused_as_validation(e: &agentkeys::RequestError<'_>) -> PyErr {
    let err = to_py(e.error());
    Python::attach(|py| {
        let _ = err.value(py).setattr("args", (e.to_string(),));
    });
    err
}

/// The canonical form of an address: what replies carry (``::1`` → expanded upper-case IPv6,
/// ``::ffff:1.2.3.4`` → ``1.2.3.4``, IPv4 as typed).
#[pyfunction]
pub(crate) fn normalize_ip(ip: &str) -> PyResult<String> {
    AgentAddr::new(ip).map(|a| a.to_string()).map_err(to_py)
}

/// The form of an address written to client.keys (``10.1.1.1/32`` → ``10.1.1.1``,
/// ``10.0.0.0/255.0.0.0`` → ``10.0.0.0/8``).
#[pyfunction]
pub(crate) fn file_ip(ip: &str) -> PyResult<String> {
    AgentAddr::new(ip).map(|a| a.file_form().to_string()).map_err(to_py)
}

/// A new agent key: 64 lowercase hex characters from the operating system's entropy.
#[pyfunction]
pub(crate) fn generate_key() -> PyResult<String> {
    GeneratedKey::from_os()
        .map(|k| k.as_str().to_owned())
        .map_err(|e| PyOSError::new_err(format!("no entropy from the operating system: {e}")))
}

/// The ``K:`` key hash: lowercase hex SHA-1 of ``id + name + key``.
#[pyfunction]
pub(crate) fn key_hash(id: &str, name: &str, key: &str) -> String {
    core_key_hash(id, name, key).to_string()
}

/// The 47-character message-encryption key of a record (AES-256 uses its first 32 characters).
#[pyfunction]
pub(crate) fn encryption_key(id: &str, name: &str, key: &str) -> String {
    core_encryption_key(id, name, key).as_str().to_owned()
}

/// The ``manage_agents -e`` export of a record: standard Base64 of ``ID NAME IP KEY``.
#[pyfunction]
pub(crate) fn export_key(record: PyRef<'_, Record>) -> PyResult<String> {
    record.with_core(agentkeys::export_key_string)
}

/// Decodes a ``manage_agents -e`` export and validates its record.
#[pyfunction]
pub(crate) fn import_key(text: &Bound<'_, PyAny>) -> PyResult<Record> {
    let bytes = bytes_of(text, "text")?;
    core_import_key(&bytes).map(|r| Record::from_core(&r.as_record())).map_err(parse_error)
}

/// Parses a manager's reply (Wazuh 4.x, 3.x or OSSEC style) and returns the record, validated as a
/// Wazuh 4.x agent does. Raises ``ServerRefused`` (``.server_message``) when the manager refused,
/// ``ParseError`` when the reply is malformed or its record invalid.
#[pyfunction]
pub(crate) fn parse_reply(data: &Bound<'_, PyAny>) -> PyResult<Record> {
    let bytes = bytes_of(data, "data")?;
    match core_parse_reply(&bytes).map_err(parse_error)? {
        Reply::Key { record, .. } => Ok(Record::from_core(&record)),
        Reply::Refused(message) => {
            let message = String::from_utf8_lossy(message).into_owned();
            let err = ServerRefused::new_err(message.clone());
            Python::attach(|py| {
                let value = err.value(py);
                let _ = value.setattr("kind", ErrorKind::ServerRefused.name());
                let _ = value.setattr("server_message", message);
                let _ = value.setattr("field", py.None());
                let _ = value.setattr("line", py.None());
                let _ = value.setattr("offset", py.None());
            });
            Err(err)
        }
    }
}

/// A key-poll success answer: ``{"error":0,"data":{…}}``.
#[pyfunction]
#[pyo3(signature = (*, id, name, ip, key))]
pub(crate) fn keypoll_success(id: &str, name: &str, ip: &str, key: &str) -> PyResult<String> {
    let rec = Record::new_validated(id, name, ip, key)?;
    rec.with_core(agentkeys::keypoll_success_string)?.map_err(to_py)
}

/// A key-poll error answer: ``{"error":N,"message":"…"}`` (N must not be 0).
#[pyfunction]
pub(crate) fn keypoll_error(code: i32, message: &str) -> PyResult<String> {
    agentkeys::keypoll_error_string(code, message).map_err(invalid_value)
}

/// Parses a key-poll script's output into a record. Raises ``ScriptRefused`` (``.code``,
/// ``.script_message``) for an error answer, ``ParseError`` for anything the manager would reject.
#[pyfunction]
pub(crate) fn parse_keypoll_output(text: &Bound<'_, PyAny>) -> PyResult<Record> {
    let bytes = bytes_of(text, "text")?;
    match core_parse_keypoll(&bytes).map_err(parse_error)? {
        KeyPollAnswer::Found(r) => Ok(Record::from_core(&r.as_record())),
        KeyPollAnswer::Refused { code, message } => {
            let message = message.to_string();
            let err = ScriptRefused::new_err(format!("key-poll script error {code}: {message}"));
            Python::attach(|py| {
                let value = err.value(py);
                let _ = value.setattr("kind", ErrorKind::ScriptRefused.name());
                let _ = value.setattr("code", code);
                let _ = value.setattr("script_message", message);
                let _ = value.setattr("field", py.None());
                let _ = value.setattr("line", py.None());
                let _ = value.setattr("offset", py.None());
            });
            Err(err)
        }
    }
}

/// Checks a key request as remoted sends it (``kind`` ``"id"`` or ``"ip"``): an ID of 1–8 digits
/// or one IP address. Returns the value a key-poll script receives (IDs as written, addresses in
/// the manager's form). Raises :class:`ParseError` (``kind`` ``"InvalidKeyRequest"`` or
/// ``"TooLong"``).
#[pyfunction]
pub(crate) fn check_key_request(kind: &str, value: &str) -> PyResult<String> {
    agentkeys::KeyRequest::from_args(kind, value).map(|r| r.argument().to_string()).map_err(parse_error)
}
