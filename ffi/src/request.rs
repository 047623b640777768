//! The registration request: parsing (manager side) and formatting (agent side).

use core::ffi::c_char;
use core::net::IpAddr;

use agentkeys_core::{AgentAddr, AgentName, Groups, IpField, Request, RequestOptions, Version};

use crate::io::copy_into;
use crate::panic::ffi_panic_boundary;
use crate::result::ak_result;
use crate::types::{AK_ADDR_BUF, ak_error, ak_str};
#[allow(unused_imports, reason = "each module uses some of the reporters")]
use crate::types::{report, report_details, report_error};

/// The manager settings a request is checked against.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ak_request_options {
    /// The enrollment password; absent (`ptr` NULL) when the manager has none.
    pub password: ak_str,
    /// The manager version for the `V:` check (e.g. `"v4.14.7"`); absent accepts any agent
    /// version (`allow_higher_versions`).
    pub manager_version: ak_str,
    /// The connection's source address (`"192.0.2.7"`, `"::1"`); required.
    pub source_ip: ak_str,
    /// Record the source address when the agent sends no `IP:` field.
    pub use_source_ip: bool,
}

/// What the agent said about its address.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ak_ip_field {
    /// No `IP:` field.
    AK_IP_ABSENT = 0,
    /// `IP:'src'`.
    AK_IP_SOURCE = 1,
    /// `IP:'<address>'`.
    AK_IP_ADDR = 2,
}

/// A parsed request. `ak_str` fields borrow from the parsed input; absent ones have `ptr` NULL.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ak_request {
    /// The password that matched, when the manager has one.
    pub password: ak_str,
    /// The agent name (validated).
    pub name: ak_str,
    /// `V:` as sent.
    pub version: ak_str,
    /// `G:` as sent (syntax-checked; de-duplicate with `ak_validate_groups`).
    pub groups: ak_str,
    /// `K:` as sent.
    pub key_hash: ak_str,
    /// Which `IP:` form was sent.
    pub ip_field: ak_ip_field,
    /// The address to record, decided as upstream does (`IP:` value, source address, or `any`),
    /// in canonical form, NUL-terminated.
    pub addr: [c_char; AK_ADDR_BUF],
}

/// Parses a registration request exactly as a Wazuh 4.x manager does. On refusal the code names
/// the reason (`AK_INVALID_PASSWORD`, `AK_INVALID_NAME`, `AK_UNTERMINATED_IP`, …) and `*err` holds
/// what `ak_error_reply` needs to produce upstream's exact reply. Returns `AK_OK`,
/// a refusal code, `AK_INVALID_PARAMETER` (unparsable `source_ip`), `AK_INVALID_UTF8` or
/// `AK_NULL_PARAMETER`.
///
/// # Safety
/// `input` valid for `len` bytes and alive while `*out` is used; `opts` readable with valid
/// strings; `out` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_request_parse(
    data: *const c_char,
    len: usize,
    opts: *const ak_request_options,
    out: *mut ak_request,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        let mut err = err_out!(err);
        let bytes = try_slice!(data, len, err);
        let opts = try_ref!(opts, err);
        let slot = try_mut!(out, err);
        let (password, version, source) =
            (str_field!(opts.password), str_field!(opts.manager_version), str_field!(opts.source_ip));
        let source = match source.map(core::str::from_utf8) {
            Some(Ok(text)) => match text.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => return report(&mut err, ak_result::AK_INVALID_PARAMETER),
            },
            Some(Err(_)) => return report(&mut err, ak_result::AK_INVALID_UTF8),
            None => return report(&mut err, ak_result::AK_NULL_PARAMETER),
        };
        let core_opts = RequestOptions { password, manager_version: version.map(Version::parse_lenient) };
        let request = match Request::parse(bytes, &core_opts) {
            Ok(r) => r,
            Err(e) => return report_details(&mut err, ak_error::from_request_error(&e)),
        };
        let mut parsed = ak_request {
            password: ak_str::from_opt(request.password),
            name: ak_str::from_bytes(request.name.as_str().as_bytes()),
            version: ak_str::from_opt(request.version),
            groups: ak_str::from_opt(request.groups.map(|g| g.as_str().as_bytes())),
            key_hash: ak_str::from_opt(request.key_hash),
            ip_field: match request.ip {
                IpField::Absent => ak_ip_field::AK_IP_ABSENT,
                IpField::Source => ak_ip_field::AK_IP_SOURCE,
                IpField::Addr(_) => ak_ip_field::AK_IP_ADDR,
            },
            addr: [0; AK_ADDR_BUF],
        };
        copy_into(&mut parsed.addr, request.decide_addr(source, opts.use_source_ip).to_text().as_bytes());
        *slot = parsed;
        ak_result::AK_OK
    }
}

