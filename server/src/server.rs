//! `agentkeys serve` as one object: [`Server::start`] prepares the home, loads the registry, starts
//! the owner task and binds every listener (port 1515, the admin socket, key polling); when it
//! returns, the server is reachable. [`Server::run`] serves until SIGTERM/SIGINT, then shuts down
//! in order: no new connections, connections in flight finished (bounded), key polling stopped
//! (bounded), and the owner writes what it holds.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::atomic::FileError;
use crate::certs::CertError;
use crate::config::{AgentStatus, Config};
use crate::home::{self, Home, LockError};
use crate::registry::error::StoreError;
use crate::registry::window::CommitWindow;
use crate::registry::{Rules, owner};
use crate::status::StatusSource;
use crate::{admin, certs, ciphers, https, keypoll, lockout, serve, sources, tls};

/// Why a server did not start, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A file or directory of the home, or a local socket.
    #[error(transparent)]
    File(#[from] FileError),
    /// The home is locked by another server, or the lock cannot be taken.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The manager certificate or key.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// client.keys (or its companion files) does not load.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `auth.ciphers` selects nothing usable.
    #[error(transparent)]
    Ciphers(#[from] crate::ciphers::NoCipherSuite),
    /// Port 1515 (or the configured port) cannot be listened on.
    #[error("cannot listen on {ip} port {port}: {source}")]
    Listen {
        /// The address.
        ip: IpAddr,
        /// The port.
        port: u16,
        /// The OS error.
        source: std::io::Error,
    },
    /// The HTTPS enrollment port cannot be listened on.
    #[error(
        "cannot listen for HTTPS enrollment on {ip} port {port} ({source}); set another port with --https-port or [enrollment] port, or turn the listener off with [enrollment] enabled = false"
    )]
    HttpsListen {
        /// The address.
        ip: IpAddr,
        /// The port.
        port: u16,
        /// The OS error.
        source: std::io::Error,
    },
    /// A setting that cannot be used (ciphers, the TLS set-up, the password file).
    #[error("{0}")]
    Setup(String),
}

impl From<String> for StartError {
    /// A set-up failure already worded.
    fn from(reason: String) -> StartError {
        StartError::Setup(reason)
    }
}

/// A started server.
pub struct Server {
    /// The port-1515 listener, when `remote_enrollment` is on.
    enrollment: Option<(serve::Listener, tokio::net::TcpListener)>,
    /// The HTTPS enrollment listener, when `[enrollment] enabled`.
    https: Option<(https::Listener, tokio::net::TcpListener)>,
    /// A handle kept only while there is no listener holding one (so the owner lives until shutdown).
    idle_handle: Option<owner::Handle>,
    stop: tokio::sync::watch::Receiver<bool>,
    admin_socket: JoinHandle<()>,
    key_polling: Option<JoinHandle<()>>,
    owner_task: JoinHandle<()>,
    /// Held until the server ends: `agentkeys agents` edits offline only without a server.
    _lock: home::HomeLock,
    port: Option<u16>,
    https_port: Option<u16>,
    /// SIGHUP, caught from the start, and what a reload swaps.
    hangups: tokio::signal::unix::Signal,
    reloader: crate::reload::Reloader,
}

