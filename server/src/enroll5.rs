//! `agentkeys enroll --token` and `--reenroll`: the Wazuh 5.x agent side of HTTPS enrollment.
//!
//! With a token: read it (text or file), fetch `/<prefix>/cacerts` without verifying the server,
//! keep only the certificate whose SPKI matches the token's pin (or take the token's embedded
//! CA), reconnect verifying the manager against it, `POST /<prefix>/enroll` with a bearer signed
//! with the token's key, then store, in this order, the re-enrollment secret, client.keys and the
//! trust anchor, and delete the token file. Re-enrollment signs the bearer with the agent's own
//! secret and verifies the manager with the stored anchor.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agentkeys::wazuh5::{
    EnrollError, EnrollErrorCode, EnrollReply, EnrollRequest, EnrollmentToken, KeyLabel, MAX_TOKEN_LEN, TokenHost,
    TrustAnchor, derive_key, sign_bearer, spki_pin,
};
use agentkeys::{AgentName, Line, key_hash, parse_keys};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls_pki_types::pem::PemObject as _;

use crate::atomic::replace_file;
use crate::enroll::EnrollArgs;
use crate::home::SECRET_MODE;

/// The agent version a 5.x agent sends by default.
const AGENT_VERSION: &str = "v5.0.0";

/// Where the manager's HTTPS endpoint is.
struct Endpoint {
    host: String,
    port: u16,
    prefix: String,
    connect: Vec<SocketAddr>,
}

impl Endpoint {
    fn url_path(&self, tail: &str) -> String {
        if self.prefix.is_empty() { tail.to_owned() } else { format!("/{}{tail}", self.prefix) }
    }
}

/// Runs `enroll --token` or `--reenroll`; the exit status.
pub fn run(args: &EnrollArgs) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agentkeys enroll: cannot start the runtime: {e}");
            return 1;
        }
    };
    let result = runtime.block_on(async { if args.reenroll { reenroll(args).await } else { with_token(args).await } });
    match result {
        Ok(message) => {
            println!("Valid key received");
            eprintln!("agentkeys enroll: {message}");
            0
        }
        Err(why) => {
            eprintln!("agentkeys enroll: {why}");
            1
        }
    }
}

/// Files beside client.keys, as a 5.x agent keeps them under `etc/`.
fn beside(keys: &Path, name: &str) -> PathBuf {
    keys.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).join(name)
}

fn secret_path(args: &EnrollArgs) -> PathBuf {
    args.reenroll_secret.clone().unwrap_or_else(|| beside(&args.keys, "reenroll.secret"))
}

fn anchor_path(args: &EnrollArgs) -> PathBuf {
    args.anchor.clone().unwrap_or_else(|| beside(&args.keys, "certs/root-ca.pem"))
}

async fn with_token(args: &EnrollArgs) -> Result<String, String> {
    let (text, token_file) = read_token(args)?;
    let mut buf = vec![0u8; MAX_TOKEN_LEN];
    let token =
        EnrollmentToken::decode(text.as_bytes(), &mut buf).map_err(|e| format!("not an enrollment token: {e}"))?;
    let host = match token.address.host {
        TokenHost::Name(n) => n.to_owned(),
        TokenHost::V4(a) => a.to_string(),
        TokenHost::V6 { addr, .. } => addr.to_string(),
    };
    let endpoint = endpoint(args, host, token.address.port, token.address.prefix.to_owned())?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    // The trust anchor: the token's CA, or the certificate /cacerts serves whose SPKI is pinned.
    let anchors: Vec<CertificateDer<'static>> = match token.anchor {
        TrustAnchor::Ca(pem) => CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("the token's CA is not PEM: {e}"))?,
        TrustAnchor::Pin(pin) => vec![fetch_pinned_ca(&endpoint, &pin, timeout).await?],
    };
    let bearer_key = match (token.credential, crate::enroll::password(args)?) {
        (Some(c), _) => Some((derive_key(KeyLabel::Token, &c.secret), Some(c.id.to_text().to_string()))),
        (None, Some(p)) => Some((derive_key(KeyLabel::Password, p.as_bytes()), None)),
        (None, None) => None,
    };
    let name = agent_name(args, None)?;
    let body = enroll_body(args, &name)?;
    let bearer = bearer_key.map(|(key, kid)| sign(&key, kid.as_deref())).transpose()?;
    let (status, reply) = post(&endpoint, &anchors, "/enroll", bearer.as_deref(), body, timeout).await?;
    let outcome = store_reply(args, status, &reply)?;
    let pem: String = anchors.iter().map(pem_of).collect();
    let anchor = anchor_path(args);
    if let Some(dir) = anchor.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    }
    replace_file(&anchor, pem.as_bytes(), 0o644)?;
    if let Some(file) = token_file {
        std::fs::remove_file(&file)
            .map_err(|e| format!("{}: enrolled, but cannot delete the token: {e}", file.display()))?;
    }
    Ok(format!("{outcome}; trust anchor written to {}", anchor.display()))
}

