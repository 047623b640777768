//! Import of the `<auth>` block of a Wazuh `ossec.conf` (SPEC 4.1, 4.3).

use std::path::Path;

use roxmltree::{Document, Node};

use super::{Config, ConfigError, Interval};

/// Applies every `<ossec_config><auth>` block of `text` to `config`, in file order.
pub(super) fn apply_auth(
    config: &mut Config,
    text: &str,
    path: &Path,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    // ossec.conf may hold several <ossec_config> roots and an XML declaration: wrap it.
    let body = strip_declaration(text);
    let wrapped = format!("<agentkeys-ossec-conf>{body}</agentkeys-ossec-conf>");
    let doc = Document::parse(&wrapped).map_err(|e| ConfigError(format!("{}: not valid XML: {e}", path.display())))?;
    let ctx = Ctx { doc: &doc, path, warnings };
    let mut ctx = ctx;
    let mut key_request_in_auth = false;
    for root in doc.root_element().children().filter(|n| n.has_tag_name("ossec_config")) {
        for auth in root.children().filter(|n| n.has_tag_name("auth")) {
            key_request_in_auth |= auth.children().any(|n| n.has_tag_name("key_request"));
            ctx.apply_block(config, auth)?;
        }
    }
    // The legacy wodle is read only when <auth> has no <key_request> (upstream 4.4+).
    if !key_request_in_auth {
        for root in doc.root_element().children().filter(|n| n.has_tag_name("ossec_config")) {
            for wodle in
                root.children().filter(|n| n.has_tag_name("wodle") && n.attribute("name") == Some("agent-key-polling"))
            {
                ctx.warn(wodle, "the agent-key-polling wodle is deprecated; use <auth><key_request>");
                ctx.key_request(&mut config.key_request, wodle)?;
            }
        }
    }
    Ok(())
}

/// Whether this ossec.conf makes the node a Wazuh cluster worker (`<cluster>` enabled with
/// `<node_type>worker`): its registrations must go to the master.
pub fn is_cluster_worker(text: &str) -> bool {
    let wrapped = format!("<agentkeys-ossec-conf>{}</agentkeys-ossec-conf>", strip_declaration(text));
    let Ok(doc) = Document::parse(&wrapped) else { return false };
    let value = |node: Node<'_, '_>, tag: &str| {
        node.children().find(|n| n.has_tag_name(tag)).and_then(|n| n.text()).map(str::trim).map(str::to_owned)
    };
    doc.root_element()
        .children()
        .filter(|n| n.has_tag_name("ossec_config"))
        .flat_map(|root| root.children().filter(|n| n.has_tag_name("cluster")))
        .any(|cluster| {
            value(cluster, "node_type").as_deref() == Some("worker")
                && value(cluster, "disabled").as_deref() != Some("yes")
        })
}

fn strip_declaration(text: &str) -> &str {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    match trimmed.strip_prefix("<?xml").and_then(|rest| rest.find("?>").map(|end| &rest[end + 2..])) {
        Some(rest) => rest,
        None => trimmed,
    }
}

struct Ctx<'d, 'w> {
    doc: &'d Document<'d>,
    path: &'d Path,
    warnings: &'w mut Vec<String>,
}

impl Ctx<'_, '_> {
    /// `file:line: message` for a node (lines of the original file: the wrapper adds no line).
    fn err(&self, node: Node<'_, '_>, message: impl std::fmt::Display) -> ConfigError {
        let line = self.doc.text_pos_at(node.range().start).row;
        ConfigError(format!("{}:{line}: {message}", self.path.display()))
    }

    fn warn(&mut self, node: Node<'_, '_>, message: impl std::fmt::Display) {
        let line = self.doc.text_pos_at(node.range().start).row;
        self.warnings.push(format!("{}:{line}: {message}", self.path.display()));
    }

