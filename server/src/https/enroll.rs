//! The answers of the HTTPS enrollment listener, in Wazuh 5.0's check order for `POST /enroll`:
//! enrollment enabled (403) → `protocol-version` (400) → size (413) → the bearer, classified by its
//! `kid` and verified (401) → `Content-Encoding: zstd` (415, 400) → the body (400) → the version
//! policy (400) → the registry (the admin socket's codes, mapped to 400/401/403/409/500/503).

use std::io::Read as _;
use std::net::{IpAddr, SocketAddr};

use agentkeys::wazuh5::{
    BearerKind, EnrollErrorCode, EnrollIp, EnrollRequest, KeyLabel, MAX_BEARER_LEN, MAX_ENROLL_BODY, VerifyPolicy,
    derive_key, encode_enroll_error, enroll_error_len, enroll_error_message, peek_bearer, verify_bearer,
};
use agentkeys::{AgentAddr, ErrorKind};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tracing::{info, warn};

use crate::admin::{Code, refusal_code};
use crate::home::Home;
use crate::registry::owner::{Handle, Registered, SecretRefusal};
use crate::registry::window::Arriving;
use crate::registry::{NewAgent, Reenroll, secret_hex};
use crate::tokens::Presented;

/// What `/cacerts` answers, decided at start.
#[derive(Debug, Clone)]
pub enum CaAnswer {
    /// The PEM of the CA that signs the listener certificate.
    Pem(Bytes),
    /// No CA file: 404 `{"error":"not_found"}`.
    NotFound,
    /// The CA does not sign the listener certificate: 503 `{"error":"ca_mismatch"}`.
    Mismatch,
}

/// Everything an answer depends on.
pub struct Enrollment {
    /// The registry owner.
    pub registry: Handle,
    /// The home (groups).
    pub home: Home,
    /// `/<prefix>` (empty prefix: ``).
    pub base: String,
    /// `auth.remote_enrollment`: off answers 403.
    pub enabled: bool,
    /// The password (`use_password`): password bearers are checked with its key, and a bearer is
    /// demanded.
    pub password: Option<Vec<u8>>,
    /// The manager version, unless `allow_higher_versions`.
    pub manager_version: Option<agentkeys::Version>,
    /// `use_source_ip`.
    pub use_source_ip: bool,
    /// Transport cap on the request body.
    pub max_body: usize,
    /// What `/cacerts` answers.
    pub cacerts: CaAnswer,
}

type Reply = Response<Full<Bytes>>;

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn json(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    respond(status, "application/json", body)
}

/// `{"error":{"code":…,"message":"…"}}`.
fn error(status: StatusCode, code: EnrollErrorCode<'_>, message: &str) -> Reply {
    let mut out = vec![0u8; enroll_error_len(code, message)];
    let body = encode_enroll_error(code, message, &mut out).map(str::to_owned).unwrap_or_default();
    json(status, body)
}

fn bad_request(message: &str) -> Reply {
    error(StatusCode::BAD_REQUEST, EnrollErrorCode::Number(0), message)
}

/// A 401 for a refused bearer, with its class and `WWW-Authenticate` header.
fn unauthorized(kind: ErrorKind) -> Reply {
    let class = kind.bearer_class().unwrap_or("invalid_request");
    let mut reply = error(StatusCode::UNAUTHORIZED, EnrollErrorCode::Class(class), "Invalid client authentication");
    let challenge = match class {
        "invalid_request" => "Bearer error=\"invalid_request\"".to_owned(),
        "enrollment_key_unavailable" => "Bearer".to_owned(),
        _ => format!("Bearer error=\"invalid_token\", error_description=\"{class}\""),
    };
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        reply.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    reply
}

/// The answer for a registry code.
fn authd_error(code: Code) -> Reply {
    match code {
        Code::UnknownAgent => unauthorized(ErrorKind::UnknownAgent),
        Code::BadSignature => unauthorized(ErrorKind::BadSignature),
        Code::StaleToken => unauthorized(ErrorKind::StaleBearer),
        Code::NoSecret => unauthorized(ErrorKind::EnrollmentKeyUnavailable),
        _ => {
            let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error(status, EnrollErrorCode::Number(i64::from(code as u32)), code.message())
        }
    }
}

