//! Key-polling throughput (DESIGN §10: ≥ 200 lookups/s in exec mode with 8 workers, ≥ 5,000/s in
//! socket mode). Runs the real `agentkeys serve`, sends `id:` datagrams for distinct agents as
//! remoted would, and measures until every agent is durably in client.keys. Median of 3 runs.
//!
//! `cargo bench -p agentkeys-server --bench keypoll`

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_agentkeys");

fn home(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agentkeys-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    dir
}

fn start(home: &Path, config: &str) -> Child {
    std::fs::write(home.join("etc/agentkeys.toml"), config).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--home"])
        .arg(home)
        .args(["--port", "0", "--bind", "127.0.0.1"])
        .env("AGENTKEYS_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let socket = home.join("queue/sockets/krequest");
    for _ in 0..200 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
    child
}

fn stop(mut child: Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
}

/// Sends `count` requests and waits until client.keys holds them all; lookups per second.
fn run(home: &Path, count: usize) -> f64 {
    let target = home.join("queue/sockets/krequest");
    let client = UnixDatagram::unbound().unwrap();
    let started = Instant::now();
    for i in 0..count {
        client.send_to(format!("id:{:05}", 10_000 + i).as_bytes(), &target).unwrap();
    }
    let keys = home.join("etc/client.keys");
    loop {
        let lines = std::fs::read_to_string(&keys).map(|t| t.lines().count()).unwrap_or(0);
        if lines >= count {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "only {lines}/{count} agents after 300 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    count as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn exec_mode(workers: usize, count: usize) -> f64 {
    median(
        (0..3)
            .map(|run_no| {
                let home = home(&format!("exec{workers}-{run_no}"));
                let script = home.join("lookup.sh");
                std::fs::write(
                    &script,
                    "#!/bin/sh\necho \"{\\\"error\\\":0,\\\"data\\\":{\\\"id\\\":\\\"$2\\\",\\\"name\\\":\\\"a$2\\\",\\\"ip\\\":\\\"any\\\",\\\"key\\\":\\\"k$2\\\"}}\"\n",
                )
                .unwrap();
                std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
                let child = start(
                    &home,
                    &format!("[key_request]\nenabled = true\nexec_path = {:?}\nthreads = {workers}\nqueue_size = 220000\n", script.display().to_string()),
                );
                let rate = run(&home, count);
                stop(child);
                rate
            })
            .collect(),
    )
}

fn socket_mode(count: usize) -> f64 {
    median(
        (0..3)
            .map(|run_no| {
                let home = home(&format!("socket-{run_no}"));
                let source = home.join("source.sock");
                let listener = UnixListener::bind(&source).unwrap();
                std::thread::spawn(move || {
                    for stream in listener.incoming() {
                        let Ok(mut stream) = stream else { continue };
                        std::thread::spawn(move || {
                            let mut buf = [0u8; 64];
                            let n = stream.read(&mut buf).unwrap_or(0);
                            let id = String::from_utf8_lossy(&buf[..n]).trim_start_matches("id:").to_owned();
                            let _ = write!(
                                stream,
                                r#"{{"error":0,"data":{{"id":"{id}","name":"a{id}","ip":"any","key":"k{id}"}}}}"#
                            );
                        });
                    }
                });
                let child = start(
                    &home,
                    &format!(
                        "[key_request]\nenabled = true\nsocket = {:?}\nthreads = 8\nqueue_size = 220000\n",
                        source.display().to_string()
                    ),
                );
                let rate = run(&home, count);
                stop(child);
                rate
            })
            .collect(),
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    println!("key polling (durable writes, median of 3 runs):");
    println!("  exec mode, 1 worker:   {:8.0} lookups/s", exec_mode(1, 300));
    println!("  exec mode, 8 workers:  {:8.0} lookups/s", exec_mode(8, 1000));
    println!("  socket mode, 8 workers:{:8.0} lookups/s", socket_mode(10_000));
}
