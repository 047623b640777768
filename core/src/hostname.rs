//! Certificate name checks as Wazuh does them (`check_x509_cert`, SPEC 4.4): which certificate
//! names a manager address (agent side) or an agent's source address (manager side) matches.

use core::net::IpAddr;

/// Longest label, and most labels, upstream accepts in a name.
const MAX_LABEL: usize = 63;
const MAX_LABELS: usize = 127;

/// A name found in a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertName<'a> {
    /// A subjectAltName DNS entry.
    Dns(&'a str),
    /// A subjectAltName IP entry (4 or 16 bytes).
    Ip(IpAddr),
    /// A subject common name.
    CommonName(&'a str),
}

/// Whether a certificate with `names` is valid for `expected` (the address the agent was told to
/// use, or the agent's source address as text): first every subjectAltName (DNS entries by the
/// label rule, IP entries by binary comparison with `expected` read as an address), and only if none
/// matches, every common name by the label rule.
///
/// ```
/// use agentkeys::{CertName, cert_names_match};
/// assert!(cert_names_match("manager.example.com", [CertName::Dns("*.example.com")]));
/// assert!(cert_names_match("10.0.0.5", [CertName::CommonName("10.0.0.5")]));
/// assert!(!cert_names_match("0000:0000:0000:0000:0000:0000:0000:0001", [CertName::CommonName("::1")]));
/// assert!(cert_names_match("::1", [CertName::Ip("::1".parse().unwrap())]));
/// ```
pub fn cert_names_match<'a, I>(expected: &str, names: I) -> bool
where
    I: IntoIterator<Item = CertName<'a>>,
    I::IntoIter: Clone,
{
    let names = names.into_iter();
    let expected_ip = parse_ip(expected);
    let san_match = names.clone().any(|n| match n {
        CertName::Dns(pattern) => hostname_matches(expected, pattern),
        CertName::Ip(ip) => expected_ip == Some(ip),
        CertName::CommonName(_) => false,
    });
    san_match
        || names
            .filter_map(|n| if let CertName::CommonName(cn) = n { Some(cn) } else { None })
            .any(|cn| hostname_matches(expected, cn))
}

/// `expected` as an address, if it is one (IPv4-mapped IPv6 counts as IPv4).
fn parse_ip(text: &str) -> Option<IpAddr> {
    let ip: IpAddr = text.parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}

/// Upstream's label rule: both names split on `.` (a single trailing empty label ignored), the
/// same number of labels; a certificate label of exactly `*` in first position matches any first
/// label; every remaining label of `expected` must be `[A-Za-z0-9-]`, end with a letter or digit,
/// and equal the certificate's label ignoring ASCII case.
///
/// ```
/// use agentkeys::hostname_matches;
/// assert!(hostname_matches("Manager.Example.com", "manager.example.COM."));
/// assert!(hostname_matches("a.example.com", "*.example.com"));
/// assert!(!hostname_matches("a.b.example.com", "*.example.com"));
/// assert!(!hostname_matches("ab.example.com", "a*.example.com"));
/// ```
#[must_use]
pub fn hostname_matches(expected: &str, pattern: &str) -> bool {
    let (Some(exp), Some(pat)) = (labels(expected), labels(pattern)) else {
        return false;
    };
    if exp.clone().count() != pat.clone().count() {
        return false;
    }
    let mut exp = exp;
    let mut pat = pat;
    let (Some(first_exp), Some(first_pat)) = (exp.next(), pat.next()) else {
        return false;
    };
    let first_ok = if first_pat == "*" {
        valid_label(first_exp)
    } else {
        valid_label(first_exp) && first_exp.eq_ignore_ascii_case(first_pat)
    };
    first_ok && exp.zip(pat).all(|(e, p)| valid_label(e) && e.eq_ignore_ascii_case(p))
}

/// The labels of a name, or `None` when it has too many or too long labels.
fn labels(name: &str) -> Option<impl Iterator<Item = &str> + Clone> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let parts = name.split('.');
    let count = parts.clone().count();
    (count <= MAX_LABELS && parts.clone().all(|l| l.len() <= MAX_LABEL)).then_some(parts)
}

fn valid_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    !bytes.is_empty()
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_rules() {
        assert!(hostname_matches("10.0.0.5", "10.0.0.5"));
        assert!(!hostname_matches("10.0.0.5", "10.0.0.6"));
        assert!(!hostname_matches("a-.example", "a-.example"), "labels end with a letter or digit");
        assert!(!hostname_matches("a_b.example", "a_b.example"));
        assert!(hostname_matches("x", "*"), "a lone wildcard matches any single-label name, as upstream");
        assert!(!hostname_matches("x.y", "*"), "but only one label");
        assert!(!hostname_matches("", ""));
        assert!(!hostname_matches("a..b", "a..b"));
        let long = [b'a'; 64];
        let long = core::str::from_utf8(&long).unwrap();
        assert!(!hostname_matches(long, long));
    }

    #[test]
    fn sans_before_common_names() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(cert_names_match("127.0.0.1", [CertName::Ip(ip)]));
        assert!(cert_names_match("::ffff:127.0.0.1", [CertName::Ip(ip)]));
        assert!(!cert_names_match("127.0.0.2", [CertName::Ip(ip), CertName::Dns("other")]));
        assert!(cert_names_match("m.example", [CertName::Dns("other"), CertName::CommonName("m.example")]));
    }
}
