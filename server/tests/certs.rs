//! Certificate-based registration (SPEC 4.4), both sides, over real TLS on 127.0.0.1 and ::1, with
//! certificates made by `agentkeys cert`.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{BIN, Server, temp_home, write_config};

fn agentkeys(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run agentkeys")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A CA in `dir` named `name`: (cert, key).
fn ca(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
    let out = agentkeys(&["cert", "ca", "--cert", s(&cert), "--key", s(&key), "--cn", name]);
    assert!(out.status.success(), "{out:?}");
    (cert, key)
}

/// Issues `cert`/`key` signed by `ca` for `cn` and `sans`, valid `days`.
fn issue(ca: &(PathBuf, PathBuf), cn: &str, sans: &[&str], days: i64, cert: &Path, key: &Path) {
    let days = days.to_string();
    let mut args = vec![
        "cert",
        "issue",
        "--ca",
        s(&ca.0),
        "--ca-key",
        s(&ca.1),
        "--cn",
        cn,
        "--cert",
        s(cert),
        "--key",
        s(key),
        "--days",
        &days,
    ];
    for san in sans {
        args.extend(["--san", san]);
    }
    let out = agentkeys(&args);
    assert!(out.status.success(), "{out:?}");
}

/// A home whose manager certificate is issued by `ca` for `cn`/`sans`.
fn manager_home(ca_pair: &(PathBuf, PathBuf), cn: &str, sans: &[&str], days: i64, toml: &str) -> PathBuf {
    let home = temp_home("certs");
    std::fs::create_dir_all(home.join("etc")).unwrap();
    issue(ca_pair, cn, sans, days, &home.join("etc/sslmanager.cert"), &home.join("etc/sslmanager.key"));
    write_config(&home, toml);
    home
}

fn enroll(server: &Server, manager: &str, name: &str, extra: &[&str]) -> Output {
    let keys = server.home.join(format!("{name}.keys"));
    let port = server.port.to_string();
    let mut args = vec!["enroll", "-m", manager, "-p", &port, "-A", name, "--keys", s(&keys), "--timeout", "10"];
    args.extend(extra);
    agentkeys(&args)
}

fn succeeded(out: &Output) -> bool {
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Valid key received")
}

fn failed_with(out: &Output, needle: &str) -> bool {
    !out.status.success() && String::from_utf8_lossy(&out.stderr).contains(needle)
}

#[test]
fn manager_verification() {
    let dir = temp_home("mv");
    let ca_pair = ca(&dir, "ca");
    let other = ca(&dir, "other");
    let home = manager_home(&ca_pair, "manager", &["localhost", "127.0.0.1"], 365, "");
    let server = Server::start(&home, &[]);
    // Right CA, address in an IP SAN.
    assert!(succeeded(&enroll(&server, "127.0.0.1", "right-ca", &["--ca", s(&ca_pair.0)])));
    // Right CA, DNS name.
    assert!(succeeded(&enroll(&server, "localhost", "by-name", &["--ca", s(&ca_pair.0)])));
    // Wrong CA: nothing is sent.
    let out = enroll(&server, "127.0.0.1", "wrong-ca", &["--ca", s(&other.0)]);
    assert!(failed_with(&out, "does not verify against the CA"), "{out:?}");
    // Name mismatch.
    let out = enroll(&server, "manager.example", "mismatch", &["--ca", s(&ca_pair.0), "--connect-to", "127.0.0.1"]);
    assert!(failed_with(&out, "is not valid for \"manager.example\""), "{out:?}");
    assert!(
        !server.log_text().contains("wrong-ca") && !server.log_text().contains("(mismatch)"),
        "a failed verification sends nothing"
    );
    drop(server);

    // Wildcard in the first label only.
    let home = manager_home(&ca_pair, "wild", &["*.example.test"], 365, "");
    let server = Server::start(&home, &[]);
    let ok = enroll(&server, "manager.example.test", "wild-ok", &["--ca", s(&ca_pair.0), "--connect-to", "127.0.0.1"]);
    assert!(succeeded(&ok), "{ok:?}");
    let deep =
        enroll(&server, "a.manager.example.test", "wild-deep", &["--ca", s(&ca_pair.0), "--connect-to", "127.0.0.1"]);
    assert!(failed_with(&deep, "is not valid for"), "{deep:?}");
    drop(server);

    // Expired certificate.
    let home = manager_home(&ca_pair, "old", &["127.0.0.1"], -1, "");
    let server = Server::start(&home, &[]);
    let out = enroll(&server, "127.0.0.1", "expired", &["--ca", s(&ca_pair.0)]);
    assert!(
        failed_with(&out, "does not verify against the CA") && String::from_utf8_lossy(&out.stderr).contains("Expired"),
        "{out:?}"
    );
}

#[test]
fn manager_verification_over_ipv6() {
    let dir = temp_home("mv6");
    let ca_pair = ca(&dir, "ca");
    let home = manager_home(&ca_pair, "manager", &["::1"], 365, "");
    let server = match Server::try_start(&home, &["--bind", "::1"]) {
        Ok(s) => s,
        Err(log) if log.contains("Cannot assign requested address") || log.contains("Address family not supported") => {
            eprintln!("notice: no IPv6 loopback on this machine; IPv6 manager verification not run");
            return;
        }
        Err(log) => panic!("{log}"),
    };
    assert!(succeeded(&enroll(&server, "::1", "v6", &["--ca", s(&ca_pair.0)])));
    let out = enroll(&server, "0000:0000:0000:0000:0000:0000:0000:0001", "v6-expanded", &["--ca", s(&ca_pair.0)]);
    assert!(succeeded(&out), "the expanded spelling is the same address: {out:?}");
}

/// A manager with `ssl_agent_ca` (and `ssl_verify_host` when asked).
fn agent_ca_server(dir: &Path, verify_host: bool, bind: &str) -> Result<(Server, (PathBuf, PathBuf)), String> {
    let manager_ca = ca(dir, "manager-ca");
    let agent_ca = ca(dir, "agent-ca");
    let toml = format!("[auth]\nssl_agent_ca = {:?}\nssl_verify_host = {verify_host}\n", s(&agent_ca.0));
    let home = manager_home(&manager_ca, "manager", &["localhost", "127.0.0.1", "::1"], 365, &toml);
    Server::try_start(&home, &["--bind", bind]).map(|server| (server, agent_ca))
}

fn agent_cert(dir: &Path, ca_pair: &(PathBuf, PathBuf), name: &str, cn: &str, sans: &[&str]) -> (String, String) {
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    issue(ca_pair, cn, sans, 365, &cert, &key);
    (s(&cert).to_owned(), s(&key).to_owned())
}

#[test]
fn agent_verification_without_host_validation() {
    let dir = temp_home("av");
    let (server, agent_ca) = agent_ca_server(&dir, false, "127.0.0.1").unwrap();
    let stranger_ca = ca(&dir, "stranger");
    // No certificate.
    let out = enroll(&server, "127.0.0.1", "no-cert", &[]);
    assert!(!out.status.success(), "{out:?}");
    assert!(server.logged("TLS handshake with 127.0.0.1 failed"), "{}", server.log_text());
    // A certificate from another CA.
    let (c, k) = agent_cert(&dir, &stranger_ca, "stranger", "127.0.0.1", &[]);
    assert!(!enroll(&server, "127.0.0.1", "stranger", &["-x", &c, "-k", &k]).status.success());
    // A valid certificate, whatever its names.
    let (c, k) = agent_cert(&dir, &agent_ca, "valid", "anything", &[]);
    assert!(succeeded(&enroll(&server, "127.0.0.1", "valid", &["-x", &c, "-k", &k])));
    // The listener survived the failures.
    assert!(server.keys().contains(" valid any "));
}

#[test]
fn agent_verification_with_host_validation() {
    let dir = temp_home("hv");
    let (server, agent_ca) = agent_ca_server(&dir, true, "127.0.0.1").unwrap();
    let (c, k) = agent_cert(&dir, &agent_ca, "cn-ip", "127.0.0.1", &[]);
    assert!(succeeded(&enroll(&server, "127.0.0.1", "cn-ip", &["-x", &c, "-k", &k])));
    let (c, k) = agent_cert(&dir, &agent_ca, "san-ip", "some-agent", &["127.0.0.1"]);
    assert!(succeeded(&enroll(&server, "127.0.0.1", "san-ip", &["-x", &c, "-k", &k])));
    let (c, k) = agent_cert(&dir, &agent_ca, "wrong-cn", "10.9.9.9", &[]);
    let out = enroll(&server, "127.0.0.1", "wrong-cn", &["-x", &c, "-k", &k]);
    assert!(!out.status.success(), "{out:?}");
    assert!(server.logged("Unable to verify client certificate. Connection from 127.0.0.1 closed: its certificate (CN=10.9.9.9) does not name 127.0.0.1"));
    assert!(!server.keys().contains("wrong-cn"));
}

#[test]
fn host_validation_of_an_ipv6_source_needs_an_ip_san() {
    let dir = temp_home("hv6");
    let (server, agent_ca) = match agent_ca_server(&dir, true, "::1") {
        Ok(pair) => pair,
        Err(log) if log.contains("Cannot assign requested address") || log.contains("Address family not supported") => {
            eprintln!("notice: no IPv6 loopback on this machine; IPv6 host validation not run");
            return;
        }
        Err(log) => panic!("{log}"),
    };
    let (c, k) = agent_cert(&dir, &agent_ca, "cn-v6", "::1", &[]);
    assert!(!enroll(&server, "::1", "cn-v6", &["-x", &c, "-k", &k]).status.success());
    assert!(server.logged("Unable to verify client certificate. Connection from ::1 closed"));
    let (c, k) = agent_cert(&dir, &agent_ca, "san-v6", "agent", &["::1"]);
    assert!(succeeded(&enroll(&server, "::1", "san-v6", &["-x", &c, "-k", &k])));
}

/// openssl s_client as an independent client of the same server checks.
#[test]
fn server_checks_with_openssl_s_client() {
    let dir = temp_home("ossl");
    let (server, agent_ca) = agent_ca_server(&dir, true, "127.0.0.1").unwrap();
    let s_client = |extra: &[&str], request: &str| {
        let mut child = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{}", server.port), "-quiet"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(request.as_bytes()).unwrap();
        String::from_utf8_lossy(&child.wait_with_output().unwrap().stdout).into_owned()
    };
    let (c, k) = agent_cert(&dir, &agent_ca, "ossl-ok", "127.0.0.1", &[]);
    assert!(s_client(&["-cert", &c, "-key", &k], "OSSEC A:'ossl-ok'\n").starts_with("OSSEC K:'001 ossl-ok any "));
    assert_eq!(s_client(&[], "OSSEC A:'ossl-none'\n"), "", "no certificate: no reply");
    let (c, k) = agent_cert(&dir, &agent_ca, "ossl-wrong", "10.1.1.1", &[]);
    assert_eq!(s_client(&["-cert", &c, "-key", &k], "OSSEC A:'ossl-wrong'\n"), "", "wrong CN: no reply");
}

#[test]
fn pinning_the_manager_key() {
    let home = temp_home("pin");
    let server = Server::start(&home, &[]);
    let cert = home.join("etc/sslmanager.cert");
    let pin_out = agentkeys(&["cert", "pin", s(&cert)]);
    let pin = String::from_utf8(pin_out.stdout).unwrap().trim().to_owned();
    assert!(pin.starts_with("sha256:") && pin.len() == 7 + 44, "{pin}");
    assert!(succeeded(&enroll(&server, "127.0.0.1", "pinned", &["--pin", &pin])));
    let wrong = "sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    assert!(failed_with(&enroll(&server, "127.0.0.1", "wrong-pin", &["--pin", wrong]), "not the pinned"));
    assert!(server.stop());
    // Rotate the manager key: the old pin no longer matches.
    let out = agentkeys(&["cert", "generate", "--home", s(&home), "--force"]);
    assert!(out.status.success(), "{out:?}");
    let server = Server::start(&home, &[]);
    assert!(failed_with(&enroll(&server, "127.0.0.1", "rotated", &["--pin", &pin]), "not the pinned"));
}

#[test]
fn require_verified_refuses_an_unverified_manager() {
    let home = temp_home("reqv");
    let server = Server::start(&home, &[]);
    let out = enroll(&server, "127.0.0.1", "careful", &["--require-verified"]);
    assert!(failed_with(&out, "cannot be verified"), "{out:?}");
    let out = enroll(&server, "127.0.0.1", "careless", &[]);
    assert!(succeeded(&out) && String::from_utf8_lossy(&out.stderr).contains("warning: the manager is not verified"));
    assert!(!server.log_text().contains("careful"));
}

#[test]
fn cipher_lists_that_select_nothing_are_configuration_errors() {
    let home = temp_home("ciphers");
    write_config(&home, "[auth]\nciphers = \"3DES:RC4:CAMELLIA\"\n");
    let out = common::serve_once(&home, &["--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("auth.ciphers: \"3DES:RC4:CAMELLIA\" selects no cipher suite")
    );
    write_config(&home, "[auth]\nciphers = \"ECDHE+AESGCM\"\n");
    let server = Server::start(&home, &[]);
    let out = enroll(&server, "127.0.0.1", "tls12", &["-c", "ECDHE-ECDSA-AES128-GCM-SHA256"]);
    assert!(succeeded(&out), "{out:?}");
}

#[test]
fn a_missing_half_of_the_manager_identity_stops_the_start_naming_the_file() {
    let home = temp_home("cert-half");
    assert!(Server::start(&home, &[]).stop());
    let (cert, key) = (home.join("etc/sslmanager.cert"), home.join("etc/sslmanager.key"));
    let saved_key = std::fs::read(&key).unwrap();

    std::fs::remove_file(&key).unwrap();
    let out = common::serve_once(&home, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("Unable to read private key file: {}: not found", key.display())), "{stderr}");
    assert!(cert.exists(), "the certificate is left as it was");

    std::fs::write(&key, saved_key).unwrap();
    std::fs::remove_file(&cert).unwrap();
    let out = common::serve_once(&home, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("Unable to read certificate file: {}: not found", cert.display())), "{stderr}");
}

#[test]
fn a_port_in_use_stops_the_start_naming_the_address() {
    let home = temp_home("port-in-use");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(BIN)
        .args(["serve", "--home", s(&home), "--bind", "127.0.0.1", "--port", &port])
        .env_remove("AGENTKEYS_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("cannot listen on 127.0.0.1 port {port}: ")), "{stderr}");
}
