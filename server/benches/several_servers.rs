//! Several `agentkeys serve` nodes on one PostgreSQL registry (the machine's PostgreSQL on
//! 127.0.0.1): registrations per second, server and database CPU per registration, database round
//! trips and transactions per registration with 1, 2 and 3 nodes; client.keys propagation delay
//! between nodes; the 100,000-agent migration both ways. Medians of 3 runs.
//!
//! `cargo bench -p agentkeys-server --bench several_servers` (skips without a PostgreSQL).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use rustls::pki_types::ServerName;

#[path = "../tests/common/mod.rs"]
mod common;
use common::{BIN, client_config, sql};

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Registrations per run, and clients, in total whatever the number of nodes.
const TOTAL: usize = 6_000;
const CLIENTS: usize = 60;

fn fresh_db(name: &str) -> String {
    sql(ADMIN_URL, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).unwrap();
    sql(ADMIN_URL, &format!("CREATE DATABASE {name}")).unwrap();
    format!("postgres://postgres@127.0.0.1:5432/{name}")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Node {
    child: Child,
    home: PathBuf,
    port: u16,
    metrics: u16,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn start_node(url: &str, name: &str) -> Node {
    start_with(name, &format!("[store]\nkind = \"postgres\"\nurl = \"{url}\"\nnode = \"{name}\"\n"))
}

/// A node with `store` as its `[store]` table (empty: the file store).
fn start_with(name: &str, store: &str) -> Node {
    let home = std::env::temp_dir().join(format!("agentkeys-bench-pg-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(home.join("etc")).unwrap();
    let metrics = free_port();
    std::fs::write(
        home.join("etc/agentkeys.toml"),
        format!("{store}[server]\nmax_connections_per_source = 1000\n[metrics]\nbind = \"127.0.0.1:{metrics}\"\n"),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--home"])
        .arg(&home)
        .args(["--port", "0", "--bind", "127.0.0.1", "--https-port", "0"])
        .env("AGENTKEYS_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("agentkeys: listening on ").nth(1) {
                let _ = tx.send(addr.trim().parse::<std::net::SocketAddr>().unwrap().port());
            }
        }
    });
    let port = rx.recv_timeout(Duration::from_secs(30)).expect("node started");
    Node { child, home, port, metrics }
}

/// User + system CPU seconds of a process.
fn cpu(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds of every PostgreSQL process (server, backends, background workers).
fn postgres_cpu() -> f64 {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "postgres") {
            total += cpu(pid);
        }
    }
    total
}

fn metric(port: u16, name: &str) -> f64 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn commits(db: &str) -> f64 {
    let rows = sql(ADMIN_URL, &format!("SELECT xact_commit FROM pg_stat_database WHERE datname = '{db}'")).unwrap();
    rows[0][0].as_deref().unwrap().parse().unwrap()
}

struct Run {
    rate: f64,
    server_us: f64,
    db_us: f64,
    trips: f64,
    transactions: f64,
}

/// One run with `nodes` nodes on a fresh database (0: one node on the file store); with `probe`,
/// also the propagation delay from the first node to the last while the load runs.
fn load(nodes: usize, run: usize, probe: bool) -> (Run, Vec<Duration>) {
    let db = format!("agentkeys_bench_{nodes}_{run}");
    let url = fresh_db(&db);
    let started: Vec<Node> = if nodes == 0 {
        vec![start_with(&format!("file{run}"), "")]
    } else {
        (0..nodes).map(|n| start_node(&url, &format!("node{n}"))).collect()
    };
    let nodes = started.len();
    std::thread::sleep(Duration::from_millis(300));
    let cpu_before: f64 = started.iter().map(|n| cpu(n.child.id())).sum();
    let db_before = postgres_cpu();
    let commits_before = commits(&db);
    let wall = Instant::now();
    let loads: Vec<Child> = started
        .iter()
        .enumerate()
        .map(|(i, n)| {
            Command::new(BIN)
                .args(["bench", "register", "-p", &n.port.to_string()])
                .args(["--count", &(TOTAL / nodes).to_string(), "--concurrency", &(CLIENTS / nodes).to_string()])
                .args(["--prefix", &format!("n{i}")])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prober = probe.then(|| {
        let (from, keys, stop) = (started[0].port, started[nodes - 1].home.join("etc/client.keys"), Arc::clone(&stop));
        std::thread::spawn(move || {
            let config = client_config();
            let mut delays = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let line = register(&config, from, &format!("probe-{i}"));
                delays.push(wait_for_line(&keys, &line));
                std::thread::sleep(Duration::from_millis(10));
            }
            delays
        })
    });
    for mut l in loads {
        assert!(l.wait().unwrap().success(), "a load generator failed");
    }
    let elapsed = wall.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let probed = prober.map(|p| p.join().unwrap()).unwrap_or_default();
    let server = started.iter().map(|n| cpu(n.child.id())).sum::<f64>() - cpu_before;
    let database = postgres_cpu() - db_before;
    let transactions = commits(&db) - commits_before;
    let trips: f64 = started.iter().map(|n| metric(n.metrics, "agentkeys_registry_database_round_trips_total")).sum();
    drop(started);
    let _ = sql(ADMIN_URL, &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
    let per = |x: f64| x / TOTAL as f64;
    let run = Run {
        rate: TOTAL as f64 / elapsed,
        server_us: per(server) * 1e6,
        db_us: per(database) * 1e6,
        trips: per(trips),
        transactions: per(transactions),
    };
    (run, probed)
}

/// How long until `line` is in the file `keys`.
fn wait_for_line(keys: &std::path::Path, line: &str) -> Duration {
    let t0 = Instant::now();
    loop {
        if std::fs::read_to_string(keys).is_ok_and(|k| k.contains(line)) {
            return t0.elapsed();
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "not propagated");
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Registers `name` on `port`; the record line.
fn register(config: &Arc<ClientConfig>, port: u16, name: &str) -> String {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let conn = rustls::ClientConnection::new(Arc::clone(config), ServerName::try_from("localhost").unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(format!("OSSEC A:'{name}'\n").as_bytes()).unwrap();
    let mut reply = Vec::new();
    let _ = tls.read_to_end(&mut reply);
    let text = String::from_utf8_lossy(&reply).trim_end().to_owned();
    text.strip_prefix("OSSEC K:'").and_then(|r| r.strip_suffix('\'')).unwrap_or_else(|| panic!("{text}")).to_owned()
}

/// Time from the `OSSEC K:` reply on one node until the line is in another node's client.keys.
fn propagation(probes: usize) -> Vec<Duration> {
    let url = fresh_db("agentkeys_bench_propagation");
    let a = start_node(&url, "node-a");
    let b = start_node(&url, "node-b");
    let config = client_config();
    let keys = b.home.join("etc/client.keys");
    let mut delays = Vec::with_capacity(probes);
    for i in 0..probes {
        let line = register(&config, a.port, &format!("probe-{i}"));
        delays.push(wait_for_line(&keys, &line));
    }
    drop((a, b));
    let _ = sql(ADMIN_URL, "DROP DATABASE IF EXISTS agentkeys_bench_propagation WITH (FORCE)");
    delays
}

/// A home of `n` agents, as the migration test writes it.
fn big_home(n: usize) -> PathBuf {
    let home = std::env::temp_dir().join(format!("agentkeys-bench-pg-migrate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(home.join("etc")).unwrap();
    let mut keys = String::with_capacity(n * 90);
    for i in 1..=n {
        let addr = match i % 4 {
            0 => "any".to_owned(),
            1 => format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255),
            2 => format!("192.{}.{}.{}/32", i >> 16 & 255, i >> 8 & 255, i & 255),
            _ => format!("fd00::{:x}:{:x}", (i >> 16) + 1, i & 0xffff),
        };
        keys.push_str(&format!("{i:03} agent-{i} {addr} {:064x}\n", (i as u128) * 0x9e37_79b9_7f4a_7c15));
    }
    std::fs::write(home.join("etc/client.keys"), keys).unwrap();
    home
}

fn migrate(from: &str, to: &str) -> Duration {
    let started = Instant::now();
    let out = Command::new(BIN).args(["store", "migrate", "--from", from, "--to", to]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    started.elapsed()
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    if let Err(e) = sql(ADMIN_URL, "SELECT 1") {
        eprintln!("several_servers: no PostgreSQL at {ADMIN_URL} ({e}); skipped");
        return;
    }
    println!("{TOTAL} registrations from {CLIENTS} clients per run (split evenly over the nodes), durable mode");
    println!(
        "| nodes | rate (median of 3) | server CPU / registration (all nodes) | PostgreSQL CPU / registration | round trips / registration | transactions / registration |"
    );
    println!("|---|---|---|---|---|---|");
    let mut under_load = Vec::new();
    for nodes in 0..=3 {
        let runs: Vec<Run> = (0..3)
            .map(|run| {
                let (r, probed) = load(nodes, run, nodes == 3);
                under_load.extend(probed);
                r
            })
            .collect();
        let m = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
        let range = |f: fn(&Run) -> f64| {
            let v: Vec<f64> = runs.iter().map(f).collect();
            (v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(0.0, f64::max))
        };
        let (lo, hi) = range(|r| r.rate);
        let label = if nodes == 0 { "1, file store (baseline)".to_owned() } else { nodes.to_string() };
        println!(
            "| {label} | {:.0} /s ({lo:.0} – {hi:.0}) | {:.0} µs | {:.0} µs | {:.2} | {:.3} |",
            m(|r| r.rate),
            m(|r| r.server_us),
            m(|r| r.db_us),
            m(|r| r.trips),
            m(|r| r.transactions)
        );
    }
    let report = |what: &str, mut delays: Vec<Duration>| {
        delays.sort();
        let pct = |p: f64| delays[((delays.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
        println!(
            "propagation {what}, {} probes: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            delays.len(),
            pct(0.5),
            pct(0.99),
            pct(1.0)
        );
    };
    report("node 1 → node 3 client.keys while three nodes register", under_load);
    report("node A → node B client.keys, idle", propagation(300));
    let home = big_home(100_000);
    let (mut to_db, mut to_file) = (Vec::new(), Vec::new());
    for run in 0..3 {
        let url = fresh_db("agentkeys_bench_migrate");
        to_db.push(migrate(home.to_str().unwrap(), &url).as_secs_f64());
        let back = std::env::temp_dir().join(format!("agentkeys-bench-pg-back-{}-{run}", std::process::id()));
        let _ = std::fs::remove_dir_all(&back);
        to_file.push(migrate(&url, back.to_str().unwrap()).as_secs_f64());
        let _ = std::fs::remove_dir_all(&back);
    }
    let _ = std::fs::remove_dir_all(&home);
    let _ = sql(ADMIN_URL, "DROP DATABASE IF EXISTS agentkeys_bench_migrate WITH (FORCE)");
    println!(
        "migration of 100,000 agents (median of 3): file → PostgreSQL {:.2} s, PostgreSQL → file {:.2} s",
        median(to_db),
        median(to_file)
    );
}