async fn reenroll(args: &EnrollArgs) -> Result<String, String> {
    let path = secret_path(args);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let (id, secret) = text
        .trim()
        .split_once(' ')
        .and_then(|(id, s)| {
            Some((agentkeys::AgentId::parse(id.as_bytes()).ok()?, crate::registry::parse_secret_hex(s)?))
        })
        .ok_or_else(|| format!("{}: expected \"<agent ID> <64 hex characters>\"", path.display()))?;
    let anchor = anchor_path(args);
    let anchors = crate::certs::load_certs(&anchor)?;
    let port = args.https_port.unwrap_or(agentkeys::wazuh5::DEFAULT_ENROLL_PORT);
    let prefix = args.prefix.clone().unwrap_or_else(|| agentkeys::wazuh5::DEFAULT_ENROLL_PREFIX.to_owned());
    let endpoint = endpoint(args, args.manager.clone(), port, prefix)?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let name = agent_name(args, Some(&args.keys))?;
    let body = enroll_body(args, &name)?;
    let bearer = sign(&derive_key(KeyLabel::Reenroll, &secret), Some(id.as_str()))?;
    let (status, reply) = post(&endpoint, &anchors, "/enroll", Some(&bearer), body, timeout).await?;
    store_reply(args, status, &reply)
}

fn read_token(args: &EnrollArgs) -> Result<(String, Option<PathBuf>), String> {
    let Some(token) = &args.token else { return Err("--token is required".to_owned()) };
    let path = Path::new(token);
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        return Ok((text.trim().to_owned(), Some(path.to_owned())));
    }
    Ok((token.trim().to_owned(), None))
}

fn endpoint(args: &EnrollArgs, host: String, port: u16, prefix: String) -> Result<Endpoint, String> {
    let port = args.https_port.unwrap_or(port);
    let connect = match args.connect_to {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => (host.as_str(), port).to_socket_addrs().map_err(|e| format!("cannot resolve {host}: {e}"))?.collect(),
    };
    Ok(Endpoint { host, port, prefix, connect })
}

/// The agent name: `-A`, else the one in client.keys (re-enrollment), else the host name.
fn agent_name(args: &EnrollArgs, keys: Option<&Path>) -> Result<String, String> {
    if let Some(name) = &args.name {
        return Ok(name.clone());
    }
    if let Some(path) = keys
        && let Ok(data) = std::fs::read(path)
        && let Some(name) = parse_keys(&data).find_map(|l| match l.line {
            Line::Agent(r) => Some(r.name.as_str().to_owned()),
            _ => None,
        })
    {
        return Ok(name);
    }
    Ok(crate::enroll::default_name())
}

fn enroll_body(args: &EnrollArgs, name: &str) -> Result<Vec<u8>, String> {
    AgentName::new(name).map_err(|e| format!("invalid agent name {name:?}: {e}"))?;
    let version =
        if args.agent_version == agentkeys::Version::DEFAULT_MANAGER { AGENT_VERSION } else { &args.agent_version };
    let mut body = serde_json::json!({"name": name, "version": version});
    if let Some(g) = &args.groups {
        body["groups"] = g.as_str().into();
    }
    if args.use_source_ip {
        body["ip"] = "src".into();
    } else if let Some(ip) = &args.ip {
        body["ip"] = ip.as_str().into();
    }
    if let Ok(data) = std::fs::read(&args.keys)
        && let Some(hash) = parse_keys(&data).find_map(|l| match l.line {
            Line::Agent(r) => Some(key_hash(r.id.as_str(), r.name.as_str(), r.key.as_str()).to_string()),
            _ => None,
        })
    {
        body["key_hash"] = hash.into();
    }
    // Validate what we send with the manager's own parser.
    let bytes = body.to_string().into_bytes();
    EnrollRequest::parse(&bytes).map_err(|e| format!("invalid request: {e}"))?;
    Ok(bytes)
}

fn sign(key: &[u8; 32], kid: Option<&str>) -> Result<String, String> {
    let mut jti = [0u8; 16];
    getrandom::fill(&mut jti).map_err(|e| format!("no random bytes: {e}"))?;
    let mut out = [0u8; 512];
    let now = crate::localtime::now();
    sign_bearer(key, kid, now, &jti, &mut out).map(str::to_owned).map_err(|e| format!("cannot sign the bearer: {e}"))
}

