//! Enrollment tokens (Wazuh 5.0): the table the registry owner keeps, its checks and use counts,
//! and its file `etc/enrollment_tokens.json` in upstream's shape.
//!
//! A token is presented three ways: as a bearer signed with its key (`POST /enroll`), as its
//! credential text sent for the password of an old agent (port 1515, ours), or by ID from a
//! remoted that already checked the bearer (admin socket `add` with `token_id`). Each way checks,
//! in upstream's order, the ID, the secret, the expiry, the revocation, then (ours) the source
//! address, then the uses; a use is reserved before the agent is created and released if the
//! registration is refused or cannot be written.

use std::collections::HashMap;
use std::net::IpAddr;

use agentkeys::ErrorKind;
use agentkeys::wazuh5::{KeyLabel, TokenCredential, TokenId, derive_key};
use serde::{Deserialize, Serialize};

use crate::sources::Cidr;

/// Most tokens kept (upstream's limit).
pub const MAX_TOKENS: usize = 5000;
/// Default lifetime of a token: 30 days.
pub const DEFAULT_TTL: u64 = 30 * 86_400;
/// Longest lifetime of a token: 10 years.
pub const MAX_TTL: u64 = 10 * 365 * 86_400;

/// How a token names the manager's CA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Anchor {
    /// The CA's SPKI pin, 43 base64url characters.
    Pin(String),
    /// The CA certificates, PEM.
    Ca(String),
}

/// One token as the file keeps it (upstream's members, then ours).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// The ID, 22 base64url characters (the bearer `kid`).
    pub id: String,
    /// The secret, 22 base64url characters (16 bytes).
    pub secret: String,
    /// `host[:port][/prefix]`.
    pub adr: String,
    /// The trust anchor (`pin` or `ca` member).
    #[serde(flatten)]
    pub anchor: Anchor,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// Expiry, seconds since the epoch.
    pub expires: i64,
    /// Most agents it may enroll; 0 = unlimited.
    pub max_uses: u32,
    /// Agents enrolled with it so far.
    pub uses: u32,
    /// Revoked by the operator.
    pub revoked: bool,
    /// The operator's note.
    pub description: String,
    /// Ours: groups every agent enrolled with it gets (replacing the groups it asks for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<String>,
    /// Ours: the source addresses it may be used from (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Cidr>,
    /// Whether the token text carries the credential (`--no-credential` tokens cannot enroll).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub credential: bool,
}

fn yes() -> bool {
    true
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "serde's skip_serializing_if signature")]
fn is_true(b: &bool) -> bool {
    *b
}

impl Token {
    /// Whether it can no longer enroll anybody (expired, revoked or used up): what `purge` drops.
    pub fn is_dead(&self, now: i64) -> bool {
        self.revoked || now >= self.expires || (self.max_uses > 0 && self.uses >= self.max_uses)
    }

    /// `active`, `expired`, `revoked` or `exhausted`.
    pub fn status(&self, now: i64) -> &'static str {
        if self.revoked {
            "revoked"
        } else if now >= self.expires {
            "expired"
        } else if self.max_uses > 0 && self.uses >= self.max_uses {
            "exhausted"
        } else {
            "active"
        }
    }

    fn secret_bytes(&self) -> Option<[u8; 16]> {
        let id = TokenId::parse(self.secret.as_bytes()).ok()?;
        Some(id.0)
    }

    /// The key its bearers are signed with (None if the stored secret is unreadable).
    pub fn bearer_key(&self) -> Option<[u8; 32]> {
        self.secret_bytes().map(|s| derive_key(KeyLabel::Token, &s))
    }
}

/// The file: `{"version":1,"tokens":[…]}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    version: u32,
    tokens: Vec<Token>,
}

/// Why a token file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// Not the JSON shape (with the line and column serde reports).
    #[error("not an enrollment token file: {0}")]
    Json(#[from] serde_json::Error),
    /// A version other than 1.
    #[error("unsupported version {0} (expected 1)")]
    Version(u32),
    /// A token whose ID or secret is not 22 base64url characters.
    #[error("token {index}: {member} must be 22 base64url characters")]
    BadToken {
        /// 0-based position in `tokens`.
        index: usize,
        /// `id` or `secret`.
        member: &'static str,
    },
}

