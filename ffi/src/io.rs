//! Reading C inputs and writing C outputs, with every pointer checked.

use core::ffi::c_char;

use agentkeys_core::{Error, ErrorKind};

use crate::result::ak_result;

/// A `(ptr, len)` input as a slice. `(NULL, 0)` is the empty slice; `(NULL, n > 0)` is an error.
///
/// # Safety
/// When non-NULL, `ptr` must be valid for reads of `len` bytes for `'a`.
pub(crate) unsafe fn in_bytes<'a, T: Byte>(ptr: *const T, len: usize) -> Result<&'a [u8], ak_result> {
    if ptr.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(ak_result::AK_NULL_PARAMETER) };
    }
    // SAFETY: non-NULL, and the caller guarantees `len` readable bytes for 'a (`T` is one byte).
    Ok(unsafe { core::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// The element types of C inputs: `uint8_t` for bytes, `char` (signed or not) for text. Both
/// are one byte, read as `u8`.
pub(crate) trait Byte {}
impl Byte for u8 {}
impl Byte for i8 {}

/// An optional `(ptr, len)` input: NULL means absent.
///
/// # Safety
/// As [`in_bytes`].
pub(crate) unsafe fn optional_input<'a, T: Byte>(ptr: *const T, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: non-NULL, and the caller guarantees `len` readable bytes for 'a (`T` is one byte).
        Some(unsafe { core::slice::from_raw_parts(ptr.cast::<u8>(), len) })
    }
}

/// A `T *out` parameter as `&mut T`, or `AK_NULL_PARAMETER`.
///
/// # Safety
/// When non-NULL, `ptr` must be valid for writes of a `T` for `'a` and not aliased.
pub(crate) unsafe fn out_param<'a, T>(ptr: *mut T) -> Result<&'a mut T, ak_result> {
    // SAFETY: the caller guarantees a valid, exclusive pointer when it is non-NULL.
    unsafe { ptr.as_mut() }.ok_or(ak_result::AK_NULL_PARAMETER)
}

/// A `const T *` parameter as `&T`, or `AK_NULL_PARAMETER`.
///
/// # Safety
/// When non-NULL, `ptr` must be valid for reads of a `T` for `'a`.
pub(crate) unsafe fn in_ref<'a, T>(ptr: *const T) -> Result<&'a T, ak_result> {
    // SAFETY: the caller guarantees a valid pointer when it is non-NULL.
    unsafe { ptr.as_ref() }.ok_or(ak_result::AK_NULL_PARAMETER)
}

/// Copies `text` plus a NUL into a fixed array, which the caller sized for the longest value.
pub(crate) fn copy_into<const N: usize>(dst: &mut [c_char; N], text: &[u8]) {
    let n = text.len().min(N - 1);
    for (d, &s) in dst.iter_mut().zip(&text[..n]) {
        *d = s as c_char;
    }
    dst[n] = 0;
}

/// `BufferTooSmall` with the needed size, for producers written in this crate.
pub(crate) const fn too_small(needed: usize) -> Error {
    Error::buffer_too_small(needed)
}

/// The optional `ak_error *` of an exported function as `Option<&mut ak_error>`.
macro_rules! err_out {
    ($err:expr) => {{
        // SAFETY: every exported function documents `err` as NULL or valid for a write of an
        // `ak_error`, not aliased, for the duration of the call.
        unsafe { $err.as_mut() }
    }};
}

/// An input `(ptr, len)` as `&[u8]`; on NULL with a non-zero length, returns `AK_NULL_PARAMETER`
/// from the calling function (also into `err`, an `Option<&mut ak_error>`, when given).
macro_rules! try_slice {
    ($ptr:expr, $len:expr) => {{
        // SAFETY: every exported function documents each `(ptr, len)` input as NULL with `len` 0,
        // or valid for reads of `len` bytes for the duration of the call.
        match unsafe { $crate::io::in_bytes($ptr, $len) } {
            Ok(bytes) => bytes,
            Err(code) => return code,
        }
    }};
    ($ptr:expr, $len:expr, $err:expr) => {{
        // SAFETY: as in the two-argument form.
        match unsafe { $crate::io::in_bytes($ptr, $len) } {
            Ok(bytes) => bytes,
            Err(code) => return $crate::types::report(&mut $err, code),
        }
    }};
}

/// Like [`try_slice`] for text that must be UTF-8 (`AK_INVALID_UTF8` otherwise).
macro_rules! try_str {
    ($ptr:expr, $len:expr) => {
        match core::str::from_utf8(try_slice!($ptr, $len)) {
            Ok(text) => text,
            Err(_) => return $crate::result::ak_result::AK_INVALID_UTF8,
        }
    };
    ($ptr:expr, $len:expr, $err:expr) => {
        match core::str::from_utf8(try_slice!($ptr, $len, $err)) {
            Ok(text) => text,
            Err(_) => return $crate::types::report(&mut $err, $crate::result::ak_result::AK_INVALID_UTF8),
        }
    };
}

/// An optional input `(ptr, len)`: NULL means absent.
macro_rules! opt_slice {
    ($ptr:expr, $len:expr) => {{
        // SAFETY: every exported function documents an optional input as NULL, or valid for reads
        // of `len` bytes for the duration of the call.
        unsafe { $crate::io::optional_input($ptr, $len) }
    }};
}

