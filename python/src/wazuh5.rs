//! Wazuh 5.0 enrollment formats for Python (re-exported as `agentkeys.wazuh5`): key derivation,
//! the enroll JWT, enrollment tokens, `/enroll` bodies and the CA pin.

use agentkeys::wazuh5::{
    self as core5, BearerKind, EnrollErrorCode, EnrollIp, EnrollReply as CoreReply, EnrollRequest as CoreRequest,
    EnrollmentToken, KeyLabel, TokenAddress, TokenCredential, TokenHost, TokenId, TrustAnchor, VerifyPolicy,
};
use agentkeys::{AgentAddr, Error as CoreError, ErrorKind, Field, Groups};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{BearerRefused, invalid_value, parse_error, to_py};
use crate::functions::bytes_of;
use crate::record::Record;

fn label_of(name: &str) -> PyResult<KeyLabel> {
    match name {
        "password" => Ok(KeyLabel::Password),
        "token" => Ok(KeyLabel::Token),
        "reenroll" => Ok(KeyLabel::Reenroll),
        other => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "label must be 'password', 'token' or 'reenroll', not {other:?}"
        ))),
    }
}

fn array<const N: usize>(bytes: &[u8], what: &str) -> PyResult<[u8; N]> {
    bytes
        .try_into()
        .map_err(|_| pyo3::exceptions::PyValueError::new_err(format!("{what} must be {N} bytes, not {}", bytes.len())))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The 32-byte HMAC key of an enroll JWT, derived (HKDF-SHA256, as Wazuh 5.0) from ``secret``:
/// the password's bytes (``label="password"``), a token's 16-byte secret (``"token"``) or an
/// agent's 32-byte re-enrollment secret (``"reenroll"``).
#[pyfunction]
pub(crate) fn derive_key<'py>(
    py: Python<'py>,
    label: &str,
    secret: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let secret = bytes_of(secret, "secret")?;
    Ok(PyBytes::new(py, &core5::derive_key(label_of(label)?, &secret)))
}

/// What a bearer says about its signer: ``kind`` is ``"password"``, ``"token"`` or ``"reenroll"``
/// and ``kid`` the token ID text or agent ID (None for the password). After
/// :func:`verify_bearer`, ``iat``, ``exp``, ``nbf`` and ``jti`` hold the claims (else None).
#[pyclass(module = "agentkeys.wazuh5", frozen, eq, get_all)]
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Bearer {
    kind: &'static str,
    kid: Option<String>,
    iat: Option<i64>,
    exp: Option<i64>,
    nbf: Option<i64>,
    jti: Option<Vec<u8>>,
}

#[pymethods]
impl Bearer {
    /// Positional patterns: ``case Bearer("token", kid):``.
    #[classattr]
    fn __match_args__() -> (&'static str, &'static str) {
        ("kind", "kid")
    }

    /// Pickles the value (it is rebuilt, validated, on unpickling).
    #[allow(clippy::type_complexity, reason = "the pickle protocol's (callable, args) pair")]
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(
        Bound<'py, PyAny>,
        (&'static str, Option<String>, Option<i64>, Option<i64>, Option<i64>, Option<Vec<u8>>),
    )> {
        let rebuild = py.import("agentkeys._native")?.getattr("_bearer")?;
        Ok((rebuild, (self.kind, self.kid.clone(), self.iat, self.exp, self.nbf, self.jti.clone())))
    }

    /// The value itself: it is immutable.
    fn __copy__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The value itself: it is immutable.
    #[pyo3(signature = (memo, /))]
    fn __deepcopy__<'py>(slf: PyRef<'py, Self>, memo: &Bound<'py, PyAny>) -> PyRef<'py, Self> {
        let _ = memo;
        slf
    }

    fn __repr__(&self) -> String {
        format!("Bearer(kind={:?}, kid={:?}, iat={:?})", self.kind, self.kid, self.iat)
    }
}

fn bearer_of(kind: BearerKind) -> Bearer {
    let (kind, kid) = match kind {
        BearerKind::Password => ("password", None),
        BearerKind::Token(id) => ("token", Some(id.to_text().to_string())),
        BearerKind::Reenroll(agent) => ("reenroll", Some(agent.as_str().to_owned())),
    };
    Bearer { kind, kid, iat: None, exp: None, nbf: None, jti: None }
}

/// Signs an enroll JWT with ``key`` (32 bytes): ``kid`` is a token ID or an agent ID (None for
/// password mode), ``iat`` defaults to now and ``jti`` to 16 random bytes.
#[pyfunction]
#[pyo3(signature = (key, kid=None, iat=None, jti=None))]
pub(crate) fn sign_bearer(
    key: &Bound<'_, PyAny>,
    kid: Option<&str>,
    iat: Option<i64>,
    jti: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let key: [u8; 32] = array(&bytes_of(key, "key")?, "key")?;
    let jti: [u8; 16] = match jti {
        Some(j) => array(&bytes_of(j, "jti")?, "jti")?,
        None => {
            let mut j = [0u8; 16];
            getrandom::fill(&mut j).map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))?;
            j
        }
    };
    let iat = iat.unwrap_or_else(now);
    let mut out = vec![0u8; core5::bearer_len(kid.map(str::len), iat)];
    core5::sign_bearer(&key, kid, iat, &jti, &mut out).map(str::to_owned).map_err(invalid_value)
}

