//! `agentkeys serve --check`: everything the configuration names is looked at, not only parsed —
//! certificates load and match their keys, the CAs are CAs, the HTTPS CA signs its listener, the
//! password file is usable, the key-poll program can be run, the socket directory is writable — and
//! a node that ossec.conf makes a Wazuh cluster worker is refused (its registrations belong to the
//! master).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::config::{AgentStatus, Config, Origins};
use crate::home::Home;

/// What `--check` found: errors stop a start; notes say what the first start will create.
#[derive(Debug, Default)]
pub struct Report {
    /// Problems that stop the server.
    pub errors: Vec<String>,
    /// Facts worth knowing.
    pub notes: Vec<String>,
}

/// Checks `config` for `home`.
pub fn check(home: &Home, config: &Config, origins: &Origins) -> Report {
    let mut r = Report::default();
    if let Some(conf) = &origins.ossec_conf
        && let Ok(text) = std::fs::read_to_string(conf)
    {
        if crate::config::ossec::is_cluster_worker(&text) {
            r.errors.push(format!(
                "{}: this node is a Wazuh cluster worker (<cluster><node_type>worker); agents must register with the master: run agentkeys there, or make this node the master",
                conf.display()
            ));
        }
        if config.server.agent_status == AgentStatus::None {
            r.notes.push(
                "beside a Wazuh manager, set [server] agent_status = \"wazuh-db\" so the force rules see whether agents are connected".to_owned(),
            );
        }
    }
    let cert = home.join(&config.auth.ssl_manager_cert);
    let key = home.join(&config.auth.ssl_manager_key);
    match (cert.exists(), key.exists()) {
        (false, false) => r.notes.push(format!("{}: will be created (self-signed) at the first start", cert.display())),
        _ => {
            let agent_ca = config.auth.ssl_agent_ca.as_ref().map(|p| home.join(p));
            match crate::ciphers::select(&config.auth.ciphers, "auth.ciphers").map_err(|e| e.to_string()).and_then(
                |suites| crate::tls::server_config(&cert, &key, agent_ca.as_deref(), suites).map_err(|e| e.to_string()),
            ) {
                Ok(_) => r.notes.push(format!("{}: loads and matches its key", cert.display())),
                Err(e) => r.errors.push(format!("port 1515 TLS: {e}")),
            }
        }
    }
    if config.auth.use_password {
        let path = home.password_file();
        if path.exists() {
            if let Err(e) = crate::home::load_or_create_password(&path) {
                r.errors.push(e);
            }
        } else {
            r.notes.push(format!("{}: will be created with a random password at the first start", path.display()));
        }
    }
    if config.enrollment.enabled {
        let e = &config.enrollment;
        let (cert, key, ca) = (home.join(&e.ssl_cert), home.join(&e.ssl_key), home.join(&e.ssl_ca));
        if !cert.exists() && !key.exists() && !ca.exists() {
            r.notes.push(format!(
                "{}: the HTTPS CA and listener certificate will be created at the first start",
                ca.display()
            ));
        } else {
            let agent_ca = e.ssl_agent_ca.as_ref().map(|p| home.join(p));
            if let Err(err) = crate::tls::enrollment_config(&cert, &key, agent_ca.as_deref()) {
                r.errors.push(format!("HTTPS TLS: {err}"));
            }
            match (crate::certs::first_cert(&cert), crate::certs::load_certs(&ca)) {
                (Ok(leaf), Ok(cas)) if cas.iter().any(|c| crate::certs::ca_signs(c, &leaf)) => {}
                (Ok(_), Ok(_)) => r.errors.push(format!("{} does not sign {}", ca.display(), cert.display())),
                (Err(err), _) | (_, Err(err)) => r.errors.push(format!("HTTPS certificates: {err}")),
            }
        }
    }
    if config.key_request.enabled
        && let Some(exec) = &config.key_request.exec_path
    {
        let program = exec.split_whitespace().next().unwrap_or("");
        if let Err(why) = runnable(Path::new(program)) {
            r.errors.push(format!("key_request.exec_path: {program}: {why}"));
        }
    }
    if config.store.kind == crate::config::StoreKind::Postgres {
        match check_database(home, config) {
            Ok(note) => r.notes.push(note),
            Err(e) => r.errors.push(e),
        }
    }
    let sockets = home.join("queue/sockets");
    let dir = if sockets.exists() { sockets } else { home.root().to_owned() };
    if dir.exists() && !writable(&dir) {
        r.errors.push(format!("{}: not writable (the admin socket lives there)", dir.display()));
    }
    r
}

/// Connects to the shared registry as the server would (TLS included) and reads its schema
/// version and size; changes nothing.
fn check_database(home: &Home, config: &Config) -> Result<String, String> {
    use crate::registry::postgres::{connect_one, error_text, schema};
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let url = config.store.url.as_deref().unwrap_or("");
        let tls_ca = config.store.tls_ca.as_ref().map(|ca| home.join(ca));
        let timeout = std::time::Duration::from_secs(config.store.connect_timeout.as_secs());
        let (client, name, _notices) = connect_one(url, tls_ca.as_deref(), Some(timeout)).await?;
        let version: Option<i32> = client
            .query_opt("SELECT max(version) FROM agentkeys_schema WHERE to_regclass('agentkeys_schema') IS NOT NULL", &[])
            .await
            .ok()
            .flatten()
            .and_then(|row| row.get(0));
        match version {
            None => Ok(format!("registry database {name}: reachable; its tables will be created at the first start")),
            Some(v) if v > schema::CURRENT => Err(format!(
                "registry database {name}: schema version {v} is newer than this agentkeys knows ({}); upgrade agentkeys",
                schema::CURRENT
            )),
            Some(v) => {
                let agents: i64 = client
                    .query_one("SELECT count(*) FROM agentkeys_agents WHERE state = 'active'", &[])
                    .await
                    .map_err(|e| format!("registry database {name}: {}", error_text(&e)))?
                    .get(0);
                Ok(format!("registry database {name}: reachable, schema version {v}, {agents} agents"))
            }
        }
    })
}

fn runnable(program: &Path) -> Result<(), &'static str> {
    let meta = std::fs::metadata(program).map_err(|_| "not found")?;
    if !meta.is_file() {
        return Err("not a file");
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err("not executable");
    }
    Ok(())
}

fn writable(dir: &Path) -> bool {
    let probe = dir.join(format!(".agentkeys-check-{}", std::process::id()));
    let ok = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}
