//! The admin socket (SPEC 5) over the real socket, `agentkeys agents` with and without a server,
//! `agentkeys keys check`, and admin changes interleaved with TLS registrations.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Output};

use common::{BIN, Server, temp_home, tls_exchange, write_config};

/// One framed request; the framed reply as text.
fn ask(home: &Path, payload: &[u8]) -> String {
    common::admin_ask(home, payload)
}

fn server() -> Server {
    let home = temp_home("admin");
    write_config(&home, "[server]\nhostname = \"the-manager\"\n");
    std::fs::create_dir_all(home.join("etc/shared/web")).unwrap();
    Server::start(&home, &[])
}

fn key_of(reply: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(reply).unwrap();
    v["data"]["key"].as_str().unwrap().to_owned()
}

#[test]
fn add_get_remove_shapes() {
    let s = server();
    let h = &s.home;
    let reply = ask(h, br#"{"function":"add","arguments":{"name":"user1","ip":"any"}}"#);
    assert_eq!(
        reply,
        format!(r#"{{"error":0,"data":{{"id":"001","name":"user1","ip":"any","key":"{}"}}}}"#, key_of(&reply))
    );
    let reply = ask(h, br#"{"function":"add","arguments":{"name":"user2","ip":"10.0.0.0/24","id":"042","key":"TopSecret","groups":"web,web"}}"#);
    assert_eq!(reply, r#"{"error":0,"data":{"id":"042","name":"user2","ip":"10.0.0.0/24","key":"TopSecret"}}"#);
    assert_eq!(
        ask(h, br#"{"function":"get","arguments":{"id":"042"}}"#),
        r#"{"error":0,"data":{"id":"042","name":"user2","ip":"10.0.0.0","key":"TopSecret"}}"#
    );
    assert!(std::fs::read_to_string(h.join("etc/agentkeys.state")).unwrap().contains("groups 042 web\n"));
    // The next generated ID is above the explicit one.
    assert!(ask(h, br#"{"function":"add","arguments":{"name":"user3","ip":"any"}}"#).contains(r#""id":"043""#));
    assert_eq!(
        ask(h, br#"{"function":"remove","arguments":{"id":"042"}}"#),
        r#"{"error":0,"data":"Agent deleted successfully."}"#
    );
    assert_eq!(
        ask(h, br#"{"function":"remove","arguments":{"id":"042"}}"#),
        r#"{"error":9011,"message":"Agent ID not found"}"#
    );
    assert_eq!(
        ask(h, br#"{"function":"get","arguments":{"id":"042"}}"#),
        r#"{"error":9011,"message":"Agent ID not found"}"#
    );
    assert!(s.keys().contains("042 !user2 10.0.0.0/24 TopSecret"), "purge = no keeps a ! line:\n{}", s.keys());
    ask(h, br#"{"function":"remove","arguments":{"id":"043","purge":true}}"#);
    assert!(!s.keys().contains("user3"), "purge: true leaves no line");
    assert!(s.logged("audit: agent '043' (user3) removed and purged"));
}

#[test]
fn error_codes() {
    let s = server();
    let h = &s.home;
    let add = |args: &str| ask(h, format!(r#"{{"function":"add","arguments":{args}}}"#).as_bytes());
    let e = |code: u32, msg: &str| format!(r#"{{"error":{code},"message":"{msg}"}}"#);
    assert_eq!(ask(h, b"{not json"), e(9002, "Parsing JSON input"));
    assert_eq!(ask(h, br#"{"function":[],"arguments":{}}"#), e(9002, "Parsing JSON input"));
    assert_eq!(ask(h, br#"{"arguments":{}}"#), e(9003, "No such function"));
    assert_eq!(ask(h, br#"{"function":"add"}"#), e(9004, "No such argument"));
    assert_eq!(ask(h, br#"{"function":"add","arguments":[]}"#), e(9002, "Parsing JSON input"));
    assert_eq!(ask(h, br#"{"function":"explode","arguments":{}}"#), e(9001, "Internal error"));
    assert_eq!(add(r#"{"ip":"any"}"#), e(9005, "No such name"));
    assert_eq!(add(r#"{"name":5,"ip":"any"}"#), e(9002, "Parsing JSON input"));
    assert_eq!(add(r#"{"name":"bad name","ip":"any"}"#), e(9005, "No such name"));
    assert_eq!(add(r#"{"name":"ab"}"#), e(9006, "No such IP"));
    assert_eq!(add(r#"{"name":"ab","ip":"300.1.1.1"}"#), e(9006, "No such IP"));
    assert_eq!(add(r#"{"name":"ab","ip":"any","force":"yes"}"#), e(9002, "Parsing JSON input"));
    assert_eq!(add(r#"{"name":"ab","ip":"any","force":{"enabled":true}}"#), e(9002, "Parsing JSON input"));
    assert_eq!(add(r#"{"name":"ab","ip":"any","groups":"missing"}"#), e(9014, "Invalid Group(s) Name(s)"));
    assert_eq!(add(r#"{"name":"ab","ip":"any","key":"has space"}"#), e(9009, "Issue generating key"));
    assert_eq!(add(r#"{"name":"the-manager","ip":"any"}"#), e(9008, "Duplicate name"));
    let no_force = r#""force":{"enabled":false,"key_mismatch":true,"disconnected_time":{"enabled":false,"value":0},"after_registration_time":0}"#;
    assert!(add(&format!(r#"{{"name":"first","ip":"10.0.0.5","id":"007",{no_force}}}"#)).starts_with(r#"{"error":0"#));
    assert_eq!(add(&format!(r#"{{"name":"x1","ip":"any","id":"007",{no_force}}}"#)), e(9012, "Duplicate ID"));
    assert_eq!(add(&format!(r#"{{"name":"x2","ip":"10.0.0.5",{no_force}}}"#)), e(9007, "Duplicate IP"));
    assert_eq!(add(&format!(r#"{{"name":"first","ip":"any",{no_force}}}"#)), e(9008, "Duplicate name"));
    // The same request with force allowed replaces the agent (with a new ID).
    let force = r#""force":{"enabled":1,"key_mismatch":true,"disconnected_time":{"enabled":false,"value":"1h"},"after_registration_time":0}"#;
    assert!(add(&format!(r#"{{"name":"first","ip":"any",{force}}}"#)).contains(r#""id":"008""#));
    assert_eq!(ask(h, br#"{"function":"remove","arguments":{}}"#), e(9010, "No such agent ID"));
    assert_eq!(ask(h, br#"{"function":"remove","arguments":{"id":7}}"#), e(9002, "Parsing JSON input"));
    // Oversize frame: refused without being read.
    let mut big = UnixStream::connect(h.join("queue/sockets/auth")).unwrap();
    big.write_all(&(64u32 << 20).to_le_bytes()).unwrap();
    let mut len = [0u8; 4];
    big.read_exact(&mut len).unwrap();
    let mut reply = vec![0u8; u32::from_le_bytes(len) as usize];
    big.read_exact(&mut reply).unwrap();
    assert_eq!(String::from_utf8(reply).unwrap(), e(9002, "Parsing JSON input"));
    // Over 64 KiB but not a batch function: refused.
    let padded = format!(r#"{{"function":"get","arguments":{{"id":"001","pad":"{}"}}}}"#, "x".repeat(70_000));
    assert_eq!(ask(h, padded.as_bytes()), e(9002, "Parsing JSON input"));
}

#[test]
fn text_commands() {
    let s = server();
    let config = ask(&s.home, b"getconfig auth");
    // The whole answer for the defaults, byte for byte (member order and forms as upstream).
    assert_eq!(
        config,
        concat!(
            r#"ok {"auth":{"port":"#,
            "0",
            r#","disabled":"no","remote_enrollment":"yes","ipv6":"no","use_source_ip":"no","purge":"no","use_password":"no","ssl_verify_host":"no","ssl_auto_negotiate":"no","ciphers":"HIGH:!ADH:!EXP:!MD5:!RC4:!3DES:!CAMELLIA:@STRENGTH","ssl_manager_cert":"etc/sslmanager.cert","ssl_manager_key":"etc/sslmanager.key","key_request":{"enabled":"no"},"force":{"enabled":"yes","key_mismatch":"yes","disconnected_time":{"enabled":"yes","value":3600},"after_registration_time":3600},"agents":{"allow_higher_versions":"no"}}}"#
        )
    );
    assert!(config.starts_with(r#"ok {"auth":{"port":"#), "{config}");
    assert!(config.contains(r#""force":{"enabled":"yes","key_mismatch":"yes","disconnected_time":{"enabled":"yes","value":3600},"after_registration_time":3600},"agents":{"allow_higher_versions":"no"}}}"#), "{config}");
    let parsed: serde_json::Value = serde_json::from_str(&config[3..]).unwrap();
    assert_eq!(parsed["auth"]["purge"], "no");
    assert_eq!(ask(&s.home, b"getconfig"), "err AUTHCOM getconfig needs arguments");
    assert_eq!(ask(&s.home, b"getconfig remote"), "err Could not get requested section");
    assert_eq!(ask(&s.home, b"hello"), "err Unrecognized command");
}

#[test]
fn batch_extensions() {
    let s = server();
    let h = &s.home;
    let reply = ask(h, br#"{"function":"add-many","arguments":{"agents":[{"name":"b1","ip":"any"},{"name":"b1","ip":"any"},{"name":5},{"name":"b2","ip":"10.9.0.1"}]}}"#);
    let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
    let codes: Vec<u64> = v["data"].as_array().unwrap().iter().map(|r| r["error"].as_u64().unwrap()).collect();
    assert_eq!(codes, [0, 9008, 9002, 0], "{reply}");
    let reply = ask(h, br#"{"function":"remove","arguments":{"ids":["001","999","x"],"purge":true}}"#);
    assert_eq!(
        reply,
        r#"{"error":0,"data":[{"id":"001","error":0},{"id":"999","error":9011,"message":"Agent ID not found"},{"id":"x","error":9010,"message":"No such agent ID"}]}"#
    );
    assert_eq!(s.keys().lines().count(), 1);
}

fn agents(home: &Path, args: &[&str]) -> Output {
    Command::new(BIN).args(["agents", "--home"]).arg(home).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn cli_with_and_without_a_server() {
    let s = server();
    let home = s.home.clone();
    let out = agents(&home, &["add", "--name", "web-01", "--ip", "10.2.2.2"]);
    assert_eq!(stdout(&out), "Agent added with ID 001.\n", "{out:?}");
    let out = agents(&home, &["--json", "add", "--name", "web-01"]);
    assert_eq!(stdout(&out).trim(), r#"{"error":75,"message":"Name already present"}"#);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.is_empty(), "a JSON answer is the whole output: {out:?}");
    assert_eq!(stdout(&agents(&home, &["list"])), "\nAvailable agents: \n   ID: 001, Name: web-01, IP: 10.2.2.2\n");
    // export → import round trip.
    let exported = stdout(&agents(&home, &["--json", "export", "001"]));
    let b64 = serde_json::from_str::<serde_json::Value>(&exported).unwrap()["data"].as_str().unwrap().to_owned();
    let agent_keys = home.join("agent.keys");
    let out = agents(&home, &["import", &b64, "--keys", agent_keys.to_str().unwrap(), "--yes"]);
    assert!(
        stdout(&out).contains("   ID:001\n   Name:web-01\n   IP Address:10.2.2.2\n")
            && stdout(&out).ends_with("Added.\n"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&agent_keys).unwrap(), s.keys());
    // rekey: same ID and name, new key.
    let before = s.keys();
    assert!(agents(&home, &["rekey", "001"]).status.success());
    assert!(s.keys().starts_with("001 web-01 10.2.2.2 ") && s.keys() != before);
    assert!(agents(&home, &["remove", "001", "--purge"]).status.success());
    assert_eq!(
        stdout(&agents(&home, &["--json", "remove", "001"])).trim(),
        r#"{"error":78,"message":"Invalid ID '001' given. ID is not present"}"#
    );
    assert!(s.stop());

    // Without a server: the same commands, offline, under the home's lock.
    assert_eq!(
        stdout(&agents(&home, &["add", "--name", "offline"])),
        "Agent added with ID 002.\n",
        "IDs are never reused"
    );
    assert_eq!(
        stdout(&agents(&home, &["--json", "list"])).trim(),
        r#"{"data":[{"id":"002","ip":"any","name":"offline"}],"error":0}"#
    );
    // While a server runs, offline editing is impossible: the lock is held.
    let s = Server::start(&home, &[]);
    std::fs::remove_file(home.join("queue/sockets/auth")).unwrap();
    let out = agents(&home, &["add", "--name", "blocked"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("another agentkeys process is using"),
        "{out:?}"
    );
    drop(s);
}

#[test]
fn bulk_add_ten_thousand_lines() {
    let s = server();
    let file = s.home.join("bulk.csv");
    let lines: String =
        (0..10_000).map(|i| format!("10.{}.{}.{},bulk-{i}\n", 60 + i / 65536, (i / 256) % 256, i % 256)).collect();
    std::fs::write(&file, format!("# IP,NAME\n{lines}")).unwrap();
    let out = agents(&s.home, &["bulk-add", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(s.keys().lines().count(), 10_000);
    let out = agents(&s.home, &["bulk-add", file.to_str().unwrap()]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("10000 of 10000 agents not added"));
}

#[test]
fn keys_check_lists_every_problem() {
    let dir = temp_home("check");
    let file = dir.join("client.keys");
    std::fs::write(&file, "001 a1 10.0.0.1 k1\n002 a1 any k2\n001 a3 any k3\n004 a4 10.0.0.1/24 k4\n005 bad name any k\n\n006 a6 any k6\n").unwrap();
    let out = Command::new(BIN).args(["keys", "check"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let f = file.display();
    for expected in [
        format!("{f}:2: duplicate name a1 (first on line 1)"),
        format!("{f}:3: duplicate ID 001 (first on line 1)"),
        format!("{f}:4: duplicate address 10.0.0.1 (first on line 1)"),
        format!("{f}:5: invalid agent address"),
        format!("{f}:6: empty line"),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
    }
    std::fs::write(&file, "001 a1 any k1\n002 !a2 any k2\n").unwrap();
    let out = Command::new(BIN).args(["keys", "check"]).arg(&file).output().unwrap();
    assert_eq!((out.status.code(), stdout(&out)), (Some(0), format!("{f}: 1 agents, no problems\n")));
}

/// Admin adds and removes interleaved with 1,000 TLS registrations leave a consistent file.
#[test]
fn admin_changes_interleaved_with_registrations() {
    let s = server();
    let port = s.port;
    let tls: Vec<_> = (0..10)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..100 {
                    let reply = tls_exchange(port, format!("OSSEC A:'reg-{t}-{i}' IP:'10.20.{t}.{i}'\n").as_bytes());
                    assert!(reply.starts_with(b"OSSEC K:'"), "{}", String::from_utf8_lossy(&reply));
                }
            })
        })
        .collect();
    let home = s.home.clone();
    let admin = std::thread::spawn(move || {
        let mut kept = 0;
        for i in 0..200 {
            let reply = ask(
                &home,
                format!(r#"{{"function":"add","arguments":{{"name":"adm-{i}","ip":"10.30.0.{i}"}}}}"#).as_bytes(),
            );
            let id =
                serde_json::from_str::<serde_json::Value>(&reply).unwrap()["data"]["id"].as_str().unwrap().to_owned();
            if i % 2 == 0 {
                assert!(
                    ask(
                        &home,
                        format!(r#"{{"function":"remove","arguments":{{"id":"{id}","purge":true}}}}"#).as_bytes()
                    )
                    .contains(r#""error":0"#)
                );
            } else {
                kept += 1;
            }
        }
        kept
    });
    for t in tls {
        t.join().unwrap();
    }
    let kept = admin.join().unwrap();
    let keys = s.keys();
    let active: Vec<&str> = keys.lines().filter(|l| !l.contains(" !")).collect();
    assert_eq!(active.len(), 1000 + kept);
    for column in 0..3 {
        let values: HashSet<&str> = active.iter().map(|l| l.split(' ').nth(column).unwrap()).collect();
        assert_eq!(values.len(), active.len(), "duplicates in column {column}");
    }
    let check = Command::new(BIN).args(["keys", "check"]).arg(s.home.join("etc/client.keys")).output().unwrap();
    assert!(check.status.success(), "{}", stdout(&check));
}

/// The Wazuh 5.0 verbs, as the 5.0 API and remoted call them: token_create/list/revoke/purge, and
/// `add` with `token_id` (a use reserved) and `reenroll` (`kid` + bearer), over `auth.sock` too.
#[test]
fn wazuh5_token_verbs_and_add_with_token_id_or_reenroll() {
    use agentkeys::wazuh5::{KeyLabel, derive_key};
    let s = server();
    let h = &s.home;
    assert!(h.join("queue/sockets/auth.sock").exists(), "the 5.0 name of the socket");
    let e = |code: u32, msg: &str| format!(r#"{{"error":{code},"message":"{msg}"}}"#);
    let v = |text: String| -> serde_json::Value { serde_json::from_str(&text).unwrap() };
    // Minting checks the address against the listener certificate.
    let refused = ask(h, br#"{"function":"token_create","arguments":{"address":"elsewhere.example"}}"#);
    assert_eq!(refused, e(9025, "Cannot create the enrollment token"));
    assert!(s.logged("does not name \"elsewhere.example\""));
    assert_eq!(
        ask(h, br#"{"function":"token_create","arguments":{"address":"127.0.0.1"}}"#),
        e(9025, "Cannot create the enrollment token"),
        "loopback is refused unless allowed"
    );
    let created = v(ask(
        h,
        br#"{"function":"token_create","arguments":{"address":"127.0.0.1","allow_loopback":true,"ttl":"12h","max_uses":1,"description":"rack 4","groups":"web"}}"#,
    ));
    assert_eq!(created["error"], 0, "{created}");
    let data = &created["data"];
    let id = data["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 22);
    assert_eq!(data["pin_hex"].as_str().unwrap().len(), 64);
    assert!(data["adr"].as_str().unwrap().starts_with("127.0.0.1:"));
    let now = common::now();
    assert!((data["expires"].as_i64().unwrap() - (now + 12 * 3600)).abs() < 60);
    // The token text is never logged.
    assert!(!s.log_text().contains(data["token"].as_str().unwrap()));
    let list = v(ask(h, br#"{"function":"token_list"}"#));
    assert_eq!(list["data"][0]["id"], id.as_str());
    assert_eq!(list["data"][0]["description"], "rack 4");
    assert!(list["data"][0].get("secret").is_none());

    // add with token_id: a use is reserved, the token's groups are applied, a secret is issued.
    let add = format!(r#"{{"function":"add","arguments":{{"name":"five-a","ip":"any","token_id":"{id}"}}}}"#);
    let added = v(ask(h, add.as_bytes()));
    assert_eq!(added["error"], 0, "{added}");
    assert_eq!(added["data"]["reenroll_secret"].as_str().unwrap().len(), 64);
    let state = std::fs::read_to_string(h.join("etc/agentkeys.state")).unwrap();
    assert!(state.contains(&format!("groups {} web", added["data"]["id"].as_str().unwrap())), "{state}");
    let add2 = format!(r#"{{"function":"add","arguments":{{"name":"five-b","ip":"any","token_id":"{id}"}}}}"#);
    assert_eq!(ask(h, add2.as_bytes()), e(9024, "Enrollment token has no uses left"));
    let unknown = r#"{"function":"add","arguments":{"name":"five-c","ip":"any","token_id":"AAAAAAAAAAAAAAAAAAAAAA"}}"#;
    assert_eq!(ask(h, unknown.as_bytes()), e(9022, "Invalid or revoked enrollment token"));

    // add with reenroll: rotate five-a with a bearer from its secret.
    let agent_id = added["data"]["id"].as_str().unwrap().to_owned();
    let hex = added["data"]["reenroll_secret"].as_str().unwrap();
    let secret: Vec<u8> = (0..64).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    let b = common::bearer(&derive_key(KeyLabel::Reenroll, &secret), Some(&agent_id));
    let re = format!(
        r#"{{"function":"add","arguments":{{"name":"five-a","ip":"any","reenroll":{{"kid":"{agent_id}","bearer":"{b}"}}}}}}"#
    );
    let rotated = v(ask(h, re.as_bytes()));
    assert_eq!(rotated["data"]["id"], agent_id.as_str(), "{rotated}");
    assert_ne!(rotated["data"]["key"], added["data"]["key"]);
    assert_eq!(ask(h, re.as_bytes()), e(9027, "Invalid re-enrollment signature"), "the old secret is gone");
    let stranger = re.replace(&format!(r#""kid":"{agent_id}""#), r#""kid":"999""#);
    assert_eq!(ask(h, stranger.as_bytes()), e(9026, "Unknown agent"));

    // Revoke (idempotent) and purge.
    let revoke = format!(r#"{{"function":"token_revoke","arguments":{{"id":"{id}"}}}}"#);
    assert_eq!(v(ask(h, revoke.as_bytes()))["data"]["changed"], true);
    assert_eq!(v(ask(h, revoke.as_bytes()))["data"]["changed"], false);
    let gone = r#"{"function":"token_revoke","arguments":{"id":"AAAAAAAAAAAAAAAAAAAAAA"}}"#;
    assert_eq!(ask(h, gone.as_bytes()), e(9022, "Invalid or revoked enrollment token"));
    assert_eq!(v(ask(h, br#"{"function":"token_purge","arguments":{"status":"dead"}}"#))["data"]["purged"], 1);
    assert_eq!(v(ask(h, br#"{"function":"token_list"}"#))["data"], serde_json::json!([]));
    // auth.sock answers the same.
    let mut alias = UnixStream::connect(h.join("queue/sockets/auth.sock")).unwrap();
    let payload = br#"{"function":"token_list"}"#;
    alias.write_all(&u32::try_from(payload.len()).unwrap().to_le_bytes()).unwrap();
    alias.write_all(payload).unwrap();
    let mut len = [0u8; 4];
    alias.read_exact(&mut len).unwrap();
    assert!(u32::from_le_bytes(len) > 0);
}

/// What an operator sees first: manage_agents' short flags, export piped into import, refusals in
/// words (never raw JSON without --json), a missing home named, no log lines from offline tools.
#[test]
fn agents_cli_speaks_to_operators() {
    let home = temp_home("agents-cli-words");
    std::fs::create_dir_all(home.join("etc")).unwrap();
    let added = agents(&home, &["add", "--name", "web-1", "--ip", "10.0.0.1"]);
    assert!(added.status.success());
    assert!(added.stderr.is_empty(), "an offline add logs nothing: {}", String::from_utf8_lossy(&added.stderr));
    // Short flags, as manage_agents.
    assert!(stdout(&agents(&home, &["-l"])).contains("ID: 001, Name: web-1, IP: 10.0.0.1"));
    let exported = stdout(&agents(&home, &["-e", "001"]));
    let raw = stdout(&agents(&home, &["export", "--raw", "001"]));
    assert_eq!(raw.trim(), exported.trim().lines().last().unwrap());
    let agent_keys = home.join("agent-client.keys");
    // The decorated export, pasted whole, imports.
    let imported = agents(&home, &["-i", &exported, "--keys", agent_keys.to_str().unwrap(), "--yes"]);
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stdout));
    assert!(std::fs::read_to_string(&agent_keys).unwrap().starts_with("001 web-1 10.0.0.1 "));
    // Refusals in words, on stderr; stdout stays empty.
    let refused = agents(&home, &["add", "--name", "web-2", "--groups", "nosuch"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(refused.stdout.is_empty());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("invalid groups 'nosuch'"));
    let bulk = home.join("bulk.txt");
    std::fs::write(&bulk, "10.0.0.5,ok-5\n10.0.0.6,bad name\n999.1.1.1,bad-ip\n").unwrap();
    let out = agents(&home, &["-f", bulk.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bulk.txt:2: invalid name 'bad name'") && err.contains("bulk.txt:3: invalid address '999.1.1.1'"),
        "{err}"
    );
    assert!(stdout(&agents(&home, &["-r", "001"])).contains("removed"));
    // A home that is not one.
    let nowhere = home.join("not-a-home");
    let out = agents(&nowhere, &["remove", "001"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("no agentkeys home at {}", nowhere.display())));
    assert!(!nowhere.exists(), "nothing is created for a wrong --home");
}
