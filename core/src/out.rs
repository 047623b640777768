//! Writing into a caller's buffer: the primitive under every `encode_into`.

use core::fmt;

use crate::error::{Error, ErrorKind};

/// A cursor over a caller's `&mut [u8]` that refuses to overflow: the writer behind every
/// `encode_into`, public for bindings that format text of their own into caller buffers.
///
/// On overflow it keeps counting, so [`SliceWriter::finish`] can report how many bytes were needed.
///
/// ```
/// use core::fmt::Write;
/// let mut buf = [0u8; 4];
/// let mut w = agentkeys::SliceWriter::new(&mut buf);
/// write!(w, "{}", 12345).unwrap();
/// assert_eq!(w.finish().unwrap_err().offset(), 5); // BufferTooSmall: 5 bytes needed
/// ```
#[derive(Debug)]
pub struct SliceWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> SliceWriter<'b> {
    /// A writer at the start of `buf`.
    #[must_use]
    pub fn new(buf: &'b mut [u8]) -> Self {
        SliceWriter { buf, len: 0 }
    }

    /// Appends `bytes` (counted, not written, once the buffer is full).
    pub fn push(&mut self, bytes: &[u8]) {
        let end = self.len.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
        }
        self.len = end;
    }

    /// The written bytes, or `BufferTooSmall` with the needed length in [`Error::offset`].
    ///
    /// # Errors
    /// `BufferTooSmall`.
    pub fn finish(self) -> Result<&'b [u8], Error> {
        let needed = self.len;
        match self.buf.get(..needed) {
            Some(_) => Ok(&self.buf[..needed]),
            None => Err(buffer_too_small(needed)),
        }
    }

    /// Like [`SliceWriter::finish`] for text made only of ASCII/UTF-8 pieces.
    ///
    /// # Errors
    /// `BufferTooSmall`.
    pub fn finish_str(self) -> Result<&'b str, Error> {
        let bytes = self.finish()?;
        core::str::from_utf8(bytes).map_err(|_| Error::new(ErrorKind::InvalidRecord))
    }
}

impl fmt::Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

/// A writer that only counts the bytes written: the exact length of what a formatter writes.
pub(crate) struct LenCounter(pub(crate) usize);

impl fmt::Write for LenCounter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

/// The number of bytes `write` writes.
pub(crate) fn written_len(write: impl FnOnce(&mut LenCounter) -> fmt::Result) -> usize {
    let mut counter = LenCounter(0);
    let _ = write(&mut counter);
    counter.0
}

/// `BufferTooSmall`, with the size that would have been enough reported as the offset.
pub(crate) const fn buffer_too_small(needed: usize) -> Error {
    Error::buffer_too_small(needed)
}

/// The exact length an `encode_into`-style function writes: it is run once on an empty buffer,
/// which every encoder answers with `BufferTooSmall` and the size it needs. Other errors are
/// returned as they are.
pub(crate) fn measure<F>(encode: F) -> Result<usize, Error>
where
    F: for<'b> FnOnce(&'b mut [u8]) -> Result<&'b [u8], Error>,
{
    match encode(&mut []) {
        Ok(written) => Ok(written.len()),
        Err(e) if e.kind() == ErrorKind::BufferTooSmall => Ok(e.offset()),
        Err(e) => Err(e),
    }
}

/// Runs an encoder into a buffer of exactly the size it needs.
#[cfg(feature = "alloc")]
pub(crate) fn to_vec<F>(encode: F) -> Result<alloc::vec::Vec<u8>, Error>
where
    F: for<'b> Fn(&'b mut [u8]) -> Result<&'b [u8], Error>,
{
    let mut buf = alloc::vec![0u8; measure(&encode)?];
    let n = encode(&mut buf)?.len();
    buf.truncate(n);
    Ok(buf)
}

/// Like [`to_vec`], for encoders that write text.
#[cfg(feature = "alloc")]
pub(crate) fn to_string<F>(encode: F) -> Result<alloc::string::String, Error>
where
    F: for<'b> Fn(&'b mut [u8]) -> Result<&'b [u8], Error>,
{
    let bytes = to_vec(encode)?;
    alloc::string::String::from_utf8(bytes).map_err(|_| Error::new(ErrorKind::InvalidRecord))
}
