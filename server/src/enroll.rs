//! `agentkeys enroll`: the agent side of registration (SPEC 6.1, 6.3, 6.4), like `agent-auth`.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agentkeys::{AgentAddr, AgentName, Groups, IpField, Line, Reply, Request, key_hash, parse_keys, parse_reply};
use rustls::pki_types::ServerName;

use crate::atomic::replace_file;
use crate::home::SECRET_MODE;

/// What to send and where.
#[derive(Debug, Clone, clap::Args)]
pub struct EnrollArgs {
    /// Manager address (IP or host name); not needed with --token.
    #[arg(short = 'm', long = "manager", default_value = "")]
    pub manager: String,
    /// Manager port.
    #[arg(short = 'p', long, default_value_t = 1515, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// Agent name (default: the host name without characters names may not hold).
    #[arg(short = 'A', long = "name")]
    pub name: Option<String>,
    /// Groups, comma-separated.
    #[arg(short = 'G', long)]
    pub groups: Option<String>,
    /// Enrollment password.
    #[arg(short = 'P', long, conflicts_with = "password_file")]
    pub password: Option<String>,
    /// File whose first line is the enrollment password (used if longer than 2 bytes).
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Address to register the agent with (`IP:'…'`).
    #[arg(short = 'I', long = "ip", conflicts_with = "use_source_ip")]
    pub ip: Option<String>,
    /// Let the manager use the connection's source address (`IP:'src'`).
    #[arg(short = 'i', long = "use-source-ip")]
    pub use_source_ip: bool,
    /// The agent's client.keys: read for `K:`, replaced with the new key (default:
    /// /var/ossec/etc/client.keys when that installation exists, else ./client.keys;
    /// `AGENTKEYS_AGENT_DIR` names another installation).
    #[arg(long = "keys", default_value_os_t = default_keys())]
    pub keys: PathBuf,
    /// Version sent in `V:` (the manager refuses versions newer than its own); `none` leaves `V:`
    /// out, for OSSEC and 3.x managers that stop reading at it.
    #[arg(long, default_value = agentkeys::Version::DEFAULT_MANAGER)]
    pub agent_version: String,
    /// Seconds to wait for the connection and for the reply.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// CA certificate(s) that must have signed the manager's certificate, whose names must match
    /// the manager address (`-m`) (agent-auth `-v`).
    #[arg(short = 'v', long = "ca")]
    pub ca: Option<PathBuf>,
    /// Pin of the manager's public key, `sha256:<base64>` (see `agentkeys cert pin`).
    #[arg(long)]
    pub pin: Option<String>,
    /// Refuse to register unless the manager is verified with `--ca` or `--pin`.
    #[arg(long)]
    pub require_verified: bool,
    /// Agent certificate to present (with `-k`), for managers with `ssl_agent_ca`.
    #[arg(short = 'x', long = "cert", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Key of the agent certificate.
    #[arg(short = 'k', long = "key", requires = "cert")]
    pub key: Option<PathBuf>,
    /// OpenSSL cipher list for TLS 1.2 (agent-auth `-c`).
    #[arg(short = 'c', long, default_value = crate::config::DEFAULT_CIPHERS)]
    pub ciphers: String,
    /// Connect to this address instead of resolving `-m`, which is still the name the manager's
    /// certificate must match (like curl's --connect-to).
    #[arg(long)]
    pub connect_to: Option<IpAddr>,
    /// Wazuh 5.x enrollment over HTTPS with this enrollment token (its text, or a file holding it,
    /// deleted once enrolled). `-m` and `-p` are not needed: the token says where to go.
    #[arg(long, conflicts_with = "reenroll")]
    pub token: Option<String>,
    /// Wazuh 5.x re-enrollment: rotate this agent's key with its re-enrollment secret, over HTTPS
    /// to `-m`, verifying the manager with the stored trust anchor.
    #[arg(long)]
    pub reenroll: bool,
    /// HTTPS enrollment port (default: the token's, else 1517).
    #[arg(long)]
    pub https_port: Option<u16>,
    /// HTTPS path prefix for --reenroll (default `wazuh-manager`).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Where the re-enrollment secret is kept (default: `reenroll.secret` beside --keys).
    #[arg(long)]
    pub reenroll_secret: Option<PathBuf>,
    /// Where the manager's CA is kept (default: `certs/root-ca.pem` beside --keys).
    #[arg(long)]
    pub anchor: Option<PathBuf>,
}