impl Server {
    /// Prepares `home`, loads the registry and binds every listener.
    ///
    /// # Errors
    /// Anything that stops the start (unreadable files, a bad client.keys line, a port in use),
    /// worded for the operator.
    pub async fn start(home: Home, mut config: Config) -> Result<Server, StartError> {
        // Installed first: a SIGTERM from here on stops the server cleanly once it is up, never
        // kills it half-started (the default action).
        let signals = ShutdownSignals::install()?;
        let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|e| StartError::Setup(format!("cannot catch SIGHUP: {e}")))?;
        home.prepare()?;
        // Held until the server ends: `agentkeys agents` edits offline only without a server.
        let _lock = home::lock(&home)?;
        ensure_manager_cert(&home, &config)?;
        let settings = legacy_settings(&home, &config, true)?;
        let password = settings.password.clone();
        let settings = std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(settings));

        let (store, shared) = crate::registry::open_store(&home, &config).await?;
        let loading = std::time::Instant::now();
        let (registry, warnings) = store.load(config.auth.purge).await?;
        let tokens = store.load_tokens().await?;
        let load_ms = loading.elapsed().as_secs_f64() * 1000.0;
        // Loading allocated and freed on three threads: hand the freed pages back.
        crate::memory::return_to_os();
        for warning in warnings {
            warn!("{warning}");
        }
        let from = match &shared {
            Some(pg) => crate::registry::postgres::describe(pg.pg_config()),
            None => home.client_keys().display().to_string(),
        };
        info!("loaded {} agents from {from} in {load_ms:.1} ms (highest ID {})", registry.len(), registry.highest_id());
        let status = match config.server.agent_status {
            AgentStatus::None => StatusSource::None,
            AgentStatus::WazuhDb => StatusSource::WazuhDb(home.join(&config.server.wazuh_db_socket)),
        };
        let rules = Rules {
            force: config.auth.force.clone(),
            hostname: home::hostname(&config),
            status,
            purge: config.auth.purge,
        };
        crate::metrics::COUNTERS.set_agents(registry.len());
        let (handle, owner_task) = owner::spawn(
            registry,
            tokens,
            store,
            rules,
            CommitWindow::new(std::time::Duration::from_millis(config.server.commit_delay_ms)),
        );

        // One shutdown signal for every service.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stop_rx_for_run = stop_rx.clone();
        tokio::spawn(async move {
            signals.received().await;
            crate::systemd::stopping();
            let _ = stop_tx.send(true);
        });
        crate::systemd::spawn_watchdog(handle.clone(), stop_rx.clone());
        if let Some(pg) = &shared {
            crate::registry::postgres::listen::spawn(
                pg.pg_config().clone(),
                pg.tls().clone(),
                config.store.node.clone().unwrap_or_else(|| home::hostname(&config)),
                handle.clone(),
                std::time::Duration::from_secs(config.store.refresh_interval.as_secs()),
                stop_rx.clone(),
            );
        }
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        };
        let https_settings = if config.enrollment.enabled {
            let built = https_settings(&home, &config, handle.clone(), password.clone())?;
            Some(std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(built)))
        } else {
            None
        };
        let https = if let Some(settings) = &https_settings {
            Some(https_listener(&config, std::sync::Arc::clone(settings)).await?)
        } else {
            info!("HTTPS enrollment is off ([enrollment] enabled = false)");
            None
        };
        let https_port = https.as_ref().and_then(|(_, l)| l.local_addr().ok()).map(|a| a.port());
        if let Some(port) = https_port {
            // Port 0 picked a free port: tokens minted from now on name the real one.
            config.enrollment.port = port;
        }

        if let Some(addr) = config.metrics.bind {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| {
                StartError::Setup(format!(
                    "cannot listen for metrics on {addr} ({source}); change --metrics-bind or [metrics] bind"
                ))
            })?;
            let local = listener.local_addr().unwrap_or(addr);
            info!("agentkeys: metrics on http://{local}/metrics");
            tokio::spawn(crate::metrics::serve(listener, stopped()));
        }
        let admin_config = std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(config.clone()));
        // Both local sockets are bound before the server says it is listening.
        let key_polling = if config.key_request.enabled {
            let path = home.join("queue/sockets/krequest");
            let socket = keypoll::bind(&path)?;
            let (kr, registry, stop) = (config.key_request.clone(), handle.clone(), stopped());
            Some(tokio::spawn(async move { keypoll::serve(&kr, socket, path, registry, stop).await }))
        } else {
            None
        };
        let admin_socket = {
            let path = home.join("queue/sockets/auth");
            let listener = admin::bind(&path)?;
            admin::link_alias(&path, &home.join("queue/sockets/auth.sock"));
            let admin = admin::Admin {
                registry: handle.clone(),
                home: home.clone(),
                config: std::sync::Arc::clone(&admin_config),
            };
            let stop = stopped();
            tokio::spawn(async move { admin::serve(admin, listener, path, stop).await })
        };

        let enrollment = if config.auth.remote_enrollment {
            let ip = config.server.bind.unwrap_or(if config.auth.ipv6 {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            });
            let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, config.auth.port))
                .await
                .map_err(|source| StartError::Listen { ip, port: config.auth.port, source })?;
            let local =
                listener.local_addr().map_err(|source| StartError::Listen { ip, port: config.auth.port, source })?;
            let mode = if password.is_some() {
                "Using password specified on file: etc/authd.pass"
            } else {
                "No password required."
            };
            info!("Accepting connections on port {}. {mode}", local.port());
            info!("agentkeys: listening on {local}");
            let server = serve::Listener {
                registry: handle.clone(),
                home: home.clone(),
                settings: std::sync::Arc::clone(&settings),
                timeout: Duration::from_secs(config.server.connection_timeout.as_secs()),
                handshake_timeout: Duration::from_secs(
                    config.server.handshake_timeout.as_secs().min(config.server.connection_timeout.as_secs()),
                ),
                per_source: sources::PerSource::new(
                    config.server.max_connections_per_source.min(config.server.max_connections),
                ),
                max_connections: config.server.max_connections,
                lockout: lockout::Lockout::new(
                    config.server.lockout_failures,
                    Duration::from_secs(config.server.lockout_window.as_secs()),
                    Duration::from_secs(config.server.lockout_duration.as_secs()),
                    config.server.lockout_exempt.clone(),
                ),
            };

            Some((server, listener))
        } else {
            info!("Port {} was set as disabled.", config.auth.port);
            None
        };
        let port = enrollment.as_ref().and_then(|(_, l)| l.local_addr().ok()).map(|a| a.port());
        let fixed = config.clone();
        let reloader = crate::reload::Reloader {
            home: home.clone(),
            config: config.clone(),
            load: Box::new(move || Ok(fixed.clone())),
            legacy: std::sync::Arc::clone(&settings),
            admin_config: std::sync::Arc::clone(&admin_config),
            https: https_settings.clone(),
            registry: handle.clone(),
        };
        let idle_handle = if enrollment.is_none() && https.is_none() { Some(handle) } else { None };
        Ok(Server {
            hangups,
            reloader,
            enrollment,
            https,
            https_port,
            idle_handle,
            stop: stop_rx_for_run,
            admin_socket,
            key_polling,
            owner_task,
            _lock,
            port,
        })
    }

    /// The port-1515 listener's port, if enrollment over TLS is on.
    #[allow(dead_code, reason = "for embedding and tests")]
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// How SIGHUP builds the configuration again (by default: the one the server started with,
    /// so a reload re-reads only the password, certificates and token file).
    #[must_use]
    pub fn reload_with(mut self, load: crate::reload::ConfigLoader) -> Server {
        self.reloader.load = load;
        self
    }

    /// One line for systemd's status: what is being served.
    pub fn status_line(&self) -> String {
        let legacy = self.port.map_or_else(|| "port 1515 off".to_owned(), |p| format!("port {p}"));
        let https = self.https_port.map_or_else(|| "HTTPS off".to_owned(), |p| format!("HTTPS port {p}"));
        format!("serving registrations: {legacy}, {https}")
    }

    /// The HTTPS enrollment listener's port, if it is on.
    #[allow(dead_code, reason = "for embedding and tests")]
    pub fn https_port(&self) -> Option<u16> {
        self.https_port
    }

    /// Serves until SIGTERM or SIGINT, then shuts down in order. Failures while serving are
    /// logged, never fatal.
    pub async fn run(self) {
        let shutdown = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        // SIGHUP reloads until shutdown; the reloader (and its registry handle) goes then.
        let (mut hangups, mut reloader, mut stop_reloads) = (self.hangups, self.reloader, self.stop.clone());
        let reloads = tokio::spawn(async move {
            let stopped = async move {
                let _ = stop_reloads.wait_for(|s| *s).await;
            };
            tokio::pin!(stopped);
            loop {
                tokio::select! {
                    received = hangups.recv() => match received {
                        Some(()) => {
                            info!("SIGHUP received: reloading");
                            reloader.reload().await;
                        }
                        None => break,
                    },
                    () = &mut stopped => break,
                }
            }
        });
        let legacy = async {
            match self.enrollment {
                Some((server, listener)) => server.run(listener, shutdown(self.stop.clone())).await,
                None => shutdown(self.stop.clone()).await,
            }
        };
        let https = async {
            if let Some((server, listener)) = self.https {
                server.run(listener, shutdown(self.stop.clone())).await;
            }
        };
        tokio::join!(legacy, https);
        let _ = reloads.await;
        drop(self.idle_handle);
        if let Err(e) = self.admin_socket.await {
            error!("admin socket: {e}");
        }
        if let Some(Err(e)) = match self.key_polling {
            Some(task) => Some(task.await),
            None => None,
        } {
            error!("key polling: {e}");
        }
        // Every handle is gone: the owner writes what it holds and ends.
        let _ = self.owner_task.await;
        info!("agentkeys: stopped");
    }
}

