//! `agentkeys`: the registration server, enrollment client and agent management tool.

mod accept;
mod admin;
mod agents;
mod atomic;
mod bench;
mod bench_floor;
mod certs;
mod check;
mod ciphers;
mod clock;
mod config;
mod enroll;
mod enroll5;
mod framing;
mod home;
mod https;
mod keypoll;
mod localtime;
mod lockout;
mod log_sink;
mod logging;
mod memory;
mod metrics;
mod registry;
mod reload;
mod serve;
mod server;
mod sources;
mod status;
mod store_cli;
mod systemd;
mod tls;
mod tokens;
mod tokens_cli;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tracing::{error, info, warn};

use crate::config::Config;
use crate::home::Home;

/// The exit codes of every subcommand (also in the README).
const EXIT_CODES: &str = "Exit codes: 0 success; 1 failure (a refusal, a bad file, an unreachable server, `keys check` \
found problems, `poll` added nothing, `bench` had a failed registration); 2 a usage error (unknown flag, \
missing argument, `tokens create --ttl` out of range, `tokens show` given something that is not a token). \
`serve` exits 0 when stopped by SIGTERM/SIGINT, after `--check` succeeds, or when <auth> is disabled.";

/// Agent registration for Wazuh and OSSEC.
#[derive(Debug, Parser)]
#[command(name = "agentkeys", version, about, long_about = None, after_help = EXIT_CODES)]
struct Cli {
    /// Log level: error, warn, info, debug, trace (default: info for `serve`, warn otherwise).
    #[arg(long, global = true, env = "AGENTKEYS_LOG")]
    log_level: Option<tracing::Level>,
    /// Log line format.
    #[arg(long, global = true, env = "AGENTKEYS_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: logging::Format,
    /// Write logs to this file instead of stderr (reopened on SIGHUP, for logrotate).
    #[arg(long, global = true, env = "AGENTKEYS_LOG_FILE")]
    log_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the registration server (a drop-in wazuh-authd).
    Serve(ServeArgs),
    /// Register this host with a manager (like agent-auth).
    Enroll(Box<enroll::EnrollArgs>),
    /// Certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Manage agents (like manage_agents), through the running server or offline.
    Agents(agents::AgentsArgs),
    /// Wazuh 5.0 enrollment tokens: create, list, revoke, purge, show.
    Tokens(tokens_cli::TokensArgs),
    /// The registry's store: move it between a home's files and PostgreSQL.
    Store(store_cli::StoreArgs),
    /// client.keys files.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Load generators: registrations per second, latency and server CPU per registration.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Print a new random agent key.
    Keygen,
    /// Is the server of this home running, and what has it done (from its admin socket)?
    Status {
        /// Installation directory of the running server.
        #[arg(long, env = "AGENTKEYS_HOME", default_value = "agentkeys-data")]
        home: PathBuf,
        /// The counters as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), as `make install` installs it.
    Man,
    /// Ask a running server to poll a key (`id 001`, `ip 10.0.0.5`), as remoted does, and report
    /// what happened.
    Poll(PollArgs),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Register agents over TLS (closed loop of clients, or open loop at a rate); report rate,
    /// latency and server CPU per registration, optionally next to the TLS floor.
    Register(bench::BenchArgs),
    /// A bare TLS server (handshake, one request, a fixed reply): the floor a registration
    /// cannot go below, with the server's certificate and runtime.
    Floor(bench_floor::FloorArgs),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List every problem of a client.keys (bad lines, duplicate IDs, names, addresses), with line
    /// numbers; exit 0 only if there is none.
    Check {
        /// The file.
        file: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct PollArgs {
    /// Installation directory of the running server.
    #[arg(long, env = "AGENTKEYS_HOME", default_value = "agentkeys-data")]
    home: PathBuf,
    /// `id` or `ip`.
    #[arg(value_parser = ["id", "ip"])]
    kind: String,
    /// The agent ID or address.
    value: String,
    /// Seconds to wait for the outcome.
    #[arg(long, default_value_t = 90)]
    timeout: u64,
}

#[derive(Debug, Clone, clap::Args)]
struct ServeArgs {
    /// Installation directory (Wazuh layout); created if missing.
    #[arg(long, env = "AGENTKEYS_HOME", default_value = "agentkeys-data")]
    home: PathBuf,
    /// TOML configuration (default: <home>/etc/agentkeys.toml if it exists).
    #[arg(long, env = "AGENTKEYS_CONFIG")]
    config: Option<PathBuf>,
    /// Import the <auth> block of this ossec.conf (the TOML file overrides it).
    #[arg(long, env = "AGENTKEYS_OSSEC_CONF")]
    ossec_conf: Option<PathBuf>,
    /// Registration port (overrides the configuration; 0 picks a free port).
    #[arg(long, env = "AGENTKEYS_PORT")]
    port: Option<u16>,
    /// Address to listen on (overrides the configuration).
    #[arg(long, env = "AGENTKEYS_BIND")]
    bind: Option<IpAddr>,
    /// HTTPS enrollment port for Wazuh 5.x agents (default 1517; 0 picks a free port).
    #[arg(long, env = "AGENTKEYS_HTTPS_PORT")]
    https_port: Option<u16>,
    /// Address the HTTPS enrollment listener binds (default: the --bind address).
    #[arg(long, env = "AGENTKEYS_HTTPS_BIND")]
    https_bind: Option<IpAddr>,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics (off unless given; e.g. 127.0.0.1:9515).
    #[arg(long, env = "AGENTKEYS_METRICS_BIND")]
    metrics_bind: Option<std::net::SocketAddr>,
    /// Validate the configuration, print the effective one, and exit.
    #[arg(long)]
    check: bool,
}

#[derive(Debug, Subcommand)]
enum CertCommand {
    /// Create a self-signed ECDSA P-256 manager certificate.
    Generate {
        /// Installation directory whose etc/sslmanager.{cert,key} to write.
        #[arg(long, env = "AGENTKEYS_HOME", default_value = "agentkeys-data")]
        home: PathBuf,
        /// Names (DNS or IP) for the certificate; default: the host name and localhost.
        #[arg(long = "name")]
        names: Vec<String>,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Create a certificate authority (ECDSA P-256) for manager or agent certificates.
    Ca {
        /// Where to write the CA certificate.
        #[arg(long, default_value = "rootCA.pem")]
        cert: PathBuf,
        /// Where to write the CA key (mode 0640).
        #[arg(long, default_value = "rootCA.key")]
        key: PathBuf,
        /// Common name.
        #[arg(long, default_value = "agentkeys CA")]
        cn: String,
        /// Days of validity.
        #[arg(long, default_value_t = 3650)]
        days: i64,
    },
    /// Issue a certificate signed by a CA: for a manager (its host name or address) or an agent
    /// (its address as CN or SAN, for `ssl_verify_host`).
    Issue {
        /// CA certificate.
        #[arg(long)]
        ca: PathBuf,
        /// CA key.
        #[arg(long)]
        ca_key: PathBuf,
        /// Common name.
        #[arg(long)]
        cn: String,
        /// subjectAltName: a DNS name or an IP address; repeat for several.
        #[arg(long = "san")]
        sans: Vec<String>,
        /// Where to write the certificate.
        #[arg(long)]
        cert: PathBuf,
        /// Where to write the key (mode 0640).
        #[arg(long)]
        key: PathBuf,
        /// Days of validity (negative: already expired, for testing).
        #[arg(long, default_value_t = 825, allow_negative_numbers = true)]
        days: i64,
    },
    /// Create the Wazuh 5.0 HTTPS enrollment identity in one step: a CA and a listener certificate
    /// signed by it (the files `[enrollment]` names under the home); prints the CA's pin.
    Enrollment {
        /// Installation directory.
        #[arg(long, env = "AGENTKEYS_HOME", default_value = "agentkeys-data")]
        home: PathBuf,
        /// Names (DNS or IP) for the listener certificate; default: the host name, localhost,
        /// 127.0.0.1 and ::1.
        #[arg(long = "name")]
        names: Vec<String>,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Print the `--pin` of a certificate: sha256:<base64 of its SubjectPublicKeyInfo>.
    Pin {
        /// PEM certificate (the first one is used).
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = cli.log_level.unwrap_or(match cli.command {
        // The server logs what it does; the tools print their results, and log only trouble.
        Command::Serve(_) => tracing::Level::INFO,
        _ => tracing::Level::WARN,
    });
    let coalesce = matches!(cli.command, Command::Serve(_));
    if let Err(e) = logging::init(level, cli.log_format, cli.log_file.clone(), coalesce) {
        eprintln!("agentkeys: {e}");
        return ExitCode::from(1);
    }
    let status = match cli.command {
        Command::Serve(args) => serve(&args),
        Command::Enroll(args) => enroll::run(&args),
        Command::Cert(CertCommand::Generate { home, names, force }) => cert_generate(&Home::new(home), names, force),
        Command::Cert(CertCommand::Ca { cert, key, cn, days }) => report(
            "cert ca",
            certs::create_ca(&cert, &key, &cn, days).map(|()| cert.display().to_string()).map_err(String::from),
        ),
        Command::Cert(CertCommand::Issue { ca, ca_key, cn, sans, cert, key, days }) => report(
            "cert issue",
            certs::issue(&ca, &ca_key, &cn, &sans, days, &cert, &key)
                .map(|()| cert.display().to_string())
                .map_err(String::from),
        ),
        Command::Cert(CertCommand::Enrollment { home, names, force }) => {
            cert_enrollment(&Home::new(home), names, force)
        }
        Command::Cert(CertCommand::Pin { file }) => {
            report("cert pin", certs::first_cert(&file).and_then(|c| certs::spki_pin(&c)).map_err(String::from))
        }
        Command::Poll(args) => poll(&args),
        Command::Agents(args) => agents::run(&args),
        Command::Tokens(args) => tokens_cli::run(&args),
        Command::Keys(KeysCommand::Check { file }) => agents::check(&file),
        Command::Bench(BenchCommand::Register(args)) => bench::run(&args),
        Command::Bench(BenchCommand::Floor(args)) => bench_floor::run(&args),
        Command::Store(args) => store_cli::run(&args),
        Command::Status { home, json } => status(&Home::new(home), json),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "agentkeys", &mut script);
            print_all("completions", &script)
        }
        Command::Man => {
            let mut page = Vec::new();
            match clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut page) {
                Ok(()) => print_all("man", &page),
                Err(e) => {
                    eprintln!("agentkeys man: {e}");
                    1
                }
            }
        }
        Command::Keygen => match agentkeys::GeneratedKey::from_os() {
            Ok(key) => {
                println!("{}", key.as_str());
                0
            }
            Err(e) => {
                eprintln!("agentkeys keygen: no entropy from the operating system: {e}");
                1
            }
        },
    };
    logging::flush();
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}

/// `agentkeys poll`: sends `kind:value` to the server's krequest socket from a bound address and
/// prints the outcome the server sends back.
fn poll(args: &PollArgs) -> i32 {
    let home = Home::new(&args.home);
    let target = home.join("queue/sockets/krequest");
    let me = std::env::temp_dir().join(format!("agentkeys-poll-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&me);
    let outcome = (|| {
        let socket =
            std::os::unix::net::UnixDatagram::bind(&me).map_err(|e| format!("cannot bind {}: {e}", me.display()))?;
        // One deadline for the whole exchange: a server whose queue is full cannot hold the send.
        let timeout = Duration::from_secs(args.timeout.max(1));
        let deadline = std::time::Instant::now() + timeout;
        socket.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        // Checked with remoted's own rules before anything is sent.
        let request = agentkeys::KeyRequest::from_args(&args.kind, &args.value)
            .map_err(|e| format!("{} {}: {e}", args.kind, args.value))?
            .to_string();
        socket.send_to(request.as_bytes(), &target).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                format!("the server did not take the request within {} s (its socket is full)", args.timeout)
            }
            _ => format!("cannot reach {}: {e} (is the server running with key_request enabled?)", target.display()),
        })?;
        let left = deadline.saturating_duration_since(std::time::Instant::now()).max(Duration::from_millis(1));
        socket.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 65536];
        let n = socket.recv(&mut buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                format!("no outcome within {} s", args.timeout)
            }
            _ => format!("no outcome: {e}"),
        })?;
        Ok::<_, String>(String::from_utf8_lossy(&buf[..n]).into_owned())
    })();
    let _ = std::fs::remove_file(&me);
    match outcome {
        Ok(text) if text.starts_with("added:") => {
            println!("{text}");
            0
        }
        Ok(text) => {
            eprintln!("agentkeys poll: {text}");
            1
        }
        Err(e) => {
            eprintln!("agentkeys poll: {e}");
            1
        }
    }
}