fn bearer_error(e: CoreError) -> PyErr {
    let err = to_py(e);
    if let Some(class) = e.kind().bearer_class() {
        Python::attach(|py| {
            let _ = err.value(py).setattr("bearer_class", class);
        });
    }
    err
}

/// Reads a bearer's header without verifying it: whose key signed it. Raises
/// :class:`BearerRefused` (``bearer_class == "invalid_request"``) for a malformed bearer.
#[pyfunction]
pub(crate) fn peek_bearer(bearer: &Bound<'_, PyAny>) -> PyResult<Bearer> {
    let bearer = bytes_of(bearer, "bearer")?;
    core5::peek_bearer(&bearer).map(bearer_of).map_err(bearer_error)
}

/// Verifies a bearer: ``key`` is the 32-byte key, or a callable given the peeked
/// :class:`Bearer` that returns it (or raises). Checks the MAC in constant time and the window
/// (``iat`` ≤ now + skew, now ≤ ``exp`` + skew, now − ``iat`` ≤ max_age + skew). Raises
/// :class:`BearerRefused` whose ``bearer_class`` is ``"invalid_request"``,
/// ``"invalid_signature"`` or ``"stale_token"``.
#[pyfunction]
#[pyo3(signature = (bearer, key, now=None, max_age=60, skew=30))]
pub(crate) fn verify_bearer(
    py: Python<'_>,
    bearer: &Bound<'_, PyAny>,
    key: &Bound<'_, PyAny>,
    now: Option<i64>,
    max_age: u64,
    skew: u64,
) -> PyResult<Bearer> {
    let bearer = bytes_of(bearer, "bearer")?;
    let kind = core5::peek_bearer(&bearer).map_err(bearer_error)?;
    let key_bytes = if key.is_callable() { key.call1((bearer_of(kind),))? } else { key.clone() };
    let key: [u8; 32] = array(&bytes_of(&key_bytes, "key")?, "key")?;
    let policy = VerifyPolicy { now: now.unwrap_or_else(self::now), max_age, skew };
    let verified = py.detach(|| core5::verify_bearer(&bearer, |_| Ok(key), &policy)).map_err(bearer_error)?;
    let mut out = bearer_of(verified.kind);
    let c = verified.claims;
    (out.iat, out.exp, out.nbf, out.jti) = (Some(c.iat), Some(c.exp), Some(c.nbf), Some(c.jti.to_vec()));
    Ok(out)
}

/// A decoded enrollment token. ``host`` is the DNS name or address (IPv6 without brackets),
/// ``address`` the whole ``host[:port][/prefix]`` as the token writes it; exactly one of ``pin``
/// (32 bytes) and ``ca`` (PEM) is set; ``token_id`` (the bearer ``kid``), ``secret`` (16 bytes) and
/// ``credential`` (the password for port 1515) are None for a token without credential.
#[pyclass(module = "agentkeys.wazuh5", frozen, eq, get_all)]
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Token {
    host: String,
    zone: Option<String>,
    port: u16,
    prefix: String,
    address: String,
    pin: Option<Vec<u8>>,
    ca: Option<String>,
    token_id: Option<String>,
    secret: Option<Vec<u8>>,
    credential: Option<String>,
}

