//! Wazuh 5.0 enrollment formats: key derivation, the enroll JWT, enrollment tokens, `/enroll`
//! bodies and the CA pin. Same conventions as the rest of the ABI: caller buffers, outputs written
//! only on success, details in an optional `ak_error *`, nothing to free.

use core::ffi::c_char;

use agentkeys_core::wazuh5::{
    BearerKind, EnrollErrorCode, EnrollIp, EnrollReply, EnrollRequest, EnrollmentToken, KeyLabel, TokenAddress,
    TokenCredential, TokenHost, TokenId, TrustAnchor, VerifiedBearer, VerifyPolicy, derive_key, encode_enroll_error,
    enroll_error_message, peek_bearer, pin_text, sign_bearer, spki_pin, verify_bearer,
};
use agentkeys_core::{Error, ErrorKind, Field, Groups};

use crate::io::copy_into;
use crate::panic::ffi_panic_boundary;
use crate::result::ak_result;
use crate::types::{AK_ADDR_BUF, AK_NAME_BUF, ak_error, ak_field, ak_record, ak_str};
#[allow(unused_imports, reason = "each module uses some of the reporters")]
use crate::types::{report, report_details, report_error};

/// Which credential a JWT key is derived from.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ak_key_label {
    /// The enrollment password (`WAZUH-ENROLL-JWT-KEY`).
    AK_LABEL_PASSWORD = 0,
    /// An enrollment token's 16-byte secret (`WAZUH-ENROLL-TOKEN-KEY`).
    AK_LABEL_TOKEN = 1,
    /// An agent's 32-byte re-enrollment secret (`WAZUH-REENROLL-KEY`).
    AK_LABEL_REENROLL = 2,
}

/// Whose key signed a bearer, from its `kid`.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ak_bearer_kind {
    /// No `kid`: the password's key.
    AK_BEARER_PASSWORD = 0,
    /// A token ID: that enrollment token's key.
    AK_BEARER_TOKEN = 1,
    /// An agent ID: that agent's re-enrollment key.
    AK_BEARER_REENROLL = 2,
}

/// Longest `kid` text plus NUL.
pub const AK_KID_BUF: usize = 23;

/// What a bearer says. After `ak_bearer_peek` only `kind`, `kid` and `token_id` are set; after
/// `ak_bearer_verify`, the claims too.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ak_bearer_info {
    /// Whose key signed it.
    pub kind: ak_bearer_kind,
    /// The `kid` (token ID text or agent ID), NUL-terminated; empty for the password.
    pub kid: [c_char; AK_KID_BUF],
    /// The 16-byte token ID (for `AK_BEARER_TOKEN`; zeros otherwise).
    pub token_id: [u8; 16],
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expiry.
    pub exp: i64,
    /// Not before.
    pub nbf: i64,
    /// The 16 bytes of `jti`.
    pub jti: [u8; 16],
}

impl ak_bearer_info {
    fn new(kind: BearerKind) -> ak_bearer_info {
        let mut info = ak_bearer_info {
            kind: ak_bearer_kind::AK_BEARER_PASSWORD,
            kid: [0; AK_KID_BUF],
            token_id: [0; 16],
            iat: 0,
            exp: 0,
            nbf: 0,
            jti: [0; 16],
        };
        match kind {
            BearerKind::Password => {}
            BearerKind::Token(id) => {
                info.kind = ak_bearer_kind::AK_BEARER_TOKEN;
                info.token_id = id.0;
                copy_into(&mut info.kid, id.to_text().as_bytes());
            }
            BearerKind::Reenroll(agent) => {
                info.kind = ak_bearer_kind::AK_BEARER_REENROLL;
                copy_into(&mut info.kid, agent.as_bytes());
            }
        }
        info
    }

    fn verified(v: &VerifiedBearer) -> ak_bearer_info {
        let mut info = ak_bearer_info::new(v.kind);
        (info.iat, info.exp, info.nbf, info.jti) = (v.claims.iat, v.claims.exp, v.claims.nbf, v.claims.jti);
        info
    }
}