/// Prints the result on stdout (exit 0) or the error on stderr (exit 1).
fn report(what: &str, result: Result<String, String>) -> i32 {
    match result {
        Ok(text) => {
            println!("{text}");
            0
        }
        Err(e) => {
            eprintln!("agentkeys {what}: {e}");
            1
        }
    }
}

/// What to do next, once the server serves: how an agent registers (with the certificate pin),
/// where the keys are, and how 5.x agents get a token.
fn next_steps(home: &Home, config: &Config, port: Option<u16>, https_port: Option<u16>) {
    let host = home::hostname(config);
    let pin = certs::first_cert(&home.join(&config.auth.ssl_manager_cert)).and_then(|c| certs::spki_pin(&c));
    if let (Some(port), Ok(pin)) = (port, pin) {
        info!(
            "next: register an agent with `agentkeys enroll -m {host} -p {port} --pin {pin}` (or agent-auth -m {host} -p {port})"
        );
    }
    info!("next: agent keys are in {}; `agentkeys agents list` shows them", home.client_keys().display());
    if let Some(p) = https_port {
        info!("next: for Wazuh 5.x agents, `agentkeys tokens create --address {host} --port {p}` prints a token");
    }
}

/// `agentkeys status`: `ping` and `stats` over the admin socket.
fn status(home: &Home, json: bool) -> i32 {
    let socket = home.join("queue/sockets/auth");
    let ask = |function: &str| -> Result<serde_json::Value, String> {
        let payload = format!(r#"{{"function":"{function}"}}"#);
        let reply = admin::request(&socket, payload.as_bytes()).ok_or_else(|| {
            format!("no server is running on {} (no admin socket at {})", home.root().display(), socket.display())
        })??;
        serde_json::from_str(&reply).map_err(|e| format!("unreadable answer: {e}"))
    };
    let stats = match ask("ping").and_then(|_| ask("stats")) {
        Ok(v) => v["data"].clone(),
        Err(e) => {
            eprintln!("agentkeys status: {e}");
            return 1;
        }
    };
    if json {
        println!("{stats}");
        return 0;
    }
    println!("agentkeys is running on {}: {} agents", home.root().display(), stats["agents"]);
    if let Some(protocols) = stats["registrations"].as_object() {
        for (protocol, outcomes) in protocols {
            let parts: Vec<String> =
                outcomes.as_object().map(|o| o.iter().map(|(k, v)| format!("{k} {v}")).collect()).unwrap_or_default();
            println!("registrations on {protocol}: {}", parts.join(", "));
        }
    }
    for family in ["tokens", "reenrollments", "keypoll", "lockouts"] {
        if let Some(o) = stats[family].as_object().filter(|o| !o.is_empty()) {
            let parts: Vec<String> = o.iter().map(|(k, v)| format!("{k} {v}")).collect();
            println!("{family}: {}", parts.join(", "));
        }
    }
    0
}

/// Writes generated text to stdout; a reader that went away (`| head`) is not an error.
fn print_all(what: &str, bytes: &[u8]) -> i32 {
    use std::io::Write as _;
    match std::io::stdout().write_all(bytes).and_then(|()| std::io::stdout().flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("agentkeys {what}: {e}");
            1
        }
    }
}