fn not_found() -> Reply {
    json(StatusCode::NOT_FOUND, r#"{"error":"not_found"}"#)
}

/// How the request authenticated (after its bearer was checked).
enum Credential {
    /// Open mode, or a password bearer that verified.
    Plain,
    /// An enrollment token bearer (its use is reserved by the registry).
    Token(Vec<u8>),
    /// A re-enrollment bearer for this agent.
    Reenroll(agentkeys::AgentId, Vec<u8>),
}

impl Enrollment {
    /// Answers one request; `arriving` is told when a registration is handed to the registry.
    pub async fn answer(&self, request: Request<Incoming>, peer: SocketAddr, arriving: &Arriving) -> Reply {
        let path = request.uri().path().to_owned();
        let Some(rest) = path.strip_prefix(&self.base) else {
            return not_found();
        };
        match (request.method(), rest) {
            (&Method::POST, "/enroll") => self.enroll(request, peer.ip(), false, arriving).await,
            (&Method::POST, "/enroll/secret") => self.enroll(request, peer.ip(), true, arriving).await,
            (&Method::GET, "/cacerts") => self.cacerts(),
            (_, "/enroll" | "/enroll/secret" | "/cacerts") => {
                let mut reply = error(StatusCode::METHOD_NOT_ALLOWED, EnrollErrorCode::Number(0), "Method not allowed");
                let allow = if rest == "/cacerts" { "GET" } else { "POST" };
                reply.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
                reply
            }
            _ => not_found(),
        }
    }

    fn cacerts(&self) -> Reply {
        match &self.cacerts {
            CaAnswer::Pem(pem) => respond(StatusCode::OK, "application/x-pem-file", pem.clone()),
            CaAnswer::NotFound => not_found(),
            CaAnswer::Mismatch => json(StatusCode::SERVICE_UNAVAILABLE, r#"{"error":"ca_mismatch"}"#),
        }
    }

    async fn enroll(
        &self,
        request: Request<Incoming>,
        source: IpAddr,
        secret_only: bool,
        arriving: &Arriving,
    ) -> Reply {
        let source = AgentAddr::from_ip(source).ip().unwrap_or(source);
        if !self.enabled {
            return error(StatusCode::FORBIDDEN, EnrollErrorCode::Number(0), "Enrollment is disabled on this manager");
        }
        let headers = request.headers();
        match headers.get("protocol-version").map(HeaderValue::as_bytes) {
            None => return bad_request("Missing required header: protocol-version"),
            Some(b"1") => {}
            Some(_) => return bad_request("Unsupported protocol-version"),
        }
        let declared =
            headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body as u64) {
            return too_large();
        }
        let authorization = headers.get(header::AUTHORIZATION).cloned();
        let encoding = headers.get(header::CONTENT_ENCODING).cloned();
        let body = match Limited::new(request.into_body(), self.max_body).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
            Err(_) => return bad_request("Missing or invalid request body"),
        };

        if secret_only {
            return self.issue_secret(authorization.as_ref()).await;
        }
        let credential = match self.check_bearer(authorization.as_ref()).await {
            Ok(c) => c,
            Err(kind) => {
                crate::metrics::COUNTERS.registration(crate::metrics::Protocol::Https, Err(kind));
                info!(source = %source, method = "https", "registration refused: bearer {}", kind.bearer_class().unwrap_or("invalid_request"));
                return unauthorized(kind);
            }
        };

        let body = match encoding.as_ref().map(HeaderValue::as_bytes) {
            None => body,
            Some(e) if e.eq_ignore_ascii_case(b"zstd") => match decompress(&body) {
                Ok(decoded) => decoded,
                Err(Decompress::TooLarge) => return too_large(),
                Err(Decompress::Malformed) => return bad_request("Malformed compressed body"),
            },
            Some(_) => {
                return error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    EnrollErrorCode::Number(0),
                    "Unsupported Content-Encoding",
                );
            }
        };
        if body.len() > MAX_ENROLL_BODY {
            return too_large();
        }
        let parsed = match EnrollRequest::parse(&body) {
            Ok(r) => r,
            Err(e) => return bad_request(enroll_error_message(&e)),
        };
        if let Some(manager) = self.manager_version
            && !parsed.version_allowed(manager)
        {
            return bad_request("Agent version is newer than this manager allows");
        }
        self.register(&parsed, credential, source, arriving).await
    }

    /// Classifies the bearer by its `kid` and verifies it.
    async fn check_bearer(&self, authorization: Option<&HeaderValue>) -> Result<Credential, ErrorKind> {
        let Some(value) = authorization else {
            return if self.password.is_some() { Err(ErrorKind::InvalidBearer) } else { Ok(Credential::Plain) };
        };
        let bearer = value
            .as_bytes()
            .strip_prefix(b"Bearer ")
            .filter(|b| !b.is_empty() && b.len() <= MAX_BEARER_LEN)
            .ok_or(ErrorKind::InvalidBearer)?;
        let kind = peek_bearer(bearer).map_err(|e| e.kind())?;
        let now = crate::clock::bearer_now();
        match kind {
            BearerKind::Password => {
                let Some(password) = &self.password else {
                    return Err(ErrorKind::EnrollmentKeyUnavailable);
                };
                let key = derive_key(KeyLabel::Password, password);
                verify_bearer(bearer, |_| Ok(key), &VerifyPolicy::at(now)).map_err(|e| e.kind())?;
                Ok(Credential::Plain)
            }
            BearerKind::Token(_) | BearerKind::Reenroll(_) => {
                self.registry.check_bearer(bearer.to_vec()).await?;
                Ok(match kind {
                    BearerKind::Reenroll(id) => Credential::Reenroll(id, bearer.to_vec()),
                    _ => Credential::Token(bearer.to_vec()),
                })
            }
        }
    }

    async fn register(
        &self,
        req: &EnrollRequest<'_>,
        credential: Credential,
        source: IpAddr,
        arriving: &Arriving,
    ) -> Reply {
        let started = std::time::Instant::now();
        let reply = self.register_timed(req, credential, source, started, arriving).await;
        crate::metrics::COUNTERS.registration_latency(crate::metrics::Protocol::Https, started.elapsed());
        reply
    }

    async fn register_timed(
        &self,
        req: &EnrollRequest<'_>,
        credential: Credential,
        source: IpAddr,
        started: std::time::Instant,
        arriving: &Arriving,
    ) -> Reply {
        let name = req.name();
        let addr = match req.ip {
            _ if self.use_source_ip => AgentAddr::from_ip(source),
            Some(EnrollIp::Source) => AgentAddr::from_ip(source),
            Some(EnrollIp::Addr(addr)) => addr,
            None => AgentAddr::ANY,
        };
        let groups = match req.groups.map(|g| self.home.check_groups(g)).transpose() {
            Ok(g) => g,
            Err(e) => {
                info!(agent = name, source = %source, method = "https", "registration: {e}");
                return authd_error(Code::Groups);
            }
        };
        let mut new = NewAgent {
            groups,
            key_hash: req.key_hash().map(|h| h.as_bytes().to_vec()),
            source: Some(source),
            issue_secret: true,
            ..NewAgent::new(name.to_owned(), addr)
        };
        let method = match credential {
            Credential::Plain => "https",
            Credential::Token(bearer) => {
                new.token = Some(Presented::Bearer(bearer));
                "https token"
            }
            Credential::Reenroll(id, bearer) => {
                new.reenroll = Some(Reenroll { id, bearer });
                "https re-enrollment"
            }
        };
        arriving.arrived();
        match self.registry.register(new).await {
            Ok(agent) => {
                crate::metrics::COUNTERS.registration(crate::metrics::Protocol::Https, Ok(()));
                info!(
                    agent = name,
                    source = %source,
                    method,
                    latency_ms = started.elapsed().as_millis() as u64,
                    "registration: registered as agent '{}' with address {}",
                    agent.id(),
                    agent.addr()
                );
                json(StatusCode::OK, reply_body(&agent))
            }
            Err(refusal) => {
                crate::metrics::COUNTERS.registration(crate::metrics::Protocol::Https, Err(refusal.kind));
                let code = refusal_code(&refusal);
                warn!(
                    agent = name,
                    source = %source,
                    method,
                    latency_ms = started.elapsed().as_millis() as u64,
                    "registration refused: {} ({})",
                    code.message(),
                    refusal.kind
                );
                authd_error(code)
            }
        }
    }

    /// `POST /enroll/secret`: the bearer is the agent's own (`kid` = its ID), signed with the key
    /// derived from its client.keys key, since it has no re-enrollment secret yet.
    async fn issue_secret(&self, authorization: Option<&HeaderValue>) -> Reply {
        let Some(bearer) = authorization.and_then(|v| v.as_bytes().strip_prefix(b"Bearer ")) else {
            return unauthorized(ErrorKind::InvalidBearer);
        };
        let id = match peek_bearer(bearer) {
            Ok(BearerKind::Reenroll(id)) => id,
            Ok(_) => return unauthorized(ErrorKind::InvalidBearer),
            Err(e) => return unauthorized(e.kind()),
        };
        match self.registry.issue_secret(id, bearer.to_vec()).await {
            Ok(secret) => json(
                StatusCode::OK,
                format!(r#"{{"id":"{}","reenroll_secret":"{}"}}"#, id.as_str(), secret_hex(&secret)),
            ),
            Err(SecretRefusal::Bearer(kind)) => unauthorized(kind),
            Err(SecretRefusal::AlreadyIssued) => authd_error(Code::SecretExists),
            Err(SecretRefusal::Store) => authd_error(Code::Internal),
        }
    }
}