/// Derives the 32-byte HMAC key of an enroll JWT from `secret` (the password's bytes, a token's
/// 16-byte secret, or a 32-byte re-enrollment secret) with HKDF-SHA256, as Wazuh 5.0 does.
/// Returns `AK_OK` or `AK_NULL_PARAMETER`.
///
/// # Safety
/// `secret` valid for `secret_len` bytes (or NULL with 0); `out` valid for 32 bytes of writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_derive_key(
    label: ak_key_label,
    secret: *const u8,
    secret_len: usize,
    out: *mut u8,
) -> ak_result {
    ffi_panic_boundary! {
        let secret = try_slice!(secret, secret_len);
        let out = try_array_out!(out, 32);
        let label = match label {
            ak_key_label::AK_LABEL_PASSWORD => KeyLabel::Password,
            ak_key_label::AK_LABEL_TOKEN => KeyLabel::Token,
            ak_key_label::AK_LABEL_REENROLL => KeyLabel::Reenroll,
        };
        *out = derive_key(label, secret);
        ak_result::AK_OK
    }
}

/// Signs an enroll JWT with `key` (32 bytes): `kid` (a token ID or an agent ID; NULL for password
/// mode), `iat`, and `jti` (16 random bytes the caller draws). Writes the bearer NUL-terminated.
/// Returns `AK_OK`, `AK_INVALID_BEARER` (a `kid` that is neither), `AK_BUFFER_TOO_SMALL`
/// (`*written` = capacity needed; 512 always suffices) or `AK_NULL_PARAMETER`.
///
/// # Safety
/// `key` valid for 32 bytes; `kid` NULL or valid for `kid_len`; `jti` valid for 16 bytes; `buf`
/// valid for `cap` bytes; `written` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_bearer_sign(
    key: *const u8,
    kid: *const c_char,
    kid_len: usize,
    iat: i64,
    jti: *const u8,
    buf: *mut c_char,
    cap: usize,
    written: *mut usize,
) -> ak_result {
    ffi_panic_boundary! {
        let key = try_array!(key, 32);
        let jti = try_array!(jti, 16);
        let kid = opt_slice!(kid, kid_len);
        let Ok(kid) = kid.map(core::str::from_utf8).transpose() else { return ak_result::AK_INVALID_UTF8 };
        try_text_out!(buf, cap, written).write(|dst| sign_bearer(&key, kid, iat, &jti, dst).map(str::as_bytes))
    }
}

/// Reads a bearer's form and header without verifying it: whose key signed it (`kind`, `kid`,
/// `token_id`), so the caller can look the key up for `ak_bearer_verify`. Returns `AK_OK`,
/// `AK_INVALID_BEARER` (with the part and byte in `*err`) or `AK_NULL_PARAMETER`.
///
/// # Safety
/// `bearer` valid for `len` bytes; `out` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_bearer_peek(
    bearer: *const c_char,
    len: usize,
    out: *mut ak_bearer_info,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        let mut err = err_out!(err);
        let bearer = try_slice!(bearer, len, err);
        let out = try_mut!(out, err);
        match peek_bearer(bearer) {
            Ok(kind) => {
                *out = ak_bearer_info::new(kind);
                ak_result::AK_OK
            }
            Err(e) => report_error(&mut err, &e),
        }
    }
}

/// Verifies a bearer with `key` (32 bytes) at `now`, tolerating `skew` seconds and accepting an
/// `iat` up to `max_age` seconds old (Wazuh's defaults: 60 and 30). Returns `AK_OK` (with the
/// claims in `*out`), `AK_INVALID_BEARER`, `AK_BAD_SIGNATURE` or `AK_STALE_BEARER` (see
/// `ak_bearer_class`), or `AK_NULL_PARAMETER`. The MAC is compared in constant time.
///
/// # Safety
/// `bearer` valid for `len` bytes; `key` valid for 32 bytes; `out` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_bearer_verify(
    bearer: *const c_char,
    len: usize,
    key: *const u8,
    now: i64,
    max_age: u64,
    skew: u64,
    out: *mut ak_bearer_info,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        let mut err = err_out!(err);
        let bearer = try_slice!(bearer, len, err);
        let key = try_array!(key, 32);
        let out = try_mut!(out, err);
        match verify_bearer(bearer, |_| Ok(key), &VerifyPolicy { now, max_age, skew }) {
            Ok(verified) => {
                *out = ak_bearer_info::verified(&verified);
                ak_result::AK_OK
            }
            Err(e) => report_error(&mut err, &e),
        }
    }
}