    fn apply_block(&mut self, config: &mut Config, auth: Node<'_, '_>) -> Result<(), ConfigError> {
        let Config { auth: auth_cfg, key_request, .. } = config;
        let has_force_block = auth.children().any(|n| n.has_tag_name("force"));
        for node in auth.children().filter(Node::is_element) {
            let name = node.tag_name().name();
            let value = node.text().unwrap_or("").trim();
            match name {
                "disabled" => auth_cfg.disabled = self.yes_no(node, value)?,
                "port" => auth_cfg.port = self.port(node, value)?,
                "ipv6" => auth_cfg.ipv6 = self.yes_no(node, &value.to_ascii_lowercase())?,
                "use_source_ip" => auth_cfg.use_source_ip = self.yes_no(node, value)?,
                "purge" => auth_cfg.purge = self.yes_no(node, value)?,
                "use_password" => auth_cfg.use_password = self.yes_no(node, value)?,
                "remote_enrollment" => auth_cfg.remote_enrollment = self.yes_no(node, value)?,
                "ssl_verify_host" => auth_cfg.ssl_verify_host = self.yes_no(node, value)?,
                "ssl_auto_negotiate" => auth_cfg.ssl_auto_negotiate = self.yes_no(node, value)?,
                "ciphers" => auth_cfg.ciphers = value.to_owned(),
                "ssl_agent_ca" => auth_cfg.ssl_agent_ca = (!value.is_empty()).then(|| value.into()),
                "ssl_manager_cert" => auth_cfg.ssl_manager_cert = value.into(),
                "ssl_manager_key" => auth_cfg.ssl_manager_key = value.into(),
                "force" => self.force(&mut auth_cfg.force, node)?,
                "force_insert" => {
                    self.warn(node, "The <force_insert> tag is deprecated. Use <force> instead.");
                    let enabled = self.yes_no(node, value)?;
                    if !has_force_block {
                        auth_cfg.force.enabled = enabled;
                    }
                }
                "force_time" => {
                    self.warn(node, "The <force_time> tag is deprecated. Use <force> instead.");
                    let secs: u64 = value
                        .parse()
                        .map_err(|_| self.err(node, format!("Invalid value for element 'force_time': {value}.")))?;
                    if !has_force_block {
                        auth_cfg.force.disconnected_time.enabled = secs > 0;
                        auth_cfg.force.disconnected_time.value = Interval::from_secs(secs);
                    }
                }
                "limit_maxagents" => self.warn(node, "<limit_maxagents> no longer applies and is ignored."),
                "agents" => {
                    for child in node.children().filter(Node::is_element) {
                        let v = child.text().unwrap_or("").trim();
                        match (child.tag_name().name(), v) {
                            ("allow_higher_versions", "yes") => auth_cfg.agents.allow_higher_versions = true,
                            ("allow_higher_versions", "no") => auth_cfg.agents.allow_higher_versions = false,
                            ("allow_higher_versions", other) => {
                                self.warn(
                                    child,
                                    format!("Invalid value for allow_higher_versions: '{other}'. Ignored."),
                                );
                            }
                            (other, _) => {
                                return Err(
                                    self.err(child, format!("Invalid element in the configuration: '{other}'."))
                                );
                            }
                        }
                    }
                }
                "key_request" => self.key_request(key_request, node)?,
                other => return Err(self.err(node, format!("Invalid element in the configuration: '{other}'."))),
            }
        }
        Ok(())
    }

    /// `<key_request>` or the legacy wodle (SPEC 8.2): defaults when the block is present, then
    /// every child; upstream's messages for bad values.
    fn key_request(&mut self, kr: &mut super::KeyRequestConfig, node: Node<'_, '_>) -> Result<(), ConfigError> {
        *kr = super::KeyRequestConfig { enabled: true, ..super::KeyRequestConfig::default() };
        const MODULE: &str = "at module 'key-request'";
        for child in node.children().filter(Node::is_element) {
            let name = child.tag_name().name();
            let value = child.text().unwrap_or("").trim();
            match name {
                "enabled" => {
                    kr.enabled = match value {
                        "yes" => true,
                        "no" => false,
                        _ => return Err(self.err(child, format!("Invalid content for tag 'enabled' {MODULE}"))),
                    };
                }
                "exec_path" => kr.exec_path = Some(value.to_owned()),
                "socket" => kr.socket = Some(value.into()),
                "timeout" => {
                    let secs: u64 = value.parse().map_err(|_| self.err(child, format!("Invalid interval {MODULE}")))?;
                    kr.timeout = Interval::from_secs(secs);
                }
                "threads" => {
                    kr.threads =
                        value.parse().map_err(|_| self.err(child, format!("Invalid number of threads {MODULE}")))?
                }
                "queue_size" => {
                    kr.queue_size =
                        value.parse().map_err(|_| self.err(child, format!("Invalid queue size {MODULE}")))?
                }
                "force_insert" => {
                    self.warn(child, "Deprecated option. This parameter is now inherited from Authd configuration.")
                }
                other => self.warn(child, format!("No such tag {other} {MODULE}")),
            }
        }
        kr.validate().map_err(|e| self.err(node, e))
    }

    fn yes_no(&self, node: Node<'_, '_>, value: &str) -> Result<bool, ConfigError> {
        match value {
            "yes" => Ok(true),
            "no" => Ok(false),
            _ => Err(self.err(node, format!("Invalid value for element '{}': {value}.", node.tag_name().name()))),
        }
    }