fn too_large() -> Reply {
    error(StatusCode::PAYLOAD_TOO_LARGE, EnrollErrorCode::Number(0), "Request body too large")
}

/// The 200 body: the record, and the re-enrollment secret when the agent has one (core's
/// `EnrollReply`, the format 5.x agents parse).
fn reply_body(agent: &Registered) -> String {
    let reply = agentkeys::wazuh5::EnrollReply { record: agent.as_record(), reenroll_secret: agent.reenroll };
    let mut out = vec![0u8; reply.encoded_len()];
    reply.encode_into(&mut out).map(str::to_owned).unwrap_or_default()
}

enum Decompress {
    TooLarge,
    Malformed,
}

/// Decodes a zstd body, reading at most one byte more than [`MAX_ENROLL_BODY`] of output (a
/// decompression bomb costs no more than that).
fn decompress(body: &[u8]) -> Result<Bytes, Decompress> {
    let decoder = ruzstd::decoding::StreamingDecoder::new(body).map_err(|_| Decompress::Malformed)?;
    let mut out = Vec::with_capacity(1024);
    decoder.take(MAX_ENROLL_BODY as u64 + 1).read_to_end(&mut out).map_err(|_| Decompress::Malformed)?;
    if out.len() > MAX_ENROLL_BODY {
        return Err(Decompress::TooLarge);
    }
    Ok(Bytes::from(out))
}