/// A token use reserved by [`Tokens::reserve`], to release if the registration fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reserved(pub [u8; 16]);

/// How a token was presented.
#[derive(Clone, Debug)]
pub enum Presented {
    /// A bearer signed with the token's key (`POST /enroll`).
    Bearer(Vec<u8>),
    /// The credential text sent as the password of an old agent (port 1515).
    Credential(TokenCredential),
    /// By ID, already checked by the caller (admin socket `token_id`).
    Id(TokenId),
}

/// What a checked token gives the agent it enrolls.
#[derive(Debug)]
pub struct Grant {
    /// The use reserved.
    pub reserved: Reserved,
    /// The groups the token imposes, if any.
    pub groups: Option<String>,
}

/// Every token, by ID, in the order they were created.
#[derive(Debug, Default)]
pub struct Tokens {
    list: Vec<Token>,
    by_id: HashMap<[u8; 16], usize>,
}

impl Tokens {
    /// Reads the file's contents.
    ///
    /// # Errors
    /// What is wrong with it.
    pub fn parse(data: &[u8]) -> Result<Tokens, TokenFileError> {
        let file: TokenFile = serde_json::from_slice(data)?;
        if file.version != 1 {
            return Err(TokenFileError::Version(file.version));
        }
        let mut tokens = Tokens::default();
        for (index, token) in file.tokens.into_iter().enumerate() {
            let id =
                TokenId::parse(token.id.as_bytes()).map_err(|_| TokenFileError::BadToken { index, member: "id" })?;
            if token.secret_bytes().is_none() {
                return Err(TokenFileError::BadToken { index, member: "secret" });
            }
            tokens.by_id.insert(id.0, tokens.list.len());
            tokens.list.push(token);
        }
        Ok(tokens)
    }

    /// The file's contents.
    pub fn render(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Out<'a> {
            version: u32,
            tokens: &'a [Token],
        }
        let mut out = serde_json::to_vec_pretty(&Out { version: 1, tokens: &self.list }).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// The token with this ID.
    pub fn get(&self, id: &TokenId) -> Option<&Token> {
        self.by_id.get(&id.0).map(|&i| &self.list[i])
    }

    /// Adds a minted token.
    ///
    /// # Errors
    /// `Err(())` when [`MAX_TOKENS`] are kept already.
    pub fn insert(&mut self, token: Token) -> Result<(), ()> {
        let id = TokenId::parse(token.id.as_bytes()).map_err(|_| ())?;
        if self.list.len() >= MAX_TOKENS || self.by_id.contains_key(&id.0) {
            return Err(());
        }
        self.by_id.insert(id.0, self.list.len());
        self.list.push(token);
        Ok(())
    }

    /// Revokes a token; `None` if there is none with this ID, else whether it changed.
    pub fn revoke(&mut self, id: &TokenId) -> Option<bool> {
        let token = &mut self.list[*self.by_id.get(&id.0)?];
        let changed = !token.revoked;
        token.revoked = true;
        Some(changed)
    }

    /// Drops dead tokens (all tokens with `all`); returns how many went.
    pub fn purge(&mut self, now: i64, all: bool) -> usize {
        let before = self.list.len();
        self.list.retain(|t| !all && !t.is_dead(now));
        self.reindex();
        before - self.list.len()
    }

    /// Replaces the whole table (undo of a batch that could not be written).
    pub fn replace_all(&mut self, list: Vec<Token>) {
        self.list = list;
        self.reindex();
    }

    /// A copy of every token (to undo a batch).
    pub fn snapshot(&self) -> Vec<Token> {
        self.list.clone()
    }

    fn reindex(&mut self) {
        self.by_id = self
            .list
            .iter()
            .enumerate()
            .filter_map(|(i, t)| TokenId::parse(t.id.as_bytes()).ok().map(|id| (id.0, i)))
            .collect();
    }

