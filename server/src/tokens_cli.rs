//! `agentkeys tokens …`: mint, list, revoke and purge Wazuh 5.0 enrollment tokens (through the
//! running server's admin socket, or in-process under the home's lock when none runs, like
//! `agentkeys agents`), and `tokens show` to decode a token read from stdin (upstream's
//! `--show-token`).

use std::io::Read as _;
use std::path::PathBuf;

use agentkeys::wazuh5::{EnrollmentToken, MAX_TOKEN_LEN, TrustAnchor, pin_hex};
use rustls_pki_types::pem::PemObject as _;
use serde_json::Value;

use crate::home::Home;

/// `agentkeys tokens`.
#[derive(Debug, clap::Args)]
pub struct TokensArgs {
    /// Installation directory.
    #[arg(long, env = "AGENTKEYS_HOME", default_value = "agentkeys-data", global = true)]
    pub home: PathBuf,
    #[command(subcommand)]
    pub action: TokenAction,
}

/// What to do.
#[derive(Debug, clap::Subcommand)]
pub enum TokenAction {
    /// Mint a token; prints only the token on stdout (its ID, expiry and CA pin on stderr).
    Create {
        /// The manager's address as agents reach it (a name or address in the HTTPS listener
        /// certificate).
        #[arg(long)]
        address: String,
        /// HTTPS port, if not the listener's.
        #[arg(long)]
        port: Option<u16>,
        /// Path prefix, if not the listener's (`""` for none).
        #[arg(long)]
        prefix: Option<String>,
        /// Lifetime: `30d`, `12h`, `45m`, `90s` or seconds (default 30 days, at most 10 years).
        #[arg(long, default_value = "30d")]
        ttl: String,
        /// Most agents it may enroll (0 = unlimited).
        #[arg(long, default_value_t = 0)]
        max_uses: u32,
        /// A note for operators.
        #[arg(long, default_value = "")]
        description: String,
        /// Carry the CA certificates instead of their pin.
        #[arg(long)]
        embed_ca: bool,
        /// Leave the credential out (agents then authenticate with the password or open mode).
        #[arg(long)]
        no_credential: bool,
        /// Groups every agent enrolled with it gets (comma-separated; they must exist).
        #[arg(long)]
        groups: Option<String>,
        /// Source addresses it may be used from (CIDR; repeat for several).
        #[arg(long = "source")]
        sources: Vec<String>,
        /// Allow a loopback address (upstream refuses them; for tests and single-host set-ups).
        #[arg(long)]
        allow_loopback: bool,
    },
    /// List tokens (no secret is shown).
    List {
        /// The admin socket's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token (revoking twice is not an error).
    Revoke {
        /// Token ID (22 characters; it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// Drop expired, revoked and used-up tokens.
    Purge {
        /// Drop every token.
        #[arg(long)]
        all: bool,
    },
    /// Decode a token read from stdin: its address, trust anchor and whether it carries a
    /// credential (exit 2: not a token; 1: stdin unreadable).
    Show,
}

/// Runs `agentkeys tokens`; the exit code.
pub fn run(args: &TokensArgs) -> i32 {
    let home = Home::new(&args.home);
    let result = match &args.action {
        TokenAction::Show => return show(),
        TokenAction::Create {
            address,
            port,
            prefix,
            ttl,
            max_uses,
            description,
            embed_ca,
            no_credential,
            groups,
            sources,
            allow_loopback,
        } => {
            let ttl = match crate::tokens::parse_ttl(ttl) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("agentkeys tokens create: {e}");
                    return 2;
                }
            };
            let request = serde_json::json!({"function": "token_create", "arguments": {
                "address": address, "port": port, "prefix": prefix, "ttl": ttl, "max_uses": max_uses,
                "description": description, "embed_ca": embed_ca, "no_credential": no_credential,
                "groups": groups, "sources": sources, "allow_loopback": allow_loopback,
            }});
            ask(&home, &request).map(|data| {
                println!("{}", data["token"].as_str().unwrap_or_default());
                eprintln!("id: {}", data["id"].as_str().unwrap_or_default());
                eprintln!("adr: {}", data["adr"].as_str().unwrap_or_default());
                let expires = data["expires"].as_i64().unwrap_or_default();
                let when = crate::localtime::rfc3339(expires);
                eprintln!("expires: {when}");
                eprintln!("pin: {}", data["pin_hex"].as_str().unwrap_or_default());
                if let Some(credential) = credential_of(data["token"].as_str().unwrap_or_default()) {
                    eprintln!("password for 4.x, 3.x and OSSEC agents (agent-auth -P): {credential}");
                }
            })
        }
        TokenAction::List { json } => {
            let request = serde_json::json!({"function": "token_list"});
            ask(&home, &request).map(|data| {
                if *json {
                    println!("{}", serde_json::json!({"error": 0, "data": data}));
                    return;
                }
                let tokens = data.as_array().cloned().unwrap_or_default();
                if tokens.is_empty() {
                    println!("No enrollment tokens.");
                }
                for t in tokens {
                    let expires = t["expires"].as_i64().unwrap_or_default();
                    let when = crate::localtime::rfc3339(expires);
                    let max = t["max_uses"].as_u64().unwrap_or(0);
                    let limit = if max == 0 { "unlimited".to_owned() } else { max.to_string() };
                    println!(
                        "{}  {:<9}  uses {}/{limit}  expires {when}  {}  {}",
                        t["id"].as_str().unwrap_or_default(),
                        t["status"].as_str().unwrap_or_default(),
                        t["uses"].as_u64().unwrap_or(0),
                        t["adr"].as_str().unwrap_or_default(),
                        t["description"].as_str().unwrap_or_default()
                    );
                }
            })
        }
        TokenAction::Revoke { id } => {
            let request = serde_json::json!({"function": "token_revoke", "arguments": {"id": id}});
            ask(&home, &request).map(|data| {
                let already = if data["changed"].as_bool() == Some(false) { " (it was revoked already)" } else { "" };
                println!("Token {id} revoked{already}.");
            })
        }
        TokenAction::Purge { all } => {
            let status = if *all { "all" } else { "dead" };
            let request = serde_json::json!({"function": "token_purge", "arguments": {"status": status}});
            ask(&home, &request).map(|data| println!("{} token(s) purged.", data["purged"].as_u64().unwrap_or(0)))
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("agentkeys tokens: {e}");
            1
        }
    }
}

