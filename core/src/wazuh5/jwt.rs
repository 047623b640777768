//! The enroll JWT: the short-lived bearer a Wazuh 5.0 agent sends to `POST /enroll`.
//!
//! A compact JWS (HS256) in one exact shape, with nothing optional but the `kid`:
//!
//! ```text
//! b64url({"alg":"HS256","kid":"<kid>","typ":"wazuh-enroll+jwt"})
//!   . b64url({"exp":<iat+60>,"iat":<iat>,"jti":"<22 b64url>","nbf":<iat>})
//!   . b64url(HMAC-SHA256(key, first two parts))
//! ```
//!
//! Verification is strict: canonical unpadded base64url, members in that order, no white space,
//! no extra or repeated member, ASCII, at most [`MAX_BEARER_LEN`] bytes. Any deviation is
//! [`ErrorKind::InvalidBearer`] (`invalid_request`); a MAC that does not verify is
//! [`ErrorKind::BadSignature`] (`invalid_signature`, compared in constant time); a bearer outside
//! its time window is [`ErrorKind::StaleBearer`] (`stale_token`).

use core::fmt::{self, Write as _};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::b64;
use crate::error::{Error, ErrorKind, Field};
use crate::id::AgentId;
use crate::out::SliceWriter;

/// Longest bearer accepted.
pub const MAX_BEARER_LEN: usize = 4096;
/// The `typ` of an enroll JWT.
pub const BEARER_TYPE: &str = "wazuh-enroll+jwt";
/// Seconds from `iat` to `exp` in a bearer this crate signs.
pub const BEARER_LIFETIME: i64 = 60;
/// Default oldest `iat` accepted, in seconds before now (before the skew).
pub const DEFAULT_MAX_AGE: u64 = 60;
/// Default clock skew tolerated, in seconds.
pub const DEFAULT_SKEW: u64 = 30;

/// Length of a token ID in text (16 bytes in base64url).
pub const TOKEN_ID_TEXT_LEN: usize = 22;

const HEADER_START: &[u8] = br#"{"alg":"HS256","#;
const HEADER_KID: &[u8] = br#""kid":""#;
const HEADER_END: &[u8] = br#""typ":"wazuh-enroll+jwt"}"#;

/// The 16-byte ID of an enrollment token; its 22-character base64url text is a bearer's `kid`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenId(pub [u8; 16]);

impl TokenId {
    /// Parses the 22-character base64url text.
    ///
    /// # Errors
    /// `InvalidToken` (field `key`) if it is not exactly 16 bytes in canonical base64url.
    pub fn parse(text: &[u8]) -> Result<TokenId, Error> {
        b64::decode_array(text, ErrorKind::InvalidTokenKey, Field::Kid).map(TokenId)
    }

    /// The 22-character base64url text.
    #[must_use]
    pub fn to_text(&self) -> heapless::String<TOKEN_ID_TEXT_LEN> {
        let mut buf = [0u8; TOKEN_ID_TEXT_LEN];
        let mut text = heapless::String::new();
        if let Ok(s) = b64::encode(&self.0, &mut buf) {
            let _ = text.push_str(s);
        }
        text
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({self})")
    }
}

/// What a bearer's `kid` says about the key that signed it (read before any key is known).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BearerKind {
    /// No `kid`: signed with the key derived from the enrollment password.
    Password,
    /// A 22-character `kid`: signed with the key of this enrollment token.
    Token(TokenId),
    /// An agent ID as `kid`: a re-enrollment, signed with that agent's re-enrollment key.
    Reenroll(AgentId),
}

/// The claims of a verified bearer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claims {
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issue time.
    pub iat: i64,
    /// The 16 random bytes of `jti`.
    pub jti: [u8; 16],
    /// Not before.
    pub nbf: i64,
}

/// A bearer that verified: who signed it and its claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedBearer {
    /// The key it was signed with.
    pub kind: BearerKind,
    /// Its claims.
    pub claims: Claims,
}

/// The clock and tolerances a bearer is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// Now, in seconds since the epoch.
    pub now: i64,
    /// Oldest `iat` accepted, in seconds before `now` (default 60).
    pub max_age: u64,
    /// Clock skew tolerated on every bound (default 30).
    pub skew: u64,
}

impl VerifyPolicy {
    /// Wazuh's defaults (max age 60 s, skew 30 s) at `now`.
    #[must_use]
    pub const fn at(now: i64) -> VerifyPolicy {
        VerifyPolicy { now, max_age: DEFAULT_MAX_AGE, skew: DEFAULT_SKEW }
    }
}

