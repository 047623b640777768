//! Server configuration: TOML (`etc/agentkeys.toml` or `--config`), the `<auth>` block of an
//! `ossec.conf` (`--ossec-conf`), environment and command line, in that order of precedence
//! (CLI > env > TOML > ossec.conf > defaults). Every `<auth>` option of SPEC 4.1 has a TOML twin
//! with the upstream default.

mod interval;
pub mod ossec;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use interval::Interval;

/// Upstream's default cipher list (`<ciphers>`).
pub const DEFAULT_CIPHERS: &str = "HIGH:!ADH:!EXP:!MD5:!RC4:!3DES:!CAMELLIA:@STRENGTH";

/// A configuration problem, naming the file and line when there is one.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The whole configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The options of upstream's `<auth>` block.
    pub auth: AuthConfig,
    /// Settings of agentkeys itself.
    pub server: ServerSettings,
    /// Key polling (`<key_request>`).
    pub key_request: KeyRequestConfig,
    /// Wazuh 5.0 enrollment over HTTPS (`POST /<prefix>/enroll`).
    pub enrollment: EnrollmentConfig,
    /// The Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// Where the registry lives (files in the home, or a PostgreSQL registry shared by servers).
    pub store: StoreConfig,
}

/// Which store holds the registry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    /// client.keys and our files in the home (the default).
    #[default]
    File,
    /// A PostgreSQL database shared by any number of servers; each keeps its home's client.keys
    /// current from it.
    Postgres,
}

/// `[store]`: where the registry lives.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `file` or `postgres`.
    pub kind: StoreKind,
    /// `postgres://user@host:port/database` (libpq's URL or `key=value` form), for `postgres`.
    /// Shown with its password masked (`serve --check` prints the configuration).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "masked_url")]
    pub url: Option<String>,
    /// Connections to the database per server (at least 2: one for batches, one for reads).
    pub pool_size: usize,
    /// Talk TLS to the database, verifying its certificate against this CA file (PEM; relative
    /// to the home). Unset: no TLS (a URL with `sslmode=require` is then refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    /// How long a connection attempt may take.
    pub connect_timeout: Interval,
    /// Catch up with other servers' changes at least this often (notifications usually come
    /// first; this heals a missed one).
    pub refresh_interval: Interval,
    /// Read the whole registry again this often and replace what this server holds (0: never).
    pub reconcile_interval: Interval,
    /// This server's name in the registry's audit table (default: the host name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// A database URL with its password replaced by `********`.
fn masked_url<S: serde::Serializer>(url: &Option<String>, out: S) -> Result<S::Ok, S::Error> {
    let Some(url) = url else { return out.serialize_none() };
    let masked = match url.split_once("://") {
        // The user information ends at the authority's last `@` (a password may hold one).
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
            let (authority, tail) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((user_info, host)) if user_info.contains(':') => {
                    let user = user_info.split(':').next().unwrap_or("");
                    format!("{scheme}://{user}:********@{host}{tail}")
                }
                _ => url.clone(),
            }
        }
        // key=value form: mask `password=…`.
        None => url
            .split(' ')
            .map(|kv| if kv.starts_with("password=") { "password=********" } else { kv })
            .collect::<Vec<_>>()
            .join(" "),
    };
    out.serialize_str(&masked)
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            kind: StoreKind::File,
            url: None,
            pool_size: 4,
            tls_ca: None,
            connect_timeout: Interval::from_secs(5),
            refresh_interval: Interval::from_secs(5),
            reconcile_interval: Interval::from_secs(300),
            node: None,
        }
    }
}

/// `[metrics]`: Prometheus text at `http://<bind>/metrics`, off unless `bind` is set.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Where to listen (keep it on the loopback or a management network: it is plain HTTP).
    pub bind: Option<std::net::SocketAddr>,
}