/// Sends a request (server or in-process) and returns its `data`, or the error in words.
fn ask(home: &Home, request: &Value) -> Result<Value, String> {
    let answer = crate::agents::send(home, &request.to_string())?;
    match answer.get("error").and_then(Value::as_i64) {
        Some(0) => Ok(answer.get("data").cloned().unwrap_or(Value::Null)),
        Some(9025) => Err(format!(
            "{} (error 9025; the server log says why: the address must be named by the HTTPS listener certificate, not loopback, and the CA must sign that certificate)",
            answer["message"].as_str().unwrap_or_default()
        )),
        Some(code) => Err(format!("{} (error {code})", answer["message"].as_str().unwrap_or_default())),
        None => Err(format!("unexpected answer {answer}")),
    }
}

/// The credential part of a token (what old agents send for the password on port 1515).
fn credential_of(token: &str) -> Option<String> {
    let mut buf = vec![0u8; MAX_TOKEN_LEN];
    let decoded = EnrollmentToken::decode(token.as_bytes(), &mut buf).ok()?;
    decoded.credential.map(|c| c.to_text().to_string())
}

/// `tokens show`: upstream's `--show-token` lines.
fn show() -> i32 {
    let mut text = Vec::new();
    if let Err(e) = std::io::stdin().take(MAX_TOKEN_LEN as u64 + 1024).read_to_end(&mut text) {
        eprintln!("agentkeys tokens show: cannot read stdin: {e}");
        return 1;
    }
    let mut buf = vec![0u8; MAX_TOKEN_LEN];
    let token = match EnrollmentToken::decode(&text, &mut buf) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("agentkeys tokens show: not an enrollment token: {e}");
            return 2;
        }
    };
    println!("ver: 1");
    println!("adr: {}", token.address);
    match token.anchor {
        TrustAnchor::Pin(pin) => println!("pin: {}", pin_hex(&pin)),
        TrustAnchor::Ca(pem) => {
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()).flatten() {
                print_ca(&cert);
            }
        }
    }
    println!("credential: {}", if token.credential.is_some() { "present" } else { "absent" });
    0
}

fn print_ca(der: &[u8]) {
    use sha2::Digest as _;
    use x509_parser::prelude::{FromDer, X509Certificate};
    if let Ok((_, cert)) = X509Certificate::from_der(der) {
        println!("ca subject: {}", cert.subject());
        println!("ca issuer: {}", cert.issuer());
        println!("ca not before: {}", cert.validity().not_before);
        println!("ca not after: {}", cert.validity().not_after);
    }
    let digest: [u8; 32] = sha2::Sha256::digest(der).into();
    println!("ca sha256: {}", pin_hex(&digest));
}