/// The class a Wazuh 5.0 manager answers a refused bearer with, for a code: `"invalid_request"`,
/// `"invalid_signature"`, `"stale_token"`, `"unknown_agent"`, `"token_expired"`,
/// `"token_revoked"` or `"enrollment_key_unavailable"`; NULL for any other code. The string is
/// static and NUL-terminated.
#[unsafe(no_mangle)]
pub extern "C" fn ak_bearer_class(code: u32) -> *const c_char {
    ffi_panic_boundary! {
        let class = ak_result::from_u32(code).and_then(ak_result::kind).and_then(|k| match k {
            ErrorKind::InvalidBearer => Some(c"invalid_request"),
            ErrorKind::BadSignature => Some(c"invalid_signature"),
            ErrorKind::StaleBearer => Some(c"stale_token"),
            ErrorKind::UnknownAgent => Some(c"unknown_agent"),
            ErrorKind::TokenExpired => Some(c"token_expired"),
            ErrorKind::TokenRevoked => Some(c"token_revoked"),
            ErrorKind::EnrollmentKeyUnavailable => Some(c"enrollment_key_unavailable"),
            _ => None,
        });
        class.map_or(core::ptr::null(), core::ffi::CStr::as_ptr)
    }
}

/// The host of a token address.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ak_host_kind {
    /// A DNS name.
    AK_HOST_NAME = 0,
    /// An IPv4 address.
    AK_HOST_IPV4 = 1,
    /// An IPv6 address (written in brackets in the token).
    AK_HOST_IPV6 = 2,
}

/// Longest host text plus NUL.
pub const AK_HOST_BUF: usize = 256;
/// Longest token address text (`host[:port][/prefix]` as `ak_token` holds it) plus NUL.
pub const AK_TOKEN_ADDRESS_BUF: usize = 264;

/// A decoded enrollment token. `ak_str` fields borrow from the scratch buffer given to
/// `ak_token_decode`; absent ones have `ptr` NULL.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ak_token {
    /// What the host is.
    pub host_kind: ak_host_kind,
    /// The host (DNS name, IPv4, or IPv6 without brackets), NUL-terminated.
    pub host: [c_char; AK_HOST_BUF],
    /// The IPv6 zone, if any.
    pub zone: ak_str,
    /// The port (1517 when the token names none).
    pub port: u16,
    /// The path prefix (`wazuh-manager` when the token names none; may be empty).
    pub prefix: ak_str,
    /// The whole address as the token writes it (`host[:port][/prefix]`), NUL-terminated.
    pub address: [c_char; AK_TOKEN_ADDRESS_BUF],
    /// Whether the anchor is a pin (else `ca` is set).
    pub has_pin: bool,
    /// SHA-256 of the CA's SubjectPublicKeyInfo.
    pub pin: [u8; 32],
    /// The CA bundle, PEM (decoded).
    pub ca: ak_str,
    /// Whether the token carries a credential.
    pub has_credential: bool,
    /// The token ID.
    pub token_id: [u8; 16],
    /// The token ID's text: the bearer `kid` (22 characters), NUL-terminated.
    pub kid: [c_char; AK_KID_BUF],
    /// The token secret.
    pub secret: [u8; 16],
}

