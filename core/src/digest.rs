//! Values derived from a record with hashes: the `K:` key hash (SPEC 2.3) and the message
//! encryption key (SPEC 9.1).

use core::fmt;

use md5::Md5;
use sha1::{Digest, Sha1};

use crate::key::ct_eq;

/// `K:` of a registration request: lowercase hex SHA-1 of `id ‖ name ‖ key` (no separators).
///
/// Equality is constant-time. Used by the manager's `key_mismatch` force rule.
///
/// ```
/// let h = agentkeys::key_hash("001", "Agent1", "1234");
/// assert_eq!(h.as_str(), "15153d246b71789195b48778875af94f9378ecf9");
/// ```
#[must_use]
pub fn key_hash(id: impl AsRef<[u8]>, name: impl AsRef<[u8]>, key: impl AsRef<[u8]>) -> KeyHash {
    let digest = Sha1::new().chain_update(id).chain_update(name).chain_update(key).finalize();
    let mut hex = [0u8; 40];
    let _ = hex::encode_to_slice(digest, &mut hex);
    KeyHash(hex)
}

/// A key hash: 40 lowercase hex characters.
#[derive(Clone, Copy, Eq)]
pub struct KeyHash([u8; 40]);

impl KeyHash {
    /// The hash as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or("")
    }

    /// Whether an agent's `K:` value names this hash (constant-time; upstream compares exactly,
    /// so upper-case hex does not match).
    #[must_use]
    pub fn matches(&self, sent: &[u8]) -> bool {
        ct_eq(&self.0, sent)
    }
}

impl PartialEq for KeyHash {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

impl AsRef<str> for KeyHash {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({})", self.as_str())
    }
}

fn md5_hex(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    let mut hex = [0u8; 32];
    let _ = hex::encode_to_slice(h.finalize(), &mut hex);
    hex
}

/// The key an agent's messages are encrypted with (SPEC 9.1):
/// `md5hex(key) ‖ first 15 of md5hex(md5hex(name) ‖ md5hex(id))`, 47 ASCII characters.
/// Blowfish uses all 47 bytes; AES-256 uses [`EncryptionKey::aes_key`], the first 32.
///
/// ```
/// let k = agentkeys::encryption_key("001", "test_name", "TopSecret");
/// assert_eq!(k.as_str(), "6958b43cb096e036f872d65d6a4dc01b79cbc62105a9ef0");
/// assert_eq!(k.aes_key(), b"6958b43cb096e036f872d65d6a4dc01b");
/// ```
#[must_use]
pub fn encryption_key(id: impl AsRef<[u8]>, name: impl AsRef<[u8]>, key: impl AsRef<[u8]>) -> EncryptionKey {
    let a = md5_hex(&[name.as_ref()]);
    let b = md5_hex(&[id.as_ref()]);
    let c = md5_hex(&[&a, &b]);
    let d = md5_hex(&[key.as_ref()]);
    let mut out = [0u8; EncryptionKey::LEN];
    out[..32].copy_from_slice(&d);
    out[32..].copy_from_slice(&c[..15]);
    EncryptionKey(out)
}

/// A message-encryption key: 47 lowercase hex characters. `Debug` redacts it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EncryptionKey([u8; EncryptionKey::LEN]);

impl AsRef<str> for EncryptionKey {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl EncryptionKey {
    /// Length in bytes.
    pub const LEN: usize = 47;

    /// The whole key (the Blowfish key).
    #[must_use]
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The first 32 bytes: the AES-256 key.
    #[must_use]
    pub fn aes_key(&self) -> &[u8; 32] {
        self.0.first_chunk::<32>().unwrap_or(&[0; 32])
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey(<redacted>)")
    }
}