/// What an agent sends: every `ak_str` is an input; absent optional fields have `ptr` NULL.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ak_enrollment {
    /// Enrollment password (`OSSEC PASS: …`), or absent.
    pub password: ak_str,
    /// Agent name; required.
    pub name: ak_str,
    /// Agent version for `V:` (e.g. `"v4.14.7"`, at most 26 bytes), or absent (OSSEC style).
    pub version: ak_str,
    /// Groups for `G:`, or absent.
    pub groups: ak_str,
    /// `"src"` for `IP:'src'`, an address for `IP:'…'`, or absent.
    pub ip: ak_str,
    /// 40 hex digits for `K:` (see `ak_key_hash`), or absent.
    pub key_hash: ak_str,
}

/// Writes the request line an agent sends, `\n` included:
/// `[OSSEC PASS: <pw> ]OSSEC A:'<name>'[ V:'…'][ G:'…'][ IP:'…'][ K:'…']\n`.
/// Returns `AK_OK`, a field code (`AK_INVALID_NAME`, `AK_INVALID_VERSION`, a group code,
/// `AK_INVALID_ADDR`, `AK_INVALID_KEY_HASH`, `AK_INVALID_PASSWORD_VALUE`), `AK_BUFFER_TOO_SMALL` or
/// `AK_NULL_PARAMETER`.
///
/// # Safety
/// `req` readable with valid strings; `buf` valid for `cap` bytes; `written` writable; `err` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_request_format(
    req: *const ak_enrollment,
    buf: *mut c_char,
    cap: usize,
    written: *mut usize,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        let mut err = err_out!(err);
        let req = try_ref!(req, err);
        let (password, version, groups, ip, key_hash) = (
            str_field!(req.password),
            str_field!(req.version),
            str_field!(req.groups),
            str_field!(req.ip),
            str_field!(req.key_hash),
        );
        let name = str_field!(req.name).ok_or(ak_result::AK_NULL_PARAMETER);
        let name = match name {
            Ok(n) => n,
            Err(code) => return report(&mut err, code),
        };
        let name = match AgentName::parse(name) {
            Ok(n) => n,
            Err(e) => return report_error(&mut err, &e),
        };
        let groups = match groups.map(Groups::parse).transpose() {
            Ok(g) => g,
            Err(e) => return report_details(&mut err, ak_error::from_request_error(&e)),
        };
        let ip = match ip {
            None => IpField::Absent,
            Some(b"src") => IpField::Source,
            Some(text) => match AgentAddr::parse(text) {
                Ok(a) => IpField::Addr(a),
                Err(e) => return report_error(&mut err, &e),
            },
        };
        let request = Request { password, name, version, groups, ip, key_hash };
        // A size probe surfaces field errors (version, password, hash) before anything is written.
        if let Err(e) = request.encode_into(&mut [])
            && e.kind() != agentkeys_core::ErrorKind::BufferTooSmall
        {
            return report_error(&mut err, &e);
        }
        try_text_out!(buf, cap, written).write(|dst| request.encode_into(dst))
    }
}