fn token_to_c(token: &EnrollmentToken<'_>) -> ak_token {
    let mut out = ak_token {
        host_kind: ak_host_kind::AK_HOST_NAME,
        host: [0; AK_HOST_BUF],
        zone: ak_str::NONE,
        port: token.address.port,
        prefix: ak_str::from_bytes(token.address.prefix.as_bytes()),
        address: [0; AK_TOKEN_ADDRESS_BUF],
        has_pin: false,
        pin: [0; 32],
        ca: ak_str::NONE,
        has_credential: false,
        token_id: [0; 16],
        kid: [0; AK_KID_BUF],
        secret: [0; 16],
    };
    let mut host = agentkeys_core::heapless::String::<AK_HOST_BUF>::new();
    let _ = match token.address.host {
        TokenHost::Name(name) => host.push_str(name).map_err(|_| core::fmt::Error),
        TokenHost::V4(v4) => {
            out.host_kind = ak_host_kind::AK_HOST_IPV4;
            core::fmt::write(&mut host, format_args!("{v4}"))
        }
        TokenHost::V6 { addr, zone } => {
            out.host_kind = ak_host_kind::AK_HOST_IPV6;
            out.zone = ak_str::from_opt(zone.map(str::as_bytes));
            core::fmt::write(&mut host, format_args!("{addr}"))
        }
    };
    copy_into(&mut out.host, host.as_bytes());
    let mut address = agentkeys_core::heapless::String::<AK_TOKEN_ADDRESS_BUF>::new();
    let _ = token.address.write_to(&mut address);
    copy_into(&mut out.address, address.as_bytes());
    match token.anchor {
        TrustAnchor::Pin(pin) => {
            out.has_pin = true;
            out.pin = pin;
        }
        TrustAnchor::Ca(pem) => out.ca = ak_str::from_bytes(pem.as_bytes()),
    }
    if let Some(credential) = token.credential {
        out.has_credential = true;
        out.token_id = credential.id.0;
        out.secret = credential.secret;
        copy_into(&mut out.kid, credential.id.to_text().as_bytes());
    }
    out
}

/// Decodes an enrollment token (surrounding white space ignored), using `scratch` (about three
/// quarters of `len`; `len` bytes always suffice) for its decoded JSON, which the `ak_str` fields
/// of `*out` then point into. Returns `AK_OK`, `AK_INVALID_TOKEN`, `AK_UNSUPPORTED_TOKEN_VERSION`,
/// `AK_INVALID_TOKEN_ADDRESS`, `AK_TOKEN_ANCHOR`, `AK_INVALID_PIN`, `AK_INVALID_TOKEN_KEY`,
/// `AK_TOO_LONG` (each with the member and byte in `*err`), `AK_BUFFER_TOO_SMALL` or
/// `AK_NULL_PARAMETER`.
///
/// # Safety
/// `token` valid for `len` bytes; `scratch` valid for `scratch_cap` bytes of writes and kept alive
/// while `*out` is used; `out` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_token_decode(
    token: *const c_char,
    len: usize,
    scratch: *mut u8,
    scratch_cap: usize,
    out: *mut ak_token,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        let mut err = err_out!(err);
        let token = try_slice!(token, len, err);
        let out = try_mut!(out, err);
        if scratch.is_null() {
            return report(&mut err, ak_result::AK_NULL_PARAMETER);
        }
        // SAFETY: non-NULL, and this function's contract gives `scratch_cap` writable bytes that
        // outlive `*out` (the decoded token points into them).
        let scratch = unsafe { core::slice::from_raw_parts_mut(scratch, scratch_cap) };
        match EnrollmentToken::decode(token, scratch) {
            Ok(decoded) => {
                *out = token_to_c(&decoded);
                ak_result::AK_OK
            }
            Err(e) => report_error(&mut err, &e),
        }
    }
}

