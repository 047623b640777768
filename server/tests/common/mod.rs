//! Test harness: a real `agentkeys serve` process on a free loopback port, a raw TLS client, the
//! enrollment client, and a fake wazuh-db.

#![allow(dead_code, reason = "each test file uses part of the harness")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

pub const BIN: &str = env!("CARGO_BIN_EXE_agentkeys");

/// A fresh, empty directory under the system temp dir.
pub fn temp_home(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "agentkeys-it-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `etc/agentkeys.toml` in `home`.
pub fn write_config(home: &Path, toml: &str) {
    std::fs::create_dir_all(home.join("etc")).unwrap();
    std::fs::write(home.join("etc/agentkeys.toml"), toml).unwrap();
}

/// A running server; stopped (SIGTERM, then wait) when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub home: PathBuf,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `agentkeys serve --home <home> --port 0 --bind 127.0.0.1 <extra>` and waits for it to
    /// listen. Panics with the server's output if it does not.
    pub fn start(home: &Path, extra: &[&str]) -> Server {
        Self::try_start(home, extra).unwrap_or_else(|log| panic!("server did not start:\n{log}"))
    }

    /// Like `start`, but returns the output if the server exits instead.
    pub fn try_start(home: &Path, extra: &[&str]) -> Result<Server, String> {
        Self::try_start_env(home, extra, &[])
    }

    /// Like `start`, with extra environment variables.
    pub fn start_env(home: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Self::try_start_env(home, extra, env).unwrap_or_else(|log| panic!("server did not start:\n{log}"))
    }

    /// Like `try_start`, with extra environment variables.
    pub fn try_start_env(home: &Path, extra: &[&str], env: &[(&str, &str)]) -> Result<Server, String> {
        let bind: &[&str] = if extra.contains(&"--bind") { &[] } else { &["--bind", "127.0.0.1"] };
        let https: &[&str] = if extra.contains(&"--https-port") { &[] } else { &["--https-port", "0"] };
        let mut child = Command::new(BIN)
            .args(["serve", "--home"])
            .arg(home)
            .args(["--port", "0"])
            .args(bind)
            .args(https)
            .args(extra)
            .env("AGENTKEYS_LOG", "trace")
            .envs(env.iter().copied())
            .env_remove("AGENTKEYS_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn agentkeys serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(addr) = line.split("agentkeys: listening on ").nth(1) {
                    let port = addr.trim().parse::<std::net::SocketAddr>().ok().map(|a| a.port());
                    let _ = tx.send(port);
                    sent = true;
                }
                // Port 1515 off (`remote_enrollment = false`): started once that is said.
                if !sent && line.contains("was set as disabled") {
                    let _ = tx.send(Some(0));
                    sent = true;
                }
                sink.lock().unwrap().push(line);
            }
            let _ = tx.send(None);
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(port)) => Ok(Server { child, port, home: home.to_owned(), log }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                Err(log.lock().unwrap().join("\n"))
            }
        }
    }

    /// The HTTPS enrollment listener's port (from the start-up log).
    pub fn https_port(&self) -> u16 {
        let log = self.log_text();
        let line = log.split("HTTPS enrollment on ").nth(1).expect("the HTTPS listener is on");
        let addr = line.split(' ').next().unwrap();
        addr.parse::<std::net::SocketAddr>().unwrap().port()
    }

    /// Sends one raw request over TLS and returns every byte of the reply.
    pub fn request(&self, request: &[u8]) -> Vec<u8> {
        tls_exchange(self.port, request)
    }

    /// Runs `agentkeys enroll -m 127.0.0.1 -p <port> <args>`.
    pub fn enroll(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(["enroll", "-m", "127.0.0.1", "-p", &self.port.to_string(), "--timeout", "20"])
            .args(args)
            .output()
            .expect("run agentkeys enroll")
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The whole HTTP answer of `GET /metrics` (the server must run with `--metrics-bind`).
    pub fn scrape_metrics(&self) -> String {
        let log = self.log_text();
        let addr = log.split("metrics on http://").nth(1).expect("metrics on").split('/').next().unwrap().to_owned();
        let mut tcp = TcpStream::connect(&addr).unwrap();
        tcp.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        tcp.read_to_string(&mut text).unwrap();
        text
    }

    /// Whether the log has a line containing `needle` (waits up to 2 s for it).
    pub fn logged(&self, needle: &str) -> bool {
        for _ in 0..40 {
            if self.log.lock().unwrap().iter().any(|l| l.contains(needle)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// client.keys now.
    pub fn keys(&self) -> String {
        std::fs::read_to_string(self.home.join("etc/client.keys")).unwrap_or_default()
    }

    /// Stops the server with SIGTERM and waits for it; returns its exit success.
    pub fn stop(mut self) -> bool {
        self.terminate()
    }

    fn terminate(&mut self) -> bool {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let mut clean = false;
        let mut exited = false;
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                clean = status.success();
                exited = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        std::thread::sleep(Duration::from_millis(50));
        self.assert_no_secret_logged();
        clean
    }

    /// Every secret the home holds — agent keys, the password, token secrets and credentials,
    /// re-enrollment secrets — must be absent from every line this server logged (at trace level).
    pub fn assert_no_secret_logged(&self) {
        let secrets = home_secrets(&self.home);
        let log = self.log.lock().unwrap();
        if secrets.len() <= 100 {
            for line in log.iter() {
                for secret in &secrets {
                    assert!(!line.contains(secret.as_str()), "a secret reached the log: {line}");
                }
            }
            return;
        }
        // Many agents: look the line's words up instead (secrets are words of [A-Za-z0-9_-]).
        let set: std::collections::HashSet<&str> = secrets.iter().map(String::as_str).collect();
        for line in log.iter() {
            for word in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')) {
                assert!(!set.contains(word), "a secret reached the log: {line}");
            }
        }
    }
}

/// The secrets stored in a home (16 characters or more, so that test placeholders do not count).
pub fn home_secrets(home: &Path) -> Vec<String> {
    let mut secrets = Vec::new();
    let read = |name: &str| std::fs::read_to_string(home.join(name)).unwrap_or_default();
    for line in read("etc/client.keys").lines() {
        if let Some(key) = line.split(' ').nth(3) {
            secrets.push(key.to_owned());
        }
    }
    secrets.push(read("etc/authd.pass").trim().to_owned());
    for line in read("etc/agentkeys.state").lines() {
        if let Some(rest) = line.strip_prefix("reenroll ") {
            secrets.extend(rest.split(' ').nth(1).map(str::to_owned));
        }
    }
    if let Ok(tokens) = serde_json::from_str::<serde_json::Value>(&read("etc/enrollment_tokens.json")) {
        for t in tokens["tokens"].as_array().cloned().unwrap_or_default() {
            let (id, secret) = (t["id"].as_str().unwrap_or(""), t["secret"].as_str().unwrap_or(""));
            secrets.push(secret.to_owned());
            if let (Ok(id), Ok(secret)) =
                (agentkeys::wazuh5::TokenId::parse(id.as_bytes()), agentkeys::wazuh5::TokenId::parse(secret.as_bytes()))
            {
                let credential = agentkeys::wazuh5::TokenCredential { id, secret: secret.0 };
                secrets.push(credential.to_text().to_string());
            }
        }
    }
    secrets.retain(|s| s.len() >= 16);
    secrets
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

/// Runs `agentkeys serve` to completion (for start-up failures and `--check`).
pub fn serve_once(home: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["serve", "--home"])
        .arg(home)
        .args(["--port", "0", "--bind", "127.0.0.1"])
        .args(extra)
        .env_remove("AGENTKEYS_CONFIG")
        .output()
        .expect("run agentkeys serve")
}

/// One TLS exchange with a raw request.
pub fn tls_exchange(port: u16, request: &[u8]) -> Vec<u8> {
    exchange(port, request, false)
}

/// A TLS exchange that ends its sending side (close_notify) after the request.
pub fn tls_exchange_then_close(port: u16, request: &[u8]) -> Vec<u8> {
    exchange(port, request, true)
}

fn exchange(port: u16, request: &[u8], close_after: bool) -> Vec<u8> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let conn = rustls::ClientConnection::new(client_config(), ServerName::try_from("localhost").unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(request).expect("send");
    if close_after {
        tls.conn.send_close_notify();
        tls.flush().expect("send close_notify");
    }
    let mut reply = Vec::new();
    match tls.read_to_end(&mut reply) {
        Ok(_) => {}
        Err(e) if !reply.is_empty() => eprintln!("read after reply: {e}"),
        Err(e) => panic!("no reply: {e}"),
    }
    reply
}

pub fn client_config() -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify))
            .with_no_client_auth(),
    )
}

