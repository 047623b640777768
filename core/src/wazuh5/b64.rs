//! Canonical unpadded base64url (RFC 4648 §5), as every Wazuh 5.0 format uses it: no padding, no
//! white space, and no stray bits in the last character, so each byte string has one encoding.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::error::{Error, ErrorKind, Field};

/// The strict engine: unpadded, padding refused, trailing bits refused.
pub(crate) const URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Length of the unpadded encoding of `n` bytes.
#[must_use]
pub(crate) const fn encoded_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// Encodes into `out`, returning the text.
pub(crate) fn encode<'o>(bytes: &[u8], out: &'o mut [u8]) -> Result<&'o str, Error> {
    let n = encoded_len(bytes.len());
    let dst = out.get_mut(..n).ok_or(Error::buffer_too_small(n))?;
    URL.encode_slice(bytes, dst).map_err(|_| Error::buffer_too_small(n))?;
    core::str::from_utf8(dst).map_err(|_| Error::new(ErrorKind::InvalidBase64))
}

/// Decodes canonical unpadded base64url `text` into `out`; `kind`/`field` name the error.
pub(crate) fn decode<'o>(text: &[u8], out: &'o mut [u8], kind: ErrorKind, field: Field) -> Result<&'o [u8], Error> {
    // Wrong characters (padding included) or a non-canonical last character.
    let bad = |at: usize| Error::at(kind, field, at);
    if let Some(at) = text.iter().position(|&b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_')) {
        return Err(bad(at));
    }
    let n = text.len() / 4 * 3 + (text.len() % 4).saturating_sub(1);
    let dst = out.get_mut(..n).ok_or(bad(0))?;
    let written = URL.decode_slice(text, dst).map_err(|_| bad(text.len().saturating_sub(1)))?;
    Ok(&dst[..written])
}

/// Decodes exactly `N` bytes.
pub(crate) fn decode_array<const N: usize>(text: &[u8], kind: ErrorKind, field: Field) -> Result<[u8; N], Error> {
    if text.len() != encoded_len(N) {
        return Err(Error::at(kind, field, 0));
    }
    let mut out = [0u8; N];
    decode(text, &mut out, kind, field)?;
    Ok(out)
}
