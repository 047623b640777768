//! Several `agentkeys serve` nodes on one PostgreSQL registry, against the machine's real
//! PostgreSQL (127.0.0.1, trust auth): races across nodes decided by the database, every node's
//! client.keys kept equal to the registry, tokens counted across nodes, re-enrollment on another
//! node, a node killed with SIGKILL and PostgreSQL restarted under load, the database cut away and
//! back, and `agentkeys store migrate` of a 100,000-agent home both ways.
//!
//! Each test gets its own database. Without a PostgreSQL the tests skip with a notice, and fail
//! instead under `AGENTKEYS_REQUIRE_DB=1` (CI). They run one at a time: one of them restarts the
//! server.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::*;

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// One PostgreSQL test at a time (one restarts the server).
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A database of its own for one test, dropped afterwards.
struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    /// None (with a notice) when PostgreSQL is not there and the run does not require it.
    fn create(tag: &str) -> Option<TestDb> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!("agentkeys_it_{}_{}_{tag}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        match sql(ADMIN_URL, &format!("DROP DATABASE IF EXISTS {name}")) {
            Ok(_) => {
                sql(ADMIN_URL, &format!("CREATE DATABASE {name}")).unwrap();
                Some(TestDb { url: format!("postgres://postgres@127.0.0.1:5432/{name}"), name })
            }
            Err(e) => {
                let message = format!("PostgreSQL not usable at {ADMIN_URL}: {e}");
                assert!(
                    std::env::var_os("CI").is_none() && std::env::var_os("AGENTKEYS_REQUIRE_DB").is_none(),
                    "{message} and AGENTKEYS_REQUIRE_DB=1"
                );
                eprintln!("SKIPPED: {message} (set AGENTKEYS_REQUIRE_DB=1 to fail instead)");
                None
            }
        }
    }

    fn query(&self, query: &str) -> Vec<Vec<Option<String>>> {
        sql(&self.url, query).unwrap_or_else(|e| panic!("{query}: {e}"))
    }

    /// The registry's client.keys, in its order, as every node must have it.
    fn keys_file(&self) -> String {
        self.query(
            "SELECT CASE state WHEN 'active' THEN id || ' ' || name || ' ' || address || ' ' || key ELSE removed_line END \
             FROM agentkeys_agents WHERE state <> 'purged' ORDER BY position",
        )
        .into_iter()
        .map(|r| format!("{}\n", r[0].as_deref().unwrap()))
        .collect()
    }

    fn count(&self, query: &str) -> i64 {
        self.query(query)[0][0].as_deref().unwrap().parse().unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = sql(ADMIN_URL, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

/// A node's home using the registry at `url`; `extra` is more TOML (after `[server]`, so it
/// starts with a table header of its own).
fn node_home(tag: &str, url: &str, node: &str, extra: &str) -> std::path::PathBuf {
    let home = temp_home(tag);
    write_config(
        &home,
        &format!(
            "[store]\nkind = \"postgres\"\nurl = \"{url}\"\nnode = \"{node}\"\nrefresh_interval = 1\n\
             connect_timeout = 2\n[server]\nmax_connections_per_source = 1000\n{extra}"
        ),
    );
    home
}

/// One raw registration; Err when the node cannot be reached or closes without a reply.
fn try_register(port: u16, request: &str) -> Result<String, String> {
    let reply = tls_exchange_with(port, client_config(), request.as_bytes())?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// Waits until every node's client.keys equals the registry's; returns how long it took.
fn converge(db: &TestDb, homes: &[&Path]) -> Duration {
    let started = Instant::now();
    loop {
        let want = db.keys_file();
        let differ: Vec<&&Path> = homes
            .iter()
            .filter(|h| std::fs::read_to_string(h.join("etc/client.keys")).unwrap_or_default() != want)
            .collect();
        if differ.is_empty() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "client.keys of {differ:?} differ from the registry after 20 s:\nregistry:\n{want}\nfirst differing node:\n{}",
            std::fs::read_to_string(differ[0].join("etc/client.keys")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_nodes_share_one_registry_and_races_are_decided_by_postgres() {
    let _serial = serial();
    let Some(db) = TestDb::create("race") else { return };
    let homes: Vec<_> = (1..=3).map(|n| node_home("pg-race", &db.url, &format!("node{n}"), "")).collect();
    let nodes: Vec<Server> = homes.iter().map(|h| Server::start(h, &[])).collect();
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();

    // 300 clients × 10 registrations, spread over the three nodes. Round 0: the three clients of a
    // trio race for one name on three nodes; round 1: for one address; the rest are unique.
    let acked = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for client in 0..300usize {
            let (acked, refused, ports) = (Arc::clone(&acked), Arc::clone(&refused), ports.clone());
            scope.spawn(move || {
                for round in 0..10usize {
                    let trio = client / 3;
                    let (label, request) = match round {
                        0 => (format!("name:race-{trio}"), format!("OSSEC A:'race-{trio}'\n")),
                        1 => (
                            format!("addr:10.9.{}.{}", trio / 250, trio % 250 + 1),
                            format!("OSSEC A:'addr-{client}' IP:'10.9.{}.{}'\n", trio / 250, trio % 250 + 1),
                        ),
                        _ => (format!("own:{client}-{round}"), format!("OSSEC A:'c{client}-r{round}'\n")),
                    };
                    let port = ports[(client + round) % 3];
                    let reply = try_register(port, &request).unwrap_or_else(|e| panic!("node {port}: {e}"));
                    if let Some(record) = reply.trim_end().strip_prefix("OSSEC K:'").and_then(|r| r.strip_suffix('\''))
                    {
                        acked.lock().unwrap().push((label, record.to_owned()));
                    } else {
                        assert!(reply.starts_with("ERROR: Duplicate"), "{request:?} → {reply:?}");
                        assert!(round < 2, "a unique registration was refused: {reply}");
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let acked = acked.lock().unwrap().clone();
    // Each race has exactly one winner; everything else registered.
    assert_eq!(acked.len(), 3000 - 400, "100 name races and 100 address races, 2 losers each");
    assert_eq!(refused.load(Ordering::Relaxed), 400);
    let mut winners: HashMap<&str, usize> = HashMap::new();
    for (label, _) in &acked {
        *winners.entry(label.as_str()).or_default() += 1;
    }
    assert!(winners.values().all(|&n| n == 1), "a race with two winners");
    // No duplicate ID, name or address, and every acknowledged agent is in the registry as
    // acknowledged.
    let ids: HashSet<&str> = acked.iter().map(|(_, r)| r.split(' ').next().unwrap()).collect();
    assert_eq!(ids.len(), acked.len(), "duplicate IDs handed out");
    let registry = db.keys_file();
    let lines: HashSet<&str> = registry.lines().collect();
    for (_, record) in &acked {
        assert!(lines.contains(record.as_str()), "acknowledged but not in the registry: {record}");
    }
    assert_eq!(db.count("SELECT count(*) FROM agentkeys_agents WHERE state = 'active'"), 2600);
    assert_eq!(db.count("SELECT count(DISTINCT name) FROM agentkeys_agents WHERE state = 'active'"), 2600);
    assert_eq!(db.count("SELECT count(DISTINCT id_number) FROM agentkeys_agents"), 2600);
    assert_eq!(db.count("SELECT last_value FROM agentkeys_agent_id"), 2600);
    // Every node's client.keys is the registry.
    let delay = converge(&db, &homes.iter().map(|h| h.as_path()).collect::<Vec<_>>());
    eprintln!("client.keys of three nodes equal to the registry {delay:?} after the last reply");
    assert_eq!(nodes[0].keys().lines().count(), 2600);
    // Admin socket, `agents` and key lookups on any node see agents registered anywhere.
    let (_, first) = &acked[0];
    let first_id = first.split(' ').next().unwrap();
    for home in &homes {
        let reply = admin_ask(home, format!(r#"{{"function":"get","arguments":{{"id":"{first_id}"}}}}"#).as_bytes());
        assert!(reply.contains(first.split(' ').nth(1).unwrap()), "{reply}");
    }
    let listed = std::process::Command::new(BIN).args(["agents", "--home"]).arg(&homes[2]).arg("-l").output().unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&format!("ID: {first_id}")));
    // A removal on one node reaches the others' client.keys.
    let removed =
        admin_ask(&homes[1], format!(r#"{{"function":"remove","arguments":{{"id":"{first_id}"}}}}"#).as_bytes());
    assert!(removed.contains(r#""error":0"#), "{removed}");
    converge(&db, &homes.iter().map(|h| h.as_path()).collect::<Vec<_>>());
    assert!(nodes[0].keys().contains(&format!("{first_id} !")), "the `!` line reached node 1");
    for node in nodes {
        assert!(node.stop());
    }
}

#[test]
fn tokens_count_across_nodes_and_an_agent_reenrolls_on_another_node() {
    let _serial = serial();
    let Some(db) = TestDb::create("tokens") else { return };
    let extra = "[enrollment]\nallow_loopback_tokens = true\n";
    let home1 = node_home("pg-tok1", &db.url, "node1", extra);
    let home2 = node_home("pg-tok2", &db.url, "node2", extra);
    let home3 = node_home("pg-tok3", &db.url, "node3", extra);
    let node1 = Server::start(&home1, &[]);
    // The nodes serve one enrollment CA and listener certificate (as an operator deploys them).
    for home in [&home2, &home3] {
        for file in ["sslenroll-ca.cert", "sslenroll-ca.key", "sslenroll.cert", "sslenroll.key"] {
            std::fs::copy(home1.join("etc").join(file), home.join("etc").join(file)).unwrap();
        }
    }
    let node2 = Server::start(&home2, &[]);
    let node3 = Server::start(&home3, &[]);
    let token = tokens(&home1, &["create", "--address", "127.0.0.1", "--allow-loopback", "--max-uses", "5"]);
    let credential = {
        let mut buf = vec![0u8; agentkeys::wazuh5::MAX_TOKEN_LEN];
        let decoded = agentkeys::wazuh5::EnrollmentToken::decode(token.as_bytes(), &mut buf).unwrap();
        decoded.credential.unwrap().to_text().to_string()
    };
    // 15 legacy agents present the credential on port 1515 of the three nodes at once: 5 enroll.
    let ports = [node1.port, node2.port, node3.port];
    let enrolled = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for i in 0..15 {
            let (credential, enrolled) = (&credential, &enrolled);
            scope.spawn(move || {
                let reply =
                    try_register(ports[i % 3], &format!("OSSEC PASS: {credential} OSSEC A:'tok-{i}'\n")).unwrap();
                if reply.starts_with("OSSEC K:") {
                    enrolled.fetch_add(1, Ordering::Relaxed);
                } else {
                    assert!(reply.contains("Enrollment token has no uses left"), "{reply}");
                }
            });
        }
    });
    assert_eq!(enrolled.load(Ordering::Relaxed), 5);
    let list: serde_json::Value = serde_json::from_str(&tokens(&home3, &["list", "--json"])).unwrap();
    assert_eq!(list["data"][0]["uses"], 5, "node 3 sees the uses made on every node: {list}");
    assert_eq!(db.count("SELECT uses FROM agentkeys_tokens"), 5);

    // A 5.x agent enrolls over HTTPS on node 1 with a new token, then re-enrolls on node 2.
    let token = tokens(&home1, &["create", "--address", "127.0.0.1", "--allow-loopback", "--max-uses", "1"]);
    let agent = temp_home("pg-agent");
    std::fs::write(agent.join("enrollment_token"), &token).unwrap();
    let keys = agent.join("client.keys");
    let run = |args: &[&str]| {
        std::process::Command::new(BIN).arg("enroll").args(args).arg("--keys").arg(&keys).output().unwrap()
    };
    let out = run(&["--token", agent.join("enrollment_token").to_str().unwrap(), "-A", "five-1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first = std::fs::read_to_string(&keys).unwrap();
    let out = run(&["--reenroll", "-m", "127.0.0.1", "--https-port", &node2.https_port().to_string()]);
    assert!(out.status.success(), "re-enrollment on node 2: {}", String::from_utf8_lossy(&out.stderr));
    let second = std::fs::read_to_string(&keys).unwrap();
    assert_ne!(first, second);
    assert_eq!(first.split(' ').next(), second.split(' ').next(), "same ID");
    converge(&db, &[&home1, &home2, &home3]);
    assert!(node1.keys().contains(second.trim()) && !node1.keys().contains(first.trim()));
    // And again on node 3 with the secret node 2 issued.
    let out = run(&["--reenroll", "-m", "127.0.0.1", "--https-port", &node3.https_port().to_string()]);
    assert!(out.status.success(), "re-enrollment on node 3: {}", String::from_utf8_lossy(&out.stderr));
    for node in [node1, node2, node3] {
        assert!(node.stop());
    }
}

/// A TCP relay to PostgreSQL that the test can cut (every connection closed, new ones refused)
/// and restore.
struct Relay {
    port: u16,
    open: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start() -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let live = Arc::new(Mutex::new(Vec::new()));
        let (open2, live2) = (Arc::clone(&open), Arc::clone(&live));
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                if !open2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect("127.0.0.1:5432") else { continue };
                {
                    let mut live = live2.lock().unwrap();
                    live.push(client.try_clone().unwrap());
                    live.push(server.try_clone().unwrap());
                }
                for (mut from, mut to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)]
                {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Relay { port, open, live }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_node_refuses_clearly_while_the_database_is_away_and_recovers_by_itself() {
    let _serial = serial();
    let Some(db) = TestDb::create("away") else { return };
    let relay = Relay::start();
    let url = db.url.replace("127.0.0.1:5432", &format!("127.0.0.1:{}", relay.port));
    let home = node_home("pg-away", &url, "node1", "");
    let node = Server::start(&home, &[]);
    let reply = try_register(node.port, "OSSEC A:'before'\n").unwrap();
    assert!(reply.starts_with("OSSEC K:'001 before "), "{reply}");
    relay.cut();
    // Port 1515: an error, never a key.
    let reply = try_register(node.port, "OSSEC A:'while-away'\n").unwrap_or_default();
    assert!(reply.starts_with("ERROR: Internal manager error adding agent: while-away"), "{reply}");
    assert!(!reply.contains("OSSEC K"), "{reply}");
    // HTTPS: 503 with the registry's code.
    let answer = post_enroll(node.https_port(), None, r#"{"name":"https-away","version":"v5.0.0"}"#);
    assert_eq!(answer.status, 503, "{}", answer.text());
    assert!(answer.text().contains("9033"), "{}", answer.text());
    // The admin socket too, and reads still answer from memory.
    let add = admin_ask(&home, br#"{"function":"add","arguments":{"name":"admin-away","ip":"any"}}"#);
    assert!(add.contains(r#""error":9033"#), "{add}");
    let get = admin_ask(&home, br#"{"function":"get","arguments":{"id":"001"}}"#);
    assert!(get.contains("before"), "{get}");
    assert!(node.logged("registry database"), "the log names the database");
    // Back: the node registers again without a restart.
    relay.restore();
    let started = Instant::now();
    loop {
        let reply = try_register(node.port, "OSSEC A:'after'\n").unwrap_or_default();
        if reply.starts_with("OSSEC K:") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no recovery: {reply}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(db.keys_file().contains(" after any "));
    assert!(!db.keys_file().contains("while-away") && !db.keys_file().contains("admin-away"));
    converge(&db, &[&home]);
    assert!(node.stop());
}

#[test]
fn sigkill_of_a_node_and_a_postgres_restart_under_load_lose_no_acknowledged_agent() {
    let _serial = serial();
    let Some(db) = TestDb::create("crash") else { return };
    let homes: Vec<_> = (1..=3).map(|n| node_home("pg-crash", &db.url, &format!("node{n}"), "")).collect();
    let mut nodes: Vec<Option<Server>> = homes.iter().map(|h| Some(Server::start(h, &[]))).collect();
    let ports: Vec<u16> = nodes.iter().map(|n| n.as_ref().unwrap().port).collect();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..30)
        .map(|client| {
            let (acked, stop, errors, ports) =
                (Arc::clone(&acked), Arc::clone(&stop), Arc::clone(&errors), ports.clone());
            std::thread::spawn(move || {
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let request = format!("OSSEC A:'k{client}-{n}'\n");
                    match try_register(ports[(client + n) % 3], &request) {
                        Ok(reply) if reply.starts_with("OSSEC K:'") => {
                            acked.lock().unwrap().push(record_of(reply.trim_end().as_bytes()));
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    // SIGKILL node 2 in the middle of its batches.
    let mut killed = nodes[1].take().unwrap();
    let _ = killed.child.kill();
    let _ = killed.child.wait();
    std::thread::sleep(Duration::from_secs(1));
    // Restart PostgreSQL under load (it is running again when this returns).
    let restart = std::process::Command::new("pg_ctlcluster").args(["15", "main", "restart"]).output();
    let restarted = matches!(&restart, Ok(o) if o.status.success());
    assert!(restarted, "pg_ctlcluster 15 main restart: {restart:?}");
    wait_for_postgres();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    let before_restart = acked.lock().unwrap().len();
    assert!(before_restart > 100, "the load ran ({before_restart} acknowledged)");
    // The surviving nodes register again without a restart.
    for port in [ports[0], ports[2]] {
        let started = Instant::now();
        loop {
            let reply = try_register(port, &format!("OSSEC A:'after-{port}'\n")).unwrap_or_default();
            if reply.starts_with("OSSEC K:") {
                acked.lock().unwrap().push(record_of(reply.trim_end().as_bytes()));
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "node on {port} did not recover: {reply}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // The killed node starts again from the registry.
    nodes[1] = Some(Server::start(&homes[1], &[]));
    let acked = acked.lock().unwrap().clone();
    let registry = db.keys_file();
    let lines: HashSet<&str> = registry.lines().collect();
    for record in &acked {
        assert!(lines.contains(record.as_str()), "acknowledged but lost: {record}");
    }
    let ids: HashSet<&str> = acked.iter().map(|r| r.split(' ').next().unwrap()).collect();
    assert_eq!(ids.len(), acked.len(), "an ID was handed out twice");
    assert_eq!(
        db.count("SELECT count(*) FROM agentkeys_agents WHERE state = 'active'"),
        db.count("SELECT count(DISTINCT name) FROM agentkeys_agents WHERE state = 'active'")
    );
    eprintln!(
        "{} acknowledged, {} refused or cut while a node or the database was down",
        acked.len(),
        errors.load(Ordering::Relaxed)
    );
    converge(&db, &homes.iter().map(|h| h.as_path()).collect::<Vec<_>>());
    for node in nodes.into_iter().flatten() {
        node.stop();
    }
}

fn wait_for_postgres() {
    let started = Instant::now();
    while sql(ADMIN_URL, "SELECT 1").is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "PostgreSQL did not come back");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A home of `n` agents as agentkeys and Wazuh write them: addresses of every kind, `!` lines
/// among the agents, groups and registration times in our files.
fn big_home(n: usize) -> std::path::PathBuf {
    let home = temp_home("pg-migrate");
    std::fs::create_dir_all(home.join("etc")).unwrap();
    std::fs::create_dir_all(home.join("queue")).unwrap();
    let mut keys = String::with_capacity(n * 90);
    let mut state = String::from("# agentkeys state: written by agentkeys, do not edit\n");
    let mut stamps = String::new();
    for i in 1..=n {
        let addr = match i % 4 {
            0 => "any".to_owned(),
            1 => format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255),
            2 => format!("192.{}.{}.{}/32", i >> 16 & 255, i >> 8 & 255, i & 255),
            _ => format!("fd00::{:x}:{:x}", (i >> 16) + 1, i & 0xffff),
        };
        let key = format!("{:064x}", (i as u128) * 0x9e37_79b9_7f4a_7c15);
        if i % 997 == 0 {
            keys.push_str(&format!("{i:03} !gone-{i} {addr} {key}\n"));
        } else {
            keys.push_str(&format!("{i:03} agent-{i} {addr} {key}\n"));
            if i % 10 == 0 {
                state.push_str(&format!("groups {i:03} default,web\n"));
            }
            stamps.push_str(&format!("{i:03} agent-{i} {addr} 2026-01-02 03:04:05\n"));
        }
    }
    std::fs::write(home.join("etc/client.keys"), keys).unwrap();
    std::fs::write(home.join("etc/agentkeys.state"), state).unwrap();
    std::fs::write(home.join("queue/agents-timestamp"), stamps).unwrap();
    home
}

#[test]
fn migrating_a_100000_agent_home_to_postgres_and_back_is_byte_identical() {
    let _serial = serial();
    let Some(db) = TestDb::create("migrate") else { return };
    let home = big_home(100_000);
    let original = std::fs::read(home.join("etc/client.keys")).unwrap();
    let migrate = |from: &str, to: &str| {
        std::process::Command::new(BIN).args(["store", "migrate", "--from", from, "--to", to]).output().unwrap()
    };
    let out = migrate(home.to_str().unwrap(), &db.url);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("99900 agents, 100 removed (`!`) lines"), "{said}");
    assert_eq!(db.count("SELECT count(*) FROM agentkeys_agents WHERE groups = 'default,web'"), 10_000 - 10);
    // Into a database that holds a registry: refused, nothing changed.
    let again = migrate(home.to_str().unwrap(), &db.url);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a registry"));
    // Back into a new home.
    let back = temp_home("pg-migrate-back");
    let out = migrate(&db.url, back.to_str().unwrap());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(back.join("etc/client.keys")).unwrap() == original, "client.keys is not byte-identical");
    let state = std::fs::read_to_string(back.join("etc/agentkeys.state")).unwrap();
    assert!(state.contains("groups 010 default,web") && state.contains("highest_id 100000"), "{}", &state[..200]);
    // A node started on the migrated registry serves it.
    let node_home = node_home("pg-migrate-node", &db.url, "node1", "");
    let node = Server::start(&node_home, &[]);
    assert!(std::fs::read(node_home.join("etc/client.keys")).unwrap() == original);
    let reply = try_register(node.port, "OSSEC A:'after-migration'\n").unwrap();
    assert!(reply.starts_with("OSSEC K:'100001 after-migration "), "{reply}");
    node.stop();
    // A duplicate in the source is named by its line, nothing is written.
    let bad = temp_home("pg-migrate-bad");
    std::fs::create_dir_all(bad.join("etc")).unwrap();
    std::fs::write(
        bad.join("etc/client.keys"),
        format!("001 ab any {}\n002 ab any {}\n", "1".repeat(64), "2".repeat(64)),
    )
    .unwrap();
    let other = TestDb::create("migrate_bad").unwrap();
    let out = migrate(bad.to_str().unwrap(), &other.url);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(":2: duplicate name"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_node_talks_tls_to_the_database_verified_against_its_ca() {
    let _serial = serial();
    let Some(db) = TestDb::create("tls") else { return };
    // The machine's PostgreSQL serves Debian's self-signed certificate (CN=localhost).
    let snakeoil = Path::new("/etc/ssl/certs/ssl-cert-snakeoil.pem");
    let ssl_on = sql(ADMIN_URL, "SHOW ssl").ok().and_then(|r| r[0][0].clone()) == Some("on".to_owned());
    if !ssl_on || !snakeoil.exists() {
        eprintln!("SKIPPED: this PostgreSQL serves no TLS with {}", snakeoil.display());
        return;
    }
    let url = format!("{}?sslmode=require", db.url.replace("127.0.0.1", "localhost"));
    let config = |home: &Path, ca: Option<&Path>| {
        let ca = ca.map(|c| format!("tls_ca = \"{}\"\n", c.display())).unwrap_or_default();
        write_config(home, &format!("[store]\nkind = \"postgres\"\nurl = \"{url}\"\nnode = \"node-tls\"\n{ca}"));
    };
    let home = temp_home("pg-tls");
    config(&home, Some(snakeoil));
    let node = Server::start(&home, &[]);
    let reply = try_register(node.port, "OSSEC A:'over-tls'\n").unwrap();
    assert!(reply.starts_with("OSSEC K:'001 over-tls "), "{reply}");
    let encrypted = db.count(
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE s.ssl AND a.application_name = 'agentkeys node-tls'",
    );
    assert!(encrypted >= 2, "the pool and the listener use TLS ({encrypted})");
    assert_eq!(
        db.count("SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE NOT s.ssl AND a.application_name = 'agentkeys node-tls'"),
        0
    );
    node.stop();
    // A CA that did not sign the database's certificate: the start is refused, saying why.
    let wrong = temp_home("pg-tls-wrong");
    config(&wrong, Some(&home.join("etc/sslmanager.cert")));
    let log = Server::try_start(&wrong, &[]).err().expect("refused");
    assert!(log.contains("invalid peer certificate: UnknownIssuer"), "{log}");
    // TLS asked for without a CA to check the database against: refused by the configuration.
    let none = temp_home("pg-tls-none");
    config(&none, None);
    let log = Server::try_start(&none, &[]).err().expect("refused");
    assert!(log.contains("store.tls_ca"), "{log}");
}

#[test]
fn check_reports_the_registry_database_and_never_prints_its_password() {
    let _serial = serial();
    let Some(db) = TestDb::create("check") else { return };
    let home = temp_home("pg-check");
    // PostgreSQL trusts local connections, so any password is accepted: it must not be shown.
    let url = db.url.replace("postgres@", "postgres:hunter2secret@");
    write_config(&home, &format!("[store]\nkind = \"postgres\"\nurl = \"{url}\"\n"));
    let check =
        |home: &Path| std::process::Command::new(BIN).args(["serve", "--check", "--home"]).arg(home).output().unwrap();
    let out = check(&home);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("its tables will be created at the first start"), "{text}");
    assert!(!text.contains("hunter2secret") && text.contains("postgres:********@"), "{text}");
    let node = Server::start(&home, &[]);
    assert!(try_register(node.port, "OSSEC A:'checked'\n").unwrap().starts_with("OSSEC K:"));
    assert!(!node.log_text().contains("hunter2secret"));
    node.stop();
    let text = String::from_utf8_lossy(&check(&home).stdout).into_owned();
    assert!(text.contains("reachable, schema version 1, 1 agents"), "{text}");
    // Unreachable: an error naming the database and the reason.
    write_config(&home, "[store]\nkind = \"postgres\"\nurl = \"postgres://postgres@127.0.0.1:1/nowhere\"\n");
    let out = check(&home);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        text.contains("postgres://postgres@127.0.0.1:1/nowhere: error connecting to server: Connection refused"),
        "{text}"
    );
}

#[test]
fn a_missed_notification_and_an_unannounced_change_heal_by_themselves() {
    let _serial = serial();
    let Some(db) = TestDb::create("heal") else { return };
    let home = node_home("pg-heal", &db.url, "node1", "");
    // Reconcile every 2 s (default 5 min); catch up every second.
    let toml = std::fs::read_to_string(home.join("etc/agentkeys.toml")).unwrap();
    write_config(&home, &toml.replace("refresh_interval = 1\n", "refresh_interval = 1\nreconcile_interval = 2\n"));
    let node = Server::start(&home, &[]);
    assert!(try_register(node.port, "OSSEC A:'first'\n").unwrap().starts_with("OSSEC K:'001 first "));
    // A row written with a new change number but no NOTIFY (as if the notification was lost).
    db.query(&format!(
        "INSERT INTO agentkeys_agents (id, id_number, name, address, key, date_add, state, position, version) \
         VALUES ('002', 2, 'quiet', 'any', '{}', extract(epoch from now())::int8, 'active', \
                 nextval('agentkeys_position'), nextval('agentkeys_version'))",
        "a".repeat(64)
    ));
    converge(&db, &[&home]);
    assert!(node.keys().contains("002 quiet any "));
    // A change that no change number announces (a hand edit): the periodic full read finds it.
    db.query(&format!("UPDATE agentkeys_agents SET key = '{}' WHERE id = '001'", "b".repeat(64)));
    converge(&db, &[&home]);
    assert!(node.keys().contains(&format!("001 first any {}", "b".repeat(64))));
    // The node decides with what it learned: the name is taken (registered just now, so the force
    // rules do not replace it).
    let reply = try_register(node.port, "OSSEC A:'quiet'\n").unwrap();
    assert!(reply.starts_with("ERROR: Duplicate agent name: quiet"), "{reply}");
    node.stop();
}

#[test]
fn key_polling_on_one_node_adds_the_agent_for_every_node() {
    let _serial = serial();
    let Some(db) = TestDb::create("keypoll") else { return };
    let scripts = temp_home("pg-keypoll-script");
    let script = scripts.join("lookup.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho '{{\"error\":0,\"data\":{{\"id\":\"0500\",\"name\":\"polled\",\"ip\":\"any\",\"key\":\"{}\"}}}}'\n", "c".repeat(64)),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let home1 = node_home(
        "pg-kp1",
        &db.url,
        "node1",
        &format!("[key_request]\nenabled = true\nexec_path = \"{}\"\ntimeout = 10\n", script.display()),
    );
    let home2 = node_home("pg-kp2", &db.url, "node2", "");
    let node1 = Server::start(&home1, &[]);
    let node2 = Server::start(&home2, &[]);
    let out = std::process::Command::new(BIN)
        .args(["poll", "--home"])
        .arg(&home1)
        .args(["id", "0500", "--timeout", "30"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    converge(&db, &[&home1, &home2]);
    assert!(node2.keys().contains(&format!("0500 polled any {}", "c".repeat(64))), "{}", node2.keys());
    // The next ID handed out anywhere is above the polled one.
    let reply = try_register(node2.port, "OSSEC A:'after-poll'\n").unwrap();
    assert!(reply.starts_with("OSSEC K:'501 after-poll "), "{reply}");
    node1.stop();
    node2.stop();
}
