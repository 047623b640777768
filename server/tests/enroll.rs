//! `agentkeys enroll` against `agentkeys serve`: every registration option and every force rule.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use common::{Server, fake_wazuh_db, now, temp_home, wdb_agent, write_config};

fn ok(out: &Output) -> bool {
    out.status.code() == Some(0) && String::from_utf8_lossy(&out.stdout).contains("Valid key received")
}

fn refused_with(out: &Output, message: &str) -> bool {
    let stderr = String::from_utf8_lossy(&out.stderr);
    out.status.code() == Some(1) && stderr.contains(&format!("{message} (from manager)"))
}

fn server(toml: &str) -> Server {
    let home = temp_home("enroll");
    write_config(&home, &format!("[server]\nhostname = \"the-manager\"\n{toml}"));
    Server::start(&home, &[])
}

fn keys_path(server: &Server, name: &str) -> String {
    server.home.join(format!("{name}.keys")).display().to_string()
}

#[test]
fn plain_enrollment_writes_the_agent_keys_file() {
    let s = server("");
    let keys = keys_path(&s, "agent");
    let out = s.enroll(&["-A", "web-01", "--keys", &keys]);
    assert!(ok(&out), "{out:?}");
    let agent_file = std::fs::read_to_string(&keys).unwrap();
    assert_eq!(agent_file, s.keys(), "the agent holds exactly the manager's line");
    assert!(agent_file.starts_with("001 web-01 any "));
    assert_eq!(std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777, 0o640);
    assert!(s.logged("registration: registered as agent '001'"));
    // The key is never printed, at any log level: only the ID, the name and where the key went.
    let key = agent_file.trim_end().rsplit(' ').next().unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!printed.contains(key), "{printed}");
    assert!(printed.contains("registered as agent '001' (web-01); key written to"), "{printed}");
    assert!(!s.log_text().contains(agent_file.split(' ').nth(3).unwrap().trim()), "the key must never be logged");
}

#[test]
fn password_right_wrong_and_missing() {
    let home = temp_home("password");
    write_config(&home, "[auth]\nuse_password = true\n");
    std::fs::write(home.join("etc/authd.pass"), "top secret\n").unwrap();
    let s = Server::start(&home, &[]);
    assert!(s.logged("Using password specified on file"));
    assert!(ok(&s.enroll(&["-A", "right", "-P", "top secret", "--keys", &keys_path(&s, "a")])));
    assert!(refused_with(
        &s.enroll(&["-A", "wrong", "-P", "top secreT", "--keys", &keys_path(&s, "b")]),
        "Invalid password"
    ));
    assert!(refused_with(&s.enroll(&["-A", "missing", "--keys", &keys_path(&s, "c")]), "Invalid password"));
    let pass_file = home.join("pass");
    std::fs::write(&pass_file, "top secret\n").unwrap();
    assert!(ok(&s.enroll(&[
        "-A",
        "from-file",
        "--password-file",
        pass_file.to_str().unwrap(),
        "--keys",
        &keys_path(&s, "d")
    ])));
    assert!(s.logged("Invalid password provided by 127.0.0.1. Closing connection."));
    assert!(!s.log_text().contains("top secret"), "the password must never be logged");
}

#[test]
fn a_generated_password_is_written_not_logged() {
    let home = temp_home("genpass");
    write_config(&home, "[auth]\nuse_password = true\n");
    let s = Server::start(&home, &[]);
    let password = std::fs::read_to_string(home.join("etc/authd.pass")).unwrap();
    let password = password.trim();
    assert_eq!(password.len(), 32);
    assert!(!s.log_text().contains(password));
    assert!(ok(&s.enroll(&["-A", "gen", "-P", password, "--keys", &keys_path(&s, "a")])));
}