/// `[enrollment]`: the HTTPS enrollment listener of Wazuh 5.x agents.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrollmentConfig {
    /// Listen for HTTPS enrollment (off on a Wazuh 5.0 manager whose remoted serves the port and
    /// relays enrollments through the admin socket).
    pub enabled: bool,
    /// The port (1517; 0 picks a free one).
    pub port: u16,
    /// Address to listen on (default: `server.bind`, else every address).
    pub bind: Option<IpAddr>,
    /// Path prefix: `/<prefix>/enroll` (may be empty).
    pub prefix: String,
    /// The listener's certificate (signed by `ssl_ca`); created with the CA when neither exists.
    pub ssl_cert: PathBuf,
    /// The listener's key.
    pub ssl_key: PathBuf,
    /// The CA that signs the listener certificate: served at `/<prefix>/cacerts`, pinned by tokens.
    pub ssl_ca: PathBuf,
    /// The CA's key (used only to create the listener certificate).
    pub ssl_ca_key: PathBuf,
    /// Demand a client certificate chaining to this CA (mutual TLS), independent of the bearer.
    pub ssl_agent_ca: Option<PathBuf>,
    /// Largest request body on the wire (Wazuh's transport cap, 10 MiB); bodies decode to at most
    /// 16 KiB.
    pub max_body: usize,
    /// Tokens may be minted for a loopback address (upstream refuses them; tests need them).
    pub allow_loopback_tokens: bool,
    /// The manager version HTTPS enrollments are checked against (5.x agents newer than it are
    /// refused unless `auth.agents.allow_higher_versions`).
    pub manager_version: String,
}

impl Default for EnrollmentConfig {
    fn default() -> Self {
        EnrollmentConfig {
            enabled: true,
            port: agentkeys::wazuh5::DEFAULT_ENROLL_PORT,
            bind: None,
            prefix: agentkeys::wazuh5::DEFAULT_ENROLL_PREFIX.to_owned(),
            ssl_cert: PathBuf::from("etc/sslenroll.cert"),
            ssl_key: PathBuf::from("etc/sslenroll.key"),
            ssl_ca: PathBuf::from("etc/sslenroll-ca.cert"),
            ssl_ca_key: PathBuf::from("etc/sslenroll-ca.key"),
            ssl_agent_ca: None,
            max_body: 10 << 20,
            allow_loopback_tokens: false,
            manager_version: "v5.0.0".to_owned(),
        }
    }
}

/// `<key_request>` (SPEC 8.2): fetching unknown agents' keys from an external source.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyRequestConfig {
    /// `<enabled>`. Off unless a `<key_request>` block or this table enables it.
    pub enabled: bool,
    /// `<exec_path>`: the script and its arguments, split like upstream (spaces, `"`, `\`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec_path: Option<String>,
    /// `<socket>`: a UNIX stream socket answering `id:…` / `ip:…`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket: Option<PathBuf>,
    /// `<timeout>`: seconds a lookup may take.
    pub timeout: Interval,
    /// `<threads>`: lookups run at once (1–32).
    pub threads: usize,
    /// `<queue_size>`: requests waiting (1–220000).
    pub queue_size: usize,
    /// How long a failed lookup is not retried (0 disables the negative cache).
    pub negative_cache: Interval,
}

impl Default for KeyRequestConfig {
    fn default() -> Self {
        KeyRequestConfig {
            enabled: false,
            exec_path: None,
            socket: None,
            timeout: Interval::from_secs(60),
            threads: 1,
            queue_size: 1024,
            negative_cache: Interval::from_secs(60),
        }
    }
}

impl KeyRequestConfig {
    /// Upstream's validation (SPEC 8.2), with its messages.
    ///
    /// # Errors
    /// The first invalid option.
    pub fn validate(&self) -> Result<(), String> {
        const MODULE: &str = "at module 'key-request'";
        if let Some(path) = &self.exec_path {
            if path.len() >= 4096 {
                return Err(format!("Exec path is too long {MODULE}. Max path length is '4096'"));
            }
            if path.is_empty() || path.starts_with(' ') {
                return Err(format!("Invalid exec path {MODULE}"));
            }
        }
        if let Some(path) = &self.socket {
            let text = path.to_string_lossy();
            if text.len() >= 4096 {
                return Err(format!("Socket path is too long {MODULE}. Max path length is '4096'"));
            }
            if text.is_empty() || text.starts_with(' ') {
                return Err(format!("Invalid socket path {MODULE}"));
            }
        }
        if self.timeout.as_secs() == 0 || self.timeout.as_secs() >= u64::from(u32::MAX) {
            return Err(format!("Invalid interval {MODULE}"));
        }
        if !(1..=32).contains(&self.threads) {
            return Err(format!("Invalid number of threads {MODULE}"));
        }
        if !(1..=220_000).contains(&self.queue_size) {
            return Err(format!("Invalid queue size {MODULE}"));
        }
        if self.enabled && self.exec_path.is_none() && self.socket.is_none() {
            return Err(format!("key_request is enabled but has neither exec_path nor socket {MODULE}"));
        }
        Ok(())
    }
}