    fn port(&self, node: Node<'_, '_>, value: &str) -> Result<u16, ConfigError> {
        match value.parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(self.err(node, format!("Invalid value for element 'port': {value}."))),
        }
    }

    fn interval(&self, node: Node<'_, '_>, value: &str, option: &str) -> Result<Interval, ConfigError> {
        Interval::parse(value).map_err(|_| self.err(node, format!("Invalid interval for '{option}' option")))
    }

    fn force(&mut self, force: &mut super::ForceConfig, node: Node<'_, '_>) -> Result<(), ConfigError> {
        for child in node.children().filter(Node::is_element) {
            let name = child.tag_name().name();
            let value = child.text().unwrap_or("").trim();
            match name {
                "enabled" => force.enabled = self.yes_no(child, value)?,
                "key_mismatch" => force.key_mismatch = self.yes_no(child, value)?,
                "disconnected_time" => {
                    let enabled = child
                        .attribute("enabled")
                        .ok_or_else(|| self.err(child, "Empty attribute for disconnected_time"))?;
                    force.disconnected_time.enabled = match enabled {
                        "yes" => true,
                        "no" => false,
                        _ => return Err(self.err(child, "Invalid value for attribute: 'enabled'")),
                    };
                    if force.disconnected_time.enabled {
                        force.disconnected_time.value = self.interval(child, value, "disconnected_time")?;
                    }
                }
                "after_registration_time" => {
                    force.after_registration_time = self.interval(child, value, "after_registration_time")?;
                }
                other => return Err(self.err(child, format!("Invalid element in the configuration: '{other}'."))),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(text: &str) -> Result<(Config, Vec<String>), ConfigError> {
        let mut config = Config::default();
        let mut warnings = Vec::new();
        apply_auth(&mut config, text, Path::new("ossec.conf"), &mut warnings)?;
        Ok((config, warnings))
    }

    #[test]
    fn reads_every_option() {
        let (c, warnings) = import(
            r#"<?xml version="1.0"?>
<ossec_config><global/></ossec_config>
<ossec_config>
  <auth>
    <disabled>no</disabled>
    <port>1516</port>
    <ipv6>YES</ipv6>
    <use_source_ip>yes</use_source_ip>
    <purge>yes</purge>
    <use_password>yes</use_password>
    <remote_enrollment>no</remote_enrollment>
    <ciphers>HIGH</ciphers>
    <ssl_agent_ca>etc/rootCA.pem</ssl_agent_ca>
    <ssl_verify_host>yes</ssl_verify_host>
    <ssl_manager_cert>etc/m.cert</ssl_manager_cert>
    <ssl_manager_key>etc/m.key</ssl_manager_key>
    <ssl_auto_negotiate>yes</ssl_auto_negotiate>
    <force>
      <enabled>yes</enabled>
      <key_mismatch>no</key_mismatch>
      <disconnected_time enabled="no">1h</disconnected_time>
      <after_registration_time>2m</after_registration_time>
    </force>
    <force_insert>no</force_insert>
    <agents><allow_higher_versions>yes</allow_higher_versions></agents>
    <limit_maxagents>yes</limit_maxagents>
  </auth>
</ossec_config>"#,
        )
        .unwrap();
        let a = &c.auth;
        assert!(!a.disabled && a.port == 1516 && a.ipv6 && a.use_source_ip && a.purge && a.use_password);
        assert!(!a.remote_enrollment && a.ciphers == "HIGH" && a.ssl_verify_host && a.ssl_auto_negotiate);
        assert_eq!(a.ssl_agent_ca.as_deref(), Some(Path::new("etc/rootCA.pem")));
        assert!(a.force.enabled && !a.force.key_mismatch && !a.force.disconnected_time.enabled);
        assert_eq!(a.force.after_registration_time.as_secs(), 120);
        assert!(a.agents.allow_higher_versions);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with("ossec.conf:24: The <force_insert> tag is deprecated"), "{warnings:?}");
    }

    #[test]
    fn errors_name_file_and_line() {
        let err = import("<ossec_config>\n<auth>\n<port>1515</port>\n<bogus>1</bogus>\n</auth>\n</ossec_config>")
            .unwrap_err();
        assert_eq!(err.to_string(), "ossec.conf:4: Invalid element in the configuration: 'bogus'.");
        let err = import("<ossec_config><auth><purge>YES</purge></auth></ossec_config>").unwrap_err();
        assert!(err.to_string().ends_with("Invalid value for element 'purge': YES."));
        let err = import(
            "<ossec_config><auth><force><disconnected_time>1h</disconnected_time></force></auth></ossec_config>",
        )
        .unwrap_err();
        assert!(err.to_string().ends_with("Empty attribute for disconnected_time"));
        assert!(import("<ossec_config><auth><port>0</port></auth></ossec_config>").is_err());
        assert!(import("<ossec_config><auth>").is_err());
    }

    #[test]
    fn deprecated_force_options_apply_only_without_force_block() {
        let (c, _) = import(
            "<ossec_config><auth><force_insert>no</force_insert><force_time>0</force_time></auth></ossec_config>",
        )
        .unwrap();
        assert!(!c.auth.force.enabled && !c.auth.force.disconnected_time.enabled);
    }
}
