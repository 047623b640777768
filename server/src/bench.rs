//! `agentkeys bench register`: a load generator for port 1515, or with `--https` for the Wazuh 5.0
//! HTTPS endpoint. It registers `count` agents from `concurrency` concurrent clients, one
//! connection per registration as real agents do, and reports throughput, latency percentiles and,
//! given the server's PID, the server's CPU time per registration.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agentkeys::{AgentName, IpField, Reply, Request, parse_reply};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What to send.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Manager address.
    #[arg(short = 'm', long, default_value = "127.0.0.1")]
    manager: String,
    /// Manager port.
    #[arg(short = 'p', long, default_value_t = 1515)]
    port: u16,
    /// Registrations to perform.
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// Clients registering at once.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Agent names are `<prefix>-<n>`.
    #[arg(long, default_value = "bench")]
    prefix: String,
    /// Enrollment password, if the manager requires one (a password bearer with --https).
    #[arg(short = 'P', long)]
    password: Option<String>,
    /// Enroll as Wazuh 5.x agents do: `POST /wazuh-manager/enroll` over HTTPS (give `-p` the HTTPS
    /// port).
    #[arg(long)]
    https: bool,
    /// The server's process ID: report its CPU time (user + system) per registration.
    #[arg(long)]
    server_pid: Option<u32>,
}

/// User and system CPU time of a process so far, from /proc (clock ticks → seconds).
fn cpu_seconds(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // /proc reports times in USER_HZ, which Linux fixes at 100 for user space on every
    // architecture.
    let ticks = 100.0;
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user / ticks, system / ticks))
}

/// Runs the load; returns the exit status (1 if any registration failed).
pub fn run(args: &BenchArgs) -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agentkeys bench: {e}");
            return 1;
        }
    };
    match runtime.block_on(load(args)) {
        Ok(report) => {
            println!("{report}");
            i32::from(!report.contains("failed: 0 "))
        }
        Err(e) => {
            eprintln!("agentkeys bench: {e}");
            1
        }
    }
}

async fn load(args: &BenchArgs) -> Result<String, String> {
    let suites = crate::ciphers::select(crate::config::DEFAULT_CIPHERS, "ciphers").map_err(|e| e.to_string())?;
    let config = crate::tls::client_config(
        crate::tls::ManagerCheck { expected_name: args.manager.clone(), ..Default::default() },
        None,
        suites,
    )?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let server_name = ServerName::try_from(args.manager.clone()).map_err(|e| format!("{}: {e}", args.manager))?;
    let address = format!("{}:{}", args.manager, args.port);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = args.server_pid.and_then(cpu_seconds);
    let started = Instant::now();
    let https = args.https;
    let tasks: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| {
            let (connector, server_name, address, next) =
                (connector.clone(), server_name.clone(), address.clone(), Arc::clone(&next));
            let (count, prefix, password) = (args.count, args.prefix.clone(), args.password.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0usize;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let name = format!("{prefix}-{i}");
                    if https {
                        let t = Instant::now();
                        let one = one_https(&connector, server_name.clone(), &address, &name, password.as_deref());
                        match tokio::time::timeout(Duration::from_secs(30), one).await {
                            Ok(true) => latencies.push(t.elapsed()),
                            _ => failures += 1,
                        }
                        continue;
                    }
                    // The request as a 4.14 agent builds it, and its reply read as the agent reads it.
                    let Ok(request) = AgentName::new(&name).and_then(|name| {
                        Request {
                            password: password.as_deref().map(str::as_bytes),
                            name,
                            version: Some(b"v4.14.7"),
                            groups: None,
                            ip: IpField::Absent,
                            key_hash: None,
                        }
                        .to_vec()
                    }) else {
                        failures += 1;
                        continue;
                    };
                    let t = Instant::now();
                    let reply = async {
                        let tcp = TcpStream::connect(&address).await?;
                        tcp.set_nodelay(true)?;
                        let mut tls = connector.connect(server_name.clone(), tcp).await?;
                        tls.write_all(&request).await?;
                        let mut reply = Vec::new();
                        let _ = tls.read_to_end(&mut reply).await;
                        Ok::<_, std::io::Error>(reply)
                    };
                    match tokio::time::timeout(Duration::from_secs(30), reply).await {
                        Ok(Ok(r)) if matches!(parse_reply(&r), Ok(Reply::Key { .. })) => latencies.push(t.elapsed()),
                        _ => failures += 1,
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(args.count);
    let mut failures = 0;
    for task in tasks {
        let (l, f) = task.await.map_err(|e| e.to_string())?;
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed();
    let cpu = match (args.server_pid, cpu_before, args.server_pid.and_then(cpu_seconds)) {
        (Some(_), Some((u0, s0)), Some((u1, s1))) if !latencies.is_empty() => {
            let per = |secs: f64| secs * 1e6 / latencies.len() as f64;
            format!(
                "; server CPU per registration: {:.0} µs (user {:.0} µs, system {:.0} µs)",
                per((u1 - u0) + (s1 - s0)),
                per(u1 - u0),
                per(s1 - s0)
            )
        }
        (Some(pid), _, _) => format!("; server CPU: /proc/{pid}/stat unreadable"),
        _ => String::new(),
    };
    latencies.sort();
    let pct = |p: f64| -> f64 {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Ok(format!(
        "registrations{}: {} in {:.2} s = {:.0}/s with {} concurrent clients; failed: {failures} ; latency ms: p50 {:.1}, p90 {:.1}, p99 {:.1}, max {:.1}{cpu}",
        if args.https { " (HTTPS)" } else { "" },
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        args.concurrency,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    ))
}

/// One Wazuh 5.x enrollment: `POST /wazuh-manager/enroll` on its own TLS 1.3 connection (a
/// password bearer when `password` is given); whether it got a key.
async fn one_https(
    connector: &tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
    address: &str,
    name: &str,
    password: Option<&str>,
) -> bool {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    let body = format!(r#"{{"name":"{name}","version":"v5.0.0"}}"#);
    let mut request = hyper::Request::post("/wazuh-manager/enroll")
        .header(hyper::header::HOST, "manager")
        .header("protocol-version", "1")
        .header(hyper::header::CONTENT_TYPE, "application/json");
    if let Some(p) = password {
        let key = agentkeys::wazuh5::derive_key(agentkeys::wazuh5::KeyLabel::Password, p.as_bytes());
        let mut out = [0u8; 512];
        let now = crate::localtime::now();
        let jti: [u8; 16] = rand_jti(name);
        if let Ok(bearer) = agentkeys::wazuh5::sign_bearer(&key, None, now, &jti, &mut out) {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {bearer}"));
        }
    }
    let Ok(request) = request.body(Full::new(Bytes::from(body))) else { return false };
    let exchange = async {
        let tcp = TcpStream::connect(address).await.ok()?;
        tcp.set_nodelay(true).ok()?;
        let tls = connector.connect(server_name, tcp).await.ok()?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await.ok()?;
        tokio::spawn(connection);
        let response = sender.send_request(request).await.ok()?;
        let ok = response.status() == hyper::StatusCode::OK;
        let body = response.into_body().collect().await.ok()?.to_bytes();
        Some(ok && agentkeys::wazuh5::EnrollReply::parse(&body).is_ok())
    };
    exchange.await.unwrap_or(false)
}

/// A bearer ID unique per agent name (the load generator needs no randomness beyond that).
fn rand_jti(name: &str) -> [u8; 16] {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(name.as_bytes());
    let mut jti = [0u8; 16];
    jti.copy_from_slice(&digest[..16]);
    jti
}