/// Upstream's `<auth>` options (SPEC 4.1), with upstream's defaults.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// `<disabled>`: do not run at all.
    pub disabled: bool,
    /// `<port>`: the registration port.
    pub port: u16,
    /// `<ipv6>`: listen on `::` (dual stack) instead of `0.0.0.0`.
    pub ipv6: bool,
    /// `<use_source_ip>`: record the connection's address when the agent sends no `IP:`.
    pub use_source_ip: bool,
    /// `<purge>`: drop removed agents from client.keys (`false` keeps them as `!` lines).
    pub purge: bool,
    /// `<use_password>`: require `etc/authd.pass`.
    pub use_password: bool,
    /// `<remote_enrollment>`: open the TLS port.
    pub remote_enrollment: bool,
    /// `<ciphers>`: OpenSSL cipher list (TLS 1.2).
    pub ciphers: String,
    /// `<ssl_agent_ca>`: CA that agent certificates must chain to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_agent_ca: Option<PathBuf>,
    /// `<ssl_verify_host>`: check the agent certificate's names against its address.
    pub ssl_verify_host: bool,
    /// `<ssl_manager_cert>`: server certificate (PEM), relative to the home.
    pub ssl_manager_cert: PathBuf,
    /// `<ssl_manager_key>`: server key (PEM), relative to the home.
    pub ssl_manager_key: PathBuf,
    /// `<ssl_auto_negotiate>`: accept any TLS version the library allows.
    pub ssl_auto_negotiate: bool,
    /// `<force>`: when a new registration may replace an existing agent.
    pub force: ForceConfig,
    /// `<agents>`.
    pub agents: AgentsConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            disabled: false,
            port: 1515,
            ipv6: false,
            use_source_ip: false,
            purge: false,
            use_password: false,
            remote_enrollment: true,
            ciphers: DEFAULT_CIPHERS.to_owned(),
            ssl_agent_ca: None,
            ssl_verify_host: false,
            ssl_manager_cert: PathBuf::from("etc/sslmanager.cert"),
            ssl_manager_key: PathBuf::from("etc/sslmanager.key"),
            ssl_auto_negotiate: false,
            force: ForceConfig::default(),
            agents: AgentsConfig::default(),
        }
    }
}

/// `<force>` (SPEC 4.3).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForceConfig {
    /// `<enabled>`: replacing is allowed at all.
    pub enabled: bool,
    /// `<key_mismatch>`: refuse to replace an agent that proves it holds the current key.
    pub key_mismatch: bool,
    /// `<disconnected_time enabled="…">`.
    pub disconnected_time: DisconnectedTime,
    /// `<after_registration_time>`: minimum age of the old agent.
    pub after_registration_time: Interval,
}

impl Default for ForceConfig {
    fn default() -> Self {
        ForceConfig {
            enabled: true,
            key_mismatch: true,
            disconnected_time: DisconnectedTime::default(),
            after_registration_time: Interval::from_secs(3600),
        }
    }
}

/// `<disconnected_time enabled="yes">1h</disconnected_time>`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DisconnectedTime {
    /// The rule applies.
    pub enabled: bool,
    /// How long the old agent must have been disconnected.
    pub value: Interval,
}

impl Default for DisconnectedTime {
    fn default() -> Self {
        DisconnectedTime { enabled: true, value: Interval::from_secs(3600) }
    }
}

/// `<agents>`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentsConfig {
    /// `<allow_higher_versions>`: accept agents newer than the manager.
    pub allow_higher_versions: bool,
}

/// When a registration counts as done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Written and fsynced before the `OSSEC K:` reply (default).
    #[default]
    Durable,
    /// Written but not fsynced: faster, loses the last registrations on a power cut.
    Fast,
}

/// Where the force rules get an existing agent's connection state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentStatus {
    /// Every agent counts as never connected (standalone use).
    #[default]
    None,
    /// Ask wazuh-db (`queue/db/wdb`), to run beside a real Wazuh manager.
    WazuhDb,
}

