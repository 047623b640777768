//! Admin batch operations (issue 8: remove 50,000 agents in one call, target ≤ 1 s). Runs the real
//! `agentkeys serve` (durable writes) and times batch calls on its admin socket. Median of 3 runs.
//!
//! `cargo bench -p agentkeys-server --bench admin`

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_agentkeys");
const AGENTS: usize = 50_000;

fn start(name: &str) -> (PathBuf, Child) {
    let home = std::env::temp_dir().join(format!("agentkeys-bench-admin-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(home.join("etc")).unwrap();
    std::fs::write(home.join("etc/agentkeys.toml"), "[auth]\npurge = true\n").unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--home"])
        .arg(&home)
        .args(["--port", "0", "--bind", "127.0.0.1"])
        .env("AGENTKEYS_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..400 {
        if UnixStream::connect(home.join("queue/sockets/auth")).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
    (home, child)
}

fn ask(home: &Path, payload: &str) -> String {
    let mut s = UnixStream::connect(home.join("queue/sockets/auth")).unwrap();
    s.write_all(&u32::try_from(payload.len()).unwrap().to_le_bytes()).unwrap();
    s.write_all(payload.as_bytes()).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut reply = vec![0u8; u32::from_le_bytes(len) as usize];
    s.read_exact(&mut reply).unwrap();
    String::from_utf8(reply).unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let (mut adds, mut removes, mut bulks) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..3 {
        let (home, mut child) = start(&format!("run{run}"));
        let agents: Vec<String> = (0..AGENTS).map(|i| format!(r#"{{"name":"bench-{i}","ip":"any"}}"#)).collect();
        let started = Instant::now();
        let reply =
            ask(&home, &format!(r#"{{"function":"add-many","arguments":{{"agents":[{}]}}}}"#, agents.join(",")));
        adds.push(started.elapsed());
        assert_eq!(reply.matches(r#"{"error":0,"data":{"id""#).count(), AGENTS, "add-many failed");
        let ids: Vec<String> = (1..=AGENTS).map(|i| format!("\"{i:03}\"")).collect();
        let started = Instant::now();
        let reply =
            ask(&home, &format!(r#"{{"function":"remove","arguments":{{"ids":[{}],"purge":true}}}}"#, ids.join(",")));
        removes.push(started.elapsed());
        assert_eq!(reply.matches(r#""error":0}"#).count(), AGENTS, "remove failed");
        // bulk-add of 10,000 IP,NAME lines through the CLI (over the socket).
        let file = home.join("bulk.csv");
        let lines: String =
            (0..10_000).map(|i| format!("10.{}.{}.{},bulk-{i}\n", 60 + i / 65536, (i / 256) % 256, i % 256)).collect();
        std::fs::write(&file, lines).unwrap();
        let started = Instant::now();
        let out =
            Command::new(BIN).args(["agents", "--home"]).arg(&home).args(["bulk-add"]).arg(&file).output().unwrap();
        bulks.push(started.elapsed());
        assert!(out.status.success());
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let _ = child.wait();
    }
    println!("admin socket, durable writes, median of 3 runs:");
    println!("  add-many of {AGENTS} agents, one call:      {:8.0} ms", median(adds).as_secs_f64() * 1000.0);
    println!("  remove of {AGENTS} agents, one call:        {:8.0} ms", median(removes).as_secs_f64() * 1000.0);
    println!("  agents bulk-add of 10,000 lines (CLI):     {:8.0} ms", median(bulks).as_secs_f64() * 1000.0);
}