fn bad(field: Field, at: usize) -> Error {
    Error::at(ErrorKind::InvalidBearer, field, at)
}

/// Length of the bearer [`sign_bearer`] writes for a `kid` of `kid_len` bytes (0: none) and this
/// `iat`.
#[must_use]
pub fn bearer_len(kid_len: Option<usize>, iat: i64) -> usize {
    let header = HEADER_START.len() + HEADER_END.len() + kid_len.map_or(0, |n| HEADER_KID.len() + n + 2);
    let claims = r#"{"exp":,"iat":,"jti":"","nbf":}"#.len()
        + digits(iat.saturating_add(BEARER_LIFETIME))
        + 2 * digits(iat)
        + TOKEN_ID_TEXT_LEN;
    b64::encoded_len(header) + 1 + b64::encoded_len(claims) + 1 + b64::encoded_len(32)
}

fn digits(n: i64) -> usize {
    let mut buf = heapless::String::<24>::new();
    let _ = write!(buf, "{n}");
    buf.len()
}

/// Whether `kid` may stand in a bearer: a token ID (22 base64url characters) or an agent ID.
fn kind_of_kid(kid: &[u8]) -> Option<BearerKind> {
    if kid.len() == TOKEN_ID_TEXT_LEN && kid.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')) {
        return TokenId::parse(kid).ok().map(BearerKind::Token);
    }
    AgentId::parse(kid).ok().map(BearerKind::Reenroll)
}

/// Signs a bearer with `key`, writing it into `out`: `kid` as given (a token ID or an agent ID;
/// `None` for password mode), `exp` = `iat` + 60, `nbf` = `iat`, and `jti` from 16 bytes the
/// caller draws at random.
///
/// # Errors
/// `InvalidBearer` (field `kid`) for a `kid` that is neither a token ID nor an agent ID;
/// `BufferTooSmall` with the needed size ([`bearer_len`]); `iat` must not be negative.
pub fn sign_bearer<'o>(
    key: &[u8; 32],
    kid: Option<&str>,
    iat: i64,
    jti: &[u8; 16],
    out: &'o mut [u8],
) -> Result<&'o str, Error> {
    if let Some(kid) = kid
        && kind_of_kid(kid.as_bytes()).is_none()
    {
        return Err(bad(Field::Kid, 0));
    }
    if iat < 0 {
        return Err(bad(Field::Claims, 0));
    }
    let needed = bearer_len(kid.map(str::len), iat);
    if out.len() < needed {
        return Err(Error::buffer_too_small(needed));
    }
    // Header and claims in JSON first (at most a few hundred bytes), then base64url into `out`.
    let mut json = [0u8; 256];
    let mut header = SliceWriter::new(&mut json);
    header.push(HEADER_START);
    if let Some(kid) = kid {
        header.push(HEADER_KID);
        header.push(kid.as_bytes());
        header.push(b"\",");
    }
    header.push(HEADER_END);
    let header = header.finish()?;
    let mut pos = b64::encode(header, out)?.len();
    out[pos] = b'.';
    pos += 1;

    let mut jti_text = [0u8; TOKEN_ID_TEXT_LEN];
    let jti_text = b64::encode(jti, &mut jti_text)?;
    let mut json = [0u8; 256];
    let mut claims = SliceWriter::new(&mut json);
    let _ = write!(
        claims,
        r#"{{"exp":{},"iat":{iat},"jti":"{jti_text}","nbf":{iat}}}"#,
        iat.saturating_add(BEARER_LIFETIME)
    );
    let claims = claims.finish()?;
    pos += b64::encode(claims, &mut out[pos..])?.len();

    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).map_err(|_| bad(Field::Signature, 0))?;
    mac.update(&out[..pos]);
    let tag = mac.finalize().into_bytes();
    out[pos] = b'.';
    pos += 1;
    pos += b64::encode(&tag, &mut out[pos..])?.len();
    core::str::from_utf8(&out[..pos]).map_err(|_| bad(Field::Signature, 0))
}

/// The three parts of a bearer, checked for size, ASCII and shape.
struct Parts<'a> {
    header: &'a [u8],
    claims: &'a [u8],
    signature: &'a [u8],
    /// Byte offsets of the claims and the signature in the bearer.
    claims_at: usize,
    signature_at: usize,
}

