//! `agentkeys bench register` against a real server: the TLS floor it starts and compares with
//! (port 1515 and HTTPS), and the open loop. Small counts: this checks the tool, not the figures.

mod common;

use common::*;

fn bench(args: &[&str]) -> String {
    let out = std::process::Command::new(BIN).args(["bench", "register"]).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

#[test]
fn register_reports_server_cpu_next_to_the_tls_floor_in_one_run() {
    let home = temp_home("bench-floor");
    write_config(&home, "[server]\nmax_connections_per_source = 1000\n");
    let server = Server::start(&home, &[]);
    let pid = server.child.id().to_string();
    let (port, https) = (server.port.to_string(), server.https_port().to_string());
    let text = bench(
        &["-p", &port, "--count", "60", "--concurrency", "6", "--server-pid", &pid, "--floor"]
            .into_iter()
            .chain([home.to_str().unwrap()])
            .collect::<Vec<_>>(),
    );
    assert!(text.contains("registrations [ring]: 60 in "), "{text}");
    assert!(text.contains("TLS floor (bench floor) [ring]: 60 in "), "{text}");
    assert!(text.contains("server CPU per registration / TLS floor: "), "{text}");
    // Six rounds by default, floor and server alternated, each round's ratio shown.
    assert!(text.contains("; 6 rounds: "), "{text}");
    assert_eq!(server.keys().lines().count(), 60, "the floor registers nobody");
    // The same for HTTPS enrollment.
    let text = bench(&[
        "-p",
        &https,
        "--https",
        "--count",
        "30",
        "--concurrency",
        "3",
        "--server-pid",
        &pid,
        "--prefix",
        "h",
        "--floor",
        home.to_str().unwrap(),
    ]);
    assert!(text.contains("registrations (HTTPS) [ring]: 30 in "), "{text}");
    assert!(
        text.contains("TLS floor (bench floor) (HTTPS) [ring]: 30 in ") || text.contains("TLS floor (bench floor): 30"),
        "{text}"
    );
    assert!(text.contains("/ TLS floor: "), "{text}");
    // --floor without the server's PID: refused with a reason.
    let out = std::process::Command::new(BIN)
        .args(["bench", "register", "-p", &port, "--count", "1", "--floor"])
        .arg(&home)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--server-pid"));
    server.stop();
}

#[test]
fn an_open_loop_starts_registrations_on_schedule_and_names_the_saturation_rate() {
    let home = temp_home("bench-open");
    write_config(&home, "[server]\nmax_connections_per_source = 1000\n");
    let server = Server::start(&home, &[]);
    let text = bench(&["-p", &server.port.to_string(), "--count", "40", "--rate", "100,200", "--prefix", "o"]);
    assert!(text.contains("offered 100/s (open loop)"), "{text}");
    assert!(text.contains("offered 200/s (open loop)"), "{text}");
    assert!(text.contains("saturation: "), "{text}");
    // 40 agents per rate, named apart.
    assert_eq!(server.keys().lines().count(), 80);
    assert!(server.keys().contains(" o-0-39 ") && server.keys().contains(" o-1-39 "));
    // One key-exchange group at a time; a group the build lacks is named with those it has.
    let text = bench(&[
        "-p",
        &server.port.to_string(),
        "--count",
        "5",
        "--concurrency",
        "1",
        "--kx-group",
        "secp256r1",
        "--prefix",
        "k",
    ]);
    assert!(text.contains("registrations [ring, secp256r1]: 5 in "), "{text}");
    let out = std::process::Command::new(BIN)
        .args(["bench", "register", "-p", &server.port.to_string(), "--count", "1", "--kx-group", "ffdhe9999"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no key-exchange group ffdhe9999 in ring (it has X25519"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop();
}
