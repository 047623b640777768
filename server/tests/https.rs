//! Wazuh 5.0 HTTPS enrollment against a real `agentkeys serve`: every `wazuh5.json` body and bearer
//! case through the listener with its exact status, headers and body; the header and body rules
//! in upstream's check order; the three credentials; tokens on both protocols; re-enrollment.

mod common;

use agentkeys::wazuh5::{KeyLabel, derive_key};
use common::*;
use serde_json::{Value, json};

fn vectors() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/wazuh5.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn error_body(code: Value, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

/// The vectors' token key: HKDF of the secret 10..1f.
const VECTOR_TOKEN_KEY: &str = "5da72b786a15757caa8d825a74a3474c3f15b048fd1064b49863ffc715a95860";

/// A token file holding the vectors' token ID 00..0f, valid until 2100, with the vectors' secret
/// 10..1f, or another one (so the manager checks the bearer with another key).
fn write_vector_token(home: &std::path::Path, vector_secret: bool) {
    std::fs::create_dir_all(home.join("etc")).unwrap();
    let secret = if vector_secret { "EBESExQVFhcYGRobHB0eHw" } else { "ICEiIyQlJicoKSorLC0uLw" };
    let file = json!({"version": 1, "tokens": [{
        "id": "AAECAwQFBgcICQoLDA0ODw", "secret": secret, "adr": "manager.example",
        "pin": "YJHcNmXtXoM8jZRfk-u_FLNwIMzudzNORJesLvNZCqI", "created": 0, "expires": 4_102_444_800_i64,
        "max_uses": 0, "uses": 0, "revoked": false, "description": "vectors"}]});
    std::fs::write(home.join("etc/enrollment_tokens.json"), file.to_string()).unwrap();
}

#[test]
fn every_body_vector_gets_its_exact_answer() {
    let cases = vectors()["enroll_body"].as_array().unwrap().clone();
    let with_groups = || {
        let home = temp_home("https-bodies");
        std::fs::create_dir_all(home.join("etc/shared/db")).unwrap();
        home
    };
    let mut server = Server::start(&with_groups(), &[]);
    for case in &cases {
        let body = case["body"].as_str().unwrap();
        let reply = post_enroll(server.https_port(), None, body);
        if case["ok"].as_bool().unwrap() {
            assert_eq!(reply.status, 200, "{body}: {}", reply.text());
            let answer = reply.json();
            assert_eq!(answer["name"], case["name"], "{body}");
            assert_eq!(answer["key"].as_str().unwrap().len(), 64);
            assert_eq!(answer["reenroll_secret"].as_str().unwrap().len(), 64);
            let line = format!("{} {} ", answer["id"].as_str().unwrap(), answer["name"].as_str().unwrap());
            assert!(server.keys().contains(&line), "{}", server.keys());
            assert!(!server.keys().contains(answer["reenroll_secret"].as_str().unwrap()));
            // The next ok case uses the same name: start over.
            server.stop();
            server = Server::start(&with_groups(), &[]);
        } else {
            assert_eq!(reply.status, case["status"].as_u64().unwrap() as u16, "{body}");
            assert_eq!(reply.json(), error_body(json!(0), case["message"].as_str().unwrap()), "{body}");
            assert_eq!(reply.header("content-type"), Some("application/json"));
        }
    }
}

#[test]
fn every_bearer_vector_gets_its_exact_answer_through_the_listener() {
    let cases = vectors()["jwt_verify"].as_array().unwrap().clone();
    // One server per (clock, key): the clock fixed at the case's `now`; a case checked with
    // another key than the token's gets a token with another secret.
    let group = |c: &Value| (c["now"].as_i64().unwrap(), c["key_hex"].as_str() == Some(VECTOR_TOKEN_KEY));
    let mut groups: Vec<(i64, bool)> = cases.iter().map(group).collect();
    groups.sort_unstable();
    groups.dedup();
    let mut seen = 0;
    for (now, vector_secret) in groups {
        let home = temp_home("https-bearers");
        write_vector_token(&home, vector_secret);
        let clock = now.to_string();
        let server = Server::start_env(&home, &[], &[("AGENTKEYS_BEARER_CLOCK", clock.as_str())]);
        for (i, case) in cases.iter().enumerate().filter(|(_, c)| group(c) == (now, vector_secret)) {
            seen += 1;
            let bearer = case["bearer"].as_str().unwrap();
            let body = format!(r#"{{"name":"jwt-{i}","version":"v5.0.0"}}"#);
            let reply = post_enroll(server.https_port(), Some(bearer), &body);
            let what = case["case"].as_str().unwrap();
            if case["ok"].as_bool().unwrap() {
                assert_eq!(reply.status, 200, "{what}: {}", reply.text());
                continue;
            }
            let class = case["error"].as_str().unwrap();
            assert_eq!(reply.status, 401, "{what}: {}", reply.text());
            assert_eq!(reply.json(), error_body(json!(class), "Invalid client authentication"), "{what}");
            let challenge = if class == "invalid_request" {
                "Bearer error=\"invalid_request\"".to_owned()
            } else {
                format!("Bearer error=\"invalid_token\", error_description=\"{class}\"")
            };
            assert_eq!(reply.header("www-authenticate"), Some(challenge.as_str()), "{what}");
        }
        server.stop();
    }
    assert_eq!(seen, cases.len());
}

#[test]
fn headers_sizes_encodings_and_paths_follow_upstreams_rules_in_order() {
    let home = temp_home("https-rules");
    let server = Server::start(&home, &[]);
    let port = server.https_port();
    let body = br#"{"name":"rules-1","version":"v5.0.0"}"#;
    let post = |headers: &[(&str, &str)], body: &[u8]| https(port, "POST", "/wazuh-manager/enroll", headers, body);

    let r = post(&[], body);
    assert_eq!((r.status, r.json()), (400, error_body(json!(0), "Missing required header: protocol-version")));
    let r = post(&[("protocol-version", "2")], body);
    assert_eq!((r.status, r.json()), (400, error_body(json!(0), "Unsupported protocol-version")));
    // protocol-version comes before the body: a broken body with a bad header is a header error.
    let r = post(&[("protocol-version", "2")], b"{");
    assert_eq!(r.json()["error"]["message"], "Unsupported protocol-version");

    let r = post(&[("protocol-version", "1"), ("content-encoding", "gzip")], body);
    assert_eq!((r.status, r.json()), (415, error_body(json!(0), "Unsupported Content-Encoding")));
    let r = post(&[("protocol-version", "1"), ("content-encoding", "zstd")], b"not zstd at all");
    assert_eq!((r.status, r.json()), (400, error_body(json!(0), "Malformed compressed body")));
    let packed = ruzstd::encoding::compress_to_vec(&body[..], ruzstd::encoding::CompressionLevel::Fastest);
    let r = post(&[("protocol-version", "1"), ("content-encoding", "zstd")], &packed);
    assert_eq!(r.status, 200, "{}", r.text());
    // A bomb: 8 MiB of zeros in a few hundred bytes; decoding stops past 16 KiB.
    let bomb = ruzstd::encoding::compress_to_vec(&vec![b' '; 8 << 20][..], ruzstd::encoding::CompressionLevel::Fastest);
    assert!(bomb.len() < 1 << 20);
    let r = post(&[("protocol-version", "1"), ("content-encoding", "zstd")], &bomb);
    assert_eq!((r.status, r.json()), (413, error_body(json!(0), "Request body too large")));
    let r = post(&[("protocol-version", "1")], &vec![b' '; 20_000]);
    assert_eq!(r.status, 413, "{}", r.text());
    // Over the transport cap, refused from the declared length before the body is read.
    let r = https_raw(
        port,
        b"POST /wazuh-manager/enroll HTTP/1.1\r\nhost: x\r\nprotocol-version: 1\r\ncontent-length: 20000000\r\n\r\n",
    );
    assert_eq!(r.status, 413);

    let r = https(port, "POST", "/enroll", &[("protocol-version", "1")], body);
    assert_eq!((r.status, r.json()), (404, json!({"error": "not_found"})));
    let r = https(port, "GET", "/wazuh-manager/enroll", &[], b"");
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    let r = https(port, "GET", "/wazuh-manager/cacerts", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-pem-file"));
    assert_eq!(r.body, std::fs::read(home.join("etc/sslenroll-ca.cert")).unwrap());
    assert!(server.stop());
}

#[test]
fn enrollment_disabled_is_403_and_password_mode_demands_a_password_bearer() {
    let home = temp_home("https-disabled");
    write_config(&home, "[auth]\nremote_enrollment = false\n");
    let server = Server::start(&home, &[]);
    let r = post_enroll(server.https_port(), None, r#"{"name":"a1","version":"v5.0.0"}"#);
    assert_eq!((r.status, r.json()), (403, error_body(json!(0), "Enrollment is disabled on this manager")));
    server.stop();

    let home = temp_home("https-password");
    write_config(&home, "[auth]\nuse_password = true\n");
    std::fs::create_dir_all(home.join("etc")).unwrap();
    std::fs::write(home.join("etc/authd.pass"), "MyEnrollmentSecret123\n").unwrap();
    let server = Server::start(&home, &[]);
    let port = server.https_port();
    let body = r#"{"name":"pw-1","version":"v5.0.0"}"#;
    let r = post_enroll(port, None, body);
    assert_eq!((r.status, r.header("www-authenticate")), (401, Some("Bearer error=\"invalid_request\"")));
    assert_eq!(r.json(), error_body(json!("invalid_request"), "Invalid client authentication"));
    let wrong = bearer(&derive_key(KeyLabel::Password, b"not the password"), None);
    let r = post_enroll(port, Some(&wrong), body);
    assert_eq!(r.json()["error"]["code"], "invalid_signature");
    let right = bearer(&derive_key(KeyLabel::Password, b"MyEnrollmentSecret123"), None);
    let r = post_enroll(port, Some(&right), body);
    assert_eq!(r.status, 200, "{}", r.text());
    // Bearer before body: a good bearer and a bad body is a body error; a bad bearer wins.
    let r = post_enroll(port, Some(&right), "{");
    assert_eq!((r.status, r.json()["error"]["message"].clone()), (400, json!("Malformed JSON body")));
    let r = post_enroll(port, Some(&wrong), "{");
    assert_eq!(r.status, 401);
    // The log never holds the bearer.
    assert!(!server.log_text().contains(&right));
    server.stop();
}

/// Enrolls `name` over HTTPS with `token`; the answer.
fn enroll_with_token(port: u16, token: &str, name: &str) -> HttpReply {
    let mut buf = vec![0u8; agentkeys::wazuh5::MAX_TOKEN_LEN];
    let decoded = agentkeys::wazuh5::EnrollmentToken::decode(token.as_bytes(), &mut buf).unwrap();
    let credential = decoded.credential.unwrap();
    let key = derive_key(KeyLabel::Token, &credential.secret);
    let b = bearer(&key, Some(&credential.id.to_text()));
    post_enroll(port, Some(&b), &format!(r#"{{"name":"{name}","version":"v5.0.0"}}"#))
}

fn credential_of(token: &str) -> String {
    let mut buf = vec![0u8; agentkeys::wazuh5::MAX_TOKEN_LEN];
    let decoded = agentkeys::wazuh5::EnrollmentToken::decode(token.as_bytes(), &mut buf).unwrap();
    decoded.credential.unwrap().to_text().to_string()
}

#[test]
fn a_token_with_max_uses_enrolls_exactly_that_many_agents_under_concurrency() {
    let home = temp_home("https-max-uses");
    let server = Server::start(&home, &[]);
    let port = server.https_port();
    let token = tokens(&home, &["create", "--address", "127.0.0.1", "--allow-loopback", "--max-uses", "50"]);
    let handles: Vec<_> = (0..200)
        .map(|i| {
            let token = token.clone();
            std::thread::spawn(move || enroll_with_token(port, &token, &format!("many-{i}")))
        })
        .collect();
    let replies: Vec<HttpReply> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let exhausted = replies
        .iter()
        .filter(|r| r.status == 403 && r.json() == error_body(json!(9024), "Enrollment token has no uses left"))
        .count();
    assert_eq!((ok, exhausted), (50, 150), "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    assert_eq!(server.keys().lines().count(), 50);
    // The counters saw the same (admin `stats`).
    let stats: Value = serde_json::from_str(&admin_ask(&home, br#"{"function":"stats"}"#)).unwrap();
    assert_eq!(stats["data"]["tokens"], json!({"used": 50, "TokenExhausted": 150}), "{stats}");
    assert_eq!(stats["data"]["registrations"]["https"], json!({"accepted": 50, "TokenExhausted": 150}));
    // The count survives a restart.
    server.stop();
    let server = Server::start(&home, &[]);
    let list: Value = serde_json::from_str(&tokens(&home, &["list", "--json"])).unwrap();
    assert_eq!(list["data"][0]["uses"], 50);
    assert_eq!(list["data"][0]["status"], "exhausted");
    let r = enroll_with_token(server.https_port(), &token, "one-more");
    assert_eq!(r.status, 403);
    // An old agent with the same token on port 1515 is refused the same way.
    let out =
        server.enroll(&["-A", "old-more", "-P", &credential_of(&token), "--keys", home.join("ck").to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Enrollment token has no uses left"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(home.join("etc/enrollment_tokens.json")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o640);
    // The token file and the log never show the token text or its credential.
    assert!(!server.log_text().contains(&credential_of(&token)));
    server.stop();
}

#[test]
fn revoked_and_expired_tokens_are_refused_on_both_protocols_and_revocation_survives_restart() {
    let home = temp_home("https-revoke");
    let server = Server::start(&home, &[]);
    let token = tokens(&home, &["create", "--address", "127.0.0.1", "--allow-loopback"]);
    let credential = credential_of(&token);
    let keys = home.join("agent.keys");
    // Port 1515: an unmodified 4.x-style client sends the credential for the password.
    let out = server.enroll(&["-A", "legacy-1", "-P", &credential, "--keys", keys.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(server.keys().contains(" legacy-1 any "));
    let list: Value = serde_json::from_str(&tokens(&home, &["list", "--json"])).unwrap();
    let id = list["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list["data"][0]["uses"], 1);
    // A wrong credential is a wrong password.
    let flipped = if &credential[30..31] == "A" { "B" } else { "A" };
    let wrong = format!("{}{flipped}{}", &credential[..30], &credential[31..]);
    let reply = server.request(format!("OSSEC PASS: {wrong} OSSEC A:'legacy-x'\n").as_bytes());
    assert!(reply.starts_with(b"ERROR: Invalid password"), "{}", String::from_utf8_lossy(&reply));

    tokens(&home, &["revoke", &id]);
    assert!(tokens(&home, &["revoke", &id]).contains("revoked already"));
    server.stop();
    let server = Server::start(&home, &[]);
    let r = enroll_with_token(server.https_port(), &token, "after-revoke");
    assert_eq!((r.status, r.json()["error"]["code"].clone()), (401, json!("token_revoked")));
    let reply = server.request(format!("OSSEC PASS: {credential} OSSEC A:'legacy-2'\n").as_bytes());
    assert!(reply.starts_with(b"ERROR: Enrollment token revoked"), "{}", String::from_utf8_lossy(&reply));
    // Purge drops it.
    assert!(tokens(&home, &["purge"]).starts_with("1 token"));
    server.stop();

    // Expiry: a token minted now is expired for a server whose bearer clock is 31 days ahead.
    let home = temp_home("https-expired");
    let server = Server::start(&home, &[]);
    let token = tokens(&home, &["create", "--address", "127.0.0.1", "--allow-loopback", "--ttl", "30d"]);
    server.stop();
    let later = (now() + 31 * 86_400).to_string();
    let server = Server::start_env(&home, &[], &[("AGENTKEYS_BEARER_CLOCK", later.as_str())]);
    let mut buf = vec![0u8; agentkeys::wazuh5::MAX_TOKEN_LEN];
    let c = agentkeys::wazuh5::EnrollmentToken::decode(token.as_bytes(), &mut buf).unwrap().credential.unwrap();
    let b = bearer_at(&derive_key(KeyLabel::Token, &c.secret), Some(&c.id.to_text()), now() + 31 * 86_400);
    let r = post_enroll(server.https_port(), Some(&b), r#"{"name":"late","version":"v5.0.0"}"#);
    assert_eq!((r.status, r.json()["error"]["code"].clone()), (401, json!("token_expired")));
    let reply = server.request(format!("OSSEC PASS: {} OSSEC A:'late-2'\n", c.to_text()).as_bytes());
    assert!(reply.starts_with(b"ERROR: Enrollment token expired"), "{}", String::from_utf8_lossy(&reply));
    server.stop();
}

#[test]
fn reenrollment_rotates_key_and_secret_in_place_and_the_old_secret_stops_working() {
    let home = temp_home("https-reenroll");
    let server = Server::start(&home, &[]);
    let port = server.https_port();
    std::fs::create_dir_all(home.join("etc/shared/web")).unwrap();
    let r = post_enroll(port, None, r#"{"name":"rot-1","version":"v5.0.0","groups":"web"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let first = r.json();
    let id = first["id"].as_str().unwrap().to_owned();
    let secret = hex(first["reenroll_secret"].as_str().unwrap());
    let b = bearer(&derive_key(KeyLabel::Reenroll, &secret), Some(&id));
    let r = post_enroll(port, Some(&b), r#"{"name":"rot-1","version":"v5.0.0"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let second = r.json();
    assert_eq!(second["id"], first["id"]);
    assert_ne!(second["key"], first["key"]);
    assert_ne!(second["reenroll_secret"], first["reenroll_secret"]);
    let keys = server.keys();
    assert!(keys.contains(second["key"].as_str().unwrap()) && !keys.contains(first["key"].as_str().unwrap()));
    assert_eq!(keys.lines().count(), 1, "{keys}");
    // Groups kept (state file).
    let state = std::fs::read_to_string(home.join("etc/agentkeys.state")).unwrap();
    assert!(state.contains(&format!("groups {id} web")), "{state}");
    // The old secret no longer signs anything the manager accepts.
    let old = bearer(&derive_key(KeyLabel::Reenroll, &secret), Some(&id));
    let r = post_enroll(port, Some(&old), r#"{"name":"rot-1","version":"v5.0.0"}"#);
    assert_eq!((r.status, r.json()["error"]["code"].clone()), (401, json!("invalid_signature")));
    // An unknown agent.
    let r = post_enroll(port, Some(&bearer(&[7; 32], Some("999"))), r#"{"name":"rot-9","version":"v5.0.0"}"#);
    assert_eq!(r.json()["error"]["code"], "unknown_agent");
    // Another agent's name is still refused.
    let r = post_enroll(port, None, r#"{"name":"other","version":"v5.0.0"}"#);
    assert_eq!(r.status, 200);
    let current = hex(second["reenroll_secret"].as_str().unwrap());
    let b = bearer(&derive_key(KeyLabel::Reenroll, &current), Some(&id));
    let r = post_enroll(port, Some(&b), r#"{"name":"other","version":"v5.0.0"}"#);
    assert_eq!((r.status, r.json()), (409, error_body(json!(9008), "Duplicate name")));
    // The secret is never in client.keys or the log; it survives a restart.
    assert!(!server.keys().contains(second["reenroll_secret"].as_str().unwrap()));
    assert!(!server.log_text().contains(second["reenroll_secret"].as_str().unwrap()));
    server.stop();
    let server = Server::start(&home, &[]);
    let b = bearer(&derive_key(KeyLabel::Reenroll, &current), Some(&id));
    let r = post_enroll(server.https_port(), Some(&b), r#"{"name":"rot-1","version":"v5.0.0"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    server.stop();
}

#[test]
fn agents_without_a_secret_get_one_with_their_client_keys_key() {
    let home = temp_home("https-secret");
    let server = Server::start(&home, &[]);
    let reply = server.request(b"OSSEC A:'legacy-s'\n");
    let record = record_of(&reply);
    let fields: Vec<&str> = record.split(' ').collect();
    let (id, key) = (fields[0], fields[3]);
    let b = bearer(&derive_key(KeyLabel::Reenroll, key.as_bytes()), Some(id));
    let path = "/wazuh-manager/enroll/secret";
    let auth = format!("Bearer {b}");
    let headers = [("protocol-version", "1"), ("authorization", auth.as_str())];
    let r = https(server.https_port(), "POST", path, &headers, b"{}");
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    assert_eq!(answer["id"], id);
    let secret = hex(answer["reenroll_secret"].as_str().unwrap());
    // A second request: it has one now.
    let b = bearer(&derive_key(KeyLabel::Reenroll, key.as_bytes()), Some(id));
    let auth = format!("Bearer {b}");
    let r =
        https(server.https_port(), "POST", path, &[("protocol-version", "1"), ("authorization", auth.as_str())], b"{}");
    assert_eq!(r.status, 409, "{}", r.text());
    // And it re-enrolls with it.
    let b = bearer(&derive_key(KeyLabel::Reenroll, &secret), Some(id));
    let r = post_enroll(server.https_port(), Some(&b), r#"{"name":"legacy-s","version":"v5.0.0"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    server.stop();
}

#[test]
fn the_rust_client_bootstraps_from_a_token_and_reenrolls() {
    let home = temp_home("https-client");
    let server = Server::start(&home, &[]);
    let https_port = server.https_port().to_string();
    let token = tokens(&home, &["create", "--address", "127.0.0.1", "--allow-loopback", "--max-uses", "1"]);
    let agent = temp_home("https-client-agent");
    std::fs::write(agent.join("enrollment_token"), &token).unwrap();
    let keys = agent.join("client.keys");
    let run = |args: &[&str]| {
        std::process::Command::new(BIN).arg("enroll").args(args).arg("--keys").arg(&keys).output().unwrap()
    };
    let out = run(&["--token", agent.join("enrollment_token").to_str().unwrap(), "-A", "five-1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!agent.join("enrollment_token").exists(), "the token is deleted once enrolled");
    let ca = std::fs::read(home.join("etc/sslenroll-ca.cert")).unwrap();
    assert_eq!(std::fs::read(agent.join("certs/root-ca.pem")).unwrap(), ca);
    let first = std::fs::read_to_string(&keys).unwrap();
    let secret = std::fs::read_to_string(agent.join("reenroll.secret")).unwrap();
    assert!(first.starts_with("001 five-1 any "), "{first}");
    assert!(secret.starts_with("001 ") && secret.trim().len() == 68, "{secret}");
    assert!(server.keys().contains(first.trim()));
    let out = run(&["--reenroll", "-m", "127.0.0.1", "--https-port", &https_port]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let second = std::fs::read_to_string(&keys).unwrap();
    assert_ne!(first, second);
    assert!(server.keys().contains(second.trim()) && !server.keys().contains(first.trim()));
    assert_ne!(std::fs::read_to_string(agent.join("reenroll.secret")).unwrap(), secret);
    // The key is never printed.
    assert!(!String::from_utf8_lossy(&out.stdout).contains(second.split(' ').nth(3).unwrap()));
    server.stop();
}

#[test]
fn hostile_clients_do_not_stop_either_listener() {
    use std::io::{Read, Write};
    let home = temp_home("https-hostile");
    write_config(&home, "[server]\nhandshake_timeout = 1\nconnection_timeout = 2\n");
    let server = Server::start(&home, &[]);
    let port = server.https_port();
    // Malformed HTTP over TLS.
    let reply = common::tls_exchange(port, b"NOT HTTP AT ALL\r\n\r\n");
    assert!(reply.starts_with(b"HTTP/1.1 400"), "{}", String::from_utf8_lossy(&reply));
    // A thousand idle TCP connections (no TLS), some slow ones that send half a request.
    let idle: Vec<_> = (0..1000).filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok()).collect();
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _ = slow.write_all(b"\x16\x03\x01");
    // Port 1515 is unaffected meanwhile.
    let reply = server.request(b"OSSEC A:'beside-1'\n");
    assert!(reply.starts_with(b"OSSEC K:'"), "{}", String::from_utf8_lossy(&reply));
    // The slow client is cut off by the handshake deadline.
    slow.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut sink = [0u8; 64];
    assert!(matches!(slow.read(&mut sink), Ok(0) | Err(_)));
    drop(idle);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let r = post_enroll(port, None, r#"{"name":"after-storm","version":"v5.0.0"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(server.stop());
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// `agentkeys tokens` without a running server (in-process under the home's lock), and `tokens
/// show` on upstream's own token.
#[test]
fn tokens_work_offline_and_show_decodes_upstreams_token() {
    let home = common::temp_home("tokens-offline");
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(common::BIN)
            .arg("tokens")
            .arg("--home")
            .arg(&home)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    // Before any server ran, minting needs the listener identity: refused with the reason.
    let out = run(&["create", "--address", "127.0.0.1", "--allow-loopback"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("9025"), "{}", String::from_utf8_lossy(&out.stderr));
    // Once the server has made its HTTPS identity (here: one start), minting works offline.
    common::Server::start(&home, &[]).stop();
    let out =
        run(&["create", "--address", "localhost", "--allow-loopback", "--max-uses", "3", "--description", "lab"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap();
    assert_eq!(token.lines().count(), 1, "only the token on stdout");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("id: ") && err.contains("expires: ") && err.contains("pin: "), "{err}");
    let shown = run(&["show"], &token);
    let text = String::from_utf8(shown.stdout).unwrap();
    assert!(text.starts_with("ver: 1\nadr: localhost\npin: "), "{text}");
    assert!(text.ends_with("credential: present\n"), "{text}");
    let listed = String::from_utf8(run(&["list"], "").stdout).unwrap();
    assert!(listed.contains("active") && listed.contains("uses 0/3") && listed.contains("lab"), "{listed}");
    let id = err.lines().find_map(|l| l.strip_prefix("id: ")).unwrap().to_owned();
    assert!(run(&["revoke", &id], "").status.success());
    assert!(String::from_utf8(run(&["list"], "").stdout).unwrap().contains("revoked"));
    // Upstream's frozen example token.
    let upstream = "eyJ2ZXIiOjEsImFkciI6InNpZW0uZXhhbXBsZS5sb2NhbCIsInBpbiI6IllKSGNObVh0WG9NOGpaUmZrLXVfRkxOd0lNenVkek5PUkplc0x2TlpDcUkifQ";
    let shown = run(&["show"], upstream);
    assert_eq!(
        String::from_utf8(shown.stdout).unwrap(),
        "ver: 1\nadr: siem.example.local\npin: 6091dc3665ed5e833c8d945f93ebbf14b37020ccee77334e4497ac2ef3590aa2\ncredential: absent\n"
    );
    assert_eq!(run(&["show"], "not a token").status.code(), Some(2));
}

#[test]
fn token_sources_and_groups_apply_on_both_protocols() {
    let home = temp_home("https-sources");
    std::fs::create_dir_all(home.join("etc/shared/lab")).unwrap();
    let server = Server::start(&home, &[]);
    let elsewhere = tokens(&home, &["create", "--address", "127.0.0.1", "--allow-loopback", "--source", "10.0.0.0/8"]);
    let r = enroll_with_token(server.https_port(), &elsewhere, "far-1");
    assert_eq!((r.status, r.json()), (403, error_body(json!(9029), "Enrollment token not valid from this address")));
    let reply = server.request(format!("OSSEC PASS: {} OSSEC A:'far-2'\n", credential_of(&elsewhere)).as_bytes());
    assert!(
        reply.starts_with(b"ERROR: Enrollment token not valid from: 127.0.0.1"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    // A refused use is given back.
    let list: Value = serde_json::from_str(&tokens(&home, &["list", "--json"])).unwrap();
    assert_eq!(list["data"][0]["uses"], 0);

    let local = tokens(
        &home,
        &["create", "--address", "127.0.0.1", "--allow-loopback", "--source", "127.0.0.0/8", "--groups", "lab"],
    );
    let r = enroll_with_token(server.https_port(), &local, "near-1");
    assert_eq!(r.status, 200, "{}", r.text());
    let reply =
        server.request(format!("OSSEC PASS: {} OSSEC A:'near-2' G:'default'\n", credential_of(&local)).as_bytes());
    assert!(reply.starts_with(b"OSSEC K:'"), "{}", String::from_utf8_lossy(&reply));
    let state = std::fs::read_to_string(home.join("etc/agentkeys.state")).unwrap();
    assert_eq!(state.matches(" lab\n").count(), 2, "the token's groups replace the requested ones: {state}");
    server.stop();
}

#[test]
fn parallel_reenrollments_of_one_agent_rotate_it_once() {
    let home = temp_home("https-in-progress");
    let server = Server::start(&home, &[]);
    let port = server.https_port();
    let first = post_enroll(port, None, r#"{"name":"race-1","version":"v5.0.0"}"#).json();
    let id = first["id"].as_str().unwrap().to_owned();
    let secret = hex(first["reenroll_secret"].as_str().unwrap());
    let b = bearer(&derive_key(KeyLabel::Reenroll, &secret), Some(&id));
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || post_enroll(port, Some(&b), r#"{"name":"race-1","version":"v5.0.0"}"#))
        })
        .collect();
    let replies: Vec<HttpReply> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let refused = replies
        .iter()
        .filter(|r| {
            (r.status == 409 && r.json() == error_body(json!(9030), "Re-enrollment in progress"))
                || (r.status == 401 && r.json()["error"]["code"] == "invalid_signature")
        })
        .count();
    assert_eq!((ok, refused), (1, 19), "{:?}", replies.iter().map(|r| (r.status, r.text())).collect::<Vec<_>>());
    let stats: Value = serde_json::from_str(&admin_ask(&home, br#"{"function":"stats"}"#)).unwrap();
    assert_eq!(stats["data"]["reenrollments"]["rotated"], 1, "{stats}");
    assert_eq!(server.keys().lines().count(), 1);
    server.stop();
}

#[test]
fn a_busy_https_port_is_a_clear_error_naming_the_option() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let home = temp_home("https-busy");
    let out = serve_once(&home, &["--https-port", &port]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("port {port}")) && err.contains("--https-port") && err.contains("enabled = false"),
        "{err}"
    );
    // Turned off, the port is left alone.
    write_config(&home, "[enrollment]\nenabled = false\n");
    let server = Server::start(&home, &["--https-port", &port]);
    assert!(server.logged("HTTPS enrollment is off"));
    server.stop();
}

#[test]
fn cert_enrollment_makes_the_ca_and_listener_certificate_in_one_step() {
    let home = temp_home("cert-enrollment");
    let run = |args: &[&str]| {
        std::process::Command::new(BIN).args(["cert", "enrollment", "--home"]).arg(&home).args(args).output().unwrap()
    };
    let out = run(&["--name", "manager.example.com", "--name", "192.0.2.10"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pin "));
    assert!(!run(&[]).status.success(), "existing files are kept without --force");
    let server = Server::start(&home, &[]);
    // The server uses them: a token for a name of the certificate pins the CA served at /cacerts.
    let token = tokens(&home, &["create", "--address", "manager.example.com"]);
    let shown = {
        use std::io::Write;
        let mut child = std::process::Command::new(BIN)
            .args(["tokens", "show"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(token.as_bytes()).unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
    };
    assert!(shown.contains("adr: manager.example.com:"), "{shown}");
    let r = https(server.https_port(), "GET", "/wazuh-manager/cacerts", &[], b"");
    assert_eq!(r.body, std::fs::read(home.join("etc/sslenroll-ca.cert")).unwrap());
    let refused = std::process::Command::new(BIN)
        .args(["tokens", "--home"])
        .arg(&home)
        .args(["create", "--address", "not-in-the-cert.example"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    server.stop();
}

#[test]
fn tls_1_3_only_and_optional_client_certificates() {
    let home = temp_home("https-mtls");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let p = |name: &str| home.join(name).to_str().unwrap().to_owned();
    std::fs::create_dir_all(home.join("etc")).unwrap();
    run(&["cert", "ca", "--cert", &p("agents-ca.pem"), "--key", &p("agents-ca.key")]);
    run(&[
        "cert",
        "issue",
        "--ca",
        &p("agents-ca.pem"),
        "--ca-key",
        &p("agents-ca.key"),
        "--cn",
        "agent-1",
        "--cert",
        &p("agent.pem"),
        "--key",
        &p("agent.key"),
    ]);
    write_config(&home, &format!("[enrollment]\nssl_agent_ca = {:?}\n", p("agents-ca.pem")));
    let server = Server::start(&home, &[]);
    let port = server.https_port();
    let request = b"POST /wazuh-manager/enroll HTTP/1.1\r\nhost: x\r\nprotocol-version: 1\r\ncontent-length: 36\r\n\r\n{\"name\":\"mtls-1\",\"version\":\"v5.0.0\"}";
    let tls13 = &[&rustls::version::TLS13];
    let without = tls_exchange_with(port, client_config_for(tls13, None), request);
    assert!(without.is_err() || without.as_ref().is_ok_and(Vec::is_empty), "{without:?}");
    let identity = (home.join("agent.pem"), home.join("agent.key"));
    let with = tls_exchange_with(port, client_config_for(tls13, Some((&identity.0, &identity.1))), request)
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log_text()));
    assert!(with.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&with));
    // TLS 1.2 is refused by the HTTPS listener (Wazuh 5.0 demands 1.3).
    let tls12 = tls_exchange_with(
        port,
        client_config_for(&[&rustls::version::TLS12], Some((&identity.0, &identity.1))),
        request,
    );
    assert!(tls12.is_err() || tls12.as_ref().is_ok_and(Vec::is_empty), "{tls12:?}");
    server.stop();
}