/// Creates the manager certificate (self-signed ECDSA P-256) when neither it nor its key exists.
fn ensure_manager_cert(home: &Home, config: &Config) -> Result<(), StartError> {
    let cert = home.join(&config.auth.ssl_manager_cert);
    let key = home.join(&config.auth.ssl_manager_key);
    match (cert.exists(), key.exists()) {
        (false, false) => {
            let names = vec![home::hostname(config), "localhost".to_owned()];
            certs::self_signed(&cert, &key, &names)?;
            info!("generated a self-signed ECDSA P-256 certificate: {}", cert.display());
            Ok(())
        }
        (true, true) => Ok(()),
        (true, false) => Err(CertError::KeyFile { path: key, reason: "not found".into() }.into()),
        (false, true) => Err(CertError::File { path: cert, reason: "not found".into() }.into()),
    }
}

/// The port-1515 settings SIGHUP may change: TLS (certificate, key, ciphers, agent CA), the
/// password, the version policy, `use_source_ip`. `create_password`: write a random one when the
/// file is missing (at start; a reload refuses instead).
pub(crate) fn legacy_settings(
    home: &Home,
    config: &Config,
    create_password: bool,
) -> Result<serve::Settings, StartError> {
    let cert = home.join(&config.auth.ssl_manager_cert);
    let key = home.join(&config.auth.ssl_manager_key);
    let suites = ciphers::select(&config.auth.ciphers, "auth.ciphers")?;
    let agent_ca = config.auth.ssl_agent_ca.as_ref().map(|p| home.join(p));
    if config.auth.ssl_verify_host && agent_ca.is_none() {
        warn!("ssl_verify_host has no effect without ssl_agent_ca");
    }
    let tls = tls::server_config(&cert, &key, agent_ca.as_deref(), suites)?;
    let password = if config.auth.use_password {
        let path = home.password_file();
        if !create_password && !path.exists() {
            return Err(StartError::Setup(format!("{}: not found (use_password is on)", path.display())));
        }
        let (password, created) = home::load_or_create_password(&path)?;
        if created {
            info!("Random password written to {} (mode 0640); agents need it to register", path.display());
        }
        Some(password)
    } else {
        None
    };
    Ok(serve::Settings {
        password,
        manager_version: (!config.auth.agents.allow_higher_versions)
            .then(|| agentkeys::Version::parse_lenient(config.server.manager_version.as_bytes())),
        use_source_ip: config.auth.use_source_ip,
        acceptor: tokio_rustls::TlsAcceptor::from(tls),
        client_auth: agent_ca.is_some(),
        verify_host: config.auth.ssl_verify_host && agent_ca.is_some(),
    })
}