    /// Checks a token bearer as the HTTPS layer does before it reads the body (ID, signature,
    /// time window, expiry, revoked), without reserving a use.
    ///
    /// # Errors
    /// As [`Tokens::reserve`], without the source and use checks.
    pub fn check_bearer(&self, bearer: &[u8], now: i64) -> Result<(), ErrorKind> {
        let index = self.verify_bearer(bearer, now)?;
        let token = &self.list[index];
        if now >= token.expires {
            return Err(ErrorKind::TokenExpired);
        }
        if token.revoked {
            return Err(ErrorKind::TokenRevoked);
        }
        Ok(())
    }

    fn verify_bearer(&self, bearer: &[u8], now: i64) -> Result<usize, ErrorKind> {
        let verified = agentkeys::wazuh5::verify_bearer(
            bearer,
            |kind| match kind {
                agentkeys::wazuh5::BearerKind::Token(id) => self
                    .get(id)
                    .filter(|t| t.credential)
                    .and_then(Token::bearer_key)
                    .ok_or(agentkeys::Error::new(ErrorKind::BadSignature)),
                _ => Err(agentkeys::Error::new(ErrorKind::InvalidBearer)),
            },
            &agentkeys::wazuh5::VerifyPolicy::at(now),
        )
        .map_err(|e| e.kind())?;
        let agentkeys::wazuh5::BearerKind::Token(id) = verified.kind else {
            return Err(ErrorKind::InvalidBearer);
        };
        self.by_id.get(&id.0).copied().ok_or(ErrorKind::BadSignature)
    }

    /// Checks a presented token, in upstream's order (ID, secret or signature, expiry, revoked),
    /// then the source address (ours), then the uses; reserves one use.
    ///
    /// # Errors
    /// The refusal: `BadSignature` (unknown ID or wrong signature; `InvalidPassword` for a
    /// credential on port 1515), `StaleBearer`, `InvalidBearer`, `TokenExpired`, `TokenRevoked`,
    /// `TokenSourceRefused`, `TokenExhausted`.
    pub fn reserve(&mut self, presented: &Presented, source: Option<IpAddr>, now: i64) -> Result<Grant, ErrorKind> {
        let index = match presented {
            Presented::Bearer(bearer) => self.verify_bearer(bearer, now)?,
            Presented::Credential(credential) => {
                let i = *self.by_id.get(&credential.id.0).ok_or(ErrorKind::InvalidPassword)?;
                let token = &self.list[i];
                let secret = token.secret_bytes().ok_or(ErrorKind::InvalidPassword)?;
                if !token.credential || !constant_time_eq(&secret, &credential.secret) {
                    return Err(ErrorKind::InvalidPassword);
                }
                i
            }
            Presented::Id(id) => *self.by_id.get(&id.0).ok_or(ErrorKind::TokenRevoked)?,
        };
        let token = &mut self.list[index];
        if now >= token.expires {
            return Err(ErrorKind::TokenExpired);
        }
        if token.revoked {
            return Err(ErrorKind::TokenRevoked);
        }
        if let Some(ip) = source
            && !token.sources.is_empty()
            && !token.sources.iter().any(|c| c.contains(ip))
        {
            return Err(ErrorKind::TokenSourceRefused);
        }
        if token.max_uses > 0 && token.uses >= token.max_uses {
            return Err(ErrorKind::TokenExhausted);
        }
        token.uses += 1;
        let id = TokenId::parse(token.id.as_bytes()).map_err(|_| ErrorKind::BadSignature)?;
        Ok(Grant { reserved: Reserved(id.0), groups: token.groups.clone() })
    }

    /// Gives back a use reserved by [`Tokens::reserve`].
    pub fn release(&mut self, reserved: Reserved) {
        if let Some(&i) = self.by_id.get(&reserved.0) {
            self.list[i].uses = self.list[i].uses.saturating_sub(1);
        }
    }
}

