//! Fault tests: a full disk, torn files, clients that reset after their reply, password guesses
//! fired together, one source hogging connections, an 8-digit ID, key-poll requesters that never
//! read, bounded shutdown, and admin-socket bounds. Each one broke a promise before it was fixed:
//! a key once acknowledged is never lost, and client.keys always loads.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, Server, client_config, record_of, temp_home, tls_exchange, write_config};
use rustls::pki_types::ServerName;

/// One framed admin request; the reply as text.
fn admin(home: &Path, payload: &str) -> String {
    let mut s = UnixStream::connect(home.join("queue/sockets/auth")).expect("admin socket");
    s.write_all(&u32::try_from(payload.len()).unwrap().to_le_bytes()).unwrap();
    s.write_all(payload.as_bytes()).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut reply = vec![0u8; u32::from_le_bytes(len) as usize];
    s.read_exact(&mut reply).unwrap();
    String::from_utf8(reply).unwrap()
}

/// A TCP connection from `local` (an address of 127.0.0.0/8) to the server; `None` if refused.
fn try_connect_from(local: &str, port: u16) -> Option<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    socket.bind(&format!("{local}:0").parse::<SocketAddr>().ok()?.into()).ok()?;
    socket.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into()).ok()?;
    let tcp: TcpStream = socket.into();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    Some(tcp)
}

/// Like [`try_connect_from`], for a server that must be there.
fn connect_from(local: &str, port: u16) -> TcpStream {
    try_connect_from(local, port).expect("connect to the server")
}

/// A TLS session over `tcp` with the handshake done.
fn handshake(mut tcp: TcpStream) -> Option<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let mut conn = rustls::ClientConnection::new(client_config(), ServerName::try_from("localhost").unwrap()).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).ok()?;
    }
    Some(rustls::StreamOwned::new(conn, tcp))
}

/// Sends `request` and reads until the server closes; `None` if the connection failed first.
fn try_exchange(port: u16, request: &[u8]) -> Option<Vec<u8>> {
    let mut tls = handshake(try_connect_from("127.0.0.1", port)?)?;
    tls.write_all(request).ok()?;
    let mut reply = Vec::new();
    let _ = tls.read_to_end(&mut reply);
    (!reply.is_empty()).then_some(reply)
}

/// Every line of client.keys parses (`agentkeys keys check` exits 0) and IDs and names are unique.
fn assert_file_loads(home: &Path) -> Vec<String> {
    let keys = home.join("etc/client.keys");
    let out = Command::new(BIN).args(["keys", "check"]).arg(&keys).output().unwrap();
    assert!(out.status.success(), "client.keys does not load: {out:?}");
    let lines: Vec<String> = std::fs::read_to_string(&keys).unwrap().lines().map(str::to_owned).collect();
    let active: Vec<&String> = lines.iter().filter(|l| !l.split(' ').nth(1).unwrap_or("").starts_with('!')).collect();
    let ids: HashSet<&str> = active.iter().map(|l| l.split(' ').next().unwrap()).collect();
    let names: HashSet<&str> = active.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!((ids.len(), names.len()), (active.len(), active.len()), "duplicate IDs or names:\n{lines:#?}");
    lines
}

fn temporaries(home: &Path) -> Vec<PathBuf> {
    ["etc", "queue"]
        .iter()
        .flat_map(|d| std::fs::read_dir(home.join(d)).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("agentkeys-tmp"))
        .collect()
}