#[test]
fn groups_existing_missing_and_too_many() {
    let s = server("");
    for g in ["web", "linux"] {
        std::fs::create_dir_all(s.home.join("etc/shared").join(g)).unwrap();
    }
    assert!(ok(&s.enroll(&["-A", "grouped", "-G", "web,linux,web", "--keys", &keys_path(&s, "a")])));
    let state = std::fs::read_to_string(s.home.join("etc/agentkeys.state")).unwrap();
    assert!(state.contains("groups 001 web,linux\n"), "{state}");
    assert!(refused_with(
        &s.enroll(&["-A", "g2", "-G", "web,missing", "--keys", &keys_path(&s, "b")]),
        "Invalid group: missing"
    ));
    // Upstream checks each group in turn (count, name, directory): to reach the limit, all exist.
    let many: Vec<String> = (0..129).map(|i| format!("g{i}")).collect();
    for g in &many {
        std::fs::create_dir_all(s.home.join("etc/shared").join(g)).unwrap();
    }
    let out = s.enroll(&["-A", "g3", "-G", &many.join(","), "--keys", &keys_path(&s, "c")]);
    assert!(refused_with(&out, "Maximum multigroup reached: Limit is 128"), "{out:?}");
    assert!(refused_with(
        &s.enroll(&["-A", "g4", "-G", "..", "--keys", &keys_path(&s, "d")]),
        "Invalid group name: .."
    ));
}

#[test]
fn addresses_given_and_from_the_source() {
    let s = server("");
    let out = s.enroll(&["-A", "fixed", "-I", "::ffff:10.1.2.3", "--keys", &keys_path(&s, "a")]);
    assert!(ok(&out), "{out:?}");
    assert!(std::fs::read_to_string(keys_path(&s, "a")).unwrap().starts_with("001 fixed 10.1.2.3 "));
    assert!(ok(&s.enroll(&["-A", "from-src", "-i", "--keys", &keys_path(&s, "b")])));
    assert!(std::fs::read_to_string(keys_path(&s, "b")).unwrap().starts_with("002 from-src 127.0.0.1 "));
    let both = s.enroll(&["-A", "both", "-i", "-I", "1.2.3.4"]);
    assert_eq!(both.status.code(), Some(2), "-I and -i are incompatible");
}

/// Registers `name` (with `-I ip` when given) and returns the outcome.
fn enroll_as(s: &Server, name: &str, ip: Option<&str>, keys: &str) -> Output {
    let mut args = vec!["-A", name, "--keys", keys];
    if let Some(ip) = ip {
        args.extend(["-I", ip]);
    }
    s.enroll(&args)
}

#[test]
fn duplicates_with_force_disabled_are_refused() {
    let s = server("[auth.force]\nenabled = false\n");
    assert!(ok(&enroll_as(&s, "dup", Some("10.0.0.5"), &keys_path(&s, "a"))));
    assert!(refused_with(&enroll_as(&s, "dup", None, &keys_path(&s, "b")), "Duplicate agent name: dup"));
    assert!(refused_with(&enroll_as(&s, "other", Some("10.0.0.5"), &keys_path(&s, "c")), "Duplicate IP: 10.0.0.5"));
    assert!(s.logged(
        "Duplicate name 'dup', rejecting enrollment. Agent '001' won't be removed because the force option is disabled."
    ));
    assert!(s.logged("Duplicate IP '10.0.0.5', rejecting enrollment. Agent '001' won't be removed because the force option is disabled."));
}

#[test]
fn duplicates_younger_than_after_registration_time_are_refused() {
    let s = server("");
    assert!(ok(&enroll_as(&s, "young", None, &keys_path(&s, "a"))));
    assert!(refused_with(&enroll_as(&s, "young", None, &keys_path(&s, "b")), "Duplicate agent name: young"));
    assert!(s.logged("Agent '001' doesn't comply with the registration time to be removed."));
}

#[test]
fn duplicates_are_replaced_when_the_rules_allow_and_ids_are_not_reused() {
    let s = server("[auth.force]\nafter_registration_time = 0\n");
    assert!(ok(&enroll_as(&s, "dup", Some("10.0.0.5"), &keys_path(&s, "a"))));
    assert!(ok(&enroll_as(&s, "dup", None, &keys_path(&s, "b"))));
    assert!(s.logged("Duplicate name. Removing old agent 'dup' (id '001')."));
    assert!(ok(&enroll_as(&s, "new-owner", Some("10.0.0.5"), &keys_path(&s, "c"))));
    let keys = s.keys();
    let lines: Vec<&str> = keys.lines().collect();
    assert_eq!(lines.len(), 3, "{keys}");
    // purge = no (upstream default): the replaced agent stays as a `!` line. The replacement
    // rewrote the file with it last, as upstream writes; the next new agent is appended after it
    // (upstream loads `!` lines wherever they stand), so a `!` line never forces a rewrite.
    assert!(lines[0].starts_with("002 dup any "), "{keys}");
    assert!(lines[1].starts_with("001 !dup 10.0.0.5 "), "{keys}");
    assert!(lines[2].starts_with("003 new-owner 10.0.0.5 "), "{keys}");
}