#[pymethods]
impl Token {
    /// Positional patterns: ``case Token(host, port, prefix):``.
    #[classattr]
    fn __match_args__() -> (&'static str, &'static str, &'static str) {
        ("host", "port", "prefix")
    }

    /// Pickles the value (it is rebuilt, validated, on unpickling).
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let rebuild = py.import("agentkeys._native")?.getattr("decode_token")?;
        Ok((rebuild, (self.encode()?,)))
    }

    /// The value itself: it is immutable.
    fn __copy__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The value itself: it is immutable.
    #[pyo3(signature = (memo, /))]
    fn __deepcopy__<'py>(slf: PyRef<'py, Self>, memo: &Bound<'py, PyAny>) -> PyRef<'py, Self> {
        let _ = memo;
        slf
    }

    fn __repr__(&self) -> String {
        format!(
            "Token(address={:?}, pin={}, credential={})",
            self.address,
            if self.pin.is_some() { "set" } else { "None" },
            if self.credential.is_some() { "present" } else { "absent" }
        )
    }

    /// The token as upstream's ``--show-token`` prints it (never the secret).
    fn show(&self) -> PyResult<String> {
        self.with_core(|t| {
            let mut text = String::new();
            let _ = t.write_text(&mut text);
            text
        })
    }

    /// The token's text.
    fn encode(&self) -> PyResult<String> {
        self.with_core(|t| t.to_text_string().unwrap_or_default())
    }

    /// The URL of the enrollment endpoint (``https://host:port/prefix/enroll``).
    #[getter]
    fn enroll_url(&self) -> String {
        let host = if self.host.contains(':') {
            match &self.zone {
                Some(z) => format!("[{}%25{z}]", self.host),
                None => format!("[{}]", self.host),
            }
        } else {
            self.host.clone()
        };
        let path = if self.prefix.is_empty() { "/enroll".to_owned() } else { format!("/{}/enroll", self.prefix) };
        format!("https://{host}:{}{path}", self.port)
    }
}

impl Token {
    fn from_core(t: &EnrollmentToken<'_>) -> Token {
        let (host, zone) = match t.address.host {
            TokenHost::Name(n) => (n.to_owned(), None),
            TokenHost::V4(v4) => (v4.to_string(), None),
            TokenHost::V6 { addr, zone } => (addr.to_string(), zone.map(str::to_owned)),
        };
        let (pin, ca) = match t.anchor {
            TrustAnchor::Pin(p) => (Some(p.to_vec()), None),
            TrustAnchor::Ca(pem) => (None, Some(pem.to_owned())),
        };
        Token {
            host,
            zone,
            port: t.address.port,
            prefix: t.address.prefix.to_owned(),
            address: t.address.to_string(),
            pin,
            ca,
            token_id: t.credential.map(|c| c.id.to_text().to_string()),
            secret: t.credential.map(|c| c.secret.to_vec()),
            credential: t.credential.map(|c| c.to_text().to_string()),
        }
    }