fn cert_enrollment(home: &Home, names: Vec<String>, force: bool) -> i32 {
    let config = match Config::load(home.root(), None, None) {
        Ok((c, _)) => c,
        Err(e) => {
            eprintln!("agentkeys cert enrollment: configuration error: {e}");
            return 1;
        }
    };
    let e = &config.enrollment;
    let files = [home.join(&e.ssl_ca), home.join(&e.ssl_ca_key), home.join(&e.ssl_cert), home.join(&e.ssl_key)];
    if !force && let Some(existing) = files.iter().find(|f| f.exists()) {
        eprintln!("agentkeys cert enrollment: {} exists; use --force to replace", existing.display());
        return 1;
    }
    let names = if names.is_empty() {
        vec![home::hostname(&config), "localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()]
    } else {
        names
    };
    let [ca, ca_key, cert, key] = &files;
    let made = certs::enrollment_identity(ca, ca_key, cert, key, &names).and_then(|()| {
        let der = certs::first_cert(ca)?;
        Ok(agentkeys::wazuh5::pin_hex(&agentkeys::wazuh5::spki_pin(&certs::spki_der(&der)?)).to_string())
    });
    match made {
        Ok(pin) => {
            println!("{}", cert.display());
            eprintln!("CA: {} (pin {pin}); restart the server to use them", ca.display());
            0
        }
        Err(e) => {
            eprintln!("agentkeys cert enrollment: {e}");
            1
        }
    }
}

fn cert_generate(home: &Home, names: Vec<String>, force: bool) -> i32 {
    let config = Config::default();
    let (cert, key) = (home.join(&config.auth.ssl_manager_cert), home.join(&config.auth.ssl_manager_key));
    if !force && (cert.exists() || key.exists()) {
        eprintln!("agentkeys cert generate: {} or {} exists; use --force to replace", cert.display(), key.display());
        return 1;
    }
    let names = if names.is_empty() { vec![home::hostname(&config), "localhost".to_owned()] } else { names };
    match certs::self_signed(&cert, &key, &names) {
        Ok(()) => {
            println!("{}", cert.display());
            0
        }
        Err(e) => {
            eprintln!("agentkeys cert generate: {e}");
            1
        }
    }
}

/// The configuration `serve` runs with: files, then the command line over them (also what SIGHUP
/// builds again).
fn effective_config(args: &ServeArgs) -> Result<(Config, config::Origins), config::ConfigError> {
    let (mut config, sources) = Config::load(&args.home, args.config.as_deref(), args.ossec_conf.as_deref())?;
    if let Some(port) = args.port {
        config.auth.port = port;
    }
    if let Some(bind) = args.bind {
        config.server.bind = Some(bind);
    }
    if let Some(port) = args.https_port {
        config.enrollment.port = port;
    }
    if let Some(bind) = args.https_bind {
        config.enrollment.bind = Some(bind);
    }
    if let Some(bind) = args.metrics_bind {
        config.metrics.bind = Some(bind);
    }
    Ok((config, sources))
}

fn serve(args: &ServeArgs) -> i32 {
    let home = Home::new(&args.home);
    let (config, sources) = match effective_config(args) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("agentkeys serve: configuration error: {e}");
            return 1;
        }
    };
    for warning in &sources.warnings {
        warn!("{warning}");
    }
    if args.check {
        print!("{}", config.to_toml());
        let report = check::check(&home, &config, &sources);
        for note in &report.notes {
            println!("# {note}");
        }
        if report.errors.is_empty() {
            println!("# configuration OK");
            return 0;
        }
        for error in &report.errors {
            eprintln!("agentkeys serve --check: {error}");
        }
        return 1;
    }
    if config.auth.disabled {
        info!("Daemon is disabled. Closing.");
        return 0;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agentkeys serve: cannot start the runtime: {e}");
            return 1;
        }
    };
    // The server runs as a task on the runtime's worker threads, not on this thread: every accept
    // would otherwise wake this thread from another (a futex call and a context switch per
    // connection).
    let reload_args = args.clone();
    let served = runtime.block_on(runtime.spawn(async move {
        let (next_home, next_config) = (home.clone(), config.clone());
        let server = server::Server::start(home, config)
            .await?
            .reload_with(Box::new(move || effective_config(&reload_args).map(|(c, _)| c)));
        systemd::ready(&server.status_line());
        next_steps(&next_home, &next_config, server.port(), server.https_port());
        server.run().await;
        Ok::<(), server::StartError>(())
    }));
    let served = served.unwrap_or_else(|e| Err(server::StartError::Setup(format!("the server task failed: {e}"))));
    match served {
        Ok(()) => 0,
        Err(e) => {
            error!("{e}");
            eprintln!("agentkeys serve: {e}");
            1
        }
    }
}
