//! `agentkeys.Record`: one agent, `ID NAME IP KEY`.

use agentkeys::{AgentAddr, AgentId, AgentKey, AgentName, Record as CoreRecord, RemovedLine};
use pyo3::prelude::*;

use crate::errors::to_py;

/// One agent of a client.keys file: ``str(record)`` is its line.
///
/// ``Record(id, name, ip, key)`` validates every field; ``ip`` is kept in canonical form
/// (``"10.1.1.1/32"``, expanded IPv6) and written in client.keys form by ``str()``.
/// Removed agents (``ID !NAME …`` lines) have ``removed == True`` and keep their line verbatim.
#[pyclass(module = "agentkeys", frozen, eq, hash)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct Record {
    #[pyo3(get)]
    pub(crate) id: String,
    #[pyo3(get)]
    pub(crate) name: String,
    #[pyo3(get)]
    pub(crate) ip: String,
    #[pyo3(get)]
    pub(crate) key: String,
    #[pyo3(get)]
    pub(crate) removed: bool,
    /// For removed agents, the line verbatim (active agents' lines are formatted on demand).
    pub(crate) removed_line: Option<String>,
}

impl Record {
    pub(crate) fn from_core(r: &CoreRecord<'_>) -> Record {
        Record {
            id: r.id.as_str().to_owned(),
            name: r.name.as_str().to_owned(),
            ip: r.addr.to_string(),
            key: r.key.as_str().to_owned(),
            removed: false,
            removed_line: None,
        }
    }

    /// A removed agent: fields read loosely from its verbatim line (upstream does not validate
    /// them either); only the ID is validated.
    pub(crate) fn from_removed(r: &RemovedLine<'_>) -> Record {
        Record {
            id: r.id.as_str().to_owned(),
            name: r.name.to_owned(),
            ip: r.ip.to_owned(),
            key: r.key.to_owned(),
            removed: true,
            removed_line: Some(r.text.to_owned()),
        }
    }

    /// The validated core view (not for removed records).
    pub(crate) fn with_core<T>(&self, f: impl FnOnce(&CoreRecord<'_>) -> T) -> PyResult<T> {
        let rec = CoreRecord::new(
            AgentId::parse(self.id.as_bytes()).map_err(to_py)?,
            AgentName::new(&self.name).map_err(to_py)?,
            AgentAddr::new(&self.ip).map_err(to_py)?,
            AgentKey::new(&self.key).map_err(to_py)?,
        );
        Ok(f(&rec))
    }
}

impl Record {
    /// Validates four fields into a record.
    pub(crate) fn new_validated(id: &str, name: &str, ip: &str, key: &str) -> PyResult<Record> {
        let rec = CoreRecord::new(
            AgentId::parse(id.as_bytes()).map_err(to_py)?,
            AgentName::new(name).map_err(to_py)?,
            AgentAddr::new(ip).map_err(to_py)?,
            AgentKey::new(key).map_err(to_py)?,
        );
        Ok(Record::from_core(&rec))
    }
}

#[pymethods]
impl Record {
    /// Validates the four fields. Raises ``ValidationError`` naming the field.
    #[new]
    #[pyo3(signature = (id, name, ip, key))]
    fn new(id: &str, name: &str, ip: &str, key: &str) -> PyResult<Record> {
        Record::new_validated(id, name, ip, key)
    }

    /// The address as written to client.keys (``10.1.1.1/32`` → ``10.1.1.1``).
    #[getter]
    fn file_ip(&self) -> String {
        AgentAddr::new(&self.ip).map(|a| a.file_form().to_string()).unwrap_or_else(|_| self.ip.clone())
    }

    /// The client.keys line: ``ID NAME IP KEY`` with the address in file form, or a removed
    /// agent's line verbatim.
    fn __str__(&self) -> PyResult<String> {
        match &self.removed_line {
            Some(line) => Ok(line.clone()),
            None => self.with_core(|r| r.to_string()),
        }
    }

    /// Positional patterns: ``case Record(id, name, ip, key):``.
    #[classattr]
    fn __match_args__() -> (&'static str, &'static str, &'static str, &'static str) {
        ("id", "name", "ip", "key")
    }

    /// Pickles the value (it is rebuilt, validated, on unpickling).
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let rebuild = py.import("agentkeys._native")?.getattr("_record_from_line")?;
        Ok((rebuild, (self.__str__()?,)))
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
        let removed = if self.removed { ", removed=True" } else { "" };
        format!(
            "Record(id='{}', name='{}', ip='{}', key=<{} bytes>{removed})",
            self.id,
            self.name,
            self.ip,
            self.key.len()
        )
    }
}

/// Rebuilds a pickled record from its client.keys line.
#[pyfunction]
pub(crate) fn _record_from_line(line: &str) -> PyResult<Record> {
    match agentkeys::parse_line(line.as_bytes()) {
        agentkeys::Line::Agent(r) => Ok(Record::from_core(&r)),
        agentkeys::Line::Removed(r) => Ok(Record::from_removed(&r)),
        agentkeys::Line::Invalid(e) => Err(to_py(e)),
        agentkeys::Line::Comment => Err(pyo3::exceptions::PyValueError::new_err("not a record line")),
    }
}
