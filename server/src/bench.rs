//! `agentkeys bench register`: a load generator for port 1515, or with `--https` for the Wazuh 5.0
//! HTTPS endpoint. It registers `count` agents, one connection per registration as real agents do,
//! either from `concurrency` clients in a closed loop or, with `--rate`, in an open loop (each
//! registration started on schedule whatever the earlier ones are doing, as a fleet does), and
//! reports throughput, latency percentiles and, given the server's PID, the server's CPU time per
//! registration. With `--floor HOME` it first loads a bare TLS server (`bench floor`) the same way
//! and reports the server's CPU as a ratio of that floor.

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
    /// Open loop: start registrations at this many per second, each on its own connection,
    /// whatever the earlier ones are doing (a comma-separated list runs one load per rate and
    /// reports the saturation rate). Latency counts from each registration's scheduled start.
    #[arg(long, value_delimiter = ',', value_name = "PER_SECOND")]
    rate: Vec<f64>,
    /// Also measure the TLS floor: run `agentkeys bench floor` with this home's certificate (the
    /// server's home), load it exactly as the server, and report the server's CPU per
    /// registration as a ratio of the floor's (needs --server-pid).
    #[arg(long, value_name = "HOME")]
    floor: Option<std::path::PathBuf>,
    /// Offer only this key-exchange group (`X25519`, `secp256r1`, `secp384r1`, and
    /// `X25519MLKEM768` in an aws-lc-rs build), to compare what each costs the server.
    #[arg(long, value_name = "GROUP")]
    kx_group: Option<String>,
    /// With --floor: split the load into this many rounds, floor and server alternated (the floor
    /// first in even rounds, the server first in odd ones), so that a shared machine's drift
    /// weighs on both alike; the ratio of the totals is reported, with each round's.
    #[arg(long, default_value_t = 6, value_name = "N")]
    rounds: usize,
}

/// How registrations are started.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// `concurrency` clients, each starting its next registration when the last one ends.
    Closed(usize),
    /// Registrations started at a fixed rate per second.
    Open(f64),
}

/// What one load measured.
struct Outcome {
    latencies: Vec<Duration>,
    failures: usize,
    elapsed: Duration,
    /// Server CPU seconds spent during the load: (user, system) from /proc in clock ticks, and
    /// the total from the process's CPU-time clock (to the nanosecond).
    cpu: Option<(f64, f64, f64)>,
}

impl Outcome {
    /// Adds `other` (a later round of the same load) to this one.
    fn absorb(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        self.latencies.sort();
        self.failures += other.failures;
        self.elapsed += other.elapsed;
        self.cpu = match (self.cpu, other.cpu) {
            (Some((u0, s0, t0)), Some((u1, s1, t1))) => Some((u0 + u1, s0 + s1, t0 + t1)),
            _ => None,
        };
    }

    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        let n = self.latencies.len();
        self.latencies.get(((n as f64 * p) as usize).min(n.saturating_sub(1))).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }

    /// Server CPU per registration, µs: (total, user, system). The total is exact; /proc counts
    /// user and system time in 10 ms ticks, so their split is applied to it.
    fn cpu_per_registration(&self) -> Option<(f64, f64, f64)> {
        let (user, system, total) = self.cpu?;
        let n = self.latencies.len().max(1) as f64;
        let user_share = if user + system > 0.0 { user / (user + system) } else { 0.5 };
        let total = total * 1e6 / n;
        Some((total, total * user_share, total * (1.0 - user_share)))
    }

    fn cpu_text(&self) -> String {
        self.cpu_per_registration().map_or_else(String::new, |(total, user, system)| {
            format!("; server CPU per registration: {total:.0} µs (user {user:.0} µs, system {system:.0} µs)")
        })
    }
}

/// CPU time of a process so far, in seconds: (user, system, total). User and system come from
/// /proc in clock ticks; the total from the process's CPU-time clock, to the nanosecond.
fn cpu_seconds(pid: u32) -> Option<(f64, f64, f64)> {
    let (user, system) = cpu_ticks(pid)?;
    let clock = nix::time::clock_getcpuclockid(nix::unistd::Pid::from_raw(i32::try_from(pid).ok()?)).ok()?;
    let now = nix::time::clock_gettime(clock).ok()?;
    Some((user, system, now.tv_sec() as f64 + now.tv_nsec() as f64 * 1e-9))
}

/// User and system CPU time of a process so far, from /proc (clock ticks → seconds).
fn cpu_ticks(pid: u32) -> Option<(f64, f64)> {
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
    raise_open_files();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agentkeys bench: {e}");
            return 1;
        }
    };
    match runtime.block_on(all_loads(args)) {
        Ok(failed) => i32::from(failed),
        Err(e) => {
            eprintln!("agentkeys bench: {e}");
            1
        }
    }
}

