//! Validating single values: ID, name, key, address, groups.

use core::ffi::c_char;

use agentkeys_core::{AgentAddr, AgentId, AgentKey, AgentName, Error, Groups};

use crate::io::copy_into;
use crate::panic::ffi_panic_boundary;
use crate::result::ak_result;
use crate::types::{AK_ADDR_BUF, ak_addr, ak_error, report_details, report_error};

/// Runs a core validator over an input, reporting a refusal through `err`.
fn validate(bytes: &[u8], err: &mut Option<&mut ak_error>, check: fn(&[u8]) -> Result<(), Error>) -> ak_result {
    match check(bytes) {
        Ok(()) => ak_result::AK_OK,
        Err(e) => report_error(err, &e),
    }
}

/// Checks an agent ID: 1–8 digits, not all zeros. Returns `AK_OK`, `AK_INVALID_ID` or
/// `AK_RESERVED_ID`; details (offset) go to `err` when it is not NULL.
///
/// # Safety
/// `id` must be valid for `len` bytes (or NULL with `len` 0); `err` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_validate_id(id: *const c_char, len: usize, err: *mut ak_error) -> ak_result {
    ffi_panic_boundary! {
        let mut err = err_out!(err);
        let bytes = try_slice!(id, len, err);
        validate(bytes, &mut err, |b| AgentId::parse(b).map(drop))
    }
}

/// Checks an agent name: 2–128 bytes of `A-Z a-z 0-9 . _ -`, not starting with `.`.
/// Returns `AK_OK` or `AK_INVALID_NAME` (offset of the first bad byte in `err`).
///
/// # Safety
/// As `ak_validate_id`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_validate_name(name: *const c_char, len: usize, err: *mut ak_error) -> ak_result {
    ffi_panic_boundary! {
        let mut err = err_out!(err);
        let bytes = try_slice!(name, len, err);
        validate(bytes, &mut err, |b| AgentName::parse(b).map(drop))
    }
}

/// Checks an agent key: 1–128 printable ASCII bytes without space or `'`.
/// Returns `AK_OK` or `AK_INVALID_KEY`.
///
/// # Safety
/// As `ak_validate_id`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_validate_key(key: *const c_char, len: usize, err: *mut ak_error) -> ak_result {
    ffi_panic_boundary! {
        let mut err = err_out!(err);
        let bytes = try_slice!(key, len, err);
        validate(bytes, &mut err, |b| AgentKey::parse(b).map(drop))
    }
}

/// Checks and normalises an agent address (`any`, IPv4/IPv6 with optional `/prefix` or
/// `/netmask`). On `AK_OK`, `*out` holds the canonical and client.keys forms.
/// Returns `AK_OK`, `AK_INVALID_ADDR` or `AK_NULL_PARAMETER`.
///
/// # Safety
/// `ip` valid for `len` bytes; `out` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_validate_addr(
    ip: *const c_char,
    len: usize,
    out: *mut ak_addr,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        let mut err = err_out!(err);
        let bytes = try_slice!(ip, len, err);
        let slot = try_mut!(out, err);
        match AgentAddr::parse(bytes) {
            Ok(addr) => {
                *slot = addr_info(&addr);
                ak_result::AK_OK
            }
            Err(e) => report_error(&mut err, &e),
        }
    }
}

pub(crate) fn addr_info(addr: &AgentAddr) -> ak_addr {
    let mut info = ak_addr {
        canonical: [0; AK_ADDR_BUF],
        file_form: [0; AK_ADDR_BUF],
        family: match addr.ip() {
            None => 0,
            Some(ip) if ip.is_ipv4() => 4,
            Some(_) => 6,
        },
        prefix_len: addr.prefix_len().unwrap_or(0),
        single_host: addr.is_single_host(),
    };
    copy_into(&mut info.canonical, addr.to_text().as_bytes());
    copy_into(&mut info.file_form, addr.file_form().to_text().as_bytes());
    info
}

/// Checks a groups string as a manager checks `G:'…'` (syntax) and writes the distinct
/// groups, comma-separated, into `dedup` (a buffer as long as the input plus one always suffices).
/// On refusal, `err->subject` is what upstream quotes: pass `err` to `ak_error_reply` for the exact
/// reply. Returns `AK_OK`, a group code (`AK_EMPTY_GROUP`, `AK_GROUP_PROHIBITED_CHARS`, …,
/// `AK_TOO_MANY_GROUPS`), `AK_BUFFER_TOO_SMALL` or `AK_NULL_PARAMETER`.
///
/// # Safety
/// `groups` valid for `len` bytes; `dedup` valid for `cap` bytes (or NULL with 0); `written`
/// writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_validate_groups(
    groups: *const c_char,
    len: usize,
    dedup: *mut c_char,
    cap: usize,
    written: *mut usize,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        let mut err = err_out!(err);
        let bytes = try_slice!(groups, len, err);
        let out = try_text_out!(dedup, cap, written);
        let parsed = match Groups::parse(bytes).and_then(|g| g.for_each_distinct(|_| Ok(())).map(|()| g)) {
            Ok(g) => g,
            Err(e) => return report_details(&mut err, ak_error::from_request_error(&e)),
        };
        // Cannot fail any more except for the buffer size, which the output reports.
        out.write(|dst| parsed.dedup_into(dst).map(str::as_bytes).map_err(|e| e.error()))
    }
}

/// Applies the manager's stricter group rules (at most 128 distinct groups, each
/// `[A-Za-z0-9_.-]+` and not `.`/`..`) to a groups string that passed `ak_validate_groups`.
/// Checking that `etc/shared/<group>` exists is left to the caller. Returns `AK_OK`,
/// `AK_TOO_MANY_GROUPS`, `AK_INVALID_GROUP_NAME` (subject = the group) or a syntax code.
///
/// # Safety
/// As `ak_validate_id`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_groups_check_manager_rules(
    groups: *const c_char,
    len: usize,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        let mut err = err_out!(err);
        let bytes = try_slice!(groups, len, err);
        match Groups::parse(bytes).and_then(|g| g.check_manager_rules(|_| Ok(()))) {
            Ok(()) => ak_result::AK_OK,
            Err(e) => report_details(&mut err, ak_error::from_request_error(&e)),
        }
    }
}