/// Encodes an enrollment token for `address` (`host[:port][/prefix]`), anchored by `pin` (32
/// bytes) or, when `pin` is NULL, by the PEM `ca`; with a credential when `token_id` and `secret`
/// (16 bytes each) are both non-NULL. Writes the token NUL-terminated; `buf` also serves as
/// scratch, so the capacity `*written` asks for on `AK_BUFFER_TOO_SMALL` is larger than the token.
/// Returns `AK_OK`, `AK_INVALID_TOKEN_ADDRESS`, `AK_TOKEN_ANCHOR` (neither or both anchors),
/// `AK_TOO_LONG` (a CA over 64 KiB), `AK_INVALID_UTF8`, `AK_BUFFER_TOO_SMALL` or
/// `AK_NULL_PARAMETER`.
///
/// # Safety
/// `address` valid for `address_len`; `pin` NULL or 32 bytes; `ca` NULL or valid for `ca_len`;
/// `token_id`/`secret` NULL or 16 bytes; `buf` valid for `cap`; `written` writable; `err` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_token_encode(
    address: *const c_char,
    address_len: usize,
    pin: *const u8,
    ca: *const c_char,
    ca_len: usize,
    token_id: *const u8,
    secret: *const u8,
    buf: *mut c_char,
    cap: usize,
    written: *mut usize,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        let mut err = err_out!(err);
        let address = try_str!(address, address_len, err);
        let address = match TokenAddress::parse(address) {
            Ok(a) => a,
            Err(e) => return report_error(&mut err, &e),
        };
        let ca = opt_slice!(ca, ca_len);
        let anchor = match (pin.is_null(), ca) {
            (false, None) => TrustAnchor::Pin(try_array!(pin, 32)),
            (true, Some(pem)) => match core::str::from_utf8(pem) {
                Ok(pem) if pem.len() <= agentkeys_core::wazuh5::MAX_TOKEN_CA_LEN => TrustAnchor::Ca(pem),
                Ok(_) => return report_error(&mut err, &Error::new(ErrorKind::TooLong).with_field(Field::Ca)),
                Err(_) => return report(&mut err, ak_result::AK_INVALID_UTF8),
            },
            _ => return report_error(&mut err, &Error::new(ErrorKind::TokenAnchor).with_field(Field::Pin)),
        };
        let credential = match (token_id.is_null(), secret.is_null()) {
            (false, false) => Some(TokenCredential { id: TokenId(try_array!(token_id, 16)), secret: try_array!(secret, 16) }),
            _ => None,
        };
        let token = EnrollmentToken { address, anchor, credential };
        let result = try_text_out!(buf, cap, written).write(|dst| token.encode_into(dst).map(str::as_bytes));
        if result != ak_result::AK_OK && result != ak_result::AK_BUFFER_TOO_SMALL {
            return report(&mut err, result);
        }
        result
    }
}

/// Writes a decoded token (from `ak_token_decode`, with its scratch still alive) as upstream's
/// `--show-token` prints it: `ver: 1`, `adr: …`, `pin: <hex>` or `ca: PEM bundle, N bytes`,
/// `credential: present|absent`, one per line. Never the secret. Returns `AK_OK`,
/// `AK_BUFFER_TOO_SMALL` or `AK_NULL_PARAMETER`.
///
/// # Safety
/// `token` readable with its strings valid; `buf` valid for `cap`; `written` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_token_show(
    token: *const ak_token,
    buf: *mut c_char,
    cap: usize,
    written: *mut usize,
) -> ak_result {
    ffi_panic_boundary! {
        let token = try_ref!(token);
        let mut address_text = [0u8; AK_TOKEN_ADDRESS_BUF];
        let mut address_len = 0;
        for (dst, &c) in address_text.iter_mut().zip(token.address.iter().take_while(|&&c| c != 0)) {
            *dst = c as u8;
            address_len += 1;
        }
        let Ok(address) = core::str::from_utf8(&address_text[..address_len]) else {
            return ak_result::AK_INVALID_UTF8;
        };
        let Ok(address) = TokenAddress::parse(address) else { return ak_result::AK_INVALID_PARAMETER };
        let ca = str_field!(token.ca);
        let anchor = match (token.has_pin, ca.map(core::str::from_utf8)) {
            (true, _) => TrustAnchor::Pin(token.pin),
            (false, Some(Ok(pem))) => TrustAnchor::Ca(pem),
            _ => return ak_result::AK_INVALID_PARAMETER,
        };
        let credential = token
            .has_credential
            .then_some(TokenCredential { id: TokenId(token.token_id), secret: token.secret });
        let decoded = EnrollmentToken { address, anchor, credential };
        try_text_out!(buf, cap, written).write(|dst| {
            let mut w = agentkeys_core::SliceWriter::new(dst);
            let _ = decoded.write_text(&mut w);
            w.finish()
        })
    }
}

/// Writes the credential text of a token (43 characters of base64url over ID ‖ secret): what an
/// old agent sends as its password on port 1515. Returns `AK_OK`, `AK_BUFFER_TOO_SMALL` (44
/// suffices) or `AK_NULL_PARAMETER`.
///
/// # Safety
/// `token_id` and `secret` valid for 16 bytes each; `buf` valid for `cap`; `written` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_token_credential_text(
    token_id: *const u8,
    secret: *const u8,
    buf: *mut c_char,
    cap: usize,
    written: *mut usize,
) -> ak_result {
    ffi_panic_boundary! {
        let id = try_array!(token_id, 16);
        let secret = try_array!(secret, 16);
        let text = TokenCredential { id: TokenId(id), secret }.to_text();
        try_text_out!(buf, cap, written).write(|dst| crate::result::copy_text(dst, text.as_bytes()))
    }
}

