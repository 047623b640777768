//! Wazuh 5.0 enrollment formats: the HKDF keys, the enroll JWT, enrollment tokens, the `/enroll`
//! bodies and the CA pin.
//!
//! Since Wazuh 5.0, agents enroll over HTTPS (`POST https://<manager>:1517/wazuh-manager/enroll`)
//! with a short-lived bearer signed with a key derived from a password, an enrollment token or
//! the agent's re-enrollment secret. Everything here is `no_std` and allocation-free; the crypto is
//! RustCrypto's (`hkdf`, `hmac`, `sha2`).
//!
//! ```
//! use agentkeys::wazuh5::{EnrollmentToken, KeyLabel, VerifyPolicy, derive_key, sign_bearer, verify_bearer};
//!
//! // An agent holding a token signs a bearer with the token's key…
//! let token = "eyJ2ZXIiOjEsImFkciI6IjEwLjAuMC41Ojg0NDMvY3VzdG9tIiwicGluIjoiWUpIY05tWHRYb004alpSZmstdV9GTE53SU16dWR6Tk9SSmVzTHZOWkNxSSIsImtleSI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHhBUkVoTVVGUllYR0JrYUd4d2RIaDgifQ";
//! let mut buf = [0u8; 512];
//! let token = EnrollmentToken::decode(token.as_bytes(), &mut buf).unwrap();
//! let credential = token.credential.unwrap();
//! let key = derive_key(KeyLabel::Token, &credential.secret);
//! let mut out = [0u8; 512];
//! let bearer = sign_bearer(&key, Some(&credential.id.to_text()), 1_700_000_000, &[9; 16], &mut out).unwrap();
//!
//! // …and the manager verifies it with the key of the token named by its `kid`.
//! let ok = verify_bearer(bearer.as_bytes(), |_kind| Ok(key), &VerifyPolicy::at(1_700_000_005)).unwrap();
//! assert_eq!(ok.claims.iat, 1_700_000_000);
//! ```

mod b64;
mod body;
mod jwt;
mod kdf;
mod token;

use sha2::{Digest, Sha256};

pub use body::{
    EnrollError, EnrollErrorCode, EnrollIp, EnrollReply, EnrollRequest, MAX_ENROLL_BODY, encode_enroll_error,
    enroll_error_len, enroll_error_message,
};
pub use jwt::{
    BEARER_LIFETIME, BEARER_TYPE, BearerKind, Claims, DEFAULT_MAX_AGE, DEFAULT_SKEW, MAX_BEARER_LEN, TOKEN_ID_TEXT_LEN,
    TokenId, VerifiedBearer, VerifyPolicy, bearer_len, peek_bearer, sign_bearer, verify_bearer,
};
pub use kdf::{KeyLabel, derive_key};
pub use token::{
    DEFAULT_ENROLL_PORT, DEFAULT_ENROLL_PREFIX, EnrollmentToken, MAX_ADDRESS_LEN, MAX_TOKEN_CA_LEN, MAX_TOKEN_LEN,
    TokenAddress, TokenCredential, TokenHost, TrustAnchor,
};

/// The pin of a CA: SHA-256 of its certificate's DER SubjectPublicKeyInfo.
#[must_use]
pub fn spki_pin(spki_der: &[u8]) -> [u8; 32] {
    Sha256::digest(spki_der).into()
}

/// A pin as an enrollment token writes it: 43 characters of unpadded base64url.
#[must_use]
pub fn pin_text(pin: &[u8; 32]) -> heapless::String<43> {
    let mut buf = [0u8; 43];
    let mut text = heapless::String::new();
    if let Ok(s) = b64::encode(pin, &mut buf) {
        let _ = text.push_str(s);
    }
    text
}

/// A pin in hexadecimal (64 lowercase characters), as `--show-token` prints it.
#[must_use]
pub fn pin_hex(pin: &[u8; 32]) -> heapless::String<64> {
    let mut text = heapless::String::new();
    for b in pin {
        let _ = core::fmt::Write::write_fmt(&mut text, format_args!("{b:02x}"));
    }
    text
}

/// Parses a pin from its 43-character base64url text.
///
/// # Errors
/// `InvalidPin`.
pub fn parse_pin(text: &[u8]) -> Result<[u8; 32], crate::Error> {
    b64::decode_array(text, crate::ErrorKind::InvalidPin, crate::Field::Pin)
}
