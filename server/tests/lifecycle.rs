//! Starting, stopping and restarting `agentkeys serve` on real homes.

mod common;

use common::{Server, record_of, serve_once, temp_home, write_config};

const WAZUH_KEYS: &str = "\
001 web-01 any e20e0394dca71bacdea57d4ca25d203f836eca12eeca1ec150c2e5f4309a653a
002 !old-db 10.0.1.2 363a99a6e9c9a8b6bb766d676453538e0cb20162f84b36472d99cfbef4928440
003 data2 10.1.2.0/24 3d263f5cc513072fe6b63ab221d1facf132918235c97f19efd9446257d16ea4a
005 v6 2001:0DB8:0000:000B:0000:0000:0000:001A e20e0394dca71bacdea57d4ca25d203f836eca12eeca1ec150c2e5f4309a653a
1026 rawagent 10.0.0.0/8 b0c5548beda537daddb4da698424d0856c3d4e760eaced803d58c07ad1a95f4c
";

#[test]
fn starts_on_a_wazuh_written_client_keys() {
    let home = temp_home("wazuh");
    // Refuse replacements, to observe collisions (with unknown registration times, upstream's
    // default rules would let a newcomer replace an existing agent).
    write_config(&home, "[auth.force]\nenabled = false\n");
    std::fs::write(home.join("etc/client.keys"), WAZUH_KEYS).unwrap();
    std::fs::set_permissions(home.join("etc/client.keys"), std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .unwrap();
    let s = Server::start(&home, &[]);
    assert!(s.logged("loaded 4 agents"), "{}", s.log_text());
    assert!(s.logged("highest ID 1026"));
    // The CIDR agent's address collides only with a request for its bare address.
    let reply = s.request(b"OSSEC A:'next' IP:'10.1.2.0'\n");
    assert_eq!(String::from_utf8_lossy(&reply), "ERROR: Duplicate IP: 10.1.2.0. Unable to add agent");
    assert!(record_of(&s.request(b"OSSEC A:'next' IP:'10.1.2.0/24'\n")).starts_with("1027 next 10.1.2.0/24 "));
    // All spellings of an IPv6 address collide.
    let reply = s.request(b"OSSEC A:'v6b' IP:'2001:db8:0:b::1a'\n");
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "ERROR: Duplicate IP: 2001:0DB8:0000:000B:0000:0000:0000:001A. Unable to add agent"
    );
    let keys = s.keys();
    assert!(keys.starts_with(WAZUH_KEYS.lines().next().unwrap()), "existing lines are kept");
    // The Wazuh-written file is kept byte for byte (its `!` line included) and the new agent is
    // appended after it (upstream loads `!` lines wherever they stand).
    assert!(keys.starts_with(WAZUH_KEYS), "the existing file is kept as it was:\n{keys}");
    assert!(keys[WAZUH_KEYS.len()..].starts_with("1027 next 10.1.2.0/24 "), "{keys}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(home.join("etc/client.keys")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the mode of an existing client.keys is kept");
}