/// What an empty answer means, in words.
const CLOSED_WITHOUT_ANSWER: &str = "the manager closed the connection without answering; OSSEC managers do this for a wrong password or a malformed request";

/// Runs the enrollment; returns the exit status.
pub fn run(args: &EnrollArgs) -> i32 {
    if args.token.is_none() && args.manager.is_empty() {
        eprintln!("agentkeys enroll: -m/--manager is required (or --token, which names the manager)");
        return 2;
    }
    if args.token.is_some() || args.reenroll {
        return crate::enroll5::run(args);
    }
    match enroll(args) {
        Ok(registered) => {
            println!("Valid key received");
            // Never the key: only who we are now and where the key went.
            eprintln!("agentkeys enroll: {registered}");
            0
        }
        Err(why) => {
            eprintln!("agentkeys enroll: {why}");
            1
        }
    }
}

/// An agent installation's client.keys if there is one here (`/var/ossec`, or
/// `AGENTKEYS_AGENT_DIR`), else `client.keys` in the current directory.
fn default_keys() -> PathBuf {
    let root = std::env::var_os("AGENTKEYS_AGENT_DIR").map_or_else(|| PathBuf::from("/var/ossec"), PathBuf::from);
    let installed = root.join("etc");
    if installed.is_dir() { installed.join("client.keys") } else { PathBuf::from("client.keys") }
}

pub(crate) fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    host.trim().chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')).collect()
}

pub(crate) fn password(args: &EnrollArgs) -> Result<Option<String>, String> {
    if let Some(p) = &args.password {
        return Ok(Some(p.clone()));
    }
    let Some(path) = &args.password_file else { return Ok(None) };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let first = text.lines().next().unwrap_or("").to_owned();
    Ok((first.len() > 2).then_some(first))
}

/// The `K:` value: the hash of the first agent in the existing keys file.
fn current_key_hash(path: &PathBuf) -> Option<String> {
    let data = std::fs::read(path).ok()?;
    parse_keys(&data).find_map(|l| match l.line {
        Line::Agent(r) => Some(key_hash(r.id.as_str(), r.name.as_str(), r.key.as_str()).to_string()),
        _ => None,
    })
}

fn enroll(args: &EnrollArgs) -> Result<String, String> {
    let name = args.name.clone().unwrap_or_else(default_name);
    let name = AgentName::new(&name).map_err(|e| format!("invalid agent name {name:?}: {e}"))?;
    let groups = match &args.groups {
        Some(g) => Some(Groups::parse(g.as_bytes()).map_err(|e| format!("invalid groups {g:?}: {e}"))?),
        None => None,
    };
    let ip = match (&args.ip, args.use_source_ip) {
        (Some(ip), _) => IpField::Addr(AgentAddr::new(ip).map_err(|e| format!("invalid address {ip:?}: {e}"))?),
        (None, true) => IpField::Source,
        (None, false) => IpField::Absent,
    };
    let password = password(args)?;
    let hash = current_key_hash(&args.keys);
    let version = (!args.agent_version.eq_ignore_ascii_case("none")).then_some(args.agent_version.as_bytes());
    let request = Request {
        password: password.as_deref().map(str::as_bytes),
        name,
        version,
        groups,
        ip,
        key_hash: hash.as_deref().map(str::as_bytes),
    };
    let wire = request.to_vec().map_err(|e| format!("cannot build the request: {e}"))?;

    let tls = client_tls(args)?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let reply = exchange(args, tls, &wire, timeout)?;
    match parse_reply(&reply).map_err(|e| format!("invalid reply from the manager: {e}"))? {
        Reply::Refused(message) => Err(format!("{} (from manager)", String::from_utf8_lossy(message))),
        Reply::Key { record, text } => {
            warn_if_changed(&request, &record);
            let mut contents = text.as_bytes().to_vec();
            contents.push(b'\n');
            replace_file(&args.keys, &contents, SECRET_MODE)?;
            Ok(format!(
                "registered as agent '{}' ({}); key written to {}",
                record.id,
                record.name.as_str(),
                args.keys.display()
            ))
        }
    }
}

