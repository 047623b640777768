//! Reading C inputs and writing C outputs, with every pointer checked.

use core::ffi::c_char;

use agentkeys_core::{Error, ErrorKind};

use crate::result::ak_result;

/// A `(ptr, len)` input as a slice. `(NULL, 0)` is the empty slice; `(NULL, n > 0)` is an error.
///
/// # Safety
/// When non-NULL, `ptr` must be valid for reads of `len` bytes for `'a`.
pub(crate) unsafe fn in_bytes<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8], ak_result> {
    if ptr.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(ak_result::AK_NULL_PARAMETER) };
    }
    // SAFETY: non-NULL, and the caller guarantees `len` readable bytes for 'a.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// Like [`in_bytes`], for text that must be UTF-8.
///
/// # Safety
/// As [`in_bytes`].
pub(crate) unsafe fn input_str<'a>(ptr: *const u8, len: usize) -> Result<&'a str, ak_result> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { in_bytes(ptr, len)? };
    core::str::from_utf8(bytes).map_err(|_| ak_result::AK_INVALID_UTF8)
}

/// An optional `(ptr, len)` input: NULL means absent.
///
/// # Safety
/// As [`in_bytes`].
pub(crate) unsafe fn optional_input<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: non-NULL, and the caller guarantees `len` readable bytes for 'a.
        Some(unsafe { core::slice::from_raw_parts(ptr, len) })
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

/// Writes text produced by `produce` into the caller's `(buf, cap, written)`, NUL-terminated.
///
/// `produce` is a core `encode_into`-style function: it fills the slice it is given or fails with
/// `BufferTooSmall` and the size it needs. It runs once against an empty slice to learn the size,
/// so nothing is written into `buf` unless everything fits:
/// - success: `buf` holds the text and a NUL, `*written` = the text length (without the NUL);
/// - `AK_BUFFER_TOO_SMALL`: `buf` untouched, `*written` = the capacity needed (with the NUL);
/// - any other error: nothing written.
///
/// # Safety
/// `buf` must be valid for writes of `cap` bytes (or NULL with `cap == 0`); `written` must be NULL
/// or valid for a write.
pub(crate) unsafe fn write_text<F>(buf: *mut c_char, cap: usize, written: *mut usize, produce: F) -> ak_result
where
    F: for<'b> Fn(&'b mut [u8]) -> Result<&'b [u8], Error>,
{
    // SAFETY: forwarded contract.
    let written = match unsafe { out_param(written) } {
        Ok(w) => w,
        Err(e) => return e,
    };
    let needed = match produce(&mut []) {
        Ok(text) => text.len(),
        Err(e) if e.kind() == ErrorKind::BufferTooSmall => e.offset(),
        Err(e) => return ak_result::from(e.kind()),
    };
    if cap < needed + 1 {
        *written = needed + 1;
        return ak_result::AK_BUFFER_TOO_SMALL;
    }
    if buf.is_null() {
        return ak_result::AK_NULL_PARAMETER;
    }
    // SAFETY: `buf` is non-NULL and the caller guarantees `cap` writable bytes.
    let dst = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), cap) };
    match produce(dst) {
        Ok(text) => {
            let n = text.len();
            dst[n] = 0;
            *written = n;
            ak_result::AK_OK
        }
        Err(e) => ak_result::from(e.kind()),
    }
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

/// An `encode_into`-style writer for text formatted in this crate (counts on overflow).
pub(crate) struct BufWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> BufWriter<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        BufWriter { buf, len: 0 }
    }

    pub(crate) fn finish(self) -> Result<&'b [u8], Error> {
        let needed = self.len;
        if needed > self.buf.len() {
            return Err(too_small(needed));
        }
        Ok(&self.buf[..needed])
    }
}

impl core::fmt::Write for BufWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(s.as_bytes());
        }
        self.len = end;
        Ok(())
    }
}