#[derive(Debug)]
struct NoVerify;

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider().signature_verification_algorithms.supported_schemes()
    }
}

/// A fake wazuh-db on `<home>/queue/db/wdb` answering `global get-agent-info <id>` from `answer`.
pub fn fake_wazuh_db(home: &Path, answer: impl Fn(u32) -> String + Send + 'static) {
    let path = home.join("queue/db/wdb");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut len = [0u8; 4];
            if stream.read_exact(&mut len).is_err() {
                continue;
            }
            let mut query = vec![0u8; u32::from_le_bytes(len) as usize];
            if stream.read_exact(&mut query).is_err() {
                continue;
            }
            let query = String::from_utf8_lossy(&query).into_owned();
            let id = query.strip_prefix("global get-agent-info ").and_then(|s| s.parse().ok()).unwrap_or(0);
            let reply = answer(id);
            let _ = stream.write_all(&u32::try_from(reply.len()).unwrap().to_le_bytes());
            let _ = stream.write_all(reply.as_bytes());
        }
    });
}

/// `ok [{…}]` as wazuh-db answers for one agent.
pub fn wdb_agent(id: u32, status: &str, disconnection_time: i64, date_add: i64) -> String {
    format!(
        r#"ok [{{"id":{id},"name":"x","ip":"any","register_ip":"any","date_add":{date_add},"connection_status":"{status}","disconnection_time":{disconnection_time}}}]"#
    )
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The record inside an `OSSEC K:'…'` reply.
pub fn record_of(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply);
    let inner = text.strip_prefix("OSSEC K:'").unwrap_or_else(|| panic!("not a key reply: {text:?}"));
    inner.strip_suffix('\'').unwrap_or_else(|| panic!("unterminated: {text:?}")).to_owned()
}

