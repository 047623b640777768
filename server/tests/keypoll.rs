//! Key polling end to end: datagrams on `queue/sockets/krequest`, real scripts (the Python
//! toolkit's examples, MariaDB included) and a real socket source.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{BIN, Server, temp_home, write_config};

const KEY: &str = "675aaf366e6827ee7a77b2f7b4d89e603a21333c09afbb02c40191f199d7c911";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The venv python with the agentkeys wheel (built by `make wheel`), or None with a notice; in CI a
/// missing toolkit is a failure.
fn toolkit_python() -> Option<PathBuf> {
    let python = std::env::var_os("AGENTKEYS_PYTHON").map_or_else(|| repo().join(".venv/bin/python"), PathBuf::from);
    let ok = Command::new(&python).args(["-c", "import agentkeys.keypoll"]).output().is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    let message = format!(
        "{} cannot import agentkeys: run `make wheel` (the key-poll examples need the Python toolkit)",
        python.display()
    );
    assert!(std::env::var_os("CI").is_none() && std::env::var_os("AGENTKEYS_REQUIRE_DB").is_none(), "{message}");
    eprintln!("notice: {message}; test not run");
    None
}

/// A server with key polling on `exec_path` (and extra `[key_request]` lines).
fn server(exec_path: &str, extra: &str) -> Server {
    let home = temp_home("kp");
    let timeout = if extra.contains("timeout") { "" } else { "timeout = 5\n" };
    write_config(&home, &format!("[key_request]\nenabled = true\nexec_path = {exec_path:?}\n{timeout}{extra}"));
    Server::start(&home, &[])
}

/// `agentkeys poll` against the server: (exit success, printed outcome).
fn poll(server: &Server, kind: &str, value: &str) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["poll", "--home"])
        .arg(&server.home)
        .args([kind, value, "--timeout", "30"])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text.trim().to_owned())
}

/// A shell script in `dir` (mode 0755) that also records each call in `<dir>/calls`.
fn script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    let calls = dir.join("calls");
    std::fs::write(&path, format!("#!/bin/sh\necho \"$@\" >> {}\n{body}\n", calls.display())).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

fn calls(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("calls")).unwrap_or_default()
}

#[test]
fn csv_example_script_adds_agents_with_the_scripts_id() {
    let Some(python) = toolkit_python() else { return };
    let exec = format!("{} {}", python.display(), repo().join("examples/python/keypoll_csv.py").display());
    let s = server(&exec, "");
    assert_eq!(poll(&s, "id", "001"), (true, "added: agent '001' (web-01) added with address any".to_owned()));
    let (ok, text) = poll(&s, "ip", "10.1.2.3");
    assert!(ok && text.contains("agent '002' (db-01)"), "{text}");
    let (ok, text) = poll(&s, "ip", "2001:db8::5");
    assert!(
        ok && text.contains("agent '003' (v6-host) added with address 2001:0DB8:0000:0000:0000:0000:0000:0005"),
        "{text}"
    );
    let keys = s.keys();
    assert!(keys.starts_with(&format!("001 web-01 any {KEY}\n")), "{keys}");
    // Unknown: the script's error is reported, and the second try hits the negative cache.
    let (ok, text) = poll(&s, "id", "404");
    assert!(!ok && text.contains("Could not get a key from ID 404. Error: 'No agent key found for id 404'"), "{text}");
    assert_eq!(
        poll(&s, "id", "404"),
        (false, "agentkeys poll: failed: an earlier lookup failed recently (negative cache)".to_owned())
    );
    // Polling an agent that is already there says so.
    let (ok, text) = poll(&s, "id", "001");
    assert!(!ok && text.contains("agent '001' is already registered"), "{text}");
    // A registration collides with a polled agent as with any other.
    assert_eq!(
        String::from_utf8_lossy(&s.request(b"OSSEC A:'web-01'\n")),
        "ERROR: Duplicate agent name: web-01. Unable to add agent"
    );
}

