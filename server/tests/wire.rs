//! Port 1515 over real TLS on 127.0.0.1: the shared request vectors, a client that is not ours
//! (openssl s_client), 1,000 concurrent registrations, and hostile connections.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Server, record_of, temp_home, tls_exchange, write_config};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let dir = std::env::var_os("AGENTKEYS_VECTORS")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors"), PathBuf::from);
    let text = std::fs::read_to_string(dir.join("requests.json")).expect("requests.json");
    serde_json::from_str::<Value>(&text).unwrap()["cases"].as_array().unwrap().clone()
}

/// Every case of requests.json against a server configured as the case says. Cases share a server
/// per configuration. A case whose expected address is the source address gets ours (127.0.0.1):
/// a test on loopback cannot connect from 192.0.0.1.
#[test]
fn request_vectors_over_tls() {
    let mut by_config: BTreeMap<(Option<String>, String, bool), Vec<Value>> = BTreeMap::new();
    for case in vectors() {
        let key = (
            case["server_password"].as_str().map(str::to_owned),
            case["manager_version"].as_str().unwrap().to_owned(),
            case["use_source_ip"].as_bool().unwrap(),
        );
        by_config.entry(key).or_default().push(case);
    }
    let mut checked = 0;
    for ((password, version, use_source_ip), cases) in by_config {
        let home = temp_home("vectors");
        for group in ["Group1", "Group2"] {
            std::fs::create_dir_all(home.join("etc/shared").join(group)).unwrap();
        }
        write_config(
            &home,
            &format!(
                // Every vector comes from one source address: with use_source_ip the later agents are
                // duplicate IPs, so let them replace the earlier ones (the vectors are per request).
                "[auth]\nuse_password = {}\nuse_source_ip = {use_source_ip}\n[auth.force]\nafter_registration_time = 0\n[server]\nmanager_version = \"{version}\"\nhostname = \"the-manager\"\n",
                password.is_some()
            ),
        );
        if let Some(pw) = &password {
            std::fs::write(home.join("etc/authd.pass"), format!("{pw}\n")).unwrap();
        }
        let server = Server::start(&home, &[]);
        for case in cases {
            let request = case["request"].as_str().unwrap();
            let reply = String::from_utf8(server.request(request.as_bytes())).unwrap();
            if case["ok"].as_bool() == Some(true) {
                let record = record_of(reply.as_bytes());
                let fields: Vec<&str> = record.split(' ').collect();
                let expect = &case["expect"];
                assert_eq!(fields[1], expect["name"].as_str().unwrap(), "{case}");
                if let Some(ip) = expect["ip"].as_str() {
                    let ip = if ip == case["source_ip"].as_str().unwrap() { "127.0.0.1" } else { ip };
                    assert_eq!(fields[2], ip, "{case}");
                }
                assert_eq!(fields[3].len(), 64, "{case}");
            } else {
                assert_eq!(reply, format!("{}. Unable to add agent", case["error"].as_str().unwrap()), "{case}");
            }
            checked += 1;
        }
        assert!(server.stop());
    }
    assert_eq!(checked, vectors().len());
}