/// An open loop holds a connection per registration in flight: allow as many as the system does.
fn raise_open_files() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// Every load the arguments ask for, printed as they end; whether any registration failed.
async fn all_loads(args: &BenchArgs) -> Result<bool, String> {
    if args.floor.is_some() && args.server_pid.is_none() {
        return Err("--floor compares CPU time: give the server's --server-pid too".to_owned());
    }
    let floor = match &args.floor {
        Some(home) => Some(Floor::start(home, args.https)?),
        None => None,
    };
    let shapes: Vec<Shape> = if args.rate.is_empty() {
        vec![Shape::Closed(args.concurrency.max(1))]
    } else {
        args.rate.iter().map(|&r| Shape::Open(r)).collect()
    };
    let mut failed = false;
    let mut sustained = None;
    for (i, &shape) in shapes.iter().enumerate() {
        let prefix = match shape {
            Shape::Closed(_) => args.prefix.clone(),
            Shape::Open(_) => format!("{}-{i}", args.prefix),
        };
        let (outcome, compared) = match &floor {
            None => {
                let server = Target { port: args.port, pid: args.server_pid, prefix: prefix.clone() };
                (load(args, args.count, &server, shape).await?, None)
            }
            Some(f) => {
                let (outcome, floor_outcome, rounds) = alternated(args, f, &prefix, shape).await?;
                (outcome, Some((floor_outcome, rounds)))
            }
        };
        failed |= outcome.failures > 0;
        println!("{}", report(args, shape, &outcome));
        if let Some((floor_outcome, rounds)) = compared {
            println!("{}", report(args, shape, &floor_outcome).replacen("registrations", "TLS floor (bench floor)", 1));
            if let (Some((server, ..)), Some((bare, ..))) =
                (outcome.cpu_per_registration(), floor_outcome.cpu_per_registration())
            {
                let each = rounds.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(" ");
                println!(
                    "server CPU per registration / TLS floor: {:.2}× ({server:.0} µs / {bare:.0} µs; {} rounds: {each})",
                    server / bare,
                    rounds.len()
                );
            }
        }
        if let Shape::Open(rate) = shape
            && outcome.failures == 0
            && outcome.rate() >= 0.95 * rate
        {
            sustained = Some(rate);
        }
    }
    if shapes.len() > 1 {
        match sustained {
            Some(rate) => println!(
                "saturation: the highest offered rate sustained (≥ 95% completed on time, none failed) was {rate:.0}/s"
            ),
            None => println!("saturation: no offered rate was sustained"),
        }
    }
    Ok(failed)
}

/// The load on the server and on the floor in `args.rounds` rounds, alternated: the totals of each,
/// and each round's ratio of CPU per registration (server / floor).
async fn alternated(
    args: &BenchArgs,
    floor: &Floor,
    prefix: &str,
    shape: Shape,
) -> Result<(Outcome, Outcome, Vec<f64>), String> {
    let rounds = args.rounds.clamp(1, args.count.max(1));
    let (mut server_total, mut floor_total, mut ratios) = (None::<Outcome>, None::<Outcome>, Vec::new());
    for round in 0..rounds {
        // The count split as evenly as it goes; names stay unique across rounds.
        let count = args.count / rounds + usize::from(round < args.count % rounds);
        let name = if rounds > 1 { format!("{prefix}-r{round}") } else { prefix.to_owned() };
        let server = Target { port: args.port, pid: args.server_pid, prefix: name.clone() };
        let bare = Target { port: floor.port, pid: Some(floor.pid()), prefix: format!("{name}-floor") };
        let one = |target: Target| async move { load(args, count, &target, shape).await };
        let (server, bare) = if round % 2 == 0 {
            let bare = one(bare).await?;
            (one(server).await?, bare)
        } else {
            let server = one(server).await?;
            (server, one(bare).await?)
        };
        if let (Some((s, ..)), Some((b, ..))) = (server.cpu_per_registration(), bare.cpu_per_registration()) {
            ratios.push(s / b);
        }
        for (total, outcome) in [(&mut server_total, server), (&mut floor_total, bare)] {
            match total {
                Some(t) => t.absorb(outcome),
                None => *total = Some(outcome),
            }
        }
    }
    match (server_total, floor_total) {
        (Some(s), Some(f)) => Ok((s, f, ratios)),
        _ => Err("no round ran".to_owned()),
    }
}

fn report(args: &BenchArgs, shape: Shape, o: &Outcome) -> String {
    let how = match shape {
        Shape::Closed(c) => format!("with {c} concurrent clients"),
        Shape::Open(r) => format!("offered {r:.0}/s (open loop)"),
    };
    let tls =
        format!("{}{}", crate::tls::PROVIDER_NAME, args.kx_group.as_ref().map_or(String::new(), |g| format!(", {g}")));
    format!(
        "registrations{} [{tls}]: {} in {:.2} s = {:.0}/s {how}; failed: {} ; latency ms: p50 {:.1}, p90 {:.1}, p99 {:.1}, max {:.1}{}",
        if args.https { " (HTTPS)" } else { "" },
        o.latencies.len(),
        o.elapsed.as_secs_f64(),
        o.rate(),
        o.failures,
        o.percentile(0.50),
        o.percentile(0.90),
        o.percentile(0.99),
        o.latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        o.cpu_text()
    )
}

/// A `bench floor` server run for the comparison, killed when dropped.
struct Floor {
    child: std::process::Child,
    port: u16,
}

