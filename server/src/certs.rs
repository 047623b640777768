//! X.509 helpers: the names a certificate holds (for SPEC 4.4's check), SPKI pins, and the CA and
//! certificates of `agentkeys cert`.

use std::net::IpAddr;
use std::path::Path;

use agentkeys::{CertName, cert_names_match};
use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::atomic::replace_file;
use crate::home::SECRET_MODE;

/// A certificate name, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedName {
    /// subjectAltName DNS.
    Dns(String),
    /// subjectAltName IP.
    Ip(IpAddr),
    /// Subject CN.
    CommonName(String),
}

/// A certificate that cannot be read, made or written.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Not a certificate (DER/X.509 that does not parse).
    #[error("unreadable certificate: {0}")]
    Unreadable(String),
    /// A PEM file without certificates, or one that cannot be read.
    #[error("Unable to read certificate file: {}: {reason}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// A private key file that cannot be read.
    #[error("Unable to read private key file: {}: {reason}", path.display())]
    KeyFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// Generating or signing failed (a bad name, a CA that is not one, …).
    #[error("{0}")]
    Generate(String),
    /// Writing the files failed.
    #[error(transparent)]
    Write(#[from] crate::atomic::FileError),
    /// A certificate that cannot be a trust anchor (`ssl_agent_ca`, `--ca`).
    #[error("{}not a CA certificate: {reason}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    NotCa {
        /// The file it came from, when known.
        path: Option<std::path::PathBuf>,
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration (a key that does not match its certificate, …).
    #[error("{context}: {source}")]
    Tls {
        /// What was being set up (`"TLS setup"`, `"agent certificate"`).
        context: &'static str,
        /// rustls' error.
        source: rustls::Error,
    },
}

impl From<String> for CertError {
    /// A generation or signing failure, already worded.
    fn from(reason: String) -> CertError {
        CertError::Generate(reason)
    }
}

impl From<CertError> for String {
    fn from(e: CertError) -> String {
        e.to_string()
    }
}

/// The SAN DNS/IP entries and subject CNs of a DER certificate.
///
/// # Errors
/// A certificate that does not parse.
pub fn names(der: &[u8]) -> Result<Vec<OwnedName>, CertError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| CertError::Unreadable(e.to_string()))?;
    let mut out = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => out.push(OwnedName::Dns((*dns).to_owned())),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => out.push(OwnedName::Ip(IpAddr::from(<[u8; 4]>::try_from(*bytes).unwrap_or_default()))),
                    16 => out.push(OwnedName::Ip(IpAddr::from(<[u8; 16]>::try_from(*bytes).unwrap_or_default()))),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    for cn in cert.subject().iter_common_name() {
        if let Ok(text) = cn.as_str() {
            out.push(OwnedName::CommonName(text.to_owned()));
        }
    }
    Ok(out)
}

/// Whether the certificate `der` is valid for `expected` by upstream's rules (SPEC 4.4).
///
/// # Errors
/// A certificate that does not parse.
pub fn matches(der: &[u8], expected: &str) -> Result<bool, CertError> {
    let owned = names(der)?;
    let borrowed = owned.iter().map(|n| match n {
        OwnedName::Dns(d) => CertName::Dns(d),
        OwnedName::Ip(ip) => CertName::Ip(*ip),
        OwnedName::CommonName(c) => CertName::CommonName(c),
    });
    Ok(cert_names_match(expected, borrowed))
}

/// Names of a certificate, for messages: `DNS:a, IP:1.2.3.4, CN=b`.
pub fn describe(der: &[u8]) -> String {
    match names(der) {
        Ok(names) if !names.is_empty() => names
            .iter()
            .map(|n| match n {
                OwnedName::Dns(d) => format!("DNS:{d}"),
                OwnedName::Ip(ip) => format!("IP:{ip}"),
                OwnedName::CommonName(c) => format!("CN={c}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Ok(_) => "no names".to_owned(),
        Err(e) => e.to_string(),
    }
}

/// `sha256:<base64 of SHA-256 of the SubjectPublicKeyInfo>`: pins a key whatever certificate
/// carries it (HPKP's format).
///
/// # Errors
/// A certificate that does not parse.
pub fn spki_pin(der: &[u8]) -> Result<String, CertError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| CertError::Unreadable(e.to_string()))?;
    let digest = Sha256::digest(cert.public_key().raw);
    Ok(format!("sha256:{}", base64::engine::general_purpose::STANDARD.encode(digest)))
}

/// The DER SubjectPublicKeyInfo of a certificate (what a Wazuh 5.0 token pins).
///
/// # Errors
/// A certificate that does not parse.
pub fn spki_der(der: &[u8]) -> Result<Vec<u8>, CertError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| CertError::Unreadable(e.to_string()))?;
    Ok(cert.public_key().raw.to_vec())
}

/// Whether `ca` signed `leaf` (a chain of one, checked for server use at the current time).
pub fn ca_signs(ca: &CertificateDer<'_>, leaf: &CertificateDer<'_>) -> bool {
    let Ok(anchor) = webpki::anchor_from_trusted_cert(ca) else {
        return false;
    };
    let Ok(end) = webpki::EndEntityCert::try_from(leaf) else {
        return false;
    };
    let now = rustls_pki_types::UnixTime::now();
    end.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &[anchor],
        &[],
        now,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .is_ok()
}