#[test]
fn mysql_example_script_against_mariadb() {
    let Some(python) = toolkit_python() else { return };
    let table = format!("agentkeys_kp_{}", std::process::id());
    let setup = format!(
        "import pymysql\nc = pymysql.connect(host='127.0.0.1', user='root', password='', database='test', connect_timeout=3)\n\
         cur = c.cursor()\ncur.execute('DROP TABLE IF EXISTS {table}')\n\
         cur.execute(\"CREATE TABLE {table} (id VARCHAR(8) PRIMARY KEY, name VARCHAR(128), ip VARCHAR(64), `key` VARCHAR(128))\")\n\
         cur.execute(\"INSERT INTO {table} VALUES ('042', 'db-agent', '10.7.7.7', '{KEY}'), ('043', 'db-agent2', 'any', '{KEY}'), ('044', 'v6-short', '2001:db8::44', '{KEY}'), ('045', 'v6-long', '2001:0DB8:0000:0000:0000:0000:0000:0045', '{KEY}')\")\nc.commit()\n"
    );
    let created = Command::new(&python).args(["-c", &setup]).output().unwrap();
    if !created.status.success() {
        let why = String::from_utf8_lossy(&created.stderr).into_owned();
        assert!(
            std::env::var_os("AGENTKEYS_REQUIRE_DB").is_none(),
            "MariaDB not usable and AGENTKEYS_REQUIRE_DB=1: {why}"
        );
        eprintln!("notice: MariaDB not usable on 127.0.0.1 ({}); test not run", why.lines().last().unwrap_or(""));
        return;
    }
    // The script reads its table from the environment: `env` sets it (argv, no shell).
    let exec = format!(
        "env AGENTKEYS_DB_TABLE={table} {} {}",
        python.display(),
        repo().join("examples/python/keypoll_mysql.py").display()
    );
    let home = temp_home("kp-mysql");
    write_config(&home, &format!("[key_request]\nenabled = true\nexec_path = {exec:?}\ntimeout = 20\n"));
    let s = Server::start(&home, &[]);
    let (ok, text) = poll(&s, "id", "042");
    assert!(ok && text.contains("agent '042' (db-agent) added with address 10.7.7.7"), "{text}\n{}", s.log_text());
    assert!(s.keys().contains(&format!("042 db-agent 10.7.7.7 {KEY}")));
    let (ok, text) = poll(&s, "ip", "10.9.9.9");
    assert!(!ok && text.contains("No agent key found for ip 10.9.9.9"), "{text}");
    // IPv6 rows match whichever form the table holds and the request uses.
    let (ok, text) = poll(&s, "ip", "2001:0db8:0000:0000:0000:0000:0000:0044");
    assert!(ok && text.contains("agent '044' (v6-short)"), "{text}");
    let (ok, text) = poll(&s, "ip", "2001:db8::45");
    assert!(ok && text.contains("agent '045' (v6-long)"), "{text}");
    // Exactly as remoted sends it: an unbound datagram, no reply expected.
    UnixDatagram::unbound().unwrap().send_to(b"id:043", s.home.join("queue/sockets/krequest")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !s.keys().contains(&format!("043 db-agent2 any {KEY}")) {
        assert!(std::time::Instant::now() < deadline, "agent 043 never appeared:\n{}", s.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new(&python)
        .args(["-c", &format!("import pymysql\nc = pymysql.connect(host='127.0.0.1', user='root', password='', database='test')\nc.cursor().execute('DROP TABLE IF EXISTS {table}')\nc.commit()")])
        .output();
}

#[test]
fn failure_modes_are_reported_and_nothing_is_added() {
    let dir = temp_home("kp-fail");
    let cases = [
        (
            "error.sh",
            r#"echo '{"error": 1, "message": "Your error message"}'"#,
            "Could not get a key from ID 101. Error: 'Your error message'",
        ),
        ("malformed.sh", "echo 'not json'", "Error parsing JSON event"),
        ("noerror.sh", r#"echo '{"data": {}}'"#, "Malformed JSON output received. No 'error' field found."),
        ("exit3.sh", "exit 3", "Key request integration"),
        ("silent.sh", "true", "printed nothing"),
        (
            "badname.sh",
            r#"echo '{"error":0,"data":{"id":"101","name":"bad name","ip":"any","key":"k"}}'"#,
            "Invalid agent data",
        ),
        (
            "shortid.sh",
            r#"echo '{"error":0,"data":{"id":"42","name":"ok-name","ip":"any","key":"k"}}'"#,
            "3 to 8 digits",
        ),
        (
            "stderr.sh",
            r#"echo 'oops' >&2; echo '{"error":0,"data":{"id":"101","name":"noisy","ip":"any","key":"k"}}'"#,
            "added",
        ),
    ];
    for (name, body, expected) in cases {
        let exec = script(&dir, name, body);
        let s = server(&exec, "negative_cache = 0\n");
        let (ok, text) = poll(&s, "id", "101");
        assert!(text.contains(expected), "{name}: {text}");
        if expected == "added" {
            assert!(ok && s.keys().contains("101 noisy any k") && s.logged("stderr: oops"), "{name}");
        } else {
            assert!(!ok && s.keys().is_empty(), "{name}: {text}");
        }
    }
    let s = server("/nonexistent/script.sh", "");
    let (ok, text) = poll(&s, "id", "101");
    assert!(
        !ok && text.contains("Cannot run key request integration (/nonexistent/script.sh): path is invalid"),
        "{text}"
    );
    let not_exec = dir.join("not-exec.sh");
    std::fs::write(&not_exec, "#!/bin/sh\necho hi\n").unwrap();
    let s = server(not_exec.to_str().unwrap(), "");
    assert!(poll(&s, "id", "101").1.contains("Cannot run key request integration"));
}

#[test]
fn a_script_that_hangs_is_killed_at_the_timeout() {
    let dir = temp_home("kp-hang");
    // The script records its own child's PID, so the check below looks at that process only
    // (not at every `sleep` on the machine).
    let pid_file = dir.join("child.pid");
    let exec = script(&dir, "hang.sh", &format!("sleep 300 &\necho $! > {}\nwait", pid_file.display()));
    let s = server(&exec, "timeout = 1\n");
    let started = std::time::Instant::now();
    let (ok, text) = poll(&s, "id", "007");
    assert!(!ok && text.contains("Timeout received while running key request integration"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(20));
    // The whole process group is gone, the child `sleep` included.
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_owned();
    let mut state = None;
    for _ in 0..60 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
        if matches!(state, None | Some('Z' | 'X')) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(matches!(state, None | Some('Z' | 'X')), "the script's child {pid} still runs ({state:?})");
}

#[test]
fn hostile_requests_never_start_a_process() {
    let dir = temp_home("kp-hostile");
    let exec = script(&dir, "record.sh", r#"echo '{"error":4,"message":"no"}'"#);
    let s = server(&exec, "");
    let target = s.home.join("queue/sockets/krequest");
    let client = UnixDatagram::unbound().unwrap();
    let huge = format!("id:{}", "1".repeat(70 * 1024));
    for bad in ["id:1 2", "id:../x", "ip:1.2.3.4;rm", "ip:$(reboot)", "name:x", huge.as_str()] {
        client.send_to(bad.as_bytes(), &target).unwrap();
    }
    assert!(s.logged("Invalid request 'id:1 2' received in Agent key request."));
    assert!(s.logged("Agent ID is too long."));
    assert!(s.logged("Invalid request 'ip:1.2.3.4;rm' received"));
    assert_eq!(calls(&dir), "", "no process may start for a hostile request");
    // A valid one still works and gets argv, not a shell line, with the address as it was sent.
    let _ = poll(&s, "ip", "::1");
    assert_eq!(calls(&dir), "ip ::1\n");
}

/// Sends `request` from a bound address and returns the server's outcome datagram.
fn send_and_wait(server: &Server, me: &Path, request: &str) -> std::thread::JoinHandle<String> {
    let target = server.home.join("queue/sockets/krequest");
    let _ = std::fs::remove_file(me);
    let socket = UnixDatagram::bind(me).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    socket.send_to(request.as_bytes(), &target).unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let n = socket.recv(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    })
}

#[test]
fn duplicates_in_flight_are_merged_and_a_full_queue_discards() {
    let dir = temp_home("kp-queue");
    let exec = script(
        &dir,
        "slow.sh",
        r#"sleep 1; echo "{\"error\":0,\"data\":{\"id\":\"$2\",\"name\":\"agent-$2\",\"ip\":\"any\",\"key\":\"k$2\"}}""#,
    );
    let s = server(&exec, "threads = 1\nqueue_size = 1\n");
    let first = send_and_wait(&s, &dir.join("a.sock"), "id:201");
    std::thread::sleep(Duration::from_millis(200));
    let twin = send_and_wait(&s, &dir.join("b.sock"), "id:201");
    let queued = send_and_wait(&s, &dir.join("c.sock"), "id:202");
    std::thread::sleep(Duration::from_millis(100));
    let overflow = send_and_wait(&s, &dir.join("d.sock"), "id:203");
    assert_eq!(twin.join().unwrap(), "discarded: already being processed");
    assert_eq!(overflow.join().unwrap(), "discarded: request queue is full");
    assert!(first.join().unwrap().starts_with("added: agent '201'"));
    assert!(queued.join().unwrap().starts_with("added: agent '202'"));
    assert!(s.logged("Request queue is full. Discarding request."));
    assert_eq!(calls(&dir).lines().count(), 2, "the twin ran no second process");
}

/// A socket source answering `id:…` from a table; `hang` accepts and never answers.
fn socket_source(path: &Path, hang: bool) {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 256];
                let n = stream.read(&mut buf).unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                if hang {
                    std::thread::sleep(Duration::from_secs(30));
                    return;
                }
                let answer = match request.as_str() {
                    "id:301" => {
                        format!(r#"{{"error":0,"data":{{"id":"301","name":"from-socket","ip":"any","key":"{KEY}"}}}}"#)
                    }
                    other => format!(r#"{{"error":4,"message":"unknown {other}"}}"#),
                };
                // Two writes, no EOF: the reader must stop at the end of the JSON value.
                let (a, b) = answer.split_at(10);
                let _ = stream.write_all(a.as_bytes());
                std::thread::sleep(Duration::from_millis(50));
                let _ = stream.write_all(b.as_bytes());
                std::thread::sleep(Duration::from_secs(10));
            });
        }
    });
}

#[test]
fn socket_mode() {
    let home = temp_home("kp-sock");
    let source = home.join("source.sock");
    socket_source(&source, false);
    write_config(
        &home,
        &format!("[key_request]\nenabled = true\nsocket = {:?}\ntimeout = 5\n", source.display().to_string()),
    );
    let s = Server::start(&home, &[]);
    let (ok, text) = poll(&s, "id", "301");
    assert!(ok && text.contains("agent '301' (from-socket)"), "{text}");
    let (ok, text) = poll(&s, "id", "302");
    assert!(!ok && text.contains("Error: 'unknown id:302'"), "{text}");
}

#[test]
fn a_socket_that_never_answers_times_out_and_a_dead_one_falls_back_to_exec() {
    let home = temp_home("kp-sock2");
    let source = home.join("mute.sock");
    socket_source(&source, true);
    write_config(
        &home,
        &format!("[key_request]\nenabled = true\nsocket = {:?}\ntimeout = 1\n", source.display().to_string()),
    );
    let s = Server::start(&home, &[]);
    let (ok, text) = poll(&s, "id", "303");
    assert!(!ok && text.contains("No data received from external socket"), "{text}");
    drop(s);

    let home = temp_home("kp-fallback");
    let exec = script(
        &home,
        "fallback.sh",
        r#"echo '{"error":0,"data":{"id":"304","name":"fallback","ip":"any","key":"k4"}}'"#,
    );
    write_config(
        &home,
        &format!(
            "[key_request]\nenabled = true\nsocket = {:?}\nexec_path = {exec:?}\ntimeout = 5\n",
            home.join("absent.sock").display().to_string()
        ),
    );
    let s = Server::start(&home, &[]);
    let (ok, text) = poll(&s, "id", "304");
    assert!(ok && text.contains("agent '304' (fallback)"), "{text}");
    assert!(s.logged("Socket connect fail. Trying to run"));
}

#[test]
fn key_request_configuration_from_ossec_conf() {
    let home = temp_home("kp-conf");
    let conf = home.join("ossec.conf");
    std::fs::write(
        &conf,
        "<ossec_config>\n<wodle name=\"agent-key-polling\">\n<enabled>yes</enabled>\n<exec_path>/bin/true</exec_path>\n<threads>4</threads>\n</wodle>\n</ossec_config>\n",
    )
    .unwrap();
    let out = common::serve_once(&home, &["--check", "--ossec-conf", conf.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("[key_request]")
            && stdout.contains("threads = 4")
            && stdout.contains("exec_path = \"/bin/true\""),
        "{stdout}"
    );
    std::fs::write(
        &conf,
        "<ossec_config>\n<auth>\n<key_request>\n<threads>99</threads>\n</key_request>\n</auth>\n</ossec_config>\n",
    )
    .unwrap();
    let out = common::serve_once(&home, &["--check", "--ossec-conf", conf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("ossec.conf:3: Invalid number of threads at module 'key-request'"),
        "{out:?}"
    );
}

/// `getconfig auth` shows key polling's settings when it is on (only `enabled` when off).
#[test]
fn getconfig_shows_key_polling_when_on() {
    let s = server("/bin/true", "");
    let config = common::admin_ask(&s.home, b"getconfig auth");
    assert!(
        config.contains(
            r#""key_request":{"enabled":"yes","exec_path":"/bin/true","timeout":5,"threads":1,"queue_size":1024}"#
        ),
        "{config}"
    );
}