/// The HTTPS settings SIGHUP may change: the CA and listener certificate (created in one step
/// when neither exists), TLS 1.3, what `/cacerts` serves, the password, the policies.
pub(crate) fn https_settings(
    home: &Home,
    config: &Config,
    registry: owner::Handle,
    password: Option<Vec<u8>>,
) -> Result<https::Settings, StartError> {
    let e = &config.enrollment;
    let (cert, key, ca, ca_key) =
        (home.join(&e.ssl_cert), home.join(&e.ssl_key), home.join(&e.ssl_ca), home.join(&e.ssl_ca_key));
    if !cert.exists() && !key.exists() && !ca.exists() {
        let mut names = vec![home::hostname(config), "localhost".to_owned()];
        names.extend(["127.0.0.1".to_owned(), "::1".to_owned()]);
        certs::enrollment_identity(&ca, &ca_key, &cert, &key, &names)?;
        info!("generated the HTTPS enrollment CA {} and its listener certificate {}", ca.display(), cert.display());
    }
    let agent_ca = e.ssl_agent_ca.as_ref().map(|p| home.join(p));
    let tls = tls::enrollment_config(&cert, &key, agent_ca.as_deref())?;
    let cacerts = if ca.exists() {
        let listener_cert = certs::first_cert(&cert)?;
        let pem = std::fs::read(&ca).map_err(|err| FileError::new(&ca, "cannot read", err))?;
        if certs::load_certs(&ca)?.iter().any(|c| certs::ca_signs(c, &listener_cert)) {
            https::enroll::CaAnswer::Pem(pem.into())
        } else {
            warn!(
                "{} does not sign {}: /cacerts answers ca_mismatch and tokens cannot pin it",
                ca.display(),
                cert.display()
            );
            https::enroll::CaAnswer::Mismatch
        }
    } else {
        https::enroll::CaAnswer::NotFound
    };
    let base = if e.prefix.is_empty() { String::new() } else { format!("/{}", e.prefix) };
    let enrollment = https::Enrollment {
        registry,
        home: home.clone(),
        base,
        enabled: config.auth.remote_enrollment,
        password,
        manager_version: (!config.auth.agents.allow_higher_versions)
            .then(|| agentkeys::Version::parse_lenient(e.manager_version.as_bytes())),
        use_source_ip: config.auth.use_source_ip,
        max_body: e.max_body,
        cacerts,
    };
    Ok(https::Settings { acceptor: tokio_rustls::TlsAcceptor::from(tls), enrollment: std::sync::Arc::new(enrollment) })
}

