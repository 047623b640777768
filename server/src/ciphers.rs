//! `<ciphers>`: OpenSSL cipher strings mapped onto the suites rustls offers.
//!
//! rustls implements TLS 1.3 (always on: like OpenSSL, the cipher list does not affect it) and six
//! TLS 1.2 suites, all ECDHE with AES-GCM or ChaCha20-Poly1305. The string is evaluated the way
//! OpenSSL does for these six: `:`, `,` or space separate items; an item is a suite name
//! (`ECDHE-RSA-AES128-GCM-SHA256`) or an alias (`HIGH`, `ALL`, `DEFAULT`, `ECDHE`/`EECDH`/`kECDHE`,
//! `aECDSA`/`ECDSA`, `aRSA`, `AESGCM`, `AES`, `AES128`, `AES256`, `CHACHA20`, `SHA256`, `SHA384`,
//! `TLSv1.2`), `X+Y` intersects, `!X` removes for good, `-X` removes, `+X` and `@…` keep the list
//! as is. Aliases of algorithms rustls does not have (`3DES`, `CAMELLIA`, `RC4`, `kRSA`, …) select
//! nothing. A string that leaves no TLS 1.2 suite is a configuration error naming the option.

use rustls::SupportedCipherSuite;
use rustls::crypto::ring::cipher_suite as cs;

struct Suite {
    name: &'static str,
    suite: SupportedCipherSuite,
    tags: &'static [&'static str],
}

const SUITES: &[Suite] = &[
    Suite {
        name: "ECDHE-ECDSA-AES256-GCM-SHA384",
        suite: cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        tags: &[
            "ECDHE", "EECDH", "KECDHE", "AECDSA", "ECDSA", "AESGCM", "AES", "AES256", "SHA384", "HIGH", "ALL",
            "DEFAULT", "TLSV1.2",
        ],
    },
    Suite {
        name: "ECDHE-RSA-AES256-GCM-SHA384",
        suite: cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        tags: &[
            "ECDHE", "EECDH", "KECDHE", "ARSA", "AESGCM", "AES", "AES256", "SHA384", "HIGH", "ALL", "DEFAULT",
            "TLSV1.2",
        ],
    },
    Suite {
        name: "ECDHE-ECDSA-CHACHA20-POLY1305",
        suite: cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        tags: &[
            "ECDHE", "EECDH", "KECDHE", "AECDSA", "ECDSA", "CHACHA20", "SHA256", "HIGH", "ALL", "DEFAULT", "TLSV1.2",
        ],
    },
    Suite {
        name: "ECDHE-RSA-CHACHA20-POLY1305",
        suite: cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        tags: &["ECDHE", "EECDH", "KECDHE", "ARSA", "CHACHA20", "SHA256", "HIGH", "ALL", "DEFAULT", "TLSV1.2"],
    },
    Suite {
        name: "ECDHE-ECDSA-AES128-GCM-SHA256",
        suite: cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        tags: &[
            "ECDHE", "EECDH", "KECDHE", "AECDSA", "ECDSA", "AESGCM", "AES", "AES128", "SHA256", "HIGH", "ALL",
            "DEFAULT", "TLSV1.2",
        ],
    },
    Suite {
        name: "ECDHE-RSA-AES128-GCM-SHA256",
        suite: cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        tags: &[
            "ECDHE", "EECDH", "KECDHE", "ARSA", "AESGCM", "AES", "AES128", "SHA256", "HIGH", "ALL", "DEFAULT",
            "TLSV1.2",
        ],
    },
];

fn matches(suite: &Suite, item: &str) -> bool {
    item.split('+').all(|part| {
        let part = part.to_ascii_uppercase();
        suite.name.eq_ignore_ascii_case(&part) || suite.tags.contains(&part.as_str())
    })
}

/// A cipher string that selects no TLS 1.2 suite agentkeys supports.
#[derive(Debug, thiserror::Error)]
#[error(
    "{option}: {ciphers:?} selects no cipher suite agentkeys supports (TLS 1.2 suites offered: {})",
    SUITES.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
)]
pub struct NoCipherSuite {
    /// The option it came from (`auth.ciphers`, `--ciphers`).
    pub option: String,
    /// The cipher string.
    pub ciphers: String,
}

/// The TLS 1.2 suites `ciphers` selects, in order, plus every TLS 1.3 suite.
///
/// # Errors
/// `ciphers` selects no TLS 1.2 suite rustls supports.
pub fn select(ciphers: &str, option: &str) -> Result<Vec<SupportedCipherSuite>, NoCipherSuite> {
    let mut chosen: Vec<usize> = Vec::new();
    let mut banned = [false; SUITES.len()];
    for item in ciphers.split([':', ',', ' ']).map(str::trim).filter(|s| !s.is_empty()) {
        if item.starts_with('@') || item.starts_with('+') {
            continue;
        }
        let (op, name) = match item.as_bytes()[0] {
            b'!' => ('!', &item[1..]),
            b'-' => ('-', &item[1..]),
            _ => ('+', item),
        };
        for (i, suite) in SUITES.iter().enumerate() {
            if !matches(suite, name) {
                continue;
            }
            match op {
                '!' => {
                    banned[i] = true;
                    chosen.retain(|&c| c != i);
                }
                '-' => chosen.retain(|&c| c != i),
                _ if !banned[i] && !chosen.contains(&i) => chosen.push(i),
                _ => {}
            }
        }
    }
    if chosen.is_empty() {
        return Err(NoCipherSuite { option: option.to_owned(), ciphers: ciphers.to_owned() });
    }
    // The table names ring's suites; the configuration uses the same suites of the provider
    // this build runs on.
    let available = crate::tls::base_provider().cipher_suites;
    let mut suites: Vec<SupportedCipherSuite> =
        available.iter().copied().filter(|s| matches!(s, SupportedCipherSuite::Tls13(_))).collect();
    suites.extend(
        chosen.into_iter().filter_map(|i| available.iter().copied().find(|s| s.suite() == SUITES[i].suite.suite())),
    );
    Ok(suites)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls12(ciphers: &str) -> Vec<&'static str> {
        let suites = select(ciphers, "auth.ciphers").unwrap();
        suites.iter().filter_map(|s| SUITES.iter().find(|x| x.suite.suite() == s.suite()).map(|x| x.name)).collect()
    }

    #[test]
    fn upstream_default_selects_every_suite() {
        assert_eq!(tls12(crate::config::DEFAULT_CIPHERS).len(), 6);
    }

    #[test]
    fn items_and_operators() {
        assert_eq!(tls12("ECDHE-RSA-AES128-GCM-SHA256"), ["ECDHE-RSA-AES128-GCM-SHA256"]);
        assert_eq!(tls12("ECDHE+AESGCM:!AES128").len(), 2);
        assert_eq!(tls12("HIGH:-aRSA"), tls12("aECDSA"));
        assert_eq!(tls12("CHACHA20:!ECDSA"), ["ECDHE-RSA-CHACHA20-POLY1305"]);
        assert!(
            select("3DES:RC4", "auth.ciphers")
                .unwrap_err()
                .to_string()
                .starts_with("auth.ciphers: \"3DES:RC4\" selects no cipher suite")
        );
        assert!(select("HIGH:!HIGH", "x").is_err());
        assert!(select("", "x").is_err());
    }
}
