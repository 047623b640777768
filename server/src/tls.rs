//! rustls configurations: the manager's server side and the enrollment client.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme, SupportedCipherSuite};

use crate::certs::CertError;

/// TLS 1.2 and 1.3 (rustls implements nothing older, so `ssl_auto_negotiate` changes nothing).
const VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The ring provider restricted to `suites` (from `<ciphers>`).
/// The crypto provider every TLS configuration is built on: ring, or aws-lc-rs in a build with
/// the `aws-lc-rs` feature.
pub fn base_provider() -> rustls::crypto::CryptoProvider {
    #[cfg(feature = "aws-lc-rs")]
    return rustls::crypto::aws_lc_rs::default_provider();
    #[cfg(not(feature = "aws-lc-rs"))]
    rustls::crypto::ring::default_provider()
}

/// The provider's name, for logs and benchmarks.
pub const PROVIDER_NAME: &str = if cfg!(feature = "aws-lc-rs") { "aws-lc-rs" } else { "ring" };

fn provider_with(suites: Vec<SupportedCipherSuite>) -> Arc<rustls::crypto::CryptoProvider> {
    let mut provider = base_provider();
    provider.cipher_suites = suites;
    Arc::new(provider)
}

/// The manager's TLS configuration: its identity, the cipher suites of `<ciphers>`, and, with
/// `<ssl_agent_ca>`, a mandatory client certificate chaining to that CA. No renegotiation exists
/// in rustls (CVE-2026-32983 cannot happen).
///
/// # Errors
/// Unreadable files, or a key that does not match the certificate.
pub fn server_config(
    cert: &Path,
    key: &Path,
    agent_ca: Option<&Path>,
    suites: Vec<SupportedCipherSuite>,
) -> Result<Arc<ServerConfig>, CertError> {
    build_server_config(cert, key, agent_ca, provider_with(suites), VERSIONS)
}

/// The HTTPS enrollment listener's TLS configuration: TLS 1.3 only (as Wazuh 5.0), the ring
/// provider's defaults, and with `agent_ca` a mandatory client certificate chaining to it.
///
/// # Errors
/// Unreadable files, or a key that does not match the certificate.
pub fn enrollment_config(cert: &Path, key: &Path, agent_ca: Option<&Path>) -> Result<Arc<ServerConfig>, CertError> {
    build_server_config(cert, key, agent_ca, Arc::new(base_provider()), &[&rustls::version::TLS13])
}

fn build_server_config(
    cert: &Path,
    key: &Path,
    agent_ca: Option<&Path>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<Arc<ServerConfig>, CertError> {
    let (certs, key) = crate::certs::load_identity(cert, key)?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|source| CertError::Tls { context: "TLS setup", source })?;
    let builder = match agent_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in crate::certs::load_certs(ca)? {
                roots.add(c).map_err(|e| CertError::NotCa { path: Some(ca.to_owned()), reason: e.to_string() })?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| CertError::NotCa { path: Some(ca.to_owned()), reason: e.to_string() })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config =
        builder.with_single_cert(certs, key).map_err(|source| CertError::Tls { context: "TLS setup", source })?;
    // Agents register once per connection and never resume a session: no tickets, no session
    // cache (each ticket costs the server random bytes, an encryption and a record per handshake).
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Ok(Arc::new(config))
}

/// How the enrollment client checks the manager.
#[derive(Debug, Default)]
pub struct ManagerCheck {
    /// CA certificates the manager's chain must lead to (`-v/--ca`); its names must then match
    /// `expected_name` by upstream's rules.
    pub ca: Option<Vec<CertificateDer<'static>>>,
    /// `sha256:<base64>` of the manager's public key (`--pin`).
    pub pin: Option<String>,
    /// The manager address as configured (`-m`).
    pub expected_name: String,
}

/// The enrollment client's TLS configuration.
///
/// # Errors
/// Bad CA certificates or a key that does not match the certificate.
pub fn client_config(
    check: ManagerCheck,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    suites: Vec<SupportedCipherSuite>,
) -> Result<Arc<ClientConfig>, CertError> {
    client_config_on(check, identity, provider_with(suites))
}

/// The provider for `suites`, offering only the key-exchange group `group` (as named in TLS:
/// `X25519`, `secp256r1`, `secp384r1`, `X25519MLKEM768`), to measure what each costs.
///
/// # Errors
/// A group this build does not have, with the ones it has.
pub fn provider_with_group(
    suites: Vec<SupportedCipherSuite>,
    group: &str,
) -> Result<Arc<rustls::crypto::CryptoProvider>, String> {
    let mut provider = base_provider();
    provider.cipher_suites = suites;
    let names: Vec<String> = provider.kx_groups.iter().map(|g| format!("{:?}", g.name())).collect();
    provider.kx_groups.retain(|g| format!("{:?}", g.name()).eq_ignore_ascii_case(group));
    if provider.kx_groups.is_empty() {
        return Err(format!("no key-exchange group {group} in {PROVIDER_NAME} (it has {})", names.join(", ")));
    }
    Ok(Arc::new(provider))
}

/// [`client_config`] on a given provider.
///
/// # Errors
/// See [`client_config`].
pub fn client_config_on(
    check: ManagerCheck,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<ClientConfig>, CertError> {
    let anchors = match &check.ca {
        Some(certs) => Some(
            certs
                .iter()
                .map(|c| {
                    webpki::anchor_from_trusted_cert(c)
                        .map(|a| a.to_owned())
                        .map_err(|e| CertError::NotCa { path: None, reason: e.to_string() })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let verifier =
        ManagerVerifier { anchors, pin: check.pin, expected: check.expected_name, provider: Arc::clone(&provider) };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(VERSIONS)
        .map_err(|source| CertError::Tls { context: "TLS setup", source })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    match identity {
        Some((certs, key)) => builder
            .with_client_auth_cert(certs, key)
            .map(Arc::new)
            .map_err(|source| CertError::Tls { context: "agent certificate", source }),
        None => Ok(Arc::new(builder.with_no_client_auth())),
    }
}

/// Checks the manager as upstream agents do with `-v` (chain, then SAN/CN against the configured
/// address, SPEC 4.4), and/or against a pinned key. With neither, accepts any certificate (the
/// handshake signatures are still checked), as upstream agents do by default.
#[derive(Debug)]
struct ManagerVerifier {
    anchors: Option<Vec<rustls::pki_types::TrustAnchor<'static>>>,
    pin: Option<String>,
    expected: String,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for ManagerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(anchors) = &self.anchors {
            let cert = webpki::EndEntityCert::try_from(end_entity)
                .map_err(|e| rustls::Error::General(format!("unreadable manager certificate: {e}")))?;
            cert.verify_for_usage(
                self.provider.signature_verification_algorithms.all,
                anchors,
                intermediates,
                now,
                webpki::KeyUsage::server_auth(),
                None,
                None,
            )
            .map_err(|e| {
                rustls::Error::General(format!("the manager's certificate does not verify against the CA: {e}"))
            })?;
            match crate::certs::matches(end_entity, &self.expected) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(rustls::Error::General(format!(
                        "the manager's certificate ({}) is not valid for {:?}",
                        crate::certs::describe(end_entity),
                        self.expected
                    )));
                }
                Err(e) => return Err(rustls::Error::General(e.to_string())),
            }
        }
        if let Some(pin) = &self.pin {
            let actual = crate::certs::spki_pin(end_entity).map_err(|e| rustls::Error::General(e.to_string()))?;
            if &actual != pin {
                return Err(rustls::Error::General(format!("the manager's key is {actual}, not the pinned {pin}")));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