fn constant_time_eq(a: &[u8; 16], b: &[u8; 16]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Parses a token lifetime as upstream's API writes it: `30d`, `12h`, `45m`, `90s` or seconds.
///
/// # Errors
/// A message naming the value, for a bad syntax, 0, or more than 10 years.
pub fn parse_ttl(text: &str) -> Result<u64, String> {
    let secs = crate::config::Interval::parse(text).map_err(|e| format!("--ttl: {e}"))?.as_secs();
    if secs == 0 || secs > MAX_TTL {
        return Err(format!("--ttl: {text:?} must be between 1 second and 10 years"));
    }
    Ok(secs)
}

/// What `token_create` (and `agentkeys tokens create`) asks for.
#[derive(Debug, Default)]
pub struct MintRequest {
    /// The manager's address as agents reach it (a name or an address of the listener
    /// certificate).
    pub address: String,
    /// The HTTPS port, if not the listener's.
    pub port: Option<u16>,
    /// The path prefix, if not the listener's.
    pub prefix: Option<String>,
    /// Lifetime in seconds (default 30 days).
    pub ttl: Option<u64>,
    /// Most agents it may enroll (0 = unlimited).
    pub max_uses: u32,
    /// The operator's note.
    pub description: String,
    /// Carry the CA PEM instead of its pin.
    pub embed_ca: bool,
    /// Leave the credential out (agents then need a password or open mode).
    pub no_credential: bool,
    /// Ours: groups every agent enrolled with it gets (checked to exist).
    pub groups: Option<String>,
    /// Ours: source addresses it may be used from.
    pub sources: Vec<Cidr>,
}

/// Where minting finds the listener's identity, and its defaults.
#[derive(Debug)]
pub struct MintContext<'a> {
    /// The listener certificate.
    pub cert: &'a std::path::Path,
    /// The CA that signs it.
    pub ca: &'a std::path::Path,
    /// The listener's port.
    pub port: u16,
    /// The listener's prefix.
    pub prefix: &'a str,
    /// A loopback address may be minted for.
    pub allow_loopback: bool,
    /// Now.
    pub now: i64,
}

/// A token minted (not kept yet): the stored form and the text agents are given.
#[derive(Debug)]
pub struct Minted {
    /// What the registry keeps.
    pub token: Token,
    /// The token text (contains the credential: shown once, never logged).
    pub text: String,
    /// The CA pin, hexadecimal.
    pub pin_hex: String,
}

/// Why a token cannot be minted (admin code 9025), worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The address is not `host`, a DNS name or an IP address.
    #[error("address {0:?}: {1}")]
    Address(String, agentkeys::Error),
    /// Upstream refuses loopback addresses (agents elsewhere could not use the token).
    #[error(
        "address {0:?} is a loopback address that other hosts cannot reach (allow it with --allow-loopback or [enrollment] allow_loopback_tokens)"
    )]
    Loopback(String),
    /// The listener certificate does not name the address, so agents would refuse the server.
    #[error(
        "the HTTPS listener certificate {cert} does not name {address:?}; use one of its names or issue a certificate that has it"
    )]
    NotInCertificate {
        /// The address.
        address: String,
        /// The certificate file.
        cert: String,
    },
    /// The CA does not sign the listener certificate: a pin of it would be useless.
    #[error("{ca} does not sign the HTTPS listener certificate {cert}")]
    CaMismatch {
        /// The CA file.
        ca: String,
        /// The certificate file.
        cert: String,
    },
    /// A certificate file cannot be read.
    #[error(transparent)]
    Cert(#[from] crate::certs::CertError),
    /// The lifetime is out of range.
    #[error("{0}")]
    Ttl(String),
    /// No random bytes.
    #[error("the operating system gave no random bytes: {0}")]
    Random(getrandom::Error),
    /// The token could not be encoded.
    #[error("cannot encode the token: {0}")]
    Encode(agentkeys::Error),
}