/// An HTTP answer read off the wire.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Sends raw bytes over TLS to the HTTPS listener and reads the answer (the server closes after
/// one request).
pub fn https_raw(port: u16, request: &[u8]) -> HttpReply {
    let raw = tls_exchange(port, request);
    parse_http(&raw)
}

/// `method path` with `headers` and `body`, HTTP/1.1.
pub fn https(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpReply {
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    https_raw(port, &bytes)
}

/// `POST /wazuh-manager/enroll` with `protocol-version: 1`, an optional bearer and `body`.
pub fn post_enroll(port: u16, bearer: Option<&str>, body: &str) -> HttpReply {
    let auth = bearer.map(|b| format!("Bearer {b}"));
    let mut headers = vec![("protocol-version", "1"), ("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    https(port, "POST", "/wazuh-manager/enroll", &headers, body.as_bytes())
}

fn parse_http(raw: &[u8]) -> HttpReply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    HttpReply { status, headers, body: raw[split + 4..].to_vec() }
}

/// A bearer signed now with `key`.
pub fn bearer(key: &[u8; 32], kid: Option<&str>) -> String {
    bearer_at(key, kid, now())
}

/// A bearer signed at `iat` with `key`.
pub fn bearer_at(key: &[u8; 32], kid: Option<&str>, iat: i64) -> String {
    let mut jti = [0u8; 16];
    jti[..8].copy_from_slice(&iat.to_le_bytes());
    static N: AtomicUsize = AtomicUsize::new(0);
    jti[8..16].copy_from_slice(&(N.fetch_add(1, Ordering::Relaxed) as u64).to_le_bytes());
    let mut out = [0u8; 512];
    agentkeys::wazuh5::sign_bearer(key, kid, iat, &jti, &mut out).unwrap().to_owned()
}

/// Runs `agentkeys tokens --home <home> <args>`; stdout (the token for `create`), panicking on
/// failure.
pub fn tokens(home: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN).arg("tokens").arg("--home").arg(home).args(args).output().unwrap();
    assert!(out.status.success(), "tokens {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// One framed admin-socket request to the server of `home`; the reply as text.
pub fn admin_ask(home: &Path, payload: &[u8]) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(home.join("queue/sockets/auth")).expect("admin socket");
    s.write_all(&u32::try_from(payload.len()).unwrap().to_le_bytes()).unwrap();
    s.write_all(payload).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut reply = vec![0u8; u32::from_le_bytes(len) as usize];
    s.read_exact(&mut reply).unwrap();
    String::from_utf8(reply).unwrap()
}

/// A TLS exchange with a client configuration of the test's own (client certificate, versions);
/// `Err` if the handshake or the exchange fails.
pub fn tls_exchange_with(port: u16, config: Arc<ClientConfig>, request: &[u8]) -> Result<Vec<u8>, String> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let conn = rustls::ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(request).map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    match tls.read_to_end(&mut reply) {
        Ok(_) => Ok(reply),
        Err(_) if !reply.is_empty() => Ok(reply),
        Err(e) => Err(e.to_string()),
    }
}

/// A client configuration that trusts any server, for `versions`, with an optional client
/// certificate (PEM files).
pub fn client_config_for(
    versions: &[&'static rustls::SupportedProtocolVersion],
    identity: Option<(&Path, &Path)>,
) -> Arc<ClientConfig> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify));
    Arc::new(match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let certs = CertificateDer::pem_file_iter(cert).unwrap().collect::<Result<Vec<_>, _>>().unwrap();
            builder.with_client_auth_cert(certs, PrivateKeyDer::from_pem_file(key).unwrap()).unwrap()
        }
    })
}

/// Runs SQL (simple protocol) against the PostgreSQL at `url`; every row's columns as text. `Err`
/// holds the database's message, or why it could not be reached.
pub fn sql(url: &str, query: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (client, connection) =
            tokio_postgres::connect(url, tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
        let driver = tokio::spawn(connection);
        let messages = client
            .simple_query(query)
            .await
            .map_err(|e| e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_owned()))?;
        drop(client);
        let _ = driver.await;
        Ok(messages
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => {
                    Some((0..row.len()).map(|i| row.get(i).map(str::to_owned)).collect())
                }
                _ => None,
            })
            .collect())
    })
}