#[test]
fn a_name_refusal_does_not_remove_the_address_duplicate() {
    let s = server("[auth.force]\nafter_registration_time = 0\n");
    assert!(ok(&enroll_as(&s, "first", Some("10.0.0.9"), &keys_path(&s, "a"))));
    // Same address (replaceable) but the manager's own name: refused, and nothing changed.
    assert!(refused_with(
        &enroll_as(&s, "the-manager", Some("10.0.0.9"), &keys_path(&s, "b")),
        "Invalid agent name: the-manager"
    ));
    assert!(s.keys().starts_with("001 first 10.0.0.9 "));
}

#[test]
fn key_mismatch_refuses_an_agent_that_holds_its_current_key() {
    let s = server("[auth.force]\nafter_registration_time = 0\n");
    let keys = keys_path(&s, "same");
    assert!(ok(&enroll_as(&s, "holder", None, &keys)));
    // The agent re-enrolls with K: = hash of the key it holds: refused.
    assert!(refused_with(&enroll_as(&s, "holder", None, &keys), "Duplicate agent name: holder"));
    assert!(s.logged("Agent '001' key already exists on the manager."));
    // An agent that lost its key (other keys file) may replace it.
    assert!(ok(&enroll_as(&s, "holder", None, &keys_path(&s, "lost"))));

    let s = server("[auth.force]\nafter_registration_time = 0\nkey_mismatch = false\n");
    let keys = keys_path(&s, "same");
    assert!(ok(&enroll_as(&s, "holder", None, &keys)));
    assert!(ok(&enroll_as(&s, "holder", None, &keys)));
}

fn wdb_server(home: &Path) -> Server {
    write_config(
        home,
        "[server]\nhostname = \"the-manager\"\nagent_status = \"wazuh-db\"\n[auth.force]\nafter_registration_time = 0\n[auth.force.disconnected_time]\nenabled = true\nvalue = \"1h\"\n",
    );
    Server::start(home, &[])
}

#[test]
fn status_dependent_rules_with_wazuh_db() {
    let home = temp_home("wdb");
    std::fs::create_dir_all(home.join("etc")).unwrap();
    std::fs::write(
        home.join("etc/client.keys"),
        "001 active any k1\n002 recent any k2\n003 gone any k3\n004 never any k4\n",
    )
    .unwrap();
    let t = now();
    fake_wazuh_db(&home, move |id| match id {
        1 => wdb_agent(1, "active", 0, t - 86_400),
        2 => wdb_agent(2, "disconnected", t - 60, t - 86_400),
        3 => wdb_agent(3, "disconnected", t - 7200, t - 86_400),
        4 => wdb_agent(4, "never_connected", 0, t - 86_400),
        _ => "ok []".to_owned(),
    });
    let s = wdb_server(&home);
    assert!(refused_with(&enroll_as(&s, "active", None, &keys_path(&s, "1")), "Duplicate agent name: active"));
    assert!(s.logged("Agent '001' can't be replaced since it is not disconnected."));
    assert!(refused_with(&enroll_as(&s, "recent", None, &keys_path(&s, "2")), "Duplicate agent name: recent"));
    assert!(s.logged("Agent '002' has not been disconnected long enough to be replaced."));
    assert!(ok(&enroll_as(&s, "gone", None, &keys_path(&s, "3"))));
    assert!(s.logged("Duplicate name. Removing old agent 'gone' (id '003')."));
    assert!(ok(&enroll_as(&s, "never", None, &keys_path(&s, "4"))));
}