fn split(bearer: &[u8]) -> Result<Parts<'_>, Error> {
    if bearer.len() > MAX_BEARER_LEN {
        return Err(Error::new(ErrorKind::InvalidBearer).shifted(MAX_BEARER_LEN));
    }
    if let Some(at) = bearer.iter().position(|b| !b.is_ascii_graphic()) {
        return Err(Error::new(ErrorKind::InvalidBearer).shifted(at));
    }
    let mut dots = bearer.iter().enumerate().filter(|&(_, &b)| b == b'.').map(|(i, _)| i);
    let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else {
        return Err(Error::new(ErrorKind::InvalidBearer));
    };
    Ok(Parts {
        header: &bearer[..first],
        claims: &bearer[first + 1..second],
        signature: &bearer[second + 1..],
        claims_at: first + 1,
        signature_at: second + 1,
    })
}

/// Reads the header strictly and says whose key signed the bearer.
fn read_header(text: &[u8]) -> Result<BearerKind, Error> {
    let mut buf = [0u8; MAX_BEARER_LEN * 3 / 4];
    let json = b64::decode(text, &mut buf, ErrorKind::InvalidBearer, Field::Header)?;
    let rest = json.strip_prefix(HEADER_START).ok_or(bad(Field::Header, 0))?;
    let (kind, rest) = match rest.strip_prefix(HEADER_KID) {
        Some(after) => {
            let end = after.iter().position(|&b| b == b'"').ok_or(bad(Field::Kid, 0))?;
            let kind = kind_of_kid(&after[..end]).ok_or(bad(Field::Kid, 0))?;
            let rest = after[end..].strip_prefix(b"\",").ok_or(bad(Field::Header, 0))?;
            (kind, rest)
        }
        None => (BearerKind::Password, rest),
    };
    if rest != HEADER_END {
        return Err(bad(Field::Header, 0));
    }
    Ok(kind)
}

/// Reads a canonical non-negative decimal integer (no sign, no leading zero) ending at `end`.
fn number<'a>(json: &'a [u8], name: &[u8], end: u8) -> Result<(i64, &'a [u8]), Error> {
    let rest = json.strip_prefix(name).ok_or(bad(Field::Claims, 0))?;
    let len = rest.iter().position(|&b| b == end).ok_or(bad(Field::Claims, 0))?;
    let text = &rest[..len];
    if text.is_empty() || text.len() > 18 || !text.iter().all(u8::is_ascii_digit) || (text.len() > 1 && text[0] == b'0')
    {
        return Err(bad(Field::Claims, 0));
    }
    let value = text.iter().fold(0i64, |acc, &d| acc * 10 + i64::from(d - b'0'));
    Ok((value, &rest[len + 1..]))
}

