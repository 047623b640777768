//! `agentkeys.Request`: the port-1515 registration request.

use std::net::IpAddr;

use agentkeys::{AgentAddr, AgentName, Groups, IpField, Request as CoreRequest, RequestOptions, Version};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::{refused, to_py};
use crate::functions::bytes_of;

/// A registration request, as an agent sends it on port 1515.
///
/// Build one to send (``Request(name, version="v4.14.7", groups="default").encode()``) or parse
/// one as a manager does (``Request.parse(data, password=…, manager_version=…)``).
#[pyclass(module = "agentkeys", frozen, eq)]
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// The agent name.
    #[pyo3(get)]
    name: String,
    /// ``OSSEC PASS:`` password, or None.
    #[pyo3(get)]
    password: Option<String>,
    /// ``V:`` agent version, or None.
    #[pyo3(get)]
    version: Option<String>,
    /// ``G:`` groups as sent (not de-duplicated), or None.
    #[pyo3(get)]
    groups: Option<String>,
    /// ``IP:`` field: None, ``"src"``, or the address in canonical form.
    #[pyo3(get)]
    ip: Option<String>,
    /// ``K:`` key hash, or None.
    #[pyo3(get)]
    key_hash: Option<String>,
}

fn lossy(bytes: Option<&[u8]>) -> Option<String> {
    bytes.map(|b| String::from_utf8_lossy(b).into_owned())
}

impl Request {
    fn ip_field(&self) -> PyResult<IpField> {
        Ok(match self.ip.as_deref() {
            None => IpField::Absent,
            Some("src") => IpField::Source,
            Some(addr) => IpField::Addr(AgentAddr::new(addr).map_err(to_py)?),
        })
    }
}

#[pymethods]
impl Request {
    /// Validates the fields of a request to send. ``ip`` is ``"src"`` (let the manager use the
    /// connection's address) or an address. Raises ``ValidationError``.
    #[new]
    #[pyo3(signature = (name, *, password=None, version=None, groups=None, ip=None, key_hash=None))]
    fn new(
        name: &str,
        password: Option<String>,
        version: Option<String>,
        groups: Option<String>,
        ip: Option<String>,
        key_hash: Option<String>,
    ) -> PyResult<Request> {
        AgentName::new(name).map_err(to_py)?;
        if let Some(g) = &groups {
            Groups::parse(g.as_bytes()).map_err(|e| to_py(e.error()))?;
        }
        let ip = match ip.as_deref() {
            None | Some("src") => ip,
            Some(addr) => Some(AgentAddr::new(addr).map_err(to_py)?.to_string()),
        };
        let req = Request { name: name.to_owned(), password, version, groups, ip, key_hash };
        req.encode()?;
        Ok(req)
    }

    /// The request line an agent sends, ``\n`` included.
    fn encode(&self) -> PyResult<Vec<u8>> {
        let groups = match &self.groups {
            Some(g) => Some(Groups::parse(g.as_bytes()).map_err(|e| to_py(e.error()))?),
            None => None,
        };
        let req = CoreRequest {
            password: self.password.as_deref().map(str::as_bytes),
            name: AgentName::new(&self.name).map_err(to_py)?,
            version: self.version.as_deref().map(str::as_bytes),
            groups,
            ip: self.ip_field()?,
            key_hash: self.key_hash.as_deref().map(str::as_bytes),
        };
        req.to_vec().map_err(to_py)
    }

    /// Parses a request exactly as a Wazuh 4.x manager does. ``password`` is the manager's
    /// password (None: no password); ``manager_version`` enables the ``V:`` check (None accepts any
    /// version). Raises ``RequestRefused`` whose ``.reply`` is the manager's exact reply.
    #[staticmethod]
    #[pyo3(signature = (data, *, password=None, manager_version=None))]
    fn parse(
        data: &Bound<'_, PyAny>,
        password: Option<&Bound<'_, PyAny>>,
        manager_version: Option<&str>,
    ) -> PyResult<Request> {
        let data = bytes_of(data, "data")?;
        let password = password.map(|p| bytes_of(p, "password")).transpose()?;
        let opts = RequestOptions {
            password: password.as_deref(),
            manager_version: manager_version.map(|v| Version::parse_lenient(v.as_bytes())),
        };
        let req = CoreRequest::parse(&data, &opts).map_err(|e| refused(&e))?;
        Ok(Request {
            name: req.name.as_str().to_owned(),
            password: lossy(req.password),
            version: lossy(req.version),
            groups: req.groups.map(|g| g.as_str().to_owned()),
            ip: match req.ip {
                IpField::Absent => None,
                IpField::Source => Some("src".to_owned()),
                IpField::Addr(a) => Some(a.to_string()),
            },
            key_hash: lossy(req.key_hash),
        })
    }

    /// The address a manager records for this request, given the connection's source address:
    /// the ``IP:`` value, the source for ``IP:'src'`` or with ``use_source_ip``, else ``"any"``.
    #[pyo3(signature = (source_ip, *, use_source_ip=false))]
    fn address(&self, source_ip: &str, use_source_ip: bool) -> PyResult<String> {
        let source: IpAddr = source_ip
            .parse()
            .map_err(|_| PyValueError::new_err(format!("source_ip {source_ip:?} is not an IP address")))?;
        let ip = self.ip_field()?;
        let decided = match ip {
            IpField::Addr(a) => a,
            IpField::Source => AgentAddr::from_ip(source),
            IpField::Absent if use_source_ip => AgentAddr::from_ip(source),
            IpField::Absent => AgentAddr::ANY,
        };
        Ok(decided.to_string())
    }

    /// Positional patterns: ``case Request(name):``.
    #[classattr]
    fn __match_args__() -> (&'static str,) {
        ("name",)
    }

    /// Pickles the value (it is rebuilt, validated, on unpickling).
    #[allow(clippy::type_complexity, reason = "the pickle protocol's (callable, args) pair")]
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(
        Bound<'py, PyAny>,
        (String, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>),
    )> {
        let rebuild = py.import("agentkeys._native")?.getattr("_request")?;
        Ok((
            rebuild,
            (
                self.name.clone(),
                self.password.clone(),
                self.version.clone(),
                self.groups.clone(),
                self.ip.clone(),
                self.key_hash.clone(),
            ),
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
        let pw = if self.password.is_some() { ", password=<redacted>" } else { "" };
        format!(
            "Request(name={:?}{pw}, version={:?}, groups={:?}, ip={:?}, key_hash={:?})",
            self.name, self.version, self.groups, self.ip, self.key_hash
        )
    }
}

/// Rebuilds a pickled request from its fields.
#[pyfunction]
#[pyo3(signature = (name, password, version, groups, ip, key_hash))]
pub(crate) fn _request(
    name: &str,
    password: Option<String>,
    version: Option<String>,
    groups: Option<String>,
    ip: Option<String>,
    key_hash: Option<String>,
) -> PyResult<Request> {
    Request::new(name, password, version, groups, ip, key_hash)
}