/// The longest `server.commit_delay_ms` accepted.
pub const MAX_COMMIT_DELAY_MS: u64 = 1000;

/// Settings of agentkeys itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on; default `0.0.0.0`, or `::` with `auth.ipv6`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<IpAddr>,
    /// The manager version agents are checked against (`V:`).
    pub manager_version: String,
    /// The manager's host name (agents may not take it); default: the system's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Most TLS connections served at once; more are closed at once.
    pub max_connections: usize,
    /// Most connections served at once from one source (an IPv4 address or an IPv6 /64), so that
    /// one source cannot take every place of `max_connections` (default: a quarter of them).
    pub max_connections_per_source: usize,
    /// Deadline for the TLS handshake of one connection (`connection_timeout` still bounds
    /// handshake and request together).
    pub handshake_timeout: Interval,
    /// Deadline for the handshake and the request of one connection.
    pub connection_timeout: Interval,
    /// `durable` (fsync before replying) or `fast`.
    pub durability: Durability,
    /// Longest time, in milliseconds, a batch of changes waits for registrations already on their
    /// way (connections accepted whose request has not reached the registry) before it is
    /// written, so that one fsync serves them all; a registration alone never waits (0: never
    /// wait).
    pub commit_delay_ms: u64,
    /// `none` or `wazuh-db`.
    pub agent_status: AgentStatus,
    /// The wazuh-db socket, relative to the home.
    pub wazuh_db_socket: PathBuf,
    /// Failed password attempts from one address, within `lockout_window`, after which its
    /// connections are refused for `lockout_duration` (0 disables the lockout).
    pub lockout_failures: u32,
    /// Window in which failures are counted.
    pub lockout_window: Interval,
    /// How long a locked-out address is refused.
    pub lockout_duration: Interval,
    /// Origins never locked out (a NAT of many agents): addresses or ranges such as `10.0.0.0/8`.
    pub lockout_exempt: Vec<crate::sources::Cidr>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            bind: None,
            manager_version: agentkeys::Version::DEFAULT_MANAGER.to_owned(),
            hostname: None,
            max_connections: 1000,
            max_connections_per_source: 250,
            handshake_timeout: Interval::from_secs(5),
            connection_timeout: Interval::from_secs(10),
            durability: Durability::Durable,
            commit_delay_ms: 2,
            agent_status: AgentStatus::None,
            wazuh_db_socket: PathBuf::from("queue/db/wdb"),
            lockout_failures: 10,
            lockout_window: Interval::from_secs(60),
            lockout_duration: Interval::from_secs(300),
            lockout_exempt: Vec::new(),
        }
    }
}

/// Where the configuration came from, for `--check` and the start-up log.
#[derive(Clone, Debug, Default)]
pub struct Origins {
    /// The ossec.conf imported, if any.
    pub ossec_conf: Option<PathBuf>,
    /// The TOML file read, if any.
    pub toml: Option<PathBuf>,
    /// Warnings (deprecated options and the like), already worded for the log.
    pub warnings: Vec<String>,
}

impl Config {
    /// Builds the configuration: defaults, then `ossec_conf`'s `<auth>` (if given), then the TOML
    /// file (`toml_path`, or `<home>/etc/agentkeys.toml` if it exists).
    ///
    /// # Errors
    /// A file that cannot be read, a syntax error, an unknown key or option, or a bad value, named
    /// with its file and line.
    pub fn load(
        home: &Path,
        toml_path: Option<&Path>,
        ossec_conf: Option<&Path>,
    ) -> Result<(Config, Origins), ConfigError> {
        let mut sources = Origins::default();
        let mut config = Config::default();
        if let Some(path) = ossec_conf {
            let text = read(path)?;
            ossec::apply_auth(&mut config, &text, path, &mut sources.warnings)?;
            sources.ossec_conf = Some(path.to_owned());
        }
        let default_toml = home.join("etc/agentkeys.toml");
        let toml_path = match toml_path {
            Some(p) => Some(p.to_owned()),
            None if default_toml.exists() => Some(default_toml),
            None => None,
        };
        if let Some(path) = toml_path {
            let text = read(&path)?;
            config = overlay_toml(config, &text, &path)?;
            sources.toml = Some(path);
        }
        config.validate()?;
        Ok((config, sources))
    }

