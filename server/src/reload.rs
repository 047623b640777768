//! SIGHUP: read the configuration, the password file, the certificates and the token file again,
//! and swap them in without closing a listener or dropping a connection (each connection keeps the
//! settings it was accepted with). Anything that does not load is refused with a log line and the
//! running settings stay. Settings that need new sockets or a new registry (ports, addresses,
//! durability, key polling, …) are reported as needing a restart.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tracing::{error, info, warn};

use crate::config::{Config, ConfigError};
use crate::home::Home;
use crate::registry::owner::Handle;
use crate::server::{StartError, https_settings, legacy_settings};
use crate::{https, serve};

/// Builds the effective configuration again (files, environment and command line, as at start).
pub type ConfigLoader = Box<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>;

/// What a reload swaps.
pub struct Reloader {
    /// The home.
    pub home: Home,
    /// The configuration in force.
    pub config: Config,
    /// How to build it again.
    pub load: ConfigLoader,
    /// Port 1515's settings.
    pub legacy: Arc<ArcSwap<serve::Settings>>,
    /// The admin socket's view of the configuration (`getconfig`, token defaults).
    pub admin_config: Arc<ArcSwap<Config>>,
    /// The HTTPS listener's settings, when it runs.
    pub https: Option<Arc<ArcSwap<https::Settings>>>,
    /// The registry (token file).
    pub registry: Handle,
}

impl Reloader {
    /// One reload; the outcome is logged.
    pub async fn reload(&mut self) {
        crate::systemd::reloading();
        crate::logging::reopen();
        match self.try_reload().await {
            Ok(restart) => {
                info!("configuration reloaded (SIGHUP)");
                for what in restart {
                    warn!("{what} changed: restart the server to apply it");
                }
            }
            Err(why) => error!("reload refused, the running configuration stays: {why}"),
        }
        crate::systemd::ready("serving registrations (reloaded)");
    }

    async fn try_reload(&mut self) -> Result<Vec<&'static str>, String> {
        let config = (self.load)().map_err(|e| format!("configuration error: {e}"))?;
        let legacy = legacy_settings(&self.home, &config, false).map_err(|e: StartError| e.to_string())?;
        let https = match &self.https {
            Some(_) => Some(
                https_settings(&self.home, &config, self.registry.clone(), legacy.password.clone())
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        let tokens = self.registry.reload_tokens().await.map_err(|e| format!("token file: {e}"))?;
        self.legacy.store(Arc::new(legacy));
        if let (Some(slot), Some(new)) = (&self.https, https) {
            slot.store(Arc::new(new));
        }
        info!("{tokens} enrollment token(s) loaded");
        let restart = needs_restart(&self.config, &config);
        let mut shown = config.clone();
        // Ports picked at start (0 = a free port) stay what the listeners use.
        shown.enrollment.port = self.admin_config.load().enrollment.port;
        self.admin_config.store(Arc::new(shown));
        self.config = config;
        Ok(restart)
    }
}

/// The settings that changed but only take effect at the next start.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let (o, n) = (old, new);
    let mut changed = Vec::new();
    let mut check = |name: &'static str, differs: bool| {
        if differs {
            changed.push(name);
        }
    };
    check("auth.port", o.auth.port != n.auth.port);
    check("auth.remote_enrollment", o.auth.remote_enrollment != n.auth.remote_enrollment);
    check("auth.purge", o.auth.purge != n.auth.purge);
    check("server.bind", o.server.bind != n.server.bind);
    check("server.durability", o.server.durability != n.server.durability);
    check("server.commit_delay_ms", o.server.commit_delay_ms != n.server.commit_delay_ms);
    check("server.max_connections", o.server.max_connections != n.server.max_connections);
    check("key_request", format!("{:?}", o.key_request) != format!("{:?}", n.key_request));
    check("enrollment.enabled", o.enrollment.enabled != n.enrollment.enabled);
    check("enrollment.port", o.enrollment.port != n.enrollment.port && n.enrollment.port != 0);
    check("auth.force", format!("{:?}", o.auth.force) != format!("{:?}", n.auth.force));
    changed
}
