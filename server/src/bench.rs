//! `agentkeys bench register`: a load generator for port 1515 (DESIGN §10). It registers `count`
//! agents over TLS from `concurrency` concurrent clients, one connection per registration as real
//! agents do, and reports throughput and latency percentiles.

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
    /// Enrollment password, if the manager requires one.
    #[arg(short = 'P', long)]
    password: Option<String>,
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
    let started = Instant::now();
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
                    // The request as a 4.14 agent builds it, and its reply read as the agent reads it.
                    let name = format!("{prefix}-{i}");
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
    latencies.sort();
    let pct = |p: f64| -> f64 {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Ok(format!(
        "registrations: {} in {:.2} s = {:.0}/s with {} concurrent clients; failed: {failures} ; latency ms: p50 {:.1}, p90 {:.1}, p99 {:.1}, max {:.1}",
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