    fn with_core<T>(&self, f: impl FnOnce(&EnrollmentToken<'_>) -> T) -> PyResult<T> {
        let address = TokenAddress::parse(&self.address).map_err(invalid_value)?;
        let anchor = match (&self.pin, &self.ca) {
            (Some(p), None) => TrustAnchor::Pin(array(p, "pin")?),
            (None, Some(pem)) => TrustAnchor::Ca(pem),
            _ => return Err(invalid_value(CoreError::new(ErrorKind::TokenAnchor))),
        };
        let credential = match (&self.token_id, &self.secret) {
            (Some(id), Some(secret)) => Some(TokenCredential {
                id: TokenId::parse(id.as_bytes()).map_err(invalid_value)?,
                secret: array(secret, "secret")?,
            }),
            _ => None,
        };
        Ok(f(&EnrollmentToken { address, anchor, credential }))
    }
}

/// Decodes an enrollment token. Raises :class:`ParseError` naming the member and byte
/// (``kind`` ``"InvalidToken"``, ``"UnsupportedTokenVersion"``, ``"InvalidTokenAddress"``,
/// ``"TokenAnchor"``, ``"InvalidPin"``, ``"InvalidTokenKey"``).
#[pyfunction]
pub(crate) fn decode_token(token: &Bound<'_, PyAny>) -> PyResult<Token> {
    let text = bytes_of(token, "token")?;
    let mut buf = vec![0u8; text.len()];
    EnrollmentToken::decode(&text, &mut buf).map(|t| Token::from_core(&t)).map_err(parse_error)
}

/// Encodes a token for ``address`` (``host[:port][/prefix]``), anchored by ``pin`` (32 bytes) or
/// ``ca`` (PEM), with a credential when ``token_id`` (22-character text) and ``secret`` (16 bytes)
/// are given. Raises :class:`ValidationError`.
#[pyfunction]
#[pyo3(signature = (address, pin=None, ca=None, token_id=None, secret=None))]
pub(crate) fn encode_token(
    address: &str,
    pin: Option<&Bound<'_, PyAny>>,
    ca: Option<&str>,
    token_id: Option<&str>,
    secret: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let address = TokenAddress::parse(address).map_err(invalid_value)?;
    let pin = pin.map(|p| bytes_of(p, "pin").and_then(|b| array::<32>(&b, "pin"))).transpose()?;
    let anchor = match (pin, ca) {
        (Some(p), None) => TrustAnchor::Pin(p),
        (None, Some(pem)) if pem.len() <= core5::MAX_TOKEN_CA_LEN => TrustAnchor::Ca(pem),
        (None, Some(_)) => return Err(invalid_value(CoreError::new(ErrorKind::TooLong).with_field(Field::Ca))),
        _ => return Err(invalid_value(CoreError::new(ErrorKind::TokenAnchor).with_field(Field::Pin))),
    };
    let credential = match (token_id, secret) {
        (Some(id), Some(secret)) => Some(TokenCredential {
            id: TokenId::parse(id.as_bytes()).map_err(invalid_value)?,
            secret: array(&bytes_of(secret, "secret")?, "secret")?,
        }),
        (None, None) => None,
        _ => return Err(pyo3::exceptions::PyValueError::new_err("token_id and secret go together")),
    };
    let token = EnrollmentToken { address, anchor, credential };
    token.to_text_string().map_err(invalid_value)
}

/// A parsed ``/enroll`` request body. ``ip`` is None, ``"src"`` or the canonical address.
#[pyclass(module = "agentkeys.wazuh5", frozen, eq, get_all)]
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct EnrollRequest {
    name: String,
    version: String,
    groups: Option<String>,
    ip: Option<String>,
    key_hash: Option<String>,
}

#[pymethods]
impl EnrollRequest {
    /// A request body; every field is validated as the manager validates it.
    #[new]
    #[pyo3(signature = (name, version, groups=None, ip=None, key_hash=None))]
    fn new(
        name: &str,
        version: &str,
        groups: Option<&str>,
        ip: Option<&str>,
        key_hash: Option<&str>,
    ) -> PyResult<Self> {
        let req = build_request(name, version, groups, ip, key_hash).map_err(invalid_value)?;
        Ok(EnrollRequest::from_core(&req))
    }

    /// The compact JSON body.
    fn encode<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let req = build_request(
            &self.name,
            &self.version,
            self.groups.as_deref(),
            self.ip.as_deref(),
            self.key_hash.as_deref(),
        )
        .map_err(invalid_value)?;
        let mut out = vec![0u8; req.encoded_len()];
        let text = req.encode_into(&mut out).map_err(invalid_value)?;
        Ok(PyBytes::new(py, text.as_bytes()))
    }

    /// Positional patterns: ``case EnrollRequest(name, version):``.
    #[classattr]
    fn __match_args__() -> (&'static str, &'static str, &'static str, &'static str, &'static str) {
        ("name", "version", "groups", "ip", "key_hash")
    }