/// An `ak_str` field of a struct input as `Option<&[u8]>` (NULL: absent).
macro_rules! str_field {
    ($field:expr) => {{
        // SAFETY: every exported function documents the `ak_str` fields of its struct inputs as
        // NULL (absent) or valid for reads of `len` bytes for the duration of the call.
        unsafe { $field.as_opt() }
    }};
}

/// A `const T *` input as `&T`, or returns `AK_NULL_PARAMETER` (also into `err` when given).
macro_rules! try_ref {
    ($ptr:expr) => {{
        // SAFETY: every exported function documents a pointer input as NULL or valid for reads
        // of its type for the duration of the call.
        match unsafe { $crate::io::in_ref($ptr) } {
            Ok(r) => r,
            Err(code) => return code,
        }
    }};
    ($ptr:expr, $err:expr) => {{
        // SAFETY: as in the one-argument form.
        match unsafe { $crate::io::in_ref($ptr) } {
            Ok(r) => r,
            Err(code) => return $crate::types::report(&mut $err, code),
        }
    }};
}

/// A `T *` output as `&mut T`, or returns `AK_NULL_PARAMETER` (also into `err` when given).
macro_rules! try_mut {
    ($ptr:expr) => {{
        // SAFETY: every exported function documents an output pointer as NULL or valid for a
        // write of its type, not aliased, for the duration of the call.
        match unsafe { $crate::io::out_param($ptr) } {
            Ok(r) => r,
            Err(code) => return code,
        }
    }};
    ($ptr:expr, $err:expr) => {{
        // SAFETY: as in the one-argument form.
        match unsafe { $crate::io::out_param($ptr) } {
            Ok(r) => r,
            Err(code) => return $crate::types::report(&mut $err, code),
        }
    }};
}

/// A fixed-size byte input (`const uint8_t key[32]`) as an array, or returns `AK_NULL_PARAMETER`.
macro_rules! try_array {
    ($ptr:expr, $n:literal) => {{
        let bytes: &[u8] = if $ptr.is_null() {
            return $crate::result::ak_result::AK_NULL_PARAMETER;
        } else {
            // SAFETY: every exported function documents a fixed-size input as valid for reads of
            // that many bytes for the duration of the call; it is not NULL here.
            unsafe { core::slice::from_raw_parts($ptr, $n) }
        };
        let mut array = [0u8; $n];
        array.copy_from_slice(bytes);
        array
    }};
}

/// A fixed-size byte output (`uint8_t out[32]`) as `&mut [u8; N]`, or returns
/// `AK_NULL_PARAMETER`.
macro_rules! try_array_out {
    ($ptr:expr, $n:literal) => {{
        // SAFETY: every exported function documents a fixed-size output as valid for writes of
        // that many bytes, not aliased, for the duration of the call.
        match unsafe { $ptr.cast::<[u8; $n]>().as_mut() } {
            Some(out) => out,
            None => return $crate::result::ak_result::AK_NULL_PARAMETER,
        }
    }};
}

/// A text output `(char *buf, size_t cap, size_t *written)` as a [`TextOut`], or returns
/// `AK_NULL_PARAMETER` when `written` is NULL.
macro_rules! try_text_out {
    ($buf:expr, $cap:expr, $written:expr) => {{
        let written = try_mut!($written);
        let buf = if $buf.is_null() {
            None
        } else {
            // SAFETY: every exported function documents `buf` as NULL with `cap` 0, or valid for
            // writes of `cap` bytes, not aliased, for the duration of the call.
            Some(unsafe { core::slice::from_raw_parts_mut($buf.cast::<u8>(), $cap) })
        };
        $crate::io::TextOut { buf, cap: $cap, written }
    }};
}

/// The body shared by every function that formats an `ak_record` input: validates the record
/// (refusals reported with their field through `err`), then writes what `encode` makes of it.
macro_rules! format_record {
    ($record:expr, $buf:expr, $cap:expr, $written:expr, $err:expr, $encode:expr) => {{
        let mut err = err_out!($err);
        let rec = try_ref!($record, err);
        let out = try_text_out!($buf, $cap, $written);
        $crate::keys::encode_record(rec, out, &mut err, $encode)
    }};
}

/// A checked text output: the caller's buffer (absent when NULL) and its `*written`.
pub(crate) struct TextOut<'a> {
    pub(crate) buf: Option<&'a mut [u8]>,
    pub(crate) cap: usize,
    pub(crate) written: &'a mut usize,
}

impl TextOut<'_> {
    /// Writes what `produce` makes, NUL-terminated, with the semantics of every text output:
    /// success (`*written` = the length), `AK_BUFFER_TOO_SMALL` (`*written` = the capacity needed,
    /// the buffer untouched), or the producer's error (nothing written). `produce` runs once on an
    /// empty slice to learn the size.
    pub(crate) fn write<F>(self, produce: F) -> ak_result
    where
        F: for<'b> Fn(&'b mut [u8]) -> Result<&'b [u8], Error>,
    {
        let needed = match produce(&mut []) {
            Ok(text) => text.len(),
            Err(e) if e.kind() == ErrorKind::BufferTooSmall => e.offset(),
            Err(e) => return ak_result::from(e.kind()),
        };
        if self.cap < needed + 1 {
            *self.written = needed + 1;
            return ak_result::AK_BUFFER_TOO_SMALL;
        }
        let Some(dst) = self.buf else { return ak_result::AK_NULL_PARAMETER };
        match produce(dst) {
            Ok(text) => {
                let n = text.len();
                dst[n] = 0;
                *self.written = n;
                ak_result::AK_OK
            }
            Err(e) => ak_result::from(e.kind()),
        }
    }
}