fn pem_of(cert: &CertificateDer<'_>) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// `GET /cacerts` without verifying the server; the one certificate whose SPKI hash is `pin`.
async fn fetch_pinned_ca(
    endpoint: &Endpoint,
    pin: &[u8; 32],
    timeout: Duration,
) -> Result<CertificateDer<'static>, String> {
    let request = hyper::Request::get(endpoint.url_path("/cacerts"))
        .header(hyper::header::HOST, endpoint.host.as_str())
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let (status, body) = exchange(endpoint, None, request, timeout).await?;
    if status != 200 {
        return Err(format!("GET /cacerts: HTTP {status}: {}", String::from_utf8_lossy(&body)));
    }
    CertificateDer::pem_slice_iter(&body)
        .filter_map(Result::ok)
        .find(|c| crate::certs::spki_der(c).is_ok_and(|spki| &spki_pin(&spki) == pin))
        .ok_or_else(|| {
            "no certificate served at /cacerts matches the token's pin: refusing to trust this server".to_owned()
        })
}

/// `POST <path>` verified against `anchors`; the status and body.
async fn post(
    endpoint: &Endpoint,
    anchors: &[CertificateDer<'static>],
    path: &str,
    bearer: Option<&str>,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(u16, Bytes), String> {
    let mut request = hyper::Request::post(endpoint.url_path(path))
        .header(hyper::header::HOST, endpoint.host.as_str())
        .header("protocol-version", "1")
        .header(hyper::header::CONTENT_TYPE, "application/json");
    if let Some(b) = bearer {
        request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {b}"));
    }
    let request = request.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
    exchange(endpoint, Some(anchors), request, timeout).await
}

/// One request on its own TLS 1.3 connection; `anchors` None: the server is not verified.
async fn exchange(
    endpoint: &Endpoint,
    anchors: Option<&[CertificateDer<'static>]>,
    request: hyper::Request<Full<Bytes>>,
    timeout: Duration,
) -> Result<(u16, Bytes), String> {
    let check =
        crate::tls::ManagerCheck { ca: anchors.map(<[_]>::to_vec), pin: None, expected_name: endpoint.host.clone() };
    let suites = crate::tls::base_provider().cipher_suites;
    let config = crate::tls::client_config(check, None, suites)?;
    let server_name = match endpoint.host.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(endpoint.host.clone()).map_err(|e| format!("invalid manager name: {e}"))?,
    };
    let work = async {
        let mut last = format!("cannot resolve {}", endpoint.host);
        let mut tcp = None;
        for addr in &endpoint.connect {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = format!("cannot connect to {addr}: {e}"),
            }
        }
        let tcp = tcp.ok_or(last)?;
        let tls = tokio_rustls::TlsConnector::from(Arc::clone(&config))
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with the manager failed: {e}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|e| format!("HTTP: {e}"))?;
        tokio::spawn(connection);
        let response = sender.send_request(request).await.map_err(|e| format!("HTTP: {e}"))?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.map_err(|e| format!("HTTP: {e}"))?.to_bytes();
        Ok::<_, String>((status, body))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("no answer from the manager within {} s (port {})", timeout.as_secs(), endpoint.port))?
}

/// Stores a 200 answer (the re-enrollment secret first, then client.keys) or words an error.
fn store_reply(args: &EnrollArgs, status: u16, body: &[u8]) -> Result<String, String> {
    if status != 200 {
        let detail = match EnrollError::parse(body) {
            Ok(e) => {
                let code = match e.code {
                    EnrollErrorCode::Class(c) => c.to_owned(),
                    EnrollErrorCode::Number(n) => n.to_string(),
                };
                format!("{} (code {code})", e.message.as_plain().unwrap_or_default())
            }
            Err(_) => String::from_utf8_lossy(body).into_owned(),
        };
        return Err(format!("the manager refused: HTTP {status}: {detail}"));
    }
    let reply = EnrollReply::parse(body).map_err(|e| format!("invalid answer from the manager: {e}"))?;
    let record = reply.record;
    if let Some(secret) = reply.reenroll_secret {
        let line = format!("{} {}\n", record.id, crate::registry::secret_hex(&secret));
        replace_file(&secret_path(args), line.as_bytes(), SECRET_MODE)?;
    }
    let mut keys = record.to_string();
    keys.push('\n');
    replace_file(&args.keys, keys.as_bytes(), SECRET_MODE)?;
    Ok(format!(
        "registered as agent '{}' ({}); key written to {}",
        record.id,
        record.name.as_str(),
        args.keys.display()
    ))
}