    /// Pickles the value (it is rebuilt, validated, on unpickling).
    #[allow(clippy::type_complexity, reason = "the pickle protocol's (callable, args) pair")]
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (String, String, Option<String>, Option<String>, Option<String>))> {
        let class = py.get_type::<EnrollRequest>().into_any();
        Ok((
            class,
            (self.name.clone(), self.version.clone(), self.groups.clone(), self.ip.clone(), self.key_hash.clone()),
        ))
    }

    /// The value itself: it is immutable.
    fn __copy__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The value itself: it is immutable.
    #[pyo3(signature = (memo, /))]
    fn __deepcopy__<'py>(slf: PyRef<'py, Self>, memo: &Bound<'py, PyAny>) -> PyRef<'py, Self> {
        let _ = memo;
        slf
    }

    fn __repr__(&self) -> String {
        format!(
            "EnrollRequest(name={:?}, version={:?}, groups={:?}, ip={:?})",
            self.name, self.version, self.groups, self.ip
        )
    }
}

fn build_request<'a>(
    name: &str,
    version: &str,
    groups: Option<&'a str>,
    ip: Option<&str>,
    key_hash: Option<&str>,
) -> Result<CoreRequest<'a>, CoreError> {
    let mut req = CoreRequest::new(name, version)?;
    if let Some(g) = groups {
        req.groups = Some(Groups::parse(g.as_bytes()).map_err(|e| e.error().with_field(Field::Groups))?);
    }
    if let Some(ip) = ip {
        req.ip = Some(if ip == "src" {
            EnrollIp::Source
        } else {
            EnrollIp::Addr(AgentAddr::new(ip).map_err(|e| e.with_field(Field::Ip))?)
        });
    }
    match key_hash {
        Some(h) => req.with_key_hash(h),
        None => Ok(req),
    }
}

impl EnrollRequest {
    fn from_core(req: &CoreRequest<'_>) -> EnrollRequest {
        EnrollRequest {
            name: req.name().to_owned(),
            version: req.version().to_owned(),
            groups: req.groups.map(|g| g.as_str().to_owned()),
            ip: req.ip.map(|ip| match ip {
                EnrollIp::Source => "src".to_owned(),
                EnrollIp::Addr(a) => a.to_string(),
            }),
            key_hash: req.key_hash().map(str::to_owned),
        }
    }
}

/// Parses an ``/enroll`` request body (decompressed). Raises :class:`ParseError` or
/// :class:`ValidationError` whose ``http_message`` is the exact 400 message Wazuh 5.0 answers
/// (``"Missing or invalid field: name"``, ``"Malformed JSON body"``, …).
#[pyfunction]
pub(crate) fn parse_enroll_request(body: &Bound<'_, PyAny>) -> PyResult<EnrollRequest> {
    let body = bytes_of(body, "body")?;
    CoreRequest::parse(&body).map(|r| EnrollRequest::from_core(&r)).map_err(|e| {
        let err = to_py(e);
        Python::attach(|py| {
            let _ = err.value(py).setattr("http_message", core5::enroll_error_message(&e));
        });
        err
    })
}

/// Parses an ``/enroll`` 200 body: ``(record, reenroll_secret)`` with the validated
/// :class:`~agentkeys.Record` and the 32-byte secret or None.
#[pyfunction]
pub(crate) fn parse_enroll_reply(body: &Bound<'_, PyAny>) -> PyResult<(Record, Option<Vec<u8>>)> {
    let body = bytes_of(body, "body")?;
    let reply = CoreReply::parse(&body).map_err(parse_error)?;
    Ok((Record::from_core(&reply.record), reply.reenroll_secret.map(|s| s.to_vec())))
}

/// Writes an ``/enroll`` 200 body for ``record`` and, if given, its 32-byte ``reenroll_secret``.
#[pyfunction]
#[pyo3(signature = (record, reenroll_secret=None))]
pub(crate) fn format_enroll_reply<'py>(
    py: Python<'py>,
    record: PyRef<'_, Record>,
    reenroll_secret: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let secret =
        reenroll_secret.map(|s| bytes_of(s, "reenroll_secret").and_then(|b| array::<32>(&b, "reenroll_secret")));
    let secret = secret.transpose()?;
    let text = record.with_core(|rec| {
        let reply = CoreReply { record: *rec, reenroll_secret: secret };
        let mut out = vec![0u8; reply.encoded_len()];
        reply.encode_into(&mut out).map(str::to_owned)
    })?;
    Ok(PyBytes::new(py, text.map_err(invalid_value)?.as_bytes()))
}