/// Creates the HTTPS enrollment identity in one step: a CA (ten years) and a listener certificate
/// for `names` signed by it (the first name is the CN).
///
/// # Errors
/// Generation or I/O errors.
pub fn enrollment_identity(
    ca_cert: &Path,
    ca_key: &Path,
    cert: &Path,
    key: &Path,
    names: &[String],
) -> Result<(), CertError> {
    for path in [ca_cert, ca_key, cert, key] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| crate::atomic::FileError::new(dir, "cannot create", e))?;
        }
    }
    create_ca(ca_cert, ca_key, "agentkeys enrollment CA", 3652)?;
    let cn = names.first().cloned().unwrap_or_else(|| "agentkeys".to_owned());
    issue(ca_cert, ca_key, &cn, names, 3650, cert, key)
}

/// The first certificate of a PEM file.
///
/// # Errors
/// An unreadable file or no certificate in it.
pub fn first_cert(path: &Path) -> Result<CertificateDer<'static>, CertError> {
    load_certs(path)?
        .into_iter()
        .next()
        .ok_or_else(|| CertError::File { path: path.to_owned(), reason: "no certificate in it".to_owned() })
}

fn validity(params: &mut rcgen::CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    let (from, until) = if days >= 0 {
        (now - time::Duration::days(1), now + time::Duration::days(days))
    } else {
        (now + time::Duration::days(days * 2), now + time::Duration::days(days))
    };
    let ymd = |t: time::OffsetDateTime| rcgen::date_time_ymd(t.year(), u8::from(t.month()), t.day());
    params.not_before = ymd(from);
    params.not_after = ymd(until);
}

/// Generates a self-signed ECDSA P-256 certificate for `names` (the first is also the CN), valid
/// ten years from yesterday, and writes `cert` (0644) and `key` (0640): the manager certificate a
/// new home gets.
///
/// # Errors
/// Generation or I/O errors.
pub fn self_signed(cert_path: &Path, key_path: &Path, names: &[String]) -> Result<(), CertError> {
    let key = rcgen::KeyPair::generate().map_err(|e| format!("cannot generate a key: {e}"))?;
    let mut params =
        rcgen::CertificateParams::new(names.to_vec()).map_err(|e| format!("invalid certificate name: {e}"))?;
    let cn = names.first().cloned().unwrap_or_else(|| "agentkeys".to_owned());
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "agentkeys");
    validity(&mut params, 3652);
    let cert = params.self_signed(&key).map_err(|e| format!("cannot sign the certificate: {e}"))?;
    for path in [cert_path, key_path] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| crate::atomic::FileError::new(dir, "cannot create", e))?;
        }
    }
    replace_file(key_path, key.serialize_pem().as_bytes(), SECRET_MODE)?;
    Ok(replace_file(cert_path, cert.pem().as_bytes(), 0o644)?)
}

/// Creates a CA (ECDSA P-256) valid `days` days and writes its certificate (0644) and key (0640).
///
/// # Errors
/// Generation or I/O errors.
pub fn create_ca(cert_path: &Path, key_path: &Path, cn: &str, days: i64) -> Result<(), CertError> {
    let key = rcgen::KeyPair::generate().map_err(|e| format!("cannot generate a key: {e}"))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, days);
    let cert = params.self_signed(&key).map_err(|e| format!("cannot sign: {e}"))?;
    replace_file(key_path, key.serialize_pem().as_bytes(), SECRET_MODE)?;
    Ok(replace_file(cert_path, cert.pem().as_bytes(), 0o644)?)
}

/// Issues a certificate for `cn` (plus `sans`: DNS names or IP addresses) signed by a CA, valid
/// `days` days (negative: already expired, for tests), for both server and client use.
///
/// # Errors
/// Unreadable CA files, bad names, or I/O errors.
pub fn issue(
    ca_cert: &Path,
    ca_key: &Path,
    cn: &str,
    sans: &[String],
    days: i64,
    cert_path: &Path,
    key_path: &Path,
) -> Result<(), CertError> {
    let ca_pem = std::fs::read_to_string(ca_cert).map_err(|e| format!("{}: {e}", ca_cert.display()))?;
    let ca_key_pem = std::fs::read_to_string(ca_key).map_err(|e| format!("{}: {e}", ca_key.display()))?;
    let ca_key =
        rcgen::KeyPair::from_pem(&ca_key_pem).map_err(|e| format!("{}: not a private key: {e}", ca_key.display()))?;
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key)
        .map_err(|e| format!("{}: not a certificate: {e}", ca_cert.display()))?;
    let key = rcgen::KeyPair::generate().map_err(|e| format!("cannot generate a key: {e}"))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    for san in sans {
        let name = match san.parse::<IpAddr>() {
            Ok(ip) => rcgen::SanType::IpAddress(ip),
            Err(_) => {
                rcgen::SanType::DnsName(san.clone().try_into().map_err(|e| format!("invalid DNS name {san:?}: {e}"))?)
            }
        };
        params.subject_alt_names.push(name);
    }
    params.extended_key_usages =
        vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth, rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    validity(&mut params, days);
    let cert = params.signed_by(&key, &issuer).map_err(|e| format!("cannot sign: {e}"))?;
    replace_file(key_path, key.serialize_pem().as_bytes(), SECRET_MODE)?;
    Ok(replace_file(cert_path, cert.pem().as_bytes(), 0o644)?)
}

/// Every certificate of a PEM file.
///
/// # Errors
/// A missing or unreadable file, or one without certificates.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let unreadable = |reason: String| CertError::File { path: path.to_owned(), reason };
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| unreadable(e.to_string()))?;
    if certs.is_empty() {
        return Err(unreadable("no certificate in it".to_owned()));
    }
    Ok(certs)
}

/// Loads a PEM certificate chain and key (RSA or ECDSA, PKCS#1/PKCS#8/SEC1).
///
/// # Errors
/// Missing or unreadable files, named.
pub fn load_identity(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), CertError> {
    let certs = load_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| CertError::KeyFile { path: key.to_owned(), reason: e.to_string() })?;
    Ok((certs, key))
}