/// SHA-256 of a DER SubjectPublicKeyInfo: the pin of a CA. Writes 32 bytes to `out`. Returns
/// `AK_OK` or `AK_NULL_PARAMETER`.
///
/// # Safety
/// `spki` valid for `len` bytes; `out` valid for 32 bytes of writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_spki_pin(spki: *const u8, len: usize, out: *mut u8) -> ak_result {
    ffi_panic_boundary! {
        let spki = try_slice!(spki, len);
        let out = try_array_out!(out, 32);
        *out = spki_pin(spki);
        ak_result::AK_OK
    }
}

/// Writes a pin (32 bytes) as a token holds it: 43 characters of unpadded base64url. Returns
/// `AK_OK`, `AK_BUFFER_TOO_SMALL` (44 suffices) or `AK_NULL_PARAMETER`.
///
/// # Safety
/// `pin` valid for 32 bytes; `buf` valid for `cap`; `written` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_pin_text(pin: *const u8, buf: *mut c_char, cap: usize, written: *mut usize) -> ak_result {
    ffi_panic_boundary! {
        let pin = try_array!(pin, 32);
        let text = pin_text(&pin);
        try_text_out!(buf, cap, written).write(|dst| crate::result::copy_text(dst, text.as_bytes()))
    }
}

/// Longest agent version plus NUL.
pub const AK_VERSION_BUF: usize = 27;

/// A parsed `/enroll` request body.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ak_enroll_request {
    /// The agent name, NUL-terminated.
    pub name: [c_char; AK_NAME_BUF],
    /// The agent version (e.g. `v5.0.0`), NUL-terminated.
    pub version: [c_char; AK_VERSION_BUF],
    /// The groups (syntax checked), borrowing from the body; NULL when absent or null.
    pub groups: ak_str,
    /// Whether `ip` was absent/null, `"src"`, or an address.
    pub ip_field: crate::request::ak_ip_field,
    /// The address in canonical form when `ip_field` is `AK_IP_ADDR`, NUL-terminated.
    pub ip: [c_char; AK_ADDR_BUF],
    /// Whether `key_hash` was sent.
    pub has_key_hash: bool,
    /// The key hash (40 hex characters), NUL-terminated.
    pub key_hash: [c_char; 41],
}

/// Parses an `/enroll` request body (already decompressed, at most 16 KiB). Returns `AK_OK`, or
/// the reason with the field and byte in `*err`; `ak_enroll_error_message` turns it into the HTTP
/// 400 message. Returns `AK_NULL_PARAMETER` for NULL pointers.
///
/// # Safety
/// `body` valid for `len` bytes and kept alive while `out->groups` is used; `out` writable; `err`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_enroll_request_parse(
    body: *const c_char,
    len: usize,
    out: *mut ak_enroll_request,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        let mut err = err_out!(err);
        let body = try_slice!(body, len, err);
        let out = try_mut!(out, err);
        let req = match EnrollRequest::parse(body) {
            Ok(r) => r,
            Err(e) => return report_error(&mut err, &e),
        };
        let mut parsed = ak_enroll_request {
            name: [0; AK_NAME_BUF],
            version: [0; AK_VERSION_BUF],
            groups: ak_str::from_opt(req.groups.map(|g| g.as_str().as_bytes())),
            ip_field: crate::request::ak_ip_field::AK_IP_ABSENT,
            ip: [0; AK_ADDR_BUF],
            has_key_hash: req.key_hash().is_some(),
            key_hash: [0; 41],
        };
        copy_into(&mut parsed.name, req.name().as_bytes());
        copy_into(&mut parsed.version, req.version().as_bytes());
        match req.ip {
            None => {}
            Some(EnrollIp::Source) => parsed.ip_field = crate::request::ak_ip_field::AK_IP_SOURCE,
            Some(EnrollIp::Addr(addr)) => {
                parsed.ip_field = crate::request::ak_ip_field::AK_IP_ADDR;
                copy_into(&mut parsed.ip, addr.to_text().as_bytes());
            }
        }
        if let Some(hash) = req.key_hash() {
            copy_into(&mut parsed.key_hash, hash.as_bytes());
        }
        *out = parsed;
        ak_result::AK_OK
    }
}