#[test]
fn an_unreachable_wazuh_db_refuses_replacements() {
    let home = temp_home("nowdb");
    std::fs::create_dir_all(home.join("etc")).unwrap();
    std::fs::write(home.join("etc/client.keys"), "001 old any k1\n").unwrap();
    let s = wdb_server(&home);
    assert!(refused_with(&enroll_as(&s, "old", None, &keys_path(&s, "a")), "Duplicate agent name: old"));
    assert!(s.logged("Failed to get agent-info for agent '001'"));
    assert!(ok(&enroll_as(&s, "fresh", None, &keys_path(&s, "b"))), "registrations without a collision still work");
}

#[test]
fn enroll_reports_bad_input_and_unreachable_managers() {
    let out = std::process::Command::new(common::BIN)
        .args(["enroll", "-m", "127.0.0.1", "-p", "1", "-A", "x y"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid agent name"));
    let out = std::process::Command::new(common::BIN)
        .args(["enroll", "-m", "127.0.0.1", "-p", "1", "-A", "xy", "--timeout", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));
}

#[test]
fn repeated_password_failures_lock_the_address_out() {
    let home = temp_home("lockout");
    write_config(&home, "[auth]\nuse_password = true\n[server]\nlockout_failures = 3\nlockout_duration = 120\n");
    std::fs::write(home.join("etc/authd.pass"), "right-one\n").unwrap();
    let s = Server::start(&home, &[]);
    for i in 0..3 {
        let out = s.enroll(&["-A", &format!("guess-{i}"), "-P", "wrong", "--keys", &keys_path(&s, &format!("g{i}"))]);
        assert!(refused_with(&out, "Invalid password"), "{out:?}");
    }
    assert!(s.logged("Too many failed registration attempts from 127.0.0.1"));
    // Locked out: even the right password gets no answer now.
    let out = s.enroll(&["-A", "after-lock", "-P", "right-one", "--keys", &keys_path(&s, "late")]);
    assert!(!out.status.success() && !String::from_utf8_lossy(&out.stderr).contains("(from manager)"), "{out:?}");
    assert!(!s.keys().contains("after-lock"));
}

/// A wazuh-db that accepts and never answers delays only the registration that needs an agent's
/// state: the owner never waits for wazuh-db, so every other registration goes through meanwhile.
#[test]
fn a_silent_wazuh_db_delays_only_the_registration_that_needs_it() {
    let home = common::temp_home("wdb-silent");
    write_config(
        &home,
        "[server]\nhostname = \"the-manager\"\nagent_status = \"wazuh-db\"\n[auth.force]\nafter_registration_time = 0\n",
    );
    let path = home.join("queue/db/wdb");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let s = Server::start(&home, &[]);
    assert!(common::record_of(&s.request(b"OSSEC A:'dup'\n")).starts_with("001 dup "));
    let port = s.port;
    let done = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&done);
    // The collision needs dup's state from wazuh-db, which never answers (refused after 5 s).
    let collider = std::thread::spawn(move || {
        let reply = common::tls_exchange(port, b"OSSEC A:'dup'\n");
        log.lock().unwrap().push("collider".to_owned());
        reply
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    for i in 0..20 {
        let reply = common::tls_exchange(port, format!("OSSEC A:'fresh-{i}'\n").as_bytes());
        assert!(reply.starts_with(b"OSSEC K:"), "{}", String::from_utf8_lossy(&reply));
        done.lock().unwrap().push(format!("fresh-{i}"));
    }
    let reply = collider.join().unwrap();
    assert_eq!(String::from_utf8_lossy(&reply), "ERROR: Duplicate agent name: dup. Unable to add agent");
    let order = done.lock().unwrap().clone();
    assert_eq!(
        order.last().map(String::as_str),
        Some("collider"),
        "fresh registrations waited for wazuh-db: {order:?}"
    );
    assert!(s.logged("Failed to get agent-info for agent '001'"));
}

/// A one-connection TLS "manager" on a free loopback port that reads the request and then does
/// what `behave` says with the stream (answer, close, stay silent); the request it got comes back.
fn fake_manager(
    behave: fn(&mut rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>),
) -> (u16, std::thread::JoinHandle<Vec<u8>>) {
    use std::io::Read;
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().self_signed(&key).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    let config = std::sync::Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut request = vec![0u8; 4096];
        let n = tls.read(&mut request).unwrap_or(0);
        request.truncate(n);
        behave(&mut tls);
        request
    });
    (port, handle)
}

fn enroll_to(port: u16, args: &[&str]) -> Output {
    let keys = temp_home("fake-manager-agent").join("client.keys");
    std::process::Command::new(common::BIN)
        .args(["enroll", "-m", "127.0.0.1", "-p", &port.to_string(), "--keys"])
        .arg(&keys)
        .args(args)
        .output()
        .unwrap()
}

/// What old managers do, in words: a close without an answer, silence, a renamed agent, a dropped
/// address; and `--agent-version none` leaves `V:` out.
#[test]
fn enroll_explains_what_old_managers_do() {
    use std::io::Write;
    let (port, got) = fake_manager(|tls| {
        tls.sock.shutdown(std::net::Shutdown::Both).ok();
    });
    let out = enroll_to(port, &["-A", "web-1", "-P", "wrong"]);
    assert!(!ok(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "the manager closed the connection without answering; OSSEC managers do this for a wrong password"
        ),
        "{err}"
    );
    assert!(!err.contains("https://"), "no library URL: {err}");
    got.join().unwrap();

    let (port, got) = fake_manager(|_| std::thread::sleep(std::time::Duration::from_secs(4)));
    let out = enroll_to(port, &["-A", "web-1", "--timeout", "2"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no answer from the manager within 2 s"), "{out:?}");
    got.join().unwrap();

    let (port, got) = fake_manager(|tls| {
        let _ = tls.write_all(b"OSSEC K:'001 web-12 any 0123456789abcdef'\n");
        let _ = tls.flush();
    });
    let out = enroll_to(port, &["-A", "web-1", "-I", "10.0.0.9"]);
    assert!(ok(&out), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("registered this agent as 'web-12', not 'web-1'"), "{err}");
    assert!(
        err.contains("registered any instead of the address 10.0.0.9") && err.contains("--agent-version none"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("0123456789abcdef"), "the key is never printed");
    assert!(String::from_utf8_lossy(&got.join().unwrap()).contains("V:'"));

    let (port, got) = fake_manager(|tls| {
        let _ = tls.write_all(b"OSSEC K:'001 web-1 any 0123456789abcdef'\n");
    });
    assert!(ok(&enroll_to(port, &["-A", "web-1", "--agent-version", "none"])));
    assert_eq!(String::from_utf8_lossy(&got.join().unwrap()), "OSSEC A:'web-1'\n");
}

/// Without --keys, the key goes to the agent installation's etc/client.keys when there is one,
/// else to ./client.keys; either way the message says where, and never shows the key.
#[test]
fn enroll_writes_the_installations_keys_by_default_and_says_where() {
    let s = server("");
    let install = temp_home("agent-install");
    std::fs::create_dir_all(install.join("etc")).unwrap();
    let run = |dir: &Path, env: Option<&Path>| {
        let mut cmd = std::process::Command::new(common::BIN);
        cmd.args(["enroll", "-m", "127.0.0.1", "-p", &s.port.to_string(), "-A"]).current_dir(dir);
        match env {
            Some(root) => cmd.arg("default-1").env("AGENTKEYS_AGENT_DIR", root),
            None => cmd.arg("default-2").env("AGENTKEYS_AGENT_DIR", dir.join("no-such-install")),
        };
        cmd.output().unwrap()
    };
    let out = run(&install, Some(&install));
    assert!(ok(&out), "{out:?}");
    let written = install.join("etc/client.keys");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("key written to {}", written.display())));
    let key = std::fs::read_to_string(&written).unwrap().split(' ').nth(3).unwrap().trim().to_owned();
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(&key) && !String::from_utf8_lossy(&out.stderr).contains(&key)
    );
    let elsewhere = temp_home("agent-cwd");
    let out = run(&elsewhere, None);
    assert!(ok(&out), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("key written to client.keys"));
    assert!(elsewhere.join("client.keys").exists());
}
