//! `agentkeys._native`: the Rust half of the `agentkeys` Python package. Every rule comes from the
//! core crate; this crate only converts types and errors. The public API is re-exported (and
//! documented) by `python/agentkeys/__init__.py` and `_native.pyi`.

use pyo3::prelude::*;

mod errors;
mod functions;
mod record;
mod request;
mod wazuh5;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("Error", py.get_type::<errors::Error>())?;
    m.add("ValidationError", py.get_type::<errors::ValidationError>())?;
    m.add("ParseError", py.get_type::<errors::ParseError>())?;
    m.add("RequestRefused", py.get_type::<errors::RequestRefused>())?;
    m.add("ServerRefused", py.get_type::<errors::ServerRefused>())?;
    m.add("ScriptRefused", py.get_type::<errors::ScriptRefused>())?;
    m.add_class::<record::Record>()?;
    m.add_class::<request::Request>()?;
    m.add_function(wrap_pyfunction!(record::_record_from_line, m)?)?;
    m.add_function(wrap_pyfunction!(request::_request, m)?)?;
    m.add_function(wrap_pyfunction!(functions::parse_keys, m)?)?;
    m.add_function(wrap_pyfunction!(functions::scan_keys, m)?)?;
    m.add_function(wrap_pyfunction!(functions::validate_id, m)?)?;
    m.add_function(wrap_pyfunction!(functions::validate_script_id, m)?)?;
    m.add_function(wrap_pyfunction!(functions::validate_name, m)?)?;
    m.add_function(wrap_pyfunction!(functions::validate_ip, m)?)?;
    m.add_function(wrap_pyfunction!(functions::validate_key, m)?)?;
    m.add_function(wrap_pyfunction!(functions::validate_groups, m)?)?;
    m.add_function(wrap_pyfunction!(functions::normalize_ip, m)?)?;
    m.add_function(wrap_pyfunction!(functions::file_ip, m)?)?;
    m.add_function(wrap_pyfunction!(functions::generate_key, m)?)?;
    m.add_function(wrap_pyfunction!(functions::key_hash, m)?)?;
    m.add_function(wrap_pyfunction!(functions::encryption_key, m)?)?;
    m.add_function(wrap_pyfunction!(functions::export_key, m)?)?;
    m.add_function(wrap_pyfunction!(functions::import_key, m)?)?;
    m.add_function(wrap_pyfunction!(functions::parse_reply, m)?)?;
    m.add_function(wrap_pyfunction!(functions::keypoll_success, m)?)?;
    m.add_function(wrap_pyfunction!(functions::keypoll_error, m)?)?;
    m.add_function(wrap_pyfunction!(functions::parse_keypoll_output, m)?)?;
    m.add_function(wrap_pyfunction!(functions::check_key_request, m)?)?;
    wazuh5::register(m)?;
    Ok(())
}