/// A client that is not ours gets upstream's exact reply bytes, and a clean close.
#[test]
fn openssl_s_client_gets_the_exact_reply() {
    let home = temp_home("openssl");
    write_config(&home, "[server]\nhostname = \"the-manager\"\n");
    let server = Server::start(&home, &[]);
    let run = |request: &str| {
        let mut child = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{}", server.port), "-quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_client");
        child.stdin.take().unwrap().write_all(request.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let reply = run("OSSEC A:'ossl-01' V:'v4.14.7' IP:'10.1.2.3/32'\n");
    let record = record_of(reply.as_bytes());
    assert!(record.starts_with("001 ossl-01 10.1.2.3/32 "), "{reply:?}");
    assert!(server.keys().starts_with("001 ossl-01 10.1.2.3 "), "client.keys holds the file form");
    assert_eq!(run("OSSEC A:'ossl-01'\n"), "ERROR: Duplicate agent name: ossl-01. Unable to add agent");
    assert_eq!(run("OSSEC A:'the-manager'\n"), "ERROR: Invalid agent name: the-manager. Unable to add agent");
    assert_eq!(run("garbage\n"), "ERROR: Invalid request for new agent. Unable to add agent");
}

/// 1,000 registrations from 100 parallel clients all succeed, with distinct IDs and names, and a
/// restart loads exactly those.
#[test]
fn a_thousand_concurrent_registrations() {
    let home = temp_home("load");
    write_config(&home, "[server]\nhostname = \"the-manager\"\n");
    let server = Server::start(&home, &[]);
    let port = server.port;
    let threads: Vec<_> = (0..100)
        .map(|t| {
            std::thread::spawn(move || {
                (0..10)
                    .map(|i| {
                        let reply = tls_exchange(port, format!("OSSEC A:'load-{t}-{i}' V:'v4.14.7'\n").as_bytes());
                        record_of(&reply)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let records: Vec<String> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert_eq!(records.len(), 1000);
    let lines: Vec<String> = server.keys().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 1000);
    let ids: HashSet<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    let names: HashSet<&str> = lines.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!((ids.len(), names.len()), (1000, 1000));
    let replied: HashSet<&str> = records.iter().map(String::as_str).collect();
    assert!(lines.iter().all(|l| replied.contains(l.as_str())), "every reply is in the file");
    assert!(server.stop());

    let server = Server::start(&home, &[]);
    assert!(server.logged("loaded 1000 agents"), "{}", server.log_text());
    assert_eq!(record_of(&server.request(b"OSSEC A:'after-restart'\n")).split(' ').next(), Some("1001"));
}

/// Port probes, failed handshakes and silent clients cost only their own connection.
#[test]
fn hostile_connections_do_not_stop_the_listener() {
    let home = temp_home("hostile");
    write_config(&home, "[server]\nconnection_timeout = 1\n");
    let server = Server::start(&home, &[]);
    drop(TcpStream::connect(("127.0.0.1", server.port)).unwrap());
    let mut plain = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    plain.write_all(b"OSSEC A:'plaintext'\n").unwrap();
    let silent = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let reply = server.request(b"OSSEC A:'still-fine'\n");
    assert!(record_of(&reply).starts_with("001 still-fine any "), "{}", server.log_text());
    // The silent client is closed by the deadline.
    let mut buf = [0u8; 1];
    let closed = std::io::Read::read(&mut &silent, &mut buf);
    assert!(matches!(closed, Ok(0)) || closed.is_err(), "silent connection was not closed");
    // A request without newline is answered when the client stops sending (EOF).
    let reply = common::tls_exchange_then_close(server.port, b"OSSEC A:'no-newline'");
    assert!(record_of(&reply).starts_with("002 no-newline any "));
}

/// Over `max_connections`, new connections are closed at once; the listener keeps serving.
#[test]
fn connections_over_the_bound_are_closed_and_serving_resumes() {
    let home = temp_home("bound");
    write_config(&home, "[server]\nmax_connections = 2\nconnection_timeout = 2\n");
    let server = Server::start(&home, &[]);
    let held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let extra = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    extra.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 1];
    let read = std::io::Read::read(&mut &extra, &mut buf);
    assert!(
        matches!(read, Ok(0)) || matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "{read:?}"
    );
    assert!(server.logged("Too many connections. Rejecting."));
    drop(held);
    // Once the held connections are gone (closed by us, or by the deadline), registrations work.
    let mut reply = Vec::new();
    for _ in 0..50 {
        reply = std::panic::catch_unwind(|| tls_exchange(server.port, b"OSSEC A:'after-bound'\n")).unwrap_or_default();
        if !reply.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(record_of(&reply).starts_with("001 after-bound any "));
}