/// A 1 MiB tmpfs mounted on a fresh directory, unmounted when dropped. `None` (with a notice)
/// when this process may not mount (not root, or no tmpfs).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(name: &str) -> Option<SmallDisk> {
        let dir = temp_home(name).join("home");
        std::fs::create_dir_all(&dir).unwrap();
        let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"]).arg(&dir).output();
        match mounted {
            Ok(out) if out.status.success() => Some(SmallDisk(dir)),
            other => {
                eprintln!("skipped: the disk-full test needs root to mount a 1 MiB tmpfs ({other:?})");
                None
            }
        }
    }

    /// Fills the file system up with a filler file.
    fn fill(&self) -> PathBuf {
        let filler = self.0.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 512];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_refuses_cleanly_and_loses_no_acknowledged_agent() {
    let Some(disk) = SmallDisk::mount("diskfull") else { return };
    let home = disk.0.clone();
    write_config(&home, "[auth.force]\nenabled = false\n");
    let s = Server::start(&home, &[]);
    let mut acked: Vec<String> =
        (0..20).map(|i| record_of(&tls_exchange(s.port, format!("OSSEC A:'before-{i}'\n").as_bytes()))).collect();
    let filler = disk.fill();

    // Single registrations and a 300-agent batch, while the disk is full: some appends may still
    // fit in the last page of a file; the rest must fail as a whole.
    let mut refused = 0;
    for i in 0..400 {
        let reply = tls_exchange(s.port, format!("OSSEC A:'full-{i}'\n").as_bytes());
        if reply.starts_with(b"OSSEC K:") {
            acked.push(record_of(&reply));
        } else {
            assert!(String::from_utf8_lossy(&reply).starts_with("ERROR: "), "{reply:?}");
            refused += 1;
            if refused == 5 {
                break;
            }
        }
    }
    let batch: Vec<String> = (0..300).map(|i| format!(r#"{{"name":"batch-{i}","ip":"any"}}"#)).collect();
    let reply = admin(&home, &format!(r#"{{"function":"add-many","arguments":{{"agents":[{}]}}}}"#, batch.join(",")));
    assert!(!reply.contains(r#""error":0,"data":{"#), "no agent of a failed batch is acknowledged: {reply:.300}");
    // A removal (a rewrite) fails too, and leaves the agent in place.
    let victim = acked[0].split(' ').next().unwrap().to_owned();
    let reply = admin(&home, &format!(r#"{{"function":"remove","arguments":{{"id":"{victim}"}}}}"#));
    assert!(!reply.starts_with(r#"{"error":0"#), "{reply}");
    assert!(refused > 0, "the disk was never full");
    assert!(s.logged("cannot save client.keys"));

    let lines = assert_file_loads(&home);
    for record in &acked {
        assert_eq!(lines.iter().filter(|l| *l == record).count(), 1, "acknowledged agent lost: {record}");
    }
    assert_eq!(lines.len(), acked.len(), "only acknowledged agents are in the file:\n{lines:#?}");
    assert!(temporaries(&home).is_empty(), "temporary files left: {:?}", temporaries(&home));

    // Space returns: registrations work again, with an ID never handed out before.
    std::fs::remove_file(filler).unwrap();
    let highest = acked.iter().map(|r| r.split(' ').next().unwrap().parse::<u32>().unwrap()).max().unwrap();
    let after = record_of(&tls_exchange(s.port, b"OSSEC A:'after-space'\n"));
    assert!(after.split(' ').next().unwrap().parse::<u32>().unwrap() > highest, "{after}");
    acked.push(after);
    assert!(s.stop());

    let s = Server::start(&home, &[]);
    assert!(s.logged(&format!("loaded {} agents", acked.len())), "{}", s.log_text());
    let lines = assert_file_loads(&home);
    assert!(acked.iter().all(|r| lines.contains(r)));
}

#[test]
fn a_last_line_without_newline_is_repaired_and_appends_never_glue() {
    let home = temp_home("torn");
    std::fs::create_dir_all(home.join("etc")).unwrap();
    std::fs::write(home.join("etc/client.keys"), "001 a1 any k1\n002 a2 any k2").unwrap();
    let s = Server::start(&home, &[]);
    assert!(s.logged("client.keys:2: the last line had no newline; added one"), "{}", s.log_text());
    assert!(record_of(&tls_exchange(s.port, b"OSSEC A:'third'\n")).starts_with("003 third any "));
    // Another tool leaves the file without its last newline while the server runs.
    let keys = home.join("etc/client.keys");
    let text = std::fs::read_to_string(&keys).unwrap();
    std::fs::OpenOptions::new().write(true).open(&keys).unwrap().set_len(text.len() as u64 - 1).unwrap();
    assert!(record_of(&tls_exchange(s.port, b"OSSEC A:'fourth'\n")).starts_with("004 fourth any "));
    assert!(s.stop());
    let lines = assert_file_loads(&home);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let s = Server::start(&home, &[]);
    assert!(s.logged("loaded 4 agents"), "{}", s.log_text());
}

#[test]
fn a_client_that_resets_after_reading_its_key_stays_registered() {
    let home = temp_home("reset");
    let s = Server::start(&home, &[]);
    let port = s.port;
    let threads: Vec<_> = (0..10)
        .map(|t| {
            std::thread::spawn(move || {
                let mut got = Vec::new();
                for i in 0..30 {
                    let Some(mut tls) = handshake(connect_from("127.0.0.1", port)) else { continue };
                    tls.write_all(format!("OSSEC A:'reset-{t}-{i}'\n").as_bytes()).unwrap();
                    let mut reply = Vec::new();
                    let mut buf = [0u8; 512];
                    // Read exactly the reply, then reset the connection before any close_notify.
                    while !(reply.starts_with(b"OSSEC K:'") && reply.ends_with(b"'")) {
                        match tls.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => reply.extend_from_slice(&buf[..n]),
                        }
                    }
                    socket2::SockRef::from(&tls.sock).set_linger(Some(Duration::ZERO)).unwrap();
                    drop(tls);
                    if reply.starts_with(b"OSSEC K:'") {
                        got.push(record_of(&reply));
                    }
                }
                got
            })
        })
        .collect();
    let records: Vec<String> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(records.len() >= 290, "{} replies", records.len());
    std::thread::sleep(Duration::from_millis(500));
    let keys = s.keys();
    let lost: Vec<&String> = records.iter().filter(|r| !keys.contains(r.as_str())).collect();
    assert!(lost.is_empty(), "{} agents removed after their key was delivered: {lost:?}", lost.len());
    assert!(!s.logged("not delivered"));
}

#[test]
fn password_guesses_fired_together_are_bounded_by_the_lockout() {
    let home = temp_home("lockout");
    write_config(&home, "[auth]\nuse_password = true\n[server]\nlockout_failures = 10\n");
    std::fs::create_dir_all(home.join("etc")).unwrap();
    std::fs::write(home.join("etc/authd.pass"), "right-password\n").unwrap();
    let s = Server::start(&home, &[]);
    // 100 connections opened and handshaken first, then all fire a wrong password at once.
    let mut sessions: Vec<_> = (0..100).filter_map(|_| handshake(connect_from("127.0.0.1", s.port))).collect();
    assert_eq!(sessions.len(), 100);
    for tls in &mut sessions {
        tls.write_all(b"OSSEC PASS: wrong-guess OSSEC A:'guess'\n").unwrap();
    }
    let mut evaluated = 0;
    for tls in &mut sessions {
        let mut reply = Vec::new();
        let _ = tls.read_to_end(&mut reply);
        evaluated += usize::from(reply.starts_with(b"ERROR: Invalid password"));
    }
    assert_eq!(evaluated, 10, "only lockout_failures guesses may be evaluated");
    // Locked: even the right password from that source is not evaluated now.
    assert!(try_exchange(s.port, b"OSSEC PASS: right-password OSSEC A:'late'\n").is_none());
    // Another source is not affected.
    let mut other = handshake(connect_from("127.0.0.2", s.port)).unwrap();
    other.write_all(b"OSSEC PASS: right-password OSSEC A:'other-source'\n").unwrap();
    let mut reply = Vec::new();
    let _ = other.read_to_end(&mut reply);
    assert!(record_of(&reply).starts_with("001 other-source "));
}

#[test]
fn one_source_cannot_starve_the_others() {
    let home = temp_home("starve");
    write_config(
        &home,
        "[server]\nmax_connections = 40\nmax_connections_per_source = 10\nhandshake_timeout = 4\nconnection_timeout = 10\n",
    );
    let s = Server::start(&home, &[]);
    // One source opens 30 silent connections: 10 are held (until the handshake deadline), the rest
    // are closed at once.
    let hog: Vec<TcpStream> = (0..30).map(|_| connect_from("127.0.0.1", s.port)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let closed_at_once = hog
        .iter()
        .filter(|c| {
            c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            let read = (&mut &**c).read(&mut [0u8; 1]);
            matches!(read, Ok(0)) || matches!(read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
        })
        .count();
    assert_eq!(closed_at_once, 20, "connections past the per-source bound are closed at once");
    // Everyone else still registers.
    for (i, source) in ["127.0.0.2", "127.0.0.3"].iter().enumerate() {
        let mut tls = handshake(connect_from(source, s.port)).unwrap();
        tls.write_all(format!("OSSEC A:'fair-{i}'\n").as_bytes()).unwrap();
        let mut reply = Vec::new();
        let _ = tls.read_to_end(&mut reply);
        assert!(record_of(&reply).contains(&format!(" fair-{i} ")), "{}", s.log_text());
    }
    // The held ones are closed by the handshake deadline.
    let held = hog.iter().find(|c| c.set_read_timeout(Some(Duration::from_secs(8))).is_ok()).unwrap();
    let read = (&mut &*held).read(&mut [0u8; 1]);
    assert!(matches!(read, Ok(0)) || read.is_err(), "{read:?}");
    assert!(s.logged("no TLS handshake within 4 s"));
}

#[test]
fn an_eight_digit_id_does_not_stop_enrollment() {
    let home = temp_home("bigid");
    let s = Server::start(&home, &[]);
    let reply = admin(&home, r#"{"function":"add","arguments":{"name":"top","ip":"any","id":"99999999"}}"#);
    assert!(reply.starts_with(r#"{"error":0"#), "{reply}");
    assert!(record_of(&tls_exchange(s.port, b"OSSEC A:'after-top'\n")).starts_with("001 after-top "));
    assert!(record_of(&tls_exchange(s.port, b"OSSEC A:'next'\n")).starts_with("002 next "));
    let reply = admin(&home, r#"{"function":"remove","arguments":{"id":"99999999","purge":true}}"#);
    assert!(reply.starts_with(r#"{"error":0"#), "{reply}");
    assert!(s.stop());
    let s = Server::start(&home, &[]);
    assert!(s.logged("highest ID 99999999"), "{}", s.log_text());
    assert!(record_of(&tls_exchange(s.port, b"OSSEC A:'after-restart'\n")).starts_with("003 after-restart "));
}

/// A key-poll server whose script answers agent 101 and refuses every other ID.
fn keypoll_server(dir: &Path, extra: &str) -> Server {
    let script = dir.join("lookup.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nif [ \"$2\" = 101 ]; then echo '{\"error\":0,\"data\":{\"id\":\"101\",\"name\":\"polled\",\"ip\":\"any\",\"key\":\"k101\"}}'; \
         else echo '{\"error\":4,\"message\":\"unknown\"}'; fi\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = dir.join("home");
    write_config(
        &home,
        &format!(
            "[key_request]\nenabled = true\nexec_path = {:?}\nnegative_cache = 0\n{extra}",
            script.display().to_string()
        ),
    );
    Server::start(&home, &[])
}

#[test]
fn key_polling_goes_on_past_a_requester_that_never_reads() {
    let dir = temp_home("kp-deaf");
    let s = keypoll_server(&dir, "threads = 4\n");
    let deaf_path = dir.join("deaf.sock");
    let deaf = UnixDatagram::bind(&deaf_path).unwrap();
    let target = s.home.join("queue/sockets/krequest");
    for id in 200..260 {
        deaf.send_to(format!("id:{id}").as_bytes(), &target).unwrap();
    }
    let out = Command::new(BIN)
        .args(["poll", "--home"])
        .arg(&s.home)
        .args(["id", "101", "--timeout", "20"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}\n{}", s.log_text());
    assert!(String::from_utf8_lossy(&out.stdout).contains("added: agent '101'"));
    drop(deaf);
}

#[test]
fn poll_honours_its_timeout_when_the_server_takes_nothing() {
    let home = temp_home("poll-full");
    std::fs::create_dir_all(home.join("queue/sockets")).unwrap();
    // A krequest socket nobody reads, filled up.
    let stuck = UnixDatagram::bind(home.join("queue/sockets/krequest")).unwrap();
    let filler = UnixDatagram::unbound().unwrap();
    filler.set_nonblocking(true).unwrap();
    while filler.send_to(b"id:001", home.join("queue/sockets/krequest")).is_ok() {}
    let mut child = Command::new(BIN)
        .args(["poll", "--home"])
        .arg(&home)
        .args(["id", "001", "--timeout", "2"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("agentkeys poll --timeout 2 still running after 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(!status.success());
    assert!(stderr.contains("did not take the request within 2 s"), "{stderr}");
    drop(stuck);
}

#[test]
fn shutdown_is_bounded_with_lookups_queued_and_running() {
    let dir = temp_home("kp-shutdown");
    let pids = dir.join("pids");
    let script = dir.join("hang.sh");
    std::fs::write(&script, format!("#!/bin/sh\nsleep 300 &\necho $! >> {}\nwait\n", pids.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = dir.join("home");
    write_config(
        &home,
        &format!(
            "[key_request]\nenabled = true\nexec_path = {:?}\nthreads = 2\nqueue_size = 1024\ntimeout = 60\n",
            script.display().to_string()
        ),
    );
    let mut s = Server::start(&home, &[]);
    let client = UnixDatagram::unbound().unwrap();
    for id in 100..400 {
        client.send_to(format!("id:{id}").as_bytes(), home.join("queue/sockets/krequest")).unwrap();
    }
    for _ in 0..100 {
        if std::fs::read_to_string(&pids).map_or(0, |p| p.lines().count()) >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill").args(["-TERM", &s.child.id().to_string()]).status();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "still running 60 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{}", s.log_text());
    assert!(s.logged("queued lookup(s) dropped"), "{}", s.log_text());
    assert!(s.logged("shutting down: lookup 'id:"), "{}", s.log_text());
    // Every script's child was killed with its process group.
    for pid in std::fs::read_to_string(&pids).unwrap().lines() {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = state.rsplit(") ").next().unwrap_or("").chars().next();
        assert!(matches!(state, None | Some('Z' | 'X')), "sleep {pid} still runs");
    }
}

/// A field of /proc/<pid>/status, in kB.
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn the_admin_socket_bounds_connections_and_memory() {
    let home = temp_home("admin-bounds");
    let s = Server::start(&home, &[]);
    let silent: Vec<UnixStream> =
        (0..100).map(|_| UnixStream::connect(home.join("queue/sockets/auth")).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let closed = silent
        .iter()
        .filter(|c| {
            c.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
            matches!((&mut &**c).read(&mut [0u8; 1]), Ok(0))
        })
        .count();
    assert_eq!(closed, 36, "connections past the bound (64) are closed at once");
    drop(silent);
    std::thread::sleep(Duration::from_millis(200));

    // Four 16 MiB add-many frames at once (every entry invalid, so nothing is written).
    let item = r#"{"name":"!","ip":"any"},"#;
    let count = (16 << 20) / item.len() - 8;
    let mut frame = String::from(r#"{"function":"add-many","arguments":{"agents":["#);
    frame.push_str(&item.repeat(count));
    frame.push_str(r#"{"name":"!","ip":"any"}]}}"#);
    assert!(frame.len() <= 16 << 20);
    let before = status_kb(s.child.id(), "VmRSS:");
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (home, frame) = (home.clone(), frame.clone());
            std::thread::spawn(move || admin(&home, &frame))
        })
        .collect();
    for sender in senders {
        let reply = sender.join().unwrap();
        assert!(reply.starts_with(r#"{"error":0,"data":[{"error":9005"#), "{:.200}", reply);
    }
    let peak = status_kb(s.child.id(), "VmHWM:");
    assert!(peak < 700 * 1024, "peak RSS {peak} kB for four 16 MiB frames");
    // The last reply may still be being freed when the client has read it: give it a moment.
    let mut after = status_kb(s.child.id(), "VmRSS:");
    for _ in 0..40 {
        if after < before + 128 * 1024 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        after = status_kb(s.child.id(), "VmRSS:");
    }
    assert!(after < before + 128 * 1024, "memory not returned: {before} kB before, {after} kB after");
    assert!(admin(&home, r#"{"function":"get","arguments":{"id":"001"}}"#).starts_with(r#"{"error":"#));
}

#[test]
fn removed_lines_do_not_force_rewrites() {
    let home = temp_home("appends");
    std::fs::create_dir_all(home.join("etc")).unwrap();
    std::fs::write(home.join("etc/client.keys"), "001 a1 any k1\n002 !gone any k2\n").unwrap();
    let s = Server::start(&home, &[]);
    let inode = std::fs::metadata(home.join("etc/client.keys")).unwrap().ino();
    for i in 0..5 {
        assert!(tls_exchange(s.port, format!("OSSEC A:'new-{i}'\n").as_bytes()).starts_with(b"OSSEC K:"));
    }
    assert_eq!(std::fs::metadata(home.join("etc/client.keys")).unwrap().ino(), inode, "appended, not rewritten");
    assert!(s.keys().starts_with("001 a1 any k1\n002 !gone any k2\n003 new-0 any "), "{}", s.keys());
    assert!(s.stop());
    let s = Server::start(&home, &[]);
    assert!(s.logged("loaded 6 agents"), "{}", s.log_text());
}

#[test]
fn unsafe_modes_links_and_duplicate_addresses_are_handled() {
    // Mode 0666: warned and tightened.
    let home = temp_home("mode");
    std::fs::create_dir_all(home.join("etc")).unwrap();
    std::fs::write(home.join("etc/client.keys"), "001 a1 10.0.0.1 k1\n002 a2 10.0.0.1 k2\n").unwrap();
    std::fs::set_permissions(home.join("etc/client.keys"), std::fs::Permissions::from_mode(0o666)).unwrap();
    let s = Server::start(&home, &[]);
    assert!(s.logged("mode 0666 let other users read agent keys; changed to 0640"), "{}", s.log_text());
    assert!(s.logged("client.keys:2: duplicate address 10.0.0.1 (agent '002')"), "{}", s.log_text());
    assert_eq!(std::fs::metadata(home.join("etc/client.keys")).unwrap().permissions().mode() & 0o777, 0o640);
    drop(s);

    // A symbolic link is followed and stays a link through rewrites.
    let home = temp_home("link");
    std::fs::create_dir_all(home.join("etc")).unwrap();
    let real = home.join("real.keys");
    std::fs::write(&real, "001 a1 any k1\n").unwrap();
    std::os::unix::fs::symlink(&real, home.join("etc/client.keys")).unwrap();
    let s = Server::start(&home, &[]);
    assert!(s.logged("a symbolic link to"), "{}", s.log_text());
    assert!(tls_exchange(s.port, b"OSSEC A:'second'\n").starts_with(b"OSSEC K:"));
    let reply = admin(&home, r#"{"function":"remove","arguments":{"id":"001"}}"#);
    assert!(reply.starts_with(r#"{"error":0"#), "{reply}");
    assert!(std::fs::symlink_metadata(home.join("etc/client.keys")).unwrap().file_type().is_symlink());
    let text = std::fs::read_to_string(&real).unwrap();
    assert!(text.starts_with("002 second any ") && text.contains("001 !a1 any k1"), "{text}");
    drop(s);

    // A dangling link is refused with a clear message.
    let home = temp_home("dangling");
    std::fs::create_dir_all(home.join("etc")).unwrap();
    std::os::unix::fs::symlink(home.join("nowhere"), home.join("etc/client.keys")).unwrap();
    let out = common::serve_once(&home, &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("a symbolic link whose target cannot be opened"), "{out:?}");
}

/// kill -9 in the middle of registrations, `AGENTKEYS_KILL_CYCLES` times (5 by default; `make
/// kill-test` runs 100): every acknowledged agent survives, no ID or name is doubled, the file loads.
#[test]
fn kill_nine_cycles_lose_no_acknowledged_agent() {
    let cycles: usize = std::env::var("AGENTKEYS_KILL_CYCLES").ok().and_then(|n| n.parse().ok()).unwrap_or(5);
    let home = temp_home("kill9");
    let mut acked: Vec<String> = Vec::new();
    for cycle in 0..cycles {
        let mut s = Server::start(&home, &[]);
        let port = s.port;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let clients: Vec<_> = (0..8)
            .map(|t| {
                let stop = std::sync::Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    for i in 0.. {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        match try_exchange(port, format!("OSSEC A:'k{cycle}-{t}-{i}'\n").as_bytes()) {
                            Some(reply) if reply.starts_with(b"OSSEC K:") => got.push(record_of(&reply)),
                            Some(_) => {}
                            None => break,
                        }
                    }
                    got
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(150 + 37 * (cycle as u64 % 7)));
        s.child.kill().unwrap();
        let _ = s.child.wait();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for client in clients {
            acked.extend(client.join().unwrap());
        }
    }
    let s = Server::start(&home, &[]);
    let lines = assert_file_loads(&home);
    let present: HashSet<&str> = lines.iter().map(String::as_str).collect();
    let lost: Vec<&String> = acked.iter().filter(|r| !present.contains(r.as_str())).collect();
    assert!(lost.is_empty(), "{} acknowledged agents lost over {cycles} kill -9 cycles: {lost:?}", lost.len());
    eprintln!("kill -9: {cycles} cycles, {} registrations acknowledged, 0 lost, file loads", acked.len());
    assert!(!acked.is_empty());
    assert!(tls_exchange(s.port, b"OSSEC A:'after-kills'\n").starts_with(b"OSSEC K:"));
}