/// Mints a token for `request` against the listener's identity (upstream's checks: the address is
/// named by the listener certificate, is not loopback-only, and the CA signs that certificate).
///
/// # Errors
/// Why it cannot be minted.
pub fn mint(request: &MintRequest, ctx: &MintContext<'_>) -> Result<Minted, MintError> {
    use agentkeys::wazuh5::{EnrollmentToken, TokenAddress, TokenHost, TrustAnchor};
    let host_text = request.address.trim_start_matches('[').trim_end_matches(']');
    let host = match host_text.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => TokenHost::V4(v4),
        Ok(IpAddr::V6(v6)) => TokenHost::V6 { addr: v6, zone: None },
        Err(_) => {
            let parsed = TokenAddress::parse(host_text).map_err(|e| MintError::Address(request.address.clone(), e))?;
            parsed.host
        }
    };
    let loopback = match host {
        TokenHost::V4(a) => a.is_loopback(),
        TokenHost::V6 { addr, .. } => addr.is_loopback(),
        TokenHost::Name(n) => n.eq_ignore_ascii_case("localhost"),
    };
    if loopback && !ctx.allow_loopback {
        return Err(MintError::Loopback(request.address.clone()));
    }
    let listener = crate::certs::first_cert(ctx.cert)?;
    let named = match host {
        TokenHost::V6 { addr, .. } => {
            crate::certs::matches(&listener, &agentkeys::AgentAddr::from_ip(IpAddr::V6(addr)).to_text())?
                || crate::certs::names(&listener)?
                    .iter()
                    .any(|n| matches!(n, crate::certs::OwnedName::Ip(ip) if *ip == IpAddr::V6(addr)))
        }
        _ => crate::certs::matches(&listener, host_text)?,
    };
    if !named {
        return Err(MintError::NotInCertificate {
            address: request.address.clone(),
            cert: ctx.cert.display().to_string(),
        });
    }
    let cas = crate::certs::load_certs(ctx.ca)?;
    let Some(ca) = cas.iter().find(|c| crate::certs::ca_signs(c, &listener)) else {
        return Err(MintError::CaMismatch { ca: ctx.ca.display().to_string(), cert: ctx.cert.display().to_string() });
    };
    let pin = agentkeys::wazuh5::spki_pin(&crate::certs::spki_der(ca)?);
    let ca_pem = if request.embed_ca {
        Some(
            std::fs::read_to_string(ctx.ca)
                .map_err(|e| crate::certs::CertError::File { path: ctx.ca.to_owned(), reason: e.to_string() })?,
        )
    } else {
        None
    };
    let ttl = request.ttl.unwrap_or(DEFAULT_TTL);
    if ttl == 0 || ttl > MAX_TTL {
        return Err(MintError::Ttl(format!("ttl {ttl} s: must be between 1 second and 10 years")));
    }
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(MintError::Random)?;
    let (mut id, mut secret) = ([0u8; 16], [0u8; 16]);
    id.copy_from_slice(&raw[..16]);
    secret.copy_from_slice(&raw[16..]);
    let credential = TokenCredential { id: TokenId(id), secret };
    let prefix = request.prefix.as_deref().unwrap_or(ctx.prefix);
    let address = TokenAddress { host, port: request.port.unwrap_or(ctx.port), prefix };
    let anchor = match &ca_pem {
        Some(pem) => TrustAnchor::Ca(pem),
        None => TrustAnchor::Pin(pin),
    };
    let token = EnrollmentToken { address, anchor, credential: (!request.no_credential).then_some(credential) };
    let text = token.to_text_string().map_err(MintError::Encode)?;
    let stored = Token {
        id: credential.id.to_text().to_string(),
        secret: TokenId(secret).to_text().to_string(),
        adr: address.to_string(),
        anchor: match ca_pem {
            Some(pem) => Anchor::Ca(pem),
            None => Anchor::Pin(agentkeys::wazuh5::pin_text(&pin).to_string()),
        },
        created: ctx.now,
        expires: ctx.now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
        max_uses: request.max_uses,
        uses: 0,
        revoked: false,
        description: request.description.clone(),
        groups: request.groups.clone(),
        sources: request.sources.clone(),
        credential: !request.no_credential,
    };
    Ok(Minted { token: stored, text, pin_hex: agentkeys::wazuh5::pin_hex(&pin).to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: u8, max_uses: u32) -> Token {
        let tid = TokenId([id; 16]);
        Token {
            id: tid.to_text().to_string(),
            secret: TokenId([id + 1; 16]).to_text().to_string(),
            adr: "manager.example".into(),
            anchor: Anchor::Pin("YJHcNmXtXoM8jZRfk-u_FLNwIMzudzNORJesLvNZCqI".into()),
            created: 100,
            expires: 1000,
            max_uses,
            uses: 0,
            revoked: false,
            description: String::new(),
            groups: None,
            sources: Vec::new(),
            credential: true,
        }
    }

    fn credential(id: u8, secret: u8) -> Presented {
        Presented::Credential(TokenCredential { id: TokenId([id; 16]), secret: [secret; 16] })
    }

    #[test]
    fn uses_are_counted_released_and_capped() {
        let mut tokens = Tokens::default();
        tokens.insert(token(1, 2)).unwrap();
        let a = tokens.reserve(&credential(1, 2), None, 500).unwrap();
        tokens.reserve(&credential(1, 2), None, 500).unwrap();
        assert_eq!(tokens.reserve(&credential(1, 2), None, 500).unwrap_err(), ErrorKind::TokenExhausted);
        tokens.release(a.reserved);
        assert!(tokens.reserve(&credential(1, 2), None, 500).is_ok());
    }

    #[test]
    fn checks_come_in_upstream_order() {
        let mut tokens = Tokens::default();
        let mut t = token(1, 0);
        t.revoked = true;
        tokens.insert(t).unwrap();
        assert_eq!(tokens.reserve(&credential(1, 9), None, 500).unwrap_err(), ErrorKind::InvalidPassword);
        assert_eq!(tokens.reserve(&credential(7, 2), None, 500).unwrap_err(), ErrorKind::InvalidPassword);
        assert_eq!(tokens.reserve(&credential(1, 2), None, 5000).unwrap_err(), ErrorKind::TokenExpired);
        assert_eq!(tokens.reserve(&credential(1, 2), None, 500).unwrap_err(), ErrorKind::TokenRevoked);
    }

    #[test]
    fn sources_limit_where_a_token_is_used_from() {
        let mut tokens = Tokens::default();
        let mut t = token(1, 0);
        t.sources = vec!["10.0.0.0/8".parse().unwrap()];
        tokens.insert(t).unwrap();
        let outside = Some("192.0.2.1".parse().unwrap());
        assert_eq!(tokens.reserve(&credential(1, 2), outside, 500).unwrap_err(), ErrorKind::TokenSourceRefused);
        assert!(tokens.reserve(&credential(1, 2), Some("10.1.2.3".parse().unwrap()), 500).is_ok());
    }

    #[test]
    fn the_file_round_trips_and_bad_files_are_named() {
        let mut tokens = Tokens::default();
        tokens.insert(token(1, 0)).unwrap();
        let mut t = token(3, 5);
        t.anchor = Anchor::Ca("-----BEGIN CERTIFICATE-----\n".into());
        t.groups = Some("web".into());
        tokens.insert(t).unwrap();
        let text = tokens.render();
        let back = Tokens::parse(&text).unwrap();
        assert_eq!(back.snapshot(), tokens.snapshot());
        let s = String::from_utf8(text).unwrap();
        assert!(s.contains(r#""pin": "YJHc"#), "{s}");
        assert!(matches!(Tokens::parse(br#"{"version":2,"tokens":[]}"#), Err(TokenFileError::Version(2))));
        assert!(Tokens::parse(br#"{"version":1,"tokens":[{"id":"x"}]}"#).is_err());
    }

    #[test]
    fn purge_drops_dead_tokens_only_unless_all() {
        let mut tokens = Tokens::default();
        tokens.insert(token(1, 0)).unwrap();
        tokens.insert(token(3, 0)).unwrap();
        assert_eq!(tokens.revoke(&TokenId([3; 16])), Some(true));
        assert_eq!(tokens.revoke(&TokenId([3; 16])), Some(false));
        assert_eq!(tokens.revoke(&TokenId([9; 16])), None);
        assert_eq!(tokens.purge(500, false), 1);
        assert!(tokens.get(&TokenId([1; 16])).is_some());
        assert_eq!(tokens.purge(500, true), 1);
        assert!(tokens.snapshot().is_empty());
    }
}