    /// Cross-field checks.
    ///
    /// # Errors
    /// A value out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.auth.port == 0 {
            return Err(ConfigError("auth.port: must be 1 to 65535".into()));
        }
        if self.server.max_connections == 0 {
            return Err(ConfigError("server.max_connections: must be at least 1".into()));
        }
        if self.server.connection_timeout.as_secs() == 0 {
            return Err(ConfigError("server.connection_timeout: must be at least 1 second".into()));
        }
        if self.server.max_connections_per_source == 0 {
            return Err(ConfigError("server.max_connections_per_source: must be at least 1".into()));
        }
        if self.server.handshake_timeout.as_secs() == 0 {
            return Err(ConfigError("server.handshake_timeout: must be at least 1 second".into()));
        }
        if self.server.commit_delay_ms > MAX_COMMIT_DELAY_MS {
            return Err(ConfigError(format!(
                "server.commit_delay_ms: {} is more than {MAX_COMMIT_DELAY_MS} (a few milliseconds serve a busy server; 0 never waits)",
                self.server.commit_delay_ms
            )));
        }
        if self.server.lockout_failures > 0 {
            for (name, value) in
                [("lockout_window", &self.server.lockout_window), ("lockout_duration", &self.server.lockout_duration)]
            {
                if value.as_secs() == 0 {
                    return Err(ConfigError(format!(
                        "server.{name}: must be at least 1 second (to turn the lockout off, set server.lockout_failures = 0)"
                    )));
                }
            }
        }
        crate::ciphers::select(&self.auth.ciphers, "auth.ciphers").map_err(|e| ConfigError(e.to_string()))?;
        self.key_request.validate().map_err(|e| ConfigError(format!("key_request: {e}")))?;
        if let Some(name) = &self.server.hostname
            && name.is_empty()
        {
            return Err(ConfigError("server.hostname: must not be empty".into()));
        }
        let prefix = &self.enrollment.prefix;
        if prefix.starts_with('/')
            || prefix.ends_with('/')
            || prefix.contains("//")
            || prefix.contains(char::is_whitespace)
        {
            return Err(ConfigError(format!(
                "enrollment.prefix: {prefix:?} must be a path without leading, trailing or doubled slashes"
            )));
        }
        match (self.store.kind, &self.store.url) {
            (StoreKind::Postgres, None) => {
                return Err(ConfigError(
                    "store.url: required with kind = \"postgres\" (postgres://user@host/database)".into(),
                ));
            }
            (StoreKind::Postgres, Some(url)) => {
                let parsed =
                    url.parse::<tokio_postgres::Config>().map_err(|e| ConfigError(format!("store.url: {e}")))?;
                if parsed.get_ssl_mode() == tokio_postgres::config::SslMode::Require && self.store.tls_ca.is_none() {
                    return Err(ConfigError(
                        "store.url asks for TLS (sslmode=require): set store.tls_ca to the CA file that signed the database's certificate".into(),
                    ));
                }
            }
            (StoreKind::File, _) => {}
        }
        if self.store.pool_size < 2 {
            return Err(ConfigError("store.pool_size: must be at least 2".into()));
        }
        if self.store.refresh_interval.as_secs() == 0 || self.store.connect_timeout.as_secs() == 0 {
            return Err(ConfigError(
                "store.refresh_interval and store.connect_timeout: must be at least 1 second".into(),
            ));
        }
        if self.enrollment.max_body < agentkeys::wazuh5::MAX_ENROLL_BODY {
            return Err(ConfigError("enrollment.max_body: must be at least 16384".into()));
        }
        Ok(())
    }

    /// The effective configuration as TOML, for `--check`.
    #[must_use]
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render the configuration: {e}\n"))
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))
}

/// Applies a TOML file over `base`: keys it sets win, the rest keep `base`'s values. The file is
/// first checked on its own so that an unknown key or a bad type is reported with its line.
fn overlay_toml(base: Config, text: &str, path: &Path) -> Result<Config, ConfigError> {
    let located = |e: toml::de::Error| ConfigError(format!("{}: {}", path.display(), e.to_string().trim_end()));
    toml::from_str::<Config>(text).map_err(located)?;
    let overlay: toml::Table = toml::from_str(text).map_err(located)?;
    let mut merged = toml::Table::try_from(&base).map_err(|e| ConfigError(format!("internal: {e}")))?;
    merge(&mut merged, overlay);
    toml::Value::Table(merged).try_into().map_err(|e: toml::de::Error| ConfigError(format!("{}: {e}", path.display())))
}

fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

#[cfg(test)]
mod masked_url_tests {
    #[derive(serde::Serialize)]
    struct Shown {
        #[serde(serialize_with = "super::masked_url")]
        url: Option<String>,
    }

    fn shown(url: &str) -> String {
        toml::to_string(&Shown { url: Some(url.to_owned()) }).unwrap()
    }

    #[test]
    fn passwords_never_show() {
        assert!(shown("postgres://ak:secret@db/x").contains("postgres://ak:********@db/x"));
        assert!(
            shown("postgres://ak:se@cret@db:5432/x?sslmode=require")
                .contains("postgres://ak:********@db:5432/x?sslmode=require")
        );
        assert!(shown("host=db user=ak password=secret").contains("host=db user=ak password=********"));
        assert!(shown("postgres://ak@db/x").contains("postgres://ak@db/x"));
        for url in ["postgres://ak:secret@db/x", "postgres://ak:se@cret@db/x", "host=db password=secret"] {
            assert!(!shown(url).contains("secret") && !shown(url).contains("cret"), "{url}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_toml(text: &str) -> Result<Config, ConfigError> {
        overlay_toml(Config::default(), text, Path::new("agentkeys.toml")).and_then(|c| c.validate().map(|()| c))
    }

    #[test]
    fn unknown_keys_are_errors_with_file_and_line() {
        let err = load_toml("[auth]\nport = 1515\nprot = 1\n").unwrap_err().to_string();
        assert!(err.starts_with("agentkeys.toml: TOML parse error at line 3"), "{err}");
        assert!(err.contains("unknown field `prot`"), "{err}");
    }

    #[test]
    fn overlay_keeps_unset_values() {
        let mut base = Config::default();
        base.auth.use_password = true;
        let merged = overlay_toml(base, "[auth.force]\nafter_registration_time = \"2m\"\n", Path::new("x")).unwrap();
        assert!(merged.auth.use_password);
        assert_eq!(merged.auth.force.after_registration_time.as_secs(), 120);
        assert!(merged.auth.force.enabled);
    }

    #[test]
    fn defaults_round_trip_through_toml() {
        let text = Config::default().to_toml();
        let back = load_toml(&text).unwrap();
        assert_eq!(back.to_toml(), text);
        assert!(text.contains("port = 1515"));
    }

    #[test]
    fn bad_values() {
        assert!(load_toml("[auth]\nport = 0\n").is_err());
        assert!(load_toml("[auth]\nport = 70000\n").is_err());
        assert!(load_toml("[server]\ndurability = \"sometimes\"\n").is_err());
        assert_eq!(load_toml("[server]\ncommit_delay_ms = 0\n").unwrap().server.commit_delay_ms, 0);
        let too_long = load_toml("[server]\ncommit_delay_ms = 5000\n").unwrap_err().to_string();
        assert!(too_long.contains("server.commit_delay_ms: 5000 is more than 1000"), "{too_long}");
        assert!(load_toml("[auth.force]\nafter_registration_time = \"1x\"\n").is_err());
        assert!(load_toml("[server]\nmax_connections_per_source = 0\n").is_err());
        assert!(load_toml("[server]\nhandshake_timeout = 0\n").is_err());
        assert!(
            load_toml("[server]\nlockout_exempt = [\"10.0.0.0/40\"]\n").unwrap_err().to_string().contains("0 to 32")
        );
    }

    #[test]
    fn a_zero_lockout_window_is_refused_unless_the_lockout_is_off() {
        let err = load_toml("[server]\nlockout_window = \"0s\"\n").unwrap_err().to_string();
        assert!(err.contains("server.lockout_window") && err.contains("lockout_failures = 0"), "{err}");
        assert!(load_toml("[server]\nlockout_window = \"0s\"\nlockout_failures = 0\n").is_ok());
        let exempt = load_toml("[server]\nlockout_exempt = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n").unwrap();
        assert_eq!(exempt.server.lockout_exempt.len(), 2);
    }
}
