//! Key derivation for the enroll JWT: HKDF-SHA256 (RFC 5869) with a zero salt and one label per
//! credential kind, exactly as Wazuh 5.0 derives its HMAC keys.

use hkdf::Hkdf;
use sha2::Sha256;

/// Which credential a JWT key is derived from; each has its own HKDF label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyLabel {
    /// The enrollment password (`authd.pass`): label `WAZUH-ENROLL-JWT-KEY`.
    Password,
    /// The 16-byte secret of an enrollment token: label `WAZUH-ENROLL-TOKEN-KEY`.
    Token,
    /// The 32-byte re-enrollment secret of an agent: label `WAZUH-REENROLL-KEY`.
    Reenroll,
}

impl KeyLabel {
    /// The label text.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            KeyLabel::Password => "WAZUH-ENROLL-JWT-KEY",
            KeyLabel::Token => "WAZUH-ENROLL-TOKEN-KEY",
            KeyLabel::Reenroll => "WAZUH-REENROLL-KEY",
        }
    }
}

/// Derives the 32-byte HMAC key of an enroll JWT from `secret` (the password's bytes, a token
/// secret or a re-enrollment secret): HKDF-SHA256 with a salt of 32 zero bytes and, as info, the
/// label followed by one `0x01` byte (Wazuh's choice, pinned by its test vectors).
///
/// ```
/// use agentkeys::wazuh5::{derive_key, KeyLabel};
/// let key = derive_key(KeyLabel::Password, b"MyEnrollmentSecret123");
/// assert_eq!(key[..4], [0xee, 0xec, 0xc6, 0x51]);
/// ```
#[must_use]
pub fn derive_key(label: KeyLabel, secret: &[u8]) -> [u8; 32] {
    let mut info = [0u8; 32];
    let text = label.label().as_bytes();
    info[..text.len()].copy_from_slice(text);
    info[text.len()] = 0x01;
    let mut key = [0u8; 32];
    let hkdf = Hkdf::<Sha256>::new(Some(&[0u8; 32]), secret);
    // 32 bytes is far below HKDF-SHA256's limit of 255 × 32, so expand cannot fail.
    let _ = hkdf.expand(&info[..=text.len()], &mut key);
    key
}