/// The HTTP 400 message Wazuh 5.0 answers for a body that `ak_enroll_request_parse` refused with
/// `code` and `field` (from its `ak_error`), e.g. `"Missing or invalid field: name"`. Static,
/// NUL-terminated; never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ak_enroll_error_message(code: u32, field: ak_field) -> *const c_char {
    ffi_panic_boundary! {
        let kind = ak_result::from_u32(code).and_then(ak_result::kind).unwrap_or(ErrorKind::InvalidBody);
        let mut e = Error::new(kind);
        if let Some(f) = crate::types::field_from_c(field) {
            e = e.with_field(f);
        }
        let text = enroll_error_message(&e);
        [
            c"Missing or invalid request body",
            c"Malformed JSON body",
            c"Agent version is newer than this manager allows",
            c"Missing or invalid field: name",
            c"Missing or invalid field: version",
            c"Invalid field: groups",
            c"Invalid field: ip",
            c"Invalid field: key_hash",
        ]
        .into_iter()
        .find(|c| c.to_bytes() == text.as_bytes())
        .unwrap_or(c"Missing or invalid request body")
        .as_ptr()
    }
}

/// Writes an `/enroll` request body for an agent: `name`, `version`, and optionally `groups`,
/// `ip` (an address, or `src`) and `key_hash` (NULL = left out). Returns `AK_OK`, the field's code
/// (`AK_INVALID_NAME`, `AK_INVALID_VERSION`, a groups code, `AK_INVALID_ADDR`,
/// `AK_INVALID_KEY_HASH`), `AK_BUFFER_TOO_SMALL` or `AK_NULL_PARAMETER`.
///
/// # Safety
/// Each input NULL or valid for its length; `buf` valid for `cap`; `written` writable; `err` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_enroll_request_format(
    name: *const c_char,
    name_len: usize,
    version: *const c_char,
    version_len: usize,
    groups: *const c_char,
    groups_len: usize,
    ip: *const c_char,
    ip_len: usize,
    key_hash: *const c_char,
    key_hash_len: usize,
    buf: *mut c_char,
    cap: usize,
    written: *mut usize,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        let mut err = err_out!(err);
        let name = try_str!(name, name_len, err);
        let version = try_str!(version, version_len, err);
        let (groups, ip, key_hash) =
            (opt_slice!(groups, groups_len), opt_slice!(ip, ip_len), opt_slice!(key_hash, key_hash_len));
        let built = (|| {
            let mut req = EnrollRequest::new(name, version)?;
            if let Some(g) = groups {
                req.groups = Some(Groups::parse(g).map_err(|e| e.error().with_field(Field::Groups))?);
            }
            if let Some(ip) = ip {
                req.ip = Some(if ip == b"src" {
                    EnrollIp::Source
                } else {
                    EnrollIp::Addr(agentkeys_core::AgentAddr::parse(ip).map_err(|e| e.with_field(Field::Ip))?)
                });
            }
            if let Some(h) = key_hash {
                let h = core::str::from_utf8(h).map_err(|_| Error::new(ErrorKind::InvalidKeyHash).with_field(Field::KeyHash))?;
                req = req.with_key_hash(h)?;
            }
            Ok::<_, Error>(req)
        })();
        let req = match built {
            Ok(r) => r,
            Err(e) => return report_error(&mut err, &e),
        };
        try_text_out!(buf, cap, written).write(|dst| req.encode_into(dst).map(str::as_bytes))
    }
}

/// A parsed `/enroll` success body: the record (borrowing from the body) and the re-enrollment
/// secret, if any.
#[allow(non_camel_case_types, reason = "C naming")]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ak_enroll_reply {
    /// `ID NAME IP KEY`; `ip` as written in the body.
    pub record: ak_record,
    /// Whether the manager issued a re-enrollment secret.
    pub has_reenroll_secret: bool,
    /// The 32-byte secret.
    pub reenroll_secret: [u8; 32],
}