/// Says when the manager registered something else than what was asked: OSSEC renames a
/// duplicate `name` to `name2`; managers older than 4.x stop reading at `V:`, dropping the
/// address after it. (The reply does not say which groups were kept.)
fn warn_if_changed(asked: &Request<'_>, got: &agentkeys::Record<'_>) {
    let say = |what: String| eprintln!("agentkeys enroll: warning: {what}");
    if got.name.as_str() != asked.name.as_str() {
        say(format!(
            "the manager registered this agent as '{}', not '{}' (OSSEC managers rename a name already in use)",
            got.name.as_str(),
            asked.name.as_str()
        ));
    }
    let dropped = match asked.ip {
        IpField::Addr(addr) => (got.addr != addr).then(|| format!("the address {addr}")),
        _ => None,
    };
    if let Some(what) = dropped {
        let hint = if asked.version.is_some() {
            "; managers older than Wazuh 4 ignore fields after V: (try --agent-version none)"
        } else {
            ""
        };
        say(format!("the manager registered {} instead of {what}{hint}", got.addr));
    }
}

fn client_tls(args: &EnrollArgs) -> Result<Arc<rustls::ClientConfig>, String> {
    if args.ca.is_none() && args.pin.is_none() {
        if args.require_verified {
            return Err("the manager cannot be verified: give --ca or --pin (--require-verified)".to_owned());
        }
        eprintln!("agentkeys enroll: warning: the manager is not verified (no --ca or --pin)");
    }
    let ca = match &args.ca {
        Some(path) => Some(crate::certs::load_certs(path)?),
        None => None,
    };
    if let Some(pin) = &args.pin
        && !pin.starts_with("sha256:")
    {
        return Err(format!("--pin {pin:?}: expected sha256:<base64>, as `agentkeys cert pin` prints"));
    }
    let identity = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => Some(crate::certs::load_identity(cert, key)?),
        _ => None,
    };
    let suites = crate::ciphers::select(&args.ciphers, "--ciphers").map_err(|e| e.to_string())?;
    let check = crate::tls::ManagerCheck { ca, pin: args.pin.clone(), expected_name: args.manager.clone() };
    Ok(crate::tls::client_config(check, identity, suites)?)
}

/// Connects, completes the handshake (so that a failed verification sends nothing), sends the
/// request, and reads the reply until the manager closes.
fn exchange(
    args: &EnrollArgs,
    config: Arc<rustls::ClientConfig>,
    request: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let (manager, port) = (args.manager.as_str(), args.port);
    let addrs: Vec<_> = match args.connect_to {
        Some(ip) => vec![std::net::SocketAddr::new(ip, port)],
        None => (manager, port).to_socket_addrs().map_err(|e| format!("cannot resolve {manager}: {e}"))?.collect(),
    };
    let mut last = format!("cannot resolve {manager}");
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    let tcp = tcp.ok_or(last)?;
    tcp.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let server_name = match manager.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => {
            ServerName::try_from(manager.to_owned()).map_err(|e| format!("invalid manager name {manager:?}: {e}"))?
        }
    };
    let conn = rustls::ClientConnection::new(config, server_name).map_err(|e| format!("TLS: {e}"))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).map_err(|e| format!("TLS handshake with the manager failed: {e}"))?;
    }
    tls.write_all(request).map_err(|e| format!("cannot send the request: {e}"))?;
    let mut reply = Vec::new();
    match tls.read_to_end(&mut reply) {
        Ok(_) => {}
        // Managers that close without close_notify (OSSEC, Wazuh 3.x) end the stream this way.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !reply.is_empty() => {}
        Err(e) if !reply.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            return Err(format!("no answer from the manager within {} s", timeout.as_secs()));
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
            ) =>
        {
            return Err(CLOSED_WITHOUT_ANSWER.to_owned());
        }
        Err(e) => return Err(format!("no reply from the manager: {e}")),
    }
    if reply.is_empty() {
        return Err(CLOSED_WITHOUT_ANSWER.to_owned());
    }
    Ok(reply)
}