/// Writes an ``/enroll`` error body: ``{"error":{"code":<code>,"message":"…"}}``; ``code`` is a
/// class string or an integer.
#[pyfunction]
pub(crate) fn format_enroll_error<'py>(
    py: Python<'py>,
    code: &Bound<'py, PyAny>,
    message: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let class;
    let code = if let Ok(n) = code.extract::<i64>() {
        EnrollErrorCode::Number(n)
    } else {
        class = code.extract::<String>()?;
        EnrollErrorCode::Class(&class)
    };
    let mut out = vec![0u8; core5::enroll_error_len(code, message)];
    let text = core5::encode_enroll_error(code, message, &mut out).map_err(invalid_value)?;
    Ok(PyBytes::new(py, text.as_bytes()))
}

/// SHA-256 of a DER SubjectPublicKeyInfo: the pin of a CA.
#[pyfunction]
pub(crate) fn spki_pin<'py>(py: Python<'py>, spki_der: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &core5::spki_pin(&bytes_of(spki_der, "spki_der")?)))
}

/// A pin as a token writes it: 43 characters of unpadded base64url.
#[pyfunction]
pub(crate) fn pin_text(pin: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(core5::pin_text(&array(&bytes_of(pin, "pin")?, "pin")?).to_string())
}

/// A 16-byte enrollment token ID as tokens and bearers (`kid`) write it: 22 characters of
/// unpadded base64url.
#[pyfunction]
pub(crate) fn token_id_text(raw: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(TokenId(array(&bytes_of(raw, "token_id")?, "token_id")?).to_text().to_string())
}

/// Registers the Wazuh 5.0 items in the native module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("BearerRefused", py.get_type::<BearerRefused>())?;
    m.add_class::<Bearer>()?;
    m.add_class::<Token>()?;
    m.add_class::<EnrollRequest>()?;
    m.add_function(wrap_pyfunction!(_bearer, m)?)?;
    m.add_function(wrap_pyfunction!(derive_key, m)?)?;
    m.add_function(wrap_pyfunction!(sign_bearer, m)?)?;
    m.add_function(wrap_pyfunction!(peek_bearer, m)?)?;
    m.add_function(wrap_pyfunction!(verify_bearer, m)?)?;
    m.add_function(wrap_pyfunction!(decode_token, m)?)?;
    m.add_function(wrap_pyfunction!(encode_token, m)?)?;
    m.add_function(wrap_pyfunction!(parse_enroll_request, m)?)?;
    m.add_function(wrap_pyfunction!(parse_enroll_reply, m)?)?;
    m.add_function(wrap_pyfunction!(format_enroll_reply, m)?)?;
    m.add_function(wrap_pyfunction!(format_enroll_error, m)?)?;
    m.add_function(wrap_pyfunction!(spki_pin, m)?)?;
    m.add_function(wrap_pyfunction!(pin_text, m)?)?;
    m.add_function(wrap_pyfunction!(token_id_text, m)?)?;
    Ok(())
}

/// Rebuilds a pickled bearer description from its fields.
#[pyfunction]
#[pyo3(signature = (kind, kid, iat, exp, nbf, jti))]
pub(crate) fn _bearer(
    kind: &str,
    kid: Option<String>,
    iat: Option<i64>,
    exp: Option<i64>,
    nbf: Option<i64>,
    jti: Option<Vec<u8>>,
) -> PyResult<Bearer> {
    let kind = match kind {
        "password" => "password",
        "token" => "token",
        "reenroll" => "reenroll",
        other => return Err(pyo3::exceptions::PyValueError::new_err(format!("unknown bearer kind {other:?}"))),
    };
    Ok(Bearer { kind, kid, iat, exp, nbf, jti })
}
