//! Derived values and secrets: key hash, encryption key, Base64 export/import, key generation,
//! constant-time comparison.

use core::ffi::c_char;

use agentkeys_core::{GeneratedKey, ct_eq, encryption_key, export_key, import_key, key_hash};

use crate::io::TextOut;
use crate::panic::ffi_panic_boundary;
use crate::result::{ak_result, copy_text};
use crate::types::{ak_error, ak_record, ak_record_buf, report_error};

/// Writes the text `derive` makes of `id`, `name` and `key` (no allocation: the derived values
/// are fixed-size).
fn derive_text<T: AsRef<str>>(
    inputs: [&[u8]; 3],
    out: TextOut<'_>,
    derive: impl Fn(&[u8], &[u8], &[u8]) -> T,
) -> ak_result {
    let [id, name, key] = inputs;
    let text = derive(id, name, key);
    out.write(|dst| copy_text(dst, text.as_ref().as_bytes()))
}

/// Writes the `K:` key hash of a record: lowercase hex SHA-1 of `id ‖ name ‖ key`, 40 characters
/// (buffer of 41). Returns `AK_OK`, `AK_BUFFER_TOO_SMALL` or `AK_NULL_PARAMETER`.
///
/// # Safety
/// Each input valid for its length (or NULL with 0); `buf` valid for `cap` bytes; `written`
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_key_hash(
    id: *const c_char,
    id_len: usize,
    name: *const c_char,
    name_len: usize,
    key: *const c_char,
    key_len: usize,
    buf: *mut c_char,
    cap: usize,
    written: *mut usize,
) -> ak_result {
    ffi_panic_boundary! {
        let inputs = [try_slice!(id, id_len), try_slice!(name, name_len), try_slice!(key, key_len)];
        derive_text(inputs, try_text_out!(buf, cap, written), |i, n, k| key_hash(i, n, k))
    }
}

/// Writes the message-encryption key of a record (47 characters, buffer of 48); AES-256 uses its
/// first 32 bytes. Returns `AK_OK`, `AK_BUFFER_TOO_SMALL` or `AK_NULL_PARAMETER`.
///
/// # Safety
/// As `ak_key_hash`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_encryption_key(
    id: *const c_char,
    id_len: usize,
    name: *const c_char,
    name_len: usize,
    key: *const c_char,
    key_len: usize,
    buf: *mut c_char,
    cap: usize,
    written: *mut usize,
) -> ak_result {
    ffi_panic_boundary! {
        let inputs = [try_slice!(id, id_len), try_slice!(name, name_len), try_slice!(key, key_len)];
        derive_text(inputs, try_text_out!(buf, cap, written), |i, n, k| encryption_key(i, n, k))
    }
}

/// Writes the `manage_agents -e` export of a record: standard Base64 of `ID NAME IP KEY`.
/// Returns `AK_OK`, a field code, `AK_BUFFER_TOO_SMALL` (417 bytes always suffice) or
/// `AK_NULL_PARAMETER`.
///
/// # Safety
/// `record` readable with valid strings; `buf` valid for `cap` bytes; `written` writable; `err`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_export_key(
    record: *const ak_record,
    buf: *mut c_char,
    cap: usize,
    written: *mut usize,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        format_record!(record, buf, cap, written, err, |rec, dst| export_key(rec, dst).map(str::as_bytes))
    }
}

/// Decodes a `manage_agents -e` export and validates the record in it. White space is skipped.
/// Returns `AK_OK`, `AK_INVALID_BASE64` (`err->offset` = the bad character), `AK_TOO_LONG`,
/// `AK_INVALID_RECORD`, a field code or `AK_NULL_PARAMETER`.
///
/// # Safety
/// `text` valid for `len` bytes; `out` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_import_key(
    text: *const c_char,
    len: usize,
    out: *mut ak_record_buf,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        let mut err = err_out!(err);
        let bytes = try_slice!(text, len, err);
        let slot = try_mut!(out, err);
        match import_key(bytes) {
            Ok(record) => {
                *slot = ak_record_buf::from_record(&record);
                ak_result::AK_OK
            }
            Err(e) => report_error(&mut err, &e),
        }
    }
}

/// Writes a new agent key, 64 lowercase hex characters from the operating system's entropy
/// (buffer of 65). Returns `AK_OK`, `AK_ENTROPY_UNAVAILABLE`, `AK_BUFFER_TOO_SMALL` or
/// `AK_NULL_PARAMETER`.
///
/// # Safety
/// `buf` valid for `cap` bytes; `written` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_generate_key(buf: *mut c_char, cap: usize, written: *mut usize) -> ak_result {
    ffi_panic_boundary! {
        let Ok(key) = GeneratedKey::from_os() else {
            return ak_result::AK_ENTROPY_UNAVAILABLE;
        };
        try_text_out!(buf, cap, written).write(|dst| copy_text(dst, key.as_str().as_bytes()))
    }
}

/// Compares two secrets (passwords, keys, key hashes) in time that depends only on their lengths.
/// NULL with a non-zero length compares unequal.
///
/// # Safety
/// Each input valid for its length (or NULL with 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_ct_equal(a: *const u8, a_len: usize, b: *const u8, b_len: usize) -> bool {
    ffi_panic_boundary! {
        match (opt_slice!(a, a_len), opt_slice!(b, b_len)) {
            (Some(a), Some(b)) => ct_eq(a, b),
            // NULL compares equal only to NULL, both with length 0 (the empty input).
            (None, None) => a_len == 0 && b_len == 0,
            (None, Some(b)) => a_len == 0 && b.is_empty(),
            (Some(a), None) => b_len == 0 && a.is_empty(),
        }
    }
}