/// Binds the HTTPS enrollment listener with `settings`.
async fn https_listener(
    config: &Config,
    settings: std::sync::Arc<arc_swap::ArcSwap<https::Settings>>,
) -> Result<(https::Listener, tokio::net::TcpListener), StartError> {
    let e = &config.enrollment;
    let ip = e.bind.or(config.server.bind).unwrap_or(if config.auth.ipv6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, e.port))
        .await
        .map_err(|source| StartError::HttpsListen { ip, port: e.port, source })?;
    let local = listener.local_addr().map_err(|source| StartError::HttpsListen { ip, port: e.port, source })?;
    let base = if e.prefix.is_empty() { String::new() } else { format!("/{}", e.prefix) };
    info!("agentkeys: HTTPS enrollment on {local} at {base}/enroll");
    let server = https::Listener {
        settings,
        timeout: Duration::from_secs(config.server.connection_timeout.as_secs()),
        handshake_timeout: Duration::from_secs(
            config.server.handshake_timeout.as_secs().min(config.server.connection_timeout.as_secs()),
        ),
        max_connections: config.server.max_connections,
        per_source: sources::PerSource::new(
            config.server.max_connections_per_source.min(config.server.max_connections),
        ),
    };
    Ok((server, listener))
}

/// SIGTERM and SIGINT, caught from [`ShutdownSignals::install`] on.
struct ShutdownSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> Result<ShutdownSignals, StartError> {
        use tokio::signal::unix::{SignalKind, signal};
        let caught = |kind| signal(kind).map_err(|e| StartError::Setup(format!("cannot catch SIGTERM/SIGINT: {e}")));
        Ok(ShutdownSignals { term: caught(SignalKind::terminate())?, int: caught(SignalKind::interrupt())? })
    }

    async fn received(mut self) {
        tokio::select! {
            _ = self.term.recv() => info!("SIGTERM received"),
            _ = self.int.recv() => info!("SIGINT received"),
        }
    }
}