fn read_claims(text: &[u8]) -> Result<Claims, Error> {
    let mut buf = [0u8; MAX_BEARER_LEN * 3 / 4];
    let json = b64::decode(text, &mut buf, ErrorKind::InvalidBearer, Field::Claims)?;
    let (exp, rest) = number(json, br#"{"exp":"#, b',')?;
    let (iat, rest) = number(rest, br#""iat":"#, b',')?;
    let rest = rest.strip_prefix(br#""jti":""#).ok_or(bad(Field::Claims, 0))?;
    let jti_text = rest.get(..TOKEN_ID_TEXT_LEN).ok_or(bad(Field::Claims, 0))?;
    let jti = b64::decode_array(jti_text, ErrorKind::InvalidBearer, Field::Claims)?;
    let rest = rest[TOKEN_ID_TEXT_LEN..].strip_prefix(b"\",").ok_or(bad(Field::Claims, 0))?;
    let (nbf, rest) = number(rest, br#""nbf":"#, b'}')?;
    if !rest.is_empty() {
        return Err(bad(Field::Claims, 0));
    }
    Ok(Claims { exp, iat, jti, nbf })
}

/// Says whose key signed `bearer` without verifying it, checking only its form and its header
/// (the server classifies a bearer before it has a key).
///
/// # Errors
/// `InvalidBearer` (`invalid_request`) with the part (`header`, `kid`) and byte offset.
pub fn peek_bearer(bearer: &[u8]) -> Result<BearerKind, Error> {
    let parts = split(bearer)?;
    read_header(parts.header)
}

/// Verifies `bearer`: its form, the MAC with the key `key_for` gives for its [`BearerKind`], and
/// its time window under `policy` (`iat` ≤ now + skew, `nbf` ≤ now + skew, now ≤ `exp` + skew,
/// now − `iat` ≤ max age + skew).
///
/// `key_for` may refuse with its own error (an unknown token ID is `BadSignature`; an unknown agent
/// `UnknownAgent`; a revoked token `TokenRevoked`, …); that error is returned as it is.
///
/// # Errors
/// `InvalidBearer`, `BadSignature` or `StaleBearer` (see [`ErrorKind::bearer_class`]), or the error
/// of `key_for`.
pub fn verify_bearer<F>(bearer: &[u8], key_for: F, policy: &VerifyPolicy) -> Result<VerifiedBearer, Error>
where
    F: FnOnce(&BearerKind) -> Result<[u8; 32], Error>,
{
    let parts = split(bearer)?;
    let kind = read_header(parts.header)?;
    let claims = read_claims(parts.claims).map_err(|e| e.shifted(parts.claims_at))?;
    let tag: [u8; 32] = b64::decode_array(parts.signature, ErrorKind::InvalidBearer, Field::Signature)
        .map_err(|e| e.shifted(parts.signature_at))?;
    let key = key_for(&kind)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).map_err(|_| bad(Field::Signature, 0))?;
    mac.update(&bearer[..parts.signature_at - 1]);
    mac.verify_slice(&tag).map_err(|_| Error::at(ErrorKind::BadSignature, Field::Signature, parts.signature_at))?;
    let skew = i64::try_from(policy.skew).unwrap_or(i64::MAX);
    let max_age = i64::try_from(policy.max_age).unwrap_or(i64::MAX);
    let now = policy.now;
    let fresh = claims.iat <= now.saturating_add(skew)
        && claims.nbf <= now.saturating_add(skew)
        && now <= claims.exp.saturating_add(skew)
        && now.saturating_sub(claims.iat) <= max_age.saturating_add(skew);
    if !fresh {
        return Err(Error::at(ErrorKind::StaleBearer, Field::Claims, parts.claims_at));
    }
    Ok(VerifiedBearer { kind, claims })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn signed(kid: Option<&str>) -> heapless::String<512> {
        let mut out = [0u8; 512];
        let text = sign_bearer(&KEY, kid, 1_700_000_000, &[1; 16], &mut out).unwrap();
        assert_eq!(text.len(), bearer_len(kid.map(str::len), 1_700_000_000));
        heapless::String::try_from(text).unwrap()
    }

    #[test]
    fn round_trip_for_every_kind() {
        for (kid, kind) in [
            (None, BearerKind::Password),
            (Some("001"), BearerKind::Reenroll(AgentId::parse(b"001").unwrap())),
            (Some("AAECAwQFBgcICQoLDA0ODw"), BearerKind::Token(TokenId(core::array::from_fn(|i| i as u8)))),
        ] {
            let bearer = signed(kid);
            assert_eq!(peek_bearer(bearer.as_bytes()).unwrap(), kind);
            let ok = verify_bearer(bearer.as_bytes(), |_| Ok(KEY), &VerifyPolicy::at(1_700_000_010)).unwrap();
            assert_eq!((ok.kind, ok.claims.iat, ok.claims.exp), (kind, 1_700_000_000, 1_700_000_060));
        }
    }

    #[test]
    fn refusals_name_their_class() {
        let bearer = signed(None);
        let stale = verify_bearer(bearer.as_bytes(), |_| Ok(KEY), &VerifyPolicy::at(1_700_000_091)).unwrap_err();
        assert_eq!(stale.kind().bearer_class(), Some("stale_token"));
        let wrong = verify_bearer(bearer.as_bytes(), |_| Ok([8; 32]), &VerifyPolicy::at(1_700_000_000)).unwrap_err();
        assert_eq!(wrong.kind().bearer_class(), Some("invalid_signature"));
        let unknown = verify_bearer(
            bearer.as_bytes(),
            |_| Err(Error::new(ErrorKind::UnknownAgent)),
            &VerifyPolicy::at(1_700_000_000),
        )
        .unwrap_err();
        assert_eq!(unknown.kind(), ErrorKind::UnknownAgent);
        assert!(sign_bearer(&KEY, Some("not a kid"), 0, &[0; 16], &mut [0u8; 512]).is_err());
        let mut small = [0u8; 10];
        let e = sign_bearer(&KEY, None, 0, &[0; 16], &mut small).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (ErrorKind::BufferTooSmall, bearer_len(None, 0)));
    }
}