/// Parses an `/enroll` 200 body and validates its record. Returns `AK_OK`, the code of the broken
/// rule (with the member in `*err`), or `AK_NULL_PARAMETER`.
///
/// # Safety
/// `body` valid for `len` bytes and kept alive while `out->record` is used; `out` writable; `err`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_enroll_reply_parse(
    body: *const c_char,
    len: usize,
    out: *mut ak_enroll_reply,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        let mut err = err_out!(err);
        let body = try_slice!(body, len, err);
        let out = try_mut!(out, err);
        match EnrollReply::parse(body) {
            Ok(reply) => {
                let r = reply.record;
                let ip = find_ip(body);
                *out = ak_enroll_reply {
                    record: ak_record {
                        id: ak_str::from_bytes(r.id.as_bytes()),
                        name: ak_str::from_bytes(r.name.as_str().as_bytes()),
                        ip,
                        key: ak_str::from_bytes(r.key.as_str().as_bytes()),
                    },
                    has_reenroll_secret: reply.reenroll_secret.is_some(),
                    reenroll_secret: reply.reenroll_secret.unwrap_or([0; 32]),
                };
                ak_result::AK_OK
            }
            Err(e) => report_error(&mut err, &e),
        }
    }
}

/// The `"ip"` member's text inside `body` (as written), for a borrowed `ak_str`.
fn find_ip(body: &[u8]) -> ak_str {
    let key = b"\"ip\"";
    let Some(at) = body.windows(key.len()).position(|w| w == key) else {
        return ak_str::from_bytes(&body[..0]);
    };
    let rest = &body[at + key.len()..];
    let Some(open) = rest.iter().position(|&b| b == b'"') else { return ak_str::from_bytes(&body[..0]) };
    let value = &rest[open + 1..];
    let end = value.iter().position(|&b| b == b'"').unwrap_or(value.len());
    ak_str::from_bytes(&value[..end])
}

/// Writes an `/enroll` 200 body for `record` (validated; address in canonical form) and, when
/// `reenroll_secret` is non-NULL, its 32-byte secret in hex. Returns `AK_OK`, a field code,
/// `AK_BUFFER_TOO_SMALL` or `AK_NULL_PARAMETER`.
///
/// # Safety
/// `record` readable with valid strings; `reenroll_secret` NULL or 32 bytes; `buf` valid for `cap`;
/// `written` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_enroll_reply_format(
    record: *const ak_record,
    reenroll_secret: *const u8,
    buf: *mut c_char,
    cap: usize,
    written: *mut usize,
    err: *mut ak_error,
) -> ak_result {
    ffi_panic_boundary! {
        let secret = if reenroll_secret.is_null() {
            None
        } else {
            Some(try_array!(reenroll_secret, 32))
        };
        format_record!(record, buf, cap, written, err, |rec, dst| {
                EnrollReply { record: *rec, reenroll_secret: secret }.encode_into(dst).map(str::as_bytes)
            })
    }
}

/// Writes an `/enroll` error body, `{"error":{"code":…,"message":"…"}}`: the code is the string
/// `class` when it is non-NULL (e.g. `"invalid_signature"`), else the number `code`. Returns
/// `AK_OK`, `AK_INVALID_UTF8`, `AK_BUFFER_TOO_SMALL` or `AK_NULL_PARAMETER`.
///
/// # Safety
/// `class` NULL or valid for `class_len`; `message` valid for `message_len`; `buf` valid for `cap`;
/// `written` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ak_enroll_error_format(
    class: *const c_char,
    class_len: usize,
    code: i64,
    message: *const c_char,
    message_len: usize,
    buf: *mut c_char,
    cap: usize,
    written: *mut usize,
) -> ak_result {
    ffi_panic_boundary! {
        let message = try_str!(message, message_len);
        let code = if class.is_null() {
            EnrollErrorCode::Number(code)
        } else {
            EnrollErrorCode::Class(try_str!(class, class_len))
        };
        try_text_out!(buf, cap, written).write(|dst| encode_enroll_error(code, message, dst).map(str::as_bytes))
    }
}