#[test]
fn a_bad_line_stops_the_start_with_file_and_line() {
    let home = temp_home("badline");
    std::fs::create_dir_all(home.join("etc")).unwrap();
    std::fs::write(home.join("etc/client.keys"), "001 a1 any k1\n002 a2 any k2\n003 bad name any k3\n004 a4 any k4\n")
        .unwrap();
    let out = serve_once(&home, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("etc/client.keys:3: agent address")
            || stderr.contains("etc/client.keys:3: invalid agent address"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(home.join("etc/client.keys")).unwrap().lines().count(),
        4,
        "nothing was changed"
    );
}

#[test]
fn ids_are_never_reused_after_purge_and_restart() {
    let home = temp_home("purge");
    write_config(&home, "[auth]\npurge = true\n[auth.force]\nafter_registration_time = 0\n");
    let s = Server::start(&home, &[]);
    for name in ["a1", "a2", "a3"] {
        s.request(format!("OSSEC A:'{name}'\n").as_bytes());
    }
    // Replace a3 (ID 003) by name: it gets 004; with purge the old line disappears.
    assert!(record_of(&s.request(b"OSSEC A:'a3'\n")).starts_with("004 a3 "));
    assert!(!s.keys().contains("003 "));
    assert!(s.stop());
    // An operator purges the newest agent by hand, as manage_agents would.
    let keys = std::fs::read_to_string(home.join("etc/client.keys")).unwrap();
    let kept: String = keys.lines().filter(|l| !l.starts_with("004 ")).map(|l| format!("{l}\n")).collect();
    std::fs::write(home.join("etc/client.keys"), kept).unwrap();
    let s = Server::start(&home, &[]);
    assert!(record_of(&s.request(b"OSSEC A:'a5'\n")).starts_with("005 a5 "), "IDs 003 and 004 were issued before");
}

#[test]
fn a_torn_append_is_recovered_at_start() {
    let home = temp_home("torn");
    std::fs::create_dir_all(home.join("etc")).unwrap();
    std::fs::write(home.join("etc/client.keys"), "001 a1 any k1\n002 a2 an").unwrap();
    let s = Server::start(&home, &[]);
    assert!(s.logged("client.keys:2: cut off a partial last line"), "{}", s.log_text());
    assert!(record_of(&s.request(b"OSSEC A:'a2'\n")).starts_with("002 a2 any "));
    assert_eq!(s.keys().lines().count(), 2);
}

#[test]
fn check_prints_the_effective_configuration() {
    let home = temp_home("check");
    write_config(
        &home,
        "[auth]\nuse_password = true\n[auth.force]\ndisconnected_time = { enabled = false, value = \"2h\" }\n",
    );
    let out = serve_once(&home, &["--check"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("use_password = true")
            && stdout.contains("value = 7200")
            && stdout.ends_with("# configuration OK\n"),
        "{stdout}"
    );
    assert!(!home.join("etc/client.keys").exists(), "--check changes nothing");

    write_config(&home, "[auth]\nport = 1515\n\n[server]\nmax_connection = 5\n");
    let out = serve_once(&home, &["--check"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("agentkeys.toml: TOML parse error at line 5")
            && stderr.contains("unknown field `max_connection`"),
        "{stderr}"
    );
}

#[test]
fn imports_the_auth_block_of_ossec_conf() {
    let home = temp_home("ossec");
    std::fs::create_dir_all(home.join("etc")).unwrap();
    let conf = home.join("ossec.conf");
    std::fs::write(
        &conf,
        "<ossec_config>\n  <auth>\n    <use_password>yes</use_password>\n    <purge>yes</purge>\n    <force><enabled>no</enabled></force>\n  </auth>\n</ossec_config>\n",
    )
    .unwrap();
    std::fs::write(home.join("etc/authd.pass"), "from-ossec-conf\n").unwrap();
    let out = serve_once(&home, &["--check", "--ossec-conf", conf.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("use_password = true") && stdout.contains("purge = true"), "{stdout}");
    let s = Server::start(&home, &["--ossec-conf", conf.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&s.request(b"OSSEC A:'nopass'\n")),
        "ERROR: Invalid password. Unable to add agent"
    );
    assert!(
        record_of(&s.request(b"OSSEC PASS: from-ossec-conf OSSEC A:'withpass'\n")).starts_with("001 withpass any ")
    );

    std::fs::write(
        &conf,
        "<ossec_config>\n<auth>\n<ssl_verify_host>maybe</ssl_verify_host>\n</auth>\n</ossec_config>\n",
    )
    .unwrap();
    let out = serve_once(&home, &["--ossec-conf", conf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("ossec.conf:3: Invalid value for element 'ssl_verify_host': maybe.")
    );
}

#[test]
fn a_weak_password_file_stops_the_start() {
    let home = temp_home("weakpass");
    write_config(&home, "[auth]\nuse_password = true\n");
    std::fs::write(home.join("etc/authd.pass"), "ab\n").unwrap();
    let out = serve_once(&home, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 3 characters"));
}

#[test]
fn durability_fast_and_a_clean_stop() {
    let home = temp_home("fast");
    write_config(&home, "[server]\ndurability = \"fast\"\n");
    let s = Server::start(&home, &[]);
    assert!(record_of(&s.request(b"OSSEC A:'quick'\n")).starts_with("001 quick any "));
    assert!(s.stop(), "SIGTERM ends the server with status 0");
    let s = Server::start(&home, &[]);
    assert!(s.logged("loaded 1 agents"));
}

#[test]
fn the_default_home_is_created_with_the_wazuh_layout() {
    let home = temp_home("layout");
    let s = Server::start(&home, &[]);
    for path in ["etc/client.keys", "etc/sslmanager.cert", "etc/sslmanager.key", "etc/shared/default", "queue/sockets"]
    {
        assert!(home.join(path).exists(), "{path} missing");
    }
    drop(s);
}

/// The documented example configuration stays valid.
#[test]
fn the_example_configuration_is_valid() {
    let home = temp_home("example-conf");
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/agentkeys.toml");
    let out = serve_once(&home, &["--config", example.to_str().unwrap(), "--check"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("# configuration OK\n"));
}

/// SIGTERM is caught from the very start: one sent the moment the server says it is listening
/// stops it cleanly (exit 0) instead of killing it with the signal's default action.
#[test]
fn a_sigterm_right_after_start_stops_cleanly() {
    let home = temp_home("sigterm-at-start");
    for cycle in 0..20 {
        let server = Server::start(&home, &[]);
        assert!(server.stop(), "cycle {cycle}: the server did not exit cleanly");
    }
}

/// systemd's notification protocol: READY=1 (with a status line) once the server serves, WATCHDOG=1
/// keep-alives at half the watchdog period, STOPPING=1 on SIGTERM.
#[test]
fn systemd_notifications() {
    use std::os::unix::net::UnixDatagram;
    let home = temp_home("sd-notify");
    let socket_path = home.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let path = socket_path.to_str().unwrap().to_owned();
    let server =
        common::Server::start_env(&home, &[], &[("NOTIFY_SOCKET", path.as_str()), ("WATCHDOG_USEC", "200000")]);
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    while !seen.iter().any(|m: &String| m.contains("WATCHDOG=1")) {
        let n = socket.recv(&mut buf).expect("a notification");
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(seen[0].starts_with("READY=1\nSTATUS=serving registrations: port "), "{seen:?}");
    assert!(seen[0].contains("HTTPS port"), "{seen:?}");
    assert!(server.stop());
    let mut stopping = false;
    while let Ok(n) = socket.recv(&mut buf) {
        if String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1") {
            stopping = true;
            break;
        }
    }
    assert!(stopping, "STOPPING=1 on SIGTERM");
}

/// The manager certificate a TLS handshake on `port` presents.
fn presented_cert(port: u16) -> Vec<u8> {
    use std::io::Write;
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let conn = rustls::ClientConnection::new(
        common::client_config(),
        rustls::pki_types::ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    let der = tls.conn.peer_certificates().unwrap()[0].to_vec();
    let _ = tls.write_all(b"\n");
    der
}

fn hangup(server: &Server) {
    let status = std::process::Command::new("kill").args(["-HUP", &server.child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// SIGHUP re-reads the password, the certificates and the configuration without dropping a
/// connection; a bad configuration is refused and the running one stays.
#[test]
fn sighup_reloads_password_and_certificate_and_refuses_a_bad_config() {
    use std::io::{Read, Write};
    let home = temp_home("sighup");
    write_config(&home, "[auth]\nuse_password = true\n");
    std::fs::write(home.join("etc/authd.pass"), "first-pass\n").unwrap();
    let server = Server::start(&home, &[]);
    assert!(server.request(b"OSSEC PASS: first-pass OSSEC A:'hup-1'\n").starts_with(b"OSSEC K:'"));
    let cert_before = presented_cert(server.port);

    // A connection accepted before the reload is answered after it, with the settings it got.
    let tcp = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let conn = rustls::ClientConnection::new(
        common::client_config(),
        rustls::pki_types::ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    let mut early = rustls::StreamOwned::new(conn, tcp);
    while early.conn.is_handshaking() {
        early.conn.complete_io(&mut early.sock).unwrap();
    }

    std::fs::write(home.join("etc/authd.pass"), "second-pass\n").unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["cert", "generate", "--force", "--home"])
        .arg(&home)
        .output()
        .unwrap();
    assert!(out.status.success());
    hangup(&server);
    assert!(server.logged("configuration reloaded (SIGHUP)"), "{}", server.log_text());

    early.write_all(b"OSSEC PASS: first-pass OSSEC A:'hup-early'\n").unwrap();
    let mut reply = Vec::new();
    let _ = early.read_to_end(&mut reply);
    assert!(
        reply.starts_with(b"OSSEC K:'"),
        "the early connection keeps its settings: {}",
        String::from_utf8_lossy(&reply)
    );

    assert!(server.request(b"OSSEC PASS: first-pass OSSEC A:'hup-2'\n").starts_with(b"ERROR: Invalid password"));
    assert!(server.request(b"OSSEC PASS: second-pass OSSEC A:'hup-3'\n").starts_with(b"OSSEC K:'"));
    assert_ne!(presented_cert(server.port), cert_before, "the new certificate is served");
    // A changed option is in force, and getconfig shows it.
    write_config(&home, "[auth]\nuse_password = true\nuse_source_ip = true\n");
    hangup(&server);
    for _ in 0..100 {
        if common::admin_ask(&home, b"getconfig auth").contains(r#""use_source_ip":"yes""#) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(common::admin_ask(&home, b"getconfig auth").contains(r#""use_source_ip":"yes""#));
    let reply = server.request(b"OSSEC PASS: second-pass OSSEC A:'hup-src'\n");
    assert!(String::from_utf8_lossy(&reply).contains(" hup-src 127.0.0.1 "), "{}", String::from_utf8_lossy(&reply));
    write_config(&home, "[auth]\nuse_password = true\n");
    hangup(&server);
    for _ in 0..100 {
        if common::admin_ask(&home, b"getconfig auth").contains(r#""use_source_ip":"no""#) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // A configuration that does not load is refused; everything keeps working as before.
    std::fs::write(home.join("etc/agentkeys.toml"), "[auth\nuse_password = true\n").unwrap();
    hangup(&server);
    assert!(server.logged("reload refused, the running configuration stays"), "{}", server.log_text());
    assert!(server.request(b"OSSEC PASS: second-pass OSSEC A:'hup-4'\n").starts_with(b"OSSEC K:'"));
    // A password file that disappeared is refused too (never a silent switch to open mode).
    write_config(&home, "[auth]\nuse_password = true\n");
    std::fs::remove_file(home.join("etc/authd.pass")).unwrap();
    hangup(&server);
    assert!(server.logged("authd.pass: not found"), "{}", server.log_text());
    assert!(server.request(b"OSSEC A:'hup-5'\n").starts_with(b"ERROR: Invalid password"));
    assert!(server.stop());
}

/// The example systemd unit is valid and hardened: `systemd-analyze verify` passes (with this
/// build as ExecStart) and `security --offline=true` rates it at most 3.0 ("OK"). Machines without
/// systemd-analyze skip it with a notice.
#[test]
fn the_example_unit_is_valid_and_hardened() {
    let unit = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/agentkeys.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(text.contains("Type=notify") && text.contains("ExecReload=/bin/kill -HUP $MAINPID"));
    if std::process::Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("notice: systemd-analyze not found; unit not analysed");
        return;
    }
    let dir = temp_home("unit");
    let copy = dir.join("agentkeys.service");
    let local: String = text
        .lines()
        .filter(|l| !l.starts_with("Documentation="))
        .map(|l| l.replace("/usr/local/bin/agentkeys", common::BIN) + "\n")
        .collect();
    std::fs::write(&copy, local).unwrap();
    let verify = std::process::Command::new("systemd-analyze").arg("verify").arg(&copy).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    let security =
        std::process::Command::new("systemd-analyze").args(["security", "--offline=true"]).arg(&copy).output().unwrap();
    let out = String::from_utf8_lossy(&security.stdout);
    let level: f64 = out
        .lines()
        .find_map(|l| l.split("Overall exposure level for agentkeys.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {out}"));
    assert!(level <= 3.0, "exposure {level}: {out}");
}

/// The commit window: registrations whose connections are open when a batch forms are written with
/// it (one fsync), and a batch waits at most `commit_delay_ms` for a connection that never asks.
#[test]
fn registrations_on_their_way_share_one_commit_and_the_window_is_bounded() {
    use std::io::{Read, Write};
    let home = temp_home("commit-window");
    write_config(&home, "[server]\ncommit_delay_ms = 1000\n");
    let server = Server::start(&home, &["--metrics-bind", "127.0.0.1:0"]);
    // Four agents connect and finish their handshakes, then all send at once.
    let handshaken: Vec<_> = (0..4)
        .map(|_| {
            let tcp = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            tcp.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
            let conn = rustls::ClientConnection::new(common::client_config(), "localhost".try_into().unwrap()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            while tls.conn.is_handshaking() {
                tls.conn.complete_io(&mut tls.sock).unwrap();
            }
            tls
        })
        .collect();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
    let agents: Vec<_> = handshaken
        .into_iter()
        .enumerate()
        .map(|(i, mut tls)| {
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                tls.write_all(format!("OSSEC A:'window-{i}'\n").as_bytes()).unwrap();
                let mut reply = Vec::new();
                let _ = tls.read_to_end(&mut reply);
                reply
            })
        })
        .collect();
    for agent in agents {
        assert!(agent.join().unwrap().starts_with(b"OSSEC K:'"));
    }
    let text = server.scrape_metrics();
    for line in ["agentkeys_store_batch_size_count 1", "agentkeys_store_batch_size_sum 4.0"] {
        assert!(text.lines().any(|l| l == line), "the four registrations were not one commit: {line:?} in:\n{text}");
    }
    // A connection that never sends holds the next batch for the window, no longer.
    let idle = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let started = std::time::Instant::now();
    assert!(server.request(b"OSSEC A:'window-late'\n").starts_with(b"OSSEC K:'"));
    assert!(started.elapsed() >= std::time::Duration::from_millis(900), "{:?}", started.elapsed());
    drop(idle);
    assert_eq!(server.keys().lines().count(), 5);
    assert!(server.stop());
}

/// `--metrics-bind` serves Prometheus text that matches what a test did; `agentkeys status`
/// summarises the same counters.
#[test]
fn metrics_and_status_match_the_registrations_made() {
    let home = temp_home("metrics");
    let server = Server::start(&home, &["--metrics-bind", "127.0.0.1:0"]);
    assert!(server.request(b"OSSEC A:'m-1'\n").starts_with(b"OSSEC K:'"));
    assert!(server.request(b"OSSEC A:'m-2'\n").starts_with(b"OSSEC K:'"));
    assert!(server.request(b"OSSEC A:'bad name'\n").starts_with(b"ERROR: Invalid agent name"));
    let r = common::post_enroll(server.https_port(), None, r#"{"name":"m-3","version":"v5.0.0"}"#);
    assert_eq!(r.status, 200);
    let text = server.scrape_metrics();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    for line in [
        r#"agentkeys_registrations_total{protocol="1515",outcome="accepted"} 2"#,
        r#"agentkeys_registrations_total{protocol="1515",outcome="InvalidName"} 1"#,
        r#"agentkeys_registrations_total{protocol="https",outcome="accepted"} 1"#,
        "agentkeys_agents 3",
        r#"agentkeys_registration_seconds_count{protocol="https"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
    }
    assert!(text.contains("agentkeys_store_commit_seconds_count") && text.contains("agentkeys_open_connections"));
    let status = std::process::Command::new(common::BIN).args(["status", "--home"]).arg(&home).output().unwrap();
    let out = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success()
            && out.contains(": 3 agents")
            && out.contains("registrations on 1515: InvalidName 1, accepted 2"),
        "{out}"
    );
    assert!(server.stop());
    let gone = std::process::Command::new(common::BIN).args(["status", "--home"]).arg(&home).output().unwrap();
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no server is running"));
}

/// `--log-format json --log-file`: one JSON object per line, a registration outcome with its
/// fields, and after logrotate's rename plus SIGHUP the server writes to a fresh file.
#[test]
fn json_logs_to_a_file_reopened_on_sighup() {
    let home = temp_home("json-logs");
    let log = home.join("agentkeys.log");
    /// Kills the server if the test fails half-way.
    struct Child(std::process::Child);
    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = std::process::Command::new(common::BIN)
        .args(["serve", "--home"])
        .arg(&home)
        .args(["--port", "0", "--https-port", "0", "--bind", "127.0.0.1", "--log-format", "json", "--log-file"])
        .arg(&log)
        .env("AGENTKEYS_LOG", "info")
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(Child)
        .unwrap();
    let wait_for = |path: &std::path::Path, needle: &str| -> String {
        for _ in 0..200 {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.contains(needle) {
                return text;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{needle:?} never appeared in {}", path.display());
    };
    let text = wait_for(&log, "agentkeys: listening on");
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let listening = lines
        .iter()
        .find(|l| l["fields"]["message"].as_str().is_some_and(|m| m.starts_with("agentkeys: listening on")))
        .unwrap();
    assert_eq!(listening["level"], "INFO");
    let port: u16 = listening["fields"]["message"].as_str().unwrap().rsplit(':').next().unwrap().parse().unwrap();
    assert!(common::tls_exchange(port, b"OSSEC A:'json-1'\n").starts_with(b"OSSEC K:'"));
    let text = wait_for(&log, "registration: registered as agent");
    let outcome: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["fields"]["message"].as_str().is_some_and(|m| m.starts_with("registration: registered")))
        .unwrap();
    assert_eq!(outcome["fields"]["agent"], "json-1");
    assert_eq!(outcome["fields"]["source"], "127.0.0.1");
    assert_eq!(outcome["fields"]["method"], "1515");
    assert!(outcome["fields"]["latency_ms"].is_u64());
    // logrotate: rename, then SIGHUP; the server opens a new file at the same path.
    let rotated = home.join("agentkeys.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    let hup = std::process::Command::new("kill").args(["-HUP", &child.0.id().to_string()]).status().unwrap();
    assert!(hup.success());
    assert!(common::tls_exchange(port, b"OSSEC A:'json-2'\n").starts_with(b"OSSEC K:'"));
    wait_for(&log, "json-2");
    assert!(!std::fs::read_to_string(&rotated).unwrap().contains("json-2"));
    let _ = std::process::Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status();
    assert!(child.0.wait().unwrap().success());
}

/// `--check` looks at what the configuration names, not only at its syntax.
#[test]
fn check_checks_files_programs_and_the_cluster_role() {
    let home = temp_home("check");
    let check = |extra: &[&str]| {
        let mut args = vec!["--check"];
        args.extend_from_slice(extra);
        serve_once(&home, &args)
    };
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("will be created (self-signed) at the first start"));
    // A missing agent CA, a key-poll program that does not exist.
    write_config(
        &home,
        "[auth]\nssl_agent_ca = \"etc/missing-ca.pem\"\n[key_request]\nenabled = true\nexec_path = \"/nonexistent/keypoll.py id\"\n",
    );
    common::Server::start(&temp_home("check-certs"), &[]).stop();
    certs_into(&home);
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing-ca.pem"), "{err}");
    assert!(err.contains("key_request.exec_path: /nonexistent/keypoll.py: not found"), "{err}");
    // A certificate that does not match its key.
    write_config(&home, "");
    let other = temp_home("check-other");
    let out =
        std::process::Command::new(common::BIN).args(["cert", "generate", "--home"]).arg(&other).output().unwrap();
    assert!(out.status.success());
    std::fs::copy(other.join("etc/sslmanager.key"), home.join("etc/sslmanager.key")).unwrap();
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("port 1515 TLS"), "{out:?}");
    // A Wazuh cluster worker is refused, with the reason.
    certs_into(&home);
    let conf = home.join("ossec.conf");
    std::fs::write(
        &conf,
        "<ossec_config><cluster><node_type>worker</node_type><disabled>no</disabled></cluster><auth><port>1515</port></auth></ossec_config>\n",
    )
    .unwrap();
    let out = check(&["--ossec-conf", conf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cluster worker"), "{out:?}");
    std::fs::write(&conf, "<ossec_config><auth><port>1515</port></auth></ossec_config>\n").unwrap();
    let out = check(&["--ossec-conf", conf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // The socket directory must be writable (here it is a file, which no one can write into).
    std::fs::create_dir_all(home.join("queue")).unwrap();
    let _ = std::fs::remove_dir_all(home.join("queue/sockets"));
    std::fs::write(home.join("queue/sockets"), "").unwrap();
    let blocked = check(&[]);
    assert_eq!(blocked.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&blocked.stderr).contains("queue/sockets: not writable"), "{blocked:?}");
    std::fs::remove_file(home.join("queue/sockets")).unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(r#"agent_status = "wazuh-db""#));
}

/// A matching manager certificate and key in `home`.
fn certs_into(home: &std::path::Path) {
    let out = std::process::Command::new(common::BIN)
        .args(["cert", "generate", "--force", "--home"])
        .arg(home)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}
