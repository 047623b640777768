//! Agent keys: validation, generation, constant-time comparison.

use core::fmt;

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;

use crate::class;
use crate::error::{Error, ErrorKind, Field};

/// A validated agent key, borrowed from its input: 1–128 printable ASCII bytes without space or
/// `'` (upstream generates 64 lowercase hex characters, but keys are opaque).
///
/// Equality is constant-time in the content (the length is not secret); `Debug` redacts the value.
///
/// ```
/// use agentkeys::AgentKey;
/// let key = AgentKey::parse(b"TopSecret").unwrap();
/// assert_eq!(key, AgentKey::parse(b"TopSecret").unwrap());
/// assert_eq!(format!("{key:?}"), "AgentKey(<redacted, 9 bytes>)");
/// assert!(AgentKey::parse(b"has space").is_err());
/// ```
#[derive(Clone, Copy)]
pub struct AgentKey<'a>(&'a str);

impl<'a> AgentKey<'a> {
    /// A key already validated (kept by an owned record).
    #[cfg(feature = "alloc")]
    pub(crate) const fn from_valid(key: &'a str) -> Self {
        AgentKey(key)
    }

    /// The longest valid key.
    pub const MAX_LEN: usize = 128;

    /// Validates `bytes` as an agent key.
    ///
    /// # Errors
    /// `InvalidKey`, with the offset of the first offending byte.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        if bytes.is_empty() {
            return Err(Error::at(ErrorKind::InvalidKey, Field::Key, 0));
        }
        if bytes.len() > Self::MAX_LEN {
            return Err(Error::at(ErrorKind::InvalidKey, Field::Key, Self::MAX_LEN));
        }
        if let Some(pos) = class::first_outside(bytes, &class::KEY) {
            return Err(Error::at(ErrorKind::InvalidKey, Field::Key, pos));
        }
        core::str::from_utf8(bytes).map(AgentKey).map_err(|_| Error::at(ErrorKind::InvalidKey, Field::Key, 0))
    }

    /// Wraps text that already passed this type's rule (kept private to the crate).
    pub(crate) const fn from_validated(s: &'a str) -> Self {
        AgentKey(s)
    }

    /// Validates a `&str` as an agent key.
    ///
    /// # Errors
    /// As [`AgentKey::parse`].
    pub fn new(s: &'a str) -> Result<Self, Error> {
        Self::parse(s.as_bytes())
    }

    /// The key. Handle with care: it is the agent's secret.
    #[must_use]
    pub const fn as_str(&self) -> &'a str {
        self.0
    }
}

impl PartialEq for AgentKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for AgentKey<'_> {}

impl fmt::Debug for AgentKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgentKey(<redacted, {} bytes>)", self.0.len())
    }
}

/// Compares two secrets (passwords, keys, key hashes) in time that depends only on their lengths.
///
/// ```
/// assert!(agentkeys::ct_eq(b"pass123", b"pass123"));
/// assert!(!agentkeys::ct_eq(b"pass123", b"pass124"));
/// ```
#[must_use]
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A freshly generated key: 64 lowercase hex characters (32 random bytes), owned.
///
/// ```
/// use agentkeys::GeneratedKey;
/// use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
/// let key = GeneratedKey::from_rng(&mut ChaCha20Rng::from_seed([7; 32]));
/// assert_eq!(key.as_str().len(), 64);
/// ```
#[derive(Clone, Copy)]
pub struct GeneratedKey([u8; GeneratedKey::LEN]);

impl GeneratedKey {
    /// Length of a generated key in characters.
    pub const LEN: usize = 64;

    /// Generates a key from a cryptographically secure RNG the caller seeded (works without `std`).
    pub fn from_rng<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut raw = [0u8; 32];
        rng.fill_bytes(&mut raw);
        Self::from_random_bytes(&raw)
    }

    /// Generates a key from the operating system's entropy source.
    ///
    /// # Errors
    /// When the OS cannot provide randomness (practically never on Linux).
    #[cfg(feature = "std")]
    pub fn from_os() -> Result<Self, getrandom::Error> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw)?;
        Ok(Self::from_random_bytes(&raw))
    }

    fn from_random_bytes(raw: &[u8; 32]) -> Self {
        let mut hex = [0u8; Self::LEN];
        // 32 bytes always fill exactly 64 hex digits.
        let _ = hex::encode_to_slice(raw, &mut hex);
        GeneratedKey(hex)
    }

    /// The key text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The key as a validated [`AgentKey`] borrowing from `self`.
    #[must_use]
    pub fn as_key(&self) -> AgentKey<'_> {
        AgentKey(self.as_str())
    }
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GeneratedKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn generated_keys_are_lower_hex_and_differ() {
        let mut rng = ChaCha20Rng::from_seed([1; 32]);
        let a = GeneratedKey::from_rng(&mut rng);
        let b = GeneratedKey::from_rng(&mut rng);
        assert!(a.as_str().bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
        assert_ne!(a.as_str(), b.as_str());
        assert!(AgentKey::parse(a.as_str().as_bytes()).is_ok());
    }

    #[test]
    fn seeded_generation_is_deterministic() {
        let a = GeneratedKey::from_rng(&mut ChaCha20Rng::from_seed([9; 32]));
        let b = GeneratedKey::from_rng(&mut ChaCha20Rng::from_seed([9; 32]));
        assert_eq!(a.as_str(), b.as_str());
    }

    #[cfg(feature = "std")]
    #[test]
    fn os_keys_differ() {
        assert_ne!(GeneratedKey::from_os().unwrap().as_str(), GeneratedKey::from_os().unwrap().as_str());
    }

    #[test]
    fn key_rule() {
        assert_eq!(AgentKey::parse(b"ab'c").unwrap_err().offset(), 2);
        assert!(AgentKey::parse(b"").is_err());
        assert!(AgentKey::parse(&[b'k'; 128]).is_ok());
        assert!(AgentKey::parse(&[b'k'; 129]).is_err());
        assert!(AgentKey::parse(b"a\x7f").is_err());
    }
}