impl Floor {
    fn start(home: &std::path::Path, https: bool) -> Result<Floor, String> {
        use std::io::BufRead as _;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = std::process::Command::new(exe)
            .args(["bench", "floor", "--port", "0", "--home"])
            .arg(home)
            .args(if https { &["--https"][..] } else { &[] })
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start bench floor: {e}"))?;
        let stdout = child.stdout.take().ok_or("bench floor: no output")?;
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let port = line
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| format!("bench floor did not start (said {line:?})"))?;
        Ok(Floor { child, port })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server a load registers with: its port, its process (for CPU time) and the agents' names.
struct Target {
    port: u16,
    pid: Option<u32>,
    prefix: String,
}

/// One load of `count` registrations on `target`.
async fn load(args: &BenchArgs, count: usize, target: &Target, shape: Shape) -> Result<Outcome, String> {
    let suites = crate::ciphers::select(crate::config::DEFAULT_CIPHERS, "ciphers").map_err(|e| e.to_string())?;
    let check = crate::tls::ManagerCheck { expected_name: args.manager.clone(), ..Default::default() };
    let config = match &args.kx_group {
        Some(group) => crate::tls::client_config_on(check, None, crate::tls::provider_with_group(suites, group)?)?,
        None => crate::tls::client_config(check, None, suites)?,
    };
    let client = Arc::new(Client {
        connector: tokio_rustls::TlsConnector::from(config),
        server_name: ServerName::try_from(args.manager.clone()).map_err(|e| format!("{}: {e}", args.manager))?,
        address: format!("{}:{}", args.manager, target.port),
        password: args.password.clone(),
        https: args.https,
    });
    let prefix = target.prefix.as_str();
    let cpu_before = target.pid.and_then(cpu_seconds);
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(count);
    let mut failures = 0;
    match shape {
        Shape::Closed(concurrency) => {
            let next = Arc::new(AtomicUsize::new(0));
            let tasks: Vec<_> = (0..concurrency)
                .map(|_| {
                    let (client, next, prefix) = (Arc::clone(&client), Arc::clone(&next), prefix.to_owned());
                    tokio::spawn(async move {
                        let mut latencies = Vec::new();
                        let mut failures = 0usize;
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= count {
                                break;
                            }
                            let t = Instant::now();
                            if client.register(&format!("{prefix}-{i}")).await {
                                latencies.push(t.elapsed());
                            } else {
                                failures += 1;
                            }
                        }
                        (latencies, failures)
                    })
                })
                .collect();
            for task in tasks {
                let (l, f) = task.await.map_err(|e| e.to_string())?;
                latencies.extend(l);
                failures += f;
            }
        }
        Shape::Open(rate) => {
            if !rate.is_finite() || rate <= 0.0 {
                return Err(format!("--rate {rate}: must be above 0"));
            }
            let mut tasks = Vec::with_capacity(count);
            for i in 0..count {
                let at = started + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(at.into()).await;
                let (client, name) = (Arc::clone(&client), format!("{prefix}-{i}"));
                tasks.push(tokio::spawn(async move { client.register(&name).await.then(|| at.elapsed()) }));
            }
            for task in tasks {
                match task.await.map_err(|e| e.to_string())? {
                    Some(latency) => latencies.push(latency),
                    None => failures += 1,
                }
            }
        }
    }
    let elapsed = started.elapsed();
    let cpu = match (cpu_before, target.pid.and_then(cpu_seconds)) {
        (Some((u0, s0, t0)), Some((u1, s1, t1))) => Some((u1 - u0, s1 - s0, t1 - t0)),
        _ => None,
    };
    latencies.sort();
    Ok(Outcome { latencies, failures, elapsed, cpu })
}

/// How to reach the server, shared by every registration of a load.
struct Client {
    connector: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
    address: String,
    password: Option<String>,
    https: bool,
}

impl Client {
    /// One registration on its own connection (30 s at most); whether it got a key.
    async fn register(&self, name: &str) -> bool {
        if self.https {
            let one =
                one_https(&self.connector, self.server_name.clone(), &self.address, name, self.password.as_deref());
            return matches!(tokio::time::timeout(Duration::from_secs(30), one).await, Ok(true));
        }
        // The request as a 4.14 agent builds it, and its reply read as the agent reads it.
        let Ok(request) = AgentName::new(name).and_then(|name| {
            Request {
                password: self.password.as_deref().map(str::as_bytes),
                name,
                version: Some(b"v4.14.7"),
                groups: None,
                ip: IpField::Absent,
                key_hash: None,
            }
            .to_vec()
        }) else {
            return false;
        };
        let reply = async {
            let tcp = TcpStream::connect(&self.address).await?;
            tcp.set_nodelay(true)?;
            let mut tls = self.connector.connect(self.server_name.clone(), tcp).await?;
            tls.write_all(&request).await?;
            let mut reply = Vec::new();
            let _ = tls.read_to_end(&mut reply).await;
            Ok::<_, std::io::Error>(reply)
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(30), reply).await,
            Ok(Ok(r)) if matches!(parse_reply(&r), Ok(Reply::Key { .. }))
        )
    }
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
